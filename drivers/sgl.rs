// SPDX-License-Identifier: GPL-2.0

//! A command's data buffer: a scatterlist of whole pages (`sgl_alloc`), which the core reads and
//! writes as `req->sg`, and which the transport fills from and sends to the socket directly.

use crate::nvmet::bindings as b;
use crate::socket::{Io, SkbBytes, Socket, Vecs};
use core::ptr::NonNull;
use kernel::{bindings, page::PAGE_SIZE};

/// A data buffer of `len` bytes in `nents` page-sized scatterlist entries.
///
/// # Invariants
///
/// `sg` is a flat array of `nents` entries from `sgl_alloc(len)`: entry `i` is a lowmem page
/// holding bytes `i * PAGE_SIZE ..` of the buffer, all but the last `PAGE_SIZE` long.
pub(crate) struct DataBuffer {
    sg: NonNull<bindings::scatterlist>,
    nents: u32,
    len: u32,
}

// SAFETY: The buffer is plain pages owned by this value.
unsafe impl Send for DataBuffer {}
// SAFETY: Shared references only read the buffer's geometry.
unsafe impl Sync for DataBuffer {}

impl DataBuffer {
    /// Allocates a buffer of `len` (> 0) bytes; `None` if memory is short.
    pub(crate) fn alloc(len: u32) -> Option<Self> {
        let mut nents = 0u32;
        // SAFETY: `sgl_alloc` has no preconditions; `nents` receives the entry count.
        let sg = unsafe {
            bindings::sgl_alloc(
                u64::from(len),
                bindings::GFP_KERNEL | bindings::__GFP_NOWARN,
                &mut nents,
            )
        };
        Some(Self {
            sg: NonNull::new(sg)?,
            nents,
            len,
        })
    }

    /// Returns the buffer's length in bytes.
    pub(crate) fn len(&self) -> u32 {
        self.len
    }

    /// Returns the number of scatterlist entries.
    pub(crate) fn nents(&self) -> u32 {
        self.nents
    }

    /// Returns the scatterlist, for `req->sg`.
    pub(crate) fn as_raw(&self) -> *mut bindings::scatterlist {
        self.sg.as_ptr()
    }

    /// Returns the entry holding byte `offset` and the offset within it.
    fn entry(&self, offset: u32) -> Option<(*mut bindings::scatterlist, usize)> {
        let offset = usize::try_from(offset).ok()?;
        let index = offset / PAGE_SIZE;
        if index >= usize::try_from(self.nents).ok()? {
            return None;
        }
        // SAFETY: By the type invariant the array has `nents` entries and `index < nents`.
        Some((unsafe { self.sg.as_ptr().add(index) }, offset % PAGE_SIZE))
    }

    /// Calls `f` on each contiguous piece of `offset..offset + len` (clamped to the buffer).
    ///
    /// The pieces are at most a page long and come in order.
    pub(crate) fn for_each_piece(&self, offset: u32, len: u32, mut f: impl FnMut(&mut [u8])) {
        let end = offset.saturating_add(len).min(self.len);
        let mut at = offset;
        while at < end {
            let Some((sg, off)) = self.entry(at) else {
                return;
            };
            let n = (PAGE_SIZE - off).min((end - at) as usize);
            // SAFETY: `sg` is an entry of a lowmem page (type invariant), so `sg_virt` maps it;
            // `off + n` stays within the page.
            let piece = unsafe {
                let base = b::nvmet_tcp_rs_sg_virt(sg).cast::<u8>();
                core::slice::from_raw_parts_mut(base.add(off), n)
            };
            f(piece);
            at += n as u32;
        }
    }

    /// Copies `data` into `offset..` of the buffer (clamped to the buffer).
    ///
    /// The caller must own the buffer exclusively (the core does not hold the command).
    pub(crate) fn copy_in(&mut self, offset: u32, data: &[u8]) {
        let len = u32::try_from(data.len()).unwrap_or(u32::MAX);
        let mut rest = data;
        self.for_each_piece(offset, len, |piece| {
            let (src, tail) = rest.split_at_checked(piece.len()).unwrap_or((rest, &[]));
            if let Some(dst) = piece.get_mut(..src.len()) {
                dst.copy_from_slice(src);
            }
            rest = tail;
        });
    }

    /// Copies `src` out of its socket buffer into `offset..` of the buffer; `false` (with
    /// nothing or part copied) if it does not fit or the copy failed.
    ///
    /// The caller must own the buffer exclusively (the core does not hold the command).
    pub(crate) fn copy_from_skb(&mut self, offset: u32, src: &SkbBytes<'_>) -> bool {
        if offset
            .checked_add(src.len())
            .is_none_or(|end| end > self.len)
        {
            return false;
        }
        let (skb, at) = src.raw();
        // SAFETY: By the type invariant `sg` is a flat array of whole-page entries covering
        // `len` bytes, so `offset..offset + src.len()` lies within it, and `&mut self` makes
        // this the only writer; `src` keeps its `len()` bytes from `at` of `skb` readable.
        unsafe { b::nvmet_tcp_rs_sg_copy_skb(self.sg.as_ptr(), offset, skb, at, src.len()) == 0 }
    }

    /// Sends `offset..offset + len` of the buffer zero-copy; at most 32 pages per call.
    pub(crate) fn send(&self, sock: &Socket, offset: u32, len: u32, more: bool) -> Io {
        let mut bvecs = Vecs::<bindings::bio_vec>::new();
        let end = offset.saturating_add(len).min(self.len);
        let mut at = offset;
        while at < end {
            let Some((sg, off)) = self.entry(at) else {
                break;
            };
            let piece = (PAGE_SIZE - off).min((end - at) as usize);
            // SAFETY: `sg` is a valid entry with a page.
            let page = unsafe { b::nvmet_tcp_rs_sg_page(sg) };
            let bv = bindings::bio_vec {
                bv_page: page,
                bv_len: piece as u32,
                bv_offset: off as u32,
            };
            if !bvecs.push(bv) {
                break;
            }
            at += piece as u32;
        }
        let sent_all = at == end;
        // SAFETY: The pages belong to this buffer, alive for the call; the network stack takes
        // its own page references for what it queues.
        unsafe { sock.send_pages(bvecs.as_slice(), (at - offset) as usize, more || !sent_all) }
    }
}

impl Drop for DataBuffer {
    fn drop(&mut self) {
        // SAFETY: By the type invariant `sg` came from `sgl_alloc`; the core no longer uses it
        // (the transport detaches the buffer from the request first).
        unsafe { bindings::sgl_free(self.sg.as_ptr()) };
    }
}
