//! Why a connection stops being served, and the TermReq that answers a fatal error.

use super::super::digest::Crc32c;
use super::super::error::{FatalError, Fes};
use super::super::rx::Receiver;
use super::super::term::TermReq;
use super::super::validate::Role;

/// The largest TermReq: its header and the whole offending header (128 bytes).
pub const TERM_REQ_MAX: usize = 24 + 128;

/// Why a connection stops being served. `E` is the driver's own error (a socket's, or memory).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop<E> {
    /// The peer broke the protocol: a TermReq answers where one may ([`term_req`]), then the
    /// connection closes.
    Fatal(FatalError),
    /// The peer terminated the connection with a TermReq.
    TermReq(FatalError),
    /// The peer closed the connection.
    Closed,
    /// A local failure: the socket's error, or no memory.
    Local(E),
}

impl<E> Stop<E> {
    /// A fatal error of status `fes` (FEI 0).
    pub fn fatal(fes: Fes) -> Self {
        Self::Fatal(FatalError::status(fes))
    }
}

impl<E> From<E> for Stop<E> {
    fn from(e: E) -> Self {
        Self::Local(e)
    }
}

/// Names the rule a fatal error broke, for a log line.
pub fn describe(e: &FatalError) -> &'static str {
    match e.fes {
        Fes::InvalidHeaderField => "invalid PDU header field",
        Fes::PduSequenceError => "PDU out of sequence",
        Fes::HeaderDigestError => "header digest error",
        Fes::DataOutOfRange => "data out of range",
        Fes::DataLimitExceeded => "data limit exceeded",
        Fes::UnsupportedParameter => "unsupported parameter",
        Fes::Unknown(_) => "protocol error",
    }
}

/// Frames, in `buf`, the TermReq that `sender` answers `error` with, and returns it; `None` if
/// none may be sent: the offending PDU is a TermReq itself, or `mid_pdu` (part of a PDU of ours
/// went out, and a TermReq cannot follow it before the rest).
///
/// The TermReq carries the offending header as far as `rx` received it.
pub fn term_req<'b, C: Crc32c>(
    rx: &Receiver<C>,
    sender: Role,
    error: FatalError,
    mid_pdu: bool,
    buf: &'b mut [u8; TERM_REQ_MAX],
) -> Option<&'b [u8]> {
    if mid_pdu || !rx.may_send_term_req() {
        return None;
    }
    let offending = rx.offending_header();
    let term = TermReq::new(error, offending.len());
    let n = term.emit_pdu(sender, offending, buf).ok()?;
    buf.get(..n)
}
