// SPDX-License-Identifier: GPL-2.0

//! One connection: ICReq/ICResp, commands through the `nvmet` core, data in and out, teardown.
//!
//! Socket callbacks and `queue_response` only queue `io_work`, which does all the protocol work
//! under the queue's `io` mutex, on the CPU the connection's packets arrive on. Release runs on
//! the core's `nvmet_wq` once the connection closes.

use crate::crc32c::KernelCrc32c;
use crate::io_wq::Kicks;
use crate::nvmet::{status, Request, Sq, TRADDR_SIZE};
use crate::pdu::{
    C2HData, CapsuleCmd, CapsuleResp, CommandTable, DataDigest, Event, FatalError, Fes, Framing,
    Header, IcResp, Limits, Pdu, R2t, Receiver, Role, TargetConfig, TermReq, Transfer, Want,
};
use crate::port::{TcpPort, BACKLOG, MAX_DATA_LEN};
use crate::registry;
use crate::sgl::DataBuffer;
use crate::socket::{AddrText, Callbacks, Hooks, Piece, Read, SockAddr, Socket};
use crate::workqueue::nvmet_wq;
use core::ptr::NonNull;
use kernel::{
    alloc::KVBox,
    new_mutex, new_work,
    prelude::*,
    sync::{
        atomic::{Acquire, Atomic, Relaxed, Release},
        Arc, ArcBorrow, Mutex, SetOnce,
    },
    time::{Delta, Instant, Monotonic},
    workqueue::{impl_has_work, Work, WorkItem},
};

/// PDUs received per round of `io_work`.
const RECV_BUDGET: u32 = 8;
/// PDUs sent per round of `io_work`.
const SEND_BUDGET: u32 = 8;
/// PDUs moved per run of `io_work` before it yields the CPU and requeues itself.
const IO_WORK_BUDGET: u32 = 64;

/// Slot of the request that exists before Connect installs the queue; its TTAG is 0.
const CONNECT: u16 = u16::MAX;
/// End of the completion list.
const NO_LINK: u32 = u32::MAX;
/// In-capsule data limit on the admin queue (the host's fixed admin capsule size).
const ADMIN_INCAPSULE: u32 = 8192;
/// Largest header section the target sends: a C2HData/R2T/CapsuleResp header and its digest.
const HDR_MAX: usize = 24 + 4;
/// Bytes of headers gathered before one send: responses and R2Ts that are ready together leave
/// in one call.
const TX_STAGE: usize = 1024;

static NEXT_IDX: Atomic<u32> = Atomic::new(0);

/// Why `io_work` stops serving a queue.
enum Stop {
    /// The host broke the protocol: TermReq with this error, then close.
    Fatal(FatalError, &'static str),
    /// The connection closed or the host sent a TermReq.
    Closed,
    /// A socket or memory error.
    Error(Error),
}

impl From<Error> for Stop {
    fn from(e: Error) -> Self {
        Self::Error(e)
    }
}

impl From<kernel::alloc::AllocError> for Stop {
    fn from(_: kernel::alloc::AllocError) -> Self {
        Self::Error(ENOMEM)
    }
}

/// Where the queue is in its life, as `io_work` sees it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for ICReq.
    Connecting,
    /// ICReq/ICResp done.
    Live,
    /// Stopped on an error; the socket is shutting down.
    Failed,
    /// The release work took over; `io_work` does nothing any more.
    Releasing,
}

/// What a command slot is doing. The core holds the request only in `Executing`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum SlotState {
    Free,
    /// Receiving in-capsule data into the buffer; the command is parsed, not executed.
    Inline,
    /// The core already completed the command (it refused it); its in-capsule data is being
    /// received and dropped. `done` once its completion was seen.
    Draining {
        done: bool,
    },
    /// An R2T is queued for sending.
    R2tQueued,
    /// The R2T was sent; H2CData for `next..end` may arrive.
    AwaitingH2C,
    /// The core runs the command.
    Executing,
    /// The core completed the command; its data and response are queued for sending.
    Completed,
}

/// The transport's side of a command slot.
struct Slot {
    state: SlotState,
    buf: Option<DataBuffer>,
    cid: u16,
    write: bool,
    /// For a write by R2T: offset of the next byte expected and end of the data.
    next: u32,
    end: u32,
    /// A data digest of this command's H2CData did not match.
    digest_bad: bool,
}

impl Slot {
    const fn new() -> Self {
        Self {
            state: SlotState::Free,
            buf: None,
            cid: 0,
            write: false,
            next: 0,
            end: 0,
            digest_bad: false,
        }
    }

    /// Counts `len` bytes of data received into the buffer: for a write by R2T, they advance
    /// the offset expected next.
    fn received(&mut self, len: u32) {
        if self.state == SlotState::AwaitingH2C {
            self.next = self.next.saturating_add(len);
        }
    }
}

/// Where the data of the PDU being received goes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum RecvTo {
    /// Into the slot's buffer.
    Slot(u16),
    /// Nowhere: the in-capsule data of a command the core refused.
    Drain(u16),
    /// Nowhere: a TermReq's data.
    Discard,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Stage {
    Data,
    Digest,
}

/// The data section of a C2HData PDU being sent, possibly over several `io_work` runs; its
/// header went out with the staged headers before it.
struct Cursor {
    id: u16,
    /// A CapsuleResp follows the data (the host did not disable SQ flow control).
    resp: bool,
    stage: Stage,
    /// Bytes of the current stage already sent.
    sent: u32,
    data_len: u32,
    ddgst: Option<[u8; 4]>,
}

/// Headers waiting to be sent, in order; `sent..fill` of `buf` is still to go.
struct TxStage {
    buf: KVec<u8>,
    fill: usize,
    sent: usize,
}

impl TxStage {
    fn new() -> Result<Self> {
        Ok(Self {
            buf: KVec::from_elem(0u8, TX_STAGE, GFP_KERNEL)?,
            fill: 0,
            sent: 0,
        })
    }

    fn is_empty(&self) -> bool {
        self.sent == self.fill
    }

    /// Whether another header fits.
    fn has_room(&self) -> bool {
        self.buf.len() - self.fill >= HDR_MAX
    }

    /// Emits `pdu`'s header after the staged ones.
    fn push(&mut self, pdu: &Pdu, framing: &Framing) -> Result<(), Stop> {
        let room = self.buf.get_mut(self.fill..).unwrap_or(&mut []);
        let n = pdu
            .emit_header::<KernelCrc32c>(framing, room)
            .map_err(|_| Stop::Error(EINVAL))?;
        self.fill += n;
        Ok(())
    }

    /// Whether part of a PDU went out and the rest has not.
    fn mid_pdu(&self) -> bool {
        self.sent > 0 && !self.is_empty()
    }
}

/// A first-in first-out queue of slot ids, with room for every slot: a slot is queued at most
/// once at a time, so it never overflows.
struct IdFifo {
    ids: KVec<u16>,
    head: usize,
    len: usize,
}

impl IdFifo {
    fn new() -> Self {
        Self {
            ids: KVec::new(),
            head: 0,
            len: 0,
        }
    }

    /// Makes room for `n` ids, keeping the queued ones in order.
    fn grow(&mut self, n: usize) -> Result {
        if n <= self.ids.len() {
            return Ok(());
        }
        let mut ids = KVec::from_elem(0u16, n, GFP_KERNEL)?;
        let mut len = 0;
        while let Some(id) = self.pop() {
            if let Some(slot) = ids.get_mut(len) {
                *slot = id;
                len += 1;
            }
        }
        *self = Self { ids, head: 0, len };
        Ok(())
    }

    fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Queues `id`; `false` if there is no room (cannot happen while ids are unique).
    fn push(&mut self, id: u16) -> bool {
        let cap = self.ids.len();
        if self.len == cap {
            return false;
        }
        // Both are below `cap`: wrap by one subtraction (no division, no panic path).
        let at = self.head + self.len;
        let at = if at >= cap { at - cap } else { at };
        if let Some(slot) = self.ids.get_mut(at) {
            *slot = id;
            self.len += 1;
        }
        true
    }

    fn pop(&mut self) -> Option<u16> {
        if self.len == 0 {
            return None;
        }
        let id = self.ids.get(self.head).copied();
        self.head += 1;
        if self.head == self.ids.len() {
            self.head = 0;
        }
        self.len -= 1;
        id
    }
}

/// Everything `io_work` owns; under `Queue::io`.
struct IoState {
    phase: Phase,
    rx: Receiver<KernelCrc32c>,
    framing: Framing,
    installed: bool,
    connect: Slot,
    slots: KVec<Slot>,
    free: KVec<u16>,
    sendq: IdFifo,
    /// Headers staged for sending; they go out before `cur`'s data.
    tx: TxStage,
    cur: Option<Cursor>,
    /// The answer to the ICReq just read, to send once the read is over.
    icresp: Option<IcResp>,
    recv_to: RecvTo,
    /// The PDU being received is an H2CTermReq.
    term: bool,
    /// Completions taken from the lock-free list, in arrival order.
    completions: KVec<u16>,
    /// Commands received whole in the current read, executed once it is over: the core takes
    /// its own locks (`nvmet_config_sem` for Connect), which must not nest in the socket's.
    /// Room for every slot and the Connect slot: a slot is executed at most once per read.
    ready: KVec<u16>,
    /// While `idle_poll_period_usecs` is set: keep polling until then.
    poll_until: Option<Instant<Monotonic>>,
}

impl IoState {
    fn slot(&self, id: u16) -> Option<&Slot> {
        if id == CONNECT {
            Some(&self.connect)
        } else {
            self.slots.get(usize::from(id))
        }
    }

    /// Lists slot `id` to execute once the read is over.
    fn mark_ready(&mut self, id: u16) {
        // Cannot fail: a slot is listed at most once per read, and there is room for all.
        if self.ready.push_within_capacity(id).is_err() {
            pr_warn!("nvmet_tcp: no room to execute slot {}\n", id);
        }
    }

    fn slot_mut(&mut self, id: u16) -> Option<&mut Slot> {
        if id == CONNECT {
            Some(&mut self.connect)
        } else {
            self.slots.get_mut(usize::from(id))
        }
    }

    /// Returns the slot id of `ttag`.
    fn ttag_slot(&self, ttag: u16) -> u16 {
        if self.installed {
            ttag
        } else {
            CONNECT
        }
    }
}

/// The transfer tag of slot `id` in R2T and H2CData.
fn ttag_of(id: u16) -> u16 {
    if id == CONNECT {
        0
    } else {
        id
    }
}

/// The receiver's view of the slots: which TTAGs await H2CData.
struct Table<'a> {
    connect: &'a Slot,
    slots: &'a [Slot],
    installed: bool,
}

impl CommandTable for Table<'_> {
    fn transfer(&self, ttag: u16) -> Option<Transfer> {
        let slot = if self.installed {
            self.slots.get(usize::from(ttag))?
        } else if ttag == 0 {
            self.connect
        } else {
            return None;
        };
        (slot.state == SlotState::AwaitingH2C).then_some(Transfer {
            cccid: slot.cid,
            next: slot.next,
            end: slot.end,
        })
    }
}

/// One NVMe/TCP connection.
#[pin_data]
pub(crate) struct Queue {
    idx: u32,
    port: Arc<TcpPort>,
    sock: Socket,
    local: SockAddr,
    peer: SockAddr,
    /// Set once, when release is scheduled.
    closing: Atomic<bool>,
    #[pin]
    io: Mutex<IoState>,
    #[pin]
    hooks: Mutex<Option<Hooks<Queue>>>,
    /// Head of the lock-free list of completed requests (their indices), or `NO_LINK`.
    done: Atomic<u32>,
    /// Kicks of `io_work`; one while it runs only leaves it a note.
    kicks: Kicks,
    #[pin]
    sq: Sq<Queue>,
    #[pin]
    connect: Request<Queue>,
    /// The command slots, `2 * sq->size` of them, set by `install_queue`.
    requests: SetOnce<Pin<KVBox<[Request<Queue>]>>>,
    #[pin]
    io_work: Work<Queue, 0>,
    #[pin]
    release_work: Work<Queue, 1>,
}

impl_has_work! {
    impl HasWork<Self, 0> for Queue { self.io_work }
    impl HasWork<Self, 1> for Queue { self.release_work }
}

impl Queue {
    /// Creates the queue of an accepted connection and starts serving it.
    ///
    /// Takes no lock of another queue or of the port: the caller may hold the port's.
    pub(crate) fn start(port: Arc<TcpPort>, sock: Socket) -> Result<Arc<Self>> {
        let local = sock.local_addr();
        let peer = sock.peer_addr();
        sock.set_queue_options(crate::so_priority());
        let incapsule = port.inline_data_size.max(ADMIN_INCAPSULE);
        let limits = Limits {
            // Until Connect installs the queue only the Connect slot exists: TTAG 0.
            queue_depth: 1,
            max_incapsule: incapsule,
            max_data_len: MAX_DATA_LEN,
        };
        let mut completions = KVec::new();
        completions.reserve(1, GFP_KERNEL)?;
        let mut ready = KVec::new();
        ready.reserve(1, GFP_KERNEL)?;
        let mut sendq = IdFifo::new();
        sendq.grow(1)?;
        let tx = TxStage::new()?;
        let nport = core::ptr::from_ref::<crate::nvmet::Port>(port.nport());
        let queue = Arc::pin_init(
            try_pin_init!(&this in Self {
                idx: NEXT_IDX.fetch_add(1, Relaxed),
                port,
                sock,
                local,
                peer,
                closing: Atomic::new(false),
                io <- new_mutex!(IoState {
                    phase: Phase::Connecting,
                    rx: Receiver::new(Role::Target, limits),
                    framing: Framing::default(),
                    installed: false,
                    connect: Slot::new(),
                    slots: KVec::new(),
                    free: KVec::new(),
                    sendq,
                    tx,
                    cur: None,
                    icresp: None,
                    recv_to: RecvTo::Discard,
                    term: false,
                    completions,
                    ready,
                    poll_until: (crate::idle_poll_usecs() > 0).then(idle_deadline),
                }),
                hooks <- new_mutex!(None),
                done: Atomic::new(NO_LINK),
                kicks: Kicks::new(),
                // SAFETY: `this` is the queue being created inside an `Arc`, which contains the
                // `Sq` and the request.
                sq <- unsafe { Sq::new(this) },
                // SAFETY: As above; the port outlives its queues.
                connect <- unsafe { Request::new(this, CONNECT, &*nport) },
                requests: SetOnce::new(),
                io_work <- new_work!("Queue::io_work"),
                release_work <- new_work!("Queue::release_work"),
            }),
            GFP_KERNEL,
        )?;
        registry::insert(queue.clone())?;
        // The lock is held across `install`: a close right after it schedules the release,
        // which must find the hooks (they hold a reference to the queue) to restore them.
        let mut hooks = queue.hooks.lock();
        match queue.sock.install(queue.clone(), false) {
            Ok(h) => {
                *hooks = Some(h);
                drop(hooks);
                Self::kick(queue.as_arc_borrow());
            }
            // Already closing: nothing to serve.
            Err(_) => {
                drop(hooks);
                Self::schedule_release(queue.as_arc_borrow());
            }
        }
        Ok(queue)
    }

    /// Returns the port the connection came in through.
    pub(crate) fn port(&self) -> &Arc<TcpPort> {
        &self.port
    }

    /// Returns whether the queue is being released.
    fn is_closing(&self) -> bool {
        self.closing.load(Relaxed)
    }

    /// Shuts the connection down; release follows from the state change.
    pub(crate) fn shutdown(&self) {
        self.sock.shutdown();
    }

    /// Has `io_work` look at the queue: notes the kick for a run queued or in progress, else
    /// queues one (see [`Kicks`]). A completion that arrives while the work runs (the core often
    /// completes a command inside `execute`) so costs no second run.
    fn kick(this: ArcBorrow<'_, Self>) {
        if this.kicks.kick() {
            Self::queue_io_work(this);
        }
    }

    /// Queues `io_work` on the connection's CPU.
    fn queue_io_work(this: ArcBorrow<'_, Self>) {
        let cpu = this.sock.incoming_cpu();
        // Already queued: that run will see what this one was for.
        let _ = crate::IO_WQ.enqueue_on::<_, 0>(cpu, Arc::from(this));
    }

    /// Queues the release work, once.
    fn schedule_release(this: ArcBorrow<'_, Self>) {
        if !this.closing.xchg(true, Relaxed) {
            let _ = nvmet_wq().enqueue::<_, 1>(Arc::from(this));
        }
    }

    /// Returns the request of slot `id`.
    fn request(&self, id: u16) -> Option<&Request<Queue>> {
        if id == CONNECT {
            Some(&self.connect)
        } else {
            self.requests.as_ref()?.get(usize::from(id))
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
    fn serve(&self) -> bool {
        let mut io = self.io.lock();
        if matches!(io.phase, Phase::Failed | Phase::Releasing) {
            // Nothing to look at any more, whatever the kick was for: take the note.
            self.kicks.round();
            return false;
        }
        let mut ops = 0;
        let mut pending;
        let result = loop {
            pending = false;
            self.kicks.round();
            match self.recv(&mut io) {
                Ok(n) => {
                    pending |= n > 0;
                    ops += n;
                }
                Err(stop) => break Err(stop),
            }
            if let Err(stop) = self.check_install(&mut io) {
                break Err(stop);
            }
            self.take_completions(&mut io);
            match self.send(&mut io) {
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
            self.fail(&mut io, stop);
            return false;
        }
        let polling = match io.poll_until {
            Some(_) if ops > 0 => {
                io.poll_until = Some(idle_deadline());
                true
            }
            Some(until) => until.elapsed().is_negative(),
            None => false,
        };
        pending || polling
    }

    /// Ends the queue after `stop`: TermReq if the host broke the protocol, then close.
    fn fail(&self, io: &mut IoState, stop: Stop) {
        io.phase = Phase::Failed;
        match stop {
            Stop::Fatal(e, what) => {
                if crate::ratelimit() {
                    pr_err!(
                        "{}: {} (FES {:02x}h FEI {}), closing\n",
                        self.name(),
                        what,
                        u16::from(e.fes),
                        e.fei
                    );
                }
                // A TermReq cannot follow a PDU sent in part, nor answer a TermReq. (A cursor
                // means its header went out.)
                let mid_pdu = io.cur.is_some() || io.tx.mid_pdu();
                if !mid_pdu && io.rx.may_send_term_req() {
                    let offending = io.rx.offending_header();
                    let mut buf = [0u8; 24 + 128];
                    let term = TermReq::new(e, offending.len());
                    if let Ok(n) = term.emit_pdu(Role::Target, offending, &mut buf) {
                        let _ = self.sock.send(buf.get(..n).unwrap_or(&[]), false);
                    }
                }
            }
            Stop::Closed => {}
            Stop::Error(e) => {
                if crate::ratelimit() {
                    pr_err!("{}: socket error {:?}, closing\n", self.name(), e);
                }
            }
        }
        self.sock.shutdown();
    }

    /// Once Connect installed the queue: sizes the slots and the receiver's limits.
    fn check_install(&self, io: &mut IoState) -> Result<(), Stop> {
        if io.installed {
            return Ok(());
        }
        let Some(reqs) = self.requests.as_ref() else {
            return Ok(());
        };
        let n = reqs.len();
        let mut slots = KVec::with_capacity(n, GFP_KERNEL)?;
        let mut free = KVec::with_capacity(n, GFP_KERNEL)?;
        for i in 0..n {
            slots.push(Slot::new(), GFP_KERNEL)?;
            free.push((n - 1 - i) as u16, GFP_KERNEL)?;
        }
        io.sendq.grow(n + 1)?;
        io.completions.reserve(n + 1, GFP_KERNEL)?;
        io.ready.reserve(n + 1, GFP_KERNEL)?;
        io.slots = slots;
        io.free = free;
        io.installed = true;
        let max_incapsule = if self.sq.qid() == 0 {
            ADMIN_INCAPSULE
        } else {
            self.port.inline_data_size
        };
        io.rx.set_limits(Limits {
            queue_depth: u16::try_from(n).unwrap_or(u16::MAX),
            max_incapsule,
            max_data_len: MAX_DATA_LEN,
        });
        Ok(())
    }

    /// Moves the requests the core completed to the send queue.
    fn take_completions(&self, io: &mut IoState) {
        let mut head = self.done.xchg(NO_LINK, Acquire);
        io.completions.clear();
        while head != NO_LINK {
            let id = head as u16;
            let Some(req) = self.request(id) else {
                break;
            };
            head = req.link.load(Relaxed);
            // Cannot fail: each slot is on the list at most once and the capacity is the
            // number of slots plus one.
            let _ = io.completions.push_within_capacity(id);
        }
        // The list is newest first.
        while let Some(id) = io.completions.pop() {
            let Some(slot) = io.slot_mut(id) else {
                continue;
            };
            match slot.state {
                SlotState::Draining { done: false } => {
                    slot.state = SlotState::Draining { done: true };
                }
                SlotState::Executing => {
                    slot.state = SlotState::Completed;
                    let _ = io.sendq.push(id);
                }
                other => {
                    pr_warn!(
                        "{}: completion of slot {} in state {:?}\n",
                        self.name(),
                        id,
                        other
                    );
                }
            }
        }
    }

    // ---- receive ----

    /// Reads what has arrived, in place in the socket's receive queue, and handles it, up to
    /// `RECV_BUDGET` PDUs (the rest stays queued for the next round); returns how many PDUs
    /// were completed.
    fn recv(&self, io: &mut IoState) -> Result<u32, Stop> {
        let mut pdus = 0;
        let mut stop = None;
        let read = self.sock.read(|piece| {
            if pdus >= RECV_BUDGET {
                return 0;
            }
            let bytes = piece.bytes();
            let used = match self.feed(io, bytes, RECV_BUDGET - pdus) {
                Ok((n, used)) => {
                    pdus += n;
                    used
                }
                Err(e) => {
                    stop = Some(e);
                    return 0;
                }
            };
            if used < bytes.len() || pdus >= RECV_BUDGET {
                return used;
            }
            // The data that follows in the same socket buffer is copied into place in one go.
            match self.place(io, &piece) {
                Ok((n, placed)) => {
                    pdus += n;
                    used + placed
                }
                Err(e) => {
                    stop = Some(e);
                    used
                }
            }
        });
        // The end of data is an event of its own: handled now, as nothing may follow soon.
        if stop.is_none() {
            if let Want::Data { len: 0, .. } = io.rx.want() {
                match self.feed(io, &[], 1) {
                    Ok((n, _)) => pdus += n,
                    Err(e) => stop = Some(e),
                }
            }
        }
        // The socket is not locked any more: the commands read are executed (also when
        // receiving failed: each holds a reference on the queue until it completes), and what
        // the PDUs read ask to send goes now.
        self.execute_ready(io);
        if let Some(e) = stop {
            return Err(e);
        }
        if let Some(icresp) = io.icresp.take() {
            self.send_icresp(icresp)?;
        }
        match read? {
            Read::Closed => Err(Stop::Closed),
            Read::Nothing | Read::Bytes(_) => Ok(pdus),
        }
    }

    /// Executes the commands [`IoState::ready`] lists, in the order they arrived.
    fn execute_ready(&self, io: &mut IoState) {
        for id in io.ready.drain_all() {
            if let Some(req) = self.request(id) {
                req.execute();
            }
        }
    }

    /// Feeds received bytes to the receiver and handles its events, until they are all
    /// consumed or `budget` PDUs are complete; returns the PDUs completed and the bytes
    /// consumed.
    fn feed(&self, io: &mut IoState, bytes: &[u8], budget: u32) -> Result<(u32, usize), Stop> {
        let mut input = bytes;
        let mut pdus = 0;
        loop {
            let table = Table {
                connect: &io.connect,
                slots: &io.slots,
                installed: io.installed,
            };
            let (event, rest) = io.rx.feed(input, &table);
            input = rest;
            match event {
                Event::NeedMore => return Ok((pdus, bytes.len() - input.len())),
                Event::Header => {
                    let h = *io.rx.header();
                    if h.layout.data_len == 0 {
                        pdus += 1;
                    }
                    self.on_header(io, &h)?;
                }
                Event::Data { offset, data } => {
                    if let RecvTo::Slot(id) = io.recv_to {
                        if let Some(slot) = io.slot_mut(id) {
                            // The receiver checked that the data lies within the command's
                            // buffer.
                            if let Some(buf) = slot.buf.as_mut() {
                                buf.copy_in(offset, data);
                            }
                            slot.received(u32::try_from(data.len()).unwrap_or(u32::MAX));
                        }
                    }
                }
                Event::DataEnd(verdict) => {
                    pdus += 1;
                    self.on_data_end(io, verdict)?;
                }
                Event::AwaitParams => {
                    return Err(Stop::Fatal(
                        FatalError::status(Fes::PduSequenceError),
                        "receiver awaits parameters",
                    ))
                }
                Event::Fatal(e) => return Err(Stop::Fatal(e, describe(e))),
            }
            // All consumed: no call only to hear `NeedMore` (an end of data due now is taken
            // by the next piece, or once the read is over).
            if pdus >= budget || input.is_empty() {
                return Ok((pdus, bytes.len() - input.len()));
            }
        }
    }

    /// Copies the data of the current PDU that follows `piece` in its socket buffer straight
    /// into the command's buffer, where the receiver allows it ([`Receiver::placeable`]: no
    /// data digest to compute); returns the PDUs completed and the bytes placed (none: the
    /// data is fed as it comes).
    fn place(&self, io: &mut IoState, piece: &Piece<'_>) -> Result<(u32, usize), Stop> {
        let (Some((offset, left)), RecvTo::Slot(id)) = (io.rx.placeable(), io.recv_to) else {
            return Ok((0, 0));
        };
        let src = piece.after(left);
        let len = src.len();
        let Some(slot) = io.slot_mut(id) else {
            return Ok((0, 0));
        };
        let copied = len > 0
            && slot
                .buf
                .as_mut()
                .is_some_and(|b| b.copy_from_skb(offset, &src));
        if !copied {
            return Ok((0, 0));
        }
        slot.received(len);
        match io.rx.placed(len) {
            Some(Event::DataEnd(verdict)) => {
                self.on_data_end(io, verdict)?;
                Ok((1, len as usize))
            }
            Some(_) => Ok((0, len as usize)),
            // Cannot happen: `len` is within what `placeable` allowed.
            None => Err(Stop::Error(EIO)),
        }
    }

    /// Answers an ICReq.
    fn send_icresp(&self, icresp: IcResp) -> Result<(), Stop> {
        let mut buf = [0u8; 128];
        let n = Pdu::IcResp(icresp)
            .emit_header::<KernelCrc32c>(&Framing::default(), &mut buf)
            .map_err(|_| Stop::Error(EINVAL))?;
        match self.sock.send(buf.get(..n).unwrap_or(&[]), false)? {
            Some(k) if k == n => {}
            _ => return Err(Stop::Error(EAGAIN)),
        }
        if self.is_closing() {
            return Err(Stop::Closed);
        }
        Ok(())
    }

    fn on_header(&self, io: &mut IoState, h: &Header) -> Result<(), Stop> {
        match h.pdu {
            Pdu::IcReq(icreq) => {
                let config = TargetConfig {
                    hdgst: true,
                    ddgst: true,
                    maxh2cdata: MAX_DATA_LEN,
                };
                let (params, icresp) = config
                    .accept_icreq(&icreq)
                    .map_err(|e| Stop::Fatal(e, "ICReq refused"))?;
                // Sent once the read is over: the socket is locked while it runs.
                io.icresp = Some(icresp);
                io.rx.establish(params);
                io.framing = params.framing(Role::Target);
                io.phase = Phase::Live;
            }
            Pdu::CapsuleCmd(cmd) => self.on_command(io, &cmd)?,
            Pdu::H2CData(d) => {
                io.term = false;
                io.recv_to = RecvTo::Slot(io.ttag_slot(d.ttag));
            }
            Pdu::H2CTermReq(t) => {
                if crate::ratelimit() {
                    pr_err!(
                        "{}: host terminated the connection (FES {:02x}h FEI {})\n",
                        self.name(),
                        u16::from(t.fes),
                        t.fei
                    );
                }
                if t.data_len == 0 {
                    return Err(Stop::Closed);
                }
                io.term = true;
                io.recv_to = RecvTo::Discard;
            }
            // The validator admits nothing else on the target side.
            _ => {}
        }
        Ok(())
    }

    /// Starts a command: takes a slot, has the core parse it, sizes its buffer.
    fn on_command(&self, io: &mut IoState, cmd: &CapsuleCmd) -> Result<(), Stop> {
        let overrun = Stop::Fatal(
            FatalError::status(Fes::PduSequenceError),
            "command without a free slot",
        );
        self.check_install(io)?;
        io.term = false;
        let id = if io.installed {
            io.free.pop().ok_or(overrun)?
        } else if io.connect.state == SlotState::Free {
            CONNECT
        } else {
            return Err(overrun);
        };
        let req = self.request(id).ok_or(Stop::Error(EINVAL))?;
        req.set_sqe(&cmd.sqe);
        let Some(slot) = io.slot_mut(id) else {
            return Err(Stop::Error(EINVAL));
        };
        slot.cid = cmd.cid();
        slot.write = cmd.is_write();
        slot.digest_bad = false;
        slot.next = 0;
        slot.end = 0;
        let incapsule = cmd.data_len > 0;
        let refuse = |slot: &mut Slot| {
            slot.state = if incapsule {
                SlotState::Draining { done: false }
            } else {
                SlotState::Executing
            };
        };
        if !req.init(&self.sq, &crate::OPS) {
            // The core completed the command with an error already.
            refuse(slot);
            if incapsule {
                io.recv_to = RecvTo::Drain(id);
            }
            return Ok(());
        }
        let len = cmd.sgl_len();
        if len > 0 {
            match DataBuffer::alloc(len) {
                Some(buf) => {
                    req.set_data(Some(&buf));
                    slot.buf = Some(buf);
                }
                None => {
                    refuse(slot);
                    req.complete(status::INTERNAL);
                    if incapsule {
                        io.recv_to = RecvTo::Drain(id);
                    }
                    return Ok(());
                }
            }
        }
        if incapsule {
            if !slot.write {
                refuse(slot);
                req.complete(status::INVALID_FIELD_DNR);
                io.recv_to = RecvTo::Drain(id);
                return Ok(());
            }
            slot.state = SlotState::Inline;
            io.recv_to = RecvTo::Slot(id);
        } else if slot.write && len > 0 {
            slot.state = SlotState::R2tQueued;
            slot.end = len;
            let _ = io.sendq.push(id);
        } else {
            slot.state = SlotState::Executing;
            io.mark_ready(id);
        }
        Ok(())
    }

    fn on_data_end(&self, io: &mut IoState, verdict: DataDigest) -> Result<(), Stop> {
        if io.term {
            return Err(Stop::Closed);
        }
        let id = match io.recv_to {
            RecvTo::Slot(id) => id,
            RecvTo::Drain(id) => {
                self.drained(io, id);
                return Ok(());
            }
            RecvTo::Discard => return Ok(()),
        };
        let req = self.request(id).ok_or(Stop::Error(EINVAL))?;
        let bad = matches!(verdict, DataDigest::Bad { .. });
        let Some(slot) = io.slot_mut(id) else {
            return Err(Stop::Error(EINVAL));
        };
        match slot.state {
            SlotState::Inline => {
                slot.state = SlotState::Executing;
                if bad {
                    req.complete(status::TRANSIENT_TRANSPORT);
                } else {
                    io.mark_ready(id);
                }
            }
            SlotState::AwaitingH2C => {
                slot.digest_bad |= bad;
                if slot.next == slot.end {
                    slot.state = SlotState::Executing;
                    if slot.digest_bad {
                        req.complete(status::TRANSIENT_TRANSPORT);
                    } else {
                        io.mark_ready(id);
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// The in-capsule data of refused command `id` was dropped: queue its response if the
    /// core's completion was already seen.
    fn drained(&self, io: &mut IoState, id: u16) {
        let Some(slot) = io.slot_mut(id) else {
            return;
        };
        if slot.state == (SlotState::Draining { done: true }) {
            slot.state = SlotState::Completed;
            let _ = io.sendq.push(id);
        } else {
            slot.state = SlotState::Executing;
        }
    }

    // ---- send ----

    /// Stages the header of what slot `id` sends next; for read data, also starts the cursor
    /// that sends the data after it. Returns whether the slot's PDUs are all staged.
    fn stage_send(&self, io: &mut IoState, id: u16) -> Result<bool, Stop> {
        let slot = io.slot(id).ok_or(Stop::Error(EINVAL))?;
        let req = self.request(id).ok_or(Stop::Error(EINVAL))?;
        if slot.state == SlotState::R2tQueued {
            let r2t = Pdu::R2t(R2t {
                cccid: slot.cid,
                ttag: ttag_of(id),
                r2to: slot.next,
                r2tl: slot.end - slot.next,
            });
            io.tx.push(&r2t, &io.framing)?;
            return Ok(true);
        }
        let cqe = req.cqe();
        let ok = cqe[14] == 0 && cqe[15] == 0;
        let (cid, data) = match &slot.buf {
            Some(buf) if !slot.write && ok => {
                let ddgst = io.framing.ddgst.then(|| {
                    let mut d = crate::pdu::Digest::<KernelCrc32c>::new();
                    buf.for_each_piece(0, buf.len(), |p| d.update(p));
                    d.finish().to_le_bytes()
                });
                (slot.cid, Some((buf.len(), ddgst)))
            }
            _ => (slot.cid, None),
        };
        let Some((len, ddgst)) = data else {
            io.tx
                .push(&Pdu::CapsuleResp(CapsuleResp { cqe }), &io.framing)?;
            return Ok(true);
        };
        let success = self.sq.sqhd_disabled();
        let hdr = Pdu::C2HData(C2HData {
            cccid: cid,
            datao: 0,
            datal: len,
            last: true,
            success,
        });
        io.tx.push(&hdr, &io.framing)?;
        io.cur = Some(Cursor {
            id,
            resp: !success,
            stage: Stage::Data,
            sent: 0,
            data_len: len,
            ddgst,
        });
        Ok(false)
    }

    /// Sends the staged headers; `false` if the socket took only part of them.
    fn flush(&self, io: &mut IoState) -> Result<bool, Stop> {
        if io.tx.is_empty() {
            return Ok(true);
        }
        let more = io.cur.is_some() || !io.sendq.is_empty();
        let bytes = io.tx.buf.get(io.tx.sent..io.tx.fill).unwrap_or(&[]);
        let Some(k) = self.sock.send(bytes, more)? else {
            return Ok(false);
        };
        io.tx.sent += k;
        if !io.tx.is_empty() {
            return Ok(false);
        }
        io.tx.sent = 0;
        io.tx.fill = 0;
        Ok(true)
    }

    /// Sends what is queued: headers of ready PDUs are staged and leave together, read data
    /// zero-copy after its header. Handles up to `SEND_BUDGET` PDUs; returns how many.
    fn send(&self, io: &mut IoState) -> Result<u32, Stop> {
        let mut pdus = 0;
        loop {
            // Stage the headers of what is queued, up to the first one with data to follow.
            while io.cur.is_none() && pdus < SEND_BUDGET && io.tx.has_room() {
                let Some(id) = io.sendq.pop() else {
                    break;
                };
                if self.stage_send(io, id)? {
                    pdus += 1;
                    self.finish(io, id);
                }
            }
            // Nothing may pass bytes staged before it.
            if !self.flush(io)? {
                return Ok(pdus);
            }
            let Some(c) = io.cur.as_mut() else {
                if pdus >= SEND_BUDGET || io.sendq.is_empty() {
                    return Ok(pdus);
                }
                continue;
            };
            let queued = !io.sendq.is_empty();
            let slot = if c.id == CONNECT {
                &io.connect
            } else {
                io.slots.get(usize::from(c.id)).ok_or(Stop::Error(EINVAL))?
            };
            let sent = match c.stage {
                Stage::Data => {
                    let buf = slot.buf.as_ref().ok_or(Stop::Error(EINVAL))?;
                    let more = c.ddgst.is_some() || c.resp || queued;
                    buf.send(&self.sock, c.sent, c.data_len - c.sent, more)?
                }
                Stage::Digest => {
                    let d = c.ddgst.unwrap_or_default();
                    let more = c.resp || queued;
                    self.sock
                        .send(d.get(c.sent as usize..).unwrap_or(&[]), more)?
                }
            };
            let Some(sent) = sent else {
                // The socket is full: write space wakes us.
                return Ok(pdus);
            };
            c.sent += sent as u32;
            let stage_len = match c.stage {
                Stage::Data => c.data_len,
                Stage::Digest => 4,
            };
            if c.sent < stage_len {
                continue;
            }
            if c.stage == Stage::Data && c.ddgst.is_some() {
                c.stage = Stage::Digest;
                c.sent = 0;
                continue;
            }
            let (id, resp) = (c.id, c.resp);
            io.cur = None;
            pdus += 1;
            if resp {
                // The response follows the data, staged with whatever comes next.
                let req = self.request(id).ok_or(Stop::Error(EINVAL))?;
                let pdu = Pdu::CapsuleResp(CapsuleResp { cqe: req.cqe() });
                io.tx.push(&pdu, &io.framing)?;
            }
            self.finish(io, id);
        }
    }

    /// A slot's PDUs were all sent (or staged for sending).
    fn finish(&self, io: &mut IoState, id: u16) {
        let Some(slot) = io.slot_mut(id) else {
            return;
        };
        if slot.state == SlotState::R2tQueued {
            slot.state = SlotState::AwaitingH2C;
            return;
        }
        if let Some(req) = self.request(id) {
            req.set_data(None);
        }
        slot.buf = None;
        slot.state = SlotState::Free;
        if id != CONNECT {
            let _ = io.free.push_within_capacity(id);
        }
    }

    // ---- release ----

    fn release(this: Arc<Self>) {
        if let Some(hooks) = this.hooks.lock().take() {
            drop(hooks.restore(&this.sock));
        }
        {
            let mut io = this.io.lock();
            io.phase = Phase::Releasing;
            io.cur = None;
            io.tx.fill = 0;
            io.tx.sent = 0;
            let ids = Iterator::chain(core::iter::once(CONNECT), 0..io.slots.len() as u16);
            for id in ids {
                let parsed = io.slot(id).is_some_and(|s| {
                    matches!(
                        s.state,
                        SlotState::Inline | SlotState::R2tQueued | SlotState::AwaitingH2C
                    )
                });
                if parsed {
                    if let Some(req) = this.request(id) {
                        req.uninit();
                    }
                }
            }
        }
        // Waits for every command the core holds.
        this.sq.destroy();
        {
            let mut io = this.io.lock();
            let ids = Iterator::chain(core::iter::once(CONNECT), 0..io.slots.len() as u16);
            for id in ids {
                if let Some(slot) = io.slot_mut(id) {
                    if slot.buf.take().is_some() {
                        if let Some(req) = this.request(id) {
                            req.set_data(None);
                        }
                    }
                    slot.state = SlotState::Free;
                }
            }
        }
        registry::remove(&this);
    }

    // ---- core callbacks ----

    /// `queue_response`: the core completed `req` (any context).
    pub(crate) fn queue_response(this: ArcBorrow<'_, Self>, req: &Request<Queue>) {
        let index = u32::from(req.index());
        let mut head = this.done.load(Relaxed);
        loop {
            req.link.store(head, Relaxed);
            match this.done.cmpxchg(head, index, Release) {
                Ok(_) => break,
                Err(now) => head = now,
            }
        }
        Self::kick(this);
    }

    /// `install_queue`: Connect succeeded; allocate the slots for the queue's size.
    pub(crate) fn install(this: ArcBorrow<'_, Self>, sq: &Sq<Queue>) -> u16 {
        if sq.qid() == 0 {
            let ctrl = sq.ctrl();
            let pending =
                registry::count_where(|q| q.is_closing() && ctrl.is_some() && q.sq.ctrl() == ctrl);
            if pending > BACKLOG as usize {
                return status::CONNECT_CTRL_BUSY;
            }
        }
        let n = usize::from(sq.size()) * 2;
        let owner = NonNull::from(&*this);
        let nport = this.port.nport();
        let reqs = KVBox::pin_slice(
            |i| {
                // SAFETY: `owner` is this queue, inside its `Arc`, which owns the requests; the
                // port outlives its queues.
                unsafe { Request::new(owner, i as u16, nport) }
            },
            n,
            GFP_KERNEL,
        );
        match reqs {
            Ok(reqs) if this.requests.as_ref().is_none() => {
                if this.requests.populate(reqs) {
                    0
                } else {
                    status::INTERNAL
                }
            }
            // A second Connect on the queue, or no memory.
            _ => status::INTERNAL,
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
    pub(crate) fn is_of_ctrl(&self, ctrl: crate::nvmet::CtrlId) -> bool {
        self.sq.ctrl() == Some(ctrl)
    }
}

fn idle_deadline() -> Instant<Monotonic> {
    Instant::<Monotonic>::now() + Delta::from_micros(i64::from(crate::idle_poll_usecs()))
}

/// Names the rule a fatal error broke, for the log line.
fn describe(e: FatalError) -> &'static str {
    match e.fes {
        Fes::InvalidHeaderField => "invalid PDU header field",
        Fes::PduSequenceError => "PDU out of sequence",
        Fes::HeaderDigestError => "header digest error",
        Fes::DataOutOfRange => "data out of range",
        Fes::DataLimitExceeded => "data limit exceeded",
        Fes::UnsupportedParameter => "unsupported parameter",
        _ => "protocol error",
    }
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
