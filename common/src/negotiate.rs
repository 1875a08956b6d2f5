//! Connection negotiation: building and checking ICReq and ICResp, yielding [`Params`].
//!
//! The checks follow the C drivers (PFV 1.0, digests agreed, MAXH2CDATA at least 4096 and a
//! multiple of 4), with one deliberate difference: a peer's non-zero HPDA/CPDA (up to 31) is
//! accepted and honoured when sending, where the C drivers refuse it. The local side always
//! asks for no alignment (0).

use super::error::FatalError;
use super::header::Framing;
use super::ic::{self, DigestOptions, IcReq, IcResp, MAX_PDA, MIN_MAXH2CDATA, PFV_1_0};
use super::validate::Role;

/// The parameters both ends agreed on in ICReq/ICResp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Params {
    /// Header digests on every PDU but ICReq/ICResp/TermReq.
    pub hdgst: bool,
    /// Data digests on every PDU that carries data, but TermReq.
    pub ddgst: bool,
    /// Alignment the host asked for C2H data (0's based dwords).
    pub hpda: u8,
    /// Alignment the controller asked for H2C data (0's based dwords).
    pub cpda: u8,
    /// The most data one H2CData PDU may carry.
    pub maxh2cdata: u32,
    /// The most R2Ts outstanding per command, 0's based.
    pub maxr2t: u32,
}

impl Params {
    /// Returns how the local side, acting as `sender`, frames the PDUs it emits.
    pub fn framing(&self, sender: Role) -> Framing {
        Framing {
            hdgst: self.hdgst,
            ddgst: self.ddgst,
            pda: match sender {
                Role::Host => self.cpda,
                Role::Target => self.hpda,
            },
        }
    }

    /// Returns the alignment the local side, acting as `receiver`, asked of its peer.
    pub fn rx_pda(&self, receiver: Role) -> u8 {
        match receiver {
            Role::Host => self.hpda,
            Role::Target => self.cpda,
        }
    }
}

/// What a host asks for in its ICReq.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HostConfig {
    /// Ask for header digests.
    pub hdgst: bool,
    /// Ask for data digests.
    pub ddgst: bool,
    /// MAXR2T to offer, 0's based (the C host offers 0: one R2T at a time).
    pub maxr2t: u32,
}

impl HostConfig {
    /// Returns the ICReq to send: PFV 1.0, HPDA 0, the configured digests and MAXR2T.
    pub fn icreq(&self) -> IcReq {
        IcReq {
            pfv: PFV_1_0,
            hpda: 0,
            dgst: DigestOptions::new(self.hdgst, self.ddgst),
            maxr2t: self.maxr2t,
        }
    }

    /// Checks the controller's ICResp and returns the negotiated parameters.
    ///
    /// # Errors
    ///
    /// Unsupported Parameter for a PFV other than 1.0 or digests other than those asked for;
    /// Invalid PDU Header Field for CPDA above 31 or MAXH2CDATA below 4096 or not a multiple of
    /// 4. The FEI is the offset of the field.
    pub fn accept_icresp(&self, icresp: &IcResp) -> Result<Params, FatalError> {
        if icresp.pfv != PFV_1_0 {
            return Err(FatalError::unsupported(ic::field::PFV));
        }
        if icresp.cpda > MAX_PDA {
            return Err(FatalError::invalid_field(ic::field::PDA));
        }
        if icresp.dgst.header() != self.hdgst || icresp.dgst.data() != self.ddgst {
            return Err(FatalError::unsupported(ic::field::DGST));
        }
        if !valid_maxh2cdata(icresp.maxh2cdata) {
            return Err(FatalError::invalid_field(ic::field::MAXDATA));
        }
        Ok(Params {
            hdgst: self.hdgst,
            ddgst: self.ddgst,
            hpda: 0,
            cpda: icresp.cpda,
            maxh2cdata: icresp.maxh2cdata,
            maxr2t: self.maxr2t,
        })
    }
}

/// Returns whether `v` is a valid MAXH2CDATA: at least 4096 and a multiple of 4.
// `%`: `is_multiple_of` is stable only since Rust 1.87, and Debian's stock kernels are built
// with 1.85.
#[allow(clippy::manual_is_multiple_of)]
pub fn valid_maxh2cdata(v: u32) -> bool {
    v >= MIN_MAXH2CDATA && v % 4 == 0
}

/// What a target grants in its ICResp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TargetConfig {
    /// Grant header digests when asked.
    pub hdgst: bool,
    /// Grant data digests when asked.
    pub ddgst: bool,
    /// MAXH2CDATA to announce; must satisfy [`valid_maxh2cdata`].
    pub maxh2cdata: u32,
}

impl Default for TargetConfig {
    /// Returns digests granted and MAXH2CDATA of 4 MiB, as the C target does.
    fn default() -> Self {
        Self {
            hdgst: true,
            ddgst: true,
            maxh2cdata: 0x40_0000,
        }
    }
}

impl TargetConfig {
    /// Checks the host's ICReq; returns the negotiated parameters and the ICResp to send.
    ///
    /// The ICResp has CPDA 0 and grants the digests asked for that the configuration allows.
    ///
    /// # Errors
    ///
    /// Unsupported Parameter (FEI 8) for a PFV other than 1.0; Invalid PDU Header Field
    /// (FEI 10) for HPDA above 31.
    pub fn accept_icreq(&self, icreq: &IcReq) -> Result<(Params, IcResp), FatalError> {
        if icreq.pfv != PFV_1_0 {
            return Err(FatalError::unsupported(ic::field::PFV));
        }
        if icreq.hpda > MAX_PDA {
            return Err(FatalError::invalid_field(ic::field::PDA));
        }
        let hdgst = icreq.dgst.header() && self.hdgst;
        let ddgst = icreq.dgst.data() && self.ddgst;
        let params = Params {
            hdgst,
            ddgst,
            hpda: icreq.hpda,
            cpda: 0,
            maxh2cdata: self.maxh2cdata,
            maxr2t: icreq.maxr2t,
        };
        let icresp = IcResp {
            pfv: PFV_1_0,
            cpda: 0,
            dgst: DigestOptions::new(hdgst, ddgst),
            maxh2cdata: self.maxh2cdata,
        };
        Ok((params, icresp))
    }
}
