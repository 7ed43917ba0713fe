//! The library side of node-level pub/sub: `Handler::on_subscription`,
//! `ServerHandle::subscribers`, and `ServerHandle::publish` /
//! `Conn::publish_to_others` across two in-process servers on a real
//! `redis-server`.

mod common;
#[path = "../../broker/tests/common/mod.rs"]
mod redis_server;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use redis_server::{until, RedisServer};
use ringws::{Accept, Backend, BridgeConfig, Conn, Handler, Message, Reject, Request};

/// Subscribes each client to the topic of its path (`/t/NAME`), relays
/// what it sends to the topic's other subscribers, and records the hook.
#[derive(Clone, Default)]
struct Rooms {
    hook: Arc<Mutex<Vec<(String, u32, u32)>>>,
}

impl Handler for Rooms {
    type State = String;

    fn on_upgrade(&self, request: &Request) -> Result<Accept<String>, Reject> {
        match request.path().strip_prefix("/t/") {
            Some(t) if !t.is_empty() => Ok(Accept::new(t.to_string())),
            _ => Err(Reject::new(404, "no topic")),
        }
    }

    fn on_open(&self, conn: &mut Conn<'_>, topic: &mut String) {
        assert!(conn.subscribe(topic));
        assert!(!conn.subscribe(topic), "already subscribed");
    }

    fn on_message(&self, conn: &mut Conn<'_>, topic: &mut String, message: Message<'_>) {
        conn.publish_to_others(topic, message);
    }

    fn on_subscription(&self, topic: &str, old: u32, new: u32) {
        self.hook
            .lock()
            .unwrap()
            .push((topic.to_string(), old, new));
    }
}

fn start(backend: Backend, rooms: Rooms, redis: &RedisServer) -> ringws::ServerHandle {
    start_server(backend, rooms, |b| {
        b.workers(2).broker(BridgeConfig::new(redis.url()))
    })
}

fn start_server(
    backend: Backend,
    rooms: Rooms,
    cfg: impl FnOnce(ringws::Builder) -> ringws::Builder,
) -> ringws::ServerHandle {
    common::start(backend, rooms, cfg)
}

fn subscription_hook_and_handle_publish(backend: Backend) {
    let redis = RedisServer::start();
    let (ra, rb) = (Rooms::default(), Rooms::default());
    let a = start(backend, ra.clone(), &redis);
    let b = start(backend, rb.clone(), &redis);
    let mut a1 = Client::connect_path(a.local_addr(), "/t/x").unwrap();
    let mut a2 = Client::connect_path(a.local_addr(), "/t/x").unwrap();
    let mut a3 = Client::connect_path(a.local_addr(), "/t/x").unwrap();
    let mut b1 = Client::connect_path(b.local_addr(), "/t/x").unwrap();
    until("3 local subscribers on a", Duration::from_secs(10), || {
        a.subscribers("x") == 3
    });
    until("1 on b", Duration::from_secs(10), || {
        b.subscribers("x") == 1
    });
    until("both nodes on redis", Duration::from_secs(10), || {
        redis.numsub("x") == 2
    });
    assert_eq!(a.subscribers("nothing"), 0);
    // The hook saw each count once, in some order of workers, ending at 3.
    let mut seen: Vec<(u32, u32)> = ra
        .hook
        .lock()
        .unwrap()
        .iter()
        .map(|(t, o, n)| {
            assert_eq!(t, "x");
            (*o, *n)
        })
        .collect();
    seen.sort();
    assert_eq!(seen, [(0, 1), (1, 2), (2, 3)]);
    // ServerHandle::publish on b reaches a's subscribers and b's own.
    b.publish("x", Message::Text("from b's handle"));
    for c in [&mut a1, &mut a2, &mut a3, &mut b1] {
        assert_eq!(c.recv_data(), Some(Ev::Text("from b's handle".into())));
    }
    // A client's message reaches every other subscriber on both nodes.
    a1.send_binary(b"from a1");
    for c in [&mut a2, &mut a3, &mut b1] {
        assert_eq!(c.recv_data(), Some(Ev::Binary(b"from a1".to_vec())));
    }
    // Leaving: counts fall to zero and the node leaves Redis.
    drop((a1, a2, a3));
    until("a has no subscribers", Duration::from_secs(10), || {
        a.subscribers("x") == 0
    });
    until("a left redis", Duration::from_secs(10), || {
        redis.numsub("x") == 1
    });
    let last = ra.hook.lock().unwrap().last().cloned().unwrap();
    assert_eq!(last, ("x".to_string(), 1, 0));
    assert_eq!(ra.hook.lock().unwrap().len(), 6);
    let s = b.stats();
    assert_eq!(s.broker_delivered, 1, "{s:?}");
    assert!(s.broker_connected);
    drop(b1);
    // Each node's one publish is acknowledged by Redis, none dropped.
    for h in [&a, &b] {
        until("publish acknowledged", Duration::from_secs(10), || {
            h.stats().broker_published == 1
        });
        assert_eq!(h.stats().broker_dropped, 0);
    }
    a.shutdown(Duration::from_secs(1));
    b.shutdown(Duration::from_secs(1));
}

both_backends!(
    hook_and_handle_publish,
    subscription_hook_and_handle_publish
);

/// Without a broker everything stays on the node and the counters stay 0.
#[test]
fn no_broker_one_node() {
    let rooms = Rooms::default();
    let h = start_server(Backend::Auto, rooms, |b| b.workers(2));
    let mut c1 = Client::connect_path(h.local_addr(), "/t/y").unwrap();
    let mut c2 = Client::connect_path(h.local_addr(), "/t/y").unwrap();
    until("2 subscribers", Duration::from_secs(10), || {
        h.subscribers("y") == 2
    });
    c1.send_text("hi");
    assert_eq!(c2.recv_data(), Some(Ev::Text("hi".into())));
    h.publish("y", Message::Text("all"));
    assert_eq!(c1.recv_data(), Some(Ev::Text("all".into())));
    assert_eq!(c2.recv_data(), Some(Ev::Text("all".into())));
    let s = h.stats();
    assert_eq!(
        (s.broker_published, s.broker_dropped, s.broker_delivered),
        (0, 0, 0)
    );
    assert!(!s.broker_connected);
    drop((c1, c2));
    h.shutdown(Duration::from_secs(1));
}
