//! Backpressure reaches the peer: a connection over its send-buffer limit
//! is not read from until its queue drains, so a pipelining client loses
//! no echo and a client that never reads cannot grow the server's memory.

mod common;

use std::io::Write;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::*;
use ringws_codec::OpCode;

/// A masked binary frame whose payload says which message it is.
fn numbered(i: usize, size: usize) -> (Vec<u8>, Vec<u8>) {
    let payload: Vec<u8> = (0..size).map(|j| (i * 31 + j / 7) as u8).collect();
    let mut frame = Vec::with_capacity(size + 14);
    ringws_codec::write_frame(&mut frame, true, OpCode::Binary, &payload, mask());
    (frame, payload)
}

both_backends!(pipelined_large_messages_all_echo_in_order, |backend| {
    // Regression: over the limit the echo was dropped while the engine kept
    // reading, so a client pipelining big messages lost most of its echoes.
    pipeline(backend, 24, 256 << 10);
    // The benchmark's case: messages as large as the (default) limit.
    pipeline(backend, 16, 1 << 20);
});

fn pipeline(backend: ringws::Backend, count: usize, size: usize) {
    let handler = Echo::new();
    let h = start(backend, handler.clone(), |b| b.send_buffer_limit(1 << 20));
    let mut c = Client::connect(h.local_addr());
    let (frames, payloads): (Vec<_>, Vec<_>) = (0..count).map(|i| numbered(i, size)).unzip();
    // Everything is written before anything is read; a second thread writes
    // so that the test cannot deadlock on socket buffers smaller than 6 MiB.
    let mut w = c.s.try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        for f in &frames {
            w.write_all(f).unwrap();
        }
    });
    let t = Instant::now();
    while !writer.is_finished() && t.elapsed() < Duration::from_millis(500) {
        std::thread::sleep(Duration::from_millis(10));
    }
    for (i, p) in payloads.iter().enumerate() {
        match c.recv_data() {
            Some(Ev::Binary(b)) => assert!(b == *p, "echo {i} differs ({} bytes)", b.len()),
            other => panic!("echo {i}: got {other:?}"),
        }
    }
    writer.join().unwrap();
    assert!(
        handler.max_buffered.load(Ordering::Relaxed) <= (1 << 20) + size + 14,
        "{}",
        handler.max_buffered.load(Ordering::Relaxed)
    );
    c.send_text("done");
    assert_eq!(c.recv_data(), Some(Ev::Text("done".into())));
    h.shutdown(Duration::from_secs(1));
}

both_backends!(sender_that_never_reads_is_bounded, |backend| {
    const SIZE: usize = 64 << 10;
    let limit = 256 << 10;
    let handler = Echo::new();
    let h = start(backend, handler.clone(), |b| b.send_buffer_limit(limit));
    let mut c = Client::connect(h.local_addr());
    // Write until the server stops reading and TCP pushes back.
    c.s.set_write_timeout(Some(Duration::from_millis(700)))
        .unwrap();
    let mut sent = Vec::new();
    let t = Instant::now();
    loop {
        let (frame, payload) = numbered(sent.len(), SIZE);
        match c.s.write_all(&frame) {
            Ok(()) => sent.push(payload),
            Err(e) => {
                let k = e.kind();
                assert!(
                    matches!(
                        k,
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ),
                    "{e}"
                );
                break;
            }
        }
        assert!(
            t.elapsed() < Duration::from_secs(15) && sent.len() < 2000,
            "the server kept reading: {} messages written",
            sent.len()
        );
    }
    let max = handler.max_buffered.load(Ordering::Relaxed);
    eprintln!(
        "{} messages written before the client blocked; max buffered {max}",
        sent.len()
    );
    assert!(max <= limit + SIZE + 14, "{max}");
    // Meanwhile another connection keeps echoing promptly, large messages
    // too: the receive buffers the blocked echoes were lent from stay out
    // of the ring, and the rest must serve everyone else.
    let mut other = Client::connect(h.local_addr());
    let t = Instant::now();
    for i in 0..100 {
        other.send_binary(&[i as u8; 1000]);
        assert_eq!(other.recv_data(), Some(Ev::Binary(vec![i as u8; 1000])));
    }
    for i in 0..50 {
        let (frame, payload) = numbered(1000 + i, SIZE);
        other.s.write_all(&frame).unwrap();
        match other.recv_data() {
            Some(Ev::Binary(b)) => assert!(b == payload, "other's echo {i} differs"),
            e => panic!("other's echo {i}: got {e:?}"),
        }
    }
    assert!(t.elapsed() < Duration::from_secs(5));
    // Once the client reads, every complete message it wrote is echoed, in
    // order (the last write may have been cut short: that frame is partial),
    // including those sent from receive buffers that were lent all along.
    c.s.set_write_timeout(None).unwrap();
    for (i, p) in sent.iter().enumerate() {
        match c.recv_data() {
            Some(Ev::Binary(b)) => assert!(b == *p, "echo {i} differs"),
            other => panic!("echo {i}: got {other:?}"),
        }
    }
    assert!(handler.max_buffered.load(Ordering::Relaxed) <= limit + SIZE + 14);
    h.shutdown(Duration::from_secs(1));
});

both_backends!(paused_connection_still_closes, |backend| {
    // A connection not being read (over its limit) still honours the idle
    // timeout, shutdown and the peer going away.
    const SIZE: usize = 64 << 10;
    let limit = 128 << 10;
    let h = start(backend, Echo::new(), |b| {
        b.send_buffer_limit(limit)
            .idle_timeout(Some(Duration::from_millis(300)))
            .close_timeout(Duration::from_millis(300))
            .workers(1)
    });
    let addr = h.local_addr();
    let fill = |c: &mut Client| {
        c.s.set_write_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        let t = Instant::now();
        for i in 0.. {
            let (frame, _) = numbered(i, SIZE);
            if c.s.write_all(&frame).is_err() {
                break;
            }
            assert!(t.elapsed() < Duration::from_secs(10), "never paused");
        }
    };
    // The peer vanishes (reset) while paused.
    for _ in 0..3 {
        let mut c = Client::connect(addr);
        fill(&mut c);
        drop(c);
    }
    // Paused and silent: the idle timeout closes it.
    let mut idle = Client::connect(addr);
    fill(&mut idle);
    assert_eq!(
        connections_after(&h, Duration::from_secs(8)),
        0,
        "paused connections kept"
    );
    // Paused at shutdown: shutdown does not hang past its deadline.
    let mut c = Client::connect(addr);
    fill(&mut c);
    let t = Instant::now();
    h.shutdown(Duration::from_millis(500));
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    drop(idle);
});

both_backends!(
    a_ping_flood_that_never_reads_its_pongs_is_paused,
    |backend| { ping_flood(backend) }
);

fn ping_flood(backend: ringws::Backend) {
    // Pongs count against the send-buffer limit: a peer that pings as
    // fast as it can and never reads is paused like any reader that does
    // not keep up, so what the server holds for it stays bounded; every
    // ping it got through is answered, in order, once it reads.
    let limit = 256 << 10;
    let h = start(backend, Echo::new(), |b| {
        b.send_buffer_limit(limit).workers(1)
    });
    let mut c = Client::connect(h.local_addr());
    let base = h.stats().budget_used;
    let mut ping = Vec::new();
    ringws_codec::write_frame(&mut ping, true, OpCode::Ping, &[0x5A; 125], mask());
    // Whole pings only: the socket takes them until TCP stops it (the
    // server has stopped reading) or 64 MiB have gone.
    c.s.set_write_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let batch: Vec<u8> = ping.repeat(64);
    let mut sent = 0usize;
    // Bytes of a ping only partly written when TCP stopped the writes.
    let mut part = 0usize;
    let mut max_used = 0u64;
    let t = Instant::now();
    while sent < (64 << 20) / ping.len() {
        match c.s.write(&batch) {
            Ok(n) if n == batch.len() => sent += 64,
            Ok(n) => {
                sent += n / ping.len();
                part = n % ping.len();
                break;
            }
            Err(_) => break,
        }
        max_used = max_used.max(h.stats().budget_used);
        assert!(t.elapsed() < Duration::from_secs(30), "never paused");
    }
    eprintln!("{backend:?}: writes stopped after {:?}", t.elapsed());
    std::thread::sleep(Duration::from_millis(300));
    max_used = max_used.max(h.stats().budget_used);
    let held = max_used.saturating_sub(base);
    eprintln!(
        "{backend:?}: {sent} pings ({} MiB) got through; the server held at most {held} B more",
        (sent * ping.len()) >> 20
    );
    assert!(
        sent < (64 << 20) / ping.len(),
        "the server read 64 MiB of pings without pausing"
    );
    // The limit, plus what the receive ring had already taken in when
    // reading paused (8 MiB on either backend by default), as queued pongs
    // and held pings: bounded by the ring, not by what the peer sends.
    assert!(
        held <= limit as u64 + (16 << 20),
        "{held} B held for a peer that does not read"
    );
    // It reads now: one pong per ping, the last one once its ping is whole.
    let mut pongs = 0;
    let want = sent + (part > 0) as usize;
    while pongs < want {
        if pongs == sent {
            c.s.set_write_timeout(None).unwrap();
            c.s.write_all(&ping[part..]).unwrap();
        }
        match c.recv() {
            Some(Ev::Pong(p)) => {
                assert_eq!(p, vec![0x5A; 125]);
                pongs += 1;
            }
            e => panic!("after {pongs} of {want} pongs: {e:?}"),
        }
    }
    c.send_binary(b"after");
    assert_eq!(c.recv_data(), Some(Ev::Binary(b"after".to_vec())));
    h.shutdown(Duration::from_secs(1));
}
