// SPDX-License-Identifier: GPL-2.0

//! Receiving in place: [`Socket::read`] walks what arrived on a TCP socket (its `read_sock`:
//! `tcp_read_sock`, or kTLS's on a TLS socket, which hands out decrypted records), hands each
//! contiguous piece of the socket buffers to a reader where it lies, and lets the reader copy the
//! data after a piece out of its buffer, straight into a command's pages.
//!
//! A socket buffer (`struct sk_buff`) holds its bytes in a linear part, then in page fragments,
//! then in the buffers of its fragment list; the walk gives each of those as a piece.

use crate::pdu::engine::pump::{Segment, Source};
use crate::sock_bindings as b;
use crate::socket::Socket;
use core::marker::PhantomData;
use kernel::{bindings, ffi::c_void, prelude::*};

/// Received bytes handed to a reader (see [`Socket::read`]): a contiguous piece in place, and
/// what follows it in the same socket buffer, which can be copied out.
///
/// # Invariants
///
/// `skb` is a valid socket buffer, unchanged for `'a`, with `avail` bytes from `offset`, of
/// which `bytes` are the first `bytes.len() <= avail`.
pub(crate) struct Piece<'a> {
    bytes: &'a [u8],
    skb: *const bindings::sk_buff,
    offset: u32,
    avail: u32,
    _skb: PhantomData<&'a bindings::sk_buff>,
}

impl<'a> Segment for Piece<'a> {
    type Source = SkbBytes<'a>;

    #[inline(always)]
    fn bytes(&self) -> &[u8] {
        self.bytes
    }

    /// Returns up to `max` bytes from the start of the piece on, in its socket buffer (the
    /// piece and what follows it), to be copied out.
    #[inline(always)]
    fn onward(&self, max: u32) -> SkbBytes<'a> {
        // INVARIANT: Within the `avail` bytes of the valid `skb` from `offset`.
        SkbBytes {
            skb: self.skb,
            offset: self.offset,
            len: self.avail.min(max),
            _skb: PhantomData,
        }
    }

    /// Returns up to `max` bytes that follow the piece in its socket buffer, to be copied out.
    #[inline(always)]
    fn after(&self, max: u32) -> SkbBytes<'a> {
        // Cannot truncate: at most `avail`.
        let len = self.bytes.len() as u32;
        // INVARIANT: Within the `avail` bytes of the valid `skb` from `offset`.
        SkbBytes {
            skb: self.skb,
            offset: self.offset + len,
            len: (self.avail - len).min(max),
            _skb: PhantomData,
        }
    }
}

/// Bytes of a received socket buffer, which can only be copied out (see [`Segment::after`]).
///
/// # Invariants
///
/// `skb` is a valid socket buffer, unchanged for `'a`, with `len` bytes from `offset`.
pub(crate) struct SkbBytes<'a> {
    skb: *const bindings::sk_buff,
    offset: u32,
    len: u32,
    _skb: PhantomData<&'a bindings::sk_buff>,
}

impl SkbBytes<'_> {
    /// Returns how many bytes there are.
    pub(crate) fn len(&self) -> u32 {
        self.len
    }

    /// Copies bytes `at..at + n` of these into the destination iterator `iter` (at least `n`
    /// bytes long), as `skb_copy_datagram_iter` does; returns whether all of them were copied
    /// (`false`, copying nothing, if they are not all within these bytes).
    ///
    /// # Safety
    ///
    /// `iter` must be a valid destination iterator over memory the caller may write, not
    /// otherwise accessed during the call.
    pub(crate) unsafe fn copy_part_to_iter(
        &self,
        at: u32,
        n: u32,
        iter: *mut bindings::iov_iter,
    ) -> bool {
        if at.checked_add(n).is_none_or(|end| end > self.len) {
            return false;
        }
        // SAFETY: By the type invariant `len` bytes from `offset` of `skb` are readable for as
        // long as `self` is borrowed, and `at..at + n` is within them; the caller guarantees
        // `iter`.
        unsafe {
            bindings::skb_copy_datagram_iter(self.skb, (self.offset + at) as i32, iter, n as i32)
                == 0
        }
    }
}

impl Source for SkbBytes<'_> {
    #[inline(always)]
    fn len(&self) -> u32 {
        self.len
    }
}

/// What [`Socket::read`] found.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Read {
    /// Nothing had arrived.
    Nothing,
    /// This many bytes were consumed (0: the reader took none of the first piece).
    Bytes(usize),
    /// The peer closed the connection, and everything before was read.
    Closed,
}

/// The reader of one [`Socket::read`], reached from the `read_sock` actor.
struct Reader<F> {
    f: F,
    /// A piece was not consumed whole: the read is over.
    stopped: bool,
}

impl<F: FnMut(Piece<'_>) -> usize> Reader<F> {
    /// Hands the `len` bytes at `p`, bytes `at..` of `skb`, to the reader, which may consume up
    /// to `avail` bytes of `skb` from there; returns how many it consumed.
    ///
    /// # Safety
    ///
    /// `skb` must be a valid socket buffer, unchanged during the call, with `avail >= len`
    /// bytes from `at`, the first `len` of which are readable at `p`.
    #[inline(always)]
    unsafe fn give(
        &mut self,
        p: *const u8,
        len: u32,
        skb: *const bindings::sk_buff,
        at: u32,
        avail: u32,
    ) -> u32 {
        // SAFETY: The caller guarantees the `len` bytes at `p` for the call.
        let bytes = unsafe { core::slice::from_raw_parts(p, len as usize) };
        // INVARIANT: As the caller guarantees.
        let piece = Piece {
            bytes,
            skb,
            offset: at,
            avail,
            _skb: PhantomData,
        };
        // Cannot truncate: at most `avail`, a `u32`.
        let taken = (self.f)(piece).min(avail as usize) as u32;
        if taken < len {
            self.stopped = true;
        }
        taken
    }

    /// Hands bytes `offset..offset + len` of `skb` to the reader, each contiguous piece in place
    /// (the linear part, each page fragment, then the buffers of the fragment list); a fragment
    /// that cannot be read in place (no kernel mapping) is copied out a bounce buffer at a time.
    /// The reader may consume more than a piece (copying what follows it out of `skb` itself):
    /// the walk resumes after what it consumed. Returns the bytes consumed, or `EFAULT` if none
    /// could be read.
    ///
    /// # Safety
    ///
    /// `skb` must be a valid socket buffer, unchanged during the call, with at least
    /// `offset + len` bytes.
    unsafe fn give_skb(
        &mut self,
        skb: *const bindings::sk_buff,
        offset: u32,
        len: u32,
    ) -> Result<u32> {
        // SAFETY: `skb` is valid (the caller guarantees it).
        let (data, headlen) = unsafe { ((*skb).data, (*skb).len - (*skb).data_len) };
        let mut used = 0u32;
        if offset < headlen {
            // SAFETY: The linear part holds `headlen` bytes at `data`; `offset < headlen`, and
            // `offset + len` is within the buffer.
            used = unsafe {
                self.give(
                    data.add(offset as usize),
                    (headlen - offset).min(len),
                    skb,
                    offset,
                    len,
                )
            };
        }
        if used >= len || self.stopped {
            return Ok(used);
        }
        // SAFETY: `skb` is valid.
        if !unsafe { b::nvmet_tcp_rs_skb_frags_readable(skb) } {
            return if used > 0 { Ok(used) } else { Err(EFAULT) };
        }
        // SAFETY: `skb` is valid; its shared info lies at its end pointer for its whole life.
        let shinfo = unsafe { &*b::nvmet_tcp_rs_skb_shinfo(skb) };
        let mut end = headlen;
        let nr_frags = usize::from(shinfo.nr_frags).min(shinfo.frags.len());
        let mut i = 0;
        while i < nr_frags && used < len && !self.stopped {
            // PANIC: `i < nr_frags <= frags.len()`.
            let frag = &shinfo.frags[i];
            let start = end;
            end = start + frag.len;
            let at = offset + used;
            i += 1;
            if at >= end {
                continue;
            }
            let n = (end - at).min(len - used);
            // SAFETY: `frag` is a fragment of the valid `skb`.
            let p = unsafe { b::nvmet_tcp_rs_skb_frag_address_safe(frag) };
            if !p.is_null() {
                // SAFETY: The fragment's `frag.len` bytes are mapped at `p`; `at - start + n`
                // is within them.
                used += unsafe {
                    self.give(
                        p.cast::<u8>().add((at - start) as usize),
                        n,
                        skb,
                        at,
                        len - used,
                    )
                };
                continue;
            }
            // Not mapped: copied out, a bounce buffer at a time; the rest of this fragment in
            // the next round.
            let mut bounce = [0u8; 64];
            let n = n.min(bounce.len() as u32);
            // SAFETY: `skb` is valid and holds `n` bytes at `at`; `bounce` has room for them.
            let ret = unsafe {
                bindings::skb_copy_bits(
                    skb,
                    at as i32,
                    bounce.as_mut_ptr().cast::<c_void>(),
                    n as i32,
                )
            };
            if ret != 0 {
                return if used > 0 { Ok(used) } else { Err(EFAULT) };
            }
            // SAFETY: `bounce` holds the `n` bytes `at..` of `skb`.
            used += unsafe { self.give(bounce.as_ptr(), n, skb, at, len - used) };
            end = start;
            i -= 1;
        }
        let mut list = shinfo.frag_list.cast_const();
        while !list.is_null() && used < len && !self.stopped {
            let (list_len, next) = {
                // SAFETY: `list` is a buffer of the fragment list of the valid `skb`, as valid
                // and unchanged as it; `next` links the list.
                unsafe { ((*list).len, (*list).__bindgen_anon_1.__bindgen_anon_1.next) }
            };
            let start = end;
            end = start + list_len;
            let at = offset + used;
            if at < end {
                // SAFETY: `list` is valid and holds `end - start` bytes.
                match unsafe { self.give_skb(list, at - start, (end - at).min(len - used)) } {
                    Ok(got) => used += got,
                    Err(e) => return if used > 0 { Ok(used) } else { Err(e) },
                }
            }
            list = next.cast_const();
        }
        Ok(used)
    }
}

/// `read_sock` actor: hands the bytes of `skb` to the reader of `desc`. A piece not consumed
/// whole stops the read.
///
/// # Safety
///
/// Called by the socket's `read_sock` under the socket lock, with `desc` of [`Socket::read`]
/// (whose `arg.data` is its `Reader<F>`) and a valid `skb` holding `offset + len` bytes, which
/// stays unchanged for the call (queued on the socket, or a record kTLS decrypted and holds).
unsafe extern "C" fn read_actor<F: FnMut(Piece<'_>) -> usize>(
    desc: *mut bindings::read_descriptor_t,
    skb: *mut bindings::sk_buff,
    offset: u32,
    len: usize,
) -> i32 {
    // SAFETY: `arg.data` is the reader `Socket::read` set, not otherwise accessed during the
    // read.
    let r = unsafe { &mut *(*desc).arg.data.cast::<Reader<F>>() };
    if r.stopped {
        return 0;
    }
    let len = u32::try_from(len)
        .unwrap_or(i32::MAX as u32)
        .min(i32::MAX as u32);
    // SAFETY: `skb` is valid and unchanged for the call (see above).
    let used = unsafe { r.give_skb(skb, offset, len) };
    if r.stopped {
        // SAFETY: `desc` is valid (see above); a zero count ends the `read_sock` loop.
        unsafe { (*desc).count = 0 };
    }
    match used {
        // Cannot truncate: at most `len <= i32::MAX`.
        Ok(n) => n as i32,
        Err(e) => e.to_errno(),
    }
}

impl Socket {
    /// Whether the socket's receive queue is empty, as seen without the socket lock: a hint,
    /// for bytes may arrive right after (the socket's `data_ready` tells of them). On a kTLS
    /// socket decrypted records wait elsewhere, so the answer says nothing there.
    #[allow(dead_code)] // The target's: the host reads once per kick.
    pub(crate) fn rx_queue_empty(&self) -> bool {
        // SAFETY: `sk` is the valid sock of this socket; the helper only reads the queue head's
        // pointer once (`READ_ONCE`), which is how the queue may be looked at without its lock.
        unsafe {
            b::nvmet_tcp_rs_skb_queue_empty_lockless(&raw const (*self.sk()).sk_receive_queue)
        }
    }

    /// Reads what has arrived without blocking, in place (the socket's `read_sock`, as the C
    /// host receives: `tcp_read_sock`, or on a kTLS socket the decrypted records): calls `f` on
    /// each contiguous piece of it, in order, borrowed from the socket's receive queue for the
    /// call. `f` returns how many bytes it consumed: fewer than
    /// the piece stops the read, and the rest stays queued; more (up to the end of the piece's
    /// socket buffer) means it copied the bytes after the piece out itself ([`Segment::after`]),
    /// and the read resumes after them.
    ///
    /// The socket stays locked while `f` runs: `f` must not call the socket (to send, say).
    ///
    /// # Errors
    ///
    /// The socket's error; on a kTLS socket also `EINVAL` for a record that is not data (an
    /// alert), which stays queued, and the errors of decryption.
    pub(crate) fn read<F: FnMut(Piece<'_>) -> usize>(&self, f: F) -> Result<Read> {
        let mut reader = Reader { f, stopped: false };
        let mut desc = bindings::read_descriptor_t {
            count: 1,
            ..Default::default()
        };
        desc.arg.data = (&raw mut reader).cast();
        let sk = self.sk();
        let sock = self.as_raw();
        // SAFETY: `sk` is the valid sock of this socket. Its read function runs under the
        // socket lock, taken and released here, as its callers must, and calls the actor only
        // before it returns, with `desc`, whose reader is exclusively borrowed here. The
        // socket's operations are read under the lock too: they are static tables, replaced
        // only by kTLS's set-up, which takes the lock.
        let ret = unsafe {
            b::lock_sock_nested(sk, 0);
            let ops = core::ptr::read_volatile(&raw const (*sock).ops);
            let ret = match (*ops).read_sock {
                Some(read_sock) => read_sock(sk.cast(), &mut desc, Some(read_actor::<F>)),
                None => EOPNOTSUPP.to_errno(),
            };
            let ret = if ret == 0 && !reader.stopped {
                let err = core::ptr::read_volatile(&raw const (*sk).sk_err);
                if err != 0 {
                    -err
                } else if core::ptr::read_volatile(&raw const (*sk).sk_shutdown)
                    & (b::RCV_SHUTDOWN as u8)
                    != 0
                {
                    b::release_sock(sk);
                    return Ok(Read::Closed);
                } else {
                    EAGAIN.to_errno()
                }
            } else {
                ret
            };
            b::release_sock(sk);
            ret
        };
        match ret {
            n if n >= 0 => Ok(Read::Bytes(n as usize)),
            n if n == EAGAIN.to_errno() => Ok(Read::Nothing),
            n => Err(Error::from_errno(n)),
        }
    }
}
