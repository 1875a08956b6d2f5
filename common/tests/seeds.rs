//! Writes the fuzz seed corpus (`common/fuzz/corpus/seed/`) from valid PDUs and streams.
//!
//! Run with `cargo test -p nvme-tcp-pdu --test seeds -- --ignored` after changing the format.

mod util;

use nvme_tcp_pdu::*;
use util::pdu_bytes;

fn samples() -> Vec<(Pdu, Vec<u8>)> {
    let mut sqe = [0u8; 64];
    sqe[0] = 1;
    sqe[2] = 2;
    let mut cqe = [0u8; 16];
    cqe[12] = 2;
    vec![
        (
            Pdu::IcReq(
                HostConfig {
                    hdgst: true,
                    ddgst: true,
                    maxr2t: 0,
                }
                .icreq(),
            ),
            vec![],
        ),
        (
            Pdu::IcResp(IcResp {
                pfv: 0,
                cpda: 0,
                dgst: DigestOptions(3),
                maxh2cdata: 8192,
            }),
            vec![],
        ),
        (
            Pdu::CapsuleCmd(CapsuleCmd { sqe, data_len: 16 }),
            vec![0x11; 16],
        ),
        (Pdu::CapsuleCmd(CapsuleCmd { sqe, data_len: 0 }), vec![]),
        (Pdu::CapsuleResp(CapsuleResp { cqe }), vec![]),
        (
            Pdu::C2HData(C2HData {
                cccid: 2,
                datao: 0,
                datal: 16,
                last: true,
                success: true,
            }),
            vec![0x22; 16],
        ),
        (
            Pdu::H2CData(H2CData {
                cccid: 1,
                ttag: 1,
                datao: 0,
                datal: 16,
                last: true,
            }),
            vec![0x33; 16],
        ),
        (
            Pdu::R2t(R2t {
                cccid: 3,
                ttag: 1,
                r2to: 0,
                r2tl: 4096,
            }),
            vec![],
        ),
        (
            Pdu::C2HTermReq(TermReq::new(FatalError::invalid_field(2), 8)),
            vec![0x44; 8],
        ),
        (
            Pdu::H2CTermReq(TermReq::new(FatalError::status(Fes::HeaderDigestError), 0)),
            vec![],
        ),
    ]
}

#[test]
#[ignore = "writes files; run by hand to regenerate the fuzz seeds"]
fn write_fuzz_seeds() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/seed");
    std::fs::create_dir_all(&dir).unwrap();
    for (digests, ctl) in [(false, 0u8), (true, 2u8)] {
        let f = Framing {
            hdgst: digests,
            ddgst: digests,
            pda: 0,
        };
        let mut host_stream = vec![ctl, 7];
        let mut target_stream = vec![ctl | 1, 5];
        for (i, (pdu, data)) in samples().iter().enumerate() {
            let bytes = pdu_bytes(pdu, &f, data);
            // parse: a control byte (PDA) then one PDU.
            let mut seed = vec![0u8];
            seed.extend_from_slice(&bytes);
            std::fs::write(dir.join(format!("parse-{i:02}-{ctl}")), &seed).unwrap();
            match pdu.pdu_type() {
                PduType::IcReq | PduType::IcResp => {}
                PduType::CapsuleCmd | PduType::H2CData | PduType::H2CTermReq => {
                    target_stream.extend_from_slice(&bytes)
                }
                _ => host_stream.extend_from_slice(&bytes),
            }
        }
        // rx: a control byte (role, digests), a chunk size, then a stream.
        std::fs::write(dir.join(format!("rx-host-{ctl}")), &host_stream).unwrap();
        std::fs::write(dir.join(format!("rx-target-{ctl}")), &target_stream).unwrap();
    }
}
