//! Benchmarks: header parse+validate per second and receive-machine throughput.
//!
//! Run with `cargo bench -p nvme-tcp-pdu`. Plain `std::time::Instant`, no harness.

use std::hint::black_box;
use std::time::{Duration, Instant};

use nvme_tcp_pdu::digest::digest;
use nvme_tcp_pdu::*;

/// Every CCCID is a read of `len` bytes with nothing received yet.
struct Reads(u32);

impl CommandTable for Reads {
    fn command(&self, _cccid: u16) -> Option<CommandState> {
        Some(CommandState::Read {
            len: self.0,
            received: 0,
        })
    }
}

fn params(digests: bool) -> Params {
    Params {
        hdgst: digests,
        ddgst: digests,
        hpda: 0,
        cpda: 0,
        maxh2cdata: 1 << 20,
        maxr2t: 0,
    }
}

/// Runs `f` repeatedly for about `for_at_least` and returns (iterations, elapsed).
fn time(for_at_least: Duration, mut f: impl FnMut()) -> (u64, Duration) {
    let start = Instant::now();
    let mut n = 0u64;
    loop {
        for _ in 0..64 {
            f();
        }
        n += 64;
        let e = start.elapsed();
        if e >= for_at_least {
            return (n, e);
        }
    }
}

fn bench_headers(digests: bool) {
    let f = params(digests).framing(Role::Target);
    let mut cqe = [0u8; 16];
    cqe[12] = 1;
    let pdus = [
        Pdu::CapsuleResp(CapsuleResp { cqe }),
        Pdu::C2HData(C2HData {
            cccid: 1,
            datao: 0,
            datal: 4096,
            last: true,
            success: false,
        }),
        Pdu::R2t(R2t {
            cccid: 1,
            ttag: 0,
            r2to: 0,
            r2tl: 4096,
        }),
    ];
    let headers: Vec<Vec<u8>> = pdus
        .iter()
        .map(|p| {
            let mut b = [0u8; 128];
            let n = p.emit_header::<SoftCrc32c>(&f, &mut b).unwrap();
            b[..n].to_vec()
        })
        .collect();
    struct Any;
    impl CommandTable for Any {
        fn command(&self, _: u16) -> Option<CommandState> {
            Some(CommandState::Read {
                len: 4096,
                received: 0,
            })
        }
    }
    // R2T needs a write; use a table per PDU kind.
    struct Writes;
    impl CommandTable for Writes {
        fn command(&self, _: u16) -> Option<CommandState> {
            Some(CommandState::Write {
                len: 4096,
                requested: 0,
                r2ts: 0,
            })
        }
    }
    let v = Validator {
        role: Role::Host,
        limits: Limits::default(),
        params: Some(params(digests)),
    };
    let (n, e) = time(Duration::from_millis(700), || {
        for (i, h) in headers.iter().enumerate() {
            let r = if i == 2 {
                v.validate::<SoftCrc32c, _>(black_box(h), &Writes)
            } else {
                v.validate::<SoftCrc32c, _>(black_box(h), &Any)
            };
            black_box(r.unwrap());
        }
    });
    let per_sec = (n * headers.len() as u64) as f64 / e.as_secs_f64();
    println!(
        "header parse+validate, digests {:3}: {:6.1} M headers/s",
        if digests { "on" } else { "off" },
        per_sec / 1e6
    );
}

fn bench_stream(digests: bool, pdu_data: usize, chunk: usize) {
    let f = params(digests).framing(Role::Target);
    let data: Vec<u8> = (0..pdu_data).map(|i| i as u8).collect();
    let ddgst = digest::<SoftCrc32c>(&data).to_le_bytes();
    let mut stream = Vec::new();
    let total = 32 << 20;
    let mut i = 0u16;
    while stream.len() < total {
        let pdu = Pdu::C2HData(C2HData {
            cccid: i,
            datao: 0,
            datal: pdu_data as u32,
            last: true,
            success: true,
        });
        let mut b = [0u8; 128];
        let n = pdu.emit_header::<SoftCrc32c>(&f, &mut b).unwrap();
        stream.extend_from_slice(&b[..n]);
        stream.extend_from_slice(&data);
        if digests {
            stream.extend_from_slice(&ddgst);
        }
        i = i.wrapping_add(1);
    }
    let table = Reads(pdu_data as u32);
    let mut dst = vec![0u8; pdu_data];
    let (n, e) = time(Duration::from_millis(1500), || {
        let mut rx =
            Receiver::<SoftCrc32c>::with_params(Role::Host, Limits::default(), params(digests));
        for piece in stream.chunks(chunk) {
            let mut input = piece;
            loop {
                let (ev, rest) = rx.feed(input, &table);
                input = rest;
                match ev {
                    Event::NeedMore => break,
                    // The driver's single copy into the command's buffer.
                    Event::Data { offset, data } => {
                        let o = offset as usize;
                        dst[o..o + data.len()].copy_from_slice(data);
                    }
                    Event::DataEnd(d) => assert!(!matches!(d, DataDigest::Bad { .. })),
                    Event::Fatal(e) => panic!("{e:?}"),
                    _ => {}
                }
            }
        }
        black_box(&dst);
    });
    let gbps = (n as f64 * stream.len() as f64) / e.as_secs_f64() / 1e9;
    println!(
        "receive machine, digests {:3}, {:6} B/PDU, {:5} B chunks: {:6.2} GB/s",
        if digests { "on" } else { "off" },
        pdu_data,
        chunk,
        gbps
    );
}

fn bench_crc() {
    let data = vec![0x5au8; 1 << 20];
    let (n, e) = time(Duration::from_millis(700), || {
        black_box(digest::<SoftCrc32c>(black_box(&data)));
    });
    println!(
        "software CRC32C (slicing-by-8):              {:6.2} GB/s",
        n as f64 * data.len() as f64 / e.as_secs_f64() / 1e9
    );
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    bench_headers(false);
    bench_headers(true);
    for digests in [false, true] {
        bench_stream(digests, 4096, 65536);
        bench_stream(digests, 131072, 65536);
        bench_stream(digests, 4096, 1448);
    }
    bench_crc();
}
