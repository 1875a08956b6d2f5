// SPDX-License-Identifier: GPL-2.0

//! NVMe/TCP target transport (`nvmet_tcp`), the Rust implementation.
//!
//! Registers the TCP transport (`NVMF_TRTYPE_TCP`) with the `nvmet` core: a configfs port with
//! `addr_trtype=tcp` listens ([`port`]), each connection is a [`queue`] whose commands the core
//! executes.

#[path = "../common/src/lib.rs"]
#[expect(unused_attributes)] // The PDU crate's `#![no_std]`, for its cargo build.
pub mod pdu;

#[path = "../drivers/crc32c.rs"]
mod crc32c;
#[path = "../drivers/io_wq.rs"]
mod io_wq;
#[path = "../drivers/layout.rs"]
mod layout;
#[path = "../drivers/nvmet.rs"]
mod nvmet;
#[path = "../drivers/sgl.rs"]
mod sgl;
#[path = "../drivers/socket.rs"]
mod socket;
#[path = "../drivers/workqueue.rs"]
mod workqueue;

mod port;
mod queue;
mod registry;

use kernel::{prelude::*, sync::Arc, sync::ArcBorrow};
/// The socket functions and helpers `socket` uses.
use nvmet::bindings as sock_bindings;
use nvmet::{CtrlId, Port, Request, Sq, TRADDR_SIZE};
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

/// The transport's callback table, registered at load.
static OPS: nvmet::OpsTable<Tcp> = nvmet::OpsTable::new();

/// The workqueue every queue's `io_work` runs on.
static IO_WQ: io_wq::ModuleQueue = io_wq::ModuleQueue::new();

use nvmet::params::{idle_poll_usecs, ratelimit, so_priority};

/// The TCP target transport.
struct Tcp;

impl nvmet::Transport for Tcp {
    type Port = TcpPort;
    type Queue = Queue;

    fn add_port(port: &Port) -> Result<Arc<TcpPort>> {
        TcpPort::add(port)
    }

    fn remove_port(_port: &Port, data: Arc<TcpPort>) {
        data.remove();
    }

    fn queue_response(queue: ArcBorrow<'_, Queue>, req: &Request<Queue>) {
        Queue::queue_response(queue, req);
    }

    fn install_queue(queue: ArcBorrow<'_, Queue>, sq: &Sq<Queue>) -> u16 {
        Queue::install(queue, sq)
    }

    fn delete_ctrl(ctrl: CtrlId) {
        registry::shutdown_where(|q| q.is_of_ctrl(ctrl));
    }

    fn disc_traddr(queue: &Queue, _port: &TcpPort, traddr: &mut [u8; TRADDR_SIZE]) {
        queue.disc_traddr(traddr);
    }

    fn host_traddr(queue: &Queue, buf: &mut [u8]) -> Result<usize> {
        queue.host_traddr(buf)
    }
}

struct TargetModule {
    _transport: nvmet::Registration<Tcp>,
}

impl kernel::Module for TargetModule {
    fn init(module: &'static ThisModule) -> Result<Self> {
        crc32c::self_test()?;
        registry::init();
        IO_WQ.create(c"nvmet_tcp_wq", false)?;
        match nvmet::Registration::new(&OPS, module) {
            Ok(r) => Ok(Self { _transport: r }),
            Err(e) => {
                IO_WQ.destroy();
                Err(e)
            }
        }
    }
}

impl Drop for TargetModule {
    fn drop(&mut self) {
        // No port is enabled (each holds a reference on the module), but queues of removed
        // ports may still be connected or releasing: close them and wait for their release.
        workqueue::flush_nvmet_wq();
        registry::shutdown_where(|_| true);
        workqueue::flush_nvmet_wq();
        // Runs the `io_work` still queued (it finds its queue released) and frees the queue.
        IO_WQ.destroy();
        if !registry::is_empty() {
            pr_warn!("queues left at unload\n");
        }
    }
}
