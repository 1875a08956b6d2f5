//! The streaming receive machine: bytes in, in chunks of any size; headers, data and verdicts out.
//!
//! [`Receiver::feed`] takes the bytes that have arrived and returns one [`Event`] and the bytes
//! it did not consume. A driver calls it in a loop until it returns [`Event::NeedMore`]:
//!
//! ```
//! # use nvme_tcp_pdu::{Event, Limits, NoCommands, Receiver, Role, SoftCrc32c};
//! let mut rx = Receiver::<SoftCrc32c>::new(Role::Target, Limits::default());
//! let mut input: &[u8] = &[];
//! loop {
//!     let (event, rest) = rx.feed(input, &NoCommands);
//!     input = rest;
//!     match event {
//!         Event::NeedMore => break,
//!         _ => { /* handle the event */ }
//!     }
//! }
//! ```
//!
//! For each PDU the events are: [`Event::Header`] (the header is then [`Receiver::header`]); then, if the PDU carries data, one or more
//! [`Event::Data`] (slices of the input, with their offset in the command's buffer) and one
//! [`Event::DataEnd`] with the data digest verdict. After an ICReq/ICResp header the machine
//! waits ([`Event::AwaitParams`]) until the driver has negotiated and called
//! [`Receiver::establish`]. A broken rule yields [`Event::Fatal`], after which the machine
//! yields it again on every call.
//!
//! A driver that copies data into place itself (out of a socket buffer, say) asks
//! [`Receiver::placeable`] where it may, and reports what it placed with [`Receiver::placed`].

use core::marker::PhantomData;

use super::common::{Common, PduType, COMMON_LEN, DIGEST_LEN, MAX_HLEN};
use super::digest::{Crc32c, SEED};
use super::error::{DecodeError, FatalError, Fes};
use super::header::{Header, Pdu};
use super::negotiate::Params;
use super::validate::{CommandTable, Limits, Role, Validator};

/// The verdict on a data digest, given once a PDU's data has been received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataDigest {
    /// The PDU carries no data digest.
    Absent,
    /// The data digest matches the data.
    Good,
    /// The data digest does not match: the command fails with a transport error.
    ///
    /// This is not fatal to the connection; the host completes the command with an error.
    Bad {
        /// The digest computed over the data.
        expected: u32,
        /// The digest received.
        received: u32,
    },
}

/// What [`Receiver::feed`] found in the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event<'a> {
    /// All input was consumed without completing anything; feed more bytes.
    NeedMore,
    /// A complete, validated PDU header, which [`Receiver::header`] returns until the next one.
    ///
    /// The header stays in the receiver rather than travel in the event: it is large (the
    /// CapsuleCmd's SQE), and the event is moved several times on its way to the driver.
    Header,
    /// Data of the current PDU, to be placed at `offset` in the command's buffer.
    ///
    /// For H2CData/C2HData `offset` starts at DATAO; for in-capsule and TermReq data at 0.
    Data {
        /// Offset in the command's data buffer.
        offset: u32,
        /// The bytes, borrowed from the input.
        data: &'a [u8],
    },
    /// The current PDU's data is complete; its data digest verdict.
    DataEnd(DataDigest),
    /// An ICReq/ICResp was received; call [`Receiver::establish`] before feeding on.
    AwaitParams,
    /// A fatal error: terminate the connection (with a TermReq unless the offending PDU was
    /// one, see [`Receiver::may_send_term_req`]).
    Fatal(FatalError),
}

/// What the receiver needs next, for a driver that reads exactly that much from its socket.
///
/// A driver that places data itself reads [`Want::Data`] bytes straight into the command's
/// buffer at `offset`, then feeds that same slice to [`Receiver::feed`]: the machine then only
/// advances its cursor and digest, and the [`Event::Data`] it returns points at bytes already in
/// place. Reading no more than asked keeps headers and data apart, so no byte is copied twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    /// Up to this many bytes of header, padding or data digest (always at least 1).
    Bytes(usize),
    /// Up to `len` bytes of the current PDU's data, for `offset` in the command's buffer; a
    /// `len` of 0 means the data is complete and feeding an empty slice finishes it.
    Data {
        /// Offset in the command's buffer of the next byte.
        offset: u32,
        /// Data bytes still to come in this PDU.
        len: u32,
    },
    /// Nothing: the receiver awaits [`Receiver::establish`] or has failed.
    Nothing,
}

/// A cursor through the data of the current PDU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct DataCursor {
    /// Offset in the command's buffer of the next byte.
    offset: u32,
    /// Data bytes still to come.
    left: u32,
    /// Running CRC32C when a data digest follows.
    crc: Option<u32>,
}

/// The receive state; each variant carries its own cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading the header section into the buffer: `have` of `need` bytes (8 at first, then
    /// HLEN plus the header digest).
    Header { have: u8, need: u8 },
    /// Skipping `left` padding bytes before the data.
    Pad { left: u8, data: DataCursor },
    /// Passing data through.
    Data(DataCursor),
    /// Reading the 4-byte data digest.
    DataDigest {
        have: u8,
        got: [u8; 4],
        expected: u32,
    },
    /// Waiting for [`Receiver::establish`].
    AwaitParams,
    /// Stopped by a fatal error; `hdr_len` header bytes of the offending PDU are buffered.
    Failed { error: FatalError, hdr_len: u8 },
}

/// The state to read the next PDU from.
const NEXT_PDU: State = State::Header { have: 0, need: 8 };

/// A streaming receive machine for one connection, host or target side.
///
/// `C` computes the digests. The machine allocates nothing: it buffers at most one header
/// (128 bytes) and hands data out as slices of the input.
#[derive(Debug, Clone)]
pub struct Receiver<C: Crc32c> {
    validator: Validator,
    state: State,
    hdr: [u8; MAX_HLEN],
    /// The last header accepted.
    header: Header,
    _crc32c: PhantomData<fn() -> C>,
}

impl<C: Crc32c> Receiver<C> {
    /// Returns a receiver for a new connection: it accepts ICReq (target) or ICResp (host) first.
    pub fn new(role: Role, limits: Limits) -> Self {
        Self {
            validator: Validator::new(role, limits),
            state: NEXT_PDU,
            hdr: [0; MAX_HLEN],
            header: Header::placeholder(),
            _crc32c: PhantomData,
        }
    }

    /// Returns a receiver for a connection whose ICReq/ICResp were exchanged outside it.
    pub fn with_params(role: Role, limits: Limits, params: Params) -> Self {
        let mut rx = Self::new(role, limits);
        rx.validator.params = Some(params);
        rx
    }

    /// Sets the negotiated parameters and resumes after an ICReq/ICResp.
    pub fn establish(&mut self, params: Params) {
        self.validator.params = Some(params);
        if self.state == State::AwaitParams {
            self.state = NEXT_PDU;
        }
    }

    /// Replaces the local limits, e.g. once a target knows the queue's size after Connect.
    ///
    /// They apply from the next header on.
    pub fn set_limits(&mut self, limits: Limits) {
        self.validator.limits = limits;
    }

    /// Returns what the receiver needs next; see [`Want`].
    #[inline]
    pub fn want(&self) -> Want {
        match self.state {
            State::Header { have, need } => Want::Bytes(usize::from(need.saturating_sub(have))),
            State::Pad { left, .. } => Want::Bytes(usize::from(left)),
            State::Data(cur) => Want::Data {
                offset: cur.offset,
                len: cur.left,
            },
            State::DataDigest { have, .. } => {
                Want::Bytes(usize::from(DIGEST_LEN.saturating_sub(have)))
            }
            State::AwaitParams | State::Failed { .. } => Want::Nothing,
        }
    }

    /// Returns the offset in the command's buffer and the length of the current PDU's data
    /// still to come, if the driver may place it there itself and report it with
    /// [`Receiver::placed`] instead of feeding it: only within the data of a PDU without a data
    /// digest (the digest needs the bytes).
    pub fn placeable(&self) -> Option<(u32, u32)> {
        match self.state {
            State::Data(DataCursor {
                offset,
                left,
                crc: None,
            }) if left > 0 => Some((offset, left)),
            _ => None,
        }
    }

    /// Accounts for the next `len` bytes of the current PDU's data, which the driver read from
    /// the connection and placed at [`Receiver::placeable`]'s offset itself.
    ///
    /// Returns [`Event::DataEnd`] once the data is complete, else [`Event::NeedMore`]; `None`,
    /// changing nothing, if `len` is 0 or more than [`Receiver::placeable`] allows.
    pub fn placed(&mut self, len: u32) -> Option<Event<'static>> {
        let (offset, left) = self.placeable()?;
        if len == 0 || len > left {
            return None;
        }
        if len == left {
            self.state = NEXT_PDU;
            return Some(Event::DataEnd(DataDigest::Absent));
        }
        self.state = State::Data(DataCursor {
            // The validator checked that the data's end fits in 32 bits.
            offset: offset.saturating_add(len),
            left: left - len,
            crc: None,
        });
        Some(Event::NeedMore)
    }

    /// Returns the last header [`Event::Header`] reported (a placeholder before the first).
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Returns the rules this receiver applies.
    pub fn validator(&self) -> &Validator {
        &self.validator
    }

    /// Returns the fatal error the receiver stopped on, if any.
    pub fn error(&self) -> Option<FatalError> {
        match self.state {
            State::Failed { error, .. } => Some(error),
            _ => None,
        }
    }

    /// Returns the header bytes received of the current (or offending) PDU, at most 128.
    ///
    /// After [`Event::Fatal`] this is the data for the TermReq to send.
    pub fn offending_header(&self) -> &[u8] {
        let len = match self.state {
            State::Header { have, .. } => have,
            State::Failed { hdr_len, .. } => hdr_len,
            _ => 0,
        };
        self.hdr.get(..usize::from(len)).unwrap_or(&[])
    }

    /// Returns whether a TermReq may answer the current error: not if the offending PDU is one.
    pub fn may_send_term_req(&self) -> bool {
        self.offending_header()
            .first()
            .is_none_or(|&t| !PduType::from(t).is_term_req())
    }

    /// Stops on `error` and returns the event reporting it.
    fn fail<'a>(&mut self, error: FatalError, hdr_len: u8) -> Event<'a> {
        self.state = State::Failed { error, hdr_len };
        Event::Fatal(error)
    }

    /// Consumes bytes from `input` until one event is complete.
    ///
    /// Returns the event and the unconsumed rest of `input`; feed the rest again. The `table`
    /// answers the per-command questions of the [`Validator`].
    ///
    /// Inlined: the usual headers, whole in the input, are accepted here at once by header
    /// prediction (see `predict_into`); everything else goes through the general path.
    #[inline(always)]
    pub fn feed<'a, T: CommandTable + ?Sized>(
        &mut self,
        input: &'a [u8],
        table: &T,
    ) -> (Event<'a>, &'a [u8]) {
        let at_header = matches!(self.state, State::Header { have: 0, need } if usize::from(need) == COMMON_LEN);
        if at_header && input.len() >= COMMON_LEN {
            if let Some(p) = self.validator.predict_into(input, table, &mut self.header) {
                self.state = if p.data_len == 0 {
                    NEXT_PDU
                } else {
                    State::Data(DataCursor {
                        offset: p.data_offset,
                        left: p.data_len,
                        crc: None,
                    })
                };
                return (Event::Header, input.get(p.hlen..).unwrap_or(&[]));
            }
        }
        self.feed_general(input, table)
    }

    /// [`Receiver::feed`] past header prediction.
    #[inline(never)]
    fn feed_general<'a, T: CommandTable + ?Sized>(
        &mut self,
        input: &'a [u8],
        table: &T,
    ) -> (Event<'a>, &'a [u8]) {
        let mut input = input;
        loop {
            match self.state {
                State::Failed { error, .. } => return (Event::Fatal(error), input),
                State::AwaitParams => return (Event::AwaitParams, input),
                State::Header { have: 0, need }
                    if usize::from(need) == COMMON_LEN && input.len() >= COMMON_LEN =>
                {
                    // A PDU starts here. Its header is checked where it lies if the input holds
                    // all of it; it is only buffered when it does not, or to report it.
                    let (need, common, whole) = match self.start_header(input) {
                        Ok((need, common)) => {
                            (need, common, input.split_at_checked(usize::from(need)))
                        }
                        Err(e) => return self.fail_on(e, input, COMMON_LEN),
                    };
                    let Some((bytes, rest)) = whole else {
                        let (have, rest) = self.fill_header(0, need, input);
                        self.state = State::Header { have, need };
                        input = rest;
                        continue;
                    };
                    return match accept::<C, T>(
                        &self.validator,
                        bytes,
                        &common,
                        table,
                        &mut self.header,
                    ) {
                        Ok(state) => {
                            self.state = state;
                            (Event::Header, rest)
                        }
                        Err(e) => self.fail_on(e, input, bytes.len()),
                    };
                }
                State::Header { have, need } => {
                    let (have, rest) = self.fill_header(have, need, input);
                    input = rest;
                    if have < need {
                        self.state = State::Header { have, need };
                        return (Event::NeedMore, input);
                    }
                    if usize::from(need) == COMMON_LEN {
                        match self.start_header(&self.hdr) {
                            Ok((need, _)) => self.state = State::Header { have, need },
                            Err(e) => return (self.fail(e, have), input),
                        }
                        continue;
                    }
                    let bytes = self.hdr.get(..usize::from(need)).unwrap_or(&[]);
                    let common = Common::from_bytes(self.hdr.first_chunk().unwrap_or(&[0; 8]));
                    return match accept::<C, T>(
                        &self.validator,
                        bytes,
                        &common,
                        table,
                        &mut self.header,
                    ) {
                        Ok(state) => {
                            self.state = state;
                            (Event::Header, input)
                        }
                        Err(e) => (self.fail(e, need), input),
                    };
                }
                State::Pad { left, data } => {
                    let skip = usize::from(left).min(input.len());
                    input = input.get(skip..).unwrap_or(&[]);
                    // Cannot underflow: `skip <= left`.
                    let left = left.saturating_sub(u8::try_from(skip).unwrap_or(left));
                    if left > 0 {
                        self.state = State::Pad { left, data };
                        return (Event::NeedMore, input);
                    }
                    self.state = State::Data(data);
                }
                State::Data(cur) => {
                    if cur.left == 0 {
                        match cur.crc {
                            Some(crc) => {
                                self.state = State::DataDigest {
                                    have: 0,
                                    got: [0; 4],
                                    expected: !crc,
                                };
                                continue;
                            }
                            None => {
                                self.state = NEXT_PDU;
                                return (Event::DataEnd(DataDigest::Absent), input);
                            }
                        }
                    }
                    if input.is_empty() {
                        return (Event::NeedMore, input);
                    }
                    let want = usize::try_from(cur.left).unwrap_or(usize::MAX);
                    let (data, rest) = input
                        .split_at_checked(want.min(input.len()))
                        .unwrap_or((input, &[]));
                    let taken = u32::try_from(data.len()).unwrap_or(cur.left).min(cur.left);
                    self.state = State::Data(DataCursor {
                        // The validator checked that the data's end fits in 32 bits.
                        offset: cur.offset.saturating_add(taken),
                        left: cur.left.saturating_sub(taken),
                        crc: cur.crc.map(|crc| C::crc32c(crc, data)),
                    });
                    return (
                        Event::Data {
                            offset: cur.offset,
                            data,
                        },
                        rest,
                    );
                }
                State::DataDigest {
                    mut have,
                    mut got,
                    expected,
                } => {
                    for (slot, &b) in got.iter_mut().skip(usize::from(have)).zip(input) {
                        *slot = b;
                        have = have.saturating_add(1);
                        input = input.get(1..).unwrap_or(&[]);
                    }
                    if have < DIGEST_LEN {
                        self.state = State::DataDigest {
                            have,
                            got,
                            expected,
                        };
                        return (Event::NeedMore, input);
                    }
                    self.state = NEXT_PDU;
                    let received = u32::from_le_bytes(got);
                    let verdict = if received == expected {
                        DataDigest::Good
                    } else {
                        DataDigest::Bad { expected, received }
                    };
                    return (Event::DataEnd(verdict), input);
                }
            }
        }
    }

    /// Copies header bytes from `input` into the buffer until `need` are there.
    ///
    /// Returns the new fill level and the rest of `input`.
    fn fill_header<'a>(&mut self, have: u8, need: u8, input: &'a [u8]) -> (u8, &'a [u8]) {
        let want = usize::from(need.saturating_sub(have)).min(input.len());
        let (src, rest) = input.split_at_checked(want).unwrap_or((&[], input));
        // `need <= MAX_HLEN`, so the range is inside the buffer; one bulk copy.
        let at = usize::from(have);
        match self.hdr.get_mut(at..at + src.len()) {
            Some(dst) => {
                dst.copy_from_slice(src);
                // Cannot truncate: `src.len() <= need - have`.
                (have.saturating_add(src.len() as u8), rest)
            }
            None => (have, input),
        }
    }

    /// Checks the 8-byte common header at the start of `bytes` and returns how many header
    /// bytes the PDU has (HLEN plus the header digest), and the common header.
    #[inline(always)]
    fn start_header(&self, bytes: &[u8]) -> Result<(u8, Common), FatalError> {
        let first = bytes
            .first_chunk::<COMMON_LEN>()
            .ok_or(FatalError::status(Fes::InvalidHeaderField))?;
        let common = Common::from_bytes(first);
        let need = self.validator.check_common(&common)?;
        let need = u8::try_from(need)
            .ok()
            .filter(|&n| usize::from(n) <= MAX_HLEN)
            .ok_or(FatalError::invalid_field(super::common::field::HLEN))?;
        Ok((need, common))
    }

    /// Stops on `error` found in the first `len` bytes of `input`, a header that was not
    /// buffered: buffers them for [`Receiver::offending_header`] and consumes them.
    fn fail_on<'a>(
        &mut self,
        error: FatalError,
        input: &'a [u8],
        len: usize,
    ) -> (Event<'a>, &'a [u8]) {
        let (bytes, rest) = input.split_at_checked(len).unwrap_or((input, &[]));
        let (have, _) = self.fill_header(0, u8::try_from(len).unwrap_or(u8::MAX), bytes);
        (self.fail(error, have), rest)
    }
}

/// Validates the whole header `bytes` (HLEN and the header digest; the common header passed
/// [`Validator::check_common`]) into `header` and returns the state for what follows it.
#[inline(always)]
fn accept<C: Crc32c, T: CommandTable + ?Sized>(
    validator: &Validator,
    bytes: &[u8],
    common: &Common,
    table: &T,
    header: &mut Header,
) -> Result<State, FatalError> {
    match validator.validate_into::<C, T>(bytes, bytes.len(), common, table, header) {
        Ok(()) => {}
        Err(DecodeError::Fatal(e)) => return Err(e),
        Err(DecodeError::Truncated) => {
            return Err(FatalError::invalid_field(super::common::field::HLEN))
        }
    }
    let layout = header.layout;
    let state = if matches!(header.pdu, Pdu::IcReq(_) | Pdu::IcResp(_)) {
        State::AwaitParams
    } else if layout.data_len == 0 {
        NEXT_PDU
    } else {
        let data = DataCursor {
            offset: header.pdu.data_offset(),
            left: layout.data_len,
            crc: layout.ddgst.then_some(SEED),
        };
        if layout.pad > 0 {
            State::Pad {
                left: layout.pad,
                data,
            }
        } else {
            State::Data(data)
        }
    };
    Ok(state)
}
