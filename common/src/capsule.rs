//! CapsuleCmd (72-byte header: common header and a 64-byte SQE, optional in-capsule data)
//! and CapsuleResp (24 bytes: common header and a 16-byte CQE).

use core::borrow::{Borrow, BorrowMut};

use super::common::{view, Common};
use super::error::Error;

/// HLEN of a CapsuleCmd.
pub const CMD_HLEN: usize = 72;

/// HLEN of a CapsuleResp.
pub const RSP_HLEN: usize = 24;

/// Length of a submission queue entry.
pub const SQE_LEN: usize = 64;

/// Length of a completion queue entry.
pub const CQE_LEN: usize = 16;

/// Byte offsets of capsule fields from the start of the PDU, usable as FEI values.
pub mod field {
    /// The SQE in a CapsuleCmd.
    pub const SQE: u8 = 8;
    /// The command identifier inside the SQE of a CapsuleCmd.
    pub const SQE_CID: u8 = 10;
    /// The length of the SGL descriptor in the SQE's data pointer (SQE byte 32).
    pub const SGL_LEN: u8 = 40;
    /// The type of the SGL descriptor in the SQE's data pointer (SQE byte 39).
    pub const SGL_TYPE: u8 = 47;
    /// The CQE in a CapsuleResp.
    pub const CQE: u8 = 8;
    /// The command identifier inside the CQE of a CapsuleResp.
    pub const CQE_CID: u8 = 20;
}

view!(
    /// A view over the 72-byte header of a CapsuleCmd.
    CmdPdu,
    CMD_HLEN
);

view!(
    /// A view over a 24-byte CapsuleResp.
    RspPdu,
    RSP_HLEN
);

impl<T: Borrow<[u8; CMD_HLEN]>> CmdPdu<T> {
    /// Returns a copy of the SQE.
    pub fn sqe(&self) -> [u8; SQE_LEN] {
        // The SQE is the last 64 of the 72 bytes.
        self.0.borrow().last_chunk().map_or([0; SQE_LEN], |s| *s)
    }
}

impl<T: BorrowMut<[u8; CMD_HLEN]>> CmdPdu<T> {
    /// Sets the SQE.
    pub fn set_sqe(&mut self, sqe: &[u8; SQE_LEN]) {
        if let Some(d) = self.0.borrow_mut().last_chunk_mut() {
            *d = *sqe;
        }
    }
}

impl<T: Borrow<[u8; RSP_HLEN]>> RspPdu<T> {
    /// Returns a copy of the CQE.
    pub fn cqe(&self) -> [u8; CQE_LEN] {
        // The CQE is the last 16 of the 24 bytes.
        self.0.borrow().last_chunk().map_or([0; CQE_LEN], |c| *c)
    }
}

impl<T: BorrowMut<[u8; RSP_HLEN]>> RspPdu<T> {
    /// Sets the CQE.
    pub fn set_cqe(&mut self, cqe: &[u8; CQE_LEN]) {
        if let Some(d) = self.0.borrow_mut().last_chunk_mut() {
            *d = *cqe;
        }
    }
}

/// SGL descriptor type of in-capsule data: Data Block, Offset subtype.
pub const SGL_IN_CAPSULE: u8 = 0x01;

/// SGL descriptor type of data the transport moves (R2T/H2CData, C2HData): Transport Data Block,
/// Transport-specific subtype A.
pub const SGL_TRANSPORT: u8 = 0x5a;

/// Opcode of a Fabrics command (Connect, Property Get/Set, ...).
pub const OPC_FABRICS: u8 = 0x7f;

/// Where a command's data is, as its SGL descriptor says (SQE bytes 24..40; the identifier,
/// byte 39, holds the descriptor type in its high nibble and the subtype in its low one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SglData {
    /// No data: the descriptor's length is 0, whatever its type (it asks nothing of the
    /// transport, and C does not look at it either).
    None,
    /// This many bytes in the capsule, after the SQE: a Data Block descriptor with the Offset
    /// subtype ([`SGL_IN_CAPSULE`]).
    InCapsule(u32),
    /// This many bytes moved by the transport (R2T and H2CData, or C2HData): a Transport Data
    /// Block descriptor with the transport-specific subtype ([`SGL_TRANSPORT`]).
    Transport(u32),
}

impl SglData {
    /// Returns the length of the command's data: the buffer it needs.
    pub fn data_len(&self) -> u32 {
        match *self {
            Self::None => 0,
            Self::InCapsule(len) | Self::Transport(len) => len,
        }
    }
}

/// Why a target refuses a command's SGL descriptor.
///
/// This is not a transport error: the command fails with the NVMe status named here and the
/// connection goes on (the capsule itself is well formed; whether its in-capsule data agrees
/// with its descriptor is a rule of the [`Validator`](super::validate::Validator), and fatal).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SglRefusal {
    /// A descriptor type or subtype NVMe/TCP does not carry (any identifier but
    /// [`SGL_IN_CAPSULE`] and [`SGL_TRANSPORT`]): SGL Descriptor Type Invalid (11h).
    TypeInvalid,
    /// More data than the target moves for one command: Data SGL Length Invalid (0Fh), as the
    /// C target answers a descriptor longer than its MAXH2CDATA.
    LengthInvalid,
}

/// The value of a CapsuleCmd header: the SQE and the length of the in-capsule data after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CapsuleCmd {
    /// The NVMe submission queue entry, as on the wire.
    pub sqe: [u8; SQE_LEN],
    /// Length of the in-capsule data (0 when none).
    pub data_len: u32,
}

impl CapsuleCmd {
    /// Reads a CapsuleCmd view; `data_len` comes from the PDU layout.
    pub fn parse<T: Borrow<[u8; CMD_HLEN]>>(pdu: &CmdPdu<T>, data_len: u32) -> Self {
        Self {
            sqe: pdu.sqe(),
            data_len,
        }
    }

    /// Writes the SQE (not the common header).
    pub fn emit<T: BorrowMut<[u8; CMD_HLEN]>>(&self, pdu: &mut CmdPdu<T>) {
        pdu.set_sqe(&self.sqe);
    }

    /// Returns the opcode of the SQE.
    pub fn opcode(&self) -> u8 {
        self.sqe[0]
    }

    /// Returns the command identifier (CID) of the SQE, which data PDUs call CCCID.
    pub fn cid(&self) -> u16 {
        u16::from_le_bytes([self.sqe[2], self.sqe[3]])
    }

    /// Returns the length field of the SGL descriptor in the SQE's data pointer.
    pub fn sgl_len(&self) -> u32 {
        let s = &self.sqe;
        u32::from_le_bytes([s[32], s[33], s[34], s[35]])
    }

    /// Returns the type byte of the SGL descriptor in the SQE's data pointer.
    pub fn sgl_type(&self) -> u8 {
        self.sqe[39]
    }

    /// Returns where the command's data is, for a target that moves at most `max_len` bytes
    /// for one command.
    ///
    /// # Errors
    ///
    /// The descriptor is refused (see [`SglRefusal`]): its identifier is not one NVMe/TCP
    /// carries, or (checked next) its length is above `max_len`. A descriptor of length 0 is
    /// never refused.
    pub fn sgl_data(&self, max_len: u32) -> Result<SglData, SglRefusal> {
        let len = self.sgl_len();
        if len == 0 {
            return Ok(SglData::None);
        }
        let data = match self.sgl_type() {
            SGL_IN_CAPSULE => SglData::InCapsule(len),
            SGL_TRANSPORT => SglData::Transport(len),
            _ => return Err(SglRefusal::TypeInvalid),
        };
        if len > max_len {
            return Err(SglRefusal::LengthInvalid);
        }
        Ok(data)
    }

    /// Returns whether the command moves data from host to controller (`nvme_is_write()`).
    ///
    /// Bit 0 of the opcode says so; for a Fabrics command it is bit 0 of FCTYPE instead.
    pub fn is_write(&self) -> bool {
        let op = if self.opcode() == OPC_FABRICS {
            self.fctype()
        } else {
            self.opcode()
        };
        op & 1 != 0
    }

    /// Returns FCTYPE, meaningful only for a Fabrics command (SQE byte 4).
    pub fn fctype(&self) -> u8 {
        self.sqe[4]
    }
}

/// The value of a CapsuleResp: the CQE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CapsuleResp {
    /// The NVMe completion queue entry, as on the wire.
    pub cqe: [u8; CQE_LEN],
}

impl CapsuleResp {
    /// Reads a CapsuleResp view.
    pub fn parse<T: Borrow<[u8; RSP_HLEN]>>(pdu: &RspPdu<T>) -> Self {
        Self { cqe: pdu.cqe() }
    }

    /// Writes the CQE (not the common header).
    pub fn emit<T: BorrowMut<[u8; RSP_HLEN]>>(&self, pdu: &mut RspPdu<T>) {
        pdu.set_cqe(&self.cqe);
    }

    /// Returns the command identifier of the CQE.
    pub fn cid(&self) -> u16 {
        u16::from_le_bytes([self.cqe[12], self.cqe[13]])
    }

    /// Returns the status field of the CQE (phase bit included).
    pub fn status(&self) -> u16 {
        u16::from_le_bytes([self.cqe[14], self.cqe[15]])
    }
}
