//! Fuzzes the receive machine: arbitrary bytes, arbitrary chunking, both roles.
//!
//! Checks that it never panics, always makes progress, hands out data only from its input,
//! and gives the same events whatever the chunking, and whether the driver feeds the data or
//! places it itself (`Receiver::placeable`/`placed`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use nvme_tcp_pdu::validate::{CommandState, CommandTable, Transfer};
use nvme_tcp_pdu::*;

/// A permissive table: every CCCID is a 1 MiB read or write, every TTAG a 1 MiB transfer.
struct Table;

impl CommandTable for Table {
    fn command(&self, cccid: u16) -> Option<CommandState> {
        Some(if cccid & 1 == 0 {
            CommandState::Read {
                len: 1 << 20,
                received: 0,
            }
        } else {
            CommandState::Write {
                len: 1 << 20,
                requested: 0,
                r2ts: 0,
            }
        })
    }

    fn transfer(&self, ttag: u16) -> Option<Transfer> {
        Some(Transfer {
            cccid: ttag,
            next: 0,
            end: 1 << 20,
        })
    }
}

#[derive(Debug, PartialEq)]
enum Ev {
    Header(Header),
    Data(u32, Vec<u8>),
    End(DataDigest),
    Await,
    Fatal(FatalError),
}

/// Records a data event, merged with the data before it.
fn push_data(evs: &mut Vec<Ev>, offset: u32, data: &[u8]) {
    match evs.last_mut() {
        Some(Ev::Data(o, bytes)) => {
            assert_eq!(*o as usize + bytes.len(), offset as usize);
            bytes.extend_from_slice(data);
        }
        _ => evs.push(Ev::Data(offset, data.to_vec())),
    }
}

fn run(ctl: u8, stream: &[u8], chunk: usize, place: bool) -> Vec<Ev> {
    let role = if ctl & 1 == 0 {
        Role::Host
    } else {
        Role::Target
    };
    let digests = ctl & 2 != 0;
    let params = Params {
        hdgst: digests,
        ddgst: digests,
        hpda: (ctl >> 2) & 3,
        cpda: (ctl >> 4) & 3,
        maxh2cdata: 4096,
        maxr2t: 0,
    };
    let mut rx: Receiver<SoftCrc32c> = if ctl & 0x40 != 0 {
        Receiver::new(role, Limits::default())
    } else {
        Receiver::with_params(role, Limits::default(), params)
    };
    let mut evs: Vec<Ev> = Vec::new();
    for piece in stream.chunks(chunk.max(1)) {
        let mut input = piece;
        loop {
            if let (true, Some((offset, left)), false) = (place, rx.placeable(), input.is_empty())
            {
                // The data placed by the driver, as a feeding driver would have seen it.
                let n = (left as usize).min(input.len());
                let (data, rest) = input.split_at(n);
                let ev = rx.placed(n as u32).expect("placeable data is accepted");
                push_data(&mut evs, offset, data);
                input = rest;
                match ev {
                    Event::NeedMore => assert!(input.is_empty()),
                    Event::DataEnd(d) => evs.push(Ev::End(d)),
                    other => panic!("placed returned {other:?}"),
                }
                continue;
            }
            let (ev, rest) = rx.feed(input, &Table);
            assert!(rest.len() <= input.len());
            let consumed = input.len() - rest.len();
            let taken = &input[..consumed];
            input = rest;
            match ev {
                Event::NeedMore => {
                    assert!(input.is_empty());
                    break;
                }
                Event::Header => evs.push(Ev::Header(*rx.header())),
                Event::Data { offset, data } => {
                    // The data is the end of what this call consumed (after any padding).
                    assert!(!data.is_empty() && taken.ends_with(data));
                    push_data(&mut evs, offset, data);
                }
                Event::DataEnd(d) => evs.push(Ev::End(d)),
                Event::AwaitParams => {
                    evs.push(Ev::Await);
                    rx.establish(params);
                }
                Event::Fatal(e) => {
                    assert!(rx.offending_header().len() <= 128);
                    evs.push(Ev::Fatal(e));
                    return evs;
                }
            }
        }
    }
    evs
}

fuzz_target!(|input: &[u8]| {
    let Some((&ctl, rest)) = input.split_first() else {
        return;
    };
    let Some((&chunk, stream)) = rest.split_first() else {
        return;
    };
    let whole = run(ctl, stream, stream.len(), false);
    let split = run(ctl, stream, usize::from(chunk), false);
    assert_eq!(whole, split);
    let placed = run(ctl, stream, usize::from(chunk), true);
    assert_eq!(whole, placed);
});
