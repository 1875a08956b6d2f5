// SPDX-License-Identifier: GPL-2.0

//! A target queue's submission queue ([`Sq`]: the core's `struct nvmet_sq` and its completion
//! queue) and its requests (`struct nvmet_req`), with the commands' life as typestates: a
//! request is [`FreeReq`], then [`Parsed`] (`nvmet_req_init` accepted it), then [`Executing`]
//! (the core holds it: executed, or completed with an error), then [`Responded`] (the core
//! called `queue_response`: its CQE and data are the transport's again), then free again. Each
//! step consumes the token of the one before, so no command is executed, completed or freed
//! twice, and the buffer the core reads a command's data from is owned by the token until the
//! core is done with it.

use crate::keyring::Key;
use crate::nvmet::{bindings, PortHandle};
use crate::sgl::DataBuffer;
use crate::socket::{Io, Socket};
use crate::splice::Splice;
use core::{ffi::c_void, marker::PhantomData, mem::ManuallyDrop, ptr::NonNull};
use kernel::{
    alloc::KVBox,
    error::to_result,
    prelude::*,
    sync::{
        atomic::{Acquire, Atomic, Relaxed, Release},
        Arc, ArcBorrow, SetOnce,
    },
    types::Opaque,
};

/// An SQE as sent by the host.
pub(crate) type Sqe = [u8; 64];

/// The index of the request that exists before Connect installs the queue.
pub(crate) const CONNECT: u16 = u16::MAX;

/// End of the list of responded requests.
const NO_LINK: u32 = u32::MAX;

/// Declares that a type contains an [`Sq`] of itself (use [`impl_has_sq!`]).
///
/// # Safety
///
/// `OFFSET` must be the offset of a field of type `Sq<Self>` in `Self`.
pub(crate) unsafe trait HasSq: Sized + Send + Sync {
    /// The offset of the [`Sq`] field.
    const OFFSET: usize;
}

/// Implements [`HasSq`] for a type with an [`Sq`] field:
/// `impl_has_sq! { impl HasSq for Queue { self.sq } }`.
#[macro_export]
macro_rules! impl_has_sq {
    (impl HasSq for $t:ty { self.$field:ident }) => {
        // SAFETY: The offset is that of the field, whose type the function below checks.
        unsafe impl $crate::nvmet_sq::HasSq for $t {
            const OFFSET: usize = {
                // The field must be an `Sq<Self>`.
                fn _check(q: &$t) -> &$crate::nvmet_sq::Sq<$t> {
                    &q.$field
                }
                ::core::mem::offset_of!($t, $field)
            };
        }
    };
}

/// A request (`struct nvmet_req`) with its SQE and CQE, owned by an [`Sq`].
///
/// # Invariants
///
/// `req.cmd` points to `cmd`, `req.cqe` to `cqe` and `req.port` to the port of `sq`, which owns
/// this request (as a field, or in its array of requests).
#[repr(C)]
#[pin_data]
struct Request<Q> {
    #[pin]
    req: Opaque<bindings::nvmet_req>,
    #[pin]
    cmd: Opaque<bindings::nvme_command>,
    #[pin]
    cqe: Opaque<bindings::nvme_completion>,
    sq: *const Sq<Q>,
    index: u16,
    /// The next request on the list of responded requests (an index, or `NO_LINK`).
    link: Atomic<u32>,
    /// The core called `queue_response` for the command in the request and has not had it
    /// since.
    responded: Atomic<bool>,
}

// SAFETY: Requests are handed between the transport's work and the core's completion context;
// the C structs are written only by whoever the typestates say owns the command.
unsafe impl<Q: Sync> Send for Request<Q> {}
// SAFETY: Shared references read the request's fixed fields and atomics; the C structs are
// accessed only by whoever the typestates say owns the command.
unsafe impl<Q: Sync> Sync for Request<Q> {}

impl<Q> Request<Q> {
    /// Returns request `index` of the `Sq` at `sq`, on `port`.
    fn new(
        sq: *const Sq<Q>,
        index: u16,
        port: *mut bindings::nvmet_port,
    ) -> impl PinInit<Self, Error> {
        try_pin_init!(&this in Self {
            cmd: Opaque::zeroed(),
            cqe: Opaque::zeroed(),
            req <- Opaque::ffi_init(move |req: *mut bindings::nvmet_req| {
                let this = this.as_ptr();
                // SAFETY: `req` is valid for writes; all-zero is a valid `nvmet_req`. `cmd` and
                // `cqe` are fields of the same pinned struct, so the pointers stay valid as
                // long as the request.
                unsafe {
                    req.write(core::mem::zeroed());
                    (*req).cmd = Opaque::cast_into(&raw const (*this).cmd);
                    (*req).cqe = Opaque::cast_into(&raw const (*this).cqe);
                    (*req).port = port;
                }
            }),
            sq,
            index,
            link: Atomic::new(NO_LINK),
            responded: Atomic::new(false),
        }? Error)
    }

    fn raw(&self) -> *mut bindings::nvmet_req {
        self.req.get()
    }

    /// Attaches `buf` as the command's data (`req->sg`), or detaches it.
    ///
    /// # Safety
    ///
    /// The core must not hold the request, and an attached buffer must outlive its attachment.
    unsafe fn set_data(&self, buf: Option<&DataBuffer>) {
        let (sg, cnt, len) = match buf {
            Some(b) => (b.as_raw(), b.nents(), b.len()),
            None => (core::ptr::null_mut(), 0, 0),
        };
        // SAFETY: The core does not hold the request (the caller guarantees it).
        unsafe {
            (*self.raw()).sg = sg;
            (*self.raw()).sg_cnt = i32::try_from(cnt).unwrap_or(i32::MAX);
            (*self.raw()).transfer_len = len as usize;
        }
    }
}

/// Which request a token is for: the `Request` at `req` of the `Sq` at `sq`.
///
/// # Invariants
///
/// `req` points to a request that the `Sq` at `sq` owns, alive as long as that `Sq`.
struct Token {
    sq: usize,
    req: core::ptr::NonNull<c_void>,
}

// SAFETY: A token is an address and a name; it is dereferenced only through its `Sq` (`Sq::req`),
// which is `Sync`.
unsafe impl Send for Token {}
// SAFETY: Shared references to a token give nothing but its fields to compare.
unsafe impl Sync for Token {}

/// A request the core does not hold; a new command can use it.
pub(crate) struct FreeReq(Token);

/// A command `nvmet_req_init` accepted: the core waits for it to be executed, completed with an
/// error or dropped. It owns the buffer for the command's data, if one is attached.
pub(crate) struct Parsed {
    t: Token,
    buf: Option<DataBuffer>,
}

/// A command the core holds (executed, or completed with an error), until its response. The
/// core may read its data buffer meanwhile: dropping the token leaks the buffer rather than
/// free it under the core.
pub(crate) struct Executing {
    t: Token,
    buf: ManuallyDrop<Option<DataBuffer>>,
}

/// A command the core has answered: its CQE and its data buffer are the transport's again.
pub(crate) struct Responded {
    t: Token,
    buf: Option<DataBuffer>,
}

impl Parsed {
    /// Returns the command's data buffer, to fill.
    pub(crate) fn buf_mut(&mut self) -> Option<&mut DataBuffer> {
        self.buf.as_mut()
    }
}

impl Executing {
    /// The core is done with the command: its buffer is the caller's again.
    fn into_parts(self) -> (Token, Option<DataBuffer>) {
        let mut this = ManuallyDrop::new(self);
        // SAFETY: `this` is not used or dropped again; its fields are moved out once each.
        unsafe { (core::ptr::read(&this.t), ManuallyDrop::take(&mut this.buf)) }
    }
}

impl Drop for Executing {
    fn drop(&mut self) {
        // SAFETY: Not used again (dropped).
        if let Some(buf) = unsafe { ManuallyDrop::take(&mut self.buf) } {
            pr_warn!("a command's buffer leaked: its request was dropped while the core held it\n");
            core::mem::forget(buf);
        }
    }
}

impl Responded {
    /// Returns the command's data buffer, to read (a read's data).
    pub(crate) fn buf(&self) -> Option<&DataBuffer> {
        self.buf.as_ref()
    }

    /// Adds `offset..offset + len` of the command's data (clamped to it) to `s`, page by page
    /// while they fit; returns how many bytes were added (none without a buffer).
    pub(crate) fn splice_data<'a>(&'a self, offset: u32, len: u32, s: &mut Splice<'a>) -> u32 {
        let Some(buf) = self.buf.as_ref() else {
            return 0;
        };
        // SAFETY: Nothing writes a responded command's buffer again: the core is done with it,
        // this token hands out no `&mut` to it, and `Sq::finish` consumes the token to free it
        // (the stack's page references keep the pages past that).
        unsafe { buf.splice(offset, len, s) }
    }

    /// Sends `offset..offset + len` of the command's data zero-copy, as
    /// [`Responded::splice_data`] adds it; `more` as [`Splice::send`].
    pub(crate) fn send_data(&self, sock: &Socket, offset: u32, len: u32, more: bool) -> Io {
        let mut s = Splice::new();
        let n = self.splice_data(offset, len, &mut s);
        let end = offset
            .saturating_add(len)
            .min(self.buf.as_ref().map_or(0, |b| b.len()));
        if s.len() == 0 {
            return Err(EINVAL);
        }
        s.send(sock, more || offset.saturating_add(n) < end)
    }
}

/// A submission queue of the core (`struct nvmet_sq`), its completion queue and its requests,
/// in a transport queue `Q`.
///
/// # Invariants
///
/// `sq` and `cq` are initialised (`nvmet_sq_init`) until `destroyed` is set. `owner` is null
/// or points to the `Q` inside an [`Arc`] that contains this `Sq` ([`Sq::activate`]). Tokens
/// are handed out once per request: `handed` says which.
#[repr(C)]
#[pin_data(PinnedDrop)]
pub(crate) struct Sq<Q> {
    #[pin]
    sq: Opaque<bindings::nvmet_sq>,
    #[pin]
    cq: Opaque<bindings::nvmet_cq>,
    #[pin]
    connect: Request<Q>,
    requests: SetOnce<Pin<KVBox<[Request<Q>]>>>,
    port: PortHandle,
    owner: Atomic<*const Q>,
    /// Head of the lock-free list of responded requests (their indices), or `NO_LINK`.
    done: Atomic<u32>,
    handed: Atomic<u32>,
    destroyed: Atomic<bool>,
    /// Where `sq->tls_key` is: `TLS_NONE`, `TLS_SETTING`, `TLS_SET` or `TLS_CLOSED`.
    tls: Atomic<u32>,
    _owner: PhantomData<Q>,
}

const HANDED_CONNECT: u32 = 1;
const HANDED_REQUESTS: u32 = 2;

/// No TLS key, and one may be set ([`Sq::set_tls_key`]).
const TLS_NONE: u32 = 0;
/// [`Sq::set_tls_key`] is storing a key.
const TLS_SETTING: u32 = 1;
/// A key is stored, to be put by the teardown.
const TLS_SET: u32 = 2;
/// Torn down: no key may be set.
const TLS_CLOSED: u32 = 3;

// SAFETY: The core's sq is used from any thread; `owner` is only turned into a shared reference.
unsafe impl<Q: Sync> Send for Sq<Q> {}
// SAFETY: Shared references use the core's sq through its own calls (which lock), read fields
// it writes once, and atomics; `owner` is only turned into a shared reference.
unsafe impl<Q: Sync> Sync for Sq<Q> {}

impl<Q: HasSq> Sq<Q> {
    /// Initialises the queue pair for a new connection on `port`.
    pub(crate) fn new(port: &PortHandle) -> impl PinInit<Self, Error> {
        let port = port.clone();
        let nport = port.get().as_raw();
        try_pin_init!(&this in Self {
            cq <- Opaque::ffi_init(|cq: *mut bindings::nvmet_cq| {
                // SAFETY: `cq` is valid for writes and pinned; the core expects a zeroed struct
                // (C transports allocate theirs with `kzalloc`).
                unsafe {
                    cq.write(core::mem::zeroed());
                    bindings::nvmet_cq_init(cq);
                }
            }),
            sq <- Opaque::try_ffi_init(move |sq: *mut bindings::nvmet_sq| {
                // SAFETY: `sq` is valid for writes and pinned; fields `nvmet_sq_init` does not
                // set (`tls_key`, the authentication state) must read as zero.
                unsafe { sq.write(core::mem::zeroed()) };
                // SAFETY: `this` is the struct being initialised; `cq` was initialised above.
                let cq = unsafe { Opaque::cast_into(&raw const (*this.as_ptr()).cq) };
                // SAFETY: `sq` is valid for writes and pinned; `cq` is initialised.
                let ret = to_result(unsafe { bindings::nvmet_sq_init(sq, cq) });
                if ret.is_err() {
                    // SAFETY: `cq` was initialised by `nvmet_cq_init` and nothing else uses it.
                    unsafe { bindings::nvmet_cq_put(cq) };
                }
                ret
            }),
            connect <- Request::new(this.as_ptr(), CONNECT, nport),
            requests: SetOnce::new(),
            port,
            owner: Atomic::new(core::ptr::null()),
            done: Atomic::new(NO_LINK),
            handed: Atomic::new(0),
            destroyed: Atomic::new(false),
            tls: Atomic::new(TLS_NONE),
            _owner: PhantomData,
        }? Error)
    }

    /// Records the queue `owner`, which contains this `Sq`, so that the core's callbacks for its
    /// requests reach it. Does nothing if `owner` is another queue.
    pub(crate) fn activate(&self, owner: &Arc<Q>) {
        let q = Arc::as_ptr(owner);
        // SAFETY: `q` points to a valid `Q`; `HasSq::OFFSET` is the offset of its `Sq` field.
        let sq = unsafe { q.byte_add(Q::OFFSET).cast::<Sq<Q>>() };
        if core::ptr::eq(sq, self) {
            // INVARIANT: `q` is inside an `Arc` and contains this `Sq`.
            self.owner.store(q, Release);
        }
    }

    fn raw(&self) -> *mut bindings::nvmet_sq {
        self.sq.get()
    }

    /// Returns the queue id the Connect asked for.
    pub(crate) fn qid(&self) -> u16 {
        // SAFETY: `sq` is initialised (type invariant); `qid` is set by Connect, before the
        // transport's `install_queue`, read as C does.
        unsafe { core::ptr::read_volatile(&raw const (*self.raw()).qid) }
    }

    /// Returns the queue's size (entries), set by Connect.
    pub(crate) fn size(&self) -> u16 {
        // SAFETY: `sq` is initialised (type invariant); `size` is set by Connect, before the
        // transport's `install_queue`, read as C does.
        unsafe { core::ptr::read_volatile(&raw const (*self.raw()).size) }
    }

    /// Returns whether the host disabled SQ flow control (C2HData may then carry SUCCESS).
    pub(crate) fn sqhd_disabled(&self) -> bool {
        // SAFETY: `sq` is initialised (type invariant); the flag is set by Connect and read
        // once, as C does.
        unsafe { core::ptr::read_volatile(&raw const (*self.raw()).sqhd_disabled) }
    }

    /// Returns the controller the queue belongs to, if Connect succeeded.
    pub(crate) fn ctrl(&self) -> Option<crate::nvmet::CtrlId> {
        // SAFETY: `ctrl` is written once by Connect; a racy read of a pointer only ever compared
        // is what the C transport does too (`READ_ONCE`).
        let ctrl = unsafe { core::ptr::read_volatile(&raw const (*self.raw()).ctrl) };
        crate::nvmet::CtrlId::of(ctrl)
    }

    /// Tears the queue pair down: waits until the core has completed every command it holds.
    ///
    /// Idempotent; also done when the `Sq` is dropped.
    pub(crate) fn destroy(&self) {
        if self.destroyed.xchg(true, Relaxed) {
            return;
        }
        // The TLS key first, as C does.
        self.put_tls_key();
        // SAFETY: `sq`/`cq` are initialised (type invariant); `destroyed` makes this the only
        // teardown.
        unsafe {
            bindings::nvmet_sq_destroy(self.raw());
            bindings::nvmet_cq_put(self.cq.get());
        }
    }

    /// Gives the queue the PSK its TLS session was set up with (`sq->tls_key`, put when the
    /// queue is torn down), which the core reads during Connect and authentication: a queue
    /// with a key is a secure channel (no DH-HMAC-CHAP, `, TLS` in the core's log line). Once,
    /// and only before the Connect runs: `connect` must be this queue's Connect request, and
    /// the queue neither installed nor torn down; otherwise `key` is given back.
    pub(crate) fn set_tls_key(&self, connect: &FreeReq, key: Key) -> Result<(), Key> {
        let before_connect = connect.0.sq == core::ptr::from_ref(self) as usize
            && core::ptr::eq(
                connect.0.req.as_ptr().cast_const(),
                (&raw const self.connect).cast(),
            )
            && self.requests.as_ref().is_none();
        if !before_connect || self.tls.cmpxchg(TLS_NONE, TLS_SETTING, Acquire).is_err() {
            return Err(key);
        }
        // SAFETY: `sq` is initialised (type invariant). Nothing else reads or writes `tls_key`
        // now: the core reads it only for commands of this queue, and none runs (the caller
        // holds the token of the Connect request, the only one before the queue is
        // installed); the teardown touches it only once `tls` is `TLS_SET`. The key's
        // reference goes to the field, which was empty (`TLS_NONE`).
        let none = unsafe { bindings::nvmet_tcp_rs_sq_xchg_tls_key(self.raw(), key.into_raw()) };
        if self.tls.cmpxchg(TLS_SETTING, TLS_SET, Release).is_err() {
            // Torn down meanwhile, without touching the field: the key is taken back.
            // SAFETY: `sq` is initialised, and its memory lives while `self` is borrowed. The
            // teardown saw `TLS_SETTING` and left the field alone, and the core reads it for
            // no command of the queue (see above), so this function still has it to itself.
            let key = unsafe { bindings::nvmet_tcp_rs_sq_xchg_tls_key(self.raw(), none) };
            if let Some(key) = NonNull::new(key) {
                // SAFETY: The reference given to the field above, taken back.
                drop(unsafe { Key::from_raw(key) });
            }
        } else if let Some(key) = NonNull::new(none) {
            // Without the core's TLS support the key is not stored but given back.
            // SAFETY: The reference `into_raw` gave, given back by the exchange.
            drop(unsafe { Key::from_raw(key) });
        }
        Ok(())
    }

    /// Returns the token of the Connect request, once.
    pub(crate) fn take_connect(&self) -> Option<FreeReq> {
        self.hand(HANDED_CONNECT)
            .then(|| FreeReq(self.token(&self.connect)))
    }

    /// Allocates `n` requests for the commands of the queue (once, at `install_queue`).
    ///
    /// # Errors
    ///
    /// `EBUSY` if they exist already, `ENOMEM`.
    pub(crate) fn install_requests(&self, n: u16) -> Result {
        let sq: *const Self = self;
        let port = self.port.get().as_raw();
        let reqs = KVBox::pin_slice(
            |i| Request::new(sq, i as u16, port),
            usize::from(n),
            GFP_KERNEL,
        )?;
        if self.requests.populate(reqs) {
            Ok(())
        } else {
            Err(EBUSY)
        }
    }

    /// Returns the tokens of the requests [`Sq::install_requests`] made, once.
    pub(crate) fn take_requests(&self) -> Result<Option<KVec<FreeReq>>> {
        let Some(n) = self.requests.as_ref().map(|r| r.len()) else {
            return Ok(None);
        };
        if !self.hand(HANDED_REQUESTS) {
            return Ok(None);
        }
        let mut tokens = KVec::with_capacity(n, GFP_KERNEL)?;
        for req in self.requests.as_ref().into_iter().flat_map(|r| r.iter()) {
            tokens.push(FreeReq(self.token(req)), GFP_KERNEL)?;
        }
        Ok(Some(tokens))
    }

    /// Marks tokens `bit` handed out; `false` if they were.
    fn hand(&self, bit: u32) -> bool {
        let mut cur = self.handed.load(Relaxed);
        loop {
            if cur & bit != 0 {
                return false;
            }
            match self.handed.cmpxchg(cur, cur | bit, Relaxed) {
                Ok(_) => return true,
                Err(now) => cur = now,
            }
        }
    }

    /// Returns the token of `req`, a request of this `Sq`.
    fn token(&self, req: &Request<Q>) -> Token {
        // INVARIANT: `req` is a request this `Sq` owns.
        Token {
            sq: core::ptr::from_ref(self) as usize,
            req: core::ptr::NonNull::from(req).cast(),
        }
    }

    /// Returns request `index` ([`CONNECT`] for the Connect request), if it exists.
    fn request(&self, index: u16) -> Option<&Request<Q>> {
        if index == CONNECT {
            Some(&self.connect)
        } else {
            self.requests
                .as_ref()
                .and_then(|r| r.get(usize::from(index)))
        }
    }

    /// Returns the request of a token of this `Sq`.
    ///
    /// # Panics
    ///
    /// If the token is another `Sq`'s: a token names one request of one queue.
    #[inline]
    fn req(&self, t: &Token) -> &Request<Q> {
        if t.sq != core::ptr::from_ref(self) as usize {
            panic!("a request token used with another queue");
        }
        // SAFETY: The token is this `Sq`'s, so `req` points to a `Request<Q>` this `Sq` owns
        // (type invariant), alive as long as `self` is borrowed.
        unsafe { t.req.cast::<Request<Q>>().as_ref() }
    }

    /// Stores `sqe` and hands the command to the core for parsing (`nvmet_req_init`, with the
    /// transport's `ops`). On `Err` the core has already completed it with an error: its
    /// response follows.
    #[inline]
    pub(crate) fn init<T: crate::nvmet::Transport<Queue = Q>>(
        &self,
        r: FreeReq,
        sqe: &Sqe,
        ops: &crate::nvmet::OpsTable<T>,
    ) -> Result<Parsed, Executing> {
        let req = self.req(&r.0);
        req.responded.store(false, Relaxed);
        // SAFETY: The request is free (the token), so the core does not hold it; `cmd` is its
        // SQE, of `Sqe`'s size.
        unsafe { req.cmd.get().cast::<Sqe>().write(*sqe) };
        // SAFETY: The request, its SQE and the sq are valid and initialised; `ops` is a
        // registered table.
        let accepted = unsafe { bindings::nvmet_req_init(req.raw(), self.raw(), ops.as_raw()) };
        if accepted {
            Ok(Parsed { t: r.0, buf: None })
        } else {
            Err(Executing {
                t: r.0,
                buf: ManuallyDrop::new(None),
            })
        }
    }

    /// Attaches `buf` as the data of the parsed command `p` (`req->sg`).
    #[inline]
    pub(crate) fn attach(&self, p: &mut Parsed, buf: DataBuffer) {
        let req = self.req(&p.t);
        let buf = p.buf.insert(buf);
        // SAFETY: The command is parsed, not executed: the core does not use the buffer yet; the
        // token owns the buffer until the core is done with it.
        unsafe { req.set_data(Some(buf)) };
    }

    /// Runs the parsed command (`req->execute`).
    #[inline]
    pub(crate) fn execute(&self, p: Parsed) -> Executing {
        let req = self.req(&p.t);
        // SAFETY: `nvmet_req_init` accepted the command (the token), so the core set `execute`;
        // the token is consumed here, so it runs once.
        unsafe {
            if let Some(execute) = (*req.raw()).execute {
                execute(req.raw());
            }
        }
        Executing {
            t: p.t,
            buf: ManuallyDrop::new(p.buf),
        }
    }

    /// Completes the parsed command with `status` without executing it (`nvmet_req_complete`).
    #[inline]
    pub(crate) fn fail(&self, p: Parsed, status: u16) -> Executing {
        let req = self.req(&p.t);
        // SAFETY: `nvmet_req_init` accepted the command and it was neither executed nor
        // completed (the token, consumed here).
        unsafe { bindings::nvmet_req_complete(req.raw(), status) };
        Executing {
            t: p.t,
            buf: ManuallyDrop::new(p.buf),
        }
    }

    /// Drops the core's hold of a parsed command that will not run (`nvmet_req_uninit`).
    #[inline]
    pub(crate) fn uninit(&self, p: Parsed) -> FreeReq {
        let req = self.req(&p.t);
        // SAFETY: `nvmet_req_init` accepted the command and it was neither executed nor
        // completed (the token, consumed here); afterwards the core does not hold it, and its
        // buffer is detached before the token's is dropped.
        unsafe {
            bindings::nvmet_req_uninit(req.raw());
            req.set_data(None);
        }
        FreeReq(p.t)
    }

    /// Takes the indices of the requests the core responded to since the last call, appending
    /// them to `out` in the order of their responses (`out` has room for every request).
    pub(crate) fn take_responses(&self, out: &mut KVec<u16>) {
        let start = out.len();
        let mut head = self.done.xchg(NO_LINK, Acquire);
        while head != NO_LINK {
            // Cannot truncate: indices are `u16`.
            let index = head as u16;
            let Some(req) = self.request(index) else {
                break;
            };
            head = req.link.load(Relaxed);
            if out.push_within_capacity(index).is_err() {
                break;
            }
        }
        // The list is newest first.
        if let Some(taken) = out.get_mut(start..) {
            taken.reverse();
        }
    }

    /// Returns the command of `e` as responded if the core has responded to it; else `e`.
    #[inline]
    pub(crate) fn responded(&self, e: Executing) -> Result<Responded, Executing> {
        let req = self.req(&e.t);
        // Acquire: what the core wrote before `queue_response` (the CQE) is seen.
        if !req.responded.load(Acquire) {
            return Err(e);
        }
        let (t, buf) = e.into_parts();
        Ok(Responded { t, buf })
    }

    /// Returns the CQE the core filled in for `r`, as on the wire.
    #[inline]
    pub(crate) fn cqe(&self, r: &Responded) -> [u8; 16] {
        let req = self.req(&r.t);
        // SAFETY: The core responded (the token) and no longer writes the CQE.
        unsafe { req.cqe.get().cast::<[u8; 16]>().read() }
    }

    /// Frees the request of a responded command: its buffer is detached and dropped.
    #[inline]
    pub(crate) fn finish(&self, r: Responded) -> FreeReq {
        let req = self.req(&r.t);
        // SAFETY: The core responded (the token): it does not hold the request.
        unsafe { req.set_data(None) };
        drop(r.buf);
        FreeReq(r.t)
    }
}

impl<Q> Sq<Q> {
    /// Puts the TLS key, if [`Sq::set_tls_key`] stored one; no key can be stored afterwards.
    fn put_tls_key(&self) {
        if self.tls.xchg(TLS_CLOSED, Acquire) == TLS_SET {
            // SAFETY: `sq` is initialised; `set_tls_key` is done with the field (`TLS_SET`,
            // published with `Release`), and no one else touches it.
            unsafe { bindings::nvmet_tcp_rs_sq_put_tls_key(self.sq.get()) };
        }
    }
}

#[pinned_drop]
impl<Q> PinnedDrop for Sq<Q> {
    fn drop(self: Pin<&mut Self>) {
        if self.destroyed.xchg(true, Relaxed) {
            return;
        }
        self.put_tls_key();
        // SAFETY: `sq`/`cq` are initialised and not torn down yet (`destroyed` was clear);
        // the `Sq` goes, so this is the last use of them.
        unsafe {
            bindings::nvmet_sq_destroy(self.sq.get());
            bindings::nvmet_cq_put(self.cq.get());
        }
    }
}

/// Notes that the core responded to `req` and returns its queue (none before
/// [`Sq::activate`]), to be woken.
///
/// # Safety
///
/// `req` must be the `req` field of a live `Request` of an `Sq<Q>` inside a `Q`.
pub(crate) unsafe fn responded<'a, Q: HasSq>(
    req: *mut bindings::nvmet_req,
) -> Option<ArcBorrow<'a, Q>> {
    // SAFETY: `Request` is `repr(C)` with `req` first, and the caller guarantees it is live.
    let r = unsafe { &*req.cast::<Request<Q>>() };
    // SAFETY: A request's `sq` is the `Sq` that owns it (type invariant), alive with it.
    let sq = unsafe { &*r.sq };
    r.responded.store(true, Release);
    let index = u32::from(r.index);
    let mut head = sq.done.load(Relaxed);
    loop {
        r.link.store(head, Relaxed);
        match sq.done.cmpxchg(head, index, Release) {
            Ok(_) => break,
            Err(now) => head = now,
        }
    }
    let owner = sq.owner.load(Acquire);
    // SAFETY: A non-null `owner` is the `Q` inside an `Arc` that contains `sq` (type
    // invariant), alive as long as `sq`, which the caller guarantees for the call.
    (!owner.is_null()).then(|| unsafe { ArcBorrow::from_raw(owner) })
}

/// Returns the queue of an sq the core passed to a callback (none before [`Sq::activate`]).
///
/// # Safety
///
/// `sq` must be the `sq` field of a live `Sq<Q>` inside a `Q`, alive for `'a`.
pub(crate) unsafe fn owner_of<'a, Q: HasSq>(
    sq: *mut bindings::nvmet_sq,
) -> Option<ArcBorrow<'a, Q>> {
    if sq.is_null() {
        return None;
    }
    // SAFETY: `Sq` is `repr(C)` with `sq` first; the caller guarantees it is live.
    let s = unsafe { &*sq.cast::<Sq<Q>>() };
    let owner = s.owner.load(Acquire);
    // SAFETY: A non-null `owner` is the `Q` inside an `Arc` that contains `s` (type
    // invariant), alive as long as `s`, which the caller guarantees for `'a`.
    (!owner.is_null()).then(|| unsafe { ArcBorrow::from_raw(owner) })
}
