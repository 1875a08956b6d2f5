//! The connection engine both modules share: what is the same in serving an NVMe/TCP connection
//! on either side, without any I/O.
//!
//! The drivers own the sockets, the commands and the locks; the engine owns the rules of moving
//! bytes through them:
//!
//! - [`pump`]: the receive pump. It hands each piece of received bytes to the [`Receiver`], the
//!   events to the driver's [`pump::Handler`], and lets the driver copy data straight into place
//!   from the socket's buffers where the receiver allows it.
//! - [`send`]: the send cursor. One [`send::Cursor`] per unit being sent (header bytes, then the
//!   data and its digest), across as many partial sends as the socket needs.
//! - [`ring`]: a fixed-capacity first-in first-out [`ring::Ring`] of identifiers (PDUs waiting to
//!   be sent).
//! - [`stats`]: the counters of a queue and of a controller ([`stats::Stats`],
//!   [`stats::CtrlStats`]), which the pump and the drivers update and debugfs shows.
//! - [`stop`]: why a connection stops being served ([`stop::Stop`]), and the TermReq that answers
//!   a fatal error ([`stop::term_req`]).
//!
//! Everything here is tested in userspace against a model socket (`tests/engine.rs`).
//!
//! [`Receiver`]: super::Receiver

pub mod pump;
pub mod ring;
pub mod send;
pub mod stats;
pub mod stop;
