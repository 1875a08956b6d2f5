// SPDX-License-Identifier: GPL-2.0

//! Kernel TCP sockets: listen, accept, connect, non-blocking sends, options.
//!
//! The kernel crate has no socket abstraction; this one covers what an NVMe/TCP transport
//! needs, in its style. Receiving in place is in [`crate::skb`], the callbacks that wake a
//! socket's owner in [`crate::sk_callbacks`].

use crate::net_ns::Net;
use crate::sock_bindings as b;
use crate::sockaddr::SockAddr;
use core::{
    mem::{ManuallyDrop, MaybeUninit},
    ptr::NonNull,
};
use kernel::{
    bindings,
    error::{from_err_ptr, to_result},
    fs::File,
    prelude::*,
    sync::aref::ARef,
};

/// Checks that bindgen and the C compiler agree on the size of `struct sock`, whose fields this
/// layer reads and writes (the callbacks, `sk_user_data`, `sk_shutdown`, `sk_err`). bindgen's
/// own layout tests check its view against clang's at build time; this checks it against the
/// compiler that built the kernel (gcc for a distribution's).
///
/// # Errors
///
/// `EINVAL` (after logging it) if the sizes differ.
pub(crate) fn check_layout() -> Result {
    // SAFETY: The helper only returns `sizeof(struct sock)`; it has no preconditions.
    let sock = unsafe { b::nvmet_tcp_rs_sizeof_sock() };
    crate::layout::check_sizes(&[("sock", sock, size_of::<b::sock>())])
}

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
        // INVARIANT: Entry `len` is initialised and `len < MAX_VECS` before.
        self.len += 1;
        true
    }

    /// Returns how many more entries fit.
    pub(crate) fn room(&self) -> usize {
        MAX_VECS - self.len
    }

    /// Returns whether the set is full.
    pub(crate) fn is_full(&self) -> bool {
        self.len == MAX_VECS
    }

    /// Returns the entries filled in.
    pub(crate) fn as_slice(&self) -> &[T] {
        // SAFETY: By the type invariant the first `len` entries are initialised.
        unsafe { core::slice::from_raw_parts(self.v.as_ptr().cast(), self.len) }
    }

    /// Returns the entries filled in, mutably (socket calls take them so).
    pub(crate) fn as_mut_slice(&mut self) -> &mut [T] {
        // SAFETY: By the type invariant the first `len` entries are initialised.
        unsafe { core::slice::from_raw_parts_mut(self.v.as_mut_ptr().cast(), self.len) }
    }
}

/// An owned kernel socket; released when dropped.
///
/// A socket may belong to a file (`sock_alloc_file`), as one whose TLS handshake user space
/// runs must: the handshake daemon gets a descriptor of that file, and the socket lives until
/// the last reference to the file is gone, this value's or the daemon's.
///
/// # Invariants
///
/// `sock` is a valid socket with its `sk` set for its whole life. Without `filed`, this value
/// owns it; with `filed`, `sock->file` is a file that owns it, of which this value holds one
/// reference.
pub(crate) struct Socket {
    sock: NonNull<bindings::socket>,
    filed: bool,
}

// SAFETY: A kernel socket may be used from any thread; its own locks serialise the stack.
unsafe impl Send for Socket {}
// SAFETY: Every method is a socket call that the network stack makes safe to run
// concurrently (it locks the socket itself).
unsafe impl Sync for Socket {}

/// Result of a non-blocking transfer: bytes moved, or nothing because it would block.
pub(crate) type Io = Result<Option<usize>>;

fn io_result(ret: i32) -> Io {
    if ret >= 0 {
        // Cannot truncate: a non-negative `i32`.
        Ok(Some(ret as usize))
    } else if ret == EAGAIN.to_errno() {
        Ok(None)
    } else {
        Err(Error::from_errno(ret))
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

/// Length of a socket address, as the socket calls take it.
const ADDR_LEN: i32 = size_of::<bindings::__kernel_sockaddr_storage>() as i32;

/// Options of a client connection (a host's), as the C host sets them.
pub(crate) struct ClientOptions {
    /// The local address to connect from.
    pub(crate) src: Option<SockAddr>,
    /// The type of service.
    pub(crate) tos: Option<i32>,
    /// The socket priority, when positive.
    pub(crate) priority: i32,
    /// The interface to bind to.
    pub(crate) ifindex: Option<i32>,
    /// Receive timeout of [`Socket::recv_exact`], in jiffies.
    pub(crate) rcvtimeo: isize,
    /// Whether the socket belongs to a file, as one whose TLS handshake user space runs must
    /// (see [`Socket::file`]).
    pub(crate) file: bool,
}

/// What [`Socket::recv_exact`] received.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Received {
    /// The buffer is filled with data.
    Data,
    /// A kTLS record of this content type (`TLS_RECORD_TYPE_*`), not data, arrived: the
    /// buffer's bytes are not to be used.
    Record(u8),
}

/// Room for one control message of one byte, the record type kTLS reports with what it
/// receives (`CMSG_LEN(1)`, aligned as a `cmsghdr`).
#[repr(C)]
#[derive(Default)]
struct RecordTypeCmsg {
    hdr: bindings::cmsghdr,
    data: [u8; 8],
}

impl Socket {
    /// Creates a TCP socket of `addr`'s family in the network namespace `net`.
    ///
    /// The socket holds a count of `net`, as a user's socket does (a kernel socket does not by
    /// default): its sock may outlive the socket (a connection closing after the release), and
    /// the namespace must outlive the sock. The C host does the same.
    fn create(net: &Net, addr: &SockAddr) -> Result<Self> {
        let mut sock = core::ptr::null_mut();
        // SAFETY: `net` is a valid namespace (a shared reference to a counted one); `sock`
        // receives the new socket.
        to_result(unsafe {
            bindings::sock_create_kern(
                net.as_ptr(),
                addr.family() as i32,
                bindings::sock_type_SOCK_STREAM as i32,
                bindings::IPPROTO_TCP as i32,
                &mut sock,
            )
        })?;
        // INVARIANT: `sock_create_kern` made a socket with its sock, owned by the caller.
        let sock = Self {
            sock: NonNull::new(sock).ok_or(ENOMEM)?,
            filed: false,
        };
        // SAFETY: `sk` is the valid sock of a kernel socket just made, which holds no count of
        // its namespace yet and which nothing else uses.
        unsafe { b::sk_net_refcnt_upgrade(sock.sk()) };
        Ok(sock)
    }

    /// Gives the socket to a new file (`sock_alloc_file`), which owns it from then on.
    ///
    /// # Errors
    ///
    /// `ENOMEM` or another error of the allocation; the socket is released then.
    pub(crate) fn into_file(self) -> Result<Self> {
        if self.filed {
            return Ok(self);
        }
        // Released by `sock_alloc_file` if it fails, owned by the file if it succeeds: not
        // released here either way.
        let this = ManuallyDrop::new(self);
        // SAFETY: The socket is valid, without a file, and owned by `this`, which gives it up.
        let file = unsafe {
            bindings::sock_alloc_file(
                this.sock.as_ptr(),
                bindings::O_CLOEXEC as i32,
                core::ptr::null(),
            )
        };
        from_err_ptr(file)?;
        // INVARIANT: The new file owns the socket (`sock->file`); its one reference is ours.
        Ok(Self {
            sock: this.sock,
            filed: true,
        })
    }

    /// Returns a new reference to the file the socket belongs to, if it belongs to one (see
    /// [`ClientOptions::file`]): the socket lives at least as long as the reference.
    pub(crate) fn file(&self) -> Option<ARef<File>> {
        if !self.filed {
            return None;
        }
        // SAFETY: By the type invariant `sock->file` is a file of which this value holds a
        // reference while it is borrowed. No `fdget_pos` concerns a socket's file: a socket
        // has no file position (its file is not `FMODE_ATOMIC_POS`), and nothing here reads
        // one.
        let file = unsafe { File::from_raw_file((*self.sock.as_ptr()).file) };
        Some(file.into())
    }

    /// Returns the raw socket, for calls that take a `struct socket`.
    pub(crate) fn as_raw(&self) -> *mut bindings::socket {
        self.sock.as_ptr()
    }

    /// Returns the socket's sock.
    pub(crate) fn sk(&self) -> *mut b::sock {
        // SAFETY: By the type invariant the socket is valid; `sk` is set for its whole life.
        unsafe { (*self.sock.as_ptr()).sk.cast() }
    }

    /// Creates a TCP socket in `net` listening on `addr` (`SO_REUSEADDR`, `TCP_NODELAY`,
    /// `priority` when positive). The connections it accepts are in `net` too.
    pub(crate) fn listen(net: &Net, addr: &SockAddr, backlog: i32, priority: i32) -> Result<Self> {
        let sock = Self::create(net, addr)?;
        let sk = sock.sk();
        // SAFETY: `sk` is the valid sock of the new socket.
        unsafe {
            b::sock_set_reuseaddr(sk);
            b::tcp_sock_set_nodelay(sk);
            if priority > 0 {
                b::sock_set_priority(sk, priority as u32);
            }
        }
        // SAFETY: The socket is valid; `addr` is a valid address of `ADDR_LEN` bytes.
        to_result(unsafe {
            bindings::kernel_bind(
                sock.sock.as_ptr(),
                addr.as_raw().cast_mut().cast(),
                ADDR_LEN,
            )
        })?;
        // SAFETY: The socket is valid and bound.
        to_result(unsafe { bindings::kernel_listen(sock.sock.as_ptr(), backlog) })?;
        Ok(sock)
    }

    /// Connects a TCP socket in `net` to `addr`, waiting for the connection, with the options of a host
    /// connection: `TCP_NODELAY`, no linger, one SYN retry, and `opts`; atomic allocations that
    /// may dip into reserves (the socket writes back memory under pressure).
    pub(crate) fn connect(net: &Net, addr: &SockAddr, opts: &ClientOptions) -> Result<Self> {
        let mut sock = Self::create(net, addr)?;
        if opts.file {
            sock = sock.into_file()?;
        }
        let sk = sock.sk();
        // SAFETY: `sk` is the valid sock of the new, not yet connected socket, which nothing
        // else uses yet: its fields are written as the C host writes them.
        unsafe {
            b::tcp_sock_set_nodelay(sk);
            b::sock_no_linger(sk);
            if let Some(tos) = opts.tos {
                b::ip_sock_set_tos(sk, tos);
            }
            if opts.priority > 0 {
                b::sock_set_priority(sk, opts.priority as u32);
            }
            to_result(b::tcp_sock_set_syncnt(sk, 1))?;
            (*sk).sk_rcvtimeo = opts.rcvtimeo;
            (*sk).sk_allocation = bindings::GFP_ATOMIC;
            (*sk).sk_use_task_frag = false;
            b::sk_set_memalloc(sk);
        }
        if let Some(ifindex) = opts.ifindex {
            // SAFETY: `sk` is valid and not yet connected; the function takes the socket lock.
            to_result(unsafe { b::sock_bindtoindex(sk, ifindex, true) })?;
        }
        if let Some(src) = &opts.src {
            // SAFETY: The socket is valid; `src` is a valid address of `ADDR_LEN` bytes.
            to_result(unsafe {
                bindings::kernel_bind(sock.sock.as_ptr(), src.as_raw().cast_mut().cast(), ADDR_LEN)
            })?;
        }
        // SAFETY: The socket is valid; `addr` is a valid address of `ADDR_LEN` bytes.
        to_result(unsafe {
            bindings::kernel_connect(
                sock.sock.as_ptr(),
                addr.as_raw().cast_mut().cast(),
                ADDR_LEN,
                0,
            )
        })?;
        Ok(sock)
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
            // INVARIANT: `kernel_accept` made a connected socket with its sock, now ours.
            Some(_) => Ok(Some(Self {
                sock: NonNull::new(new).ok_or(ENOMEM)?,
                filed: false,
            })),
        }
    }

    /// Sets the options of an accepted connection as the C target does: no linger, `priority`
    /// when positive, and the TOS the host used mirrored back.
    pub(crate) fn set_queue_options(&self, priority: i32) {
        let sk = self.sk();
        // SAFETY: `sk` is valid.
        unsafe {
            b::sock_no_linger(sk);
            if priority > 0 {
                b::sock_set_priority(sk, priority as u32);
            }
            let tos = b::nvmet_tcp_rs_inet_sk_rcv_tos(sk);
            if tos > 0 {
                b::ip_sock_set_tos(sk, i32::from(tos));
            }
        }
    }

    /// Returns the local address.
    pub(crate) fn local_addr(&self) -> SockAddr {
        let mut a = SockAddr::unspec();
        let sock = self.sock.as_ptr();
        // SAFETY: The socket is valid; `a` has room for any address.
        let ret = unsafe { bindings::kernel_getsockname(sock, a.as_raw_mut().cast()) };
        if ret < 0 {
            return SockAddr::unspec();
        }
        a
    }

    /// Returns the peer's address.
    pub(crate) fn peer_addr(&self) -> SockAddr {
        let mut a = SockAddr::unspec();
        let sock = self.sock.as_ptr();
        // SAFETY: The socket is valid; `a` has room for any address.
        let ret = unsafe { bindings::kernel_getpeername(sock, a.as_raw_mut().cast()) };
        if ret < 0 {
            return SockAddr::unspec();
        }
        a
    }

    /// Returns the CPU the connection's packets arrive on, if known.
    pub(crate) fn incoming_cpu(&self) -> Option<u32> {
        // SAFETY: `sk` is valid; the stack writes the CPU with `WRITE_ONCE`, read once here.
        // The field is the `int` member of an anonymous union (bindgen gives its fields no
        // size), at its start.
        let cpu = unsafe {
            core::ptr::read_volatile(
                (&raw const (*self.sk()).__sk_common.__bindgen_anon_7).cast::<i32>(),
            )
        };
        u32::try_from(cpu).ok()
    }

    /// Sends all of `buf`, waiting for send space (the socket is not yet in non-blocking use:
    /// before its callbacks are installed).
    ///
    /// # Errors
    ///
    /// The socket's error, or `EPIPE` if it took nothing; some of `buf` may have gone out.
    pub(crate) fn send_all(&self, buf: &[u8]) -> Result {
        let mut sent = 0usize;
        while let Some(rest) = buf.get(sent..).filter(|r| !r.is_empty()) {
            let mut iov = bindings::kvec {
                iov_base: rest.as_ptr().cast_mut().cast(),
                iov_len: rest.len(),
            };
            let mut msg = bindings::msghdr {
                msg_flags: bindings::MSG_NOSIGNAL,
                ..Default::default()
            };
            // SAFETY: The socket is valid; `iov` describes `rest`, which the stack only reads.
            let ret = unsafe {
                bindings::kernel_sendmsg(self.sock.as_ptr(), &mut msg, &mut iov, 1, rest.len())
            };
            match io_result(ret)? {
                Some(0) | None => return Err(EPIPE),
                Some(n) => sent += n,
            }
        }
        Ok(())
    }

    /// Receives exactly `buf.len()` bytes, waiting at most the receive timeout.
    ///
    /// On a kTLS socket each receive asks for the type of the record it read, as the C host
    /// does for its ICResp: a record that is not data (an alert, say) ends the receive.
    ///
    /// # Errors
    ///
    /// `ECONNRESET` if the peer closed the connection first, `EAGAIN` on timeout, or the
    /// socket's error.
    pub(crate) fn recv_exact(&self, buf: &mut [u8]) -> Result<Received> {
        let mut got = 0usize;
        while let Some(rest) = buf.get_mut(got..).filter(|r| !r.is_empty()) {
            let mut iov = bindings::kvec {
                iov_base: rest.as_mut_ptr().cast(),
                iov_len: rest.len(),
            };
            let mut cmsg = RecordTypeCmsg::default();
            let mut msg = bindings::msghdr {
                msg_controllen: size_of::<RecordTypeCmsg>(),
                ..Default::default()
            };
            // A kernel buffer (`msg_control_is_user` is clear): kTLS writes the record type
            // there, a plain socket nothing.
            msg.__bindgen_anon_1.msg_control = (&raw mut cmsg).cast();
            // SAFETY: The socket is valid; `iov` describes `rest`, valid for writes, and the
            // control buffer `cmsg`, of the length `msg` gives, is valid for writes.
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
            let n = io_result(ret)?;
            // SAFETY: `cmsg` is a valid control message buffer, zeroed or written by kTLS,
            // with room for its header and one byte of data after it (`CMSG_DATA`).
            let record = unsafe { b::tls_get_record_type(self.sk(), &cmsg.hdr) };
            // 0: no record type reported (not a kTLS socket, or nothing received).
            if record != 0 && u32::from(record) != b::TLS_RECORD_TYPE_DATA {
                return Ok(Received::Record(record));
            }
            match n {
                None => return Err(EAGAIN),
                Some(0) => return Err(ECONNRESET),
                Some(n) => got += n,
            }
        }
        Ok(Received::Data)
    }

    /// Sends `buf` by copy without blocking; `more` sets `MSG_MORE`, otherwise `MSG_EOR`.
    pub(crate) fn send(&self, buf: &[u8], more: bool) -> Io {
        let mut iov = bindings::kvec {
            iov_base: buf.as_ptr().cast_mut().cast(),
            iov_len: buf.len(),
        };
        // SAFETY: `iov` describes `buf`, which the stack only reads during the call.
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
        let mut msg = bindings::msghdr {
            msg_flags: send_flags(more),
            ..Default::default()
        };
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

    /// Sends pages zero-copy (`MSG_SPLICE_PAGES`) without blocking: the stack takes its own
    /// references on the pages it queues.
    ///
    /// # Safety
    ///
    /// Every `bio_vec` must describe a range of pages the caller holds references on for the
    /// duration of the call, and which the stack may take references on (`sendpages_ok`).
    pub(crate) unsafe fn send_pages(
        &self,
        bvecs: &[bindings::bio_vec],
        len: usize,
        more: bool,
    ) -> Io {
        let mut msg = bindings::msghdr {
            msg_flags: send_flags(more) | bindings::MSG_SPLICE_PAGES,
            ..Default::default()
        };
        // SAFETY: `msg_iter` is valid for writes; the iterator only reads `bvecs`, which
        // outlive the call.
        unsafe {
            bindings::iov_iter_bvec(
                &mut msg.msg_iter,
                bindings::ITER_SOURCE,
                bvecs.as_ptr(),
                bvecs.len(),
                len,
            )
        };
        // SAFETY: The socket is valid and `msg` describes pages the caller guarantees.
        io_result(unsafe { bindings::sock_sendmsg(self.sock.as_ptr(), &mut msg) })
    }

    /// Copies up to `buf.len()` bytes of what has arrived into `buf` without consuming them
    /// (`MSG_PEEK`) and without blocking. `Some(0)`: the peer closed the connection.
    pub(crate) fn peek(&self, buf: &mut [u8]) -> Io {
        let mut iov = bindings::kvec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        let mut msg = bindings::msghdr::default();
        // SAFETY: The socket is valid; `iov` describes `buf`, valid for writes.
        let ret = unsafe {
            bindings::kernel_recvmsg(
                self.sock.as_ptr(),
                &mut msg,
                &mut iov,
                1,
                buf.len(),
                (bindings::MSG_PEEK | bindings::MSG_DONTWAIT) as i32,
            )
        };
        io_result(ret)
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
}

impl Drop for Socket {
    fn drop(&mut self) {
        let sock = self.sock.as_ptr();
        if self.filed {
            // Synchronously, as the C host: a reconnect must not race the release of the
            // previous connection. The socket goes with the file's last reference, which may
            // be another holder's (the handshake daemon's descriptor).
            // SAFETY: By the type invariant this value holds a reference to `sock->file`,
            // which it gives up here.
            unsafe { bindings::__fput_sync((*sock).file) };
        } else {
            // SAFETY: By the type invariant the socket is owned by this value.
            unsafe { bindings::sock_release(sock) };
        }
    }
}

/// Returns whether the network stack may take references on the `len` bytes of pages from
/// `page` at `offset` (`sendpages_ok`: not a slab page, and a page with a reference count), so
/// that they can be sent zero-copy.
///
/// # Safety
///
/// `page` must be a valid page, followed by the pages the range covers.
pub(crate) unsafe fn sendpages_ok(page: *mut bindings::page, len: u32, offset: u32) -> bool {
    // SAFETY: The caller guarantees the pages.
    unsafe { b::nvmet_tcp_rs_sendpages_ok(page, len as usize, offset as usize) }
}
