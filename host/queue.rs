// SPDX-License-Identifier: GPL-2.0

//! One queue of the host: the admin queue (qid 0) or an I/O queue, and its NVMe/TCP connection.
//!
//! The queue object lives as long as the controller's tag sets point to it; each (re)connect
//! gives it a new [`Conn`], and [`Queue::stop`] drops it. The slots are in [`crate::slots`],
//! sending in [`crate::send`], receiving in [`crate::recv`]; this file holds the queue's life
//! and its I/O work.
//!
//! The socket's callbacks only kick the I/O work (see [`Kicks`]), which runs on the queue's
//! CPU: it reads the socket first, then sends what waits, in rounds with budgets.
//!
//! Locks, in the order they nest: `rx` (the receive side, the I/O work's), then `state` (slots
//! and the send side; `queue_rq` takes it alone), then the socket's own lock (inside
//! [`Socket::read`] and the socket calls). `link` is taken alone.

use crate::crc32c::KernelCrc32c;
use crate::ctrl::Host;
use crate::handshake::{self, Failure, KeySerial, Psk};
use crate::io_cpu::IoCpu;
use crate::io_priority::AdaptivePriority;
use crate::io_wq::Kicks;
use crate::nvme_ctrl::{Ctrl, CtrlState, SetupError, TimeoutAction};
use crate::params;
use crate::pdu::{
    engine::stats::Stats, Framing, HostConfig, IcResp, Limits, Params, Pdu, PlainCapsules,
    Receiver, Role, Validator,
};
use crate::recv::{RxData, RxSide};
use crate::request::status;
use crate::send::{Sender, Sent};
use crate::sk_callbacks::{Callbacks, Hooks};
use crate::slots::{tag, Slots};
use crate::socket::{ClientOptions, Received, Socket};
use crate::stats::{queue_stats, QueueStats};
use kernel::{
    dev_err, dev_warn, new_mutex, new_work,
    prelude::*,
    str::{BStr, CString},
    sync::{
        aref::ARef,
        atomic::{Acquire, Atomic, Relaxed, Release},
        Arc, ArcBorrow, Mutex,
    },
    workqueue::{impl_has_work, Work, WorkItem},
};

/// Receive timeout of the ICResp, in milliseconds (10 s, as the C host).
const ICRESP_TIMEOUT_MS: u32 = 10_000;

/// How many PDUs one round of the I/O work sends. Receiving takes all that has arrived, as
/// the C host's `read_sock` does.
const TX_BUDGET: u32 = 16;

/// How many rounds of sending and receiving the I/O work runs before it requeues itself.
const IO_ROUNDS: u32 = 8;

/// No CPU picked for the I/O work: it runs unbound.
const NO_CPU: i32 = -1;

/// The queue's state under its lock: the command slots, the send side and the connection.
pub(crate) struct State {
    pub(crate) slots: Slots,
    pub(crate) send: Sender,
    /// `None` while the queue is stopped; no command enters a slot then.
    pub(crate) conn: Option<Arc<Conn>>,
}

/// One TCP connection of a queue, from its ICReq/ICResp until the queue stops.
pub(crate) struct Conn {
    pub(crate) sock: Socket,
    /// How the host frames what it sends.
    pub(crate) framing: Framing,
    /// The target's MAXH2CDATA.
    pub(crate) maxh2cdata: u32,
    /// The most write data a command carries in its capsule.
    pub(crate) max_incapsule: u32,
    /// How the framing frames capsules, if as their header and in-capsule data alone.
    pub(crate) plain_capsules: Option<PlainCapsules>,
    /// Whether kTLS carries the connection: each PDU then ends its record (no `MSG_MORE`
    /// between PDUs), and only the I/O work sends, as in the C host.
    pub(crate) tls: bool,
}

/// The connection with the socket callbacks installed for it.
struct Link {
    conn: Arc<Conn>,
    hooks: Hooks<Queue>,
}

/// A queue of the host.
#[pin_data]
pub(crate) struct Queue {
    pub(crate) qid: u16,
    /// The CPU the I/O work runs on while connected, or [`NO_CPU`] (unbound: the admin
    /// queue, `wq_unbound`, or before Connect); mirrors `cpu`.
    io_cpu: Atomic<i32>,
    pub(crate) ctrl: ARef<Ctrl<Host>>,
    /// Connect succeeded on the current connection and the queue has not stopped.
    live: Atomic<bool>,
    /// Commands the I/O work completed (wraps), and that count at the last poll.
    pub(crate) completed: Atomic<u32>,
    polled: Atomic<u32>,
    /// Kicks of the I/O work; one while it runs only leaves it a note.
    kicks: Kicks,
    /// Commands in flight, as the slots counted them when the state lock was last dropped
    /// after a change (a hint for the I/O work's priority, read without the lock).
    in_flight: Atomic<u32>,
    /// The priority the I/O work asks for when the module batches (`wq_highpri=0`).
    priority: AdaptivePriority,
    #[pin]
    pub(crate) state: Mutex<State>,
    #[pin]
    pub(crate) rx: Mutex<RxSide>,
    /// The current connection, for stopping it without waiting for the senders or the receiver
    /// (which may wait on the socket).
    #[pin]
    link: Mutex<Option<Link>>,
    /// The CPU picked for the I/O work, counted as used while the queue keeps it.
    #[pin]
    cpu: Mutex<Option<IoCpu>>,
    #[pin]
    io_work: Work<Queue, 0>,
    /// What went through the queue's connections, in debugfs as `nvme_tcp/nvmeN/<qid>/stats`.
    #[pin]
    pub(crate) stats: QueueStats,
}

impl_has_work! {
    impl HasWork<Self, 0> for Queue { self.io_work }
}

impl Queue {
    /// Returns a stopped queue `qid` of `ctrl` with `depth` command slots.
    pub(crate) fn new(ctrl: &Ctrl<Host>, qid: u16, depth: usize) -> Result<Arc<Self>> {
        let slots = Slots::new(depth)?;
        let send = Sender::new(depth)?;
        let name = CString::try_from_fmt(fmt!("{qid}"))?;
        let dir = ctrl.data().debugfs_dir()?;
        let q = Arc::pin_init(
            try_pin_init!(Self {
                qid,
                io_cpu: Atomic::new(NO_CPU),
                ctrl: ctrl.into(),
                live: Atomic::new(false),
                completed: Atomic::new(0),
                polled: Atomic::new(0),
                kicks: Kicks::new(),
                in_flight: Atomic::new(0),
                priority: AdaptivePriority::new(),
                state <- new_mutex!(State {
                    slots,
                    send,
                    conn: None,
                }),
                rx <- new_mutex!(RxSide {
                    receiver: Receiver::new(Role::Host, Limits::default()),
                    data: RxData::Idle,
                    done: KVec::with_capacity(depth, GFP_KERNEL)?,
                    conn: None,
                }),
                link <- new_mutex!(None),
                cpu <- new_mutex!(None),
                io_work <- new_work!("Queue::io_work"),
                stats <- queue_stats(&dir, &name),
            }),
            GFP_KERNEL,
        )?;
        q.stats.set_qid(qid);
        Ok(q)
    }

    /// Connects the stopped queue to the controller's target, runs a TLS handshake offering
    /// `psk` if there is one, exchanges ICReq/ICResp and starts receiving. `max_incapsule` is
    /// the in-capsule data limit.
    pub(crate) fn start(
        self: &Arc<Self>,
        ctrl: &Ctrl<Host>,
        max_incapsule: u32,
        psk: Option<KeySerial>,
    ) -> Result<(), SetupError> {
        let qid = self.qid;
        let target = ctrl.data().target();
        let digests = target.digests;
        let ifindex = match target.iface {
            Some(name) => Some(params::ifindex(target.net, name).inspect_err(|e| {
                dev_err!(
                    ctrl.device(),
                    "failed to bind to interface {} queue {} err {:?}\n",
                    BStr::from_bytes(name.to_bytes()),
                    qid,
                    e
                );
            })?),
            None => None,
        };
        let opts = ClientOptions {
            src: target.src.copied(),
            tos: target.tos,
            priority: params::so_priority(),
            ifindex,
            rcvtimeo: kernel::time::msecs_to_jiffies(ICRESP_TIMEOUT_MS) as isize,
            // `tlshd` is handed a descriptor of the socket's file.
            file: psk.is_some(),
        };
        let sock = Socket::connect(target.net, target.addr, &opts).inspect_err(|e| {
            dev_err!(
                ctrl.device(),
                "failed to connect socket: {:?} (queue {})\n",
                e,
                qid
            )
        })?;
        let config = HostConfig {
            hdgst: digests.0,
            ddgst: digests.1,
            maxr2t: 0,
        };
        let params = (|| -> Result<Params, SetupError> {
            if let Some(key) = psk {
                self.start_tls(ctrl, &sock, key)?;
            }
            Ok(
                Self::negotiate(&sock, &config, &self.stats, qid).inspect_err(|_| {
                    dev_err!(ctrl.device(), "queue {}: ICReq/ICResp failed\n", qid);
                })?,
            )
        })()
        .inspect_err(|_| {
            // Also ends a handshake `tlshd` may still run on it (its descriptor keeps the
            // socket): the C host's `err_init_connect`.
            sock.shutdown();
        })?;
        let conn = Arc::new(
            Conn {
                sock,
                framing: params.framing(Role::Host),
                maxh2cdata: params.maxh2cdata,
                max_incapsule,
                plain_capsules: PlainCapsules::new(&params.framing(Role::Host)),
                tls: psk.is_some(),
            },
            GFP_KERNEL,
        )?;
        let hooks = conn.sock.install(self.clone(), false)?;
        {
            let mut rx = self.rx.lock();
            rx.receiver = Receiver::with_params(Role::Host, Limits::default(), params);
            rx.data = RxData::Idle;
            rx.conn = Some(conn.clone());
        }
        {
            let mut state = self.state.lock();
            state.send.clear();
            state.conn = Some(conn.clone());
        }
        *self.link.lock() = Some(Link { conn, hooks });
        // Bytes may have arrived before the callbacks were in place.
        Self::kick(self.as_arc_borrow());
        Ok(())
    }

    /// Runs the TLS handshake on the connected `sock` offering the PSK `key` (`tlshd`, at most
    /// `tls_handshake_timeout` seconds), checks the key the handshake authenticated, and records
    /// it as the controller's negotiated PSK if this is the admin queue.
    fn start_tls(
        &self,
        ctrl: &Ctrl<Host>,
        sock: &Socket,
        key: KeySerial,
    ) -> Result<(), SetupError> {
        let qid = self.qid;
        let timeout = params::tls_handshake_timeout();
        let ms = timeout.saturating_mul(1000);
        let psk = Psk {
            keys: &[key],
            keyring: ctrl
                .options()
                .keyring()
                .unwrap_or_else(crate::keyring::default_keyring),
            peer_name: None,
            timeout_ms: ms,
        };
        let peer =
            handshake::client_psk(sock, &psk, kernel::time::msecs_to_jiffies(ms)).map_err(|f| {
                // The C host's lines.
                let e = match f {
                    Failure::Start(e) => {
                        dev_err!(
                            ctrl.device(),
                            "queue {}: failed to start TLS: {}\n",
                            qid,
                            e.to_errno()
                        );
                        e
                    }
                    Failure::Wait(e) => {
                        dev_err!(
                            ctrl.device(),
                            "queue {}: TLS handshake failed, error {}\n",
                            qid,
                            e.to_errno()
                        );
                        e
                    }
                    Failure::Done(e) => {
                        dev_err!(
                            ctrl.device(),
                            "queue {}: TLS handshake complete, error {}\n",
                            qid,
                            e.to_errno()
                        );
                        e
                    }
                };
                SetupError::from(e)
            })?;
        if crate::keyring::Key::tls_psk(peer).is_err() {
            dev_warn!(ctrl.device(), "queue {}: Invalid key {:x}\n", qid, peer);
            return Err(ENOKEY.into());
        }
        if qid == 0 {
            ctrl.set_tls_pskid(peer);
        }
        Ok(())
    }

    /// Sends the ICReq and checks the ICResp (blocking, before the callbacks are installed).
    fn negotiate(sock: &Socket, config: &HostConfig, stats: &Stats, qid: u16) -> Result<Params> {
        let icreq = config.icreq().to_bytes();
        sock.send_all(&icreq)?;
        stats.sent_header(&icreq);
        let mut buf = [0u8; crate::pdu::ic::IC_LEN];
        if let Received::Record(record) = sock.recv_exact(&mut buf)? {
            pr_err!("queue {}: unhandled TLS record {}\n", qid, record);
            return Err(ENOTCONN);
        }
        let validator = Validator::new(Role::Host, Limits::default());
        let header = validator
            .validate::<KernelCrc32c, _>(&buf, &crate::pdu::NoCommands)
            .map_err(|_| EPROTO)?;
        stats.received(header.common.pdu_type, header.common.plen);
        let icresp: IcResp = match header.pdu {
            Pdu::IcResp(r) => r,
            _ => return Err(EPROTO),
        };
        config.accept_icresp(&icresp).map_err(|e| {
            pr_err!("ICResp refused: {:?} (FEI {})\n", e.fes, e.fei);
            EPROTO
        })
    }

    /// Whether Connect succeeded on the current connection and the queue has not stopped.
    #[inline]
    pub(crate) fn is_live(&self) -> bool {
        self.live.load(Acquire)
    }

    /// Whether the current thread runs on the queue's I/O CPU.
    #[inline]
    pub(crate) fn on_io_cpu(&self) -> bool {
        self.io_cpu.load(Relaxed) == i32::from(kernel::cpu::CpuId::current())
    }

    /// Marks the queue connected (after Connect succeeded).
    pub(crate) fn set_live(&self) {
        self.live.store(true, Release);
    }

    /// Runs the I/O work on `cpu` from now on (`None`: unbound), until the queue stops.
    pub(crate) fn set_io_cpu(&self, cpu: Option<IoCpu>) {
        let id = cpu
            .as_ref()
            .and_then(|c| i32::try_from(c.id()).ok())
            .unwrap_or(NO_CPU);
        let old = core::mem::replace(&mut *self.cpu.lock(), cpu);
        self.io_cpu.store(id, Relaxed);
        drop(old);
    }

    /// Closes the connection and stops receiving; returns the state, locked, with no
    /// connection and nothing to send.
    fn disconnect(&self) -> kernel::sync::MutexGuard<'_, State> {
        self.live.store(false, Release);
        self.set_io_cpu(None);
        let link = self.link.lock().take();
        if let Some(link) = link {
            // Wakes a sender or receiver waiting on the socket; they fail and let go.
            link.conn.sock.shutdown();
            drop(link.hooks.restore(&link.conn.sock));
        }
        // Waits for a receive pass in progress; later passes find no connection.
        self.rx.lock().conn = None;
        let mut state = self.state.lock();
        state.conn = None;
        state.send.clear();
        state
    }

    /// Stops the queue: closes its connection and stops receiving. Commands still in their
    /// slots go back to blk-mq uncompleted: the caller cancels the tag set (or fails them).
    pub(crate) fn stop(&self) {
        let mut state = self.disconnect();
        state.slots.clear();
        self.note_depth(&state.slots);
    }

    /// Notes how many commands `slots` hold, for the I/O work's priority (see
    /// [`Queue::queue_io_work`]).
    #[inline]
    pub(crate) fn note_depth(&self, slots: &Slots) {
        self.in_flight.store(slots.in_flight(), Relaxed);
    }

    /// Stops the queue and completes every command in flight with a path error (the core
    /// retries them or fails them over).
    fn stop_and_fail(&self) {
        self.disconnect().slots.end_aer();
        loop {
            // Completed without the lock: a completion may send (a requeue).
            let mut state = self.state.lock();
            let cmd = state.slots.take_any();
            self.note_depth(&state.slots);
            drop(state);
            let Some(cmd) = cmd else {
                break;
            };
            cmd.rq.complete(status::HOST_PATH_ERROR << 1, 0);
        }
    }

    /// The connection failed: a live controller goes into error recovery, which tears every
    /// queue down; otherwise (connecting, resetting or deleting) nothing would answer this
    /// queue's commands, so they fail now.
    pub(crate) fn failed(&self) {
        if !self.ctrl.start_error_recovery() {
            self.stop_and_fail();
        }
    }

    /// Has the I/O work look at the queue: notes the kick for a run queued or in progress, else
    /// queues one (see [`Kicks`]).
    pub(crate) fn kick(this: ArcBorrow<'_, Self>) {
        if this.kicks.kick() {
            Self::queue_io_work(this);
        }
    }

    /// Queues the I/O work on the queue's CPU. When the module batches, a queue with several
    /// commands in flight, or whose recent runs answered several each, runs at normal priority.
    fn queue_io_work(this: ArcBorrow<'_, Self>) {
        let cpu = u32::try_from(this.io_cpu.load(Relaxed)).ok();
        let batch = || this.in_flight.load(Relaxed) > 1 || this.priority.batch();
        // Already queued (or the module is going away): that run sees what this one was for.
        let _ = crate::IO_WQ.enqueue_on::<_, 0>(cpu, batch, Arc::from(this));
    }

    /// Command `cid` timed out. A live controller goes into error recovery, which completes
    /// the command (its timer restarts meanwhile); otherwise (resetting, connecting, deleting)
    /// the queue stops and the command completes at once, so that it cannot hold up setup or
    /// teardown (`nvme_tcp_timeout`).
    pub(crate) fn timeout(&self, ctrl: &Ctrl<Host>, cid: u16) -> TimeoutAction {
        {
            let state = self.state.lock();
            let (opcode, name) = match state.slots.busy(cid) {
                Some(c) => (c.rq.opcode(), c.rq.opcode_name(self.qid)),
                None => (0, c"unknown"),
            };
            // The PDU type is that of a command capsule: no other PDU carries a command.
            dev_warn!(
                ctrl.device(),
                "I/O tag {} ({:04x}) type 4 opcode {:#x} ({}) QID {} timeout\n",
                tag(cid),
                cid,
                opcode,
                name,
                self.qid
            );
        }
        if ctrl.state() == CtrlState::Live {
            ctrl.start_error_recovery();
            return TimeoutAction::ResetTimer;
        }
        let mut state = self.state.lock();
        let cmd = state.slots.take(cid);
        self.note_depth(&state.slots);
        drop(state);
        if let Some(cmd) = cmd {
            cmd.rq.complete(status::HOST_ABORTED_CMD << 1, 0);
        }
        self.stop_and_fail();
        TimeoutAction::Done
    }

    /// Polls for completions (blk-mq `poll`, for io_uring's polled I/O); returns how many
    /// commands completed since the last poll.
    ///
    /// blk-mq polls inside an RCU read-side critical section (`iocb_bio_iopoll`), where
    /// nothing may sleep, and receiving takes the socket lock, which sleeps: the I/O work
    /// (queued by the socket's `data_ready`) completes polled commands as any other, and a
    /// poll reports them.
    pub(crate) fn poll(&self) -> i32 {
        if !self.is_live() {
            return 0;
        }
        let now = self.completed.load(Relaxed);
        let before = self.polled.xchg(now, Relaxed);
        i32::try_from(now.wrapping_sub(before)).unwrap_or(i32::MAX)
    }

    /// The I/O work: handles what arrived and sends what waits, in rounds, until the socket
    /// has nothing more and nothing waits to be sent (or only room for it); requeues itself
    /// after [`IO_ROUNDS`] rounds.
    fn io_work(this: Arc<Self>) {
        let before = this.completed.load(Relaxed);
        let again = this.serve();
        let answered = this.completed.load(Relaxed).wrapping_sub(before);
        this.priority.ran(answered);
        if this.kicks.stop(again) {
            Self::queue_io_work(this.as_arc_borrow());
        }
    }

    /// One run of the I/O work; returns whether the budget ran out before the work did.
    fn serve(&self) -> bool {
        for _ in 0..IO_ROUNDS {
            self.kicks.round();
            // Whatever arrives after the read queues the work again, as does a PDU queued after
            // it: the round ends when nothing waits to be sent (the socket was read first, so
            // that answers to R2Ts just received go out in the same round).
            let Ok(to_send) = self.rx() else {
                return false;
            };
            if !to_send {
                return false;
            }
            match self.tx(TX_BUDGET) {
                Ok(Sent::Budget) => continue,
                // Idle, or full (its `write_space` queues the work again).
                Ok(Sent::Idle | Sent::Full) | Err(()) => return false,
            }
        }
        true
    }
}

impl WorkItem<0> for Queue {
    type Pointer = Arc<Queue>;

    fn run(this: Arc<Queue>) {
        Self::io_work(this);
    }
}

impl Callbacks for Queue {
    fn data_ready(this: ArcBorrow<'_, Self>, _listening: bool) {
        Self::kick(this);
    }

    fn write_space(this: ArcBorrow<'_, Self>) {
        // A PDU waits for this room.
        Self::kick(this);
    }

    fn closing(this: ArcBorrow<'_, Self>) {
        // The I/O work finds the connection closed.
        Self::kick(this);
    }
}
