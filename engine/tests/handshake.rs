//! Opening handshake over real sockets, on both backends.

mod common;

use std::time::Duration;

use common::*;

both_backends!(accepted_and_echo, |backend| {
    let h = start(backend, Echo::new(), |b| b);
    let mut c = Client::connect(h.local_addr());
    c.send_text("hello");
    assert_eq!(c.recv_data(), Some(Ev::Text("hello".into())));
    h.shutdown(Duration::from_secs(1));
});

fn status_of(resp: &str) -> u16 {
    resp.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

both_backends!(refusals, |backend| {
    let h = start(backend, Echo::new(), |b| b);
    let a = h.local_addr();
    let big = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(10_000)
    );
    let cases: [(&str, Vec<u8>, u16); 6] = [
        ("garbage", b"NOT HTTP AT ALL\r\n\r\n".to_vec(), 400),
        ("no key", b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n".to_vec(), 400),
        ("POST", b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n".to_vec(), 405),
        ("plain GET", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), 426),
        ("bad version", b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n".to_vec(), 426),
        ("too large", big.into_bytes(), 431),
    ];
    for (name, req, want) in cases {
        let resp = raw_http(a, &[&req]);
        assert_eq!(status_of(&resp), want, "{name}: {resp:?}");
    }
    // Plain GET names the WebSocket endpoint, not a hang.
    let resp = raw_http(a, &[b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"]);
    assert!(resp.to_ascii_lowercase().contains("websocket"), "{resp}");
    // Application refusal.
    assert!(Client::connect_path(a, "/forbidden").is_err());
    let resp = raw_http(a, &[b"GET /forbidden HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"]);
    assert_eq!(status_of(&resp), 403, "{resp}");
    h.shutdown(Duration::from_secs(1));
});

both_backends!(headers_split_over_many_writes, |backend| {
    let h = start(backend, Echo::new(), |b| b);
    let req = b"GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    let chunks: Vec<&[u8]> = req.chunks(7).collect();
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(h.local_addr()).unwrap();
    s.set_nodelay(true).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    for c in chunks {
        s.write_all(c).unwrap();
        std::thread::sleep(Duration::from_millis(1));
    }
    let mut buf = [0u8; 512];
    let n = s.read(&mut buf).unwrap();
    let resp = String::from_utf8_lossy(&buf[..n]);
    assert!(resp.starts_with("HTTP/1.1 101"), "{resp}");
    assert!(resp.contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), "{resp}");
    h.shutdown(Duration::from_secs(1));
});

both_backends!(first_frame_in_same_packet_as_handshake, |backend| {
    let h = start(backend, Echo::new(), |b| b);
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(h.local_addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut pkt = b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n".to_vec();
    ringws_codec::write_frame(&mut pkt, true, ringws_codec::OpCode::Text, b"early", mask());
    s.write_all(&pkt).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 512];
    while !got.ends_with(b"early") {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "eof: {:?}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 101"));
    assert!(got.ends_with(&[0x81, 5, b'e', b'a', b'r', b'l', b'y']));
    h.shutdown(Duration::from_secs(1));
});

both_backends!(handshake_timeout, |backend| {
    let h = start(backend, Echo::new(), |b| {
        b.handshake_timeout(Duration::from_millis(300))
    });
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(h.local_addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap();
    let t = std::time::Instant::now();
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0, "expected the server to hang up");
    let waited = t.elapsed();
    assert!(
        waited >= Duration::from_millis(250) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
    h.shutdown(Duration::from_secs(1));
});

both_backends!(several_bind_addresses, |backend| {
    let h = ringws::Server::builder()
        .bind("127.0.0.1:0")
        .bind("127.0.0.2:0")
        .workers(2)
        .backend(backend)
        .pin_workers(false)
        .start(Echo::new())
        .unwrap();
    let addrs = h.local_addrs().to_vec();
    assert_eq!(addrs.len(), 2);
    assert_eq!(addrs[1].ip().to_string(), "127.0.0.2");
    for addr in addrs {
        for i in 0..4 {
            let mut c = Client::connect(addr);
            c.send_text(&format!("via {addr} #{i}"));
            assert_eq!(c.recv_data(), Some(Ev::Text(format!("via {addr} #{i}"))));
        }
    }
    h.shutdown(Duration::from_secs(1));
});

both_backends!(subprotocol_choice, |backend| {
    let h = start(backend, Echo::new(), |b| b);
    let a = h.local_addr();
    let req = |path: &str, protos: &str| {
        format!(
            "GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{protos}\r\n"
        )
    };
    // The 101 head only (the connection then stays open).
    let head = |request: String| {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(a).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(request.as_bytes()).unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 512];
        while !got.ends_with(b"\r\n\r\n") {
            let n = s.read(&mut buf).unwrap();
            assert!(n > 0, "eof");
            got.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&got).to_ascii_lowercase()
    };
    let resp = head(req("/", "Sec-WebSocket-Protocol: superchat, chat\r\n"));
    assert!(resp.starts_with("http/1.1 101"), "{resp}");
    assert!(resp.contains("sec-websocket-protocol: chat\r\n"), "{resp}");
    // No protocol offered → none in the response.
    let resp = head(req("/", ""));
    assert!(resp.starts_with("http/1.1 101"), "{resp}");
    assert!(!resp.contains("sec-websocket-protocol"), "{resp}");
    // The handler picks one the client never offered: 500, not a bad 101.
    let resp = raw_http(a, &[req("/bad-protocol", "").as_bytes()]);
    assert!(resp.starts_with("HTTP/1.1 500"), "{resp}");
    h.shutdown(Duration::from_secs(1));
});

both_backends!(connection_limit_per_worker, |backend| {
    let h = start(backend, Echo::new(), |b| b.max_connections_per_worker(2));
    let a = h.local_addr();
    let mut c1 = Client::connect(a);
    let mut c2 = Client::connect(a);
    // The third is closed at once, before any handshake.
    assert!(Client::connect_path(a, "/").is_err());
    for c in [&mut c1, &mut c2] {
        c.send_text("still served");
        assert_eq!(c.recv_data(), Some(Ev::Text("still served".into())));
    }
    // A slot frees up when one leaves.
    c1.send_frame(true, ringws_codec::OpCode::Close, &[0x03, 0xe8]);
    assert!(c1.wait_eof());
    drop(c1);
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    while h.stats().connections > 1 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut c3 = Client::connect(a);
    c3.send_text("in");
    assert_eq!(c3.recv_data(), Some(Ev::Text("in".into())));
    h.shutdown(Duration::from_secs(1));
});
