//! Header prediction (the receiver's fast path for the usual headers: a host's CapsuleResp and
//! C2HData, a target's CapsuleCmd and H2CData) accepts a header exactly as the general rules
//! do: for random headers, most of them near the usual ones, `Receiver::feed` (which predicts
//! first) and `Validator::validate` (the general path alone) must agree on the verdict, the
//! decoded header and what comes next.

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

/// Target transfers: TTAG `i` (below 10, beyond the queue depth of 8 on purpose) awaits data
/// of CID `100 + i` from `i * 512` up to `16384 + i * 512`; nothing else.
struct Transfers;

impl CommandTable for Transfers {
    fn transfer(&self, ttag: u16) -> Option<Transfer> {
        (ttag < 10).then(|| Transfer {
            cccid: 100 + ttag,
            next: u32::from(ttag) * 512,
            end: 16384 + u32::from(ttag) * 512,
        })
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

/// A header the host would send, valid or close to it: a CapsuleCmd (no data, or in-capsule
/// data) or an H2CData for a random TTAG, framed for `params`, then with up to three bytes of
/// its header changed.
fn target_header(rng: &mut Rng, params: &Params) -> Vec<u8> {
    let framing = params.framing(Role::Host);
    let pdu = if rng.below(2) == 0 {
        let mut sqe = [0u8; 64];
        sqe[0] = [0x01, 0x02, 0x7f][rng.below(3) as usize];
        sqe[2..4].copy_from_slice(&(rng.below(200) as u16).to_le_bytes());
        let data_len = [0, 0, 512, 4096, 8192, 16384][rng.below(6) as usize];
        let (sgl_len, sgl_type) = if data_len > 0 {
            (data_len, 0x01)
        } else {
            ([0, 4096, 1 << 20, 8 << 20][rng.below(4) as usize], 0x5a)
        };
        sqe[32..36].copy_from_slice(&u32::to_le_bytes(sgl_len));
        sqe[39] = sgl_type;
        Pdu::CapsuleCmd(CapsuleCmd { sqe, data_len })
    } else {
        let ttag = rng.below(12) as u16;
        let next = u32::from(ttag) * 512;
        let datal = [512, 4096, 8192, 16384][rng.below(4) as usize];
        Pdu::H2CData(H2CData {
            cccid: 100 + ttag,
            ttag,
            datao: next,
            datal,
            last: rng.below(2) == 0,
        })
    };
    let mut buf = vec![0u8; 256];
    let n = pdu.emit_header::<SoftCrc32c>(&framing, &mut buf).unwrap();
    let hlen = usize::from(buf[2]).min(n);
    buf.truncate(n.max(80));
    for _ in 0..rng.below(4) {
        let at = rng.below(hlen as u64) as usize;
        buf[at] = match rng.below(3) {
            0 => rng.next() as u8,
            1 => buf[at] ^ (1 << rng.below(8)),
            _ => [0, 1, 4, 6, 24, 72, 0x5a, 0xff][rng.below(8) as usize],
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

/// Feeds `rounds` headers from `make` to a receiver of `role` and to the general rules; both
/// must agree. Returns how many were accepted and rejected.
fn compare<T: CommandTable>(
    role: Role,
    table: &T,
    rounds: u32,
    make: fn(&mut Rng, &Params) -> Vec<u8>,
) -> (u32, u32) {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let limits = Limits {
        queue_depth: 8,
        max_incapsule: 8192,
    };
    let (mut accepted, mut rejected) = (0, 0);
    for round in 0..rounds {
        let params = Params {
            hdgst: round % 7 == 1,
            ddgst: round % 5 == 1,
            hpda: if round % 11 == 3 { 1 } else { 0 },
            cpda: if round % 13 == 3 { 1 } else { 0 },
            maxh2cdata: if round % 3 == 0 { 4096 } else { 1 << 20 },
            maxr2t: 0,
        };
        let hdr = make(&mut rng, &params);
        let general = Validator {
            role,
            limits,
            params: Some(params),
        }
        .validate::<SoftCrc32c, _>(&hdr, table);
        let mut rx = Receiver::<SoftCrc32c>::with_params(role, limits, params);
        let (event, _) = rx.feed(&hdr, table);
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
    (accepted, rejected)
}

#[test]
fn host_prediction_agrees_with_the_general_rules() {
    let (accepted, rejected) = compare(Role::Host, &Table, 200_000, header);
    // Both verdicts are well represented.
    assert!(
        accepted > 50_000 && rejected > 50_000,
        "{accepted} {rejected}"
    );
}

#[test]
fn target_prediction_agrees_with_the_general_rules() {
    let (accepted, rejected) = compare(Role::Target, &Transfers, 200_000, target_header);
    assert!(
        accepted > 50_000 && rejected > 50_000,
        "{accepted} {rejected}"
    );
}
