// SPDX-License-Identifier: GPL-2.0

//! The host's module parameters (`wq_unbound`, `so_priority`, `tls_handshake_timeout`, writable
//! as in the C host, and our `wq_highpri`, read at load; all declared in C) and what the host
//! asks of the system: online CPUs, network interfaces, the core's deletion workqueue.

use crate::fabrics::bindings as b;
use crate::net_ns::Net;
use kernel::{bindings as kb, ffi::c_char, prelude::*, sync::rcu};

/// Returns whether I/O work runs unbound (the `wq_unbound` parameter).
pub(crate) fn wq_unbound() -> bool {
    // SAFETY: The accessor reads a `bool` parameter with `READ_ONCE`; no preconditions.
    unsafe { b::nvme_tcp_rs_wq_unbound() }
}

/// Returns whether all I/O work runs at high priority (the `wq_highpri` parameter; read at
/// load).
pub(crate) fn wq_highpri() -> bool {
    // SAFETY: The accessor reads a `bool` parameter with `READ_ONCE`; no preconditions.
    unsafe { b::nvme_tcp_rs_wq_highpri() }
}

/// Returns the `so_priority` parameter.
pub(crate) fn so_priority() -> i32 {
    // SAFETY: The accessor reads an `int` parameter with `READ_ONCE`; no preconditions.
    unsafe { b::nvme_tcp_rs_so_priority() }
}

/// Returns the `tls_handshake_timeout` parameter, in seconds: how long a queue's TLS handshake
/// may take.
pub(crate) fn tls_handshake_timeout() -> u32 {
    // SAFETY: The accessor reads an `unsigned int` parameter with `READ_ONCE`; no preconditions.
    unsafe { b::nvme_tcp_rs_tls_handshake_timeout() }
}

/// `kernel_param_ops.set` of `tls_handshake_timeout`: seconds from 0 to the most whose
/// milliseconds fit the handshake's `unsigned int`, as the C host accepts (its other bound,
/// `MAX_JIFFY_OFFSET / HZ`, is far larger on 64-bit machines, the only ones supported).
///
/// # Safety
///
/// Called by the kernel's parameter code with a NUL-terminated `val` and the parameter `kp`,
/// whose `arg` points to an `unsigned int`, under the parameter lock.
#[no_mangle]
unsafe extern "C" fn nvme_tcp_rs_tls_timeout_set(
    val: *const c_char,
    kp: *const kb::kernel_param,
) -> i32 {
    // SAFETY: As the caller guarantees; the function parses `val` and stores it in `arg` if
    // it is within the range.
    unsafe { kb::param_set_uint_minmax(val, kp, 0, u32::MAX / 1000) }
}

/// Returns the number of online CPUs.
pub(crate) fn num_online_cpus() -> u32 {
    // SAFETY: The helper only reads the online mask.
    unsafe { b::nvme_tcp_rs_num_online_cpus() }
}

/// Returns the index of network interface `name` in the network namespace `net`.
///
/// # Errors
///
/// `ENODEV` if there is none.
pub(crate) fn ifindex(net: &Net, name: &CStr) -> Result<i32> {
    let _guard = rcu::read_lock();
    // SAFETY: `net` is a valid namespace and `name` a NUL-terminated string; the lookup needs
    // the RCU read lock, held here, and the device it returns stays valid while the lock is
    // held.
    let dev = unsafe { b::dev_get_by_name_rcu(net.as_ptr(), name.as_char_ptr()) };
    if dev.is_null() {
        return Err(ENODEV);
    }
    // SAFETY: `dev` is valid under the RCU read lock (see above).
    Ok(unsafe { b::nvme_tcp_rs_netdev_ifindex(dev) })
}

/// Waits until every controller deletion queued so far has run.
pub(crate) fn flush_delete_wq() {
    // SAFETY: `nvme_delete_wq` is allocated by `nvme-core`, which this module depends on, for
    // as long as it is loaded.
    unsafe { kb::__flush_workqueue(b::nvme_delete_wq) };
}
