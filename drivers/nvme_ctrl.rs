// SPDX-License-Identifier: GPL-2.0

//! Host controllers: `struct nvme_ctrl` with its `nvme_ctrl_ops` table, counted by the core
//! ([`ARef<Ctrl<T>>`] through [`AlwaysRefCounted`]), its state machine, and the transport's own
//! works (error recovery and reconnect, as [`Work`] and [`DelayedWork`] items).
//!
//! Each `extern "C"` entry point hands off at once to the safe [`Driver`] trait. What needs the
//! controller's tag sets is on the owned tag set handles of [`crate::tag_set`].

use crate::fabrics::{bindings as b, CtrlHandle, FabricsDevice, Options};
use crate::tag_set::{IoQueues, TagSets};
use crate::workqueue::{cancel_delayed_sync, flush};
use core::{marker::PhantomData, ptr::NonNull};
use kernel::{
    bindings as kb,
    error::to_result,
    new_delayed_work, new_work,
    prelude::*,
    sync::{
        aref::{ARef, AlwaysRefCounted},
        atomic::{Atomic, Relaxed},
        Arc, ArcBorrow,
    },
    types::Opaque,
    workqueue::{self, impl_has_delayed_work, impl_has_work, DelayedWork, Work, WorkItem},
    ThisModule,
};

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
pub(crate) fn check_status(ret: i32) -> Result<(), SetupError> {
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

/// What the timeout handler decided.
pub(crate) enum TimeoutAction {
    /// The driver completed the request.
    Done,
    /// Error recovery will complete the request: restart its timer meanwhile.
    ResetTimer,
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
        rq: crate::request::Request,
    ) -> Result<(), crate::request::BlkStatus>;
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
    /// Stops the transport's own work on the controller (then [`Ctrl::stop_works`] runs).
    fn stop_ctrl(ctrl: &Ctrl<Self>);
    /// The core asked for a reset (`reset_work`).
    fn reset(ctrl: &StateWork<'_, Self>);
    /// The error recovery work, queued by [`Ctrl::start_error_recovery`].
    fn error_recovery(ctrl: &StateWork<'_, Self>);
    /// The reconnect work, queued by [`StateWork::queue_reconnect`].
    fn reconnect(ctrl: &StateWork<'_, Self>);
}

/// A controller borrowed by one of its state-machine works: the setup at its creation,
/// `reset_work`, the error recovery work or the reconnect work.
///
/// The core runs them one at a time: each starts from a state change only one caller can make
/// (to `Resetting` from `New` or `Live`, to `Connecting` from `New`, or to `Connecting` from
/// `Resetting` by the work that made that one), and the next can only start once the one
/// before made the controller live again or gave it up. What the state machine alone changes,
/// the PSK secure concatenation generated, is reached through this type, which only this
/// module makes: in the three works' callbacks and by [`AddedCtrl::start_connecting`].
///
/// Two windows are the core's, and the C host has them too: the core's re-authentication
/// work (a write to `dhchap_secret`) replaces the generated PSK on its own, and a reset asked
/// for between `nvme_add_ctrl` and the creation's change to `Connecting` runs beside the
/// creation's setup.
pub(crate) struct StateWork<'a, T: Driver> {
    ctrl: &'a Ctrl<T>,
    /// Not sent to another thread: the work's own thread holds the state.
    _not_send: PhantomData<*mut ()>,
}

impl<T: Driver> core::ops::Deref for StateWork<'_, T> {
    type Target = Ctrl<T>;

    fn deref(&self) -> &Ctrl<T> {
        self.ctrl
    }
}

impl<'a, T: Driver> StateWork<'a, T> {
    /// Called only where a state-machine work of `ctrl` starts (see the type).
    fn new(ctrl: &'a Ctrl<T>) -> Self {
        Self {
            ctrl,
            _not_send: PhantomData,
        }
    }

    /// Queues the reconnect work ([`Driver::reconnect`]) on `nvme_wq`, `secs` seconds from now,
    /// unless it is queued already; the state machine passes to it. It holds a reference to
    /// the controller until it ran.
    pub(crate) fn queue_reconnect(&self, secs: u32) {
        let delay = kernel::time::msecs_to_jiffies(secs.saturating_mul(1000));
        let _ = nvme_wq().enqueue_delayed::<_, 2>(ARef::from(self.ctrl), delay);
    }

    /// Returns the serial number of the PSK that secure concatenation (`concat`) generated when
    /// the admin queue last authenticated, if there is one and `concat` was asked for.
    ///
    /// The core sets it (`opts->tls_key`, revoking the one before) when the admin queue's
    /// authentication succeeds, inside the admin queue's Connect, which a state-machine work
    /// sends; [`StateWork::revoke_generated_psk`] clears it.
    pub(crate) fn generated_psk(&self) -> Option<i32> {
        let opts = self.read(|c| c.opts);
        // SAFETY: A fabrics controller's `opts` are valid for its whole life.
        let (concat, key) = unsafe { ((*opts).concat, (*opts).tls_key) };
        if !concat || key.is_null() {
            return None;
        }
        // SAFETY: `opts->tls_key` holds a counted reference to the key until it is replaced or
        // revoked, which only the state machine does and which this borrow of it keeps from
        // happening meanwhile (but for the core's re-authentication, see the type); a key's
        // serial number never changes.
        Some(unsafe { (*key).serial })
    }

    /// Revokes the PSK that secure concatenation generated, as the C host does before a reset
    /// or error recovery, so that the next connection authenticates and generates a new one;
    /// does nothing without one, or without `concat`.
    pub(crate) fn revoke_generated_psk(&self) {
        if self.generated_psk().is_none() {
            return;
        }
        // SAFETY: The controller is initialised; the core's function revokes and puts
        // `opts->tls_key` and clears it. This borrow of the state machine keeps any other
        // caller of it away meanwhile (see the type).
        unsafe { b::nvme_tcp_rs_auth_revoke_tls_key(self.raw()) };
    }
}

/// Checks that bindgen and the C compiler agree on the layout of the structures this layer
/// shares with the core.
pub(crate) fn check_layout() -> Result {
    // SAFETY: The helpers only return `sizeof` of a type; they have no preconditions.
    let (ops, ctrl, set) = unsafe {
        (
            b::nvme_tcp_rs_sizeof_ctrl_ops(),
            b::nvme_tcp_rs_sizeof_ctrl(),
            b::nvme_tcp_rs_sizeof_tag_set(),
        )
    };
    crate::layout::check_sizes(&[
        ("nvme_ctrl_ops", ops, size_of::<b::nvme_ctrl_ops>()),
        ("nvme_ctrl", ctrl, size_of::<b::nvme_ctrl>()),
        ("blk_mq_tag_set", set, size_of::<kb::blk_mq_tag_set>()),
    ])
}

/// The `nvme_ctrl_ops` of a [`Driver`], a `static` of the module, complete at compile time.
pub(crate) struct CtrlOpsTable<T: Driver> {
    ops: Opaque<b::nvme_ctrl_ops>,
    _driver: PhantomData<T>,
}

// SAFETY: The table is never written after it is built (at compile time); the core only reads
// it.
unsafe impl<T: Driver> Sync for CtrlOpsTable<T> {}

impl<T: Driver> CtrlOpsTable<T> {
    /// Returns the table of `T`'s callbacks, for controllers that hold `module` while their
    /// device is open.
    pub(crate) const fn new(module: &'static ThisModule) -> Self {
        Self {
            ops: Opaque::new(b::nvme_ctrl_ops {
                name: c"tcp".to_bytes_with_nul().as_ptr(),
                module: module.as_ptr(),
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
}

/// An NVMe controller of the transport: the core's `struct nvme_ctrl`, the two tag sets, the
/// transport's works and its data.
///
/// # Invariants
///
/// `ctrl` is first, so a `struct nvme_ctrl *` of a controller of this type is a pointer to the
/// whole. Once [`Ctrl::create`] returned, the value is reference counted by the core
/// (`nvme_get_ctrl`/`nvme_put_ctrl`, see [`AlwaysRefCounted`]) and freed in `free_ctrl`;
/// `nvme_init_ctrl` initialised `ctrl`, and `reset_work` runs [`Driver::reset`].
#[repr(C)]
#[pin_data]
pub(crate) struct Ctrl<T: Driver> {
    #[pin]
    ctrl: Opaque<b::nvme_ctrl>,
    /// The admin and I/O tag sets, each allocated while an owned handle of it exists.
    #[pin]
    pub(crate) sets: TagSets,
    /// Runs [`Driver::error_recovery`].
    #[pin]
    err_work: Work<Ctrl<T>, 1>,
    /// Runs [`Driver::reconnect`].
    #[pin]
    connect_work: DelayedWork<Ctrl<T>, 2>,
    /// Whether `free_ctrl` frees the options (only a controller whose creation succeeded owns
    /// them; `nvme-fabrics` frees them when creation fails).
    owns_opts: Atomic<bool>,
    #[pin]
    data: T,
}

// SAFETY: The core serialises what it does with `struct nvme_ctrl` with its own locks; `T` is
// `Send + Sync`.
unsafe impl<T: Driver> Send for Ctrl<T> {}
// SAFETY: Shared references go through the core's functions, which lock, through fields the
// core sets once, and through atomics; `T` is `Sync`.
unsafe impl<T: Driver> Sync for Ctrl<T> {}

// SAFETY: The core counts references to a controller with `nvme_get_ctrl`/`nvme_put_ctrl` (its
// device's reference count); the last put frees it through `free_ctrl`, which drops the box.
// Every `Ctrl<T>` that can be referenced was initialised by `nvme_init_ctrl` (type invariant).
unsafe impl<T: Driver> AlwaysRefCounted for Ctrl<T> {
    fn inc_ref(&self) {
        // SAFETY: The controller is alive while borrowed; this takes another reference.
        unsafe { b::nvme_tcp_rs_ctrl_get(self.raw()) };
    }

    /// # Safety
    ///
    /// `obj` must be a controller on which the caller holds a reference, which it gives up.
    unsafe fn dec_ref(obj: NonNull<Self>) {
        // SAFETY: The caller gives up a reference it holds on a live controller; `ctrl` is the
        // first field (type invariant).
        unsafe { b::nvme_tcp_rs_ctrl_put(obj.as_ptr().cast()) };
    }
}

impl_has_work! {
    impl{T: Driver} HasWork<Ctrl<T>, 1> for Ctrl<T> { self.err_work }
}

impl_has_delayed_work! {
    impl{T: Driver} HasDelayedWork<Ctrl<T>, 2> for Ctrl<T> { self.connect_work }
}

impl<T: Driver> WorkItem<1> for Ctrl<T> {
    type Pointer = ARef<Ctrl<T>>;

    fn run(this: ARef<Ctrl<T>>) {
        // Queued only by `start_error_recovery`, after its change to `Resetting`.
        T::error_recovery(&StateWork::new(&this));
    }
}

impl<T: Driver> WorkItem<2> for Ctrl<T> {
    type Pointer = ARef<Ctrl<T>>;

    fn run(this: ARef<Ctrl<T>>) {
        // Queued only by a state-machine work, which passed the state machine on to it.
        T::reconnect(&StateWork::new(&this));
    }
}

/// A controller just created ([`Ctrl::create`]), not yet visible: [`NewCtrl::add`] adds it.
pub(crate) struct NewCtrl<T: Driver>(ARef<Ctrl<T>>);

/// A controller added (`/dev/nvmeN` exists) whose creation has not finished: it is handed to
/// `nvme-fabrics` ([`AddedCtrl::into_handle`]) or taken away again ([`AddedCtrl::uninit`]).
pub(crate) struct AddedCtrl<T: Driver>(ARef<Ctrl<T>>);

impl<T: Driver> core::ops::Deref for NewCtrl<T> {
    type Target = Ctrl<T>;

    fn deref(&self) -> &Ctrl<T> {
        &self.0
    }
}

impl<T: Driver> core::ops::Deref for AddedCtrl<T> {
    type Target = Ctrl<T>;

    fn deref(&self) -> &Ctrl<T> {
        &self.0
    }
}

impl<T: Driver> NewCtrl<T> {
    /// `nvme_add_ctrl`: makes the controller visible (`/dev/nvmeN`). On failure the controller
    /// goes with its last reference.
    pub(crate) fn add(self) -> Result<AddedCtrl<T>> {
        // SAFETY: The controller was initialised by `nvme_init_ctrl` and not added yet (the
        // typestate is consumed here).
        to_result(unsafe { b::nvme_add_ctrl(self.0.raw()) })?;
        Ok(AddedCtrl(self.0))
    }
}

impl<T: Driver> AddedCtrl<T> {
    /// `nvme_uninit_ctrl`: undoes [`NewCtrl::add`] when creation fails afterwards; the
    /// controller goes with its last reference.
    pub(crate) fn uninit(self) {
        // SAFETY: The controller was added and not uninitialised yet (the typestate is consumed
        // here).
        unsafe { b::nvme_uninit_ctrl(self.0.raw()) };
    }

    /// Moves the new controller to `Connecting` for its first setup, which runs as a
    /// state-machine work (see [`StateWork`]); `None` if the core refused (a deletion or reset
    /// asked for meanwhile).
    pub(crate) fn start_connecting(&self) -> Option<StateWork<'_, T>> {
        if !self.0.change_state(CtrlState::Connecting) {
            return None;
        }
        Some(StateWork::new(&self.0))
    }

    /// Returns a new counted reference, for the transport's own registry.
    pub(crate) fn get(&self) -> ARef<Ctrl<T>> {
        self.0.clone()
    }

    /// Hands the controller, with this reference, to `nvme-fabrics` as the result of
    /// `create_ctrl`: from now on it owns its options.
    pub(crate) fn into_handle(self) -> CtrlHandle {
        self.0.owns_opts.store(true, Relaxed);
        let ptr = ARef::into_raw(self.0);
        // SAFETY: `ptr` is a live controller initialised with `nvme_init_ctrl` and added, and
        // the reference the `ARef` held goes with it (`ctrl` is the first field).
        unsafe { CtrlHandle::from_raw(ptr.cast()) }
    }
}

/// Returns the workqueue the core runs controller resets on, `nvme_reset_wq`.
fn nvme_reset_wq() -> &'static workqueue::Queue {
    // SAFETY: `nvme_reset_wq` is allocated by `nvme-core`, which this module depends on, for as
    // long as it is loaded.
    unsafe { workqueue::Queue::from_raw(b::nvme_reset_wq) }
}

/// Returns the core's general workqueue, `nvme_wq`.
fn nvme_wq() -> &'static workqueue::Queue {
    // SAFETY: `nvme_wq` is allocated by `nvme-core`, which this module depends on, for as long
    // as it is loaded.
    unsafe { workqueue::Queue::from_raw(b::nvme_wq) }
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
    ) -> Result<NewCtrl<T>> {
        check_layout()?;
        let boxed = KBox::pin_init(
            try_pin_init!(Self {
                ctrl: Opaque::zeroed(),
                sets <- TagSets::new(),
                err_work <- new_work!("Ctrl::err_work"),
                connect_work <- new_delayed_work!("Ctrl::connect_work"),
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
        to_result(unsafe { b::nvme_init_ctrl(c, dev.as_raw(), ops.ops.get(), 0) })?;
        // SAFETY: `c` was initialised above; its `reset_work` belongs to it, and the callback
        // is this controller type's.
        unsafe { b::nvme_tcp_rs_init_reset_work(c, Some(reset_work_callback::<T>)) };
        // SAFETY: From here the core counts references; `free_ctrl` turns the pointer back into
        // the box. The value stays pinned: it is never moved out of the allocation.
        let raw = KBox::into_raw(unsafe { Pin::into_inner_unchecked(boxed) });
        // INVARIANT: `nvme_init_ctrl` initialised the controller; it took the initial
        // reference, which the `ARef` holds.
        // SAFETY: That reference is given to the `ARef`.
        let aref = unsafe { ARef::from_raw(NonNull::new(raw).ok_or(ENOMEM)?) };
        Ok(NewCtrl(aref))
    }

    pub(crate) fn raw(&self) -> *mut b::nvme_ctrl {
        self.ctrl.get()
    }

    /// Returns the transport's data.
    pub(crate) fn data(&self) -> &T {
        &self.data
    }

    /// Returns a field of the core's controller.
    pub(crate) fn read<R>(&self, f: impl FnOnce(&b::nvme_ctrl) -> R) -> R {
        // SAFETY: The controller is alive while borrowed; the fields read are plain values
        // the core sets during initialisation or the transport itself writes.
        f(unsafe { &*self.raw() })
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
        // SAFETY: The controller is initialised; the core refuses a second deletion itself.
        to_result(unsafe { b::nvme_delete_ctrl(self.raw()) })
    }

    /// `nvme_stop_keep_alive`.
    pub(crate) fn stop_keep_alive(&self) {
        // SAFETY: The controller is initialised; the core's keep-alive work exists from
        // `nvme_init_ctrl` on.
        unsafe { b::nvme_stop_keep_alive(self.raw()) };
    }

    /// `nvme_stop_ctrl`: stops keep-alive, the core's works and the transport's
    /// ([`Driver::stop_ctrl`]).
    pub(crate) fn stop(&self) {
        // SAFETY: The controller is initialised.
        unsafe { b::nvme_stop_ctrl(self.raw()) };
    }

    /// Waits for the core's asynchronous event work to finish.
    pub(crate) fn flush_async_event_work(&self) {
        // SAFETY: The core initialised the work in `nvme_init_ctrl`.
        unsafe { kb::flush_work(&raw mut (*self.raw()).async_event_work) };
    }

    /// Splits `granted` I/O queues over the maps as the options ask (`nvmf_set_io_queues`).
    pub(crate) fn split_io_queues(&self, granted: u32) -> IoQueues {
        let mut counts = [0u32; kb::hctx_type_HCTX_MAX_TYPES as usize];
        // SAFETY: `opts` is set for the controller's life; `counts` has `HCTX_MAX_TYPES`
        // entries.
        unsafe { b::nvmf_set_io_queues((*self.raw()).opts, granted, counts.as_mut_ptr()) };
        IoQueues(counts)
    }

    /// Sets the number of queues, the admin queue included (read when the I/O tag set is
    /// allocated and by the core's queue loops).
    pub(crate) fn set_queue_total(&self, count: u32) {
        // SAFETY: The field is valid; it is written once, as C does (`WRITE_ONCE`), while the
        // controller is connecting, and read by the core after.
        unsafe { core::ptr::write_volatile(&raw mut (*self.raw()).queue_count, count) };
    }

    /// Returns SQSIZE (0's based) and MAXCMD.
    pub(crate) fn sqsize_maxcmd(&self) -> (u16, u16) {
        self.read(|c| (c.sqsize, c.maxcmd))
    }

    /// Sets SQSIZE (0's based).
    pub(crate) fn set_sqsize(&self, sqsize: u16) {
        // SAFETY: The field is valid; it is written while the controller is connecting, as C
        // does (`WRITE_ONCE`), and read by the core after.
        unsafe { core::ptr::write_volatile(&raw mut (*self.raw()).sqsize, sqsize) };
    }

    /// Returns IOCCSZ (I/O command capsule size in 16-byte units) and ICDOFF.
    pub(crate) fn ioccsz_icdoff(&self) -> (u32, u16) {
        self.read(|c| (c.ioccsz, c.icdoff))
    }

    /// Starts error recovery if the controller is live (or new), as `nvme_tcp_error_recovery`:
    /// moves it to `Resetting` and queues the error recovery work ([`Driver::error_recovery`])
    /// on `nvme_reset_wq`, which holds a reference to the controller until it ran. Returns
    /// whether it did. Called when a connection fails or a command times out.
    pub(crate) fn start_error_recovery(&self) -> bool {
        if !self.change_state(CtrlState::Resetting) {
            return false;
        }
        dev_warn!(self.device(), "starting error recovery\n");
        let _ = nvme_reset_wq().enqueue::<_, 1>(ARef::from(self));
        true
    }

    /// Stops the transport's works: waits for the error recovery work to finish, cancels the
    /// reconnect work (waiting for it if it runs).
    pub(crate) fn stop_works(&self) {
        flush::<_, 1>(self);
        drop(cancel_delayed_sync::<_, 2>(self));
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

    /// The options the controller was created with, which it holds for its whole life.
    pub(crate) fn options(&self) -> &Options {
        // SAFETY: A fabrics controller's `opts` are set before it is shared and stay valid,
        // unchanged, until it is freed, which borrowing it prevents.
        unsafe { Options::from_raw(self.read(|c| c.opts)) }
    }

    /// The PSK the admin queue's TLS handshake authenticated, which the I/O queues use too;
    /// its serial number is what the controller's `tls_key` attribute shows (none: 0).
    fn tls_pskid(&self) -> &Atomic<i32> {
        // SAFETY: The field is valid for the controller's life. The transport writes it from
        // its setup and teardown, which the controller's state machine runs one at a time; the
        // core's `tls_key` attribute reads it concurrently, a plain aligned `key_serial_t` read
        // as C allows.
        unsafe { Atomic::from_ptr(&raw mut (*self.raw()).tls_pskid) }
    }

    /// Returns the negotiated PSK's serial number (see [`Ctrl::set_tls_pskid`]), 0 if none.
    pub(crate) fn negotiated_psk(&self) -> i32 {
        self.tls_pskid().load(Relaxed)
    }

    /// Records the serial number of the PSK the admin queue negotiated (0: forgets it).
    pub(crate) fn set_tls_pskid(&self, serial: i32) {
        self.tls_pskid().store(serial, Relaxed);
    }

    /// The count of reconnect attempts, which the core reads too.
    fn nr_reconnects(&self) -> &Atomic<i32> {
        // SAFETY: The field is valid for the controller's life; every access to it, here and in
        // the core, is a plain aligned `int` access that the transport's works, run one at a
        // time by the controller's state machine, make: no access races with a write.
        unsafe { Atomic::from_ptr(&raw mut (*self.raw()).nr_reconnects) }
    }

    /// Reconnect attempts so far and the most allowed (`-1`: unlimited).
    pub(crate) fn reconnects(&self) -> (i32, i32) {
        // SAFETY: A fabrics controller has its options, unchanged, for its whole life.
        let max = self.read(|c| unsafe { (*c.opts).max_reconnects });
        (self.nr_reconnects().load(Relaxed), max)
    }

    /// Counts one more reconnect attempt.
    pub(crate) fn count_reconnect(&self) {
        self.nr_reconnects().add(1, Relaxed);
    }

    /// Adds the attempts to the controller's total and starts counting again.
    pub(crate) fn reconnected(&self) {
        let n = self.nr_reconnects().xchg(0, Relaxed);
        // SAFETY: `acc_reconnects` is an `atomic_long_t` of the controller, accessed atomically
        // only (here and by the core's sysfs attribute).
        let acc = unsafe { Atomic::<i64>::from_ptr(&raw mut (*self.raw()).acc_reconnects.counter) };
        acc.add(i64::from(n), Relaxed);
    }

    /// The controller's device, for log lines as the core prints them (`nvme nvmeN: ...`).
    pub(crate) fn device(&self) -> &kernel::device::Device {
        // SAFETY: `nvme_init_ctrl` set `device`, which lives as long as the controller.
        unsafe { kernel::device::Device::from_raw(self.read(|c| c.device)) }
    }

    /// Reports the completion of the asynchronous event request with the CQE's `status` field
    /// (phase bit included) and result.
    pub(crate) fn complete_async_event(&self, status: u16, result: u64) {
        let mut res = b::nvme_completion_nvme_result::default();
        // SAFETY: The union's `u64` member covers all of it.
        unsafe { *res.u64_.as_mut() = result.to_le() };
        // SAFETY: The controller is initialised; `res` is valid for the call.
        unsafe { b::nvme_complete_async_event(self.raw(), status.to_le(), &mut res) };
    }
}

/// Returns the controller a `struct nvme_ctrl` pointer of this transport belongs to.
///
/// # Safety
///
/// `ctrl` must be the `ctrl` field of a live `Ctrl<T>`, alive for `'a`.
pub(crate) unsafe fn ctrl_from_raw<'a, T: Driver>(ctrl: *mut b::nvme_ctrl) -> &'a Ctrl<T> {
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
    let c = unsafe { ctrl_from_raw::<T>(ctrl) };
    T::stop_ctrl(c);
    c.stop_works();
}

/// The controller's `reset_work`.
///
/// # Safety
///
/// Called by the workqueue with the `reset_work` of a controller of this transport, which the
/// core keeps alive while the work is queued or running (it flushes it before freeing).
unsafe extern "C" fn reset_work_callback<T: Driver>(work: *mut kb::work_struct) {
    let offset = core::mem::offset_of!(b::nvme_ctrl, reset_work);
    // SAFETY: `work` is the `reset_work` field of a `struct nvme_ctrl` of this transport (see
    // above), which is alive for the call.
    let ctrl = unsafe { work.byte_sub(offset).cast::<b::nvme_ctrl>() };
    // SAFETY: `ctrl` is the `struct nvme_ctrl` of a `Ctrl<T>` (its `reset_work` runs this
    // transport's callback), alive for the call.
    let ctrl = unsafe { ctrl_from_raw::<T>(ctrl) };
    // The core queues `reset_work` only after a change to `Resetting` it made for it.
    T::reset(&StateWork::new(ctrl));
}
