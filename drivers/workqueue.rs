// SPDX-License-Identifier: GPL-2.0

//! What the modules need of workqueues beyond [`kernel::workqueue`]: waiting for a work item
//! ([`flush`]), cancelling a delayed one ([`cancel_delayed_sync`]), and the `nvmet` core's
//! workqueue.
//!
//! Written as the kernel crate's own work items are: the work is found through [`HasWork`], and
//! a cancelled item gives back the reference its queueing took.

use kernel::{
    bindings,
    sync::{
        aref::{ARef, AlwaysRefCounted},
        Arc,
    },
    workqueue::{HasDelayedWork, HasWork, Work, WorkItem},
};

/// Waits until the work item `ID` of `this` has finished, if it is queued or running; returns
/// whether it had to wait (`flush_work`).
pub(crate) fn flush<T: HasWork<T, ID>, const ID: u64>(this: &T) -> bool {
    // SAFETY: `this` is a valid `T`, so `raw_get_work` returns its `Work` field, initialised
    // when `this` was (a `Work` is only made by `Work::new`), and `raw_get` its `work_struct`.
    let work = unsafe { Work::raw_get(T::raw_get_work(core::ptr::from_ref(this).cast_mut())) };
    // SAFETY: `work` is a valid, initialised `work_struct` for the call.
    unsafe { bindings::flush_work(work) }
}

/// A pointer type a work item is queued as ([`WorkItem::Pointer`]), which can give back the
/// reference a queueing took when the item is cancelled before it runs.
pub(crate) trait Reclaim<T>: Sized {
    /// Takes back the reference that queueing `this` as `Self` leaked.
    ///
    /// # Safety
    ///
    /// `this` was queued as a `Self` and will not run for that queueing, and the reference
    /// that queueing leaked was not taken back yet.
    unsafe fn reclaim(this: &T) -> Self;
}

impl<T: AlwaysRefCounted> Reclaim<T> for ARef<T> {
    /// # Safety
    ///
    /// As [`Reclaim::reclaim`].
    unsafe fn reclaim(this: &T) -> Self {
        // SAFETY: `__enqueue` leaked the reference of an `ARef<T>` pointing at `this` (the
        // caller guarantees it was queued as one and not taken back), which is ours now.
        unsafe { ARef::from_raw(core::ptr::NonNull::from(this)) }
    }
}

impl<T> Reclaim<T> for Arc<T> {
    /// # Safety
    ///
    /// As [`Reclaim::reclaim`].
    unsafe fn reclaim(this: &T) -> Self {
        // SAFETY: `__enqueue` got `this` from `Arc::into_raw` of an `Arc<T>` (the caller
        // guarantees it was queued as one), whose reference was not taken back.
        unsafe { Arc::from_raw(core::ptr::from_ref(this)) }
    }
}

/// Cancels the delayed work item `ID` of `this` and waits for it if it runs
/// (`cancel_delayed_work_sync`). Returns the reference its queueing took if it was queued and
/// will not run now.
pub(crate) fn cancel_delayed_sync<T, const ID: u64>(this: &T) -> Option<T::Pointer>
where
    T: HasDelayedWork<T, ID> + WorkItem<ID>,
    T::Pointer: Reclaim<T>,
{
    // SAFETY: `this` is a valid `T`, so `raw_get_work` returns its `Work` field, initialised
    // with it, and `raw_get` its `work_struct`; by `HasDelayedWork`, the `work` of a
    // `delayed_work`.
    let work = unsafe { Work::raw_get(T::raw_get_work(core::ptr::from_ref(this).cast_mut())) };
    // SAFETY: `work` is the `work` field of a `delayed_work` (see above).
    let dwork = unsafe { kernel::container_of!(work, bindings::delayed_work, work) };
    // SAFETY: `dwork` is a valid, initialised `delayed_work` for the call.
    let pending = unsafe { bindings::cancel_delayed_work_sync(dwork) };
    // SAFETY: A pending work item of `T` was queued as a `T::Pointer`, whose reference
    // `__enqueue` leaked for the work to take back when it runs; it will not run now, so the
    // reference is ours to take back, once.
    pending.then(|| unsafe { T::Pointer::reclaim(this) })
}
