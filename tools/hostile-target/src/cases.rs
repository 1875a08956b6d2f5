//! The cases: which fault each injects, what it needs of the connection, and what a host must do.
//!
//! The expectations follow the NVMe/TCP transport binding (TP 8000) and the project's own
//! receive rules (`common/src/validate.rs`, `common/src/negotiate.rs`), which name the FES and
//! FEI a host reports. A fatal error ends the connection: the host closes it, after an
//! H2CTermReq if it sends one. The in-tree C host never sends H2CTermReq (it starts error
//! recovery and closes every queue), so by default a close without TermReq passes and only a
//! TermReq with the wrong FES/FEI fails; `--require-term-req` makes the TermReq mandatory.

use crate::forge::IcFault;

/// The fault a case injects into one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Cut an I/O connection while commands are in flight (FIN to the host, close the target).
    Kill,
    /// Cut an I/O connection, then damage the ICResp of the host's next connection.
    IcResp(IcFault),
    /// A CapsuleResp with HLEN 32 and a header digest recomputed over it.
    RspHlen,
    /// A CapsuleResp with a broken header digest.
    RspHdgst,
    /// A C2HData with one data bit flipped under the genuine data digest.
    C2HDdgst,
    /// A CapsuleResp for a command identifier that is not in flight (instead of the genuine one).
    RspUnknownCid,
    /// A C2HData reaching 512 bytes past the end of its read.
    C2HBeyond,
    /// A whole-read C2HData split in two, the second rewinding 512 bytes.
    C2HOverlap,
    /// A C2HData with DATAO 512 bytes too far (same data).
    C2HShift,
    /// An R2T reaching 4 KiB past the end of its write.
    R2tBeyond,
    /// An R2T with R2TL 0.
    R2tZero,
    /// A C2HTermReq instead of the next PDU; the target side of the connection is then closed.
    C2HTermReq,
    /// Random damage (bit flips or a truncation) of one PDU, from this seed.
    Mutate(u64),
}

/// What the host must do about the damaged connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// A fatal error: the host closes the connection; an H2CTermReq before the close must carry
    /// one of these `(FES, FEI)` (`None`: any FEI).
    Fatal(&'static [(u16, Option<u32>)]),
    /// The host closes without sending a TermReq (a TermReq is never answered with one).
    CloseQuietly,
    /// Not fatal: the connection stays up, without TermReq, for the hold time.
    Survive,
    /// The proxy cut the connection itself: only the host's return counts.
    Reconnect,
    /// Random damage: closing (without TermReq or with a well-formed one) or staying up.
    Any,
}

/// What a connection must have negotiated for the case to apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Needs {
    /// Header digests on.
    pub hdgst: bool,
    /// Data digests on.
    pub ddgst: bool,
    /// The host did not ask for data digests (so granting them is a fault).
    pub no_ddgst: bool,
}

/// One case.
#[derive(Debug, Clone)]
pub struct Case {
    /// The name `--case` selects it by.
    pub name: String,
    /// The fault.
    pub fault: Fault,
    /// The host's required reaction.
    pub expect: Expect,
    /// What the connection must have negotiated.
    pub needs: Needs,
    /// Run only when named: the spec requires the reaction but the in-tree C host does not
    /// check this (it ignores ICResp HLEN and C2HData DATAO).
    pub named_only: bool,
}

/// FES values, as numbers for the tables below.
const INVALID_FIELD: u16 = 0x01;
const HDGST_ERROR: u16 = 0x03;
const OUT_OF_RANGE: u16 = 0x04;
const UNSUPPORTED: u16 = 0x06;

/// Returns every fixed case, in the order they run.
pub fn all() -> Vec<Case> {
    let digests = Needs {
        hdgst: true,
        ..Needs::default()
    };
    let case = |name: &str, fault, expect, needs, named_only| Case {
        name: name.to_string(),
        fault,
        expect,
        needs,
        named_only,
    };
    let none = Needs::default();
    vec![
        case("kill", Fault::Kill, Expect::Reconnect, none, false),
        case(
            "icresp-pfv",
            Fault::IcResp(IcFault::Pfv),
            Expect::Fatal(&[(UNSUPPORTED, Some(8))]),
            none,
            false,
        ),
        case(
            "icresp-maxh2cdata",
            Fault::IcResp(IcFault::MaxH2CData),
            Expect::Fatal(&[(INVALID_FIELD, Some(12)), (UNSUPPORTED, Some(12))]),
            none,
            false,
        ),
        case(
            "icresp-cpda",
            Fault::IcResp(IcFault::Cpda),
            Expect::Fatal(&[(INVALID_FIELD, Some(10)), (UNSUPPORTED, Some(10))]),
            none,
            false,
        ),
        case(
            "icresp-dgst",
            Fault::IcResp(IcFault::Dgst),
            Expect::Fatal(&[(UNSUPPORTED, Some(11)), (INVALID_FIELD, Some(11))]),
            Needs {
                no_ddgst: true,
                ..none
            },
            false,
        ),
        case(
            "icresp-plen",
            Fault::IcResp(IcFault::Plen),
            Expect::Fatal(&[(INVALID_FIELD, Some(4))]),
            none,
            false,
        ),
        case(
            "icresp-hlen",
            Fault::IcResp(IcFault::Hlen),
            Expect::Fatal(&[(INVALID_FIELD, Some(2))]),
            none,
            true,
        ),
        case(
            "resp-hlen",
            Fault::RspHlen,
            Expect::Fatal(&[(INVALID_FIELD, Some(2))]),
            digests,
            false,
        ),
        case(
            "resp-hdgst",
            Fault::RspHdgst,
            Expect::Fatal(&[(HDGST_ERROR, None)]),
            digests,
            false,
        ),
        case(
            "c2h-ddgst",
            Fault::C2HDdgst,
            Expect::Survive,
            Needs {
                ddgst: true,
                ..none
            },
            false,
        ),
        case(
            "resp-unknown-cid",
            Fault::RspUnknownCid,
            Expect::Fatal(&[(INVALID_FIELD, Some(20))]),
            none,
            false,
        ),
        case(
            "c2h-beyond",
            Fault::C2HBeyond,
            Expect::Fatal(&[(OUT_OF_RANGE, None)]),
            none,
            false,
        ),
        case(
            "c2h-overlap",
            Fault::C2HOverlap,
            Expect::Fatal(&[(INVALID_FIELD, Some(12)), (OUT_OF_RANGE, None)]),
            none,
            false,
        ),
        case(
            "c2h-shift",
            Fault::C2HShift,
            Expect::Fatal(&[(INVALID_FIELD, Some(12)), (OUT_OF_RANGE, None)]),
            none,
            true,
        ),
        case(
            "r2t-beyond",
            Fault::R2tBeyond,
            Expect::Fatal(&[(OUT_OF_RANGE, None)]),
            none,
            false,
        ),
        case(
            "r2t-zero",
            Fault::R2tZero,
            Expect::Fatal(&[(INVALID_FIELD, Some(16))]),
            none,
            false,
        ),
        case(
            "c2h-termreq",
            Fault::C2HTermReq,
            Expect::CloseQuietly,
            none,
            false,
        ),
    ]
}

/// Returns `n` mutation cases drawn from `seed` (each needs both digests).
pub fn mutations(n: usize, seed: u64) -> Vec<Case> {
    (0..n)
        .map(|i| Case {
            name: format!("mutate-{i}"),
            fault: Fault::Mutate(seed.wrapping_add(i as u64).wrapping_mul(0x9e37_79b9)),
            expect: Expect::Any,
            needs: Needs {
                hdgst: true,
                ddgst: true,
                no_ddgst: false,
            },
            named_only: false,
        })
        .collect()
}

/// How the host reacted on the damaged connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reaction {
    /// The H2CTermReq it sent, `(FES, FEI)`, if any.
    pub term: Option<(u16, u32)>,
    /// Whether it closed the connection (within the time allowed).
    pub closed: bool,
}

/// Judges `r` against `want`; returns why it fails, or `None` if it passes.
pub fn judge(want: Expect, r: Reaction, require_term: bool) -> Option<String> {
    let term_ok = |alts: &[(u16, Option<u32>)], (fes, fei): (u16, u32)| {
        alts.iter()
            .any(|&(f, i)| f == fes && i.is_none_or(|i| i == fei))
    };
    match want {
        Expect::Reconnect => None,
        Expect::Fatal(alts) => match (r.term, r.closed) {
            (_, false) => Some("the host did not close the connection".into()),
            (Some(t), true) if !term_ok(alts, t) => Some(format!(
                "H2CTermReq FES {:#x} FEI {} is not one of {}",
                t.0,
                t.1,
                describe_alts(alts)
            )),
            (None, true) if require_term => Some(format!(
                "closed without the required H2CTermReq ({})",
                describe_alts(alts)
            )),
            _ => None,
        },
        Expect::CloseQuietly => match (r.term, r.closed) {
            (Some(t), _) => Some(format!(
                "answered a C2HTermReq with an H2CTermReq (FES {:#x})",
                t.0
            )),
            (None, false) => Some("the host did not close the connection".into()),
            (None, true) => None,
        },
        Expect::Survive => match (r.term, r.closed) {
            (Some(t), _) => Some(format!(
                "H2CTermReq FES {:#x} for an error that is not fatal",
                t.0
            )),
            (None, true) => Some("closed the connection over an error that is not fatal".into()),
            (None, false) => None,
        },
        Expect::Any => match r.term {
            Some((fes, _)) if !(1..=6).contains(&fes) => {
                Some(format!("H2CTermReq with an undefined FES {fes:#x}"))
            }
            _ => None,
        },
    }
}

/// Lists the accepted `(FES, FEI)` pairs for a message.
pub fn describe_alts(alts: &[(u16, Option<u32>)]) -> String {
    alts.iter()
        .map(|(f, i)| match i {
            Some(i) => format!("FES {f:#x} FEI {i}"),
            None => format!("FES {f:#x}"),
        })
        .collect::<Vec<_>>()
        .join(" or ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLOSED: Reaction = Reaction {
        term: None,
        closed: true,
    };

    #[test]
    fn fatal_accepts_a_quiet_close_unless_a_term_req_is_required() {
        let want = Expect::Fatal(&[(4, None)]);
        assert_eq!(judge(want, CLOSED, false), None);
        assert!(judge(want, CLOSED, true).is_some());
        let term = Reaction {
            term: Some((4, 0)),
            closed: true,
        };
        assert_eq!(judge(want, term, true), None);
        let wrong = Reaction {
            term: Some((1, 12)),
            closed: true,
        };
        assert!(judge(want, wrong, false).is_some());
        let open = Reaction {
            term: None,
            closed: false,
        };
        assert!(judge(want, open, false).is_some());
    }

    #[test]
    fn fei_is_checked_when_given() {
        let want = Expect::Fatal(&[(1, Some(12)), (4, None)]);
        for (t, ok) in [((1, 12), true), ((1, 16), false), ((4, 99), true)] {
            let r = Reaction {
                term: Some(t),
                closed: true,
            };
            assert_eq!(judge(want, r, false).is_none(), ok, "{t:?}");
        }
    }

    #[test]
    fn term_req_is_never_answered_with_one() {
        assert_eq!(judge(Expect::CloseQuietly, CLOSED, true), None);
        let answered = Reaction {
            term: Some((2, 0)),
            closed: true,
        };
        assert!(judge(Expect::CloseQuietly, answered, false).is_some());
    }

    #[test]
    fn survive_means_open_and_silent() {
        let open = Reaction {
            term: None,
            closed: false,
        };
        assert_eq!(judge(Expect::Survive, open, false), None);
        assert!(judge(Expect::Survive, CLOSED, false).is_some());
    }

    #[test]
    fn names_are_unique_and_mutations_differ() {
        let mut names: Vec<_> = all().into_iter().map(|c| c.name).collect();
        names.extend(mutations(3, 1).into_iter().map(|c| c.name));
        let n = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), n);
        let m = mutations(2, 5);
        assert_ne!(m[0].fault, m[1].fault);
    }
}
