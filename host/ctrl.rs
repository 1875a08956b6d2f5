// SPDX-License-Identifier: GPL-2.0

//! The host's controller: setup (admin queue, I/O queues, start), teardown, and the recovery
//! from failures, as the C host does it: a failed connection or a timeout starts error recovery
//! (queues torn down, their requests cancelled for retry or failover), then a reconnect every
//! `reconnect_delay` seconds until it succeeds or `ctrl_loss_tmo` runs out; `nvme reset` tears
//! down and sets up again. Also the registry of live controllers for module unload.

use crate::fabrics::{CtrlHandle, FabricsDevice, Options};
use crate::handshake::KeySerial;
use crate::net_ns::Net;
use crate::nvme_ctrl::{
    Ctrl, CtrlOpsTable, CtrlState, Driver, SetupError, StateWork, TimeoutAction,
};
use crate::params;
use crate::queue::Queue;
use crate::request::{BlkStatus, Request, AQ_DEPTH};
use crate::sockaddr::SockAddr;
use crate::stats::{self, CtrlStatsFile, Root};
use crate::tag_set::{AdminTagSet, IoQueues, IoTagSet};
use kernel::{
    debugfs::Dir,
    dev_err, dev_info, dev_warn, new_mutex,
    prelude::*,
    str::{BStr, CString},
    sync::{aref::ARef, Arc, ArcBorrow, Mutex},
};

/// The controller ops table of the host.
pub(crate) static CTRL_OPS: CtrlOpsTable<Host> =
    CtrlOpsTable::new(kernel::module::this_module::<crate::HostModule>());

/// In-capsule data of the admin queue (8 KiB, as the C host: room for Connect's 1 KiB).
const ADMIN_INCAPSULE: u32 = 8192;

/// Size of an SQE, the part of an I/O command capsule (IOCCSZ) that is not data.
const SQE_LEN: u32 = 64;

crate::registry! {
    /// The live controllers, for module unload.
    static CTRLS: ARef<Ctrl<Host>>;
}

/// Initialises the registry; called once at module load.
pub(crate) fn init() -> Result {
    CTRLS.init()
}

/// Removes every controller; called at module unload (the transport is unregistered).
pub(crate) fn delete_all() {
    let ctrls = CTRLS.take_all();
    for c in ctrls.iter() {
        let _ = c.schedule_delete();
    }
    drop(ctrls);
    // The I/O work still queued runs when the module's workqueue is destroyed.
    params::flush_delete_wq();
}

/// The tag sets of a controller, while allocated.
struct Sets {
    admin: Option<AdminTagSet<Host>>,
    io: Option<IoTagSet<Host>>,
}

/// The transport's data of a controller.
#[pin_data]
pub(crate) struct Host {
    /// The network namespace of the process that created the controller: every connection,
    /// the first and each reconnect, is made in it, and `host_iface` names an interface of it.
    /// Held until the controller is freed.
    net: ARef<Net>,
    addr: SockAddr,
    src: Option<SockAddr>,
    tos: Option<i32>,
    digests: (bool, bool),
    /// The local interface to connect from (`host_iface`).
    iface: Option<CString>,
    /// Whether every connection runs a TLS handshake (`tls`) before its ICReq.
    tls: bool,
    /// Secure concatenation (`concat`): the admin queue connects in the clear and
    /// authenticates (DH-HMAC-CHAP), which generates a PSK; then it connects again, and every
    /// I/O queue connects, over TLS with that PSK.
    concat: bool,
    /// I/O queues asked for: `nr_io_queues`, `nr_write_queues` and `nr_poll_queues` together,
    /// each at most one per CPU.
    nr_io: u32,
    /// Whether the I/O tag set has a poll map (`nr_poll_queues` was given).
    poll_map: bool,
    /// How the I/O queues of the current connection serve the maps.
    #[pin]
    io_queues: Mutex<IoQueues>,
    /// Queue `qid` at index `qid`. A queue keeps its object (which blk-mq's hardware context
    /// points to) across reconnects; only its connection is replaced.
    #[pin]
    queues: Mutex<KVec<Arc<Queue>>>,
    /// The tag sets, while allocated. Only setup and teardown, which the controller's state
    /// machine runs one at a time, take this lock; nothing on the I/O path does.
    #[pin]
    sets: Mutex<Sets>,
    /// The controller's debugfs directory and statistics, from its creation (once its name is
    /// known) until it is deleted: the name is free again for the next controller before this
    /// one's memory goes. A leaf lock.
    #[pin]
    debugfs: Mutex<Option<Debugfs>>,
}

/// A controller's directory in debugfs, `nvme_tcp/nvmeN/`: its `stats`, and a directory for each
/// queue (`0` the admin queue, then the I/O queues by ID).
struct Debugfs {
    dir: Dir,
    stats: Pin<KBox<CtrlStatsFile>>,
}

impl Host {
    /// Returns the controller's debugfs directory, where its queues put theirs.
    ///
    /// # Errors
    ///
    /// `EINVAL` once the controller is deleted.
    pub(crate) fn debugfs_dir(&self) -> Result<Dir> {
        self.debugfs
            .lock()
            .as_ref()
            .map(|d| d.dir.clone())
            .ok_or(EINVAL)
    }

    /// Counts with `f` in the controller's statistics (until it is deleted).
    fn count(&self, f: impl FnOnce(&crate::pdu::engine::stats::CtrlStats)) {
        if let Some(d) = self.debugfs.lock().as_ref() {
            f(&d.stats);
        }
    }
}

/// Where and how a queue connects.
pub(crate) struct Target<'a> {
    pub(crate) net: &'a Net,
    pub(crate) addr: &'a SockAddr,
    pub(crate) src: Option<&'a SockAddr>,
    pub(crate) iface: Option<&'a CStr>,
    pub(crate) tos: Option<i32>,
    pub(crate) digests: (bool, bool),
}

impl Host {
    /// Where queues connect: target address, source address or interface, TOS and digests.
    pub(crate) fn target(&self) -> Target<'_> {
        Target {
            net: &self.net,
            addr: &self.addr,
            src: self.src.as_ref(),
            iface: self.iface.as_deref(),
            tos: self.tos,
            digests: self.digests,
        }
    }
}

/// A log line's text of a C string option.
fn text(s: Option<&CStr>) -> &BStr {
    BStr::from_bytes(s.map_or(&b"?"[..], |s| s.to_bytes()))
}

/// Creates and connects a controller (`create_ctrl`).
pub(crate) fn create(dev: &FabricsDevice, opts: &Options) -> Result<CtrlHandle> {
    let traddr = opts.traddr().ok_or(EINVAL)?;
    // The C host takes the namespace of the task at hand each time it connects a queue (a
    // reconnect from a work item would use the initial one) and parses addresses in the
    // initial namespace; we take the creating process's once, for all of it.
    let net = Net::current().ok_or(EINVAL)?;
    let iface = match opts.host_iface() {
        Some(name) => {
            if params::ifindex(&net, name).is_err() {
                pr_err!("invalid interface passed: {}\n", text(Some(name)));
                return Err(ENODEV);
            }
            Some(CString::try_from(name)?)
        }
        None => None,
    };
    let trsvcid = opts.trsvcid().map_or(&b"4420"[..], |s| s.to_bytes());
    let addr = SockAddr::parse(&net, 0, traddr.to_bytes(), trsvcid).inspect_err(|_| {
        pr_err!(
            "malformed address passed: {}:{}\n",
            text(Some(traddr)),
            BStr::from_bytes(trsvcid)
        )
    })?;
    let src = match opts.host_traddr() {
        Some(a) => Some(
            SockAddr::parse(&net, 0, a.to_bytes(), b"")
                .inspect_err(|_| pr_err!("malformed src address passed: {}\n", text(Some(a))))?,
        ),
        None => None,
    };
    let queue_size = opts.queue_size();
    let sqsize = u16::try_from(queue_size.checked_sub(1).ok_or(EINVAL)?)?;
    let cpus = params::num_online_cpus();
    let nr_io = [
        opts.nr_io_queues(),
        opts.nr_write_queues(),
        opts.nr_poll_queues(),
    ]
    .iter()
    .map(|&n| n.min(cpus))
    .sum::<u32>();
    let ctrl = Ctrl::create(
        dev,
        opts,
        nr_io.checked_add(1).ok_or(EINVAL)?,
        sqsize,
        opts.kato(),
        try_pin_init!(Host {
            net,
            addr,
            src,
            tos: opts.tos(),
            digests: opts.digests(),
            iface,
            // As the C host: `tls_key` and `keyring` alone ask for no TLS.
            tls: opts.tls(),
            concat: opts.concat(),
            nr_io,
            poll_map: opts.nr_poll_queues() > 0,
            io_queues <- new_mutex!(IoQueues::default()),
            queues <- new_mutex!(KVec::new()),
            sets <- new_mutex!(Sets {
                admin: None,
                io: None
            }),
            debugfs <- new_mutex!(None),
        }),
        &CTRL_OPS,
    )?;
    let ctrl = ctrl.add()?;
    if let Err(e) = add_debugfs(&ctrl) {
        ctrl.uninit();
        return Err(e);
    }
    let Some(work) = ctrl.start_connecting() else {
        remove_debugfs(&ctrl);
        ctrl.uninit();
        return Err(EINTR);
    };
    if let Err(e) = setup(&work, true) {
        remove_debugfs(&ctrl);
        ctrl.uninit();
        return Err(e.to_error());
    }
    if let Err(e) = CTRLS.insert(ctrl.get()) {
        // Tear down what was set up: the controller goes with it.
        teardown(&ctrl, true);
        remove_debugfs(&ctrl);
        ctrl.uninit();
        return Err(e);
    }
    dev_info!(
        ctrl.device(),
        "new ctrl: NQN \"{}\", addr {}:{}, hostnqn: {}\n",
        text(opts.subsysnqn()),
        text(Some(traddr)),
        BStr::from_bytes(trsvcid),
        text(opts.hostnqn())
    );
    Ok(ctrl.into_handle())
}

/// Creates the controller's debugfs directory, named as the controller (`nvmeN`).
fn add_debugfs(ctrl: &Ctrl<Host>) -> Result {
    let name = CString::try_from_fmt(fmt!("nvme{}", ctrl.read(|c| c.instance)))?;
    let dir = Root::dir()?.subdir(&name);
    let stats = KBox::pin_init(stats::ctrl_stats(&dir), GFP_KERNEL)?;
    *ctrl.data().debugfs.lock() = Some(Debugfs { dir, stats });
    Ok(())
}

/// Removes the controller's debugfs directory (its queues' went with them), while the controller
/// still holds its name: the next controller may be given it as soon as this one is freed.
fn remove_debugfs(ctrl: &Ctrl<Host>) {
    let debugfs = ctrl.data().debugfs.lock().take();
    drop(debugfs);
}

/// Returns queue `qid`.
fn queue(ctrl: &Ctrl<Host>, qid: u16) -> Option<Arc<Queue>> {
    ctrl.data().queues.lock().get(usize::from(qid)).cloned()
}

/// Returns the I/O queues.
fn io_queues(ctrl: &Ctrl<Host>) -> Result<KVec<Arc<Queue>>> {
    let queues = ctrl.data().queues.lock();
    let mut io = KVec::with_capacity(queues.len().saturating_sub(1), GFP_KERNEL)?;
    for q in queues.iter().skip(1) {
        io.push(q.clone(), GFP_KERNEL)?;
    }
    Ok(io)
}

/// Sets the controller up: admin queue, identification, I/O queues, live. `new` for the first
/// time, else after a reset or a failure (the tag sets and queue objects are kept).
///
/// On failure everything set up here is torn down again (with the tag sets if `new`).
fn setup(ctrl: &StateWork<'_, Host>, new: bool) -> Result<(), SetupError> {
    setup_admin(ctrl, new)?;
    if ctrl.data().concat && ctrl.negotiated_psk() == 0 {
        // Secure concatenation: the admin queue authenticated in the clear, which generated a
        // PSK (the C host's "restart admin queue for secure concatenation"). Connected again,
        // it runs the TLS handshake with that PSK.
        ctrl.stop_keep_alive();
        teardown_admin(ctrl, false);
        let r = setup_admin(ctrl, false).and_then(|()| {
            if ctrl.negotiated_psk() == 0 {
                dev_err!(ctrl.device(), "no PSK generated\n");
                return Err(ENOKEY.into());
            }
            Ok(())
        });
        if let Err(e) = r {
            teardown_admin(ctrl, new);
            return Err(e);
        }
    }
    let r = check_limits(ctrl).and_then(|()| {
        if ctrl.data().nr_io > 0 {
            setup_io(ctrl, new)?;
        }
        if ctrl.change_state(CtrlState::Live) {
            return Ok(());
        }
        // Only a deletion started meanwhile takes the controller out of `Connecting`.
        teardown_io(ctrl, new);
        Err(EINVAL.into())
    });
    if let Err(e) = r {
        ctrl.stop_keep_alive();
        teardown_admin(ctrl, new);
        return Err(e);
    }
    if let Some(admin) = &ctrl.data().sets.lock().admin {
        admin.start_ctrl();
    }
    Ok(())
}

/// Checks and adjusts what the controller reported against what the transport supports.
fn check_limits(ctrl: &Ctrl<Host>) -> Result<(), SetupError> {
    let (_, icdoff) = ctrl.ioccsz_icdoff();
    if icdoff != 0 {
        dev_err!(ctrl.device(), "icdoff is not supported!\n");
        return Err(EOPNOTSUPP.into());
    }
    let (sqsize, maxcmd) = ctrl.sqsize_maxcmd();
    if u32::from(sqsize) + 1 > u32::from(maxcmd) {
        dev_warn!(
            ctrl.device(),
            "sqsize {} > ctrl maxcmd {}, clamping down\n",
            u32::from(sqsize) + 1,
            maxcmd
        );
        ctrl.set_sqsize(maxcmd.saturating_sub(1));
    }
    Ok(())
}

/// The PSK the admin queue offers in its TLS handshake, looked up again for every connection
/// as the C host does: the one given (`tls_key`), else this host's and subsystem's in the
/// keyring (`keyring`, or `.nvme`).
fn admin_psk(ctrl: &Ctrl<Host>) -> Result<KeySerial, SetupError> {
    let opts = ctrl.options();
    opts.tls_key()
        .or_else(|| opts.default_psk())
        .ok_or_else(|| {
            dev_err!(ctrl.device(), "no valid PSK found\n");
            ENOKEY.into()
        })
}

/// Connects the admin queue, enables and identifies the controller; undoes it on failure.
///
/// With secure concatenation and no PSK generated yet, the admin queue connects in the clear
/// and stops after its Connect (which authenticates and generates the PSK): [`setup`] then
/// connects it again.
fn setup_admin(ctrl: &StateWork<'_, Host>, new: bool) -> Result<(), SetupError> {
    let h = ctrl.data();
    let psk = if h.concat {
        ctrl.generated_psk()
    } else if h.tls {
        Some(admin_psk(ctrl)?)
    } else {
        None
    };
    let q = if new {
        let q = Queue::new(ctrl, 0, AQ_DEPTH)?;
        h.queues.lock().push(q.clone(), GFP_KERNEL)?;
        q
    } else {
        queue(ctrl, 0).ok_or(EINVAL)?
    };
    let r = (|| {
        q.start(ctrl, ADMIN_INCAPSULE, psk)?;
        let mut sets = h.sets.lock();
        if new {
            sets.admin = Some(ctrl.alloc_admin_tag_set()?);
        }
        let admin = sets.admin.as_ref().ok_or(EINVAL)?;
        admin.connect()?;
        q.set_live();
        if h.concat && psk.is_none() {
            return Ok(());
        }
        admin.enable()?;
        admin.unquiesce();
        admin.init_finish()
    })();
    if r.is_err() {
        teardown_admin(ctrl, new);
    }
    r
}

/// Connects the I/O queues (as many as the controller grants, and after a reconnect no more
/// than the first time); undoes it on failure.
fn setup_io(ctrl: &StateWork<'_, Host>, new: bool) -> Result<(), SetupError> {
    let h = ctrl.data();
    let mut granted = match &h.sets.lock().admin {
        Some(admin) => admin.set_queue_count(h.nr_io)?,
        None => return Err(EINVAL.into()),
    };
    if !new {
        granted = granted.min(u32::try_from(h.queues.lock().len().saturating_sub(1))?);
    }
    let maps = ctrl.split_io_queues(granted);
    let n = u16::try_from(maps.total())?;
    if n == 0 {
        dev_err!(ctrl.device(), "unable to set any I/O queues\n");
        return Err(ENOMEM.into());
    }
    *h.io_queues.lock() = maps;
    dev_info!(ctrl.device(), "creating {} I/O queues.\n", n);
    ctrl.set_queue_total(u32::from(n) + 1);
    let (ioccsz, _) = ctrl.ioccsz_icdoff();
    let incapsule = ioccsz
        .checked_mul(16)
        .and_then(|c| c.checked_sub(SQE_LEN))
        .unwrap_or(0);
    // The I/O queues offer the PSK the admin queue negotiated, as the C host; with secure
    // concatenation, the one its authentication generated.
    if h.concat {
        let negotiated = ctrl.negotiated_psk();
        match ctrl.generated_psk() {
            None => {
                dev_err!(ctrl.device(), "no PSK generated\n");
                return Err(ENOKEY.into());
            }
            Some(key) if negotiated != 0 && negotiated != key => {
                dev_err!(ctrl.device(), "Stale PSK id {:08x}\n", negotiated);
                ctrl.set_tls_pskid(0);
            }
            Some(_) => {}
        }
    }
    let psk = match (h.tls || h.concat, ctrl.negotiated_psk()) {
        (false, _) => None,
        (true, 0) => {
            dev_err!(ctrl.device(), "no PSK negotiated\n");
            return Err(ENOKEY.into());
        }
        (true, key) => Some(key),
    };
    let r = (|| {
        if new {
            let (sqsize, _) = ctrl.sqsize_maxcmd();
            for qid in 1..=n {
                let q = Queue::new(ctrl, qid, usize::from(sqsize) + 1)?;
                h.queues.lock().push(q, GFP_KERNEL)?;
            }
        }
        for qid in 1..=n {
            queue(ctrl, qid)
                .ok_or(EINVAL)?
                .start(ctrl, incapsule, psk)?;
        }
        let mut sets = h.sets.lock();
        if new {
            sets.io = Some(ctrl.alloc_io_tag_set(h.poll_map)?);
        }
        let io = sets.io.as_ref().ok_or(EINVAL)?;
        // After a reconnect with fewer queues the tag set has fewer hardware queues than may be
        // granted now: connect those first, resize it, then connect the rest (as the C host).
        let first = n.min(u16::try_from(io.nr_hw_queues())?);
        connect_io_queues(ctrl, io, &maps, 1..=first)?;
        if !new {
            // Let the requests that waited for the reconnect through, then resize the tag set
            // to the queues there are now.
            let frozen = io.freeze();
            io.unquiesce();
            let drained = frozen.wait();
            if drained {
                frozen.update_nr_hw_queues(u32::from(n));
            }
            drop(frozen);
            if !drained {
                dev_err!(ctrl.device(), "I/O did not drain after reconnecting\n");
                return Err(ENODEV.into());
            }
            // The maps changed: the queues' CPUs follow them.
            if !params::wq_unbound() {
                for qid in 1..=first {
                    queue(ctrl, qid)
                        .ok_or(EINVAL)?
                        .set_io_cpu(io.pick_io_cpu(&maps, qid));
                }
            }
        }
        connect_io_queues(ctrl, io, &maps, first + 1..=n)?;
        Ok(())
    })();
    if r.is_err() {
        teardown_io(ctrl, new);
    }
    r
}

/// Connects I/O queues `qids` (started), each with its I/O work on a CPU its map sends to.
fn connect_io_queues(
    ctrl: &Ctrl<Host>,
    io: &IoTagSet<Host>,
    maps: &IoQueues,
    qids: core::ops::RangeInclusive<u16>,
) -> Result<(), SetupError> {
    let unbound = params::wq_unbound();
    for qid in qids {
        let q = queue(ctrl, qid).ok_or(EINVAL)?;
        if !unbound {
            q.set_io_cpu(io.pick_io_cpu(maps, qid));
        }
        io.connect(qid)?;
        q.set_live();
    }
    Ok(())
}

/// Stops the I/O queues and cancels their requests (which blk-mq retries or fails over); with
/// `remove`, also frees the I/O tag set and the queue objects.
fn teardown_io(ctrl: &Ctrl<Host>, remove: bool) {
    let h = ctrl.data();
    if let Some(io) = &h.sets.lock().io {
        io.quiesce();
    }
    match io_queues(ctrl) {
        Ok(io) => {
            for q in io.iter() {
                q.stop();
            }
        }
        // Without memory for a list, stop them under the lock (stopping does not sleep long).
        Err(_) => {
            for q in h.queues.lock().iter().skip(1) {
                q.stop();
            }
        }
    }
    ctrl.cancel_requests(false);
    if remove {
        // Freed outside the lock: freeing waits for blk-mq.
        let io = h.sets.lock().io.take();
        drop(io);
        h.queues.lock().truncate(1);
    }
}

/// Stops the admin queue and cancels its requests; with `remove`, also frees the admin tag set
/// and every queue object.
fn teardown_admin(ctrl: &Ctrl<Host>, remove: bool) {
    let h = ctrl.data();
    if let Some(admin) = &h.sets.lock().admin {
        admin.quiesce();
    }
    if let Some(q) = queue(ctrl, 0) {
        q.stop();
    }
    ctrl.cancel_requests(true);
    // The next connection negotiates again (the C host's "Wipe negotiated TLS_PSK").
    ctrl.set_tls_pskid(0);
    if remove {
        let admin = h.sets.lock().admin.take();
        drop(admin);
        let queues = core::mem::take(&mut *h.queues.lock());
        for q in queues.iter() {
            q.stop();
        }
    }
}

/// Tears the controller down, with a shutdown notification if `shutdown` (delete), else for a
/// reset (tag sets and queue objects kept).
fn teardown(ctrl: &Ctrl<Host>, shutdown: bool) {
    teardown_io(ctrl, shutdown);
    if let Some(admin) = &ctrl.data().sets.lock().admin {
        admin.quiesce();
        admin.disable(shutdown);
    }
    teardown_admin(ctrl, shutdown);
}

/// With secure concatenation, revokes the PSK the last authentication generated once a
/// connection used it (the C host's `nvme_tcp_key_revoke_needed`): not between the admin
/// queue's two connections, when the second is still to use it.
fn revoke_generated_psk(ctrl: &StateWork<'_, Host>) {
    if ctrl.data().concat && ctrl.negotiated_psk() != 0 {
        ctrl.revoke_generated_psk();
    }
}

/// After a failure, in `Connecting`: schedules a reconnect, or removes the controller when
/// `ctrl_loss_tmo` ran out or `status` says retrying cannot help.
fn reconnect_or_remove(ctrl: &StateWork<'_, Host>, status: SetupError) {
    let state = ctrl.state();
    if state != CtrlState::Connecting {
        // Resetting or deleting meanwhile: that path goes on.
        if matches!(state, CtrlState::New | CtrlState::Live) {
            dev_warn!(
                ctrl.device(),
                "unexpected state {:?} after a failure\n",
                state
            );
        }
        return;
    }
    if ctrl.should_reconnect(status) {
        let delay = ctrl.reconnect_delay();
        dev_info!(ctrl.device(), "Reconnecting in {} seconds...\n", delay);
        ctrl.queue_reconnect(delay);
    } else {
        dev_info!(ctrl.device(), "Removing controller ({})...\n", status.raw());
        let _ = ctrl.schedule_delete();
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

    fn poll(_ctrl: &Ctrl<Self>, queue: ArcBorrow<'_, Queue>) -> i32 {
        queue.poll()
    }

    fn io_queues(ctrl: &Ctrl<Self>) -> IoQueues {
        *ctrl.data().io_queues.lock()
    }

    fn timeout(ctrl: &Ctrl<Self>, queue: ArcBorrow<'_, Queue>, cid: u16) -> TimeoutAction {
        queue.timeout(ctrl, cid)
    }

    fn submit_async_event(ctrl: &Ctrl<Self>) {
        if let Some(q) = queue(ctrl, 0) {
            Queue::submit_aer(q.as_arc_borrow());
        }
    }

    fn delete_ctrl(ctrl: &Ctrl<Self>) {
        teardown(ctrl, true);
        remove_debugfs(ctrl);
        let c = CTRLS.remove_first(|c| core::ptr::eq(&**c, ctrl));
        drop(c);
    }

    fn stop_ctrl(_ctrl: &Ctrl<Self>) {}

    fn reset(ctrl: &StateWork<'_, Self>) {
        ctrl.data().count(|s| s.resets.add(1));
        // The next connection authenticates again and generates a new PSK (as the C host).
        revoke_generated_psk(ctrl);
        ctrl.stop();
        teardown(ctrl, false);
        if !ctrl.change_state(CtrlState::Connecting) {
            // Deleting meanwhile.
            return;
        }
        if let Err(e) = setup(ctrl, false) {
            ctrl.count_reconnect();
            reconnect_or_remove(ctrl, e);
        }
    }

    fn error_recovery(ctrl: &StateWork<'_, Self>) {
        ctrl.data().count(|s| s.recoveries.add(1));
        revoke_generated_psk(ctrl);
        ctrl.stop_keep_alive();
        ctrl.flush_async_event_work();
        teardown_io(ctrl, false);
        if let Some(io) = &ctrl.data().sets.lock().io {
            // Requests sent meanwhile fail fast (retried or failed over by the core).
            io.unquiesce();
        }
        teardown_admin(ctrl, false);
        if let Some(admin) = &ctrl.data().sets.lock().admin {
            admin.unquiesce();
        }
        if !ctrl.change_state(CtrlState::Connecting) {
            // Deleting meanwhile.
            return;
        }
        reconnect_or_remove(ctrl, SetupError::NONE);
    }

    fn reconnect(ctrl: &StateWork<'_, Self>) {
        ctrl.data().count(|s| s.reconnect_attempts.add(1));
        ctrl.count_reconnect();
        let (_, max) = ctrl.reconnects();
        match setup(ctrl, false) {
            Ok(()) => {
                let (n, _) = ctrl.reconnects();
                dev_info!(
                    ctrl.device(),
                    "Successfully reconnected (attempt {}/{})\n",
                    n,
                    max
                );
                ctrl.reconnected();
                ctrl.data().count(|s| s.reconnects.add(1));
            }
            Err(e) => {
                let (n, _) = ctrl.reconnects();
                dev_info!(ctrl.device(), "Failed reconnect attempt {}/{}\n", n, max);
                reconnect_or_remove(ctrl, e);
            }
        }
    }
}
