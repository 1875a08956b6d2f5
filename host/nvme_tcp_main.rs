// SPDX-License-Identifier: GPL-2.0

//! NVMe/TCP host transport (`nvme_tcp`), the Rust implementation.
//!
//! Registers the `tcp` fabrics transport with `nvme-fabrics`, with the options the C driver
//! (`drivers/nvme/host/tcp.c`) accepts, so that `nvme connect -t tcp` reaches this module.
//! A connect creates a [`ctrl`] with an admin [`queue`] and I/O queues over TCP.
//!
//! Everything that touches C is in `drivers/` (included below as modules of this crate); the
//! files of this directory are the transport's logic, without `unsafe`.

#[path = "../common/src/lib.rs"]
#[expect(unused_attributes)] // The PDU crate's `#![no_std]`, for its cargo build.
pub mod pdu;

#[path = "../drivers/bindings.rs"]
#[macro_use]
mod bindings;
#[path = "../drivers/crc32c.rs"]
mod crc32c;
#[path = "../drivers/fabrics.rs"]
mod fabrics;
#[path = "../drivers/handshake.rs"]
#[allow(dead_code)] // The server side is the target's.
mod handshake;
#[path = "../drivers/io_cpu.rs"]
mod io_cpu;
#[path = "../drivers/io_priority.rs"]
mod io_priority;
#[path = "../drivers/io_wq.rs"]
mod io_wq;
#[path = "../drivers/keyring.rs"]
mod keyring;
#[path = "../drivers/layout.rs"]
mod layout;
#[path = "../drivers/net_ns.rs"]
mod net_ns;
#[path = "../drivers/nvme_ctrl.rs"]
mod nvme_ctrl;
#[path = "../drivers/host_params.rs"]
mod params;
#[path = "../drivers/registry.rs"]
#[macro_use]
mod registry;
#[path = "../drivers/request.rs"]
mod request;
#[path = "../drivers/sk_callbacks.rs"]
mod sk_callbacks;
#[path = "../drivers/skb.rs"]
mod skb;
#[path = "../drivers/sockaddr.rs"]
#[allow(dead_code)] // Wildcards and log text are the target's.
mod sockaddr;
#[path = "../drivers/socket.rs"]
#[allow(dead_code)] // Listening and accepting are the target's.
mod socket;
#[path = "../drivers/stats.rs"]
mod stats;
#[path = "../drivers/tag_set.rs"]
mod tag_set;
#[path = "../drivers/workqueue.rs"]
mod workqueue;

mod ctrl;
mod queue;
mod recv;
mod send;
mod slots;

/// The socket functions and helpers `socket` uses.
use fabrics::bindings as sock_bindings;
use fabrics::{opt, CtrlHandle, FabricsDevice, Options};
use kernel::prelude::*;

/// The workqueues every queue's I/O work runs on (`nvme_tcp_wq`, and `nvme_tcp_wq_batch` with
/// `wq_highpri=0`).
static IO_WQ: io_wq::IoWorkqueues = io_wq::IoWorkqueues::new();

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

    fn create_ctrl(dev: &FabricsDevice, opts: &Options) -> Result<CtrlHandle> {
        ctrl::create(dev, opts)
    }
}

/// Owns [`IO_WQ`]: creates the workqueues at load, destroys them (running the I/O work still
/// queued, which finds its queue stopped) at unload, after the controllers are gone.
struct IoWq;

impl IoWq {
    fn new() -> Result<Self> {
        let (unbound, highpri) = (params::wq_unbound(), params::wq_highpri());
        IO_WQ.create(c"nvme_tcp_wq", c"nvme_tcp_wq_batch", unbound, highpri)?;
        Ok(Self)
    }
}

impl Drop for IoWq {
    fn drop(&mut self) {
        IO_WQ.destroy();
    }
}

/// The module. Fields drop in order after [`PinnedDrop::drop`] removed the controllers; the
/// workqueue exists before the transport is registered.
#[pin_data(PinnedDrop)]
struct HostModule {
    _io_wq: IoWq,
    _debugfs: stats::Root,
    #[pin]
    transport: fabrics::Registration<Tcp>,
}

impl kernel::InPlaceModule for HostModule {
    fn init(module: &'static ThisModule) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            _: {
                crc32c::self_test()?;
                nvme_ctrl::check_layout()?;
                socket::check_layout()?;
                ctrl::init()?;
            },
            _io_wq: IoWq::new()?,
            _debugfs: stats::Root::new(c"nvme_tcp")?,
            transport <- fabrics::Registration::new(module),
        })
    }
}

#[pinned_drop]
impl PinnedDrop for HostModule {
    fn drop(self: Pin<&mut Self>) {
        // Controllers hold no reference on the module: remove them before it goes.
        ctrl::delete_all();
        // Every connect waited for its handshake's callback to signal; what may remain is the
        // callback's last steps (a few instructions): waited for here, at most 5 s.
        if !handshake::wait_idle(50) {
            pr_warn!("TLS handshakes still running at unload\n");
        }
    }
}
