//! Fatal transport errors (what a TermReq reports) and local errors.

/// Fatal Error Status, the reason a connection is terminated (the `FES` field of a TermReq).
///
/// Values the crate does not know are kept as [`Fes::Unknown`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fes {
    /// 01h: a PDU header field is invalid; FEI is the byte offset of the field.
    InvalidHeaderField,
    /// 02h: a PDU arrived that is not allowed in the current state.
    PduSequenceError,
    /// 03h: the header digest does not match the header.
    HeaderDigestError,
    /// 04h: a data offset or length lies outside the command's data.
    DataOutOfRange,
    /// 05h: a data or R2T limit was exceeded (MAXH2CDATA, in-capsule size, MAXR2T).
    DataLimitExceeded,
    /// 06h: an ICReq/ICResp parameter is unsupported; FEI is the byte offset of the field.
    UnsupportedParameter,
    /// Any other value, kept as received.
    Unknown(u16),
}

impl From<u16> for Fes {
    fn from(v: u16) -> Self {
        match v {
            0x01 => Self::InvalidHeaderField,
            0x02 => Self::PduSequenceError,
            0x03 => Self::HeaderDigestError,
            0x04 => Self::DataOutOfRange,
            0x05 => Self::DataLimitExceeded,
            0x06 => Self::UnsupportedParameter,
            other => Self::Unknown(other),
        }
    }
}

impl From<Fes> for u16 {
    fn from(fes: Fes) -> Self {
        match fes {
            Fes::InvalidHeaderField => 0x01,
            Fes::PduSequenceError => 0x02,
            Fes::HeaderDigestError => 0x03,
            Fes::DataOutOfRange => 0x04,
            Fes::DataLimitExceeded => 0x05,
            Fes::UnsupportedParameter => 0x06,
            Fes::Unknown(other) => other,
        }
    }
}

/// A fatal transport error: the connection must be terminated with a TermReq carrying these.
///
/// `fei` (Fatal Error Information) is the byte offset of the offending field from the start of
/// the PDU for [`Fes::InvalidHeaderField`] and [`Fes::UnsupportedParameter`], and 0 otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FatalError {
    /// Fatal Error Status.
    pub fes: Fes,
    /// Fatal Error Information.
    pub fei: u32,
}

impl FatalError {
    /// Returns an Invalid PDU Header Field error for the field at byte `offset`.
    pub fn invalid_field(offset: u8) -> Self {
        Self {
            fes: Fes::InvalidHeaderField,
            fei: u32::from(offset),
        }
    }

    /// Returns an Unsupported Parameter error for the parameter at byte `offset`.
    pub fn unsupported(offset: u8) -> Self {
        Self {
            fes: Fes::UnsupportedParameter,
            fei: u32::from(offset),
        }
    }

    /// Returns an error with status `fes` and no error information.
    pub const fn status(fes: Fes) -> Self {
        Self { fes, fei: 0 }
    }
}

/// A local error: a buffer too short or a length that does not fit the wire format.
///
/// These never come from a peer's bytes being wrong, so they carry no FES.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The input holds fewer bytes than the PDU header needs.
    Truncated,
    /// The output buffer is shorter than what is to be emitted.
    BufferTooSmall,
    /// A length does not fit its wire field (for example PLEN beyond `u32::MAX`).
    Overflow,
}

/// Why a header could not be decoded: too few bytes yet, or a fatal protocol error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// The input ends before the header does; more bytes are needed.
    Truncated,
    /// The header breaks a protocol rule.
    Fatal(FatalError),
}

impl From<FatalError> for DecodeError {
    fn from(e: FatalError) -> Self {
        Self::Fatal(e)
    }
}
