//! Fuzzes the header parser: decode, validate in every context, and re-emit what decodes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nvme_tcp_pdu::validate::{CommandState, CommandTable, Transfer};
use nvme_tcp_pdu::*;

/// A table that answers from the input, so that every rule is reached.
struct Table(u32, u32);

impl CommandTable for Table {
    fn command(&self, cccid: u16) -> Option<CommandState> {
        match cccid % 4 {
            0 => None,
            1 => Some(CommandState::NoData),
            2 => Some(CommandState::Read {
                len: self.0,
                received: self.1,
            }),
            _ => Some(CommandState::Write {
                len: self.0,
                requested: self.1,
                r2ts: cccid.into(),
            }),
        }
    }

    fn transfer(&self, ttag: u16) -> Option<Transfer> {
        (!ttag.is_multiple_of(3)).then_some(Transfer {
            cccid: ttag,
            next: self.1,
            end: self.0,
        })
    }
}

fuzz_target!(|input: &[u8]| {
    let Some((&ctl, bytes)) = input.split_first() else {
        return;
    };
    let pda = ctl & 0x3f;

    // Context-free decode; what decodes re-emits to a header that decodes the same.
    if let Ok(h) = Header::decode(bytes, pda) {
        let f = Framing {
            hdgst: h.layout.hdgst,
            ddgst: h.layout.ddgst,
            pda,
        };
        assert!(h.layout.data_offset() <= 255 + 132);
        if let Ok(layout) = h.pdu.layout(&f) {
            let mut buf = [0u8; 512];
            let n = h.pdu.emit_header::<SoftCrc32c>(&f, &mut buf).unwrap();
            assert_eq!(n, layout.data_offset());
            let again = Header::decode(&buf[..n], pda).unwrap();
            assert_eq!(again.pdu, h.pdu);
        }
    }

    // Full validation in every role and state.
    let t = Table(
        u32::from_le_bytes([ctl, 0, 1, 0]),
        u32::from(ctl & 0x0f) * 4,
    );
    for role in [Role::Host, Role::Target] {
        for params in [
            None,
            Some(Params {
                hdgst: false,
                ddgst: false,
                hpda: 0,
                cpda: 0,
                maxh2cdata: 4096,
                maxr2t: 0,
            }),
            Some(Params {
                hdgst: true,
                ddgst: true,
                hpda: pda % 32,
                cpda: pda % 32,
                maxh2cdata: 8192,
                maxr2t: 1,
            }),
        ] {
            let v = Validator {
                role,
                limits: Limits::default(),
                params,
            };
            if let Ok(h) = v.validate::<SoftCrc32c, _>(bytes, &t) {
                assert!(h.layout.plen().is_some());
                assert_eq!(h.layout.plen(), Some(h.common.plen));
            }
        }
    }

    // The views never panic on any input.
    let _ =
        nvme_tcp_pdu::data::DataPdu::new_checked(bytes).map(|v| (v.cccid(), v.datal(), v.common()));
    let _ = nvme_tcp_pdu::ic::IcReqPdu::new_checked(bytes).map(|v| IcReq::parse(&v));
    let _ = nvme_tcp_pdu::capsule::CmdPdu::new_checked(bytes).map(|v| v.sqe());
    let _ = nvme_tcp_pdu::term::TermPdu::new_checked(bytes).map(|v| TermReq::parse(&v));
});
