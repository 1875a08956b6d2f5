// SPDX-License-Identifier: GPL-2.0

//! Kernel TCP sockets: listen, accept, non-blocking send and receive, options, and the
//! `sk_*` callbacks that wake the transport's work.
//!
//! The kernel crate has no socket abstraction; this one covers what an NVMe/TCP transport needs.

use crate::sock_bindings as b;
use core::{marker::PhantomData, mem::MaybeUninit, ptr::NonNull};
use kernel::{
    bindings,
    error::to_result,
    ffi::c_void,
    prelude::*,
    sync::{Arc, ArcBorrow},
    types::ForeignOwnable,
};

/// Most I/O vectors one socket call takes: 128 KiB of page-sized pieces.
pub(crate) const MAX_VECS: usize = 32;

/// Up to [`MAX_VECS`] I/O vectors (`kvec` or `bio_vec`) for one socket call.
///
/// The array is not zeroed when made: one is made for every data transfer, and only the
/// entries filled in are ever read.
///
/// # Invariants
///
/// The first `len` entries of `v` are initialised, and `len <= MAX_VECS`.
pub(crate) struct Vecs<T> {
    v: [MaybeUninit<T>; MAX_VECS],
    len: usize,
}

impl<T: Copy> Vecs<T> {
    /// Returns an empty set.
    pub(crate) const fn new() -> Self {
        Self {
            v: [const { MaybeUninit::uninit() }; MAX_VECS],
            len: 0,
        }
    }

    /// Appends `x`; `false` if the set is full.
    pub(crate) fn push(&mut self, x: T) -> bool {
        let Some(slot) = self.v.get_mut(self.len) else {
            return false;
        };
        slot.write(x);
        // The invariant holds: entry `len` is initialised and `len < MAX_VECS` before.
        self.len += 1;
        true
    }

    /// Lets `fill` write entries from the start: it gets the array and its length, and returns
    /// how many entries it wrote. Replaces what the set held.
    ///
    /// # Safety
    ///
    /// `fill` must initialise the first `k` entries of the array, where `k` is what it returns
    /// (a larger return value is clamped to [`MAX_VECS`]).
    #[allow(dead_code)] // Host module only.
    pub(crate) unsafe fn fill_with(&mut self, fill: impl FnOnce(*mut T, usize) -> usize) {
        let k = fill(self.v.as_mut_ptr().cast(), MAX_VECS);
        // INVARIANT: The caller guarantees that `fill` initialised the first `k` entries.
        self.len = k.min(MAX_VECS);
    }

    /// Returns the entries filled in.
    pub(crate) fn as_slice(&self) -> &[T] {
        // SAFETY: By the type invariant the first `len` entries are initialised.
        unsafe { core::slice::from_raw_parts(self.v.as_ptr().cast(), self.len) }
    }

    /// Returns the entries filled in, mutably (socket calls take them so).
    #[allow(dead_code)] // Host module only.
    pub(crate) fn as_mut_slice(&mut self) -> &mut [T] {
        // SAFETY: By the type invariant the first `len` entries are initialised.
        unsafe { core::slice::from_raw_parts_mut(self.v.as_mut_ptr().cast(), self.len) }
    }
}

/// A socket address (`struct sockaddr_storage`), IPv4 or IPv6.
#[derive(Clone, Copy)]
pub(crate) struct SockAddr(bindings::__kernel_sockaddr_storage);

// SAFETY: A socket address is plain bytes (its union has an alignment-only pointer member).
unsafe impl Send for SockAddr {}
// SAFETY: As above.
unsafe impl Sync for SockAddr {}

impl SockAddr {
    /// Parses `addr` and `port` (as configfs has them) for the family `af` (`AF_INET[6]`, or
    /// `AF_UNSPEC` for either); an empty `port` leaves the port 0.
    pub(crate) fn parse(af: u32, addr: &[u8], port: &[u8]) -> Result<Self> {
        let mut a = [0u8; 64];
        let mut p = [0u8; 8];
        a.get_mut(..addr.len()).ok_or(EINVAL)?.copy_from_slice(addr);
        p.get_mut(..port.len()).ok_or(EINVAL)?.copy_from_slice(port);
        // SAFETY: all-zero is a valid `sockaddr_storage`.
        let mut ss: bindings::__kernel_sockaddr_storage = unsafe { core::mem::zeroed() };
        // SAFETY: `a` and `p` are NUL-terminated (zero-filled beyond the copied bytes, and at
        // least one byte longer than accepted), `ss` is valid for writes.
        to_result(unsafe {
            b::inet_pton_with_scope(
                &raw mut bindings::init_net,
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

    fn unspec() -> Self {
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
        // SAFETY: `buf` is valid for `buf.len()` bytes; `scnprintf` NUL-terminates within it.
        let n = unsafe {
            b::nvmet_tcp_rs_format_addr(
                buf.as_mut_ptr().cast(),
                buf.len(),
                (&raw const self.0).cast(),
                with_port,
            )
        };
        usize::try_from(n).unwrap_or(0)
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

/// What a socket's owner does when the network stack calls back (in softirq context, under the
/// socket's callback lock).
pub(crate) trait Callbacks: Send + Sync + Sized + 'static {
    /// Whether the owner installs its callbacks on a listening socket: `data_ready` then asks
    /// which kind of socket it was called for. Otherwise `listening` is always `false`, and
    /// not asked on every call.
    const LISTENS: bool = false;

    /// Data arrived (or a connection is waiting to be accepted on a listening socket).
    fn data_ready(this: ArcBorrow<'_, Self>, listening: bool);
    /// Send space became available.
    fn write_space(this: ArcBorrow<'_, Self>);
    /// The connection is closing (`FIN_WAIT1`, `CLOSE_WAIT` or `CLOSE`).
    fn closing(this: ArcBorrow<'_, Self>);
}

/// An owned kernel socket; released when dropped.
///
/// # Invariants
///
/// `sock` is a valid socket that this value owns.
pub(crate) struct Socket {
    sock: NonNull<bindings::socket>,
}

// SAFETY: A kernel socket may be used from any thread; its own locks serialise the stack.
unsafe impl Send for Socket {}
// SAFETY: As above: every method is a call the network stack makes safe to run concurrently.
unsafe impl Sync for Socket {}

/// Result of a non-blocking transfer: bytes moved, or nothing because it would block.
pub(crate) type Io = Result<Option<usize>>;

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

impl<'a> Piece<'a> {
    /// Returns the bytes of the piece.
    pub(crate) fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Returns up to `max` bytes from the start of the piece on, in its socket buffer (the
    /// piece and what follows it), to be copied out.
    #[allow(dead_code)] // Host module only.
    pub(crate) fn onward(&self, max: u32) -> SkbBytes<'a> {
        // INVARIANT: Within the `avail` bytes of the valid `skb` from `offset`.
        SkbBytes {
            skb: self.skb,
            offset: self.offset,
            len: self.avail.min(max),
            _skb: PhantomData,
        }
    }

    /// Returns up to `max` bytes that follow the piece in its socket buffer, to be copied out.
    pub(crate) fn after(&self, max: u32) -> SkbBytes<'a> {
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

/// Bytes of a received socket buffer, which can only be copied out (see [`Piece::after`]).
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

    /// Returns the socket buffer and the offset of the bytes in it, for a C helper that
    /// copies them out: by the type invariant, `len()` bytes from there stay readable for as
    /// long as `self` is borrowed.
    pub(crate) fn raw(&self) -> (*const bindings::sk_buff, u32) {
        (self.skb, self.offset)
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

fn io_result(ret: i32) -> Io {
    if ret >= 0 {
        Ok(Some(ret as usize))
    } else if ret == EAGAIN.to_errno() {
        Ok(None)
    } else {
        Err(Error::from_errno(ret))
    }
}

impl Socket {
    /// Creates a TCP socket listening on `addr` (`SO_REUSEADDR`, `TCP_NODELAY`, the
    /// `so_priority` parameter when positive).
    pub(crate) fn listen(addr: &SockAddr, backlog: i32, priority: i32) -> Result<Self> {
        let mut sock = core::ptr::null_mut();
        // SAFETY: `init_net` is the initial network namespace; `sock` receives the new socket.
        to_result(unsafe {
            bindings::sock_create_kern(
                &raw mut bindings::init_net,
                addr.family() as i32,
                bindings::sock_type_SOCK_STREAM as i32,
                bindings::IPPROTO_TCP as i32,
                &mut sock,
            )
        })?;
        let sock = Self {
            sock: NonNull::new(sock).ok_or(ENOMEM)?,
        };
        let sk = sock.sk();
        // SAFETY: `sk` is the valid sock of the new socket.
        unsafe {
            b::sock_set_reuseaddr(sk);
            b::tcp_sock_set_nodelay(sk);
            if priority > 0 {
                b::sock_set_priority(sk, priority as u32);
            }
        }
        // SAFETY: The socket is valid; `addr` is a valid address of its length.
        to_result(unsafe {
            bindings::kernel_bind(
                sock.sock.as_ptr(),
                (&raw const addr.0).cast_mut().cast(),
                size_of::<bindings::__kernel_sockaddr_storage>() as i32,
            )
        })?;
        // SAFETY: The socket is valid and bound.
        to_result(unsafe { bindings::kernel_listen(sock.sock.as_ptr(), backlog) })?;
        Ok(sock)
    }

    // The client side (`connect`, blocking transfers) is used by the host module only.

    /// Connects a TCP socket to `addr`, from `src` if given, waiting for the connection; the
    /// options of a host connection: `TCP_NODELAY`, no linger, one SYN retry, `tos` when
    /// given, priority `priority` when positive, bound to interface `ifindex` when given,
    /// receive timeout `rcvtimeo` (jiffies) for [`Socket::recv_exact`], and atomic
    /// allocations that may dip into reserves (the socket writes back memory under pressure).
    #[allow(dead_code)] // Host module only.
    pub(crate) fn connect(
        addr: &SockAddr,
        src: Option<&SockAddr>,
        tos: Option<i32>,
        priority: i32,
        ifindex: Option<i32>,
        rcvtimeo: isize,
    ) -> Result<Self> {
        let mut sock = core::ptr::null_mut();
        // SAFETY: `init_net` is the initial network namespace; `sock` receives the new socket.
        to_result(unsafe {
            bindings::sock_create_kern(
                &raw mut bindings::init_net,
                addr.family() as i32,
                bindings::sock_type_SOCK_STREAM as i32,
                bindings::IPPROTO_TCP as i32,
                &mut sock,
            )
        })?;
        let sock = Self {
            sock: NonNull::new(sock).ok_or(ENOMEM)?,
        };
        let sk = sock.sk();
        // SAFETY: `sk` is the valid sock of the new, not yet connected socket.
        unsafe {
            b::tcp_sock_set_nodelay(sk);
            b::sock_no_linger(sk);
            if let Some(tos) = tos {
                b::ip_sock_set_tos(sk, tos);
            }
            if priority > 0 {
                b::sock_set_priority(sk, priority as u32);
            }
            b::nvmet_tcp_rs_sk_client_opts(sk, rcvtimeo);
        }
        if let Some(ifindex) = ifindex {
            // SAFETY: `sk` is valid and not yet connected; the function takes the socket lock.
            to_result(unsafe { b::sock_bindtoindex(sk, ifindex, true) })?;
        }
        if let Some(src) = src {
            // SAFETY: The socket is valid; `src` is a valid address of its length.
            to_result(unsafe {
                bindings::kernel_bind(
                    sock.sock.as_ptr(),
                    (&raw const src.0).cast_mut().cast(),
                    size_of::<bindings::__kernel_sockaddr_storage>() as i32,
                )
            })?;
        }
        // SAFETY: The socket is valid; `addr` is a valid address of its length.
        to_result(unsafe {
            bindings::kernel_connect(
                sock.sock.as_ptr(),
                (&raw const addr.0).cast_mut().cast(),
                size_of::<bindings::__kernel_sockaddr_storage>() as i32,
                0,
            )
        })?;
        Ok(sock)
    }

    /// Sends all of `buf`, waiting for send space; `more` sets `MSG_MORE`.
    ///
    /// # Errors
    ///
    /// The socket's error; some of `buf` may have been sent then.
    #[allow(dead_code)] // Host module only.
    pub(crate) fn send_all(&self, buf: &[u8], more: bool) -> Result {
        let mut iov = bindings::kvec {
            iov_base: buf.as_ptr().cast_mut().cast(),
            iov_len: buf.len(),
        };
        // SAFETY: `iov` describes `buf`, which the stack only reads.
        unsafe { self.send_kvecs_all(core::slice::from_mut(&mut iov), more) }
    }

    /// Sends all the bytes `iovs` describe, waiting for send space; `more` sets `MSG_MORE`.
    ///
    /// # Safety
    ///
    /// Every `kvec` must describe memory valid for reads for the duration of the call.
    #[allow(dead_code)] // Host module only.
    unsafe fn send_kvecs_all(&self, iovs: &mut [bindings::kvec], more: bool) -> Result {
        let total: usize = iovs.iter().map(|v| v.iov_len).sum();
        let mut sent = 0usize;
        let flags = bindings::MSG_NOSIGNAL | if more { bindings::MSG_MORE } else { 0 };
        while sent < total {
            // Skip what was sent: whole vectors, then part of the next.
            let mut skip = sent;
            let mut first = 0;
            while let Some(v) = iovs.get(first) {
                if skip < v.iov_len {
                    break;
                }
                skip -= v.iov_len;
                first += 1;
            }
            let rest = iovs.get_mut(first..).ok_or(EINVAL)?;
            let mut head = None;
            if let Some(v) = rest.first_mut() {
                head = Some(*v);
                // SAFETY: `skip < v.iov_len`, so the pointer stays inside the vector's memory.
                v.iov_base = unsafe { v.iov_base.cast::<u8>().add(skip).cast() };
                v.iov_len -= skip;
            }
            // SAFETY: all-zero is a valid `msghdr`.
            let mut msg: bindings::msghdr = unsafe { core::mem::zeroed() };
            msg.msg_flags = flags;
            // SAFETY: The socket is valid; the caller guarantees the memory of `rest`.
            let ret = unsafe {
                bindings::kernel_sendmsg(
                    self.sock.as_ptr(),
                    &mut msg,
                    rest.as_mut_ptr(),
                    rest.len(),
                    total - sent,
                )
            };
            if let (Some(h), Some(v)) = (head, rest.first_mut()) {
                *v = h;
            }
            match io_result(ret)? {
                Some(0) | None => return Err(EPIPE),
                Some(n) => sent += n,
            }
        }
        Ok(())
    }

    /// Receives exactly `buf.len()` bytes, waiting at most the receive timeout.
    ///
    /// # Errors
    ///
    /// `ECONNRESET` if the peer closed the connection first, `EAGAIN` on timeout, or the
    /// socket's error.
    #[allow(dead_code)] // Host module only.
    pub(crate) fn recv_exact(&self, buf: &mut [u8]) -> Result {
        let mut got = 0usize;
        while got < buf.len() {
            let rest = buf.get_mut(got..).ok_or(EINVAL)?;
            let mut iov = bindings::kvec {
                iov_base: rest.as_mut_ptr().cast(),
                iov_len: rest.len(),
            };
            // SAFETY: all-zero is a valid `msghdr`.
            let mut msg: bindings::msghdr = unsafe { core::mem::zeroed() };
            // SAFETY: The socket is valid; `iov` describes `rest`, valid for writes.
            let ret = unsafe {
                bindings::kernel_recvmsg(
                    self.sock.as_ptr(),
                    &mut msg,
                    &mut iov,
                    1,
                    rest.len(),
                    (bindings::MSG_WAITALL | bindings::MSG_NOSIGNAL) as i32,
                )
            };
            match io_result(ret)? {
                None => return Err(EAGAIN),
                Some(0) => return Err(ECONNRESET),
                Some(n) => got += n,
            }
        }
        Ok(())
    }

    /// Accepts a pending connection without blocking; `None` if there is none.
    pub(crate) fn accept(&self) -> Result<Option<Self>> {
        let mut new = core::ptr::null_mut();
        // SAFETY: The socket is a valid listening socket; `new` receives the connection.
        let ret = unsafe {
            bindings::kernel_accept(self.sock.as_ptr(), &mut new, bindings::O_NONBLOCK as i32)
        };
        match io_result(ret)? {
            None => Ok(None),
            Some(_) => Ok(Some(Self {
                sock: NonNull::new(new).ok_or(ENOMEM)?,
            })),
        }
    }

    fn sk(&self) -> *mut bindings::sock {
        // SAFETY: By the type invariant the socket is valid; `sk` is set for its whole life.
        unsafe { (*self.sock.as_ptr()).sk }
    }

    /// Sets the options of an accepted connection as the C transport does: no linger, the
    /// `so_priority` parameter, and the TOS the host used mirrored back.
    pub(crate) fn set_queue_options(&self, priority: i32) {
        let sk = self.sk();
        // SAFETY: `sk` is valid.
        unsafe {
            b::sock_no_linger(sk);
            if priority > 0 {
                b::sock_set_priority(sk, priority as u32);
            }
            let tos = b::nvmet_tcp_rs_sk_rcv_tos(sk);
            if tos > 0 {
                b::ip_sock_set_tos(sk, i32::from(tos));
            }
        }
    }

    /// Returns the local address.
    pub(crate) fn local_addr(&self) -> SockAddr {
        let mut a = SockAddr::unspec();
        let (sock, addr) = (self.sock.as_ptr(), (&raw mut a.0).cast());
        // SAFETY: The socket is valid; `a` has room for any address.
        let ret = unsafe { bindings::kernel_getsockname(sock, addr) };
        if ret < 0 {
            return SockAddr::unspec();
        }
        a
    }

    /// Returns the peer's address.
    pub(crate) fn peer_addr(&self) -> SockAddr {
        let mut a = SockAddr::unspec();
        let (sock, addr) = (self.sock.as_ptr(), (&raw mut a.0).cast());
        // SAFETY: The socket is valid; `a` has room for any address.
        let ret = unsafe { bindings::kernel_getpeername(sock, addr) };
        if ret < 0 {
            return SockAddr::unspec();
        }
        a
    }

    /// Returns the CPU the connection's packets arrive on, if known.
    pub(crate) fn incoming_cpu(&self) -> Option<u32> {
        // SAFETY: `sk` is valid.
        let cpu = unsafe { b::nvmet_tcp_rs_sk_incoming_cpu(self.sk()) };
        u32::try_from(cpu).ok()
    }

    /// Reads what has arrived without blocking, in place (`tcp_read_sock`, as the C host
    /// receives): calls `f` on each contiguous piece of it, in order, borrowed from the
    /// socket's receive queue for the call. `f` returns how many bytes it consumed: fewer than
    /// the piece stops the read, and the rest stays queued; more (up to the end of the piece's
    /// socket buffer) means it copied the bytes after the piece out itself ([`Piece::after`]),
    /// and the read resumes after them.
    ///
    /// The socket stays locked while `f` runs: `f` must not call the socket (to send, say).
    pub(crate) fn read<F: FnMut(Piece<'_>) -> usize>(&self, mut f: F) -> Result<Read> {
        /// Hands one piece to the `F` that `arg` points to.
        ///
        /// # Safety
        ///
        /// `arg` must point to an `F` not otherwise accessed during the call; `skb` be a valid
        /// socket buffer, not changed during the call, with `avail` bytes from `offset`; and
        /// `data` be valid for reads of `len <= avail` bytes, the first of them.
        unsafe extern "C" fn piece<F: FnMut(Piece<'_>) -> usize>(
            arg: *mut c_void,
            data: *const u8,
            len: u32,
            skb: *const bindings::sk_buff,
            offset: u32,
            avail: u32,
        ) -> u32 {
            // SAFETY: The caller guarantees all of it.
            let (f, bytes) = unsafe {
                (
                    &mut *arg.cast::<F>(),
                    core::slice::from_raw_parts(data, len as usize),
                )
            };
            // INVARIANT: As the caller guarantees.
            let p = Piece {
                bytes,
                skb,
                offset,
                avail: avail.max(len),
                _skb: PhantomData,
            };
            // Cannot truncate: at most `avail`.
            f(p).min(avail as usize) as u32
        }
        let mut eof = false;
        // SAFETY: The socket is valid. The helper calls `piece` only before it returns, with
        // `arg` (`f`, exclusively borrowed here) and the bytes of an skb the socket lock keeps
        // queued for the call.
        let ret = unsafe {
            b::nvmet_tcp_rs_sk_read(self.sk(), Some(piece::<F>), (&raw mut f).cast(), &mut eof)
        };
        Ok(match io_result(ret)? {
            None => Read::Nothing,
            Some(0) if eof => Read::Closed,
            Some(n) => Read::Bytes(n),
        })
    }

    /// Sends `buf` by copy without blocking; `more` sets `MSG_MORE`, otherwise `MSG_EOR`.
    pub(crate) fn send(&self, buf: &[u8], more: bool) -> Io {
        let mut iov = bindings::kvec {
            iov_base: buf.as_ptr().cast_mut().cast(),
            iov_len: buf.len(),
        };
        // SAFETY: `iov` describes `buf`, which the stack only reads.
        unsafe { self.send_kvecs(core::slice::from_mut(&mut iov), buf.len(), more) }
    }

    /// Sends the `len` bytes `iovs` describe by copy without blocking; `more` sets `MSG_MORE`,
    /// otherwise `MSG_EOR`.
    ///
    /// # Safety
    ///
    /// Every `kvec` must describe memory valid for reads for the duration of the call.
    pub(crate) unsafe fn send_kvecs(
        &self,
        iovs: &mut [bindings::kvec],
        len: usize,
        more: bool,
    ) -> Io {
        // SAFETY: all-zero is a valid `msghdr`.
        let mut msg: bindings::msghdr = unsafe { core::mem::zeroed() };
        msg.msg_flags = send_flags(more);
        // SAFETY: The socket is valid; the caller guarantees the memory of `iovs`.
        let ret = unsafe {
            bindings::kernel_sendmsg(
                self.sock.as_ptr(),
                &mut msg,
                iovs.as_mut_ptr(),
                iovs.len(),
                len,
            )
        };
        io_result(ret)
    }

    /// Sends whole pages zero-copy (`MSG_SPLICE_PAGES`) without blocking.
    ///
    /// # Safety
    ///
    /// Every `bio_vec` must describe a range of a page the caller holds a reference on.
    pub(crate) unsafe fn send_pages(
        &self,
        bvecs: &[bindings::bio_vec],
        len: usize,
        more: bool,
    ) -> Io {
        // SAFETY: all-zero is a valid `msghdr`.
        let mut msg: bindings::msghdr = unsafe { core::mem::zeroed() };
        msg.msg_flags = send_flags(more) | bindings::MSG_SPLICE_PAGES;
        // SAFETY: `msg_iter` is valid for writes; the caller guarantees the pages.
        unsafe {
            bindings::iov_iter_bvec(
                &mut msg.msg_iter,
                bindings::ITER_SOURCE,
                bvecs.as_ptr(),
                bvecs.len(),
                len,
            )
        };
        // SAFETY: The socket is valid and `msg` describes readable pages.
        io_result(unsafe { bindings::sock_sendmsg(self.sock.as_ptr(), &mut msg) })
    }

    /// Shuts both directions down (`SHUT_RDWR`); the state change callback follows.
    pub(crate) fn shutdown(&self) {
        // SAFETY: The socket is valid.
        unsafe {
            bindings::kernel_sock_shutdown(
                self.sock.as_ptr(),
                bindings::sock_shutdown_cmd_SHUT_RDWR,
            )
        };
    }

    /// Makes `owner` receive this socket's callbacks; the socket keeps a reference to it until
    /// [`Hooks::restore`].
    ///
    /// With `established`, fails with `ENOTCONN` if the connection is already closing. With
    /// `listening`, only `data_ready` is replaced.
    pub(crate) fn install<T: Callbacks>(&self, owner: Arc<T>, listening: bool) -> Result<Hooks<T>> {
        type Hook = unsafe extern "C" fn(*mut bindings::sock);
        let ours = b::nvmet_tcp_rs_hooks {
            data_ready: Some(data_ready_callback::<T>),
            write_space: (!listening).then_some(write_space_callback::<T> as Hook),
            state_change: (!listening).then_some(state_change_callback::<T> as Hook),
        };
        let mut saved = b::nvmet_tcp_rs_hooks::default();
        let user = owner.into_foreign();
        let sk = self.sk();
        // SAFETY: `sk` is valid; the helper stores `user` and the callbacks under the callback
        // lock, and fills `saved` with the previous callbacks.
        let ret = unsafe { b::nvmet_tcp_rs_sk_install(sk, user, &ours, &mut saved, !listening) };
        if let Err(e) = to_result(ret) {
            // SAFETY: The helper did not store `user`; take the reference back.
            drop(unsafe { Arc::<T>::from_foreign(user) });
            return Err(e);
        }
        Ok(Hooks {
            saved,
            _owner: PhantomData,
        })
    }
}

fn send_flags(more: bool) -> u32 {
    bindings::MSG_DONTWAIT
        | bindings::MSG_NOSIGNAL
        | if more {
            bindings::MSG_MORE
        } else {
            bindings::MSG_EOR
        }
}

impl Drop for Socket {
    fn drop(&mut self) {
        // SAFETY: By the type invariant the socket is owned by this value.
        unsafe { bindings::sock_release(self.sock.as_ptr()) };
    }
}

/// The callbacks a socket had before [`Socket::install`]; put back by [`Hooks::restore`].
pub(crate) struct Hooks<T> {
    saved: b::nvmet_tcp_rs_hooks,
    _owner: PhantomData<Arc<T>>,
}

// SAFETY: The saved callbacks are plain function pointers.
unsafe impl<T> Send for Hooks<T> {}
// SAFETY: As above.
unsafe impl<T> Sync for Hooks<T> {}

impl<T: Callbacks> Hooks<T> {
    /// Restores the previous callbacks of `sock` and returns the owner's reference the socket
    /// held. After this no callback of `T` runs for the socket.
    pub(crate) fn restore(self, sock: &Socket) -> Option<Arc<T>> {
        // SAFETY: `sk` is valid; `saved` are the callbacks it had before `install`.
        let user = unsafe { b::nvmet_tcp_rs_sk_restore(sock.sk(), &self.saved) };
        // SAFETY: `install` stored an `Arc<T>` from `into_foreign` in `sk_user_data`, and only
        // this function removes it.
        (!user.is_null()).then(|| unsafe { Arc::<T>::from_foreign(user) })
    }
}

/// Runs `f` with the owner of `sk`, under the socket's callback lock, if it still has one.
///
/// # Safety
///
/// `sk` must be a socket whose `sk_user_data`, when set, is an `Arc<T>` from [`Socket::install`].
unsafe fn with_owner<T: Callbacks>(sk: *mut bindings::sock, f: impl FnOnce(ArcBorrow<'_, T>)) {
    // SAFETY: `sk` is valid in its callbacks; the helper takes the read lock.
    let user: *mut c_void = unsafe { b::nvmet_tcp_rs_sk_read_lock(sk) };
    if !user.is_null() {
        // SAFETY: Under the callback lock `sk_user_data` holds its `Arc<T>`, which `restore`
        // takes back only under the write lock.
        f(unsafe { <Arc<T> as ForeignOwnable>::borrow(user) });
    }
    // SAFETY: The read lock was taken above.
    unsafe { b::nvmet_tcp_rs_sk_read_unlock(sk) };
}

/// `sk_data_ready` of a socket `T` owns.
///
/// # Safety
///
/// Called by the network stack with a valid `sk` whose callbacks `Socket::install::<T>` set.
unsafe extern "C" fn data_ready_callback<T: Callbacks>(sk: *mut bindings::sock) {
    // Asked at run time, not fixed at install: a connection accepted on a listening socket
    // inherits its callbacks and `sk_user_data` until its queue installs its own.
    // SAFETY: `sk` is valid in its callback.
    let listening = T::LISTENS && unsafe { b::nvmet_tcp_rs_sk_listening(sk) };
    // SAFETY: Installed by `Socket::install::<T>`.
    unsafe { with_owner::<T>(sk, |o| T::data_ready(o, listening)) };
}

/// `sk_write_space` of a socket `T` owns.
///
/// # Safety
///
/// Called by the network stack with a valid `sk` whose callbacks `Socket::install::<T>` set.
unsafe extern "C" fn write_space_callback<T: Callbacks>(sk: *mut bindings::sock) {
    // SAFETY: Installed by `Socket::install::<T>`.
    unsafe {
        with_owner::<T>(sk, |o| {
            if b::nvmet_tcp_rs_sk_writeable(sk) {
                T::write_space(o);
            }
        })
    };
}

/// `sk_state_change` of a socket `T` owns.
///
/// # Safety
///
/// Called by the network stack with a valid `sk` whose callbacks `Socket::install::<T>` set.
unsafe extern "C" fn state_change_callback<T: Callbacks>(sk: *mut bindings::sock) {
    // SAFETY: Installed by `Socket::install::<T>`.
    unsafe {
        with_owner::<T>(sk, |o| {
            if b::nvmet_tcp_rs_sk_closing(sk) {
                T::closing(o);
            }
        })
    };
}
