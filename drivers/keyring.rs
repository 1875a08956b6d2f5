// SPDX-License-Identifier: GPL-2.0

//! The NVMe keyring (`nvme-keyring`): the `.nvme` keyring that holds the TLS pre-shared keys
//! (`nvme gen-tls-key --insert`, `nvme check-tls-key --insert`), and the lookup of a key by its
//! serial number, which checks that it is still valid.

use crate::handshake::KeySerial;
use crate::sock_bindings as b;
use kernel::{bindings as kb, error::from_err_ptr, prelude::*};

/// Returns the serial number of the `.nvme` keyring, where `tlshd` looks keys up unless the
/// connection names another keyring.
pub(crate) fn default_keyring() -> KeySerial {
    // SAFETY: `nvme-keyring`, which this module depends on, creates the keyring at load and
    // keeps it until it is unloaded.
    unsafe { b::nvme_keyring_id() }
}

/// Checks that the key with serial number `serial` exists and is neither revoked nor
/// invalidated (`nvme_tls_key_lookup`, which logs why not).
///
/// # Errors
///
/// `ENOKEY` if there is no such key, `EKEYREVOKED` if it was revoked or invalidated.
pub(crate) fn check_key(serial: KeySerial) -> Result {
    // SAFETY: The lookup takes any serial number; it returns a counted key or an error pointer.
    let key = from_err_ptr(unsafe { b::nvme_tls_key_lookup(serial) })?;
    // SAFETY: `key` is the reference the lookup took, given up here.
    unsafe { kb::key_put(key) };
    Ok(())
}
