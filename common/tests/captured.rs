//! Replays of real byte streams between the in-tree C host (`nvme-tcp`) and C target
//! (`nvmet-tcp`), captured through the relay `tools/pdu-capture.py` by `tools/capture-vectors`.
//!
//! `captured/{plain,digests}/conn{0,1}.log`: conn0 is the admin queue, conn1 the I/O queue;
//! `digests` was connected with header and data digests. The I/O was a 4 KiB write (in-capsule
//! data), a 64 KiB write (R2T + H2CData), a 64 KiB read (C2HData) of the same blocks, then a
//! disconnect. A log is a sequence of records: a direction byte (0: host to controller, what the
//! target receives; 1: controller to host, what the host receives), a little-endian u32 length
//! and the bytes, in the order and chunks the relay read them from the sockets.
//!
//! Each capture goes through a target-role and a host-role [`Receiver`] in the recorded order,
//! with a model of both drivers' command tables kept from the events of both sides: a
//! CapsuleCmd the target receives is a command the host has in flight, an R2T the host receives
//! opens the transfer the target's H2CData must match, a CapsuleResp retires the command.

mod util;

use std::collections::HashMap;
use std::ops::Range;
use std::path::PathBuf;

use nvme_tcp_pdu::*;
use util::{Driver, Ev, Rng};

/// Direction of a record: host to controller, received by the target.
const H2C: u8 = 0;
/// Direction of a record: controller to host, received by the host.
const C2H: u8 = 1;

/// Fabrics command opcode (the data direction is in FCTYPE's low bits).
const FABRICS: u8 = 0x7f;
/// Admin Asynchronous Event Request: outstanding until the queue goes away.
const ASYNC_EVENT: u8 = 0x0c;
/// NVM Write and Read.
const WRITE: u8 = 0x01;
const READ: u8 = 0x02;
/// SGL descriptor types the C host uses: in-capsule data (data block, offset) and data the
/// transport moves (transport data block, transport specific).
const SGL_IN_CAPSULE: u8 = 0x01;
const SGL_TRANSPORT: u8 = 0x5a;

/// One captured connection.
struct Capture {
    name: String,
    digests: bool,
    admin: bool,
    /// The bytes each side received, concatenated: `streams[H2C]` and `streams[C2H]`.
    streams: [Vec<u8>; 2],
    /// The records, in order: direction and the range of `streams[direction]` they carried.
    records: Plan,
}

fn load(mode: &str, conn: u32) -> Capture {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/captured")
        .join(mode)
        .join(format!("conn{conn}.log"));
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut streams = [Vec::new(), Vec::new()];
    let mut records = Vec::new();
    let mut rest = &bytes[..];
    while !rest.is_empty() {
        assert!(rest.len() >= 5, "{}: record header cut", path.display());
        let dir = rest[0];
        assert!(
            dir == H2C || dir == C2H,
            "{}: direction {dir}",
            path.display()
        );
        let len = u32::from_le_bytes(rest[1..5].try_into().unwrap()) as usize;
        let data = rest
            .get(5..5 + len)
            .unwrap_or_else(|| panic!("{}: record cut", path.display()));
        assert!(len > 0, "{}: empty record", path.display());
        let s = &mut streams[usize::from(dir)];
        records.push((dir, s.len()..s.len() + len));
        s.extend_from_slice(data);
        rest = &rest[5 + len..];
    }
    Capture {
        name: format!("{mode}/conn{conn}"),
        digests: mode == "digests",
        admin: conn == 0,
        streams,
        records,
    }
}

/// The receive limits of the C target's queues: 8 KiB in-capsule data on the admin queue, the
/// 16 KiB in-capsule size on I/O queues.
fn target_limits(admin: bool) -> Limits {
    Limits {
        max_incapsule: if admin { 8192 } else { 16384 },
        ..Limits::default()
    }
}

/// Returns how the host tracks a command it sent: from the SQE's data direction (the opcode's
/// low bits, FCTYPE's for a fabrics command) and the SGL's length.
fn command_state(c: &CapsuleCmd) -> CommandState {
    let op = if c.opcode() == FABRICS {
        c.sqe[4]
    } else {
        c.opcode()
    };
    let len = c.sgl_len();
    // In-capsule data is the whole transfer, described by an in-capsule SGL.
    assert!(
        c.data_len == 0 || c.data_len == len,
        "in-capsule {} of {len}",
        c.data_len
    );
    let want_sgl = if c.data_len > 0 {
        SGL_IN_CAPSULE
    } else {
        SGL_TRANSPORT
    };
    assert_eq!(c.sgl_type(), want_sgl, "SGL of {:x?}", c.sqe);
    match (op & 3, len) {
        (_, 0) => CommandState::NoData,
        (1, len) => CommandState::Write {
            len,
            // In-capsule data has been sent: nothing left to ask for.
            requested: c.data_len,
            r2ts: 0,
        },
        (2, len) => CommandState::Read { len, received: 0 },
        (d, _) => panic!("data direction {d} in {:x?}", c.sqe),
    }
}

/// Both drivers, kept up to date from the events of both receivers.
struct Model {
    host_cfg: HostConfig,
    target_cfg: TargetConfig,
    /// The host's commands: the host-role receiver's [`CommandTable`].
    host: Driver,
    /// The target's transfers: the target-role receiver's [`CommandTable`].
    target: Driver,
    /// The opcode of each command in flight, by CID.
    opcodes: HashMap<u16, u8>,
    host_params: Option<Params>,
    target_params: Option<Params>,
    /// The ICResp `target_cfg` built for the captured ICReq.
    icresp: Option<IcResp>,
}

/// A replay: both receivers, the model and the normalised events of each side.
struct Replay {
    target_rx: Receiver<SoftCrc32c>,
    host_rx: Receiver<SoftCrc32c>,
    model: Model,
    /// Events of the target-role receiver (bytes the host sent).
    target_evs: Vec<Ev>,
    /// Events of the host-role receiver (bytes the controller sent).
    host_evs: Vec<Ev>,
}

impl Replay {
    fn new(cap: &Capture) -> Self {
        Self {
            target_rx: Receiver::new(Role::Target, target_limits(cap.admin)),
            host_rx: Receiver::new(Role::Host, Limits::default()),
            model: Model {
                host_cfg: HostConfig {
                    hdgst: cap.digests,
                    ddgst: cap.digests,
                    maxr2t: 0,
                },
                target_cfg: TargetConfig::default(),
                host: Driver::default(),
                target: Driver::default(),
                opcodes: HashMap::new(),
                host_params: None,
                target_params: None,
                icresp: None,
            },
            target_evs: Vec::new(),
            host_evs: Vec::new(),
        }
    }

    /// Feeds one chunk to the receiver of direction `dir`, handling every event.
    fn feed(&mut self, dir: u8, mut input: &[u8]) {
        loop {
            let (ev, rest) = if dir == H2C {
                if self.target_rx.error().is_some() {
                    return;
                }
                self.target_rx.feed(input, &self.model.target)
            } else {
                if self.host_rx.error().is_some() {
                    return;
                }
                self.host_rx.feed(input, &self.model.host)
            };
            input = rest;
            if ev == Event::NeedMore {
                assert!(input.is_empty(), "NeedMore with input left");
                return;
            }
            if dir == H2C {
                let h = *self.target_rx.header();
                util::record(&mut self.target_evs, &ev, &h);
                self.target_event(&ev, &h);
            } else {
                let h = *self.host_rx.header();
                util::record(&mut self.host_evs, &ev, &h);
                self.host_event(&ev, &h);
            }
            if matches!(ev, Event::Fatal(_)) {
                return;
            }
        }
    }

    /// The target's driver: an event of the target-role receiver.
    fn target_event(&mut self, ev: &Event<'_>, h: &Header) {
        let m = &mut self.model;
        m.target.apply(ev, h);
        match *ev {
            Event::Header => {
                if let Pdu::CapsuleCmd(c) = h.pdu {
                    // The host sent it: it is in flight on the host's side now.
                    let state = command_state(&c);
                    let cid = c.cid();
                    assert_eq!(m.host.commands.insert(cid, state), None, "CID {cid} reused");
                    m.opcodes.insert(cid, c.opcode());
                }
            }
            Event::AwaitParams => {
                let Some(Pdu::IcReq(icreq)) = m.target.current.map(|h| h.pdu) else {
                    panic!("AwaitParams without an ICReq");
                };
                let (params, icresp) = m.target_cfg.accept_icreq(&icreq).expect("ICReq");
                m.target_params = Some(params);
                m.icresp = Some(icresp);
                self.target_rx.establish(params);
            }
            Event::DataEnd(_) => {
                if let Some(Pdu::H2CData(d)) = m.target.current.map(|h| h.pdu) {
                    let t = m.target.transfers[&d.ttag];
                    if t.next == t.end {
                        // The R2T is answered: the transfer is over on both sides.
                        m.target.transfers.remove(&d.ttag);
                        match m.host.commands.get_mut(&d.cccid) {
                            Some(CommandState::Write { r2ts, .. }) => *r2ts -= 1,
                            other => panic!("H2CData for {other:?}"),
                        }
                    }
                }
            }
            _ => {}
        }
    }

    /// The host's driver: an event of the host-role receiver.
    fn host_event(&mut self, ev: &Event<'_>, h: &Header) {
        let m = &mut self.model;
        m.host.apply(ev, h);
        match *ev {
            Event::Header => match h.pdu {
                Pdu::R2t(r) => {
                    // The target sent it for a transfer it now awaits.
                    let t = Transfer {
                        cccid: r.cccid,
                        next: r.r2to,
                        end: r.r2to + r.r2tl,
                    };
                    assert_eq!(m.target.transfers.insert(r.ttag, t), None, "TTAG reused");
                }
                Pdu::CapsuleResp(r) => {
                    m.opcodes.remove(&r.cid());
                    assert!(
                        !m.target.transfers.values().any(|t| t.cccid == r.cid()),
                        "CID {} completed with a transfer open",
                        r.cid()
                    );
                }
                _ => {}
            },
            Event::AwaitParams => {
                let Some(Pdu::IcResp(icresp)) = m.host.current.map(|h| h.pdu) else {
                    panic!("AwaitParams without an ICResp");
                };
                let params = m.host_cfg.accept_icresp(&icresp).expect("ICResp");
                m.host_params = Some(params);
                self.host_rx.establish(params);
            }
            _ => {}
        }
    }
}

/// How a capture is fed: direction and range of that direction's stream, in order.
type Plan = Vec<(u8, Range<usize>)>;

/// Replays `cap` fed as `plan` (direction and range of that direction's stream, in order).
fn replay(cap: &Capture, plan: &[(u8, Range<usize>)]) -> Replay {
    let mut r = Replay::new(cap);
    for (dir, range) in plan {
        r.feed(*dir, &cap.streams[usize::from(*dir)][range.clone()]);
    }
    r
}

/// The chunking of the capture: what the relay read from the sockets.
fn recorded(cap: &Capture) -> Replay {
    replay(cap, &cap.records)
}

/// Cuts each piece of `plan` into chunks of `size()` bytes.
fn split(plan: &[(u8, Range<usize>)], mut size: impl FnMut() -> usize) -> Plan {
    let mut out = Vec::new();
    for (dir, r) in plan {
        let mut at = r.start;
        while at < r.end {
            let end = (at + size().max(1)).min(r.end);
            out.push((*dir, at..end));
            at = end;
        }
    }
    out
}

/// Merges consecutive records of the same direction, as if the relay had read less often.
fn coalesce(plan: &[(u8, Range<usize>)]) -> Plan {
    let mut out: Plan = Vec::new();
    for (dir, r) in plan {
        match out.last_mut() {
            Some((d, last)) if d == dir && last.end == r.start => last.end = r.end,
            _ => out.push((*dir, r.clone())),
        }
    }
    out
}

fn headers(evs: &[Ev]) -> impl Iterator<Item = &Header> {
    evs.iter().filter_map(|e| match e {
        Ev::Header(h) => Some(h),
        _ => None,
    })
}

fn count(evs: &[Ev], t: PduType) -> usize {
    headers(evs).filter(|h| h.pdu.pdu_type() == t).count()
}

/// The CapsuleCmds in `evs` (the target side).
fn commands(evs: &[Ev]) -> Vec<CapsuleCmd> {
    headers(evs)
        .filter_map(|h| match h.pdu {
            Pdu::CapsuleCmd(c) => Some(c),
            _ => None,
        })
        .collect()
}

/// The data each command carried on one side (in-capsule and H2CData on the target side,
/// C2HData on the host side), by CID, in the order of their offsets.
fn data_by_cid(evs: &[Ev]) -> HashMap<u16, Vec<u8>> {
    let mut out: HashMap<u16, Vec<u8>> = HashMap::new();
    let mut cid = None;
    for ev in evs {
        match ev {
            Ev::Header(h) => {
                cid = match h.pdu {
                    Pdu::CapsuleCmd(c) => Some(c.cid()),
                    Pdu::H2CData(d) => Some(d.cccid),
                    Pdu::C2HData(d) => Some(d.cccid),
                    _ => None,
                }
            }
            Ev::Data { offset, bytes } => {
                let buf = out.entry(cid.expect("data of a command")).or_default();
                assert_eq!(buf.len(), *offset as usize, "data offsets");
                buf.extend_from_slice(bytes);
            }
            _ => {}
        }
    }
    out
}

/// Checks a replay in the recorded chunking: negotiation, flags, verdicts, counts, the command
/// tables at the end.
fn check(cap: &Capture, r: &Replay) {
    let name = &cap.name;
    for (side, evs) in [("target", &r.target_evs), ("host", &r.host_evs)] {
        if let Some(i) = evs.iter().position(|e| matches!(e, Ev::Fatal(_))) {
            let before = &evs[i.saturating_sub(3)..i];
            panic!("{name} {side}: {:?} after {before:?}", evs[i]);
        }
        let verdict = if cap.digests {
            DataDigest::Good
        } else {
            DataDigest::Absent
        };
        for e in evs.iter() {
            if let Ev::End(v) = e {
                assert_eq!(*v, verdict, "{name} {side}");
            }
        }
        // Each PDU with data is followed by its data and one verdict.
        let with_data = headers(evs).filter(|h| h.layout.data_len > 0).count();
        let ends = evs.iter().filter(|e| matches!(e, Ev::End(_))).count();
        assert_eq!(with_data, ends, "{name} {side}");
        assert!(with_data > 0, "{name} {side}");
        for h in headers(evs) {
            let flags = h.common.flags;
            if matches!(h.pdu, Pdu::IcReq(_) | Pdu::IcResp(_)) {
                assert_eq!(flags, Flags::EMPTY, "{name} {side}: {h:?}");
                continue;
            }
            assert_eq!(
                flags.contains(Flags::HDGSTF),
                cap.digests,
                "{name} {side}: {h:?}"
            );
            assert_eq!(h.layout.hdgst, cap.digests, "{name} {side}: {h:?}");
            let ddgst = cap.digests && h.layout.data_len > 0;
            assert_eq!(flags.contains(Flags::DDGSTF), ddgst, "{name} {side}: {h:?}");
            assert_eq!(h.layout.ddgst, ddgst, "{name} {side}: {h:?}");
            // The C drivers never pad (they ask for and grant PDA 0).
            assert_eq!(h.layout.pad, 0, "{name} {side}: {h:?}");
        }
        // The streams end on a PDU boundary.
        assert!(
            matches!(evs.last(), Some(Ev::End(_)))
                || matches!(evs.last(), Some(Ev::Header(h)) if h.layout.data_len == 0),
            "{name} {side}: ends inside a PDU"
        );
    }
    assert!(r.target_rx.offending_header().is_empty(), "{name}");
    assert!(r.host_rx.offending_header().is_empty(), "{name}");

    // Negotiation: both ICs are first, and are exactly what the crate builds and accepts.
    let t = &r.target_evs;
    let h = &r.host_evs;
    assert!(
        matches!(
            t[0],
            Ev::Header(Header {
                pdu: Pdu::IcReq(_),
                ..
            })
        ),
        "{name}"
    );
    assert_eq!(t[1], Ev::AwaitParams, "{name}");
    assert!(
        matches!(
            h[0],
            Ev::Header(Header {
                pdu: Pdu::IcResp(_),
                ..
            })
        ),
        "{name}"
    );
    assert_eq!(h[1], Ev::AwaitParams, "{name}");
    let m = &r.model;
    assert_eq!(
        cap.streams[0][..128],
        m.host_cfg.icreq().to_bytes(),
        "{name} ICReq"
    );
    let icresp = m.icresp.expect("ICResp built");
    assert_eq!(cap.streams[1][..128], icresp.to_bytes(), "{name} ICResp");
    let params = m.host_params.expect("host params");
    assert_eq!(Some(params), m.target_params, "{name}");
    assert_eq!((params.hdgst, params.ddgst), (cap.digests, cap.digests));
    assert_eq!((params.hpda, params.cpda, params.maxr2t), (0, 0, 0));
    assert_eq!(params.maxh2cdata, 0x40_0000, "{name}");

    // Counts.
    for evs in [t, h] {
        assert_eq!(count(evs, PduType::H2CTermReq), 0, "{name}");
        assert_eq!(count(evs, PduType::C2HTermReq), 0, "{name}");
    }
    assert_eq!(count(t, PduType::IcReq), 1, "{name}");
    assert_eq!(count(h, PduType::IcResp), 1, "{name}");
    let cmds = commands(t);
    let resps = count(h, PduType::CapsuleResp);
    let in_capsule: Vec<&CapsuleCmd> = cmds.iter().filter(|c| c.data_len > 0).collect();
    // The Connect command carries its 1024-byte data in the capsule.
    let connect = cmds[0];
    assert_eq!(
        (connect.opcode(), connect.sqe[4]),
        (FABRICS, 0x01),
        "{name}"
    );
    assert_eq!(connect.data_len, 1024, "{name}");
    if cap.admin {
        assert!(cmds.len() >= 10, "{name}: {} commands", cmds.len());
        assert!(resps >= 10, "{name}: {resps} responses");
        assert_eq!(in_capsule.len(), 1, "{name}");
        assert!(count(h, PduType::C2HData) >= 3, "{name}");
        assert_eq!(count(h, PduType::R2t), 0, "{name}");
        assert_eq!(count(t, PduType::H2CData), 0, "{name}");
    } else {
        assert!(cmds.len() >= 5, "{name}: {} commands", cmds.len());
        assert_eq!(resps, cmds.len(), "{name}");
        assert!(in_capsule.len() >= 2, "{name}");
        assert!(count(h, PduType::R2t) >= 1, "{name}");
        assert!(count(t, PduType::H2CData) >= 1, "{name}");
        assert!(count(h, PduType::C2HData) >= 2, "{name}");
    }
    // Every command succeeded (status without the phase bit).
    for hd in headers(h) {
        if let Pdu::CapsuleResp(c) = hd.pdu {
            assert_eq!(c.status() >> 1, 0, "{name}: {c:?}");
        }
    }

    // At the end only asynchronous event requests are in flight, and no transfer is open.
    let mut left: Vec<u8> = m.opcodes.values().copied().collect();
    left.sort_unstable();
    if cap.admin {
        assert!(left.iter().all(|&o| o == ASYNC_EVENT), "{name}: {left:x?}");
    } else {
        assert!(left.is_empty(), "{name}: {left:x?}");
    }
    assert_eq!(m.host.commands.len(), left.len(), "{name}");
    assert!(m.target.transfers.is_empty(), "{name}");
}

/// Returns the byte range an NVM read or write covers on the namespace: from SLBA and NLB, with
/// the block size from the SGL's length.
fn byte_range(c: &CapsuleCmd) -> Range<u64> {
    let slba = u64::from_le_bytes(c.sqe[40..48].try_into().unwrap());
    let blocks = u64::from(u16::from_le_bytes([c.sqe[48], c.sqe[49]])) + 1;
    let len = u64::from(c.sgl_len());
    assert_eq!(len % blocks, 0, "{c:x?}");
    let block = len / blocks;
    slba * block..(slba + blocks) * block
}

/// The I/O queue: what the host wrote in the 64 KiB write (H2CData) is what it read back (C2HData),
/// and the 4 KiB in-capsule write is the start of the same pattern.
fn check_read_back(cap: &Capture, r: &Replay) {
    let name = &cap.name;
    let cmds = commands(&r.target_evs);
    let find = |op: u8, len: u32| -> CapsuleCmd {
        let found: Vec<&CapsuleCmd> = cmds
            .iter()
            .filter(|c| c.opcode() == op && c.sgl_len() == len)
            .collect();
        assert_eq!(found.len(), 1, "{name}: opcode {op:#x}, {len} bytes");
        *found[0]
    };
    let small = find(WRITE, 4096);
    let write = find(WRITE, 65536);
    let read = find(READ, 65536);
    assert_eq!(small.data_len, 4096, "{name}: in-capsule");
    assert_eq!(write.data_len, 0, "{name}: R2T");
    // Both use SLBA 0 and the same 128 blocks.
    let (w, rd) = (byte_range(&write), byte_range(&read));
    assert_eq!(w, 0..65536, "{name}: {:x?}", write.sqe);
    assert_eq!(rd, w, "{name}: {:x?}", read.sqe);

    let sent = data_by_cid(&r.target_evs);
    let received = data_by_cid(&r.host_evs);
    let written = &sent[&write.cid()];
    let read_back = &received[&read.cid()];
    assert_eq!(written.len(), 65536, "{name}");
    assert_eq!(read_back.len(), 65536, "{name}");
    let first_diff = written.iter().zip(read_back).position(|(a, b)| a != b);
    assert_eq!(first_diff, None, "{name}: read back differs");
    // Random data, not zeros (the ramdisk's content before the writes).
    assert!(written.iter().filter(|&&b| b == 0).count() < 1024, "{name}");
    // The H2CData came in answer to an R2T for the whole command.
    let r2ts: Vec<R2t> = headers(&r.host_evs)
        .filter_map(|h| match h.pdu {
            Pdu::R2t(x) => Some(x),
            _ => None,
        })
        .collect();
    assert!(
        r2ts.iter().all(|x| x.cccid == write.cid()),
        "{name}: {r2ts:?}"
    );
    assert_eq!(r2ts.iter().map(|x| x.r2tl).sum::<u32>(), 65536, "{name}");
    // dd wrote the same pattern file twice: 4 KiB, then 64 KiB, both at LBA 0.
    assert_eq!(byte_range(&small), 0..4096, "{name}");
    assert_eq!(
        sent[&small.cid()][..],
        written[..4096],
        "{name}: in-capsule data"
    );
}

/// Replays `cap` re-chunked in several ways and checks the events are those of the recorded
/// chunking.
fn check_rechunked(cap: &Capture) {
    let reference = recorded(cap);
    check(cap, &reference);
    let rec = &cap.records;
    let mut plans: Vec<(String, Plan)> = vec![
        ("coalesced".into(), coalesce(rec)),
        ("one byte at a time".into(), split(rec, || 1)),
    ];
    for (i, max) in [3usize, 29, 200, 1448, 9000].into_iter().enumerate() {
        let mut rng = Rng(0x5eed_0000_0000_0001 + i as u64);
        plans.push((
            format!("random up to {max}"),
            split(rec, || 1 + rng.below(max)),
        ));
    }
    let mut rng = Rng(0x5eed_c0a1_e5ce);
    plans.push((
        "coalesced, random up to 70000".into(),
        split(&coalesce(rec), || 1 + rng.below(70000)),
    ));
    for (what, plan) in &plans {
        let total: usize = plan.iter().map(|(_, r)| r.len()).sum();
        assert_eq!(total, cap.streams[0].len() + cap.streams[1].len());
        let got = replay(cap, plan);
        assert!(
            got.target_evs == reference.target_evs,
            "{} {what}: target events differ",
            cap.name
        );
        assert!(
            got.host_evs == reference.host_evs,
            "{} {what}: host events differ",
            cap.name
        );
    }
}

#[test]
fn plain_admin_queue() {
    let cap = load("plain", 0);
    check(&cap, &recorded(&cap));
}

#[test]
fn digests_admin_queue() {
    let cap = load("digests", 0);
    check(&cap, &recorded(&cap));
}

#[test]
fn plain_io_queue() {
    let cap = load("plain", 1);
    let r = recorded(&cap);
    check(&cap, &r);
    check_read_back(&cap, &r);
}

#[test]
fn digests_io_queue() {
    let cap = load("digests", 1);
    let r = recorded(&cap);
    check(&cap, &r);
    check_read_back(&cap, &r);
}

#[test]
fn plain_admin_queue_rechunked() {
    check_rechunked(&load("plain", 0));
}

#[test]
fn digests_admin_queue_rechunked() {
    check_rechunked(&load("digests", 0));
}

#[test]
fn plain_io_queue_rechunked() {
    check_rechunked(&load("plain", 1));
}

#[test]
fn digests_io_queue_rechunked() {
    check_rechunked(&load("digests", 1));
}
