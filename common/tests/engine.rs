//! The connection engine against a model socket: the receive pump over every split of the
//! stream, with and without a budget, the peer closing at every byte, a TermReq and a fatal
//! error at every PDU boundary; the send cursor over partial sends of every length; the ring.

mod util;

use std::collections::VecDeque;

use nvme_tcp_pdu::engine::pump::{Handler, Pump, Segment, Source};
use nvme_tcp_pdu::engine::ring::Ring;
use nvme_tcp_pdu::engine::send::{Cursor, Data, Gather, Pushed, SendError, Sent, Span, Transmit};
use nvme_tcp_pdu::engine::stats::{CtrlStats, Stats, PDU_TYPES};
use nvme_tcp_pdu::engine::stop::{term_req, Stop, TERM_REQ_MAX};
use nvme_tcp_pdu::*;
use util::{host_stream, params, pdu_bytes, receiver, record, run, target_stream, Driver, Ev, Rng};

// ---- the model socket's receive side ----

/// Bytes copied out of a model socket buffer.
struct Src(Vec<u8>);

impl Source for Src {
    fn len(&self) -> u32 {
        self.0.len() as u32
    }
}

/// A piece of a model socket buffer: `skb[start..start + len]`, followed by the rest of `skb`.
struct Seg<'a> {
    skb: &'a [u8],
    start: usize,
    len: usize,
}

impl Segment for Seg<'_> {
    type Source = Src;

    fn bytes(&self) -> &[u8] {
        &self.skb[self.start..self.start + self.len]
    }

    fn onward(&self, max: u32) -> Src {
        let end = self.skb.len().min(self.start + max as usize);
        Src(self.skb[self.start..end].to_vec())
    }

    fn after(&self, max: u32) -> Src {
        let from = self.start + self.len;
        let end = self.skb.len().min(from + max as usize);
        Src(self.skb[from..end].to_vec())
    }
}

/// A model socket buffer: its bytes, the piece boundaries inside it (a linear part and
/// fragments), and how much of it was consumed.
struct Skb {
    bytes: Vec<u8>,
    cuts: Vec<usize>,
    consumed: usize,
}

/// A model socket's receive queue.
struct RxQueue(VecDeque<Skb>);

impl RxQueue {
    /// `stream` in socket buffers ending at `skb_ends` (sorted), each cut into pieces at the
    /// stream offsets `piece_cuts`.
    fn new(stream: &[u8], skb_ends: &[usize], piece_cuts: &[usize]) -> Self {
        let mut q = VecDeque::new();
        let mut start = 0;
        for end in skb_ends
            .iter()
            .copied()
            .chain(std::iter::once(stream.len()))
        {
            if end <= start {
                continue;
            }
            let cuts = piece_cuts
                .iter()
                .filter(|&&c| c > start && c < end)
                .map(|&c| c - start)
                .collect();
            q.push_back(Skb {
                bytes: stream[start..end].to_vec(),
                cuts,
                consumed: 0,
            });
            start = end;
        }
        Self(q)
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// One read, as `tcp_read_sock` with the project's actor: each piece to the pump, which
    /// may consume less (the read stops) or more (the bytes after the piece).
    fn read(
        &mut self,
        pump: &mut Pump<'_>,
        rx: &mut Receiver<SoftCrc32c>,
        h: &mut Model,
    ) -> Result<(), Stop<()>> {
        while let Some(skb) = self.0.front_mut() {
            while skb.consumed < skb.bytes.len() {
                let at = skb.consumed;
                let end = skb
                    .cuts
                    .iter()
                    .copied()
                    .find(|&c| c > at)
                    .unwrap_or(skb.bytes.len());
                let seg = Seg {
                    skb: &skb.bytes,
                    start: at,
                    len: end - at,
                };
                let taken = pump.segment(rx, h, &seg)?;
                assert!(at + taken <= skb.bytes.len(), "consumed beyond the buffer");
                skb.consumed += taken;
                if taken < end - at {
                    return pump.finish::<_, _, Seg<'_>>(rx, h);
                }
            }
            self.0.pop_front();
        }
        pump.finish::<_, _, Seg<'_>>(rx, h)
    }
}

/// The model driver: the mock command table, the events it saw (placed data recorded as data
/// events), whether it places data, and which complete PDUs end its read (as a target's ICReq
/// and Connect do), with whether one did in the current read.
struct Model {
    driver: Driver,
    evs: Vec<Ev>,
    places: bool,
    pause_after: fn(&Header) -> bool,
    paused: bool,
}

impl Model {
    fn new(driver: Driver, places: bool) -> Self {
        Self {
            driver,
            evs: Vec::new(),
            places,
            pause_after: |_| false,
            paused: false,
        }
    }

    /// A PDU with header `h` is complete: the read ends here if it is one that pauses.
    fn completed(&mut self, h: &Header) {
        self.paused |= (self.pause_after)(h);
    }

    fn saw(&mut self, ev: Event<'_>) {
        let h = self.driver.current.unwrap_or(Header::placeholder());
        self.driver.apply(&ev, &h);
        record(&mut self.evs, &ev, &h);
    }
}

impl Handler<SoftCrc32c, Seg<'_>> for Model {
    type Table = Driver;
    type Error = ();

    fn table(&self) -> &Driver {
        &self.driver
    }

    fn header(&mut self, rx: &mut Receiver<SoftCrc32c>) -> Result<(), Stop<()>> {
        let h = *rx.header();
        self.driver.apply(&Event::Header, &h);
        record(&mut self.evs, &Event::Header, &h);
        if matches!(h.pdu, Pdu::IcReq(_) | Pdu::IcResp(_)) {
            // As the target negotiates: at once, in the header's event.
            self.evs.push(Ev::AwaitParams);
            rx.establish(self.driver.params.expect("params to establish"));
        }
        if h.layout.data_len == 0 {
            self.completed(&h);
        }
        Ok(())
    }

    fn data(&mut self, offset: u32, data: &[u8]) -> Result<(), Stop<()>> {
        self.saw(Event::Data { offset, data });
        Ok(())
    }

    fn data_end(&mut self, digest: DataDigest) -> Result<(), Stop<()>> {
        self.saw(Event::DataEnd(digest));
        if let Some(h) = self.driver.current {
            self.completed(&h);
        }
        Ok(())
    }

    fn place(&mut self, offset: u32, src: &Src) -> bool {
        if self.places {
            self.saw(Event::Data {
                offset,
                data: &src.0,
            });
        }
        self.places
    }

    fn pause(&self) -> bool {
        self.paused
    }
}

/// The events of `stream` fed whole to a bare receiver, up to (not including) a TermReq.
fn reference(
    role: Role,
    p: Params,
    with_ic: bool,
    driver: &Driver,
    stream: &[u8],
) -> (Vec<Ev>, bool) {
    let evs = run(receiver(role, p, with_ic), driver.clone(), stream, &[]);
    let term = evs.iter().position(
        |e| matches!(e, Ev::Header(h) if matches!(h.pdu, Pdu::H2CTermReq(_) | Pdu::C2HTermReq(_))),
    );
    match term {
        Some(i) => (evs[..i].to_vec(), true),
        None => (evs, false),
    }
}

/// Receives `stream` through the pump in reads of at most `budget` PDUs until the queue is
/// empty or the pump stops; returns the events and how it stopped.
fn pump_stream(
    role: Role,
    p: Params,
    with_ic: bool,
    driver: &Driver,
    mut q: RxQueue,
    budget: u32,
    places: bool,
    stats: &Stats,
) -> (Vec<Ev>, Result<(), Stop<()>>) {
    let mut rx = receiver(role, p, with_ic);
    let mut m = Model::new(driver.clone(), places);
    let mut reads = 0;
    loop {
        let mut pump = Pump::new(budget, stats);
        if let Err(e) = q.read(&mut pump, &mut rx, &mut m) {
            return (m.evs, Err(e));
        }
        if q.is_empty() {
            return (m.evs, Ok(()));
        }
        assert!(pump.exhausted(), "a read stopped with budget left");
        reads += 1;
        assert!(reads < 10_000, "no progress");
    }
}

fn streams() -> Vec<(Role, Params, bool, Driver, Vec<u8>)> {
    let mut v = Vec::new();
    for digests in [false, true] {
        for with_ic in [false, true] {
            let p = params(digests, 0);
            let (d, s) = host_stream(p, with_ic, false);
            v.push((Role::Host, p, with_ic, d, s));
            let (d, s) = target_stream(p, with_ic);
            v.push((Role::Target, p, with_ic, d, s));
        }
    }
    // Padding before the data (HPDA/CPDA) on the host side.
    let p = params(false, 3);
    let (d, s) = host_stream(p, false, false);
    v.push((Role::Host, p, false, d, s));
    v
}

/// The pump counted each PDU of `want` (and the TermReq that ended it, if `term`) by type and
/// PLEN, and each data digest that did not match.
fn check_stats(stats: &Stats, want: &[Ev], term: bool, stream: &[u8], what: &str) {
    let headers: Vec<&Header> = want
        .iter()
        .filter_map(|e| match e {
            Ev::Header(h) => Some(h),
            _ => None,
        })
        .collect();
    let mut bytes: u64 = headers.iter().map(|h| u64::from(h.common.plen)).sum();
    for t in PDU_TYPES {
        let mut n = headers.iter().filter(|h| h.common.pdu_type == t).count() as u64;
        if term && t.is_term_req() && PduType::from(stream_type_at(stream, bytes)) == t {
            n += 1;
        }
        assert_eq!(stats.received_pdus(t), n, "{what}: {t:?} received");
        assert_eq!(stats.sent_pdus(t), 0, "{what}: {t:?} sent");
    }
    if term {
        bytes += u64::from(u32::from_le_bytes(
            stream[bytes as usize + 4..bytes as usize + 8]
                .try_into()
                .unwrap(),
        ));
    }
    assert_eq!(stats.received_bytes(), bytes, "{what}: bytes received");
    let bad = want
        .iter()
        .filter(|e| matches!(e, Ev::End(DataDigest::Bad { .. })))
        .count() as u64;
    assert_eq!(
        stats.data_digest_errors(),
        bad,
        "{what}: data digest errors"
    );
    assert_eq!(
        stats.header_digest_errors(),
        0,
        "{what}: header digest errors"
    );
}

/// The PDU type byte at `at` of `stream`.
fn stream_type_at(stream: &[u8], at: u64) -> u8 {
    stream[at as usize]
}

fn check(
    (role, p, with_ic, d, s): &(Role, Params, bool, Driver, Vec<u8>),
    q: RxQueue,
    budget: u32,
    places: bool,
    what: &str,
) {
    let (want, term) = reference(*role, *p, *with_ic, d, s);
    let stats = Stats::new();
    let (got, end) = pump_stream(*role, *p, *with_ic, d, q, budget, places, &stats);
    assert_eq!(got, want, "{role:?} {what}");
    check_stats(&stats, &want, term, s, &format!("{role:?} {what}"));
    if term {
        assert!(
            matches!(end, Err(Stop::TermReq(_))),
            "{role:?} {what}: {end:?}"
        );
    } else {
        assert_eq!(end, Ok(()), "{role:?} {what}");
    }
}

#[test]
fn pump_every_split_into_two_buffers() {
    for st in streams() {
        let n = st.4.len();
        for cut in 0..=n {
            for places in [true, false] {
                check(
                    &st,
                    RxQueue::new(&st.4, &[cut], &[]),
                    u32::MAX,
                    places,
                    &format!("buffers cut at {cut}"),
                );
            }
        }
    }
}

#[test]
fn pump_every_split_into_two_pieces_of_one_buffer() {
    for st in streams() {
        let n = st.4.len();
        for cut in 0..=n {
            check(
                &st,
                RxQueue::new(&st.4, &[], &[cut]),
                u32::MAX,
                true,
                &format!("piece cut at {cut}"),
            );
        }
    }
}

#[test]
fn pump_random_buffers_pieces_and_budgets() {
    let mut rng = Rng(0x5eed_e61e);
    for st in streams() {
        let n = st.4.len();
        for _ in 0..400 {
            let mut skbs: Vec<usize> = (0..rng.below(5)).map(|_| rng.below(n + 1)).collect();
            let mut pieces: Vec<usize> = (0..rng.below(8)).map(|_| rng.below(n + 1)).collect();
            skbs.sort_unstable();
            pieces.sort_unstable();
            let budget = 1 + rng.below(4) as u32;
            check(
                &st,
                RxQueue::new(&st.4, &skbs, &pieces),
                budget,
                rng.below(2) == 0,
                &format!("{skbs:?} {pieces:?} budget {budget}"),
            );
        }
    }
}

#[test]
fn pump_budget_stops_within_a_buffer_and_resumes() {
    for st in streams() {
        for budget in 1..4 {
            check(
                &st,
                RxQueue::new(&st.4, &[], &[]),
                budget,
                true,
                &format!("budget {budget}"),
            );
        }
    }
}

/// Receives `stream` through the pump, without a budget, with a driver that pauses its read
/// after the PDUs `pause_after` names; returns the events of each read and how it stopped.
fn pump_paused(
    st: &(Role, Params, bool, Driver, Vec<u8>),
    mut q: RxQueue,
    places: bool,
    pause_after: fn(&Header) -> bool,
) -> (Vec<Vec<Ev>>, Result<(), Stop<()>>) {
    let (role, p, with_ic, d, _) = st;
    let mut rx = receiver(*role, *p, *with_ic);
    let mut m = Model::new(d.clone(), places);
    m.pause_after = pause_after;
    let mut reads = Vec::new();
    loop {
        let before = m.evs.len();
        let stats = Stats::new();
        let mut pump = Pump::new(u32::MAX, &stats);
        let end = q.read(&mut pump, &mut rx, &mut m);
        reads.push(m.evs[before..].to_vec());
        if end.is_err() || q.is_empty() {
            return (reads, end);
        }
        // Only a pause ends a read without a budget before the queue is empty; the driver
        // acts on the PDU, and the next read starts after it.
        assert!(m.paused, "a read stopped without a pause");
        assert!(!pump.exhausted());
        assert_eq!(rx.want(), Want::Bytes(8), "a read paused within a PDU");
        m.paused = false;
        assert!(reads.len() < 10_000, "no progress");
    }
}

/// The complete PDUs among `evs`, each by its header.
fn completed(evs: &[Ev]) -> Vec<Header> {
    let mut out = Vec::new();
    let mut current = None;
    for e in evs {
        match e {
            Ev::Header(h) => {
                current = Some(*h);
                if h.layout.data_len == 0 {
                    out.push(*h);
                }
            }
            Ev::End(_) => out.extend(current),
            _ => {}
        }
    }
    out
}

/// Checks a paused run of `st` against the reference: the same events, and every read but the
/// last ends with the first PDU that pauses, and only there. Returns the events of each read.
fn check_paused(
    st: &(Role, Params, bool, Driver, Vec<u8>),
    q: RxQueue,
    places: bool,
    pause_after: fn(&Header) -> bool,
    what: &str,
) -> Vec<Vec<Ev>> {
    let (role, p, with_ic, d, s) = st;
    let (want, term) = reference(*role, *p, *with_ic, d, s);
    let (reads, end) = pump_paused(st, q, places, pause_after);
    assert_eq!(reads.concat(), want, "{role:?} {what}");
    if term {
        assert!(
            matches!(end, Err(Stop::TermReq(_))),
            "{role:?} {what}: {end:?}"
        );
    } else {
        assert_eq!(end, Ok(()), "{role:?} {what}");
    }
    let last = reads.len() - 1;
    for (i, read) in reads.iter().enumerate() {
        let done = completed(read);
        let pauses: Vec<usize> = (0..done.len()).filter(|&k| pause_after(&done[k])).collect();
        if i < last {
            assert_eq!(
                pauses,
                [done.len() - 1],
                "{role:?} {what}: read {i} does not end at its pausing PDU: {read:?}"
            );
            // Nothing of the next PDU was taken (the ICReq's wait for parameters aside).
            let tail = read
                .iter()
                .rev()
                .take_while(|e| matches!(e, Ev::AwaitParams));
            assert!(
                matches!(
                    read[read.len() - 1 - tail.count()],
                    Ev::End(_) | Ev::Header(_)
                ),
                "{role:?} {what}: read {i} goes on after its pausing PDU"
            );
        } else {
            assert!(
                pauses.len() <= 1,
                "{role:?} {what}: the last read paused twice"
            );
        }
    }
    reads
}

#[test]
fn pump_pause_after_every_pdu() {
    let mut rng = Rng(0x9a05_e000);
    for st in streams() {
        let n = st.4.len();
        for cut in 0..=n {
            for places in [true, false] {
                check_paused(
                    &st,
                    RxQueue::new(&st.4, &[], &[cut]),
                    places,
                    |_| true,
                    &format!("piece cut at {cut}"),
                );
            }
        }
        for _ in 0..200 {
            let mut skbs: Vec<usize> = (0..rng.below(5)).map(|_| rng.below(n + 1)).collect();
            let mut pieces: Vec<usize> = (0..rng.below(8)).map(|_| rng.below(n + 1)).collect();
            skbs.sort_unstable();
            pieces.sort_unstable();
            check_paused(
                &st,
                RxQueue::new(&st.4, &skbs, &pieces),
                rng.below(2) == 0,
                |_| true,
                &format!("{skbs:?} {pieces:?}"),
            );
        }
    }
}

/// A target's setup: its read ends after the ICReq (the ICResp is sent) and after the capsule
/// that follows it (the Connect is executed), however the host's stream arrives, and the rest
/// is read afterwards.
#[test]
fn pump_pause_after_icreq_and_connect() {
    for digests in [false, true] {
        let p = params(digests, 0);
        let (d, s) = target_stream(p, true);
        let st = (Role::Target, p, true, d, s);
        let n = st.4.len();
        // The ICReq and the first capsule (the "Connect"): in-capsule data, so it ends with
        // its data.
        fn setup(h: &Header) -> bool {
            matches!(h.pdu, Pdu::IcReq(_)) || matches!(h.pdu, Pdu::CapsuleCmd(c) if c.cid() == 1)
        }
        for cut in 0..=n {
            for places in [true, false] {
                for (q, kind) in [
                    (RxQueue::new(&st.4, &[cut], &[]), "buffers"),
                    (RxQueue::new(&st.4, &[], &[cut]), "pieces"),
                ] {
                    let what = format!("{kind} cut at {cut}");
                    let reads = check_paused(&st, q, places, setup, &what);
                    assert!(
                        matches!(&reads[0][..], [Ev::Header(h), Ev::AwaitParams]
                            if matches!(h.pdu, Pdu::IcReq(_))),
                        "{what}: the first read is the ICReq alone: {:?}",
                        reads[0]
                    );
                    assert!(
                        matches!(reads[1].first(), Some(Ev::Header(h))
                            if matches!(h.pdu, Pdu::CapsuleCmd(c) if c.cid() == 1)),
                        "{what}: the second read starts with the Connect"
                    );
                    assert!(
                        reads.len() >= 3,
                        "{what}: the rest is read after the Connect"
                    );
                }
            }
        }
    }
}

/// `got` is what `want` was when the peer closed: equal, but for the last data cut short.
fn is_prefix(got: &[Ev], want: &[Ev]) -> bool {
    let Some((last, head)) = got.split_last() else {
        return true;
    };
    if got.len() > want.len() || head != &want[..head.len()] {
        return false;
    }
    match (last, &want[head.len()]) {
        (
            Ev::Data {
                offset: a,
                bytes: x,
            },
            Ev::Data {
                offset: b,
                bytes: y,
            },
        ) => a == b && y.starts_with(x),
        (a, b) => a == b,
    }
}

#[test]
fn pump_peer_closing_at_every_byte() {
    for st in streams() {
        let (role, p, with_ic, d, s) = &st;
        let (want, _) = reference(*role, *p, *with_ic, d, s);
        for n in 0..s.len() {
            for places in [true, false] {
                let q = RxQueue::new(&s[..n], &[n / 2], &[n / 3]);
                let stats = Stats::new();
                let (got, end) = pump_stream(*role, *p, *with_ic, d, q, u32::MAX, places, &stats);
                assert!(
                    end.is_ok() || matches!(end, Err(Stop::TermReq(_))),
                    "{role:?} closed at {n}: {end:?}"
                );
                assert!(
                    is_prefix(&got, &want),
                    "{role:?} closed at {n}:\n{got:?}\nnot a prefix of\n{want:?}"
                );
            }
        }
    }
}

/// The PDUs of a host's stream, one by one (no ICResp), and the framing they were sent with.
fn host_pdus(p: Params) -> (Driver, Vec<Vec<u8>>) {
    let (d, s) = host_stream(p, false, false);
    // Cut the stream where each PDU ends: the receiver says so, byte by byte.
    let mut rx = receiver(Role::Host, p, false);
    let mut driver = d.clone();
    let mut ends = Vec::new();
    for (i, b) in s.iter().enumerate() {
        let mut input = std::slice::from_ref(b);
        loop {
            let (ev, rest) = rx.feed(input, &driver);
            input = rest;
            driver.apply(&ev, rx.header());
            let complete = match ev {
                Event::Header => rx.header().layout.data_len == 0,
                Event::DataEnd(_) => true,
                _ => false,
            };
            if complete {
                ends.push(i + 1);
            }
            if matches!(ev, Event::NeedMore) {
                break;
            }
        }
        if let Want::Data { len: 0, .. } = rx.want() {
            let (ev, _) = rx.feed(&[], &driver);
            driver.apply(&ev, rx.header());
            ends.push(i + 1);
        }
    }
    let mut pdus = Vec::new();
    let mut start = 0;
    for e in ends {
        pdus.push(s[start..e].to_vec());
        start = e;
    }
    assert_eq!(start, s.len());
    (d, pdus)
}

#[test]
fn pump_termreq_and_fatal_error_at_every_pdu_boundary() {
    for digests in [false, true] {
        let p = params(digests, 0);
        let f = p.framing(Role::Target);
        let (d, pdus) = host_pdus(p);
        assert!(pdus.len() >= 5);
        for at in 0..=pdus.len() {
            let before: Vec<u8> = pdus[..at].concat();
            let after: Vec<u8> = pdus[at..].concat();
            let (want, _) = reference(Role::Host, p, false, &d, &before);

            // A C2HTermReq there: the pump stops with it, having handled what came before.
            let sent = FatalError {
                fes: Fes::DataOutOfRange,
                fei: 0,
            };
            let term = pdu_bytes(&Pdu::C2HTermReq(TermReq::new(sent, 8)), &f, &[0x5a; 8]);
            let stream = [before.clone(), term, after.clone()].concat();
            let stats = Stats::new();
            let (got, end) = pump_stream(
                Role::Host,
                p,
                false,
                &d,
                RxQueue::new(&stream, &[before.len() / 2], &[]),
                u32::MAX,
                true,
                &stats,
            );
            assert_eq!(got, want, "TermReq after {at} PDUs");
            check_stats(
                &stats,
                &want,
                true,
                &stream,
                &format!("TermReq after {at} PDUs"),
            );
            assert_eq!(stats.received_pdus(PduType::C2HTermReq), 1);
            assert_eq!(end, Err(Stop::TermReq(sent)), "TermReq after {at} PDUs");

            // A header of an unknown type there: fatal, answered by a TermReq with that header.
            let mut bad = pdus
                .get(at)
                .cloned()
                .unwrap_or_else(|| pdu_bytes(&Pdu::CapsuleResp(util::cqe(1)), &f, &[]));
            bad[0] = 0x7f;
            let stream = [before.clone(), bad.clone(), after].concat();
            let mut rx = receiver(Role::Host, p, false);
            let mut m = Model::new(d.clone(), true);
            let mut q = RxQueue::new(&stream, &[], &[before.len() + 3]);
            let stats = Stats::new();
            let Err(Stop::Fatal(e)) = q.read(&mut Pump::new(u32::MAX, &stats), &mut rx, &mut m)
            else {
                panic!("no fatal error at PDU {at}");
            };
            assert_eq!(m.evs, want, "events before the bad header at {at}");
            assert_eq!(e.fes, Fes::InvalidHeaderField);
            let mut buf = [0u8; TERM_REQ_MAX];
            let t = term_req(&rx, Role::Host, e, false, &mut buf)
                .expect("a TermReq answers")
                .to_vec();
            assert_eq!(t[0], u8::from(PduType::H2CTermReq));
            assert!(t.len() >= 24 + 8 && t.len() <= TERM_REQ_MAX);
            assert_eq!(&t[24..32], &bad[..8], "the offending header travels back");
            // Not after part of a PDU of ours went out.
            assert!(term_req(&rx, Role::Host, e, true, &mut buf).is_none());
        }
    }
}

#[test]
fn no_term_req_answers_a_term_req() {
    let p = params(false, 0);
    let f = p.framing(Role::Target);
    // A C2HTermReq with a header length of its own kind's but a bad PLEN: fatal.
    let mut t = pdu_bytes(
        &Pdu::C2HTermReq(TermReq::new(FatalError::status(Fes::PduSequenceError), 8)),
        &f,
        &[0; 8],
    );
    t[4..8].copy_from_slice(&200u32.to_le_bytes());
    let mut rx = receiver(Role::Host, p, false);
    let mut m = Model::new(Driver::default(), true);
    let stats = Stats::new();
    let Err(Stop::Fatal(e)) =
        RxQueue::new(&t, &[], &[]).read(&mut Pump::new(u32::MAX, &stats), &mut rx, &mut m)
    else {
        panic!("a TermReq with a bad PLEN is fatal");
    };
    let mut buf = [0u8; TERM_REQ_MAX];
    assert!(term_req(&rx, Role::Host, e, false, &mut buf).is_none());
}

// ---- the model socket's send side ----

/// A model socket that takes what `allow` says per call (`None`: full), then everything.
struct Wire {
    header: Vec<u8>,
    data: Vec<u8>,
    out: Vec<u8>,
    allow: VecDeque<Option<usize>>,
    /// `more` of each call that sent something.
    mores: Vec<bool>,
}

impl Wire {
    fn take(&mut self, want: usize) -> Option<usize> {
        match self.allow.pop_front() {
            Some(None) => None,
            Some(Some(n)) => Some(n.min(want)),
            None => Some(want),
        }
    }
}

impl Transmit for Wire {
    type Error = ();

    fn header(&mut self, from: usize, to: usize, more: bool) -> Sent<()> {
        let Some(n) = self.take(to - from) else {
            return Ok(None);
        };
        self.out.extend_from_slice(&self.header[from..from + n]);
        // What did not fit follows: a short send counts as one with `MSG_MORE`.
        self.mores.push(more || from + n < to);
        Ok(Some(n))
    }

    fn data(&mut self, at: u32, end: u32, more: bool) -> Sent<()> {
        // As a socket call of at most one page.
        let Some(n) = self.take(((end - at) as usize).min(4096)) else {
            return Ok(None);
        };
        self.out
            .extend_from_slice(&self.data[at as usize..at as usize + n]);
        self.mores.push(more || (at as usize + n) < end as usize);
        Ok(Some(n))
    }

    fn digest(&mut self, bytes: &[u8], more: bool) -> Sent<()> {
        let Some(n) = self.take(bytes.len()) else {
            return Ok(None);
        };
        self.out.extend_from_slice(&bytes[..n]);
        self.mores.push(more || n < bytes.len());
        Ok(Some(n))
    }
}

/// Sends a unit of `hlen` header bytes, data `at..end` of a 10,000-byte buffer and maybe a
/// digest, through a wire that allows `allow`, pushing again after each full socket; checks
/// the bytes and the `more` flags.
fn send_unit(hlen: usize, at: u32, end: u32, ddgst: bool, more: bool, allow: &[Option<usize>]) {
    let header: Vec<u8> = (0..hlen).map(|i| i as u8).collect();
    let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7 + 3) as u8).collect();
    let dg = [0xd1, 0xd2, 0xd3, 0xd4];
    let mut w = Wire {
        header: header.clone(),
        data: data.clone(),
        out: Vec::new(),
        allow: allow.iter().copied().collect(),
        mores: Vec::new(),
    };
    let mut c = Cursor::new(
        hlen,
        Some(Data {
            at,
            end,
            ddgst: ddgst.then_some(dg),
        }),
    );
    assert!(!c.begun());
    let total = hlen
        + if at < end {
            (end - at) as usize + if ddgst { 4 } else { 0 }
        } else {
            0
        };
    assert_eq!(c.left() as usize, total, "a new unit's bytes");
    let mut pushes = 0;
    loop {
        match c.push(&mut w, more).expect("no error") {
            Pushed::Done => break,
            Pushed::Full => {
                pushes += 1;
                assert!(pushes <= allow.len() + 1, "no progress");
                assert_eq!(c.begun(), !w.out.is_empty());
                assert_eq!(c.left() as usize, total - w.out.len(), "bytes left");
            }
        }
    }
    assert_eq!(c.left(), 0);
    let mut expect = header;
    if at < end {
        expect.extend_from_slice(&data[at as usize..end as usize]);
        if ddgst {
            expect.extend_from_slice(&dg);
        }
    }
    assert_eq!(
        w.out, expect,
        "hlen {hlen} data {at}..{end} allow {allow:?}"
    );
    let (last, rest) = w.mores.split_last().expect("something was sent");
    assert!(
        rest.iter().all(|&m| m),
        "MSG_MORE until the last call: {:?}",
        w.mores
    );
    assert_eq!(*last, more, "the last call's MSG_MORE is the caller's");
}

#[test]
fn send_partial_sends_of_every_length() {
    for ddgst in [false, true] {
        for more in [false, true] {
            let total = 72 + 5000 + if ddgst { 4 } else { 0 };
            for k in 1..=total {
                // The first call takes k bytes, then the socket is full, then it takes all.
                send_unit(72, 0, 5000, ddgst, more, &[Some(k), None]);
                // Every call takes at most k bytes.
                if k <= 100 || k % 97 == 0 {
                    let allow: Vec<_> = std::iter::repeat_n(Some(k), total / k + 8).collect();
                    send_unit(72, 0, 5000, ddgst, more, &allow);
                }
            }
            // Full at once, then in pieces; no data; data from an offset.
            send_unit(24, 0, 0, ddgst, more, &[None, Some(3), None, Some(30)]);
            send_unit(24, 4096, 8192, ddgst, more, &[Some(1), Some(1), None]);
        }
    }
}

#[test]
fn send_errors() {
    let mut w = Wire {
        header: vec![0; 24],
        data: vec![0; 100],
        out: Vec::new(),
        allow: [Some(0)].into_iter().collect(),
        mores: Vec::new(),
    };
    let mut c = Cursor::new(24, None);
    assert_eq!(c.push(&mut w, false), Err(SendError::Closed));
    assert!(!c.begun());

    struct Broken;
    impl Transmit for Broken {
        type Error = i32;
        fn header(&mut self, _: usize, _: usize, _: bool) -> Sent<i32> {
            Err(-32)
        }
        fn data(&mut self, _: u32, _: u32, _: bool) -> Sent<i32> {
            Err(-32)
        }
        fn digest(&mut self, _: &[u8], _: bool) -> Sent<i32> {
            Err(-32)
        }
    }
    assert_eq!(
        Cursor::new(8, None).push(&mut Broken, true),
        Err(SendError::Io(-32))
    );
}

/// A gathered unit over a model socket: each call takes what `allow` says, and at most `cut`
/// bytes (a call's limit of pages).
struct GatherWire {
    unit: Vec<u8>,
    cut: usize,
    out: Vec<u8>,
    allow: VecDeque<Option<usize>>,
    mores: Vec<bool>,
}

impl Gather for GatherWire {
    type Error = ();

    fn send_from(&mut self, from: usize, more: bool) -> Sent<()> {
        let want = (self.unit.len() - from).min(self.cut);
        let n = match self.allow.pop_front() {
            Some(None) => return Ok(None),
            Some(Some(n)) => n.min(want),
            None => want,
        };
        self.out.extend_from_slice(&self.unit[from..from + n]);
        self.mores.push(more || from + n < self.unit.len());
        Ok(Some(n))
    }
}

#[test]
fn span_partial_sends_and_limits() {
    let unit: Vec<u8> = (0..5_000u32).map(|i| (i * 13 + 1) as u8).collect();
    for cut in [1, 7, 4096, 10_000] {
        for k in (1..=unit.len()).step_by(37) {
            for more in [false, true] {
                let mut w = GatherWire {
                    unit: unit.clone(),
                    cut,
                    out: Vec::new(),
                    allow: [Some(k), None].into_iter().collect(),
                    mores: Vec::new(),
                };
                let mut s = Span::new(unit.len());
                assert!(!s.begun());
                let mut fulls = 0;
                while s.push(&mut w, more).expect("no error") == Pushed::Full {
                    fulls += 1;
                    assert_eq!(fulls, 1, "full once, as allowed");
                    assert_eq!(s.left(), unit.len() - w.out.len());
                    assert_eq!(s.begun(), !w.out.is_empty());
                }
                assert_eq!(s.left(), 0);
                assert_eq!(w.out, unit, "cut {cut} first call {k}");
                let (last, rest) = w.mores.split_last().expect("sent");
                assert!(rest.iter().all(|&m| m));
                assert_eq!(*last, more);
            }
        }
    }
    let mut closed = GatherWire {
        unit: unit.clone(),
        cut: 10,
        out: Vec::new(),
        allow: [Some(3), Some(0)].into_iter().collect(),
        mores: Vec::new(),
    };
    let mut s = Span::new(unit.len());
    assert_eq!(s.push(&mut closed, false), Err(SendError::Closed));
    assert_eq!(s.left(), unit.len() - 3, "the span keeps what went");
}

// ---- the ring ----

#[test]
fn ring_order_capacity_and_moving() {
    let mut r = Ring::new(vec![0u16; 4]);
    assert_eq!(r.pop(), None);
    for round in 0..10u16 {
        for i in 0..4 {
            r.push(round * 10 + i).unwrap();
        }
        assert_eq!(r.push(99), Err(99));
        assert_eq!(r.len(), 4);
        assert_eq!(r.pop(), Some(round * 10));
        r.push(round * 10 + 4).unwrap();
        for i in 1..5 {
            assert_eq!(r.pop(), Some(round * 10 + i));
        }
        assert!(r.is_empty());
        // The head moves on every round: wrapping is exercised.
        r.push(7).unwrap();
        r.pop();
    }
    let mut small = Ring::new(vec![0u16; 3]);
    small.push(9).unwrap();
    small.pop();
    for i in 0..3 {
        small.push(i).unwrap();
    }
    let mut big = Ring::new(vec![0u16; 8]);
    big.push(100).unwrap();
    small.move_into(&mut big).unwrap();
    assert!(small.is_empty());
    let drained: Vec<u16> = std::iter::from_fn(|| big.pop()).collect();
    assert_eq!(drained, vec![100, 0, 1, 2]);
    let mut tiny = Ring::new(vec![0u16; 1]);
    let mut src = Ring::new(vec![0u16; 3]);
    for i in 0..3 {
        src.push(i).unwrap();
    }
    assert_eq!(src.move_into(&mut tiny), Err(1));
    assert_eq!(src.len(), 2);
    assert_eq!(src.pop(), Some(1));
    r.clear();
    assert!(r.is_empty());
}

// ---- statistics ----

#[test]
fn stats_count_corrupt_data_digests() {
    let p = params(true, 0);
    let (d, s) = host_stream(p, false, true);
    let (want, term) = reference(Role::Host, p, false, &d, &s);
    assert!(want
        .iter()
        .any(|e| matches!(e, Ev::End(DataDigest::Bad { .. }))));
    for places in [true, false] {
        let stats = Stats::new();
        let q = RxQueue::new(&s, &[s.len() / 2], &[s.len() / 3]);
        let (got, _) = pump_stream(Role::Host, p, false, &d, q, u32::MAX, places, &stats);
        assert_eq!(got, want);
        check_stats(&stats, &want, term, &s, "corrupt data digest");
    }
}

#[test]
fn stats_count_a_header_digest_error() {
    let p = params(true, 0);
    let f = p.framing(Role::Target);
    let mut resp = pdu_bytes(&Pdu::CapsuleResp(util::cqe(1)), &f, &[]);
    resp[24] ^= 1;
    let (d, _) = host_stream(p, false, false);
    let mut rx = receiver(Role::Host, p, false);
    let mut m = Model::new(d, true);
    let stats = Stats::new();
    let end = RxQueue::new(&resp, &[], &[]).read(&mut Pump::new(u32::MAX, &stats), &mut rx, &mut m);
    assert!(matches!(
        end,
        Err(Stop::Fatal(FatalError {
            fes: Fes::HeaderDigestError,
            ..
        }))
    ));
    assert_eq!(stats.header_digest_errors(), 1);
    assert_eq!(
        stats.received_bytes(),
        0,
        "a header that failed its digest is not counted"
    );
}

#[test]
fn stats_sent_headers_peak_and_report() {
    let stats = Stats::new();
    assert_eq!(stats.qid(), None);
    let p = params(true, 0);
    let f = p.framing(Role::Host);
    let sqe = [0u8; 64];
    let cmd = pdu_bytes(
        &Pdu::CapsuleCmd(CapsuleCmd { sqe, data_len: 16 }),
        &f,
        &[7; 16],
    );
    let data = H2CData {
        cccid: 3,
        ttag: 0,
        datao: 0,
        datal: 8,
        last: true,
    };
    let h2c = pdu_bytes(&Pdu::H2CData(data), &f, &[1; 8]);
    stats.sent_header(&cmd);
    stats.sent_header(&h2c);
    stats.sent_header(&h2c[..6]); // too short to carry a PLEN: not counted
    stats.sent(PduType::H2CTermReq, 24);
    assert_eq!(stats.sent_pdus(PduType::CapsuleCmd), 1);
    assert_eq!(stats.sent_pdus(PduType::H2CData), 1);
    assert_eq!(stats.sent_pdus(PduType::H2CTermReq), 1);
    assert_eq!(
        stats.sent_bytes(),
        (cmd.len() + h2c.len() + 24) as u64,
        "PLEN is the whole PDU"
    );
    for n in [3, 1, 7, 2] {
        stats.queued(n);
    }
    assert_eq!(stats.send_list_peak(), 7);
    stats.set_qid(2);
    let report = stats.to_string();
    let line = |name: &str| -> Vec<String> {
        report
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("no line {name} in\n{report}"))
            .split_whitespace()
            .skip(1)
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(line("qid"), ["2"]);
    assert_eq!(line("pdu"), ["received", "sent"]);
    assert_eq!(line("CapsuleCmd"), ["0", "1"]);
    assert_eq!(line("H2CData"), ["0", "1"]);
    assert_eq!(line("R2T"), ["0", "0"]);
    assert_eq!(line("H2CTermReq"), ["0", "1"]);
    assert_eq!(
        line("bytes"),
        ["0".to_string(), stats.sent_bytes().to_string()]
    );
    assert_eq!(line("send_list_peak"), ["7"]);
    assert_eq!(line("header_digest_errors"), ["0"]);
    assert_eq!(line("data_digest_errors"), ["0"]);
    assert_eq!(report.lines().count(), 2 + PDU_TYPES.len() + 4);

    let c = CtrlStats::new();
    c.recoveries.add(2);
    c.reconnect_attempts.add(3);
    c.reconnects.add(1);
    assert_eq!(
        c.to_string(),
        "recoveries            2\nresets                0\nreconnect_attempts    3\nreconnects            1\n"
    );
}
