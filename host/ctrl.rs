// SPDX-License-Identifier: GPL-2.0

//! The host's controller: creation (admin queue, I/O queues, start), teardown on delete, and
//! the registry of live controllers for module unload.

use crate::fabrics::{opt, CtrlHandle, FabricsDevice, Options};
use crate::nvme_host::{
    self, BlkStatus, Ctrl, CtrlOpsTable, CtrlRef, CtrlState, Driver, Request, TimeoutAction,
};
use crate::queue::Queue;
use crate::socket::SockAddr;
use kernel::{
    new_mutex,
    prelude::*,
    str::BStr,
    sync::{global_lock, Arc, ArcBorrow, Mutex},
};

/// The controller ops table of the host.
pub(crate) static CTRL_OPS: CtrlOpsTable<Host> = CtrlOpsTable::new();

/// In-capsule data of the admin queue (8 KiB, as the C host: room for Connect's 1 KiB).
const ADMIN_INCAPSULE: u32 = 8192;

/// Command slots of the admin queue: the blk-mq tags and the asynchronous event request.
const ADMIN_DEPTH: usize = nvme_host::AQ_DEPTH;

/// Size of an SQE, the part of an I/O command capsule (IOCCSZ) that is not data.
const SQE_LEN: u32 = 64;

global_lock! {
    // SAFETY: Initialised in the module's `init` before the transport is registered.
    unsafe(uninit) static CTRLS: Mutex<KVec<CtrlRef<Host>>> = KVec::new();
}

/// Initialises the registry; called once at module load.
pub(crate) fn init() {
    // SAFETY: Called once, before any other use.
    unsafe { CTRLS.init() };
}

/// Removes every controller; called at module unload (the transport is unregistered).
pub(crate) fn delete_all() {
    let ctrls = core::mem::take(&mut *CTRLS.lock());
    for c in ctrls.iter() {
        let _ = c.schedule_delete();
    }
    drop(ctrls);
    nvme_host::flush_delete_wq();
    // Receive work still queued for stopped queues runs this module's code: let it finish.
    nvme_host::flush_nvme_wq();
}

/// Which parts of the controller are set up (for teardown after a partial setup).
#[derive(Default)]
struct Setup {
    admin_tag_set: bool,
    io_tag_set: bool,
}

/// The transport's data of a controller.
#[pin_data]
pub(crate) struct Host {
    addr: SockAddr,
    src: Option<SockAddr>,
    tos: Option<i32>,
    digests: (bool, bool),
    /// Queue `qid` at index `qid`.
    #[pin]
    queues: Mutex<KVec<Arc<Queue>>>,
    #[pin]
    setup: Mutex<Setup>,
}

/// A log line's text of a C string option.
fn text(s: Option<&CStr>) -> &BStr {
    BStr::from_bytes(s.map_or(&b"?"[..], |s| s.to_bytes()))
}

/// Creates and connects a controller (`create_ctrl`).
pub(crate) fn create(dev: &FabricsDevice, opts: &Options) -> Result<CtrlHandle> {
    let traddr = opts.traddr().ok_or(EINVAL)?;
    if opts.has(opt::TLS | opt::TLS_KEY | opt::KEYRING | opt::CONCAT) {
        pr_err!(
            "connect to {}: TLS and secure concatenation are not implemented yet\n",
            text(Some(traddr))
        );
        return Err(EOPNOTSUPP);
    }
    if opts.has(opt::NR_WRITE_QUEUES | opt::NR_POLL_QUEUES | opt::HOST_IFACE) {
        pr_warn!("nr_write_queues, nr_poll_queues and host_iface are ignored for now\n");
    }
    let trsvcid = opts.trsvcid().map_or(&b"4420"[..], |s| s.to_bytes());
    let addr = SockAddr::parse(0, traddr.to_bytes(), trsvcid).inspect_err(|_| {
        pr_err!(
            "malformed address passed: {}:{}\n",
            text(Some(traddr)),
            BStr::from_bytes(trsvcid)
        )
    })?;
    let src = match opts.host_traddr() {
        Some(a) => Some(
            SockAddr::parse(0, a.to_bytes(), b"")
                .inspect_err(|_| pr_err!("malformed src address passed: {}\n", text(Some(a))))?,
        ),
        None => None,
    };
    let queue_size = opts.queue_size();
    let sqsize = u16::try_from(queue_size.checked_sub(1).ok_or(EINVAL)?)?;
    let nr_io = opts.nr_io_queues();
    let ctrl = Ctrl::create(
        dev,
        opts,
        nr_io.checked_add(1).ok_or(EINVAL)?,
        sqsize,
        opts.kato(),
        try_pin_init!(Host {
            addr,
            src,
            tos: opts.tos(),
            digests: opts.digests(),
            queues <- new_mutex!(KVec::new()),
            setup <- new_mutex!(Setup::default()),
        }),
        &CTRL_OPS,
    )?;
    ctrl.add()?;
    if !ctrl.change_state(CtrlState::Connecting) {
        ctrl.uninit();
        return Err(EINTR);
    }
    if let Err(e) = setup(&ctrl, nr_io) {
        ctrl.uninit();
        return Err(e);
    }
    CTRLS.lock().push(ctrl.clone(), GFP_KERNEL)?;
    pr_info!(
        "nvme{}: new ctrl: NQN \"{}\", addr {}:{}\n",
        ctrl.instance(),
        text(opts.subsysnqn()),
        text(Some(traddr)),
        BStr::from_bytes(trsvcid)
    );
    Ok(ctrl.into_handle())
}

/// Connects queue `qid`.
fn connect_queue(ctrl: &Ctrl<Host>, qid: u16, depth: usize, incapsule: u32) -> Result {
    let h = ctrl.data();
    let queue = Queue::connect(
        ctrl,
        qid,
        &h.addr,
        h.src.as_ref(),
        h.tos,
        h.digests,
        depth,
        incapsule,
    )?;
    if let Err(e) = h.queues.lock().push(queue.clone(), GFP_KERNEL) {
        queue.stop();
        return Err(e.into());
    }
    Ok(())
}

/// Returns queue `qid`.
fn queue(ctrl: &Ctrl<Host>, qid: u16) -> Option<Arc<Queue>> {
    ctrl.data().queues.lock().get(usize::from(qid)).cloned()
}

/// Sets the controller up: admin queue, identification, I/O queues, live.
fn setup(ctrl: &Ctrl<Host>, nr_io: u32) -> Result {
    let r = setup_admin(ctrl);
    if r.is_err() {
        teardown_admin(ctrl);
        return r;
    }
    let r = setup_io(ctrl, nr_io).and_then(|()| {
        if ctrl.change_state(CtrlState::Live) {
            Ok(())
        } else {
            Err(EINVAL)
        }
    });
    if r.is_err() {
        teardown_io(ctrl);
        ctrl.stop_keep_alive();
        teardown_admin(ctrl);
        return r;
    }
    ctrl.start();
    Ok(())
}

/// Connects the admin queue, enables and identifies the controller.
fn setup_admin(ctrl: &Ctrl<Host>) -> Result {
    connect_queue(ctrl, 0, ADMIN_DEPTH, ADMIN_INCAPSULE)?;
    ctrl.alloc_admin_tag_set()?;
    ctrl.data().setup.lock().admin_tag_set = true;
    ctrl.connect_admin_queue()?;
    queue(ctrl, 0).ok_or(EINVAL)?.set_live();
    ctrl.enable()?;
    ctrl.quiesce_admin(false);
    ctrl.init_finish()?;
    let (ioccsz, icdoff) = ctrl.ioccsz_icdoff();
    if icdoff != 0 {
        pr_err!("nvme{}: icdoff is not supported\n", ctrl.instance());
        return Err(EOPNOTSUPP);
    }
    let _ = ioccsz;
    let (sqsize, maxcmd) = ctrl.sqsize_maxcmd();
    if maxcmd > 0 && u32::from(sqsize) + 1 > u32::from(maxcmd) {
        pr_warn!(
            "nvme{}: sqsize {} > ctrl maxcmd {maxcmd}, clamping down\n",
            ctrl.instance(),
            u32::from(sqsize) + 1
        );
        ctrl.set_sqsize(maxcmd - 1);
    }
    Ok(())
}

/// Connects the I/O queues (as many as the controller grants of `nr_io`).
fn setup_io(ctrl: &Ctrl<Host>, nr_io: u32) -> Result {
    let granted = ctrl.set_queue_count(nr_io)?;
    let n = u16::try_from(granted)?;
    ctrl.set_queue_total(u32::from(n) + 1);
    if n == 0 {
        pr_info!("nvme{}: no I/O queues\n", ctrl.instance());
        return Ok(());
    }
    let (ioccsz, _) = ctrl.ioccsz_icdoff();
    let incapsule = ioccsz
        .checked_mul(16)
        .and_then(|c| c.checked_sub(SQE_LEN))
        .unwrap_or(0);
    let (sqsize, _) = ctrl.sqsize_maxcmd();
    let depth = usize::from(sqsize) + 1;
    for qid in 1..=n {
        connect_queue(ctrl, qid, depth, incapsule)?;
    }
    ctrl.alloc_io_tag_set()?;
    ctrl.data().setup.lock().io_tag_set = true;
    for qid in 1..=n {
        ctrl.connect_io_queue(qid)?;
        queue(ctrl, qid).ok_or(EINVAL)?.set_live();
    }
    Ok(())
}

/// Stops the I/O queues, cancels their requests and frees the I/O tag set.
fn teardown_io(ctrl: &Ctrl<Host>) {
    let h = ctrl.data();
    let tag_set = core::mem::take(&mut h.setup.lock().io_tag_set);
    if tag_set {
        ctrl.quiesce_io(true);
    }
    let io: KVec<Arc<Queue>> = {
        let mut queues = h.queues.lock();
        let mut io = KVec::new();
        while queues.len() > 1 {
            if let Some(q) = queues.pop() {
                // Without memory for the list, stop the queue right here.
                if io.push(q.clone(), GFP_KERNEL).is_err() {
                    q.stop();
                }
            }
        }
        io
    };
    for q in io.iter() {
        q.stop();
    }
    if tag_set {
        ctrl.cancel_tagset(false);
        ctrl.quiesce_io(false);
        ctrl.remove_io_tag_set();
    }
}

/// Stops the admin queue, cancels its requests and frees the admin tag set.
fn teardown_admin(ctrl: &Ctrl<Host>) {
    let h = ctrl.data();
    let tag_set = core::mem::take(&mut h.setup.lock().admin_tag_set);
    if tag_set {
        ctrl.quiesce_admin(true);
    }
    let queues = core::mem::take(&mut *h.queues.lock());
    for q in queues.iter() {
        q.stop();
    }
    if tag_set {
        ctrl.cancel_tagset(true);
        ctrl.quiesce_admin(false);
        ctrl.remove_admin_tag_set();
    }
}

impl Driver for Host {
    type Queue = Queue;

    fn queue(ctrl: &Ctrl<Self>, qid: u16) -> Option<Arc<Queue>> {
        queue(ctrl, qid)
    }

    fn queue_rq(
        ctrl: &Ctrl<Self>,
        queue: ArcBorrow<'_, Queue>,
        rq: Request,
    ) -> Result<(), BlkStatus> {
        Queue::queue_rq(queue, ctrl, rq)
    }

    fn timeout(_ctrl: &Ctrl<Self>, queue: ArcBorrow<'_, Queue>, cid: u16) -> TimeoutAction {
        queue.timeout(cid)
    }

    fn submit_async_event(ctrl: &Ctrl<Self>) {
        if let Some(q) = queue(ctrl, 0) {
            q.submit_aer();
        }
    }

    fn delete_ctrl(ctrl: &Ctrl<Self>) {
        teardown_io(ctrl);
        ctrl.quiesce_admin(true);
        ctrl.disable(true);
        teardown_admin(ctrl);
        let mut ctrls = CTRLS.lock();
        if let Some(i) = ctrls.iter().position(|c| core::ptr::eq(&**c, ctrl)) {
            let c = ctrls.remove(i);
            drop(ctrls);
            drop(c);
        }
    }

    fn stop_ctrl(_ctrl: &Ctrl<Self>) {
        // No error recovery or reconnect work of the transport's own to stop.
    }

    fn reset(ctrl: &Ctrl<Self>) {
        pr_warn!(
            "nvme{}: reset and error recovery are not implemented yet; removing the controller\n",
            ctrl.instance()
        );
        let _ = ctrl.schedule_delete();
    }

    fn free(_ctrl: &Ctrl<Self>) {}
}
