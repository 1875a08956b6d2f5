// SPDX-License-Identifier: GPL-2.0

//! One connection: its life from accept to release, and its I/O work. The slots are in
//! [`crate::slots`], receiving in [`crate::recv`], sending in [`crate::send`].
//!
//! Socket callbacks and `queue_response` only kick `io_work`, which does all the protocol work
//! under the queue's `io` mutex, on the CPU the connection's packets arrive on. Release runs on
//! the core's `nvmet_wq` once the connection closes. A connection that has not completed its
//! ICReq and Fabrics Connect within `connect_timeout` is closed by `setup_timeout` (C
//! keeps it until the host closes it).
//!
//! On a TLS port (`addr_tsas` `tls1.3`) a connection starts `Detecting`: `io_work` peeks at its
//! first 8 bytes, as the C target does. A plain ICReq is served as on any port, or refused
//! where TLS is required (`addr_treq` `required`); anything else goes to the handshake agent
//! (`tlshd`, through [`crate::handshake`]) with the queue's callbacks taken off the
//! socket, under `tls_handshake_timeout` (`tls_timeout`). When it succeeds the queue reads
//! through kTLS ([`Socket::read`]), whose records that are not data (alerts) are taken as
//! C takes them; whatever ends it (the agent's failure, the timeout, a shutdown) closes the
//! connection, and the port goes on serving.
//!
//! Locks: `io` (the I/O work's), then the socket's own lock (inside [`Socket::read`] and the
//! socket calls); the core's locks (`nvmet_config_sem` for Connect) are taken by the commands
//! executed under `io`, never the other way round. `hooks` and `handshake` are leaves.

use crate::crc32c::KernelCrc32c;
use crate::handshake::{Done, Handshake, Psk, Side};
use crate::io_priority::AdaptivePriority;
use crate::io_wq::Kicks;
use crate::keyring::{Key, KeySerial};
use crate::nvmet::{nvmet_wq, params, status, CtrlId, TRADDR_SIZE};
use crate::nvmet_sq::{Sq, CONNECT};
use crate::pdu::{
    engine::{
        pump::Pump,
        stop::{describe, term_req, Stop, TERM_REQ_MAX},
    },
    Framing, IcResp, Limits, Pdu, Receiver, Role,
};
use crate::port::{TcpPort, BACKLOG};
use crate::queues;
use crate::recv::{Rx, RxError};
use crate::send::Sender;
use crate::sk_callbacks::{Callbacks, Hooks};
use crate::skb::Read;
use crate::slots::{Slot, Slots};
use crate::sockaddr::{AddrText, SockAddr};
use crate::socket::Socket;
use crate::stats::{queue_stats, QueueStats, Root};
use crate::tls_record::Record;
use crate::workqueue::cancel_delayed_sync;
use kernel::{
    new_delayed_work, new_mutex, new_work,
    prelude::*,
    str::CString,
    sync::{
        atomic::{Atomic, Relaxed},
        Arc, ArcBorrow, Mutex,
    },
    time::{Delta, Instant, Monotonic},
    workqueue::{impl_has_delayed_work, impl_has_work, DelayedWork, Work, WorkItem},
};

/// PDUs received per round of `io_work`.
const RECV_BUDGET: u32 = 8;
/// PDUs moved per run of `io_work` before it yields the CPU and requeues itself.
const IO_WORK_BUDGET: u32 = 64;
/// In-capsule data limit on the admin queue (the host's fixed admin capsule size).
const ADMIN_INCAPSULE: u32 = 8192;

static NEXT_IDX: Atomic<u32> = Atomic::new(0);

/// Where the queue is in its life, as `io_work` sees it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// On a TLS port: waiting for the first 8 bytes, to tell a TLS ClientHello from an ICReq.
    Detecting,
    /// The TLS handshake runs in the agent, which owns the socket's bytes: the queue's
    /// callbacks are off the socket, and `io_work` does nothing.
    Handshake,
    /// Waiting for ICReq.
    Connecting,
    /// ICReq/ICResp done.
    Live,
    /// Stopped on an error; the socket is shutting down.
    Failed,
    /// The release work took over; `io_work` does nothing any more.
    Releasing,
}

/// Where the data of the PDU being received goes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum RecvTo {
    /// Into the buffer of slot `id`.
    Slot(u16),
    /// Nowhere: the in-capsule data of command `id`, which the core refused.
    Drain(u16),
    /// Nowhere.
    Discard,
}

/// Everything `io_work` owns but the receiver; under `Queue::io`.
pub(crate) struct QueueState {
    pub(crate) phase: Phase,
    /// The connection is TLS: it is read through kTLS.
    tls: bool,
    pub(crate) framing: Framing,
    pub(crate) slots: Slots,
    /// Free slots of the installed queue.
    pub(crate) free: KVec<u16>,
    pub(crate) tx: Sender,
    /// The answer to the ICReq just read, to send once the read is over.
    pub(crate) icresp: Option<IcResp>,
    pub(crate) recv_to: RecvTo,
    /// Requests the core responded to, taken from the `Sq`, in the order of their responses.
    completions: KVec<u16>,
    /// Commands received whole in the current read, executed once it is over. Room for every
    /// slot and the Connect slot: a slot is executed at most once per read.
    ready: KVec<u16>,
    /// While `idle_poll_period_usecs` is set: keep polling until then.
    poll_until: Option<Instant<Monotonic>>,
}

impl QueueState {
    /// Lists slot `id` to execute once the read is over.
    pub(crate) fn mark_ready(&mut self, id: u16) {
        // Cannot fail: a slot is listed at most once per read, and there is room for all.
        if self.ready.push_within_capacity(id).is_err() {
            pr_warn!("nvmet_tcp: no room to execute slot {}\n", id);
        }
    }

    /// Whether the read must end after the PDU just received: an ICResp is to be sent, or the
    /// Connect is whole and must run, installing the queue's slots, before what follows it can
    /// be received. Both happen once the read is over, outside the socket lock; C does both
    /// within its read.
    #[inline(always)]
    pub(crate) fn setting_up(&self) -> bool {
        !self.slots.installed && (self.icresp.is_some() || !self.ready.is_empty())
    }

    /// Slot `id` is free again.
    pub(crate) fn release_slot(&mut self, id: u16) {
        if id != CONNECT {
            let _ = self.free.push_within_capacity(id);
        }
    }
}

/// The I/O work's state: the receiver and the rest.
pub(crate) struct IoState {
    receiver: Receiver<KernelCrc32c>,
    state: QueueState,
}

/// One NVMe/TCP connection.
#[pin_data]
pub(crate) struct Queue {
    idx: u32,
    port: Arc<TcpPort>,
    pub(crate) sock: Socket,
    local: SockAddr,
    peer: SockAddr,
    /// Set once, when release is scheduled.
    closing: Atomic<bool>,
    #[pin]
    io: Mutex<IoState>,
    #[pin]
    hooks: Mutex<Option<Hooks<Queue>>>,
    /// Kicks of `io_work`; one while it runs only leaves it a note.
    kicks: Kicks,
    /// The priority `io_work` asks for when the module batches (`wq_highpri=0`).
    priority: AdaptivePriority,
    #[pin]
    sq: Sq<Queue>,
    #[pin]
    io_work: Work<Queue, 0>,
    #[pin]
    release_work: Work<Queue, 1>,
    /// Closes the connection if it is not set up in time; queued at accept, cancelled by
    /// release.
    #[pin]
    setup_timeout: DelayedWork<Queue, 2>,
    /// The TLS handshake while it may be cancelled.
    #[pin]
    handshake: Mutex<Option<Handshake<Queue>>>,
    /// Cancels the TLS handshake after `tls_handshake_timeout`; queued when it starts,
    /// cancelled by its end and by release.
    #[pin]
    tls_timeout: DelayedWork<Queue, 3>,
    /// What went through the connection, in debugfs as `nvmet_tcp/<idx>/stats`.
    #[pin]
    pub(crate) stats: QueueStats,
}

impl_has_work! {
    impl HasWork<Self, 0> for Queue { self.io_work }
    impl HasWork<Self, 1> for Queue { self.release_work }
}

impl_has_delayed_work! {
    impl HasDelayedWork<Self, 2> for Queue { self.setup_timeout }
    impl HasDelayedWork<Self, 3> for Queue { self.tls_timeout }
}

crate::impl_has_sq! {
    impl HasSq for Queue { self.sq }
}

impl Queue {
    /// Creates the queue of an accepted connection and starts serving it.
    ///
    /// Takes no lock of another queue or of the port: the caller may hold the port's.
    pub(crate) fn start(port: Arc<TcpPort>, sock: Socket) -> Result<Arc<Self>> {
        // The handshake agent reaches the socket through a file, as the C target's does.
        let sock = if port.tls { sock.into_file()? } else { sock };
        let phase = if port.tls {
            Phase::Detecting
        } else {
            Phase::Connecting
        };
        let local = sock.local_addr();
        let peer = sock.peer_addr();
        sock.set_queue_options(params::so_priority());
        let incapsule = port.inline_data_size.max(ADMIN_INCAPSULE);
        let limits = Limits {
            // Until Connect installs the queue only the Connect slot exists: TTAG 0.
            queue_depth: 1,
            max_incapsule: incapsule,
        };
        let mut completions = KVec::new();
        completions.reserve(1, GFP_KERNEL)?;
        let mut ready = KVec::new();
        ready.reserve(1, GFP_KERNEL)?;
        let tx = Sender::new()?;
        let nport = port.nport.clone();
        let idx = NEXT_IDX.fetch_add(1, Relaxed);
        let name = CString::try_from_fmt(fmt!("{idx}"))?;
        let root = Root::dir()?;
        let queue = Arc::pin_init(
            try_pin_init!(Self {
                idx,
                port,
                sock,
                local,
                peer,
                closing: Atomic::new(false),
                io <- new_mutex!(IoState {
                    receiver: Receiver::new(Role::Target, limits),
                    state: QueueState {
                        phase,
                        tls: false,
                        framing: Framing::default(),
                        slots: Slots::new(None),
                        free: KVec::new(),
                        tx,
                        icresp: None,
                        recv_to: RecvTo::Discard,
                        completions,
                        ready,
                        poll_until: (params::idle_poll_usecs() > 0).then(idle_deadline),
                    },
                }),
                hooks <- new_mutex!(None),
                kicks: Kicks::new(),
                priority: AdaptivePriority::new(),
                sq <- Sq::new(&nport),
                io_work <- new_work!("Queue::io_work"),
                release_work <- new_work!("Queue::release_work"),
                setup_timeout <- new_delayed_work!("Queue::setup_timeout"),
                handshake <- new_mutex!(None),
                tls_timeout <- new_delayed_work!("Queue::tls_timeout"),
                stats <- queue_stats(&root, &name),
            }),
            GFP_KERNEL,
        )?;
        queue.sq.activate(&queue);
        queue.io.lock().state.slots = Slots::new(queue.sq.take_connect());
        queues::insert(queue.clone())?;
        if let Some(timeout) = params::connect_timeout() {
            // Cannot be queued already: this is its only queueing.
            let _ = nvmet_wq().enqueue_delayed::<_, 2>(queue.clone(), timeout);
        }
        Self::install_hooks(&queue);
        Ok(queue)
    }

    /// Returns the queue's submission queue.
    pub(crate) fn sq(&self) -> &Sq<Queue> {
        &self.sq
    }

    /// Returns the port the connection came in through.
    pub(crate) fn port(&self) -> &Arc<TcpPort> {
        &self.port
    }

    /// Returns whether the queue is being released.
    pub(crate) fn is_closing(&self) -> bool {
        self.closing.load(Relaxed)
    }

    /// Shuts the connection down; release follows from the state change, or, during a TLS
    /// handshake, from its cancel or its end.
    pub(crate) fn shutdown(&self) {
        self.sock.shutdown();
        self.cancel_handshake();
    }

    /// Has `io_work` look at the queue: notes the kick for a run queued or in progress, else
    /// queues one (see [`Kicks`]). A completion that arrives while the work runs (the core often
    /// completes a command inside `execute`) so costs no second run.
    fn kick(this: ArcBorrow<'_, Self>) {
        if this.kicks.kick() {
            Self::queue_io_work(this);
        }
    }

    /// Queues `io_work` on the connection's CPU. When the module batches, a queue whose recent
    /// runs received several PDUs each runs at normal priority.
    fn queue_io_work(this: ArcBorrow<'_, Self>) {
        let cpu = this.sock.incoming_cpu();
        let batch = || this.priority.batch();
        // Already queued (or the module is going away): that run sees what this one was for.
        let _ = crate::IO_WQ.enqueue_on::<_, 0>(cpu, batch, Arc::from(this));
    }

    /// Queues the release work, once.
    fn schedule_release(this: ArcBorrow<'_, Self>) {
        if !this.closing.xchg(true, Relaxed) {
            let _ = nvmet_wq().enqueue::<_, 1>(Arc::from(this));
        }
    }

    /// A log line prefix naming the queue.
    fn name(&self) -> QueueName<'_> {
        QueueName(self)
    }

    // ---- io_work ----

    /// Serves the queue: receives, executes, sends, in rounds, until nothing moves or the
    /// budget is spent; then lets kicks queue it again, and queues itself if one came late.
    fn io_work(this: Arc<Self>) {
        let again = this.serve();
        if this.kicks.stop(again) {
            Self::queue_io_work(this.as_arc_borrow());
        }
    }

    /// One run of `io_work`; returns whether it must run again soon.
    fn serve(self: &Arc<Self>) -> bool {
        let mut guard = self.io.lock();
        let io = &mut *guard;
        match io.state.phase {
            Phase::Failed | Phase::Releasing | Phase::Handshake => {
                // Nothing to look at (now), whatever the kick was for: take the note.
                self.kicks.round();
                return false;
            }
            Phase::Detecting => {
                self.kicks.round();
                return self.detect(io);
            }
            Phase::Connecting | Phase::Live => {}
        }
        let mut ops = 0;
        let mut received = 0;
        let mut pending;
        let mut first = true;
        let result = loop {
            pending = false;
            self.kicks.round();
            // After the first round, the socket is read only if bytes are queued: whatever
            // arrives later, or a close, kicks the work again.
            let read = first || io.state.tls || !self.sock.rx_queue_empty();
            first = false;
            match if read { self.recv(io) } else { Ok(0) } {
                Ok(n) => {
                    pending |= n > 0;
                    ops += n;
                    received += n;
                }
                Err(stop) => break Err(stop),
            }
            if let Err(stop) = self.check_install(&mut io.state, &mut io.receiver) {
                break Err(stop);
            }
            self.take_completions(&mut io.state);
            match self.send(&mut io.state) {
                Ok(n) => {
                    pending |= n > 0;
                    ops += n;
                }
                Err(stop) => break Err(stop),
            }
            if !pending || ops >= IO_WORK_BUDGET {
                break Ok(());
            }
        };
        if let Err(stop) = result {
            self.fail(io, stop);
            return false;
        }
        self.priority.ran(received);
        let st = &mut io.state;
        let polling = match st.poll_until {
            Some(_) if ops > 0 => {
                st.poll_until = Some(idle_deadline());
                true
            }
            Some(until) => until.elapsed().is_negative(),
            None => false,
        };
        pending || polling
    }

    /// Ends the queue after `stop`: TermReq if the host broke the protocol, then close.
    fn fail(&self, io: &mut IoState, stop: RxError) {
        io.state.phase = Phase::Failed;
        match stop {
            Stop::Fatal(e) => {
                if params::ratelimit() {
                    pr_err!(
                        "{}: {} (FES {:02x}h FEI {}), closing\n",
                        self.name(),
                        describe(&e),
                        u16::from(e.fes),
                        e.fei
                    );
                }
                let mut buf = [0u8; TERM_REQ_MAX];
                let mid_pdu = io.state.tx.mid_pdu();
                if let Some(t) = term_req(&io.receiver, Role::Target, e, mid_pdu, &mut buf) {
                    if let Ok(Some(_)) = self.sock.send(t, false) {
                        self.stats.sent_header(t);
                    }
                }
            }
            Stop::TermReq(e) => {
                if params::ratelimit() {
                    pr_err!(
                        "{}: host terminated the connection (FES {:02x}h FEI {})\n",
                        self.name(),
                        u16::from(e.fes),
                        e.fei
                    );
                }
            }
            // The host went away (as C, silently).
            Stop::Closed => {}
            Stop::Local(e) if e == EPIPE || e == ECONNRESET => {}
            Stop::Local(e) => {
                if params::ratelimit() {
                    pr_err!("{}: socket error {}, closing\n", self.name(), e.to_errno());
                }
            }
        }
        self.sock.shutdown();
    }

    /// Once Connect installed the queue: sizes the slots and the receiver's limits. Called
    /// for every command and every round: once installed, it is one test.
    #[inline(always)]
    pub(crate) fn check_install(
        &self,
        st: &mut QueueState,
        rx: &mut Receiver<KernelCrc32c>,
    ) -> Result<(), RxError> {
        if st.slots.installed {
            return Ok(());
        }
        self.install_slots(st, rx)
    }

    /// The work of [`Queue::check_install`] until the queue is installed.
    #[cold]
    fn install_slots(
        &self,
        st: &mut QueueState,
        rx: &mut Receiver<KernelCrc32c>,
    ) -> Result<(), RxError> {
        let Some(reqs) = self.sq.take_requests()? else {
            return Ok(());
        };
        let n = reqs.len();
        let mut slots = KVec::with_capacity(n, GFP_KERNEL)?;
        let mut free = KVec::with_capacity(n, GFP_KERNEL)?;
        for r in reqs {
            slots.push(Slot::Free(r), GFP_KERNEL)?;
        }
        for i in (0..n).rev() {
            // Cannot truncate: at most `u16::MAX` slots.
            free.push(i as u16, GFP_KERNEL)?;
        }
        st.tx.grow(n + 1)?;
        st.completions.reserve(n + 1, GFP_KERNEL)?;
        st.ready.reserve(n + 1, GFP_KERNEL)?;
        st.slots.slots = slots;
        st.slots.installed = true;
        st.free = free;
        let max_incapsule = if self.sq.qid() == 0 {
            ADMIN_INCAPSULE
        } else {
            self.port.inline_data_size
        };
        rx.set_limits(Limits {
            queue_depth: u16::try_from(n).unwrap_or(u16::MAX),
            max_incapsule,
        });
        Ok(())
    }

    /// Moves the commands the core responded to to the send queue.
    fn take_completions(&self, st: &mut QueueState) {
        st.completions.clear();
        self.sq.take_responses(&mut st.completions);
        for i in 0..st.completions.len() {
            let Some(&id) = st.completions.get(i) else {
                break;
            };
            let Some(slot) = st.slots.get_mut(id) else {
                continue;
            };
            match slot.take() {
                Slot::Executing {
                    req,
                    cid,
                    write,
                    draining,
                } => match self.sq.responded(req) {
                    Ok(req) => {
                        *slot = Slot::Completed {
                            req,
                            cid,
                            write,
                            draining,
                        };
                        if !draining {
                            let _ = st.tx.queue(id, &self.stats);
                        }
                    }
                    Err(req) => {
                        *slot = Slot::Executing {
                            req,
                            cid,
                            write,
                            draining,
                        }
                    }
                },
                other => {
                    *slot = other;
                    pr_warn!(
                        "{}: a response for slot {} that is not executing\n",
                        self.name(),
                        id
                    );
                }
            }
        }
    }

    /// The data of slot `id` is complete; `bad`: a data digest did not match.
    pub(crate) fn data_end(&self, st: &mut QueueState, id: u16, bad: bool) {
        let Some(slot) = st.slots.get_mut(id) else {
            return;
        };
        let (req, cid, bad) = match slot.take() {
            Slot::Inline { req, cid } => (req, cid, bad),
            Slot::AwaitingH2C {
                req,
                cid,
                next,
                end,
                digest_bad,
            } => {
                if next < end {
                    *slot = Slot::AwaitingH2C {
                        req,
                        cid,
                        next,
                        end,
                        digest_bad: digest_bad || bad,
                    };
                    return;
                }
                (req, cid, digest_bad || bad)
            }
            other => {
                *slot = other;
                return;
            }
        };
        if bad {
            *slot = Slot::Executing {
                req: self.sq.fail(req, status::TRANSIENT_TRANSPORT),
                cid,
                write: true,
                draining: false,
            };
        } else {
            *slot = Slot::Ready {
                req,
                cid,
                write: true,
            };
            st.mark_ready(id);
        }
    }

    /// The in-capsule data of refused command `id` was dropped: its response is sent if the
    /// core's was seen.
    pub(crate) fn drained(&self, st: &mut QueueState, id: u16) {
        let Some(slot) = st.slots.get_mut(id) else {
            return;
        };
        match slot {
            Slot::Executing { draining, .. } => *draining = false,
            Slot::Completed { draining, .. } if *draining => {
                *draining = false;
                let _ = st.tx.queue(id, &self.stats);
            }
            _ => {}
        }
    }

    /// Executes the commands listed ready, in the order they arrived.
    fn execute_ready(&self, st: &mut QueueState) {
        for i in 0..st.ready.len() {
            let Some(&id) = st.ready.get(i) else {
                break;
            };
            let Some(slot) = st.slots.get_mut(id) else {
                continue;
            };
            match slot.take() {
                Slot::Ready { req, cid, write } => {
                    *slot = Slot::Executing {
                        req: self.sq.execute(req),
                        cid,
                        write,
                        draining: false,
                    }
                }
                other => *slot = other,
            }
        }
        st.ready.clear();
    }

    /// Reads what has arrived, in place in the socket's receive queue, and handles it, up to
    /// `RECV_BUDGET` PDUs, or up to an ICReq or a whole Connect while the queue is set up (the
    /// rest stays queued for the next round); returns how many PDUs were completed.
    fn recv(&self, io: &mut IoState) -> Result<u32, RxError> {
        let mut stop = None;
        let mut pump = Pump::new(RECV_BUDGET, &self.stats);
        let IoState { receiver, state } = io;
        let tls = state.tls;
        let mut h = Rx { q: self, st: state };
        let reader = |piece: crate::skb::Piece<'_>| match pump.segment(receiver, &mut h, &piece) {
            Ok(taken) => taken,
            Err(e) => {
                stop = Some(e);
                0
            }
        };
        let read = self.sock.read(reader);
        if stop.is_none() {
            if let Err(e) = pump.finish::<_, _, crate::skb::Piece<'_>>(receiver, &mut h) {
                stop = Some(e);
            }
        }
        // The socket is not locked any more: the commands read are executed (also when
        // receiving failed: each holds a reference on the queue until it completes), and what
        // the PDUs read ask to send goes now.
        self.execute_ready(state);
        if let Some(e) = stop {
            return Err(e);
        }
        if let Some(icresp) = state.icresp.take() {
            self.send_icresp(icresp)?;
        }
        match read {
            // kTLS stopped at a record that is not data.
            Err(e) if tls && e == EINVAL => self.recv_record().map(|()| pump.pdus() + 1),
            Err(e) => Err(Stop::Local(e)),
            Ok(Read::Closed) => Err(Stop::Closed),
            Ok(Read::Nothing | Read::Bytes(_)) => Ok(pump.pdus()),
        }
    }

    /// Takes the TLS record that is not data at the head of the socket, as C does: a fatal
    /// alert closes the connection, a warning is logged; other records are logged and
    /// dropped.
    fn recv_record(&self) -> Result<(), RxError> {
        let record = self.sock.recv_record().map_err(Stop::Local)?;
        match record {
            None => Ok(()),
            Some(r @ Record::Alert { description, .. }) => {
                let fatal = r.is_fatal_alert();
                if params::ratelimit() {
                    if fatal {
                        pr_err!("{}: TLS Alert desc {}\n", self.name(), description);
                    } else {
                        pr_warn!("{}: TLS Alert desc {}\n", self.name(), description);
                    }
                }
                if fatal {
                    Err(Stop::Closed)
                } else {
                    Ok(())
                }
            }
            Some(Record::Other(ctype)) => {
                if params::ratelimit() {
                    pr_err!("{}: TLS record {} unhandled\n", self.name(), ctype);
                }
                Ok(())
            }
            // kTLS reports a data record only after the one it stopped at: the bytes taken out
            // of the stream cannot be put back.
            Some(Record::Data(n)) => {
                if params::ratelimit() {
                    pr_err!(
                        "{}: {} bytes of TLS data received out of order, closing\n",
                        self.name(),
                        n
                    );
                }
                Err(Stop::Closed)
            }
        }
    }

    // ---- TLS ----

    /// `io_work` on a TLS port before anything is known: peeks at the first 8 bytes (C's
    /// `nvmet_tcp_try_peek_pdu`). A plain ICReq's header is served as on any port, unless TLS
    /// is required; anything else starts the handshake. Returns whether `io_work` must run
    /// again.
    fn detect(self: &Arc<Self>, io: &mut IoState) -> bool {
        let mut hdr = [0u8; 8];
        match self.sock.peek(&mut hdr) {
            // Nothing yet, or not 8 bytes: `data_ready` comes with more.
            Ok(None) => return false,
            Ok(Some(n)) if n > 0 && n < hdr.len() => return false,
            Ok(Some(0)) => {
                self.fail(io, Stop::Closed);
                return false;
            }
            Ok(Some(_)) => {}
            Err(e) => {
                self.fail(io, Stop::Local(e));
                return false;
            }
        }
        if !is_icreq(&hdr) {
            self.start_handshake(io);
            return false;
        }
        if self.port.nport().tls_required() {
            if params::ratelimit() {
                pr_err!(
                    "{}: plain ICReq on port {}, which requires TLS (addr_treq required): connection refused\n",
                    self.name(),
                    self.port.nport().id()
                );
            }
            self.fail(io, Stop::Closed);
            return false;
        }
        io.state.phase = Phase::Connecting;
        true
    }

    /// Installs the queue's callbacks on its socket and has the I/O work look at what may
    /// have arrived before them; a socket already closing gets the release instead. The lock
    /// is held across `install`: a close right after it schedules the release, which must find
    /// the hooks (they hold a reference to the queue) to restore them.
    fn install_hooks(this: &Arc<Self>) {
        let mut hooks = this.hooks.lock();
        match this.sock.install(this.clone(), false) {
            Ok(h) => {
                *hooks = Some(h);
                drop(hooks);
                Self::kick(this.as_arc_borrow());
            }
            // Already closing: nothing to serve.
            Err(_) => {
                drop(hooks);
                Self::schedule_release(this.as_arc_borrow());
            }
        }
    }

    /// Hands the connection to the handshake agent: the queue's callbacks come off the socket
    /// (the agent reads it), and the handshake's end or its timeout decides what follows.
    fn start_handshake(self: &Arc<Self>, io: &mut IoState) {
        if let Some(hooks) = self.hooks.lock().take() {
            drop(hooks.restore(&self.sock));
        }
        io.state.phase = Phase::Handshake;
        let timeout = params::tls_handshake_timeout();
        let keyring: KeySerial = self.port.nport().keyring();
        let psk = Psk {
            keys: &[],
            keyring,
            peer_name: None,
            timeout_ms: timeout.saturating_mul(1000),
        };
        let started = Handshake::start(&self.sock, Side::Server, &psk, self.clone());
        match started {
            Ok(h) => {
                *self.handshake.lock() = Some(h);
                if timeout > 0 {
                    let delay = kernel::time::msecs_to_jiffies(timeout.saturating_mul(1000));
                    // Cannot be queued already: this is its only queueing.
                    let _ = nvmet_wq().enqueue_delayed::<_, 3>(self.clone(), delay);
                }
            }
            Err(e) => {
                if params::ratelimit() {
                    pr_err!(
                        "{}: failed to start TLS, err={}\n",
                        self.name(),
                        e.to_errno()
                    );
                }
                // No callbacks any more to see the close: the release is queued here.
                io.state.phase = Phase::Failed;
                self.sock.shutdown();
                Self::schedule_release(self.as_arc_borrow());
            }
        }
    }

    /// Cancels the TLS handshake if it still runs; the release follows (the handshake's end
    /// would have queued it).
    fn cancel_handshake(&self) {
        let handshake = self.handshake.lock().take();
        if let Some(owner) = handshake.and_then(|h| h.cancel()) {
            Self::schedule_release(owner.as_arc_borrow());
        }
    }

    /// `tls_timeout`: the handshake took longer than `tls_handshake_timeout`.
    fn tls_timeout(this: Arc<Self>) {
        let handshake = this.handshake.lock().take();
        // Lost to the handshake's end, which decides.
        let Some(owner) = handshake.and_then(|h| h.cancel()) else {
            return;
        };
        if params::ratelimit() {
            pr_warn!("{}: TLS handshake timeout\n", owner.name());
        }
        {
            // Not if the release got there first (it sets `Releasing`, then cancels this work).
            let mut io = owner.io.lock();
            if io.state.phase == Phase::Handshake {
                io.state.phase = Phase::Failed;
            }
        }
        // The agent may go on: it is stopped by the close.
        owner.sock.shutdown();
        Self::schedule_release(owner.as_arc_borrow());
    }

    /// The handshake ended (in the agent's context): on success the PSK it used goes to the
    /// queue's `Sq`, the queue's callbacks come back and it reads through kTLS; otherwise the
    /// connection is closed.
    fn tls_done(this: Arc<Self>, result: Result<KeySerial>) {
        // Nothing left for the timeout to cancel; a run in progress finds no handshake.
        drop(cancel_delayed_sync::<_, 3>(&*this));
        drop(this.handshake.lock().take());
        let mut guard = this.io.lock();
        // A handshake that ended before `start_handshake` stored it (which holds `io`).
        drop(this.handshake.lock().take());
        let io = &mut *guard;
        if io.state.phase != Phase::Handshake {
            // Failed meanwhile (`setup_timeout`), and its cancel came too late to queue the
            // release: queued here.
            drop(guard);
            this.sock.shutdown();
            Self::schedule_release(this.as_arc_borrow());
            return;
        }
        let key = result
            .inspect_err(|e| {
                if params::ratelimit() {
                    pr_warn!(
                        "{}: TLS handshake failed, status {}\n",
                        this.name(),
                        e.to_errno()
                    );
                }
            })
            .and_then(|peerid| {
                Key::tls_psk(peerid).inspect_err(|_| {
                    if params::ratelimit() {
                        pr_warn!("{}: failed to lookup key {:x}\n", this.name(), peerid);
                    }
                })
            });
        if let Ok(key) = &key {
            pr_debug!("{}: using TLS PSK {:x}\n", this.name(), key.serial());
        }
        let keyed = key.ok().and_then(|key| match &io.state.slots.connect {
            Slot::Free(connect) => this.sq.set_tls_key(connect, key).ok(),
            _ => None,
        });
        if keyed.is_none() {
            io.state.phase = Phase::Failed;
            drop(guard);
            this.sock.shutdown();
            Self::schedule_release(this.as_arc_borrow());
            return;
        }
        io.state.tls = true;
        io.state.phase = Phase::Connecting;
        drop(guard);
        // The ICReq may have arrived before the callbacks.
        Self::install_hooks(&this);
    }

    /// Answers an ICReq.
    fn send_icresp(&self, icresp: IcResp) -> Result<(), RxError> {
        let mut buf = [0u8; 128];
        let n = Pdu::IcResp(icresp)
            .emit_header::<KernelCrc32c>(&Framing::default(), &mut buf)
            .map_err(|_| Stop::Local(EINVAL))?;
        let icresp = buf.get(..n).unwrap_or(&[]);
        match self.sock.send(icresp, false)? {
            Some(k) if k == n => self.stats.sent_header(icresp),
            _ => return Err(Stop::Local(EAGAIN)),
        }
        if self.is_closing() {
            return Err(Stop::Closed);
        }
        Ok(())
    }

    /// `setup_timeout`: closes the connection if its ICReq and Connect are not done by now.
    ///
    /// Under `io`, as `io_work`: a Connect that arrives at the deadline either installed the
    /// queue first (then nothing happens) or finds the queue failed (then it is not served, and
    /// release lets its request go as any other's).
    fn setup_timeout(this: Arc<Self>) {
        let mut io = this.io.lock();
        let st = &mut io.state;
        let waiting_for = match st.phase {
            _ if st.slots.installed => return,
            Phase::Failed | Phase::Releasing => return,
            Phase::Detecting | Phase::Connecting => "ICReq",
            Phase::Handshake => "TLS handshake",
            Phase::Live => "Connect",
        };
        st.phase = Phase::Failed;
        if params::ratelimit() {
            pr_warn!(
                "{}: no {} within connect_timeout, closing\n",
                this.name(),
                waiting_for
            );
        }
        // A handshake is cancelled too (its release then queued), or its end queues the
        // release.
        this.shutdown();
    }

    // ---- release ----

    fn release(this: Arc<Self>) {
        // Before any lock: a running `setup_timeout` takes `io`. Not queued again afterwards
        // (it is queued once, at accept).
        drop(cancel_delayed_sync::<_, 2>(&*this));
        if let Some(hooks) = this.hooks.lock().take() {
            drop(hooks.restore(&this.sock));
        }
        {
            let mut io = this.io.lock();
            let st = &mut io.state;
            st.phase = Phase::Releasing;
            st.tx.clear();
            // Commands parsed and not executed: the core lets them go.
            for id in st.slots.ids() {
                let Some(slot) = st.slots.get_mut(id) else {
                    continue;
                };
                *slot = match slot.take() {
                    Slot::Inline { req, .. }
                    | Slot::R2tQueued { req, .. }
                    | Slot::AwaitingH2C { req, .. }
                    | Slot::Ready { req, .. } => Slot::Free(this.sq.uninit(req)),
                    other => other,
                };
            }
        }
        // Releasing: no handshake starts any more (only `Detecting` starts one). Its timeout
        // goes, and a handshake still running (a close came first) is cancelled, or its end
        // finds the queue releasing; either way its callback holds its own reference.
        drop(cancel_delayed_sync::<_, 3>(&*this));
        this.cancel_handshake();
        // Waits for every command the core holds.
        this.sq.destroy();
        {
            let mut io = this.io.lock();
            let st = &mut io.state;
            for id in st.slots.ids() {
                let Some(slot) = st.slots.get_mut(id) else {
                    continue;
                };
                *slot = match slot.take() {
                    Slot::Executing { req, .. } => match this.sq.responded(req) {
                        Ok(r) => Slot::Free(this.sq.finish(r)),
                        // Cannot happen after `destroy`; the buffer is leaked, not freed.
                        Err(_) => Slot::Moving,
                    },
                    Slot::Completed { req, .. } => Slot::Free(this.sq.finish(req)),
                    other => other,
                };
            }
        }
        queues::remove(&this);
    }

    // ---- core callbacks ----

    /// `queue_response`: the core completed a command (any context).
    pub(crate) fn queue_response(this: ArcBorrow<'_, Self>) {
        Self::kick(this);
    }

    /// `install_queue`: Connect succeeded; allocate the requests for the queue's size.
    pub(crate) fn install(this: ArcBorrow<'_, Self>) -> u16 {
        let sq = &this.sq;
        if sq.qid() == 0 {
            let ctrl = sq.ctrl();
            let pending =
                queues::count_where(|q| q.is_closing() && ctrl.is_some() && q.sq.ctrl() == ctrl);
            if pending > BACKLOG as usize {
                return status::CONNECT_CTRL_BUSY;
            }
        }
        this.stats.set_qid(sq.qid());
        let n = sq.size().saturating_mul(2);
        match sq.install_requests(n) {
            Ok(()) => 0,
            // A second Connect on the queue, or no memory.
            Err(_) => status::INTERNAL,
        }
    }

    /// `disc_traddr`: the address to put in the discovery log.
    pub(crate) fn disc_traddr(&self, buf: &mut [u8; TRADDR_SIZE]) {
        buf.fill(0);
        if self.port.addr.is_any() {
            self.local.format(buf, false);
        } else {
            let t = self.port.nport().traddr();
            let n = t.len().min(TRADDR_SIZE - 1);
            if let (Some(d), Some(s)) = (buf.get_mut(..n), t.get(..n)) {
                d.copy_from_slice(s);
            }
        }
    }

    /// `host_traddr`: the host's address.
    pub(crate) fn host_traddr(&self, buf: &mut [u8]) -> Result<usize> {
        if self.peer.family() == 0 {
            return Err(EINVAL);
        }
        Ok(self.peer.format(buf, false))
    }

    /// Whether the queue belongs to controller `ctrl`.
    pub(crate) fn is_of_ctrl(&self, ctrl: CtrlId) -> bool {
        self.sq.ctrl() == Some(ctrl)
    }
}

fn idle_deadline() -> Instant<Monotonic> {
    Instant::<Monotonic>::now() + Delta::from_micros(i64::from(params::idle_poll_usecs()))
}

/// `queue N (local <- peer)` for log lines.
struct QueueName<'a>(&'a Queue);

impl kernel::fmt::Display for QueueName<'_> {
    fn fmt(&self, f: &mut kernel::fmt::Formatter<'_>) -> kernel::fmt::Result {
        write!(
            f,
            "queue {} ({} <- {})",
            self.0.idx,
            AddrText::new(&self.0.local),
            AddrText::new(&self.0.peer)
        )
    }
}

impl WorkItem<0> for Queue {
    type Pointer = Arc<Queue>;

    fn run(this: Arc<Queue>) {
        Self::io_work(this);
    }
}

impl WorkItem<1> for Queue {
    type Pointer = Arc<Queue>;

    fn run(this: Arc<Queue>) {
        Self::release(this);
    }
}

impl WorkItem<2> for Queue {
    type Pointer = Arc<Queue>;

    fn run(this: Arc<Queue>) {
        Self::setup_timeout(this);
    }
}

impl WorkItem<3> for Queue {
    type Pointer = Arc<Queue>;

    fn run(this: Arc<Queue>) {
        Self::tls_timeout(this);
    }
}

impl Done for Queue {
    fn done(this: Arc<Self>, result: Result<KeySerial>) {
        Self::tls_done(this, result);
    }
}

/// Whether `hdr` is the common header of an ICReq as a plain host sends it (C's test: type
/// ICReq, HLEN and PLEN 128), rather than the start of a TLS record.
fn is_icreq(hdr: &[u8; 8]) -> bool {
    let [pdu_type, _flags, hlen, _pdo, plen @ ..] = *hdr;
    let len = crate::pdu::ic::IC_LEN;
    // 00h: ICReq.
    pdu_type == 0 && usize::from(hlen) == len && u32::from_le_bytes(plen) as usize == len
}

impl Callbacks for Queue {
    fn data_ready(this: ArcBorrow<'_, Self>, _listening: bool) {
        Self::kick(this);
    }

    fn write_space(this: ArcBorrow<'_, Self>) {
        Self::kick(this);
    }

    fn closing(this: ArcBorrow<'_, Self>) {
        Self::schedule_release(this);
    }
}
