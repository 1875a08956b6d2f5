//! H2CTermReq and C2HTermReq, which end a connection after a fatal error.
//!
//! A TermReq never carries digests. Its data is a copy of the header of the PDU in error,
//! at most 128 bytes, so PLEN lies between 24 and 152.

use core::borrow::{Borrow, BorrowMut};

use super::common::{copy_at, view, Common, Flags, PduType};
use super::error::{Error, FatalError, Fes};
use super::validate::Role;

/// HLEN of a TermReq.
pub const TERM_HLEN: usize = 24;

/// The most header bytes of the offending PDU a TermReq carries.
pub const MAX_TERM_DATA: usize = 128;

/// The smallest valid TermReq PLEN.
pub const MIN_TERM_PLEN: u32 = 24;

/// The largest valid TermReq PLEN.
pub const MAX_TERM_PLEN: u32 = 152;

/// Byte offsets of the TermReq fields.
pub mod field {
    /// FES, the Fatal Error Status.
    pub const FES: u8 = 8;
    /// FEI, the Fatal Error Information (4 bytes, unaligned).
    pub const FEI: u8 = 10;
}

view!(
    /// A view over the 24-byte header of a H2CTermReq or C2HTermReq.
    TermPdu,
    TERM_HLEN
);

impl<T: Borrow<[u8; TERM_HLEN]>> TermPdu<T> {
    /// Returns FES.
    pub fn fes(&self) -> Fes {
        let b = self.0.borrow();
        Fes::from(u16::from_le_bytes([b[8], b[9]]))
    }

    /// Returns FEI.
    pub fn fei(&self) -> u32 {
        let b = self.0.borrow();
        u32::from_le_bytes([b[10], b[11], b[12], b[13]])
    }
}

impl<T: BorrowMut<[u8; TERM_HLEN]>> TermPdu<T> {
    /// Sets FES.
    pub fn set_fes(&mut self, fes: Fes) {
        let b = self.0.borrow_mut();
        [b[8], b[9]] = u16::from(fes).to_le_bytes();
    }

    /// Sets FEI.
    pub fn set_fei(&mut self, fei: u32) {
        let b = self.0.borrow_mut();
        [b[10], b[11], b[12], b[13]] = fei.to_le_bytes();
    }
}

/// The value of a TermReq header of either direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TermReq {
    /// Fatal Error Status.
    pub fes: Fes,
    /// Fatal Error Information.
    pub fei: u32,
    /// Number of bytes of the offending PDU header carried as data (at most 128).
    pub data_len: u8,
}

impl TermReq {
    /// Returns the TermReq reporting `error`, carrying `offending_len` header bytes (capped at 128).
    pub fn new(error: FatalError, offending_len: usize) -> Self {
        let capped = offending_len.min(MAX_TERM_DATA);
        Self {
            fes: error.fes,
            fei: error.fei,
            data_len: u8::try_from(capped).unwrap_or(u8::MAX),
        }
    }

    /// Returns the error this TermReq reports.
    pub fn error(&self) -> FatalError {
        FatalError {
            fes: self.fes,
            fei: self.fei,
        }
    }

    /// Reads a TermReq view; the data length comes from PLEN, clamped to 0..=128.
    pub fn parse<T: Borrow<[u8; TERM_HLEN]>>(pdu: &TermPdu<T>) -> Self {
        let data = pdu.common().plen.saturating_sub(MIN_TERM_PLEN);
        Self {
            fes: pdu.fes(),
            fei: pdu.fei(),
            data_len: u8::try_from(data.min(128)).unwrap_or(128),
        }
    }

    /// Writes FES and FEI (not the common header).
    pub fn emit<T: BorrowMut<[u8; TERM_HLEN]>>(&self, pdu: &mut TermPdu<T>) {
        pdu.set_fes(self.fes);
        pdu.set_fei(self.fei);
    }

    /// Emits a whole TermReq sent by `sender`, with the first `data_len` bytes of `offending`.
    ///
    /// Returns the number of bytes written (PLEN).
    ///
    /// # Errors
    ///
    /// [`Error::BufferTooSmall`] if `buf` cannot hold the PDU, [`Error::Truncated`] if
    /// `offending` is shorter than `data_len`.
    pub fn emit_pdu(&self, sender: Role, offending: &[u8], buf: &mut [u8]) -> Result<usize, Error> {
        let data = offending
            .get(..usize::from(self.data_len))
            .ok_or(Error::Truncated)?;
        let total = TERM_HLEN.checked_add(data.len()).ok_or(Error::Overflow)?;
        let out = buf.get_mut(..total).ok_or(Error::BufferTooSmall)?;
        out.fill(0);
        let mut pdu = TermPdu::new_checked_mut(out)?;
        pdu.set_common(&Common {
            pdu_type: match sender {
                Role::Host => PduType::H2CTermReq,
                Role::Target => PduType::C2HTermReq,
            },
            flags: Flags::EMPTY,
            hlen: 24,
            pdo: 0,
            plen: u32::try_from(total).map_err(|_| Error::Overflow)?,
        });
        self.emit(&mut pdu);
        copy_at(out, TERM_HLEN, data);
        Ok(total)
    }
}
