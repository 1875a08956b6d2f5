//! PDU surgery: the damaged target-to-host PDUs the cases send, built from genuine ones.
//!
//! Every function takes a whole PDU as the target sent it (header, header digest, padding,
//! data, data digest) and the [`Framing`] of its connection, and returns the bytes to send to
//! the host instead. Unless a function says it breaks one on purpose, the digests of what it
//! returns are recomputed, so the fault it injects is the only thing wrong: a host that checks
//! digests first must still reach the rule under test.

use nvme_tcp_pdu::capsule::CQE_LEN;
use nvme_tcp_pdu::common::field;
use nvme_tcp_pdu::digest::digest;
use nvme_tcp_pdu::ic::{IcResp, IcRespPdu, IC_LEN};
use nvme_tcp_pdu::validate::Role;
use nvme_tcp_pdu::{
    C2HData, CapsuleResp, FatalError, Fes, Framing, Header, Layout, Pdu, R2t, SoftCrc32c, TermReq,
};

/// Length of a header or data digest.
const DIGEST: usize = 4;

/// Returns the framing a PDU was sent with: its digest flags and its padding.
///
/// `pda` is the alignment the host asked for (HPDA); the padding of a forged PDU follows it.
pub fn framing_of(layout: &Layout, pda: u8) -> Framing {
    Framing {
        hdgst: layout.hdgst,
        ddgst: layout.ddgst,
        pda,
    }
}

/// Returns the data a PDU carries (without padding and digest).
///
/// # Panics
///
/// If `bytes` is shorter than `layout` says; the callers pass PDUs they decoded from `bytes`.
pub fn data_of<'a>(bytes: &'a [u8], layout: &Layout) -> &'a [u8] {
    let start = layout.data_offset();
    // PANIC: `data_len` is a `u32` and the PDU was read whole, so it is in memory.
    let len = usize::try_from(layout.data_len).expect("data length fits usize");
    &bytes[start..start + len]
}

/// Emits `pdu` with `framing` followed by `data` and, when `framing` asks, its data digest.
///
/// # Panics
///
/// If `pdu` cannot be framed (a PLEN above 4 GiB); the cases never forge one.
pub fn emit(pdu: &Pdu, framing: &Framing, data: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; 256];
    let n = pdu
        .emit_header::<SoftCrc32c>(framing, &mut out)
        .expect("a forged header fits 256 bytes");
    out.truncate(n);
    out.extend_from_slice(data);
    if framing.ddgst && !data.is_empty() {
        out.extend_from_slice(&digest::<SoftCrc32c>(data).to_le_bytes());
    }
    out
}

/// Rewrites the header digest of `bytes` over its first `hlen` bytes, if it has one.
///
/// `hlen` is the true header length of the PDU type, not the (possibly forged) HLEN field.
pub fn set_hdgst(bytes: &mut [u8], hlen: usize) {
    let flags = bytes.get(1).copied().unwrap_or(0);
    if flags & 1 == 0 || bytes.len() < hlen + DIGEST {
        return;
    }
    let d = digest::<SoftCrc32c>(&bytes[..hlen]).to_le_bytes();
    bytes[hlen..hlen + DIGEST].copy_from_slice(&d);
}

/// A C2HData whose DATAL reaches `extra` bytes beyond the end of the command's data.
///
/// The extra bytes are a recognisable pattern; LAST_PDU and SUCCESS are kept. Expected: Data
/// Transfer Out of Range (04h).
pub fn c2h_beyond(h: &Header, bytes: &[u8], pda: u8, extra: u32) -> Option<Vec<u8>> {
    let Pdu::C2HData(d) = h.pdu else { return None };
    let mut data = data_of(bytes, &h.layout).to_vec();
    data.resize(data.len() + usize::try_from(extra).ok()?, 0xa5);
    let forged = C2HData {
        datal: d.datal.checked_add(extra)?,
        ..d
    };
    Some(emit(
        &Pdu::C2HData(forged),
        &framing_of(&h.layout, pda),
        &data,
    ))
}

/// Two C2HData PDUs instead of one whole-command PDU, the second starting `back` bytes before
/// where the first ended (so `back` bytes arrive twice and the total exceeds the command).
///
/// The second PDU ends exactly at the end of the command: only its DATAO is wrong, and only a
/// host that checks DATAO against the data received so far sees that at once; a host that does
/// not receives more data than the command has room for. Expected: Invalid PDU Header Field
/// at DATAO (12) or Data Transfer Out of Range (04h).
pub fn c2h_overlap(h: &Header, bytes: &[u8], pda: u8, back: u32) -> Option<Vec<u8>> {
    let Pdu::C2HData(d) = h.pdu else { return None };
    let half = d.datal / 2;
    if d.datao != 0 || half < back || back == 0 {
        return None;
    }
    let data = data_of(bytes, &h.layout);
    let framing = framing_of(&h.layout, pda);
    let first = C2HData {
        datal: half,
        last: false,
        success: false,
        ..d
    };
    let second_start = half - back;
    let second = C2HData {
        datao: second_start,
        datal: d.datal - second_start,
        ..d
    };
    let split = usize::try_from(half).ok()?;
    let rewind = usize::try_from(second_start).ok()?;
    let mut out = emit(&Pdu::C2HData(first), &framing, &data[..split]);
    out.extend(emit(&Pdu::C2HData(second), &framing, &data[rewind..]));
    Some(out)
}

/// The same C2HData with DATAO moved `by` bytes forward (same data, so it ends past the command).
///
/// Expected: Invalid PDU Header Field at DATAO (12) or Data Transfer Out of Range (04h).
pub fn c2h_shift(h: &Header, bytes: &[u8], pda: u8, by: u32) -> Option<Vec<u8>> {
    let Pdu::C2HData(d) = h.pdu else { return None };
    let forged = C2HData {
        datao: d.datao.checked_add(by)?,
        ..d
    };
    Some(emit(
        &Pdu::C2HData(forged),
        &framing_of(&h.layout, pda),
        data_of(bytes, &h.layout),
    ))
}

/// The same C2HData with one bit of its data flipped and the original data digest kept.
///
/// Only a data digest can reveal this; it is not a fatal error (the host fails the command with
/// a transient transport error, and may retry it).
pub fn c2h_bad_data(h: &Header, bytes: &[u8]) -> Option<Vec<u8>> {
    if !matches!(h.pdu, Pdu::C2HData(_)) || h.layout.data_len == 0 {
        return None;
    }
    let mut out = bytes.to_vec();
    *out.get_mut(h.layout.data_offset())? ^= 0x01;
    Some(out)
}

/// An R2T asking for `len` bytes from its R2TO (`len` 0 for the zero-length case).
///
/// Expected: Data Transfer Out of Range (04h) when it reaches past the command, Invalid PDU
/// Header Field at R2TL (16) when `len` is 0.
pub fn r2t_len(h: &Header, pda: u8, len: u32) -> Option<Vec<u8>> {
    let Pdu::R2t(r) = h.pdu else { return None };
    Some(emit(
        &Pdu::R2t(R2t { r2tl: len, ..r }),
        &framing_of(&h.layout, pda),
        &[],
    ))
}

/// A successful CapsuleResp like `h` (a genuine one, whose digest setting it copies) for `cid`.
///
/// Expected when no command `cid` is in flight: Invalid PDU Header Field at the CQE's CID (20).
pub fn resp_for_cid(h: &Header, pda: u8, cid: u16) -> Option<Vec<u8>> {
    let Pdu::CapsuleResp(r) = h.pdu else {
        return None;
    };
    let mut cqe = r.cqe;
    cqe[12..14].copy_from_slice(&cid.to_le_bytes());
    cqe[14..16].copy_from_slice(&0u16.to_le_bytes());
    Some(emit(
        &Pdu::CapsuleResp(CapsuleResp { cqe }),
        &framing_of(&h.layout, pda),
        &[],
    ))
}

/// The same PDU with its HLEN field set to `hlen` and its header digest recomputed over the
/// altered header (so the digest is right and only HLEN is wrong).
///
/// Expected: Invalid PDU Header Field at HLEN (2).
pub fn with_hlen(h: &Header, bytes: &[u8], hlen: u8) -> Vec<u8> {
    let mut out = bytes.to_vec();
    out[usize::from(field::HLEN)] = hlen;
    set_hdgst(&mut out, usize::from(h.layout.hlen));
    out
}

/// The same PDU with one bit of its header digest flipped.
///
/// Expected: Header Digest Error (03h).
pub fn bad_hdgst(h: &Header, bytes: &[u8]) -> Option<Vec<u8>> {
    if !h.layout.hdgst {
        return None;
    }
    let mut out = bytes.to_vec();
    *out.get_mut(usize::from(h.layout.hlen))? ^= 0x80;
    Some(out)
}

/// How a case damages an ICResp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IcFault {
    /// PFV 1 (only 0, version 1.0, exists). Expected: Unsupported Parameter at PFV (8).
    Pfv,
    /// MAXH2CDATA 2048 (at least 4096 is required). Expected: Invalid Field at MAXH2CDATA (12).
    MaxH2CData,
    /// CPDA 32 (at most 31). Expected: Invalid PDU Header Field at CPDA (10).
    Cpda,
    /// DGST with the data digest enabled although the host did not ask for it. Expected:
    /// Unsupported Parameter at DGST (11).
    Dgst,
    /// PLEN 132 (it must be 128). Expected: Invalid PDU Header Field at PLEN (4).
    Plen,
    /// HLEN 124 (it must be 128). Expected: Invalid PDU Header Field at HLEN (2).
    Hlen,
}

/// The ICResp `bytes` with `fault` applied; reserved bytes are kept as the target sent them.
pub fn icresp(bytes: &[u8], fault: IcFault) -> Option<Vec<u8>> {
    let mut buf: [u8; IC_LEN] = bytes.get(..IC_LEN)?.try_into().ok()?;
    let mut v = IcResp::parse(&IcRespPdu::new_unchecked(&buf));
    match fault {
        IcFault::Pfv => v.pfv = 1,
        IcFault::MaxH2CData => v.maxh2cdata = 2048,
        IcFault::Cpda => v.cpda = 32,
        IcFault::Dgst => v.dgst.0 |= nvme_tcp_pdu::DigestOptions::DATA,
        IcFault::Plen | IcFault::Hlen => {}
    }
    v.emit(&mut IcRespPdu::new_unchecked(&mut buf));
    match fault {
        IcFault::Plen => buf[4..8].copy_from_slice(&132u32.to_le_bytes()),
        IcFault::Hlen => buf[usize::from(field::HLEN)] = 124,
        _ => {}
    }
    Some(buf.to_vec())
}

/// A C2HTermReq reporting `fes` (no offending header attached: PLEN 24).
pub fn c2h_term_req(fes: Fes) -> Vec<u8> {
    let mut out = vec![0u8; 24];
    let n = TermReq::new(FatalError::status(fes), 0)
        .emit_pdu(Role::Target, &[], &mut out)
        .expect("a 24-byte TermReq fits");
    out.truncate(n);
    out
}

/// A small deterministic pseudo-random generator (SplitMix64), so a seed replays a run.
#[derive(Debug, Clone, Default)]
pub struct Rng(u64);

impl Rng {
    /// Returns a generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// Returns the next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Returns a number below `n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        match u64::try_from(n) {
            Ok(0) | Err(_) => 0,
            // The remainder is below `n`, which is a `usize`.
            Ok(m) => usize::try_from(self.next_u64() % m).unwrap_or(0),
        }
    }
}

/// What a random mutation did to a PDU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mutation {
    /// Bits flipped: `(byte offset, bit)` pairs, in the order applied.
    Flip(Vec<(usize, u8)>),
    /// Only the first `len` bytes are sent, then the connection is cut.
    Truncate(usize),
}

/// Damages `bytes` in place at random: one to three bit flips anywhere in the PDU (header,
/// digests, data), or, one time in four, a truncation (the caller cuts the connection after
/// sending the rest).
///
/// With header and data digests on, every flip is detectable: the header digest covers the
/// header (and a flip in the digest itself breaks it), the data digest the data. Without
/// digests a flip in data or in a CQE's status cannot be told from a genuine value, so the
/// cases only mutate connections that negotiated both.
pub fn mutate(bytes: &mut Vec<u8>, rng: &mut Rng) -> Mutation {
    if bytes.len() > 1 && rng.below(4) == 0 {
        let len = 1 + rng.below(bytes.len() - 1);
        bytes.truncate(len);
        return Mutation::Truncate(len);
    }
    let mut flips = Vec::new();
    for _ in 0..1 + rng.below(3) {
        let at = rng.below(bytes.len());
        let bit = u8::try_from(rng.below(8)).unwrap_or(0);
        if let Some(b) = bytes.get_mut(at) {
            *b ^= 1 << bit;
            flips.push((at, bit));
        }
    }
    // Two flips of the same bit would cancel out: flip once more elsewhere if nothing changed.
    if flips.len() == 2 && flips[0] == flips[1] {
        let at = (flips[0].0 + 1) % bytes.len();
        bytes[at] ^= 1;
        flips.push((at, 0));
    }
    Mutation::Flip(flips)
}

/// Returns the CQE's command identifier and status field of a CapsuleResp.
pub fn cqe_cid_status(cqe: &[u8; CQE_LEN]) -> (u16, u16) {
    (
        u16::from_le_bytes([cqe[12], cqe[13]]),
        u16::from_le_bytes([cqe[14], cqe[15]]),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use nvme_tcp_pdu::validate::{CommandState, CommandTable, Limits, Validator};
    use nvme_tcp_pdu::{DecodeError, DigestOptions, Params};

    /// One command in flight on the host, as a host's receiver would track it.
    struct One(u16, CommandState);

    impl CommandTable for One {
        fn command(&self, cccid: u16) -> Option<CommandState> {
            (cccid == self.0).then_some(self.1)
        }
    }

    fn framing(hdgst: bool, ddgst: bool) -> Framing {
        Framing {
            hdgst,
            ddgst,
            pda: 0,
        }
    }

    fn host_validator(f: &Framing) -> Validator {
        Validator {
            role: Role::Host,
            limits: Limits::default(),
            params: Some(Params {
                hdgst: f.hdgst,
                ddgst: f.ddgst,
                hpda: 0,
                cpda: 0,
                maxh2cdata: 0x40_0000,
                maxr2t: 0,
            }),
        }
    }

    /// Splits a byte stream into PDUs by PLEN.
    fn split(mut s: &[u8]) -> Vec<&[u8]> {
        let mut v = Vec::new();
        while s.len() >= 8 {
            let plen = u32::from_le_bytes([s[4], s[5], s[6], s[7]]) as usize;
            let (a, b) = s.split_at(plen);
            v.push(a);
            s = b;
        }
        assert!(s.is_empty(), "trailing bytes");
        v
    }

    /// Checks the data digest of a whole PDU.
    fn ddgst_ok(bytes: &[u8], h: &Header) -> bool {
        if !h.layout.ddgst {
            return true;
        }
        let d = data_of(bytes, &h.layout);
        let end = h.layout.data_offset() + d.len();
        bytes[end..end + 4] == digest::<SoftCrc32c>(d).to_le_bytes()
    }

    fn genuine_c2h(f: &Framing, len: u32) -> Vec<u8> {
        let data: Vec<u8> = (0..len).map(|i| i as u8).collect();
        emit(
            &Pdu::C2HData(C2HData {
                cccid: 5,
                datao: 0,
                datal: len,
                last: true,
                success: false,
            }),
            f,
            &data,
        )
    }

    fn fatal(r: Result<Header, DecodeError>) -> FatalError {
        match r {
            Err(DecodeError::Fatal(e)) => e,
            other => panic!("expected a fatal error, got {other:?}"),
        }
    }

    fn read(len: u32, received: u32) -> One {
        One(5, CommandState::Read { len, received })
    }

    #[test]
    fn genuine_c2h_passes_the_validator() {
        for (h, d) in [(false, false), (true, false), (false, true), (true, true)] {
            let f = framing(h, d);
            let b = genuine_c2h(&f, 4096);
            let hdr = host_validator(&f)
                .validate::<SoftCrc32c, _>(&b, &read(4096, 0))
                .unwrap();
            assert!(ddgst_ok(&b, &hdr));
        }
    }

    #[test]
    fn c2h_beyond_is_out_of_range_with_good_digests() {
        let f = framing(true, true);
        let b = genuine_c2h(&f, 4096);
        let h = Header::decode(&b, 0).unwrap();
        let forged = c2h_beyond(&h, &b, 0, 512).unwrap();
        assert_eq!(forged.len(), b.len() + 512);
        let fh = Header::decode(&forged, 0).unwrap();
        assert_eq!(fh.pdu.data_len(), 4608);
        assert!(ddgst_ok(&forged, &fh));
        let e = fatal(host_validator(&f).validate::<SoftCrc32c, _>(&forged, &read(4096, 0)));
        assert_eq!(e.fes, Fes::DataOutOfRange);
    }

    #[test]
    fn c2h_overlap_rewinds_datao() {
        let f = framing(false, true);
        let b = genuine_c2h(&f, 8192);
        let h = Header::decode(&b, 0).unwrap();
        let forged = c2h_overlap(&h, &b, 0, 512).unwrap();
        let pdus = split(&forged);
        assert_eq!(pdus.len(), 2);
        let v = host_validator(&f);
        let first = v
            .validate::<SoftCrc32c, _>(pdus[0], &read(8192, 0))
            .unwrap();
        assert!(ddgst_ok(pdus[0], &first));
        assert_eq!(first.pdu.data_offset(), 0);
        assert_eq!(first.pdu.data_len(), 4096);
        let second = Header::decode(pdus[1], 0).unwrap();
        assert!(ddgst_ok(pdus[1], &second));
        assert_eq!(second.pdu.data_offset(), 3584);
        assert_eq!(second.pdu.data_len(), 4608);
        // The second PDU's data is the genuine data from its DATAO on.
        assert_eq!(data_of(pdus[1], &second.layout)[0], (3584 % 256) as u8);
        let e = fatal(v.validate::<SoftCrc32c, _>(pdus[1], &read(8192, 4096)));
        assert_eq!(e, FatalError::invalid_field(12));
        // Too small to split with that overlap.
        let small = genuine_c2h(&f, 512);
        let sh = Header::decode(&small, 0).unwrap();
        assert!(c2h_overlap(&sh, &small, 0, 512).is_none());
    }

    #[test]
    fn c2h_shift_moves_datao_only() {
        let f = framing(true, false);
        let b = genuine_c2h(&f, 4096);
        let h = Header::decode(&b, 0).unwrap();
        let forged = c2h_shift(&h, &b, 0, 512).unwrap();
        assert_eq!(forged.len(), b.len());
        assert_eq!(&forged[28..], &b[28..]);
        let e = fatal(host_validator(&f).validate::<SoftCrc32c, _>(&forged, &read(4096, 0)));
        assert_eq!(e, FatalError::invalid_field(12));
    }

    #[test]
    fn c2h_bad_data_breaks_only_the_data_digest() {
        let f = framing(true, true);
        let b = genuine_c2h(&f, 4096);
        let h = Header::decode(&b, 0).unwrap();
        let forged = c2h_bad_data(&h, &b).unwrap();
        let fh = host_validator(&f)
            .validate::<SoftCrc32c, _>(&forged, &read(4096, 0))
            .unwrap();
        assert!(!ddgst_ok(&forged, &fh));
        assert_eq!(forged.iter().zip(&b).filter(|(x, y)| x != y).count(), 1);
    }

    #[test]
    fn r2t_forgeries() {
        let f = framing(true, false);
        let b = emit(
            &Pdu::R2t(R2t {
                cccid: 5,
                ttag: 3,
                r2to: 0,
                r2tl: 65536,
            }),
            &f,
            &[],
        );
        let h = Header::decode(&b, 0).unwrap();
        let write = One(
            5,
            CommandState::Write {
                len: 65536,
                requested: 0,
                r2ts: 0,
            },
        );
        let v = host_validator(&f);
        v.validate::<SoftCrc32c, _>(&b, &write).unwrap();
        let beyond = r2t_len(&h, 0, 65536 + 4096).unwrap();
        assert_eq!(
            fatal(v.validate::<SoftCrc32c, _>(&beyond, &write)).fes,
            Fes::DataOutOfRange
        );
        let zero = r2t_len(&h, 0, 0).unwrap();
        assert_eq!(
            fatal(v.validate::<SoftCrc32c, _>(&zero, &write)),
            FatalError::invalid_field(16)
        );
    }

    fn genuine_resp(f: &Framing, cid: u16) -> Vec<u8> {
        let mut cqe = [0u8; CQE_LEN];
        cqe[12..14].copy_from_slice(&cid.to_le_bytes());
        cqe[14] = 1;
        emit(&Pdu::CapsuleResp(CapsuleResp { cqe }), f, &[])
    }

    #[test]
    fn resp_forgeries() {
        let f = framing(true, false);
        let b = genuine_resp(&f, 5);
        let h = Header::decode(&b, 0).unwrap();
        let v = host_validator(&f);
        let busy = One(5, CommandState::NoData);
        v.validate::<SoftCrc32c, _>(&b, &busy).unwrap();

        let unknown = resp_for_cid(&h, 0, 0x0fff).unwrap();
        let uh = Header::decode(&unknown, 0).unwrap();
        let Pdu::CapsuleResp(r) = uh.pdu else {
            panic!()
        };
        assert_eq!(cqe_cid_status(&r.cqe), (0x0fff, 0));
        assert_eq!(
            fatal(v.validate::<SoftCrc32c, _>(&unknown, &busy)),
            FatalError::invalid_field(20)
        );

        let hlen = with_hlen(&h, &b, 32);
        assert_eq!(hlen[2], 32);
        // The digest was recomputed over the altered header: only HLEN is wrong.
        assert_eq!(
            hlen[24..28],
            digest::<SoftCrc32c>(&hlen[..24]).to_le_bytes()
        );
        assert_eq!(
            fatal(v.validate::<SoftCrc32c, _>(&hlen, &busy)),
            FatalError::invalid_field(2)
        );

        let hd = bad_hdgst(&h, &b).unwrap();
        assert_eq!(
            fatal(v.validate::<SoftCrc32c, _>(&hd, &busy)).fes,
            Fes::HeaderDigestError
        );
        // Without header digests there is none to break.
        let plain = genuine_resp(&framing(false, false), 5);
        assert!(bad_hdgst(&Header::decode(&plain, 0).unwrap(), &plain).is_none());
    }

    #[test]
    fn icresp_faults_are_refused_by_the_negotiation() {
        let genuine = IcResp {
            pfv: 0,
            cpda: 0,
            dgst: DigestOptions::new(false, false),
            maxh2cdata: 0x40_0000,
        }
        .to_bytes();
        let host = nvme_tcp_pdu::HostConfig::default();
        let parse = |b: &[u8]| IcResp::parse(&IcRespPdu::new_checked(b).unwrap());
        host.accept_icresp(&parse(&genuine)).unwrap();
        for (fault, want) in [
            (IcFault::Pfv, FatalError::unsupported(8)),
            (IcFault::MaxH2CData, FatalError::invalid_field(12)),
            (IcFault::Cpda, FatalError::invalid_field(10)),
            (IcFault::Dgst, FatalError::unsupported(11)),
        ] {
            let b = icresp(&genuine, fault).unwrap();
            assert_eq!(b.len(), 128);
            assert_eq!(host.accept_icresp(&parse(&b)), Err(want), "{fault:?}");
        }
        let plen = icresp(&genuine, IcFault::Plen).unwrap();
        assert_eq!(
            fatal(Header::decode(&plen, 0)),
            FatalError::invalid_field(4)
        );
        let hlen = icresp(&genuine, IcFault::Hlen).unwrap();
        assert_eq!(
            fatal(Header::decode(&hlen, 0)),
            FatalError::invalid_field(2)
        );
    }

    #[test]
    fn c2h_term_req_is_well_formed() {
        let b = c2h_term_req(Fes::PduSequenceError);
        assert_eq!(b.len(), 24);
        let h = Header::decode(&b, 0).unwrap();
        let Pdu::C2HTermReq(t) = h.pdu else { panic!() };
        assert_eq!(t.fes, Fes::PduSequenceError);
    }

    #[test]
    fn mutations_change_the_pdu_and_replay_with_the_seed() {
        let f = framing(true, true);
        let b = genuine_c2h(&f, 4096);
        let mut seen_truncate = false;
        let mut seen_flip = false;
        for seed in 0..200 {
            let mut x = b.clone();
            let m = mutate(&mut x, &mut Rng::new(seed));
            let mut y = b.clone();
            assert_eq!(mutate(&mut y, &mut Rng::new(seed)), m, "replay");
            assert_eq!(x, y);
            assert_ne!(x, b, "seed {seed}: {m:?} changed nothing");
            match m {
                Mutation::Truncate(n) => {
                    seen_truncate = true;
                    assert!(n >= 1 && n < b.len());
                    assert_eq!(x.len(), n);
                }
                Mutation::Flip(ref flips) => {
                    seen_flip = true;
                    assert!(!flips.is_empty() && flips.len() <= 3);
                    assert_eq!(x.len(), b.len());
                    // With both digests on, a flipped PDU is never accepted whole.
                    let v = host_validator(&f);
                    if let Ok(h) = v.validate::<SoftCrc32c, _>(&x, &read(4096, 0)) {
                        assert!(!ddgst_ok(&x, &h), "seed {seed}: {m:?} undetected");
                    }
                }
            }
        }
        assert!(seen_truncate && seen_flip);
    }

    #[test]
    fn rng_below_stays_below() {
        let mut r = Rng::new(7);
        assert_eq!(r.below(0), 0);
        for n in 1..100 {
            assert!(r.below(n) < n);
        }
    }
}
