//! The send cursor: one unit of bytes to send (header bytes, then the data and its digest)
//! across as many partial sends as the socket needs.
//!
//! The driver knows where the bytes are (a header it framed, a command's pages); the cursor
//! knows how far they went. Sends never block: a full socket leaves the unit part sent, and
//! nothing else may be sent on the connection before its rest.
//!
//! A [`Cursor`] sends a unit stage by stage, a socket call each. A [`Span`] is a unit the driver
//! gathers into one socket call (its framing and its data as pages side by side), and only
//! needs to know how many of its bytes went.

/// Where a unit's data lies, and the digest that follows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Data {
    /// Offset of the next byte to send, in the command's data.
    pub at: u32,
    /// End of the data to send.
    pub end: u32,
    /// The data digest to send after the data, if the connection has data digests.
    pub ddgst: Option<[u8; 4]>,
}

/// How far a unit went out. Each stage carries its own position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cursor {
    /// `sent` of the `len` header bytes went out; `data` follows them, if any.
    Header {
        /// Header bytes sent.
        sent: usize,
        /// Header bytes in all.
        len: usize,
        /// The data after the header.
        data: Option<Data>,
    },
    /// The header went out; the data from `at` is still to go, then the digest.
    Data(Data),
    /// The data went out; `sent` bytes of its digest too.
    Digest {
        /// Digest bytes sent.
        sent: usize,
        /// The digest.
        ddgst: [u8; 4],
    },
}

/// What the socket took of one send call: `Ok(Some(n))`, `n` bytes; `Ok(None)`, none, as it is
/// full (its write-space callback says when to try again).
pub type Sent<E> = Result<Option<usize>, E>;

/// The driver's side of sending: where the bytes of the current unit are.
pub trait Transmit {
    /// The socket's error.
    type Error;

    /// Sends header bytes `from..to` of the unit. `more`: more bytes follow at once.
    fn header(&mut self, from: usize, to: usize, more: bool) -> Sent<Self::Error>;

    /// Sends some of the data `at..end` (at least one byte if any is sent). `more`: more bytes
    /// follow the data at once.
    fn data(&mut self, at: u32, end: u32, more: bool) -> Sent<Self::Error>;

    /// Sends `bytes` (of a data digest). `more`: more bytes follow at once.
    fn digest(&mut self, bytes: &[u8], more: bool) -> Sent<Self::Error>;
}

/// Why a unit could not be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendError<E> {
    /// The socket took no byte without saying it was full: the connection is gone.
    Closed,
    /// The socket's error.
    Io(E),
}

/// How a [`Cursor::push`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    /// The whole unit went out.
    Done,
    /// The socket is full; the rest goes out when it has room.
    Full,
}

impl Cursor {
    /// Returns the cursor of a unit of `header_len` header bytes followed by `data`.
    ///
    /// Data that is empty (`at == end`) is none, and so is its digest.
    pub fn new(header_len: usize, data: Option<Data>) -> Self {
        Self::Header {
            sent: 0,
            len: header_len,
            data: data.filter(|d| d.at < d.end),
        }
    }

    /// Returns how many bytes of the unit are left to send (for a new unit, all of them: a
    /// single PDU's PLEN), saturating at `u32::MAX`.
    pub fn left(&self) -> u32 {
        let data = |d: &Data| {
            let digest = if d.ddgst.is_some() { 4 } else { 0 };
            d.end.saturating_sub(d.at).saturating_add(digest)
        };
        match self {
            Self::Header { sent, len, data: d } => {
                let header = u32::try_from(len.saturating_sub(*sent)).unwrap_or(u32::MAX);
                header.saturating_add(d.as_ref().map_or(0, data))
            }
            Self::Data(d) => data(d),
            Self::Digest { sent, ddgst } => {
                u32::try_from(ddgst.len().saturating_sub(*sent)).unwrap_or(u32::MAX)
            }
        }
    }

    /// Returns whether part of the unit went out: nothing else may be sent before its rest
    /// (a TermReq neither).
    pub fn begun(&self) -> bool {
        !matches!(self, Self::Header { sent: 0, .. })
    }

    /// Sends what is left of the unit, as much as the socket takes. `more`: another unit follows
    /// at once (the socket then holds back a short segment).
    ///
    /// # Errors
    ///
    /// [`SendError::Io`] on the socket's error; [`SendError::Closed`] if it took nothing and was
    /// not full. The cursor stays where it was; the connection cannot go on.
    pub fn push<T: Transmit + ?Sized>(
        &mut self,
        t: &mut T,
        more: bool,
    ) -> Result<Pushed, SendError<T::Error>> {
        loop {
            match *self {
                Self::Header { sent, len, data } => {
                    if sent < len {
                        let n = match t.header(sent, len, more || data.is_some()) {
                            Ok(Some(0)) => return Err(SendError::Closed),
                            Ok(Some(n)) => n,
                            Ok(None) => return Ok(Pushed::Full),
                            Err(e) => return Err(SendError::Io(e)),
                        };
                        *self = Self::Header {
                            sent: sent.saturating_add(n).min(len),
                            len,
                            data,
                        };
                        continue;
                    }
                    match data {
                        Some(d) => *self = Self::Data(d),
                        None => return Ok(Pushed::Done),
                    }
                }
                Self::Data(d) => {
                    if d.at < d.end {
                        let n = match t.data(d.at, d.end, more || d.ddgst.is_some()) {
                            Ok(Some(0)) => return Err(SendError::Closed),
                            Ok(Some(n)) => n,
                            Ok(None) => return Ok(Pushed::Full),
                            Err(e) => return Err(SendError::Io(e)),
                        };
                        let n = u32::try_from(n).unwrap_or(u32::MAX);
                        *self = Self::Data(Data {
                            at: d.at.saturating_add(n).min(d.end),
                            ..d
                        });
                        continue;
                    }
                    match d.ddgst {
                        Some(ddgst) => *self = Self::Digest { sent: 0, ddgst },
                        None => return Ok(Pushed::Done),
                    }
                }
                Self::Digest { sent, ddgst } => {
                    let Some(rest) = ddgst.get(sent..).filter(|r| !r.is_empty()) else {
                        return Ok(Pushed::Done);
                    };
                    let n = match t.digest(rest, more) {
                        Ok(Some(0)) => return Err(SendError::Closed),
                        Ok(Some(n)) => n,
                        Ok(None) => return Ok(Pushed::Full),
                        Err(e) => return Err(SendError::Io(e)),
                    };
                    *self = Self::Digest {
                        sent: sent.saturating_add(n).min(ddgst.len()),
                        ddgst,
                    };
                }
            }
        }
    }
}

/// The driver's side of sending a [`Span`]: one socket call from a byte of the unit on.
pub trait Gather {
    /// The socket's error.
    type Error;

    /// Sends as much of the unit from byte `from` on as one call takes (at least one byte if
    /// any is sent). `more`: more bytes follow the unit at once.
    fn send_from(&mut self, from: usize, more: bool) -> Sent<Self::Error>;
}

/// How far a gathered unit of `len` bytes went out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    sent: usize,
    len: usize,
}

impl Span {
    /// Returns the span of a unit of `len` bytes, none sent.
    pub fn new(len: usize) -> Self {
        Self { sent: 0, len }
    }

    /// Returns how many bytes of the unit are left to send.
    pub fn left(&self) -> usize {
        self.len - self.sent
    }

    /// Returns whether part of the unit went out: nothing else may be sent before its rest
    /// (a TermReq neither).
    pub fn begun(&self) -> bool {
        self.sent > 0
    }

    /// Sends what is left of the unit, as much as the socket takes; `more` as
    /// [`Cursor::push`].
    ///
    /// # Errors
    ///
    /// As [`Cursor::push`]; the span stays where it was.
    pub fn push<T: Gather + ?Sized>(
        &mut self,
        t: &mut T,
        more: bool,
    ) -> Result<Pushed, SendError<T::Error>> {
        while self.sent < self.len {
            match t.send_from(self.sent, more) {
                Ok(Some(0)) => return Err(SendError::Closed),
                Ok(Some(n)) => self.sent = self.sent.saturating_add(n).min(self.len),
                Ok(None) => return Ok(Pushed::Full),
                Err(e) => return Err(SendError::Io(e)),
            }
        }
        Ok(Pushed::Done)
    }
}
