//! The man in the middle: forwards each host connection to the real target PDU by PDU, tracks
//! what each connection negotiated and which commands are in flight, and injects the armed
//! fault into the first target-to-host PDU it fits.
//!
//! Each host connection gets two threads: the one that accepted it reads the host (host to
//! target), a second one reads the target (target to host). Both report every PDU to the shared
//! [`State`] under one lock; the runner in `main.rs` arms a case there and waits on the
//! condition variable for the injection, the host's reaction and its return.
//!
//! With `reshape` on, every other target-to-host PDU is rewritten into a legal but unusual
//! equivalent ([`crate::reshape`]) and counted: a connection's PDUs count as delivered to the
//! host once the host closes it with no command in flight and no fault injected (it has read
//! them all); the PDUs of connections that end otherwise are not counted.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use nvme_tcp_pdu::capsule::OPC_FABRICS;
use nvme_tcp_pdu::{DigestOptions, Fes, Header, Pdu};

use crate::cases::{Fault, Needs};
use crate::forge::{self, IcFault, Mutation, Rng};
use crate::reshape;

/// Fabrics command type of Connect.
const FCTYPE_CONNECT: u8 = 0x01;

/// The largest PLEN the proxy reads as one PDU; anything larger is forwarded as raw bytes.
const MAX_PLEN: usize = 16 << 20;

/// A command the host sent and the target has not completed yet.
#[derive(Debug, Clone, Copy)]
pub struct Cmd {
    /// Data length from the SGL descriptor.
    pub len: u32,
    /// Data moves host to controller.
    pub write: bool,
    /// A Fabrics Connect (its response makes the queue live).
    pub connect: bool,
    /// Opcode, starting LBA and 0's based block count, to recognise a retry of the command.
    pub key: (u8, u64, u16),
}

/// One proxied connection.
#[derive(Debug)]
pub struct Conn {
    /// The host side, for shutting it down.
    host: TcpStream,
    /// The target side, for shutting it down.
    target: TcpStream,
    /// Digests the host asked for in its ICReq.
    pub asked: DigestOptions,
    /// HPDA from the ICReq: the padding of C2H data.
    pub hpda: u8,
    /// CPDA from the ICResp: the padding of H2C data.
    pub cpda: u8,
    /// Header and data digests the target granted (`None` before the ICResp).
    pub digests: Option<(bool, bool)>,
    /// Queue ID from the Connect command.
    pub qid: Option<u16>,
    /// The Connect succeeded.
    pub live: bool,
    /// Commands in flight, by command identifier.
    pub inflight: HashMap<u16, Cmd>,
    /// A fault was injected here: its reaction is being watched.
    pub faulted: bool,
    /// The H2CTermReq the host sent after the fault, `(FES, FEI)`.
    pub term: Option<(u16, u32)>,
    /// PDUs the host sent after the fault (TermReq included).
    pub pdus_after_fault: u32,
    /// When the host closed its side.
    pub host_closed: Option<Instant>,
    /// SQSIZE from the Connect command (0's based).
    pub sqsize: u16,
    /// R2Ts being asked for in parts, by command identifier.
    splits: HashMap<u16, Split>,
    /// PDUs written to the host (with `reshape` on).
    written: u64,
    /// The proxy cut the connection.
    cut: bool,
}

/// A target's R2T being asked of the host in parts.
#[derive(Debug)]
struct Split {
    /// The target's R2T, and the framing of its header.
    r2t: nvme_tcp_pdu::R2t,
    hdgst: bool,
    /// Ends of the parts still to ask for, ascending (the current part ends at `ends[0]`).
    ends: Vec<u32>,
}

/// What reshaping did, for the report.
#[derive(Debug, Default, Clone, Copy)]
pub struct Reshaped {
    /// PDUs counted as delivered (see the module's documentation).
    pub delivered: u64,
    /// C2HData PDUs of the target split, and the pieces sent instead.
    pub c2h: u64,
    pub c2h_pieces: u64,
    /// R2Ts of the target asked for in parts, and the parts.
    pub r2t: u64,
    pub r2t_parts: u64,
    /// CapsuleResps sent with another SQHD.
    pub sqhd: u64,
}

impl Conn {
    /// Returns whether I/O cases may inject here: a live I/O queue not already damaged.
    fn io_ready(&self) -> bool {
        self.live && !self.faulted && self.qid.is_some_and(|q| q > 0)
    }

    /// Returns whether the connection negotiated what `needs` asks.
    pub fn meets(&self, needs: &Needs) -> bool {
        let (h, d) = self.digests.unwrap_or((false, false));
        (!needs.hdgst || h) && (!needs.ddgst || d) && (!needs.no_ddgst || !self.asked.data())
    }
}

/// Where an armed case stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// An ICResp case: first cut an I/O connection so the host opens new ones.
    Provoke,
    /// Waiting for a PDU the fault fits.
    Ready,
}

/// The armed case.
#[derive(Debug)]
struct Armed {
    fault: Fault,
    needs: Needs,
    phase: Phase,
    /// Fitting PDUs to let pass before injecting (mutations spread over PDU types).
    skip: usize,
    rng: Rng,
}

/// What was injected, for the runner.
#[derive(Debug, Clone)]
pub struct Injected {
    /// The damaged connection.
    pub conn: u64,
    /// Its queue ID, if known.
    pub qid: Option<u16>,
    /// What was done, in words.
    pub note: String,
    /// When.
    pub at: Instant,
    /// Admin connects seen so far: the host is back when this grows.
    pub generation: u64,
    /// Successful I/O completions seen so far.
    pub io_done: u64,
}

/// Everything the threads share.
#[derive(Debug, Default)]
pub struct State {
    /// Open connections (and damaged ones until their verdict).
    pub conns: BTreeMap<u64, Conn>,
    next_id: u64,
    /// Successful admin-queue Connects.
    pub generation: u64,
    /// Successful I/O completions since the last admin Connect.
    pub gen_io: u64,
    /// Successful I/O completions in all.
    pub io_done: u64,
    armed: Option<Armed>,
    /// The last injection.
    pub injected: Option<Injected>,
    /// The command the last data-digest case damaged, to see it retried.
    watch: Option<(u8, u64, u16)>,
    /// The host sent the watched command again.
    pub retried: bool,
    /// What reshaping did.
    pub reshaped: Reshaped,
    rng: Rng,
}

impl State {
    /// PDUs written to the host so far with `reshape` on (delivered or not yet).
    pub fn written(&self) -> u64 {
        self.reshaped.delivered + self.conns.values().map(|c| c.written).sum::<u64>()
    }
}

/// What to do with a PDU the host sent.
enum HostAction {
    /// Send it to the target as it is.
    Forward,
    /// Keep it from the target.
    Drop,
    /// Send these bytes to the target instead, and (if any) those to the host.
    Replace(Vec<u8>, Option<Vec<u8>>),
}

/// What to do with a PDU the target sent.
enum Action {
    /// Send it as it is.
    Forward,
    /// Send these bytes instead.
    Replace(Vec<u8>),
    /// Send these bytes instead, then FIN to the host and close the target side.
    ReplaceAndCut(Vec<u8>),
    /// Send these bytes instead, then close the target side only (the host decides).
    ReplaceAndCloseTarget(Vec<u8>),
}

/// How target-to-host PDUs are reshaped.
#[derive(Debug, Clone, Copy)]
pub struct Reshape {
    /// Pad C2HData beyond the header (PDO larger than needed), for hosts that honour PDO.
    pub pad: bool,
    pub seed: u64,
}

/// The proxy: the target's address and the shared state.
pub struct Proxy {
    target: SocketAddr,
    reshape: Option<Reshape>,
    state: Mutex<State>,
    changed: Condvar,
}

impl Proxy {
    /// Returns a proxy to `target`.
    #[cfg(test)]
    pub fn new(target: SocketAddr) -> Arc<Self> {
        Self::with_reshape(target, None)
    }

    /// Returns a proxy to `target` that reshapes target-to-host PDUs as `reshape` says.
    pub fn with_reshape(target: SocketAddr, reshape: Option<Reshape>) -> Arc<Self> {
        let state = State {
            rng: Rng::new(reshape.map_or(0, |r| r.seed)),
            ..State::default()
        };
        Arc::new(Self {
            target,
            reshape,
            state: Mutex::new(state),
            changed: Condvar::new(),
        })
    }

    /// Locks the shared state (a poisoned lock is taken over: a panicked forwarder must not
    /// stop the runner from reporting).
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until `done` holds or `timeout` passes; returns the state and whether it holds.
    pub fn wait_until<F: FnMut(&State) -> bool>(
        &self,
        timeout: Duration,
        mut done: F,
    ) -> (MutexGuard<'_, State>, bool) {
        let (g, r) = self
            .changed
            .wait_timeout_while(self.lock(), timeout, |s| !done(s))
            .unwrap_or_else(|e| e.into_inner());
        (g, !r.timed_out())
    }

    /// Arms `fault` for the next PDU it fits (clearing any previous injection).
    pub fn arm(&self, fault: Fault, needs: Needs) {
        let mut s = self.lock();
        let (phase, skip, rng) = match fault {
            Fault::IcResp(_) => (Phase::Provoke, 0, Rng::new(0)),
            Fault::Mutate(seed) => {
                let mut rng = Rng::new(seed);
                let skip = rng.below(24);
                (Phase::Ready, skip, rng)
            }
            _ => (Phase::Ready, 0, Rng::new(0)),
        };
        s.armed = Some(Armed {
            fault,
            needs,
            phase,
            skip,
            rng,
        });
        s.injected = None;
        s.watch = None;
        s.retried = false;
    }

    /// Disarms whatever is armed.
    pub fn disarm(&self) {
        self.lock().armed = None;
    }

    /// Shuts both sides of connection `id` down (after its verdict, if the host left it open).
    pub fn cut(&self, id: u64) {
        let mut s = self.lock();
        if let Some(c) = s.conns.get_mut(&id) {
            c.cut = true;
            let _ = c.host.shutdown(Shutdown::Both);
            let _ = c.target.shutdown(Shutdown::Both);
        }
    }

    /// Forgets a damaged connection once judged (its threads end on their own).
    pub fn forget(&self, id: u64) {
        let mut s = self.lock();
        if let Some(c) = s.conns.get_mut(&id) {
            c.faulted = false;
            if c.host_closed.is_some() {
                s.conns.remove(&id);
            }
        }
    }

    /// Accepts host connections on `listener` forever, each on its own threads.
    pub fn serve(self: &Arc<Self>, listener: TcpListener) {
        for host in listener.incoming() {
            let Ok(host) = host else { continue };
            let p = Arc::clone(self);
            thread::spawn(move || p.relay(host));
        }
    }

    /// Relays one host connection to a new connection to the target.
    fn relay(self: Arc<Self>, mut host: TcpStream) {
        let Ok(mut target) = TcpStream::connect(self.target) else {
            eprintln!("hostile-target: cannot reach the target {}", self.target);
            return;
        };
        let _ = host.set_nodelay(true);
        let _ = target.set_nodelay(true);
        let (Ok(h2), Ok(t2), Ok(h3), Ok(t3)) = (
            host.try_clone(),
            target.try_clone(),
            host.try_clone(),
            target.try_clone(),
        ) else {
            return;
        };
        let id = {
            let mut s = self.lock();
            s.next_id += 1;
            let id = s.next_id;
            s.conns.insert(
                id,
                Conn {
                    host: h2,
                    target: t2,
                    asked: DigestOptions::default(),
                    hpda: 0,
                    cpda: 0,
                    digests: None,
                    qid: None,
                    live: false,
                    inflight: HashMap::new(),
                    faulted: false,
                    term: None,
                    pdus_after_fault: 0,
                    host_closed: None,
                    sqsize: 0,
                    splits: HashMap::new(),
                    written: 0,
                    cut: false,
                },
            );
            id
        };
        let h3 = Arc::new(Mutex::new(h3));
        let to_host = Arc::clone(&h3);
        let p = Arc::clone(&self);
        let back = thread::spawn(move || p.target_to_host(id, t3, to_host));
        // Host to target, here.
        let mut raw = false;
        loop {
            let frame = if raw {
                read_raw(&mut host)
            } else {
                read_pdu(&mut host)
            };
            match frame {
                Ok(Frame::Pdu(b)) => match self.host_pdu(id, &b) {
                    HostAction::Forward => {
                        let _ = target.write_all(&b);
                    }
                    HostAction::Drop => {}
                    HostAction::Replace(x, back) => {
                        let _ = target.write_all(&x);
                        if let Some(back) = back {
                            let _ = lock_stream(&h3).write_all(&back);
                        }
                    }
                },
                Ok(Frame::Raw(b)) => {
                    raw = true;
                    self.host_sent_raw(id);
                    let _ = target.write_all(&b);
                }
                Ok(Frame::End) | Err(_) => break,
            }
        }
        {
            let mut s = self.lock();
            if let Some(c) = s.conns.get_mut(&id) {
                c.host_closed = Some(Instant::now());
                if !c.faulted {
                    if !c.cut && c.inflight.is_empty() && c.splits.is_empty() {
                        s.reshaped.delivered += c.written;
                    }
                    s.conns.remove(&id);
                }
            }
        }
        self.changed.notify_all();
        let _ = target.shutdown(Shutdown::Write);
        let _ = back.join();
    }

    /// Relays target-to-host PDUs of connection `id`, injecting the armed fault.
    fn target_to_host(&self, id: u64, mut target: TcpStream, host: Arc<Mutex<TcpStream>>) {
        let mut raw = false;
        loop {
            let frame = if raw {
                read_raw(&mut target)
            } else {
                read_pdu(&mut target)
            };
            let b = match frame {
                Ok(Frame::Pdu(b)) => b,
                Ok(Frame::Raw(b)) => {
                    raw = true;
                    if lock_stream(&host).write_all(&b).is_err() {
                        break;
                    }
                    continue;
                }
                Ok(Frame::End) | Err(_) => break,
            };
            let action = self.target_pdu(id, &b);
            self.changed.notify_all();
            let sent = match &action {
                Action::Forward => lock_stream(&host).write_all(&b),
                Action::Replace(x)
                | Action::ReplaceAndCut(x)
                | Action::ReplaceAndCloseTarget(x) => lock_stream(&host).write_all(x),
            };
            match action {
                Action::ReplaceAndCut(_) => {
                    let _ = lock_stream(&host).shutdown(Shutdown::Write);
                    let _ = target.shutdown(Shutdown::Both);
                    return;
                }
                Action::ReplaceAndCloseTarget(_) => {
                    let _ = target.shutdown(Shutdown::Both);
                    return;
                }
                Action::Forward | Action::Replace(_) => {}
            }
            if sent.is_err() {
                break;
            }
        }
        // The target closed: pass that on, unless the host's own reaction is being watched.
        let faulted = self.lock().conns.get(&id).is_some_and(|c| c.faulted);
        if !faulted {
            let _ = lock_stream(&host).shutdown(Shutdown::Write);
        }
    }

    /// Tracks a host PDU; returns what to do with it.
    fn host_pdu(&self, id: u64, b: &[u8]) -> HostAction {
        let mut s = self.lock();
        let State {
            conns,
            watch,
            retried,
            reshaped,
            ..
        } = &mut *s;
        let Some(c) = conns.get_mut(&id) else {
            return HostAction::Forward;
        };
        if c.faulted {
            c.pdus_after_fault += 1;
        }
        let Ok(h) = Header::decode(b, c.cpda) else {
            return HostAction::Forward;
        };
        match h.pdu {
            Pdu::IcReq(r) => {
                c.asked = r.dgst;
                c.hpda = r.hpda;
            }
            Pdu::CapsuleCmd(cmd) => {
                let sqe = &cmd.sqe;
                let connect = cmd.opcode() == OPC_FABRICS && cmd.fctype() == FCTYPE_CONNECT;
                if connect {
                    c.qid = Some(u16::from_le_bytes([sqe[42], sqe[43]]));
                    c.sqsize = u16::from_le_bytes([sqe[44], sqe[45]]);
                }
                let slba = u64::from_le_bytes([
                    sqe[40], sqe[41], sqe[42], sqe[43], sqe[44], sqe[45], sqe[46], sqe[47],
                ]);
                let key = (cmd.opcode(), slba, u16::from_le_bytes([sqe[48], sqe[49]]));
                if *watch == Some(key) && !connect {
                    *retried = true;
                }
                c.inflight.insert(
                    cmd.cid(),
                    Cmd {
                        len: cmd.sgl_len(),
                        write: cmd.is_write(),
                        connect,
                        key,
                    },
                );
            }
            Pdu::H2CTermReq(t) => {
                if c.term.is_none() {
                    c.term = Some((u16::from(t.fes), t.fei));
                }
                // The host's TermReq is for the proxy to judge, not for the real target.
                return if c.faulted {
                    HostAction::Drop
                } else {
                    HostAction::Forward
                };
            }
            Pdu::H2CData(d) => {
                // Data for an R2T asked for in parts: the end of a part asks for the next.
                let Some(split) = c.splits.get_mut(&d.cccid) else {
                    return HostAction::Forward;
                };
                let end = d.datao.saturating_add(d.datal);
                let Some(&part_end) = split.ends.first() else {
                    return HostAction::Forward;
                };
                if end != part_end {
                    return HostAction::Forward;
                }
                split.ends.remove(0);
                let Some(&next) = split.ends.first() else {
                    // The end of the target's R2T: LAST_PDU, as the host sent it.
                    c.splits.remove(&d.cccid);
                    return HostAction::Forward;
                };
                let f = nvme_tcp_pdu::Framing {
                    hdgst: split.hdgst,
                    ddgst: false,
                    pda: 0,
                };
                let r2t = forge::emit(
                    &Pdu::R2t(nvme_tcp_pdu::R2t {
                        r2to: part_end,
                        r2tl: next - part_end,
                        ..split.r2t
                    }),
                    &f,
                    &[],
                );
                c.written += 1;
                reshaped.r2t_parts += 1;
                return HostAction::Replace(reshape::h2c_with_last(b, false), Some(r2t));
            }
            _ => {}
        }
        HostAction::Forward
    }

    /// Notes that the host sent bytes that are not a PDU.
    fn host_sent_raw(&self, id: u64) {
        if let Some(c) = self.lock().conns.get_mut(&id) {
            if c.faulted {
                c.pdus_after_fault += 1;
            }
        }
    }

    /// Tracks a target PDU and decides whether to damage it.
    fn target_pdu(&self, id: u64, b: &[u8]) -> Action {
        let mut s = self.lock();
        let Some(c) = s.conns.get(&id) else {
            return Action::Forward;
        };
        let pda = if matches!(b.first(), Some(&0x01)) {
            0
        } else {
            c.hpda
        };
        let Ok(h) = Header::decode(b, pda) else {
            return Action::Forward;
        };
        if let Some(action) = inject(&mut s, id, &h, b) {
            return action;
        }
        account(&mut s, id, &h);
        match self.reshape {
            Some(r) => reshape_pdu(&mut s, id, &h, b, r),
            None => Action::Forward,
        }
    }
}

/// Locks a host stream for writing (a poisoned lock is taken over).
fn lock_stream(s: &Mutex<TcpStream>) -> MutexGuard<'_, TcpStream> {
    s.lock().unwrap_or_else(|e| e.into_inner())
}

/// Rewrites a genuine target PDU into a legal but unusual equivalent, and counts it.
fn reshape_pdu(s: &mut State, id: u64, h: &Header, b: &[u8], r: Reshape) -> Action {
    let State {
        conns,
        reshaped,
        rng,
        ..
    } = s;
    let Some(c) = conns.get_mut(&id) else {
        return Action::Forward;
    };
    if c.faulted || !c.live {
        c.written += 1;
        return Action::Forward;
    }
    match h.pdu {
        Pdu::C2HData(_) => {
            let Some((x, n)) = reshape::split_c2h(h, b, c.hpda, r.pad, rng) else {
                c.written += 1;
                return Action::Forward;
            };
            reshaped.c2h += 1;
            reshaped.c2h_pieces += n;
            c.written += n;
            Action::Replace(x)
        }
        Pdu::R2t(t) if !c.splits.contains_key(&t.cccid) && t.r2tl > 0 => {
            let ends = reshape::r2t_ends(t.r2to, t.r2tl, rng);
            let first = ends[0];
            let x = reshape::r2t_part(&t, h, c.hpda, t.r2to, first);
            if ends.len() > 1 {
                c.splits.insert(
                    t.cccid,
                    Split {
                        r2t: t,
                        hdgst: h.layout.hdgst,
                        ends,
                    },
                );
                reshaped.r2t += 1;
                reshaped.r2t_parts += 1;
            }
            c.written += 1;
            Action::Replace(x)
        }
        Pdu::CapsuleResp(_) => {
            let sqhd = u16::try_from(rng.below(usize::from(c.sqsize) + 1)).unwrap_or(0);
            c.written += 1;
            match reshape::with_sqhd(h, c.hpda, sqhd) {
                Some(x) => {
                    reshaped.sqhd += 1;
                    Action::Replace(x)
                }
                None => Action::Forward,
            }
        }
        _ => {
            c.written += 1;
            Action::Forward
        }
    }
}

/// Updates the command table and the counters for a genuine target PDU.
fn account(s: &mut State, id: u64, h: &Header) {
    let Some(c) = s.conns.get_mut(&id) else {
        return;
    };
    let (cid, ok) = match h.pdu {
        Pdu::IcResp(r) => {
            c.digests = Some((r.dgst.header(), r.dgst.data()));
            c.cpda = r.cpda;
            return;
        }
        Pdu::CapsuleResp(r) => {
            let (cid, status) = forge::cqe_cid_status(&r.cqe);
            (cid, status >> 1 == 0)
        }
        Pdu::C2HData(d) if d.success => (d.cccid, true),
        _ => return,
    };
    let Some(cmd) = c.inflight.remove(&cid) else {
        return;
    };
    if cmd.connect {
        if ok {
            c.live = true;
            if c.qid == Some(0) {
                s.generation += 1;
                s.gen_io = 0;
            }
        }
    } else if ok && c.qid.is_some_and(|q| q > 0) {
        s.io_done += 1;
        s.gen_io += 1;
    }
}

/// Applies the armed fault to this PDU if it fits; returns what to send instead.
fn inject(s: &mut State, id: u64, h: &Header, b: &[u8]) -> Option<Action> {
    let armed = s.armed.as_mut()?;
    let c = s.conns.get(&id)?;
    let pda = c.hpda;
    let io = c.io_ready() && c.meets(&armed.needs);
    let cmd = |cid: u16| c.inflight.get(&cid).copied();
    let (action, note) = match (armed.fault, &h.pdu) {
        (Fault::IcResp(_), _) if armed.phase == Phase::Provoke => {
            if !io || c.inflight.is_empty() {
                return None;
            }
            armed.phase = Phase::Ready;
            eprintln!("hostile-target: cut connection {id} to make the host reconnect");
            return Some(Action::ReplaceAndCut(Vec::new()));
        }
        (Fault::IcResp(f), Pdu::IcResp(_)) => {
            if f == IcFault::Dgst && c.asked.data() {
                return None;
            }
            let x = forge::icresp(b, f)?;
            (Action::Replace(x), format!("ICResp {f:?}"))
        }
        (Fault::Kill, _) if io && !c.inflight.is_empty() => (
            Action::ReplaceAndCut(Vec::new()),
            format!(
                "cut with {} commands in flight (FIN to the host)",
                c.inflight.len()
            ),
        ),
        (Fault::RspHlen, Pdu::CapsuleResp(_)) if io => (
            Action::Replace(forge::with_hlen(h, b, 32)),
            "CapsuleResp with HLEN 32 (header digest recomputed)".into(),
        ),
        (Fault::RspHdgst, Pdu::CapsuleResp(_)) if io => (
            Action::Replace(forge::bad_hdgst(h, b)?),
            "CapsuleResp with a broken header digest".into(),
        ),
        (Fault::C2HDdgst, Pdu::C2HData(d)) if io && h.layout.ddgst => {
            let key = cmd(d.cccid)?.key;
            s.watch = Some(key);
            (
                Action::Replace(forge::c2h_bad_data(h, b)?),
                format!(
                    "C2HData cccid {:#x} with a flipped data bit (digest kept)",
                    d.cccid
                ),
            )
        }
        (Fault::RspUnknownCid, Pdu::CapsuleResp(r)) if io => {
            let (cid, _) = forge::cqe_cid_status(&r.cqe);
            let unknown = (0x0fffu16..).find(|u| !c.inflight.contains_key(u))?;
            (
                Action::Replace(forge::resp_for_cid(h, pda, unknown)?),
                format!("CapsuleResp for cid {unknown:#x} instead of {cid:#x}"),
            )
        }
        (Fault::C2HBeyond, Pdu::C2HData(d)) if io => {
            let len = cmd(d.cccid).filter(|m| !m.write)?.len;
            if d.datao.checked_add(d.datal)? != len {
                return None;
            }
            (
                Action::Replace(forge::c2h_beyond(h, b, pda, 512)?),
                format!(
                    "C2HData cccid {:#x} DATAL {} -> {} (read of {len})",
                    d.cccid,
                    d.datal,
                    d.datal + 512
                ),
            )
        }
        (Fault::C2HOverlap, Pdu::C2HData(d)) if io => {
            let len = cmd(d.cccid).filter(|m| !m.write)?.len;
            if d.datao != 0 || d.datal != len {
                return None;
            }
            (
                Action::Replace(forge::c2h_overlap(h, b, pda, 512)?),
                format!(
                    "C2HData cccid {:#x} split at {}, second at DATAO {} (read of {len})",
                    d.cccid,
                    len / 2,
                    len / 2 - 512
                ),
            )
        }
        (Fault::C2HShift, Pdu::C2HData(d)) if io => {
            cmd(d.cccid).filter(|m| !m.write)?;
            (
                Action::Replace(forge::c2h_shift(h, b, pda, 512)?),
                format!(
                    "C2HData cccid {:#x} DATAO {} -> {}",
                    d.cccid,
                    d.datao,
                    d.datao + 512
                ),
            )
        }
        (Fault::R2tBeyond, Pdu::R2t(r)) if io => {
            let len = cmd(r.cccid).filter(|m| m.write)?.len;
            let r2tl = len.checked_sub(r.r2to)?.checked_add(4096)?;
            (
                Action::Replace(forge::r2t_len(h, pda, r2tl)?),
                format!(
                    "R2T cccid {:#x} R2TO {} R2TL {} -> {r2tl} (write of {len})",
                    r.cccid, r.r2to, r.r2tl
                ),
            )
        }
        (Fault::R2tZero, Pdu::R2t(r)) if io => {
            cmd(r.cccid).filter(|m| m.write)?;
            (
                Action::Replace(forge::r2t_len(h, pda, 0)?),
                format!("R2T cccid {:#x} R2TL {} -> 0", r.cccid, r.r2tl),
            )
        }
        (Fault::C2HTermReq, _) if io => (
            Action::ReplaceAndCloseTarget(forge::c2h_term_req(Fes::PduSequenceError)),
            format!(
                "C2HTermReq (FES 0x2) instead of a {:?}, target side closed",
                h.common.pdu_type
            ),
        ),
        (Fault::Mutate(_), Pdu::CapsuleResp(_) | Pdu::C2HData(_) | Pdu::R2t(_)) if io => {
            if armed.skip > 0 {
                armed.skip -= 1;
                return None;
            }
            let mut x = b.to_vec();
            let m = forge::mutate(&mut x, &mut armed.rng);
            let what = format!("{:?} of {} bytes", h.common.pdu_type, b.len());
            match m {
                Mutation::Truncate(n) => (
                    Action::ReplaceAndCut(x),
                    format!("{what} truncated to {n}, connection cut"),
                ),
                Mutation::Flip(f) => (Action::Replace(x), format!("{what}: bits flipped {f:?}")),
            }
        }
        _ => return None,
    };
    let qid = c.qid;
    s.armed = None;
    if let Some(c) = s.conns.get_mut(&id) {
        c.faulted = true;
    }
    s.injected = Some(Injected {
        conn: id,
        qid,
        note,
        at: Instant::now(),
        generation: s.generation,
        io_done: s.io_done,
    });
    Some(action)
}

/// A piece of a byte stream.
enum Frame {
    /// One whole PDU.
    Pdu(Vec<u8>),
    /// Bytes that do not start a plausible PDU (forward them, and the rest of the stream, raw).
    Raw(Vec<u8>),
    /// The peer closed.
    End,
}

/// Reads one PDU: the common header, then the rest up to PLEN.
fn read_pdu(s: &mut TcpStream) -> io::Result<Frame> {
    let mut common = [0u8; 8];
    let mut got = 0;
    while got < common.len() {
        match s.read(&mut common[got..])? {
            0 if got == 0 => return Ok(Frame::End),
            0 => return Ok(Frame::Raw(common[..got].to_vec())),
            n => got += n,
        }
    }
    let plen = usize::try_from(u32::from_le_bytes([
        common[4], common[5], common[6], common[7],
    ]))
    .unwrap_or(usize::MAX);
    if !(8..=MAX_PLEN).contains(&plen) {
        return Ok(Frame::Raw(common.to_vec()));
    }
    let mut pdu = vec![0u8; plen];
    pdu[..8].copy_from_slice(&common);
    let mut at = 8;
    while at < plen {
        match s.read(&mut pdu[at..])? {
            0 => {
                pdu.truncate(at);
                return Ok(Frame::Raw(pdu));
            }
            n => at += n,
        }
    }
    Ok(Frame::Pdu(pdu))
}

/// Reads whatever bytes are there, once the stream stopped making sense as PDUs.
fn read_raw(s: &mut TcpStream) -> io::Result<Frame> {
    let mut buf = vec![0u8; 64 << 10];
    let n = s.read(&mut buf)?;
    if n == 0 {
        return Ok(Frame::End);
    }
    buf.truncate(n);
    Ok(Frame::Raw(buf))
}

#[cfg(test)]
mod tests {
    //! The proxy between a scripted host and a scripted target on loopback.

    use super::*;
    use nvme_tcp_pdu::ic::IC_LEN;
    use nvme_tcp_pdu::{C2HData, CapsuleCmd, CapsuleResp, Framing, IcReq, IcResp};

    const PLAIN: Framing = Framing {
        hdgst: false,
        ddgst: false,
        pda: 0,
    };

    fn read_whole(s: &mut TcpStream) -> Vec<u8> {
        match read_pdu(s).unwrap() {
            Frame::Pdu(b) => b,
            _ => panic!("no PDU"),
        }
    }

    fn resp(cid: u16) -> Vec<u8> {
        let mut cqe = [0u8; 16];
        cqe[12..14].copy_from_slice(&cid.to_le_bytes());
        forge::emit(&Pdu::CapsuleResp(CapsuleResp { cqe }), &PLAIN, &[])
    }

    /// A target that grants no digests, completes every command and returns 0x5a bytes for
    /// reads, on one connection.
    fn fake_target(mut s: TcpStream) {
        let _icreq = read_whole(&mut s);
        let icresp = IcResp {
            pfv: 0,
            cpda: 0,
            dgst: DigestOptions::default(),
            maxh2cdata: 0x40_0000,
        };
        s.write_all(&icresp.to_bytes()).unwrap();
        while let Ok(Frame::Pdu(b)) = read_pdu(&mut s) {
            let Ok(Header {
                pdu: Pdu::CapsuleCmd(c),
                ..
            }) = Header::decode(&b, 0)
            else {
                continue;
            };
            if c.opcode() == 0x02 {
                let data = vec![0x5a; c.sgl_len() as usize];
                let d = C2HData {
                    cccid: c.cid(),
                    datao: 0,
                    datal: c.sgl_len(),
                    last: true,
                    success: false,
                };
                if s.write_all(&forge::emit(&Pdu::C2HData(d), &PLAIN, &data))
                    .is_err()
                {
                    return;
                }
            }
            if s.write_all(&resp(c.cid())).is_err() {
                return;
            }
        }
    }

    fn sqe(op: u8, cid: u16, len: u32) -> [u8; 64] {
        let mut sqe = [0u8; 64];
        sqe[0] = op;
        sqe[2..4].copy_from_slice(&cid.to_le_bytes());
        sqe[32..36].copy_from_slice(&len.to_le_bytes());
        sqe[39] = 0x5a;
        sqe
    }

    fn capsule(sqe: [u8; 64]) -> Vec<u8> {
        forge::emit(
            &Pdu::CapsuleCmd(CapsuleCmd { sqe, data_len: 0 }),
            &PLAIN,
            &[],
        )
    }

    /// A host queue through the proxy: ICReq, then Connect on `qid`.
    fn host_queue(addr: SocketAddr, qid: u16) -> TcpStream {
        let mut s = TcpStream::connect(addr).unwrap();
        let icreq = IcReq {
            pfv: 0,
            hpda: 0,
            dgst: DigestOptions::default(),
            maxr2t: 0,
        };
        s.write_all(&icreq.to_bytes()).unwrap();
        assert_eq!(read_whole(&mut s).len(), IC_LEN);
        let mut connect = sqe(OPC_FABRICS, 1, 0);
        connect[4] = FCTYPE_CONNECT;
        connect[42..44].copy_from_slice(&qid.to_le_bytes());
        s.write_all(&capsule(connect)).unwrap();
        assert_eq!(read_whole(&mut s)[0], 0x05);
        s
    }

    fn start() -> (Arc<Proxy>, SocketAddr) {
        let target = TcpListener::bind("127.0.0.1:0").unwrap();
        let taddr = target.local_addr().unwrap();
        thread::spawn(move || {
            for s in target.incoming().flatten() {
                thread::spawn(move || fake_target(s));
            }
        });
        let proxy = Proxy::new(taddr);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let p = Arc::clone(&proxy);
        thread::spawn(move || p.serve(listener));
        (proxy, addr)
    }

    #[test]
    fn tracks_queues_and_injects_into_a_read() {
        let (proxy, addr) = start();
        let _admin = host_queue(addr, 0);
        let mut io = host_queue(addr, 1);
        for cid in 2..10 {
            io.write_all(&capsule(sqe(0x02, cid, 4096))).unwrap();
            assert_eq!(read_whole(&mut io)[0], 0x07);
            assert_eq!(read_whole(&mut io)[0], 0x05);
        }
        let (s, ok) = proxy.wait_until(Duration::from_secs(5), |s| s.gen_io >= 8);
        assert!(ok);
        assert_eq!(s.generation, 1);
        drop(s);

        proxy.arm(Fault::C2HBeyond, Needs::default());
        io.write_all(&capsule(sqe(0x02, 20, 4096))).unwrap();
        let forged = read_whole(&mut io);
        let h = Header::decode(&forged, 0).unwrap();
        assert_eq!(h.pdu.data_len(), 4608);
        let s = proxy.lock();
        let inj = s.injected.clone().expect("injected");
        assert_eq!(inj.qid, Some(1));
        assert!(s.conns[&inj.conn].faulted);
        drop(s);

        // The host reports the error and closes: the proxy keeps the TermReq to itself.
        let term = forge::c2h_term_req(Fes::DataOutOfRange);
        let mut h2c = term.clone();
        h2c[0] = 0x02;
        io.write_all(&h2c).unwrap();
        io.shutdown(Shutdown::Both).unwrap();
        let (s, ok) = proxy.wait_until(Duration::from_secs(5), |s| {
            s.conns[&inj.conn].host_closed.is_some()
        });
        assert!(ok);
        assert_eq!(s.conns[&inj.conn].term, Some((0x04, 0)));
        drop(s);
        proxy.forget(inj.conn);
        assert!(!proxy.lock().conns.contains_key(&inj.conn));
    }

    #[test]
    fn replaces_one_response_then_passes_through() {
        let (proxy, addr) = start();
        let _admin = host_queue(addr, 0);
        let mut io = host_queue(addr, 2);
        proxy.arm(Fault::RspUnknownCid, Needs::default());
        io.write_all(&capsule(sqe(0x00, 7, 0))).unwrap();
        let b = read_whole(&mut io);
        let Pdu::CapsuleResp(r) = Header::decode(&b, 0).unwrap().pdu else {
            panic!("not a response")
        };
        assert_eq!(forge::cqe_cid_status(&r.cqe).0, 0x0fff);
        // Disarmed after one injection: the next command's response is genuine.
        io.write_all(&capsule(sqe(0x00, 8, 0))).unwrap();
        let b = read_whole(&mut io);
        let Pdu::CapsuleResp(r) = Header::decode(&b, 0).unwrap().pdu else {
            panic!("not a response")
        };
        assert_eq!(forge::cqe_cid_status(&r.cqe).0, 8);
    }
}
