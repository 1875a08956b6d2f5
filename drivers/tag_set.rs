// SPDX-License-Identifier: GPL-2.0

//! A host controller's blk-mq tag sets, owned: [`AdminTagSet`] and [`IoTagSet`] exist while the
//! tag set is allocated and free it when dropped, so what needs a tag set (Connect, quiescing,
//! freezing, cancelling) is a method of its handle. Freezing is a guard ([`Frozen`]) whose drop
//! unfreezes. Also the `blk_mq_ops` tables and their entry points.
//!
//! Quiescing needs no guard: the core's own flags (`NVME_CTRL_ADMIN_Q_STOPPED`,
//! `NVME_CTRL_STOPPED`) make quiesce and unquiesce idempotent, in any order.

use crate::fabrics::bindings as b;
use crate::io_cpu::IoCpu;
use crate::nvme_ctrl::{check_status, ctrl_from_raw, Ctrl, Driver, SetupError, TimeoutAction};
use crate::request::{BlkStatus, Request};
use core::{ffi::c_void, marker::PhantomData, ptr::NonNull};
use kernel::{
    bindings as kb,
    error::to_result,
    prelude::*,
    sync::{
        aref::ARef,
        atomic::{Atomic, Relaxed},
        Arc, ArcBorrow,
    },
    types::{ForeignOwnable, Opaque},
};

/// How many I/O queues serve each map of the I/O tag set, in `HCTX_TYPE_*` order: default,
/// read, poll. The queues of the maps follow each other in that order from qid 1.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct IoQueues(pub(crate) [u32; kb::hctx_type_HCTX_MAX_TYPES as usize]);

impl IoQueues {
    /// Returns the number of I/O queues.
    pub(crate) fn total(&self) -> u32 {
        self.0.iter().sum()
    }

    /// Returns the map (`HCTX_TYPE_*`) of hardware context `hctx` (qid − 1).
    pub(crate) fn map_of(&self, hctx: u32) -> Option<u32> {
        let mut end = 0u32;
        for (map, n) in (0u32..).zip(self.0) {
            end += n;
            if hctx < end {
                return Some(map);
            }
        }
        None
    }
}

/// The two tag sets of a controller and which of them are allocated.
///
/// # Invariants
///
/// Bit [`TagSets::ADMIN`] (or [`TagSets::IO`]) of `allocated` is set exactly while the admin
/// (I/O) tag set is allocated, and then one [`AdminTagSet`] ([`IoTagSet`]) exists for it.
#[pin_data]
pub(crate) struct TagSets {
    #[pin]
    admin: Opaque<kb::blk_mq_tag_set>,
    #[pin]
    io: Opaque<kb::blk_mq_tag_set>,
    allocated: Atomic<u32>,
}

impl TagSets {
    const ADMIN: u32 = 1;
    const IO: u32 = 2;

    /// Returns two tag sets, neither allocated.
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            admin: Opaque::zeroed(),
            io: Opaque::zeroed(),
            allocated: Atomic::new(0),
        })
    }

    /// Claims tag set `bit` for allocation; `false` if it is allocated.
    fn claim(&self, bit: u32) -> bool {
        let mut cur = self.allocated.load(Relaxed);
        loop {
            if cur & bit != 0 {
                return false;
            }
            match self.allocated.cmpxchg(cur, cur | bit, Relaxed) {
                Ok(_) => return true,
                Err(now) => cur = now,
            }
        }
    }

    /// Gives tag set `bit` back after it was freed (or failed to allocate).
    fn release(&self, bit: u32) {
        let mut cur = self.allocated.load(Relaxed);
        while let Err(now) = self.allocated.cmpxchg(cur, cur & !bit, Relaxed) {
            cur = now;
        }
    }
}

/// The allocated admin tag set of a controller (and its admin and fabrics request queues),
/// freed when dropped.
///
/// # Invariants
///
/// The admin tag set of `ctrl` is allocated (`ctrl->admin_q` and `ctrl->fabrics_q` set) while
/// this value exists, and this is its only handle.
pub(crate) struct AdminTagSet<T: Driver> {
    ctrl: ARef<Ctrl<T>>,
}

/// The allocated I/O tag set of a controller, freed when dropped.
///
/// # Invariants
///
/// The I/O tag set of `ctrl` is allocated (`ctrl->tagset` and `ctrl->connect_q` set) while
/// this value exists, and this is its only handle.
pub(crate) struct IoTagSet<T: Driver> {
    ctrl: ARef<Ctrl<T>>,
}

impl<T: Driver> Ctrl<T> {
    /// Allocates the admin tag set (and the admin and fabrics request queues).
    ///
    /// # Errors
    ///
    /// `EBUSY` if it is allocated already, or the core's error.
    pub(crate) fn alloc_admin_tag_set(&self) -> Result<AdminTagSet<T>> {
        if !self.sets.claim(TagSets::ADMIN) {
            return Err(EBUSY);
        }
        // SAFETY: `admin` lives as long as the controller and is not allocated (claimed above);
        // the table is a constant.
        let r = to_result(unsafe {
            b::nvme_alloc_admin_tag_set(
                self.raw(),
                self.sets.admin.get(),
                &MqOps::<T, true>::TABLE,
                size_of::<crate::request::Pdu>() as u32,
            )
        });
        if let Err(e) = r {
            self.sets.release(TagSets::ADMIN);
            return Err(e);
        }
        // INVARIANT: Allocated above, with the bit claimed.
        Ok(AdminTagSet { ctrl: self.into() })
    }

    /// Allocates the I/O tag set: one hardware queue per I/O queue, one map per type (with the
    /// poll map if `poll`, else default and read).
    ///
    /// # Errors
    ///
    /// `EBUSY` if it is allocated already, or the core's error.
    pub(crate) fn alloc_io_tag_set(&self, poll: bool) -> Result<IoTagSet<T>> {
        if !self.sets.claim(TagSets::IO) {
            return Err(EBUSY);
        }
        let nr_maps = if poll {
            kb::hctx_type_HCTX_MAX_TYPES
        } else {
            kb::hctx_type_HCTX_TYPE_POLL
        };
        // SAFETY: `io` lives as long as the controller and is not allocated (claimed above);
        // the table is a constant.
        let r = to_result(unsafe {
            b::nvme_alloc_io_tag_set(
                self.raw(),
                self.sets.io.get(),
                &MqOps::<T, false>::TABLE,
                nr_maps,
                size_of::<crate::request::Pdu>() as u32,
            )
        });
        if let Err(e) = r {
            self.sets.release(TagSets::IO);
            return Err(e);
        }
        // INVARIANT: Allocated above, with the bit claimed.
        Ok(IoTagSet { ctrl: self.into() })
    }

    /// Completes every request of the admin (`admin`) or I/O tag set still in flight with
    /// `NVME_SC_HOST_ABORTED_CMD` (the core retries or fails them over); nothing without one.
    pub(crate) fn cancel_requests(&self, admin: bool) {
        // SAFETY: The controller is initialised; the core skips a tag set that is not
        // allocated (`ctrl->admin_tagset`, `ctrl->tagset` are NULL then).
        unsafe {
            if admin {
                b::nvme_cancel_admin_tagset(self.raw())
            } else {
                b::nvme_cancel_tagset(self.raw())
            }
        };
    }
}

impl<T: Driver> AdminTagSet<T> {
    fn raw(&self) -> *mut b::nvme_ctrl {
        self.ctrl.raw()
    }

    /// Sends Connect on the admin queue.
    pub(crate) fn connect(&self) -> Result<(), SetupError> {
        // SAFETY: The admin tag set and the fabrics queue are allocated (type invariant).
        check_status(unsafe { b::nvmf_connect_admin_queue(self.raw()) })
    }

    /// `nvme_enable_ctrl`: sets CC.EN and waits for CSTS.RDY (register writes go through the
    /// fabrics queue).
    pub(crate) fn enable(&self) -> Result<(), SetupError> {
        // SAFETY: The fabrics queue is allocated (type invariant).
        check_status(unsafe { b::nvme_enable_ctrl(self.raw()) })
    }

    /// `nvme_disable_ctrl`, with a shutdown notification if `shutdown`. A failure only means
    /// the controller is gone.
    pub(crate) fn disable(&self, shutdown: bool) {
        // SAFETY: The fabrics queue is allocated (type invariant).
        let _ = unsafe { b::nvme_disable_ctrl(self.raw(), shutdown) };
    }

    /// `nvme_init_ctrl_finish`: identifies the controller.
    pub(crate) fn init_finish(&self) -> Result<(), SetupError> {
        // SAFETY: The admin queue is allocated (type invariant).
        check_status(unsafe { b::nvme_init_ctrl_finish(self.raw(), false) })
    }

    /// `nvme_set_queue_count`: asks for `count` I/O queues; returns how many were granted.
    pub(crate) fn set_queue_count(&self, count: u32) -> Result<u32, SetupError> {
        let mut n = i32::try_from(count)?;
        // SAFETY: The admin queue is allocated (type invariant); `n` is valid for writes.
        check_status(unsafe { b::nvme_set_queue_count(self.raw(), &mut n) })?;
        Ok(u32::try_from(n).unwrap_or(0))
    }

    /// `nvme_start_ctrl`: keep-alive, namespace scan, asynchronous events.
    pub(crate) fn start_ctrl(&self) {
        // SAFETY: The admin queue is allocated (type invariant).
        unsafe { b::nvme_start_ctrl(self.raw()) };
    }

    /// Stops dispatch on the admin request queue (`nvme_quiesce_admin_queue`), then waits until
    /// no dispatch or timeout handling runs on it.
    pub(crate) fn quiesce(&self) {
        // SAFETY: The admin queue is allocated (type invariant).
        unsafe {
            b::nvme_quiesce_admin_queue(self.raw());
            kb::blk_sync_queue((*self.raw()).admin_q);
        }
    }

    /// Restarts dispatch on the admin request queue.
    pub(crate) fn unquiesce(&self) {
        // SAFETY: The admin queue is allocated (type invariant).
        unsafe { b::nvme_unquiesce_admin_queue(self.raw()) };
    }
}

impl<T: Driver> Drop for AdminTagSet<T> {
    fn drop(&mut self) {
        // Requests waiting to be dispatched go to the core's teardown, not to a dead queue.
        self.unquiesce();
        // SAFETY: The admin tag set is allocated (type invariant) and this is its only handle.
        unsafe { b::nvme_remove_admin_tag_set(self.raw()) };
        self.ctrl.sets.release(TagSets::ADMIN);
    }
}

impl<T: Driver> IoTagSet<T> {
    fn raw(&self) -> *mut b::nvme_ctrl {
        self.ctrl.raw()
    }

    fn set(&self) -> *mut kb::blk_mq_tag_set {
        self.ctrl.sets.io.get()
    }

    /// Sends Connect on I/O queue `qid`.
    pub(crate) fn connect(&self, qid: u16) -> Result<(), SetupError> {
        // SAFETY: The I/O tag set and its connect queue are allocated (type invariant).
        check_status(unsafe { b::nvmf_connect_io_queue(self.raw(), qid) })
    }

    /// Stops dispatch on the I/O request queues, waiting for `queue_rq` calls in progress.
    pub(crate) fn quiesce(&self) {
        // SAFETY: The I/O tag set is allocated (type invariant).
        unsafe {
            b::nvme_quiesce_io_queues(self.raw());
            b::nvme_sync_io_queues(self.raw());
        }
    }

    /// Restarts dispatch on the I/O request queues.
    pub(crate) fn unquiesce(&self) {
        // SAFETY: The I/O tag set is allocated (type invariant).
        unsafe { b::nvme_unquiesce_io_queues(self.raw()) };
    }

    /// Returns the number of hardware queues.
    pub(crate) fn nr_hw_queues(&self) -> u32 {
        // SAFETY: The tag set is allocated (type invariant); the field changes only in
        // `Frozen::update_nr_hw_queues`, which needs this handle.
        unsafe { (*self.set()).nr_hw_queues }
    }

    /// `nvme_start_freeze`: new I/O waits until the returned guard is dropped.
    pub(crate) fn freeze(&self) -> Frozen<'_, T> {
        // SAFETY: The I/O tag set is allocated (type invariant).
        unsafe { b::nvme_start_freeze(self.raw()) };
        // INVARIANT: A freeze was started above.
        Frozen { set: self }
    }

    /// Picks the CPU for the I/O work of I/O queue `qid`: the least used online CPU whose
    /// submissions go to that queue in the maps, as the C host picks it.
    pub(crate) fn pick_io_cpu(&self, queues: &IoQueues, qid: u16) -> Option<IoCpu> {
        let hctx = u32::from(qid.checked_sub(1)?);
        let map = queues.map_of(hctx)?;
        // SAFETY: The tag set is allocated (type invariant); blk-mq set up its maps, whose
        // `mq_map` has an entry for every possible CPU and which stay until it is freed or its
        // hardware queues change (under this handle).
        let mq_map = unsafe {
            let set = &*self.set();
            if map >= set.nr_maps {
                return None;
            }
            set.map.get(map as usize)?.mq_map
        };
        if mq_map.is_null() {
            return None;
        }
        IoCpu::pick(|cpu| {
            // SAFETY: `mq_map` has an entry for every CPU id below `nr_cpu_ids` (see above).
            unsafe { *mq_map.add(cpu as usize) == hctx }
        })
    }
}

impl<T: Driver> Drop for IoTagSet<T> {
    fn drop(&mut self) {
        // Requests waiting to be dispatched go to the core's teardown, not to a dead queue.
        self.unquiesce();
        // SAFETY: The I/O tag set is allocated (type invariant) and this is its only handle.
        unsafe { b::nvme_remove_io_tag_set(self.raw()) };
        self.ctrl.sets.release(TagSets::IO);
    }
}

/// A freeze of the I/O request queues (`nvme_start_freeze`), undone (`nvme_unfreeze`) when
/// dropped.
///
/// # Invariants
///
/// A freeze of `set`'s queues was started and is not undone yet.
pub(crate) struct Frozen<'a, T: Driver> {
    set: &'a IoTagSet<T>,
}

impl<T: Driver> Frozen<'_, T> {
    /// `nvme_wait_freeze_timeout`: waits (at most an I/O timeout) for the I/O in flight to
    /// complete; returns whether it all did.
    pub(crate) fn wait(&self) -> bool {
        // SAFETY: A freeze was started (type invariant).
        unsafe { b::nvme_wait_freeze_timeout(self.set.raw()) > 0 }
    }

    /// Gives the I/O tag set `count` hardware queues.
    pub(crate) fn update_nr_hw_queues(&self, count: u32) {
        // SAFETY: The tag set is allocated and its queues are frozen (type invariants).
        unsafe { kb::blk_mq_update_nr_hw_queues(self.set.set(), count as i32) };
    }
}

impl<T: Driver> Drop for Frozen<'_, T> {
    fn drop(&mut self) {
        // SAFETY: A freeze was started (type invariant); this ends it, once.
        unsafe { b::nvme_unfreeze(self.set.raw()) };
    }
}

/// The `blk_mq_ops` of the admin (`ADMIN = true`) or I/O tag set of a [`Driver`].
struct MqOps<T: Driver, const ADMIN: bool>(PhantomData<T>);

impl<T: Driver, const ADMIN: bool> MqOps<T, ADMIN> {
    const TABLE: kb::blk_mq_ops = kb::blk_mq_ops {
        queue_rq: Some(queue_rq_callback::<T>),
        commit_rqs: None,
        queue_rqs: None,
        get_budget: None,
        put_budget: None,
        set_rq_budget_token: None,
        get_rq_budget_token: None,
        timeout: Some(timeout_callback::<T>),
        poll: if ADMIN {
            None
        } else {
            Some(poll_callback::<T>)
        },
        complete: Some(b::nvme_complete_rq),
        init_hctx: Some(init_hctx_callback::<T, ADMIN>),
        exit_hctx: Some(exit_hctx_callback::<T>),
        init_request: Some(init_request_callback),
        exit_request: None,
        cleanup_rq: None,
        busy: None,
        map_queues: if ADMIN {
            None
        } else {
            Some(map_queues_callback::<T>)
        },
        show_rq: None,
    };
}

/// Returns the controller of a tag set.
///
/// # Safety
///
/// `set` must be a tag set of a `Ctrl<T>` (its `driver_data` is the `struct nvme_ctrl`), alive
/// for `'a`.
unsafe fn ctrl_of_set<'a, T: Driver>(set: *mut kb::blk_mq_tag_set) -> &'a Ctrl<T> {
    // SAFETY: `nvme_alloc_*_tag_set` set `driver_data` to the controller.
    unsafe { ctrl_from_raw::<T>((*set).driver_data.cast()) }
}

/// `init_hctx`: the hardware context holds a reference to its transport queue.
///
/// # Safety
///
/// Called by blk-mq for a tag set of a `Ctrl<T>` (`data` is its `driver_data`).
unsafe extern "C" fn init_hctx_callback<T: Driver, const ADMIN: bool>(
    hctx: *mut kb::blk_mq_hw_ctx,
    data: *mut c_void,
    hctx_idx: u32,
) -> i32 {
    // SAFETY: `data` is the tag set's `driver_data`, the controller, alive while its tag sets
    // exist.
    let ctrl = unsafe { ctrl_from_raw::<T>(data.cast()) };
    let qid = if ADMIN {
        Some(0)
    } else {
        hctx_idx.checked_add(1)
    };
    let Some(queue) = qid
        .and_then(|q| u16::try_from(q).ok())
        .and_then(|q| T::queue(ctrl, q))
    else {
        return EINVAL.to_errno();
    };
    // SAFETY: `hctx` is valid; `exit_hctx` takes the reference back.
    unsafe { (*hctx).driver_data = queue.into_foreign().cast() };
    0
}

/// `map_queues`: spreads the CPUs over the queues of each map (`nvmf_map_queues`).
///
/// # Safety
///
/// Called by blk-mq for the I/O tag set of a `Ctrl<T>`.
unsafe extern "C" fn map_queues_callback<T: Driver>(set: *mut kb::blk_mq_tag_set) {
    // SAFETY: `set` is the I/O tag set of a live controller.
    let ctrl = unsafe { ctrl_of_set::<T>(set) };
    let mut counts = T::io_queues(ctrl).0;
    // SAFETY: `set` is valid, `ctrl->opts` is set, and `counts` has `HCTX_MAX_TYPES` entries.
    unsafe { b::nvmf_map_queues(set.cast(), ctrl.raw(), counts.as_mut_ptr()) };
    let poll = kb::hctx_type_HCTX_TYPE_POLL;
    // SAFETY: `set` is valid; blk-mq calls this with the tag set's maps not in use.
    unsafe {
        if (*set).nr_maps > poll && counts[poll as usize] == 0 {
            // `nvmf_map_queues` leaves the poll map as it was: without poll queues now, polled
            // I/O goes to the default queues (and the queue stops offering polling).
            (*set).map[poll as usize].nr_queues = 0;
        }
    }
}

/// `poll`: completions of a hardware context of the poll map.
///
/// # Safety
///
/// Called by blk-mq for a set-up hardware context of the I/O tag set of a `Ctrl<T>`.
unsafe extern "C" fn poll_callback<T: Driver>(
    hctx: *mut kb::blk_mq_hw_ctx,
    _iob: *mut kb::io_comp_batch,
) -> i32 {
    // SAFETY: `hctx` is valid and set up; its queue's tag set belongs to a live controller.
    let (queue, ctrl) = unsafe {
        (
            queue_of::<T>(hctx),
            ctrl_of_set::<T>((*(*hctx).queue).tag_set),
        )
    };
    T::poll(ctrl, queue)
}

/// `exit_hctx`: gives back the queue reference of `init_hctx`.
///
/// # Safety
///
/// Called by blk-mq once per hardware context that `init_hctx` set up.
unsafe extern "C" fn exit_hctx_callback<T: Driver>(hctx: *mut kb::blk_mq_hw_ctx, _idx: u32) {
    // SAFETY: `hctx` is valid.
    let data = unsafe { (*hctx).driver_data };
    if !data.is_null() {
        // SAFETY: `init_hctx` stored an `Arc<T::Queue>` from `into_foreign`.
        drop(unsafe { Arc::<T::Queue>::from_foreign(data.cast()) });
        // SAFETY: `hctx` is valid; its reference was taken back above, so no pointer to it
        // stays.
        unsafe { (*hctx).driver_data = core::ptr::null_mut() };
    }
}

/// Returns the queue a hardware context holds.
///
/// # Safety
///
/// `hctx` must be set up by `init_hctx_callback::<T, _>` and stay so for `'a`.
unsafe fn queue_of<'a, T: Driver>(hctx: *mut kb::blk_mq_hw_ctx) -> ArcBorrow<'a, T::Queue> {
    // SAFETY: `driver_data` holds an `Arc<T::Queue>` until `exit_hctx`.
    unsafe { Arc::<T::Queue>::borrow((*hctx).driver_data.cast()) }
}

/// `init_request`: sets up the request's PDU ([`Request::init_pdu`]).
///
/// # Safety
///
/// Called by blk-mq for a request of a tag set of this transport, whose PDU is a
/// [`crate::request::Pdu`] (`cmd_size`).
unsafe extern "C" fn init_request_callback(
    set: *mut kb::blk_mq_tag_set,
    rq: *mut kb::request,
    _hctx_idx: u32,
    _numa_node: i32,
) -> i32 {
    // SAFETY: `set` is valid; its `driver_data` is the controller. `rq` is a new request of
    // the set, not yet in use.
    unsafe { Request::init_pdu(rq, (*set).driver_data.cast()) };
    0
}

/// `queue_rq`.
///
/// # Safety
///
/// Called by blk-mq for a hardware context of a tag set of a `Ctrl<T>`, with a started-to-be
/// request the driver owns until it completes it or returns an error.
unsafe extern "C" fn queue_rq_callback<T: Driver>(
    hctx: *mut kb::blk_mq_hw_ctx,
    bd: *const kb::blk_mq_queue_data,
) -> kb::blk_status_t {
    // SAFETY: `hctx` and `bd` are valid for the call; the hardware context is set up.
    let (queue, rq, ctrl) = unsafe {
        (
            queue_of::<T>(hctx),
            (*bd).rq,
            ctrl_of_set::<T>((*(*hctx).queue).tag_set),
        )
    };
    let Some(rq) = NonNull::new(rq) else {
        return BlkStatus::IOERR.raw();
    };
    // SAFETY: blk-mq hands the request to the driver.
    let rq = unsafe { Request::from_raw(rq) };
    match T::queue_rq(ctrl, queue, rq) {
        Ok(()) => BlkStatus::OK.raw(),
        Err(s) => s.raw(),
    }
}

/// `timeout`.
///
/// # Safety
///
/// Called by blk-mq with an in-flight request of a tag set of a `Ctrl<T>`.
unsafe extern "C" fn timeout_callback<T: Driver>(rq: *mut kb::request) -> kb::blk_eh_timer_return {
    // SAFETY: `rq` is valid and in flight; its hardware context is set up.
    let (queue, ctrl, cid) = unsafe {
        let hctx = (*rq).mq_hctx;
        (
            queue_of::<T>(hctx),
            ctrl_of_set::<T>((*(*hctx).queue).tag_set),
            crate::request::cid_of(rq),
        )
    };
    match T::timeout(ctrl, queue, cid) {
        TimeoutAction::Done => kb::blk_eh_timer_return_BLK_EH_DONE,
        TimeoutAction::ResetTimer => kb::blk_eh_timer_return_BLK_EH_RESET_TIMER,
    }
}
