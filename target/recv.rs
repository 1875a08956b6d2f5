// SPDX-License-Identifier: GPL-2.0

//! The receive side of a target queue: the engine's pump over the socket, and the target's
//! handling of each PDU: the ICReq, commands (a slot, parsing by the core, a buffer), their
//! in-capsule and H2C data, straight into the command's buffer.
//!
//! Commands received whole are executed once the read is over, outside the socket lock: the
//! core takes its own locks (`nvmet_config_sem` for Connect), which must not nest in the
//! socket's. So a read ends after an ICReq (its ICResp goes out first) and after a whole
//! Connect (which installs the slots the commands behind it need).

use crate::crc32c::KernelCrc32c;
use crate::nvmet::status;
use crate::nvmet_sq::CONNECT;
use crate::pdu::{
    engine::{pump::Handler, stop::Stop},
    CapsuleCmd, DataDigest, Fes, Pdu, Receiver, Role, SglRefusal, TargetConfig,
};
use crate::port::MAX_DATA_LEN;
use crate::queue::{Phase, Queue, QueueState, RecvTo};
use crate::sgl::DataBuffer;
use crate::skb::{Piece, SkbBytes};
use crate::slots::{Slot, Slots};
use kernel::prelude::*;

/// Why receiving stops: the engine's reasons, with a kernel error for local failures.
pub(crate) type RxError = Stop<Error>;

impl From<kernel::alloc::AllocError> for RxError {
    fn from(_: kernel::alloc::AllocError) -> Self {
        Stop::Local(ENOMEM)
    }
}

/// The target's handler of one read: the queue and its state under the `io` lock.
pub(crate) struct Rx<'a> {
    pub(crate) q: &'a Queue,
    pub(crate) st: &'a mut QueueState,
}

impl<'s> Handler<KernelCrc32c, Piece<'s>> for Rx<'_> {
    type Table = Slots;
    type Error = Error;

    #[inline(always)]
    fn table(&self) -> &Slots {
        &self.st.slots
    }

    fn header(&mut self, rx: &mut Receiver<KernelCrc32c>) -> Result<(), RxError> {
        match rx.header().pdu {
            Pdu::IcReq(icreq) => {
                let config = TargetConfig {
                    hdgst: true,
                    ddgst: true,
                    maxh2cdata: MAX_DATA_LEN,
                };
                let (params, icresp) = config.accept_icreq(&icreq).map_err(Stop::Fatal)?;
                // Sent once the read is over: the socket is locked while it runs.
                self.st.icresp = Some(icresp);
                rx.establish(params);
                self.st.framing = params.framing(Role::Target);
                self.st.phase = Phase::Live;
                Ok(())
            }
            Pdu::CapsuleCmd(cmd) => self.command(rx, &cmd),
            Pdu::H2CData(d) => {
                self.st.recv_to = RecvTo::Slot(self.st.slots.of_ttag(d.ttag));
                Ok(())
            }
            // The validator admits nothing else on the target side (TermReqs stop the pump).
            _ => Err(Stop::fatal(Fes::PduSequenceError)),
        }
    }

    #[inline(always)]
    fn data(&mut self, offset: u32, data: &[u8]) -> Result<(), RxError> {
        if let Some(buf) = self.buf_mut() {
            // The receiver checked that the data lies within the command's buffer.
            buf.copy_in(offset, data);
        }
        self.received(data.len());
        Ok(())
    }

    fn data_end(&mut self, digest: DataDigest) -> Result<(), RxError> {
        match self.st.recv_to {
            RecvTo::Slot(id) => {
                self.q
                    .data_end(self.st, id, matches!(digest, DataDigest::Bad { .. }))
            }
            RecvTo::Drain(id) => self.q.drained(self.st, id),
            RecvTo::Discard => {}
        }
        Ok(())
    }

    #[inline(always)]
    fn place(&mut self, offset: u32, src: &SkbBytes<'s>) -> bool {
        let copied = self.buf_mut().is_some_and(|b| b.copy_from_skb(offset, src));
        if copied {
            self.received(src.len() as usize);
        }
        copied
    }

    /// Ends the read after an ICReq or a whole Connect (see [`QueueState::setting_up`]): a host
    /// may send its Connect right behind its ICReq, and commands right behind its Connect.
    #[inline(always)]
    fn pause(&self) -> bool {
        self.st.setting_up()
    }
}

impl Rx<'_> {
    /// Returns the buffer the current PDU's data goes into, if any.
    fn buf_mut(&mut self) -> Option<&mut DataBuffer> {
        let RecvTo::Slot(id) = self.st.recv_to else {
            return None;
        };
        match self.st.slots.get_mut(id)? {
            Slot::Inline { req, .. } | Slot::AwaitingH2C { req, .. } => req.buf_mut(),
            _ => None,
        }
    }

    /// Counts `len` bytes of data received: for a write by R2T, they advance the offset
    /// expected next.
    fn received(&mut self, len: usize) {
        let RecvTo::Slot(id) = self.st.recv_to else {
            return;
        };
        if let Some(Slot::AwaitingH2C { next, .. }) = self.st.slots.get_mut(id) {
            *next = next.saturating_add(u32::try_from(len).unwrap_or(u32::MAX));
        }
    }

    /// Starts a command: takes a slot, has the core parse it, gives it a buffer.
    fn command(
        &mut self,
        rx: &mut Receiver<KernelCrc32c>,
        cmd: &CapsuleCmd,
    ) -> Result<(), RxError> {
        self.q.check_install(self.st, rx)?;
        let st = &mut *self.st;
        let id = if st.slots.installed {
            st.free.pop().ok_or(Stop::fatal(Fes::PduSequenceError))?
        } else {
            CONNECT
        };
        let slot = st.slots.get_mut(id).ok_or(Stop::Local(EINVAL))?;
        if !matches!(slot, Slot::Free(_)) {
            // A second command before Connect completed, or an overrun of the queue; the
            // slot's command stays as it is.
            return Err(Stop::fatal(Fes::PduSequenceError));
        }
        let Slot::Free(free) = slot.take() else {
            return Err(Stop::Local(EINVAL));
        };
        let (cid, write) = (cmd.cid(), cmd.is_write());
        let incapsule = cmd.data_len > 0;
        let sq = self.q.sq();
        // A refused command: the core completes it; its in-capsule data is dropped as it comes.
        let refused = |slot: &mut Slot, req| {
            *slot = Slot::Executing {
                req,
                cid,
                write,
                draining: incapsule,
            };
            if incapsule {
                RecvTo::Drain(id)
            } else {
                RecvTo::Discard
            }
        };
        let mut parsed = match sq.init(free, &cmd.sqe, &crate::OPS) {
            Ok(p) => p,
            Err(req) => {
                st.recv_to = refused(slot, req);
                return Ok(());
            }
        };
        // The descriptor is judged once the core has parsed the command, as in C.
        let len = match cmd.sgl_data(MAX_DATA_LEN) {
            Ok(data) => data.data_len(),
            Err(refusal) => {
                st.recv_to = refused(slot, sq.fail(parsed, sgl_status(refusal)));
                return Ok(());
            }
        };
        if len > 0 {
            match DataBuffer::alloc(len) {
                Some(buf) => sq.attach(&mut parsed, buf),
                None => {
                    st.recv_to = refused(slot, sq.fail(parsed, status::INTERNAL));
                    return Ok(());
                }
            }
        }
        if incapsule {
            if !write {
                st.recv_to = refused(slot, sq.fail(parsed, status::INVALID_FIELD_DNR));
                return Ok(());
            }
            *slot = Slot::Inline { req: parsed, cid };
            st.recv_to = RecvTo::Slot(id);
        } else if write && len > 0 {
            *slot = Slot::R2tQueued {
                req: parsed,
                cid,
                end: len,
            };
            let _ = st.tx.queue(id, &self.q.stats);
        } else {
            *slot = Slot::Ready {
                req: parsed,
                cid,
                write,
            };
            st.mark_ready(id);
        }
        Ok(())
    }
}

/// The status a command fails with when the target refuses its SGL descriptor.
fn sgl_status(refusal: SglRefusal) -> u16 {
    match refusal {
        SglRefusal::TypeInvalid => status::SGL_INVALID_TYPE_DNR,
        SglRefusal::LengthInvalid => status::SGL_INVALID_DATA_DNR,
    }
}
