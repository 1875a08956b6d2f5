// SPDX-License-Identifier: GPL-2.0

//! A module's own I/O workqueues, on which work is queued on a given CPU, and the kick protocol
//! of a work item that many contexts wake (shared by both modules).
//!
//! The kernel crate's [`kernel::workqueue::Queue`] borrows a workqueue someone else owns and
//! queues work unbound; [`ModuleQueue`] owns its workqueue, and [`IoWorkqueues`], a module's
//! pair of them, queues on a CPU ([`IoWorkqueues::enqueue_on`]), as the C transports queue their
//! `io_work` on the queue's CPU: on the high-priority workqueue the C transports have, or on a
//! normal-priority one for I/O work that batches (the `wq_highpri` parameter).

use crate::sock_bindings as b;
use kernel::{
    bindings,
    prelude::*,
    sync::{
        atomic::{Acquire, Atomic, Full, Relaxed, Release},
        rcu,
    },
    workqueue::RawWorkItem,
};

/// A module's own workqueue (per-CPU unless unbound, reclaim-safe, high priority or not; the C
/// transports' `nvme_tcp_wq` and `nvmet_tcp_wq` are high-priority), kept in a `static` so that
/// work can be queued from any context (socket callbacks, the block layer, the `nvmet` core).
///
/// Queueing and destroying may race: a work queued after [`ModuleQueue::destroy`] started is
/// handed back, not queued ([`IoWorkqueues::enqueue_on`]). The pointer is published under RCU,
/// and `destroy` waits for a grace period before it frees the workqueue.
///
/// # Invariants
///
/// `wq` is null or a valid workqueue allocated by [`ModuleQueue::create`]; once set to null it
/// is freed only after an RCU grace period.
pub(crate) struct ModuleQueue {
    wq: Atomic<*mut bindings::workqueue_struct>,
}

impl ModuleQueue {
    /// Returns an empty slot; [`ModuleQueue::create`] allocates the workqueue.
    pub(crate) const fn new() -> Self {
        Self {
            wq: Atomic::new(core::ptr::null_mut()),
        }
    }

    /// Allocates the workqueue, named `name`, per-CPU unless `unbound`, with high-priority
    /// workers if `highpri`.
    ///
    /// # Errors
    ///
    /// `EBUSY` if it exists already, `ENOMEM` if it could not be allocated.
    pub(crate) fn create(&self, name: &'static CStr, unbound: bool, highpri: bool) -> Result {
        let placement = if unbound {
            bindings::wq_flags_WQ_UNBOUND
        } else {
            bindings::wq_flags_WQ_PERCPU
        };
        let priority = if highpri {
            bindings::wq_flags_WQ_HIGHPRI
        } else {
            0
        };
        let flags = bindings::wq_flags_WQ_MEM_RECLAIM | priority | placement;
        // SAFETY: `name` is a valid string; the workqueue keeps a copy.
        let wq = unsafe { b::nvmet_tcp_rs_alloc_workqueue(name.as_char_ptr(), flags) };
        if wq.is_null() {
            return Err(ENOMEM);
        }
        if self.wq.cmpxchg(core::ptr::null_mut(), wq, Release).is_err() {
            // SAFETY: `wq` was just allocated and was never published.
            unsafe { bindings::destroy_workqueue(wq) };
            return Err(EBUSY);
        }
        Ok(())
    }

    /// Stops queueing, runs everything queued (work it queues again is refused), then frees the
    /// workqueue. Does nothing if there is none.
    pub(crate) fn destroy(&self) {
        let wq = self.wq.xchg(core::ptr::null_mut(), Acquire);
        if wq.is_null() {
            return;
        }
        // A queueing that read the pointer before the exchange is over after this.
        rcu::synchronize_rcu();
        // SAFETY: By the type invariant `wq` is valid; it is no longer published, and no
        // queueing that read it is still in progress (the grace period above).
        unsafe { bindings::destroy_workqueue(wq) };
    }
}

/// Queues `w` on `cpu` (unbound placement for `None`) on `wq`; hands `w` back (as
/// [`RawWorkItem::EnqueueOutput`] says, for `Arc<T>` an `Err`) if it was queued already or if
/// `wq` is null.
///
/// # Safety
///
/// `wq` was read from a [`ModuleQueue`] (so it is null or a valid workqueue, freed only after an
/// RCU grace period once unpublished) under an RCU read lock the caller holds until this
/// returns.
unsafe fn queue_on<W, const ID: u64>(
    wq: *mut bindings::workqueue_struct,
    cpu: Option<u32>,
    w: W,
) -> W::EnqueueOutput
where
    W: RawWorkItem<ID> + Send + 'static,
{
    let cpu = cpu
        .and_then(|c| i32::try_from(c).ok())
        .unwrap_or(bindings::wq_misc_consts_WORK_CPU_UNBOUND as i32);
    // SAFETY: `__enqueue` passes a valid `work_struct` and keeps it alive until the work runs if
    // the closure returns true, as `kernel::workqueue::Queue::enqueue` relies on too; `W` is
    // `Send + 'static`. The closure queues only on a non-null `wq`, which the caller's RCU read
    // lock keeps from being freed until `queue_work_on` returned (`ModuleQueue`'s invariant).
    // `cpu` is unbound or a CPU id the caller got from the kernel (`queue_work_on` falls back to
    // any CPU for one that is offline).
    unsafe { w.__enqueue(move |work| !wq.is_null() && bindings::queue_work_on(cpu, wq, work)) }
}

/// A module's I/O workqueues: the high-priority one, always, as the C transports have; and,
/// when the module batches (`wq_highpri=0`), a normal-priority one, on which the I/O work of a
/// busy queue runs.
///
/// A high-priority worker preempts the task that submits or completes I/O on its CPU as soon as
/// the first PDU or command arrives, so each run finds one; a normal-priority worker waits for
/// the task's time slice or its sleep, and then finds many. One work item may be queued on
/// either workqueue from one queueing to the next. A workqueue keeps a work item from running
/// twice at once only within itself, so the caller must (as [`Kicks`] does: one claimed run at
/// a time, queued by whoever claimed it).
pub(crate) struct IoWorkqueues {
    high: ModuleQueue,
    normal: ModuleQueue,
}

impl IoWorkqueues {
    /// Returns empty slots; [`IoWorkqueues::create`] allocates the workqueues.
    pub(crate) const fn new() -> Self {
        Self {
            high: ModuleQueue::new(),
            normal: ModuleQueue::new(),
        }
    }

    /// Allocates the high-priority workqueue `name` and, unless `highpri_only`, the
    /// normal-priority `batch_name`; both per-CPU unless `unbound`.
    ///
    /// # Errors
    ///
    /// As [`ModuleQueue::create`]; on an error neither workqueue is left.
    pub(crate) fn create(
        &self,
        name: &'static CStr,
        batch_name: &'static CStr,
        unbound: bool,
        highpri_only: bool,
    ) -> Result {
        self.high.create(name, unbound, true)?;
        if !highpri_only {
            if let Err(e) = self.normal.create(batch_name, unbound, false) {
                self.high.destroy();
                return Err(e);
            }
        }
        Ok(())
    }

    /// Destroys both workqueues as [`ModuleQueue::destroy`] does, the normal-priority one first:
    /// work it still runs may queue again, which goes to the high-priority one.
    pub(crate) fn destroy(&self) {
        self.normal.destroy();
        self.high.destroy();
    }

    /// Whether the module batches: it has a normal-priority workqueue (it may go at once after,
    /// at unload).
    #[inline]
    pub(crate) fn batches(&self) -> bool {
        !self.normal.wq.load(Relaxed).is_null()
    }

    /// Queues `w` on `cpu` (unbound placement for `None`): on the normal-priority workqueue if
    /// there is one and `batch` says so, else on the high-priority one. `batch` is called only
    /// if there is a normal-priority workqueue, inside an RCU read-side critical section.
    ///
    /// Hands `w` back if it was queued already, or if the workqueue is gone (see [`queue_on`]).
    pub(crate) fn enqueue_on<W, const ID: u64>(
        &self,
        cpu: Option<u32>,
        batch: impl FnOnce() -> bool,
        w: W,
    ) -> W::EnqueueOutput
    where
        W: RawWorkItem<ID> + Send + 'static,
    {
        let guard = rcu::read_lock();
        // Both read in one read-side section: a normal-priority workqueue that is being destroyed
        // is either seen and still valid, or not seen (the high-priority one is taken).
        let normal = self.normal.wq.load(Acquire);
        let wq = if !normal.is_null() && batch() {
            normal
        } else {
            self.high.wq.load(Acquire)
        };
        // SAFETY: `wq` was read from a `ModuleQueue` under the RCU read lock, held until after
        // the call.
        let out = unsafe { queue_on(wq, cpu, w) };
        drop(guard);
        out
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
/// lets only one of them). Whoever queues a run has claimed it: one claimed run is queued or
/// running at a time. The run that stops may still be returning when the next one starts (on
/// another workqueue of [`IoWorkqueues`], the workqueue code does not hold that one back): after
/// [`Kicks::stop`] a run touches nothing but its reference and, if `stop` says so, the
/// queueing of the next run.
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
