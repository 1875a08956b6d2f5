//! hostile-host: a misbehaving NVMe/TCP host for testing a target.
//!
//! Each case brings a connection to the stage it needs (ICReq, admin Connect, controller
//! enabled, I/O queue Connect, a write waiting for data), sends one bad PDU and checks the
//! target's answer: a C2HTermReq with the expected FES (and FEI) followed by the connection
//! closing, or, for errors that are not fatal, a CQE with the expected status on a queue that
//! stays usable. `--mutate N` sends N randomly damaged copies of a valid stream; any answer is
//! accepted there except a malformed TermReq, a hang, or a target that stops accepting
//! connections. The real oracle for those is the kernel log of the target. `--flood PDUS`
//! sends at least that many PDUs (or for `--seconds S`), legal but unusual streams with
//! mutations mixed in, and counts them ([`flood`]).
//!
//! ```text
//! hostile-host --target ADDR:PORT --subnqn NQN [--case NAME]... [--mutate N --seed S] [--list]
//! hostile-host --target ADDR:PORT --subnqn NQN --flood PDUS [--seconds S] [--threads N]
//!              [--rounds N] [--sqe-mutation N] [--pad] [--no-ddgst] [--seed S]
//! ```
//! Exits 0 iff every case met its expectation; one line per case.

mod flood;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use nvme_tcp_pdu::{CapsuleCmd, DigestOptions, Framing, H2CData, IcReq, Pdu, SoftCrc32c, TermReq};

const HOSTNQN: &str = "nqn.2026-11.io.nvme-tcp-rs:hostile";

/// SQE flags: PSDT = SGL for data (`NVME_CMD_SGL_METABUF`), which fabrics require.
const SGL_METABUF: u8 = 0x40;

/// CQE status (bits 15:1): Data SGL Length Invalid (0Fh), Do Not Retry.
const SGL_INVALID_DATA_DNR: u16 = 0x4000 | 0x0f;
/// CQE status (bits 15:1): SGL Descriptor Type Invalid (11h), Do Not Retry.
const SGL_INVALID_TYPE_DNR: u16 = 0x4000 | 0x11;

/// What a case expects from the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// C2HTermReq with this FES (and FEI if given), then the connection closes.
    Term(u16, Option<u32>),
    /// The connection closes without a TermReq.
    Close,
    /// A CQE with this status (bits 15:1 of the status field), queue still usable.
    Cqe(u16),
    /// A CQE with any error status, queue still usable.
    CqeError,
}

/// What the target did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Got {
    Term(u16, u32),
    Close,
    Cqe(u16),
    Timeout,
    Other(u8),
}

fn matches(want: Expect, got: Got) -> bool {
    match (want, got) {
        (Expect::Term(f, None), Got::Term(g, _)) => f == g,
        (Expect::Term(f, Some(i)), Got::Term(g, j)) => f == g && i == j,
        (Expect::Close, Got::Close) => true,
        (Expect::Cqe(s), Got::Cqe(t)) => s == t,
        (Expect::CqeError, Got::Cqe(t)) => t != 0,
        _ => false,
    }
}

struct Conn {
    s: TcpStream,
    framing: Framing,
    cntlid: u16,
}

/// A received PDU: type and whole bytes.
struct Rx {
    ty: u8,
    bytes: Vec<u8>,
}

impl Conn {
    fn open(target: &str, timeout: Duration) -> std::io::Result<Self> {
        let addr = target
            .to_socket_addrs()?
            .next()
            .ok_or(std::io::ErrorKind::NotFound)?;
        let s = TcpStream::connect_timeout(&addr, timeout)?;
        s.set_read_timeout(Some(timeout))?;
        s.set_nodelay(true)?;
        Ok(Self {
            s,
            framing: Framing::default(),
            cntlid: 0xffff,
        })
    }

    fn send(&mut self, b: &[u8]) -> std::io::Result<()> {
        self.s.write_all(b)
    }

    /// Reads one PDU; `None` on EOF or reset.
    fn recv(&mut self) -> Result<Option<Rx>, Got> {
        let mut common = [0u8; 8];
        match self.s.read_exact(&mut common) {
            Ok(()) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Err(Got::Timeout)
            }
            Err(_) => return Ok(None),
        }
        let plen = u32::from_le_bytes([common[4], common[5], common[6], common[7]]) as usize;
        if !(8..=(1 << 24)).contains(&plen) {
            return Err(Got::Other(common[0]));
        }
        let mut bytes = common.to_vec();
        bytes.resize(plen, 0);
        if self.s.read_exact(&mut bytes[8..]).is_err() {
            return Ok(None);
        }
        Ok(Some(Rx {
            ty: common[0],
            bytes,
        }))
    }

    /// Classifies the target's answer: the next PDU and, for a TermReq, that EOF follows.
    fn outcome(&mut self) -> Got {
        let rx = match self.recv() {
            Err(g) => return g,
            Ok(None) => return Got::Close,
            Ok(Some(rx)) => rx,
        };
        match rx.ty {
            // C2HTermReq: FES, FEI; the target must close after it.
            0x03 => {
                let b = &rx.bytes;
                if b.len() < 24 || b.len() > 152 || b[2] != 24 {
                    return Got::Other(0x03);
                }
                let fes = u16::from_le_bytes([b[8], b[9]]);
                let fei = u32::from_le_bytes([b[10], b[11], b[12], b[13]]);
                match self.recv() {
                    Ok(None) => Got::Term(fes, fei),
                    _ => Got::Other(0x03),
                }
            }
            0x05 => {
                let b = &rx.bytes;
                Got::Cqe(u16::from_le_bytes([b[22], b[23]]) >> 1)
            }
            t => Got::Other(t),
        }
    }

    fn icreq(&mut self, hdgst: bool, ddgst: bool) -> Result<(), String> {
        let ic = icreq(hdgst, ddgst);
        self.send(&ic.to_bytes()).map_err(|e| e.to_string())?;
        self.icresp()
    }

    /// Receives the ICResp and takes the digests it grants.
    fn icresp(&mut self) -> Result<(), String> {
        let rx = self
            .recv()
            .map_err(|g| format!("{g:?}"))?
            .ok_or("no ICResp")?;
        if rx.ty != 0x01 {
            return Err(format!("ICResp expected, got type {}", rx.ty));
        }
        let dgst = rx.bytes[11];
        self.framing = Framing {
            hdgst: dgst & 1 != 0,
            ddgst: dgst & 2 != 0,
            pda: 0,
        };
        Ok(())
    }

    fn pdu(&self, pdu: &Pdu, data: &[u8]) -> Vec<u8> {
        let mut buf = vec![0u8; 256];
        let n = pdu
            .emit_header::<SoftCrc32c>(&self.framing, &mut buf)
            .expect("header");
        buf.truncate(n);
        buf.extend_from_slice(data);
        if self.framing.ddgst && !data.is_empty() {
            let d = nvme_tcp_pdu::digest::digest::<SoftCrc32c>(data);
            buf.extend_from_slice(&d.to_le_bytes());
        }
        buf
    }

    fn capsule(&mut self, sqe: [u8; 64], data: &[u8]) -> std::io::Result<()> {
        let b = self.pdu(
            &Pdu::CapsuleCmd(CapsuleCmd {
                sqe,
                data_len: data.len() as u32,
            }),
            data,
        );
        self.send(&b)
    }

    fn expect_cqe(&mut self) -> Result<[u8; 16], String> {
        let rx = self.recv().map_err(|g| format!("{g:?}"))?.ok_or("closed")?;
        if rx.ty != 0x05 {
            return Err(format!("CapsuleResp expected, got type {}", rx.ty));
        }
        let mut cqe = [0u8; 16];
        cqe.copy_from_slice(&rx.bytes[8..24]);
        Ok(cqe)
    }

    /// Connect on `qid` with in-capsule data.
    fn connect(&mut self, subnqn: &str, qid: u16) -> Result<(), String> {
        let b = self.connect_pdu(subnqn, qid);
        self.send(&b).map_err(|e| e.to_string())?;
        self.connected(qid)
    }

    /// The CapsuleCmd of a Connect on `qid`, with its in-capsule data.
    fn connect_pdu(&self, subnqn: &str, qid: u16) -> Vec<u8> {
        let mut sqe = connect_sqe(qid, 1024, 0x01);
        sqe[2] = 1;
        let data = connect_data(self.cntlid, subnqn);
        self.pdu(
            &Pdu::CapsuleCmd(CapsuleCmd {
                sqe,
                data_len: data.len() as u32,
            }),
            &data,
        )
    }

    /// Receives the response to a Connect on `qid`: success, and the controller ID.
    fn connected(&mut self, qid: u16) -> Result<(), String> {
        let cqe = self.expect_cqe()?;
        let status = u16::from_le_bytes([cqe[14], cqe[15]]) >> 1;
        if status != 0 {
            return Err(format!("Connect failed: status {status:#x}"));
        }
        if qid == 0 {
            self.cntlid = u16::from_le_bytes([cqe[0], cqe[1]]);
        }
        Ok(())
    }

    /// Checks that the queue still serves: a read of one block by command `cid` gets its data
    /// and a successful response.
    fn still_serves(&mut self, cid: u16) -> Result<(), String> {
        self.capsule(io_sqe(0x02, cid, 1, 0x5a, 512), &[])
            .map_err(|e| e.to_string())?;
        loop {
            let rx = self
                .recv()
                .map_err(|g| format!("a read afterwards: {g:?}"))?
                .ok_or("closed")?;
            match rx.ty {
                // C2HData (with SUCCESS set it is the whole answer).
                0x07 if rx.bytes[1] & 0x08 != 0 => return Ok(()),
                0x07 => {}
                0x05 => {
                    let status = u16::from_le_bytes([rx.bytes[22], rx.bytes[23]]) >> 1;
                    return match status {
                        0 => Ok(()),
                        s => Err(format!("a read afterwards failed: {s:#x}")),
                    };
                }
                t => return Err(format!("a read afterwards: type {t}")),
            }
        }
    }

    /// Property Set CC.EN = 1 (with 64-byte SQEs and 16-byte CQEs).
    fn enable(&mut self) -> Result<(), String> {
        let mut sqe = [0u8; 64];
        sqe[1] = SGL_METABUF;
        sqe[0] = 0x7f;
        sqe[2] = 2;
        sqe[4] = 0x00; // Property Set
        sqe[39] = 0x5a;
        sqe[40] = 0; // 4-byte property
        sqe[44..48].copy_from_slice(&0x14u32.to_le_bytes());
        sqe[48..56].copy_from_slice(&0x0046_0001u64.to_le_bytes());
        self.capsule(sqe, &[]).map_err(|e| e.to_string())?;
        self.expect_cqe().map(|_| ())
    }
}

/// Property Get of CAP (8 bytes at offset 0), command `cid`: allowed once the admin queue is
/// connected, before the controller is enabled.
fn property_get_cap(cid: u16) -> [u8; 64] {
    let mut sqe = [0u8; 64];
    sqe[1] = SGL_METABUF;
    sqe[0] = 0x7f;
    sqe[2..4].copy_from_slice(&cid.to_le_bytes());
    sqe[4] = 0x04; // Property Get
    sqe[39] = 0x5a;
    sqe[40] = 1; // 8-byte property
    sqe
}

/// A version 1.0 ICReq asking for the given digests.
fn icreq(hdgst: bool, ddgst: bool) -> IcReq {
    IcReq {
        pfv: 0,
        hpda: 0,
        dgst: DigestOptions::new(hdgst, ddgst),
        maxr2t: 0,
    }
}

/// The 1024 bytes of Connect data: host ID, controller ID, subsystem and host NQNs.
fn connect_data(cntlid: u16, subnqn: &str) -> Vec<u8> {
    let mut data = vec![0u8; 1024];
    data[..16].copy_from_slice(&[0x5a; 16]);
    data[16..18].copy_from_slice(&cntlid.to_le_bytes());
    data[256..256 + subnqn.len()].copy_from_slice(subnqn.as_bytes());
    data[512..512 + HOSTNQN.len()].copy_from_slice(HOSTNQN.as_bytes());
    data
}

fn connect_sqe(qid: u16, len: u32, sgl_type: u8) -> [u8; 64] {
    let mut sqe = [0u8; 64];
    sqe[1] = SGL_METABUF;
    sqe[0] = 0x7f;
    sqe[4] = 0x01; // Connect
    sqe[32..36].copy_from_slice(&len.to_le_bytes());
    sqe[39] = sgl_type;
    sqe[42..44].copy_from_slice(&qid.to_le_bytes());
    sqe[44..46].copy_from_slice(&31u16.to_le_bytes()); // SQSIZE, 0's based
    sqe[48..52].copy_from_slice(&15000u32.to_le_bytes()); // KATO
    sqe
}

/// An I/O command on namespace 1: `op` 0x01 write / 0x02 read of `blocks` 512 B blocks.
fn io_sqe(op: u8, cid: u16, blocks: u16, sgl_type: u8, sgl_len: u32) -> [u8; 64] {
    let mut sqe = [0u8; 64];
    sqe[1] = SGL_METABUF;
    sqe[0] = op;
    sqe[2..4].copy_from_slice(&cid.to_le_bytes());
    sqe[4..8].copy_from_slice(&1u32.to_le_bytes());
    sqe[32..36].copy_from_slice(&sgl_len.to_le_bytes());
    sqe[39] = sgl_type;
    sqe[48..50].copy_from_slice(&(blocks - 1).to_le_bytes());
    sqe
}

struct Ctx {
    target: String,
    subnqn: String,
    timeout: Duration,
}

impl Ctx {
    fn conn(&self) -> Result<Conn, String> {
        Conn::open(&self.target, self.timeout).map_err(|e| format!("connect: {e}"))
    }

    /// A connection with ICReq done (digests as asked).
    fn ic(&self, hdgst: bool, ddgst: bool) -> Result<Conn, String> {
        let mut c = self.conn()?;
        c.icreq(hdgst, ddgst)?;
        Ok(c)
    }

    /// An I/O queue (qid 1) of a fresh controller, and the admin queue keeping it alive.
    fn io_queue(&self, hdgst: bool, ddgst: bool) -> Result<(Conn, Conn), String> {
        let mut admin = self.ic(false, false)?;
        admin.connect(&self.subnqn, 0)?;
        admin.enable()?;
        let mut io = self.ic(hdgst, ddgst)?;
        io.cntlid = admin.cntlid;
        io.connect(&self.subnqn, 1)?;
        Ok((admin, io))
    }

    /// An I/O queue with a one-block write waiting for data: returns its TTAG.
    fn pending_write(&self) -> Result<(Conn, Conn, u16), String> {
        let (admin, mut io) = self.io_queue(false, false)?;
        io.capsule(io_sqe(0x01, 7, 8, 0x5a, 4096), &[])
            .map_err(|e| e.to_string())?;
        let rx = io.recv().map_err(|g| format!("{g:?}"))?.ok_or("closed")?;
        if rx.ty != 0x09 {
            return Err(format!("R2T expected, got type {}", rx.ty));
        }
        let ttag = u16::from_le_bytes([rx.bytes[10], rx.bytes[11]]);
        Ok((admin, io, ttag))
    }
}

fn h2c(c: &Conn, cccid: u16, ttag: u16, datao: u32, data: &[u8], last: bool) -> Vec<u8> {
    c.pdu(
        &Pdu::H2CData(H2CData {
            cccid,
            ttag,
            datao,
            datal: data.len() as u32,
            last,
        }),
        data,
    )
}

type CaseFn = fn(&Ctx) -> Result<Got, String>;

/// Every case: name, expectation, and how to provoke it.
fn cases() -> Vec<(&'static str, Expect, CaseFn)> {
    vec![
        ("capsule-before-icreq", Expect::Term(2, None), |x| {
            let mut c = x.conn()?;
            c.capsule(connect_sqe(0, 0, 0x5a), &[])
                .map_err(|e| e.to_string())?;
            Ok(c.outcome())
        }),
        ("icreq-connect-pipelined", Expect::Cqe(0), |x| {
            // ICReq, Connect and a Property Get in one send, before the ICResp: a legal
            // stream, served in order (ICResp, then each command's response).
            let mut c = x.conn()?;
            let mut b = icreq(false, false).to_bytes().to_vec();
            b.extend(c.connect_pdu(&x.subnqn, 0));
            b.extend(c.pdu(
                &Pdu::CapsuleCmd(CapsuleCmd {
                    sqe: property_get_cap(2),
                    data_len: 0,
                }),
                &[],
            ));
            c.send(&b).map_err(|e| e.to_string())?;
            c.icresp()?;
            c.connected(0)?;
            Ok(c.outcome())
        }),
        ("icreq-twice", Expect::Term(2, None), |x| {
            let mut c = x.ic(false, false)?;
            let ic = icreq(false, false);
            c.send(&ic.to_bytes()).map_err(|e| e.to_string())?;
            Ok(c.outcome())
        }),
        ("icreq-pfv", Expect::Term(6, Some(8)), |x| {
            let mut c = x.conn()?;
            let mut b = icreq(false, false).to_bytes();
            b[8] = 1;
            c.send(&b).map_err(|e| e.to_string())?;
            Ok(c.outcome())
        }),
        ("icreq-hpda", Expect::Term(1, Some(10)), |x| {
            let mut c = x.conn()?;
            let mut b = icreq(false, false).to_bytes();
            b[10] = 32;
            c.send(&b).map_err(|e| e.to_string())?;
            Ok(c.outcome())
        }),
        ("unknown-type", Expect::Term(1, Some(0)), |x| {
            let mut c = x.ic(false, false)?;
            let mut b = vec![0u8; 24];
            b[0] = 0x0a;
            b[2] = 24;
            b[4] = 24;
            c.send(&b).map_err(|e| e.to_string())?;
            Ok(c.outcome())
        }),
        ("bad-hlen", Expect::Term(1, Some(2)), |x| {
            let mut c = x.ic(false, false)?;
            let mut b = c.pdu(
                &Pdu::CapsuleCmd(CapsuleCmd {
                    sqe: connect_sqe(0, 0, 0x5a),
                    data_len: 0,
                }),
                &[],
            );
            b[2] = 64;
            c.send(&b).map_err(|e| e.to_string())?;
            Ok(c.outcome())
        }),
        ("bad-pdo", Expect::Term(1, None), |x| {
            let mut c = x.ic(false, false)?;
            let mut b = c.pdu(
                &Pdu::CapsuleCmd(CapsuleCmd {
                    sqe: connect_sqe(0, 1024, 0x01),
                    data_len: 1024,
                }),
                &[0; 1024],
            );
            b[3] = 80;
            c.send(&b).map_err(|e| e.to_string())?;
            Ok(c.outcome())
        }),
        ("plen-short", Expect::Term(1, None), |x| {
            let mut c = x.ic(false, false)?;
            let mut b = c.pdu(
                &Pdu::CapsuleCmd(CapsuleCmd {
                    sqe: connect_sqe(0, 0, 0x5a),
                    data_len: 0,
                }),
                &[],
            );
            b[4] = 16;
            c.send(&b).map_err(|e| e.to_string())?;
            Ok(c.outcome())
        }),
        ("hdgst-bad", Expect::Term(3, None), |x| {
            let mut c = x.ic(true, false)?;
            let mut b = c.pdu(
                &Pdu::CapsuleCmd(CapsuleCmd {
                    sqe: connect_sqe(0, 0, 0x5a),
                    data_len: 0,
                }),
                &[],
            );
            b[72] ^= 0xff;
            c.send(&b).map_err(|e| e.to_string())?;
            Ok(c.outcome())
        }),
        ("h2c-before-connect", Expect::Term(1, Some(10)), |x| {
            let mut c = x.ic(false, false)?;
            let b = h2c(&c, 1, 0, 0, &[0; 512], true);
            c.send(&b).map_err(|e| e.to_string())?;
            Ok(c.outcome())
        }),
        ("h2c-free-slot", Expect::Term(1, Some(10)), |x| {
            let (_a, mut io) = x.io_queue(false, false)?;
            let b = h2c(&io, 1, 3, 0, &[0; 512], true);
            io.send(&b).map_err(|e| e.to_string())?;
            Ok(io.outcome())
        }),
        ("h2c-ttag-range", Expect::Term(1, Some(10)), |x| {
            let (_a, mut io) = x.io_queue(false, false)?;
            let b = h2c(&io, 1, 60000, 0, &[0; 512], true);
            io.send(&b).map_err(|e| e.to_string())?;
            Ok(io.outcome())
        }),
        ("h2c-for-read", Expect::Term(1, Some(10)), |x| {
            let (_a, mut io) = x.io_queue(false, false)?;
            // A write waiting for its R2T's data takes slot t; a read on the next slot.
            io.capsule(io_sqe(0x01, 7, 8, 0x5a, 4096), &[])
                .map_err(|e| e.to_string())?;
            let r2t = io.recv().map_err(|g| format!("{g:?}"))?.ok_or("closed")?;
            let ttag = u16::from_le_bytes([r2t.bytes[10], r2t.bytes[11]]);
            io.capsule(io_sqe(0x02, 8, 8, 0x5a, 4096), &[])
                .map_err(|e| e.to_string())?;
            std::thread::sleep(Duration::from_millis(50));
            // Slot numbers: the read took the slot after the write's.
            let b = h2c(&io, 8, ttag.wrapping_add(1), 0, &[0; 512], false);
            io.send(&b).map_err(|e| e.to_string())?;
            loop {
                match io.outcome() {
                    // The read's data and response may arrive first.
                    Got::Other(0x07) | Got::Cqe(0) => continue,
                    g => return Ok(g),
                }
            }
        }),
        ("h2c-wrong-cccid", Expect::Term(1, Some(8)), |x| {
            let (_a, mut io, ttag) = x.pending_write()?;
            let b = h2c(&io, 8, ttag, 0, &[0; 4096], true);
            io.send(&b).map_err(|e| e.to_string())?;
            Ok(io.outcome())
        }),
        ("h2c-datao", Expect::Term(1, Some(12)), |x| {
            let (_a, mut io, ttag) = x.pending_write()?;
            let b = h2c(&io, 7, ttag, 512, &[0; 512], false);
            io.send(&b).map_err(|e| e.to_string())?;
            Ok(io.outcome())
        }),
        ("h2c-past-r2t", Expect::Term(4, None), |x| {
            let (_a, mut io, ttag) = x.pending_write()?;
            let b = h2c(&io, 7, ttag, 0, &[0; 8192], true);
            io.send(&b).map_err(|e| e.to_string())?;
            Ok(io.outcome())
        }),
        ("h2c-datal-plen", Expect::Term(1, None), |x| {
            let (_a, mut io, ttag) = x.pending_write()?;
            let mut b = h2c(&io, 7, ttag, 0, &[0; 4096], true);
            b[16..20].copy_from_slice(&2048u32.to_le_bytes());
            io.send(&b).map_err(|e| e.to_string())?;
            Ok(io.outcome())
        }),
        ("sgl-too-long", Expect::Cqe(SGL_INVALID_DATA_DNR), |x| {
            // Longer than the target moves for a command: that command fails (as C's
            // nvmet_tcp_map_data answers), the connection goes on.
            let (_a, mut io) = x.io_queue(false, false)?;
            io.capsule(io_sqe(0x01, 7, 8, 0x5a, 64 << 20), &[])
                .map_err(|e| e.to_string())?;
            let g = io.outcome();
            io.still_serves(8)?;
            Ok(g)
        }),
        (
            "write-over-maxh2cdata",
            Expect::Cqe(SGL_INVALID_DATA_DNR),
            |x| {
                // 4 MiB + 8 KiB, its length in blocks and in the SGL agreeing: a write and a read
                // each fail alone, and the queue still serves.
                let (_a, mut io) = x.io_queue(false, false)?;
                let len = (4 << 20) + 8192;
                io.capsule(io_sqe(0x02, 6, (len / 512) as u16, 0x5a, len), &[])
                    .map_err(|e| e.to_string())?;
                let read = io.outcome();
                if read != Got::Cqe(SGL_INVALID_DATA_DNR) {
                    return Ok(read);
                }
                io.capsule(io_sqe(0x01, 7, (len / 512) as u16, 0x5a, len), &[])
                    .map_err(|e| e.to_string())?;
                let g = io.outcome();
                io.still_serves(8)?;
                Ok(g)
            },
        ),
        ("incapsule-over-limit", Expect::Term(5, None), |x| {
            let (_a, mut io) = x.io_queue(false, false)?;
            let data = vec![0u8; 256 << 10];
            io.capsule(io_sqe(0x01, 7, 512, 0x01, data.len() as u32), &data)
                .map_err(|e| e.to_string())?;
            Ok(io.outcome())
        }),
        ("sgl-type-invalid", Expect::Cqe(SGL_INVALID_TYPE_DNR), |x| {
            // Descriptors NVMe/TCP does not carry (other types, and the carried types with
            // other subtypes), without in-capsule data: each command fails alone, with nothing
            // read or written, and the queue still serves.
            let (_a, mut io) = x.io_queue(false, false)?;
            for (i, id) in [0x00, 0x0f, 0x10, 0x20, 0x30, 0x40, 0x5b, 0x5e, 0xe0, 0x0a]
                .into_iter()
                .enumerate()
            {
                let op = if i % 2 == 0 { 0x01 } else { 0x02 };
                io.capsule(io_sqe(op, 10 + i as u16, 1, id, 512), &[])
                    .map_err(|e| e.to_string())?;
                let g = io.outcome();
                if g != Got::Cqe(SGL_INVALID_TYPE_DNR) {
                    return Err(format!("SGL identifier {id:#04x}: {g:?}"));
                }
            }
            io.still_serves(8)?;
            Ok(Got::Cqe(SGL_INVALID_TYPE_DNR))
        }),
        ("sgl-type-mismatch", Expect::Term(1, Some(47)), |x| {
            let (_a, mut io) = x.io_queue(false, false)?;
            io.capsule(io_sqe(0x01, 7, 1, 0x5a, 512), &[0; 512])
                .map_err(|e| e.to_string())?;
            Ok(io.outcome())
        }),
        ("sgl-len-mismatch", Expect::Term(1, Some(40)), |x| {
            let (_a, mut io) = x.io_queue(false, false)?;
            io.capsule(io_sqe(0x01, 7, 2, 0x01, 1024), &[0; 512])
                .map_err(|e| e.to_string())?;
            Ok(io.outcome())
        }),
        ("cmd-before-connect", Expect::CqeError, |x| {
            // Identify before Connect: the core refuses it with a status, not a TermReq.
            let mut c = x.ic(false, false)?;
            let mut sqe = [0u8; 64];
            sqe[1] = SGL_METABUF;
            sqe[1] = SGL_METABUF;
            sqe[0] = 0x06;
            sqe[2] = 3;
            sqe[32..36].copy_from_slice(&4096u32.to_le_bytes());
            sqe[39] = 0x5a;
            c.capsule(sqe, &[]).map_err(|e| e.to_string())?;
            let g = c.outcome();
            // Still usable: Connect works afterwards.
            c.connect(&x.subnqn, 0)?;
            Ok(g)
        }),
        ("ddgst-bad", Expect::Cqe(0x22), |x| {
            let (_a, mut io) = x.io_queue(false, true)?;
            let mut b = io.pdu(
                &Pdu::CapsuleCmd(CapsuleCmd {
                    sqe: io_sqe(0x01, 7, 1, 0x01, 512),
                    data_len: 512,
                }),
                &[0x11; 512],
            );
            let n = b.len();
            b[n - 1] ^= 0xff;
            io.send(&b).map_err(|e| e.to_string())?;
            let g = io.outcome();
            // The queue survives a bad data digest: a read still completes.
            io.capsule(io_sqe(0x02, 8, 1, 0x5a, 512), &[])
                .map_err(|e| e.to_string())?;
            let rx = io
                .recv()
                .map_err(|g| format!("{g:?}"))?
                .ok_or("closed after ddgst")?;
            if rx.ty != 0x07 && rx.ty != 0x05 {
                return Err(format!("read after bad digest: type {}", rx.ty));
            }
            Ok(g)
        }),
        ("h2c-termreq", Expect::Close, |x| {
            let (_a, mut io) = x.io_queue(false, false)?;
            let t = TermReq::new(
                nvme_tcp_pdu::FatalError::status(nvme_tcp_pdu::Fes::PduSequenceError),
                0,
            );
            let b = io.pdu(&Pdu::H2CTermReq(t), &[]);
            io.send(&b).map_err(|e| e.to_string())?;
            Ok(io.outcome())
        }),
        ("icreq-race", Expect::Close, |x| {
            // ICReq immediately followed by a reset, many times and in parallel: the target
            // must release each queue whatever state it reached.
            let threads: Vec<_> = (0..8)
                .map(|_| {
                    let target = x.target.clone();
                    let t = x.timeout;
                    std::thread::spawn(move || {
                        for _ in 0..25 {
                            if let Ok(mut c) = Conn::open(&target, t) {
                                let ic = icreq(true, true);
                                let _ = c.send(&ic.to_bytes());
                                let _ = c.s.shutdown(Shutdown::Both);
                            }
                        }
                    })
                })
                .collect();
            for t in threads {
                let _ = t.join();
            }
            // The target still serves.
            let mut c = x.ic(false, false)?;
            c.connect(&x.subnqn, 0)?;
            c.s.shutdown(Shutdown::Both).ok();
            Ok(Got::Close)
        }),
    ]
}

/// xorshift64*.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Sends `n` damaged versions of a valid I/O-queue stream (ICReq, Connect, write, read).
fn mutate(x: &Ctx, n: usize, seed: u64) -> Result<(), String> {
    let mut rng = Rng(seed | 1);
    let mut admin = x.ic(false, false)?;
    admin.connect(&x.subnqn, 0)?;
    admin.enable()?;
    let mut bad_term = 0;
    for i in 0..n {
        let digests = rng.below(4);
        let mut c = match x.conn() {
            Ok(c) => c,
            Err(e) => return Err(format!("iteration {i}: target stopped accepting: {e}")),
        };
        let framing = Framing {
            hdgst: digests & 1 != 0,
            ddgst: digests & 2 != 0,
            pda: 0,
        };
        let ic = icreq(framing.hdgst, framing.ddgst);
        let mut stream = ic.to_bytes().to_vec();
        c.framing = framing;
        let data = connect_data(admin.cntlid, &x.subnqn);
        let mut sqe = connect_sqe(1, 1024, 0x01);
        sqe[2] = 1;
        stream.extend(c.pdu(
            &Pdu::CapsuleCmd(CapsuleCmd {
                sqe,
                data_len: 1024,
            }),
            &data,
        ));
        stream.extend(c.pdu(
            &Pdu::CapsuleCmd(CapsuleCmd {
                sqe: io_sqe(0x01, 2, 1, 0x01, 512),
                data_len: 512,
            }),
            &[0x42; 512],
        ));
        stream.extend(c.pdu(
            &Pdu::CapsuleCmd(CapsuleCmd {
                sqe: io_sqe(0x02, 3, 1, 0x5a, 512),
                data_len: 0,
            }),
            &[],
        ));
        stream.extend(c.pdu(
            &Pdu::CapsuleCmd(CapsuleCmd {
                sqe: io_sqe(0x01, 4, 8, 0x5a, 4096),
                data_len: 0,
            }),
            &[],
        ));
        stream.extend(h2c(&c, 4, 0, 0, &[0x24; 4096], true));
        // Damage: flip bits, rewrite a length field, truncate, or duplicate a chunk.
        for _ in 0..1 + rng.below(4) {
            let len = stream.len();
            if len < 133 {
                // Truncated to (nearly) the ICReq: nothing left to damage.
                break;
            }
            match rng.below(4) {
                0 => {
                    let at = 128 + rng.below(len - 128);
                    stream[at] ^= 1 << rng.below(8);
                }
                1 => {
                    let at = 128 + rng.below(len - 132);
                    let v = rng.next() as u32;
                    stream[at..at + 4].copy_from_slice(&v.to_le_bytes());
                }
                2 => stream.truncate(128 + rng.below(len - 128)),
                _ => {
                    let a = 128 + rng.below(len - 128);
                    let b = (a + rng.below(200)).min(stream.len());
                    let chunk = stream[a..b].to_vec();
                    stream.splice(b..b, chunk);
                }
            }
        }
        // Send in random pieces.
        let mut at = 0;
        while at < stream.len() {
            let k = (1 + rng.below(600)).min(stream.len() - at);
            if c.send(&stream[at..at + k]).is_err() {
                break;
            }
            at += k;
        }
        let _ = c.s.shutdown(Shutdown::Write);
        // Drain whatever comes back; a TermReq must be well formed.
        let deadline = Instant::now() + x.timeout;
        while Instant::now() < deadline {
            match c.recv() {
                Ok(Some(rx)) if rx.ty == 0x03 => {
                    let fes = u16::from_le_bytes([rx.bytes[8], rx.bytes[9]]);
                    if rx.bytes.len() < 24 || rx.bytes.len() > 152 || !(1..=6).contains(&fes) {
                        bad_term += 1;
                    }
                }
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => break,
            }
        }
    }
    if bad_term > 0 {
        return Err(format!("{bad_term} malformed TermReqs"));
    }
    // The target still serves.
    let mut c = x.ic(false, false)?;
    c.connect(&x.subnqn, 0)?;
    Ok(())
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut target = String::from("127.0.0.1:4420");
    let mut subnqn = String::new();
    let mut only = Vec::new();
    let mut list = false;
    let mut mutations = 0usize;
    let mut seed = 1u64;
    let mut timeout_ms = 3000u64;
    let mut fl = flood::Opts {
        threads: 4,
        seconds: 600,
        pdus: 0,
        pad: false,
        ddgst: true,
        sqe_mutation: 64,
        rounds: 64,
        seed: 1,
    };
    let num = |v: Option<String>, what: &str| -> u64 {
        v.and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{what} N"))
    };
    while let Some(a) = args.next() {
        match a.as_str() {
            "--flood" => fl.pdus = num(args.next(), "--flood"),
            "--seconds" => fl.seconds = num(args.next(), "--seconds"),
            "--threads" => fl.threads = num(args.next(), "--threads").max(1) as usize,
            "--rounds" => fl.rounds = num(args.next(), "--rounds").max(1) as usize,
            "--sqe-mutation" => fl.sqe_mutation = num(args.next(), "--sqe-mutation") as usize,
            "--pad" => fl.pad = true,
            "--no-ddgst" => fl.ddgst = false,
            "--target" => target = args.next().expect("--target ADDR:PORT"),
            "--subnqn" => subnqn = args.next().expect("--subnqn NQN"),
            "--case" => only.push(args.next().expect("--case NAME")),
            "--list" => list = true,
            "--mutate" => {
                mutations = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--mutate N")
            }
            "--seed" => seed = args.next().and_then(|v| v.parse().ok()).expect("--seed S"),
            "--timeout-ms" => {
                timeout_ms = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--timeout-ms MS")
            }
            _ => {
                eprintln!("usage: hostile-host --target ADDR:PORT --subnqn NQN [--case NAME]... [--mutate N --seed S] [--list]");
                eprintln!("       hostile-host --target ADDR:PORT --subnqn NQN --flood PDUS [--seconds S] [--threads N] [--rounds N] [--sqe-mutation N] [--pad] [--no-ddgst] [--seed S]");
                std::process::exit(2);
            }
        }
    }
    let all = cases();
    if list {
        for (name, want, _) in &all {
            println!("{name}: {want:?}");
        }
        return;
    }
    let ctx = Ctx {
        target,
        subnqn,
        timeout: Duration::from_millis(timeout_ms),
    };
    let mut failed = 0;
    if fl.pdus > 0 {
        fl.seed = seed;
        let ok = flood::run(&ctx, &fl);
        println!(
            "{} flood pdus={} seed={seed}",
            if ok { "PASS" } else { "FAIL" },
            fl.pdus
        );
        std::process::exit(if ok { 0 } else { 1 });
    }
    if mutations == 0 || !only.is_empty() {
        for (name, want, f) in &all {
            if !only.is_empty() && !only.iter().any(|o| o == name) {
                continue;
            }
            match f(&ctx) {
                Ok(got) if matches(*want, got) => println!("PASS {name} got={got:?}"),
                Ok(got) => {
                    failed += 1;
                    println!("FAIL {name} got={got:?} want={want:?}");
                }
                Err(e) => {
                    failed += 1;
                    println!("FAIL {name} error: {e}");
                }
            }
        }
    }
    if mutations > 0 {
        match mutate(&ctx, mutations, seed) {
            Ok(()) => println!("PASS mutate n={mutations} seed={seed}"),
            Err(e) => {
                failed += 1;
                println!("FAIL mutate n={mutations} seed={seed}: {e}");
            }
        }
    }
    std::process::exit(if failed == 0 { 0 } else { 1 });
}
