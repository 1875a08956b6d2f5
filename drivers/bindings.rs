// SPDX-License-Identifier: GPL-2.0

//! The module's own bindgen output (`Kbuild`: the private nvme headers, the socket structures,
//! the C helpers), as a `bindings` module that builds on `kernel::bindings`: every type the
//! private headers only refer to is the kernel crate's own, so values pass without casts.
//!
//! Only `drivers/` uses it; the rest of the module goes through the safe types of `drivers/`.

/// Declares `pub(crate) mod bindings` with the bindgen output `$file`, which `Kbuild` generates
/// in the object tree's `drivers/` and names in `NVME_TCP_RS_BINDINGS` (the object tree differs
/// from the source tree in a kernel built with `O=`).
macro_rules! generated_bindings {
    ($(#[$meta:meta])* $file:literal) => {
        $(#[$meta])*
        #[allow(
            dead_code,
            missing_docs,
            non_camel_case_types,
            non_upper_case_globals,
            non_snake_case,
            improper_ctypes,
            unreachable_pub,
            unsafe_op_in_unsafe_fn,
            clippy::all,
            clippy::undocumented_unsafe_blocks,
            clippy::ptr_as_ptr,
            clippy::ref_as_ptr,
            clippy::as_underscore,
            clippy::cast_lossless
        )]
        pub(crate) mod bindings {
            use kernel::bindings::*;
            use kernel::ffi;
            use pin_init::MaybeZeroable;

            include!(concat!(env!("NVME_TCP_RS_BINDINGS"), "/", $file));
        }
    };
}
