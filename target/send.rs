// SPDX-License-Identifier: GPL-2.0

//! The send side of a target queue: responses, R2Ts and read data.
//!
//! Slots with something to send wait in the send queue, in order. The headers of the PDUs that
//! are ready together are staged in one buffer and leave in one socket call. A C2HData goes out
//! with them in that same call: the staged headers are copied into a page fragment, followed by
//! the data's pages and then a second part of the fragment with the data digest and (unless the
//! host disabled SQ flow control) the CapsuleResp, all spliced (`MSG_SPLICE_PAGES`, see
//! [`crate::splice`]). Without a fragment (memory is short) the unit goes as before the
//! fragments were: the staged headers by copy, the data zero-copy, the digest, each its own
//! call, and the CapsuleResp staged with whatever comes next. A [`Span`] (or a [`Cursor`])
//! follows each unit across partial sends: a full socket leaves it part sent until
//! `write_space`, and nothing else goes out meanwhile.

use crate::crc32c::KernelCrc32c;
use crate::nvmet_sq::Responded;
use crate::pdu::{
    engine::{
        ring::Ring,
        send::{Cursor, Data, Gather, Pushed, SendError, Sent, Span, Transmit},
        stats::Stats,
        stop::Stop,
    },
    C2HData, CapsuleResp, Digest, Framing, Pdu, PduType, R2t,
};
use crate::queue::{Queue, QueueState};
use crate::slots::{ttag_of, Slot, Slots};
use crate::socket::Socket;
use crate::splice::{Frag, FragCache, Splice};
use kernel::prelude::*;

/// PDUs sent per round of `io_work`.
const SEND_BUDGET: u32 = 8;
/// Largest header section the target sends: a C2HData/R2T/CapsuleResp header and its digest.
const HDR_MAX: usize = 24 + 4;
/// Bytes of headers gathered before one send: responses and R2Ts that are ready together leave
/// in one call.
const STAGE_LEN: usize = 1024;
// A spliced unit's fragment (the staged headers, a digest, a CapsuleResp) fits in a page.
const _: () = assert!(STAGE_LEN + 4 + HDR_MAX <= kernel::page::PAGE_SIZE);

/// The unit being sent.
enum Unit {
    /// The staged headers by copy, then the data of slot `id` (and its digest) from its pages,
    /// a call for each; the slot's CapsuleResp follows if `resp`, staged with what comes next.
    Staged {
        cursor: Cursor,
        id: Option<u16>,
        resp: bool,
    },
    /// One splice per call: `head` bytes of `frag` (the staged headers, a C2HData's last), the
    /// `data` bytes of slot `id`, then the rest of `frag` (the digest, the CapsuleResp).
    Spliced {
        frag: Frag,
        head: usize,
        id: u16,
        data: u32,
        span: Span,
    },
}

impl Unit {
    /// Whether part of the unit went out.
    fn begun(&self) -> bool {
        match self {
            Self::Staged { cursor, .. } => cursor.begun(),
            Self::Spliced { span, .. } => span.begun(),
        }
    }
}

/// The send side of a queue's state.
pub(crate) struct Sender {
    /// Slots with something to send, oldest first; a slot is queued at most once at a time,
    /// so the ring never overflows.
    queue: Ring<u16, KVec<u16>>,
    /// Headers staged for the next unit: `fill` bytes.
    stage: KVec<u8>,
    fill: usize,
    unit: Option<Unit>,
    /// The page fragments of spliced units.
    frags: FragCache,
}

impl Sender {
    /// Returns an idle sender with room for one slot (the Connect slot).
    pub(crate) fn new() -> Result<Self> {
        Ok(Self {
            queue: Ring::new(KVec::from_elem(0u16, 1, GFP_KERNEL)?),
            stage: KVec::from_elem(0u8, STAGE_LEN, GFP_KERNEL)?,
            fill: 0,
            unit: None,
            frags: FragCache::new(),
        })
    }

    /// Makes room for `n` slots in the send queue, keeping what is queued.
    pub(crate) fn grow(&mut self, n: usize) -> Result {
        if n <= self.queue.capacity() {
            return Ok(());
        }
        let mut bigger = Ring::new(KVec::from_elem(0u16, n, GFP_KERNEL)?);
        self.queue.move_into(&mut bigger).map_err(|_| ENOSPC)?;
        self.queue = bigger;
        Ok(())
    }

    /// Queues slot `id`; `false` if there is no room (cannot happen while ids are unique).
    pub(crate) fn queue(&mut self, id: u16, stats: &Stats) -> bool {
        let queued = self.queue.push(id).is_ok();
        stats.queued(self.queue.len());
        queued
    }

    /// Whether part of a unit went out: nothing else (a TermReq neither) may be sent before its
    /// rest.
    pub(crate) fn mid_pdu(&self) -> bool {
        self.unit.as_ref().is_some_and(Unit::begun)
    }

    /// Forgets what was being sent (the queue is released).
    pub(crate) fn clear(&mut self) {
        self.unit = None;
        self.fill = 0;
    }

    /// Appends `pdu`'s header to the staged ones, and counts the PDU as sent.
    ///
    /// Inline: at each call site the PDU's type is known, so counting it is a constant index.
    #[inline(always)]
    fn stage(&mut self, pdu: &Pdu, framing: &Framing, stats: &Stats) -> Result<(), Stop<Error>> {
        let room = self.stage.get_mut(self.fill..).unwrap_or(&mut []);
        let layout = pdu
            .emit_header_layout::<KernelCrc32c>(framing, room)
            .map_err(|_| Stop::Local(EINVAL))?;
        stats.sent(pdu.pdu_type(), layout.plen().unwrap_or(0));
        self.fill += layout.data_offset();
        Ok(())
    }

    /// Whether another header fits.
    fn has_room(&self) -> bool {
        self.stage.len() - self.fill >= HDR_MAX
    }
}

/// What staging a slot's PDU found.
enum Staged {
    /// A header alone (a response, an R2T): the slot's PDUs are all staged.
    Header,
    /// A C2HData header, its data to follow: `len` bytes, with `ddgst`; then a CapsuleResp
    /// if `resp`.
    Data {
        len: u32,
        ddgst: Option<[u8; 4]>,
        resp: bool,
    },
}

/// The socket and where the bytes of a spliced unit are.
struct SpliceTx<'a> {
    sock: &'a Socket,
    frag: &'a Frag,
    head: usize,
    req: &'a Responded,
    data: u32,
}

impl Gather for SpliceTx<'_> {
    type Error = Error;

    fn send_from(&mut self, from: usize, more: bool) -> Sent<Error> {
        let mut s = Splice::new();
        let data_end = self.head + self.data as usize;
        if from < self.head && !s.frag(self.frag, from, self.head) {
            return Err(EINVAL);
        }
        let mut whole = true;
        if from < data_end {
            let at = u32::try_from(from.saturating_sub(self.head)).map_err(|_| EINVAL)?;
            whole = at + self.req.splice_data(at, self.data - at, &mut s) == self.data;
        }
        if whole {
            // The rest of the fragment, after the data.
            let rest = self.head + from.saturating_sub(data_end);
            whole = rest >= self.frag.len() || s.frag(self.frag, rest, self.frag.len());
        }
        if s.len() == 0 {
            return Err(EINVAL);
        }
        s.send(self.sock, more || !whole)
    }
}

/// The socket and where the bytes of the unit being sent are.
struct Tx<'a> {
    sock: &'a Socket,
    stage: &'a [u8],
    slots: &'a Slots,
    id: Option<u16>,
}

impl Transmit for Tx<'_> {
    type Error = Error;

    #[inline]
    fn header(&mut self, from: usize, to: usize, more: bool) -> Sent<Error> {
        self.sock
            .send(self.stage.get(from..to).ok_or(EINVAL)?, more)
    }

    #[inline]
    fn data(&mut self, at: u32, end: u32, more: bool) -> Sent<Error> {
        let slot = self.id.and_then(|id| self.slots.get(id));
        let Some(Slot::Completed { req, .. }) = slot else {
            return Err(EINVAL);
        };
        req.send_data(self.sock, at, end - at, more)
    }

    fn digest(&mut self, bytes: &[u8], more: bool) -> Sent<Error> {
        self.sock.send(bytes, more)
    }
}

impl Queue {
    /// Stages the header of what slot `id` sends next.
    fn stage_slot(&self, st: &mut QueueState, id: u16) -> Result<Staged, Stop<Error>> {
        let slot = st.slots.get(id).ok_or(Stop::Local(EINVAL))?;
        match slot {
            Slot::R2tQueued { cid, end, .. } => {
                let r2t = Pdu::R2t(R2t {
                    cccid: *cid,
                    ttag: ttag_of(id),
                    r2to: 0,
                    r2tl: *end,
                });
                st.tx.stage(&r2t, &st.framing, &self.stats)?;
                Ok(Staged::Header)
            }
            Slot::Completed {
                req, cid, write, ..
            } => {
                let cqe = self.sq().cqe(req);
                let ok = cqe[14] == 0 && cqe[15] == 0;
                let data = match req.buf() {
                    Some(buf) if !*write && ok => Some(buf),
                    _ => None,
                };
                let Some(buf) = data else {
                    st.tx.stage(
                        &Pdu::CapsuleResp(CapsuleResp { cqe }),
                        &st.framing,
                        &self.stats,
                    )?;
                    return Ok(Staged::Header);
                };
                let len = buf.len();
                let ddgst = st.framing.ddgst.then(|| {
                    let mut d = Digest::<KernelCrc32c>::new();
                    buf.for_each_piece(0, len, |p| d.update(p));
                    d.finish().to_le_bytes()
                });
                let success = self.sq().sqhd_disabled();
                let hdr = Pdu::C2HData(C2HData {
                    cccid: *cid,
                    datao: 0,
                    datal: len,
                    last: true,
                    success,
                });
                st.tx.stage(&hdr, &st.framing, &self.stats)?;
                Ok(Staged::Data {
                    len,
                    ddgst,
                    resp: !success,
                })
            }
            _ => Err(Stop::Local(EINVAL)),
        }
    }

    /// Sends what is queued: headers of ready PDUs are staged and leave together, read data
    /// zero-copy after its header. Handles up to `SEND_BUDGET` PDUs; returns how many.
    pub(crate) fn send(&self, st: &mut QueueState) -> Result<u32, Stop<Error>> {
        let mut pdus = 0;
        loop {
            if st.tx.unit.is_none() {
                // Stage the headers of what is queued, up to the first one with data to follow.
                let mut data = None;
                while pdus < SEND_BUDGET && st.tx.has_room() {
                    let Some(id) = st.tx.queue.pop() else {
                        break;
                    };
                    match self.stage_slot(st, id)? {
                        Staged::Header => {
                            pdus += 1;
                            self.sent(st, id);
                        }
                        Staged::Data { len, ddgst, resp } => {
                            data = Some((id, len, ddgst, resp));
                            break;
                        }
                    }
                }
                if st.tx.fill == 0 {
                    return Ok(pdus);
                }
                let spliced = match data {
                    Some((id, len, ddgst, resp)) => self.splice_unit(st, id, len, ddgst, resp)?,
                    None => None,
                };
                st.tx.unit = Some(spliced.unwrap_or(Unit::Staged {
                    cursor: Cursor::new(
                        st.tx.fill,
                        data.map(|(_, len, ddgst, _)| Data {
                            at: 0,
                            end: len,
                            ddgst,
                        }),
                    ),
                    id: data.map(|(id, ..)| id),
                    resp: data.is_some_and(|(.., resp)| resp),
                }));
            }
            let queued = !st.tx.queue.is_empty();
            let Sender {
                stage, fill, unit, ..
            } = &mut st.tx;
            let Some(u) = unit.as_mut() else {
                return Ok(pdus);
            };
            let pushed = match u {
                Unit::Staged { cursor, id, resp } => {
                    let mut tx = Tx {
                        sock: &self.sock,
                        stage: stage.get(..*fill).unwrap_or(&[]),
                        slots: &st.slots,
                        id: *id,
                    };
                    cursor.push(&mut tx, *resp || queued)
                }
                Unit::Spliced {
                    frag,
                    head,
                    id,
                    data,
                    span,
                } => {
                    let Some(Slot::Completed { req, .. }) = st.slots.get(*id) else {
                        return Err(Stop::Local(EINVAL));
                    };
                    let mut tx = SpliceTx {
                        sock: &self.sock,
                        frag,
                        head: *head,
                        req,
                        data: *data,
                    };
                    span.push(&mut tx, queued)
                }
            };
            match pushed {
                // The socket is full: write space wakes the work.
                Ok(Pushed::Full) => return Ok(pdus),
                Ok(Pushed::Done) => {}
                Err(SendError::Closed) => return Err(Stop::Local(EPIPE)),
                Err(SendError::Io(e)) => return Err(Stop::Local(e)),
            }
            let (id, resp) = match u {
                Unit::Staged { id, resp, .. } => (*id, *resp),
                // Its CapsuleResp went with it.
                Unit::Spliced { id, .. } => (Some(*id), false),
            };
            *unit = None;
            *fill = 0;
            if let Some(id) = id {
                pdus += 1;
                if resp {
                    // The response follows the data, staged with whatever comes next.
                    if let Some(Slot::Completed { req, .. }) = st.slots.get(id) {
                        let cqe = self.sq().cqe(req);
                        st.tx.stage(
                            &Pdu::CapsuleResp(CapsuleResp { cqe }),
                            &st.framing,
                            &self.stats,
                        )?;
                    }
                }
                self.sent(st, id);
            }
            if st.tx.fill == 0 && (pdus >= SEND_BUDGET || st.tx.queue.is_empty()) {
                return Ok(pdus);
            }
        }
    }

    /// Makes the unit of the headers staged so far and the C2HData of slot `id` just staged:
    /// its `len` bytes of data, their digest `ddgst` and, if `resp`, its CapsuleResp, spliced.
    /// `None` if no page fragment could be had: the caller sends the unit staged.
    fn splice_unit(
        &self,
        st: &mut QueueState,
        id: u16,
        len: u32,
        ddgst: Option<[u8; 4]>,
        resp: bool,
    ) -> Result<Option<Unit>, Stop<Error>> {
        // What follows the data: its digest, then the response's header.
        let mut tail = [0u8; 4 + HDR_MAX];
        let mut t = 0;
        if let Some(d) = ddgst {
            tail[..4].copy_from_slice(&d);
            t = 4;
        }
        let mut resp_plen = None;
        if resp {
            let Some(Slot::Completed { req, .. }) = st.slots.get(id) else {
                return Err(Stop::Local(EINVAL));
            };
            let pdu = Pdu::CapsuleResp(CapsuleResp {
                cqe: self.sq().cqe(req),
            });
            let layout = pdu
                .emit_header_layout::<KernelCrc32c>(&st.framing, &mut tail[t..])
                .map_err(|_| Stop::Local(EINVAL))?;
            t += layout.data_offset();
            resp_plen = Some(layout.plen().unwrap_or(0));
        }
        let head = st.tx.fill;
        let staged = st.tx.stage.get(..head).unwrap_or(&[]);
        let Some(frag) = st
            .tx
            .frags
            .alloc_from(&[staged, tail.get(..t).unwrap_or(&[])])
        else {
            return Ok(None);
        };
        if let Some(plen) = resp_plen {
            self.stats.sent(PduType::CapsuleResp, plen);
        }
        // The staged headers are the fragment's now.
        st.tx.fill = 0;
        Ok(Some(Unit::Spliced {
            frag,
            head,
            id,
            data: len,
            span: Span::new(head + len as usize + t),
        }))
    }

    /// A slot's PDUs were all sent (or staged for sending): an R2T's slot awaits its data, a
    /// completed command's slot is free again.
    fn sent(&self, st: &mut QueueState, id: u16) {
        let Some(slot) = st.slots.get_mut(id) else {
            return;
        };
        match slot.take() {
            Slot::R2tQueued { req, cid, end } => {
                *slot = Slot::AwaitingH2C {
                    req,
                    cid,
                    next: 0,
                    end,
                    digest_bad: false,
                }
            }
            Slot::Completed { req, .. } => {
                *slot = Slot::Free(self.sq().finish(req));
                st.release_slot(id);
            }
            other => *slot = other,
        }
    }
}
