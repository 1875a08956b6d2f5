// SPDX-License-Identifier: GPL-2.0

//! Every live queue of the module, for `remove_port`, `delete_ctrl`, `install_queue` and module
//! unload. A queue is in it from accept to the end of its release.

use crate::queue::Queue;
use kernel::{
    prelude::*,
    sync::{global_lock, Arc},
};

global_lock! {
    // SAFETY: Initialised in the module's `init` before any port exists.
    unsafe(uninit) static QUEUES: Mutex<KVec<Arc<Queue>>> = KVec::new();
}

/// Initialises the registry; called once at module load.
pub(crate) fn init() {
    // SAFETY: Called once, before any other use.
    unsafe { QUEUES.init() };
}

/// Adds a new queue.
pub(crate) fn insert(queue: Arc<Queue>) -> Result {
    QUEUES.lock().push(queue, GFP_KERNEL)?;
    Ok(())
}

/// Removes a released queue.
pub(crate) fn remove(queue: &Queue) {
    let mut queues = QUEUES.lock();
    if let Some(i) = queues.iter().position(|q| core::ptr::eq(&**q, queue)) {
        // Cannot fail: `i` is in bounds. The queue's memory lives on in the caller's `Arc`.
        drop(queues.remove(i));
    }
    if queues.is_empty() {
        // Free the array too: a `static` is never dropped, and module unload must not leak.
        *queues = KVec::new();
    }
}

/// Shuts down the connection of every queue for which `pred` holds; their release follows.
pub(crate) fn shutdown_where(pred: impl Fn(&Queue) -> bool) {
    for q in QUEUES.lock().iter() {
        if pred(q) {
            q.shutdown();
        }
    }
}

/// Returns how many queues satisfy `pred`.
pub(crate) fn count_where(pred: impl Fn(&Queue) -> bool) -> usize {
    QUEUES.lock().iter().filter(|q| pred(q)).count()
}

/// Returns whether no queue is left.
pub(crate) fn is_empty() -> bool {
    QUEUES.lock().is_empty()
}
