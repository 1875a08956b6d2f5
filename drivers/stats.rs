// SPDX-License-Identifier: GPL-2.0

//! The statistics of queues and controllers in debugfs, the same for both modules.
//!
//! A module's directory is `/sys/kernel/debug/<module>/` ([`Root`], held by the module while it
//! is loaded). In it, each holder of statistics has a directory of its own whose files show
//! them: a queue's [`QueueStats`] is `<dir>/<name>/stats`, a host controller's
//! [`CtrlStatsFile`] `<dir>/stats`. The counting is the PDU crate's
//! ([`crate::pdu::engine::stats`]); this file only places it in debugfs.
//!
//! The kernel crate's [`Scope`] and [`File`] own the counters and remove their files before the
//! counters go: a queue that embeds its `QueueStats` takes its directory with it when it is
//! freed, and a directory is removed once its handle and all its children are gone, so none
//! outlives what it shows.

use crate::pdu::engine::stats::{CtrlStats, Stats};
use kernel::{
    debugfs::{Dir, File, Scope},
    fmt,
    prelude::*,
    str::CStr,
};

crate::registry! {
    /// The module's debugfs directory: one entry while the module is loaded.
    static ROOT: Dir;
}

/// The module's directory at the root of debugfs, while this handle is held (by the module).
pub(crate) struct Root;

impl Root {
    /// Creates the module's directory `name`.
    ///
    /// # Errors
    ///
    /// `EBUSY` if the module made one already, `ENOMEM` without memory. A kernel without
    /// debugfs (or whose debugfs refuses the directory) is no error: the files are then
    /// nowhere, and the counters still count.
    pub(crate) fn new(name: &CStr) -> Result<Self> {
        ROOT.init()?;
        ROOT.insert(Dir::new(name))?;
        Ok(Self)
    }

    /// Returns the module's directory (another handle to it).
    ///
    /// # Errors
    ///
    /// `EINVAL` if it is not there (before [`Root::new`] or after its handle was dropped).
    pub(crate) fn dir() -> Result<Dir> {
        ROOT.lock().and_then(|l| l.first().cloned()).ok_or(EINVAL)
    }
}

impl Drop for Root {
    fn drop(&mut self) {
        // Dropped outside the lock. Directories of controllers or queues still alive keep it
        // until they go.
        drop(ROOT.take_all());
    }
}

/// A queue's statistics, shown in `<parent>/<name>/stats` for as long as they live.
pub(crate) type QueueStats = Scope<Stats>;

/// Returns the initializer of a queue's statistics, at zero, shown in `<parent>/<name>/stats`.
pub(crate) fn queue_stats<'a>(parent: &'a Dir, name: &'a CStr) -> impl PinInit<QueueStats> + 'a {
    parent.scope(Stats::new(), name, |stats, dir| {
        dir.read_callback_file(c"stats", stats, &show_queue);
    })
}

fn show_queue(stats: &Stats, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    core::fmt::Display::fmt(stats, f)
}

/// A controller's statistics, shown in `<dir>/stats` for as long as they live.
#[allow(dead_code)] // Used by the host module only.
pub(crate) type CtrlStatsFile = File<CtrlStats>;

/// Returns the initializer of a controller's statistics, at zero, shown in `<dir>/stats`.
#[allow(dead_code)] // Used by the host module only.
pub(crate) fn ctrl_stats(dir: &Dir) -> impl PinInit<CtrlStatsFile> + '_ {
    dir.read_callback_file(c"stats", CtrlStats::new(), &show_ctrl)
}

#[allow(dead_code)] // Used by the host module only.
fn show_ctrl(stats: &CtrlStats, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    core::fmt::Display::fmt(stats, f)
}
