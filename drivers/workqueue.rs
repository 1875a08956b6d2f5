// SPDX-License-Identifier: GPL-2.0

//! The transport's own workqueue, work queued on a given CPU, and the core's `nvmet_wq`.

use crate::nvmet::bindings as b;
use kernel::{
    bindings,
    prelude::*,
    sync::atomic::{Acquire, Atomic, Relaxed, Release},
    workqueue::{Queue, RawWorkItem},
};

/// The module's own workqueue (`nvmet_tcp_wq`: per-CPU, high priority, reclaim-safe, as the C
/// transport's), kept in a `static` so that work items can reach it from any context.
///
/// # Invariants
///
/// `wq` is null or a valid workqueue allocated by [`ModuleQueue::create`] and not yet destroyed.
pub(crate) struct ModuleQueue {
    wq: Atomic<*mut bindings::workqueue_struct>,
}

impl ModuleQueue {
    /// Returns an empty slot; [`ModuleQueue::create`] allocates the queue.
    pub(crate) const fn new() -> Self {
        Self {
            wq: Atomic::new(core::ptr::null_mut()),
        }
    }

    /// Allocates the workqueue; called once, at module load.
    pub(crate) fn create(&self) -> Result {
        // SAFETY: The helper has no preconditions.
        let wq = unsafe { b::nvmet_tcp_rs_alloc_wq() };
        if wq.is_null() {
            return Err(ENOMEM);
        }
        self.wq.store(wq, Release);
        Ok(())
    }

    /// Runs everything queued, then frees the workqueue; called once, at module unload, when
    /// nothing can queue work any more.
    pub(crate) fn destroy(&self) {
        let wq = self.wq.xchg(core::ptr::null_mut(), Relaxed);
        if !wq.is_null() {
            // SAFETY: By the type invariant `wq` is valid; it is no longer published.
            unsafe { bindings::destroy_workqueue(wq) };
        }
    }

    /// Queues `w` on `cpu` (unbound placement for `None`); returns it back if already queued.
    pub(crate) fn enqueue_on<W, const ID: u64>(&self, cpu: Option<u32>, w: W) -> W::EnqueueOutput
    where
        W: RawWorkItem<ID> + Send + 'static,
    {
        let cpu = cpu
            .and_then(|c| i32::try_from(c).ok())
            .unwrap_or(bindings::wq_misc_consts_WORK_CPU_UNBOUND as i32);
        let wq = self.wq.load(Acquire);
        // SAFETY: `__enqueue` passes a valid `work_struct` and keeps it alive until the work
        // runs if `queue_work_on` returns true, as `Queue::enqueue` relies on too; `W` is
        // `Send + 'static`. `wq` is valid while the module has queues (type invariant; it is
        // destroyed only after the last queue is gone). `cpu` is unbound or a CPU id the
        // network stack reported.
        unsafe { w.__enqueue(move |work| bindings::queue_work_on(cpu, wq, work)) }
    }
}

/// Returns the `nvmet` core's workqueue, on which ports accept and queues are released.
pub(crate) fn nvmet_wq() -> &'static Queue {
    // SAFETY: `nvmet_wq` is allocated by the core module, which this module depends on, for as
    // long as it is loaded.
    unsafe { Queue::from_raw(b::nvmet_wq) }
}

/// Waits until everything queued on `nvmet_wq` so far has run.
pub(crate) fn flush_nvmet_wq() {
    // SAFETY: As for `nvmet_wq`.
    unsafe { bindings::__flush_workqueue(b::nvmet_wq) };
}
