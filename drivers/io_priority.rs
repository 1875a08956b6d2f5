// SPDX-License-Identifier: GPL-2.0

//! The priority a queue's I/O work asks for when its module batches (`wq_highpri=0`, see
//! [`crate::io_wq::IoWorkqueues`]), learnt from what its runs find (shared by both modules).
//!
//! Normal priority pays when a run finds several PDUs or commands: the worker waited for the
//! task that submits to sleep or use its slice, and serves them all at once. It costs latency
//! when the queue carries one command at a time: the answer waits for the submitter's CPU
//! instead of preempting it. So a queue whose runs found one thing each, many times in a row,
//! asks for high priority.
//!
//! High priority hides the depth it would reveal: its worker preempts the submitter at the
//! first PDU, so every run finds one, whatever depth the submitter wants. So one queueing in
//! [`PROBE`] still asks for normal priority, and its run shows whether more was waiting.

use kernel::sync::atomic::{Atomic, Relaxed};

/// Runs in a row that found one thing each, after which the work asks for high priority.
const LONE_RUNS: u32 = 16;

/// At high priority, one queueing in this many asks for normal priority (the probe).
const PROBE: u32 = 16;

/// What a queue's recent runs found (a hint, in relaxed atomics): [`AdaptivePriority::ran`] is
/// called by the one run at a time, [`AdaptivePriority::batch`] by whoever claimed the queueing
/// of the next run (see [`crate::io_wq::Kicks`]).
pub(crate) struct AdaptivePriority {
    /// Runs in a row that found exactly one PDU or command, up to [`LONE_RUNS`].
    lone: Atomic<u32>,
    /// Queueings at high priority, counted for the probe (wraps).
    queued: Atomic<u32>,
}

impl AdaptivePriority {
    /// Returns the state of a queue that has not run: it batches.
    pub(crate) const fn new() -> Self {
        Self {
            lone: Atomic::new(0),
            queued: Atomic::new(0),
        }
    }

    /// Whether the next run should be at normal priority, to batch.
    pub(crate) fn batch(&self) -> bool {
        if self.lone.load(Relaxed) < LONE_RUNS {
            return true;
        }
        // One queueing at a time (the claimant's): a load and a store suffice.
        let n = self.queued.load(Relaxed).wrapping_add(1);
        self.queued.store(n, Relaxed);
        n % PROBE == 0
    }

    /// A run found `n` PDUs or commands. A run that found none (a kick it had already served)
    /// says nothing about the depth.
    pub(crate) fn ran(&self, n: u32) {
        let lone = match n {
            0 => return,
            1 => (self.lone.load(Relaxed) + 1).min(LONE_RUNS),
            _ => 0,
        };
        self.lone.store(lone, Relaxed);
    }
}
