//! ICReq/ICResp negotiation, both sides, as the C drivers check them.

use nvme_tcp_pdu::ic::MIN_MAXH2CDATA;
use nvme_tcp_pdu::negotiate::valid_maxh2cdata;
use nvme_tcp_pdu::*;

#[test]
fn host_and_target_agree() {
    for (hdgst, ddgst) in [(false, false), (true, false), (false, true), (true, true)] {
        let host = HostConfig {
            hdgst,
            ddgst,
            maxr2t: 0,
        };
        let icreq = host.icreq();
        assert_eq!((icreq.pfv, icreq.hpda), (0, 0));
        let (tparams, icresp) = TargetConfig::default().accept_icreq(&icreq).unwrap();
        let hparams = host.accept_icresp(&icresp).unwrap();
        assert_eq!(hparams, tparams);
        assert_eq!((hparams.hdgst, hparams.ddgst), (hdgst, ddgst));
        assert_eq!(hparams.maxh2cdata, 0x40_0000);
        assert_eq!(icresp.cpda, 0);
    }
}

#[test]
fn target_grants_only_allowed_digests_and_host_then_refuses() {
    let host = HostConfig {
        hdgst: true,
        ddgst: true,
        maxr2t: 3,
    };
    let target = TargetConfig {
        hdgst: true,
        ddgst: false,
        maxh2cdata: 8192,
    };
    let (p, icresp) = target.accept_icreq(&host.icreq()).unwrap();
    assert!(p.hdgst && !p.ddgst);
    assert_eq!(p.maxr2t, 3);
    assert_eq!(
        host.accept_icresp(&icresp),
        Err(FatalError::unsupported(11))
    );
}

#[test]
fn target_accepts_nonzero_hpda_and_honours_it() {
    let icreq = IcReq {
        pfv: 0,
        hpda: 31,
        dgst: DigestOptions(0),
        maxr2t: 0,
    };
    let (p, _) = TargetConfig::default().accept_icreq(&icreq).unwrap();
    assert_eq!(p.hpda, 31);
    assert_eq!(p.framing(Role::Target).pda, 31);
    assert_eq!(p.rx_pda(Role::Target), 0);
}

#[test]
fn icreq_rejections() {
    let t = TargetConfig::default();
    let good = HostConfig::default().icreq();
    let bad_pfv = IcReq { pfv: 1, ..good };
    assert_eq!(t.accept_icreq(&bad_pfv), Err(FatalError::unsupported(8)));
    let bad_hpda = IcReq { hpda: 32, ..good };
    assert_eq!(
        t.accept_icreq(&bad_hpda),
        Err(FatalError::invalid_field(10))
    );
}

#[test]
fn icresp_rejections() {
    let host = HostConfig::default();
    let good = IcResp {
        pfv: 0,
        cpda: 0,
        dgst: DigestOptions(0),
        maxh2cdata: MIN_MAXH2CDATA,
    };
    assert!(host.accept_icresp(&good).is_ok());
    // Non-zero CPDA (which the C host refuses) is accepted up to 31.
    assert_eq!(
        host.accept_icresp(&IcResp { cpda: 31, ..good })
            .unwrap()
            .cpda,
        31
    );
    let cases = [
        (IcResp { pfv: 1, ..good }, FatalError::unsupported(8)),
        (IcResp { cpda: 32, ..good }, FatalError::invalid_field(10)),
        (
            IcResp {
                dgst: DigestOptions(1),
                ..good
            },
            FatalError::unsupported(11),
        ),
        (
            IcResp {
                dgst: DigestOptions(2),
                ..good
            },
            FatalError::unsupported(11),
        ),
        (
            IcResp {
                maxh2cdata: 4092,
                ..good
            },
            FatalError::invalid_field(12),
        ),
        (
            IcResp {
                maxh2cdata: 4098,
                ..good
            },
            FatalError::invalid_field(12),
        ),
        (
            IcResp {
                maxh2cdata: 0,
                ..good
            },
            FatalError::invalid_field(12),
        ),
    ];
    for (resp, err) in cases {
        assert_eq!(host.accept_icresp(&resp), Err(err), "{resp:?}");
    }
    // Unknown DGST bits are ignored.
    assert!(host
        .accept_icresp(&IcResp {
            dgst: DigestOptions(0xfc),
            ..good
        })
        .is_ok());
    assert!(valid_maxh2cdata(4096) && valid_maxh2cdata(0x40_0000) && !valid_maxh2cdata(4097));
}
