// SPDX-License-Identifier: GPL-2.0

//! Every live queue of the module, for `remove_port`, `delete_ctrl`, `install_queue` and module
//! unload. A queue is in it from accept to the end of its release.

use crate::queue::Queue;
use kernel::{prelude::*, sync::Arc};

crate::registry! {
    /// The live queues.
    static QUEUES: Arc<Queue>;
}

/// Initialises the registry; called once at module load.
pub(crate) fn init() -> Result {
    QUEUES.init()
}

/// Adds a new queue.
pub(crate) fn insert(queue: Arc<Queue>) -> Result {
    QUEUES.insert(queue)
}

/// Removes a released queue.
pub(crate) fn remove(queue: &Queue) {
    // Dropped outside the lock; the queue's memory lives on in the caller's `Arc`.
    drop(QUEUES.remove_first(|q| core::ptr::eq(&**q, queue)));
}

/// Shuts down the connection of every queue for which `pred` holds; their release follows.
pub(crate) fn shutdown_where(pred: impl Fn(&Queue) -> bool) {
    if let Some(queues) = QUEUES.lock() {
        for q in queues.iter().filter(|q| pred(q)) {
            q.shutdown();
        }
    }
}

/// Returns how many queues satisfy `pred`.
pub(crate) fn count_where(pred: impl Fn(&Queue) -> bool) -> usize {
    QUEUES
        .lock()
        .map_or(0, |q| q.iter().filter(|q| pred(q)).count())
}

/// Returns whether no queue is left.
pub(crate) fn is_empty() -> bool {
    QUEUES.lock().is_none_or(|q| q.is_empty())
}
