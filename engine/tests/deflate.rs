//! permessage-deflate (RFC 7692) in the engine, over real loopback sockets:
//! what the upgrade answers, round trips of compressed messages (whole and
//! fragmented), the limits and errors, and fan-out compressing once.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use common::{counter_reaches, start, Echo};
use ringws::{Compression, ServerHandle};
use ringws_codec::{
    ClientHandshake, ClientStatus, DeflateParams, Deflater, Event, HeaderBytes, Inflater, OpCode,
    Receiver, ReceiverConfig,
};

const DEDICATED: Compression = Compression::Dedicated {
    server_window_bits: 15,
    client_window_bits: 15,
};

/// A received message and whether it came compressed (RSV1).
#[derive(Debug, Clone, PartialEq)]
enum Got {
    Text(String, bool),
    Binary(Vec<u8>, bool),
    Close(u16),
    Eof,
}

/// A blocking client that offers permessage-deflate and records, per
/// message, whether it arrived compressed.
struct DeflateClient {
    s: TcpStream,
    rx: Receiver,
    params: Option<DeflateParams>,
    deflater: Option<Deflater>,
    inflater: Option<Inflater>,
    got: std::collections::VecDeque<Got>,
    eof: bool,
    /// Bytes of the last data frames' payloads on the wire.
    wire_bytes: usize,
}

fn mask() -> Option<[u8; 4]> {
    Some([0x37, 0xfa, 0x21, 0x3d])
}

impl DeflateClient {
    /// Connect offering `offer` (a `Sec-WebSocket-Extensions` value, or
    /// none).
    fn connect(addr: SocketAddr, offer: Option<&str>) -> Self {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        s.set_nodelay(true).unwrap();
        let mut hs = ClientHandshake::new(&addr.to_string(), "/");
        if let Some(o) = offer {
            hs = hs.extensions(o);
        }
        let mut req = Vec::new();
        hs.write_request(&mut req);
        s.write_all(&req).unwrap();
        let mut buf = vec![0u8; 4096];
        loop {
            let n = s.read(&mut buf).unwrap();
            assert!(n > 0, "eof during handshake");
            match hs.feed(&buf[..n]).expect("valid 101") {
                ClientStatus::Partial => continue,
                ClientStatus::Complete { response, consumed } => {
                    let params = response.deflate();
                    let side = params.map(|p| p.client());
                    let mut c = DeflateClient {
                        s,
                        rx: Receiver::new(ReceiverConfig {
                            allow_rsv1: params.is_some(),
                            ..ReceiverConfig::client()
                        }),
                        params,
                        deflater: side.map(|s| Deflater::for_side(&s).threshold(0)),
                        inflater: side.map(|s| Inflater::for_side(&s)),
                        got: Default::default(),
                        eof: false,
                        wire_bytes: 0,
                    };
                    let mut rest = buf[consumed..n].to_vec();
                    c.ingest(&mut rest);
                    return c;
                }
            }
        }
    }

    fn ingest(&mut self, data: &mut [u8]) {
        let mut out = Vec::new();
        let mut feed = self.rx.feed(data);
        while let Some(ev) = feed.next_event() {
            let got = match ev.expect("server sent an invalid frame") {
                Event::Text(t) => {
                    self.wire_bytes = t.len();
                    Got::Text(t.to_string(), false)
                }
                Event::Binary(b) => {
                    self.wire_bytes = b.len();
                    Got::Binary(b.to_vec(), false)
                }
                Event::Compressed { text, payload } => {
                    self.wire_bytes = payload.len();
                    let i = self.inflater.as_mut().expect("compressed without deflate");
                    match i.inflate_message(text, payload, 64 << 20, &mut out) {
                        Ok(Event::Text(t)) => Got::Text(t.to_string(), true),
                        Ok(Event::Binary(b)) => Got::Binary(b.to_vec(), true),
                        r => panic!("server sent bad compressed data: {r:?}"),
                    }
                }
                Event::Close(c) => Got::Close(c.map_or(1005, |(c, _)| c.0)),
                Event::Ping(_) | Event::Pong(_) => continue,
            };
            self.got.push_back(got);
        }
    }

    fn recv(&mut self) -> Got {
        let mut buf = vec![0u8; 256 << 10];
        loop {
            if let Some(g) = self.got.pop_front() {
                return g;
            }
            if self.eof {
                return Got::Eof;
            }
            match self.s.read(&mut buf) {
                Ok(0) => self.eof = true,
                Ok(n) => self.ingest(&mut buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => self.eof = true,
                Err(e) => panic!("read: {e}"),
            }
        }
    }

    /// The payload compressed with the client's compressor (trailer stripped).
    fn compress(&mut self, payload: &[u8]) -> Vec<u8> {
        let mut z = Vec::new();
        self.deflater
            .as_mut()
            .expect("negotiated")
            .compress(payload, &mut z);
        z
    }

    /// Send `payload` compressed, in `pieces` frames (RSV1 on the first).
    fn send_compressed(&mut self, op: OpCode, payload: &[u8], pieces: usize) {
        let z = self.compress(payload);
        self.send_raw_compressed(op, &z, pieces);
    }

    /// Send already compressed bytes as one message of `pieces` frames.
    fn send_raw_compressed(&mut self, op: OpCode, z: &[u8], pieces: usize) {
        let step = z.len().div_ceil(pieces.max(1)).max(1);
        let chunks: Vec<&[u8]> = if z.is_empty() {
            vec![&[][..]]
        } else {
            z.chunks(step).collect()
        };
        let mut out = Vec::new();
        for (i, c) in chunks.iter().enumerate() {
            let fin = i + 1 == chunks.len();
            let h = if i == 0 {
                HeaderBytes::compressed(fin, op, c.len() as u64, mask())
            } else {
                HeaderBytes::new(fin, OpCode::Continuation, c.len() as u64, mask())
            };
            out.extend_from_slice(h.as_slice());
            let at = out.len();
            out.extend_from_slice(c);
            ringws_codec::apply_mask(&mut out[at..], mask().unwrap(), 0);
        }
        self.s.write_all(&out).unwrap();
    }

    fn send_plain(&mut self, op: OpCode, payload: &[u8]) {
        let mut out = Vec::new();
        ringws_codec::write_frame(&mut out, true, op, payload, mask());
        self.s.write_all(&out).unwrap();
    }
}

/// Compressible text of `n` bytes (JSON-ish, deterministic).
fn json(n: usize) -> String {
    let mut s = String::with_capacity(n + 64);
    let mut i = 0u64;
    while s.len() < n {
        s.push_str(&format!(
            "{{\"sym\":\"T{}\",\"px\":{}.{:02},\"qty\":{}}},",
            i % 17,
            100 + i % 7,
            i % 100,
            i * 13 % 1000
        ));
        i += 1;
    }
    s.truncate(n);
    s
}

fn answer(h: &ServerHandle, offer: &str) -> Option<String> {
    let req = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Extensions: {offer}\r\n\r\n"
    );
    let mut s = TcpStream::connect(h.local_addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(req.as_bytes()).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 1024];
    while !out.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "no response");
        out.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&out).into_owned();
    assert!(text.starts_with("HTTP/1.1 101"), "{text}");
    text.lines()
        .find_map(|l| l.strip_prefix("Sec-WebSocket-Extensions: "))
        .map(str::to_string)
}

both_backends!(negotiation_answers, |backend| {
    let off = start(backend, Echo::new(), |b| b);
    assert_eq!(answer(&off, "permessage-deflate"), None);
    let shared = start(backend, Echo::new(), |b| b.compression(Compression::Shared));
    let both = "permessage-deflate; server_no_context_takeover; client_no_context_takeover";
    assert_eq!(answer(&shared, "permessage-deflate").as_deref(), Some(both));
    assert_eq!(
        answer(&shared, "permessage-deflate; client_max_window_bits").as_deref(),
        Some(both),
        "a client window of 15 need not be answered"
    );
    assert_eq!(
        answer(&shared, "permessage-deflate; server_max_window_bits=9").as_deref(),
        Some("permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9")
    );
    // The three-offer fallback: the first (server window 8) cannot be
    // honoured, the second has an unknown parameter, the third is taken.
    assert_eq!(
        answer(
            &shared,
            "permessage-deflate; server_max_window_bits=8, permessage-deflate; foo=1, permessage-deflate"
        )
        .as_deref(),
        Some(both)
    );
    assert_eq!(answer(&shared, "x-webkit-deflate-frame"), None);
    let dedicated = start(backend, Echo::new(), |b| b.compression(DEDICATED));
    assert_eq!(
        answer(&dedicated, "permessage-deflate").as_deref(),
        Some("permessage-deflate")
    );
    assert_eq!(
        answer(&dedicated, "permessage-deflate; server_no_context_takeover").as_deref(),
        Some("permessage-deflate; server_no_context_takeover")
    );
    let small = start(backend, Echo::new(), |b| {
        b.compression(Compression::Dedicated {
            server_window_bits: 10,
            client_window_bits: 11,
        })
    });
    assert_eq!(
        answer(&small, "permessage-deflate; client_max_window_bits").as_deref(),
        Some("permessage-deflate; server_max_window_bits=10; client_max_window_bits=11")
    );
});

/// Echo round trips of `sizes`, text and binary, each way compressed when
/// 64 bytes or more (the server's threshold); returns the server.
fn round_trips(backend: ringws::Backend, policy: Compression, offer: &str, pieces: usize) {
    let h = start(backend, Echo::new(), |b| {
        b.compression(policy).max_message_size(2 << 20)
    });
    let mut c = DeflateClient::connect(h.local_addr(), Some(offer));
    assert!(c.params.is_some(), "negotiated");
    let sizes = [
        0usize,
        1,
        63,
        64,
        65,
        200,
        1000,
        4096,
        65_536,
        300_000,
        1 << 20,
    ];
    let mut sent = 0;
    for &n in &sizes {
        let t = json(n);
        c.send_compressed(OpCode::Text, t.as_bytes(), pieces);
        assert_eq!(c.recv(), Got::Text(t.clone(), n >= 64), "text {n}");
        let b: Vec<u8> = t.bytes().rev().collect();
        c.send_compressed(OpCode::Binary, &b, pieces);
        assert_eq!(c.recv(), Got::Binary(b, n >= 64), "binary {n}");
        sent += 2;
        if n >= 4096 {
            // Compressible: the frames on the wire were smaller.
            assert!(c.wire_bytes < n / 2, "{n} went out as {}", c.wire_bytes);
        }
    }
    // Uncompressed messages still work on a connection that negotiated.
    c.send_plain(OpCode::Text, b"plain text, not compressed by the client");
    assert_eq!(
        c.recv(),
        Got::Text("plain text, not compressed by the client".into(), false)
    );
    assert_eq!(
        counter_reaches(&h, sent, |s| s.messages_inflated),
        sent,
        "every compressed message was inflated once"
    );
    let big = sizes.iter().filter(|&&n| n >= 64).count() as u64 * 2;
    assert!(counter_reaches(&h, big, |s| s.messages_compressed) >= big);
}

both_backends!(shared_round_trips, |backend| {
    round_trips(backend, Compression::Shared, "permessage-deflate", 1);
});

both_backends!(shared_round_trips_fragmented, |backend| {
    round_trips(
        backend,
        Compression::Shared,
        "permessage-deflate; client_max_window_bits",
        3,
    );
});

both_backends!(dedicated_round_trips_with_context_takeover, |backend| {
    round_trips(backend, DEDICATED, "permessage-deflate", 1);
    round_trips(
        backend,
        DEDICATED,
        "permessage-deflate; client_max_window_bits=9; server_max_window_bits=9",
        4,
    );
});

both_backends!(dedicated_keeps_the_window_between_messages, |backend| {
    let h = start(backend, Echo::new(), |b| b.compression(DEDICATED));
    let mut c = DeflateClient::connect(h.local_addr(), Some("permessage-deflate"));
    let t = json(2000);
    c.send_compressed(OpCode::Text, t.as_bytes(), 1);
    assert_eq!(c.recv(), Got::Text(t.clone(), true));
    let first = c.wire_bytes;
    // The client's second compression refers back to its first message:
    // only a server that kept its inflate window can read it.
    c.send_compressed(OpCode::Text, t.as_bytes(), 1);
    assert_eq!(c.recv(), Got::Text(t.clone(), true));
    assert!(
        c.wire_bytes * 4 < first,
        "the server's second compression used its window: {} then {}",
        first,
        c.wire_bytes
    );
    // Shared resets per message: the same message costs the same.
    let s = start(backend, Echo::new(), |b| b.compression(Compression::Shared));
    let mut c = DeflateClient::connect(s.local_addr(), Some("permessage-deflate"));
    c.send_compressed(OpCode::Text, t.as_bytes(), 1);
    assert_eq!(c.recv(), Got::Text(t.clone(), true));
    let a = c.wire_bytes;
    c.send_compressed(OpCode::Text, t.as_bytes(), 1);
    assert_eq!(c.recv(), Got::Text(t, true));
    assert_eq!(a, c.wire_bytes);
});

both_backends!(rsv1_without_negotiation_is_1002, |backend| {
    // Deflate off on the server: the offer is declined, RSV1 refused.
    let h = start(backend, Echo::new(), |b| b);
    let mut c = DeflateClient::connect(h.local_addr(), Some("permessage-deflate"));
    assert!(c.params.is_none());
    let mut z = Vec::new();
    Deflater::new(15, true)
        .threshold(0)
        .compress(json(500).as_bytes(), &mut z);
    c.send_raw_compressed(OpCode::Text, &z, 1);
    assert_eq!(c.recv(), Got::Close(1002));
    // Enabled on the server but not offered by the client: the same.
    let h = start(backend, Echo::new(), |b| b.compression(Compression::Shared));
    let mut c = DeflateClient::connect(h.local_addr(), None);
    assert!(c.params.is_none());
    c.send_raw_compressed(OpCode::Text, &z, 1);
    assert_eq!(c.recv(), Got::Close(1002));
});

both_backends!(bad_compressed_data_and_bits, |backend| {
    for policy in [Compression::Shared, DEDICATED] {
        let h = start(backend, Echo::new(), |b| b.compression(policy));
        // Not DEFLATE at all.
        let mut c = DeflateClient::connect(h.local_addr(), Some("permessage-deflate"));
        c.send_raw_compressed(OpCode::Binary, &[0xff, 0xff, 0xff, 0xff], 1);
        assert_eq!(c.recv(), Got::Close(1007), "{policy:?}");
        // Text that inflates to invalid UTF-8.
        let mut c = DeflateClient::connect(h.local_addr(), Some("permessage-deflate"));
        let mut bad = b"valid so far ".repeat(10);
        bad.extend_from_slice(&[0xc3, 0x28]);
        c.send_compressed(OpCode::Text, &bad, 1);
        assert_eq!(c.recv(), Got::Close(1007), "{policy:?}");
        // RSV1 on a continuation frame.
        let mut c = DeflateClient::connect(h.local_addr(), Some("permessage-deflate"));
        let mut out = Vec::new();
        out.extend_from_slice(HeaderBytes::new(false, OpCode::Text, 2, mask()).as_slice());
        let at = out.len();
        out.extend_from_slice(b"ab");
        ringws_codec::apply_mask(&mut out[at..], mask().unwrap(), 0);
        out.extend_from_slice(
            HeaderBytes::compressed(true, OpCode::Continuation, 0, mask()).as_slice(),
        );
        c.s.write_all(&out).unwrap();
        assert_eq!(c.recv(), Got::Close(1002), "{policy:?}");
        // RSV1 on a control frame.
        let mut c = DeflateClient::connect(h.local_addr(), Some("permessage-deflate"));
        let out = HeaderBytes::compressed(true, OpCode::Ping, 0, mask());
        c.s.write_all(out.as_slice()).unwrap();
        assert_eq!(c.recv(), Got::Close(1002), "{policy:?}");
    }
});

both_backends!(inflated_size_limit_is_1009, |backend| {
    for policy in [Compression::Shared, DEDICATED] {
        let h = start(backend, Echo::new(), |b| {
            b.compression(policy).max_message_size(1 << 20)
        });
        let mut c = DeflateClient::connect(h.local_addr(), Some("permessage-deflate"));
        // Exactly the limit inflated: fine (and echoed compressed).
        let ok = vec![0u8; 1 << 20];
        c.send_compressed(OpCode::Binary, &ok, 1);
        assert_eq!(c.recv(), Got::Binary(ok, true));
        // One byte more: 1009, although the frame is about 1 KiB.
        let over = vec![0u8; (1 << 20) + 1];
        let z = c.compress(&over);
        assert!(z.len() < 4096, "{}", z.len());
        c.send_raw_compressed(OpCode::Binary, &z, 1);
        assert_eq!(c.recv(), Got::Close(1009), "{policy:?}");
    }
});

both_backends!(
    small_messages_and_control_frames_stay_uncompressed,
    |backend| {
        let h = start(backend, Echo::new(), |b| b.compression(Compression::Shared));
        let mut c = DeflateClient::connect(h.local_addr(), Some("permessage-deflate"));
        c.send_plain(OpCode::Text, b"short");
        assert_eq!(c.recv(), Got::Text("short".into(), false));
        // A ping with a compressible 125-byte payload: its pong is plain (the
        // client's receiver would refuse RSV1 on a control frame).
        c.send_plain(OpCode::Ping, &[b'a'; 125]);
        c.send_plain(OpCode::Text, b"after the ping");
        assert_eq!(c.recv(), Got::Text("after the ping".into(), false));
        // The server's own close frame is not compressed either.
        c.send_plain(OpCode::Text, b"close:4000");
        assert_eq!(c.recv(), Got::Close(4000));
    }
);

both_backends!(fan_out_compresses_once_per_publish, |backend| {
    let h = start(backend, Echo::new(), |b| b.compression(Compression::Shared));
    let n = 12;
    let mut subs: Vec<DeflateClient> = (0..n)
        .map(|_| {
            let mut c = DeflateClient::connect(h.local_addr(), Some("permessage-deflate"));
            c.send_plain(OpCode::Text, b"sub:ticks");
            assert_eq!(c.recv(), Got::Text("subscribed".into(), false));
            c
        })
        .collect();
    // One subscriber without the extension gets the plain frame.
    let mut plain = DeflateClient::connect(h.local_addr(), None);
    plain.send_plain(OpCode::Text, b"sub:ticks");
    assert_eq!(plain.recv(), Got::Text("subscribed".into(), false));
    let before = h.stats();
    let publishes = 5u64;
    for i in 0..publishes {
        let msg = json(500 + i as usize);
        subs[0].send_plain(OpCode::Text, format!("pub:ticks:{msg}").as_bytes());
        for s in &mut subs {
            assert_eq!(s.recv(), Got::Text(msg.clone(), true));
        }
        assert_eq!(plain.recv(), Got::Text(msg, false));
    }
    let after = counter_reaches(&h, before.fanout_compressions + publishes, |s| {
        s.fanout_compressions
    });
    assert_eq!(
        after - before.fanout_compressions,
        publishes,
        "one compression per publish for {n} shared subscribers"
    );
    // Broadcast from the handle: the same.
    let before = h.stats().fanout_compressions;
    let msg = json(300);
    h.broadcast(ringws::Message::Text(&msg));
    for s in &mut subs {
        assert_eq!(s.recv(), Got::Text(msg.clone(), true));
    }
    assert_eq!(plain.recv(), Got::Text(msg, false));
    assert_eq!(
        counter_reaches(&h, before + 1, |s| s.fanout_compressions),
        before + 1
    );
});

#[test]
fn ringws_binary_takes_the_compression_flags() {
    let bin = env!("CARGO_BIN_EXE_ringws");
    let out = std::process::Command::new(bin)
        .args(["--compression", "sometimes"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--compression"));
    let out = std::process::Command::new(bin)
        .args(["--window-bits", "8"])
        .output()
        .unwrap();
    assert!(!out.status.success());
}

/// What one dedicated connection's streams are charged at window 15: the
/// deflater (2^17 window + 2^17 hash + 8 KiB state) and the inflater (2^15
/// window + 8 KiB state).
const DEDICATED_STREAMS: u64 = (1 << 17) + (1 << 17) + 8192 + (1 << 15) + 8192;

/// Polls `budget_used` until `ok` holds or 5 s pass; returns the last value.
fn budget_when(h: &ServerHandle, ok: impl Fn(u64) -> bool) -> u64 {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let n = h.stats().budget_used;
        if ok(n) || std::time::Instant::now() > deadline {
            return n;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

both_backends!(dedicated_streams_are_charged_to_the_budget, |backend| {
    let h = start(backend, Echo::new(), |b| {
        b.compression(DEDICATED).workers(1)
    });
    // One plain connection settles the worker's fixed charge (the ring).
    let mut plain = DeflateClient::connect(h.local_addr(), None);
    plain.send_plain(OpCode::Text, b"hi");
    assert_eq!(plain.recv(), Got::Text("hi".into(), false));
    let base = h.stats().budget_used;

    // Eight connections that agree on dedicated streams, each used once.
    let mut cs: Vec<DeflateClient> = (0..8)
        .map(|_| DeflateClient::connect(h.local_addr(), Some("permessage-deflate")))
        .collect();
    for c in &mut cs {
        let t = json(500);
        c.send_compressed(OpCode::Text, t.as_bytes(), 1);
        assert_eq!(c.recv(), Got::Text(t, true));
    }
    // `base` may include a few bytes the plain connection held at that
    // moment (a partial read): allow 1 KiB; a missing charge is 2.5 MB.
    let want = base + 8 * DEDICATED_STREAMS - 1024;
    let used = budget_when(&h, |n| n >= want);
    assert!(
        used >= want,
        "8 dedicated connections: budget_used {used}, want ≥ {base} + 8 × {DEDICATED_STREAMS}"
    );
    // The charge goes when they close.
    drop(cs);
    let back = budget_when(&h, |n| n < base + DEDICATED_STREAMS);
    assert!(
        back < base + DEDICATED_STREAMS,
        "after they closed: budget_used {back}, base {base}"
    );

    // Shared compression keeps no streams per connection.
    let s = start(backend, Echo::new(), |b| {
        b.compression(Compression::Shared).workers(1)
    });
    let mut plain = DeflateClient::connect(s.local_addr(), None);
    plain.send_plain(OpCode::Text, b"hi");
    assert_eq!(plain.recv(), Got::Text("hi".into(), false));
    let base = s.stats().budget_used;
    let mut cs: Vec<DeflateClient> = (0..8)
        .map(|_| DeflateClient::connect(s.local_addr(), Some("permessage-deflate")))
        .collect();
    for c in &mut cs {
        let t = json(500);
        c.send_compressed(OpCode::Text, t.as_bytes(), 1);
        assert_eq!(c.recv(), Got::Text(t, true));
    }
    let used = s.stats().budget_used;
    assert!(
        used < base + DEDICATED_STREAMS,
        "8 shared connections: budget_used {used}, base {base}"
    );
});
