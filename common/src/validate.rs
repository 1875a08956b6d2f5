//! Every receive-side rule, checked once: role, connection state, lengths, digests, tags,
//! offsets and limits.
//!
//! The per-command rules (is this CCCID a read in flight, does this DATAO continue the data
//! received so far) need the driver's command state: the [`Validator`] asks for it through the
//! [`CommandTable`] trait the driver implements.
//!
//! A command's SGL descriptor of an unsupported type, or longer than a target moves, breaks no
//! rule of the stream: it fails that command alone ([`CapsuleCmd::sgl_data`] classifies it).

use super::capsule::{self, CapsuleCmd, CapsuleResp, CmdPdu, RspPdu, CMD_HLEN};
use super::common::{field, Common, Flags, PduType, COMMON_LEN, DIGEST_LEN};
use super::data::{self, C2HData, DataPdu, H2CData, DATA_HLEN};
use super::digest::{digest, Crc32c};
use super::error::{DecodeError, FatalError, Fes};
use super::header::{Header, Layout, Pdu};
use super::negotiate::Params;

/// Which end of the connection the local side is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The host (`nvme_tcp`): receives C2H PDUs.
    Host,
    /// The controller (`nvmet_tcp`): receives H2C PDUs.
    Target,
}

/// Local limits that are not negotiated in ICReq/ICResp.
///
/// The length of a command's data moved by the transport is not among them: a target that
/// cannot move that much fails the command, not the connection (see
/// [`CapsuleCmd::sgl_data`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Number of command slots; a target's TTAGs are slot numbers below it.
    pub queue_depth: u16,
    /// The largest in-capsule data a target accepts in a CapsuleCmd (from IOCCSZ).
    pub max_incapsule: u32,
}

impl Default for Limits {
    /// Returns 128 slots and 8 KiB of in-capsule data (the admin queue's capsule size).
    fn default() -> Self {
        Self {
            queue_depth: 128,
            max_incapsule: 8192,
        }
    }
}

/// What a host knows about one of its commands, as the [`CommandTable`] reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandState {
    /// A command reading `len` bytes, of which `received` have arrived in C2HData PDUs.
    Read {
        /// The command's data length.
        len: u32,
        /// Bytes received so far; the next C2HData must start here.
        received: u32,
    },
    /// A command writing `len` bytes.
    Write {
        /// The command's data length.
        len: u32,
        /// End of the data the controller has asked for so far; a new R2T must not start
        /// before it.
        requested: u32,
        /// R2Ts received and not yet fully answered.
        r2ts: u32,
    },
    /// A command without data (or the asynchronous event request), awaiting its response.
    NoData,
}

/// What a target knows about the transfer an R2T opened, as the [`CommandTable`] reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transfer {
    /// The CID of the command the R2T was sent for.
    pub cccid: u16,
    /// Offset of the next byte expected (R2TO plus what has arrived).
    pub next: u32,
    /// End of the range the R2T asked for (R2TO + R2TL).
    pub end: u32,
}

/// The driver's command state, as the [`Validator`] needs it.
///
/// A host implements [`CommandTable::command`], a target [`CommandTable::transfer`]; the
/// defaults answer `None`, which rejects the PDU. The answers must reflect every event the
/// receiver has yielded so far (for example `received` grows with each `Data` event).
pub trait CommandTable {
    /// Returns the state of the host command `cccid`, or `None` if none is in flight.
    fn command(&self, cccid: u16) -> Option<CommandState> {
        let _ = cccid;
        None
    }

    /// Returns the transfer `ttag` awaits, or `None` if the target sent no R2T for it.
    fn transfer(&self, ttag: u16) -> Option<Transfer> {
        let _ = ttag;
        None
    }
}

/// A [`CommandTable`] with nothing in flight.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoCommands;

impl CommandTable for NoCommands {}

/// The receive-side rules for one connection: role, limits and (once negotiated) parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validator {
    /// The local role.
    pub role: Role,
    /// Local limits.
    pub limits: Limits,
    /// Negotiated parameters; `None` until ICReq/ICResp have been exchanged.
    pub params: Option<Params>,
}

impl Validator {
    /// Returns a validator for a connection that has not exchanged ICReq/ICResp yet.
    pub fn new(role: Role, limits: Limits) -> Self {
        Self {
            role,
            limits,
            params: None,
        }
    }

    /// Returns the data alignment (0's based dwords) the local side asked the peer for.
    pub fn rx_pda(&self) -> u8 {
        self.params.map_or(0, |p| p.rx_pda(self.role))
    }

    /// Checks a common header and returns how many header bytes to read (HLEN + digest).
    ///
    /// # Errors
    ///
    /// Invalid PDU Header Field for a type the role never receives, a wrong HLEN or digest
    /// flags that disagree with the negotiated digests; PDU Sequence Error for anything but
    /// ICReq/ICResp (or a TermReq) before negotiation, or ICReq/ICResp after it.
    pub fn check_common(&self, common: &Common) -> Result<usize, FatalError> {
        let t = common.pdu_type;
        let receivable = match self.role {
            Role::Host => matches!(
                t,
                PduType::IcResp
                    | PduType::C2HTermReq
                    | PduType::CapsuleResp
                    | PduType::C2HData
                    | PduType::R2t
            ),
            Role::Target => matches!(
                t,
                PduType::IcReq | PduType::H2CTermReq | PduType::CapsuleCmd | PduType::H2CData
            ),
        };
        if !receivable {
            return Err(FatalError::invalid_field(field::PDU_TYPE));
        }
        let is_ic = matches!(t, PduType::IcReq | PduType::IcResp);
        if !t.is_term_req() && is_ic == self.params.is_some() {
            return Err(FatalError::status(Fes::PduSequenceError));
        }
        let hlen = t.hlen().ok_or(FatalError::invalid_field(field::PDU_TYPE))?;
        if common.hlen != hlen {
            return Err(FatalError::invalid_field(field::HLEN));
        }
        let mut need = usize::from(hlen);
        if let (true, Some(p)) = (t.has_digests(), self.params) {
            let hdgst = common.flags.contains(Flags::HDGSTF);
            let ddgst = common.flags.contains(Flags::DDGSTF);
            if hdgst != p.hdgst || (ddgst && !p.ddgst) {
                return Err(FatalError::invalid_field(field::FLAGS));
            }
            if hdgst {
                need = need
                    .checked_add(usize::from(DIGEST_LEN))
                    .ok_or(FatalError::invalid_field(field::HLEN))?;
            }
        }
        Ok(need)
    }

    /// Validates a whole received header: `hdr` holds HLEN bytes and the header digest.
    ///
    /// This applies [`Validator::check_common`], verifies the header digest, derives and checks
    /// the layout, decodes the value and checks it against the limits, the negotiated
    /// parameters and the driver's `table`.
    ///
    /// # Errors
    ///
    /// [`DecodeError::Truncated`] if `hdr` is shorter than the header and its digest; otherwise
    /// the [`FatalError`] of the first rule broken.
    pub fn validate<C: Crc32c, T: CommandTable + ?Sized>(
        &self,
        hdr: &[u8],
        table: &T,
    ) -> Result<Header, DecodeError> {
        let first = hdr
            .first_chunk::<COMMON_LEN>()
            .ok_or(DecodeError::Truncated)?;
        let need = self.check_common(&Common::from_bytes(first))?;
        self.validate_checked::<C, T>(hdr, need, table)
    }

    /// [`Validator::validate`] for a header whose first 8 bytes already passed
    /// [`Validator::check_common`], which returned `need`.
    ///
    /// The streaming receiver checks the common header as soon as it has it (to know how much
    /// more to read) and calls this on the complete header.
    pub(crate) fn validate_checked<C: Crc32c, T: CommandTable + ?Sized>(
        &self,
        hdr: &[u8],
        need: usize,
        table: &T,
    ) -> Result<Header, DecodeError> {
        let first = hdr
            .first_chunk::<COMMON_LEN>()
            .ok_or(DecodeError::Truncated)?;
        let mut out = Header::placeholder();
        self.validate_into::<C, T>(hdr, need, &Common::from_bytes(first), table, &mut out)?;
        Ok(out)
    }

    /// As [`Validator::validate_checked`], but the header is decoded into `out`, where it is
    /// used (a receiver's header slot): nothing is moved. On an error `out` holds whatever
    /// was decoded before it.
    pub(crate) fn validate_into<C: Crc32c, T: CommandTable + ?Sized>(
        &self,
        hdr: &[u8],
        need: usize,
        common: &Common,
        table: &T,
        out: &mut Header,
    ) -> Result<(), DecodeError> {
        let common = *common;
        if hdr.len() < need {
            return Err(DecodeError::Truncated);
        }
        let hlen = usize::from(common.hlen);
        if need > hlen {
            let body = hdr.get(..hlen).ok_or(DecodeError::Truncated)?;
            let got = hdr
                .get(hlen..need)
                .and_then(|d| d.first_chunk::<4>())
                .ok_or(DecodeError::Truncated)?;
            if u32::from_le_bytes(*got) != digest::<C>(body) {
                return Err(FatalError::status(Fes::HeaderDigestError).into());
            }
        }
        let layout = Layout::parse(&common, self.rx_pda())?;
        if let Some(p) = self.params {
            if common.pdu_type.has_digests() && layout.data_len > 0 && p.ddgst && !layout.ddgst {
                return Err(FatalError::invalid_field(field::FLAGS).into());
            }
        }
        out.pdu = Pdu::decode(&common, hdr, &layout)?;
        out.common = common;
        out.layout = layout;
        self.check_pdu(&out.pdu, table)?;
        Ok(())
    }

    /// Header prediction, as in TCP's receive fast path: accepts the header at the start of
    /// `hdr` into `out` if it is one of those a side receives for nearly every command, in
    /// their usual shape on a connection without header digest or data alignment:
    ///
    /// - host: a CapsuleResp with no flags and PLEN 24, for a command in flight; a C2HData
    ///   with no flags but LAST_PDU and SUCCESS, its data right after the header (PDO 24) and
    ///   no data digest, that continues a read in flight within its length;
    /// - target: a CapsuleCmd with no flags, without data or with in-capsule data right after
    ///   the header (PDO 72) and no data digest, within the limits; an H2CData with no flags
    ///   but LAST_PDU, its data right after the header and no data digest, that continues the
    ///   transfer its TTAG names within the R2T's range.
    ///
    /// Returns where the header ends and its data ([`Predicted`]), or `None` for any other
    /// header, valid or not, which [`Validator::validate_into`] then judges. Each condition is
    /// one of that path's rules specialised to these values, so a predicted header is accepted
    /// exactly as the general path would accept it (a test compares both over random headers);
    /// nothing is rejected here.
    ///
    /// Each PDU type writes its own header into `out`, so that the fast path builds no
    /// [`Pdu`] to move.
    #[inline(always)]
    pub(crate) fn predict_into<T: CommandTable + ?Sized>(
        &self,
        hdr: &[u8],
        table: &T,
        out: &mut Header,
    ) -> Option<Predicted> {
        let p = self.params?;
        if p.hdgst || p.rx_pda(self.role) != 0 {
            return None;
        }
        let common = Common::from_bytes(hdr.first_chunk()?);
        match (self.role, common.pdu_type) {
            (Role::Host, PduType::CapsuleResp) => {
                let bytes = hdr.first_chunk::<{ DATA_HLEN }>()?;
                if common.hlen != 24 || common.flags != Flags::EMPTY || common.plen != 24 {
                    return None;
                }
                let r = CapsuleResp::parse(&RspPdu::new_unchecked(bytes));
                table.command(r.cid())?;
                write_header(out, common, 0);
                out.pdu = Pdu::CapsuleResp(r);
                Some(Predicted::header_only(DATA_HLEN))
            }
            (Role::Host, PduType::C2HData) => {
                let bytes = hdr.first_chunk::<{ DATA_HLEN }>()?;
                let known = Flags::from_bits(Flags::LAST_PDU.bits() | Flags::SUCCESS.bits());
                let data_len = data_after::<{ DATA_HLEN }>(&common, known, p.ddgst)?;
                let d = C2HData::parse(&DataPdu::new_unchecked(bytes));
                if d.datal != data_len || (d.success && !d.last) {
                    return None;
                }
                let Some(CommandState::Read { len, received }) = table.command(d.cccid) else {
                    return None;
                };
                let end = d.datao.checked_add(d.datal)?;
                if d.datao != received || end > len || (d.success && end != len) {
                    return None;
                }
                write_header(out, common, data_len);
                out.pdu = Pdu::C2HData(d);
                Some(Predicted::with_data(DATA_HLEN, d.datao, data_len))
            }
            (Role::Target, PduType::CapsuleCmd) => {
                let bytes = hdr.first_chunk::<{ CMD_HLEN }>()?;
                let data_len = if common.plen == CMD_HLEN as u32 {
                    if common.hlen != CMD_HLEN as u8 || common.flags != Flags::EMPTY {
                        return None;
                    }
                    0
                } else {
                    data_after::<{ CMD_HLEN }>(&common, Flags::EMPTY, p.ddgst)?
                };
                let c = CapsuleCmd::parse(&CmdPdu::new_unchecked(bytes), data_len);
                let in_capsule = c.sgl_type() == capsule::SGL_IN_CAPSULE;
                if data_len > self.limits.max_incapsule
                    || (data_len > 0 && !in_capsule)
                    || (in_capsule && c.sgl_len() != data_len)
                {
                    return None;
                }
                write_header(out, common, data_len);
                out.pdu = Pdu::CapsuleCmd(c);
                Some(Predicted::with_data(CMD_HLEN, 0, data_len))
            }
            (Role::Target, PduType::H2CData) => {
                let bytes = hdr.first_chunk::<{ DATA_HLEN }>()?;
                let data_len = data_after::<{ DATA_HLEN }>(&common, Flags::LAST_PDU, p.ddgst)?;
                let d = H2CData::parse(&DataPdu::new_unchecked(bytes));
                if d.datal != data_len
                    || d.ttag >= self.limits.queue_depth
                    || d.datal > p.maxh2cdata
                {
                    return None;
                }
                let t = table.transfer(d.ttag)?;
                let end = d.datao.checked_add(d.datal)?;
                if t.cccid != d.cccid
                    || d.datao != t.next
                    || end > t.end
                    || d.last != (end == t.end)
                {
                    return None;
                }
                write_header(out, common, data_len);
                out.pdu = Pdu::H2CData(d);
                Some(Predicted::with_data(DATA_HLEN, d.datao, data_len))
            }
            _ => None,
        }
    }

    /// Checks a decoded PDU against the limits, the parameters and the command table.
    fn check_pdu<T: CommandTable + ?Sized>(&self, pdu: &Pdu, table: &T) -> Result<(), FatalError> {
        let sequence = FatalError::status(Fes::PduSequenceError);
        let out_of_range = FatalError::status(Fes::DataOutOfRange);
        let limit = FatalError::status(Fes::DataLimitExceeded);
        let bad = FatalError::invalid_field;
        match pdu {
            Pdu::CapsuleCmd(c) => {
                // In-capsule data must fit and agree with the SGL descriptor: the stream
                // carries it. The descriptor's type and the length of data moved by the
                // transport are judged per command (`CapsuleCmd::sgl_data`).
                if c.data_len > self.limits.max_incapsule {
                    return Err(limit);
                }
                let in_capsule = c.sgl_type() == capsule::SGL_IN_CAPSULE;
                if c.data_len > 0 && !in_capsule {
                    return Err(bad(capsule::field::SGL_TYPE));
                }
                if in_capsule && c.sgl_len() != c.data_len {
                    return Err(bad(capsule::field::SGL_LEN));
                }
            }
            Pdu::CapsuleResp(r) => {
                if table.command(r.cid()).is_none() {
                    return Err(bad(capsule::field::CQE_CID));
                }
            }
            Pdu::C2HData(d) => {
                let Some(CommandState::Read { len, received }) = table.command(d.cccid) else {
                    return Err(bad(data::field::CCCID));
                };
                if d.datao != received {
                    return Err(bad(data::field::DATAO));
                }
                let end = d.datao.checked_add(d.datal).ok_or(out_of_range)?;
                if end > len {
                    return Err(out_of_range);
                }
                if d.success && end != len {
                    return Err(bad(field::FLAGS));
                }
            }
            Pdu::R2t(r) => {
                let p = self.params.ok_or(sequence)?;
                let Some(CommandState::Write {
                    len,
                    requested,
                    r2ts,
                }) = table.command(r.cccid)
                else {
                    return Err(bad(data::field::CCCID));
                };
                if r.r2tl == 0 {
                    return Err(bad(data::field::DATAL));
                }
                if r.r2to < requested {
                    return Err(bad(data::field::DATAO));
                }
                let end = r.r2to.checked_add(r.r2tl).ok_or(out_of_range)?;
                if end > len {
                    return Err(out_of_range);
                }
                // MAXR2T is 0's based: `maxr2t + 1` R2Ts may be outstanding.
                if r2ts > p.maxr2t {
                    return Err(limit);
                }
            }
            Pdu::H2CData(d) => {
                let p = self.params.ok_or(sequence)?;
                if d.ttag >= self.limits.queue_depth {
                    return Err(bad(data::field::TTAG));
                }
                let t = table.transfer(d.ttag).ok_or(bad(data::field::TTAG))?;
                if t.cccid != d.cccid {
                    return Err(bad(data::field::CCCID));
                }
                if d.datal > p.maxh2cdata {
                    return Err(limit);
                }
                if d.datao != t.next {
                    return Err(bad(data::field::DATAO));
                }
                let end = d.datao.checked_add(d.datal).ok_or(out_of_range)?;
                if end > t.end {
                    return Err(out_of_range);
                }
                if d.last != (end == t.end) {
                    return Err(bad(field::FLAGS));
                }
            }
            Pdu::IcReq(_) | Pdu::IcResp(_) | Pdu::H2CTermReq(_) | Pdu::C2HTermReq(_) => {}
        }
        Ok(())
    }
}

/// A header accepted by [`Validator::predict_into`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Predicted {
    /// The header's length: its data (if any) starts right after it.
    pub(crate) hlen: usize,
    /// The offset of that data in the command's data (DATAO; 0 for in-capsule data).
    pub(crate) data_offset: u32,
    /// The length of that data; 0 for none.
    pub(crate) data_len: u32,
}

impl Predicted {
    #[inline(always)]
    fn header_only(hlen: usize) -> Self {
        Self::with_data(hlen, 0, 0)
    }

    #[inline(always)]
    fn with_data(hlen: usize, data_offset: u32, data_len: u32) -> Self {
        Self {
            hlen,
            data_offset,
            data_len,
        }
    }
}

/// For header prediction: writes the common header and the layout of a header of a predicted
/// shape (no header digest, no padding, no data digest), `data_len` bytes of data after it.
#[inline(always)]
fn write_header(out: &mut Header, common: Common, data_len: u32) {
    out.layout = Layout {
        hlen: common.hlen,
        hdgst: false,
        pad: 0,
        data_len,
        ddgst: false,
    };
    out.common = common;
}

/// For header prediction: the data length of a PDU of header length `HLEN` whose data follows
/// the header at once (PDO = HLEN, no padding) without a data digest, flags no others than
/// `allowed` and at least one byte of data; `None` otherwise (or if a data digest is on, which
/// the PDU would have to carry).
#[inline(always)]
fn data_after<const HLEN: usize>(common: &Common, allowed: Flags, ddgst: bool) -> Option<u32> {
    let hlen = u8::try_from(HLEN).ok()?;
    if ddgst || common.hlen != hlen || common.pdo != hlen || !allowed.contains(common.flags) {
        return None;
    }
    common.plen.checked_sub(u32::from(hlen)).filter(|&n| n > 0)
}
