//! `ringws --mode pubsub` across nodes: real `ringws` processes joined by a
//! real `redis-server` (started and stopped here, installed when missing).

mod common;
#[path = "../../broker/tests/common/mod.rs"]
mod redis_server;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, ErrorKind, Read};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::*;
use redis_server::{free_port, until, RedisServer};

/// A spawned `ringws --mode pubsub`; killed if the test fails first.
struct Node {
    child: std::process::Child,
    addr: SocketAddr,
    lines: mpsc::Receiver<String>,
}

impl Node {
    fn start(backend: &str, redis: Option<&str>, token: Option<&str>) -> Node {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ringws"));
        cmd.args(["--bind", "127.0.0.1:0", "--workers", "2"])
            .args(["--backend", backend, "--mode", "pubsub"])
            .args(["--log", "info", "--idle-timeout", "0"]);
        if let Some(url) = redis {
            cmd.args(["--redis", url]);
        }
        if let Some(t) = token {
            cmd.args(["--publish-token", t]);
        }
        let mut child = cmd
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn ringws");
        let out = BufReader::new(child.stdout.take().unwrap());
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in out.lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        let addr = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = lines.recv_timeout(left).expect("no ready line");
            if let Some(i) = line.find("ws://") {
                let a = line[i + 5..].split('/').next().unwrap();
                break a.parse().unwrap();
            }
        };
        Node { child, addr, lines }
    }

    fn client(&self, topic: &str) -> Client {
        Client::connect_path(self.addr, &format!("/topic/{topic}")).expect("handshake")
    }

    /// SIGTERM, wait for the exit, and return the numbers of its exit report.
    fn stop(mut self) -> HashMap<String, u64> {
        // SAFETY: signalling our own child process.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let status = self.child.wait().unwrap();
        assert!(status.success(), "{status:?}");
        let mut report = HashMap::new();
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
            if line.contains(" bye") {
                for kv in line.split_whitespace() {
                    if let Some((k, v)) = kv.split_once('=') {
                        if let Ok(n) = v.parse() {
                            report.insert(k.to_string(), n);
                        }
                    }
                }
                return report;
            }
        }
        panic!("no exit report");
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn text(c: &mut Client) -> String {
    match c.recv_data() {
        Some(Ev::Text(t)) => t,
        Some(Ev::Binary(b)) => String::from_utf8(b).unwrap(),
        other => panic!("expected a message, got {other:?}"),
    }
}

/// Nothing more arrives within a short quiet period (catches duplicates
/// that would follow the expected messages).
fn assert_quiet(c: &mut Client) {
    c.s.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut b = [0u8; 256];
    match c.s.read(&mut b) {
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
        other => panic!("unexpected data after the expected messages: {other:?}"),
    }
    c.s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
}

/// `nodes` nodes on one Redis, each with one publisher and two plain
/// subscribers of one topic: everyone gets every message published on any
/// node once, in publish order per publisher, except its own.
fn across_nodes(backend: &str, nodes: usize) {
    const M: usize = 40;
    let redis = RedisServer::start();
    let url = redis.url();
    let ns: Vec<Node> = (0..nodes)
        .map(|_| Node::start(backend, Some(&url), None))
        .collect();
    let mut pubs: Vec<Client> = ns.iter().map(|n| n.client("room")).collect();
    let mut subs: Vec<(usize, Client)> = ns
        .iter()
        .enumerate()
        .flat_map(|(i, n)| [(i, n.client("room")), (i, n.client("room"))])
        .collect();
    // Every node has joined the topic on Redis before anyone publishes.
    until("every node subscribed", Duration::from_secs(10), || {
        redis.numsub("room") == nodes as i64
    });
    // Publishers interleave; text and binary alternate.
    for k in 0..M {
        for (i, p) in pubs.iter_mut().enumerate() {
            let m = format!("p{i}-{k}");
            if k % 2 == 0 {
                p.send_text(&m);
            } else {
                p.send_binary(m.as_bytes());
            }
        }
    }
    let check = |c: &mut Client, skip: Option<usize>| {
        let mut next = vec![0usize; nodes];
        let want = M * (nodes - usize::from(skip.is_some()));
        for _ in 0..want {
            let m = text(c);
            let (p, k) = m[1..].split_once('-').unwrap();
            let (p, k): (usize, usize) = (p.parse().unwrap(), k.parse().unwrap());
            assert_ne!(Some(p), skip, "a publisher got its own message {m}");
            assert_eq!(
                k, next[p],
                "publisher {p}'s messages out of order or repeated"
            );
            next[p] += 1;
        }
        assert_quiet(c);
    };
    for (_, s) in subs.iter_mut() {
        check(s, None);
    }
    for (i, p) in pubs.iter_mut().enumerate() {
        check(p, Some(i));
    }
    drop(pubs);
    drop(subs);
    for (i, n) in ns.into_iter().enumerate() {
        let r = n.stop();
        assert_eq!(r["broker_published"], M as u64, "node {i}: {r:?}");
        assert_eq!(r["broker_dropped"], 0, "node {i}: {r:?}");
        // Every other node's publishes, once (its own were filtered).
        assert_eq!(r["broker_delivered"], (M * (nodes - 1)) as u64, "node {i}");
    }
    // Every node left the topic as its clients went.
    assert_eq!(redis.numsub("room"), 0);
}

#[test]
fn two_nodes_epoll() {
    across_nodes("epoll", 2);
}

#[test]
fn two_nodes_uring() {
    if !uring_available() {
        eprintln!("skipping uring: unavailable");
        return;
    }
    across_nodes("uring", 2);
}

#[test]
fn three_nodes() {
    across_nodes("auto", 3);
}

/// A subscriber's disconnect stops delivery to its node, and the node
/// leaves the topic on Redis once its last subscriber is gone.
#[test]
fn unsubscribe_leaves_redis() {
    let redis = RedisServer::start();
    let url = redis.url();
    let (a, b) = (
        Node::start("auto", Some(&url), None),
        Node::start("epoll", Some(&url), None),
    );
    let mut pa = a.client("news");
    let mut sb = b.client("news");
    let mut sb_other = b.client("other");
    until("both nodes subscribed", Duration::from_secs(10), || {
        redis.numsub("news") == 2
    });
    pa.send_text("one");
    assert_eq!(text(&mut sb), "one");
    sb.send_frame(true, ringws_codec::OpCode::Close, &[0x03, 0xe8]);
    assert!(sb.wait_eof());
    until("node b left the topic", Duration::from_secs(10), || {
        redis.numsub("news") == 1
    });
    pa.send_text("two");
    // Node b's other client is on another topic: it gets a message of its
    // own topic, and nothing of "news" before it.
    let mut pa_other = a.client("other");
    until("both nodes on other", Duration::from_secs(10), || {
        redis.numsub("other") == 2
    });
    pa_other.send_text("other-1");
    assert_eq!(text(&mut sb_other), "other-1");
    drop((pa, pa_other, sb_other));
    until("node a left news", Duration::from_secs(10), || {
        redis.numsub("news") == 0
    });
    let rb = b.stop();
    // Node b got "one" and "other-1" from Redis, not "two".
    assert_eq!(rb["broker_delivered"], 2, "{rb:?}");
    let ra = a.stop();
    assert_eq!(ra["broker_published"], 3, "{ra:?}");
}

/// Redis killed during a run and started again: local delivery never
/// stops, the nodes resubscribe, cross-node delivery resumes, and every
/// publish is either acknowledged or counted as dropped.
fn redis_restart(backend: &str) {
    let port = free_port();
    let mut redis = RedisServer::start_on(port);
    let url = redis.url();
    let a = Node::start(backend, Some(&url), None);
    let b = Node::start(backend, Some(&url), None);
    let (mut pa, mut sa, mut sb) = (a.client("live"), a.client("live"), b.client("live"));
    until("both nodes subscribed", Duration::from_secs(10), || {
        redis.numsub("live") == 2
    });
    let mut sent = 0u64;
    for k in 0..10 {
        pa.send_text(&format!("before-{k}"));
        sent += 1;
        assert_eq!(text(&mut sa), format!("before-{k}"));
        assert_eq!(text(&mut sb), format!("before-{k}"));
    }
    redis.kill();
    // Redis is gone: every publish now is dropped, and local delivery
    // carries on.
    let gap = 50;
    for k in 0..gap {
        pa.send_text(&format!("gap-{k}"));
        sent += 1;
        assert_eq!(text(&mut sa), format!("gap-{k}"));
    }
    let redis = RedisServer::start_on(port);
    until("both nodes resubscribed", Duration::from_secs(15), || {
        redis.numsub("live") == 2
    });
    // Resubscribed: a probe goes through within a bounded number of tries
    // (the publishing node may still be reconnecting its own side).
    let mut probes = 0;
    let first = loop {
        pa.send_text(&format!("probe-{probes}"));
        sent += 1;
        assert_eq!(text(&mut sa), format!("probe-{probes}"));
        probes += 1;
        sb.s.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| sb.recv_data())) {
            Ok(Some(Ev::Text(t))) => break t,
            Ok(other) => panic!("node b: {other:?}"),
            Err(_) => assert!(probes < 100, "cross-node delivery did not resume"),
        }
    };
    sb.s.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    assert!(
        first.starts_with("probe-"),
        "node b got {first} (a gap message?)"
    );
    // Probes after the first one that arrived follow in order.
    let mut next: usize = first[6..].parse::<usize>().unwrap() + 1;
    while next < probes {
        assert_eq!(text(&mut sb), format!("probe-{next}"));
        next += 1;
    }
    for k in 0..10 {
        pa.send_text(&format!("after-{k}"));
        sent += 1;
        assert_eq!(text(&mut sa), format!("after-{k}"));
        assert_eq!(text(&mut sb), format!("after-{k}"));
    }
    drop((pa, sa, sb));
    let ra = a.stop();
    b.stop();
    let (published, dropped) = (ra["broker_published"], ra["broker_dropped"]);
    assert_eq!(published + dropped, sent, "{ra:?}");
    assert!(dropped >= gap, "{ra:?}");
    assert!(ra["broker_reconnects"] >= 1, "{ra:?}");
}

#[test]
fn redis_restart_epoll() {
    redis_restart("epoll");
}

#[test]
fn redis_restart_uring() {
    if !uring_available() {
        eprintln!("skipping uring: unavailable");
        return;
    }
    redis_restart("uring");
}

/// Nodes started before Redis serve local pub/sub, then join once it comes.
#[test]
fn redis_absent_at_start() {
    let port = free_port();
    let url = format!("redis://127.0.0.1:{port}");
    let a = Node::start("auto", Some(&url), None);
    let b = Node::start("epoll", Some(&url), None);
    let (mut pa, mut sa, mut sb) = (a.client("t"), a.client("t"), b.client("t"));
    pa.send_text("local");
    assert_eq!(text(&mut sa), "local");
    let redis = RedisServer::start_on(port);
    until("both nodes subscribed", Duration::from_secs(15), || {
        redis.numsub("t") == 2
    });
    // A's bridge may still be connecting its publishing side: retry.
    let mut n = 0;
    loop {
        pa.send_text(&format!("x{n}"));
        assert_eq!(text(&mut sa), format!("x{n}"));
        sb.s.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let got = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| sb.recv_data()));
        n += 1;
        match got {
            Ok(Some(Ev::Text(t))) => {
                assert!(t.starts_with('x'), "{t}");
                break;
            }
            Ok(other) => panic!("{other:?}"),
            Err(_) => assert!(n < 100, "node b never got a message"),
        }
    }
    drop((pa, sa, sb));
    assert_eq!(b.stop()["broker_delivered"], 1);
    a.stop();
}

#[test]
fn bad_topic_is_404() {
    let node = Node::start("auto", None, None);
    let long = "a".repeat(129);
    for path in [
        "/",
        "/topic/",
        "/topic/sp%20ace",
        "/topic/a/b",
        "/topic/%41",
        "/topics/x",
        &format!("/topic/{long}"),
    ] {
        let req = format!(
            "GET {} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
            path
        );
        let resp = raw_http(node.addr, &[req.as_bytes()]);
        assert!(resp.starts_with("HTTP/1.1 404"), "{path}: {resp}");
    }
    // The longest and every allowed byte are fine.
    let ok = "a".repeat(128);
    let mut c1 = node.client(&ok);
    let mut c2 = node.client(&ok);
    let mut d1 = node.client("Az09._:-");
    let mut d2 = node.client("Az09._:-");
    std::thread::sleep(Duration::from_millis(50));
    c1.send_text("m");
    assert_eq!(text(&mut c2), "m");
    d1.send_text("n");
    assert_eq!(text(&mut d2), "n");
    drop((c1, c2, d1, d2));
    node.stop();
}

#[test]
fn publishing_needs_the_token() {
    let node = Node::start("auto", None, Some("s3cret"));
    let path = "/topic/room";
    let mut publisher =
        Client::connect_with(node.addr, path, &[("Authorization", "Bearer s3cret")]).unwrap();
    let mut reader = node.client("room");
    let mut wrong =
        Client::connect_with(node.addr, path, &[("Authorization", "Bearer s3creT")]).unwrap();
    // Subscribed before the publish (applied at the end of the worker turn).
    std::thread::sleep(Duration::from_millis(50));
    publisher.send_text("hello");
    assert_eq!(text(&mut reader), "hello");
    assert_eq!(text(&mut wrong), "hello");
    for c in [&mut reader, &mut wrong] {
        c.send_text("may I?");
        match c.recv_data() {
            Some(Ev::Close(Some((1008, _)))) => {}
            other => panic!("expected 1008, got {other:?}"),
        }
    }
    // The publisher got nothing from them (and not its own message).
    assert_quiet(&mut publisher);
    drop((publisher, reader, wrong));
    node.stop();
}

/// A subscriber that never reads, on one node, does not hold back the
/// topic's other subscribers on that node or another: its send buffer
/// fills to its limit and further messages to it are dropped, as for a
/// local publish.
#[test]
fn a_slow_subscriber_does_not_slow_the_others() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    const N: usize = 4000;
    let redis = RedisServer::start();
    let url = redis.url();
    let a = Node::start("auto", Some(&url), None);
    let b = Node::start("auto", Some(&url), None);
    let mut publisher = a.client("wide");
    let fast = [a.client("wide"), b.client("wide")];
    // Never read: the kernel buffers fill, then its send queue on node b.
    let slow = b.client("wide");
    until("both nodes subscribed", Duration::from_secs(10), || {
        redis.numsub("wide") == 2
    });
    let got: Arc<[AtomicUsize; 2]> = Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
    let readers: Vec<_> = fast
        .into_iter()
        .enumerate()
        .map(|(i, mut c)| {
            let got = got.clone();
            std::thread::spawn(move || {
                for k in 0..N {
                    let m = text(&mut c);
                    assert_eq!(
                        &m[..7],
                        format!("{k:07}"),
                        "reader {i}: missing or out of order"
                    );
                    got[i].store(k + 1, Ordering::Relaxed);
                }
                c
            })
        })
        .collect();
    // 4000 × 4 KiB = 16 MiB: more than the slow client's kernel buffers
    // and its 1 MiB send-buffer limit together; the
    // readers are kept within 100 messages (400 KiB) of the publisher, so
    // only the slow one ever reaches its limit.
    let body = "x".repeat(4096 - 8);
    for k in 0..N {
        if k % 100 == 0 {
            until("the readers keep up", Duration::from_secs(20), || {
                got.iter().all(|g| g.load(Ordering::Relaxed) + 100 >= k)
            });
        }
        publisher.send_text(&format!("{k:07}-{body}"));
    }
    let fast: Vec<Client> = readers.into_iter().map(|r| r.join().unwrap()).collect();
    drop((publisher, fast, slow));
    let rb = b.stop();
    assert_eq!(rb["broker_delivered"], N as u64, "{rb:?}");
    assert_eq!(rb["broker_inbox_dropped"], 0, "{rb:?}");
    // The slow client hit its limit: node b queued all N for the fast one
    // and fewer for the slow one.
    let out = rb["messages_out"];
    assert!(out > N as u64 && out < 2 * N as u64, "{rb:?}");
    a.stop();
}
