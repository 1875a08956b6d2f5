// SPDX-License-Identifier: GPL-2.0

//! The receive side of a host queue: the engine's pump over the socket, the host's handling of
//! each PDU (responses complete commands, C2HData is placed straight into the requests' pages,
//! R2Ts queue H2CData), and the end of a connection.
//!
//! Receiving is C's model: the socket's `read_sock` (`tcp_read_sock`, or kTLS's, which hands
//! out decrypted records) hands each contiguous piece of the queued socket buffers to the pump in
//! place, everything that arrived in one hold of the queue's state lock;
//! C2HData is copied once, out of the socket buffer into the request's pages. Commands answered
//! are completed once the lock is dropped.

use crate::crc32c::KernelCrc32c;
use crate::pdu::{
    engine::{
        pump::{Handler, Pump},
        stop::{term_req, Stop, TERM_REQ_MAX},
    },
    DataDigest, Pdu, Receiver, Role,
};
use crate::queue::{Queue, State};
use crate::request::{status, Request, AER_CID};
use crate::send::Job;
use crate::skb::{Piece, Read};
use crate::slots::{Command, Slots, Transfer};
use kernel::{dev_err, prelude::*, sync::atomic::Relaxed};

/// What the data of the PDU being received belongs to.
#[derive(Clone, Copy)]
pub(crate) enum RxData {
    /// Nothing is being received.
    Idle,
    /// A C2HData PDU of command `cid`: placed in its pages.
    C2H { cid: u16, datal: u32, success: bool },
}

/// A command answered, to complete outside the state lock.
pub(crate) enum Done {
    /// Command `rq` with the CQE's status field (phase bit included) and result.
    Command {
        rq: Request,
        status: u16,
        result: u64,
    },
    /// The asynchronous event request.
    Aer { status: u16, result: u64 },
}

/// Why receiving stopped: the engine's reasons, with a kernel error for local failures.
pub(crate) type RxError = Stop<Error>;

/// The host's handler of one read: the queue's state (under its lock), the receive side's own
/// data, and the commands answered so far.
struct Rx<'a> {
    queue: &'a Queue,
    state: &'a mut State,
    data: &'a mut RxData,
    done: &'a mut KVec<Done>,
}

impl<'s> Handler<KernelCrc32c, Piece<'s>> for Rx<'_> {
    type Table = Slots;
    type Error = Error;

    #[inline(always)]
    fn table(&self) -> &Slots {
        &self.state.slots
    }

    #[inline(always)]
    fn header(&mut self, rx: &mut Receiver<KernelCrc32c>) -> Result<(), RxError> {
        match rx.header().pdu {
            Pdu::CapsuleResp(r) => {
                let cqe = r.cqe;
                let result = u64::from_le_bytes([
                    cqe[0], cqe[1], cqe[2], cqe[3], cqe[4], cqe[5], cqe[6], cqe[7],
                ]);
                self.respond(r.cid(), r.status(), result);
                Ok(())
            }
            Pdu::C2HData(d) => {
                *self.data = RxData::C2H {
                    cid: d.cccid,
                    datal: d.datal,
                    success: d.success,
                };
                Ok(())
            }
            Pdu::R2t(r) => self.r2t(r.cccid, r.ttag, r.r2to, r.r2tl),
            // The receiver admits nothing else on the host side (TermReqs stop the pump).
            _ => Err(Stop::fatal(crate::pdu::Fes::PduSequenceError)),
        }
    }

    #[inline(always)]
    fn data(&mut self, offset: u32, data: &[u8]) -> Result<(), RxError> {
        // Data read along with a header: copied into place.
        let RxData::C2H { cid, .. } = *self.data else {
            return Err(Stop::fatal(crate::pdu::Fes::PduSequenceError));
        };
        let cmd = self
            .state
            .slots
            .busy_mut(cid)
            .ok_or(Stop::fatal(crate::pdu::Fes::PduSequenceError))?;
        cmd.rq.copy_in(offset, data);
        Ok(())
    }

    #[inline(always)]
    fn data_end(&mut self, digest: DataDigest) -> Result<(), RxError> {
        self.c2h_end(digest);
        Ok(())
    }

    /// Copies the C2H data `src` (bytes of a socket buffer) straight into the request's pages
    /// from `offset` on.
    #[inline(always)]
    fn place(&mut self, offset: u32, src: &crate::skb::SkbBytes<'s>) -> bool {
        let RxData::C2H { cid, .. } = *self.data else {
            return false;
        };
        self.state
            .slots
            .busy_mut(cid)
            .is_some_and(|cmd| cmd.rq.copy_from_skb(offset, src))
    }
}

impl Rx<'_> {
    /// Takes command `cid` (or the asynchronous event request) out of its slot, to be
    /// completed with a response.
    #[inline(always)]
    fn respond(&mut self, cid: u16, status_field: u16, result: u64) {
        if self.queue.qid == 0 && cid == AER_CID {
            self.state.slots.end_aer();
            self.finished(Done::Aer {
                status: status_field,
                result,
            });
            return;
        }
        // The receiver checked that `cid` is in flight.
        let Some(cmd) = self.state.slots.take(cid) else {
            return;
        };
        let status = if cmd.data_error && status_field >> 1 == 0 {
            status::DATA_XFER_ERROR << 1
        } else {
            status_field
        };
        self.finished(Done::Command {
            rq: cmd.rq,
            status,
            result,
        });
    }

    /// Adds an answered command to the list.
    fn finished(&mut self, d: Done) {
        // Cannot fail: one read answers each slot at most once, and the list has room for
        // every slot and is emptied after each read. Were it to, the command is completed here,
        // under the state lock, as the C host completes under the socket lock.
        if let Err(e) = self.done.push_within_capacity(d) {
            self.queue.complete(e.0);
        }
    }

    /// The data of a C2HData PDU is complete.
    #[inline(always)]
    fn c2h_end(&mut self, digest: DataDigest) {
        let RxData::C2H {
            cid,
            datal,
            success,
        } = core::mem::replace(self.data, RxData::Idle)
        else {
            return;
        };
        let Some(cmd) = self.state.slots.busy_mut(cid) else {
            return;
        };
        if let Transfer::Read { received, .. } = &mut cmd.transfer {
            // The receiver checked that the data ends within the command's length.
            *received = received.saturating_add(datal);
        }
        if let DataDigest::Bad { .. } = digest {
            pr_err!(
                "queue {}: data digest error on command {cid:#x}\n",
                self.queue.qid
            );
            cmd.data_error = true;
        }
        if success {
            if let Some(cmd) = self.state.slots.take(cid) {
                let status = if cmd.data_error {
                    status::DATA_XFER_ERROR << 1
                } else {
                    0
                };
                self.finished(Done::Command {
                    rq: cmd.rq,
                    status,
                    result: 0,
                });
            }
        }
    }

    /// Queues the answer of an R2T: H2CData PDUs of at most MAXH2CDATA bytes each, sent by
    /// this same I/O work's next round.
    fn r2t(&mut self, cid: u16, ttag: u16, r2to: u32, r2tl: u32) -> Result<(), RxError> {
        // The receiver checked the range against the command.
        let end = r2to.checked_add(r2tl).ok_or(Stop::Local(EOVERFLOW))?;
        let Some(Command {
            transfer: Transfer::Write {
                requested, r2ts, ..
            },
            ..
        }) = self.state.slots.busy_mut(cid)
        else {
            return Ok(());
        };
        *requested = end;
        *r2ts += 1;
        self.state
            .send
            .push(
                Job::H2C {
                    cid,
                    ttag,
                    datao: r2to,
                    end,
                },
                &self.queue.stats,
            )
            .map_err(Stop::Local)
    }
}

/// The receive side of a queue, used only by the I/O work.
pub(crate) struct RxSide {
    pub(crate) receiver: Receiver<KernelCrc32c>,
    pub(crate) data: RxData,
    /// Commands answered by one read, completed once the state lock is dropped. Room for one
    /// per slot: a slot is answered at most once per read, as only `queue_rq` fills it again
    /// and it needs the state lock the read holds.
    pub(crate) done: KVec<Done>,
    /// The connection received from; `None` once it failed or the queue stopped: the work does
    /// nothing more until the next connect.
    pub(crate) conn: Option<kernel::sync::Arc<crate::queue::Conn>>,
}

impl Queue {
    /// Handles what arrived; returns whether PDUs wait to be sent. A failure is reported and
    /// fails the queue.
    pub(crate) fn rx(&self) -> Result<bool, ()> {
        let mut guard = self.rx.lock();
        let RxSide {
            receiver,
            data,
            done,
            conn,
        } = &mut *guard;
        let Some(c) = conn.as_deref() else {
            // Stopped, or failed: nothing is sent either.
            return Ok(false);
        };
        match self.receive(&c.sock, receiver, data, done) {
            Ok(to_send) => Ok(to_send),
            Err(e) => {
                self.report(&c.sock, c.tls, receiver, e);
                *conn = None;
                drop(guard);
                self.failed();
                Err(())
            }
        }
    }

    /// Handles everything that has arrived, in place in the socket's receive queue and in one
    /// hold of the state lock; the commands answered are completed after it is dropped, error
    /// or not. Returns whether PDUs wait to be sent, as the state was when the lock was dropped.
    fn receive(
        &self,
        sock: &crate::socket::Socket,
        receiver: &mut Receiver<KernelCrc32c>,
        data: &mut RxData,
        done: &mut KVec<Done>,
    ) -> Result<bool, RxError> {
        let mut error = None;
        let (read, to_send) = {
            let mut state = self.state.lock();
            let mut h = Rx {
                queue: self,
                state: &mut state,
                data,
                done,
            };
            let mut pump = Pump::new(u32::MAX, &self.stats);
            let read = sock.read(|piece| match pump.segment(receiver, &mut h, &piece) {
                Ok(taken) => taken,
                Err(e) => {
                    // Stops the read: the connection ends.
                    error = Some(e);
                    0
                }
            });
            self.note_depth(&state.slots);
            (read, !state.send_idle())
        };
        for d in done.drain_all() {
            self.complete(d);
        }
        if let Some(e) = error {
            return Err(e);
        }
        match read.map_err(Stop::Local)? {
            Read::Nothing | Read::Bytes(_) => Ok(to_send),
            Read::Closed => Err(Stop::Closed),
        }
    }

    /// Completes an answered command.
    pub(crate) fn complete(&self, d: Done) {
        match d {
            Done::Command { rq, status, result } => {
                rq.complete(status, result);
                self.completed.add(1, Relaxed);
            }
            Done::Aer { status, result } => self.ctrl.complete_async_event(status, result),
        }
    }

    /// Logs why receiving stopped, and sends a TermReq for a protocol error. `tls` says whether
    /// kTLS carries the connection.
    fn report(
        &self,
        sock: &crate::socket::Socket,
        tls: bool,
        receiver: &Receiver<KernelCrc32c>,
        e: RxError,
    ) {
        let dev = self.ctrl.device();
        match e {
            // kTLS's `read_sock` refuses a record that is not data (an alert from the peer's
            // TLS layer, say); the connection fails, as in the C host.
            Stop::Local(e) if tls && e == EINVAL => dev_err!(
                dev,
                "queue {}: receive failed: {} (a TLS record that is not data)\n",
                self.qid,
                e.to_errno()
            ),
            Stop::Fatal(f) => {
                dev_err!(
                    dev,
                    "queue {}: protocol error from the controller: {:?} (FEI {}); closing\n",
                    self.qid,
                    f.fes,
                    f.fei
                );
                let mut buf = [0u8; TERM_REQ_MAX];
                // Best effort, between two PDUs of ours, and without waiting: the connection
                // closes next.
                // Under the state lock, which serializes the counting of what is sent.
                let state = self.state.lock();
                if let Some(t) = term_req(receiver, Role::Host, f, state.send.mid_pdu(), &mut buf) {
                    if let Ok(Some(_)) = sock.send(t, false) {
                        self.stats.sent_header(t);
                    }
                }
                drop(state);
            }
            Stop::TermReq(f) => dev_err!(
                dev,
                "queue {}: controller terminated the connection: {:?} (FEI {})\n",
                self.qid,
                f.fes,
                f.fei
            ),
            Stop::Closed | Stop::Local(_) => {
                if self.is_live() {
                    let e = match e {
                        Stop::Local(e) => e,
                        _ => ECONNRESET,
                    };
                    dev_err!(dev, "queue {}: connection closed ({:?})\n", self.qid, e);
                }
            }
        }
    }
}
