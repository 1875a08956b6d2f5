//! Fuzzing at volume (`--flood`): many connections, each a long legal but unusual stream, with
//! mutations mixed in.
//!
//! Every thread keeps its own controller (an admin queue with keep-alive off) and opens I/O
//! queues on it one after the other. On each, it runs rounds of up to 16 pipelined commands:
//! reads, writes with in-capsule data, and writes whose R2T it answers with many H2CData PDUs
//! of random sizes (down to a few bytes), optionally padded (PDO beyond the header), the whole
//! sent in random pieces, with the digests the connection drew. One command in
//! `sqe_mutation` has random bytes of its SQE changed (any answer but a hang is fine). A
//! connection ends after its rounds either cleanly or with a damaged batch (flipped bits,
//! rewritten lengths, truncated or duplicated pieces), after which the target may close it.
//!
//! The counts are honest: a PDU is counted as delivered only once the target answered what it
//! belongs to (the ICResp for an ICReq, the CQE for a capsule and the H2CData of its write), so
//! a PDU still in a socket buffer when the connection died is not. The PDUs of damaged batches
//! are counted apart, as written. A legal command that fails, or a legal stream the target
//! ends, is an error.

use std::net::Shutdown;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nvme_tcp_pdu::{CapsuleCmd, Pdu};

use crate::{connect_data, connect_sqe, h2c, io_sqe, Conn, Ctx, Rng};

/// Blocks of the hostile namespace the flood writes to (16 MiB: the test's RAM disk is 32).
const LBAS: u64 = 32 << 11;

/// What the flood is asked to do.
#[derive(Clone, Copy)]
pub struct Opts {
    /// Parallel connections (each with its own controller).
    pub threads: usize,
    /// Stop after this long.
    pub seconds: u64,
    /// Stop once this many PDUs were delivered and written.
    pub pdus: u64,
    /// Pad H2CData PDUs (PDO beyond the header), for targets that honour PDO.
    pub pad: bool,
    /// Ask for data digests on some queues (the C target checks each H2CData's digest against
    /// the whole command's data, so it fails writes sent in several H2CData with them).
    pub ddgst: bool,
    /// One command in this many gets a random SQE (0: none).
    pub sqe_mutation: usize,
    /// Most rounds on one connection.
    pub rounds: usize,
    pub seed: u64,
}

/// The counters every thread adds to.
#[derive(Default)]
struct Counts {
    /// ICReqs answered by an ICResp.
    icreq: AtomicU64,
    /// Capsules answered by a CQE (Connects included).
    capsule: AtomicU64,
    /// H2CData PDUs of writes that completed.
    h2c: AtomicU64,
    /// Of those capsules, commands whose SQE was mutated.
    mutated_sqe: AtomicU64,
    /// Connections the mutated commands cost (the target ended them).
    mutated_sqe_fatal: AtomicU64,
    /// Damaged batches written, and the PDUs in them.
    damaged: AtomicU64,
    damaged_pdus: AtomicU64,
    /// Damaged batches the target answered with a well-formed C2HTermReq.
    damaged_term: AtomicU64,
    /// I/O connections set up.
    conns: AtomicU64,
    /// Controllers set up.
    ctrls: AtomicU64,
    /// Errors in legal streams (each is printed, the first few).
    errors: AtomicU64,
}

impl Counts {
    fn delivered(&self) -> u64 {
        self.icreq.load(Relaxed) + self.capsule.load(Relaxed) + self.h2c.load(Relaxed)
    }

    fn total(&self) -> u64 {
        self.delivered() + self.damaged_pdus.load(Relaxed)
    }

    fn error(&self, what: String) {
        if self.errors.fetch_add(1, Relaxed) < 10 {
            println!("flood error: {what}");
        }
    }
}

/// One command of a round.
#[derive(Clone, Copy)]
struct Cmd {
    cid: u16,
    /// PDUs counted once it completes (its capsule and H2CData).
    pdus: u64,
    h2c: u64,
    mutated: bool,
    done: bool,
}

/// Runs the flood; returns whether no legal stream failed and the target still serves.
pub fn run(ctx: &Ctx, o: &Opts) -> bool {
    let counts = Arc::new(Counts::default());
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let deadline = start + Duration::from_secs(o.seconds);
    let threads: Vec<_> = (0..o.threads)
        .map(|t| {
            let ctx = Ctx {
                target: ctx.target.clone(),
                subnqn: ctx.subnqn.clone(),
                timeout: ctx.timeout,
            };
            let counts = Arc::clone(&counts);
            let stop = Arc::clone(&stop);
            let o = *o;
            std::thread::spawn(move || {
                let mut rng = Rng(o.seed.wrapping_mul(0x9e37_79b9).wrapping_add(t as u64) | 1);
                worker(&ctx, &o, &counts, &stop, deadline, &mut rng);
            })
        })
        .collect();
    // Progress, and the stop once enough was sent.
    let mut last = Instant::now();
    while threads.iter().any(|t| !t.is_finished()) {
        std::thread::sleep(Duration::from_millis(100));
        if counts.total() >= o.pdus || Instant::now() >= deadline {
            stop.store(true, Relaxed);
        }
        if last.elapsed() >= Duration::from_secs(30) {
            last = Instant::now();
            println!(
                "flood: {} s, {} PDUs delivered, {} in damaged batches",
                start.elapsed().as_secs(),
                counts.delivered(),
                counts.damaged_pdus.load(Relaxed)
            );
        }
    }
    for t in threads {
        let _ = t.join();
    }
    let secs = start.elapsed().as_secs_f64();
    let c = &*counts;
    let l = |a: &AtomicU64| a.load(Relaxed);
    println!(
        "flood: {} PDUs in {secs:.1} s ({:.0} PDUs/s): {} delivered (ICReq {}, capsules {}, \
         H2CData {}; {} of the capsules with a random SQE, which ended {} connections), {} in {} \
         damaged batches ({} answered by a C2HTermReq); {} I/O connections on {} controllers; \
         {} errors",
        c.total(),
        c.total() as f64 / secs,
        c.delivered(),
        l(&c.icreq),
        l(&c.capsule),
        l(&c.h2c),
        l(&c.mutated_sqe),
        l(&c.mutated_sqe_fatal),
        l(&c.damaged_pdus),
        l(&c.damaged),
        l(&c.damaged_term),
        l(&c.conns),
        l(&c.ctrls),
        l(&c.errors),
    );
    // The target still serves a new controller.
    let serves = ctx
        .ic(false, false)
        .and_then(|mut a| a.connect(&ctx.subnqn, 0));
    if let Err(e) = &serves {
        println!("flood: the target no longer serves: {e}");
    }
    l(&c.errors) == 0 && serves.is_ok()
}

/// An admin queue with keep-alive off (the flood may leave it idle), enabled.
fn admin(ctx: &Ctx, counts: &Counts) -> Result<Conn, String> {
    let mut a = ctx.ic(false, false)?;
    let mut sqe = connect_sqe(0, 1024, 0x01);
    sqe[2] = 1;
    sqe[48..52].copy_from_slice(&0u32.to_le_bytes());
    a.capsule(sqe, &connect_data(0xffff, &ctx.subnqn))
        .map_err(|e| e.to_string())?;
    a.connected(0)?;
    a.enable()?;
    counts.ctrls.fetch_add(1, Relaxed);
    counts.icreq.fetch_add(1, Relaxed);
    counts.capsule.fetch_add(2, Relaxed);
    Ok(a)
}

fn worker(
    ctx: &Ctx,
    o: &Opts,
    counts: &Counts,
    stop: &AtomicBool,
    deadline: Instant,
    rng: &mut Rng,
) {
    let mut ctrl: Option<Conn> = None;
    let mut refused = 0;
    while !stop.load(Relaxed) && Instant::now() < deadline {
        let a = match &ctrl {
            Some(a) => a,
            None => match admin(ctx, counts) {
                Ok(a) => ctrl.insert(a),
                Err(e) => {
                    counts.error(format!("admin queue: {e}"));
                    std::thread::sleep(Duration::from_millis(500));
                    continue;
                }
            },
        };
        let cntlid = a.cntlid;
        let digests = rng.below(4) & if o.ddgst { 3 } else { 1 };
        let mut io = match ctx.ic(digests & 1 != 0, digests & 2 != 0) {
            Ok(c) => c,
            Err(e) => {
                counts.error(format!("ICReq: {e}"));
                std::thread::sleep(Duration::from_millis(500));
                continue;
            }
        };
        counts.icreq.fetch_add(1, Relaxed);
        io.cntlid = cntlid;
        if io.connect(&ctx.subnqn, 1).is_err() {
            // The previous I/O queue is still being released, or a fatal error took the
            // controller down (the C target does that): try again, then with a new controller.
            refused += 1;
            if refused >= 10 {
                ctrl = None;
                refused = 0;
            }
            std::thread::sleep(Duration::from_millis(50));
            continue;
        }
        refused = 0;
        counts.capsule.fetch_add(1, Relaxed);
        counts.conns.fetch_add(1, Relaxed);
        let rounds = 1 + rng.below(o.rounds);
        let mut alive = true;
        for _ in 0..rounds {
            if stop.load(Relaxed) || Instant::now() >= deadline {
                break;
            }
            match round(&mut io, o, counts, rng) {
                Ok(()) => {}
                Err((mutated, e)) => {
                    if mutated {
                        counts.mutated_sqe_fatal.fetch_add(1, Relaxed);
                    } else {
                        counts.error(e);
                    }
                    alive = false;
                    break;
                }
            }
        }
        if alive && rng.below(2) == 0 {
            damaged(&mut io, counts, rng, ctx.timeout);
        } else {
            let _ = io.s.shutdown(Shutdown::Both);
        }
    }
}

/// Splits `len` bytes into pieces: many tiny ones, a few large ones, or one.
fn pieces(len: u32, rng: &mut Rng) -> Vec<u32> {
    let max = match rng.below(4) {
        0 => 1 + rng.below(64) as u32,
        1 => 1 + rng.below(1024) as u32,
        2 => 1 + rng.below(len as usize) as u32,
        _ => len,
    };
    let mut out = Vec::new();
    let mut left = len;
    while left > 0 {
        // At most 256 pieces per R2T: the rest goes in the last.
        let n = if out.len() == 255 {
            left
        } else {
            (1 + rng.below(max as usize) as u32).min(left)
        };
        out.push(n);
        left -= n;
    }
    out
}

/// Sends `b` in random pieces.
fn send_pieces(c: &mut Conn, b: &[u8], rng: &mut Rng) -> std::io::Result<()> {
    let mut at = 0;
    while at < b.len() {
        let k = match rng.below(3) {
            0 => 1 + rng.below(64),
            1 => 1 + rng.below(4096),
            _ => b.len(),
        }
        .min(b.len() - at);
        c.send(&b[at..at + k])?;
        at += k;
    }
    Ok(())
}

/// Changes 1 to 4 random bytes of the SQE (never the command identifier).
fn mutate_sqe(sqe: &mut [u8; 64], rng: &mut Rng) {
    const FIELDS: [usize; 13] = [0, 1, 4, 5, 24, 32, 33, 34, 39, 40, 44, 48, 52];
    for _ in 0..1 + rng.below(4) {
        let at = FIELDS[rng.below(FIELDS.len())] + rng.below(4);
        if at != 2 && at != 3 {
            sqe[at] = rng.next() as u8;
        }
    }
}

/// One round: up to 16 commands in one send; returns once every one completed. `Err((true,
/// _))`: the target ended the connection with a mutated command in flight.
fn round(io: &mut Conn, o: &Opts, counts: &Counts, rng: &mut Rng) -> Result<(), (bool, String)> {
    let n = 1 + rng.below(16);
    let mut cmds = Vec::with_capacity(n);
    let mut out = Vec::new();
    for i in 0..n {
        let cid = 0x100 + i as u16;
        let blocks = 1 + rng.below(64) as u16;
        let slba = rng.next() % (LBAS - 64);
        let (mut sqe, data) = match rng.below(3) {
            0 => (
                io_sqe(0x02, cid, blocks, 0x5a, u32::from(blocks) * 512),
                Vec::new(),
            ),
            1 => {
                let blocks = blocks.min(8);
                let len = u32::from(blocks) * 512;
                let fill = rng.next() as u8;
                (
                    io_sqe(0x01, cid, blocks, 0x01, len),
                    vec![fill; len as usize],
                )
            }
            _ => (
                io_sqe(0x01, cid, blocks, 0x5a, u32::from(blocks) * 512),
                Vec::new(),
            ),
        };
        sqe[40..48].copy_from_slice(&slba.to_le_bytes());
        let mutated = o.sqe_mutation > 0 && rng.below(o.sqe_mutation) == 0;
        if mutated {
            mutate_sqe(&mut sqe, rng);
        }
        out.extend(io.pdu(
            &Pdu::CapsuleCmd(CapsuleCmd {
                sqe,
                data_len: data.len() as u32,
            }),
            &data,
        ));
        cmds.push(Cmd {
            cid,
            pdus: 1,
            h2c: 0,
            mutated,
            done: false,
        });
    }
    let any_mutated = cmds.iter().any(|c| c.mutated);
    let fail = |e: String| (any_mutated, e);
    send_pieces(io, &out, rng).map_err(|e| fail(format!("send: {e}")))?;
    let mut left = n;
    while left > 0 {
        let rx = match io.recv() {
            Ok(Some(rx)) => rx,
            Ok(None) => return Err(fail("the target closed a legal stream".into())),
            Err(g) => return Err(fail(format!("the target answered {g:?}"))),
        };
        let b = &rx.bytes;
        let cid_at = |at: usize| u16::from_le_bytes([b[at], b[at + 1]]);
        let find = |cmds: &mut Vec<Cmd>, cid: u16| cmds.iter_mut().position(|c| c.cid == cid);
        match rx.ty {
            // R2T: answer it with H2CData in pieces.
            0x09 if b.len() >= 24 => {
                let cccid = cid_at(8);
                let ttag = cid_at(10);
                let r2to = u32::from_le_bytes([b[12], b[13], b[14], b[15]]);
                let r2tl = u32::from_le_bytes([b[16], b[17], b[18], b[19]]);
                let Some(k) = find(&mut cmds, cccid) else {
                    return Err(fail(format!("R2T for unknown cid {cccid:#x}")));
                };
                if r2tl == 0 || r2tl > 4 << 20 {
                    return Err(fail(format!("R2T of {r2tl} bytes")));
                }
                let mut framing = io.framing;
                let mut data = Vec::new();
                let mut at = r2to;
                let ps = pieces(r2tl, rng);
                for (j, &len) in ps.iter().enumerate() {
                    if o.pad {
                        framing.pda = rng.below(8) as u8;
                    }
                    let saved = std::mem::replace(&mut io.framing, framing);
                    data.extend(h2c(
                        io,
                        cccid,
                        ttag,
                        at,
                        &vec![cccid as u8; len as usize],
                        j + 1 == ps.len(),
                    ));
                    io.framing = saved;
                    at += len;
                }
                cmds[k].pdus += ps.len() as u64;
                cmds[k].h2c += ps.len() as u64;
                send_pieces(io, &data, rng).map_err(|e| fail(format!("send: {e}")))?;
            }
            0x07 if b[1] & 0x08 != 0 => {
                if let Some(k) = find(&mut cmds, cid_at(8)) {
                    if !cmds[k].done {
                        cmds[k].done = true;
                        left -= 1;
                    }
                }
            }
            0x07 => {}
            0x05 if b.len() >= 24 => {
                let cid = cid_at(20);
                let status = cid_at(22) >> 1;
                let Some(k) = find(&mut cmds, cid) else {
                    return Err(fail(format!("CQE for unknown cid {cid:#x}")));
                };
                if status != 0 && !cmds[k].mutated {
                    counts.error(format!("a legal command failed: status {status:#x}"));
                }
                if !cmds[k].done {
                    cmds[k].done = true;
                    left -= 1;
                }
            }
            t => return Err(fail(format!("unexpected PDU type {t:#x}"))),
        }
    }
    for c in &cmds {
        counts.capsule.fetch_add(1, Relaxed);
        counts.h2c.fetch_add(c.h2c, Relaxed);
        if c.mutated {
            counts.mutated_sqe.fetch_add(1, Relaxed);
        }
        debug_assert!(c.pdus == 1 + c.h2c);
    }
    Ok(())
}

/// Ends a connection with a damaged batch: in-capsule writes, reads, and H2CData for a TTAG
/// nobody asked for, then bits flipped, a length rewritten, a piece cut or repeated.
fn damaged(io: &mut Conn, counts: &Counts, rng: &mut Rng, timeout: Duration) {
    let mut out = Vec::new();
    let n = 1 + rng.below(8);
    for i in 0..n {
        let cid = 0x200 + i as u16;
        match rng.below(3) {
            0 => out.extend(io.pdu(
                &Pdu::CapsuleCmd(CapsuleCmd {
                    sqe: io_sqe(0x01, cid, 1, 0x01, 512),
                    data_len: 512,
                }),
                &[0x42; 512],
            )),
            1 => out.extend(io.pdu(
                &Pdu::CapsuleCmd(CapsuleCmd {
                    sqe: io_sqe(0x02, cid, 8, 0x5a, 4096),
                    data_len: 0,
                }),
                &[],
            )),
            _ => out.extend(h2c(io, cid, rng.below(64) as u16, 0, &[0x24; 512], true)),
        }
    }
    for _ in 0..1 + rng.below(4) {
        let len = out.len();
        if len < 8 {
            break;
        }
        match rng.below(4) {
            0 => {
                let at = rng.below(len);
                out[at] ^= 1 << rng.below(8);
            }
            1 => {
                let at = rng.below(len - 4);
                let v = rng.next() as u32;
                out[at..at + 4].copy_from_slice(&v.to_le_bytes());
            }
            2 => out.truncate(1 + rng.below(len - 1)),
            _ => {
                let a = rng.below(len);
                let b = (a + rng.below(200)).min(len);
                let chunk = out[a..b].to_vec();
                out.splice(b..b, chunk);
            }
        }
    }
    if send_pieces(io, &out, rng).is_err() {
        return;
    }
    counts.damaged.fetch_add(1, Relaxed);
    counts.damaged_pdus.fetch_add(n as u64, Relaxed);
    let _ = io.s.shutdown(Shutdown::Write);
    // Drain whatever comes back until the target closes.
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        match io.recv() {
            Ok(Some(rx)) if rx.ty == 0x03 => {
                let fes = u16::from_le_bytes([rx.bytes[8], rx.bytes[9]]);
                if rx.bytes.len() < 24 || rx.bytes.len() > 152 || !(1..=6).contains(&fes) {
                    counts.error(format!("a malformed C2HTermReq (FES {fes:#x})"));
                } else {
                    counts.damaged_term.fetch_add(1, Relaxed);
                }
            }
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => break,
        }
    }
    let _ = io.s.shutdown(Shutdown::Both);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_add_up() {
        let mut rng = Rng(7);
        for len in [1, 2, 511, 512, 4096, 32768, 1 << 20] {
            for _ in 0..50 {
                let p = pieces(len, &mut rng);
                assert_eq!(p.iter().sum::<u32>(), len);
                assert!(p.iter().all(|&n| n > 0));
                assert!(p.len() <= 256);
            }
        }
    }

    #[test]
    fn mutated_sqe_keeps_its_cid() {
        let mut rng = Rng(3);
        for _ in 0..1000 {
            let mut sqe = io_sqe(0x01, 0x1234, 8, 0x5a, 4096);
            mutate_sqe(&mut sqe, &mut rng);
            assert_eq!(u16::from_le_bytes([sqe[2], sqe[3]]), 0x1234);
        }
    }
}
