// SPDX-License-Identifier: GPL-2.0

//! The `nvmet` core's workqueue, `nvmet_wq`.

use crate::nvmet::bindings as b;
use kernel::{bindings, workqueue::Queue};

/// Returns the `nvmet` core's workqueue, on which ports accept and queues are released.
pub(crate) fn nvmet_wq() -> &'static Queue {
    // SAFETY: `nvmet_wq` is allocated by the core module, which this module depends on, for as
    // long as it is loaded.
    unsafe { Queue::from_raw(b::nvmet_wq) }
}

/// Waits until everything queued on `nvmet_wq` so far has run.
pub(crate) fn flush_nvmet_wq() {
    // SAFETY: As for `nvmet_wq`.
    unsafe { bindings::__flush_workqueue(b::nvmet_wq) };
}
