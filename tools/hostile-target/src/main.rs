//! hostile-target: a misbehaving NVMe/TCP target for testing hosts.
//!
//! It is a man in the middle: a host connects to it, and it forwards each connection to a real
//! target PDU by PDU, in both directions, decoding every PDU with the project's PDU crate. It
//! knows what each connection negotiated (digests, alignment) and which commands are in flight
//! (their data length and direction), so it can forge PDUs that are wrong relative to a
//! request: a C2HData past the end of its read, an R2T outside its write, a response for a
//! command that does not exist. One case at a time, it damages one target-to-host PDU of one
//! connection, watches what the host does on that connection (an H2CTermReq and its FES/FEI,
//! closing, or carrying on) and waits for the host to come back (a new admin queue whose
//! Connect succeeds, then I/O completing) before the next case. Everything else passes through,
//! so the host's workload (fio with verify in the VM test) must finish with no error.
//!
//! ```text
//! hostile-target --listen ADDR:PORT --target ADDR:PORT [--case NAME]... [--mutate N --seed S]
//!                [--require-term-req] [--timeout S] [--hold S] [--list]
//! ```
//!
//! One line per case (`PASS`, `FAIL` or `SKIP`, what was injected, what the host did), then
//! `DONE p passed, f failed, s skipped`. The proxy then keeps forwarding until the host has
//! closed every connection (`nvme disconnect`), and exits 0 iff no case failed.
//!
//! `--reshape` rewrites every target-to-host PDU it may into a legal but unusual equivalent
//! ([`reshape`]: C2HData in many pieces, optionally padded with `--pad`; R2Ts asked in parts;
//! CapsuleResps with another SQHD), and counts the PDUs delivered; `--flood N` keeps going
//! (after the cases) until N PDUs were written to the host or `--flood-seconds S` passed, and
//! the last line, once the host has gone, is `FLOOD ...` with the counts.

mod cases;
mod forge;
mod proxy;
mod reshape;

use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use cases::{Case, Expect, Reaction};
use proxy::Proxy;

/// Command-line options.
struct Options {
    listen: SocketAddr,
    target: SocketAddr,
    names: Vec<String>,
    mutate: usize,
    seed: u64,
    require_term: bool,
    /// How long each step of a case may take (finding a PDU, the reaction, the return).
    timeout: Duration,
    /// How long a connection must stay up after an error that is not fatal.
    hold: Duration,
    /// I/O completions that count as "I/O flows again".
    io_after: u64,
    reshape: Option<proxy::Reshape>,
    /// PDUs to write to the host after the cases (with `reshape`), and the time limit.
    flood: u64,
    flood_time: Duration,
}

const USAGE: &str = "usage: hostile-target --listen ADDR:PORT --target ADDR:PORT [--case NAME]... \
[--mutate N --seed S] [--require-term-req] [--timeout S] [--hold S] [--list] \
[--reshape [--pad] [--flood N [--flood-seconds S]]]";

fn usage() -> ! {
    eprintln!("{USAGE}");
    std::process::exit(2);
}

fn addr(v: Option<String>) -> SocketAddr {
    v.and_then(|v| v.to_socket_addrs().ok()?.next())
        .unwrap_or_else(|| usage())
}

fn number<T: std::str::FromStr>(v: Option<String>) -> T {
    v.and_then(|v| v.parse().ok()).unwrap_or_else(|| usage())
}

/// The result of one case.
enum Outcome {
    Pass,
    Fail,
    Skip,
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut listen = None;
    let mut target = None;
    let mut names = Vec::new();
    let mut mutate = 0;
    let mut seed = 1;
    let mut require_term = false;
    let mut timeout = 60;
    let mut hold = 3;
    let mut list = false;
    let mut reshape = false;
    let mut pad = false;
    let mut flood = 0;
    let mut flood_seconds = 600;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--listen" => listen = Some(addr(args.next())),
            "--target" => target = Some(addr(args.next())),
            "--case" => names.push(args.next().unwrap_or_else(|| usage())),
            "--mutate" => mutate = number(args.next()),
            "--seed" => seed = number(args.next()),
            "--require-term-req" => require_term = true,
            "--timeout" => timeout = number(args.next()),
            "--hold" => hold = number(args.next()),
            "--list" => list = true,
            "--reshape" => reshape = true,
            "--pad" => pad = true,
            "--flood" => flood = number(args.next()),
            "--flood-seconds" => flood_seconds = number(args.next()),
            _ => usage(),
        }
    }
    if list {
        for c in cases::all() {
            let only = if c.named_only {
                " (only when named)"
            } else {
                ""
            };
            println!("{}: {:?}, needs {:?}{only}", c.name, c.expect, c.needs);
        }
        println!("mutate-N (--mutate N --seed S): {:?}", Expect::Any);
        return;
    }
    let (Some(listen), Some(target)) = (listen, target) else {
        usage()
    };
    let opts = Options {
        listen,
        target,
        names,
        mutate,
        seed,
        require_term,
        timeout: Duration::from_secs(timeout),
        hold: Duration::from_secs(hold),
        io_after: 8,
        reshape: reshape.then_some(proxy::Reshape { pad, seed }),
        flood,
        flood_time: Duration::from_secs(flood_seconds),
    };
    std::process::exit(run(&opts));
}

/// Picks the cases: the named ones, or every case not marked named-only (none with `--flood`);
/// then the mutations.
fn select(opts: &Options) -> Vec<(Case, bool)> {
    let all = cases::all();
    let mut chosen = Vec::new();
    if opts.names.is_empty() && opts.flood > 0 {
        // A flood alone: only the cases named.
    } else if opts.names.is_empty() {
        chosen.extend(
            all.into_iter()
                .filter(|c| !c.named_only)
                .map(|c| (c, false)),
        );
    } else {
        for n in &opts.names {
            match all.iter().find(|c| &c.name == n) {
                Some(c) => chosen.push((c.clone(), true)),
                None => {
                    eprintln!("hostile-target: no case {n} (see --list)");
                    std::process::exit(2);
                }
            }
        }
    }
    chosen.extend(
        cases::mutations(opts.mutate, opts.seed)
            .into_iter()
            .map(|c| (c, opts.mutate > 0 && !opts.names.is_empty())),
    );
    chosen
}

/// Runs the proxy and the cases; returns the exit status.
fn run(opts: &Options) -> i32 {
    let chosen = select(opts);
    let listener = match TcpListener::bind(opts.listen) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("hostile-target: cannot listen on {}: {e}", opts.listen);
            return 2;
        }
    };
    let proxy = Proxy::with_reshape(opts.target, opts.reshape);
    let start = Instant::now();
    let p = Arc::clone(&proxy);
    thread::spawn(move || p.serve(listener));
    println!(
        "hostile-target: {} -> {}, {} cases",
        opts.listen,
        opts.target,
        chosen.len()
    );
    let (s, up) = proxy.wait_until(opts.timeout, |s| {
        s.generation >= 1 && s.gen_io >= opts.io_after
    });
    drop(s);
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    if !up {
        println!(
            "FAIL start: no host connected and did I/O within {:?}",
            opts.timeout
        );
        failed += 1;
    } else {
        for (case, named) in &chosen {
            match run_case(&proxy, opts, case, *named) {
                Outcome::Pass => passed += 1,
                Outcome::Fail => failed += 1,
                Outcome::Skip => skipped += 1,
            }
        }
    }
    if up && opts.reshape.is_some() && opts.flood > 0 {
        flood(&proxy, opts, start);
    }
    println!("DONE {passed} passed, {failed} failed, {skipped} skipped");
    // Keep forwarding until the host has gone (it disconnects once its workload is done).
    loop {
        let (s, _) = proxy.wait_until(Duration::from_secs(1), |s| s.conns.is_empty());
        if s.conns.is_empty() {
            break;
        }
    }
    if opts.reshape.is_some() {
        let s = proxy.lock();
        let r = s.reshaped;
        let secs = start.elapsed().as_secs_f64();
        println!(
            "FLOOD delivered={} in {secs:.1} s ({:.0} PDUs/s): {} C2HData split into {} pieces, \
             {} R2Ts asked in {} parts, {} CapsuleResps with another SQHD; {} written in all",
            r.delivered,
            r.delivered as f64 / secs,
            r.c2h,
            r.c2h_pieces,
            r.r2t,
            r.r2t_parts,
            r.sqhd,
            s.written(),
        );
    }
    i32::from(failed > 0)
}

/// Keeps reshaping until `opts.flood` PDUs were written to the host or the time is up.
fn flood(proxy: &Proxy, opts: &Options, start: Instant) {
    let end = start + opts.flood_time;
    let mut last = Instant::now();
    loop {
        let (s, _) = proxy.wait_until(Duration::from_secs(1), |s| s.written() >= opts.flood);
        let written = s.written();
        drop(s);
        if written >= opts.flood || Instant::now() >= end {
            println!(
                "flood: {written} PDUs written to the host in {} s",
                start.elapsed().as_secs()
            );
            return;
        }
        if last.elapsed() >= Duration::from_secs(30) {
            last = Instant::now();
            println!(
                "flood: {written} PDUs written to the host in {} s",
                start.elapsed().as_secs()
            );
        }
    }
}

/// Runs one case and prints its line.
fn run_case(proxy: &Arc<Proxy>, opts: &Options, case: &Case, named: bool) -> Outcome {
    let name = &case.name;
    {
        let s = proxy.lock();
        if !s.conns.values().any(|c| c.live && c.meets(&case.needs)) {
            println!(
                "{} {name}: no live connection has {:?}",
                if named { "FAIL" } else { "SKIP" },
                case.needs
            );
            return if named { Outcome::Fail } else { Outcome::Skip };
        }
    }
    proxy.arm(case.fault, case.needs);
    let (s, ok) = proxy.wait_until(opts.timeout, |s| s.injected.is_some());
    let inj = s.injected.clone();
    drop(s);
    let Some(inj) = inj.filter(|_| ok) else {
        proxy.disarm();
        println!(
            "FAIL {name}: found no PDU to damage within {:?}",
            opts.timeout
        );
        return Outcome::Fail;
    };
    let qid = inj
        .qid
        .map_or("before Connect".to_string(), |q| format!("qid {q}"));
    let head = format!("{name}: {} (conn {}, {qid})", inj.note, inj.conn);

    // The host's reaction on the damaged connection.
    let wait = match case.expect {
        Expect::Survive | Expect::Any => opts.hold,
        Expect::Reconnect => Duration::ZERO,
        _ => opts.timeout,
    };
    let (s, _) = proxy.wait_until(wait, |s| {
        s.conns
            .get(&inj.conn)
            .is_none_or(|c| c.host_closed.is_some())
    });
    let c = s.conns.get(&inj.conn);
    let reaction = Reaction {
        term: c.and_then(|c| c.term),
        closed: c.is_none_or(|c| c.host_closed.is_some()),
    };
    let closed_at = c.and_then(|c| c.host_closed);
    let after = c.map_or(0, |c| c.pdus_after_fault);
    drop(s);
    let mut did = match reaction.term {
        Some((fes, fei)) => format!("H2CTermReq FES {fes:#x} FEI {fei}, "),
        None => String::new(),
    };
    did += &match (case.expect, closed_at) {
        (Expect::Reconnect, _) => "connection cut by the proxy".to_string(),
        (_, Some(t)) => format!(
            "closed after {} ms",
            t.saturating_duration_since(inj.at).as_millis()
        ),
        (_, None) if reaction.closed => "closed".to_string(),
        (_, None) => format!("kept the connection for {} s", wait.as_secs()),
    };
    if reaction.term.is_none() && reaction.closed && case.expect != Expect::Reconnect {
        did += " without a TermReq";
    }
    if after > 0 {
        did += &format!(", {after} PDUs after the fault");
    }
    let verdict = cases::judge(case.expect, reaction, opts.require_term);
    if !reaction.closed && case.expect != Expect::Survive && case.expect != Expect::Any {
        proxy.cut(inj.conn);
    }
    proxy.forget(inj.conn);

    // The host's return: a new admin queue and I/O, or, if it kept the connection, I/O.
    let start = Instant::now();
    let (s, back) = if reaction.closed || verdict.is_some() {
        proxy.wait_until(opts.timeout, |s| {
            s.generation > inj.generation && s.gen_io >= opts.io_after
        })
    } else {
        proxy.wait_until(opts.timeout, |s| s.io_done >= inj.io_done + opts.io_after)
    };
    let retried = s.retried;
    drop(s);
    if case.expect == Expect::Survive && reaction.term.is_none() && !reaction.closed {
        did += if retried {
            ", retried the command"
        } else {
            ", did not resend the command"
        };
    }
    let back = if back {
        format!("back in {:.1} s", start.elapsed().as_secs_f64())
    } else {
        format!("NOT back within {:?}", opts.timeout)
    };
    match verdict {
        None if back.starts_with("back") => {
            println!("PASS {head}; host: {did}; {back}");
            Outcome::Pass
        }
        None => {
            println!("FAIL {head}; host: {did}; {back}");
            Outcome::Fail
        }
        Some(why) => {
            println!("FAIL {head}; host: {did}; {why}; {back}");
            Outcome::Fail
        }
    }
}
