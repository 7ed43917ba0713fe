//! Messages that cross workers: a connection's publish reaching subscribers
//! on another worker (rung by `IORING_OP_MSG_RING` on io_uring, by the
//! eventfd on epoll), in order and promptly, and `ServerHandle::send_to`
//! from a plain thread (always the eventfd), on both backends.

mod common;

use std::time::{Duration, Instant};

use common::*;
use ringws::{ConnId, Message, ServerHandle};

/// Well under the client's default 20 s: a lost wake-up fails fast.
const PROMPT: Duration = Duration::from_secs(3);

fn next_open(h: &Echo) -> ConnId {
    loop {
        match h.next(Duration::from_secs(5)).expect("no open report") {
            Report::Open(id) => return id,
            _ => continue,
        }
    }
}

/// Connect until both workers of a 2-worker server own at least `per`
/// connections (the kernel spreads them over the SO_REUSEPORT listeners).
/// Returns the clients with their ids, split by worker.
fn on_both_workers(h: &ServerHandle, handler: &Echo, per: usize) -> [Vec<(Client, ConnId)>; 2] {
    let mut by_worker: [Vec<(Client, ConnId)>; 2] = [Vec::new(), Vec::new()];
    for _ in 0..256 {
        if by_worker.iter().all(|v| v.len() >= per) {
            break;
        }
        let c = Client::connect(h.local_addr());
        c.s.set_read_timeout(Some(PROMPT)).unwrap();
        let id = next_open(handler);
        by_worker[id.worker()].push((c, id));
    }
    assert!(
        by_worker.iter().all(|v| v.len() >= per),
        "connections did not spread over both workers: {} and {}",
        by_worker[0].len(),
        by_worker[1].len()
    );
    by_worker
}

both_backends!(publish_reaches_the_other_worker_in_order, |backend| {
    let handler = Echo::new();
    let h = start(backend, handler.clone(), |b| b.workers(2));
    let [mut w0, mut w1] = on_both_workers(&h, &handler, 3);
    // Subscribers only on worker 1; the publisher on worker 0.
    for (c, _) in w1.iter_mut() {
        c.send_text("sub:t");
        assert_eq!(c.recv_data(), Some(Ev::Text("subscribed".into())));
    }
    // Pipelined: many publishes land in one turn of worker 0, so pushes
    // onto a non-empty inbox must ride on the first ring.
    let n = 300;
    let publisher = &mut w0[0].0;
    for i in 0..n {
        publisher.send_text(&format!("pub:t:{i}"));
    }
    for (c, id) in w1.iter_mut() {
        for i in 0..n {
            assert_eq!(
                c.recv_data(),
                Some(Ev::Text(i.to_string())),
                "subscriber {id:?}, message {i}"
            );
        }
    }
    // And the other way round, to subscribers on both workers.
    w0[1].0.send_text("sub:u");
    assert_eq!(w0[1].0.recv_data(), Some(Ev::Text("subscribed".into())));
    w1[0].0.send_text("sub:u");
    assert_eq!(w1[0].0.recv_data(), Some(Ev::Text("subscribed".into())));
    w1[1].0.send_text("pub:u:back");
    assert_eq!(w0[1].0.recv_data(), Some(Ev::Text("back".into())));
    assert_eq!(w1[0].0.recv_data(), Some(Ev::Text("back".into())));
    h.shutdown(Duration::from_secs(1));
});

both_backends!(cross_worker_round_trips_are_prompt, |backend| {
    // One message at a time across the workers and back: nothing else
    // reaches either inbox, so a single lost wake-up stalls the exchange
    // (the tick does not drain the inbox) and fails the read timeout.
    let handler = Echo::new();
    let h = start(backend, handler.clone(), |b| b.workers(2));
    let [mut w0, mut w1] = on_both_workers(&h, &handler, 1);
    let (a, b) = (&mut w0[0].0, &mut w1[0].0);
    a.send_text("sub:to-a");
    assert_eq!(a.recv_data(), Some(Ev::Text("subscribed".into())));
    b.send_text("sub:to-b");
    assert_eq!(b.recv_data(), Some(Ev::Text("subscribed".into())));
    let rounds = 500;
    let t = Instant::now();
    for i in 0..rounds {
        a.send_text(&format!("pub:to-b:{i}"));
        assert_eq!(b.recv_data(), Some(Ev::Text(i.to_string())), "a→b {i}");
        b.send_text(&format!("pub:to-a:{i}"));
        assert_eq!(a.recv_data(), Some(Ev::Text(i.to_string())), "b→a {i}");
    }
    let per_round = t.elapsed() / rounds;
    eprintln!("{backend}: {per_round:?} per cross-worker round trip");
    // Generous (a shared 2-core machine): a wake-up that waited for the
    // tick instead would take far longer in total.
    assert!(
        t.elapsed() < Duration::from_secs(20),
        "{rounds} round trips took {:?}",
        t.elapsed()
    );
    h.shutdown(Duration::from_secs(1));
});

both_backends!(
    send_to_from_a_plain_thread_reaches_both_workers,
    |backend| {
        let handler = Echo::new();
        let h = start(backend, handler.clone(), |b| b.workers(2));
        let [mut w0, mut w1] = on_both_workers(&h, &handler, 1);
        let (ida, idb) = (w0[0].1, w1[0].1);
        let h2 = h.clone();
        std::thread::spawn(move || {
            for i in 0..100 {
                h2.send_to(ida, Message::Text(&format!("a{i}"))).unwrap();
                h2.send_to(idb, Message::Text(&format!("b{i}"))).unwrap();
            }
        })
        .join()
        .unwrap();
        for i in 0..100 {
            assert_eq!(w0[0].0.recv_data(), Some(Ev::Text(format!("a{i}"))));
            assert_eq!(w1[0].0.recv_data(), Some(Ev::Text(format!("b{i}"))));
        }
        // Mixed with worker-to-worker publishes on the same inbox.
        w1[0].0.send_text("sub:mix");
        assert_eq!(w1[0].0.recv_data(), Some(Ev::Text("subscribed".into())));
        w0[0].0.send_text("pub:mix:from-worker-0");
        h.send_to(idb, Message::Text("from-thread")).unwrap();
        let mut got = vec![w1[0].0.recv_data(), w1[0].0.recv_data()];
        got.sort_by_key(|e| format!("{e:?}"));
        assert_eq!(
            got,
            [
                Some(Ev::Text("from-thread".into())),
                Some(Ev::Text("from-worker-0".into()))
            ]
        );
        h.shutdown(Duration::from_secs(1));
    }
);

both_backends!(shutdown_while_workers_ring_each_other, |backend| {
    // Shutdown with cross-worker traffic in flight: every worker keeps its
    // ring open until all have stopped, and shutdown completes.
    let handler = Echo::new();
    let h = start(backend, handler.clone(), |b| b.workers(2));
    let [mut w0, mut w1] = on_both_workers(&h, &handler, 2);
    for (c, _) in w0.iter_mut().chain(w1.iter_mut()) {
        c.send_text("sub:s");
        assert_eq!(c.recv_data(), Some(Ev::Text("subscribed".into())));
    }
    for i in 0..50 {
        w0[0].0.send_text(&format!("pub:s:{i}"));
        w1[0].0.send_text(&format!("pub:s:{i}"));
    }
    let t = Instant::now();
    h.shutdown(Duration::from_secs(2));
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
});
