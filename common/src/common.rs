//! The 8-byte common header every PDU starts with, the PDU types and the header flags.

use core::borrow::{Borrow, BorrowMut};

use super::error::Error;

/// Length of the common header (PDU-Type, FLAGS, HLEN, PDO, PLEN).
pub const COMMON_LEN: usize = 8;

/// Length of a header or data digest (CRC32C).
pub const DIGEST_LEN: u8 = 4;

/// Length of the longest PDU header (ICReq and ICResp; no PDU with a digest comes near it).
pub const MAX_HLEN: usize = 128;

/// Byte offsets of the common header fields, usable as FEI values.
pub mod field {
    /// PDU-Type.
    pub const PDU_TYPE: u8 = 0;
    /// FLAGS.
    pub const FLAGS: u8 = 1;
    /// HLEN, the header length.
    pub const HLEN: u8 = 2;
    /// PDO, the offset of the data from the start of the PDU.
    pub const PDO: u8 = 3;
    /// PLEN, the total PDU length including digests and padding.
    pub const PLEN: u8 = 4;
}

/// The PDU type (the first byte of every PDU).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PduType {
    /// 00h: Initialize Connection Request (host to controller).
    IcReq,
    /// 01h: Initialize Connection Response (controller to host).
    IcResp,
    /// 02h: Host to Controller Terminate Connection Request.
    H2CTermReq,
    /// 03h: Controller to Host Terminate Connection Request.
    C2HTermReq,
    /// 04h: Command Capsule (host to controller).
    CapsuleCmd,
    /// 05h: Response Capsule (controller to host).
    CapsuleResp,
    /// 06h: Host to Controller Data.
    H2CData,
    /// 07h: Controller to Host Data.
    C2HData,
    /// 09h: Ready to Transfer (controller to host).
    R2t,
    /// Any other value, kept as received.
    Unknown(u8),
}

impl From<u8> for PduType {
    fn from(v: u8) -> Self {
        match v {
            0x00 => Self::IcReq,
            0x01 => Self::IcResp,
            0x02 => Self::H2CTermReq,
            0x03 => Self::C2HTermReq,
            0x04 => Self::CapsuleCmd,
            0x05 => Self::CapsuleResp,
            0x06 => Self::H2CData,
            0x07 => Self::C2HData,
            0x09 => Self::R2t,
            other => Self::Unknown(other),
        }
    }
}

impl From<PduType> for u8 {
    fn from(t: PduType) -> Self {
        match t {
            PduType::IcReq => 0x00,
            PduType::IcResp => 0x01,
            PduType::H2CTermReq => 0x02,
            PduType::C2HTermReq => 0x03,
            PduType::CapsuleCmd => 0x04,
            PduType::CapsuleResp => 0x05,
            PduType::H2CData => 0x06,
            PduType::C2HData => 0x07,
            PduType::R2t => 0x09,
            PduType::Unknown(other) => other,
        }
    }
}

impl PduType {
    /// Returns the header length (HLEN) the spec fixes for this type, or `None` if unknown.
    pub const fn hlen(self) -> Option<u8> {
        match self {
            Self::IcReq | Self::IcResp => Some(128),
            Self::CapsuleCmd => Some(72),
            Self::H2CTermReq
            | Self::C2HTermReq
            | Self::CapsuleResp
            | Self::H2CData
            | Self::C2HData
            | Self::R2t => Some(24),
            Self::Unknown(_) => None,
        }
    }

    /// Returns whether header and data digests apply to this type (all but ICReq/ICResp/TermReq).
    pub const fn has_digests(self) -> bool {
        !matches!(
            self,
            Self::IcReq | Self::IcResp | Self::H2CTermReq | Self::C2HTermReq | Self::Unknown(_)
        )
    }

    /// Returns whether this is a TermReq of either direction.
    pub const fn is_term_req(self) -> bool {
        matches!(self, Self::H2CTermReq | Self::C2HTermReq)
    }
}

/// The FLAGS byte; bits the crate does not know are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Flags(u8);

impl Flags {
    /// HDGSTF: a header digest follows the header.
    pub const HDGSTF: Self = Self(1 << 0);
    /// DDGSTF: a data digest follows the data.
    pub const DDGSTF: Self = Self(1 << 1);
    /// LAST_PDU: the last H2CData/C2HData PDU of a transfer.
    pub const LAST_PDU: Self = Self(1 << 2);
    /// SUCCESS: the command completed successfully with this C2HData (no CapsuleResp follows).
    pub const SUCCESS: Self = Self(1 << 3);
    /// No flag set.
    pub const EMPTY: Self = Self(0);

    /// Returns the flags for the raw byte `bits`, unknown bits included.
    pub const fn from_bits(bits: u8) -> Self {
        Self(bits)
    }

    /// Returns the raw byte.
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// Returns whether every bit of `other` is set in `self`.
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// Returns `self` with the bits of `other` set when `on` is true.
    #[must_use]
    pub const fn with(self, other: Self, on: bool) -> Self {
        if on {
            Self(self.0 | other.0)
        } else {
            self
        }
    }
}

/// The value of a common header, as read from or written to the first 8 bytes of a PDU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Common {
    /// PDU-Type.
    pub pdu_type: PduType,
    /// FLAGS.
    pub flags: Flags,
    /// HLEN: the header length, without digest.
    pub hlen: u8,
    /// PDO: offset of the data from the start of the PDU (0 when there is no data).
    pub pdo: u8,
    /// PLEN: the total PDU length, header, digests, padding and data.
    pub plen: u32,
}

impl Common {
    /// Reads a common header from its 8 bytes.
    pub fn from_bytes(b: &[u8; COMMON_LEN]) -> Self {
        Self {
            pdu_type: PduType::from(b[0]),
            flags: Flags::from_bits(b[1]),
            hlen: b[2],
            pdo: b[3],
            plen: u32::from_le_bytes([b[4], b[5], b[6], b[7]]),
        }
    }

    /// Returns the 8 bytes of this common header.
    pub fn to_bytes(&self) -> [u8; COMMON_LEN] {
        let p = self.plen.to_le_bytes();
        [
            u8::from(self.pdu_type),
            self.flags.bits(),
            self.hlen,
            self.pdo,
            p[0],
            p[1],
            p[2],
            p[3],
        ]
    }

    /// Reads the common header at the start of `bytes`.
    ///
    /// # Errors
    ///
    /// [`Error::Truncated`] if `bytes` holds fewer than 8 bytes.
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        bytes
            .first_chunk::<COMMON_LEN>()
            .map(Self::from_bytes)
            .ok_or(Error::Truncated)
    }
}

/// Declares a zero-copy view over a fixed-size PDU header.
///
/// The view wraps anything that borrows as `[u8; N]` (an array, `&[u8; N]` or `&mut [u8; N]`),
/// so every accessor indexes a fixed-size array with constant indices: the compiler checks
/// them and no accessor can panic. The using module must import `Borrow`, `BorrowMut`,
/// `Common` and `Error`.
macro_rules! view {
    ($(#[$meta:meta])* $name:ident, $len:expr) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct $name<T>(T);

        impl<T> $name<T> {
            /// Wraps a buffer of exactly the header's size without looking at its contents.
            pub const fn new_unchecked(buf: T) -> Self {
                Self(buf)
            }

            /// Returns the wrapped buffer.
            pub fn into_inner(self) -> T {
                self.0
            }
        }

        impl<'a> $name<&'a [u8; $len]> {
            /// Views the first bytes of `bytes` as this header, for parsing.
            ///
            /// # Errors
            ///
            /// [`Error::Truncated`] if `bytes` is shorter than the header.
            pub fn new_checked(bytes: &'a [u8]) -> Result<Self, Error> {
                bytes
                    .first_chunk::<{ $len }>()
                    .map(Self)
                    .ok_or(Error::Truncated)
            }
        }

        impl<'a> $name<&'a mut [u8; $len]> {
            /// Views the first bytes of `buf` as this header, for emitting.
            ///
            /// # Errors
            ///
            /// [`Error::BufferTooSmall`] if `buf` is shorter than the header.
            pub fn new_checked_mut(buf: &'a mut [u8]) -> Result<Self, Error> {
                buf.first_chunk_mut::<{ $len }>()
                    .map(Self)
                    .ok_or(Error::BufferTooSmall)
            }
        }

        impl<T: Borrow<[u8; $len]>> $name<T> {
            /// Returns the header bytes.
            pub fn as_bytes(&self) -> &[u8; $len] {
                self.0.borrow()
            }

            /// Returns the common header.
            pub fn common(&self) -> Common {
                let b = self.0.borrow();
                Common::from_bytes(&[b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
            }
        }

        impl<T: BorrowMut<[u8; $len]>> $name<T> {
            /// Writes the common header.
            pub fn set_common(&mut self, common: &Common) {
                let [t, f, h, o, p0, p1, p2, p3] = common.to_bytes();
                let b = self.0.borrow_mut();
                b[0] = t;
                b[1] = f;
                b[2] = h;
                b[3] = o;
                b[4] = p0;
                b[5] = p1;
                b[6] = p2;
                b[7] = p3;
            }
        }
    };
}
pub(super) use view;

view!(
    /// A view over the 8-byte common header alone.
    CommonHeader,
    COMMON_LEN
);

/// Copies `src` into `dst` from byte `at` on, as far as both reach; never panics.
pub(super) fn copy_at(dst: &mut [u8], at: usize, src: &[u8]) {
    let Some(tail) = dst.get_mut(at..) else {
        return;
    };
    let n = tail.len().min(src.len());
    if let (Some(d), Some(s)) = (tail.get_mut(..n), src.get(..n)) {
        d.copy_from_slice(s);
    }
}
