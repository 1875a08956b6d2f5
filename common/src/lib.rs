//! NVMe/TCP PDU framing, validation, connection negotiation and a streaming receive machine.
#![no_std]
#![forbid(unsafe_code)]
//!
//! The crate is `core`-only and works on caller-provided buffers. It is shared by the `nvme_tcp`
//! (host) and `nvmet_tcp` (target) kernel modules, which include it as source, and it is tested
//! and fuzzed in userspace as a normal cargo crate. Paths inside the crate are relative
//! (`super::`), so it works both as a crate root and as a submodule.
//!
//! - [`common`]: the 8-byte common header, [`PduType`] and [`Flags`].
//! - [`ic`], [`term`], [`capsule`], [`data`]: one view (over a fixed-size byte array) and one
//!   value type per PDU.
//! - [`header`]: [`Pdu`] (any PDU header value), [`Layout`] (where header, padding, data and
//!   digests lie) and [`Header`] (a validated received header).
//! - [`validate`]: every receive-side rule, with the [`CommandTable`] the driver implements.
//! - [`rx`]: the streaming [`Receiver`].
//! - [`negotiate`]: ICReq/ICResp exchange and the negotiated [`Params`].
//! - [`digest`]: CRC32C header and data digests through the [`Crc32c`] trait.
//! - [`error`]: [`FatalError`] (FES and FEI for a TermReq) and local [`Error`]s.

pub mod capsule;
pub mod common;
pub mod data;
pub mod digest;
pub mod engine;
pub mod error;
pub mod header;
pub mod ic;
pub mod negotiate;
pub mod rx;
pub mod term;
pub mod validate;

pub use self::capsule::{CapsuleCmd, CapsuleResp, SglData, SglRefusal};
pub use self::common::{Common, Flags, PduType};
pub use self::data::{C2HData, H2CData, R2t};
pub use self::digest::{Crc32c, Digest, SoftCrc32c};
pub use self::error::{DecodeError, Error, FatalError, Fes};
pub use self::header::{Framing, Header, Layout, Pdu, PlainCapsules};
pub use self::ic::{DigestOptions, IcReq, IcResp};
pub use self::negotiate::{HostConfig, Params, TargetConfig};
pub use self::rx::{DataDigest, Event, Receiver, Want};
pub use self::term::TermReq;
pub use self::validate::{
    CommandState, CommandTable, Limits, NoCommands, Role, Transfer, Validator,
};
