// SPDX-License-Identifier: GPL-2.0

//! NVMe/TCP host transport (`nvme_tcp`), the Rust implementation.
//!
//! Registers the `tcp` fabrics transport with `nvme-fabrics`, with the options the C driver
//! (`drivers/nvme/host/tcp.c`) accepts, so that `nvme connect -t tcp` reaches this module.

#[path = "../common/src/lib.rs"]
#[expect(unused_attributes)] // The PDU crate's `#![no_std]`, for its cargo build.
pub mod pdu;

#[path = "../drivers/crc32c.rs"]
mod crc32c;
#[path = "../drivers/fabrics.rs"]
mod fabrics;
#[path = "../drivers/layout.rs"]
mod layout;

use fabrics::{opt, CtrlHandle, Options};
use kernel::{prelude::*, str::BStr};

module! {
    type: HostModule,
    name: "nvme_tcp",
    authors: ["The nvme-tcp-rs developers"],
    description: "NVMe host TCP transport driver (Rust implementation)",
    license: "GPL v2",
    alias: ["nvme-tcp"],
}

/// The `tcp` fabrics transport.
struct Tcp;

impl fabrics::Transport for Tcp {
    const NAME: &'static CStr = c"tcp";
    const REQUIRED_OPTS: u32 = opt::TRADDR;
    const ALLOWED_OPTS: u32 = opt::TRSVCID
        | opt::RECONNECT_DELAY
        | opt::HOST_TRADDR
        | opt::CTRL_LOSS_TMO
        | opt::HDR_DIGEST
        | opt::DATA_DIGEST
        | opt::NR_WRITE_QUEUES
        | opt::NR_POLL_QUEUES
        | opt::TOS
        | opt::HOST_IFACE
        | opt::TLS
        | opt::KEYRING
        | opt::TLS_KEY
        | opt::CONCAT;

    fn create_ctrl(opts: &Options) -> Result<CtrlHandle> {
        pr_err!(
            "connect to {}:{} ({}): controllers are not implemented yet\n",
            BStr::from_bytes(opts.traddr().unwrap_or(c"?").to_bytes()),
            BStr::from_bytes(opts.trsvcid().unwrap_or(c"4420").to_bytes()),
            BStr::from_bytes(opts.subsysnqn().unwrap_or(c"?").to_bytes()),
        );
        Err(EOPNOTSUPP)
    }
}

#[pin_data]
struct HostModule {
    #[pin]
    transport: fabrics::Registration<Tcp>,
}

impl kernel::InPlaceModule for HostModule {
    fn init(module: &'static ThisModule) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            _: {
                crc32c::self_test()?;
            },
            transport <- fabrics::Registration::new(module),
        })
    }
}
