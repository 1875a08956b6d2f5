// SPDX-License-Identifier: GPL-2.0

//! Host requests: a blk-mq request the driver owns from `queue_rq` until it completes it
//! ([`Request`]), its PDU ([`Pdu`]: the core's `struct nvme_request`, the command capsule, the
//! cursor of received data), and its data: the segments of its bios (or its special payload),
//! walked here in Rust, sent zero-copy or copied, and filled from the socket's buffers.

use crate::fabrics::bindings as b;
use crate::nvme_ctrl::{Ctrl, Driver};
use crate::skb::SkbBytes;
use crate::socket::{self, Io, Socket, Vecs};
use core::ptr::NonNull;
use kernel::{bindings as kb, iov::IovIterDest, prelude::*};

/// A `blk_status_t` returned from `queue_rq`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct BlkStatus(kb::blk_status_t);

impl BlkStatus {
    /// `BLK_STS_OK`.
    pub(crate) const OK: Self = Self(kb::BLK_STS_OK as kb::blk_status_t);
    /// `BLK_STS_IOERR` (`include/linux/blk_types.h`; a cast macro bindgen cannot evaluate).
    pub(crate) const IOERR: Self = Self(10);

    /// Returns the value for blk-mq.
    pub(crate) fn raw(self) -> kb::blk_status_t {
        self.0
    }
}

/// NVMe status codes the transport completes commands with (status field without phase bit).
pub(crate) mod status {
    use super::b;

    /// The path to the controller failed; the command may be retried on another path.
    pub(crate) const HOST_PATH_ERROR: u16 = b::NVME_SC_HOST_PATH_ERROR as u16;
    /// The host aborted the command (timeout).
    pub(crate) const HOST_ABORTED_CMD: u16 = b::NVME_SC_HOST_ABORTED_CMD as u16;
    /// Data transfer error (bad data digest).
    pub(crate) const DATA_XFER_ERROR: u16 = b::NVME_SC_DATA_XFER_ERROR as u16;
}

/// Command identifier of the asynchronous event request, outside the admin tag set's range.
pub(crate) const AER_CID: u16 = b::NVME_AQ_BLK_MQ_DEPTH as u16;

/// Depth of the admin queue (`NVME_AQ_DEPTH`): the blk-mq tags and the asynchronous event
/// request.
pub(crate) const AQ_DEPTH: usize = b::NVME_AQ_DEPTH as usize;

/// Bytes of a request's capsule: the CapsuleCmd header section, with room for the header digest
/// and the padding up to PDO.
pub(crate) const CAPSULE_LEN: usize = 128;

/// A request's CapsuleCmd header section, framed where the core builds the command: the common
/// header, the command (the SQE, which `nvme_req(rq)->cmd` points to), then room for the header
/// digest and the padding up to PDO.
#[repr(C)]
struct Capsule {
    common: [u8; 8],
    cmd: b::nvme_command,
    rest: [u8; CAPSULE_LEN - 72],
}

// The capsule is one run of bytes, the command at 8 as in a CapsuleCmd.
const _: () = assert!(core::mem::offset_of!(Capsule, cmd) == 8);
const _: () = assert!(size_of::<Capsule>() == CAPSULE_LEN);

/// Where the last copy of received data into a request stopped: `iter` is at byte `pos` of the
/// request's data, within `bio`, which starts at byte `start` (none while `bio` is null). As the
/// C host's request iterator, data received in order continues from it.
#[repr(C)]
struct Cursor {
    bio: *mut kb::bio,
    iter: kb::iov_iter,
    start: u32,
    pos: u32,
}

/// The blk-mq PDU of a host request (`cmd_size`): the core's `struct nvme_request` first (as
/// `nvme_req()` requires), then the capsule of its command, then the cursor of received data.
///
/// The capsule is sent by copy (72 bytes without digest or data, which is cheaper than a page
/// reference the stack would take to send it zero-copy, as the C host sends its command PDUs),
/// so it may lie in the request.
#[repr(C)]
pub(crate) struct Pdu {
    req: b::nvme_request,
    capsule: Capsule,
    cursor: Cursor,
}

/// What the transport needs of a request, read once its command is set up
/// ([`Request::setup_cmd`]).
#[derive(Clone, Copy)]
pub(crate) struct RqInfo {
    /// The length of its data (0 without data).
    pub(crate) len: u32,
    /// Its command identifier.
    pub(crate) cid: u16,
    /// Data moves to the controller.
    pub(crate) write: bool,
}

/// Returns the command identifier of a request (`nvme_cid`).
///
/// # Safety
///
/// `rq` must be a valid request of this transport's tag sets.
pub(crate) unsafe fn cid_of(rq: *mut kb::request) -> u16 {
    // SAFETY: The caller guarantees `rq`.
    unsafe { b::nvme_tcp_rs_rq_cid(rq) }
}

/// A contiguous range of a request's data: `len` bytes from `offset` of `page` (on into the
/// pages after it, for a multi-page segment).
#[derive(Clone, Copy)]
struct Segment {
    page: *mut kb::page,
    offset: u32,
    len: u32,
}

/// A request the driver owns: from `queue_rq` until it completes it.
///
/// # Invariants
///
/// `0` is a started (or being started) request of a tag set of this transport, whose PDU is a
/// [`Pdu`], owned by the driver: blk-mq does not complete or free it until
/// [`Request::complete`] (or the core's cancel after the driver dropped it on teardown). No
/// other `Request` for it exists.
pub(crate) struct Request(NonNull<kb::request>);

// SAFETY: A request may be completed from any context.
unsafe impl Send for Request {}
// SAFETY: Shared references only read the request's fixed properties and data.
unsafe impl Sync for Request {}

impl Request {
    /// Takes ownership of a request blk-mq hands to `queue_rq`.
    ///
    /// # Safety
    ///
    /// `rq` must be a request of a tag set of this transport that blk-mq hands to the driver,
    /// for which no other `Request` exists.
    pub(crate) unsafe fn from_raw(rq: NonNull<kb::request>) -> Self {
        // INVARIANT: As the caller guarantees.
        Self(rq)
    }

    /// Sets up the PDU of a new request (`init_request`): the core's request points at the
    /// command in the capsule and at the controller.
    ///
    /// # Safety
    ///
    /// `rq` must be a request of a tag set of this transport, not in use, whose PDU is a
    /// [`Pdu`]; `ctrl` the controller of the tag set.
    pub(crate) unsafe fn init_pdu(rq: *mut kb::request, ctrl: *mut b::nvme_ctrl) {
        // SAFETY: The PDU follows the request in its allocation (`blk_mq_rq_to_pdu`); it is
        // not in use, so it is written here alone.
        unsafe {
            let pdu = rq.add(1).cast::<Pdu>();
            (&raw mut (*pdu).capsule).write_bytes(0, 1);
            (*pdu).req.ctrl = ctrl;
            (*pdu).req.cmd = &raw mut (*pdu).capsule.cmd;
            (*pdu).cursor.bio = core::ptr::null_mut();
        }
    }

    fn raw(&self) -> *mut kb::request {
        self.0.as_ptr()
    }

    fn pdu(&self) -> *mut Pdu {
        // SAFETY: The request is valid, and its PDU follows it in the same allocation
        // (`blk_mq_rq_to_pdu`, inlined here); it is a `Pdu` (type invariant).
        unsafe { self.raw().add(1).cast::<Pdu>() }
    }

    /// `nvme_check_ready`: whether the controller accepts this command on a queue that is
    /// (`queue_live`) or is not yet connected.
    pub(crate) fn check_ready<T: Driver>(&self, ctrl: &Ctrl<T>, queue_live: bool) -> bool {
        // SAFETY: The controller and request are valid.
        unsafe { b::nvme_tcp_rs_check_ready(ctrl.raw(), self.raw(), queue_live) }
    }

    /// `nvme_fail_nonready_command`: what to return for a command the controller is not ready
    /// for (the request may be completed by it).
    pub(crate) fn fail_nonready<T: Driver>(self, ctrl: &Ctrl<T>) -> BlkStatus {
        // SAFETY: The controller and request are valid; ownership goes back to blk-mq.
        BlkStatus(unsafe { b::nvme_fail_nonready_command(ctrl.raw(), self.raw()) })
    }

    /// `nvme_setup_cmd`: fills the command from the block request; returns what the
    /// transport needs of the request.
    pub(crate) fn setup_cmd(&self) -> Result<RqInfo, BlkStatus> {
        let rq = self.raw();
        // SAFETY: The request is valid, as is its queue, whose `queuedata` is its namespace
        // (none on the admin queues), as `nvme_setup_cmd` expects.
        let s = unsafe { b::nvme_setup_cmd((*(*rq).q).queuedata.cast(), rq) };
        if s != BlkStatus::OK.0 {
            return Err(BlkStatus(s));
        }
        let (op, data_len, segments) = {
            // SAFETY: The request is valid and owned; these fields are set before `queue_rq`.
            unsafe { ((*rq).cmd_flags, (*rq).__data_len, (*rq).nr_phys_segments) }
        };
        // `blk_rq_payload_bytes`, for a request with data (`blk_rq_nr_phys_segments`).
        let len = if self.special() {
            // SAFETY: The request carries a special payload, set before `queue_rq`.
            unsafe { (*rq).__bindgen_anon_3.special_vec.bv_len }
        } else if segments > 0 {
            data_len
        } else {
            0
        };
        Ok(RqInfo {
            len,
            // SAFETY: The request is valid.
            cid: unsafe { cid_of(rq) },
            // `rq_data_dir`: the operation's low bit.
            write: op & ((1 << kb::REQ_OP_BITS) - 1) & 1 != 0,
        })
    }

    /// Whether the request's data is a special payload (`RQF_SPECIAL_PAYLOAD`: a discard's
    /// range list, say) rather than its bios.
    fn special(&self) -> bool {
        // SAFETY: The request is valid; `rq_flags` is set before `queue_rq`.
        let flags = unsafe { (*self.raw()).rq_flags };
        flags & (1 << kb::rqf_flags___RQF_SPECIAL_PAYLOAD) != 0
    }

    /// `nvme_start_request`: starts the request's timer; received data starts from nothing.
    pub(crate) fn start(&mut self) {
        // SAFETY: The request is valid and owned; `&mut self` makes this the only user of its
        // cursor.
        unsafe {
            (*self.pdu()).cursor.bio = core::ptr::null_mut();
            b::nvme_tcp_rs_start_request(self.raw());
        }
    }

    fn capsule_ptr(&self) -> *mut Capsule {
        // SAFETY: `pdu` is valid; no reference to it is made.
        unsafe { &raw mut (*self.pdu()).capsule }
    }

    /// Returns the request's CapsuleCmd header section: the command as set up by
    /// [`Request::setup_cmd`] at bytes 8..72 (the SQE), framed around it by the driver.
    pub(crate) fn capsule(&self) -> &[u8; CAPSULE_LEN] {
        // SAFETY: The capsule is 128 bytes of plain data (asserted above); the core writes it
        // only while it sets the command up, within `setup_cmd`, which borrows the request.
        unsafe { &*self.capsule_ptr().cast() }
    }

    /// Returns the request's CapsuleCmd header section, to frame.
    pub(crate) fn capsule_mut(&mut self) -> &mut [u8; CAPSULE_LEN] {
        // SAFETY: The capsule is 128 bytes of plain data; the core writes it only within
        // `setup_cmd`, and `&mut self` makes this the only reference the driver has.
        unsafe { &mut *self.capsule_ptr().cast() }
    }

    /// Returns the command (the SQE) as set up by [`Request::setup_cmd`], in the capsule.
    pub(crate) fn sqe_mut(&mut self) -> &mut [u8; 64] {
        // SAFETY: The command is the 64 bytes of plain data of the capsule's `cmd`; the core
        // writes it only within `setup_cmd`, and `&mut self` makes this the only reference.
        unsafe { &mut *(&raw mut (*self.capsule_ptr()).cmd).cast() }
    }

    /// Sends bytes `from..to` of the capsule on `sock` without blocking. Returns how many went
    /// out (`None`: the socket is full).
    ///
    /// The bytes are copied (the C host sends its command PDUs zero-copy, `MSG_SPLICE_PAGES`:
    /// for a capsule of 72 bytes, the page reference and the iterator over it cost the stack
    /// more than the copy), so the capsule may be framed again as soon as this returns.
    pub(crate) fn send_capsule(&self, sock: &Socket, from: usize, to: usize, more: bool) -> Io {
        let bytes = self.capsule().get(from..to).ok_or(EINVAL)?;
        sock.send(bytes, more)
    }

    /// Returns the command's opcode.
    pub(crate) fn opcode(&self) -> u8 {
        self.capsule()[8]
    }

    /// Returns the name of the command's opcode on queue `qid` (fabrics commands by their
    /// type), as the core's log lines spell it.
    pub(crate) fn opcode_name(&self, qid: u16) -> &CStr {
        // SAFETY: The request is valid and its command set up; the helper returns a static
        // string.
        unsafe { CStr::from_char_ptr(b::nvme_tcp_rs_rq_opcode_str(i32::from(qid), self.raw())) }
    }

    /// Calls `f` on each segment of the data that overlaps `from..to`, clipped to it, in order,
    /// until `f` returns `false`.
    ///
    /// Walks the special payload, or the bios' vectors from each bio's iterator, as
    /// `rq_for_each_bvec` does (a segment may cover several pages).
    fn walk(&self, from: u32, to: u32, mut f: impl FnMut(Segment) -> bool) {
        let mut pos = 0u32;
        // Clips `s` (at `pos` of the data) to `from..to` and hands it over; `false` to stop.
        let mut give = |s: Segment, pos: u32| -> bool {
            let end = pos.saturating_add(s.len);
            if end <= from {
                return true;
            }
            if pos >= to {
                return false;
            }
            let skip = from.saturating_sub(pos);
            let len = end.min(to) - pos - skip;
            f(Segment {
                page: s.page,
                offset: s.offset + skip,
                len,
            }) && end < to
        };
        if self.special() {
            // SAFETY: The request carries a special payload, set before `queue_rq`.
            let v = unsafe { (*self.raw()).__bindgen_anon_3.special_vec };
            give(
                Segment {
                    page: v.bv_page,
                    offset: v.bv_offset,
                    len: v.bv_len,
                },
                0,
            );
            return;
        }
        // SAFETY: The request is valid and owned; its bios stay while it is in flight.
        let mut bio = unsafe { (*self.raw()).bio };
        while !bio.is_null() {
            // SAFETY: `bio` is a bio of the request (see above); its iterator describes
            // `bi_size` bytes of the vector array from `bi_idx`, the first at `bi_offset` of
            // its entry.
            let (vecs, iter, next) = unsafe { ((*bio).bi_io_vec, &(*bio).bi_iter, (*bio).bi_next) };
            let (mut idx, mut done, mut size) = (iter.bi_idx, iter.bi_offset, iter.bi_size);
            while size > 0 {
                // SAFETY: The iterator covers entry `idx` (see above).
                let v = unsafe { *vecs.add(idx as usize) };
                let len = (v.bv_len - done).min(size);
                let s = Segment {
                    page: v.bv_page,
                    offset: v.bv_offset + done,
                    len,
                };
                if !give(s, pos) {
                    return;
                }
                pos += len;
                size -= len;
                done = 0;
                idx += 1;
            }
            bio = next;
        }
    }

    /// Calls `f` on each contiguous piece of the data `offset..offset + len`, in order.
    pub(crate) fn for_each_piece(&self, offset: u32, len: u32, mut f: impl FnMut(&[u8])) {
        self.walk(offset, offset.saturating_add(len), |s| {
            // SAFETY: The segment is of the request's data, in pages the driver owns while the
            // request is in flight, which the direct map covers (no highmem: the Kconfig).
            f(unsafe { core::slice::from_raw_parts(virt(s), s.len as usize) });
            true
        });
    }

    /// Moves the request's cursor to byte `pos` of its data and returns its iterator, over at
    /// least one byte; `None` if `pos` is beyond the data. In-order data continues where the
    /// last copy stopped; otherwise the bios are walked from the cursor's (if not beyond `pos`)
    /// or from the first.
    fn seek(&mut self, pos: u32) -> Option<&mut IovIterDest<'_>> {
        if self.special() {
            return None;
        }
        // SAFETY: `&mut self` makes this the only user of the cursor, in the valid PDU.
        let cur = unsafe { &mut (*self.pdu()).cursor };
        // SAFETY: An iterator set up below, over the request's pages, which the driver may
        // write while the request is in flight; `&mut self` keeps it to this borrow.
        let iter = |cur: &mut Cursor| unsafe { IovIterDest::from_raw(&raw mut cur.iter) };
        if !cur.bio.is_null() && cur.pos == pos && !iter(cur).is_empty() {
            return Some(iter(cur));
        }
        let (mut bio, mut start) = if !cur.bio.is_null() && cur.start <= pos {
            (cur.bio, cur.start)
        } else {
            // SAFETY: The request is valid.
            (unsafe { (*self.raw()).bio }, 0)
        };
        while !bio.is_null() {
            // SAFETY: `bio` is a bio of the request, valid while it is in flight.
            let (size, next) = unsafe { ((*bio).bi_iter.bi_size, (*bio).bi_next) };
            if pos - start < size {
                break;
            }
            start += size;
            bio = next;
        }
        cur.bio = bio;
        if bio.is_null() {
            return None;
        }
        // SAFETY: `bio` is a bio of the request; the cursor's iterator is set up over its data.
        unsafe { bio_iter(&raw mut cur.iter, bio) };
        cur.start = start;
        cur.pos = pos;
        let it = iter(cur);
        if pos != start {
            it.advance((pos - start) as usize);
        }
        Some(it)
    }

    /// Copies `len` bytes to bytes `pos..` of the data, each part by `copy` (which gets the
    /// iterator at the part's place, the part's length and its offset in the source, and
    /// returns whether it copied it). Returns whether all of it was copied.
    fn copy(
        &mut self,
        mut pos: u32,
        len: u32,
        mut copy: impl FnMut(&mut IovIterDest<'_>, u32, u32) -> bool,
    ) -> bool {
        let mut done = 0u32;
        while done < len {
            let Some(it) = self.seek(pos) else {
                return false;
            };
            let n = (len - done).min(u32::try_from(it.len()).unwrap_or(u32::MAX));
            if !copy(it, n, done) {
                // SAFETY: `&mut self` makes this the only user of the cursor.
                unsafe { (*self.pdu()).cursor.bio = core::ptr::null_mut() };
                return false;
            }
            // SAFETY: `&mut self` makes this the only user of the cursor, in the valid PDU.
            unsafe { (*self.pdu()).cursor.pos += n };
            pos += n;
            done += n;
        }
        true
    }

    /// Copies `bytes` into the data at `offset` (a read's buffer, which the driver owns while
    /// the request is in flight); what lies beyond the data is dropped.
    ///
    /// Data placed in order continues where the last copy stopped: a cursor in the request's
    /// PDU, hence `&mut self`.
    pub(crate) fn copy_in(&mut self, offset: u32, bytes: &[u8]) {
        let Ok(len) = u32::try_from(bytes.len()) else {
            return;
        };
        self.copy(offset, len, |it, n, at| {
            let part = bytes.get(at as usize..(at + n) as usize).unwrap_or(&[]);
            it.copy_to_iter(part) == part.len()
        });
    }

    /// Copies `src` out of its socket buffer into the data at `offset` (a read's buffer, which
    /// the driver owns while the request is in flight), from where the last copy stopped as
    /// [`Request::copy_in`]; `false` (with nothing or part copied) if the data is shorter or
    /// the copy failed.
    pub(crate) fn copy_from_skb(&mut self, offset: u32, src: &SkbBytes<'_>) -> bool {
        self.copy(offset, src.len(), |it, n, at| {
            // SAFETY: `it` is an iterator over the request's pages, which the driver may write
            // while the request is in flight, borrowed for the call.
            unsafe { src.copy_part_to_iter(at, n, it.as_raw()) }
        })
    }

    /// Sends the first pieces of the data `at..end` on `sock` without blocking: zero-copy
    /// (`MSG_SPLICE_PAGES`) from the bio pages, copied where a page may not be spliced.
    /// Returns how many bytes went out (`None`: the socket is full). `more` asks for
    /// `MSG_MORE` after the last of them; it is set anyway while data remains.
    pub(crate) fn send_some(&self, sock: &Socket, at: u32, end: u32, more: bool) -> Io {
        let mut bvecs = Vecs::<kb::bio_vec>::new();
        let mut spliceable = !self.special();
        let mut chunk = 0u32;
        self.walk(at, end, |s| {
            // SAFETY: The segment's pages are the request's, valid while it is in flight.
            spliceable &= unsafe { socket::sendpages_ok(s.page, s.len, s.offset) };
            chunk += s.len;
            bvecs.push(kb::bio_vec {
                bv_page: s.page,
                bv_len: s.len,
                bv_offset: s.offset,
            }) && !bvecs.is_full()
        });
        if chunk == 0 {
            return Err(EINVAL);
        }
        let more = more || at + chunk < end;
        if spliceable {
            // SAFETY: The pages are the request's bio pages, referenced while it is in flight,
            // and `sendpages_ok` allows splicing them.
            return unsafe { sock.send_pages(bvecs.as_slice(), chunk as usize, more) };
        }
        // A page among them cannot be spliced: copied.
        let mut iovs = Vecs::<kb::kvec>::new();
        for v in bvecs.as_slice() {
            let s = Segment {
                page: v.bv_page,
                offset: v.bv_offset,
                len: v.bv_len,
            };
            iovs.push(kb::kvec {
                iov_base: virt(s).cast_mut().cast(),
                iov_len: s.len as usize,
            });
        }
        // SAFETY: The pieces are the request's data, readable while it is in flight.
        unsafe { sock.send_kvecs(iovs.as_mut_slice(), chunk as usize, more) }
    }

    /// Completes the request with the CQE's `status` field (phase bit included) and result.
    pub(crate) fn complete(self, status: u16, result: u64) {
        let mut res = b::nvme_completion_nvme_result::default();
        // SAFETY: The union's `u64` member covers all of it.
        unsafe { *res.u64_.as_mut() = result.to_le() };
        // SAFETY: The driver owns the request (type invariant) and gives it back here:
        // `nvme_try_complete_req` completes it remotely or leaves it to `nvme_complete_rq`.
        unsafe {
            if !b::nvme_tcp_rs_try_complete_req(self.raw(), status.to_le(), res) {
                b::nvme_complete_rq(self.raw());
            }
        }
    }
}

/// Returns the kernel address of a segment (`bvec_virt`).
fn virt(s: Segment) -> *const u8 {
    // SAFETY: `page_address` of a valid page has no preconditions; without highmem every page
    // is mapped, and a multi-page segment's pages are contiguous in the direct map.
    let base = unsafe { b::nvme_tcp_rs_page_address(s.page) };
    base.cast::<u8>()
        .cast_const()
        .wrapping_add(s.offset as usize)
}

/// Sets `it` over the data of `bio`, as the C host's `nvme_tcp_init_iter`. The iterator's
/// segment count only bounds its walk over the vector array, which its byte count ends: a bio
/// that owns its array (not cloned) has `bi_vcnt` entries in it, so they need not be counted
/// (as C does for every bio).
///
/// # Safety
///
/// `it` must be valid for writes, and `bio` a valid bio whose pages may be written.
unsafe fn bio_iter(it: *mut kb::iov_iter, bio: *mut kb::bio) {
    // SAFETY: `bio` is valid (the caller guarantees it).
    let (flags, vcnt, vecs, iter) = unsafe {
        (
            (*bio).bi_flags,
            (*bio).bi_vcnt,
            (*bio).bi_io_vec,
            &(*bio).bi_iter,
        )
    };
    let cloned = flags & (1 << kb::BIO_CLONED) != 0;
    let nr = if !cloned && u32::from(vcnt) > iter.bi_idx {
        u32::from(vcnt) - iter.bi_idx
    } else {
        // Count the entries the iterator spans, as `bio_for_each_bvec`.
        let (mut idx, mut done, mut size, mut nr) =
            (iter.bi_idx, iter.bi_offset, iter.bi_size, 0u32);
        while size > 0 {
            // SAFETY: The iterator covers entry `idx`.
            let len = unsafe { (*vecs.add(idx as usize)).bv_len };
            size -= (len - done).min(size);
            done = 0;
            idx += 1;
            nr += 1;
        }
        nr
    };
    // SAFETY: `it` is valid for writes; the array has `nr` entries from `bi_idx` covering
    // `bi_size` bytes, writable (the caller guarantees it).
    unsafe {
        kb::iov_iter_bvec(
            it,
            kb::ITER_DEST,
            vecs.add(iter.bi_idx as usize),
            nr as usize,
            iter.bi_size as usize,
        );
        (*it).iov_offset = iter.bi_offset as usize;
    }
}
