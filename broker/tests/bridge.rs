//! The bridge against a real redis-server on loopback.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{until, RedisServer};
use ringws_broker::{envelope, Bridge, BridgeConfig, Kind};

const WAIT: Duration = Duration::from_secs(15);

type Inbox = Arc<Mutex<Vec<(String, Kind, Vec<u8>)>>>;

/// A bridge whose deliveries land in an inbox.
struct Node {
    bridge: Bridge,
    inbox: Inbox,
}

impl Node {
    fn start(url: &str, node_id: u64) -> Node {
        Node::start_with(BridgeConfig {
            node_id,
            ..BridgeConfig::new(url)
        })
    }

    fn start_with(config: BridgeConfig) -> Node {
        let inbox: Inbox = Arc::default();
        let sink = inbox.clone();
        let bridge = Bridge::start(config, move |topic, kind, payload| {
            sink.lock()
                .unwrap()
                .push((topic.to_owned(), kind, payload.to_vec()))
        })
        .expect("start bridge");
        Node { bridge, inbox }
    }

    fn received(&self) -> Vec<(String, Kind, Vec<u8>)> {
        self.inbox.lock().unwrap().clone()
    }

    fn count(&self) -> usize {
        self.inbox.lock().unwrap().len()
    }

    fn wait_connected(&self) {
        until("bridge connected", WAIT, || self.bridge.stats().connected);
    }

    /// Publishes, retrying while the queue is momentarily full (never
    /// expected here, but a `false` must not silently lose a test message).
    fn publish(&self, topic: &str, kind: Kind, payload: &[u8]) {
        assert!(
            self.bridge.publish(topic, kind, payload),
            "publish refused: {:?}",
            self.bridge.stats()
        );
    }
}

fn kind_of(i: usize) -> Kind {
    if i % 2 == 0 {
        Kind::Text
    } else {
        Kind::Binary
    }
}

/// `n` bridges on one Redis, all subscribed to one topic, each publishing
/// `per` messages: each gets every other node's messages exactly once, in
/// each publisher's order, and none of its own.
fn mesh(n: usize, per: usize) {
    let redis = RedisServer::start();
    let nodes: Vec<Node> = (0..n)
        .map(|i| Node::start(&redis.url(), 100 + i as u64))
        .collect();
    for node in &nodes {
        node.wait_connected();
        assert_eq!(node.bridge.subscribe("room"), 1);
    }
    until("every node subscribed on Redis", WAIT, || {
        redis.numsub("room") == n as i64
    });

    // Publish interleaved from every node's own thread.
    std::thread::scope(|s| {
        for (i, node) in nodes.iter().enumerate() {
            s.spawn(move || {
                for j in 0..per {
                    let payload = format!("n{i}-{j}");
                    node.publish("room", kind_of(j), payload.as_bytes());
                }
            });
        }
    });

    let want = (n - 1) * per;
    for (i, node) in nodes.iter().enumerate() {
        until(&format!("node {i} receives {want}"), WAIT, || {
            node.count() >= want
        });
        // Its own publishes all came back (and were dropped): everything it
        // sent has been through Redis.
        until(&format!("node {i} sees its own {per} echoes"), WAIT, || {
            node.bridge.stats().own == per as u64
        });
    }
    // Every message of every publisher is through Redis now: one more round
    // of end markers, in order after them, proves nothing else is coming.
    for node in &nodes {
        node.publish("room", Kind::Text, b"end");
    }
    for (i, node) in nodes.iter().enumerate() {
        until(&format!("node {i} receives the end markers"), WAIT, || {
            node.count() == want + n - 1
        });
    }

    for (i, node) in nodes.iter().enumerate() {
        let got = node.received();
        assert_eq!(got.len(), want + n - 1, "node {i}: exactly once");
        for (p, _) in nodes.iter().enumerate() {
            let from: Vec<_> = got
                .iter()
                .filter(|(_, _, m)| m.starts_with(format!("n{p}-").as_bytes()))
                .collect();
            if p == i {
                assert!(from.is_empty(), "node {i} got its own messages back");
                continue;
            }
            assert_eq!(from.len(), per, "node {i} from node {p}");
            for (j, (topic, kind, payload)) in from.iter().enumerate() {
                assert_eq!(topic, "room");
                assert_eq!(*kind, kind_of(j), "node {i} from node {p}: kind of #{j}");
                assert_eq!(
                    payload,
                    format!("n{p}-{j}").as_bytes(),
                    "node {i} from node {p}: publish order"
                );
            }
        }
        // A publish is counted once Redis's reply is read, which may come
        // after the other nodes already got the message.
        until(&format!("node {i} counts its publishes"), WAIT, || {
            node.bridge.stats().published == per as u64 + 1
        });
        let stats = node.bridge.stats();
        assert_eq!(stats.delivered, (want + n - 1) as u64, "{stats:?}");
        assert_eq!(stats.published, per as u64 + 1, "{stats:?}");
        assert_eq!(stats.dropped, 0, "{stats:?}");
        assert_eq!(stats.malformed, 0, "{stats:?}");
        assert_eq!(stats.topics, 1);
    }
}

#[test]
fn two_bridges_get_each_others_messages_once_in_order() {
    mesh(2, 500);
}

#[test]
fn three_bridges_get_each_others_messages_once_in_order() {
    mesh(3, 300);
}

#[test]
fn last_local_unsubscribe_unsubscribes_on_redis() {
    let redis = RedisServer::start();
    let a = Node::start(&redis.url(), 1);
    let b = Node::start(&redis.url(), 2);
    a.wait_connected();
    b.wait_connected();
    assert_eq!(a.bridge.subscribe("t"), 1);
    assert_eq!(a.bridge.subscribe("t"), 2);
    assert_eq!(a.bridge.subscribe("marker"), 1);
    until("t and marker subscribed", WAIT, || {
        redis.numsub("t") == 1 && redis.numsub("marker") == 1
    });

    // One of two local subscribers leaves: the node stays subscribed. The
    // marker topic's unsubscribe, sent after, shows the bridge has acted.
    assert_eq!(a.bridge.unsubscribe("t"), 1);
    assert_eq!(a.bridge.unsubscribe("marker"), 0);
    until("marker unsubscribed", WAIT, || redis.numsub("marker") == 0);
    assert_eq!(redis.numsub("t"), 1);
    assert_eq!(a.bridge.subscribers("t"), 1);

    // A message still arrives while one subscriber is left.
    b.publish("t", Kind::Text, b"one");
    until("first message delivered", WAIT, || a.count() == 1);

    // The last one leaves: UNSUBSCRIBE on Redis, and no more deliveries.
    assert_eq!(a.bridge.unsubscribe("t"), 0);
    assert_eq!(a.bridge.unsubscribe("t"), 0, "extra unsubscribe is ignored");
    until("t unsubscribed", WAIT, || redis.numsub("t") == 0);
    assert_eq!(a.bridge.stats().topics, 0);
    assert_eq!(a.bridge.subscribe("marker"), 1);
    until("marker subscribed again", WAIT, || {
        redis.numsub("marker") == 1
    });
    b.publish("t", Kind::Text, b"two");
    b.publish("marker", Kind::Text, b"after");
    // Redis delivers b's messages to a's connection in order: once the
    // marker is in, "two" would have been too.
    until("marker delivered", WAIT, || a.count() == 2);
    let got = a.received();
    assert_eq!(got[0].2, b"one");
    assert_eq!(
        (got[1].0.as_str(), &got[1].2[..]),
        ("marker", &b"after"[..])
    );
}

#[test]
fn malformed_envelopes_are_counted_and_ignored() {
    let redis = RedisServer::start();
    let a = Node::start(&redis.url(), 7);
    a.wait_connected();
    a.bridge.subscribe("m");
    until("subscribed", WAIT, || redis.numsub("m") == 1);
    let mut raw = redis.connection();
    let publish = |c: &mut redis::Connection, bytes: &[u8]| {
        let _: i64 = redis::cmd("PUBLISH").arg("m").arg(bytes).query(c).unwrap();
    };
    publish(&mut raw, b"plain text from some other client");
    publish(&mut raw, &[2, 0, 0, 0, 0, 0, 0, 0, 0, 0, b'x']); // unknown version
    publish(&mut raw, &envelope::encode(9, Kind::Text, &[0xff, 0xfe])); // not UTF-8
    publish(&mut raw, &envelope::encode(9, Kind::Binary, b"good"));
    until("the good one delivered", WAIT, || a.count() == 1);
    assert_eq!(
        a.received()[0],
        ("m".into(), Kind::Binary, b"good".to_vec())
    );
    let stats = a.bridge.stats();
    assert_eq!(stats.malformed, 3, "{stats:?}");
    assert_eq!(stats.delivered, 1, "{stats:?}");
}

#[test]
fn redis_restart_reconnects_resubscribes_and_counts_the_gap() {
    let mut redis = RedisServer::start();
    let port = redis.port;
    let quick = |id| BridgeConfig {
        node_id: id,
        backoff_min: Duration::from_millis(20),
        backoff_max: Duration::from_millis(200),
        ..BridgeConfig::new(redis.url())
    };
    let a = Node::start_with(quick(1));
    let b = Node::start_with(quick(2));
    a.wait_connected();
    b.wait_connected();
    a.bridge.subscribe("r");
    b.bridge.subscribe("r");
    b.bridge.subscribe("gone");
    until("both subscribed", WAIT, || {
        redis.numsub("r") == 2 && redis.numsub("gone") == 1
    });
    a.publish("r", Kind::Text, b"before");
    until("delivered before the restart", WAIT, || b.count() == 1);
    // Redis delivers to subscribers before it answers the publisher: wait for
    // the answer too, or the kill may turn an unanswered publish into a drop.
    until("acknowledged before the restart", WAIT, || {
        a.bridge.stats().published == 1
    });

    redis.kill();
    until("both notice Redis is gone", WAIT, || {
        !a.bridge.stats().connected && !b.bridge.stats().connected
    });
    let dropped_before = a.bridge.stats().dropped;
    let mut refused = 0;
    for i in 0..10_000 {
        if !a
            .bridge
            .publish("r", Kind::Binary, format!("gap {i}").as_bytes())
        {
            refused += 1;
        }
    }
    assert_eq!(refused, 10_000, "every publish while away is refused");
    assert_eq!(a.bridge.stats().dropped - dropped_before, 10_000);
    // Subscriptions made while away are taken up on reconnect too, and
    // topics left while away are not.
    b.bridge.subscribe("late");
    assert_eq!(b.bridge.unsubscribe("gone"), 0);

    let redis = RedisServer::start_on(port);
    a.wait_connected();
    b.wait_connected();
    until("resubscribed after the restart", WAIT, || {
        redis.numsub("r") == 2 && redis.numsub("late") == 1
    });
    assert_eq!(redis.numsub("gone"), 0);
    a.publish("r", Kind::Text, b"after");
    a.publish("late", Kind::Text, b"late one");
    until("delivered after the restart", WAIT, || b.count() == 3);
    let got: Vec<Vec<u8>> = b.received().into_iter().map(|m| m.2).collect();
    assert_eq!(got, [&b"before"[..], b"after", b"late one"]);
    for node in [&a, &b] {
        let s = node.bridge.stats();
        assert_eq!(s.reconnects, 1, "{s:?}");
        assert!(s.connected);
    }
    // Every publish call is accounted for: acknowledged or dropped.
    let calls = 1 + 10_000 + 2;
    until("all publishes accounted for", WAIT, || {
        let s = a.bridge.stats();
        s.published + s.dropped == calls
    });
    assert_eq!(a.bridge.stats().published, 3);
}

#[test]
fn redis_absent_at_start_then_started() {
    let port = common::free_port();
    let a = Node::start_with(BridgeConfig {
        node_id: 1,
        backoff_min: Duration::from_millis(20),
        backoff_max: Duration::from_millis(100),
        ..BridgeConfig::new(format!("redis://127.0.0.1:{port}"))
    });
    until("a failed attempt", WAIT, || {
        a.bridge.stats().connect_failures >= 2
    });
    let s = a.bridge.stats();
    assert!(!s.connected);
    assert!(!a.bridge.publish("x", Kind::Text, b"nobody"));
    assert_eq!(a.bridge.subscribe("x"), 1);

    let redis = RedisServer::start_on(port);
    a.wait_connected();
    until("subscribed once connected", WAIT, || redis.numsub("x") == 1);
    let s = a.bridge.stats();
    assert_eq!(s.reconnects, 0, "a first connection is not a reconnect");
    assert_eq!(s.dropped, 1);

    let b = Node::start(&redis.url(), 2);
    b.wait_connected();
    b.publish("x", Kind::Text, b"hello");
    until("delivered", WAIT, || a.count() == 1);
}

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

#[test]
fn queues_stay_bounded_when_redis_stops_reading() {
    let redis = RedisServer::start();
    let config = BridgeConfig {
        node_id: 1,
        publish_queue: 1_000,
        publish_queue_bytes: 1 << 20,
        redis: ringws_broker::RedisOptions {
            max_buffered: 256 << 10,
            stall_timeout: Duration::from_secs(60),
            ..Default::default()
        },
        ..BridgeConfig::new(redis.url())
    };
    let a = Node::start_with(config);
    a.wait_connected();

    // Freeze Redis: the connection stays up but nothing is read (a network
    // that stopped moving). Flood far more than every bound together.
    redis.signal(libc::SIGSTOP);
    let payload = vec![b'x'; 1024];
    let flood = 200_000u64; // 200 MiB offered
    let rss_before = rss_bytes();
    let mut accepted = 0u64;
    for _ in 0..flood {
        if a.bridge.publish("flood", Kind::Binary, &payload) {
            accepted += 1;
        }
    }
    let grown = rss_bytes().saturating_sub(rss_before);
    let s = a.bridge.stats();
    assert!(
        accepted < flood / 4,
        "accepted {accepted} of {flood}: {s:?}"
    );
    assert_eq!(s.dropped, flood - accepted, "every refusal is counted");
    assert!(
        grown < 64 << 20,
        "memory grew by {grown} bytes for {flood} publishes of 1 KiB"
    );

    // Thawed, what was accepted goes out; every call is accounted for.
    redis.signal(libc::SIGCONT);
    until("accepted publishes acknowledged", WAIT, || {
        let s = a.bridge.stats();
        s.published + s.dropped == flood
    });
    let s = a.bridge.stats();
    assert_eq!(s.published, accepted, "{s:?}");
    assert!(s.connected);
}

#[test]
fn a_frozen_redis_is_detected_by_the_stall_timeout_and_rejoined() {
    let redis = RedisServer::start();
    let config = |id| BridgeConfig {
        node_id: id,
        backoff_min: Duration::from_millis(20),
        backoff_max: Duration::from_millis(200),
        redis: ringws_broker::RedisOptions {
            stall_timeout: Duration::from_millis(400),
            connect_timeout: Duration::from_millis(300),
            ..Default::default()
        },
        ..BridgeConfig::new(redis.url())
    };
    let a = Node::start_with(config(1));
    let b = Node::start_with(config(2));
    a.wait_connected();
    b.wait_connected();
    b.bridge.subscribe("s");
    until("subscribed", WAIT, || redis.numsub("s") == 1);

    // Frozen with no FIN: an idle bridge notices through its PING, a busy
    // one through writes that do not move.
    redis.signal(libc::SIGSTOP);
    a.bridge.publish("s", Kind::Text, b"into the void");
    until("both give the frozen server up", WAIT, || {
        !a.bridge.stats().connected && !b.bridge.stats().connected
    });
    redis.signal(libc::SIGCONT);
    a.wait_connected();
    b.wait_connected();
    // Once the old connections are gone, the one subscriber is b's new one.
    until("resubscribed on the new connection", WAIT, || {
        redis.clients() == 2 && redis.numsub("s") == 1
    });
    a.publish("s", Kind::Text, b"back");
    until("delivered after the thaw", WAIT, || {
        b.received().iter().any(|m| m.2 == b"back")
    });
    assert!(a.bridge.stats().reconnects >= 1);
    assert!(b.bridge.stats().reconnects >= 1);
}

#[test]
fn large_messages_cross_in_pieces_and_oversized_ones_are_refused() {
    let redis = RedisServer::start();
    let a = Node::start(&redis.url(), 1);
    let b = Node::start_with(BridgeConfig {
        node_id: 2,
        backoff_min: Duration::from_millis(20),
        redis: ringws_broker::RedisOptions {
            max_message: 2 << 20,
            ..Default::default()
        },
        ..BridgeConfig::new(redis.url())
    });
    a.wait_connected();
    b.wait_connected();
    b.bridge.subscribe("big");
    until("subscribed", WAIT, || redis.numsub("big") == 1);

    // Frames far larger than one socket read arrive in pieces: the parser
    // must carry a partial frame across reads that would block.
    let sizes = [100 << 10, 1 << 20, (2 << 20) - 64];
    let payloads: Vec<Vec<u8>> = sizes
        .iter()
        .enumerate()
        .map(|(i, &n)| (0..n).map(|j| (j * 7 + i) as u8).collect())
        .collect();
    for p in &payloads {
        a.publish("big", Kind::Binary, p);
    }
    until("large messages delivered", WAIT, || {
        b.count() == payloads.len()
    });
    let got: Vec<Vec<u8>> = b.received().into_iter().map(|m| m.2).collect();
    assert!(
        got == payloads,
        "large payloads arrived intact and in order"
    );

    // Past max_message the connection is dropped (the frame cannot be
    // skipped unread); the bridge reconnects and carries on.
    a.publish("big", Kind::Binary, &vec![1u8; 3 << 20]);
    until("b reconnects after the oversized frame", WAIT, || {
        b.bridge.stats().reconnects == 1 && b.bridge.stats().connected
    });
    // Once the old connection is gone, the one subscriber is the new one.
    until("resubscribed on the new connection", WAIT, || {
        redis.clients() == 2 && redis.numsub("big") == 1
    });
    a.publish("big", Kind::Text, b"small again");
    until("delivery resumes", WAIT, || b.count() == payloads.len() + 1);
    assert_eq!(b.received().last().unwrap().2, b"small again");
}

#[test]
fn password_in_the_url_is_sent_and_a_missing_one_refused() {
    let redis = RedisServer::start_with_args(&["--requirepass", "s3cret"]);
    let good = Node::start(&redis.url(), 1);
    good.wait_connected();
    good.bridge.subscribe("p");
    until("subscribed with the password", WAIT, || {
        redis.numsub("p") == 1
    });

    let bad = Node::start_with(BridgeConfig {
        node_id: 2,
        backoff_min: Duration::from_millis(20),
        ..BridgeConfig::new(format!("redis://127.0.0.1:{}", redis.port))
    });
    until("attempts without the password fail", WAIT, || {
        bad.bridge.stats().connect_failures >= 2
    });
    assert!(!bad.bridge.stats().connected);
}

#[test]
fn resubscribing_many_topics_is_batched() {
    let port = common::free_port();
    let a = Node::start_with(BridgeConfig {
        node_id: 1,
        backoff_min: Duration::from_millis(20),
        backoff_max: Duration::from_millis(100),
        ..BridgeConfig::new(format!("redis://127.0.0.1:{port}"))
    });
    // Taken while Redis is absent, so all of them go at the first connect.
    for i in 0..1_500 {
        a.bridge.subscribe(&format!("topic-{i}"));
    }
    let redis = RedisServer::start_on(port);
    a.wait_connected();
    until("all 1,500 subscribed", WAIT, || {
        redis.numsub("topic-0") == 1 && redis.numsub("topic-1499") == 1
    });
    let mut c = redis.connection();
    let stats: String = redis::cmd("INFO")
        .arg("commandstats")
        .query(&mut c)
        .unwrap();
    let calls = stats
        .lines()
        .find_map(|l| l.strip_prefix("cmdstat_subscribe:calls="))
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.parse::<u64>().ok());
    assert_eq!(calls, Some(3), "1,500 topics in requests of 512:\n{stats}");
    let numsub: Vec<(String, i64)> = redis::cmd("PUBSUB")
        .arg("NUMSUB")
        .arg((0..1_500).map(|i| format!("topic-{i}")).collect::<Vec<_>>())
        .query(&mut c)
        .unwrap();
    assert!(
        numsub.iter().all(|(_, n)| *n == 1),
        "every topic subscribed once"
    );
    assert_eq!(a.bridge.stats().topics, 1_500);
}
