// SPDX-License-Identifier: GPL-2.0

//! NVMe/TCP target transport (`nvmet_tcp`), the Rust implementation.
//!
//! Registers the TCP transport (`NVMF_TRTYPE_TCP`) with the `nvmet` core, so that a configfs
//! port with `addr_trtype=tcp` reaches this module.

#[path = "../common/src/lib.rs"]
#[expect(unused_attributes)] // The PDU crate's `#![no_std]`, for its cargo build.
pub mod pdu;

#[path = "../drivers/crc32c.rs"]
mod crc32c;
#[path = "../drivers/layout.rs"]
mod layout;
#[path = "../drivers/nvmet.rs"]
mod nvmet;

use kernel::{prelude::*, str::BStr};
use nvmet::Port;

module! {
    type: TargetModule,
    name: "nvmet_tcp",
    authors: ["The nvme-tcp-rs developers"],
    description: "NVMe target TCP transport driver (Rust implementation)",
    license: "GPL v2",
    // 3 == NVMF_TRTYPE_TCP: the core asks for `nvmet-transport-3` when a TCP port is enabled.
    alias: ["nvmet-transport-3"],
}

/// The TCP target transport.
struct Tcp;

impl nvmet::Transport for Tcp {
    fn add_port(port: &Port) -> Result {
        pr_err!(
            "port {}:{}: listening is not implemented yet\n",
            BStr::from_bytes(port.traddr()),
            BStr::from_bytes(port.trsvcid()),
        );
        Err(EOPNOTSUPP)
    }

    fn remove_port(_port: &Port) {
        // `add_port` accepts no port yet, so there is nothing to stop.
    }
}

#[pin_data]
struct TargetModule {
    #[pin]
    transport: nvmet::Registration<Tcp>,
}

impl kernel::InPlaceModule for TargetModule {
    fn init(module: &'static ThisModule) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            _: {
                crc32c::self_test()?;
            },
            transport <- nvmet::Registration::new(module),
        })
    }
}
