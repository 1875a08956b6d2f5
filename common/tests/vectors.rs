//! Byte vectors for every PDU type.
//!
//! These are built by hand from the NVMe/TCP transport specification and the C struct layouts
//! in `include/linux/nvme-tcp.h`, as the Linux C drivers fill them in (`nvme_tcp_init_connection`,
//! `nvmet_tcp_handle_icreq`, `nvme_tcp_setup_cmd_pdu`, `nvmet_setup_c2h_data_pdu`,
//! `nvmet_setup_r2t_pdu`, `nvmet_setup_response_pdu`, `nvme_tcp_setup_h2c_data_pdu`); the real
//! streams the C drivers exchange are replayed in `captured.rs`.
//! Digest bytes were computed independently (a bitwise CRC32C in Python).

use nvme_tcp_pdu::capsule::{CmdPdu, RspPdu};
use nvme_tcp_pdu::data::{DataPdu, R2tPdu};
use nvme_tcp_pdu::digest::{digest, Crc32c};
use nvme_tcp_pdu::ic::{IcReqPdu, IcRespPdu};
use nvme_tcp_pdu::term::TermPdu;
use nvme_tcp_pdu::*;

fn framing(hdgst: bool, ddgst: bool) -> Framing {
    Framing {
        hdgst,
        ddgst,
        pda: 0,
    }
}

/// Decodes `bytes`, checks the value, and checks that emitting the value gives `bytes` back.
fn check(bytes: &[u8], f: Framing, expect: Pdu, data_len: u32) {
    let h = Header::decode(bytes, 0).unwrap();
    assert_eq!(h.pdu, expect);
    assert_eq!(h.layout.data_len, data_len);
    assert_eq!(h.common.plen, h.layout.plen().unwrap());
    let mut out = [0u8; 256];
    let n = expect.emit_header::<SoftCrc32c>(&f, &mut out).unwrap();
    assert_eq!(&out[..n], &bytes[..n]);
    assert_eq!(n, h.layout.data_offset());
}

fn pad128(head: &[u8]) -> [u8; 128] {
    let mut b = [0u8; 128];
    b[..head.len()].copy_from_slice(head);
    b
}

#[test]
fn crc32c_known_answer() {
    assert_eq!(digest::<SoftCrc32c>(b"123456789"), 0xe306_9283);
    assert_eq!(digest::<SoftCrc32c>(b""), 0);
    // Incremental equals one-shot, at every split.
    let data: Vec<u8> = (0..100u8).collect();
    for cut in 0..=data.len() {
        let mut d = Digest::<SoftCrc32c>::new();
        d.update(&data[..cut]);
        d.update(&data[cut..]);
        assert_eq!(d.finish(), digest::<SoftCrc32c>(&data));
    }
    let mut dst = [0u8; 64];
    let mut d = Digest::<SoftCrc32c>::new();
    assert_eq!(d.copy_and_update(&mut dst, &data), 64);
    assert_eq!(&dst[..], &data[..64]);
    assert_eq!(d.finish(), digest::<SoftCrc32c>(&data[..64]));
    assert_eq!(SoftCrc32c::crc32c(!0, b"123456789"), !0xe306_9283);
}

#[test]
fn icreq_linux_host_with_digests() {
    // nvme_tcp_init_connection: hlen = plen = 128, pdo 0, pfv 0, hpda 0, maxr2t 0, digest 3.
    let bytes = pad128(&[
        0x00, 0x00, 0x80, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03,
    ]);
    let v = IcReq {
        pfv: 0,
        hpda: 0,
        dgst: DigestOptions(3),
        maxr2t: 0,
    };
    check(&bytes, framing(true, true), Pdu::IcReq(v), 0);
    assert_eq!(v.to_bytes(), bytes);
    let view = IcReqPdu::new_checked(&bytes).unwrap();
    assert_eq!((view.pfv(), view.hpda(), view.maxr2t()), (0, 0, 0));
    assert!(view.dgst().header() && view.dgst().data());
}

#[test]
fn icresp_linux_target() {
    // nvmet_tcp_handle_icreq: maxdata 0x400000, cpda 0, digests as asked (here header only).
    let bytes = pad128(&[
        0x01, 0x00, 0x80, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x40,
        0x00,
    ]);
    let v = IcResp {
        pfv: 0,
        cpda: 0,
        dgst: DigestOptions(1),
        maxh2cdata: 0x40_0000,
    };
    check(&bytes, framing(false, false), Pdu::IcResp(v), 0);
    assert_eq!(v.to_bytes(), bytes);
    assert_eq!(
        IcRespPdu::new_checked(&bytes).unwrap().maxh2cdata(),
        0x40_0000
    );
}

#[test]
fn capsule_cmd_write_with_inline_data() {
    // A 512-byte write sent in-capsule: pdo = hlen, plen = 72 + 512 = 0x248.
    let mut bytes = vec![0x04, 0x00, 0x48, 0x48, 0x48, 0x02, 0x00, 0x00];
    let mut sqe = [0u8; 64];
    sqe[0] = 0x01; // Write
    sqe[2..4].copy_from_slice(&0x1003u16.to_le_bytes()); // CID
    sqe[4..8].copy_from_slice(&1u32.to_le_bytes()); // NSID
    sqe[32..36].copy_from_slice(&512u32.to_le_bytes()); // SGL length
    sqe[39] = 0x01; // SGL data block, offset (in-capsule)
    bytes.extend_from_slice(&sqe);
    bytes.extend(std::iter::repeat_n(0xa5, 512));
    let v = CapsuleCmd { sqe, data_len: 512 };
    check(&bytes, framing(false, false), Pdu::CapsuleCmd(v), 512);
    assert_eq!(
        (v.opcode(), v.cid(), v.sgl_len(), v.sgl_type()),
        (1, 0x1003, 512, 1)
    );
    assert_eq!(CmdPdu::new_checked(&bytes).unwrap().sqe(), sqe);
}

#[test]
fn capsule_cmd_without_data_has_pdo_zero() {
    let mut bytes = vec![0x04, 0x00, 0x48, 0x00, 0x48, 0x00, 0x00, 0x00];
    let mut sqe = [0u8; 64];
    sqe[0] = 0x06; // Identify
    sqe[2] = 0x02;
    bytes.extend_from_slice(&sqe);
    check(
        &bytes,
        framing(false, true),
        Pdu::CapsuleCmd(CapsuleCmd { sqe, data_len: 0 }),
        0,
    );
}

#[test]
fn capsule_resp_with_header_digest() {
    // nvmet_setup_response_pdu with a header digest: flags HDGSTF, plen 28.
    let mut bytes = vec![0x05, 0x01, 0x18, 0x00, 0x1c, 0x00, 0x00, 0x00];
    let mut cqe = [0u8; 16];
    cqe[12] = 0x07; // CID 7
    cqe[14] = 0x01; // phase bit
    bytes.extend_from_slice(&cqe);
    bytes.extend_from_slice(&[0x26, 0x32, 0xa1, 0x83]);
    let v = CapsuleResp { cqe };
    check(&bytes, framing(true, true), Pdu::CapsuleResp(v), 0);
    assert_eq!((v.cid(), v.status()), (7, 1));
    assert_eq!(RspPdu::new_checked(&bytes).unwrap().cqe(), cqe);
}

#[test]
fn c2h_data_success_with_digests() {
    // nvmet_setup_c2h_data_pdu, SQ flow control disabled, both digests: flags 0x0f,
    // pdo = 24 + 4, plen = 24 + 4 + 16 + 4.
    let mut bytes = vec![
        0x07, 0x0f, 0x18, 0x1c, 0x30, 0x00, 0x00, 0x00, 0x01, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    ];
    bytes.extend_from_slice(&[0x85, 0x77, 0x9e, 0xc4]);
    bytes.extend(0..16u8);
    bytes.extend_from_slice(&[0xeb, 0x08, 0xc9, 0xd9]);
    let v = C2HData {
        cccid: 0x2001,
        datao: 0,
        datal: 16,
        last: true,
        success: true,
    };
    check(&bytes, framing(true, true), Pdu::C2HData(v), 16);
    assert_eq!(
        digest::<SoftCrc32c>(&bytes[28..44]).to_le_bytes(),
        [0xeb, 0x08, 0xc9, 0xd9]
    );
    let view = DataPdu::new_checked(&bytes).unwrap();
    assert_eq!((view.cccid(), view.datao(), view.datal()), (0x2001, 0, 16));
    assert_eq!(view.common().flags.bits(), 0x0f);
}

#[test]
fn h2c_data_last() {
    // nvme_tcp_setup_h2c_data_pdu without digests: flags LAST_PDU, pdo = hlen, 4 KiB at 8 KiB.
    let mut bytes = vec![
        0x06, 0x04, 0x18, 0x18, 0x18, 0x10, 0x00, 0x00, 0x05, 0x10, 0x03, 0x00, 0x00, 0x20, 0x00,
        0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    ];
    bytes.extend(std::iter::repeat_n(0x5a, 4096));
    let v = H2CData {
        cccid: 0x1005,
        ttag: 3,
        datao: 0x2000,
        datal: 0x1000,
        last: true,
    };
    check(&bytes, framing(false, false), Pdu::H2CData(v), 4096);
    assert_eq!(DataPdu::new_checked(&bytes).unwrap().ttag(), 3);
}

#[test]
fn r2t_with_header_digest() {
    // nvmet_setup_r2t_pdu with a header digest: flags HDGSTF, pdo 0, plen 28.
    let bytes = [
        0x09, 0x01, 0x18, 0x00, 0x1c, 0x00, 0x00, 0x00, 0x05, 0x10, 0x03, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x50, 0x77, 0x1b, 0x3a,
    ];
    let v = R2t {
        cccid: 0x1005,
        ttag: 3,
        r2to: 0,
        r2tl: 8192,
    };
    check(&bytes, framing(true, false), Pdu::R2t(v), 0);
    let view = R2tPdu::new_checked(&bytes).unwrap();
    assert_eq!(
        (view.cccid(), view.ttag(), view.r2to(), view.r2tl()),
        (0x1005, 3, 0, 8192)
    );
}

#[test]
fn term_reqs_carry_the_offending_header() {
    // C2HTermReq, FES 01h, FEI 2 (HLEN), carrying a 24-byte offending header: plen 48.
    let offending: Vec<u8> = (0..24u8).collect();
    let mut bytes = vec![
        0x03, 0x00, 0x18, 0x00, 0x30, 0x00, 0x00, 0x00, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    ];
    bytes.extend_from_slice(&offending);
    let t = TermReq::new(FatalError::invalid_field(2), offending.len());
    check(&bytes, framing(true, true), Pdu::C2HTermReq(t), 24);
    let mut out = [0u8; 200];
    let n = t.emit_pdu(Role::Target, &offending, &mut out).unwrap();
    assert_eq!(&out[..n], &bytes[..]);
    let view = TermPdu::new_checked(&bytes).unwrap();
    assert_eq!((view.fes(), view.fei()), (Fes::InvalidHeaderField, 2));

    // H2CTermReq at the maximum: 128 bytes of header, plen 152; longer input is capped.
    let big = [0x11u8; 200];
    let t = TermReq::new(FatalError::status(Fes::HeaderDigestError), big.len());
    assert_eq!(t.data_len, 128);
    let n = t.emit_pdu(Role::Host, &big, &mut out).unwrap();
    assert_eq!(n, 152);
    assert_eq!(&out[..8], &[0x02, 0x00, 0x18, 0x00, 0x98, 0x00, 0x00, 0x00]);
    assert_eq!(&out[8..10], &[0x03, 0x00]);
    let h = Header::decode(&out[..n], 0).unwrap();
    assert_eq!(h.pdu, Pdu::H2CTermReq(t));
    assert_eq!(t.error(), FatalError::status(Fes::HeaderDigestError));
}

#[test]
fn unknown_values_are_kept() {
    assert_eq!(PduType::from(0x08), PduType::Unknown(0x08));
    assert_eq!(u8::from(PduType::Unknown(0x42)), 0x42);
    for v in 0..=255u8 {
        assert_eq!(u8::from(PduType::from(v)), v);
    }
    for v in 0..=300u16 {
        assert_eq!(u16::from(Fes::from(v)), v);
    }
    // A TermReq with an unknown FES keeps it.
    let mut bytes = [0u8; 24];
    bytes[..8].copy_from_slice(&[0x03, 0x00, 0x18, 0x00, 0x18, 0x00, 0x00, 0x00]);
    bytes[8] = 0x77;
    let h = Header::decode(&bytes, 0).unwrap();
    let Pdu::C2HTermReq(t) = h.pdu else { panic!() };
    assert_eq!(t.fes, Fes::Unknown(0x77));
    // Unknown flag bits survive in the common header.
    let mut bytes = [0u8; 24];
    bytes[..8].copy_from_slice(&[0x05, 0x80, 0x18, 0x00, 0x18, 0x00, 0x00, 0x00]);
    let h = Header::decode(&bytes, 0).unwrap();
    assert_eq!(h.common.flags.bits(), 0x80);
    assert_eq!(Common::parse(&bytes).unwrap().to_bytes(), bytes[..8]);
}

#[test]
fn views_reject_short_buffers() {
    assert_eq!(DataPdu::new_checked(&[0u8; 23]), Err(Error::Truncated));
    let mut small = [0u8; 71];
    assert_eq!(
        CmdPdu::new_checked_mut(&mut small).err(),
        Some(Error::BufferTooSmall)
    );
    assert_eq!(
        Header::decode(&[0x05, 0, 0x18], 0),
        Err(DecodeError::Truncated)
    );
    let resp = Pdu::CapsuleResp(CapsuleResp { cqe: [0; 16] });
    assert_eq!(
        resp.emit_header::<SoftCrc32c>(&framing(true, false), &mut [0u8; 27]),
        Err(Error::BufferTooSmall)
    );
}

/// A CapsuleCmd framed around an SQE built in place is the one `emit_header` writes, whatever
/// the bytes around the SQE held before.
#[test]
fn capsule_framed_in_place_as_emitted() {
    let mut sqe = [0u8; 64];
    for (i, b) in sqe.iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(37).wrapping_add(1);
    }
    for hdgst in [false, true] {
        for pda in [0, 1, 7, 31] {
            for data_len in [0, 1, 4096] {
                let f = Framing {
                    hdgst,
                    ddgst: false,
                    pda,
                };
                let pdu = Pdu::CapsuleCmd(CapsuleCmd { sqe, data_len });
                let mut want = [0u8; 256];
                let n = pdu.emit_header::<SoftCrc32c>(&f, &mut want).unwrap();
                let mut got = [0xeeu8; 256];
                got[8..72].copy_from_slice(&sqe);
                let m = Pdu::frame_capsule_cmd::<SoftCrc32c>(&f, data_len, &mut got).unwrap();
                assert_eq!((m, &got[..m]), (n, &want[..n]), "{f:?} data_len {data_len}");
                // Too short for the header section: refused.
                assert_eq!(
                    Pdu::frame_capsule_cmd::<SoftCrc32c>(&f, data_len, &mut got[..n - 1]),
                    Err(Error::BufferTooSmall)
                );
            }
        }
    }
}

/// A capsule framed by writing the kept common header before its SQE is the one
/// `frame_capsule_cmd` frames, for every data length, and plain capsules are offered exactly
/// when the framing puts nothing between the header and the data (no header digest, and a PDA
/// that makes no padding at PDO 72).
#[test]
fn plain_capsules_frame_as_emitted() {
    let sqe = [0x5au8; 64];
    for hdgst in [false, true] {
        for ddgst in [false, true] {
            for pda in [0, 1, 2, 3, 5, 7, 8, 17, 31] {
                let f = Framing { hdgst, ddgst, pda };
                let plain = PlainCapsules::new(&f);
                let aligned = 72 % ((u32::from(pda) + 1) * 4) == 0;
                assert_eq!(plain.is_some(), !hdgst && aligned, "{f:?}");
                let Some(plain) = plain else { continue };
                for data_len in [0, 1, 3, 512, 4096, 8192, u32::MAX - 76] {
                    let mut want = [0u8; 256];
                    want[8..72].copy_from_slice(&sqe);
                    let framed = Pdu::frame_capsule_cmd::<SoftCrc32c>(&f, data_len, &mut want);
                    match plain.common(data_len) {
                        Some(common) => {
                            let mut got = [0u8; 72];
                            got[..8].copy_from_slice(&common);
                            got[8..].copy_from_slice(&sqe);
                            assert_eq!(framed, Ok(72), "{f:?} data_len {data_len}");
                            assert_eq!(&got[..], &want[..72], "{f:?} data_len {data_len}");
                        }
                        None => assert!(framed.is_err(), "{f:?} data_len {data_len}"),
                    }
                }
                assert_eq!(plain.common(u32::MAX), None, "{f:?}");
            }
        }
    }
}
