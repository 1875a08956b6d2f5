// SPDX-License-Identifier: GPL-2.0

//! Load-time layout check shared by the FFI layers: bindgen and the C compiler must agree on the
//! structures a module shares with a C core, or a bindgen run with different flags would go
//! unnoticed until memory is corrupted.

use kernel::prelude::*;

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
