// SPDX-License-Identifier: GPL-2.0

//! TLS records that are not data, on a socket with kTLS: [`Socket::recv_record`] takes the one
//! at the head of the socket (which [`Socket::read`] leaves there) with its content type,
//! as the C target receives every record (`recvmsg` with a control buffer,
//! `tls_get_record_type`).

use crate::sock_bindings as b;
use crate::socket::Socket;
use kernel::{bindings, prelude::*};

/// A record taken by [`Socket::recv_record`].
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Record {
    /// An alert: its level (`TLS_ALERT_LEVEL_*`) and description (`TLS_ALERT_DESC_*`).
    Alert { level: u8, description: u8 },
    /// Another record that is not data (content type `0`: the socket has no TLS session).
    Other(u8),
    /// `n` bytes of a data record: taken out of the stream, which has lost them.
    Data(usize),
}

impl Record {
    /// Returns whether this is an alert of level fatal (`TLS_ALERT_LEVEL_FATAL`).
    pub(crate) fn is_fatal_alert(&self) -> bool {
        matches!(self, Record::Alert { level, .. } if u32::from(*level) == b::TLS_ALERT_LEVEL_FATAL)
    }
}

/// A control message buffer with room for the record type kTLS reports
/// (`CMSG_LEN(sizeof(char))` and alignment).
#[repr(C)]
#[derive(Default)]
struct RecordType {
    hdr: bindings::cmsghdr,
    data: [u8; 8],
}

/// The bytes of a record taken by [`Socket::recv_record`]: enough for an alert; a longer
/// record is taken in several calls, each reporting its type.
const RECORD_BUF: usize = 64;

impl Socket {
    /// Takes the next record without blocking, up to [`RECORD_BUF`] bytes of it (the rest of
    /// a longer one stays for the next call), with its content type; `None` if nothing is
    /// there. Meant for the record [`Socket::read`] stopped at: one that is not data.
    ///
    /// An alert's level and description are its first two bytes, which C's `tls_alert_recv`
    /// reads; a record too short for them is taken as a fatal alert.
    pub(crate) fn recv_record(&self) -> Result<Option<Record>> {
        let mut buf = [0u8; RECORD_BUF];
        let mut cbuf = RecordType::default();
        let mut iov = bindings::kvec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        let mut msg = bindings::msghdr {
            msg_controllen: size_of::<RecordType>(),
            ..Default::default()
        };
        msg.__bindgen_anon_1.msg_control = (&raw mut cbuf).cast();
        // SAFETY: The socket is valid; `iov` describes `buf` and `msg_control` `cbuf`, a kernel
        // buffer (`msg_control_is_user` is clear), both valid for writes for the call.
        let ret = unsafe {
            bindings::kernel_recvmsg(
                self.as_raw(),
                &mut msg,
                &mut iov,
                1,
                buf.len(),
                (bindings::MSG_DONTWAIT | bindings::MSG_NOSIGNAL) as i32,
            )
        };
        let n = match ret {
            n if n >= 0 => n as usize,
            n if n == EAGAIN.to_errno() => return Ok(None),
            n => return Err(Error::from_errno(n)),
        };
        // SAFETY: `sk` is the valid sock of this socket; `cbuf` is a control message buffer,
        // filled in by the call above or still zeroed (then not `SOL_TLS`: type 0).
        let ctype = unsafe { b::tls_get_record_type(self.sk(), &cbuf.hdr) };
        Ok(Some(match u32::from(ctype) {
            0 | b::TLS_RECORD_TYPE_DATA => Record::Data(n),
            b::TLS_RECORD_TYPE_ALERT => match buf.get(..n) {
                Some([level, description, ..]) => Record::Alert {
                    level: *level,
                    description: *description,
                },
                _ => Record::Alert {
                    level: b::TLS_ALERT_LEVEL_FATAL as u8,
                    description: 0,
                },
            },
            _ => Record::Other(ctype),
        }))
    }
}
