// SPDX-License-Identifier: GPL-2.0

//! One queue of the host: the admin queue (qid 0) or an I/O queue, and its NVMe/TCP connection.
//!
//! The queue object lives as long as the controller's tag sets point to it; each (re)connect
//! gives it a new [`Conn`], and [`Queue::stop`] drops it.
//!
//! PDUs to send wait in the queue's send list, in order. `queue_rq` sends its command capsule
//! itself when it runs on the queue's I/O CPU and nothing is waiting (the C host's direct
//! send); otherwise, and whenever the socket is full, the queue's I/O work sends them. All
//! sends are non-blocking: a PDU the socket could not take whole stays part sent until the
//! socket's `write_space` requeues the I/O work. The socket's `data_ready` queues the same
//! work, which alternates sending and receiving, with budgets: it reads PDUs through the PDU
//! crate's [`Receiver`], places C2H data straight into the requests' pages, queues H2CData
//! for R2Ts and completes commands.
//!
//! A command is in exactly one slot from `queue_rq` to its completion; whoever takes it out of
//! the slot (response, timeout, failure of the queue) completes it, so no request is completed
//! twice. Commands left in their slots when a connection stops go back to blk-mq, and the
//! controller's teardown cancels them (the core then retries them or fails them over).

use crate::crc32c::KernelCrc32c;
use crate::ctrl::Host;
use crate::io_wq::Kicks;
use crate::nvme_host::{
    status, BlkStatus, Ctrl, CtrlRef, CtrlState, Request, RqInfo, SetupError, TimeoutAction,
    AER_CID,
};
use crate::pdu::{
    capsule::{CMD_HLEN, SGL_IN_CAPSULE, SGL_TRANSPORT},
    CapsuleCmd, CommandState, CommandTable, DataDigest, Digest, Event, FatalError, Framing,
    H2CData, Header, HostConfig, IcResp, Limits, Params, Pdu, PlainCapsules, Receiver, Role,
    TermReq, Validator, Want,
};
use crate::socket::{Callbacks, Hooks, Read, SkbBytes, Socket};
use kernel::{
    dev_err, dev_warn, new_mutex, new_work,
    prelude::*,
    str::BStr,
    sync::{
        atomic::{Acquire, Atomic, Relaxed, Release},
        Arc, ArcBorrow, Mutex,
    },
    workqueue::{impl_has_work, Work, WorkItem},
};

/// Receive timeout of the ICResp, in milliseconds (10 s, as the C host).
const ICRESP_TIMEOUT_MS: u32 = 10_000;

/// Admin opcode of Asynchronous Event Request.
const OPC_ASYNC_EVENT: u8 = 0x0c;

/// PSDT bits of the SQE flags byte: SGLs for data and metadata (`NVME_CMD_SGL_METABUF`).
const SGL_METABUF: u8 = 1 << 6;

/// Largest PDU header section the host emits: a CapsuleCmd (72), its digest and padding up to
/// the largest PDO (CPDA 31: 128-byte alignment).
const MAX_HEADER: usize = 256;

/// How many PDUs one round of the I/O work sends. Receiving takes all that has arrived, as
/// the C host's `read_sock` does.
const TX_BUDGET: u32 = 16;

/// How many rounds of sending and receiving the I/O work runs before it requeues itself.
const IO_ROUNDS: u32 = 8;

/// No CPU picked for the I/O work: it runs unbound.
const NO_CPU: i32 = -1;

/// Where a command's data goes.
#[derive(Clone, Copy)]
enum Transfer {
    /// No data.
    None,
    /// A read of `len` bytes, `received` of which have arrived in C2HData PDUs.
    Read { len: u32, received: u32 },
    /// A write of `len` bytes; the controller has asked for data up to `requested`, and
    /// `r2ts` of its R2Ts are not fully answered yet.
    Write { len: u32, requested: u32, r2ts: u32 },
}

/// A command in flight.
struct Command {
    cid: u16,
    rq: Request,
    transfer: Transfer,
    /// Bytes of write data sent in the command capsule.
    incapsule: u32,
    /// Bytes of the capsule's header section, framed in the request ([`Request::capsule`]).
    capsule_len: u8,
    /// A data digest did not match: the command fails whatever its response says.
    data_error: bool,
}

/// A command slot, indexed by the tag in the command identifier.
enum Slot {
    Free,
    Busy(Command),
    /// The asynchronous event request (admin queue, [`AER_CID`]).
    Aer,
}

/// A PDU waiting in the send list.
#[derive(Clone, Copy)]
enum Job {
    /// The command capsule of command `cid`, with its in-capsule data.
    Capsule(u16),
    /// The asynchronous event request.
    Aer,
    /// H2CData answering an R2T of command `cid`: data `datao..end`, in PDUs of at most
    /// MAXH2CDATA bytes.
    H2C {
        cid: u16,
        ttag: u16,
        datao: u32,
        end: u32,
    },
}

/// The send list: a ring of jobs, oldest first. Every command has at most one job waiting
/// (its capsule, or the answer of its one R2T), so the ring never needs more room than the
/// queue has slots.
struct SendList {
    jobs: KVec<Job>,
    head: usize,
    len: usize,
}

impl SendList {
    fn with_capacity(n: usize) -> Result<Self> {
        let mut jobs = KVec::with_capacity(n, GFP_KERNEL)?;
        for _ in 0..n {
            jobs.push(Job::Aer, GFP_KERNEL)?;
        }
        Ok(Self {
            jobs,
            head: 0,
            len: 0,
        })
    }

    fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends `job`; fails with `ENOSPC` when full (which a controller that keeps to the
    /// negotiated limits cannot cause).
    fn push(&mut self, job: Job) -> Result {
        let cap = self.jobs.len();
        if self.len == cap {
            return Err(ENOSPC);
        }
        let at = (self.head + self.len) % cap;
        *self.jobs.get_mut(at).ok_or(ENOSPC)? = job;
        self.len += 1;
        Ok(())
    }

    fn pop(&mut self) -> Option<Job> {
        if self.len == 0 {
            return None;
        }
        let job = *self.jobs.get(self.head)?;
        self.head = (self.head + 1) % self.jobs.len();
        self.len -= 1;
        Some(job)
    }

    fn clear(&mut self) {
        self.head = 0;
        self.len = 0;
    }
}

/// The PDU being sent, framed in place. A full socket leaves it part sent until there is
/// room; nothing else goes out on the connection meanwhile.
struct Sending {
    /// A PDU is being sent (the other fields describe it).
    active: bool,
    /// The header section, and how much of it went out; when `in_capsule`, the header is
    /// the capsule framed in the request of command `cid` instead.
    hdr: [u8; MAX_HEADER],
    hdr_len: usize,
    hdr_sent: usize,
    in_capsule: bool,
    /// The command whose data follows the header, and the data still to send: `at..end`.
    cid: u16,
    at: u32,
    end: u32,
    /// The data digest (`ddgst_len` is 0 without one), and how much of it went out.
    ddgst: [u8; 4],
    ddgst_len: usize,
    ddgst_sent: usize,
    /// The rest of an R2T's answer, sent right after this PDU.
    next: Option<Job>,
    /// This PDU ends the answer of an R2T of command `cid`.
    ends_r2t: bool,
}

impl Sending {
    const IDLE: Self = Self {
        active: false,
        hdr: [0; MAX_HEADER],
        hdr_len: 0,
        hdr_sent: 0,
        in_capsule: false,
        cid: 0,
        at: 0,
        end: 0,
        ddgst: [0; 4],
        ddgst_len: 0,
        ddgst_sent: 0,
        next: None,
        ends_r2t: false,
    };

    /// Frames `pdu`, to be followed by the data `at..end` of `cmd` (none when `at == end`).
    fn start(&mut self, conn: &Conn, pdu: Pdu, data: Option<(&Command, u32, u32)>) -> Result {
        self.hdr_len = pdu
            .emit_header::<KernelCrc32c>(&conn.framing, &mut self.hdr)
            .map_err(|_| EINVAL)?;
        self.in_capsule = false;
        self.begin(conn, data)
    }

    /// Starts the capsule of `cmd`, framed in its request by `queue_rq`, with its in-capsule
    /// data.
    fn start_capsule(&mut self, conn: &Conn, cmd: &Command) -> Result {
        self.hdr_len = usize::from(cmd.capsule_len);
        self.in_capsule = true;
        self.begin(conn, Some((cmd, 0, cmd.incapsule)))
    }

    /// Starts the PDU whose header is in place, to be followed by the data `at..end` of `cmd`.
    fn begin(&mut self, conn: &Conn, data: Option<(&Command, u32, u32)>) -> Result {
        self.hdr_sent = 0;
        (self.cid, self.at, self.end) = data.map_or((0, 0, 0), |(c, at, end)| (c.cid, at, end));
        self.ddgst_len = 0;
        self.ddgst_sent = 0;
        if let (Some((cmd, at, end)), true) = (data, conn.framing.ddgst && self.at < self.end) {
            let mut d = Digest::<KernelCrc32c>::new();
            cmd.rq.for_each_piece(at, end - at, |p| d.update(p));
            self.ddgst = d.finish().to_le_bytes();
            self.ddgst_len = self.ddgst.len();
        }
        self.next = None;
        self.ends_r2t = false;
        self.active = true;
        Ok(())
    }

    /// Whether a PDU went out in part: nothing else may be sent before its rest.
    fn begun(&self) -> bool {
        self.active && self.hdr_sent > 0
    }
}

/// The queue's state under its lock: the command slots, the send side and the connection.
struct State {
    slots: KVec<Slot>,
    /// PDUs waiting to be sent, and the one being sent.
    send_list: SendList,
    sending: Sending,
    /// `None` while the queue is stopped; no command enters a slot then.
    conn: Option<Arc<Conn>>,
}

/// The slot of command identifier `cid` (its tag is the low 12 bits).
fn tag(cid: u16) -> usize {
    usize::from(cid & 0xfff)
}

/// The command in flight as `cid`, if any, to update.
fn busy_mut(slots: &mut [Slot], cid: u16) -> Option<&mut Command> {
    match slots.get_mut(tag(cid))? {
        Slot::Busy(c) if c.cid == cid => Some(c),
        _ => None,
    }
}

/// The command in flight as `cid`, if any.
fn busy(slots: &[Slot], cid: u16) -> Option<&Command> {
    match slots.get(tag(cid))? {
        Slot::Busy(c) if c.cid == cid => Some(c),
        _ => None,
    }
}

impl State {
    fn command(&self, cid: u16) -> Option<&Command> {
        busy(&self.slots, cid)
    }

    fn command_mut(&mut self, cid: u16) -> Option<&mut Command> {
        busy_mut(&mut self.slots, cid)
    }

    /// Takes command `cid` out of its slot: the caller completes it.
    fn take(&mut self, cid: u16) -> Option<Command> {
        let slot = self.slots.get_mut(tag(cid))?;
        match slot {
            Slot::Busy(c) if c.cid == cid => match core::mem::replace(slot, Slot::Free) {
                Slot::Busy(c) => Some(c),
                _ => None,
            },
            _ => None,
        }
    }

    /// Takes any command out of its slot.
    fn take_any(&mut self) -> Option<Command> {
        let slot = self.slots.iter_mut().find(|s| matches!(s, Slot::Busy(_)))?;
        match core::mem::replace(slot, Slot::Free) {
            Slot::Busy(c) => Some(c),
            _ => None,
        }
    }
}

impl State {
    /// Whether nothing waits to be sent.
    fn send_idle(&self) -> bool {
        !self.sending.active && self.send_list.is_empty()
    }

    /// Forgets what waits to be sent (the connection is gone).
    fn drop_sends(&mut self) {
        self.send_list.clear();
        self.sending.active = false;
    }

    /// Sends waiting PDUs until none is left, the socket is full, or `budget` PDUs went out.
    ///
    /// # Errors
    ///
    /// The socket failed, or the command of a PDU part sent is gone (the controller answered
    /// it before it had all its data): the connection cannot go on.
    #[inline]
    fn send(&mut self, budget: u32) -> Result<Sent> {
        // Checked here, inlined: the I/O work asks on every round, mostly with nothing to send.
        if self.send_idle() {
            return Ok(Sent::Idle);
        }
        self.send_waiting(budget, None)
    }

    /// Sends the capsule of command `cid` at once, nothing waiting before it (`queue_rq` on the
    /// queue's CPU, as the C host sends directly), the PDU being sent keeping whatever does not
    /// fit: one socket call for a capsule without data, else as [`State::send_waiting`] sends
    /// a first job, without its loop. Returns as `send_waiting` would.
    fn send_capsule_now(&mut self, cid: u16) -> Result<Sent> {
        let Self {
            slots,
            sending,
            conn,
            ..
        } = self;
        let (Some(conn), Some(cmd)) = (conn.as_deref(), busy(slots, cid)) else {
            return Ok(Sent::Idle);
        };
        if cmd.incapsule > 0 {
            // Nothing follows it: no `MSG_MORE` after its data.
            sending.start_capsule(conn, cmd)?;
            if !Self::push(sending, slots, &conn.sock, false)? {
                return Ok(Sent::Full);
            }
            sending.active = false;
            return Ok(Sent::Idle);
        }
        let len = usize::from(cmd.capsule_len);
        // Nothing follows: `MSG_EOR`, as `push` would send it.
        match cmd.rq.send_capsule(&conn.sock, 0, len, false)? {
            Some(n) if n == len => Ok(Sent::Idle),
            Some(0) => Err(EPIPE),
            sent => {
                // The rest goes out when the socket has room, before anything else.
                sending.start_capsule(conn, cmd)?;
                sending.hdr_sent = sent.unwrap_or(0);
                Ok(Sent::Full)
            }
        }
    }

    /// [`State::send`] with something waiting: `first`, to send before the send list (which
    /// must then be empty, as nothing may overtake it).
    #[inline(never)]
    fn send_waiting(&mut self, budget: u32, mut first: Option<Job>) -> Result<Sent> {
        let Self {
            slots,
            send_list,
            sending,
            conn,
        } = self;
        let Some(conn) = conn.as_deref() else {
            return Ok(Sent::Idle);
        };
        let mut sent = 0;
        loop {
            if sent == budget {
                return Ok(Sent::Budget);
            }
            if !sending.active {
                let Some(job) = first.take().or_else(|| send_list.pop()) else {
                    return Ok(Sent::Idle);
                };
                if !Self::prepare(sending, slots, conn, job)? {
                    // Its command is gone: nothing to send.
                    continue;
                }
            }
            let more = sending.next.is_some() || !send_list.is_empty();
            if !Self::push(sending, slots, &conn.sock, more)? {
                return Ok(Sent::Full);
            }
            let (next, ends_r2t, cid) = (sending.next, sending.ends_r2t, sending.cid);
            sending.active = false;
            if ends_r2t {
                if let Some(Command {
                    transfer: Transfer::Write { r2ts, .. },
                    ..
                }) = busy_mut(slots, cid)
                {
                    *r2ts = r2ts.saturating_sub(1);
                }
            }
            if let Some(job) = next {
                Self::prepare(sending, slots, conn, job)?;
            }
            sent += 1;
        }
    }

    /// Frames the PDU of `job` in `pdu`; returns `false` if its command is gone (completed or
    /// failed since).
    fn prepare(pdu: &mut Sending, slots: &[Slot], conn: &Conn, job: Job) -> Result<bool> {
        match job {
            Job::Capsule(cid) => {
                let Some(cmd) = busy(slots, cid) else {
                    return Ok(false);
                };
                pdu.start_capsule(conn, cmd)?;
            }
            Job::Aer => {
                if !matches!(slots.get(tag(AER_CID)), Some(Slot::Aer)) {
                    return Ok(false);
                }
                let mut sqe = [0u8; 64];
                sqe[0] = OPC_ASYNC_EVENT;
                [sqe[2], sqe[3]] = AER_CID.to_le_bytes();
                set_sgl(&mut sqe, 0, false);
                let capsule = Pdu::CapsuleCmd(CapsuleCmd { sqe, data_len: 0 });
                pdu.start(conn, capsule, None)?;
            }
            Job::H2C {
                cid,
                ttag,
                datao,
                end,
            } => {
                let Some(cmd) = busy(slots, cid) else {
                    return Ok(false);
                };
                let datal = (end - datao).min(conn.maxh2cdata.max(4096));
                let last = datao + datal == end;
                let data = Pdu::H2CData(H2CData {
                    cccid: cid,
                    ttag,
                    datao,
                    datal,
                    last,
                });
                pdu.start(conn, data, Some((cmd, datao, datao + datal)))?;
                pdu.next = (!last).then_some(Job::H2C {
                    cid,
                    ttag,
                    datao: datao + datal,
                    end,
                });
                pdu.ends_r2t = last;
            }
        }
        Ok(true)
    }

    /// Sends what is left of `pdu`; returns whether it went out whole (else the socket is
    /// full). `more`: another PDU follows at once.
    fn push(pdu: &mut Sending, slots: &[Slot], sock: &Socket, more: bool) -> Result<bool> {
        let data = pdu.at < pdu.end || pdu.ddgst_len > 0;
        while pdu.hdr_sent < pdu.hdr_len {
            let sent = if pdu.in_capsule {
                let rq = &busy(slots, pdu.cid).ok_or(ECANCELED)?.rq;
                rq.send_capsule(sock, pdu.hdr_sent, pdu.hdr_len, more || data)?
            } else {
                let rest = pdu.hdr.get(pdu.hdr_sent..pdu.hdr_len).ok_or(EINVAL)?;
                sock.send(rest, more || data)?
            };
            match sent {
                None => return Ok(false),
                Some(0) => return Err(EPIPE),
                Some(n) => pdu.hdr_sent += n,
            }
        }
        while pdu.at < pdu.end {
            let cmd = busy(slots, pdu.cid).ok_or(ECANCELED)?;
            let n = match cmd
                .rq
                .send_some(sock, pdu.at, pdu.end, more || pdu.ddgst_len > 0)?
            {
                None => return Ok(false),
                Some(0) => return Err(EPIPE),
                Some(n) => u32::try_from(n).map_err(|_| EINVAL)?,
            };
            pdu.at = pdu.at.saturating_add(n);
        }
        while pdu.ddgst_sent < pdu.ddgst_len {
            let rest = pdu.ddgst.get(pdu.ddgst_sent..).ok_or(EINVAL)?;
            match sock.send(rest, more)? {
                None => return Ok(false),
                Some(0) => return Err(EPIPE),
                Some(n) => pdu.ddgst_sent += n,
            }
        }
        Ok(true)
    }
}

impl CommandTable for State {
    // Inlined into the receiver's header prediction, which asks it for nearly every PDU.
    #[inline(always)]
    fn command(&self, cccid: u16) -> Option<CommandState> {
        if let Some(Slot::Aer) = self.slots.get(tag(cccid)) {
            return (cccid == AER_CID).then_some(CommandState::NoData);
        }
        let c = State::command(self, cccid)?;
        Some(match c.transfer {
            Transfer::None => CommandState::NoData,
            Transfer::Read { len, received } => CommandState::Read { len, received },
            Transfer::Write {
                len,
                requested,
                r2ts,
            } => CommandState::Write {
                len,
                requested,
                r2ts,
            },
        })
    }
}

/// What the data of the PDU being received belongs to.
#[derive(Clone, Copy)]
enum RxData {
    /// Nothing is being received.
    Idle,
    /// A C2HData PDU of command `cid`: placed in its pages.
    C2H { cid: u16, datal: u32, success: bool },
}

/// The receive side, used only by the I/O work.
struct Rx {
    receiver: Receiver<KernelCrc32c>,
    data: RxData,
    /// Commands answered by one read, completed once the state lock is dropped. Room for one
    /// per slot: a slot is answered at most once per read, as only `queue_rq` fills it again
    /// and it needs the state lock the read holds.
    done: KVec<Done>,
    /// The connection received from; `None` once it failed or the queue stopped: the work does
    /// nothing more until the next connect.
    conn: Option<Arc<Conn>>,
}

/// A command answered, to complete outside the state lock.
enum Done {
    /// Command `rq` with the CQE's status field (phase bit included) and result.
    Command {
        rq: Request,
        status: u16,
        result: u64,
    },
    /// The asynchronous event request.
    Aer { status: u16, result: u64 },
}

/// One TCP connection of a queue, from its ICReq/ICResp until the queue stops.
pub(crate) struct Conn {
    sock: Socket,
    /// How the host frames what it sends.
    framing: Framing,
    /// The target's MAXH2CDATA.
    maxh2cdata: u32,
    /// The most write data a command carries in its capsule.
    max_incapsule: u32,
    /// How the framing frames capsules, if as their header and in-capsule data alone.
    plain_capsules: Option<PlainCapsules>,
}

/// The connection with the socket callbacks installed for it.
struct Link {
    conn: Arc<Conn>,
    hooks: Hooks<Queue>,
}

/// How a pass of the sender ended.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Sent {
    /// Nothing waits any more.
    Idle,
    /// The socket is full: its `write_space` queues the work again.
    Full,
    /// The budget ran out with PDUs still waiting.
    Budget,
}

/// Why receiving stops.
enum RxError {
    /// A protocol error of the controller (reported with a TermReq when allowed).
    Fatal(FatalError),
    /// The controller sent a C2HTermReq.
    TermReq(FatalError),
    /// The connection closed or failed.
    Closed(Error),
}

impl From<Error> for RxError {
    fn from(e: Error) -> Self {
        Self::Closed(e)
    }
}

/// A queue of the host.
#[pin_data]
pub(crate) struct Queue {
    qid: u16,
    /// The CPU the I/O work runs on while connected, or [`NO_CPU`] (unbound: the admin
    /// queue, `wq_unbound`, or before Connect).
    io_cpu: Atomic<i32>,
    ctrl: CtrlRef<Host>,
    /// Connect succeeded on the current connection and the queue has not stopped.
    live: Atomic<bool>,
    /// Commands the I/O work completed (wraps), and that count at the last poll.
    completed: Atomic<u32>,
    polled: Atomic<u32>,
    /// Kicks of the I/O work; one while it runs only leaves it a note.
    kicks: Kicks,
    #[pin]
    state: Mutex<State>,
    #[pin]
    rx: Mutex<Rx>,
    /// The current connection, for stopping it without waiting for the senders or the receiver
    /// (which may wait on the socket).
    #[pin]
    link: Mutex<Option<Link>>,
    #[pin]
    io_work: Work<Queue, 0>,
}

impl_has_work! {
    impl HasWork<Self, 0> for Queue { self.io_work }
}

impl Queue {
    /// Returns a stopped queue `qid` of `ctrl` with `depth` command slots.
    pub(crate) fn new(ctrl: &Ctrl<Host>, qid: u16, depth: usize) -> Result<Arc<Self>> {
        let mut slots = KVec::with_capacity(depth, GFP_KERNEL)?;
        for _ in 0..depth {
            slots.push(Slot::Free, GFP_KERNEL)?;
        }
        let send_list = SendList::with_capacity(depth)?;
        Arc::pin_init(
            try_pin_init!(Self {
                qid,
                io_cpu: Atomic::new(NO_CPU),
                ctrl: ctrl.get_ref(),
                live: Atomic::new(false),
                completed: Atomic::new(0),
                polled: Atomic::new(0),
                kicks: Kicks::new(),
                state <- new_mutex!(State {
                    slots,
                    send_list,
                    sending: Sending::IDLE,
                    conn: None,
                }),
                rx <- new_mutex!(Rx {
                    receiver: Receiver::new(Role::Host, Limits::default()),
                    data: RxData::Idle,
                    done: KVec::with_capacity(depth, GFP_KERNEL)?,
                    conn: None,
                }),
                link <- new_mutex!(None),
                io_work <- new_work!("Queue::io_work"),
            }),
            GFP_KERNEL,
        )
    }

    /// Connects the stopped queue to the controller's target, exchanges ICReq/ICResp and starts
    /// receiving. `max_incapsule` is the in-capsule data limit.
    pub(crate) fn start(
        self: &Arc<Self>,
        ctrl: &Ctrl<Host>,
        max_incapsule: u32,
    ) -> Result<(), SetupError> {
        let qid = self.qid;
        let target = ctrl.data().target();
        let digests = target.digests;
        let ifindex = match target.iface {
            Some(name) => Some(crate::nvme_host::ifindex(name).inspect_err(|e| {
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
        let sock = Socket::connect(
            target.addr,
            target.src,
            target.tos,
            crate::nvme_host::so_priority(),
            ifindex,
            kernel::time::msecs_to_jiffies(ICRESP_TIMEOUT_MS) as isize,
        )
        .inspect_err(|e| {
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
        let params: Params = Self::negotiate(&sock, &config).inspect_err(|_| {
            dev_err!(ctrl.device(), "queue {}: ICReq/ICResp failed\n", qid);
        })?;
        let conn = Arc::new(
            Conn {
                sock,
                framing: params.framing(Role::Host),
                maxh2cdata: params.maxh2cdata,
                max_incapsule,
                plain_capsules: PlainCapsules::new(&params.framing(Role::Host)),
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
            state.drop_sends();
            state.conn = Some(conn.clone());
        }
        *self.link.lock() = Some(Link { conn, hooks });
        // Bytes may have arrived before the callbacks were in place.
        Self::kick(self.as_arc_borrow());
        Ok(())
    }

    /// Sends the ICReq and checks the ICResp (blocking, before the callbacks are installed).
    fn negotiate(sock: &Socket, config: &HostConfig) -> Result<Params> {
        sock.send_all(&config.icreq().to_bytes(), false)?;
        let mut buf = [0u8; crate::pdu::ic::IC_LEN];
        sock.recv_exact(&mut buf)?;
        let validator = Validator::new(Role::Host, Limits::default());
        let header = validator
            .validate::<KernelCrc32c, _>(&buf, &crate::pdu::NoCommands)
            .map_err(|_| EPROTO)?;
        let icresp: IcResp = match header.pdu {
            Pdu::IcResp(r) => r,
            _ => return Err(EPROTO),
        };
        config.accept_icresp(&icresp).map_err(|e| {
            pr_err!("ICResp refused: {:?} (FEI {})\n", e.fes, e.fei);
            EPROTO
        })
    }

    /// Marks the queue connected (after Connect succeeded).
    pub(crate) fn set_live(&self) {
        self.live.store(true, Release);
    }

    /// Runs the I/O work on `cpu` from now on (`None`: unbound), until the queue stops.
    pub(crate) fn set_io_cpu(&self, cpu: Option<u32>) {
        let cpu = cpu.and_then(|c| i32::try_from(c).ok()).unwrap_or(NO_CPU);
        let old = self.io_cpu.xchg(cpu, Relaxed);
        if let Ok(old) = u32::try_from(old) {
            crate::nvme_host::put_io_cpu(old);
        }
    }

    /// Stops the queue: closes its connection and stops receiving. Commands still in their
    /// slots go back to blk-mq uncompleted: the caller cancels the tag set (or fails them).
    pub(crate) fn stop(&self) {
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
        state.drop_sends();
        for slot in state.slots.iter_mut() {
            // Dropping the command gives the request back to blk-mq.
            *slot = Slot::Free;
        }
    }

    /// Stops the queue and completes every command in flight with a path error (the core
    /// retries them or fails them over).
    fn stop_and_fail(&self) {
        self.live.store(false, Release);
        self.set_io_cpu(None);
        let link = self.link.lock().take();
        if let Some(link) = link {
            link.conn.sock.shutdown();
            drop(link.hooks.restore(&link.conn.sock));
        }
        self.rx.lock().conn = None;
        let take = || {
            let mut state = self.state.lock();
            state.conn = None;
            state.drop_sends();
            if let Some(slot) = state.slots.iter_mut().find(|s| matches!(s, Slot::Aer)) {
                *slot = Slot::Free;
            }
            state.take_any()
        };
        while let Some(cmd) = take() {
            cmd.rq.complete(status::HOST_PATH_ERROR << 1, 0);
        }
    }

    /// The connection failed: a live controller goes into error recovery, which tears every
    /// queue down; otherwise (connecting, resetting or deleting) nothing would answer this
    /// queue's commands, so they fail now.
    fn failed(&self) {
        if !crate::ctrl::error_recovery(&self.ctrl) {
            self.stop_and_fail();
        }
    }

    /// Has the I/O work look at the queue: notes the kick for a run queued or in progress, else
    /// queues one (see [`Kicks`]).
    fn kick(this: ArcBorrow<'_, Self>) {
        if this.kicks.kick() {
            Self::queue_io_work(this);
        }
    }

    /// Queues the I/O work on the queue's CPU.
    fn queue_io_work(this: ArcBorrow<'_, Self>) {
        let cpu = u32::try_from(this.io_cpu.load(Relaxed)).ok();
        // Already queued: that run will see what this one was for.
        let _ = crate::IO_WQ.enqueue_on::<_, 0>(cpu, Arc::from(this));
    }

    // ---- sending ----

    /// Sends the command of `rq` (blk-mq `queue_rq`).
    pub(crate) fn queue_rq(
        this: ArcBorrow<'_, Self>,
        ctrl: &Ctrl<Host>,
        mut rq: Request,
    ) -> Result<(), BlkStatus> {
        if !rq.check_ready(ctrl, this.live.load(Acquire)) {
            return Err(rq.fail_nonready(ctrl));
        }
        let RqInfo { len, cid, write } = rq.setup_cmd()?;
        let mut state = this.state.lock();
        let State { slots, conn, .. } = &mut *state;
        let Some(conn) = conn.as_ref() else {
            // Stopped since the check: as if the queue were not ready.
            drop(state);
            return Err(rq.fail_nonready(ctrl));
        };
        let incapsule = if write && len > 0 && len <= conn.max_incapsule {
            len
        } else {
            0
        };
        let transfer = match (len, write) {
            (0, _) => Transfer::None,
            (len, true) => Transfer::Write {
                len,
                requested: incapsule,
                r2ts: 0,
            },
            (len, false) => Transfer::Read { len, received: 0 },
        };
        let Some(slot) = slots.get_mut(tag(cid)) else {
            pr_err!("queue {}: command id {cid:#x} beyond the queue\n", this.qid);
            return Err(BlkStatus::IOERR);
        };
        if !matches!(slot, Slot::Free) {
            pr_err!(
                "queue {}: command id {cid:#x} already in flight\n",
                this.qid
            );
            return Err(BlkStatus::IOERR);
        }
        // The capsule is framed where the core built the command, as in C.
        set_sgl(rq.sqe_mut(), len, incapsule > 0);
        let plain = conn
            .plain_capsules
            .as_ref()
            .and_then(|p| p.common(incapsule));
        let framed = match plain {
            // The header alone: only its common part to write.
            Some(common) => rq
                .capsule_mut()
                .first_chunk_mut()
                .map(|h| *h = common)
                .map_or(Err(()), |()| Ok(CMD_HLEN)),
            None => {
                Pdu::frame_capsule_cmd::<KernelCrc32c>(&conn.framing, incapsule, rq.capsule_mut())
                    .map_err(|_| ())
            }
        };
        // At most `CAPSULE_LEN` bytes: it fits.
        let Some(capsule_len) = framed.ok().and_then(|n| u8::try_from(n).ok()) else {
            return Err(BlkStatus::IOERR);
        };
        rq.start();
        *slot = Slot::Busy(Command {
            cid,
            rq,
            transfer,
            incapsule,
            capsule_len,
            data_error: false,
        });
        // Sent here when on the queue's CPU with nothing ahead of it, as the C host does;
        // otherwise by the I/O work.
        let direct = state.send_idle()
            && this.io_cpu.load(Relaxed) == i32::from(kernel::cpu::CpuId::current());
        let sent = if direct {
            state.send_capsule_now(cid)
        } else {
            state
                .send_list
                .push(Job::Capsule(cid))
                .map(|()| Sent::Budget)
        };
        let idle = state.send_idle();
        drop(state);
        match sent {
            // The command stays in its slot: error recovery cancels it for a retry, or the
            // queue fails it now.
            Err(_) => this.failed(),
            Ok(_) if !idle => Self::kick(this),
            Ok(_) => {}
        }
        Ok(())
    }

    /// Sends an Asynchronous Event Request on the admin queue, unless one is outstanding.
    pub(crate) fn submit_aer(this: ArcBorrow<'_, Self>) {
        let mut state = this.state.lock();
        if !this.live.load(Acquire) || state.conn.is_none() {
            return;
        }
        match state.slots.get_mut(tag(AER_CID)) {
            Some(slot @ Slot::Free) => *slot = Slot::Aer,
            _ => return,
        }
        let queued = state.send_list.push(Job::Aer);
        drop(state);
        match queued {
            Ok(()) => Self::kick(this),
            Err(_) => this.failed(),
        }
    }

    /// Command `cid` timed out. A live controller goes into error recovery, which completes
    /// the command (its timer restarts meanwhile); otherwise (resetting, connecting, deleting)
    /// the queue stops and the command completes at once, so that it cannot hold up setup or
    /// teardown (`nvme_tcp_timeout`).
    pub(crate) fn timeout(&self, ctrl: &Ctrl<Host>, cid: u16) -> TimeoutAction {
        {
            let state = self.state.lock();
            let (opcode, name) = match state.command(cid) {
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
            crate::ctrl::error_recovery(ctrl);
            return TimeoutAction::ResetTimer;
        }
        let cmd = self.state.lock().take(cid);
        if let Some(cmd) = cmd {
            cmd.rq.complete(status::HOST_ABORTED_CMD << 1, 0);
        }
        self.stop_and_fail();
        TimeoutAction::Done
    }

    // ---- receiving ----

    /// The I/O work: sends what waits and handles what arrived, in rounds, until the socket
    /// has nothing more and nothing waits to be sent (or only room for it); requeues itself
    /// after [`IO_ROUNDS`] rounds.
    fn io_work(this: Arc<Self>) {
        let again = this.serve();
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
            match self.tx() {
                Ok(Sent::Budget) => continue,
                // Idle, or full (its `write_space` queues the work again).
                Ok(Sent::Idle | Sent::Full) | Err(()) => return false,
            }
        }
        true
    }

    /// Sends what waits, up to [`TX_BUDGET`] PDUs. A failure fails the queue.
    fn tx(&self) -> Result<Sent, ()> {
        let sent = self.state.lock().send(TX_BUDGET);
        sent.map_err(|e| {
            if self.live.load(Acquire) {
                dev_err!(
                    self.ctrl.device(),
                    "queue {}: failed to send ({:?})\n",
                    self.qid,
                    e
                );
            }
            self.failed();
        })
    }

    /// Handles what arrived; returns whether PDUs wait to be sent. A failure is reported and
    /// fails the queue.
    fn rx(&self) -> Result<bool, ()> {
        let mut guard = self.rx.lock();
        let rx = &mut *guard;
        let Some(conn) = rx.conn.as_deref() else {
            // Stopped, or failed: nothing is sent either.
            return Ok(false);
        };
        match self.receive(conn, &mut rx.receiver, &mut rx.data, &mut rx.done) {
            Ok(to_send) => Ok(to_send),
            Err(e) => {
                self.report(conn, &rx.receiver, e);
                rx.conn = None;
                drop(guard);
                self.failed();
                Err(())
            }
        }
    }

    /// Polls for completions (blk-mq `poll`, for io_uring's polled I/O); returns how many
    /// commands completed since the last poll.
    ///
    /// blk-mq polls inside an RCU read-side critical section (`iocb_bio_iopoll`), where
    /// nothing may sleep, and receiving takes the socket lock, which sleeps: the I/O work
    /// (queued by the socket's `data_ready`) completes polled commands as any other, and a
    /// poll reports them.
    pub(crate) fn poll(&self) -> i32 {
        if !self.live.load(Acquire) {
            return 0;
        }
        let now = self.completed.load(Relaxed);
        let before = self.polled.xchg(now, Relaxed);
        i32::try_from(now.wrapping_sub(before)).unwrap_or(i32::MAX)
    }

    /// Logs why receiving stopped, and sends a TermReq for a protocol error.
    fn report(&self, conn: &Conn, receiver: &Receiver<KernelCrc32c>, e: RxError) {
        let dev = self.ctrl.device();
        match e {
            RxError::Fatal(f) => {
                dev_err!(
                    dev,
                    "queue {}: protocol error from the controller: {:?} (FEI {}); closing\n",
                    self.qid,
                    f.fes,
                    f.fei
                );
                if receiver.may_send_term_req() {
                    let offending = receiver.offending_header();
                    let mut buf = [0u8; 24 + 128];
                    let term = TermReq::new(f, offending.len());
                    // Best effort, between two PDUs of ours, and without waiting: the
                    // connection closes next.
                    let state = self.state.lock();
                    let between = !state.sending.begun();
                    if let (Ok(len), true) =
                        (term.emit_pdu(Role::Host, offending, &mut buf), between)
                    {
                        let _ = conn.sock.send(buf.get(..len).unwrap_or(&[]), false);
                    }
                }
            }
            RxError::TermReq(f) => dev_err!(
                dev,
                "queue {}: controller terminated the connection: {:?} (FEI {})\n",
                self.qid,
                f.fes,
                f.fei
            ),
            RxError::Closed(e) => {
                if self.live.load(Acquire) {
                    dev_err!(dev, "queue {}: connection closed ({:?})\n", self.qid, e);
                }
            }
        }
    }

    /// Handles everything that has arrived, in place in the socket's receive queue and in one
    /// hold of the state lock; the commands answered are completed after it is dropped, error
    /// or not. Returns whether PDUs wait to be sent, as the state was when the lock was dropped.
    fn receive(
        &self,
        conn: &Conn,
        receiver: &mut Receiver<KernelCrc32c>,
        data: &mut RxData,
        done: &mut KVec<Done>,
    ) -> Result<bool, RxError> {
        let mut error = None;
        let (read, to_send) = {
            let mut state = self.state.lock();
            let read = conn.sock.read(|piece| {
                let bytes = piece.bytes();
                let mut take = || {
                    // Data continuing from an earlier socket buffer is copied into place from
                    // the start of this piece on, as far as this socket buffer holds it.
                    let placed = match receiver.placeable() {
                        Some((offset, left)) => {
                            let src = piece.onward(left);
                            self.place(&mut state, receiver, data, done, offset, src)?
                        }
                        None => 0,
                    };
                    let Some(rest) = bytes.get(placed..).filter(|r| !r.is_empty()) else {
                        return Ok(placed);
                    };
                    // Headers: fed to the receiver. The data that follows them in the same
                    // socket buffer is copied into place in one go.
                    self.rx_bytes(&mut state, receiver, data, done, rest)?;
                    let after = match receiver.placeable() {
                        Some((offset, left)) => {
                            let src = piece.after(left);
                            self.place(&mut state, receiver, data, done, offset, src)?
                        }
                        None => 0,
                    };
                    Ok(bytes.len() + after)
                };
                match take() {
                    Ok(taken) => taken,
                    Err(e) => {
                        // Stops the read: the connection ends.
                        error = Some(e);
                        0
                    }
                }
            });
            (read, !state.send_idle())
        };
        for d in done.drain_all() {
            self.complete(d);
        }
        if let Some(e) = error {
            return Err(e);
        }
        match read? {
            Read::Nothing | Read::Bytes(_) => Ok(to_send),
            Read::Closed => Err(RxError::Closed(ECONNRESET)),
        }
    }

    /// Feeds `bytes` to the receiver and handles each event, under the state lock.
    fn rx_bytes(
        &self,
        state: &mut State,
        receiver: &mut Receiver<KernelCrc32c>,
        data: &mut RxData,
        done: &mut KVec<Done>,
        bytes: &[u8],
    ) -> Result<(), RxError> {
        let mut input = bytes;
        while !input.is_empty() {
            let (event, rest) = receiver.feed(input, &*state);
            input = rest;
            self.handle(state, data, event, receiver.header(), done)?;
        }
        // The end of data is an event of its own: handled now, as nothing may follow soon.
        if let Want::Data { len: 0, .. } = receiver.want() {
            let (event, _) = receiver.feed(&[], &*state);
            self.handle(state, data, event, receiver.header(), done)?;
        }
        Ok(())
    }

    /// Copies the C2H data `src` (bytes of a socket buffer) straight into the request's pages
    /// from `offset` on, where the receiver allows it ([`Receiver::placeable`]: no data digest to
    /// compute, which the caller asked); returns the bytes placed (none: the data is fed as it
    /// comes).
    ///
    /// Inlined into the reader, where it runs once or twice per read command.
    #[inline(always)]
    fn place(
        &self,
        state: &mut State,
        receiver: &mut Receiver<KernelCrc32c>,
        data: &mut RxData,
        done: &mut KVec<Done>,
        offset: u32,
        src: SkbBytes<'_>,
    ) -> Result<usize, RxError> {
        let RxData::C2H { cid, .. } = *data else {
            return Ok(0);
        };
        let len = src.len();
        let copied = len > 0
            && state
                .command_mut(cid)
                .is_some_and(|cmd| cmd.rq.copy_from_skb(offset, &src));
        if !copied {
            return Ok(0);
        }
        // Cannot fail: `len` is within what `placeable` allowed.
        let event = receiver.placed(len).ok_or(RxError::Closed(EIO))?;
        self.handle(state, data, event, receiver.header(), done)?;
        Ok(len as usize)
    }

    /// Handles one event of the receiver; `h` is the receiver's last header.
    ///
    /// Inlined: it runs for every event, a few per command.
    #[inline(always)]
    fn handle(
        &self,
        state: &mut State,
        rx: &mut RxData,
        event: Event<'_>,
        h: &Header,
        done: &mut KVec<Done>,
    ) -> Result<(), RxError> {
        let sequence = || RxError::Fatal(FatalError::status(crate::pdu::Fes::PduSequenceError));
        match event {
            Event::NeedMore => Ok(()),
            Event::Data { offset, data } => {
                // Data read along with a header: copied into place.
                let RxData::C2H { cid, .. } = *rx else {
                    return Err(sequence());
                };
                let cmd = state.command_mut(cid).ok_or_else(sequence)?;
                cmd.rq.copy_in(offset, data);
                Ok(())
            }
            Event::Fatal(f) => Err(RxError::Fatal(f)),
            Event::AwaitParams => Err(sequence()),
            Event::DataEnd(digest) => {
                self.c2h_end(state, rx, digest, done);
                Ok(())
            }
            Event::Header => match h.pdu {
                Pdu::CapsuleResp(r) => {
                    let cqe = r.cqe;
                    let result = u64::from_le_bytes([
                        cqe[0], cqe[1], cqe[2], cqe[3], cqe[4], cqe[5], cqe[6], cqe[7],
                    ]);
                    self.respond(state, r.cid(), r.status(), result, done);
                    Ok(())
                }
                Pdu::C2HData(d) => {
                    *rx = RxData::C2H {
                        cid: d.cccid,
                        datal: d.datal,
                        success: d.success,
                    };
                    Ok(())
                }
                Pdu::R2t(r) => Self::r2t(state, r.cccid, r.ttag, r.r2to, r.r2tl),
                Pdu::C2HTermReq(t) => Err(RxError::TermReq(t.error())),
                _ => Err(sequence()),
            },
        }
    }

    /// Takes command `cid` (or the asynchronous event request) out of its slot, to be
    /// completed with a response.
    ///
    /// Inlined into its one caller: it runs for nearly every command.
    #[inline(always)]
    fn respond(
        &self,
        state: &mut State,
        cid: u16,
        status_field: u16,
        result: u64,
        done: &mut KVec<Done>,
    ) {
        if self.qid == 0 && cid == AER_CID {
            if let Some(slot) = state.slots.get_mut(tag(AER_CID)) {
                *slot = Slot::Free;
            }
            self.finished(
                done,
                Done::Aer {
                    status: status_field,
                    result,
                },
            );
            return;
        }
        // The receiver checked that `cid` is in flight.
        let Some(cmd) = state.take(cid) else {
            return;
        };
        let status = if cmd.data_error && status_field >> 1 == 0 {
            status::DATA_XFER_ERROR << 1
        } else {
            status_field
        };
        self.finished(
            done,
            Done::Command {
                rq: cmd.rq,
                status,
                result,
            },
        );
    }

    /// Adds an answered command to `done`.
    fn finished(&self, done: &mut KVec<Done>, d: Done) {
        // Cannot fail: one read answers each slot at most once, and the list has room for
        // every slot and is emptied after each read. Were it to, the command is completed here,
        // under the state lock, as the C host completes under the socket lock.
        if let Err(e) = done.push_within_capacity(d) {
            self.complete(e.0);
        }
    }

    /// Completes an answered command.
    fn complete(&self, d: Done) {
        match d {
            Done::Command { rq, status, result } => {
                rq.complete(status, result);
                self.completed.add(1, Relaxed);
            }
            Done::Aer { status, result } => self.ctrl.complete_async_event(status, result),
        }
    }

    /// The data of a C2HData PDU is complete.
    ///
    /// Inlined into its one caller: it runs for every read.
    #[inline(always)]
    fn c2h_end(
        &self,
        state: &mut State,
        rx: &mut RxData,
        digest: DataDigest,
        done: &mut KVec<Done>,
    ) {
        let RxData::C2H {
            cid,
            datal,
            success,
        } = core::mem::replace(rx, RxData::Idle)
        else {
            return;
        };
        let Some(cmd) = state.command_mut(cid) else {
            return;
        };
        if let Transfer::Read { received, .. } = &mut cmd.transfer {
            // The receiver checked that the data ends within the command's length.
            *received = received.saturating_add(datal);
        }
        if let DataDigest::Bad { .. } = digest {
            pr_err!(
                "queue {}: data digest error on command {cid:#x}\n",
                self.qid
            );
            cmd.data_error = true;
        }
        if success {
            if let Some(cmd) = state.take(cid) {
                let status = if cmd.data_error {
                    status::DATA_XFER_ERROR << 1
                } else {
                    0
                };
                self.finished(
                    done,
                    Done::Command {
                        rq: cmd.rq,
                        status,
                        result: 0,
                    },
                );
            }
        }
    }

    /// Queues the answer of an R2T: H2CData PDUs of at most MAXH2CDATA bytes each, sent by
    /// this same I/O work's next round.
    fn r2t(state: &mut State, cid: u16, ttag: u16, r2to: u32, r2tl: u32) -> Result<(), RxError> {
        // The receiver checked the range against the command.
        let end = r2to.checked_add(r2tl).ok_or(RxError::Closed(EOVERFLOW))?;
        let Some(Command {
            transfer: Transfer::Write {
                requested, r2ts, ..
            },
            ..
        }) = state.command_mut(cid)
        else {
            return Ok(());
        };
        *requested = end;
        *r2ts += 1;
        state
            .send_list
            .push(Job::H2C {
                cid,
                ttag,
                datao: r2to,
                end,
            })
            .map_err(RxError::Closed)
    }
}

/// Sets the SGL data block descriptor of `sqe` for `len` bytes: in-capsule (offset 0) or moved
/// by the transport (C2HData, R2T/H2CData).
fn set_sgl(sqe: &mut [u8; 64], len: u32, incapsule: bool) {
    sqe[1] |= SGL_METABUF;
    sqe[24..32].fill(0);
    [sqe[32], sqe[33], sqe[34], sqe[35]] = len.to_le_bytes();
    sqe[36..39].fill(0);
    sqe[39] = if incapsule {
        SGL_IN_CAPSULE
    } else {
        SGL_TRANSPORT
    };
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
