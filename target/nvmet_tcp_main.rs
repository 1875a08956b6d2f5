// SPDX-License-Identifier: GPL-2.0

//! NVMe/TCP target transport (`nvmet_tcp`), the Rust implementation.
//!
//! Registers the TCP transport (`NVMF_TRTYPE_TCP`) with the `nvmet` core: a configfs port with
//! `addr_trtype=tcp` listens ([`port`]), each connection is a [`queue`] whose commands the core
//! executes.
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
#[path = "../drivers/handshake.rs"]
#[allow(dead_code)] // The client side is the host's.
mod handshake;
#[path = "../drivers/io_priority.rs"]
mod io_priority;
#[path = "../drivers/io_wq.rs"]
#[expect(dead_code)] // Whether the module batches is the host's question (its direct sends).
mod io_wq;
#[path = "../drivers/keyring.rs"]
#[allow(dead_code)] // The default keyring is the host's: a port names its own.
mod keyring;
#[path = "../drivers/layout.rs"]
mod layout;
#[path = "../drivers/net_ns.rs"]
mod net_ns;
#[path = "../drivers/nvmet.rs"]
mod nvmet;
#[path = "../drivers/nvmet_sq.rs"]
#[macro_use]
mod nvmet_sq;
#[path = "../drivers/registry.rs"]
#[macro_use]
mod registry;
#[path = "../drivers/sgl.rs"]
mod sgl;
#[path = "../drivers/sk_callbacks.rs"]
mod sk_callbacks;
#[path = "../drivers/skb.rs"]
mod skb;
#[path = "../drivers/sockaddr.rs"]
mod sockaddr;
#[path = "../drivers/socket.rs"]
#[allow(dead_code)] // Connecting is the host's.
mod socket;
#[path = "../drivers/splice.rs"]
mod splice;
#[path = "../drivers/stats.rs"]
mod stats;
#[path = "../drivers/tls_record.rs"]
mod tls_record;
#[path = "../drivers/workqueue.rs"]
#[expect(dead_code)] // Flushing is the host's.
mod workqueue;

mod port;
mod queue;
mod queues;
mod recv;
mod send;
mod slots;

use kernel::{prelude::*, sync::Arc, sync::ArcBorrow};
/// The socket functions and helpers `socket` uses.
use nvmet::bindings as sock_bindings;
use nvmet::{AddPort, CtrlId, Port, TRADDR_SIZE};
use port::TcpPort;
use queue::Queue;

module! {
    type: TargetModule,
    name: "nvmet_tcp",
    authors: ["The nvme-tcp-rs developers"],
    description: "NVMe target TCP transport driver (Rust implementation)",
    license: "GPL v2",
    // 3 == NVMF_TRTYPE_TCP: the core asks for `nvmet-transport-3` when a TCP port is enabled.
    alias: ["nvmet-transport-3"],
}

/// The transport's callback table.
static OPS: nvmet::OpsTable<Tcp> =
    nvmet::OpsTable::new(kernel::module::this_module::<TargetModule>());

/// The workqueues every queue's `io_work` runs on (`nvmet_tcp_wq`, and `nvmet_tcp_wq_batch`
/// with `wq_highpri=0`).
static IO_WQ: io_wq::IoWorkqueues = io_wq::IoWorkqueues::new();

/// The TCP target transport.
struct Tcp;

impl nvmet::Transport for Tcp {
    type Port = TcpPort;
    type Queue = Queue;

    const MDTS: u8 = port::MDTS;

    fn add_port(port: &AddPort<'_>) -> Result<Arc<TcpPort>> {
        TcpPort::add(port)
    }

    fn remove_port(_port: &Port, data: Arc<TcpPort>) {
        data.remove();
    }

    fn queue_response(queue: ArcBorrow<'_, Queue>) {
        Queue::queue_response(queue);
    }

    fn install_queue(queue: ArcBorrow<'_, Queue>) -> u16 {
        Queue::install(queue)
    }

    fn delete_ctrl(ctrl: CtrlId) {
        queues::shutdown_where(|q| q.is_of_ctrl(ctrl));
    }

    fn disc_traddr(queue: &Queue, _port: &TcpPort, traddr: &mut [u8; TRADDR_SIZE]) {
        queue.disc_traddr(traddr);
    }

    fn host_traddr(queue: &Queue, buf: &mut [u8]) -> Result<usize> {
        queue.host_traddr(buf)
    }
}

/// Owns [`IO_WQ`]: creates the workqueues at load, destroys them at unload, after every queue
/// is released (running the `io_work` still queued, which finds its queue released, and freeing
/// it).
struct IoWq;

impl IoWq {
    fn new() -> Result<Self> {
        let highpri = nvmet::params::wq_highpri();
        IO_WQ.create(c"nvmet_tcp_wq", c"nvmet_tcp_wq_batch", false, highpri)?;
        Ok(Self)
    }
}

impl Drop for IoWq {
    fn drop(&mut self) {
        IO_WQ.destroy();
    }
}

/// How many times module unload waits 100 ms for the last TLS handshakes to end.
const UNLOAD_WAITS: u32 = 100;

/// The module. Fields drop in order after [`PinnedDrop::drop`] closed the queues: the
/// transport is unregistered, then the workqueue goes.
#[pin_data(PinnedDrop)]
struct TargetModule {
    transport: nvmet::Registration<Tcp>,
    _io_wq: IoWq,
    _debugfs: stats::Root,
}

impl kernel::InPlaceModule for TargetModule {
    fn init(_module: &'static ThisModule) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            _: {
                crc32c::self_test()?;
                queues::init()?;
            },
            _debugfs: stats::Root::new(c"nvmet_tcp")?,
            _io_wq: IoWq::new()?,
            transport: nvmet::Registration::new(&OPS)?,
        })
    }
}

#[pinned_drop]
impl PinnedDrop for TargetModule {
    fn drop(self: Pin<&mut Self>) {
        // No port is enabled (each holds a reference on the module), but queues of removed
        // ports may still be connected or releasing: close them and wait for their release.
        nvmet::flush_nvmet_wq();
        queues::shutdown_where(|_| true);
        nvmet::flush_nvmet_wq();
        // A TLS handshake whose cancel lost runs its callback in the agent's context, which
        // may queue a release after the flush: waited for (a few seconds at most, the
        // shutdown made the agent fail), and the release it queued with it.
        if !handshake::wait_idle(UNLOAD_WAITS) {
            pr_warn!("TLS handshakes still running at unload\n");
        }
        nvmet::flush_nvmet_wq();
        if !queues::is_empty() {
            pr_warn!("queues left at unload\n");
        }
    }
}
