// SPDX-License-Identifier: GPL-2.0

//! A host queue's command slots: a command is in exactly one slot from `queue_rq` until its
//! completion, and whoever takes it out of the slot (its response, a timeout, the failure of
//! the queue) completes it, so no request is completed twice.
//!
//! A slot's state carries the command's progress ([`Transfer`]), which the PDU crate's rules
//! ask about through [`CommandTable`].

use crate::pdu::{CommandState, CommandTable};
use crate::request::{Request, AER_CID};
use kernel::prelude::*;

/// Where a command's data goes, and how far it got.
#[derive(Clone, Copy)]
pub(crate) enum Transfer {
    /// No data.
    None,
    /// A read of `len` bytes, `received` of which have arrived in C2HData PDUs.
    Read { len: u32, received: u32 },
    /// A write of `len` bytes; the controller has asked for data up to `requested`, and
    /// `r2ts` of its R2Ts are not fully answered yet.
    Write { len: u32, requested: u32, r2ts: u32 },
}

/// A command in flight.
pub(crate) struct Command {
    pub(crate) cid: u16,
    pub(crate) rq: Request,
    pub(crate) transfer: Transfer,
    /// Bytes of write data sent in the command capsule.
    pub(crate) incapsule: u32,
    /// Bytes of the capsule's header section, framed in the request ([`Request::capsule`]).
    pub(crate) capsule_len: u8,
    /// A data digest did not match: the command fails whatever its response says.
    pub(crate) data_error: bool,
}

/// A command slot, indexed by the tag in the command identifier.
pub(crate) enum Slot {
    Free,
    Busy(Command),
    /// The asynchronous event request (admin queue, [`AER_CID`]).
    Aer,
}

/// The slot of command identifier `cid` (its tag is the low 12 bits).
pub(crate) fn tag(cid: u16) -> usize {
    usize::from(cid & 0xfff)
}

/// A queue's slots.
pub(crate) struct Slots {
    slots: KVec<Slot>,
    /// How many are [`Slot::Busy`] (kept by every method that fills or empties a slot).
    in_flight: u32,
}

impl Slots {
    /// Returns `depth` free slots.
    pub(crate) fn new(depth: usize) -> Result<Self> {
        let mut slots = KVec::with_capacity(depth, GFP_KERNEL)?;
        for _ in 0..depth {
            slots.push(Slot::Free, GFP_KERNEL)?;
        }
        Ok(Self {
            slots,
            in_flight: 0,
        })
    }

    /// How many commands are in flight (the asynchronous event request is not counted).
    #[inline]
    pub(crate) fn in_flight(&self) -> u32 {
        self.in_flight
    }

    /// Returns the command in flight as `cid`, if any.
    #[inline]
    pub(crate) fn busy(&self, cid: u16) -> Option<&Command> {
        match self.slots.get(tag(cid))? {
            Slot::Busy(c) if c.cid == cid => Some(c),
            _ => None,
        }
    }

    /// Returns the command in flight as `cid`, if any, to update.
    #[inline]
    pub(crate) fn busy_mut(&mut self, cid: u16) -> Option<&mut Command> {
        match self.slots.get_mut(tag(cid))? {
            Slot::Busy(c) if c.cid == cid => Some(c),
            _ => None,
        }
    }

    /// Whether the slot of `cid` exists and is free.
    pub(crate) fn is_free(&self, cid: u16) -> bool {
        matches!(self.slots.get(tag(cid)), Some(Slot::Free))
    }

    /// Puts `cmd` in its slot, if that slot is free; gives it back otherwise (a command
    /// identifier beyond the queue, or one already in flight).
    pub(crate) fn insert(&mut self, cmd: Command) -> Result<(), Command> {
        match self.slots.get_mut(tag(cmd.cid)) {
            Some(slot @ Slot::Free) => {
                *slot = Slot::Busy(cmd);
                self.in_flight += 1;
                Ok(())
            }
            _ => Err(cmd),
        }
    }

    /// Takes command `cid` out of its slot: the caller completes it.
    #[inline]
    pub(crate) fn take(&mut self, cid: u16) -> Option<Command> {
        let slot = self.slots.get_mut(tag(cid))?;
        if !matches!(slot, Slot::Busy(c) if c.cid == cid) {
            return None;
        }
        match core::mem::replace(slot, Slot::Free) {
            Slot::Busy(c) => {
                self.in_flight -= 1;
                Some(c)
            }
            _ => None,
        }
    }

    /// Takes any command out of its slot: the caller completes it.
    pub(crate) fn take_any(&mut self) -> Option<Command> {
        let slot = self.slots.iter_mut().find(|s| matches!(s, Slot::Busy(_)))?;
        match core::mem::replace(slot, Slot::Free) {
            Slot::Busy(c) => {
                self.in_flight -= 1;
                Some(c)
            }
            _ => None,
        }
    }

    /// Marks the asynchronous event request outstanding; `false` if it is already.
    pub(crate) fn start_aer(&mut self) -> bool {
        match self.slots.get_mut(tag(AER_CID)) {
            Some(slot @ Slot::Free) => {
                *slot = Slot::Aer;
                true
            }
            _ => false,
        }
    }

    /// Whether the asynchronous event request is outstanding.
    pub(crate) fn aer_outstanding(&self) -> bool {
        matches!(self.slots.get(tag(AER_CID)), Some(Slot::Aer))
    }

    /// The asynchronous event request was answered, or will not be.
    pub(crate) fn end_aer(&mut self) {
        if let Some(slot @ Slot::Aer) = self.slots.get_mut(tag(AER_CID)) {
            *slot = Slot::Free;
        }
    }

    /// Empties every slot; dropping a command gives its request back to blk-mq uncompleted.
    pub(crate) fn clear(&mut self) {
        for slot in self.slots.iter_mut() {
            *slot = Slot::Free;
        }
        self.in_flight = 0;
    }
}

impl CommandTable for Slots {
    // Inlined into the receiver's header prediction, which asks it for nearly every PDU.
    #[inline(always)]
    fn command(&self, cccid: u16) -> Option<CommandState> {
        if let Some(Slot::Aer) = self.slots.get(tag(cccid)) {
            return (cccid == AER_CID).then_some(CommandState::NoData);
        }
        let c = self.busy(cccid)?;
        Some(match c.transfer {
            Transfer::None => CommandState::NoData,
            Transfer::Read { len, received } => CommandState::Read { len, received },
            Transfer::Write {
                len,
                requested,
                r2ts,
            } => CommandState::Write {
                len,
                requested,
                r2ts,
            },
        })
    }
}
