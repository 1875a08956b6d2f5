//! Shared helpers for the integration tests: building PDU streams and a mock driver.
#![allow(dead_code)]

use std::collections::HashMap;
use std::vec::Vec;

use nvme_tcp_pdu::digest::digest;
use nvme_tcp_pdu::Want;
use nvme_tcp_pdu::*;
#[allow(unused_imports)]
use nvme_tcp_pdu::{
    CommandState, CommandTable, DataDigest, Event, FatalError, Framing, Header, Params, Pdu,
    Receiver, SoftCrc32c, Transfer,
};

/// Emits a whole PDU: header section, `data` and the data digest if the framing has one.
pub fn pdu_bytes(pdu: &Pdu, framing: &Framing, data: &[u8]) -> Vec<u8> {
    let mut buf = [0u8; 512];
    let n = pdu.emit_header::<SoftCrc32c>(framing, &mut buf).unwrap();
    let layout = pdu.layout(framing).unwrap();
    assert_eq!(
        layout.data_len as usize,
        data.len(),
        "data length of {pdu:?}"
    );
    let mut v = buf[..n].to_vec();
    v.extend_from_slice(data);
    if layout.ddgst {
        v.extend_from_slice(&digest::<SoftCrc32c>(data).to_le_bytes());
    }
    assert_eq!(v.len() as u32, layout.plen().unwrap());
    v
}

/// A normalised receive event: consecutive data slices are merged.
#[derive(Debug, Clone, PartialEq)]
pub enum Ev {
    Header(Header),
    Data { offset: u32, bytes: Vec<u8> },
    End(DataDigest),
    AwaitParams,
    Fatal(FatalError),
}

/// A mock driver: the command table plus the bookkeeping a real driver does on each event.
#[derive(Debug, Clone, Default)]
pub struct Driver {
    pub commands: HashMap<u16, CommandState>,
    pub transfers: HashMap<u16, Transfer>,
    /// Parameters to establish when the receiver asks for them.
    pub params: Option<Params>,
    pub current: Option<Header>,
}

impl CommandTable for Driver {
    fn command(&self, cccid: u16) -> Option<CommandState> {
        self.commands.get(&cccid).copied()
    }

    fn transfer(&self, ttag: u16) -> Option<Transfer> {
        self.transfers.get(&ttag).copied()
    }
}

impl Driver {
    /// Updates the table after `ev`, as a driver of the receiving side does.
    pub fn apply(&mut self, ev: &Event<'_>, h: &Header) {
        match ev {
            Event::Header => {
                self.current = Some(*h);
                match h.pdu {
                    Pdu::R2t(r) => {
                        if let Some(CommandState::Write {
                            requested, r2ts, ..
                        }) = self.commands.get_mut(&r.cccid)
                        {
                            *requested = r.r2to + r.r2tl;
                            *r2ts += 1;
                        }
                    }
                    Pdu::CapsuleResp(r) => {
                        self.commands.remove(&r.cid());
                    }
                    _ => {}
                }
            }
            Event::Data { data, .. } => match self.current.map(|h| h.pdu) {
                Some(Pdu::C2HData(d)) => {
                    if let Some(CommandState::Read { received, .. }) =
                        self.commands.get_mut(&d.cccid)
                    {
                        *received += data.len() as u32;
                    }
                }
                Some(Pdu::H2CData(d)) => {
                    if let Some(t) = self.transfers.get_mut(&d.ttag) {
                        t.next += data.len() as u32;
                    }
                }
                _ => {}
            },
            Event::DataEnd(_) => {
                if let Some(Pdu::C2HData(d)) = self.current.map(|h| h.pdu) {
                    if d.success {
                        self.commands.remove(&d.cccid);
                    }
                }
            }
            _ => {}
        }
    }
}

/// Feeds `stream` to `rx` cut at the given `cuts` (sorted offsets) and returns the events.
pub fn run(
    mut rx: Receiver<SoftCrc32c>,
    mut driver: Driver,
    stream: &[u8],
    cuts: &[usize],
) -> Vec<Ev> {
    let mut evs: Vec<Ev> = Vec::new();
    let mut start = 0;
    let ends = cuts.iter().copied().chain(std::iter::once(stream.len()));
    'chunks: for end in ends {
        let mut input = &stream[start..end];
        start = end;
        loop {
            let before = input.len();
            let (ev, rest) = rx.feed(input, &driver);
            assert!(rest.len() <= before);
            input = rest;
            driver.apply(&ev, rx.header());
            record(&mut evs, &ev, rx.header());
            match ev {
                Event::NeedMore => {
                    assert!(input.is_empty(), "NeedMore with input left");
                    continue 'chunks;
                }
                Event::AwaitParams => {
                    rx.establish(driver.params.expect("params to establish"));
                }
                Event::Fatal(e) => {
                    // The machine stays failed and consumes nothing more.
                    let (again, rest) = rx.feed(input, &driver);
                    assert_eq!(again, Event::Fatal(e));
                    assert_eq!(rest.len(), input.len());
                    break 'chunks;
                }
                _ => {}
            }
        }
    }
    evs
}

/// Appends `ev` to `evs` in normalised form: consecutive data slices merged, `NeedMore` left
/// out.
pub fn record(evs: &mut Vec<Ev>, ev: &Event<'_>, header: &Header) {
    match *ev {
        Event::NeedMore => {}
        Event::Header => evs.push(Ev::Header(*header)),
        Event::Data { offset, data } => {
            assert!(!data.is_empty());
            if let Some(Ev::Data { offset: o, bytes }) = evs.last_mut() {
                assert_eq!(*o + bytes.len() as u32, offset, "data not contiguous");
                bytes.extend_from_slice(data);
            } else {
                evs.push(Ev::Data {
                    offset,
                    bytes: data.to_vec(),
                });
            }
        }
        Event::DataEnd(d) => evs.push(Ev::End(d)),
        Event::AwaitParams => evs.push(Ev::AwaitParams),
        Event::Fatal(e) => evs.push(Ev::Fatal(e)),
    }
}

/// A small deterministic pseudo-random generator (xorshift64*).
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Receives `stream` as a driver that places data itself: it reads exactly what
/// [`Receiver::want`] asks for (at most `max_read` bytes at a time) and feeds that slice.
///
/// Checks that every read is consumed whole and that data events start where `want` said.
pub fn run_by_want(
    mut rx: Receiver<SoftCrc32c>,
    mut driver: Driver,
    stream: &[u8],
    max_read: usize,
) -> Vec<Ev> {
    let mut evs: Vec<Ev> = Vec::new();
    let mut pos = 0;
    loop {
        let want = rx.want();
        let (n, offset) = match want {
            Want::Bytes(n) => {
                assert!(n > 0);
                (n.min(max_read), None)
            }
            Want::Data { offset, len } => ((len as usize).min(max_read), Some(offset)),
            Want::Nothing => (0, None),
        };
        let n = n.min(stream.len() - pos);
        if n == 0 && matches!(want, Want::Bytes(_)) {
            break;
        }
        let input = &stream[pos..pos + n];
        pos += n;
        let (ev, rest) = rx.feed(input, &driver);
        driver.apply(&ev, rx.header());
        record(&mut evs, &ev, rx.header());
        match ev {
            Event::Data { offset: o, data } => {
                assert_eq!(Some(o), offset);
                assert_eq!(data.len(), n);
            }
            Event::AwaitParams => rx.establish(driver.params.expect("params to establish")),
            Event::Fatal(_) => break,
            _ => {}
        }
        assert!(rest.is_empty(), "{want:?} read {n} left {}", rest.len());
        if matches!(ev, Event::NeedMore) && pos == stream.len() {
            break;
        }
    }
    evs
}

/// Receives `stream` as a driver that copies data into place itself and reports it with
/// [`Receiver::placed`] wherever [`Receiver::placeable`] allows (at most `max_place` bytes at a
/// time), and feeds everything else in reads of at most `max_read` bytes.
///
/// The data it places is recorded as the data events a feeding driver would see.
pub fn run_placing(
    mut rx: Receiver<SoftCrc32c>,
    mut driver: Driver,
    stream: &[u8],
    max_read: usize,
    max_place: usize,
) -> Vec<Ev> {
    let mut evs: Vec<Ev> = Vec::new();
    let mut pos = 0;
    while pos < stream.len() {
        if let Some((offset, left)) = rx.placeable() {
            let n = (left as usize).min(max_place).min(stream.len() - pos);
            assert!(rx.placed(0).is_none(), "nothing placed is refused");
            assert!(
                rx.placed(left + 1).is_none(),
                "more than the data is refused"
            );
            let ev = rx.placed(n as u32).expect("placeable data is accepted");
            let data = Event::Data {
                offset,
                data: &stream[pos..pos + n],
            };
            driver.apply(&data, rx.header());
            record(&mut evs, &data, rx.header());
            pos += n;
            driver.apply(&ev, rx.header());
            record(&mut evs, &ev, rx.header());
            let done = matches!(ev, Event::DataEnd(_));
            assert_eq!(done, n as u32 == left, "{ev:?} after {n} of {left}");
            continue;
        }
        let n = max_read.min(stream.len() - pos);
        let mut input = &stream[pos..pos + n];
        loop {
            let (ev, rest) = rx.feed(input, &driver);
            input = rest;
            driver.apply(&ev, rx.header());
            record(&mut evs, &ev, rx.header());
            match ev {
                Event::AwaitParams => rx.establish(driver.params.expect("params to establish")),
                Event::Fatal(_) => return evs,
                _ => {}
            }
            // Stops where data may be placed, as a placing driver does, or once all is fed.
            if matches!(ev, Event::NeedMore) || rx.placeable().is_some() {
                break;
            }
        }
        pos += n - input.len();
    }
    // An end of data not yet reported.
    if let Want::Data { len: 0, .. } = rx.want() {
        let (ev, _) = rx.feed(&[], &driver);
        driver.apply(&ev, rx.header());
        record(&mut evs, &ev, rx.header());
    }
    evs
}

pub fn params(digests: bool, hpda: u8) -> Params {
    Params {
        hdgst: digests,
        ddgst: digests,
        hpda,
        cpda: 0,
        maxh2cdata: 4096,
        maxr2t: 0,
    }
}

pub fn cqe(cid: u16) -> CapsuleResp {
    let mut cqe = [0u8; 16];
    cqe[12..14].copy_from_slice(&cid.to_le_bytes());
    CapsuleResp { cqe }
}

/// A host's view of a connection: the driver state and the bytes the controller sends.
pub fn host_stream(p: Params, with_ic: bool, corrupt_digest: bool) -> (Driver, Vec<u8>) {
    let f = p.framing(Role::Target);
    let mut d = Driver {
        params: Some(p),
        ..Driver::default()
    };
    d.commands.insert(1, CommandState::NoData);
    d.commands.insert(
        2,
        CommandState::Read {
            len: 40,
            received: 0,
        },
    );
    d.commands.insert(
        3,
        CommandState::Write {
            len: 100,
            requested: 0,
            r2ts: 0,
        },
    );
    d.commands.insert(
        4,
        CommandState::Read {
            len: 8,
            received: 0,
        },
    );
    let mut s = Vec::new();
    if with_ic {
        let icresp = IcResp {
            pfv: 0,
            cpda: 0,
            dgst: DigestOptions::new(p.hdgst, p.ddgst),
            maxh2cdata: p.maxh2cdata,
        };
        s.extend_from_slice(&icresp.to_bytes());
    }
    s.extend(pdu_bytes(&Pdu::CapsuleResp(cqe(1)), &f, &[]));
    let a: Vec<u8> = (0..24u8).collect();
    let b: Vec<u8> = (100..116u8).collect();
    s.extend(pdu_bytes(
        &Pdu::C2HData(C2HData {
            cccid: 2,
            datao: 0,
            datal: 24,
            last: false,
            success: false,
        }),
        &f,
        &a,
    ));
    s.extend(pdu_bytes(
        &Pdu::C2HData(C2HData {
            cccid: 2,
            datao: 24,
            datal: 16,
            last: true,
            success: true,
        }),
        &f,
        &b,
    ));
    s.extend(pdu_bytes(
        &Pdu::R2t(R2t {
            cccid: 3,
            ttag: 9,
            r2to: 0,
            r2tl: 100,
        }),
        &f,
        &[],
    ));
    let mut c = pdu_bytes(
        &Pdu::C2HData(C2HData {
            cccid: 4,
            datao: 0,
            datal: 8,
            last: true,
            success: false,
        }),
        &f,
        &[7; 8],
    );
    if corrupt_digest && p.ddgst {
        *c.last_mut().unwrap() ^= 1;
    }
    s.extend(c);
    s.extend(pdu_bytes(&Pdu::CapsuleResp(cqe(4)), &f, &[]));
    (d, s)
}

/// A target's view: the driver state (an R2T sent for command 2) and the host's bytes.
pub fn target_stream(p: Params, with_ic: bool) -> (Driver, Vec<u8>) {
    let f = p.framing(Role::Host);
    let mut d = Driver {
        params: Some(p),
        ..Driver::default()
    };
    d.transfers.insert(
        0,
        Transfer {
            cccid: 2,
            next: 0,
            end: 20,
        },
    );
    let mut s = Vec::new();
    if with_ic {
        let icreq = HostConfig {
            hdgst: p.hdgst,
            ddgst: p.ddgst,
            maxr2t: 0,
        }
        .icreq();
        s.extend_from_slice(&icreq.to_bytes());
    }
    let mut sqe = [0u8; 64];
    sqe[0] = 1;
    sqe[2] = 1;
    // In-capsule data: an offset SGL descriptor of the same length.
    sqe[32] = 20;
    sqe[39] = 0x01;
    s.extend(pdu_bytes(
        &Pdu::CapsuleCmd(CapsuleCmd { sqe, data_len: 20 }),
        &f,
        &[0xab; 20],
    ));
    sqe[2] = 2;
    // Data by R2T: a transport SGL descriptor.
    sqe[39] = 0x5a;
    s.extend(pdu_bytes(
        &Pdu::CapsuleCmd(CapsuleCmd { sqe, data_len: 0 }),
        &f,
        &[],
    ));
    s.extend(pdu_bytes(
        &Pdu::H2CData(H2CData {
            cccid: 2,
            ttag: 0,
            datao: 0,
            datal: 12,
            last: false,
        }),
        &f,
        &[1; 12],
    ));
    s.extend(pdu_bytes(
        &Pdu::H2CData(H2CData {
            cccid: 2,
            ttag: 0,
            datao: 12,
            datal: 8,
            last: true,
        }),
        &f,
        &[2; 8],
    ));
    let term = TermReq::new(FatalError::status(Fes::PduSequenceError), 8);
    s.extend(pdu_bytes(&Pdu::H2CTermReq(term), &f, &[0x55; 8]));
    (d, s)
}

pub fn receiver(role: Role, p: Params, with_ic: bool) -> Receiver<SoftCrc32c> {
    let limits = Limits::default();
    if with_ic {
        Receiver::new(role, limits)
    } else {
        Receiver::with_params(role, limits, p)
    }
}
