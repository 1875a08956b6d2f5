// SPDX-License-Identifier: GPL-2.0

//! A command's data buffer: a scatterlist of whole pages (`sgl_alloc`), which the core reads and
//! writes as `req->sg`, and which the transport fills from and sends to the socket directly.

use crate::nvmet::bindings as b;
use crate::skb::SkbBytes;
use crate::socket::Vecs;
use crate::splice::Splice;
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
// SAFETY: Shared references only read the buffer (its geometry and its bytes, or hand its
// pages to the stack to read); writing it takes `&mut`.
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

    /// Calls `f` on the address and length of each contiguous piece of `offset..offset + len`
    /// (clamped to the buffer), in order; the pieces are at most a page long.
    fn walk(&self, offset: u32, len: u32, mut f: impl FnMut(*mut u8, usize)) {
        let end = offset.saturating_add(len).min(self.len);
        let mut at = offset;
        while at < end {
            let Some((sg, off)) = self.entry(at) else {
                return;
            };
            let n = (PAGE_SIZE - off).min((end - at) as usize);
            // SAFETY: `sg` is an entry of a lowmem page (type invariant), so `sg_virt` maps it;
            // `off + n` stays within the page.
            let base = unsafe { b::nvmet_tcp_rs_sg_virt(sg).cast::<u8>().add(off) };
            f(base, n);
            at += n as u32;
        }
    }

    /// Calls `f` on each contiguous piece of `offset..offset + len` (clamped to the buffer), in
    /// order; the pieces are at most a page long.
    pub(crate) fn for_each_piece(&self, offset: u32, len: u32, mut f: impl FnMut(&[u8])) {
        self.walk(offset, len, |p, n| {
            // SAFETY: `walk` gives `n` mapped bytes of the buffer, which `&self` keeps from
            // being written meanwhile.
            f(unsafe { core::slice::from_raw_parts(p, n) })
        });
    }

    /// Copies `data` into `offset..` of the buffer (clamped to the buffer).
    ///
    /// `&mut self`: the buffer is the caller's (the core does not hold its command).
    pub(crate) fn copy_in(&mut self, offset: u32, data: &[u8]) {
        let len = u32::try_from(data.len()).unwrap_or(u32::MAX);
        let mut rest = data;
        self.walk(offset, len, |p, n| {
            // SAFETY: `walk` gives `n` mapped bytes of the buffer, which `&mut self` makes the
            // caller's alone.
            let piece = unsafe { core::slice::from_raw_parts_mut(p, n) };
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
    /// `&mut self`: the buffer is the caller's (the core does not hold its command).
    pub(crate) fn copy_from_skb(&mut self, offset: u32, src: &SkbBytes<'_>) -> bool {
        if offset
            .checked_add(src.len())
            .is_none_or(|end| end > self.len)
        {
            return false;
        }
        let mut at = offset;
        let mut done = 0u32;
        while done < src.len() {
            // The pages of up to `MAX_VECS` entries from `at`, for one copy.
            let mut bvecs = Vecs::<bindings::bio_vec>::new();
            let mut n = 0u32;
            while done + n < src.len() {
                let Some((sg, off)) = self.entry(at + n) else {
                    return false;
                };
                let k = ((PAGE_SIZE - off) as u32).min(src.len() - done - n);
                // SAFETY: `sg` is a valid entry of the buffer (type invariant), with a page.
                let page = unsafe { b::nvmet_tcp_rs_sg_page(sg) };
                if !bvecs.push(bindings::bio_vec {
                    bv_page: page,
                    bv_len: k,
                    bv_offset: off as u32,
                }) {
                    break;
                }
                n += k;
            }
            let mut iter = bindings::iov_iter::default();
            // SAFETY: `iter` is valid for writes; it covers the `n` bytes of the pages in
            // `bvecs`, which outlive it.
            unsafe {
                bindings::iov_iter_bvec(
                    &mut iter,
                    bindings::ITER_DEST,
                    bvecs.as_slice().as_ptr(),
                    bvecs.as_slice().len(),
                    n as usize,
                )
            };
            // SAFETY: `iter` is a destination iterator over pages of this buffer, which
            // `&mut self` makes the caller's to write, used only for the call.
            if !unsafe { src.copy_part_to_iter(done, n, &mut iter) } {
                return false;
            }
            at += n;
            done += n;
        }
        true
    }

    /// Adds `offset..offset + len` of the buffer (clamped to it) to `s`, page by page while
    /// they fit; returns how many bytes were added.
    ///
    /// # Safety
    ///
    /// Bytes `offset..offset + len` of the buffer must not be written again while it lives:
    /// the network stack may read them after the send, until it drops its page references.
    pub(crate) unsafe fn splice<'a>(&'a self, offset: u32, len: u32, s: &mut Splice<'a>) -> u32 {
        let end = offset.saturating_add(len).min(self.len);
        let mut at = offset;
        while at < end {
            let Some((sg, off)) = self.entry(at) else {
                break;
            };
            let piece = (PAGE_SIZE - off).min((end - at) as usize);
            // SAFETY: `sg` is a valid entry with a page.
            let page = unsafe { b::nvmet_tcp_rs_sg_page(sg) };
            // SAFETY: `off + piece` is within the entry's page, which this buffer holds for
            // `'a`; it is a page of `sgl_alloc`, not a slab page. The caller guarantees that its
            // bytes are not written again while the buffer lives, and once it is freed the page
            // is not reused before the stack drops its reference.
            if !unsafe { s.page(page, off as u32, piece as u32) } {
                break;
            }
            at += piece as u32;
        }
        at - offset.min(at)
    }
}

impl Drop for DataBuffer {
    fn drop(&mut self) {
        // SAFETY: By the type invariant `sg` came from `sgl_alloc`; the core does not use it
        // any more: a buffer attached to a request is owned by the request's token, which
        // lets it go only once the core is done with it (`crate::nvmet_sq`).
        unsafe { bindings::sgl_free(self.sg.as_ptr()) };
    }
}
