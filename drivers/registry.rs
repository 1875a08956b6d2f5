// SPDX-License-Identifier: GPL-2.0

//! A module's list of live objects behind a global mutex ([`registry!`]), for what the C core
//! reaches through static callbacks: the host's controllers (deleted at unload), the target's
//! queues (closed by port, by controller, at unload).
//!
//! Built on the kernel crate's [`GlobalLock`], whose initialisation is the caller's promise;
//! here it is a checked rule: [`Registry::init`] runs once, and [`Registry::lock`] before it
//! finds nothing.

use kernel::{
    prelude::*,
    sync::{
        atomic::{Acquire, Atomic, Relaxed, Release},
        lock::{GlobalGuard, GlobalLock, GlobalLockBackend},
    },
};

/// A global list of `T`, declared with [`registry!`].
///
/// # Invariants
///
/// `lock` is initialised once `state` is `READY`; `B` is the backend of this lock alone.
pub(crate) struct Registry<B: GlobalLockBackend> {
    lock: GlobalLock<B>,
    state: Atomic<i32>,
}

const UNINIT: i32 = 0;
const INITIALISING: i32 = 1;
const READY: i32 = 2;

impl<T: 'static, B: GlobalLockBackend<Item = KVec<T>>> Registry<B> {
    /// Returns an uninitialised registry.
    ///
    /// # Safety
    ///
    /// `B` must be used by this registry only (one `static` per backend type: [`registry!`]
    /// makes one).
    pub(crate) const unsafe fn new() -> Self {
        Self {
            // SAFETY: `B` is this lock's alone (the caller guarantees it); `init` runs before
            // any other use, which `lock` checks.
            lock: unsafe { GlobalLock::new(KVec::new()) },
            state: Atomic::new(UNINIT),
        }
    }

    /// Initialises the registry, once (at module load).
    ///
    /// # Errors
    ///
    /// `EBUSY` if it was initialised before.
    pub(crate) fn init(&'static self) -> Result {
        if self.state.cmpxchg(UNINIT, INITIALISING, Relaxed).is_err() {
            return Err(EBUSY);
        }
        // SAFETY: The exchange above lets this run once; no other method uses the lock before
        // `state` is `READY`.
        unsafe { self.lock.init() };
        // INVARIANT: Initialised above.
        self.state.store(READY, Release);
        Ok(())
    }

    /// Locks the list; `None` before [`Registry::init`].
    pub(crate) fn lock(&'static self) -> Option<GlobalGuard<B>> {
        // Acquire: the initialisation is seen.
        (self.state.load(Acquire) == READY).then(|| self.lock.lock())
    }

    /// Adds `x`.
    ///
    /// # Errors
    ///
    /// `ENOMEM` if there is no room, `EINVAL` before [`Registry::init`].
    pub(crate) fn insert(&'static self, x: T) -> Result {
        self.lock().ok_or(EINVAL)?.push(x, GFP_KERNEL)?;
        Ok(())
    }

    /// Removes the first entry for which `pred` holds, and returns it (to be dropped outside the
    /// lock). An empty list gives its memory back: a `static` is never dropped, and a module
    /// must not leave memory behind at unload.
    pub(crate) fn remove_first(&'static self, pred: impl Fn(&T) -> bool) -> Option<T> {
        let mut list = self.lock()?;
        let i = list.iter().position(pred)?;
        let x = list.remove(i).ok();
        if list.is_empty() {
            *list = KVec::new();
        }
        x
    }

    /// Takes every entry out (to be dropped outside the lock).
    pub(crate) fn take_all(&'static self) -> KVec<T> {
        self.lock()
            .map(|mut l| core::mem::take(&mut *l))
            .unwrap_or_default()
    }
}

/// Declares a [`Registry`] of `T` named `NAME` (a `static`).
///
/// ```ignore
/// crate::registry! {
///     /// The controllers of the module.
///     static CTRLS: ARef<Ctrl<Host>>;
/// }
/// ```
#[macro_export]
macro_rules! registry {
    ($(#[$meta:meta])* static $name:ident: $t:ty;) => {
        #[doc = ::core::concat!("Backend of [`", ::core::stringify!($name), "`].")]
        #[allow(non_camel_case_types, unreachable_pub, clippy::upper_case_acronyms)]
        enum $name {}

        impl ::kernel::sync::lock::GlobalLockBackend for $name {
            const NAME: &'static ::kernel::str::CStr = ::kernel::c_str!(::core::stringify!($name));
            type Item = ::kernel::alloc::KVec<$t>;
            type Backend = ::kernel::sync::lock::mutex::MutexBackend;

            fn get_lock_class() -> ::core::pin::Pin<&'static ::kernel::sync::LockClassKey> {
                ::kernel::static_lock_class!()
            }
        }

        $(#[$meta])*
        static $name: $crate::registry::Registry<$name> = {
            // SAFETY: This is the one static of the backend type `$name`, declared just above.
            unsafe { $crate::registry::Registry::new() }
        };
    };
}
