// SPDX-License-Identifier: GPL-2.0

//! TLS 1.3 handshakes with a pre-shared key, through the kernel's handshake upcall
//! (`net/handshake`): the kernel asks the `tlshd` daemon in user space, over netlink, to run the
//! handshake on a socket, which `tlshd` receives as a descriptor of the socket's file; `tlshd`
//! sets kTLS up on the socket and reports how it went, which the kernel hands to the requester's
//! done callback.
//!
//! [`Handshake::start`] starts one, as a client (`tls_client_hello_psk`, the host's) or as a
//! server (`tls_server_hello_psk`, the target's, on an accepted connection), for an owner
//! ([`Done`]) that receives the result; [`Handshake::cancel`], or dropping the [`Handshake`],
//! cancels it. [`client_psk`] is the whole of a host's handshake: start, wait with a timeout,
//! cancel on timeout. [`crate::keyring::Key`] is a counted reference to the PSK
//! a handshake named.
//!
//! # The done callback and cancellation
//!
//! Once a request is submitted, the handshake core calls its done callback exactly once (on
//! `tlshd`'s report, on a failure to hand the request to `tlshd`, or when the network namespace
//! goes away), unless `tls_handshake_cancel` returns `true` first. Both paths claim the request
//! with one atomic test-and-set of its "completed" bit, so exactly one wins: a cancel that wins
//! means the callback will never run; a cancel that loses means the callback has run, is
//! running, or is about to run (the winner calls it right after claiming the bit).
//!
//! The callback's argument is therefore a counted reference to the owner (`Arc::into_raw`) that
//! belongs to the callback: the callback takes it back, or a cancel that wins does instead.
//! However late the callback comes, and whatever the starter did meanwhile (it timed out, was
//! signalled, dropped its socket), the owner it reaches is alive; nothing it touches lives on a
//! stack.
//!
//! The core holds a reference to the socket's file while the request is neither done nor
//! cancelled, and each [`Handshake`] holds one more, so that its cancel, which looks the request
//! up by the socket's sock, always finds a live sock. A socket needs a file for a handshake
//! at all (`tlshd` is given a descriptor of it): see [`Socket::file`].
//!
//! What a reference cannot keep alive is the callback's code, which is in this module. Every
//! handshake is counted from before its submission to the end of its callback or to a cancel
//! that won, and module unload waits for the count to fall to zero ([`wait_idle`]): only the
//! callback's return may run after that, as with the C transports' callbacks. [`client_psk`]
//! also waits, when its cancel lost, until the callback has signalled its result, so that a
//! host's connect ends with its handshake.
//!
//! The peer name is not copied by the core, which reads it when `tlshd` accepts the request:
//! possibly after a cancel that won. It is therefore `'static`.

use crate::sock_bindings as b;
use crate::socket::Socket;
use core::ffi::c_void;
use kernel::{
    bindings as kb,
    fs::File,
    prelude::*,
    sync::{
        aref::ARef,
        atomic::{Acquire, Atomic, Relaxed, Release},
        Arc,
    },
    time::{delay::fsleep, Delta, Jiffies},
    types::Opaque,
};

pub(crate) use crate::keyring::KeySerial;

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

/// Most keys a client may offer (`ta_my_peerids`).
pub(crate) const MAX_KEYS: usize = 5;

/// Which side of the handshake the socket takes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    /// The host's: sends the ClientHello, offering [`Psk::keys`].
    Client,
    /// The target's: answers with a ServerHello, with a key of [`Psk::keyring`] that matches
    /// the identity the client offered.
    Server,
}

/// What a PSK handshake is asked to use.
pub(crate) struct Psk<'a> {
    /// Serials of the keys to offer, at least one and at most [`MAX_KEYS`] for a client; a
    /// server offers none.
    pub(crate) keys: &'a [KeySerial],
    /// The keyring `tlshd` may look keys up in (it is linked into `tlshd`'s keyring for the
    /// handshake); 0 for none.
    pub(crate) keyring: KeySerial,
    /// The peer's name, for `tlshd`'s checks and logs (see the module's documentation for why
    /// it is `'static`).
    pub(crate) peer_name: Option<&'static CStr>,
    /// How long `tlshd` may take, in milliseconds; 0 for `tlshd`'s default.
    pub(crate) timeout_ms: u32,
}

/// The owner of a handshake, which receives its result.
pub(crate) trait Done: Send + Sync + 'static {
    /// The handshake ended: `Ok` with the serial of the key the peer was authenticated with
    /// (0 if `tlshd` named none), or `tlshd`'s error. Called at most once per handshake, never
    /// after a [`Handshake::cancel`] that returned `true`, in process context (`tlshd`'s netlink
    /// command, or the network namespace's exit); `this` is the callback's own reference.
    fn done(this: Arc<Self>, result: Result<KeySerial>);
}

/// The error a negative status stands for: tlshd reports any `u32` it likes, negated.
fn status_error(status: i32) -> Error {
    if (-(kb::MAX_ERRNO as i32)..0).contains(&status) {
        Error::from_errno(status)
    } else {
        EIO
    }
}

/// A handshake started on a socket for an owner `T`; cancelled when dropped, unless it was
/// cancelled already.
///
/// # Invariants
///
/// `_file` is the file of the socket the handshake was started on, so `sk`, the socket's sock,
/// is valid for as long as this value. `owner` comes from the `Arc::into_raw` whose reference
/// [`Handshake::start`] gave to the done callback; until a cancel wins, that reference belongs to
/// the callback. `settled` is set once this value cancelled.
pub(crate) struct Handshake<T: Done> {
    _file: ARef<File>,
    sk: *mut b::sock,
    owner: *const T,
    settled: bool,
}

// SAFETY: The raw pointers are only passed to `tls_handshake_cancel`, which may be called from
// any task, and to `Arc::from_raw` of a `T: Send + Sync`.
unsafe impl<T: Done> Send for Handshake<T> {}
// SAFETY: No method takes a shared reference.
unsafe impl<T: Done> Sync for Handshake<T> {}

impl<T: Done> Handshake<T> {
    /// Asks `tlshd` to run a PSK handshake as `side` on the connected `sock`, which must belong
    /// to a file (see [`Socket::file`]); `owner` receives the result ([`Done::done`]).
    ///
    /// The socket is `tlshd`'s until the handshake ends: its owner must not read or write it
    /// meanwhile.
    ///
    /// # Errors
    ///
    /// `EINVAL` if the socket has no file, or a client offers no key or more than
    /// [`MAX_KEYS`]; the core's: `ESRCH` if no `tlshd` listens, `EAGAIN` if too many handshakes
    /// wait, `EBUSY` if one runs on this socket already, `ENOMEM`. The callback never runs
    /// then.
    pub(crate) fn start(sock: &Socket, side: Side, psk: &Psk<'_>, owner: Arc<T>) -> Result<Self> {
        let file = sock.file().ok_or(EINVAL)?;
        let nr = psk.keys.len();
        if nr > MAX_KEYS || (side == Side::Client && nr == 0) {
            return Err(EINVAL);
        }
        let mut args = b::tls_handshake_args {
            ta_sock: sock.as_raw(),
            ta_done: Some(done_callback::<T>),
            ta_peername: psk.peer_name.map_or(core::ptr::null(), |n| n.as_char_ptr()),
            ta_timeout_ms: psk.timeout_ms,
            ta_keyring: psk.keyring,
            // Cannot truncate: at most `MAX_KEYS`.
            ta_num_peerids: nr as u32,
            ..Default::default()
        };
        // PANIC: `nr <= MAX_KEYS`, the array's length.
        args.ta_my_peerids[..nr].copy_from_slice(psk.keys);
        let owner = Arc::into_raw(owner);
        args.ta_data = owner.cast_mut().cast::<c_void>();
        // Before the submission: once it is accepted, the callback may run at once.
        IN_FLIGHT.fetch_add(1, Relaxed);
        // SAFETY: `args` is valid for the call; its socket is connected and has a file, of which
        // `sock` (and `file`) hold references for the call, as the core requires. The core
        // copies everything but the peer name, which is `'static`. The callback and its
        // argument are valid for as long as the request: the argument is a reference the
        // callback owns (see the module's documentation).
        let ret = unsafe {
            match side {
                Side::Client => b::tls_client_hello_psk(&args, kb::GFP_KERNEL),
                Side::Server => b::tls_server_hello_psk(&args, kb::GFP_KERNEL),
            }
        };
        if ret != 0 {
            // SAFETY: A request that was not submitted never calls its callback: the reference
            // `into_raw` gave it is ours again, taken back once.
            drop(unsafe { Arc::from_raw(owner) });
            IN_FLIGHT.fetch_sub(1, Release);
            return Err(status_error(ret));
        }
        // INVARIANT: `file` is the socket's file; the callback owns the reference of `owner`.
        Ok(Self {
            _file: file,
            sk: sock.sk(),
            owner,
            settled: false,
        })
    }

    /// Cancels the handshake: returns the owner's reference the done callback would have had
    /// if the callback will never run, `None` if it has run, is running or is about to run.
    ///
    /// A cancelled handshake may go on in `tlshd`, which holds a descriptor of the socket until
    /// it finishes: shut the socket down to stop it at once.
    pub(crate) fn cancel(mut self) -> Option<Arc<T>> {
        self.settle()
    }

    /// [`Handshake::cancel`], once.
    fn settle(&mut self) -> Option<Arc<T>> {
        if self.settled {
            return None;
        }
        self.settled = true;
        // SAFETY: `sk` is valid while `_file` is held (type invariant). Cancelling a request
        // that is done, or cancelling twice, only returns `false`.
        if !unsafe { b::tls_handshake_cancel(self.sk) } {
            return None;
        }
        IN_FLIGHT.fetch_sub(1, Release);
        // SAFETY: A cancel that won means the callback never runs: the reference `start`
        // gave it (type invariant) is ours, taken back once (`settled`).
        Some(unsafe { Arc::from_raw(self.owner) })
    }
}

impl<T: Done> Drop for Handshake<T> {
    fn drop(&mut self) {
        drop(self.settle());
    }
}

/// The done callback of every handshake (`ta_done`).
///
/// # Safety
///
/// Called by the handshake core at most once per request [`Handshake::start`] submitted for
/// `T`, and never after a cancel that won, with that request's `ta_data`.
unsafe extern "C" fn done_callback<T: Done>(data: *mut c_void, status: i32, peerid: KeySerial) {
    // SAFETY: `data` is the reference `start` gave the callback (`Arc::into_raw` of an
    // `Arc<T>`), still the callback's since no cancel won; this is the one call that takes it.
    let owner = unsafe { Arc::<T>::from_raw(data.cast_const().cast::<T>()) };
    let result = if status == 0 {
        Ok(peerid)
    } else {
        Err(status_error(status))
    };
    T::done(owner, result);
    // Last: the owner, and whatever of it `done` kept, is gone.
    IN_FLIGHT.fetch_sub(1, Release);
}

/// The owner of a [`client_psk`] handshake: a completion the starter waits on, and the result.
#[pin_data]
struct Waiter {
    #[pin]
    done: Opaque<kb::completion>,
    /// The result, written before `done` is completed: 0 or an errno.
    status: Atomic<i32>,
    /// The peer's key, written with `status`.
    peer: Atomic<i32>,
}

// SAFETY: A `struct completion` is made to be completed and waited for from any task; the
// other fields are atomics.
unsafe impl Send for Waiter {}
// SAFETY: Shared references only complete or wait for the completion, which its own lock
// serialises, and load or store the atomics.
unsafe impl Sync for Waiter {}

impl Waiter {
    fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            done <- Opaque::ffi_init(|slot: *mut kb::completion| {
                // SAFETY: `slot` is valid for writes, pinned, and not yet in use.
                unsafe { kb::init_completion(slot) }
            }),
            status: Atomic::new(0),
            peer: Atomic::new(0),
        })
    }
}

impl Done for Waiter {
    fn done(this: Arc<Self>, result: Result<KeySerial>) {
        match result {
            Ok(peer) => this.peer.store(peer, Relaxed),
            Err(e) => this.status.store(e.to_errno(), Relaxed),
        }
        // The completion's lock orders the stores before the waiter's loads: the waiter sees
        // the completion done under the same lock `complete` takes.
        // SAFETY: `done` was initialised by `Waiter::new`, and `this` keeps it alive.
        unsafe { kb::complete(this.done.get()) };
        // `this`, the callback's reference, goes here; the starter holds its own.
    }
}

/// Why [`client_psk`] failed.
#[derive(Clone, Copy)]
pub(crate) enum Failure {
    /// The handshake could not be started (see [`Handshake::start`]).
    Start(Error),
    /// No result in time (`ETIMEDOUT`), or the waiting task was signalled (`ERESTARTSYS`): the
    /// handshake was cancelled, and no callback of it runs any more.
    Wait(Error),
    /// `tlshd` reported this failure.
    Done(Error),
}

/// Runs the client side of a PSK handshake on the connected `sock` (which must belong to a
/// file) and waits for it at most `timeout` (interruptibly, as the C host): returns the serial
/// of the key the handshake authenticated the server with (0 if `tlshd` named none). On
/// success the socket carries kTLS.
///
/// On a timeout or a signal the handshake is cancelled; if its callback is already underway,
/// this waits for it to signal (it does nothing else): no callback is left behind.
///
/// # Errors
///
/// See [`Failure`].
pub(crate) fn client_psk(
    sock: &Socket,
    psk: &Psk<'_>,
    timeout: Jiffies,
) -> Result<KeySerial, Failure> {
    let waiter = Arc::pin_init(Waiter::new(), GFP_KERNEL).map_err(Failure::Start)?;
    let handshake =
        Handshake::start(sock, Side::Client, psk, waiter.clone()).map_err(Failure::Start)?;
    // SAFETY: `done` is initialised, and `waiter` keeps it alive.
    let left = unsafe { kb::wait_for_completion_interruptible_timeout(waiter.done.get(), timeout) };
    if left <= 0 {
        let e = if left < 0 { ERESTARTSYS } else { ETIMEDOUT };
        if handshake.cancel().is_none() {
            // The callback is underway: it only stores the result and completes.
            // SAFETY: `done` is initialised, and `waiter` keeps it alive.
            unsafe { kb::wait_for_completion(waiter.done.get()) };
        }
        return Err(Failure::Wait(e));
    }
    // Done: the cancel of the drop finds the request completed and does nothing.
    drop(handshake);
    match waiter.status.load(Relaxed) {
        0 => Ok(waiter.peer.load(Relaxed)),
        e => Err(Failure::Done(status_error(e))),
    }
}
