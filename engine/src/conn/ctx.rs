//! What a connection may reach besides itself: the worker's clock, its
//! limits, pools and counters, the timer heap, the flush list, the book of
//! loans and an outbox for fan-out. Owned by the worker (`shard/`), lent
//! to the state machine and to handlers' [`Conn`](super::Conn) handles; it
//! names nothing above `conn/`.

use std::any::Any;
use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;

use super::budget::Budget;
use super::deflate::WorkerDeflate;
use super::recv::{Lend, RxConfig};
use super::send::Outgoing;
use super::timers::Timers;
use super::topics::Topics;
use super::Loans;
use crate::reactor::Token;

/// Per-worker limits in the units the state machine uses.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    pub(crate) send_buffer_limit: usize,
    pub(crate) handshake_timeout_ms: u64,
    /// `u64::MAX` = no idle timeout.
    pub(crate) idle_timeout_ms: u64,
    pub(crate) close_timeout_ms: u64,
    /// Close a connection with 1008 once it has dropped this many data
    /// messages for lack of room (`None`: never, only count).
    pub(crate) close_after_drops: Option<u32>,
    /// Time a frame or message may take from its first byte to its last
    /// (`u64::MAX` = no limit).
    pub(crate) message_timeout_ms: u64,
}

/// Counters a worker accumulates locally and publishes once per turn.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct LocalStats {
    pub(crate) handshakes: u64,
    pub(crate) closed: u64,
    pub(crate) msgs_in: u64,
    pub(crate) msgs_out: u64,
    pub(crate) bytes_in: u64,
    pub(crate) bytes_out: u64,
    pub(crate) stale_dropped: u64,
    pub(crate) loop_turns: u64,
    pub(crate) recv_completions: u64,
    pub(crate) direct_bytes: u64,
    pub(crate) sends: u64,
    pub(crate) lent_sends: u64,
    pub(crate) handler_panics: u64,
    /// Connections whose reads the memory budget paused (soft mark).
    pub(crate) budget_paused: u64,
    /// Connections the memory budget closed with 1013 (hard mark).
    pub(crate) budget_closed: u64,
    /// Upgrades answered with 503 because the budget was overloaded.
    pub(crate) budget_refused: u64,
    /// Data messages not queued because a connection's send buffer was at
    /// its limit.
    pub(crate) sends_dropped: u64,
    /// Connections closed with 1008 by the slow-reader policy.
    pub(crate) slow_closed: u64,
    /// Connections closed with 1008 because a message took too long.
    pub(crate) message_timeouts: u64,
    /// permessage-deflate: compressions run, messages inflated,
    /// compressions for fan-out frames (copied from the worker's
    /// [`WorkerDeflate`] before publishing).
    pub(crate) compressions: u64,
    pub(crate) inflated: u64,
    pub(crate) fanout_compressions: u64,
}

/// A frame for many connections, encoded once: to every open connection,
/// or to a topic's subscribers. The one fan-out path: `Conn::broadcast`
/// and `Conn::publish` put one in the outbox; the worker spreads it to the
/// other workers and delivers it to its own connections at the end of the
/// turn, as it does with those other workers and threads send it.
#[derive(Clone, Debug)]
pub(crate) enum Fanout {
    All(Bytes),
    Topic(Arc<str>, Bytes),
    /// A topic's subscribers except one of this worker's connections
    /// (`(slot, generation)`): `Conn::publish_to_others`.
    TopicExcept(Arc<str>, Bytes, (u32, u32)),
}

/// The worker state a connection (and a handler's `Conn`) may reach.
pub(crate) struct ConnCtx {
    pub(crate) worker: u16,
    /// Connections with output queued this turn, to flush.
    pub(crate) dirty: Vec<Token>,
    pub(crate) limits: Limits,
    pub(crate) rx: RxConfig,
    /// The worker clock (ms since it started), set once per turn.
    pub(crate) now_ms: u64,
    pub(crate) timers: Timers,
    pub(crate) stats: LocalStats,
    /// Reusable buffer for handshake responses.
    pub(crate) scratch: Vec<u8>,
    /// Reusable buffer for the plaintext of TLS records being handled.
    pub(crate) tls_plain: Vec<u8>,
    /// Sending states of connections that have nothing to send, for reuse.
    #[allow(clippy::vec_box)]
    // boxes move in and out of connections; addresses must stay stable
    pub(crate) out_pool: Vec<Box<Outgoing>>,
    /// Fan-out queued by handlers this turn (see [`Fanout`]).
    pub(crate) outbox: Vec<Fanout>,
    /// Topic subscriptions of this worker's connections.
    pub(crate) topics: Topics,
    /// The assembled message lent to `on_message`, and its claim by a send.
    pub(crate) lend: Lend,
    /// Receive buffers lent to send queues.
    pub(crate) loans: Loans,
    /// The worker's memory budget: what it buffers for peers. Code that
    /// allocates for a peer outside the buffers the worker counts itself
    /// (inflate/deflate state, TLS records) calls `budget.charge(n)` when it
    /// allocates and `budget.release(n)` when it frees (see `budget.rs`).
    pub(crate) budget: Budget,
    /// What `Conn::server` makes a handle from (the shard's shared state,
    /// opaque down here so that `conn/` names nothing above it; used only
    /// when a handler asks for a handle, never per message).
    pub(crate) link: Arc<dyn Any + Send + Sync>,
    /// permessage-deflate: the policy, the worker's shared streams and its
    /// inflate buffer.
    pub(crate) deflate: WorkerDeflate,
    /// Data messages dropped per connection (by slot) for lack of room:
    /// only connections that dropped one have an entry (removed when the
    /// connection is released), so an idle connection pays nothing.
    pub(crate) drops: HashMap<u32, u32>,
}
