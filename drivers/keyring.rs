// SPDX-License-Identifier: GPL-2.0

//! The NVMe keyring (`nvme-keyring`): the `.nvme` keyring that holds the TLS pre-shared keys
//! (`nvme gen-tls-key --insert`, `nvme check-tls-key --insert`), and the lookup of a key by its
//! serial number, which checks that it is still valid ([`Key`]).

use crate::sock_bindings as b;
use core::ptr::NonNull;
use kernel::{bindings as kb, error::from_err_ptr, prelude::*};

/// A key's serial number (`key_serial_t`), by which the handshake upcall and the keyrings name
/// keys; 0 names none.
pub(crate) type KeySerial = kb::key_serial_t;

/// Returns the serial number of the `.nvme` keyring, where `tlshd` looks keys up unless the
/// connection names another keyring.
pub(crate) fn default_keyring() -> KeySerial {
    // SAFETY: `nvme-keyring`, which this module depends on, creates the keyring at load and
    // keeps it until it is unloaded.
    unsafe { b::nvme_keyring_id() }
}

/// A counted reference to a key (`struct key`); put when dropped.
///
/// # Invariants
///
/// `key` is a valid key of which this value owns a reference.
pub(crate) struct Key {
    key: NonNull<kb::key>,
}

// SAFETY: A key reference may be used and put from any thread.
unsafe impl Send for Key {}
// SAFETY: Shared references only read the key's serial, fixed for its life.
unsafe impl Sync for Key {}

impl Key {
    /// Looks up the TLS PSK with serial number `serial` (`nvme_tls_key_lookup`, as the C
    /// transports: found, and neither revoked nor invalidated; the lookup logs why not).
    ///
    /// # Errors
    ///
    /// `ENOKEY` if there is no such key, `EKEYREVOKED` if it was revoked or invalidated.
    pub(crate) fn tls_psk(serial: KeySerial) -> Result<Self> {
        // SAFETY: The lookup takes any serial number; it returns a counted key or an error
        // pointer.
        let key = from_err_ptr(unsafe { b::nvme_tls_key_lookup(serial) })?;
        // INVARIANT: The lookup returned a reference to a valid key.
        Ok(Self {
            key: NonNull::new(key).ok_or(ENOKEY)?,
        })
    }

    /// Returns the key's serial number.
    #[allow(dead_code)] // The target's: the host knows the serial it looked up.
    pub(crate) fn serial(&self) -> KeySerial {
        // SAFETY: The key is valid (type invariant); its serial is set when it is made.
        unsafe { (*self.key.as_ptr()).serial }
    }

    /// Gives the reference up, to a C structure that will put it.
    #[allow(dead_code)] // The target's: the host keeps serials.
    pub(crate) fn into_raw(self) -> *mut kb::key {
        let key = self.key.as_ptr();
        core::mem::forget(self);
        key
    }

    /// Takes a reference back from a C structure.
    ///
    /// # Safety
    ///
    /// `key` must be a valid key whose reference the caller owns and gives to the new value.
    #[allow(dead_code)] // The target's: the host keeps serials.
    pub(crate) unsafe fn from_raw(key: NonNull<kb::key>) -> Self {
        // INVARIANT: As the caller guarantees.
        Self { key }
    }
}

impl Drop for Key {
    fn drop(&mut self) {
        // SAFETY: The reference this value owns (type invariant), put once.
        unsafe { kb::key_put(self.key.as_ptr()) };
    }
}
