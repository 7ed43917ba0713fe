//! Heap held per idle connection, counted by a global allocator that tracks
//! live bytes: allocator-independent (no page or huge-page granularity, no
//! freed-but-resident pages), so it is the engine's own per-connection cost.
//! The benchmark (`ringws-bench idle`) measures the RSS side of the same
//! question against other servers.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

mod common;
use common::*;

#[path = "common/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::{live, Counting};

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Echoes, keeps no state and reports nothing (the common test handler's
/// report channel would be counted as connection memory).
struct Stateless;

impl ringws::Handler for Stateless {
    type State = ();
    fn on_upgrade(&self, _: &ringws::Request) -> Result<ringws::Accept<()>, ringws::Reject> {
        Ok(ringws::Accept::new(()))
    }
    fn on_message(&self, conn: &mut ringws::Conn<'_>, _: &mut (), m: ringws::Message<'_>) {
        match m {
            ringws::Message::Text(t) => conn.send_text(t),
            ringws::Message::Binary(b) => conn.send_binary(b),
        };
    }
}

/// Connections opened; large enough that the worker's fixed pools (the
/// send-state pool, at most 256 boxes) are a small share.
const N: usize = 4000;

/// Budget for the heap one idle connection holds: its slab entry, its share
/// of the timer heap and the table's growth slack. The benchmark goal is
/// 256 B of RSS per connection, which also has to cover allocator overhead.
const BUDGET: isize = 160;

fn live_heap_per_connection(backend: ringws::Backend) -> isize {
    live_heap_with(backend, ringws::Compression::Off)
}

/// The same, with the server's permessage-deflate policy `policy` and
/// clients that offer it (an upgrade must then accept it).
fn live_heap_with(backend: ringws::Backend, policy: ringws::Compression) -> isize {
    let h = start(backend, Stateless, |b| {
        b.idle_timeout(Some(Duration::from_secs(600)))
            .compression(policy)
    });
    let addr = h.local_addr();
    let deflate = policy != ringws::Compression::Off;
    let mut req = Vec::new();
    let hs = ringws_codec::ClientHandshake::new(&addr.to_string(), "/");
    let hs = if deflate {
        hs.extensions("permessage-deflate; client_max_window_bits")
    } else {
        hs
    };
    hs.write_request(&mut req);
    // Everything the client side keeps is allocated before the baseline.
    let mut conns: Vec<TcpStream> = Vec::with_capacity(N);
    let mut buf = [0u8; 1024];
    // Let the worker reach its steady state (first-turn allocations); kept
    // open so the count below is exact.
    let mut warm = Vec::with_capacity(2);
    for _ in 0..2 {
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(&req).unwrap();
        let _ = s.read(&mut buf).unwrap();
        warm.push(s);
    }
    std::thread::sleep(Duration::from_millis(200));
    let before = live();
    for _ in 0..N {
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(&req).unwrap();
        conns.push(s);
        // Keep a bounded number of upgrades in flight, as a real storm
        // through a listen backlog would.
        if conns.len() % 64 == 0 {
            let from = conns.len() - 64;
            for s in &mut conns[from..] {
                s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                let n = s.read(&mut buf).unwrap();
                assert!(buf[..n].starts_with(b"HTTP/1.1 101"), "upgrade refused");
                let accepted = buf[..n].windows(18).any(|w| w == b"permessage-deflate");
                assert_eq!(accepted, deflate, "permessage-deflate accepted");
            }
        }
    }
    // Wait until the server reports every connection open and idle.
    let t = Instant::now();
    while h.stats().connections < N as u64 + 2 {
        assert!(t.elapsed() < Duration::from_secs(20), "{:?}", h.stats());
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    let after = live();
    let per = (after - before) / N as isize;
    eprintln!(
        "{backend:?}: {} bytes of live heap for {N} idle connections = {per} B each",
        after - before
    );
    drop(conns);
    drop(warm);
    h.shutdown(Duration::from_secs(2));
    per
}

both_backends!(idle_connection_heap_within_budget, |backend| {
    let per = live_heap_per_connection(backend);
    assert!(
        per <= BUDGET,
        "an idle connection holds {per} B of heap (budget {BUDGET})"
    );
});

both_backends!(shared_compression_adds_no_idle_heap, |backend| {
    // Negotiated on every connection: the window sits in the connection's
    // flags, the streams are the worker's; nothing per connection.
    let plain = live_heap_per_connection(backend);
    let shared = live_heap_with(backend, ringws::Compression::Shared);
    assert!(
        shared <= plain + 64,
        "Shared compression: {shared} B per idle connection, {plain} B without"
    );
    // Dedicated: the streams are allocated on the first message, so an
    // idle connection holds only its table entry.
    let dedicated = live_heap_with(
        backend,
        ringws::Compression::Dedicated {
            server_window_bits: 15,
            client_window_bits: 15,
        },
    );
    eprintln!("{backend:?}: idle heap per connection: plain {plain} B, shared {shared} B, dedicated {dedicated} B");
    assert!(
        dedicated <= plain + 512,
        "Dedicated: {dedicated} B per idle connection"
    );
});
