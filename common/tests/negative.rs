//! One test per rejection rule: each yields the spec's FES and FEI.

mod util;

use nvme_tcp_pdu::digest::digest;
use nvme_tcp_pdu::*;
use util::{pdu_bytes, Driver};

const INVALID: Fes = Fes::InvalidHeaderField;

fn params(digests: bool) -> Params {
    Params {
        hdgst: digests,
        ddgst: digests,
        hpda: 0,
        cpda: 0,
        maxh2cdata: 4096,
        maxr2t: 0,
    }
}

fn field(offset: u32) -> FatalError {
    FatalError {
        fes: INVALID,
        fei: offset,
    }
}

fn status(fes: Fes) -> FatalError {
    FatalError::status(fes)
}

/// Recomputes the header digest after a test changed header bytes.
fn reseal(bytes: &mut [u8]) {
    let hlen = bytes[2] as usize;
    if bytes[1] & 1 != 0 && bytes[0] > 3 {
        let d = digest::<SoftCrc32c>(&bytes[..hlen]).to_le_bytes();
        bytes[hlen..hlen + 4].copy_from_slice(&d);
    }
}

/// Feeds `bytes` to a fresh receiver and returns the first event that is not `NeedMore`.
fn first(role: Role, p: Option<Params>, d: &Driver, bytes: &[u8]) -> Event<'static> {
    let limits = Limits {
        queue_depth: 16,
        max_incapsule: 64,
    };
    let mut rx: Receiver<SoftCrc32c> = match p {
        Some(p) => Receiver::with_params(role, limits, p),
        None => Receiver::new(role, limits),
    };
    let (ev, rest) = rx.feed(bytes, d);
    let ev = match ev {
        Event::Fatal(e) => {
            // Sticky, with the offending header kept for the TermReq.
            assert_eq!(rx.feed(rest, d).0, Event::Fatal(e));
            assert_eq!(rx.error(), Some(e));
            assert!(!rx.offending_header().is_empty());
            assert_eq!(rx.offending_header(), &bytes[..rx.offending_header().len()]);
            Event::Fatal(e)
        }
        Event::Header => Event::Header,
        Event::AwaitParams => Event::AwaitParams,
        other => panic!("unexpected {other:?}"),
    };
    ev
}

fn rejects(role: Role, p: Option<Params>, d: &Driver, bytes: &[u8], want: FatalError) {
    assert_eq!(first(role, p, d, bytes), Event::Fatal(want), "{bytes:02x?}");
    // The standalone validator agrees.
    let v = Validator {
        role,
        limits: Limits {
            queue_depth: 16,
            max_incapsule: 64,
        },
        params: p,
    };
    let n = bytes.len().min(132);
    match v.validate::<SoftCrc32c, _>(&bytes[..n], d) {
        Err(DecodeError::Fatal(e)) => assert_eq!(e, want),
        other => panic!("validator: {other:?}"),
    }
}

fn host() -> Driver {
    let mut d = Driver::default();
    d.commands.insert(1, CommandState::NoData);
    d.commands.insert(
        2,
        CommandState::Read {
            len: 64,
            received: 16,
        },
    );
    d.commands.insert(
        3,
        CommandState::Write {
            len: 64,
            requested: 16,
            r2ts: 0,
        },
    );
    d
}

fn target() -> Driver {
    let mut d = Driver::default();
    d.transfers.insert(
        5,
        Transfer {
            cccid: 3,
            next: 16,
            end: 48,
        },
    );
    d
}

fn c2h(datao: u32, datal: u32, last: bool, success: bool) -> Pdu {
    Pdu::C2HData(C2HData {
        cccid: 2,
        datao,
        datal,
        last,
        success,
    })
}

fn h2c(cccid: u16, ttag: u16, datao: u32, datal: u32, last: bool) -> Pdu {
    Pdu::H2CData(H2CData {
        cccid,
        ttag,
        datao,
        datal,
        last,
    })
}

fn r2t(cccid: u16, r2to: u32, r2tl: u32) -> Pdu {
    Pdu::R2t(R2t {
        cccid,
        ttag: 1,
        r2to,
        r2tl,
    })
}

fn rsp(cid: u16) -> Pdu {
    let mut cqe = [0u8; 16];
    cqe[12..14].copy_from_slice(&cid.to_le_bytes());
    Pdu::CapsuleResp(CapsuleResp { cqe })
}

/// A write with `data_len` bytes in the capsule (an offset SGL of that length), or without
/// data when `data_len` is 0.
fn cmd(data_len: u32) -> Pdu {
    cmd_sgl(data_len, if data_len > 0 { 0x01 } else { 0x5a }, data_len)
}

/// A CapsuleCmd whose SGL descriptor has type `sgl_type` and length `sgl_len`.
fn cmd_sgl(data_len: u32, sgl_type: u8, sgl_len: u32) -> Pdu {
    let mut sqe = [0u8; 64];
    sqe[0] = 0x01;
    sqe[32..36].copy_from_slice(&sgl_len.to_le_bytes());
    sqe[39] = sgl_type;
    Pdu::CapsuleCmd(CapsuleCmd { sqe, data_len })
}

fn bytes(pdu: Pdu, digests: bool) -> Vec<u8> {
    let f = params(digests).framing(Role::Host);
    pdu_bytes(&pdu, &f, &vec![0x3c; pdu.data_len() as usize])
}

#[test]
fn valid_pdus_pass() {
    for dg in [false, true] {
        let p = Some(params(dg));
        for pdu in [rsp(1), c2h(16, 48, true, true), r2t(3, 16, 48)] {
            assert!(matches!(
                first(Role::Host, p, &host(), &bytes(pdu, dg)),
                Event::Header
            ));
        }
        for pdu in [
            cmd(0),
            cmd(64),
            h2c(3, 5, 16, 32, true),
            h2c(3, 5, 16, 8, false),
        ] {
            assert!(matches!(
                first(Role::Target, p, &target(), &bytes(pdu, dg)),
                Event::Header
            ));
        }
    }
}

#[test]
fn role_rejects_pdus_of_the_other_direction() {
    let p = Some(params(false));
    for pdu in [cmd(0), h2c(3, 5, 16, 8, false)] {
        rejects(Role::Host, p, &host(), &bytes(pdu, false), field(0));
    }
    for pdu in [rsp(1), c2h(16, 8, false, false), r2t(3, 16, 8)] {
        rejects(Role::Target, p, &target(), &bytes(pdu, false), field(0));
    }
    let icreq = HostConfig::default().icreq().to_bytes();
    rejects(Role::Host, None, &host(), &icreq, field(0));
    let mut unknown = bytes(rsp(1), false);
    unknown[0] = 0x08;
    rejects(Role::Host, p, &host(), &unknown, field(0));
    unknown[0] = 0xff;
    rejects(Role::Target, p, &target(), &unknown, field(0));
}

#[test]
fn connection_state_sequence() {
    // Anything but ICReq first.
    rejects(
        Role::Target,
        None,
        &target(),
        &bytes(cmd(0), false),
        status(Fes::PduSequenceError),
    );
    rejects(
        Role::Host,
        None,
        &host(),
        &bytes(rsp(1), false),
        status(Fes::PduSequenceError),
    );
    // ICReq first is accepted and the receiver waits for the parameters.
    let icreq = HostConfig::default().icreq().to_bytes();
    assert!(matches!(
        first(Role::Target, None, &target(), &icreq),
        Event::Header
    ));
    let mut rx = Receiver::<SoftCrc32c>::new(Role::Target, Limits::default());
    let (_, rest) = rx.feed(&icreq, &target());
    assert!(rest.is_empty());
    let next = bytes(cmd(0), false);
    assert_eq!(rx.feed(&next, &target()), (Event::AwaitParams, &next[..]));
    rx.establish(params(false));
    assert!(matches!(rx.feed(&next, &target()).0, Event::Header));
    // A second ICReq (or an ICResp once established) is a sequence error.
    rejects(
        Role::Target,
        Some(params(false)),
        &target(),
        &icreq,
        status(Fes::PduSequenceError),
    );
    let icresp = IcResp {
        pfv: 0,
        cpda: 0,
        dgst: DigestOptions(0),
        maxh2cdata: 4096,
    }
    .to_bytes();
    rejects(
        Role::Host,
        Some(params(false)),
        &host(),
        &icresp,
        status(Fes::PduSequenceError),
    );
    // A TermReq is accepted before negotiation.
    let term = TermReq::new(FatalError::unsupported(8), 0);
    let mut buf = [0u8; 24];
    term.emit_pdu(Role::Target, &[], &mut buf).unwrap();
    assert!(matches!(
        first(Role::Host, None, &host(), &buf),
        Event::Header
    ));
}

#[test]
fn header_length_per_type() {
    for (role, d, pdu) in [
        (Role::Host, host(), rsp(1)),
        (Role::Host, host(), r2t(3, 16, 8)),
        (Role::Target, target(), cmd(0)),
    ] {
        let mut b = bytes(pdu, false);
        b[2] = b[2].wrapping_add(4);
        rejects(role, Some(params(false)), &d, &b, field(2));
    }
    let mut ic = HostConfig::default().icreq().to_bytes();
    ic[2] = 24;
    rejects(Role::Target, None, &target(), &ic, field(2));
}

#[test]
fn digest_flags_against_negotiation() {
    // HDGSTF set without header digests negotiated, and clear with them.
    rejects(
        Role::Host,
        Some(params(false)),
        &host(),
        &bytes(rsp(1), true),
        field(1),
    );
    rejects(
        Role::Host,
        Some(params(true)),
        &host(),
        &bytes(rsp(1), false),
        field(1),
    );
    // DDGSTF set without data digests negotiated.
    let only_h = Params {
        ddgst: false,
        ..params(true)
    };
    rejects(
        Role::Host,
        Some(only_h),
        &host(),
        &bytes(c2h(16, 8, false, false), true),
        field(1),
    );
    // Data present, data digests negotiated, DDGSTF clear.
    let mut b = bytes(c2h(16, 8, false, false), true);
    b[1] &= !2;
    b[4] -= 4;
    reseal(&mut b);
    rejects(Role::Host, Some(params(true)), &host(), &b, field(1));
    // DDGSTF on a PDU without data.
    let mut b = bytes(rsp(1), true);
    b[1] |= 2;
    reseal(&mut b);
    rejects(Role::Host, Some(params(true)), &host(), &b, field(1));
}

#[test]
fn header_digest_error() {
    let mut b = bytes(r2t(3, 16, 8), true);
    b[26] ^= 0xff;
    rejects(
        Role::Host,
        Some(params(true)),
        &host(),
        &b,
        status(Fes::HeaderDigestError),
    );
    let mut b = bytes(cmd(0), true);
    b[40] ^= 1;
    rejects(
        Role::Target,
        Some(params(true)),
        &target(),
        &b,
        status(Fes::HeaderDigestError),
    );
}

#[test]
fn plen_rules() {
    let p = Some(params(false));
    // ICReq/ICResp PLEN must be 128.
    let mut ic = HostConfig::default().icreq().to_bytes();
    ic[4] = 129;
    rejects(Role::Target, None, &target(), &ic, field(4));
    // TermReq PLEN between 24 and 152.
    let mut t = [0u8; 24];
    TermReq::new(FatalError::unsupported(8), 0)
        .emit_pdu(Role::Host, &[], &mut t)
        .unwrap();
    t[4] = 23;
    rejects(Role::Target, p, &target(), &t, field(4));
    t[4] = 153;
    rejects(Role::Target, p, &target(), &t, field(4));
    // PLEN shorter than the header.
    let mut b = bytes(rsp(1), false);
    b[4] = 20;
    rejects(Role::Host, p, &host(), &b, field(4));
    // Data on PDUs that carry none.
    for pdu in [rsp(1), r2t(3, 16, 8)] {
        let mut b = bytes(pdu, false);
        b[3] = 24;
        b[4] = 28;
        b.extend_from_slice(&[0; 4]);
        rejects(Role::Host, p, &host(), &b, field(4));
    }
    // PDO at PLEN: a data PDU with an empty data section.
    let mut b = bytes(c2h(16, 8, false, false), false);
    b[3] = 32;
    b[4] = 32;
    rejects(Role::Host, p, &host(), &b, field(4));
    // PLEN that does not fit the header and a data digest.
    let mut b = bytes(c2h(16, 8, false, false), true);
    b[4] = 28 + 3;
    reseal(&mut b);
    rejects(Role::Host, Some(params(true)), &host(), &b, field(4));
}

#[test]
fn pdo_rules() {
    let p = params(false);
    // PDO inside the header.
    let mut b = bytes(c2h(16, 8, false, false), false);
    b[3] = 20;
    rejects(Role::Host, Some(p), &host(), &b, field(3));
    // PDO inside the header digest.
    let mut b = bytes(c2h(16, 8, false, false), true);
    b[3] = 24;
    reseal(&mut b);
    rejects(Role::Host, Some(params(true)), &host(), &b, field(3));
    // With HPDA 1 (8-byte alignment) PDO 28 is misaligned; 32 (4 bytes of padding) is fine.
    let aligned = Params { hpda: 1, ..p };
    let mut b = bytes(c2h(16, 8, false, false), false);
    b[3] = 28;
    b[4] = 36;
    b.extend_from_slice(&[0; 4]);
    rejects(Role::Host, Some(aligned), &host(), &b, field(3));
    b[3] = 32;
    b[4] = 40;
    b.extend_from_slice(&[0; 4]);
    assert!(matches!(
        first(Role::Host, Some(aligned), &host(), &b),
        Event::Header
    ));
    // Without alignment asked, padding to a dword multiple is still accepted.
    assert!(matches!(
        first(Role::Host, Some(p), &host(), &b),
        Event::Header
    ));
}

#[test]
fn data_length_against_plen() {
    let mut b = bytes(c2h(16, 8, false, false), false);
    b[16] = 9;
    rejects(Role::Host, Some(params(false)), &host(), &b, field(16));
    let mut b = bytes(h2c(3, 5, 16, 8, false), true);
    b[16] = 7;
    reseal(&mut b);
    rejects(Role::Target, Some(params(true)), &target(), &b, field(16));
}

#[test]
fn success_only_with_last_pdu() {
    let mut b = bytes(c2h(16, 48, true, true), false);
    b[1] &= !4;
    rejects(Role::Host, Some(params(false)), &host(), &b, field(1));
    // SUCCESS with LAST_PDU but data short of the command's length.
    let b = bytes(c2h(16, 8, true, true), false);
    rejects(Role::Host, Some(params(false)), &host(), &b, field(1));
}

#[test]
fn incapsule_data_limit() {
    let p = Some(params(false));
    assert!(matches!(
        first(Role::Target, p, &target(), &bytes(cmd(64), false)),
        Event::Header
    ));
    rejects(
        Role::Target,
        p,
        &target(),
        &bytes(cmd(65), false),
        status(Fes::DataLimitExceeded),
    );
}

#[test]
fn sgl_rules() {
    let p = Some(params(false));
    let ok = |pdu| {
        assert!(matches!(
            first(Role::Target, p, &target(), &bytes(pdu, false)),
            Event::Header
        ))
    };
    // A descriptor without data in the capsule breaks no rule of the stream, however long and
    // of whatever type: the target judges it per command (`CapsuleCmd::sgl_data`), failing the
    // command and keeping the connection.
    for sgl_type in [0x5a, 0x00, 0x0f, 0x10, 0x20, 0x30, 0x40, 0x5b, 0xe0] {
        for sgl_len in [0, 1 << 20, (1 << 22) + 8192, u32::MAX] {
            ok(cmd_sgl(0, sgl_type, sgl_len));
        }
    }
    // In-capsule data needs an offset descriptor (FEI 47: the SGL type byte) ...
    rejects(
        Role::Target,
        p,
        &target(),
        &bytes(cmd_sgl(16, 0x5a, 16), false),
        field(47),
    );
    // ... of the same length (FEI 40: the SGL length).
    for sgl_len in [0, 15, 17] {
        rejects(
            Role::Target,
            p,
            &target(),
            &bytes(cmd_sgl(16, 0x01, sgl_len), false),
            field(40),
        );
    }
    // An offset descriptor with a length but no data in the capsule.
    rejects(
        Role::Target,
        p,
        &target(),
        &bytes(cmd_sgl(0, 0x01, 16), false),
        field(40),
    );
}

/// The SQE of a command whose SGL descriptor has identifier `id` and length `len`.
fn sgl_cmd(id: u8, len: u32, data_len: u32) -> CapsuleCmd {
    let Pdu::CapsuleCmd(c) = cmd_sgl(data_len, id, len) else {
        unreachable!()
    };
    c
}

#[test]
fn sgl_data_classifies_the_descriptor() {
    let max = 1 << 22;
    // The two descriptors NVMe/TCP carries, up to the limit.
    for len in [1, 512, 4096, max] {
        assert_eq!(
            sgl_cmd(0x5a, len, 0).sgl_data(max),
            Ok(SglData::Transport(len))
        );
        assert_eq!(
            sgl_cmd(0x01, len, len).sgl_data(max),
            Ok(SglData::InCapsule(len))
        );
    }
    assert_eq!(SglData::Transport(7).data_len(), 7);
    assert_eq!(SglData::InCapsule(9).data_len(), 9);
    assert_eq!(SglData::None.data_len(), 0);
    // Longer than the target moves for a command (4 MiB + 8 KiB, as an unlimited MDTS
    // allows a host to send): the command fails, Data SGL Length Invalid.
    for len in [max + 1, max + 8192, u32::MAX] {
        for id in [0x5a, 0x01] {
            assert_eq!(
                sgl_cmd(id, len, 0).sgl_data(max),
                Err(SglRefusal::LengthInvalid),
                "{id:#04x} {len}"
            );
        }
    }
    // Every other identifier, whatever its length: SGL Descriptor Type Invalid, the type
    // judged before the length. Among them every other type with the carried subtypes, and
    // the carried types with every other subtype.
    for id in 0..=u8::MAX {
        if id == 0x01 || id == 0x5a {
            continue;
        }
        for len in [1, 4096, max, max + 1, u32::MAX] {
            assert_eq!(
                sgl_cmd(id, len, 0).sgl_data(max),
                Err(SglRefusal::TypeInvalid),
                "{id:#04x} {len}"
            );
        }
    }
    // A descriptor of no data is no data, whatever its identifier (a host may leave it zero
    // on a command without data).
    for id in 0..=u8::MAX {
        assert_eq!(sgl_cmd(id, 0, 0).sgl_data(max), Ok(SglData::None));
        assert_eq!(sgl_cmd(id, 0, 0).sgl_data(0), Ok(SglData::None));
    }
    // The fields it reads: the length (SQE bytes 32..36) and the identifier (byte 39); the
    // address and the reserved bytes do not matter.
    let mut c = sgl_cmd(0x5a, 4096, 0);
    c.sqe[24..32].fill(0xff);
    c.sqe[36..39].fill(0xff);
    assert_eq!(c.sgl_data(max), Ok(SglData::Transport(4096)));
}

#[test]
fn capsule_is_write() {
    let c = |op: u8, fctype: u8| {
        let mut sqe = [0u8; 64];
        sqe[0] = op;
        sqe[4] = fctype;
        CapsuleCmd { sqe, data_len: 0 }.is_write()
    };
    assert!(c(0x01, 0)); // Write
    assert!(!c(0x02, 0)); // Read
    assert!(!c(0x00, 0)); // Flush
    assert!(c(0x7f, 0x01)); // Fabrics Connect
    assert!(!c(0x7f, 0x04)); // Fabrics Property Get
    assert!(!c(0x7f, 0x00)); // Fabrics Property Set (FCTYPE 0: no data)
}

#[test]
fn capsule_resp_for_unknown_command() {
    rejects(
        Role::Host,
        Some(params(false)),
        &host(),
        &bytes(rsp(9), false),
        field(20),
    );
}

#[test]
fn c2h_data_against_the_command() {
    let p = Some(params(false));
    // Unknown CID, and CIDs of a write and of a command without data.
    for cccid in [9, 3, 1] {
        let pdu = Pdu::C2HData(C2HData {
            cccid,
            datao: 0,
            datal: 8,
            last: false,
            success: false,
        });
        rejects(Role::Host, p, &host(), &bytes(pdu, false), field(8));
    }
    // Not where the data received so far ends.
    rejects(
        Role::Host,
        p,
        &host(),
        &bytes(c2h(8, 8, false, false), false),
        field(12),
    );
    rejects(
        Role::Host,
        p,
        &host(),
        &bytes(c2h(24, 8, false, false), false),
        field(12),
    );
    // Beyond the command's length, and with an offset overflowing 32 bits.
    let out = status(Fes::DataOutOfRange);
    rejects(
        Role::Host,
        p,
        &host(),
        &bytes(c2h(16, 49, true, false), false),
        out,
    );
    let mut d = host();
    d.commands.insert(
        2,
        CommandState::Read {
            len: u32::MAX,
            received: u32::MAX - 4,
        },
    );
    rejects(
        Role::Host,
        p,
        &d,
        &bytes(c2h(u32::MAX - 4, 8, false, false), false),
        out,
    );
}

#[test]
fn r2t_against_the_command() {
    let p = Some(params(false));
    rejects(
        Role::Host,
        p,
        &host(),
        &bytes(r2t(2, 16, 8), false),
        field(8),
    );
    rejects(
        Role::Host,
        p,
        &host(),
        &bytes(r2t(9, 16, 8), false),
        field(8),
    );
    rejects(
        Role::Host,
        p,
        &host(),
        &bytes(r2t(3, 16, 0), false),
        field(16),
    );
    rejects(
        Role::Host,
        p,
        &host(),
        &bytes(r2t(3, 8, 8), false),
        field(12),
    );
    let out = status(Fes::DataOutOfRange);
    rejects(Role::Host, p, &host(), &bytes(r2t(3, 16, 49), false), out);
    rejects(
        Role::Host,
        p,
        &host(),
        &bytes(r2t(3, u32::MAX, 2), false),
        out,
    );
    // MAXR2T 0: a second outstanding R2T exceeds the limit; MAXR2T 1 allows it.
    let mut d = host();
    d.commands.insert(
        3,
        CommandState::Write {
            len: 64,
            requested: 16,
            r2ts: 1,
        },
    );
    let b = bytes(r2t(3, 16, 8), false);
    rejects(Role::Host, p, &d, &b, status(Fes::DataLimitExceeded));
    let two = Params {
        maxr2t: 1,
        ..params(false)
    };
    assert!(matches!(
        first(Role::Host, Some(two), &d, &b),
        Event::Header
    ));
}

#[test]
fn h2c_data_against_the_transfer() {
    let p = Some(params(false));
    // TTAG beyond the queue depth, and one no R2T was sent for.
    rejects(
        Role::Target,
        p,
        &target(),
        &bytes(h2c(3, 16, 16, 8, false), false),
        field(10),
    );
    rejects(
        Role::Target,
        p,
        &target(),
        &bytes(h2c(3, 4, 16, 8, false), false),
        field(10),
    );
    // CCCID not the command the R2T was for.
    rejects(
        Role::Target,
        p,
        &target(),
        &bytes(h2c(4, 5, 16, 8, false), false),
        field(8),
    );
    // Not where the data received so far ends.
    rejects(
        Role::Target,
        p,
        &target(),
        &bytes(h2c(3, 5, 20, 8, false), false),
        field(12),
    );
    // Beyond the R2T's range.
    let out = status(Fes::DataOutOfRange);
    rejects(
        Role::Target,
        p,
        &target(),
        &bytes(h2c(3, 5, 16, 33, true), false),
        out,
    );
    // LAST_PDU must be set exactly on the PDU that completes the R2T.
    rejects(
        Role::Target,
        p,
        &target(),
        &bytes(h2c(3, 5, 16, 32, false), false),
        field(1),
    );
    rejects(
        Role::Target,
        p,
        &target(),
        &bytes(h2c(3, 5, 16, 8, true), false),
        field(1),
    );
    // More than MAXH2CDATA.
    let mut d = target();
    d.transfers.insert(
        5,
        Transfer {
            cccid: 3,
            next: 0,
            end: 8192,
        },
    );
    let b = bytes(h2c(3, 5, 0, 4100, false), false);
    rejects(Role::Target, p, &d, &b, status(Fes::DataLimitExceeded));
}

#[test]
fn no_term_req_in_answer_to_a_term_req() {
    let mut t = [0u8; 24];
    TermReq::new(FatalError::unsupported(8), 0)
        .emit_pdu(Role::Target, &[], &mut t)
        .unwrap();
    t[4] = 200;
    let mut rx = Receiver::<SoftCrc32c>::new(Role::Host, Limits::default());
    assert_eq!(rx.feed(&t, &host()).0, Event::Fatal(field(4)));
    assert!(!rx.may_send_term_req());
    let mut rx = Receiver::<SoftCrc32c>::with_params(Role::Host, Limits::default(), params(false));
    assert_eq!(
        rx.feed(&bytes(rsp(9), false), &host()).0,
        Event::Fatal(field(20))
    );
    assert!(rx.may_send_term_req());
    // The TermReq to send carries the offending header.
    let err = rx.error().unwrap();
    let term = TermReq::new(err, rx.offending_header().len());
    let mut out = [0u8; 152];
    let n = term
        .emit_pdu(Role::Host, rx.offending_header(), &mut out)
        .unwrap();
    assert_eq!(n, 48);
    assert_eq!(&out[24..48], &bytes(rsp(9), false)[..]);
}
