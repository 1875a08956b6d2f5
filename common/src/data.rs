//! H2CData and C2HData (24-byte headers followed by data) and R2T (24 bytes, no data).

use core::borrow::{Borrow, BorrowMut};

use super::common::{view, Common, Flags};
use super::error::Error;

/// HLEN of H2CData, C2HData and R2T.
pub const DATA_HLEN: usize = 24;

/// Byte offsets of the H2CData/C2HData/R2T fields, usable as FEI values.
pub mod field {
    /// CCCID, the command capsule CID the PDU belongs to.
    pub const CCCID: u8 = 8;
    /// TTAG, the transfer tag the controller chose in its R2T.
    pub const TTAG: u8 = 10;
    /// DATAO (data PDUs) or R2TO (R2T): offset into the command's data.
    pub const DATAO: u8 = 12;
    /// DATAL (data PDUs) or R2TL (R2T): length of the data.
    pub const DATAL: u8 = 16;
}

view!(
    /// A view over the 24-byte header of an H2CData or C2HData PDU.
    DataPdu,
    DATA_HLEN
);

view!(
    /// A view over a 24-byte R2T PDU.
    R2tPdu,
    DATA_HLEN
);

/// Reads `(cccid, ttag, offset, length)` from bytes 8..20.
fn read_fields(b: &[u8; DATA_HLEN]) -> (u16, u16, u32, u32) {
    (
        u16::from_le_bytes([b[8], b[9]]),
        u16::from_le_bytes([b[10], b[11]]),
        u32::from_le_bytes([b[12], b[13], b[14], b[15]]),
        u32::from_le_bytes([b[16], b[17], b[18], b[19]]),
    )
}

/// Writes `cccid`, `ttag`, `offset` and `length` to bytes 8..20.
fn write_fields(b: &mut [u8; DATA_HLEN], cccid: u16, ttag: u16, offset: u32, length: u32) {
    [b[8], b[9]] = cccid.to_le_bytes();
    [b[10], b[11]] = ttag.to_le_bytes();
    [b[12], b[13], b[14], b[15]] = offset.to_le_bytes();
    [b[16], b[17], b[18], b[19]] = length.to_le_bytes();
}

impl<T: Borrow<[u8; DATA_HLEN]>> DataPdu<T> {
    /// Returns CCCID.
    pub fn cccid(&self) -> u16 {
        read_fields(self.0.borrow()).0
    }

    /// Returns TTAG (reserved in C2HData).
    pub fn ttag(&self) -> u16 {
        read_fields(self.0.borrow()).1
    }

    /// Returns DATAO.
    pub fn datao(&self) -> u32 {
        read_fields(self.0.borrow()).2
    }

    /// Returns DATAL.
    pub fn datal(&self) -> u32 {
        read_fields(self.0.borrow()).3
    }
}

impl<T: BorrowMut<[u8; DATA_HLEN]>> DataPdu<T> {
    /// Sets CCCID, TTAG, DATAO and DATAL.
    pub fn set_fields(&mut self, cccid: u16, ttag: u16, datao: u32, datal: u32) {
        write_fields(self.0.borrow_mut(), cccid, ttag, datao, datal);
    }
}

impl<T: Borrow<[u8; DATA_HLEN]>> R2tPdu<T> {
    /// Returns CCCID.
    pub fn cccid(&self) -> u16 {
        read_fields(self.0.borrow()).0
    }

    /// Returns TTAG.
    pub fn ttag(&self) -> u16 {
        read_fields(self.0.borrow()).1
    }

    /// Returns R2TO.
    pub fn r2to(&self) -> u32 {
        read_fields(self.0.borrow()).2
    }

    /// Returns R2TL.
    pub fn r2tl(&self) -> u32 {
        read_fields(self.0.borrow()).3
    }
}

impl<T: BorrowMut<[u8; DATA_HLEN]>> R2tPdu<T> {
    /// Sets CCCID, TTAG, R2TO and R2TL.
    pub fn set_fields(&mut self, cccid: u16, ttag: u16, r2to: u32, r2tl: u32) {
        write_fields(self.0.borrow_mut(), cccid, ttag, r2to, r2tl);
    }
}

/// The value of an H2CData header: data the host sends in answer to an R2T.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct H2CData {
    /// The command's CID.
    pub cccid: u16,
    /// The transfer tag of the R2T this answers.
    pub ttag: u16,
    /// Offset of the data in the command's data buffer.
    pub datao: u32,
    /// Length of the data in this PDU.
    pub datal: u32,
    /// LAST_PDU: the last H2CData for the R2T.
    pub last: bool,
}

impl H2CData {
    /// Reads an H2CData view (flags from its common header).
    pub fn parse<T: Borrow<[u8; DATA_HLEN]>>(pdu: &DataPdu<T>) -> Self {
        Self {
            cccid: pdu.cccid(),
            ttag: pdu.ttag(),
            datao: pdu.datao(),
            datal: pdu.datal(),
            last: pdu.common().flags.contains(Flags::LAST_PDU),
        }
    }

    /// Writes the fields (not the common header, whose flags come from [`H2CData::flags`]).
    pub fn emit<T: BorrowMut<[u8; DATA_HLEN]>>(&self, pdu: &mut DataPdu<T>) {
        pdu.set_fields(self.cccid, self.ttag, self.datao, self.datal);
    }

    /// Returns the PDU-specific flags.
    pub fn flags(&self) -> Flags {
        Flags::EMPTY.with(Flags::LAST_PDU, self.last)
    }
}

/// The value of a C2HData header: data the controller sends for a read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct C2HData {
    /// The command's CID.
    pub cccid: u16,
    /// Offset of the data in the command's data buffer.
    pub datao: u32,
    /// Length of the data in this PDU.
    pub datal: u32,
    /// LAST_PDU: the last C2HData for the command.
    pub last: bool,
    /// SUCCESS: the command completed successfully and no CapsuleResp follows.
    pub success: bool,
}

impl C2HData {
    /// Reads a C2HData view (flags from its common header).
    pub fn parse<T: Borrow<[u8; DATA_HLEN]>>(pdu: &DataPdu<T>) -> Self {
        let flags = pdu.common().flags;
        Self {
            cccid: pdu.cccid(),
            datao: pdu.datao(),
            datal: pdu.datal(),
            last: flags.contains(Flags::LAST_PDU),
            success: flags.contains(Flags::SUCCESS),
        }
    }

    /// Writes the fields (not the common header, whose flags come from [`C2HData::flags`]).
    pub fn emit<T: BorrowMut<[u8; DATA_HLEN]>>(&self, pdu: &mut DataPdu<T>) {
        pdu.set_fields(self.cccid, 0, self.datao, self.datal);
    }

    /// Returns the PDU-specific flags.
    pub fn flags(&self) -> Flags {
        Flags::EMPTY
            .with(Flags::LAST_PDU, self.last)
            .with(Flags::SUCCESS, self.success)
    }
}

/// The value of an R2T: the controller asks the host for a range of a write's data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct R2t {
    /// The command's CID.
    pub cccid: u16,
    /// Transfer tag the host must echo in its H2CData PDUs.
    pub ttag: u16,
    /// Offset of the requested range in the command's data.
    pub r2to: u32,
    /// Length of the requested range.
    pub r2tl: u32,
}

impl R2t {
    /// Reads an R2T view.
    pub fn parse<T: Borrow<[u8; DATA_HLEN]>>(pdu: &R2tPdu<T>) -> Self {
        Self {
            cccid: pdu.cccid(),
            ttag: pdu.ttag(),
            r2to: pdu.r2to(),
            r2tl: pdu.r2tl(),
        }
    }

    /// Writes the fields (not the common header).
    pub fn emit<T: BorrowMut<[u8; DATA_HLEN]>>(&self, pdu: &mut R2tPdu<T>) {
        pdu.set_fields(self.cccid, self.ttag, self.r2to, self.r2tl);
    }
}
