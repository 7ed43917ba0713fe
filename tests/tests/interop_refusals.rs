//! Refusals, checked with a raw socket against ringws on each backend: a GET
//! without upgrade, version 8, a bad key and headers over the limit each get
//! an HTTP error status, and the server closes the socket afterwards.
//!
//! These run against ringws itself (`RINGWS_BIN`, else the binary cargo
//! builds), not a peer: the peers leave refusals to their HTTP layer and some
//! just drop the connection (see docs/conformance.md).

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::start_ringws;

const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// Sends `request`, returns (status, head) and whether the socket then closed.
fn exchange(port: u16, request: &[u8]) -> (u16, String, bool) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    // The server may answer and close before reading everything we send.
    let _ = s.write_all(request);
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(5);
    let closed = loop {
        if Instant::now() > deadline {
            break false;
        }
        match s.read(&mut chunk) {
            Ok(0) => break true,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => break true,
            Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::TimedOut => {
                break false
            }
            Err(e) => panic!("read: {e}"),
        }
    };
    let text = String::from_utf8_lossy(&buf).to_string();
    let head = text.split("\r\n\r\n").next().unwrap_or("").to_string();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, head, closed)
}

fn upgrade(version: &str, key: &str, extra: &str) -> Vec<u8> {
    format!(
        "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: {version}\r\n{extra}\r\n"
    )
    .into_bytes()
}

fn check_refusals(backend: &str) {
    let server = start_ringws(backend);
    let filler: String = (0..100)
        .map(|i| format!("X-Filler-{i}: {}\r\n", "a".repeat(1000)))
        .collect();
    // (what, request, accepted statuses)
    let cases: Vec<(&str, Vec<u8>, &[u16])> = vec![
        (
            "GET without upgrade",
            b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".to_vec(),
            &[400, 426],
        ),
        ("version 8", upgrade("8", KEY, ""), &[426, 400]),
        ("bad key", upgrade("13", "short", ""), &[400]),
        (
            "headers over the limit",
            upgrade("13", KEY, &filler),
            &[431, 400],
        ),
    ];
    for (what, req, statuses) in cases {
        let (status, head, closed) = exchange(server.port, &req);
        eprintln!("{backend}: {what}: {status} closed={closed}");
        assert!(
            statuses.contains(&status),
            "{backend}: {what}: got {status}\n{head}"
        );
        assert!(closed, "{backend}: {what}: socket left open after {status}");
        if what == "version 8" && status == 426 {
            // RFC 6455 section 4.4: say which version we speak.
            assert!(
                head.to_ascii_lowercase()
                    .contains("sec-websocket-version: 13"),
                "{head}"
            );
        }
    }
    // And a correct request still upgrades on the same server.
    let (status, head, _) = exchange_open(server.port);
    assert_eq!(status, 101, "{head}");
}

/// A valid upgrade: returns the status without waiting for a close.
fn exchange_open(port: u16) -> (u16, String, bool) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(&upgrade("13", KEY, "")).unwrap();
    let mut buf = [0u8; 1024];
    let n = s.read(&mut buf).unwrap_or(0);
    let head = String::from_utf8_lossy(&buf[..n]).to_string();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, head, false)
}

#[test]
fn refusals_epoll() {
    check_refusals("epoll");
}

#[test]
fn refusals_uring() {
    if !common::io_uring_allowed() {
        // A kernel setting, not a missing tool: skip even in CI, visibly.
        eprintln!("SKIPPED: kernel.io_uring_disabled forbids io_uring on this machine");
        return;
    }
    check_refusals("uring");
}
