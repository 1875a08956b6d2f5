// SPDX-License-Identifier: GPL-2.0

//! A listening port: `add_port`/`remove_port` from configfs, and accepting connections.

use crate::net_ns::Net;
use crate::nvmet::{self, nvmet_wq, params, AddPort, AddrFamily, PortHandle};
use crate::queue::Queue;
use crate::sk_callbacks::{Callbacks, Hooks};
use crate::sockaddr::{AddrText, SockAddr};
use crate::socket::Socket;
use kernel::{
    bindings, new_mutex, new_work,
    prelude::*,
    str::BStr,
    sync::{
        atomic::{Acquire, Atomic, Release},
        Arc, ArcBorrow, Mutex,
    },
    workqueue::{impl_has_work, Work, WorkItem},
};

/// Backlog of the listening socket, and the most releasing queues a controller may have before
/// its new admin queues are refused (as `NVMET_TCP_BACKLOG` in C).
pub(crate) const BACKLOG: i32 = 128;

/// In-capsule data size of a port whose `param_inline_data_size` was left unset: 4 pages, as the
/// C transport.
pub(crate) const DEFAULT_INLINE_DATA_SIZE: u32 = 4 * kernel::page::PAGE_SIZE as u32;

/// The most data a command may carry, in one H2CData PDU or in all: `MAXH2CDATA` in our
/// ICResp, and the bound on every command's SGL length (4 MiB, as the C transport). A longer
/// command fails with Data SGL Length Invalid, and the connection goes on.
pub(crate) const MAX_DATA_LEN: u32 = 0x40_0000;

/// MDTS in Identify Controller: [`MAX_DATA_LEN`] as a power of two of 4 KiB pages (the
/// minimum memory page size of fabrics controllers), so a host does not send longer commands.
/// The C transport reports no limit (0) and fails longer commands all the same.
pub(crate) const MDTS: u8 = (MAX_DATA_LEN / 4096).trailing_zeros() as u8;
const _: () = assert!(MAX_DATA_LEN.is_power_of_two() && MAX_DATA_LEN >= 4096);

/// The listening socket and what the port's callbacks need.
struct Listener {
    sock: Socket,
    hooks: Option<Hooks<TcpPort>>,
}

/// An enabled configfs port of type `tcp`.
#[pin_data]
pub(crate) struct TcpPort {
    /// The core's port, which outlives every queue of it.
    pub(crate) nport: PortHandle,
    /// The address listened on.
    pub(crate) addr: SockAddr,
    /// In-capsule data size for I/O queues.
    pub(crate) inline_data_size: u32,
    /// Whether the port serves TLS (`addr_tsas` `tls1.3`): each connection is told a TLS
    /// ClientHello or a plain ICReq first (`addr_treq` says whether plain ones are refused).
    pub(crate) tls: bool,
    /// `None` once the port is removed.
    #[pin]
    listener: Mutex<Option<Listener>>,
    /// Set when `remove_port` starts.
    removed: Atomic<bool>,
    #[pin]
    accept_work: Work<TcpPort>,
}

impl_has_work! {
    impl HasWork<Self> for TcpPort { self.accept_work }
}

impl TcpPort {
    /// Starts listening for `nport`.
    pub(crate) fn add(nport: &AddPort<'_>) -> Result<Arc<Self>> {
        let af = match nport.family() {
            AddrFamily::Ipv4 => bindings::AF_INET,
            AddrFamily::Ipv6 => bindings::AF_INET6,
            AddrFamily::Other(f) => {
                pr_err!("address family {} not supported\n", f);
                return Err(EINVAL);
            }
        };
        // configfs accepts `tls1.3` only with the core's TLS support and a keyring, and
        // neither it nor `addr_treq` changes while the port is enabled.
        let tls = nport.wants_tls();
        // The port listens in the network namespace of the process that enables it, as in C
        // (whose `sock_create` takes the caller's); C parses the address in the initial one, we
        // in that one too, so that an IPv6 scope names one of its interfaces. The listening
        // socket holds the namespace, and so does each connection it accepts.
        let net = Net::current().ok_or_else(|| {
            pr_err!("port {}: the task has no network namespace\n", nport.id());
            EINVAL
        })?;
        let addr =
            SockAddr::parse(&net, af, nport.traddr(), nport.trsvcid()).inspect_err(|_| {
                pr_err!(
                    "malformed ip/port passed: {}:{}\n",
                    BStr::from_bytes(nport.traddr()),
                    BStr::from_bytes(nport.trsvcid())
                );
            })?;
        let inline_data_size = match nport.inline_data_size() {
            -1 => {
                nport.set_inline_data_size(DEFAULT_INLINE_DATA_SIZE);
                DEFAULT_INLINE_DATA_SIZE
            }
            size => match u32::try_from(size) {
                Ok(size) if size <= MAX_DATA_LEN => size,
                _ => {
                    pr_err!(
                        "port {}: param_inline_data_size {} is not in 0..={} (-1 for the default)\n",
                        nport.id(),
                        size,
                        MAX_DATA_LEN
                    );
                    return Err(EINVAL);
                }
            },
        };
        let priority = params::so_priority();
        let sock = Socket::listen(&net, &addr, BACKLOG, priority).inspect_err(|e| {
            pr_err!(
                "port {}: failed to listen on {}: {:?}\n",
                nport.id(),
                AddrText::new(&addr),
                e
            );
        })?;
        let nport = nport.handle();
        let port = Arc::pin_init(
            pin_init!(Self {
                nport,
                addr,
                inline_data_size,
                tls,
                listener <- new_mutex!(Some(Listener { sock, hooks: None })),
                removed: Atomic::new(false),
                accept_work <- new_work!("TcpPort::accept_work"),
            }),
            GFP_KERNEL,
        )?;
        {
            let mut l = port.listener.lock();
            if let Some(l) = &mut *l {
                l.hooks = Some(l.sock.install(port.clone(), true).inspect_err(|e| {
                    pr_err!(
                        "port {}: callbacks not installed: {:?}\n",
                        port.nport().id(),
                        e
                    );
                })?);
            }
        }
        pr_info!(
            "enabling port {} ({})\n",
            port.nport().id(),
            AddrText::new(&port.addr)
        );
        Ok(port)
    }

    /// Stops listening and closes every queue that came in through this port.
    pub(crate) fn remove(self: &Arc<Self>) {
        self.removed.store(true, Release);
        // Closing the listener under its lock waits for a running accept and makes later ones
        // return at once.
        let listener = self.listener.lock().take();
        if let Some(mut l) = listener {
            if let Some(hooks) = l.hooks.take() {
                drop(hooks.restore(&l.sock));
            }
            drop(l);
        }
        crate::queues::shutdown_where(|q| Arc::ptr_eq(q.port(), self));
        pr_info!("disabling port {}\n", self.nport().id());
    }

    /// Returns the core's port, for the requests of its queues.
    pub(crate) fn nport(&self) -> &nvmet::Port {
        self.nport.get()
    }

    /// Accepts every pending connection.
    ///
    /// Queues are started after the listener's lock is dropped: starting one takes the
    /// registry's lock, and a queue's `io` lock is held while the core takes
    /// `nvmet_config_sem`, under which `add_port`/`remove_port` take the listener's lock.
    fn accept_all(self: &Arc<Self>) {
        loop {
            let accepted = {
                let listener = self.listener.lock();
                let Some(l) = listener.as_ref() else {
                    return;
                };
                let accepted = l.sock.accept();
                // A TLS connection may go to the handshake agent, which must be woken as by
                // any socket: it stops being a copy of the listener.
                if let (true, Ok(Some(sock)), Some(hooks)) = (self.tls, &accepted, &l.hooks) {
                    hooks.reset_accepted(sock);
                }
                accepted
            };
            let sock = match accepted {
                Ok(Some(sock)) => sock,
                Ok(None) => return,
                Err(e) => {
                    pr_warn!("failed to accept err={:?}\n", e);
                    return;
                }
            };
            match Queue::start(self.clone(), sock) {
                // `remove` may have looked for this port's queues before this one was
                // registered: close it here then.
                Ok(q) if self.removed.load(Acquire) => q.shutdown(),
                Ok(_) => {}
                Err(e) => pr_err!("failed to allocate queue, error {:?}\n", e),
            }
        }
    }
}

impl WorkItem for TcpPort {
    type Pointer = Arc<TcpPort>;

    fn run(this: Arc<TcpPort>) {
        this.accept_all();
    }
}

impl Callbacks for TcpPort {
    const LISTENS: bool = true;

    fn data_ready(this: ArcBorrow<'_, Self>, listening: bool) {
        if listening {
            // Already queued: that run accepts this connection too.
            let _ = nvmet_wq().enqueue(Arc::from(this));
        }
    }

    fn write_space(_this: ArcBorrow<'_, Self>) {}

    fn closing(_this: ArcBorrow<'_, Self>) {}
}
