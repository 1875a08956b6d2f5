//! ICReq and ICResp, the 128-byte PDUs that open a connection.
//!
//! Neither ever carries digests or data; PLEN and HLEN are both 128.

use core::borrow::{Borrow, BorrowMut};

use super::common::{view, Common, Flags, PduType};
use super::error::Error;

/// Length of ICReq and ICResp (HLEN and PLEN).
pub const IC_LEN: usize = 128;

/// The only PDU Format Version defined (1.0).
pub const PFV_1_0: u16 = 0;

/// The largest valid HPDA/CPDA (a 0's based count of dwords: alignment 128 bytes).
pub const MAX_PDA: u8 = 31;

/// The smallest valid MAXH2CDATA.
pub const MIN_MAXH2CDATA: u32 = 4096;

/// Byte offsets of the ICReq/ICResp fields, usable as FEI values.
pub mod field {
    /// PFV, the PDU format version.
    pub const PFV: u8 = 8;
    /// HPDA (ICReq) or CPDA (ICResp).
    pub const PDA: u8 = 10;
    /// DGST, the digest options.
    pub const DGST: u8 = 11;
    /// MAXR2T (ICReq) or MAXH2CDATA (ICResp).
    pub const MAXDATA: u8 = 12;
}

/// The DGST byte of ICReq/ICResp; bits the crate does not know are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DigestOptions(pub u8);

impl DigestOptions {
    /// HDGST_ENABLE bit.
    pub const HEADER: u8 = 1 << 0;
    /// DDGST_ENABLE bit.
    pub const DATA: u8 = 1 << 1;

    /// Returns the options with header and data digests as given.
    pub const fn new(header: bool, data: bool) -> Self {
        let mut v = 0;
        if header {
            v |= Self::HEADER;
        }
        if data {
            v |= Self::DATA;
        }
        Self(v)
    }

    /// Returns whether header digests are enabled.
    pub const fn header(self) -> bool {
        self.0 & Self::HEADER != 0
    }

    /// Returns whether data digests are enabled.
    pub const fn data(self) -> bool {
        self.0 & Self::DATA != 0
    }
}

view!(
    /// A view over an ICReq PDU.
    IcReqPdu,
    IC_LEN
);

view!(
    /// A view over an ICResp PDU.
    IcRespPdu,
    IC_LEN
);

/// Returns the common header of an ICReq/ICResp.
fn ic_common(pdu_type: PduType) -> Common {
    Common {
        pdu_type,
        flags: Flags::EMPTY,
        hlen: 128,
        pdo: 0,
        plen: 128,
    }
}

impl<T: Borrow<[u8; IC_LEN]>> IcReqPdu<T> {
    /// Returns PFV.
    pub fn pfv(&self) -> u16 {
        let b = self.0.borrow();
        u16::from_le_bytes([b[8], b[9]])
    }

    /// Returns HPDA.
    pub fn hpda(&self) -> u8 {
        self.0.borrow()[10]
    }

    /// Returns DGST.
    pub fn dgst(&self) -> DigestOptions {
        DigestOptions(self.0.borrow()[11])
    }

    /// Returns MAXR2T.
    pub fn maxr2t(&self) -> u32 {
        let b = self.0.borrow();
        u32::from_le_bytes([b[12], b[13], b[14], b[15]])
    }
}

impl<T: BorrowMut<[u8; IC_LEN]>> IcReqPdu<T> {
    /// Sets PFV, HPDA, DGST and MAXR2T.
    pub fn set_fields(&mut self, pfv: u16, hpda: u8, dgst: DigestOptions, maxr2t: u32) {
        let b = self.0.borrow_mut();
        [b[8], b[9]] = pfv.to_le_bytes();
        b[10] = hpda;
        b[11] = dgst.0;
        [b[12], b[13], b[14], b[15]] = maxr2t.to_le_bytes();
    }
}

impl<T: Borrow<[u8; IC_LEN]>> IcRespPdu<T> {
    /// Returns PFV.
    pub fn pfv(&self) -> u16 {
        let b = self.0.borrow();
        u16::from_le_bytes([b[8], b[9]])
    }

    /// Returns CPDA.
    pub fn cpda(&self) -> u8 {
        self.0.borrow()[10]
    }

    /// Returns DGST.
    pub fn dgst(&self) -> DigestOptions {
        DigestOptions(self.0.borrow()[11])
    }

    /// Returns MAXH2CDATA.
    pub fn maxh2cdata(&self) -> u32 {
        let b = self.0.borrow();
        u32::from_le_bytes([b[12], b[13], b[14], b[15]])
    }
}

impl<T: BorrowMut<[u8; IC_LEN]>> IcRespPdu<T> {
    /// Sets PFV, CPDA, DGST and MAXH2CDATA.
    pub fn set_fields(&mut self, pfv: u16, cpda: u8, dgst: DigestOptions, maxh2cdata: u32) {
        let b = self.0.borrow_mut();
        [b[8], b[9]] = pfv.to_le_bytes();
        b[10] = cpda;
        b[11] = dgst.0;
        [b[12], b[13], b[14], b[15]] = maxh2cdata.to_le_bytes();
    }
}

/// The value of an ICReq: what the host proposes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IcReq {
    /// PDU format version.
    pub pfv: u16,
    /// Host PDU data alignment: 0's based dwords the controller must align C2H data to.
    pub hpda: u8,
    /// Digests the host asks for.
    pub dgst: DigestOptions,
    /// Maximum outstanding R2Ts per command, 0's based.
    pub maxr2t: u32,
}

impl IcReq {
    /// Reads the fields of an ICReq view (the common header is not checked here).
    pub fn parse<T: Borrow<[u8; IC_LEN]>>(pdu: &IcReqPdu<T>) -> Self {
        Self {
            pfv: pdu.pfv(),
            hpda: pdu.hpda(),
            dgst: pdu.dgst(),
            maxr2t: pdu.maxr2t(),
        }
    }

    /// Writes the whole PDU, common header included; reserved bytes are left as they are.
    pub fn emit<T: BorrowMut<[u8; IC_LEN]>>(&self, pdu: &mut IcReqPdu<T>) {
        pdu.set_common(&ic_common(PduType::IcReq));
        pdu.set_fields(self.pfv, self.hpda, self.dgst, self.maxr2t);
    }

    /// Returns the 128 bytes of this ICReq.
    pub fn to_bytes(&self) -> [u8; IC_LEN] {
        let mut pdu = IcReqPdu::new_unchecked([0u8; IC_LEN]);
        self.emit(&mut pdu);
        pdu.into_inner()
    }
}

/// The value of an ICResp: what the controller grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IcResp {
    /// PDU format version.
    pub pfv: u16,
    /// Controller PDU data alignment: 0's based dwords the host must align H2C data to.
    pub cpda: u8,
    /// Digests enabled on the connection.
    pub dgst: DigestOptions,
    /// Maximum data length of one H2CData PDU.
    pub maxh2cdata: u32,
}

impl IcResp {
    /// Reads the fields of an ICResp view (the common header is not checked here).
    pub fn parse<T: Borrow<[u8; IC_LEN]>>(pdu: &IcRespPdu<T>) -> Self {
        Self {
            pfv: pdu.pfv(),
            cpda: pdu.cpda(),
            dgst: pdu.dgst(),
            maxh2cdata: pdu.maxh2cdata(),
        }
    }

    /// Writes the whole PDU, common header included; reserved bytes are left as they are.
    pub fn emit<T: BorrowMut<[u8; IC_LEN]>>(&self, pdu: &mut IcRespPdu<T>) {
        pdu.set_common(&ic_common(PduType::IcResp));
        pdu.set_fields(self.pfv, self.cpda, self.dgst, self.maxh2cdata);
    }

    /// Returns the 128 bytes of this ICResp.
    pub fn to_bytes(&self) -> [u8; IC_LEN] {
        let mut pdu = IcRespPdu::new_unchecked([0u8; IC_LEN]);
        self.emit(&mut pdu);
        pdu.into_inner()
    }
}
