//! Handshake accepts per second: parse + validate a browser's upgrade request
//! and write the 101, as the engine does per connection.
//!
//! Run: `cargo bench -p ringws-codec --bench handshake` (add `-- --quick` for
//! a smoke run).

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use ringws_codec::{
    accept_key, write_accept_response, ClientHandshake, ClientStatus, HandshakeStatus,
    ServerHandshake,
};

/// Chrome 131's upgrade request (header set and order as it sends them).
const CHROME: &[u8] = b"GET /chat HTTP/1.1\r\n\
Host: localhost:9001\r\n\
Connection: Upgrade\r\n\
Pragma: no-cache\r\n\
Cache-Control: no-cache\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36\r\n\
Upgrade: websocket\r\n\
Origin: http://localhost:8080\r\n\
Sec-WebSocket-Version: 13\r\n\
Accept-Encoding: gzip, deflate, br, zstd\r\n\
Accept-Language: en-US,en;q=0.9\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\
\r\n";

fn accept(bytes: &[u8], out: &mut Vec<u8>) -> usize {
    let mut hs = ServerHandshake::default();
    match hs.feed(bytes) {
        Ok(HandshakeStatus::Complete { request, consumed }) => {
            out.clear();
            write_accept_response(out, &request, None, None, &[]).unwrap();
            consumed
        }
        other => panic!("not accepted: {other:?}"),
    }
}

fn server(c: &mut Criterion) {
    let mut g = c.benchmark_group("handshake");
    g.throughput(Throughput::Elements(1));
    let mut out = Vec::with_capacity(256);

    // One read holds the whole request: parsed in place.
    g.bench_function("accept_chrome", |b| {
        b.iter(|| accept(black_box(CHROME), &mut out))
    });

    // The request split across two reads: the buffered path.
    g.bench_function("accept_chrome_split", |b| {
        let (first, second) = CHROME.split_at(CHROME.len() / 2);
        b.iter(|| {
            let mut hs = ServerHandshake::default();
            assert!(matches!(
                hs.feed(black_box(first)),
                Ok(HandshakeStatus::Partial)
            ));
            match hs.feed(black_box(second)) {
                Ok(HandshakeStatus::Complete { request, .. }) => {
                    out.clear();
                    write_accept_response(&mut out, &request, None, None, &[]).unwrap();
                }
                other => panic!("{other:?}"),
            }
        })
    });

    // The SHA-1 + base64 part alone.
    g.bench_function("accept_key", |b| {
        b.iter(|| accept_key(black_box(b"dGhlIHNhbXBsZSBub25jZQ==")))
    });
    g.finish();
}

fn client(c: &mut Criterion) {
    let mut g = c.benchmark_group("handshake");
    g.throughput(Throughput::Elements(1));
    let mut request = Vec::new();
    let mut reply = Vec::new();
    // Client request + server accept + client validation: one full exchange.
    g.bench_function("round_trip", |b| {
        b.iter(|| {
            let mut client = ClientHandshake::with_nonce("localhost:9001", "/chat", [9; 16]);
            request.clear();
            client.write_request(&mut request);
            accept(&request, &mut reply);
            match client.feed(&reply) {
                Ok(ClientStatus::Complete { consumed, .. }) => consumed,
                other => panic!("{other:?}"),
            }
        })
    });
    g.finish();
}

criterion_group!(benches, server, client);
criterion_main!(benches);
