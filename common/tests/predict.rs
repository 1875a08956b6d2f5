//! Header prediction (the receiver's fast path for a host's usual CapsuleResp and C2HData)
//! accepts a header exactly as the general rules do: for random headers, most of them near the
//! usual ones, `Receiver::feed` (which predicts first) and `Validator::validate` (the general
//! path alone) must agree on the verdict, the decoded header and what comes next.

use nvme_tcp_pdu::*;

/// Host commands in flight: CID `i` is a read of `READ_LEN` with `i * 512` bytes received for
/// CIDs 0..8, a write for 8..12, a command without data for 12..14; nothing else.
struct Table;

const READ_LEN: u32 = 8192;

impl CommandTable for Table {
    fn command(&self, cccid: u16) -> Option<CommandState> {
        match cccid {
            0..8 => Some(CommandState::Read {
                len: READ_LEN,
                received: u32::from(cccid) * 512,
            }),
            8..12 => Some(CommandState::Write {
                len: 4096,
                requested: 0,
                r2ts: 0,
            }),
            12..14 => Some(CommandState::NoData),
            _ => None,
        }
    }
}

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A header the target would send, valid or close to it: a C2HData or a CapsuleResp for a
/// random CID, framed for `params`, then with up to three bytes of its first 24 changed.
fn header(rng: &mut Rng, params: &Params) -> Vec<u8> {
    let framing = params.framing(Role::Target);
    let cid = rng.below(18) as u16;
    let pdu = if rng.below(2) == 0 {
        let datao = u32::from(cid) * 512;
        let datal = [512, 1024, 4096, READ_LEN - datao.min(READ_LEN)][rng.below(4) as usize];
        let last = rng.below(2) == 0;
        Pdu::C2HData(C2HData {
            cccid: cid,
            datao,
            datal: datal.max(1),
            last,
            success: last && rng.below(2) == 0,
        })
    } else {
        let mut cqe = [0u8; 16];
        cqe[12..14].copy_from_slice(&cid.to_le_bytes());
        Pdu::CapsuleResp(CapsuleResp { cqe })
    };
    let mut buf = vec![0u8; 256];
    let n = pdu.emit_header::<SoftCrc32c>(&framing, &mut buf).unwrap();
    buf.truncate(n.max(32));
    for _ in 0..rng.below(4) {
        let at = rng.below(24) as usize;
        buf[at] = match rng.below(3) {
            0 => rng.next() as u8,
            1 => buf[at] ^ (1 << rng.below(8)),
            _ => [0, 5, 7, 24, 0xff][rng.below(5) as usize],
        };
    }
    buf
}

/// What the receiver should want after accepting `h`.
fn want_after(h: &Header) -> Want {
    let l = h.layout;
    if l.data_len == 0 {
        Want::Bytes(8)
    } else if l.pad > 0 {
        Want::Bytes(usize::from(l.pad))
    } else {
        Want::Data {
            offset: h.pdu.data_offset(),
            len: l.data_len,
        }
    }
}

#[test]
fn prediction_agrees_with_the_general_rules() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut accepted = 0;
    let mut rejected = 0;
    for round in 0..200_000 {
        let params = Params {
            hdgst: round % 7 == 1,
            ddgst: round % 5 == 1,
            hpda: if round % 11 == 3 { 1 } else { 0 },
            cpda: 0,
            maxh2cdata: 1 << 20,
            maxr2t: 0,
        };
        let hdr = header(&mut rng, &params);
        let general = Validator {
            role: Role::Host,
            limits: Limits::default(),
            params: Some(params),
        }
        .validate::<SoftCrc32c, _>(&hdr, &Table);
        let mut rx = Receiver::<SoftCrc32c>::with_params(Role::Host, Limits::default(), params);
        let (event, _) = rx.feed(&hdr, &Table);
        match general {
            Ok(h) => {
                assert_eq!(event, Event::Header, "{hdr:02x?}");
                assert_eq!(rx.header(), &h, "{hdr:02x?}");
                assert_eq!(rx.want(), want_after(&h), "{hdr:02x?}");
                accepted += 1;
            }
            Err(DecodeError::Fatal(e)) => {
                assert_eq!(event, Event::Fatal(e), "{hdr:02x?}");
                rejected += 1;
            }
            Err(DecodeError::Truncated) => panic!("a whole header came out truncated"),
        }
    }
    // Both verdicts are well represented.
    assert!(
        accepted > 50_000 && rejected > 50_000,
        "{accepted} {rejected}"
    );
}
