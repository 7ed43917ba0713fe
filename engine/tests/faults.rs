//! Faults between a real client and the server, injected by a proxy on
//! loopback (`common/fault_proxy.rs`): stalls, throttling, latency, cuts in
//! the middle of a frame, resets and half-closes. On both backends: the
//! handshake, idle and close timeouts fire through them, slow links still
//! carry whole messages, and 1,000 faulted connections leave no
//! connection, descriptor or budgeted memory behind while a client that is
//! not faulted keeps echoing.

mod common;
#[path = "common/fault_proxy.rs"]
mod fault_proxy;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use fault_proxy::{Fault, FaultProxy};
use ringws::Backend;
use ringws_codec::{ClientHandshake, OpCode};

/// The upgrade request a client sends, and one masked 1 KiB binary frame.
fn request_and_frame(addr: SocketAddr) -> (Vec<u8>, Vec<u8>) {
    let mut req = Vec::new();
    ClientHandshake::new(&addr.to_string(), "/").write_request(&mut req);
    let mut frame = Vec::new();
    ringws_codec::write_frame(&mut frame, true, OpCode::Binary, &[0xA5; 1024], mask());
    (req, frame)
}

/// Reads until EOF or error; true if it was an EOF (or reset) within 5 s.
fn ends(s: &mut TcpStream) -> bool {
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 16 << 10];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Polls `f` every 20 ms until it holds or `within` passes.
fn eventually(within: Duration, mut f: impl FnMut() -> bool) -> bool {
    let until = Instant::now() + within;
    loop {
        if f() {
            return true;
        }
        if Instant::now() > until {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn timeouts(backend: Backend) {
    let h = start(backend, Echo::new(), |b| {
        b.handshake_timeout(Duration::from_millis(300))
            .idle_timeout(Some(Duration::from_millis(300)))
            .close_timeout(Duration::from_millis(300))
    });
    let (req, _) = request_and_frame(h.local_addr());

    // The upgrade stalls after 20 bytes for 20 s: the handshake timeout
    // closes the connection long before.
    let p = FaultProxy::start(
        h.local_addr(),
        Fault::Stall {
            after: 20,
            stall: Duration::from_secs(20),
        },
    );
    let mut s = TcpStream::connect(p.addr()).unwrap();
    s.write_all(&req).unwrap();
    assert!(ends(&mut s), "a stalled upgrade was not closed");

    // Upgraded, then nothing reaches the server for 20 s (the client's
    // pong and close reply included): a ping, then 1001, then the close
    // timeout ends the connection.
    let p = FaultProxy::start(
        h.local_addr(),
        Fault::Stall {
            after: req.len(),
            stall: Duration::from_secs(20),
        },
    );
    let mut c = Client::connect_path(p.addr(), "/").unwrap();
    c.s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert!(matches!(c.recv(), Some(Ev::Ping(_))), "no idle ping");
    c.send_frame(true, OpCode::Pong, b"");
    match c.recv() {
        Some(Ev::Close(Some((1001, _)))) => {}
        e => panic!("wanted 1001 after the idle ping, got {e:?}"),
    }
    c.send_frame(true, OpCode::Close, &[0x03, 0xE9]);
    assert!(c.wait_eof(), "the close timeout did not end the connection");
    assert!(
        eventually(Duration::from_secs(5), || h.stats().connections == 0),
        "{:?}",
        h.stats()
    );
    h.shutdown(Duration::from_secs(1));
}

both_backends!(timeouts_fire_through_stalls, timeouts);

fn slow_links(backend: Backend) {
    let h = start(backend, Echo::new(), |b| b);
    // 200 KiB through 256 KiB/s: the message crosses many reads.
    let p = FaultProxy::start(h.local_addr(), Fault::Throttle(256 << 10));
    let mut c = Client::connect_path(p.addr(), "/").unwrap();
    let big: Vec<u8> = (0..200 << 10).map(|i: u32| (i % 251) as u8).collect();
    c.send_binary(&big);
    assert_eq!(c.recv_data(), Some(Ev::Binary(big)));
    // 20 ms per read, messages fragmented across them.
    let p = FaultProxy::start(h.local_addr(), Fault::Latency(Duration::from_millis(20)));
    let mut c = Client::connect_path(p.addr(), "/").unwrap();
    for i in 0..10u8 {
        c.send_frame(false, OpCode::Text, b"hel");
        c.send_frame(true, OpCode::Continuation, &[b'l', b'o', b'0' + i]);
        let want = format!("hello{i}");
        assert_eq!(c.recv_data(), Some(Ev::Text(want)));
    }
    // A half-close after a message: its echo still comes back, then the
    // server ends the connection.
    let (req, frame) = request_and_frame(h.local_addr());
    let p = FaultProxy::start(
        h.local_addr(),
        Fault::HalfClose {
            after: req.len() + frame.len(),
        },
    );
    let mut c = Client::connect_path(p.addr(), "/").unwrap();
    c.s.write_all(&frame).unwrap();
    assert_eq!(c.recv_data(), Some(Ev::Binary(vec![0xA5; 1024])));
    assert!(c.wait_eof(), "no end after the half-close");
    h.shutdown(Duration::from_secs(1));
}

both_backends!(slow_links_carry_whole_messages, slow_links);

fn many_faults(backend: Backend) {
    raise_nofile();
    let h = start(backend, Echo::new(), |b| {
        b.handshake_timeout(Duration::from_millis(500))
            .close_timeout(Duration::from_millis(500))
    });
    let addr = h.local_addr();
    let (req, frame) = request_and_frame(addr);
    // The worker's fixed charge (its receive ring) is published once it
    // has served a connection.
    let mut warm = Client::connect(addr);
    warm.send_binary(b"warm");
    assert_eq!(warm.recv_data(), Some(Ev::Binary(b"warm".to_vec())));
    drop(warm);
    assert!(eventually(Duration::from_secs(5), || h.stats().connections == 0));
    let fds = fd_count();
    let used = h.stats().budget_used;

    // A client that is not faulted echoes throughout.
    let stop = Arc::new(AtomicBool::new(false));
    let honest = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut c = Client::connect(addr);
            let mut n = 0u32;
            while !stop.load(Ordering::Relaxed) {
                let m = n.to_be_bytes();
                c.send_binary(&m);
                match c.recv_data() {
                    Some(Ev::Binary(b)) if b == m => n += 1,
                    e => return Err(format!("echo {n}: {e:?}")),
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            Ok(n)
        })
    };

    // Cuts and resets in the upgrade, in a frame header, in a payload;
    // a stalled upgrade; a half-close in the middle of a frame.
    let h_len = req.len();
    let faults = [
        Fault::Cut { after: 0 },
        Fault::Cut { after: 30 },
        Fault::Cut { after: h_len + 1 },
        Fault::Cut { after: h_len + 500 },
        Fault::Reset { after: 30 },
        Fault::Reset { after: h_len + 3 },
        Fault::Reset { after: h_len + 700 },
        Fault::Stall {
            after: 40,
            stall: Duration::from_secs(30),
        },
        Fault::HalfClose { after: h_len + 100 },
    ];
    let proxies: Vec<FaultProxy> = faults.iter().map(|&f| FaultProxy::start(addr, f)).collect();
    let targets: Vec<SocketAddr> = proxies.iter().map(|p| p.addr()).collect();
    let threads: Vec<_> = (0..50)
        .map(|t| {
            let targets = targets.clone();
            let (req, frame) = (req.clone(), frame.clone());
            std::thread::spawn(move || {
                let mut unended = 0;
                for i in 0..20 {
                    let to = targets[(t * 20 + i) % targets.len()];
                    let mut s = TcpStream::connect(to).unwrap();
                    let _ = s.write_all(&req);
                    let _ = s.write_all(&frame);
                    if !ends(&mut s) {
                        unended += 1;
                    }
                }
                unended
            })
        })
        .collect();
    let unended: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
    let accepted: u64 = proxies
        .iter()
        .map(|p| p.accepted.load(Ordering::Relaxed))
        .sum();
    assert_eq!(accepted, 1000);
    assert_eq!(unended, 0, "faulted connections the server never ended");

    stop.store(true, Ordering::Relaxed);
    let echoes = honest.join().unwrap().expect("the honest client");
    assert!(echoes > 0);
    drop(proxies);
    // Nothing left behind: connections, descriptors (the proxies' threads
    // end with their sockets), budgeted memory.
    assert!(
        eventually(Duration::from_secs(10), || h.stats().connections == 0),
        "{:?}",
        h.stats()
    );
    assert!(
        eventually(Duration::from_secs(10), || fd_count() <= fds),
        "{} descriptors open, {fds} before",
        fd_count()
    );
    let after = h.stats().budget_used;
    eprintln!("{backend:?}: {echoes} honest echoes; budget_used {used} → {after}");
    assert!(
        after <= used + (64 << 10),
        "budget_used {used} → {after} after the faulted connections"
    );
    h.shutdown(Duration::from_secs(1));
}

both_backends!(
    a_thousand_faulted_connections_leave_nothing_behind,
    |backend| { many_faults(backend) }
);
