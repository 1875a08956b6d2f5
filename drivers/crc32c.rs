// SPDX-License-Identifier: GPL-2.0

//! The kernel's CRC32C (`crc32c()`, accelerated where the CPU allows) for the digests of the PDU
//! crate.

use crate::pdu::Crc32c;
use core::ffi::c_void;
use kernel::prelude::*;

extern "C" {
    // `u32 crc32c(u32 crc, const void *p, size_t len)` from `<linux/crc32.h>`; not part of
    // `kernel::bindings`.
    fn crc32c(crc: u32, p: *const c_void, len: usize) -> u32;
}

/// [`Crc32c`] computed by the kernel's `crc32c()`.
pub(crate) struct KernelCrc32c;

impl Crc32c for KernelCrc32c {
    fn crc32c(crc: u32, data: &[u8]) -> u32 {
        // SAFETY: `data` is a valid slice: `crc32c()` reads exactly `data.len()` bytes from its
        // start and keeps no reference to them.
        unsafe { crc32c(crc, data.as_ptr().cast(), data.len()) }
    }
}

/// Checks at load time that the kernel's `crc32c()` computes digests the way the wire format
/// defines them, with the standard CRC-32C check value (the digest of `"123456789"`).
///
/// # Errors
///
/// Returns `EINVAL` (after logging) if it does not: every digest would be wrong otherwise.
pub(crate) fn self_test() -> Result {
    const CHECK: u32 = 0xe306_9283;
    let got = crate::pdu::digest::digest::<KernelCrc32c>(b"123456789");
    if got != CHECK {
        pr_err!("crc32c() gives {got:#010x} for the check string, not {CHECK:#010x}\n");
        return Err(EINVAL);
    }
    Ok(())
}
