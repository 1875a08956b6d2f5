// SPDX-License-Identifier: GPL-2.0

//! The `sk_*` callbacks through which the network stack wakes a socket's owner: installed by
//! [`Socket::install`], put back by [`Hooks::restore`].
//!
//! The owner is an `Arc<T>`, kept with what the callbacks need of the socket's own in a box
//! that `sk_user_data` points to. Callbacks run in softirq context under the socket's callback
//! lock, taken for reading; installing and restoring take it for writing, so no callback runs
//! with an owner that is being taken away.
//!
//! On a socket with an upper-layer protocol (kTLS), the socket's own `sk_write_space` runs
//! before the owner's, as the C host has it: kTLS pushes the records it holds from there.

use crate::sock_bindings as b;
use crate::socket::Socket;
use core::marker::PhantomData;
use kernel::{
    bindings,
    ffi::c_void,
    prelude::*,
    sync::{Arc, ArcBorrow},
};

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

/// A socket callback.
type Hook = unsafe extern "C" fn(*mut b::sock);

/// The three callbacks an owner replaces, as they were.
#[derive(Clone, Copy)]
struct Saved {
    data_ready: Option<Hook>,
    write_space: Option<Hook>,
    state_change: Option<Hook>,
}

/// What `sk_user_data` points to while the callbacks of `T` are installed.
struct Installed<T> {
    owner: Arc<T>,
    /// The socket's own `sk_write_space`, called before the owner's on a socket with an
    /// upper-layer protocol (kTLS: it pushes pending records), else `None`.
    chained_write_space: Option<Hook>,
}

/// The callbacks a socket had before [`Socket::install`]; put back by [`Hooks::restore`].
///
/// # Invariants
///
/// `sk` is the sock of the socket the callbacks of `T` were installed on, with a
/// `KBox<Installed<T>>` in its `sk_user_data` until [`Hooks::restore`].
pub(crate) struct Hooks<T> {
    saved: Saved,
    sk: *mut b::sock,
    _owner: PhantomData<Arc<T>>,
}

// SAFETY: The saved callbacks are plain function pointers; `sk` is only compared and used with
// the socket it belongs to, which the caller passes in.
unsafe impl<T> Send for Hooks<T> {}
// SAFETY: Shared references to the hooks only read plain function pointers and an address.
unsafe impl<T> Sync for Hooks<T> {}

/// Runs `f` under the socket's callback lock, taken for writing.
///
/// # Safety
///
/// `sk` must be a valid sock.
unsafe fn with_callbacks_locked<R>(sk: *mut b::sock, f: impl FnOnce() -> R) -> R {
    // SAFETY: `sk` is valid (the caller guarantees it).
    unsafe { b::nvmet_tcp_rs_sk_callbacks_write_lock(sk) };
    let r = f();
    // SAFETY: Taken above.
    unsafe { b::nvmet_tcp_rs_sk_callbacks_write_unlock(sk) };
    r
}

/// Returns the state of `sk` (`TCP_*`), as `READ_ONCE(sk->sk_state)`.
///
/// # Safety
///
/// `sk` must be a valid sock.
unsafe fn state(sk: *const b::sock) -> u32 {
    // SAFETY: `sk` is valid; the state is a byte the stack changes under its own lock, read
    // once as C does.
    u32::from(unsafe { core::ptr::read_volatile(&raw const (*sk).__sk_common.skc_state) })
}

impl Socket {
    /// Makes `owner` receive this socket's callbacks; the socket keeps a reference to it until
    /// [`Hooks::restore`].
    ///
    /// Unless `listening`, fails with `ENOTCONN` if the connection is no longer established
    /// (a close before the callbacks were in place would go unnoticed). With `listening`, only
    /// `data_ready` is replaced.
    pub(crate) fn install<T: Callbacks>(&self, owner: Arc<T>, listening: bool) -> Result<Hooks<T>> {
        let sk = self.sk();
        // SAFETY: `sk` is valid. An upper-layer protocol is set up by `setsockopt` before the
        // socket is handed to its owner, and stays.
        let ulp = !listening && unsafe { b::nvmet_tcp_rs_sk_has_ulp(sk) };
        let installed = KBox::new(
            Installed {
                owner,
                chained_write_space: None,
            },
            GFP_KERNEL,
        )?;
        let user = KBox::into_raw(installed);
        // SAFETY: `sk` is the valid sock of this socket; the callbacks and `sk_user_data` are
        // changed under the callback lock, as the stack reads them. `user` is the box made
        // above, not shared yet.
        let saved = unsafe {
            with_callbacks_locked(sk, || {
                if !listening && state(sk) != b::TCP_ESTABLISHED {
                    return None;
                }
                let saved = Saved {
                    data_ready: (*sk).sk_data_ready,
                    write_space: (*sk).sk_write_space,
                    state_change: (*sk).sk_state_change,
                };
                if ulp {
                    (*user).chained_write_space = saved.write_space;
                }
                (*sk).sk_user_data = user.cast::<c_void>();
                (*sk).sk_data_ready = Some(data_ready_callback::<T>);
                if !listening {
                    (*sk).sk_write_space = Some(write_space_callback::<T>);
                    (*sk).sk_state_change = Some(state_change_callback::<T>);
                }
                Some(saved)
            })
        };
        let Some(saved) = saved else {
            // SAFETY: `user` was not stored; the box is taken back.
            drop(unsafe { KBox::from_raw(user) });
            return Err(ENOTCONN);
        };
        // INVARIANT: The callbacks of `T` and the owner were installed on `sk`.
        Ok(Hooks {
            saved,
            sk,
            _owner: PhantomData,
        })
    }
}

impl<T: Callbacks> Hooks<T> {
    /// Restores the previous callbacks of `sock` and returns the owner's reference the socket
    /// held. After this no callback of `T` runs for the socket.
    ///
    /// `sock` must be the socket the callbacks were installed on; for another, nothing is
    /// changed (the owner's reference stays with the hooks' socket) and `None` is returned.
    pub(crate) fn restore(self, sock: &Socket) -> Option<Arc<T>> {
        let sk = sock.sk();
        if sk != self.sk {
            pr_warn!("socket callbacks restored on a socket they were not installed on\n");
            return None;
        }
        let saved = self.saved;
        // SAFETY: `sk` is the valid sock of `sock`; the callbacks are changed under the lock.
        let user = unsafe {
            with_callbacks_locked(sk, || {
                let user = (*sk).sk_user_data;
                (*sk).sk_user_data = core::ptr::null_mut();
                (*sk).sk_data_ready = saved.data_ready;
                (*sk).sk_write_space = saved.write_space;
                (*sk).sk_state_change = saved.state_change;
                user
            })
        };
        if user.is_null() {
            return None;
        }
        // SAFETY: By the type invariant `install` stored a `KBox<Installed<T>>` from
        // `into_raw` in `sk_user_data`, and only this function, which consumes the hooks,
        // removes it; no callback uses it any more (they read it under the lock taken above).
        let installed = unsafe { KBox::from_raw(user.cast::<Installed<T>>()) };
        Some(KBox::into_inner(installed).owner)
    }
}

impl<T: Callbacks> Hooks<T> {
    /// Gives `conn`, a connection accepted on the listening socket these hooks were installed
    /// on, the listener's `data_ready` from before [`Socket::install`] and no owner: a
    /// connection starts with a copy of its listener's callbacks and `sk_user_data`, and so
    /// becomes a socket of its own, which wakes its readers (a handshake agent in user space,
    /// say) as the stack does. The C target does the same before a TLS handshake. `write_space`
    /// and `state_change` are the listener's own already (a listening install keeps them).
    ///
    /// Meant for before `conn` has callbacks of its own installed ([`Socket::install`] after
    /// this saves what this sets): an owner installed before would lose its callbacks, and the
    /// reference the socket held to it would be leaked.
    #[allow(dead_code)] // The target's: the host does not listen.
    pub(crate) fn reset_accepted(&self, conn: &Socket) {
        let sk = conn.sk();
        let Some(data_ready) = self.saved.data_ready else {
            return;
        };
        // SAFETY: `sk` is the valid sock of `conn`; its callbacks and `sk_user_data` are
        // changed under the callback lock, as the stack reads them. A fresh connection holds
        // a copy of the listener's pointer to the box `install` made, which the listener owns,
        // so clearing it frees nothing (misused, it leaks a reference; it never frees one). With
        // `sk_user_data` cleared any callback of ours left on the socket does nothing, and
        // `data_ready` is what the listener had before ours: the stack's, valid for any sock,
        // or one of ours, which does nothing without an owner.
        unsafe {
            with_callbacks_locked(sk, || {
                (*sk).sk_user_data = core::ptr::null_mut();
                (*sk).sk_data_ready = Some(data_ready);
            })
        };
    }
}

/// Runs `f` with what [`Socket::install`] put in `sk_user_data`, under the socket's callback
/// lock, if it is still there.
///
/// # Safety
///
/// `sk` must be a valid sock whose `sk_user_data`, when set, is a `KBox<Installed<T>>` from
/// [`Socket::install`].
unsafe fn with_owner<T: Callbacks>(sk: *mut b::sock, f: impl FnOnce(&Installed<T>)) {
    // SAFETY: `sk` is valid in its callbacks.
    unsafe { b::nvmet_tcp_rs_sk_callbacks_read_lock(sk) };
    // SAFETY: `sk` is valid; `sk_user_data` is read under the callback lock.
    let user = unsafe { (*sk).sk_user_data };
    if !user.is_null() {
        // SAFETY: Under the callback lock `sk_user_data` holds its box, which `restore` takes
        // back only under the lock taken for writing.
        f(unsafe { &*user.cast::<Installed<T>>() });
    }
    // SAFETY: The read lock was taken above.
    unsafe { b::nvmet_tcp_rs_sk_callbacks_read_unlock(sk) };
}

/// `sk_data_ready` of a socket `T` owns.
///
/// # Safety
///
/// Called by the network stack with a valid `sk` whose callbacks `Socket::install::<T>` set.
unsafe extern "C" fn data_ready_callback<T: Callbacks>(sk: *mut b::sock) {
    // Asked at run time, not fixed at install: a connection accepted on a listening socket
    // inherits its callbacks and `sk_user_data` until its queue installs its own.
    // SAFETY: `sk` is valid in its callback.
    let listening = T::LISTENS && unsafe { state(sk) } == b::TCP_LISTEN;
    // SAFETY: Installed by `Socket::install::<T>`.
    unsafe { with_owner::<T>(sk, |i| T::data_ready(i.owner.as_arc_borrow(), listening)) };
}

/// `sk_write_space` of a socket `T` owns.
///
/// # Safety
///
/// Called by the network stack with a valid `sk` whose callbacks `Socket::install::<T>` set.
unsafe extern "C" fn write_space_callback<T: Callbacks>(sk: *mut b::sock) {
    // SAFETY: Installed by `Socket::install::<T>`.
    unsafe {
        with_owner::<T>(sk, |i| {
            // SAFETY: `sk` is valid in its callback.
            if !b::nvmet_tcp_rs_sk_stream_is_writeable(sk) {
                return;
            }
            // SAFETY: While it has an owner (under the callback lock), the sock belongs to a
            // socket of ours, which `sock_release` detaches only under that lock; the stack
            // changes the socket's flags atomically.
            bindings::clear_bit(
                bindings::socket_flags_SOCK_NOSPACE as kernel::ffi::c_ulong,
                &raw mut (*(*sk).sk_socket.cast::<bindings::socket>()).flags,
            );
            if let Some(chained) = i.chained_write_space {
                // SAFETY: The socket's own callback (kTLS's), called as the stack calls it, in
                // this context and with the valid `sk` it belongs to; kTLS keeps its context
                // for as long as the socket has it as its protocol.
                chained(sk);
            }
            T::write_space(i.owner.as_arc_borrow());
        })
    };
}

/// `sk_state_change` of a socket `T` owns.
///
/// # Safety
///
/// Called by the network stack with a valid `sk` whose callbacks `Socket::install::<T>` set.
unsafe extern "C" fn state_change_callback<T: Callbacks>(sk: *mut b::sock) {
    // SAFETY: `sk` is valid in its callback.
    let state = unsafe { state(sk) };
    // The states in which the C transports release a queue.
    let closing = matches!(state, b::TCP_FIN_WAIT1 | b::TCP_CLOSE_WAIT | b::TCP_CLOSE);
    if closing {
        // SAFETY: Installed by `Socket::install::<T>`.
        unsafe { with_owner::<T>(sk, |i| T::closing(i.owner.as_arc_borrow())) };
    }
}
