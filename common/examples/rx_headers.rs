//! A fixed workload for instruction counting: the target's receive machine takes `N` (default
//! 100000) 4 KiB-read CapsuleCmd headers, read exactly as [`Want`] asks, as the kernel module
//! reads them from its socket. Deterministic, so under callgrind the instruction count per
//! header compares two versions of the crate:
//!
//! ```text
//! cargo build --release --example rx_headers
//! valgrind --tool=callgrind build/cargo/release/examples/rx_headers 100000
//! ```

use nvme_tcp_pdu::*;

/// No command is in flight: every CapsuleCmd is new.
struct Idle;

impl CommandTable for Idle {
    fn command(&self, _: u16) -> Option<CommandState> {
        None
    }
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse().expect("a header count"))
        .unwrap_or(100_000);
    let params = Params {
        hdgst: false,
        ddgst: false,
        hpda: 0,
        cpda: 0,
        maxh2cdata: 1 << 22,
        maxr2t: 0,
    };
    let host = params.framing(Role::Host);
    let mut stream = Vec::new();
    for cid in 0..64u16 {
        let mut sqe = [0u8; 64];
        sqe[0] = 0x02; // Read
        sqe[1] = 0x40; // SGL
        sqe[2..4].copy_from_slice(&cid.to_le_bytes());
        sqe[4..8].copy_from_slice(&1u32.to_le_bytes());
        sqe[32..36].copy_from_slice(&4096u32.to_le_bytes());
        sqe[39] = capsule::SGL_TRANSPORT;
        sqe[48..50].copy_from_slice(&7u16.to_le_bytes());
        let mut b = [0u8; 128];
        let k = Pdu::CapsuleCmd(CapsuleCmd { sqe, data_len: 0 })
            .emit_header::<SoftCrc32c>(&host, &mut b)
            .expect("header fits");
        stream.extend_from_slice(&b[..k]);
    }
    let limits = Limits {
        queue_depth: 128,
        max_incapsule: 16384,
    };
    let mut rx = Receiver::<SoftCrc32c>::with_params(Role::Target, limits, params);
    let mut headers = 0usize;
    let mut at = 0;
    while headers < n {
        let Want::Bytes(want) = rx.want() else {
            panic!("a header stream wants header bytes");
        };
        let k = want.min(stream.len() - at);
        let mut input = std::hint::black_box(&stream[at..at + k]);
        at = (at + k) % stream.len();
        loop {
            let (ev, rest) = rx.feed(input, &Idle);
            input = rest;
            match ev {
                Event::NeedMore => break,
                Event::Header => {
                    std::hint::black_box(rx.header());
                    headers += 1;
                }
                e => panic!("unexpected {e:?}"),
            }
        }
    }
    println!("{headers} headers");
}
