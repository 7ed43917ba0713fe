//! Multi-node pub/sub for ringws: a bridge between one node and a broker
//! (Redis), so a message published on any node reaches the topic's
//! subscribers on every node.
//!
//! This crate knows nothing of WebSockets or of the engine: topics are
//! strings, messages are bytes with a [`Kind`] (text or binary). The engine
//! calls it; it calls back one function.
//!
//! # Data flow
//!
//! ```text
//!  worker threads (any number)               bridge thread (one)              Redis
//!  ───────────────────────────               ───────────────────              ─────
//!  Bridge::subscribe(t) ── count 0→1 ─┐
//!  Bridge::unsubscribe(t) ─ count 1→0 ┼─► topic table (mutex) ──► SUBSCRIBE a b c ──►
//!                                     │                          UNSUBSCRIBE x y  ──►
//!  Bridge::publish(t, kind, bytes) ───┴─► publish queue ───────► PUBLISH t env
//!     (envelope built here, bounded        (bounded: count         PUBLISH t env  ──►   (pipelined,
//!      queue, false when full/away)         and bytes)              …                    one write)
//!                                                                                  ◄── >3 message t env
//!  deliver(t, kind, payload) ◄────────── envelope checked, own node's ◄───────────┘
//!     (engine hands it to the          messages skipped, malformed ones
//!      workers' inboxes)               counted
//! ```
//!
//! Every message travels in a ten-byte [envelope]: version, kind,
//! publishing node id, payload. A node receives its own publishes back from
//! Redis (it subscribes to the same topics) and drops them, so local
//! subscribers, which the engine serves directly, get each message once.
//!
//! # Delivery guarantee: at most once
//!
//! Like Redis pub/sub itself, delivery is **at most once**. While the broker
//! is unreachable, [`Bridge::publish`] returns `false` and counts a drop;
//! publishes queued or in flight when a connection is lost are dropped and
//! counted (an unacknowledged one may still have reached Redis); messages other nodes published during the gap never arrive
//! (Redis keeps no backlog). Nothing is retried or replayed. Within one
//! connection, messages from one publishing node arrive in the order it
//! published them (Redis preserves per-connection order, and each node
//! publishes over one connection).
//!
//! Accounting: once the bridge is quiet, `published + dropped` equals the
//! number of [`Bridge::publish`] calls ([`Stats`]).
//!
//! # Threads and queues
//!
//! * **One bridge thread** per node, started by [`Bridge::start`]. It owns
//!   the broker connection and sleeps in one `ppoll(2)` on the socket and an
//!   eventfd that callers write when they queue work (once per burst), so a
//!   publish leaves without waiting for a timer.
//! * **Outgoing**: a bounded queue ([`BridgeConfig::publish_queue`] messages
//!   and [`BridgeConfig::publish_queue_bytes`] bytes), then the connection's
//!   bounded write buffer ([`RedisOptions::max_buffered`]). A slow network
//!   fills them and further publishes return `false`; nothing waits.
//! * **Incoming**: no queue of the bridge's own. Messages are read as fast as
//!   `deliver` takes them, at most [`RedisOptions::max_message`] bytes each;
//!   a node that falls behind is disconnected by Redis
//!   (`client-output-buffer-limit pubsub`) and reconnects.
//! * **Topic table**: a mutex around local subscriber counts; callers hold it
//!   for a map update. The bridge turns the topics whose count crossed zero
//!   into one `SUBSCRIBE` and one `UNSUBSCRIBE` per turn (512 topics a
//!   request).
//! * **Faults**: an unreachable broker at start, a lost connection (Redis
//!   restarted, network gone, no progress for
//!   [`RedisOptions::stall_timeout`]) → the bridge retries with capped
//!   exponential backoff ([`BridgeConfig::backoff_min`] doubling to
//!   [`BridgeConfig::backoff_max`]) and, once connected, subscribes every
//!   live topic again. Calls never fail or block meanwhile.
//!
//! # What the engine calls
//!
//! * [`Bridge::start`] once, with a `deliver` callback that hands each
//!   message to the workers (encode the frame once, share it, push to each
//!   worker's bounded inbox; never block).
//! * [`Bridge::subscribe`] / [`Bridge::unsubscribe`] when a topic gets its
//!   first local subscriber / loses its last one (or per subscriber: the
//!   bridge counts either way, and only zero crossings reach the broker).
//! * [`Bridge::publish`] after delivering a publish locally.
//! * [`Bridge::stats`] for `Stats` and the exit report, [`Bridge::shutdown`]
//!   (or drop) at exit.
//!
//! Another broker (NATS) implements the small [`Broker`] trait and starts
//! with [`Bridge::start_with`].

#![deny(missing_docs)]
#![deny(clippy::undocumented_unsafe_blocks, clippy::missing_safety_doc)]

mod bridge;
mod broker;
pub mod envelope;
mod redis;
mod wake;

// ---- public interface ----
pub use crate::bridge::{random_node_id, Bridge, BridgeConfig, Stats};
pub use crate::broker::{Broker, Turn};
pub use crate::envelope::Kind;
pub use crate::redis::{RedisBroker, RedisOptions};
pub use crate::wake::{pollfd, wait};
