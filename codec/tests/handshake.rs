//! Server handshake verdicts: a table of requests and the status each gets,
//! plus splitting, limits and the client ↔ server round trip.

use ringws_codec::{
    accept_key, reject_response, write_accept_response, AcceptError, ClientHandshake,
    ClientHandshakeError, ClientStatus, HandshakeConfig, HandshakeError, HandshakeStatus, Request,
    ServerHandshake,
};

/// The header set Chrome sends (order and values as captured from Chrome 131).
const CHROME: &[(&str, &str)] = &[
    ("Host", "localhost:9001"),
    ("Connection", "Upgrade"),
    ("Pragma", "no-cache"),
    ("Cache-Control", "no-cache"),
    (
        "User-Agent",
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    ),
    ("Upgrade", "websocket"),
    ("Origin", "http://localhost:8080"),
    ("Sec-WebSocket-Version", "13"),
    ("Accept-Encoding", "gzip, deflate, br, zstd"),
    ("Accept-Language", "en-US,en;q=0.9"),
    ("Cookie", "session=abc123; theme=dark"),
    ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
    ("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits"),
];

fn build(request_line: &str, headers: &[(&str, &str)]) -> Vec<u8> {
    let mut out = format!("{request_line}\r\n");
    for (n, v) in headers {
        out.push_str(&format!("{n}: {v}\r\n"));
    }
    out.push_str("\r\n");
    out.into_bytes()
}

/// Chrome's request with header `name` removed (case-insensitive) and `add`ed.
fn edited(remove: &[&str], add: &[(&str, &str)]) -> Vec<u8> {
    let mut h: Vec<(&str, &str)> = CHROME
        .iter()
        .copied()
        .filter(|(n, _)| !remove.iter().any(|r| r.eq_ignore_ascii_case(n)))
        .collect();
    h.extend_from_slice(add);
    build("GET /chat?room=1 HTTP/1.1", &h)
}

fn one_shot(bytes: &[u8]) -> Result<(Request, usize), HandshakeError> {
    match ServerHandshake::default().feed(bytes)? {
        HandshakeStatus::Complete { request, consumed } => Ok((request, consumed)),
        HandshakeStatus::Partial => panic!("partial: {:?}", String::from_utf8_lossy(bytes)),
    }
}

#[test]
fn chrome_request_is_accepted_and_exposed() {
    let bytes = edited(&[], &[]);
    let (req, consumed) = one_shot(&bytes).unwrap();
    assert_eq!(consumed, bytes.len());
    assert_eq!(req.method(), "GET");
    assert_eq!(req.target(), "/chat?room=1");
    assert_eq!(req.path(), "/chat");
    assert_eq!(req.query(), Some("room=1"));
    assert_eq!(req.host(), "localhost:9001");
    assert_eq!(req.origin(), Some("http://localhost:8080"));
    assert_eq!(req.key(), "dGhlIHNhbXBsZSBub25jZQ==");
    assert_eq!(&req.accept_key(), b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    assert_eq!(
        req.header("cookie"),
        Some(&b"session=abc123; theme=dark"[..])
    );
    assert_eq!(req.header("COOKIE"), req.header("Cookie"));
    assert_eq!(req.header("authorization"), None);
    assert!(req.protocols().is_empty());
    assert_eq!(req.extensions().len(), 1);
    assert_eq!(req.extensions()[0].name, "permessage-deflate");
    assert_eq!(
        req.extensions()[0].param("client_max_window_bits"),
        Some(None)
    );
    assert_eq!(req.headers().count(), CHROME.len());
    assert_eq!(req.head(), &bytes[..]);
}

#[test]
fn path_and_query_forms() {
    for (line, path, query) in [
        ("GET / HTTP/1.1", "/", None),
        ("GET /a/b HTTP/1.1", "/a/b", None),
        ("GET /a? HTTP/1.1", "/a", Some("")),
        ("GET /a?x=1&y=2 HTTP/1.1", "/a", Some("x=1&y=2")),
        ("GET /?q HTTP/1.1", "/", Some("q")),
    ] {
        let (req, _) = one_shot(&build(line, CHROME)).unwrap();
        assert_eq!((req.path(), req.query()), (path, query), "{line}");
    }
}

/// Every refusal, each header rule, with the status it gets.
#[test]
fn verdict_table() {
    use HandshakeError as E;
    let ok = Ok(());
    let chrome_line = "GET /chat HTTP/1.1";
    let many: Vec<(String, String)> = (0..70).map(|i| (format!("X-H{i}"), "v".into())).collect();
    let many: Vec<(&str, &str)> = many.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let big = "x".repeat(9000);
    let cases: Vec<(&str, Vec<u8>, Result<(), E>)> = vec![
        ("chrome", edited(&[], &[]), ok),
        // Method and version.
        ("POST", build("POST /chat HTTP/1.1", CHROME), Err(E::NotGet)),
        ("HEAD", build("HEAD /chat HTTP/1.1", CHROME), Err(E::NotGet)),
        (
            "lowercase get",
            build("get /chat HTTP/1.1", CHROME),
            Err(E::NotGet),
        ),
        (
            "HTTP/1.0",
            build("GET /chat HTTP/1.0", CHROME),
            Err(E::NotHttp11),
        ),
        (
            "HTTP/2.0",
            build("GET /chat HTTP/2.0", CHROME),
            Err(E::Malformed(httparse::Error::Version)),
        ),
        (
            "target *",
            build("GET * HTTP/1.1", CHROME),
            Err(E::BadTarget),
        ),
        (
            "absolute target",
            build("GET http://h/chat HTTP/1.1", CHROME),
            Err(E::BadTarget),
        ),
        // Host.
        ("no Host", edited(&["host"], &[]), Err(E::MissingHost)),
        (
            "empty Host",
            edited(&["host"], &[("Host", "")]),
            Err(E::MissingHost),
        ),
        (
            "two Hosts",
            edited(&[], &[("host", "evil")]),
            Err(E::DuplicateHeader("Host")),
        ),
        // Upgrade.
        (
            "plain GET",
            edited(&["upgrade", "connection"], &[]),
            Err(E::NotUpgrade),
        ),
        ("no Upgrade", edited(&["upgrade"], &[]), Err(E::NotUpgrade)),
        (
            "Upgrade h2c",
            edited(&["upgrade"], &[("Upgrade", "h2c")]),
            Err(E::NotUpgrade),
        ),
        (
            "Upgrade WebSocket",
            edited(&["upgrade"], &[("upgrade", "WebSocket")]),
            ok,
        ),
        (
            "Upgrade list",
            edited(&["upgrade"], &[("Upgrade", "h2c, websocket")]),
            ok,
        ),
        // Connection.
        (
            "no Connection",
            edited(&["connection"], &[]),
            Err(E::MissingConnectionUpgrade),
        ),
        (
            "keep-alive",
            edited(&["connection"], &[("Connection", "keep-alive")]),
            Err(E::MissingConnectionUpgrade),
        ),
        (
            "keep-alive, Upgrade",
            edited(&["connection"], &[("Connection", "keep-alive, Upgrade")]),
            ok,
        ),
        (
            "UPGRADE",
            edited(&["connection"], &[("CONNECTION", "UPGRADE")]),
            ok,
        ),
        (
            "two Connection headers",
            edited(
                &["connection"],
                &[("Connection", "keep-alive"), ("Connection", "upgrade")],
            ),
            ok,
        ),
        (
            "upgrade-ish",
            edited(&["connection"], &[("Connection", "upgraded")]),
            Err(E::MissingConnectionUpgrade),
        ),
        // Version.
        (
            "no version",
            edited(&["sec-websocket-version"], &[]),
            Err(E::MissingVersion),
        ),
        (
            "version 8",
            edited(
                &["sec-websocket-version"],
                &[("Sec-WebSocket-Version", "8")],
            ),
            Err(E::UnsupportedVersion),
        ),
        (
            "version 14",
            edited(
                &["sec-websocket-version"],
                &[("Sec-WebSocket-Version", "14")],
            ),
            Err(E::UnsupportedVersion),
        ),
        (
            "version list",
            edited(
                &["sec-websocket-version"],
                &[("Sec-WebSocket-Version", "13, 8")],
            ),
            Err(E::UnsupportedVersion),
        ),
        (
            "version padded",
            edited(
                &["sec-websocket-version"],
                &[("sec-websocket-version", "13  ")],
            ),
            ok,
        ),
        (
            "two versions",
            edited(&[], &[("Sec-WebSocket-Version", "13")]),
            Err(E::DuplicateHeader("Sec-WebSocket-Version")),
        ),
        // Key.
        (
            "no key",
            edited(&["sec-websocket-key"], &[]),
            Err(E::MissingKey),
        ),
        (
            "short key",
            edited(&["sec-websocket-key"], &[("Sec-WebSocket-Key", "abc")]),
            Err(E::BadKey),
        ),
        (
            "18-byte key",
            edited(
                &["sec-websocket-key"],
                &[("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQAA")],
            ),
            Err(E::BadKey),
        ),
        (
            "not base64",
            edited(
                &["sec-websocket-key"],
                &[("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZ!==")],
            ),
            Err(E::BadKey),
        ),
        (
            "two keys",
            edited(&[], &[("Sec-WebSocket-Key", "AAAAAAAAAAAAAAAAAAAAAA==")]),
            Err(E::DuplicateHeader("Sec-WebSocket-Key")),
        ),
        // Optional headers.
        (
            "protocols",
            edited(&[], &[("Sec-WebSocket-Protocol", "chat, superchat")]),
            ok,
        ),
        (
            "bad protocol",
            edited(&[], &[("Sec-WebSocket-Protocol", "chat, super chat")]),
            Err(E::InvalidHeader("Sec-WebSocket-Protocol")),
        ),
        (
            "bad extensions",
            edited(
                &["sec-websocket-extensions"],
                &[("Sec-WebSocket-Extensions", "permessage-deflate; =")],
            ),
            Err(E::InvalidHeader("Sec-WebSocket-Extensions")),
        ),
        (
            "two Origins",
            edited(&[], &[("Origin", "http://evil")]),
            Err(E::DuplicateHeader("Origin")),
        ),
        (
            "Content-Length 0",
            edited(&[], &[("Content-Length", "0")]),
            ok,
        ),
        (
            "Content-Length 5",
            edited(&[], &[("Content-Length", "5")]),
            Err(E::InvalidHeader("Content-Length")),
        ),
        (
            "chunked",
            edited(&[], &[("Transfer-Encoding", "chunked")]),
            Err(E::InvalidHeader("Transfer-Encoding")),
        ),
        // Syntax and limits.
        (
            "TLS ClientHello",
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03".to_vec(),
            Err(E::Malformed(httparse::Error::Token)),
        ),
        (
            "space in header name",
            edited(&[], &[("Bad Header", "x")]),
            Err(E::Malformed(httparse::Error::HeaderName)),
        ),
        (
            "too many headers",
            build(chrome_line, &[CHROME, &many].concat()),
            Err(E::TooManyHeaders),
        ),
        (
            "too large",
            edited(&[], &[("X-Big", &big)]),
            Err(E::HeadersTooLarge),
        ),
        // Check order: the earlier rule wins.
        (
            "POST without anything",
            build("POST / HTTP/1.1", &[]),
            Err(E::NotGet),
        ),
        (
            "version 8 without key",
            edited(
                &["sec-websocket-version", "sec-websocket-key"],
                &[("Sec-WebSocket-Version", "8")],
            ),
            Err(E::UnsupportedVersion),
        ),
    ];
    let mut failures = Vec::new();
    for (name, bytes, want) in &cases {
        let got = one_shot(bytes).map(|_| ());
        if &got != want {
            failures.push(format!("{name}: got {got:?}, want {want:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn status_of_each_refusal() {
    use HandshakeError as E;
    let table: &[(E, u16)] = &[
        (E::Malformed(httparse::Error::Token), 400),
        (E::NotGet, 405),
        (E::NotHttp11, 400),
        (E::BadTarget, 400),
        (E::MissingHost, 400),
        (E::NotUpgrade, 426),
        (E::MissingConnectionUpgrade, 400),
        (E::MissingKey, 400),
        (E::BadKey, 400),
        (E::MissingVersion, 400),
        (E::UnsupportedVersion, 426),
        (E::HeadersTooLarge, 431),
        (E::TooManyHeaders, 431),
        (E::DuplicateHeader("Host"), 400),
        (E::InvalidHeader("Origin"), 400),
    ];
    for (e, status) in table {
        assert_eq!(e.status(), *status, "{e:?}");
        let bytes = e.response_bytes();
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.starts_with(&format!("HTTP/1.1 {status} ")), "{text}");
        assert!(text.contains("\r\nConnection: "), "{text}");
        assert!(
            text.ends_with(&format!("\r\n\r\n{}\n", e.reason())),
            "{text}"
        );
    }
    let text = String::from_utf8(E::NotGet.response_bytes()).unwrap();
    assert!(text.contains("\r\nAllow: GET\r\n"));
    let text = String::from_utf8(E::UnsupportedVersion.response_bytes()).unwrap();
    assert!(text.contains("\r\nSec-WebSocket-Version: 13\r\n"));
    let text = String::from_utf8(E::NotUpgrade.response_bytes()).unwrap();
    assert!(text.contains("\r\nUpgrade: websocket\r\n"));
    assert!(text.contains("WebSocket endpoint"));
}

#[test]
fn repeated_protocol_headers_and_extension_lists() {
    let bytes = edited(
        &["sec-websocket-extensions"],
        &[
            ("Sec-WebSocket-Protocol", "chat, superchat"),
            ("sec-websocket-protocol", " v2 ,, "),
            (
                "Sec-WebSocket-Extensions",
                "permessage-deflate; client_max_window_bits, x-foo",
            ),
            ("Sec-WebSocket-Extensions", "x-bar; level=\"3\""),
        ],
    );
    let (req, _) = one_shot(&bytes).unwrap();
    assert_eq!(req.protocols(), ["chat", "superchat", "v2"]);
    let names: Vec<&str> = req.extensions().iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["permessage-deflate", "x-foo", "x-bar"]);
    assert_eq!(req.extensions()[2].param("level"), Some(Some("3")));
}

/// The bytes after the blank line are frames: `consumed` must stop exactly at
/// the blank line, whether the request arrives whole or in pieces.
#[test]
fn trailing_frames_are_kept_at_every_split() {
    let head = edited(&[], &[("Sec-WebSocket-Protocol", "chat")]);
    let frames = b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58"; // masked "Hello"
    let mut all = head.clone();
    all.extend_from_slice(frames);
    let (whole, consumed) = one_shot(&all).unwrap();
    assert_eq!(consumed, head.len());

    for i in 0..=all.len() {
        for j in i..=all.len() {
            let pieces = [&all[..i], &all[i..j], &all[j..]];
            let (req, leftover) = feed_pieces(&pieces).unwrap_or_else(|e| panic!("{i},{j}: {e}"));
            assert_eq!(leftover, frames, "split {i},{j}");
            assert_same(&req, &whole);
        }
    }
    // One byte at a time.
    let pieces: Vec<&[u8]> = all.chunks(1).collect();
    let (req, leftover) = feed_pieces(&pieces).unwrap();
    assert_eq!(leftover, frames);
    assert_same(&req, &whole);
}

/// Feeds pieces in order; returns the request and every byte after it.
fn feed_pieces(pieces: &[&[u8]]) -> Result<(Request, Vec<u8>), HandshakeError> {
    let mut hs = ServerHandshake::default();
    let mut it = pieces.iter();
    for piece in it.by_ref() {
        if let HandshakeStatus::Complete { request, consumed } = hs.feed(piece)? {
            let mut rest = piece[consumed..].to_vec();
            it.for_each(|p| rest.extend_from_slice(p));
            return Ok((request, rest));
        }
    }
    panic!("never completed")
}

fn assert_same(a: &Request, b: &Request) {
    assert_eq!(a.head(), b.head());
    assert_eq!(a.target(), b.target());
    assert_eq!(a.host(), b.host());
    assert_eq!(a.origin(), b.origin());
    assert_eq!(a.key(), b.key());
    assert_eq!(a.protocols(), b.protocols());
    assert_eq!(a.extensions(), b.extensions());
    assert_eq!(a.accept_key(), b.accept_key());
    assert!(a.headers().eq(b.headers()));
}

#[test]
fn leading_blank_lines_are_skipped_split_or_not() {
    let mut bytes = b"\r\n\r\n".to_vec();
    bytes.extend_from_slice(&edited(&[], &[]));
    let (whole, consumed) = one_shot(&bytes).unwrap();
    assert_eq!(consumed, bytes.len());
    for i in 0..bytes.len() {
        let (req, rest) = feed_pieces(&[&bytes[..i], &bytes[i..]]).unwrap();
        assert!(rest.is_empty());
        assert_same(&req, &whole);
    }
}

/// 100 KiB of junk headers fed in chunks: refused with 431 as soon as the
/// total would pass the limit, and never more than the limit buffered.
#[test]
fn header_limit_is_decided_before_buffering() {
    let limit = HandshakeConfig::default().max_header_bytes;
    assert_eq!(limit, 8192);
    for line in [
        &b"X-Junk: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n"[..],
        &[b'a'; 1000],
    ] {
        let mut junk = b"GET / HTTP/1.1\r\n".to_vec();
        while junk.len() < 100 * 1024 {
            junk.extend_from_slice(line);
        }
        for chunk_len in [1, 7, 1000, 4096, 8192, 8193, 100 * 1024] {
            let mut hs = ServerHandshake::default();
            let mut fed = 0;
            let mut verdict = None;
            for chunk in junk.chunks(chunk_len) {
                match hs.feed(chunk) {
                    Ok(HandshakeStatus::Partial) => {
                        fed += chunk.len();
                        assert!(
                            hs.buffered_len() <= limit,
                            "chunk {chunk_len}: {}",
                            hs.buffered_len()
                        );
                        assert_eq!(hs.buffered_len(), fed);
                    }
                    Ok(HandshakeStatus::Complete { .. }) => panic!("junk accepted"),
                    Err(e) => {
                        verdict = Some(e);
                        break;
                    }
                }
            }
            // Small lines: the header count may run out first (also 431).
            let verdict = verdict.unwrap();
            assert_eq!(verdict.status(), 431, "chunk {chunk_len}: {verdict:?}");
            // Refused on the first chunk that would take the total past the limit.
            assert!(
                verdict == HandshakeError::TooManyHeaders
                    || (fed <= limit && fed + chunk_len > limit),
                "chunk {chunk_len}: fed {fed}"
            );
            assert_eq!(hs.buffered_len(), 0, "buffer released after the verdict");
            assert_eq!(hs.feed(b"x").unwrap_err(), HandshakeError::AlreadyFinished);
            if line.len() == 1000 {
                assert_eq!(
                    verdict,
                    HandshakeError::HeadersTooLarge,
                    "chunk {chunk_len}"
                );
            }
        }
    }
}

/// A head of exactly `max_header_bytes` passes; one byte more is 431, in one
/// piece or in two.
#[test]
fn header_limit_boundary() {
    let base = edited(&[], &[("X-Pad", "")]);
    let config = HandshakeConfig {
        max_header_bytes: 1024,
        ..Default::default()
    };
    let pad = 1024 - base.len();
    for (extra, ok) in [(pad, true), (pad + 1, false)] {
        let bytes = edited(&[], &[("X-Pad", &"p".repeat(extra))]);
        assert_eq!(bytes.len(), 1024 + usize::from(!ok));
        for split in [bytes.len(), 1, 500, bytes.len() - 1] {
            let mut hs = ServerHandshake::new(config);
            let r = hs.feed(&bytes[..split]).and_then(|s| match s {
                HandshakeStatus::Partial => hs.feed(&bytes[split..]),
                done => Ok(done),
            });
            match r {
                Ok(HandshakeStatus::Complete { consumed, .. }) if ok => {
                    assert!(consumed <= bytes.len())
                }
                Err(HandshakeError::HeadersTooLarge) if !ok => {}
                other => panic!("extra {extra} split {split}: {other:?}"),
            }
        }
    }
}

#[test]
fn header_count_limit_is_configurable() {
    let config = HandshakeConfig {
        max_headers: CHROME.len(),
        ..Default::default()
    };
    let exact = edited(&[], &[]);
    assert!(ServerHandshake::new(config).feed(&exact).is_ok());
    let over = edited(&[], &[("X-One", "more")]);
    let err = ServerHandshake::new(config).feed(&over).unwrap_err();
    assert_eq!((err, err.status()), (HandshakeError::TooManyHeaders, 431));
}

#[test]
fn accept_response_rules() {
    let bytes = edited(&[], &[("Sec-WebSocket-Protocol", "chat, superchat")]);
    let (req, _) = one_shot(&bytes).unwrap();
    let mut out = Vec::new();
    write_accept_response(&mut out, &req, None, None, &[]).unwrap();
    assert_eq!(
        out,
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
    );
    let mut out = Vec::new();
    write_accept_response(
        &mut out,
        &req,
        Some("superchat"),
        Some("permessage-deflate; server_no_context_takeover"),
        &[("Set-Cookie", "a=b")],
    )
    .unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("\r\nSec-WebSocket-Protocol: superchat\r\n"));
    assert!(text.contains(
        "\r\nSec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n"
    ));
    assert!(text.ends_with("\r\nSet-Cookie: a=b\r\n\r\n"));

    type Case<'a> = (
        Option<&'a str>,
        Option<&'a str>,
        &'a [(&'a str, &'a str)],
        AcceptError,
    );
    let refusals: &[Case] = &[
        (Some("other"), None, &[], AcceptError::ProtocolNotOffered),
        (Some("Chat"), None, &[], AcceptError::ProtocolNotOffered),
        (None, Some("x-foo"), &[], AcceptError::ExtensionNotOffered),
        (
            None,
            Some("permessage-deflate; ="),
            &[],
            AcceptError::BadExtensions,
        ),
        (None, Some(""), &[], AcceptError::BadExtensions),
        (
            None,
            None,
            &[("X-A", "b\r\nEvil: 1")],
            AcceptError::InvalidHeader,
        ),
        (None, None, &[("Bad Name", "b")], AcceptError::InvalidHeader),
    ];
    for (p, e, h, want) in refusals {
        let mut out = Vec::new();
        assert_eq!(
            write_accept_response(&mut out, &req, *p, *e, h),
            Err(want.clone())
        );
        assert!(out.is_empty(), "nothing written on error");
    }
}

#[test]
fn client_server_round_trip() {
    let mut client = ClientHandshake::new("localhost:9001", "/chat?x=1")
        .protocol("chat")
        .protocol("superchat")
        .extensions("permessage-deflate; client_max_window_bits")
        .origin("http://localhost:8080")
        .header("Authorization", "Bearer t0k3n");
    let mut request = Vec::new();
    client.write_request(&mut request);
    request.extend_from_slice(b"\x81\x80\x00\x00\x00\x00"); // a first frame
    let (req, consumed) = one_shot(&request).unwrap();
    assert_eq!(&request[consumed..], b"\x81\x80\x00\x00\x00\x00");
    assert_eq!(req.key(), client.key());
    assert_eq!(req.path(), "/chat");
    assert_eq!(req.query(), Some("x=1"));
    assert_eq!(req.origin(), Some("http://localhost:8080"));
    assert_eq!(req.protocols(), ["chat", "superchat"]);
    assert_eq!(req.header("authorization"), Some(&b"Bearer t0k3n"[..]));

    let mut reply = Vec::new();
    // The server's answer, negotiated (echoing the offer would not do:
    // `client_max_window_bits` needs a value in an answer, RFC 7692 §7.1.2.2).
    let ext = req
        .deflate(ringws_codec::Compression::Shared)
        .unwrap()
        .to_string();
    write_accept_response(&mut reply, &req, Some("superchat"), Some(&ext), &[]).unwrap();
    reply.extend_from_slice(b"\x81\x02hi");
    // Split the reply everywhere too.
    for i in 0..reply.len() {
        let mut c = ClientHandshake::with_nonce("localhost:9001", "/chat?x=1", [7; 16])
            .protocol("superchat")
            .extensions("permessage-deflate; client_max_window_bits");
        let mut req_bytes = Vec::new();
        c.write_request(&mut req_bytes);
        let (req, _) = one_shot(&req_bytes).unwrap();
        let mut reply = Vec::new();
        write_accept_response(&mut reply, &req, Some("superchat"), Some(&ext), &[]).unwrap();
        reply.extend_from_slice(b"\x81\x02hi");
        let i = i.min(reply.len());
        let (first, second) = reply.split_at(i);
        let (response, rest) = match c.feed(first).unwrap() {
            ClientStatus::Complete { response, consumed } => {
                let mut rest = first[consumed..].to_vec();
                rest.extend_from_slice(second);
                (response, rest)
            }
            ClientStatus::Partial => match c.feed(second).unwrap() {
                ClientStatus::Complete { response, consumed } => {
                    (response, second[consumed..].to_vec())
                }
                ClientStatus::Partial => panic!("client never completed at {i}"),
            },
        };
        assert_eq!(rest, b"\x81\x02hi", "split {i}");
        assert_eq!(response.status(), 101);
        assert_eq!(response.protocol(), Some("superchat"));
        assert_eq!(response.extensions()[0].name, "permessage-deflate");
    }
    match client.feed(&reply).unwrap() {
        ClientStatus::Complete { response, consumed } => {
            assert_eq!(&reply[consumed..], b"\x81\x02hi");
            assert_eq!(response.protocol(), Some("superchat"));
            assert!(response.header("sec-websocket-accept").is_some());
        }
        ClientStatus::Partial => panic!("partial"),
    }
    assert_eq!(
        client.feed(b"").unwrap_err(),
        ClientHandshakeError::AlreadyFinished
    );
}

#[test]
fn client_keys_are_random() {
    let a = ClientHandshake::new("h", "/");
    let b = ClientHandshake::new("h", "/");
    assert_ne!(a.key(), b.key());
    assert_eq!(a.key().len(), 24);
}

#[test]
fn client_refuses_bad_responses() {
    use ClientHandshakeError as E;
    let nonce = [1u8; 16];
    let key = ClientHandshake::with_nonce("h", "/", nonce)
        .key()
        .to_string();
    let accept = String::from_utf8(accept_key(key.as_bytes()).to_vec()).unwrap();
    let good = |extra: &str| {
        format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {accept}\r\n{extra}\r\n"
        )
        .into_bytes()
    };
    let mut forbidden = Vec::new();
    reject_response(403, "go away", &mut forbidden);
    let cases: Vec<(&str, Vec<u8>, Result<(), E>)> = vec![
        ("good", good(""), Ok(())),
        ("offered protocol", good("Sec-WebSocket-Protocol: chat\r\n"), Ok(())),
        ("403", forbidden, Err(E::UnexpectedStatus(403))),
        ("426", HandshakeError::UnsupportedVersion.response_bytes(), Err(E::UnexpectedStatus(426))),
        ("200", b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".to_vec(), Err(E::UnexpectedStatus(200))),
        ("wrong accept", b"HTTP/1.1 101 X\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n".to_vec(), Err(E::BadAccept)),
        ("no accept", b"HTTP/1.1 101 X\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n".to_vec(), Err(E::MissingAccept)),
        ("no upgrade", format!("HTTP/1.1 101 X\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n").into_bytes(), Err(E::NotUpgrade)),
        ("no connection", format!("HTTP/1.1 101 X\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: {accept}\r\n\r\n").into_bytes(), Err(E::MissingConnectionUpgrade)),
        ("protocol not offered", good("Sec-WebSocket-Protocol: other\r\n"), Err(E::ProtocolNotOffered)),
        ("extension not offered", good("Sec-WebSocket-Extensions: x-foo\r\n"), Err(E::ExtensionNotOffered)),
        ("garbage", b"SSH-2.0-OpenSSH_9.6\r\n\r\n".to_vec(), Err(E::Malformed(httparse::Error::Version))),
    ];
    for (name, bytes, want) in cases {
        let mut c = ClientHandshake::with_nonce("h", "/", nonce).protocol("chat");
        let got = match c.feed(&bytes) {
            Ok(ClientStatus::Complete { .. }) => Ok(()),
            Ok(ClientStatus::Partial) => panic!("{name}: partial"),
            Err(e) => Err(e),
        };
        assert_eq!(got, want, "{name}");
    }
}
