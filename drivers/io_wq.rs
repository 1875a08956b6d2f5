// SPDX-License-Identifier: GPL-2.0

//! A module's own I/O workqueue, with work queued on a given CPU (shared by both modules).

use crate::sock_bindings as b;
use kernel::{
    bindings,
    prelude::*,
    sync::atomic::{Acquire, Atomic, Full, Relaxed, Release},
    workqueue::RawWorkItem,
};

/// A module's own workqueue (per-CPU, high priority, reclaim-safe, as the C transports'
/// `nvme_tcp_wq` and `nvmet_tcp_wq`), kept in a `static` so that work items can reach it from
/// any context.
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

    /// Allocates the workqueue, named `name`, per-CPU unless `unbound`; called once, at module
    /// load.
    pub(crate) fn create(&self, name: &'static CStr, unbound: bool) -> Result {
        // SAFETY: `name` is a valid string; the workqueue keeps a copy.
        let wq = unsafe { b::nvmet_tcp_rs_alloc_io_wq(name.as_char_ptr(), unbound) };
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

/// Whether a queue's I/O work is queued or running, and whether it was kicked meanwhile: a kick
/// while a run is queued or running only leaves a note, which the run takes before each round
/// and again when it stops. So no kick is lost, none costs a second, empty run, and none queues
/// a run already queued (or takes a reference on the queue for it).
///
/// The kick's `xchg` and the stop's `xchg` are fully ordered against the load that follows
/// each: of a kick and a stop that race, at least one sees the other's store, so either the
/// kicker queues the work or the stopping run does (the `cmpxchg` that claims the queueing
/// lets only one of them). The workqueue never runs one work item twice at once, and whoever
/// queues a run has claimed it: one run is queued or running at a time.
pub(crate) struct Kicks {
    /// A run is queued or running: set by whoever queues it, cleared by the run as it stops.
    active: Atomic<bool>,
    kicked: Atomic<bool>,
}

impl Kicks {
    /// Returns the state of a work that is not queued and was not kicked.
    pub(crate) const fn new() -> Self {
        Self {
            active: Atomic::new(false),
            kicked: Atomic::new(false),
        }
    }

    /// Notes a kick; returns whether the caller must queue the work (no run was queued or
    /// running, and the caller claimed the queueing of one).
    pub(crate) fn kick(&self) -> bool {
        self.kicked.xchg(true, Full);
        !self.active.load(Relaxed) && self.claim()
    }

    /// Claims the queueing of a run; `false` if another kick or the stopping run claimed it.
    fn claim(&self) -> bool {
        self.active.cmpxchg(false, true, Relaxed).is_ok()
    }

    /// A round of the work starts: kicks from here on are for what this round may miss.
    /// Acquire: what a kicker published before its kick (socket data, a completion, a queued
    /// PDU) is seen by the round.
    pub(crate) fn round(&self) {
        self.kicked.xchg(false, Acquire);
    }

    /// The run stops; `again`: its budget ran out with work left. Returns whether the caller
    /// must queue the work again: for `again` (the run stays claimed), or for a kick it may have
    /// missed (if it claims the queueing).
    pub(crate) fn stop(&self, again: bool) -> bool {
        if again {
            return true;
        }
        self.active.xchg(false, Full);
        self.kicked.load(Relaxed) && self.claim()
    }
}
