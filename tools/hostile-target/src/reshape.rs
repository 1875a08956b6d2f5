//! Legal but unusual target-to-host streams (`--reshape`), for fuzzing a host at volume: every
//! PDU is one a host must accept, so a connection survives them and carries on.
//!
//! - A C2HData becomes many C2HData PDUs of random sizes (down to one byte), each with the
//!   connection's digests and, when asked, padding beyond the header (PDO a multiple of the
//!   alignment the host asked for, but larger than needed); only the last keeps LAST_PDU and
//!   SUCCESS.
//! - An R2T becomes several R2Ts one after the other, each asking for the next part of the
//!   range once the host has sent the data of the previous one (the host allows one R2T in
//!   flight per command); the host's H2CData go on to the target with LAST_PDU only at the end
//!   of the target's R2T.
//! - A CapsuleResp gets a random SQHD within the queue (hosts use it for SQ flow control).

use nvme_tcp_pdu::ic::MAX_PDA;
use nvme_tcp_pdu::{C2HData, CapsuleResp, Framing, Header, Pdu, R2t};

use crate::forge::{data_of, emit, framing_of, set_hdgst, Rng};

/// Header length of data PDUs (C2HData, H2CData, R2T).
const DATA_HLEN: usize = 24;
/// The LAST_PDU flag.
const LAST_PDU: u8 = 0x04;

/// Splits `len` bytes into pieces: many tiny ones, some mid-sized ones, or one.
pub fn pieces(len: u32, most: usize, rng: &mut Rng) -> Vec<u32> {
    let max = match rng.below(4) {
        0 => 1 + rng.below(64),
        1 => 1 + rng.below(2048),
        2 => 1 + rng.below(len as usize),
        _ => len as usize,
    };
    let mut out = Vec::new();
    let mut left = len;
    while left > 0 {
        let n = if out.len() + 1 >= most {
            left
        } else {
            u32::try_from(1 + rng.below(max)).unwrap_or(left).min(left)
        };
        out.push(n);
        left -= n;
    }
    out
}

/// The framing of a reshaped PDU: the original's digests and, with `pad` and a host that asked
/// for no alignment, a random PDA (so PDO is larger than the header needs).
fn framing(h: &Header, hpda: u8, pad: bool, rng: &mut Rng) -> Framing {
    let mut f = framing_of(&h.layout, hpda);
    if pad && hpda == 0 {
        f.pda = u8::try_from(rng.below(usize::from(MAX_PDA) + 1)).unwrap_or(0);
    }
    f
}

/// A C2HData split into pieces; returns the bytes and how many PDUs they are.
pub fn split_c2h(
    h: &Header,
    bytes: &[u8],
    hpda: u8,
    pad: bool,
    rng: &mut Rng,
) -> Option<(Vec<u8>, u64)> {
    let Pdu::C2HData(d) = h.pdu else { return None };
    let data = data_of(bytes, &h.layout);
    let ps = pieces(d.datal, 256, rng);
    let mut out = Vec::with_capacity(bytes.len() + ps.len() * 64);
    let mut at = 0usize;
    for (i, &n) in ps.iter().enumerate() {
        let last = i + 1 == ps.len();
        let n = n as usize;
        let piece = C2HData {
            cccid: d.cccid,
            datao: d.datao + u32::try_from(at).ok()?,
            datal: u32::try_from(n).ok()?,
            last: d.last && last,
            success: d.success && last,
        };
        out.extend(emit(
            &Pdu::C2HData(piece),
            &framing(h, hpda, pad, rng),
            &data[at..at + n],
        ));
        at += n;
    }
    Some((out, ps.len() as u64))
}

/// The same CapsuleResp with SQHD `sqhd`.
pub fn with_sqhd(h: &Header, hpda: u8, sqhd: u16) -> Option<Vec<u8>> {
    let Pdu::CapsuleResp(r) = h.pdu else {
        return None;
    };
    let mut cqe = r.cqe;
    cqe[8..10].copy_from_slice(&sqhd.to_le_bytes());
    Some(emit(
        &Pdu::CapsuleResp(CapsuleResp { cqe }),
        &framing_of(&h.layout, hpda),
        &[],
    ))
}

/// The boundaries an R2T of `r2to`/`r2tl` is asked for in: ascending ends, the last one the
/// end of the range.
pub fn r2t_ends(r2to: u32, r2tl: u32, rng: &mut Rng) -> Vec<u32> {
    let mut ends = Vec::new();
    let mut at = r2to;
    for n in pieces(r2tl, 1 + rng.below(16), rng) {
        at += n;
        ends.push(at);
    }
    ends
}

/// An R2T like `r` for bytes `from..to`, framed as `h`.
pub fn r2t_part(r: &R2t, h: &Header, hpda: u8, from: u32, to: u32) -> Vec<u8> {
    emit(
        &Pdu::R2t(R2t {
            r2to: from,
            r2tl: to - from,
            ..*r
        }),
        &framing_of(&h.layout, hpda),
        &[],
    )
}

/// A host's H2CData with LAST_PDU set to `last` (its header digest recomputed).
pub fn h2c_with_last(bytes: &[u8], last: bool) -> Vec<u8> {
    let mut out = bytes.to_vec();
    if out.len() > 1 {
        out[1] = if last {
            out[1] | LAST_PDU
        } else {
            out[1] & !LAST_PDU
        };
        set_hdgst(&mut out, DATA_HLEN);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use nvme_tcp_pdu::digest::digest;
    use nvme_tcp_pdu::SoftCrc32c;

    /// Whether `d` is the data digest of `data`.
    fn ddgst_ok(data: &[u8], d: &[u8]) -> bool {
        digest::<SoftCrc32c>(data).to_le_bytes() == d
    }

    fn c2h(data: &[u8], framing: &Framing, success: bool) -> Vec<u8> {
        emit(
            &Pdu::C2HData(C2HData {
                cccid: 9,
                datao: 4096,
                datal: data.len() as u32,
                last: true,
                success,
            }),
            framing,
            data,
        )
    }

    /// Decodes a stream of PDUs with `hpda`, checking every digest.
    fn decode_all(mut b: &[u8], hpda: u8) -> Vec<(Header, Vec<u8>)> {
        let mut out = Vec::new();
        while !b.is_empty() {
            let h = Header::decode(b, hpda).expect("a valid PDU");
            let plen = h.layout.plen().unwrap() as usize;
            let pdu = &b[..plen];
            let data = data_of(pdu, &h.layout).to_vec();
            if h.layout.ddgst {
                assert!(ddgst_ok(&data, &pdu[plen - 4..]));
            }
            out.push((h, data));
            b = &b[plen..];
        }
        out
    }

    #[test]
    fn c2h_split_is_the_same_data_in_order() {
        let mut rng = Rng::new(5);
        let data: Vec<u8> = (0..20000u32).map(|i| i as u8).collect();
        for (hdgst, ddgst, pad) in [
            (false, false, false),
            (true, true, true),
            (true, false, true),
        ] {
            for success in [false, true] {
                let f = Framing {
                    hdgst,
                    ddgst,
                    pda: 0,
                };
                let orig = c2h(&data, &f, success);
                let h = Header::decode(&orig, 0).unwrap();
                for _ in 0..20 {
                    let (b, n) = split_c2h(&h, &orig, 0, pad, &mut rng).unwrap();
                    let pdus = decode_all(&b, 0);
                    assert_eq!(pdus.len() as u64, n);
                    let mut got = Vec::new();
                    for (i, (ph, d)) in pdus.iter().enumerate() {
                        let Pdu::C2HData(c) = ph.pdu else { panic!() };
                        assert_eq!(c.datao, 4096 + got.len() as u32);
                        let last = i + 1 == pdus.len();
                        assert_eq!(c.last, last);
                        assert_eq!(c.success, success && last);
                        assert_eq!(ph.layout.hdgst, hdgst);
                        got.extend_from_slice(d);
                    }
                    assert_eq!(got, data);
                }
            }
        }
    }

    #[test]
    fn r2t_ends_cover_the_range() {
        let mut rng = Rng::new(9);
        for _ in 0..200 {
            let ends = r2t_ends(8192, 65536, &mut rng);
            assert_eq!(*ends.last().unwrap(), 8192 + 65536);
            assert!(ends.windows(2).all(|w| w[0] < w[1]));
            assert!(ends[0] > 8192);
            assert!(ends.len() <= 16);
        }
    }

    #[test]
    fn h2c_last_flag_keeps_the_header_digest_right() {
        let f = Framing {
            hdgst: true,
            ddgst: true,
            pda: 0,
        };
        let b = emit(
            &Pdu::H2CData(nvme_tcp_pdu::H2CData {
                cccid: 3,
                ttag: 4,
                datao: 0,
                datal: 512,
                last: true,
            }),
            &f,
            &[7; 512],
        );
        let x = h2c_with_last(&b, false);
        let h = Header::decode(&x, 0).expect("valid");
        let Pdu::H2CData(d) = h.pdu else { panic!() };
        assert!(!d.last);
        let y = h2c_with_last(&x, true);
        assert_eq!(y, b);
    }
}
