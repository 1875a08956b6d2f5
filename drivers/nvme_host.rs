// SPDX-License-Identifier: GPL-2.0

//! Host-side FFI for controllers: `struct nvme_ctrl` with its `nvme_ctrl_ops` table, the admin
//! and I/O blk-mq tag sets with their `blk_mq_ops` tables, and the requests in flight.
//!
//! Each `extern "C"` entry point hands off at once to the safe [`Driver`] trait; the transport
//! logic sees [`Ctrl`], [`CtrlRef`] and [`Request`] and never a raw pointer.

use crate::fabrics::{bindings as b, CtrlHandle, FabricsDevice, Options};
use crate::socket::{Io, SkbBytes, Socket, Vecs};
use core::{marker::PhantomData, ptr::NonNull};
use kernel::{
    bindings as kb,
    error::to_result,
    prelude::*,
    sync::{
        atomic::{Atomic, Relaxed},
        Arc, ArcBorrow,
    },
    types::{ForeignOwnable, Opaque},
};

/// Command identifier of the asynchronous event request, outside the admin tag set's range.
pub(crate) const AER_CID: u16 = b::NVME_AQ_BLK_MQ_DEPTH as u16;

/// Depth of the admin queue (`NVME_AQ_DEPTH`): the blk-mq tags and the asynchronous event
/// request.
pub(crate) const AQ_DEPTH: usize = b::NVME_AQ_DEPTH as usize;

/// A `blk_status_t` returned from `queue_rq`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct BlkStatus(kb::blk_status_t);

impl BlkStatus {
    /// `BLK_STS_OK`.
    pub(crate) const OK: Self = Self(kb::BLK_STS_OK as kb::blk_status_t);
    /// `BLK_STS_IOERR` (`include/linux/blk_types.h`; a cast macro bindgen cannot evaluate).
    pub(crate) const IOERR: Self = Self(10);
}

/// NVMe status codes the transport completes commands with (status field without phase bit).
pub(crate) mod status {
    use super::b;

    /// The path to the controller failed; the command may be retried on another path.
    pub(crate) const HOST_PATH_ERROR: u16 = b::NVME_SC_HOST_PATH_ERROR as u16;
    /// The host aborted the command (timeout).
    pub(crate) const HOST_ABORTED_CMD: u16 = b::NVME_SC_HOST_ABORTED_CMD as u16;
    /// Data transfer error (bad data digest).
    pub(crate) const DATA_XFER_ERROR: u16 = b::NVME_SC_DATA_XFER_ERROR as u16;
}

/// What the timeout handler decided.
pub(crate) enum TimeoutAction {
    /// The driver completed the request.
    Done,
    /// Error recovery will complete the request: restart its timer meanwhile.
    ResetTimer,
}

/// Why a step of controller setup failed: a negative errno, or a positive NVMe status of a
/// command (as the core's functions return them; `nvmf_should_reconnect` looks at its DNR
/// bit).
#[derive(Clone, Copy, Debug)]
pub(crate) struct SetupError(i32);

impl SetupError {
    /// No status: the failure was the connection's, not a command's.
    pub(crate) const NONE: Self = Self(0);

    /// The value as the core passes it around (negative errno or positive NVMe status).
    pub(crate) fn raw(self) -> i32 {
        self.0
    }

    /// The error for user space: an NVMe status becomes `EIO`, as in the C host.
    pub(crate) fn to_error(self) -> Error {
        if self.0 < 0 {
            Error::from_errno(self.0)
        } else {
            EIO
        }
    }
}

impl From<Error> for SetupError {
    fn from(e: Error) -> Self {
        Self(e.to_errno())
    }
}

impl From<kernel::alloc::AllocError> for SetupError {
    fn from(_: kernel::alloc::AllocError) -> Self {
        Self(ENOMEM.to_errno())
    }
}

impl From<core::num::TryFromIntError> for SetupError {
    fn from(_: core::num::TryFromIntError) -> Self {
        Self(EINVAL.to_errno())
    }
}

/// Maps the result of a core function that returns a negative errno or a positive NVMe status.
fn check_status(ret: i32) -> Result<(), SetupError> {
    if ret == 0 {
        Ok(())
    } else {
        Err(SetupError(ret))
    }
}

/// Controller states (`enum nvme_ctrl_state`) the transport asks for or checks.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum CtrlState {
    /// `NVME_CTRL_NEW`.
    New,
    /// `NVME_CTRL_LIVE`.
    Live,
    /// `NVME_CTRL_RESETTING`.
    Resetting,
    /// `NVME_CTRL_CONNECTING`.
    Connecting,
    /// `NVME_CTRL_DELETING` or `NVME_CTRL_DELETING_NOIO`.
    Deleting,
    /// `NVME_CTRL_DEAD`.
    Dead,
}

/// The transport's controller logic, called from the core's and blk-mq's tables.
pub(crate) trait Driver: Send + Sync + Sized + 'static {
    /// A transport queue, reached from blk-mq hardware contexts.
    type Queue: Send + Sync + 'static;

    /// Returns queue `qid` (0 is the admin queue) for a new hardware context.
    fn queue(ctrl: &Ctrl<Self>, qid: u16) -> Option<Arc<Self::Queue>>;
    /// Sends `rq` on `queue`. On error blk-mq ends the request itself.
    fn queue_rq(
        ctrl: &Ctrl<Self>,
        queue: ArcBorrow<'_, Self::Queue>,
        rq: Request,
    ) -> Result<(), BlkStatus>;
    /// Polls `queue` for completions (a hardware context of the poll map); returns how many
    /// commands completed, or a negative error.
    fn poll(ctrl: &Ctrl<Self>, queue: ArcBorrow<'_, Self::Queue>) -> i32;
    /// Returns how many I/O queues serve each map of the I/O tag set: default, read, poll.
    fn io_queues(ctrl: &Ctrl<Self>) -> IoQueues;
    /// The request with command identifier `cid` on `queue` timed out.
    fn timeout(ctrl: &Ctrl<Self>, queue: ArcBorrow<'_, Self::Queue>, cid: u16) -> TimeoutAction;
    /// Sends an asynchronous event request on the admin queue.
    fn submit_async_event(ctrl: &Ctrl<Self>);
    /// Tears the queues down before the core frees the controller.
    fn delete_ctrl(ctrl: &Ctrl<Self>);
    /// Stops the transport's own work on the controller.
    fn stop_ctrl(ctrl: &Ctrl<Self>);
    /// The core asked for a reset (`reset_work`).
    fn reset(ctrl: &Ctrl<Self>);
    /// The error recovery work, queued by [`Ctrl::queue_error_work`].
    fn error_recovery(ctrl: &Ctrl<Self>);
    /// The reconnect work, queued by [`Ctrl::queue_connect_work`].
    fn reconnect(ctrl: &Ctrl<Self>);
    /// The last reference is gone; the controller is freed after this returns.
    fn free(ctrl: &Ctrl<Self>);
}

/// Checks that bindgen and the C compiler agree on the layout of the structures this layer
/// shares with the core.
pub(crate) fn check_layout() -> Result {
    // SAFETY: The helpers only return `sizeof` of a type; they have no preconditions.
    let (ops, ctrl, set, pdu) = unsafe {
        (
            b::nvme_tcp_rs_sizeof_ctrl_ops(),
            b::nvme_tcp_rs_sizeof_ctrl(),
            b::nvme_tcp_rs_sizeof_tag_set(),
            b::nvme_tcp_rs_sizeof_pdu(),
        )
    };
    crate::layout::check_sizes(&[
        ("nvme_ctrl_ops", ops, size_of::<b::nvme_ctrl_ops>()),
        ("nvme_ctrl", ctrl, size_of::<b::nvme_ctrl>()),
        ("blk_mq_tag_set", set, size_of::<kb::blk_mq_tag_set>()),
        ("nvme_tcp_rs_pdu", pdu, size_of::<b::nvme_tcp_rs_pdu>()),
    ])
}

/// The `nvme_ctrl_ops` of a [`Driver`]; a `static` whose `module` is set at load.
pub(crate) struct CtrlOpsTable<T: Driver> {
    ops: Opaque<b::nvme_ctrl_ops>,
    _driver: PhantomData<T>,
}

// SAFETY: The core only reads the table; the single write (`module`) happens at load, before
// any controller exists.
unsafe impl<T: Driver> Sync for CtrlOpsTable<T> {}

impl<T: Driver> CtrlOpsTable<T> {
    /// Returns the table of `T`'s callbacks.
    pub(crate) const fn new() -> Self {
        Self {
            ops: Opaque::new(b::nvme_ctrl_ops {
                name: c"tcp".to_bytes_with_nul().as_ptr(),
                module: core::ptr::null_mut(),
                flags: b::NVME_F_FABRICS | b::NVME_F_BLOCKING,
                reg_read32: Some(b::nvmf_reg_read32),
                reg_read64: Some(b::nvmf_reg_read64),
                reg_write32: Some(b::nvmf_reg_write32),
                subsystem_reset: Some(b::nvmf_subsystem_reset),
                free_ctrl: Some(free_ctrl_callback::<T>),
                submit_async_event: Some(submit_async_event_callback::<T>),
                delete_ctrl: Some(delete_ctrl_callback::<T>),
                stop_ctrl: Some(stop_ctrl_callback::<T>),
                get_address: Some(b::nvmf_get_address),
                print_device_info: None,
                supports_pci_p2pdma: None,
                get_virt_boundary: Some(b::nvme_tcp_rs_get_virt_boundary),
                // The core's default attributes.
                dev_attr_groups: core::ptr::null_mut(),
            }),
            _driver: PhantomData,
        }
    }

    /// Makes controllers of the table hold `module` while their device is open; called once at
    /// load, before any controller exists.
    pub(crate) fn set_module(&'static self, module: &'static ThisModule) -> Result {
        check_layout()?;
        // SAFETY: No controller uses the table yet (called at load), so nothing reads it
        // concurrently.
        unsafe { (*self.ops.get()).module = module.as_ptr() };
        Ok(())
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

/// An NVMe controller of the transport: the core's `struct nvme_ctrl`, the two tag sets, and
/// the transport's data.
///
/// # Invariants
///
/// `ctrl` is first, so a `struct nvme_ctrl *` of a controller of this type is a pointer to the
/// whole. Once [`Ctrl::create`] returned, the value is reference counted by the core
/// (`nvme_get_ctrl`/`nvme_put_ctrl`) and freed in `free_ctrl`.
#[repr(C)]
#[pin_data]
pub(crate) struct Ctrl<T: Driver> {
    #[pin]
    ctrl: Opaque<b::nvme_ctrl>,
    #[pin]
    admin_set: Opaque<kb::blk_mq_tag_set>,
    #[pin]
    io_set: Opaque<kb::blk_mq_tag_set>,
    /// Runs [`Driver::error_recovery`]; flushed by `stop_ctrl` before the controller goes.
    #[pin]
    err_work: Opaque<kb::work_struct>,
    /// Runs [`Driver::reconnect`]; cancelled by `stop_ctrl` before the controller goes.
    #[pin]
    connect_work: Opaque<kb::delayed_work>,
    /// Whether `free_ctrl` frees the options (only a controller whose creation succeeded owns
    /// them; `nvme-fabrics` frees them when creation fails).
    owns_opts: Atomic<bool>,
    #[pin]
    data: T,
}

// SAFETY: The core serialises what it does with `struct nvme_ctrl` with its own locks; `T` is
// `Send + Sync`.
unsafe impl<T: Driver> Send for Ctrl<T> {}
// SAFETY: As above.
unsafe impl<T: Driver> Sync for Ctrl<T> {}

/// A counted reference to a [`Ctrl`] (`nvme_get_ctrl`/`nvme_put_ctrl`).
///
/// # Invariants
///
/// `0` points to a live `Ctrl<T>` on which this value holds one reference.
pub(crate) struct CtrlRef<T: Driver>(NonNull<Ctrl<T>>);

// SAFETY: The reference count is atomic; `Ctrl` is `Sync`.
unsafe impl<T: Driver> Send for CtrlRef<T> {}
// SAFETY: As above.
unsafe impl<T: Driver> Sync for CtrlRef<T> {}

impl<T: Driver> core::ops::Deref for CtrlRef<T> {
    type Target = Ctrl<T>;

    fn deref(&self) -> &Ctrl<T> {
        // SAFETY: By the type invariant the controller is alive while this reference is held.
        unsafe { self.0.as_ref() }
    }
}

impl<T: Driver> Clone for CtrlRef<T> {
    fn clone(&self) -> Self {
        // SAFETY: The controller is alive (type invariant); this takes another reference.
        unsafe { b::nvme_tcp_rs_ctrl_get(self.raw()) };
        Self(self.0)
    }
}

impl<T: Driver> Drop for CtrlRef<T> {
    fn drop(&mut self) {
        // SAFETY: This value holds one reference (type invariant); it is given back. The last
        // one frees the controller through `free_ctrl`.
        unsafe { b::nvme_tcp_rs_ctrl_put(self.raw()) };
    }
}

impl<T: Driver> CtrlRef<T> {
    /// Hands this reference to `nvme-fabrics` as the result of `create_ctrl`.
    pub(crate) fn into_handle(self) -> CtrlHandle {
        self.owns_opts.store(true, Relaxed);
        let ptr = self.raw();
        core::mem::forget(self);
        // SAFETY: `ptr` is a live controller initialised with `nvme_init_ctrl`, and the
        // reference this value held goes with it.
        unsafe { CtrlHandle::from_raw(NonNull::new(ptr).unwrap_or(NonNull::dangling())) }
    }
}

/// Maps a C `int` result to a `Result`.
fn check(ret: i32) -> Result {
    to_result(ret)
}

impl<T: Driver> Ctrl<T> {
    /// Allocates a controller for `opts` and initialises it with `nvme_init_ctrl`.
    ///
    /// `queue_count` counts the admin queue; `sqsize` is 0's based.
    pub(crate) fn create(
        dev: &FabricsDevice,
        opts: &Options,
        queue_count: u32,
        sqsize: u16,
        kato: u32,
        data: impl PinInit<T, Error>,
        ops: &'static CtrlOpsTable<T>,
    ) -> Result<CtrlRef<T>> {
        let boxed = KBox::pin_init(
            try_pin_init!(Self {
                ctrl: Opaque::zeroed(),
                admin_set: Opaque::zeroed(),
                io_set: Opaque::zeroed(),
                err_work: Opaque::zeroed(),
                connect_work: Opaque::zeroed(),
                owns_opts: Atomic::new(false),
                data <- data,
            }),
            GFP_KERNEL,
        )?;
        let c = boxed.ctrl.get();
        // SAFETY: `c` is the zeroed, not yet shared `struct nvme_ctrl` of the new controller.
        unsafe {
            (*c).opts = opts.as_raw();
            (*c).queue_count = queue_count;
            (*c).sqsize = sqsize;
            (*c).kato = kato;
        }
        // SAFETY: `c` is valid and pinned, `dev` is the fabrics device, `ops` a `static`.
        check(unsafe { b::nvme_init_ctrl(c, dev.as_raw(), ops.ops.get(), 0) })?;
        // SAFETY: `c` was initialised above; `reset_work` belongs to it.
        unsafe { b::nvme_tcp_rs_init_reset_work(c, Some(reset_work_callback::<T>)) };
        // SAFETY: The works are fields of the pinned controller, not yet queued; the callbacks
        // are this controller type's.
        unsafe {
            b::nvme_tcp_rs_init_work(boxed.err_work.get(), Some(err_work_callback::<T>));
            b::nvme_tcp_rs_init_delayed_work(
                boxed.connect_work.get(),
                Some(connect_work_callback::<T>),
            );
        }
        // SAFETY: From here the core counts references; `free_ctrl` turns the pointer back into
        // the box. The value stays pinned: it is never moved out of the allocation.
        let raw = KBox::into_raw(unsafe { Pin::into_inner_unchecked(boxed) });
        // INVARIANT: `nvme_init_ctrl` took the initial reference, which the `CtrlRef` holds.
        Ok(CtrlRef(NonNull::new(raw).ok_or(ENOMEM)?))
    }

    fn raw(&self) -> *mut b::nvme_ctrl {
        self.ctrl.get()
    }

    /// Returns the transport's data.
    pub(crate) fn data(&self) -> &T {
        &self.data
    }

    /// Returns a new counted reference.
    pub(crate) fn get_ref(&self) -> CtrlRef<T> {
        // SAFETY: `self` is a live controller (it is borrowed); this takes another reference.
        unsafe { b::nvme_tcp_rs_ctrl_get(self.raw()) };
        CtrlRef(NonNull::from(self))
    }

    /// Returns a field of the core's controller.
    fn read<R>(&self, f: impl FnOnce(&b::nvme_ctrl) -> R) -> R {
        // SAFETY: The controller is alive while borrowed; the fields read are plain values
        // the core sets during initialisation.
        f(unsafe { &*self.raw() })
    }

    /// `nvme_add_ctrl`: makes the controller visible (`/dev/nvmeN`).
    pub(crate) fn add(&self) -> Result {
        // SAFETY: The controller is initialised.
        check(unsafe { b::nvme_add_ctrl(self.raw()) })
    }

    /// `nvme_uninit_ctrl`: undoes [`Ctrl::add`] when creation fails afterwards.
    pub(crate) fn uninit(&self) {
        // SAFETY: The controller was added.
        unsafe { b::nvme_uninit_ctrl(self.raw()) };
    }

    /// Changes the controller's state; returns whether the core allowed it.
    pub(crate) fn change_state(&self, state: CtrlState) -> bool {
        let s = match state {
            CtrlState::Live => b::nvme_ctrl_state_NVME_CTRL_LIVE,
            CtrlState::Resetting => b::nvme_ctrl_state_NVME_CTRL_RESETTING,
            CtrlState::Connecting => b::nvme_ctrl_state_NVME_CTRL_CONNECTING,
            // The core enters these itself (delete, failure).
            CtrlState::New | CtrlState::Deleting | CtrlState::Dead => return false,
        };
        // SAFETY: The controller is initialised.
        unsafe { b::nvme_change_ctrl_state(self.raw(), s) }
    }

    /// Returns the controller's state.
    pub(crate) fn state(&self) -> CtrlState {
        // SAFETY: The controller is initialised.
        let s = unsafe { b::nvme_tcp_rs_ctrl_state(self.raw()) };
        match u32::try_from(s) {
            Ok(b::nvme_ctrl_state_NVME_CTRL_NEW) => CtrlState::New,
            Ok(b::nvme_ctrl_state_NVME_CTRL_LIVE) => CtrlState::Live,
            Ok(b::nvme_ctrl_state_NVME_CTRL_RESETTING) => CtrlState::Resetting,
            Ok(b::nvme_ctrl_state_NVME_CTRL_CONNECTING) => CtrlState::Connecting,
            Ok(b::nvme_ctrl_state_NVME_CTRL_DELETING)
            | Ok(b::nvme_ctrl_state_NVME_CTRL_DELETING_NOIO) => CtrlState::Deleting,
            _ => CtrlState::Dead,
        }
    }

    /// `nvme_delete_ctrl`: schedules the deletion of the controller.
    pub(crate) fn schedule_delete(&self) -> Result {
        // SAFETY: The controller is initialised.
        check(unsafe { b::nvme_delete_ctrl(self.raw()) })
    }

    /// Allocates the admin tag set (and the admin and fabrics request queues).
    pub(crate) fn alloc_admin_tag_set(&self) -> Result {
        // SAFETY: `admin_set` lives as long as the controller; the table is a `static`.
        check(unsafe {
            b::nvme_alloc_admin_tag_set(
                self.raw(),
                self.admin_set.get(),
                &MqOps::<T, true>::TABLE,
                size_of::<b::nvme_tcp_rs_pdu>() as u32,
            )
        })
    }

    /// Frees the admin tag set and its queues.
    pub(crate) fn remove_admin_tag_set(&self) {
        // SAFETY: The admin tag set was allocated.
        unsafe { b::nvme_remove_admin_tag_set(self.raw()) };
    }

    /// Allocates the I/O tag set: one hardware queue per I/O queue, one map.
    ///
    /// With `poll`, the tag set has the poll map too (else default and read).
    pub(crate) fn alloc_io_tag_set(&self, poll: bool) -> Result {
        let nr_maps = if poll {
            kb::hctx_type_HCTX_MAX_TYPES
        } else {
            kb::hctx_type_HCTX_TYPE_POLL
        };
        // SAFETY: `io_set` lives as long as the controller; the table is a `static`.
        check(unsafe {
            b::nvme_alloc_io_tag_set(
                self.raw(),
                self.io_set.get(),
                &MqOps::<T, false>::TABLE,
                nr_maps,
                size_of::<b::nvme_tcp_rs_pdu>() as u32,
            )
        })
    }

    /// Frees the I/O tag set and its connect queue.
    pub(crate) fn remove_io_tag_set(&self) {
        // SAFETY: The I/O tag set was allocated.
        unsafe { b::nvme_remove_io_tag_set(self.raw()) };
    }

    /// Sends Connect on the admin queue.
    pub(crate) fn connect_admin_queue(&self) -> Result<(), SetupError> {
        // SAFETY: The admin tag set is allocated.
        check_status(unsafe { b::nvmf_connect_admin_queue(self.raw()) })
    }

    /// Sends Connect on I/O queue `qid`.
    pub(crate) fn connect_io_queue(&self, qid: u16) -> Result<(), SetupError> {
        // SAFETY: The I/O tag set is allocated.
        check_status(unsafe { b::nvmf_connect_io_queue(self.raw(), qid) })
    }

    /// `nvme_enable_ctrl`: sets CC.EN and waits for CSTS.RDY.
    pub(crate) fn enable(&self) -> Result<(), SetupError> {
        // SAFETY: The admin queue is connected.
        check_status(unsafe { b::nvme_enable_ctrl(self.raw()) })
    }

    /// `nvme_disable_ctrl`, with a shutdown notification if `shutdown`.
    pub(crate) fn disable(&self, shutdown: bool) {
        // SAFETY: The controller is initialised. Failures only mean the target is gone.
        let _ = unsafe { b::nvme_disable_ctrl(self.raw(), shutdown) };
    }

    /// `nvme_init_ctrl_finish`: identifies the controller.
    pub(crate) fn init_finish(&self) -> Result<(), SetupError> {
        // SAFETY: The admin queue is live.
        check_status(unsafe { b::nvme_init_ctrl_finish(self.raw(), false) })
    }

    /// `nvme_set_queue_count`: asks for `count` I/O queues; returns how many were granted.
    pub(crate) fn set_queue_count(&self, count: u32) -> Result<u32, SetupError> {
        let mut n = i32::try_from(count)?;
        // SAFETY: The admin queue is live; `n` is valid for writes.
        check_status(unsafe { b::nvme_set_queue_count(self.raw(), &mut n) })?;
        Ok(u32::try_from(n).unwrap_or(0))
    }

    /// Splits `granted` I/O queues over the maps as the options ask (`nvmf_set_io_queues`).
    pub(crate) fn split_io_queues(&self, granted: u32) -> IoQueues {
        let mut counts = [0u32; kb::hctx_type_HCTX_MAX_TYPES as usize];
        // SAFETY: `opts` is set for the controller's life; `counts` has `HCTX_MAX_TYPES`
        // entries.
        unsafe { b::nvmf_set_io_queues((*self.raw()).opts, granted, counts.as_mut_ptr()) };
        IoQueues(counts)
    }

    /// Picks the CPU for the I/O work of I/O queue `qid`: the least used online CPU whose
    /// submissions go to that queue in the I/O tag set's maps, as the C host picks it. The
    /// CPU stays counted as used until [`put_io_cpu`].
    pub(crate) fn get_io_cpu(&self, queues: &IoQueues, qid: u16) -> Option<u32> {
        let hctx = u32::from(qid.checked_sub(1)?);
        let map = queues.map_of(hctx)?;
        // SAFETY: The I/O tag set is allocated (its maps are set) and lives as long as the
        // controller; the helper only reads them.
        let cpu = unsafe { b::nvme_tcp_rs_get_io_cpu(self.io_set.get().cast(), map, hctx) };
        u32::try_from(cpu).ok()
    }

    /// Sets the number of queues, the admin queue included.
    pub(crate) fn set_queue_total(&self, count: u32) {
        // SAFETY: Written during creation, before the I/O tag set reads it.
        unsafe { (*self.raw()).queue_count = count };
    }

    /// Returns SQSIZE (0's based) and MAXCMD.
    pub(crate) fn sqsize_maxcmd(&self) -> (u16, u16) {
        self.read(|c| (c.sqsize, c.maxcmd))
    }

    /// Sets SQSIZE (0's based).
    pub(crate) fn set_sqsize(&self, sqsize: u16) {
        // SAFETY: Written during creation, before the I/O tag set reads it.
        unsafe { (*self.raw()).sqsize = sqsize };
    }

    /// Returns IOCCSZ (I/O command capsule size in 16-byte units) and ICDOFF.
    pub(crate) fn ioccsz_icdoff(&self) -> (u32, u16) {
        self.read(|c| (c.ioccsz, c.icdoff))
    }

    /// `nvme_start_ctrl`: keep-alive, namespace scan, asynchronous events.
    pub(crate) fn start(&self) {
        // SAFETY: The controller is live.
        unsafe { b::nvme_start_ctrl(self.raw()) };
    }

    /// `nvme_stop_keep_alive`.
    pub(crate) fn stop_keep_alive(&self) {
        // SAFETY: The controller is initialised.
        unsafe { b::nvme_stop_keep_alive(self.raw()) };
    }

    /// Stops (`quiesce`) or restarts dispatch on the admin request queue.
    pub(crate) fn quiesce_admin(&self, quiesce: bool) {
        // SAFETY: The admin tag set is allocated.
        unsafe {
            if quiesce {
                b::nvme_quiesce_admin_queue(self.raw())
            } else {
                b::nvme_unquiesce_admin_queue(self.raw())
            }
        };
    }

    /// Stops (`quiesce`, waiting for `queue_rq` calls in progress) or restarts dispatch on the
    /// I/O request queues.
    pub(crate) fn quiesce_io(&self, quiesce: bool) {
        // SAFETY: The I/O tag set is allocated.
        unsafe {
            if quiesce {
                b::nvme_quiesce_io_queues(self.raw());
                b::nvme_sync_io_queues(self.raw());
            } else {
                b::nvme_unquiesce_io_queues(self.raw())
            }
        };
    }

    /// Waits until no dispatch or timeout handling runs on the admin request queue.
    pub(crate) fn sync_admin_queue(&self) {
        // SAFETY: The admin tag set, and with it `admin_q`, is allocated.
        unsafe { kb::blk_sync_queue(self.read(|c| c.admin_q)) };
    }

    /// `nvme_start_freeze`: new I/O waits until [`Ctrl::unfreeze`].
    pub(crate) fn start_freeze(&self) {
        // SAFETY: The I/O tag set is allocated.
        unsafe { b::nvme_start_freeze(self.raw()) };
    }

    /// `nvme_wait_freeze_timeout`: waits (at most an I/O timeout) for the I/O in flight;
    /// returns whether it all completed.
    pub(crate) fn wait_freeze_timeout(&self) -> bool {
        // SAFETY: A freeze was started.
        unsafe { b::nvme_wait_freeze_timeout(self.raw()) > 0 }
    }

    /// `nvme_unfreeze`.
    pub(crate) fn unfreeze(&self) {
        // SAFETY: A freeze was started.
        unsafe { b::nvme_unfreeze(self.raw()) };
    }

    /// Returns the number of hardware queues of the I/O tag set.
    pub(crate) fn io_hw_queues(&self) -> u32 {
        // SAFETY: The I/O tag set is allocated; the field changes only in
        // `update_nr_hw_queues`, which this transport calls from its own setup only.
        unsafe { (*self.io_set.get()).nr_hw_queues }
    }

    /// Gives the I/O tag set `count` hardware queues (the request queues must be frozen).
    pub(crate) fn update_nr_hw_queues(&self, count: u32) {
        // SAFETY: The I/O tag set is allocated; the caller froze its queues.
        unsafe { kb::blk_mq_update_nr_hw_queues(self.io_set.get(), count as i32) };
    }

    /// Queues the error recovery work ([`Driver::error_recovery`]) on `nvme_reset_wq`.
    pub(crate) fn queue_error_work(&self) {
        // SAFETY: `err_work` was initialised in `create`; `nvme_reset_wq` lives as long as
        // `nvme-core`. `stop_ctrl` flushes the work before the controller can go.
        unsafe {
            kb::queue_work_on(
                kb::wq_misc_consts_WORK_CPU_UNBOUND as i32,
                b::nvme_reset_wq,
                self.err_work.get(),
            )
        };
    }

    /// Queues the reconnect work ([`Driver::reconnect`]) on `nvme_wq`, `secs` seconds from now.
    pub(crate) fn queue_connect_work(&self, secs: u32) {
        let delay = kernel::time::msecs_to_jiffies(secs.saturating_mul(1000));
        // SAFETY: As for `queue_error_work`; `stop_ctrl` cancels the work.
        unsafe {
            kb::queue_delayed_work_on(
                kb::wq_misc_consts_WORK_CPU_UNBOUND as i32,
                b::nvme_wq,
                self.connect_work.get(),
                delay,
            )
        };
    }

    /// Waits for the error recovery work to finish.
    pub(crate) fn flush_error_work(&self) {
        // SAFETY: `err_work` was initialised in `create`.
        unsafe { kb::flush_work(self.err_work.get()) };
    }

    /// Cancels the reconnect work and waits for it if it runs.
    pub(crate) fn cancel_connect_work(&self) {
        // SAFETY: `connect_work` was initialised in `create`.
        unsafe { kb::cancel_delayed_work_sync(self.connect_work.get()) };
    }

    /// Waits for the core's asynchronous event work to finish.
    pub(crate) fn flush_async_event_work(&self) {
        // SAFETY: The core initialised the work in `nvme_init_ctrl`.
        unsafe { kb::flush_work(&raw mut (*self.raw()).async_event_work) };
    }

    /// `nvme_stop_ctrl`: stops keep-alive, the core's works and the transport's
    /// ([`Driver::stop_ctrl`]).
    pub(crate) fn stop(&self) {
        // SAFETY: The controller is initialised.
        unsafe { b::nvme_stop_ctrl(self.raw()) };
    }

    /// `nvmf_should_reconnect`: whether to try again after a setup that failed with `status`.
    pub(crate) fn should_reconnect(&self, status: SetupError) -> bool {
        // SAFETY: The controller is initialised and has its options.
        unsafe { b::nvmf_should_reconnect(self.raw(), status.0) }
    }

    /// The `reconnect_delay` option, in seconds.
    pub(crate) fn reconnect_delay(&self) -> u32 {
        // SAFETY: A fabrics controller has its options for its whole life.
        self.read(|c| unsafe { (*c.opts).reconnect_delay })
    }

    /// Reconnect attempts so far and the most allowed (`-1`: unlimited).
    pub(crate) fn reconnects(&self) -> (i32, i32) {
        // SAFETY: As for `reconnect_delay`.
        self.read(|c| (c.nr_reconnects, unsafe { (*c.opts).max_reconnects }))
    }

    /// Counts one more reconnect attempt.
    pub(crate) fn count_reconnect(&self) {
        // SAFETY: Only the transport's works (reset, error recovery, reconnect), which the
        // controller state machine runs one at a time, write the count.
        unsafe { (*self.raw()).nr_reconnects += 1 };
    }

    /// Adds the attempts to the controller's total and starts counting again.
    pub(crate) fn reconnected(&self) {
        // SAFETY: As for `count_reconnect`.
        unsafe { b::nvme_tcp_rs_reconnected(self.raw()) };
    }

    /// The controller's device, for log lines as the core prints them (`nvme nvmeN: ...`).
    pub(crate) fn device(&self) -> &kernel::device::Device {
        // SAFETY: `nvme_init_ctrl` set `device`, which lives as long as the controller.
        unsafe { kernel::device::Device::from_raw(self.read(|c| c.device)) }
    }

    /// Completes every request of the admin (`admin`) or I/O tag set still in flight with
    /// `NVME_SC_HOST_ABORTED_CMD`.
    pub(crate) fn cancel_tagset(&self, admin: bool) {
        // SAFETY: The tag set is allocated.
        unsafe {
            if admin {
                b::nvme_cancel_admin_tagset(self.raw())
            } else {
                b::nvme_cancel_tagset(self.raw())
            }
        };
    }

    /// Reports the completion of the asynchronous event request.
    pub(crate) fn complete_async_event(&self, status: u16, result: u64) {
        // SAFETY: The controller is live.
        unsafe { b::nvme_tcp_rs_complete_async_event(self.raw(), status, result) };
    }
}

/// The fabrics device `create_ctrl` is called with.
impl FabricsDevice {
    fn as_raw(&self) -> *mut kb::device {
        self.0.as_ptr()
    }
}

/// Returns the controller a `struct nvme_ctrl` pointer of this transport belongs to.
///
/// # Safety
///
/// `ctrl` must be the `ctrl` field of a live `Ctrl<T>`, alive for `'a`.
unsafe fn ctrl_from_raw<'a, T: Driver>(ctrl: *mut b::nvme_ctrl) -> &'a Ctrl<T> {
    // SAFETY: `ctrl` is the first field of the `repr(C)` `Ctrl<T>` (type invariant), so the
    // pointers are equal; the caller guarantees it lives for `'a`.
    unsafe { &*ctrl.cast::<Ctrl<T>>() }
}

/// `free_ctrl` of the ops table: the last reference is gone.
///
/// # Safety
///
/// Called by the core once, with a controller of this transport no one references any more.
unsafe extern "C" fn free_ctrl_callback<T: Driver>(ctrl: *mut b::nvme_ctrl) {
    // SAFETY: The controller is alive until the box is dropped below.
    let c = unsafe { ctrl_from_raw::<T>(ctrl) };
    T::free(c);
    if c.owns_opts.load(Relaxed) {
        // SAFETY: A controller whose creation succeeded owns its options (as the C transport).
        unsafe { b::nvmf_free_options((*ctrl).opts) };
    }
    // SAFETY: `Ctrl::create` leaked this box; no reference to the controller remains.
    drop(unsafe { KBox::from_raw(ctrl.cast::<Ctrl<T>>()) });
}

/// `submit_async_event` of the ops table.
///
/// # Safety
///
/// Called by the core with a live controller of this transport.
unsafe extern "C" fn submit_async_event_callback<T: Driver>(ctrl: *mut b::nvme_ctrl) {
    // SAFETY: The core holds the controller for the call.
    T::submit_async_event(unsafe { ctrl_from_raw::<T>(ctrl) });
}

/// `delete_ctrl` of the ops table.
///
/// # Safety
///
/// Called by the core with a live controller of this transport.
unsafe extern "C" fn delete_ctrl_callback<T: Driver>(ctrl: *mut b::nvme_ctrl) {
    // SAFETY: The core holds the controller for the call.
    T::delete_ctrl(unsafe { ctrl_from_raw::<T>(ctrl) });
}

/// `stop_ctrl` of the ops table.
///
/// # Safety
///
/// Called by the core with a live controller of this transport.
unsafe extern "C" fn stop_ctrl_callback<T: Driver>(ctrl: *mut b::nvme_ctrl) {
    // SAFETY: The core holds the controller for the call.
    T::stop_ctrl(unsafe { ctrl_from_raw::<T>(ctrl) });
}

/// The controller's `reset_work`.
///
/// # Safety
///
/// Called by the workqueue with the `reset_work` of a controller of this transport, which the
/// core keeps alive while the work is queued or running (it flushes it before freeing).
unsafe extern "C" fn reset_work_callback<T: Driver>(work: *mut kb::work_struct) {
    // SAFETY: `work` is the `reset_work` of a controller (see above).
    let ctrl = unsafe { b::nvme_tcp_rs_reset_work_ctrl(work) };
    // SAFETY: As above, the controller is alive for the call.
    T::reset(unsafe { ctrl_from_raw::<T>(ctrl) });
}

/// The controller's `err_work`.
///
/// # Safety
///
/// Called by the workqueue with the `err_work` of a `Ctrl<T>`, which `stop_ctrl` flushes
/// before the controller can be freed.
unsafe extern "C" fn err_work_callback<T: Driver>(work: *mut kb::work_struct) {
    // SAFETY: `work` is the `err_work` field of a live `Ctrl<T>` (`Opaque` is transparent).
    let ctrl = unsafe {
        &*work
            .byte_sub(core::mem::offset_of!(Ctrl<T>, err_work))
            .cast::<Ctrl<T>>()
    };
    T::error_recovery(ctrl);
}

/// The controller's `connect_work`.
///
/// # Safety
///
/// Called by the workqueue with the work of the `connect_work` of a `Ctrl<T>`, which
/// `stop_ctrl` cancels before the controller can be freed.
unsafe extern "C" fn connect_work_callback<T: Driver>(work: *mut kb::work_struct) {
    let offset = core::mem::offset_of!(Ctrl<T>, connect_work)
        + core::mem::offset_of!(kb::delayed_work, work);
    // SAFETY: `work` is the work of the `connect_work` field of a live `Ctrl<T>`.
    let ctrl = unsafe { &*work.byte_sub(offset).cast::<Ctrl<T>>() };
    T::reconnect(ctrl);
}

/// Returns the controller of a tag set's hardware context or request.
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
        // SAFETY: As above.
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

/// `init_request`: the core's request points at its command (in C, `nvme_tcp_rs_init_request`).
///
/// # Safety
///
/// Called by blk-mq for a request of a tag set of this transport.
unsafe extern "C" fn init_request_callback(
    set: *mut kb::blk_mq_tag_set,
    rq: *mut kb::request,
    hctx_idx: u32,
    numa_node: i32,
) -> i32 {
    // SAFETY: The arguments are blk-mq's, passed on unchanged.
    unsafe { b::nvme_tcp_rs_init_request(set, rq, hctx_idx, numa_node as u32) }
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
            ctrl_of_set::<T>(
                (*hctx)
                    .queue
                    .as_ref()
                    .map_or(core::ptr::null_mut(), |q| q.tag_set),
            ),
        )
    };
    let Some(rq) = NonNull::new(rq) else {
        return BlkStatus::IOERR.0;
    };
    // INVARIANT: blk-mq hands the request to the driver.
    match T::queue_rq(ctrl, queue, Request(rq)) {
        Ok(()) => BlkStatus::OK.0,
        Err(s) => s.0,
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
            b::nvme_tcp_rs_rq_cid(rq),
        )
    };
    match T::timeout(ctrl, queue, cid) {
        TimeoutAction::Done => kb::blk_eh_timer_return_BLK_EH_DONE,
        TimeoutAction::ResetTimer => kb::blk_eh_timer_return_BLK_EH_RESET_TIMER,
    }
}

/// Bytes of a request's capsule: the CapsuleCmd header section, with room for the header digest
/// and the padding up to PDO.
pub(crate) const CAPSULE_LEN: usize = 128;

/// What the transport needs of a request, read once its command is set up
/// ([`Request::setup_cmd`]).
#[derive(Clone, Copy)]
pub(crate) struct RqInfo {
    /// The length of its data (0 without data).
    pub(crate) len: u32,
    /// Its command identifier.
    pub(crate) cid: u16,
    /// Data moves to the controller.
    pub(crate) write: bool,
}

/// A request the driver owns: from `queue_rq` until it completes it.
///
/// # Invariants
///
/// `0` is a started (or being started) request of a tag set of this transport, owned by the
/// driver: blk-mq does not complete or free it until [`Request::complete`] (or the core's
/// cancel after the driver dropped it on teardown).
pub(crate) struct Request(NonNull<kb::request>);

// SAFETY: A request may be completed from any context.
unsafe impl Send for Request {}
// SAFETY: Shared references only read the request's fixed properties and data.
unsafe impl Sync for Request {}

impl Request {
    fn raw(&self) -> *mut kb::request {
        self.0.as_ptr()
    }

    /// `nvme_check_ready`: whether the controller accepts this command on a queue that is
    /// (`queue_live`) or is not yet connected.
    pub(crate) fn check_ready<T: Driver>(&self, ctrl: &Ctrl<T>, queue_live: bool) -> bool {
        // SAFETY: The controller and request are valid.
        unsafe { b::nvme_tcp_rs_check_ready(ctrl.raw(), self.raw(), queue_live) }
    }

    /// `nvme_fail_nonready_command`: what to return for a command the controller is not ready
    /// for (the request may be completed by it).
    pub(crate) fn fail_nonready<T: Driver>(self, ctrl: &Ctrl<T>) -> BlkStatus {
        // SAFETY: The controller and request are valid; ownership goes back to blk-mq.
        BlkStatus(unsafe { b::nvme_fail_nonready_command(ctrl.raw(), self.raw()) })
    }

    /// `nvme_setup_cmd`: fills the command from the block request; returns what the
    /// transport needs of the request.
    pub(crate) fn setup_cmd(&self) -> Result<RqInfo, BlkStatus> {
        let mut info = b::nvme_tcp_rs_rq_info::default();
        // SAFETY: The request is valid; its namespace (or none, on the admin queues) too. The
        // helper writes `info` only.
        let s = unsafe { b::nvme_tcp_rs_setup_rq(self.raw(), &mut info) };
        if s == BlkStatus::OK.0 {
            Ok(RqInfo {
                len: info.len,
                cid: info.cid,
                write: info.write,
            })
        } else {
            Err(BlkStatus(s))
        }
    }

    /// `nvme_start_request`: starts the request's timer.
    pub(crate) fn start(&self) {
        // SAFETY: The request is valid and owned by the driver.
        unsafe { b::nvme_tcp_rs_start_request(self.raw()) };
    }

    /// Returns the request's capsule (`struct nvme_tcp_rs_capsule`, in its PDU).
    fn capsule_ptr(&self) -> *mut b::nvme_tcp_rs_capsule {
        // SAFETY: The request is valid, and its PDU follows it in the same allocation
        // (`blk_mq_rq_to_pdu`, inlined here); the PDU of a request of the driver's tag sets is a
        // `struct nvme_tcp_rs_pdu` (`cmd_size`).
        let pdu = unsafe { self.raw().add(1) }.cast::<b::nvme_tcp_rs_pdu>();
        // SAFETY: `pdu` points to a valid PDU; no reference to it is made.
        unsafe { &raw mut (*pdu).capsule }
    }

    /// Returns the request's CapsuleCmd header section: the command as set up by
    /// [`Request::setup_cmd`] at bytes 8..72 (the SQE), framed around it by the driver.
    pub(crate) fn capsule(&self) -> &[u8; CAPSULE_LEN] {
        // SAFETY: The capsule is 128 bytes of plain data (a C `static_assert`); the core writes
        // it only while it sets the command up, before `queue_rq` gives the driver the request.
        unsafe { &*self.capsule_ptr().cast() }
    }

    /// Returns the request's CapsuleCmd header section, to frame.
    pub(crate) fn capsule_mut(&mut self) -> &mut [u8; CAPSULE_LEN] {
        // SAFETY: As for `capsule`; `&mut self` makes this the only reference the driver has.
        unsafe { &mut *self.capsule_ptr().cast() }
    }

    /// Sends bytes `from..to` of the capsule on `sock` without blocking. Returns how many went
    /// out (`None`: the socket is full).
    ///
    /// The bytes are copied (the C host sends its command PDUs zero-copy, `MSG_SPLICE_PAGES`:
    /// for a capsule of 72 bytes, the page reference and the iterator over it cost the stack
    /// more than the copy), so the capsule may be framed again as soon as this returns.
    pub(crate) fn send_capsule(&self, sock: &Socket, from: usize, to: usize, more: bool) -> Io {
        let bytes = self.capsule().get(from..to).ok_or(EINVAL)?;
        sock.send(bytes, more)
    }

    /// Returns the command (the SQE) as set up by [`Request::setup_cmd`], in the capsule.
    pub(crate) fn sqe_mut(&mut self) -> &mut [u8; 64] {
        // SAFETY: As for `capsule_mut`; the command is the 64 bytes of the capsule's `cmd`.
        unsafe { &mut *(&raw mut (*self.capsule_ptr()).cmd).cast() }
    }

    /// Returns the command's opcode.
    pub(crate) fn opcode(&self) -> u8 {
        self.capsule()[8]
    }

    /// Returns the name of the command's opcode on queue `qid` (fabrics commands by their
    /// type), as the core's log lines spell it.
    pub(crate) fn opcode_name(&self, qid: u16) -> &CStr {
        // SAFETY: The request is valid and its command set up; the helper returns a static
        // string.
        unsafe { CStr::from_char_ptr(b::nvme_tcp_rs_rq_opcode_str(i32::from(qid), self.raw())) }
    }

    /// Returns the pieces of bytes `offset..offset + len` of the data, as many as one socket
    /// call takes (they may cover less than `len`).
    fn map(&self, offset: u32, len: u32, out: &mut Vecs<kb::kvec>) {
        // SAFETY: The request is valid; the helper writes at most `max` entries from the start
        // of the array and returns how many (or a negative error, read as none).
        unsafe {
            out.fill_with(|v, max| {
                let n = b::nvme_tcp_rs_rq_map(self.raw(), offset, len, v, max as i32);
                usize::try_from(n).unwrap_or(0)
            })
        };
    }

    /// Calls `f` on each contiguous piece of the data `offset..offset + len`, in order.
    pub(crate) fn for_each_piece(&self, offset: u32, len: u32, mut f: impl FnMut(&[u8])) {
        self.for_each_kvec(offset, len, |v| {
            // SAFETY: `map` made `v` from a piece of the request's data (direct map, no
            // highmem), which the driver owns while the request is in flight.
            f(unsafe { piece(v) })
        });
    }

    /// Calls `f` on the mapping of each contiguous piece of the data `offset..offset + len`,
    /// in order.
    fn for_each_kvec(&self, offset: u32, len: u32, mut f: impl FnMut(&kb::kvec)) {
        let mut at = offset;
        let end = offset.saturating_add(len);
        let mut iovs = Vecs::new();
        while at < end {
            self.map(at, end - at, &mut iovs);
            if iovs.as_slice().is_empty() {
                return;
            }
            for v in iovs.as_slice() {
                f(v);
                at = at.saturating_add(u32::try_from(v.iov_len).unwrap_or(u32::MAX));
            }
        }
    }

    /// Copies `bytes` into the data at `offset` (a read's buffer, which the driver owns while
    /// the request is in flight); what lies beyond the data is dropped.
    ///
    /// Data placed in order continues where the last copy stopped: a cursor in the request's
    /// PDU, hence `&mut self`.
    pub(crate) fn copy_in(&mut self, offset: u32, bytes: &[u8]) {
        let Ok(len) = u32::try_from(bytes.len()) else {
            return;
        };
        let src = bytes.as_ptr().cast();
        // SAFETY: The request is valid, and `&mut self` makes this the only user of its cursor;
        // the helper reads the `len` bytes at `src` and writes only within the request's data,
        // which only this driver writes while the request is in flight.
        let _ = unsafe { b::nvme_tcp_rs_rq_copy_in(self.raw(), offset, src, len) };
    }

    /// Copies `src` out of its socket buffer into the data at `offset` (a read's buffer, which
    /// the driver owns while the request is in flight), from where the last copy stopped as
    /// [`Request::copy_in`]; `false` (with nothing or part copied) if the data is shorter or
    /// the copy failed.
    pub(crate) fn copy_from_skb(&mut self, offset: u32, src: &SkbBytes<'_>) -> bool {
        let (skb, at) = src.raw();
        // SAFETY: The request is valid, and `&mut self` makes this the only user of its cursor;
        // the helper writes only within the request's data, which only this driver writes
        // while the request is in flight; `src` keeps its `len()` bytes from `at` of `skb`
        // readable.
        unsafe { b::nvme_tcp_rs_rq_copy_skb(self.raw(), offset, skb, at, src.len()) == 0 }
    }

    /// Sends the first pieces of the data `at..end` on `sock` without blocking: zero-copy
    /// (`MSG_SPLICE_PAGES`) from the bio pages, copied where a page may not be spliced.
    /// Returns how many bytes went out (`None`: the socket is full). `more` asks for
    /// `MSG_MORE` after the last of them; it is set anyway while data remains.
    pub(crate) fn send_some(&self, sock: &Socket, at: u32, end: u32, more: bool) -> Io {
        let mut bvecs = Vecs::<kb::bio_vec>::new();
        let mut spliceable = true;
        // SAFETY: The request is valid; the helper writes at most `max` entries from the start
        // of the array and returns how many, or a negative error before which it may have
        // written some (read as none).
        unsafe {
            bvecs.fill_with(|v, max| {
                let n = b::nvme_tcp_rs_rq_map_pages(self.raw(), at, end - at, v.cast(), max as i32);
                spliceable = n >= 0;
                usize::try_from(n).unwrap_or(0)
            })
        };
        if spliceable {
            let chunk: u32 = bvecs.as_slice().iter().map(|v| v.bv_len).sum();
            if chunk == 0 {
                return Err(EINVAL);
            }
            // SAFETY: The pages are the request's bio pages, referenced while it is in flight,
            // and the helper checked that they may be spliced.
            return unsafe {
                sock.send_pages(bvecs.as_slice(), chunk as usize, more || at + chunk < end)
            };
        }
        // A page among them cannot be spliced: copied.
        let mut iovs = Vecs::new();
        self.map(at, end - at, &mut iovs);
        let chunk: usize = iovs.as_slice().iter().map(|v| v.iov_len).sum();
        if chunk == 0 {
            return Err(EINVAL);
        }
        let more = more || at as usize + chunk < end as usize;
        // SAFETY: The pieces are the request's data, readable while it is in flight.
        unsafe { sock.send_kvecs(iovs.as_mut_slice(), chunk, more) }
    }

    /// Completes the request with the CQE's `status` field (phase bit included) and result.
    pub(crate) fn complete(self, status: u16, result: u64) {
        // SAFETY: The driver owns the request (type invariant) and gives it back here.
        unsafe { b::nvme_tcp_rs_complete_rq(self.raw(), status, result) };
    }
}

/// Returns the bytes a `kvec` maps.
///
/// # Safety
///
/// `v` must describe memory valid for reads, and not written, while the result is borrowed.
unsafe fn piece(v: &kb::kvec) -> &[u8] {
    // SAFETY: The caller guarantees the memory.
    unsafe { core::slice::from_raw_parts(v.iov_base.cast::<u8>(), v.iov_len) }
}

/// Gives back a CPU of [`Ctrl::get_io_cpu`].
pub(crate) fn put_io_cpu(cpu: u32) {
    // SAFETY: The helper decrements a counter it bounds-checks.
    unsafe { b::nvme_tcp_rs_put_io_cpu(cpu as i32) };
}

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

/// Returns the number of online CPUs.
pub(crate) fn num_online_cpus() -> u32 {
    // SAFETY: The helper only reads the online mask.
    unsafe { b::nvme_tcp_rs_num_online_cpus() }
}

/// Returns whether I/O work runs unbound (the `wq_unbound` parameter).
pub(crate) fn wq_unbound() -> bool {
    // SAFETY: The accessor reads a `bool` parameter with `READ_ONCE`.
    unsafe { b::nvme_tcp_rs_wq_unbound() }
}

/// Returns the `so_priority` parameter.
pub(crate) fn so_priority() -> i32 {
    // SAFETY: As above.
    unsafe { b::nvme_tcp_rs_so_priority() }
}

/// Returns the index of network interface `name`.
pub(crate) fn ifindex(name: &CStr) -> Result<i32> {
    // SAFETY: `name` is a NUL-terminated string.
    let idx = unsafe { b::nvme_tcp_rs_ifindex(name.as_char_ptr()) };
    to_result(idx.min(0))?;
    Ok(idx)
}

/// Waits until every controller deletion queued so far has run.
pub(crate) fn flush_delete_wq() {
    // SAFETY: As for `nvme_wq`, `nvme_delete_wq` lives as long as `nvme-core`.
    unsafe { kb::__flush_workqueue(b::nvme_delete_wq) };
}
