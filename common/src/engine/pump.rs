//! The receive pump: what arrived on a connection, through the [`Receiver`] to the driver.
//!
//! A socket hands over what it received as [`Segment`]s: contiguous pieces of bytes readable in
//! place, each followed in its buffer by bytes the driver can copy out (a socket buffer's
//! fragments). The pump feeds the pieces to the receiver and passes each event to the driver's
//! [`Handler`]. Where the receiver allows it ([`Receiver::placeable`]: data without a data
//! digest), the driver copies data straight from the socket's buffer into place instead, so
//! data is copied once and headers are read where they lie.
//!
//! A pump counts the PDUs it completed; with a budget it stops within a segment once the budget
//! is spent, and the socket keeps the rest for the next read. The handler may end a read early
//! the same way ([`Handler::pause`]), when what follows a PDU cannot be handled until the driver
//! has acted on that PDU outside the read.

use super::super::digest::Crc32c;
use super::super::error::Fes;
use super::super::header::Pdu;
use super::super::rx::{DataDigest, Event, Receiver, Want};
use super::super::validate::CommandTable;
use super::stats::Stats;
use super::stop::Stop;

/// Bytes of a socket buffer that can only be copied out (into a command's buffer).
pub trait Source {
    /// Returns how many bytes there are.
    fn len(&self) -> u32;

    /// Returns whether there are none.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A piece of received bytes, as a socket hands it over.
pub trait Segment {
    /// The bytes that can be copied out of the segment's buffer.
    type Source: Source;

    /// Returns the piece's bytes, in place.
    fn bytes(&self) -> &[u8];

    /// Returns up to `max` bytes from the start of the piece on, in its buffer (the piece and
    /// what follows it there).
    fn onward(&self, max: u32) -> Self::Source;

    /// Returns up to `max` bytes that follow the piece in its buffer.
    fn after(&self, max: u32) -> Self::Source;
}

/// The driver's side of receiving: its commands, and what it does on each event.
///
/// A TermReq, a fatal error and a receiver waiting for parameters stop the pump without asking
/// the handler.
///
/// `S` is the kind of segment the driver's socket hands over, whose bytes it copies into
/// place.
pub trait Handler<C: Crc32c, S: Segment + ?Sized> {
    /// The driver's commands, as the receiver's rules ask about them.
    type Table: CommandTable + ?Sized;
    /// The driver's own error ([`Stop::Local`]).
    type Error;

    /// Returns the driver's commands.
    fn table(&self) -> &Self::Table;

    /// A PDU header was accepted: [`Receiver::header`]. The handler may change the receiver
    /// (negotiate on an ICReq, set new limits).
    fn header(&mut self, rx: &mut Receiver<C>) -> Result<(), Stop<Self::Error>>;

    /// Data of the current PDU, for `offset` of its command's buffer.
    fn data(&mut self, offset: u32, data: &[u8]) -> Result<(), Stop<Self::Error>>;

    /// The current PDU's data is complete, with the verdict on its digest.
    fn data_end(&mut self, digest: DataDigest) -> Result<(), Stop<Self::Error>>;

    /// Copies `src` to `offset` of the current PDU's command buffer; returns whether it copied
    /// all of it. Otherwise the same bytes come through [`Handler::data`].
    fn place(&mut self, offset: u32, src: &S::Source) -> bool;

    /// Returns whether the read must end here: the driver has to act on a PDU it received (a
    /// target answers an ICReq, executes a Connect) before it can handle what follows, and it
    /// can only do so once the read is over. The pump asks where it asks whether its budget is
    /// spent (after each event, and before each segment); the bytes that follow stay in the
    /// socket for the next read, as when the budget is spent.
    ///
    /// A handler should answer `true` only once a PDU is complete: a read ended within a PDU
    /// resumes correctly, but the driver would act before the PDU it waits for is whole.
    #[inline(always)]
    fn pause(&self) -> bool {
        false
    }
}

/// A pump, for one read of a socket. It counts what it receives in the queue's [`Stats`].
#[derive(Debug, Clone, Copy)]
pub struct Pump<'s> {
    budget: u32,
    pdus: u32,
    stats: &'s Stats,
}

impl<'s> Pump<'s> {
    /// Returns a pump that stops once `budget` PDUs are complete (`u32::MAX`: never), and
    /// counts in `stats`.
    pub const fn new(budget: u32, stats: &'s Stats) -> Self {
        Self {
            budget,
            pdus: 0,
            stats,
        }
    }

    /// Returns how many PDUs are complete.
    pub fn pdus(&self) -> u32 {
        self.pdus
    }

    /// Returns whether the budget is spent.
    pub fn exhausted(&self) -> bool {
        self.pdus >= self.budget
    }

    /// Receives one segment; returns how many bytes of it were consumed (fewer than the piece
    /// when the budget ran out, more when data following the piece was copied into place).
    ///
    /// # Errors
    ///
    /// The connection cannot go on: the peer broke the protocol or sent a TermReq, or the
    /// handler failed.
    #[inline(always)]
    pub fn segment<C, H, S>(
        &mut self,
        rx: &mut Receiver<C>,
        h: &mut H,
        seg: &S,
    ) -> Result<usize, Stop<H::Error>>
    where
        C: Crc32c,
        H: Handler<C, S> + ?Sized,
        S: Segment + ?Sized,
    {
        if self.stops::<C, H, S>(h) {
            return Ok(0);
        }
        let bytes = seg.bytes();
        // Data continuing from an earlier segment is copied into place from the start of this
        // one on, as far as its buffer holds it.
        let placed = match rx.placeable() {
            Some((offset, left)) => self.place::<C, H, S>(rx, h, offset, &seg.onward(left))?,
            None => 0,
        };
        let Some(rest) = bytes.get(placed..).filter(|r| !r.is_empty()) else {
            return Ok(placed);
        };
        // The placed data may have completed the PDU that spends the budget or pauses the read.
        if self.stops::<C, H, S>(h) {
            return Ok(placed);
        }
        // Headers, and data the driver does not place: fed to the receiver.
        let fed = self.feed::<C, H, S>(rx, h, rest)?;
        if fed < rest.len() || self.stops::<C, H, S>(h) {
            return Ok(placed + fed);
        }
        // The data that follows the headers in the same buffer is copied into place in one go.
        let after = match rx.placeable() {
            Some((offset, left)) => self.place::<C, H, S>(rx, h, offset, &seg.after(left))?,
            None => 0,
        };
        Ok(bytes.len() + after)
    }

    /// Finishes a read: an end of data that is due is handled now, as nothing may follow soon.
    ///
    /// # Errors
    ///
    /// As [`Pump::segment`].
    #[inline(always)]
    pub fn finish<C, H, S>(&mut self, rx: &mut Receiver<C>, h: &mut H) -> Result<(), Stop<H::Error>>
    where
        C: Crc32c,
        H: Handler<C, S> + ?Sized,
        S: Segment + ?Sized,
    {
        if let Want::Data { len: 0, .. } = rx.want() {
            let (event, _) = rx.feed(&[], h.table());
            self.event::<C, H, S>(rx, h, event)?;
        }
        Ok(())
    }

    /// Feeds `bytes` to the receiver and hands each event to the handler, until they are all
    /// consumed or the budget is spent; returns how many were consumed.
    #[inline(always)]
    fn feed<C, H, S>(
        &mut self,
        rx: &mut Receiver<C>,
        h: &mut H,
        bytes: &[u8],
    ) -> Result<usize, Stop<H::Error>>
    where
        C: Crc32c,
        H: Handler<C, S> + ?Sized,
        S: Segment + ?Sized,
    {
        let mut input = bytes;
        loop {
            let (event, rest) = rx.feed(input, h.table());
            input = rest;
            self.event::<C, H, S>(rx, h, event)?;
            if input.is_empty() {
                // No call only to hear `NeedMore`; an end of data due now is handled now.
                self.finish::<C, H, S>(rx, h)?;
                return Ok(bytes.len());
            }
            if self.stops::<C, H, S>(h) {
                return Ok(bytes.len() - input.len());
            }
        }
    }

    /// Returns whether the read ends here: the budget is spent or the handler pauses it.
    #[inline(always)]
    fn stops<C, H, S>(&self, h: &H) -> bool
    where
        C: Crc32c,
        H: Handler<C, S> + ?Sized,
        S: Segment + ?Sized,
    {
        self.exhausted() || h.pause()
    }

    /// Hands one event to the handler.
    #[inline(always)]
    fn event<C, H, S>(
        &mut self,
        rx: &mut Receiver<C>,
        h: &mut H,
        event: Event<'_>,
    ) -> Result<(), Stop<H::Error>>
    where
        C: Crc32c,
        H: Handler<C, S> + ?Sized,
        S: Segment + ?Sized,
    {
        match event {
            Event::NeedMore => Ok(()),
            Event::Header => {
                let header = rx.header();
                self.stats
                    .received(header.common.pdu_type, header.common.plen);
                match header.pdu {
                    Pdu::H2CTermReq(t) | Pdu::C2HTermReq(t) => {
                        return Err(Stop::TermReq(t.error()))
                    }
                    _ => {}
                }
                if header.layout.data_len == 0 {
                    self.pdus += 1;
                }
                h.header(rx)
            }
            Event::Data { offset, data } => h.data(offset, data),
            Event::DataEnd(digest) => {
                self.pdus += 1;
                if let DataDigest::Bad { .. } = digest {
                    self.stats.data_digest_error();
                }
                h.data_end(digest)
            }
            Event::AwaitParams => Err(Stop::fatal(Fes::PduSequenceError)),
            Event::Fatal(e) => {
                if e.fes == Fes::HeaderDigestError {
                    self.stats.header_digest_error();
                }
                Err(Stop::Fatal(e))
            }
        }
    }

    /// Has the handler copy `src` into place at `offset`; returns the bytes placed (none: they
    /// are fed as they come).
    #[inline(always)]
    fn place<C, H, S>(
        &mut self,
        rx: &mut Receiver<C>,
        h: &mut H,
        offset: u32,
        src: &S::Source,
    ) -> Result<usize, Stop<H::Error>>
    where
        C: Crc32c,
        H: Handler<C, S> + ?Sized,
        S: Segment + ?Sized,
    {
        let len = src.len();
        if len == 0 || !h.place(offset, src) {
            return Ok(0);
        }
        match rx.placed(len) {
            Some(Event::DataEnd(digest)) => {
                self.pdus += 1;
                if let DataDigest::Bad { .. } = digest {
                    self.stats.data_digest_error();
                }
                h.data_end(digest)?;
            }
            Some(_) => {}
            // More than the receiver allowed (a segment that breaks its contract): the copy is
            // undone by feeding the same bytes to the same place.
            None => return Ok(0),
        }
        usize::try_from(len).map_err(|_| Stop::fatal(Fes::DataLimitExceeded))
    }
}
