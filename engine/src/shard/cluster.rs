//! The node's side of multi-node pub/sub: node-level subscriber counts
//! (the subscription hook, `ServerHandle::subscribers`) and the optional
//! broker bridge (`ringws-broker`) that joins this node to the others.
//!
//! ```text
//!  Conn::publish / ServerHandle::publish
//!     ├─► local fan-out (outbox → this worker, other workers' inboxes)
//!     └─► Bridge::publish (bounded queue; false = dropped, counted)
//!  bridge thread ◄── Redis ── other nodes' publishes (own ones filtered)
//!     └─► deliver: frame encoded once, Command::Publish to each worker's
//!         inbox (not past DELIVERY_INBOX_MAX commands waiting; beyond,
//!         dropped and counted), delivered by the worker's fan-out, never
//!         re-published
//! ```
//!
//! Nothing here is on the per-message path of a connection: subscription
//! changes are recorded by the worker's `Topics` and applied here once per
//! loop turn (one short lock per change); publishing costs the bridge's
//! non-blocking queue push.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use bytes::Bytes;
use ringws_broker::{Bridge, Kind};
use ringws_codec::{server_frame, OpCode};

use super::cross::Command;
use super::Shared;
use crate::conn::{Fanout, Handler};

/// Commands that may wait in one worker's inbox for a delivery from the
/// broker to join them; past it the delivery is dropped (and counted)
/// rather than queued without bound when a worker falls behind.
pub(crate) const DELIVERY_INBOX_MAX: usize = 8192;

/// Node-level pub/sub state, in [`Shared`].
#[derive(Default)]
pub(crate) struct Cluster {
    /// Local subscribers per topic, over every worker (no zero entries).
    counts: Mutex<HashMap<Arc<str>, u32>>,
    /// Set once, before the workers start, when the node joins a broker.
    bridge: OnceLock<Bridge>,
    /// Broker messages not delivered to a worker because its inbox held
    /// [`DELIVERY_INBOX_MAX`] commands already (one per worker missed).
    inbox_dropped: AtomicU64,
}

impl Cluster {
    /// Join a broker (once, before the workers start).
    pub(crate) fn attach(&self, bridge: Bridge) {
        if self.bridge.set(bridge).is_err() {
            unreachable!("a server joins one broker");
        }
    }

    pub(crate) fn bridge(&self) -> Option<&Bridge> {
        self.bridge.get()
    }

    pub(crate) fn inbox_dropped(&self) -> u64 {
        self.inbox_dropped.load(Relaxed)
    }

    /// This node's subscribers of `topic`.
    pub(crate) fn subscribers(&self, topic: &str) -> u32 {
        let counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        counts.get(topic).copied().unwrap_or(0)
    }

    /// Apply one worker's subscription changes (drained from `changes`):
    /// update the node's counts, tell the bridge about zero crossings and
    /// run the handler's hook for each change (outside the lock).
    pub(crate) fn apply<H: Handler>(&self, changes: &mut Vec<(Arc<str>, bool)>, handler: &H) {
        if changes.is_empty() {
            return;
        }
        let mut hooks = Vec::with_capacity(changes.len());
        {
            let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
            for (topic, added) in changes.drain(..) {
                let old = counts.get(&*topic).copied().unwrap_or(0);
                let new = if added {
                    old + 1
                } else {
                    old.saturating_sub(1)
                };
                if new == 0 {
                    counts.remove(&*topic);
                } else {
                    counts.insert(topic.clone(), new);
                }
                if let Some(b) = self.bridge.get() {
                    // The bridge takes its own short lock; only zero
                    // crossings reach the broker.
                    match (old, new) {
                        (0, 1) => {
                            b.subscribe(&topic);
                        }
                        (1, 0) => {
                            b.unsubscribe(&topic);
                        }
                        _ => {}
                    }
                }
                if old != new {
                    hooks.push((topic, old, new));
                }
            }
        }
        for (topic, old, new) in hooks {
            // A panicking hook must not take the worker with it (see
            // `Handler`'s panic contract); it has no connection to close.
            let run = std::panic::AssertUnwindSafe(|| handler.on_subscription(&topic, old, new));
            if std::panic::catch_unwind(run).is_err() {
                tracing::error!(%topic, "on_subscription panicked");
            }
        }
    }

    /// Publish to the broker what this worker's handlers published to
    /// topics this turn (broadcasts stay on the node).
    pub(crate) fn publish_outbox(&self, outbox: &[Fanout]) {
        let Some(b) = self.bridge.get() else {
            return;
        };
        for f in outbox {
            if let Fanout::Topic(topic, frame) | Fanout::TopicExcept(topic, frame, _) = f {
                self.publish_frame(b, topic, frame);
            }
        }
    }

    /// Publish one encoded frame (for [`crate::ServerHandle::publish`]).
    pub(crate) fn publish(&self, topic: &str, frame: &Bytes) {
        if let Some(b) = self.bridge.get() {
            self.publish_frame(b, topic, frame);
        }
    }

    fn publish_frame(&self, b: &Bridge, topic: &str, frame: &Bytes) {
        match split_frame(frame) {
            // A refusal (queue full, broker away) is counted by the bridge.
            Some((kind, payload)) => {
                b.publish(topic, kind, payload);
            }
            None => debug_assert!(false, "fan-out frames are whole server data frames"),
        }
    }
}

/// The bridge's deliver callback: a message another node published to a
/// topic this node subscribes to, handed to every worker's inbox encoded
/// once. Holds the server weakly (the server owns the bridge).
pub(crate) fn deliver(shared: Weak<Shared>) -> impl FnMut(&str, Kind, &[u8]) + Send + 'static {
    move |topic, kind, payload| {
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let op = match kind {
            Kind::Text => OpCode::Text,
            Kind::Binary => OpCode::Binary,
        };
        let frame = server_frame(op, payload);
        let topic: Arc<str> = topic.into();
        for mb in &shared.mailboxes {
            let cmd = Command::Publish(topic.clone(), frame.clone());
            if !mb.push_bounded(cmd, DELIVERY_INBOX_MAX) {
                shared.cluster.inbox_dropped.fetch_add(1, Relaxed);
            }
        }
    }
}

/// Kind and payload of a whole unmasked data frame as `server_frame`
/// encodes it (FIN set, no mask, 7/16/64-bit length).
fn split_frame(frame: &[u8]) -> Option<(Kind, &[u8])> {
    let (&b0, rest) = frame.split_first()?;
    let (&b1, rest) = rest.split_first()?;
    let kind = match b0 & 0x0f {
        0x1 => Kind::Text,
        0x2 => Kind::Binary,
        _ => return None,
    };
    if b0 & 0x80 == 0 || b1 & 0x80 != 0 {
        return None;
    }
    let (len, rest) = match b1 & 0x7f {
        126 => {
            let (l, r) = rest.split_at_checked(2)?;
            (u16::from_be_bytes([l[0], l[1]]) as u64, r)
        }
        127 => {
            let (l, r) = rest.split_at_checked(8)?;
            (u64::from_be_bytes(l.try_into().ok()?), r)
        }
        n => (n as u64, rest),
    };
    (rest.len() as u64 == len).then_some((kind, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_frame_table() {
        for len in [0usize, 1, 125, 126, 127, 65_535, 65_536, 70_000] {
            let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let f = server_frame(OpCode::Binary, &payload);
            assert_eq!(split_frame(&f), Some((Kind::Binary, &payload[..])), "{len}");
        }
        let f = server_frame(OpCode::Text, b"hi");
        assert_eq!(split_frame(&f), Some((Kind::Text, &b"hi"[..])));
        // Control frames, truncated frames and masked frames are not ours.
        assert_eq!(split_frame(&server_frame(OpCode::Ping, b"x")), None);
        assert_eq!(split_frame(&f[..3]), None);
        assert_eq!(split_frame(&[0x82, 0x81, 0, 0, 0, 0, 1]), None);
        assert_eq!(split_frame(&[]), None);
    }

    struct Hook(Mutex<Vec<(String, u32, u32)>>);

    impl Handler for Hook {
        type State = ();
        fn on_upgrade(
            &self,
            _: &ringws_codec::Request,
        ) -> Result<crate::conn::Accept<()>, crate::conn::Reject> {
            unreachable!()
        }
        fn on_message(
            &self,
            _: &mut crate::conn::Conn<'_>,
            _: &mut (),
            _: crate::conn::Message<'_>,
        ) {
        }
        fn on_subscription(&self, topic: &str, old: u32, new: u32) {
            self.0.lock().unwrap().push((topic.into(), old, new));
        }
    }

    #[test]
    fn counts_over_workers_and_hook() {
        let c = Cluster::default();
        let h = Hook(Mutex::new(Vec::new()));
        let a: Arc<str> = "a".into();
        // Two workers each add a subscriber of "a"; one leaves.
        c.apply(&mut vec![(a.clone(), true)], &h);
        c.apply(&mut vec![(a.clone(), true), ("b".into(), true)], &h);
        assert_eq!(c.subscribers("a"), 2);
        c.apply(&mut vec![(a.clone(), false), ("b".into(), false)], &h);
        assert_eq!(c.subscribers("a"), 1);
        assert_eq!(c.subscribers("b"), 0);
        assert!(!c.counts.lock().unwrap().contains_key("b"));
        let got = h.0.lock().unwrap().clone();
        let want = [
            ("a", 0, 1),
            ("a", 1, 2),
            ("b", 0, 1),
            ("a", 2, 1),
            ("b", 1, 0),
        ];
        assert_eq!(got, want.map(|(t, o, n)| (t.to_string(), o, n)).to_vec());
    }
}
