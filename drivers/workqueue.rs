// SPDX-License-Identifier: GPL-2.0

//! What the modules need of workqueues beyond [`kernel::workqueue`]: waiting for a work item
//! ([`flush`]), cancelling a delayed one ([`cancel_delayed_sync`]), and the `nvmet` core's
//! workqueue.
//!
//! Written as the kernel crate's own work items are: the work is found through [`HasWork`], and
//! a cancelled item gives back the reference its queueing took.

use kernel::{
    bindings,
    sync::aref::{ARef, AlwaysRefCounted},
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

/// Cancels the delayed work item `ID` of `this` and waits for it if it runs
/// (`cancel_delayed_work_sync`). Returns the reference its queueing took if it was queued and
/// will not run now.
pub(crate) fn cancel_delayed_sync<T, const ID: u64>(this: &T) -> Option<ARef<T>>
where
    T: HasDelayedWork<T, ID> + WorkItem<ID, Pointer = ARef<T>> + AlwaysRefCounted,
{
    // SAFETY: `this` is a valid `T`, so `raw_get_work` returns its `Work` field, initialised
    // with it, and `raw_get` its `work_struct`; by `HasDelayedWork`, the `work` of a
    // `delayed_work`.
    let work = unsafe { Work::raw_get(T::raw_get_work(core::ptr::from_ref(this).cast_mut())) };
    // SAFETY: `work` is the `work` field of a `delayed_work` (see above).
    let dwork = unsafe { kernel::container_of!(work, bindings::delayed_work, work) };
    // SAFETY: `dwork` is a valid, initialised `delayed_work` for the call.
    let pending = unsafe { bindings::cancel_delayed_work_sync(dwork) };
    // SAFETY: A pending work item of `T` was queued as an `ARef<T>` (its `Pointer`), whose
    // reference `__enqueue` leaked for the work to take back when it runs; it will not run now,
    // so the reference is ours to give back.
    pending.then(|| unsafe { ARef::from_raw(core::ptr::NonNull::from(this)) })
}
