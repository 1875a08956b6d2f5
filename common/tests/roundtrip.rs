//! Emit then parse gives the same value, for every PDU and every framing; non-zero PDA padding.

mod util;

use nvme_tcp_pdu::header::pda_alignment;
use nvme_tcp_pdu::*;
use util::{pdu_bytes, Rng};

fn samples(rng: &mut Rng) -> Vec<Pdu> {
    let mut sqe = [0u8; 64];
    for b in sqe.iter_mut() {
        *b = rng.next() as u8;
    }
    let mut cqe = [0u8; 16];
    for b in cqe.iter_mut() {
        *b = rng.next() as u8;
    }
    let len = 1 + rng.below(3000) as u32;
    vec![
        Pdu::IcReq(IcReq {
            pfv: 0,
            hpda: rng.below(32) as u8,
            dgst: DigestOptions(rng.next() as u8),
            maxr2t: rng.next() as u32,
        }),
        Pdu::IcResp(IcResp {
            pfv: rng.next() as u16,
            cpda: rng.below(32) as u8,
            dgst: DigestOptions(3),
            maxh2cdata: rng.next() as u32,
        }),
        Pdu::H2CTermReq(TermReq {
            fes: Fes::from(rng.below(8) as u16),
            fei: rng.next() as u32,
            data_len: rng.below(129) as u8,
        }),
        Pdu::C2HTermReq(TermReq {
            fes: Fes::Unknown(0x99),
            fei: 0,
            data_len: 0,
        }),
        Pdu::CapsuleCmd(CapsuleCmd { sqe, data_len: 0 }),
        Pdu::CapsuleCmd(CapsuleCmd { sqe, data_len: len }),
        Pdu::CapsuleResp(CapsuleResp { cqe }),
        Pdu::H2CData(H2CData {
            cccid: rng.next() as u16,
            ttag: rng.next() as u16,
            datao: rng.next() as u32 / 2,
            datal: len,
            last: rng.next() & 1 == 1,
        }),
        Pdu::C2HData(C2HData {
            cccid: rng.next() as u16,
            datao: rng.next() as u32 / 2,
            datal: len,
            last: true,
            success: rng.next() & 1 == 1,
        }),
        Pdu::C2HData(C2HData {
            cccid: 1,
            datao: 0,
            datal: len,
            last: false,
            success: false,
        }),
        Pdu::R2t(R2t {
            cccid: rng.next() as u16,
            ttag: rng.next() as u16,
            r2to: rng.next() as u32,
            r2tl: rng.next() as u32,
        }),
    ]
}

#[test]
fn emit_then_decode_every_pdu_every_framing() {
    let mut rng = Rng(0x1234_5678);
    for round in 0..50 {
        for pdu in samples(&mut rng) {
            for pda in [0u8, 1, 3, 7, 31] {
                for (hdgst, ddgst) in [(false, false), (true, false), (false, true), (true, true)] {
                    let f = Framing { hdgst, ddgst, pda };
                    let data: Vec<u8> = (0..pdu.data_len()).map(|i| (i ^ round) as u8).collect();
                    let bytes = pdu_bytes(&pdu, &f, &data);
                    let h = Header::decode(&bytes, pda).unwrap();
                    assert_eq!(h.pdu, pdu, "{f:?}");
                    assert_eq!(h.layout, pdu.layout(&f).unwrap());
                    assert_eq!(h.common, pdu.common(&h.layout).unwrap());
                    if pdu.pdu_type().has_digests() && pdu.data_len() > 0 {
                        // The data starts at an aligned PDO.
                        let align = pda_alignment(pda).unwrap() as usize;
                        assert_eq!(h.layout.data_offset() % align, 0);
                        assert_eq!(h.common.pdo as usize, h.layout.data_offset());
                        assert!(h.layout.pad < align as u8);
                    }
                }
            }
        }
    }
}

#[test]
fn peer_alignment_is_honoured_when_sending() {
    // A controller asking CPDA 31 (128-byte alignment): the host pads its H2CData header.
    let params = Params {
        hdgst: true,
        ddgst: true,
        hpda: 0,
        cpda: 31,
        maxh2cdata: 4096,
        maxr2t: 0,
    };
    let f = params.framing(Role::Host);
    let pdu = Pdu::H2CData(H2CData {
        cccid: 1,
        ttag: 0,
        datao: 0,
        datal: 8,
        last: true,
    });
    let layout = pdu.layout(&f).unwrap();
    assert_eq!(layout.data_offset(), 128);
    assert_eq!(layout.pad, 100);
    assert_eq!(layout.plen(), Some(128 + 8 + 4));
    // And the target side with HPDA 1 pads C2HData to 8 bytes: 24 + 4 = 28 -> 32.
    let params = Params { hpda: 1, ..params };
    let c2h = Pdu::C2HData(C2HData {
        cccid: 1,
        datao: 0,
        datal: 8,
        last: true,
        success: false,
    });
    assert_eq!(
        c2h.layout(&params.framing(Role::Target))
            .unwrap()
            .data_offset(),
        32
    );
}

#[test]
fn emit_overflow_is_an_error() {
    let f = Framing {
        hdgst: true,
        ddgst: true,
        pda: 0,
    };
    let pdu = Pdu::H2CData(H2CData {
        cccid: 0,
        ttag: 0,
        datao: 0,
        datal: u32::MAX - 10,
        last: true,
    });
    assert_eq!(pdu.layout(&f), Err(Error::Overflow));
    let bad_pda = Framing { pda: 32, ..f };
    let cmd = Pdu::CapsuleCmd(CapsuleCmd {
        sqe: [0; 64],
        data_len: 1,
    });
    assert_eq!(cmd.layout(&bad_pda), Err(Error::Overflow));
    let term = Pdu::H2CTermReq(TermReq {
        fes: Fes::PduSequenceError,
        fei: 0,
        data_len: 129,
    });
    assert_eq!(term.layout(&f), Err(Error::Overflow));
}
