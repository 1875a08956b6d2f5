// SPDX-License-Identifier: GPL-2.0

//! The send side of a host queue: `queue_rq`, the send list, and the PDU being sent.
//!
//! PDUs to send wait in the queue's send list, in order. `queue_rq` sends its command capsule
//! itself when it runs on the queue's I/O CPU and nothing is waiting (the C host's direct
//! send), except over TLS, and except on a busy queue of a module that batches
//! (`wq_highpri=0`); otherwise, and whenever the socket is full, the queue's I/O work sends
//! them.
//!
//! Over TLS, as in the C host, `queue_rq` never sends (kTLS's send takes its `tx_lock`, which
//! must not nest in blk-mq's dispatch), and a PDU that ends is never followed by `MSG_MORE`:
//! kTLS would keep the record open for what follows. All
//! sends are non-blocking: a PDU the socket could not take whole stays part sent (its
//! [`Cursor`]) until the socket's `write_space` requeues the I/O work, and nothing else goes out
//! on the connection meanwhile.

use crate::crc32c::KernelCrc32c;
use crate::ctrl::Host;
use crate::nvme_ctrl::Ctrl;
use crate::pdu::{
    capsule::{CMD_HLEN, SGL_IN_CAPSULE, SGL_TRANSPORT},
    engine::{
        ring::Ring,
        send::{Cursor, Data, Pushed, SendError, Sent as SocketSent, Transmit},
        stats::Stats,
    },
    CapsuleCmd, Digest, H2CData, Pdu, PduType,
};
use crate::queue::{Conn, Queue, State};
use crate::request::{BlkStatus, Request, RqInfo, AER_CID};
use crate::slots::{Command, Slots, Transfer};
use crate::socket::Socket;
use kernel::{dev_err, prelude::*, sync::ArcBorrow};

/// Admin opcode of Asynchronous Event Request.
const OPC_ASYNC_EVENT: u8 = 0x0c;

/// PSDT bits of the SQE flags byte: SGLs for data and metadata (`NVME_CMD_SGL_METABUF`).
const SGL_METABUF: u8 = 1 << 6;

/// Largest PDU header section the host frames itself: a CapsuleCmd (72), its digest and padding
/// up to the largest PDO (CPDA 31: 128-byte alignment).
const MAX_HEADER: usize = 256;

/// A PDU waiting in the send list.
#[derive(Clone, Copy, Default)]
pub(crate) enum Job {
    /// The command capsule of command `cid`, with its in-capsule data.
    Capsule(u16),
    /// The asynchronous event request.
    #[default]
    Aer,
    /// H2CData answering an R2T of command `cid`: data `datao..end`, in PDUs of at most
    /// MAXH2CDATA bytes.
    H2C {
        cid: u16,
        ttag: u16,
        datao: u32,
        end: u32,
    },
}

/// The PDU being sent.
#[derive(Clone, Copy)]
enum Outgoing {
    /// The capsule of command `cid`, framed in its request by `queue_rq`, with its in-capsule
    /// data.
    Capsule(u16),
    /// The asynchronous event request's capsule, framed in the sender's header buffer.
    Aer,
    /// An H2CData PDU of command `cid`, framed in the sender's header buffer; `next` is the rest
    /// of the R2T's answer, `last` says this PDU ends it.
    H2C {
        cid: u16,
        next: Option<Job>,
        last: bool,
    },
}

impl Outgoing {
    /// The PDU's type.
    fn pdu_type(&self) -> PduType {
        match self {
            Self::Capsule(_) | Self::Aer => PduType::CapsuleCmd,
            Self::H2C { .. } => PduType::H2CData,
        }
    }

    /// The command whose data the PDU carries.
    fn cid(&self) -> Option<u16> {
        match *self {
            Self::Capsule(cid) | Self::H2C { cid, .. } => Some(cid),
            Self::Aer => None,
        }
    }
}

/// The PDU being sent and how far it went.
struct Sending {
    what: Outgoing,
    cursor: Cursor,
}

/// How a pass of the sender ended.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sent {
    /// Nothing waits any more.
    Idle,
    /// The socket is full: its `write_space` queues the work again.
    Full,
    /// The budget ran out with PDUs still waiting.
    Budget,
}

/// The send side of a queue's state.
pub(crate) struct Sender {
    /// PDUs waiting, oldest first. Every command has at most one job waiting (its capsule, or
    /// the answer of its one R2T), so the ring never needs more room than the queue has slots.
    list: Ring<Job, KVec<Job>>,
    sending: Option<Sending>,
    /// The header of a PDU the sender frames itself (not a command capsule).
    hdr: [u8; MAX_HEADER],
}

impl Sender {
    /// Returns an idle sender for a queue of `depth` slots.
    pub(crate) fn new(depth: usize) -> Result<Self> {
        Ok(Self {
            list: Ring::new(KVec::from_elem(Job::Aer, depth, GFP_KERNEL)?),
            sending: None,
            hdr: [0; MAX_HEADER],
        })
    }

    /// Whether nothing waits to be sent.
    #[inline]
    pub(crate) fn idle(&self) -> bool {
        self.sending.is_none() && self.list.is_empty()
    }

    /// Whether a PDU went out in part: nothing else (a TermReq neither) may be sent before its
    /// rest.
    pub(crate) fn mid_pdu(&self) -> bool {
        self.sending.as_ref().is_some_and(|s| s.cursor.begun())
    }

    /// Forgets what waits to be sent (the connection is gone).
    pub(crate) fn clear(&mut self) {
        self.list.clear();
        self.sending = None;
    }

    /// Queues `job` last.
    ///
    /// # Errors
    ///
    /// `ENOSPC` if the list is full, which a controller that keeps to the negotiated limits
    /// cannot cause.
    pub(crate) fn push(&mut self, job: Job, stats: &Stats) -> Result {
        self.list.push(job).map_err(|_| ENOSPC)?;
        stats.queued(self.list.len());
        Ok(())
    }
}

/// The socket and where the bytes of the PDU being sent are.
struct Tx<'a> {
    sock: &'a Socket,
    slots: &'a Slots,
    hdr: &'a [u8],
    what: Outgoing,
}

impl Tx<'_> {
    fn command(&self) -> Result<&Command> {
        // The command of a PDU part sent is gone if the controller answered it before it had
        // all its data.
        self.what
            .cid()
            .and_then(|cid| self.slots.busy(cid))
            .ok_or(ECANCELED)
    }
}

impl Transmit for Tx<'_> {
    type Error = Error;

    fn header(&mut self, from: usize, to: usize, more: bool) -> SocketSent<Error> {
        match self.what {
            Outgoing::Capsule(_) => self.command()?.rq.send_capsule(self.sock, from, to, more),
            Outgoing::Aer | Outgoing::H2C { .. } => {
                self.sock.send(self.hdr.get(from..to).ok_or(EINVAL)?, more)
            }
        }
    }

    fn data(&mut self, at: u32, end: u32, more: bool) -> SocketSent<Error> {
        self.command()?.rq.send_some(self.sock, at, end, more)
    }

    fn digest(&mut self, bytes: &[u8], more: bool) -> SocketSent<Error> {
        self.sock.send(bytes, more)
    }
}

/// Sends what is left of `s`; returns whether it went out whole (else the socket is full).
fn push(s: &mut Sending, slots: &Slots, hdr: &[u8], sock: &Socket, more: bool) -> Result<bool> {
    let mut tx = Tx {
        sock,
        slots,
        hdr,
        what: s.what,
    };
    match s.cursor.push(&mut tx, more) {
        Ok(Pushed::Done) => Ok(true),
        Ok(Pushed::Full) => Ok(false),
        Err(SendError::Closed) => Err(EPIPE),
        Err(SendError::Io(e)) => Err(e),
    }
}

/// The data `at..end` of `cmd` to follow a header, with its digest if the connection has data
/// digests.
fn data_of(conn: &Conn, cmd: &Command, at: u32, end: u32) -> Option<Data> {
    if at >= end {
        return None;
    }
    let ddgst = conn.framing.ddgst.then(|| {
        let mut d = Digest::<KernelCrc32c>::new();
        cmd.rq.for_each_piece(at, end - at, |p| d.update(p));
        d.finish().to_le_bytes()
    });
    Some(Data { at, end, ddgst })
}

/// Frames the PDU of `job`, and counts it as sent; `None` if its command is gone (completed or
/// failed since).
fn prepare(
    hdr: &mut [u8; MAX_HEADER],
    slots: &Slots,
    conn: &Conn,
    job: Job,
    stats: &Stats,
) -> Result<Option<Sending>> {
    let s = match job {
        Job::Capsule(cid) => {
            let Some(cmd) = slots.busy(cid) else {
                return Ok(None);
            };
            Sending {
                what: Outgoing::Capsule(cid),
                cursor: Cursor::new(
                    usize::from(cmd.capsule_len),
                    data_of(conn, cmd, 0, cmd.incapsule),
                ),
            }
        }
        Job::Aer => {
            if !slots.aer_outstanding() {
                return Ok(None);
            }
            let mut sqe = [0u8; 64];
            sqe[0] = OPC_ASYNC_EVENT;
            [sqe[2], sqe[3]] = AER_CID.to_le_bytes();
            set_sgl(&mut sqe, 0, false);
            let capsule = Pdu::CapsuleCmd(CapsuleCmd { sqe, data_len: 0 });
            let len = capsule
                .emit_header::<KernelCrc32c>(&conn.framing, hdr)
                .map_err(|_| EINVAL)?;
            Sending {
                what: Outgoing::Aer,
                cursor: Cursor::new(len, None),
            }
        }
        Job::H2C {
            cid,
            ttag,
            datao,
            end,
        } => {
            let Some(cmd) = slots.busy(cid) else {
                return Ok(None);
            };
            let datal = (end - datao).min(conn.maxh2cdata.max(4096));
            let last = datao + datal == end;
            let pdu = Pdu::H2CData(H2CData {
                cccid: cid,
                ttag,
                datao,
                datal,
                last,
            });
            let len = pdu
                .emit_header::<KernelCrc32c>(&conn.framing, hdr)
                .map_err(|_| EINVAL)?;
            let next = (!last).then_some(Job::H2C {
                cid,
                ttag,
                datao: datao + datal,
                end,
            });
            Sending {
                what: Outgoing::H2C { cid, next, last },
                cursor: Cursor::new(len, data_of(conn, cmd, datao, datao + datal)),
            }
        }
    };
    stats.sent(s.what.pdu_type(), s.cursor.left());
    Ok(Some(s))
}

impl State {
    /// Whether nothing waits to be sent.
    #[inline]
    pub(crate) fn send_idle(&self) -> bool {
        self.send.idle()
    }

    /// Sends waiting PDUs until none is left, the socket is full, or `budget` PDUs went out.
    ///
    /// # Errors
    ///
    /// The socket failed, or the command of a PDU part sent is gone (the controller answered
    /// it before it had all its data): the connection cannot go on.
    #[inline]
    pub(crate) fn send(&mut self, budget: u32, stats: &Stats) -> Result<Sent> {
        // Checked here, inlined: the I/O work asks on every round, mostly with nothing to send.
        if self.send.idle() {
            return Ok(Sent::Idle);
        }
        self.send_waiting(budget, stats)
    }

    /// Sends the capsule of command `cid` at once, nothing waiting before it (`queue_rq` on the
    /// queue's CPU, as the C host sends directly), the PDU being sent keeping whatever does not
    /// fit: one socket call for a capsule without data. Returns as [`State::send`] would.
    fn send_capsule_now(&mut self, cid: u16, stats: &Stats) -> Result<Sent> {
        let Self { slots, send, conn } = self;
        let (Some(conn), Some(cmd)) = (conn.as_deref(), slots.busy(cid)) else {
            return Ok(Sent::Idle);
        };
        if cmd.incapsule > 0 {
            let mut s = Sending {
                what: Outgoing::Capsule(cid),
                cursor: Cursor::new(
                    usize::from(cmd.capsule_len),
                    data_of(conn, cmd, 0, cmd.incapsule),
                ),
            };
            stats.sent(PduType::CapsuleCmd, s.cursor.left());
            // Nothing follows it: no `MSG_MORE` after its data.
            if push(&mut s, slots, &send.hdr, &conn.sock, false)? {
                return Ok(Sent::Idle);
            }
            send.sending = Some(s);
            return Ok(Sent::Full);
        }
        let len = usize::from(cmd.capsule_len);
        stats.sent(PduType::CapsuleCmd, u32::from(cmd.capsule_len));
        // Nothing follows: `MSG_EOR`, as the cursor would send it.
        match cmd.rq.send_capsule(&conn.sock, 0, len, false)? {
            Some(n) if n == len => Ok(Sent::Idle),
            Some(0) => Err(EPIPE),
            sent => {
                // The rest goes out when the socket has room, before anything else.
                send.sending = Some(Sending {
                    what: Outgoing::Capsule(cid),
                    cursor: Cursor::Header {
                        sent: sent.unwrap_or(0),
                        len,
                        data: None,
                    },
                });
                Ok(Sent::Full)
            }
        }
    }

    /// [`State::send`] with something waiting.
    #[inline(never)]
    fn send_waiting(&mut self, budget: u32, stats: &Stats) -> Result<Sent> {
        let Self { slots, send, conn } = self;
        let Some(conn) = conn.as_deref() else {
            return Ok(Sent::Idle);
        };
        let mut sent = 0;
        loop {
            if sent == budget {
                return Ok(Sent::Budget);
            }
            let s = match send.sending.as_mut() {
                Some(s) => s,
                None => {
                    let Some(job) = send.list.pop() else {
                        return Ok(Sent::Idle);
                    };
                    match prepare(&mut send.hdr, slots, conn, job, stats)? {
                        Some(s) => send.sending.insert(s),
                        // Its command is gone: nothing to send.
                        None => continue,
                    }
                }
            };
            // Over TLS each PDU closes its record, as the C host sends.
            let more = !conn.tls
                && (matches!(s.what, Outgoing::H2C { next: Some(_), .. }) || !send.list.is_empty());
            if !push(s, slots, &send.hdr, &conn.sock, more)? {
                return Ok(Sent::Full);
            }
            let what = s.what;
            send.sending = None;
            sent += 1;
            if let Outgoing::H2C { cid, next, last } = what {
                if last {
                    if let Some(Command {
                        transfer: Transfer::Write { r2ts, .. },
                        ..
                    }) = slots.busy_mut(cid)
                    {
                        *r2ts = r2ts.saturating_sub(1);
                    }
                }
                // The rest of the R2T's answer goes next, before anything else.
                if let Some(job) = next {
                    send.sending = prepare(&mut send.hdr, slots, conn, job, stats)?;
                }
            }
        }
    }
}

/// Sets the SGL data block descriptor of `sqe` for `len` bytes: in-capsule (offset 0) or moved
/// by the transport (C2HData, R2T/H2CData).
fn set_sgl(sqe: &mut [u8; 64], len: u32, incapsule: bool) {
    sqe[1] |= SGL_METABUF;
    sqe[24..32].fill(0);
    [sqe[32], sqe[33], sqe[34], sqe[35]] = len.to_le_bytes();
    sqe[36..39].fill(0);
    sqe[39] = if incapsule {
        SGL_IN_CAPSULE
    } else {
        SGL_TRANSPORT
    };
}

impl Queue {
    /// Sends the command of `rq` (blk-mq `queue_rq`).
    pub(crate) fn queue_rq(
        this: ArcBorrow<'_, Self>,
        ctrl: &Ctrl<Host>,
        mut rq: Request,
    ) -> Result<(), BlkStatus> {
        if !rq.check_ready(ctrl, this.is_live()) {
            return Err(rq.fail_nonready(ctrl));
        }
        let RqInfo { len, cid, write } = rq.setup_cmd()?;
        let mut state = this.state.lock();
        let Some(conn) = state.conn.as_ref() else {
            drop(state);
            if rq.check_ready(ctrl, false) {
                // A Connect or an authentication command, which may go on a queue that is not
                // live while the controller connects (`nvme_check_ready`), finds the connection
                // gone (the target closed it): nothing would ever answer it, and as "not ready"
                // blk-mq would requeue it for ever, with the connect waiting on it. It fails,
                // and the connect with it.
                return Err(BlkStatus::IOERR);
            }
            // Stopped since the check: as if the queue were not ready.
            return Err(rq.fail_nonready(ctrl));
        };
        let tls = conn.tls;
        let incapsule = if write && len > 0 && len <= conn.max_incapsule {
            len
        } else {
            0
        };
        let transfer = match (len, write) {
            (0, _) => Transfer::None,
            (len, true) => Transfer::Write {
                len,
                requested: incapsule,
                r2ts: 0,
            },
            (len, false) => Transfer::Read { len, received: 0 },
        };
        if !state.slots.is_free(cid) {
            pr_err!(
                "queue {}: command id {cid:#x} beyond the queue or already in flight\n",
                this.qid
            );
            return Err(BlkStatus::IOERR);
        }
        // The capsule is framed where the core built the command, as in C.
        set_sgl(rq.sqe_mut(), len, incapsule > 0);
        let plain = conn
            .plain_capsules
            .as_ref()
            .and_then(|p| p.common(incapsule));
        let framed = match plain {
            // The header alone: only its common part to write.
            Some(common) => rq
                .capsule_mut()
                .first_chunk_mut()
                .map(|h| *h = common)
                .map_or(Err(()), |()| Ok(CMD_HLEN)),
            None => {
                Pdu::frame_capsule_cmd::<KernelCrc32c>(&conn.framing, incapsule, rq.capsule_mut())
                    .map_err(|_| ())
            }
        };
        // At most `CAPSULE_LEN` bytes: it fits.
        let Some(capsule_len) = framed.ok().and_then(|n| u8::try_from(n).ok()) else {
            return Err(BlkStatus::IOERR);
        };
        rq.start();
        let cmd = Command {
            cid,
            rq,
            transfer,
            incapsule,
            capsule_len,
            data_error: false,
        };
        if let Err(cmd) = state.slots.insert(cmd) {
            // Cannot happen: the slot was free above, under the same lock. Started, so
            // completed here.
            drop(state);
            cmd.rq
                .complete(crate::request::status::HOST_PATH_ERROR << 1, 0);
            return Ok(());
        }
        this.note_depth(&state.slots);
        // Sent here when on the queue's CPU with nothing ahead of it, as the C host does
        // (not over TLS: see the module's documentation); otherwise by the I/O work. When the
        // module batches, a busy queue leaves it to the I/O work too, which sends the commands
        // submitted meanwhile with it, in as few segments as they fit.
        let direct = state.send_idle()
            && this.on_io_cpu()
            && !tls
            && !(state.slots.in_flight() > 1 && crate::IO_WQ.batches());
        let sent = if direct {
            state.send_capsule_now(cid, &this.stats)
        } else {
            state
                .send
                .push(Job::Capsule(cid), &this.stats)
                .map(|()| Sent::Budget)
        };
        let idle = state.send_idle();
        drop(state);
        match sent {
            // The command stays in its slot: error recovery cancels it for a retry, or the
            // queue fails it now.
            Err(_) => this.failed(),
            Ok(_) if !idle => Self::kick(this),
            Ok(_) => {}
        }
        Ok(())
    }

    /// Sends an Asynchronous Event Request on the admin queue, unless one is outstanding.
    pub(crate) fn submit_aer(this: ArcBorrow<'_, Self>) {
        let mut state = this.state.lock();
        if !this.is_live() || state.conn.is_none() || !state.slots.start_aer() {
            return;
        }
        let queued = state.send.push(Job::Aer, &this.stats);
        drop(state);
        match queued {
            Ok(()) => Self::kick(this),
            Err(_) => this.failed(),
        }
    }

    /// Sends what waits, up to `budget` PDUs. A failure fails the queue.
    pub(crate) fn tx(&self, budget: u32) -> Result<Sent, ()> {
        let sent = self.state.lock().send(budget, &self.stats);
        sent.map_err(|e| {
            if self.is_live() {
                dev_err!(
                    self.ctrl.device(),
                    "queue {}: failed to send ({:?})\n",
                    self.qid,
                    e
                );
            }
            self.failed();
        })
    }
}
