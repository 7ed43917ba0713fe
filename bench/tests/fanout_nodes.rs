//! `fanout` across two in-process ringws nodes joined by a real
//! `redis-server` (started and stopped here): subscribers are spread over
//! both nodes, the publisher is on the first, and every subscriber but the
//! publisher gets every publish, so the deliveries on the second node
//! crossed the broker. On both client backends, about a second of load.

#[path = "../../broker/tests/common/mod.rs"]
mod redis_server;

use std::time::Duration;

use redis_server::RedisServer;
use ringws::{Accept, BridgeConfig, Conn, Handler, Message, Reject, Request, Server};
use ringws_bench::driver::{resolve, ClientBackend};
use ringws_bench::fanout::{fanout_thread, FanoutParams};
use ringws_bench::run::{parse_url, run_threads};

/// Subscribes each client to the topic of its path and publishes what it
/// sends to the topic's other subscribers on every node.
struct Topic;

impl Handler for Topic {
    type State = String;

    fn on_upgrade(&self, request: &Request) -> Result<Accept<String>, Reject> {
        Ok(Accept::new(request.path().to_string()))
    }

    fn on_open(&self, conn: &mut Conn<'_>, topic: &mut String) {
        conn.subscribe(topic);
    }

    fn on_message(&self, conn: &mut Conn<'_>, topic: &mut String, message: Message<'_>) {
        conn.publish_to_others(topic, message);
    }
}

fn two_nodes(client: ClientBackend) {
    let Ok(backend) = resolve(client) else {
        eprintln!("skipping {client:?}: unavailable on this kernel");
        return;
    };
    let redis = RedisServer::start();
    let node = || {
        Server::builder()
            .bind("127.0.0.1:0")
            .workers(1)
            .broker(BridgeConfig::new(redis.url()))
            .start(Topic)
            .expect("node starts")
    };
    let (a, b) = (node(), node());
    let url = |h: &ringws::ServerHandle| format!("ws://{}/feed", h.local_addr());
    let (addr, host, path) = parse_url(&url(&a)).unwrap();
    let p = FanoutParams {
        addr,
        host,
        path,
        size: 64,
        rate: 200.0,
        backend,
        others: vec![parse_url(&url(&b)).unwrap()],
    };
    let subscribers = 20;
    // Both nodes subscribed on Redis before the window opens.
    let (rec, _) = run_threads(
        1,
        Duration::from_millis(500),
        Duration::from_secs(1),
        None,
        |i, sync| fanout_thread(&p, i, subscribers, sync),
    );
    assert_eq!(rec.errors, 0, "errors");
    assert_eq!(rec.mismatches, 0, "bad payloads");
    // 19 receivers (10 of them on the second node) × ~200 publishes; one
    // node alone would give 9 × 200.
    assert!(
        rec.completed >= 19 * 180,
        "{} deliveries for 19 subscribers over two nodes",
        rec.completed
    );
    let (sa, sb) = (a.stats(), b.stats());
    assert!(sa.broker_published >= 180, "{sa:?}");
    assert!(sb.broker_delivered >= 180, "{sb:?}");
    a.shutdown(Duration::from_millis(500));
    b.shutdown(Duration::from_millis(500));
}

#[test]
fn uring() {
    two_nodes(ClientBackend::Uring)
}

#[test]
fn epoll() {
    two_nodes(ClientBackend::Epoll)
}
