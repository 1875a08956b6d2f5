// SPDX-License-Identifier: GPL-2.0

//! Sending pages zero-copy in one socket call: page fragments for the bytes a driver frames
//! itself (`page_frag_cache`), and [`Splice`], the pages of one `MSG_SPLICE_PAGES` call.
//!
//! With `MSG_SPLICE_PAGES` the network stack does not copy: it takes a reference on each page
//! and reads the bytes when it transmits them, and again when it retransmits them, until the
//! peer acknowledges them. Bytes spliced must therefore stay as they are for as long as the
//! stack holds its reference, which the sender cannot know. A [`Frag`] is written once, when it
//! is made, and never again; dropping it gives the fragment's page reference back, and the page
//! is reused only once the stack has dropped its own.

use crate::nvmet::bindings as b;
use crate::socket::{Io, Socket, Vecs};
use core::{marker::PhantomData, ptr::NonNull};
use kernel::{bindings, page::PAGE_SIZE};

/// A cache of page fragments (`struct page_frag_cache`): the page it carves fragments from.
pub(crate) struct FragCache {
    nc: bindings::page_frag_cache,
}

// SAFETY: The cache is plain data about a page it holds references on; it is only used through
// `&mut self`, from any thread.
unsafe impl Send for FragCache {}
// SAFETY: `&FragCache` gives access to nothing.
unsafe impl Sync for FragCache {}

impl FragCache {
    /// Returns an empty cache (`page_frag_cache_init`: no page yet).
    pub(crate) fn new() -> Self {
        Self {
            nc: bindings::page_frag_cache::default(),
        }
    }

    /// Returns a fragment holding the bytes of `parts`, one after the other (at most a page in
    /// all), or `None` if memory is short (`GFP_NOWAIT`: it does not sleep nor warn).
    pub(crate) fn alloc_from(&mut self, parts: &[&[u8]]) -> Option<Frag> {
        let len = parts.iter().map(|p| p.len()).sum::<usize>();
        if len == 0 || len > PAGE_SIZE {
            return None;
        }
        // SAFETY: `nc` is a valid cache (zeroed, then only changed by these functions), used
        // through `&mut self` alone. An all-ones mask asks for no alignment.
        let p = unsafe {
            bindings::__page_frag_alloc_align(&mut self.nc, len as u32, bindings::GFP_NOWAIT, !0)
        };
        let ptr = NonNull::new(p.cast::<u8>())?;
        let mut at = 0;
        for part in parts {
            // SAFETY: The fragment is `len` bytes no one else reads or writes: the cache hands
            // out each range of a page once, and takes a page back only when every reference
            // to it (fragments', the stack's) is gone. The parts add up to `len`, so
            // `at + part.len() <= len`.
            unsafe {
                core::ptr::copy_nonoverlapping(part.as_ptr(), ptr.as_ptr().add(at), part.len())
            };
            at += part.len();
        }
        // SAFETY: `ptr` is an address of the direct map (a page fragment).
        let page = unsafe { b::nvmet_tcp_rs_virt_to_page(ptr.as_ptr().cast()) };
        // INVARIANT: `ptr` is a fragment of `len` bytes, all written above, holding one page
        // reference; `page` is the page of its first byte.
        Some(Frag {
            ptr,
            len,
            page,
            off: ptr.as_ptr() as usize % PAGE_SIZE,
        })
    }
}

impl Drop for FragCache {
    fn drop(&mut self) {
        // SAFETY: `nc` is a valid cache, not used again. Fragments it gave out keep their own
        // page references.
        unsafe { bindings::page_frag_cache_drain(&mut self.nc) };
    }
}

/// A page fragment, written once when it was made and never again, so that it can be spliced.
///
/// # Invariants
///
/// `ptr` is the start of a fragment of `len` (`1..=PAGE_SIZE`) initialised bytes from a
/// [`FragCache`], within one page allocation, holding one reference on its page; `page` is the
/// page of its first byte, at offset `off`. The bytes are not written while this value exists.
pub(crate) struct Frag {
    ptr: NonNull<u8>,
    len: usize,
    page: *mut bindings::page,
    off: usize,
}

// SAFETY: The fragment is memory this value owns, only read; any thread may free it.
unsafe impl Send for Frag {}
// SAFETY: `&Frag` only reads.
unsafe impl Sync for Frag {}

impl Frag {
    /// Returns the fragment's length in bytes.
    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

impl Drop for Frag {
    fn drop(&mut self) {
        // SAFETY: By the type invariant `ptr` is a fragment holding one page reference, given
        // back here once.
        unsafe { bindings::page_frag_free(self.ptr.as_ptr().cast()) };
    }
}

/// The pages of one zero-copy send, borrowed from owners that keep them (and their bytes) as
/// they are for `'a`: up to [`crate::socket::MAX_VECS`] pieces.
pub(crate) struct Splice<'a> {
    vecs: Vecs<bindings::bio_vec>,
    len: usize,
    _owners: PhantomData<&'a ()>,
}

impl<'a> Splice<'a> {
    /// Returns an empty send.
    pub(crate) const fn new() -> Self {
        Self {
            vecs: Vecs::new(),
            len: 0,
            _owners: PhantomData,
        }
    }

    /// Returns how many bytes the send holds.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Adds bytes `from..to` of `frag`; `false` if they do not fit whole (then nothing is
    /// added) or the range is not in the fragment.
    pub(crate) fn frag(&mut self, frag: &'a Frag, from: usize, to: usize) -> bool {
        if from >= to || to > frag.len {
            return false;
        }
        // The fragment's first page holds `PAGE_SIZE - off` of its bytes; a fragment is at most
        // a page long, so the rest is in the next page of the allocation.
        let first = PAGE_SIZE - frag.off;
        let mut pieces = [(frag.page, 0usize, 0usize); 2];
        let mut n = 0;
        if from < first {
            pieces[0] = (frag.page, frag.off + from, to.min(first) - from);
            n = 1;
        }
        if to > first {
            let at = from.max(first);
            // SAFETY: `at < len`: the address is within the fragment, in the direct map.
            let page = unsafe { b::nvmet_tcp_rs_virt_to_page(frag.ptr.as_ptr().add(at).cast()) };
            pieces[n] = (page, at - first, to - at);
            n += 1;
        }
        if self.vecs.room() < n {
            return false;
        }
        for &(page, off, k) in pieces.get(..n).unwrap_or(&[]) {
            // SAFETY: The page holds bytes `off..off + k` of `frag` (within the page), which
            // holds a page reference for `'a`. Those bytes are never written again: a `Frag`
            // does not write them (type invariant), and the cache reuses the page only once
            // every reference to it, the stack's too, is gone. A page fragment is not a slab
            // page.
            unsafe { self.page(page, off as u32, k as u32) };
        }
        true
    }

    /// Adds `len` bytes at `offset` of `page`; `false` if the send is full.
    ///
    /// # Safety
    ///
    /// `offset + len` must be within the page, whose owner must hold a reference on it for
    /// `'a` and must not write those bytes while the network stack may hold a reference (until
    /// the stack drops it); the page must be one the stack may take references on
    /// (`sendpages_ok`: not a slab page).
    pub(crate) unsafe fn page(&mut self, page: *mut bindings::page, offset: u32, len: u32) -> bool {
        let pushed = self.vecs.push(bindings::bio_vec {
            bv_page: page,
            bv_len: len,
            bv_offset: offset,
        });
        if pushed {
            self.len += len as usize;
        }
        pushed
    }

    /// Sends the pages without blocking; `more` sets `MSG_MORE`, otherwise `MSG_EOR`.
    pub(crate) fn send(&self, sock: &Socket, more: bool) -> Io {
        // SAFETY: Every piece was added with the guarantees `send_pages` asks for (`frag`, or
        // the callers of `page`), which hold for `'a`, longer than the call.
        unsafe { sock.send_pages(self.vecs.as_slice(), self.len, more) }
    }
}
