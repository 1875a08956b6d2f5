//! The receive machine fed a PDU stream in every possible way gives identical results.
//!
//! Every single split point and every pair of split points of compact streams, plus random
//! chunkings of longer ones, for both roles, with digests off and on and with padding.

mod util;

use nvme_tcp_pdu::*;
use util::{
    host_stream, params, receiver, run, run_by_want, run_placing, target_stream, Driver, Ev, Rng,
};

fn headers(evs: &[Ev]) -> Vec<PduType> {
    evs.iter()
        .filter_map(|e| match e {
            Ev::Header(h) => Some(h.pdu.pdu_type()),
            _ => None,
        })
        .collect()
}

/// Checks that every split of `stream` gives `reference`: all single splits, all pairs of
/// splits if `pairs`, and `random` random chunkings.
fn all_splits(
    role: Role,
    p: Params,
    with_ic: bool,
    d: &Driver,
    s: &[u8],
    pairs: bool,
    random: usize,
) -> Vec<Ev> {
    let reference = run(receiver(role, p, with_ic), d.clone(), s, &[]);
    assert!(
        !reference.iter().any(|e| matches!(e, Ev::Fatal(_))),
        "{reference:?}"
    );
    for i in 0..=s.len() {
        assert_eq!(
            run(receiver(role, p, with_ic), d.clone(), s, &[i]),
            reference,
            "cut {i}"
        );
    }
    if pairs {
        for i in 0..=s.len() {
            for j in i..=s.len() {
                let got = run(receiver(role, p, with_ic), d.clone(), s, &[i, j]);
                assert_eq!(got, reference, "cuts {i} {j}");
            }
        }
    }
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ s.len() as u64);
    for _ in 0..random {
        let mut cuts: Vec<usize> = (0..1 + rng.below(40))
            .map(|_| rng.below(s.len() + 1))
            .collect();
        cuts.sort_unstable();
        assert_eq!(
            run(receiver(role, p, with_ic), d.clone(), s, &cuts),
            reference
        );
    }
    // One byte at a time.
    let every: Vec<usize> = (1..s.len()).collect();
    assert_eq!(
        run(receiver(role, p, with_ic), d.clone(), s, &every),
        reference
    );
    // A driver reading exactly what `want()` asks for, with its reads capped at various sizes.
    for max_read in [1, 3, 7, 64, usize::MAX] {
        assert_eq!(
            run_by_want(receiver(role, p, with_ic), d.clone(), s, max_read),
            reference,
            "max_read {max_read}"
        );
    }
    // A driver placing data itself where the receiver allows it.
    for (max_read, max_place) in [(1, 1), (5, 3), (64, 7), (usize::MAX, usize::MAX)] {
        assert_eq!(
            run_placing(
                receiver(role, p, with_ic),
                d.clone(),
                s,
                max_read,
                max_place
            ),
            reference,
            "max_read {max_read} max_place {max_place}"
        );
    }
    reference
}

#[test]
fn host_stream_every_split() {
    for digests in [false, true] {
        for hpda in [0, 1, 7] {
            let p = params(digests, hpda);
            let (d, s) = host_stream(p, true, false);
            let evs = all_splits(Role::Host, p, true, &d, &s, false, 2000);
            assert_eq!(
                headers(&evs),
                [
                    PduType::IcResp,
                    PduType::CapsuleResp,
                    PduType::C2HData,
                    PduType::C2HData,
                    PduType::R2t,
                    PduType::C2HData,
                    PduType::CapsuleResp
                ]
            );
            assert_eq!(evs[1], Ev::AwaitParams);
            let data: Vec<&Ev> = evs
                .iter()
                .filter(|e| matches!(e, Ev::Data { .. }))
                .collect();
            assert_eq!(
                data[1],
                &Ev::Data {
                    offset: 24,
                    bytes: (100..116).collect()
                }
            );
            let verdict = if digests {
                DataDigest::Good
            } else {
                DataDigest::Absent
            };
            assert_eq!(evs.iter().filter(|e| **e == Ev::End(verdict)).count(), 3);
        }
    }
}

#[test]
fn host_stream_every_pair_of_splits() {
    for digests in [false, true] {
        let p = params(digests, 1);
        let (d, s) = host_stream(p, true, false);
        all_splits(Role::Host, p, true, &d, &s, true, 0);
    }
}

#[test]
fn target_stream_every_split() {
    for digests in [false, true] {
        let p = params(digests, 0);
        let (d, s) = target_stream(p, true);
        let evs = all_splits(Role::Target, p, true, &d, &s, false, 2000);
        assert_eq!(
            headers(&evs),
            [
                PduType::IcReq,
                PduType::CapsuleCmd,
                PduType::CapsuleCmd,
                PduType::H2CData,
                PduType::H2CData,
                PduType::H2CTermReq
            ]
        );
        assert!(evs.contains(&Ev::Data {
            offset: 0,
            bytes: vec![0xab; 20]
        }));
        assert!(evs.contains(&Ev::Data {
            offset: 12,
            bytes: vec![2; 8]
        }));
        // The TermReq's data is the offending header, never digested.
        assert_eq!(
            evs[evs.len() - 2],
            Ev::Data {
                offset: 0,
                bytes: vec![0x55; 8]
            }
        );
        assert_eq!(evs[evs.len() - 1], Ev::End(DataDigest::Absent));
    }
}

#[test]
fn target_stream_every_pair_of_splits() {
    for digests in [false, true] {
        let p = params(digests, 0);
        let (d, s) = target_stream(p, true);
        all_splits(Role::Target, p, true, &d, &s, true, 0);
    }
}

#[test]
fn bad_data_digest_is_reported_and_not_fatal() {
    let p = params(true, 0);
    let (d, s) = host_stream(p, false, true);
    let evs = all_splits(Role::Host, p, false, &d, &s, false, 100);
    let bad: Vec<&Ev> = evs
        .iter()
        .filter(|e| matches!(e, Ev::End(DataDigest::Bad { .. })))
        .collect();
    assert_eq!(bad.len(), 1);
    let Ev::End(DataDigest::Bad { expected, received }) = bad[0] else {
        unreachable!()
    };
    assert_eq!(expected ^ received, 1 << 24);
    // The stream goes on: the CapsuleResp after it is parsed.
    assert!(matches!(evs.last(), Some(Ev::Header(h)) if h.pdu.pdu_type() == PduType::CapsuleResp));
}

#[test]
fn fatal_error_is_sticky_at_every_split() {
    // A CapsuleResp for an unknown CID in the middle of a host stream.
    let p = params(true, 0);
    let (mut d, s) = host_stream(p, false, false);
    d.commands.remove(&1);
    let reference = run(receiver(Role::Host, p, false), d.clone(), &s, &[]);
    assert_eq!(reference, [Ev::Fatal(FatalError::invalid_field(20))]);
    for i in 0..=s.len() {
        assert_eq!(
            run(receiver(Role::Host, p, false), d.clone(), &s, &[i]),
            reference
        );
    }
}
