// SPDX-License-Identifier: GPL-2.0

//! A target queue's command slots. Each slot's state carries its request's typestate token
//! ([`crate::nvmet_sq`]) and the command's progress: what it receives, what the core does with
//! it, what is sent for it.
//!
//! Before Connect installs the queue only the Connect slot exists (TTAG 0); afterwards the
//! slots are indexed by request index, which is also the TTAG of their R2Ts.

use crate::nvmet_sq::{Executing, FreeReq, Parsed, Responded, CONNECT};
use crate::pdu::{CommandTable, Transfer};
use kernel::prelude::*;

/// What a command slot is doing.
pub(crate) enum Slot {
    /// Between two states (never seen outside a transition).
    Moving,
    /// No command.
    Free(FreeReq),
    /// The command is parsed; its in-capsule data is being received into its buffer.
    Inline { req: Parsed, cid: u16 },
    /// The command is parsed; an R2T for its data `0..end` waits to be sent.
    R2tQueued { req: Parsed, cid: u16, end: u32 },
    /// The R2T was sent; H2CData for `next..end` may arrive. `digest_bad`: a data digest of it
    /// did not match.
    AwaitingH2C {
        req: Parsed,
        cid: u16,
        next: u32,
        end: u32,
        digest_bad: bool,
    },
    /// The command is whole, to be executed once the read is over.
    Ready { req: Parsed, cid: u16, write: bool },
    /// The core holds the command. `draining`: its in-capsule data (the core refused it) is
    /// still being received, and dropped.
    Executing {
        req: Executing,
        cid: u16,
        write: bool,
        draining: bool,
    },
    /// The core answered; its data and response are queued for sending, or will be once the
    /// refused command's data is drained (`draining`).
    Completed {
        req: Responded,
        cid: u16,
        write: bool,
        draining: bool,
    },
}

impl Slot {
    /// Takes the state out, to build the next one.
    pub(crate) fn take(&mut self) -> Slot {
        core::mem::replace(self, Slot::Moving)
    }
}

/// The slots of a queue.
pub(crate) struct Slots {
    /// The Connect command's slot.
    pub(crate) connect: Slot,
    /// The slots of the installed queue, by request index.
    pub(crate) slots: KVec<Slot>,
    /// Whether Connect installed the queue (the slots exist).
    pub(crate) installed: bool,
}

impl Slots {
    /// Returns the slots of a new connection: the Connect slot alone, with its request.
    pub(crate) fn new(connect: Option<FreeReq>) -> Self {
        Self {
            connect: connect.map_or(Slot::Moving, Slot::Free),
            slots: KVec::new(),
            installed: false,
        }
    }

    /// Returns slot `id` ([`CONNECT`] for the Connect slot).
    pub(crate) fn get(&self, id: u16) -> Option<&Slot> {
        if id == CONNECT {
            Some(&self.connect)
        } else {
            self.slots.get(usize::from(id))
        }
    }

    /// Returns slot `id`, to change.
    pub(crate) fn get_mut(&mut self, id: u16) -> Option<&mut Slot> {
        if id == CONNECT {
            Some(&mut self.connect)
        } else {
            self.slots.get_mut(usize::from(id))
        }
    }

    /// Returns the slot an H2CData's TTAG names.
    pub(crate) fn of_ttag(&self, ttag: u16) -> u16 {
        if self.installed {
            ttag
        } else {
            CONNECT
        }
    }

    /// Returns every slot id, the Connect slot first.
    pub(crate) fn ids(&self) -> impl Iterator<Item = u16> + use<> {
        // Cannot truncate: at most `u16::MAX` slots.
        let n = KVec::len(&self.slots) as u16;
        Iterator::chain(core::iter::once(CONNECT), 0..n)
    }
}

/// The transfer tag of slot `id` in R2T and H2CData.
pub(crate) fn ttag_of(id: u16) -> u16 {
    if id == CONNECT {
        0
    } else {
        id
    }
}

impl CommandTable for Slots {
    #[inline]
    fn transfer(&self, ttag: u16) -> Option<Transfer> {
        let slot = if self.installed {
            self.slots.get(usize::from(ttag))?
        } else if ttag == 0 {
            &self.connect
        } else {
            return None;
        };
        match *slot {
            Slot::AwaitingH2C { cid, next, end, .. } => Some(Transfer {
                cccid: cid,
                next,
                end,
            }),
            _ => None,
        }
    }
}
