// SPDX-License-Identifier: GPL-2.0

//! Network namespaces (`struct net`), reference-counted: the namespace a host controller
//! connects from, and the one a target port listens in.
//!
//! The kernel crate has no network namespace type; this one is written as its `PidNamespace`
//! is: an opaque wrapper that is [`AlwaysRefCounted`] through `get_net`/`put_net`, so that an
//! `ARef<Net>` keeps the namespace alive for as long as it is held.

use crate::sock_bindings as b;
use core::ptr::NonNull;
use kernel::{
    bindings,
    sync::aref::{ARef, AlwaysRefCounted},
    types::Opaque,
};

/// A network namespace.
///
/// # Invariants
///
/// Instances are always reference-counted: a shared reference means the count is non-zero.
#[repr(transparent)]
pub(crate) struct Net(Opaque<bindings::net>);

impl Net {
    /// Returns the network namespace of the calling task, counted; `None` if the task has no
    /// namespaces any more (it is exiting).
    ///
    /// A kernel thread's is the initial namespace. A host controller takes the namespace of the
    /// process that creates it this way, once, and uses it for every connection it makes later,
    /// from work items too (the C host reads the namespace of whatever task connects a queue,
    /// so a reconnect from a kworker would connect from the initial one).
    pub(crate) fn current() -> Option<ARef<Self>> {
        // SAFETY: The helper reads `current->nsproxy`, which only the task itself changes, and
        // the task is running this: not a data race.
        let nsproxy = unsafe { b::nvmet_tcp_rs_current_nsproxy() };
        if nsproxy.is_null() {
            return None;
        }
        // SAFETY: A task's non-null `nsproxy` is valid and holds a reference to its `net_ns`,
        // which is never null, while the task uses it: the task is running this and cannot
        // switch it meanwhile.
        let net = unsafe { (*nsproxy).net_ns };
        // SAFETY: `net` is valid with a non-zero count (see above) for this function's
        // duration, over which the reference lives; `ARef::from` takes a count of its own.
        Some(ARef::from(unsafe { &*net.cast::<Self>() }))
    }

    /// Returns the raw namespace, for the socket calls of [`crate::socket`] and
    /// [`crate::sockaddr`].
    pub(crate) fn as_ptr(&self) -> *mut bindings::net {
        self.0.get()
    }
}

// SAFETY: By the type invariant instances are always reference-counted; `get_net` and `put_net`
// take and drop a count.
unsafe impl AlwaysRefCounted for Net {
    fn inc_ref(&self) {
        // SAFETY: The shared reference means the count is non-zero.
        unsafe { b::nvmet_tcp_rs_get_net(self.as_ptr()) };
    }

    /// # Safety
    ///
    /// `obj` must be a namespace on which the caller holds a count, which it gives up.
    unsafe fn dec_ref(obj: NonNull<Self>) {
        // SAFETY: The caller gives up a count it holds, so the count is non-zero.
        unsafe { b::nvmet_tcp_rs_put_net(obj.cast().as_ptr()) };
    }
}

// SAFETY: A namespace's count may be taken and dropped from any thread (`put_net` defers the
// teardown to a work item).
unsafe impl Send for Net {}
// SAFETY: Shared references only take counts and give the pointer to socket calls, which lock
// what they use.
unsafe impl Sync for Net {}
