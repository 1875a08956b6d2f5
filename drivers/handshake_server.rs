// SPDX-License-Identifier: GPL-2.0

//! The server side of a TLS 1.3 handshake with a pre-shared key, on an accepted connection,
//! through the kernel's handshake upcall (`net/handshake`, served in user space by `tlshd`),
//! which leaves kTLS set up on the socket when it succeeds; and the PSK it names ([`Key`]).
//!
//! [`start`] asks for the handshake and returns a [`PskHandshake`], the right to cancel it;
//! the result reaches the socket's owner through [`HandshakeDone::handshake_done`].
//!
//! # Who holds the owner, and why the callback never runs on a freed one
//!
//! [`start`] hands a counted reference to the owner (an `Arc<T>`, turned into a raw pointer)
//! to the handshake layer as the request's `ta_data`. `handshake_req_submit` guarantees that a
//! request it accepted (it returned 0) ends in exactly one of two ways, settled by one atomic
//! bit of the request (`HANDSHAKE_F_REQ_COMPLETED`, set by whichever comes first):
//!
//! - the completion callback (`ta_done`) runs, once: [`done_callback`] takes the reference
//!   back and hands it to [`HandshakeDone::handshake_done`], which owns it from then on;
//! - `tls_handshake_cancel` returns `true`: the callback will never run, and
//!   [`PskHandshake::cancel`] takes the reference back.
//!
//! When `tls_handshake_cancel` returns `false`, the callback has run, runs, or is about to run
//! on another CPU, with the reference: what it reaches stays alive until it lets the reference
//! go. So no order of completion, timeout and teardown frees the owner under the callback,
//! and the reference is neither leaked nor dropped twice. A request the layer refused (a
//! non-zero return) gets no callback: [`start`] takes the reference back at once.
//!
//! The cancel needs the socket's `struct sock`, which a [`PskHandshake`] keeps alive with a
//! reference of its own (`sock_hold`), so it may be used or dropped at any time, even after the
//! socket's owner is gone. A socket has at most one request in its life (the layer refuses a
//! second one with `EBUSY`, and forgets a request only when the sock is destroyed), so the
//! request a cancel finds is the one its [`PskHandshake`] started.
//!
//! What remains is the module's code: [`done_callback`] is code of this module, and may run
//! after its owner is torn down (a cancel that lost). Every handshake is counted from before
//! its submission to the end of its callback (after `handshake_done` dropped the owner) or a
//! cancel that won, and module unload waits for the count to fall to zero ([`wait_idle`]): only
//! the callback's return may run after that, as with the C transport's callback (`kref_put`
//! then return).

use crate::sock_bindings as b;
use crate::socket::Socket;
use core::{marker::PhantomData, ptr::NonNull};
use kernel::{
    bindings,
    ffi::c_void,
    prelude::*,
    sync::{
        atomic::{Acquire, Atomic, Relaxed, Release},
        Arc,
    },
    time::{delay::fsleep, Delta},
};

/// Handshakes whose callback may still run: from before their submission to the end of their
/// callback, or to a cancel that won.
static IN_FLIGHT: Atomic<u32> = Atomic::new(0);

/// Waits until no handshake's callback may run any more, sleeping 100 ms at a time, at most
/// `max_waits` times (module unload, once every owner was shut down: their handshakes end or
/// are cancelled). Returns whether none is left.
pub(crate) fn wait_idle(max_waits: u32) -> bool {
    for _ in 0..max_waits {
        if IN_FLIGHT.load(Acquire) == 0 {
            return true;
        }
        fsleep(Delta::from_millis(100));
    }
    IN_FLIGHT.load(Acquire) == 0
}

/// A key's serial number (`key_serial_t`), by which the handshake layer and the keyrings name
/// keys; 0 names none.
pub(crate) type KeySerial = bindings::key_serial_t;

/// The owner of a socket on which [`start`] runs a handshake.
pub(crate) trait HandshakeDone: Send + Sync + 'static {
    /// The handshake ended: `Ok(peerid)`, the serial of the PSK the client's session uses, or
    /// the error the handshake agent or the layer reported (`ETIMEDOUT`, `EACCES`, `EIO`...).
    ///
    /// Called once per handshake, in process context (the agent's netlink request, or the
    /// layer's own failure paths), unless [`PskHandshake::cancel`] won; it may sleep. `this`
    /// is the reference [`start`] was given.
    fn handshake_done(this: Arc<Self>, result: Result<KeySerial>);
}

/// A handshake [`start`] asked for: the right to cancel it.
///
/// Dropping it does not cancel the handshake, whose result then still reaches the owner.
///
/// # Invariants
///
/// `sk` is the sock of the socket the handshake was asked for, with a reference of this value
/// (`sock_hold`). `owner` is the pointer of the `Arc<T>` given to the handshake layer as the
/// request's `ta_data`, whose callback is [`done_callback::<T>`].
pub(crate) struct PskHandshake<T: HandshakeDone> {
    sk: NonNull<b::sock>,
    owner: *const T,
    _owner: PhantomData<Arc<T>>,
}

// SAFETY: The value holds a reference to a sock, which may be used and put from any thread,
// and the address of an `Arc<T>` with `T: Send + Sync`, which it may turn back into that `Arc`
// on any thread.
unsafe impl<T: HandshakeDone> Send for PskHandshake<T> {}
// SAFETY: Shared references give access to nothing (every method takes the value).
unsafe impl<T: HandshakeDone> Sync for PskHandshake<T> {}

/// Asks for the server side of a TLS 1.3 handshake with a PSK on `sock` (an accepted
/// connection with a file, [`Socket::with_file`]), by the agent that serves the handshake
/// upcall in `sock`'s network namespace: it looks the client's PSK identity up in `keyring`
/// (0: its default keyrings) and gives up after `timeout_ms` (0: its own default).
///
/// While it runs, the agent reads and writes the socket: its owner must not have callbacks
/// installed that consume what arrives. The result goes to `T::handshake_done(owner, ...)`.
/// Sleeps (allocates with `GFP_KERNEL`).
///
/// # Errors
///
/// `EINVAL` for a socket without a file, `ESRCH` if no agent listens, `EBUSY` if the socket
/// had a handshake already, `ENOMEM` and the like; `owner` is then dropped and no callback
/// follows.
pub(crate) fn start<T: HandshakeDone>(
    sock: &Socket,
    owner: Arc<T>,
    keyring: KeySerial,
    timeout_ms: u32,
) -> Result<PskHandshake<T>> {
    if !sock.has_file() {
        return Err(EINVAL);
    }
    // Never null for a valid socket (the `Socket` invariant).
    let sk = NonNull::new(sock.sk()).ok_or(EINVAL)?;
    let data = Arc::into_raw(owner);
    let args = b::tls_handshake_args {
        ta_sock: sock.as_raw(),
        ta_done: Some(done_callback::<T>),
        ta_data: data.cast_mut().cast::<c_void>(),
        ta_timeout_ms: timeout_ms,
        ta_keyring: keyring,
        ..Default::default()
    };
    // Before the submission: once it is accepted, the callback may run at once and the owner,
    // with the socket, go away.
    // SAFETY: `sk` is the valid sock of `sock`, borrowed for the call.
    unsafe { b::nvmet_tcp_rs_sock_hold(sk.as_ptr()) };
    IN_FLIGHT.fetch_add(1, Relaxed);
    // SAFETY: `args` is valid for the call. `sock` has a file, of which it owns a reference for
    // the whole call (as `handshake_req_submit` requires). `ta_data` is a reference to a `T`,
    // which `done_callback::<T>` takes back (see the module's documentation).
    let ret = unsafe { b::tls_server_hello_psk(&args, bindings::GFP_KERNEL) };
    if ret != 0 {
        // SAFETY: Taken above.
        unsafe { b::nvmet_tcp_rs_sock_put(sk.as_ptr()) };
        // SAFETY: The request was refused: no callback runs, and the reference given as
        // `ta_data` is still this function's, from `Arc::into_raw` above.
        drop(unsafe { Arc::from_raw(data) });
        IN_FLIGHT.fetch_sub(1, Release);
        return Err(Error::from_errno(ret));
    }
    // INVARIANT: `sk` is `sock`'s, held above; `data` is the request's `ta_data`, whose
    // callback is `done_callback::<T>`.
    Ok(PskHandshake {
        sk,
        owner: data,
        _owner: PhantomData,
    })
}

impl<T: HandshakeDone> PskHandshake<T> {
    /// Cancels the handshake (`tls_handshake_cancel`): `Some(owner)`, the reference [`start`]
    /// was given, if it was still running, and no result will come; `None` if it has ended
    /// (or is ending): its result comes, or came, to `T::handshake_done`.
    ///
    /// A cancelled handshake may go on in the agent, which holds a descriptor of the socket
    /// until it finishes: shut the socket down to stop it at once.
    pub(crate) fn cancel(self) -> Option<Arc<T>> {
        // SAFETY: `sk` is valid: this value holds a reference to it (type invariant). May be
        // called in any context.
        let cancelled = unsafe { b::tls_handshake_cancel(self.sk.as_ptr()) };
        // SAFETY: The request was cancelled before it completed, so its callback never runs,
        // and the reference given as its `ta_data` (type invariant) is ours again; `self` is
        // consumed, so it is taken back once.
        let owner = cancelled.then(|| unsafe { Arc::from_raw(self.owner) });
        if owner.is_some() {
            IN_FLIGHT.fetch_sub(1, Release);
        }
        owner
    }
}

impl<T: HandshakeDone> Drop for PskHandshake<T> {
    fn drop(&mut self) {
        // SAFETY: The reference this value holds (type invariant), put once.
        unsafe { b::nvmet_tcp_rs_sock_put(self.sk.as_ptr()) };
    }
}

/// `ta_done` of a handshake [`start`] asked for with an owner of type `T`.
///
/// # Safety
///
/// Called by the handshake layer once for a request [`start::<T>`] submitted, unless the
/// request was cancelled, with its `ta_data`: the pointer of an `Arc<T>`.
unsafe extern "C" fn done_callback<T: HandshakeDone>(
    data: *mut c_void,
    status: i32,
    peerid: KeySerial,
) {
    // SAFETY: `data` is the `Arc<T>` `start` gave the layer, which calls this once and only if
    // no cancel took the reference back (see the module's documentation): it is ours now.
    let owner = unsafe { Arc::from_raw(data.cast_const().cast::<T>()) };
    let result = match status {
        0 => Ok(peerid),
        // The agent's status is a negative errno; anything else is reported as an I/O error.
        s if s < 0 && s >= -(bindings::MAX_ERRNO as i32) => Err(Error::from_errno(s)),
        _ => Err(EIO),
    };
    T::handshake_done(owner, result);
    // Last: the owner, and whatever of it `handshake_done` kept, is gone.
    IN_FLIGHT.fetch_sub(1, Release);
}

/// A counted reference to a key (`struct key`); put when dropped.
///
/// # Invariants
///
/// `key` is a valid key of which this value owns a reference.
pub(crate) struct Key {
    key: NonNull<bindings::key>,
}

// SAFETY: A key reference may be used and put from any thread.
unsafe impl Send for Key {}
// SAFETY: Shared references only read the key's serial, fixed for its life.
unsafe impl Sync for Key {}

impl Key {
    /// Looks up the TLS PSK with serial `serial` (`nvme_tls_key_lookup`, as the C transports:
    /// found, and not revoked).
    ///
    /// # Errors
    ///
    /// `ENOKEY`, `EKEYREVOKED` and the like (the lookup logs them).
    pub(crate) fn tls_psk(serial: KeySerial) -> Result<Self> {
        // SAFETY: The lookup takes any serial and returns a counted key or an error pointer.
        let key = kernel::error::from_err_ptr(unsafe { b::nvme_tls_key_lookup(serial) })?;
        // INVARIANT: The lookup returned a reference to a valid key.
        Ok(Self {
            key: NonNull::new(key).ok_or(ENOKEY)?,
        })
    }

    /// Returns the key's serial number.
    pub(crate) fn serial(&self) -> KeySerial {
        // SAFETY: The key is valid (type invariant); its serial is set when it is made.
        unsafe { (*self.key.as_ptr()).serial }
    }

    /// Gives the reference up, to a C structure that will put it.
    pub(crate) fn into_raw(self) -> *mut bindings::key {
        let key = self.key.as_ptr();
        core::mem::forget(self);
        key
    }

    /// Takes a reference back from a C structure.
    ///
    /// # Safety
    ///
    /// `key` must be a valid key whose reference the caller owns and gives to the new value.
    pub(crate) unsafe fn from_raw(key: NonNull<bindings::key>) -> Self {
        // INVARIANT: As the caller guarantees.
        Self { key }
    }
}

impl Drop for Key {
    fn drop(&mut self) {
        // SAFETY: The reference this value owns (type invariant), put once.
        unsafe { bindings::key_put(self.key.as_ptr()) };
    }
}
