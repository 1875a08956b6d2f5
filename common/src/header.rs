//! Any PDU header as one value ([`Pdu`]), where its parts lie ([`Layout`]), and emitting it.
//!
//! A PDU on the wire is: header (HLEN bytes), header digest (4 bytes if HDGSTF), padding up to
//! PDO (when the receiver asked for data alignment), data, data digest (4 bytes if DDGSTF).
//! PLEN is the sum of all of them.

use super::capsule::{CapsuleCmd, CapsuleResp, CmdPdu, RspPdu, CMD_HLEN};
use super::common::{copy_at, field, Common, Flags, PduType, COMMON_LEN, DIGEST_LEN};
use super::data::{self, C2HData, DataPdu, H2CData, R2t, R2tPdu};
use super::digest::{digest, Crc32c};
use super::error::{DecodeError, Error, FatalError};
use super::ic::{IcReq, IcReqPdu, IcResp, IcRespPdu, MAX_PDA};
use super::term::{TermPdu, TermReq, MAX_TERM_PLEN, MIN_TERM_PLEN};

/// How the sender frames the PDUs it emits: the negotiated digests and the peer's alignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Framing {
    /// Header digests are enabled.
    pub hdgst: bool,
    /// Data digests are enabled.
    pub ddgst: bool,
    /// The receiver's PDU data alignment (HPDA or CPDA): 0's based dwords, 0..=31.
    pub pda: u8,
}

/// Returns the data alignment in bytes for a 0's based PDA, or `None` if PDA is above 31.
pub fn pda_alignment(pda: u8) -> Option<u32> {
    if pda > MAX_PDA {
        return None;
    }
    u32::from(pda).checked_add(1)?.checked_mul(4)
}

/// The command capsules a [`Framing`] frames as their header alone followed by their
/// in-capsule data (no header digest, no padding before the data: PDO 72), with a data digest
/// if the framing has one: their common headers differ only in PLEN, so a sender may keep this
/// and frame such a capsule by writing [`PlainCapsules::common`] before its SQE, as
/// [`Pdu::frame_capsule_cmd`] would frame it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlainCapsules {
    /// The common header of a capsule without data, as sent.
    bare: [u8; COMMON_LEN],
    /// That of a capsule with data, PLEN less the data.
    with_data: Common,
}

impl PlainCapsules {
    /// Returns the plain capsules of `framing`, or `None` if it frames capsules otherwise.
    pub fn new(framing: &Framing) -> Option<Self> {
        let plain = |data_len| {
            let layout = Layout::of(PduType::CapsuleCmd, data_len, framing).ok()?;
            if layout.hdgst || layout.pad != 0 || layout.data_offset() != CMD_HLEN {
                return None;
            }
            layout.common(PduType::CapsuleCmd, Flags::EMPTY).ok()
        };
        let bare = plain(0)?.to_bytes();
        let mut with_data = plain(1)?;
        with_data.plen = with_data.plen.checked_sub(1)?;
        Some(Self { bare, with_data })
    }

    /// Returns the common header of a capsule with `data_len` bytes of in-capsule data, or
    /// `None` if its PLEN would not fit in 32 bits.
    #[inline]
    pub fn common(&self, data_len: u32) -> Option<[u8; COMMON_LEN]> {
        if data_len == 0 {
            return Some(self.bare);
        }
        let plen = self.with_data.plen.checked_add(data_len)?;
        Some(
            Common {
                plen,
                ..self.with_data
            }
            .to_bytes(),
        )
    }
}

/// Where the parts of a PDU lie; derived from the common header and checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// HLEN.
    pub hlen: u8,
    /// A header digest follows the header.
    pub hdgst: bool,
    /// Padding bytes between the header (and its digest) and the data.
    pub pad: u8,
    /// Length of the data (0 when the PDU has none).
    pub data_len: u32,
    /// A data digest follows the data.
    pub ddgst: bool,
}

impl Layout {
    /// Returns the length of the header and its digest, the bytes a receiver buffers.
    pub fn header_len(&self) -> usize {
        // Cannot overflow: a `u8` widened to `usize` plus 4.
        usize::from(self.hlen)
            + if self.hdgst {
                usize::from(DIGEST_LEN)
            } else {
                0
            }
    }

    /// Returns the offset of the data from the start of the PDU.
    pub fn data_offset(&self) -> usize {
        // Cannot overflow: at most 132 plus a `u8`.
        self.header_len() + usize::from(self.pad)
    }

    /// Returns PLEN, or `None` if it does not fit in 32 bits.
    pub fn plen(&self) -> Option<u32> {
        let start = u32::try_from(self.data_offset()).ok()?;
        let dd = if self.ddgst { u32::from(DIGEST_LEN) } else { 0 };
        start.checked_add(self.data_len)?.checked_add(dd)
    }

    /// Returns the layout a PDU of type `t` with `data_len` bytes of data has when emitted
    /// with `framing` (see [`Pdu::layout`]).
    ///
    /// # Errors
    ///
    /// [`Error::Overflow`] for an unknown type, if PLEN would not fit in 32 bits, PDA is above
    /// 31 or a TermReq carries more than 128 bytes.
    pub fn of(t: PduType, data_len: u32, framing: &Framing) -> Result<Self, Error> {
        let hlen = t.hlen().ok_or(Error::Overflow)?;
        let layout = if t.has_digests() {
            let ddgst = framing.ddgst && data_len > 0;
            let header = Self {
                hlen,
                hdgst: framing.hdgst,
                pad: 0,
                data_len,
                ddgst,
            };
            let pad = if data_len > 0 {
                let align = pda_alignment(framing.pda).ok_or(Error::Overflow)?;
                let end = u32::try_from(header.header_len()).map_err(|_| Error::Overflow)?;
                let rem = end.checked_rem(align).ok_or(Error::Overflow)?;
                let pad = align.checked_sub(rem).ok_or(Error::Overflow)?;
                u8::try_from(pad.checked_rem(align).ok_or(Error::Overflow)?)
                    .map_err(|_| Error::Overflow)?
            } else {
                0
            };
            Self { pad, ..header }
        } else {
            if t.is_term_req() && data_len > MAX_TERM_PLEN - MIN_TERM_PLEN {
                return Err(Error::Overflow);
            }
            Self {
                hlen,
                hdgst: false,
                pad: 0,
                data_len,
                ddgst: false,
            }
        };
        layout.plen().ok_or(Error::Overflow)?;
        Ok(layout)
    }

    /// Returns the common header of a PDU of type `t` with this layout, `specific` being the
    /// flags of its own (LAST_PDU, SUCCESS); the digest flags come from the layout.
    ///
    /// # Errors
    ///
    /// [`Error::Overflow`] if PLEN or PDO does not fit its field.
    pub fn common(&self, t: PduType, specific: Flags) -> Result<Common, Error> {
        let flags = specific
            .with(Flags::HDGSTF, self.hdgst)
            .with(Flags::DDGSTF, self.ddgst);
        let pdo = if self.data_len > 0 && t.has_digests() {
            u8::try_from(self.data_offset()).map_err(|_| Error::Overflow)?
        } else {
            0
        };
        Ok(Common {
            pdu_type: t,
            flags,
            hlen: self.hlen,
            pdo,
            plen: self.plen().ok_or(Error::Overflow)?,
        })
    }

    /// Returns the checked layout of the PDU whose common header is `common`.
    ///
    /// `pda` is the data alignment the receiver asked for. Digest flags are taken as they are;
    /// whether they match the negotiated digests is for the [`super::validate::Validator`].
    ///
    /// # Errors
    ///
    /// An Invalid PDU Header Field error naming PDU-Type, HLEN, FLAGS, PDO or PLEN.
    #[inline]
    #[allow(clippy::manual_is_multiple_of)] // Rust 1.85: see below.
    pub fn parse(common: &Common, pda: u8) -> Result<Self, FatalError> {
        let t = common.pdu_type;
        let hlen = t.hlen().ok_or(FatalError::invalid_field(field::PDU_TYPE))?;
        if common.hlen != hlen {
            return Err(FatalError::invalid_field(field::HLEN));
        }
        let bad_plen = FatalError::invalid_field(field::PLEN);
        let plain = Self {
            hlen,
            hdgst: false,
            pad: 0,
            data_len: 0,
            ddgst: false,
        };
        match t {
            PduType::IcReq | PduType::IcResp => {
                if common.plen != u32::from(hlen) {
                    return Err(bad_plen);
                }
                Ok(plain)
            }
            PduType::H2CTermReq | PduType::C2HTermReq => {
                if !(MIN_TERM_PLEN..=MAX_TERM_PLEN).contains(&common.plen) {
                    return Err(bad_plen);
                }
                let data_len = common.plen.checked_sub(MIN_TERM_PLEN).ok_or(bad_plen)?;
                Ok(Self { data_len, ..plain })
            }
            _ => {
                let hdgst = common.flags.contains(Flags::HDGSTF);
                let ddgst = common.flags.contains(Flags::DDGSTF);
                let header = Self { hdgst, ..plain };
                let header_end = u32::try_from(header.header_len()).map_err(|_| bad_plen)?;
                if common.plen < header_end {
                    return Err(bad_plen);
                }
                if common.plen == header_end {
                    // No data: PDO is reserved and DDGSTF must be clear.
                    if ddgst {
                        return Err(FatalError::invalid_field(field::FLAGS));
                    }
                    return Ok(header);
                }
                if !matches!(t, PduType::CapsuleCmd | PduType::H2CData | PduType::C2HData) {
                    return Err(bad_plen);
                }
                let bad_pdo = FatalError::invalid_field(field::PDO);
                let pdo = u32::from(common.pdo);
                let align = pda_alignment(pda).ok_or(bad_pdo)?;
                // `%`: `is_multiple_of` is stable only since Rust 1.87, and Debian's stock kernels
                // are built with 1.85.
                if pdo < header_end || pdo % align != 0 {
                    return Err(bad_pdo);
                }
                let pad = u8::try_from(pdo.checked_sub(header_end).ok_or(bad_pdo)?)
                    .map_err(|_| bad_pdo)?;
                let dd = if ddgst { u32::from(DIGEST_LEN) } else { 0 };
                let data_len = common
                    .plen
                    .checked_sub(pdo)
                    .and_then(|n| n.checked_sub(dd))
                    .filter(|&n| n > 0)
                    .ok_or(bad_plen)?;
                Ok(Self {
                    pad,
                    data_len,
                    ddgst,
                    ..header
                })
            }
        }
    }
}

/// Any PDU header, as a validated value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pdu {
    /// ICReq.
    IcReq(IcReq),
    /// ICResp.
    IcResp(IcResp),
    /// H2CTermReq.
    H2CTermReq(TermReq),
    /// C2HTermReq.
    C2HTermReq(TermReq),
    /// CapsuleCmd.
    CapsuleCmd(CapsuleCmd),
    /// CapsuleResp.
    CapsuleResp(CapsuleResp),
    /// H2CData.
    H2CData(H2CData),
    /// C2HData.
    C2HData(C2HData),
    /// R2T.
    R2t(R2t),
}

impl Pdu {
    /// Returns the PDU type.
    pub fn pdu_type(&self) -> PduType {
        match self {
            Self::IcReq(_) => PduType::IcReq,
            Self::IcResp(_) => PduType::IcResp,
            Self::H2CTermReq(_) => PduType::H2CTermReq,
            Self::C2HTermReq(_) => PduType::C2HTermReq,
            Self::CapsuleCmd(_) => PduType::CapsuleCmd,
            Self::CapsuleResp(_) => PduType::CapsuleResp,
            Self::H2CData(_) => PduType::H2CData,
            Self::C2HData(_) => PduType::C2HData,
            Self::R2t(_) => PduType::R2t,
        }
    }

    /// Returns the length of the data this PDU carries.
    pub fn data_len(&self) -> u32 {
        match self {
            Self::H2CTermReq(t) | Self::C2HTermReq(t) => u32::from(t.data_len),
            Self::CapsuleCmd(c) => c.data_len,
            Self::H2CData(d) => d.datal,
            Self::C2HData(d) => d.datal,
            Self::IcReq(_) | Self::IcResp(_) | Self::CapsuleResp(_) | Self::R2t(_) => 0,
        }
    }

    /// Returns the offset into the command's data buffer where this PDU's data belongs.
    ///
    /// That is DATAO for H2CData/C2HData and 0 for in-capsule and TermReq data.
    pub fn data_offset(&self) -> u32 {
        match self {
            Self::H2CData(d) => d.datao,
            Self::C2HData(d) => d.datao,
            _ => 0,
        }
    }

    /// Returns the layout this PDU has when emitted with `framing`.
    ///
    /// # Errors
    ///
    /// [`Error::Overflow`] if PLEN would not fit in 32 bits, PDA is above 31 or a TermReq
    /// carries more than 128 bytes.
    pub fn layout(&self, framing: &Framing) -> Result<Layout, Error> {
        Layout::of(self.pdu_type(), self.data_len(), framing)
    }

    /// Returns the common header this PDU has with `layout`.
    ///
    /// # Errors
    ///
    /// [`Error::Overflow`] if PLEN or PDO does not fit its field.
    pub fn common(&self, layout: &Layout) -> Result<Common, Error> {
        let specific = match self {
            Self::H2CData(d) => d.flags(),
            Self::C2HData(d) => d.flags(),
            _ => Flags::EMPTY,
        };
        layout.common(self.pdu_type(), specific)
    }

    /// Emits the header section: header, header digest and padding up to PDO.
    ///
    /// The caller sends the data (and its digest) after it. Returns the number of bytes written,
    /// [`Layout::data_offset`] of the layout used.
    ///
    /// # Errors
    ///
    /// [`Error::BufferTooSmall`] if `buf` is too short, [`Error::Overflow`] as for
    /// [`Pdu::layout`].
    pub fn emit_header<C: Crc32c>(
        &self,
        framing: &Framing,
        buf: &mut [u8],
    ) -> Result<usize, Error> {
        Ok(self.emit_header_layout::<C>(framing, buf)?.data_offset())
    }

    /// Emits the header section as [`Pdu::emit_header`] does, and returns the layout it used
    /// (its [`Layout::data_offset`] is the number of bytes written; its [`Layout::plen`] the
    /// PDU's length on the wire).
    ///
    /// # Errors
    ///
    /// As [`Pdu::emit_header`].
    #[inline(always)]
    pub fn emit_header_layout<C: Crc32c>(
        &self,
        framing: &Framing,
        buf: &mut [u8],
    ) -> Result<Layout, Error> {
        let layout = self.layout(framing)?;
        let common = self.common(&layout)?;
        let total = layout.data_offset();
        let out = buf.get_mut(..total).ok_or(Error::BufferTooSmall)?;
        out.fill(0);
        match self {
            Self::IcReq(x) => x.emit(&mut IcReqPdu::new_checked_mut(out)?),
            Self::IcResp(x) => x.emit(&mut IcRespPdu::new_checked_mut(out)?),
            Self::H2CTermReq(x) | Self::C2HTermReq(x) => {
                x.emit(&mut TermPdu::new_checked_mut(out)?)
            }
            Self::CapsuleCmd(x) => x.emit(&mut CmdPdu::new_checked_mut(out)?),
            Self::CapsuleResp(x) => x.emit(&mut RspPdu::new_checked_mut(out)?),
            Self::H2CData(x) => x.emit(&mut DataPdu::new_checked_mut(out)?),
            Self::C2HData(x) => x.emit(&mut DataPdu::new_checked_mut(out)?),
            Self::R2t(x) => x.emit(&mut R2tPdu::new_checked_mut(out)?),
        }
        finish_header::<C>(&layout, &common, out)?;
        Ok(layout)
    }

    /// Frames a CapsuleCmd whose SQE the caller built in place, at bytes 8..72 of `buf`: writes
    /// the common header before it and the header digest and padding up to PDO after it, as
    /// [`Pdu::emit_header`] would for a CapsuleCmd with that SQE and `data_len` bytes of
    /// in-capsule data. Returns the number of header bytes, the offset of the data.
    ///
    /// # Errors
    ///
    /// As [`Pdu::emit_header`].
    pub fn frame_capsule_cmd<C: Crc32c>(
        framing: &Framing,
        data_len: u32,
        buf: &mut [u8],
    ) -> Result<usize, Error> {
        let layout = Layout::of(PduType::CapsuleCmd, data_len, framing)?;
        let common = layout.common(PduType::CapsuleCmd, Flags::EMPTY)?;
        let out = buf
            .get_mut(..layout.data_offset())
            .ok_or(Error::BufferTooSmall)?;
        finish_header::<C>(&layout, &common, out)
    }

    /// Reads the PDU value from `hdr` (at least HLEN bytes) given its checked `layout`.
    ///
    /// Checks what the header alone decides: DATAL against the layout, SUCCESS only with
    /// LAST_PDU.
    ///
    /// # Errors
    ///
    /// [`DecodeError::Truncated`] if `hdr` is shorter than HLEN; otherwise an Invalid PDU Header
    /// Field error.
    #[inline]
    pub fn decode(common: &Common, hdr: &[u8], layout: &Layout) -> Result<Self, DecodeError> {
        let trunc = |_| DecodeError::Truncated;
        let bad_datal = FatalError::invalid_field(data::field::DATAL);
        Ok(match common.pdu_type {
            PduType::IcReq => {
                Self::IcReq(IcReq::parse(&IcReqPdu::new_checked(hdr).map_err(trunc)?))
            }
            PduType::IcResp => {
                Self::IcResp(IcResp::parse(&IcRespPdu::new_checked(hdr).map_err(trunc)?))
            }
            PduType::H2CTermReq => {
                Self::H2CTermReq(TermReq::parse(&TermPdu::new_checked(hdr).map_err(trunc)?))
            }
            PduType::C2HTermReq => {
                Self::C2HTermReq(TermReq::parse(&TermPdu::new_checked(hdr).map_err(trunc)?))
            }
            PduType::CapsuleCmd => Self::CapsuleCmd(CapsuleCmd::parse(
                &CmdPdu::new_checked(hdr).map_err(trunc)?,
                layout.data_len,
            )),
            PduType::CapsuleResp => Self::CapsuleResp(CapsuleResp::parse(
                &RspPdu::new_checked(hdr).map_err(trunc)?,
            )),
            PduType::H2CData => {
                let d = H2CData::parse(&DataPdu::new_checked(hdr).map_err(trunc)?);
                if d.datal == 0 || d.datal != layout.data_len {
                    return Err(bad_datal.into());
                }
                Self::H2CData(d)
            }
            PduType::C2HData => {
                let d = C2HData::parse(&DataPdu::new_checked(hdr).map_err(trunc)?);
                if d.datal == 0 || d.datal != layout.data_len {
                    return Err(bad_datal.into());
                }
                if d.success && !d.last {
                    return Err(FatalError::invalid_field(field::FLAGS).into());
                }
                Self::C2HData(d)
            }
            PduType::R2t => Self::R2t(R2t::parse(&R2tPdu::new_checked(hdr).map_err(trunc)?)),
            PduType::Unknown(_) => return Err(FatalError::invalid_field(field::PDU_TYPE).into()),
        })
    }
}

/// A received PDU header: the raw common header, its checked layout and its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// The common header as received (unknown flag bits kept).
    pub common: Common,
    /// Where the header digest, padding, data and data digest lie.
    pub layout: Layout,
    /// The PDU header value.
    pub pdu: Pdu,
}

impl Header {
    /// Returns a header that stands for none yet (an empty C2HData of an unknown type), to be
    /// overwritten by a decoded one.
    pub fn placeholder() -> Self {
        Self {
            common: Common {
                pdu_type: PduType::Unknown(0xff),
                flags: Flags::default(),
                hlen: 0,
                pdo: 0,
                plen: 0,
            },
            layout: Layout {
                hlen: 0,
                hdgst: false,
                pad: 0,
                data_len: 0,
                ddgst: false,
            },
            pdu: Pdu::C2HData(C2HData {
                cccid: 0,
                datao: 0,
                datal: 0,
                last: false,
                success: false,
            }),
        }
    }

    /// Decodes a header from `bytes` without context: structure only, no digest check.
    ///
    /// `pda` is the data alignment the receiver asked for. Role, connection state, negotiated
    /// digests, the header digest and the command table are checked by
    /// [`super::validate::Validator`].
    ///
    /// # Errors
    ///
    /// [`DecodeError::Truncated`] if `bytes` ends inside the header (and its digest), else a
    /// [`DecodeError::Fatal`] naming the field in error.
    pub fn decode(bytes: &[u8], pda: u8) -> Result<Self, DecodeError> {
        let common = Common::parse(bytes).map_err(|_| DecodeError::Truncated)?;
        let layout = Layout::parse(&common, pda)?;
        if bytes.len() < layout.header_len() {
            return Err(DecodeError::Truncated);
        }
        let pdu = Pdu::decode(&common, bytes, &layout)?;
        Ok(Self {
            common,
            layout,
            pdu,
        })
    }
}

/// Completes the header section `out` (as long as [`Layout::data_offset`], the PDU's own fields
/// in place): writes `common` at the start, the header digest after HLEN, and zeroes the padding
/// up to PDO. Returns its length.
fn finish_header<C: Crc32c>(
    layout: &Layout,
    common: &Common,
    out: &mut [u8],
) -> Result<usize, Error> {
    // Whole-array stores, not a copy of a length known only at run time: this runs for every
    // command capsule.
    *out.first_chunk_mut::<{ COMMON_LEN }>()
        .ok_or(Error::BufferTooSmall)? = common.to_bytes();
    let hlen = usize::from(layout.hlen);
    let mut end = hlen;
    if layout.hdgst {
        let d = digest::<C>(out.get(..hlen).ok_or(Error::BufferTooSmall)?);
        copy_at(out, hlen, &d.to_le_bytes());
        end += usize::from(DIGEST_LEN);
    }
    if end < out.len() {
        if let Some(pad) = out.get_mut(end..) {
            pad.fill(0);
        }
    }
    Ok(out.len())
}
