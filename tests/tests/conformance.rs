//! The conformance runner against real servers: the reference peers (with
//! the verdicts known for them) and the server under test (zero FAILED).

mod common;
#[path = "common/tls_proxy.rs"]
mod tls_proxy;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::{servers_under_test, start_peer, Peer};
use ringws_conformance::{all_cases, run, select, Report, RunOptions, Selection, Verdict};

fn run_chapters(url: &str, agent: &str, cases: &str, max_size: usize) -> Report {
    let (cases, _) = select(all_cases(), &Selection::parse(cases), None, max_size);
    let opts = RunOptions {
        timeout: Duration::from_secs(5),
        jobs: 8,
        progress: false,
    };
    run(agent, url, &cases, &opts).expect("run")
}

fn verdicts(r: &Report) -> BTreeMap<String, Verdict> {
    r.results
        .iter()
        .map(|c| (c.id.clone(), c.verdict))
        .collect()
}

fn show(r: &Report) -> String {
    r.results
        .iter()
        .filter(|c| c.verdict != Verdict::Ok)
        .map(|c| format!("{} {} {}", c.id, c.verdict, c.reason))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Verdicts every RFC-conforming echo server earns in cases with one answer.
fn assert_common(r: &Report) {
    let v = verdicts(r);
    assert_eq!(r.failed().count(), 0, "{}:\n{}", r.agent, show(r));
    for id in ["7.1.6", "7.13.1", "7.13.2"] {
        assert_eq!(v[id], Verdict::Informational, "{} {id}", r.agent);
    }
    // Both peers validate UTF-8 per frame: fail fast across frames (6.4.1/2)
    // but only at the end of a frame that arrives in chops (6.4.3/4).
    for id in ["6.4.1", "6.4.2"] {
        assert_eq!(v[id], Verdict::Ok, "{} {id}: {}", r.agent, show(r));
    }
    for id in ["6.4.3", "6.4.4"] {
        assert_eq!(v[id], Verdict::NonStrict, "{} {id}: {}", r.agent, show(r));
    }
    for (id, verdict) in &v {
        if id.starts_with("1.")
            || id.starts_with("2.")
            || id.starts_with("6.5.")
            || id.starts_with("7.7.")
            || id.starts_with("10.")
        {
            assert_eq!(*verdict, Verdict::Ok, "{} {id}: {}", r.agent, show(r));
        }
    }
}

#[test]
fn tungstenite_known_verdicts() {
    let server = start_peer(Peer::Tungstenite);
    let t0 = Instant::now();
    let r = run_chapters(
        &server.url,
        "tokio-tungstenite",
        "1,2,3,4,5,6,7,10",
        usize::MAX,
    );
    assert!(r.results.len() >= 240, "{} cases", r.results.len());
    assert_common(&r);
    // tungstenite fails the connection by dropping TCP, without a close frame.
    let c = r.results.iter().find(|c| c.id == "6.3.1").unwrap();
    assert_eq!((c.close_code, c.closed_by.as_str()), (None, "server"));
    assert!(
        t0.elapsed() < Duration::from_secs(60),
        "took {:?}",
        t0.elapsed()
    );
}

#[test]
fn fastwebsockets_known_verdicts() {
    let server = start_peer(Peer::FastWebSockets);
    let r = run_chapters(
        &server.url,
        "fastwebsockets",
        "1,2,3,4,5,6,7,10",
        usize::MAX,
    );
    assert_common(&r);
    let v = verdicts(&r);
    // fastwebsockets answers a close whose payload is 126 bytes (too long for
    // a control frame) with 1000 instead of failing with 1002.
    assert_eq!(v["7.3.6"], Verdict::NonStrict, "{}", show(&r));
    // Like tungstenite, it fails the connection by dropping TCP: no close frame.
    let c = r.results.iter().find(|c| c.id == "6.3.1").unwrap();
    assert_eq!(
        (c.close_code, c.closed_by.as_str()),
        (None, "server"),
        "{c:?}"
    );
}

/// The servers under test (ringws on each backend unless
/// `RINGWS_TEST_SERVER` says otherwise): chapters 1–7, 9 with messages up to
/// 1 MiB, and 10, with zero FAILED. `RINGWS_CONFORMANCE_JSON=dir` keeps the
/// reports.
#[test]
fn servers_under_test_have_no_failures() {
    for (i, spec) in servers_under_test().into_iter().enumerate() {
        let server = spec.start();
        let t0 = Instant::now();
        let r = run_chapters(&server.url, &server.name, "1,2,3,4,5,6,7,9,10", 1 << 20);
        eprintln!(
            "{}: {} cases in {:.1} s: {:?}",
            server.name,
            r.results.len(),
            t0.elapsed().as_secs_f64(),
            r.counts()
        );
        if let Ok(dir) = std::env::var("RINGWS_CONFORMANCE_JSON") {
            let path = std::path::Path::new(&dir).join(format!("server-{i}.json"));
            std::fs::write(&path, r.to_json()).expect("write report");
        }
        assert_eq!(r.failed().count(), 0, "{}:\n{}", server.name, show(&r));
        assert!(r.results.len() >= 270, "{} cases", r.results.len());
    }
}

/// Chapters 1–7, 9 (up to 1 MiB) and 10 against ringws over wss:// on each
/// backend, with zero FAILED: the runner speaks plain TCP to a
/// TLS-terminating proxy (rustls, verifying the test CA) in front of
/// `ringws --tls-cert … --tls-key …`. TLS re-cuts the runner's chops into
/// records, so timing-dependent verdicts may differ from plain TCP; none
/// may fail.
#[test]
fn ringws_over_wss_has_no_failures() {
    let ca = common::TestCa::new("conformance");
    for backend in common::ringws_backends() {
        let server = common::start_ringws_tls(backend, &ca);
        let upstream = format!("127.0.0.1:{}", server.port).parse().unwrap();
        let proxy = tls_proxy::TlsProxy::start(upstream, &ca.ca);
        let t0 = Instant::now();
        let r = run_chapters(&proxy.url(), &server.name, "1,2,3,4,5,6,7,9,10", 1 << 20);
        eprintln!(
            "{}: {} cases in {:.1} s: {:?}",
            server.name,
            r.results.len(),
            t0.elapsed().as_secs_f64(),
            r.counts()
        );
        assert_eq!(r.failed().count(), 0, "{}:\n{}", server.name, show(&r));
        assert!(r.results.len() >= 270, "{} cases", r.results.len());
    }
}

/// The hook for chapters 12–13: a case offering permessage-deflate to a
/// server without it (tungstenite has no compression) is UNIMPLEMENTED.
#[test]
fn declined_extension_is_unimplemented() {
    use ringws_conformance::{run_case, Case, Event, Frame, Script, Target};
    let server = start_peer(Peer::Tungstenite);
    let case = Case::new(&[12, 0, 1], "probe", "permessage-deflate accepted", || {
        Script::new()
            .offer_extension("permessage-deflate; client_max_window_bits")
            .send([Frame::text("x")])
            .expect([Event::text("x")])
    });
    let r = run_case(
        &Target::parse(&server.url).unwrap(),
        &case,
        Duration::from_secs(2),
    );
    assert_eq!(r.verdict, Verdict::Unimplemented, "{r:?}");
}

/// Chapters 12–13 (permessage-deflate) against ringws with `--compression
/// shared` and `dedicated` on each backend: every case OK; against a server
/// without compression (tokio-tungstenite) every case UNIMPLEMENTED.
#[test]
fn compression_chapters() {
    let mut backends = vec!["epoll"];
    if common::io_uring_allowed() {
        backends.push("uring");
    }
    for policy in ["shared", "dedicated"] {
        for backend in &backends {
            let server = common::spawn_binary(
                &common::ringws_binary(),
                &format!("--bind 127.0.0.1:{{port}} --backend {backend} --compression {policy}"),
            );
            let t0 = Instant::now();
            let r = run_chapters(&server.url, &server.name, "12,13", usize::MAX);
            eprintln!(
                "{}: {} cases in {:.1} s: {:?}",
                server.name,
                r.results.len(),
                t0.elapsed().as_secs_f64(),
                r.counts()
            );
            assert_eq!(r.results.len(), 90, "{} cases", r.results.len());
            let not_ok: Vec<_> = r
                .results
                .iter()
                .filter(|c| c.verdict != Verdict::Ok)
                .map(|c| format!("{} {} {}", c.id, c.verdict, c.reason))
                .collect();
            assert!(not_ok.is_empty(), "{}:\n{}", server.name, not_ok.join("\n"));
        }
    }
    let peer = start_peer(Peer::Tungstenite);
    let r = run_chapters(&peer.url, "tokio-tungstenite", "12,13", usize::MAX);
    assert!(
        r.results
            .iter()
            .all(|c| c.verdict == Verdict::Unimplemented),
        "{}",
        show(&r)
    );
}
