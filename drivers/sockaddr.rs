// SPDX-License-Identifier: GPL-2.0

//! Socket addresses (`struct sockaddr_storage`, IPv4 or IPv6): parsed from configfs and connect
//! options, formatted for log lines and the discovery log.

use crate::net_ns::Net;
use crate::sock_bindings as b;
use kernel::{bindings, error::to_result, prelude::*};

/// A socket address (`struct sockaddr_storage`), IPv4 or IPv6.
#[derive(Clone, Copy)]
pub(crate) struct SockAddr(bindings::__kernel_sockaddr_storage);

// SAFETY: A socket address is plain bytes (its union has an alignment-only pointer member).
unsafe impl Send for SockAddr {}
// SAFETY: A socket address is plain bytes, and shared references only read them.
unsafe impl Sync for SockAddr {}

impl SockAddr {
    /// Parses `addr` and `port` (as configfs has them) for the family `af` (`AF_INET[6]`, or
    /// `AF_UNSPEC` for either); an empty `port` leaves the port 0. An IPv6 scope given by
    /// name (`fe80::1%eth0`) names an interface of `net`.
    pub(crate) fn parse(net: &Net, af: u32, addr: &[u8], port: &[u8]) -> Result<Self> {
        let mut a = [0u8; 64];
        let mut p = [0u8; 8];
        a.get_mut(..addr.len()).ok_or(EINVAL)?.copy_from_slice(addr);
        p.get_mut(..port.len()).ok_or(EINVAL)?.copy_from_slice(port);
        // SAFETY: all-zero is a valid `sockaddr_storage`.
        let mut ss: bindings::__kernel_sockaddr_storage = unsafe { core::mem::zeroed() };
        // SAFETY: `net` is a valid namespace; `a` and `p` are NUL-terminated (zero-filled beyond
        // the copied bytes, and at least one byte longer than accepted), `ss` is valid for
        // writes.
        to_result(unsafe {
            b::inet_pton_with_scope(
                net.as_ptr(),
                af as u16,
                a.as_ptr().cast(),
                if port.is_empty() {
                    core::ptr::null()
                } else {
                    p.as_ptr().cast()
                },
                &raw mut ss,
            )
        })?;
        Ok(Self(ss))
    }

    /// Returns an address of no family, to be filled in.
    pub(crate) fn unspec() -> Self {
        // SAFETY: all-zero is a valid `sockaddr_storage` (family `AF_UNSPEC`).
        Self(unsafe { core::mem::zeroed() })
    }

    /// Returns the address family (`AF_INET`, `AF_INET6`, 0 if unknown).
    pub(crate) fn family(&self) -> u32 {
        // SAFETY: `ss_family` is the first member of every variant of the union.
        u32::from(unsafe { self.0.__bindgen_anon_1.__bindgen_anon_1.ss_family })
    }

    /// Returns whether this is the wildcard address (`0.0.0.0` or `::`).
    pub(crate) fn is_any(&self) -> bool {
        // SAFETY: The address is a valid `sockaddr_storage`.
        unsafe { b::inet_addr_is_any((&raw const self.0).cast_mut().cast()) }
    }

    /// Formats the address into `buf` (`%pISc`, or `%pISpc` with the port); returns its length.
    pub(crate) fn format(&self, buf: &mut [u8], with_port: bool) -> usize {
        let fmt = if with_port { c"%pISpc" } else { c"%pISc" };
        // SAFETY: `buf` is valid for `buf.len()` bytes; `scnprintf` writes at most that many,
        // NUL included, and the format takes one pointer to a socket address, `self.0`.
        let n = unsafe {
            bindings::scnprintf(
                buf.as_mut_ptr().cast(),
                buf.len(),
                fmt.as_char_ptr(),
                (&raw const self.0).cast::<core::ffi::c_void>(),
            )
        };
        usize::try_from(n).unwrap_or(0)
    }

    /// Returns the raw address, for the socket calls of [`crate::socket`].
    pub(crate) fn as_raw(&self) -> *const bindings::__kernel_sockaddr_storage {
        &raw const self.0
    }

    /// Returns the raw address to fill in.
    pub(crate) fn as_raw_mut(&mut self) -> *mut bindings::__kernel_sockaddr_storage {
        &raw mut self.0
    }
}

/// A [`SockAddr`] formatted with its port, for log lines (`192.0.2.1:4420`, `[::1]:4420`).
pub(crate) struct AddrText {
    buf: [u8; 64],
    len: usize,
}

impl AddrText {
    pub(crate) fn new(addr: &SockAddr) -> Self {
        let mut buf = [0u8; 64];
        let len = addr.format(&mut buf, true);
        Self { buf, len }
    }
}

impl core::fmt::Display for AddrText {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let s = self.buf.get(..self.len).unwrap_or(&[]);
        f.write_str(core::str::from_utf8(s).unwrap_or("?"))
    }
}

impl kernel::fmt::Display for AddrText {
    fn fmt(&self, f: &mut kernel::fmt::Formatter<'_>) -> kernel::fmt::Result {
        core::fmt::Display::fmt(self, f)
    }
}
