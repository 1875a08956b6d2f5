// SPDX-License-Identifier: GPL-2.0

//! Load-time layout check shared by the FFI layers: bindgen and the C compiler must agree on the
//! structures a module shares with a C core, or a bindgen run with different flags would go
//! unnoticed until memory is corrupted.

use kernel::prelude::*;

// Request and command data are reached through the kernel's direct map (`page_address`,
// `sg_virt`), which covers every page only without highmem (the Kconfig says so in a kernel
// tree; out of tree, this does).
#[cfg(CONFIG_HIGHMEM)]
compile_error!("nvme_tcp and nvmet_tcp (Rust) need a kernel without CONFIG_HIGHMEM");

/// Checks, for each `(name, size in C, size in Rust)`, that the two sizes are equal.
///
/// # Errors
///
/// Returns `EINVAL` (after logging which structure differs) if one is not.
pub(crate) fn check_sizes(sizes: &[(&str, usize, usize)]) -> Result {
    for &(name, c, rust) in sizes {
        if c != rust {
            pr_err!("layout mismatch: sizeof(struct {name}) is {c} in C, {rust} in Rust\n");
            return Err(EINVAL);
        }
    }
    Ok(())
}
