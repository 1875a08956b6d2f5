//! Statistics of a queue and of a controller: what went through a connection, counted where
//! it happens, read at any time.
//!
//! Counting must cost nothing measurable per I/O. Each counter is written by one context at a
//! time (the queue's own, under the lock that already serializes its receiving or its
//! sending), so an increment is a relaxed load and a relaxed store, not an atomic
//! read-modify-write: on x86-64 a plain load, add and store, with no lock prefix and no fence.
//! Readers
//! (the debugfs files) load each counter on its own: a reading taken while the queue works may
//! be a few PDUs behind on some counters, never torn. Two writers that were not serialized
//! would lose counts, nothing worse.

use core::fmt;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};

use super::super::common::PduType;

/// A count one context writes at a time and any context reads.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Returns a counter at zero.
    pub const fn new() -> Self {
        Self(AtomicU64::new(0))
    }

    /// Adds `n` (wrapping). Not an atomic read-modify-write: concurrent writers lose counts.
    #[inline(always)]
    pub fn add(&self, n: u64) {
        self.0.store(self.0.load(Relaxed).wrapping_add(n), Relaxed);
    }

    /// Raises the counter to `n` if it is below (a high-water mark).
    #[inline(always)]
    pub fn raise(&self, n: u64) {
        if n > self.0.load(Relaxed) {
            self.0.store(n, Relaxed);
        }
    }

    /// Returns the count.
    #[inline]
    pub fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }
}

/// The PDU types, in the order a report lists them.
pub const PDU_TYPES: [PduType; 9] = [
    PduType::IcReq,
    PduType::IcResp,
    PduType::CapsuleCmd,
    PduType::CapsuleResp,
    PduType::H2CData,
    PduType::C2HData,
    PduType::R2t,
    PduType::H2CTermReq,
    PduType::C2HTermReq,
];

/// Counters per PDU type: indexed by the type's value (00h to 09h; 08h is unused).
const TYPE_SLOTS: usize = 10;

/// The per-type counters and the bytes of one direction.
#[derive(Debug, Default)]
struct Direction {
    pdus: [Counter; TYPE_SLOTS],
    bytes: Counter,
}

impl Direction {
    const fn new() -> Self {
        Self {
            pdus: [const { Counter::new() }; TYPE_SLOTS],
            bytes: Counter::new(),
        }
    }

    /// Counts one PDU of type `t` and `plen` bytes. An unknown type counts its bytes only.
    #[inline(always)]
    fn count(&self, t: PduType, plen: u32) {
        if let Some(c) = self.pdus.get(usize::from(u8::from(t))) {
            c.add(1);
        }
        self.bytes.add(u64::from(plen));
    }

    fn pdus(&self, t: PduType) -> u64 {
        self.pdus
            .get(usize::from(u8::from(t)))
            .map_or(0, Counter::get)
    }
}

/// Value of `qid` before the queue knows it (a target's, before Connect).
const NO_QID: u32 = u32::MAX;

/// The statistics of one queue (one NVMe/TCP connection at a time; they add up across the
/// connections a host queue makes).
///
/// Receiving counts in the engine's pump (every PDU header accepted, header and data digest
/// errors); sending counts where a driver frames a PDU ([`Stats::sent`]), and where it queues
/// one behind others ([`Stats::queued`]). R2Ts and TermReqs are PDU types like the others.
#[derive(Debug)]
pub struct Stats {
    qid: AtomicU32,
    rx: Direction,
    tx: Direction,
    hdgst_errors: Counter,
    ddgst_errors: Counter,
    send_list_peak: Counter,
}

impl Default for Stats {
    fn default() -> Self {
        Self::new()
    }
}

impl Stats {
    /// Returns statistics at zero, of a queue whose ID is not known yet.
    pub const fn new() -> Self {
        Self {
            qid: AtomicU32::new(NO_QID),
            rx: Direction::new(),
            tx: Direction::new(),
            hdgst_errors: Counter::new(),
            ddgst_errors: Counter::new(),
            send_list_peak: Counter::new(),
        }
    }

    /// Records the queue's ID (a target learns it from the Connect command).
    pub fn set_qid(&self, qid: u16) {
        self.qid.store(u32::from(qid), Relaxed);
    }

    /// Returns the queue's ID, if known.
    pub fn qid(&self) -> Option<u16> {
        u16::try_from(self.qid.load(Relaxed)).ok()
    }

    /// Counts a PDU received whole or in part: its type and PLEN.
    #[inline(always)]
    pub fn received(&self, t: PduType, plen: u32) {
        self.rx.count(t, plen);
    }

    /// Counts a PDU sent: its type and PLEN.
    #[inline(always)]
    pub fn sent(&self, t: PduType, plen: u32) {
        self.tx.count(t, plen);
    }

    /// Counts a PDU sent, from its header as framed (the common header: type and PLEN).
    #[inline(always)]
    pub fn sent_header(&self, header: &[u8]) {
        let plen = header.get(4..8).and_then(|b| <[u8; 4]>::try_from(b).ok());
        if let (Some(&t), Some(plen)) = (header.first(), plen) {
            self.sent(PduType::from(t), u32::from_le_bytes(plen));
        }
    }

    /// Counts a header digest that did not match.
    pub fn header_digest_error(&self) {
        self.hdgst_errors.add(1);
    }

    /// Counts a data digest that did not match.
    pub fn data_digest_error(&self) {
        self.ddgst_errors.add(1);
    }

    /// Notes that `len` PDUs wait in the send list.
    #[inline(always)]
    pub fn queued(&self, len: usize) {
        self.send_list_peak
            .raise(u64::try_from(len).unwrap_or(u64::MAX));
    }

    /// Returns how many PDUs of type `t` were received.
    pub fn received_pdus(&self, t: PduType) -> u64 {
        self.rx.pdus(t)
    }

    /// Returns how many PDUs of type `t` were sent.
    pub fn sent_pdus(&self, t: PduType) -> u64 {
        self.tx.pdus(t)
    }

    /// Returns the bytes received (the PLEN of every PDU counted).
    pub fn received_bytes(&self) -> u64 {
        self.rx.bytes.get()
    }

    /// Returns the bytes sent (the PLEN of every PDU counted).
    pub fn sent_bytes(&self) -> u64 {
        self.tx.bytes.get()
    }

    /// Returns how many header digests did not match.
    pub fn header_digest_errors(&self) -> u64 {
        self.hdgst_errors.get()
    }

    /// Returns how many data digests did not match.
    pub fn data_digest_errors(&self) -> u64 {
        self.ddgst_errors.get()
    }

    /// Returns the most PDUs that waited in the send list at once.
    pub fn send_list_peak(&self) -> u64 {
        self.send_list_peak.get()
    }
}

/// The name a report gives a PDU type.
pub fn pdu_name(t: PduType) -> &'static str {
    match t {
        PduType::IcReq => "ICReq",
        PduType::IcResp => "ICResp",
        PduType::H2CTermReq => "H2CTermReq",
        PduType::C2HTermReq => "C2HTermReq",
        PduType::CapsuleCmd => "CapsuleCmd",
        PduType::CapsuleResp => "CapsuleResp",
        PduType::H2CData => "H2CData",
        PduType::C2HData => "C2HData",
        PduType::R2t => "R2T",
        PduType::Unknown(_) => "unknown",
    }
}

/// The report: one line per counter, `name value` or `name received sent`.
impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.qid() {
            Some(qid) => writeln!(f, "{:<22}{}", "qid", qid)?,
            None => writeln!(f, "{:<22}-", "qid")?,
        }
        writeln!(f, "{:<22}{:>20} {:>20}", "pdu", "received", "sent")?;
        for t in PDU_TYPES {
            writeln!(
                f,
                "{:<22}{:>20} {:>20}",
                pdu_name(t),
                self.received_pdus(t),
                self.sent_pdus(t)
            )?;
        }
        writeln!(
            f,
            "{:<22}{:>20} {:>20}",
            "bytes",
            self.received_bytes(),
            self.sent_bytes()
        )?;
        writeln!(
            f,
            "{:<22}{}",
            "header_digest_errors",
            self.header_digest_errors()
        )?;
        writeln!(
            f,
            "{:<22}{}",
            "data_digest_errors",
            self.data_digest_errors()
        )?;
        writeln!(f, "{:<22}{}", "send_list_peak", self.send_list_peak())
    }
}

/// The statistics of a host controller, across its connections.
#[derive(Debug, Default)]
pub struct CtrlStats {
    /// Error recoveries run (a failed connection or a timeout).
    pub recoveries: Counter,
    /// Resets run (`nvme reset`, or the core's).
    pub resets: Counter,
    /// Reconnect attempts, after a recovery or a failed reset.
    pub reconnect_attempts: Counter,
    /// Reconnect attempts that succeeded.
    pub reconnects: Counter,
}

impl CtrlStats {
    /// Returns statistics at zero.
    pub const fn new() -> Self {
        Self {
            recoveries: Counter::new(),
            resets: Counter::new(),
            reconnect_attempts: Counter::new(),
            reconnects: Counter::new(),
        }
    }
}

/// The report: one line per counter, `name value`.
impl fmt::Display for CtrlStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{:<22}{}", "recoveries", self.recoveries.get())?;
        writeln!(f, "{:<22}{}", "resets", self.resets.get())?;
        writeln!(
            f,
            "{:<22}{}",
            "reconnect_attempts",
            self.reconnect_attempts.get()
        )?;
        writeln!(f, "{:<22}{}", "reconnects", self.reconnects.get())
    }
}
