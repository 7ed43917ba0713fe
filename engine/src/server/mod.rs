//! The embedding API: [`Server::builder`], [`Handler`], [`ServerHandle`].

mod builder;
mod handle;
mod handler;

use std::fmt;

pub use builder::{Builder, Server, DIRECT_RECV_MIN};
pub use handle::{NoSuchWorker, ServerHandle, Stats};
pub use handler::{Accept, Conn, Handler, Message, Reject, SendStatus};

pub(crate) use builder::Config;
pub(crate) use handle::Shared;

use crate::conn::RxConfig;
use crate::reactor::Token;
use crate::shard::{Timers, Topics};

/// A connection's identity across the server: worker, slab slot and the
/// slot's generation. Once the connection closes the id is dead for good:
/// a new connection in the same slot has another generation, so
/// [`ServerHandle::send_to`] with an old id reaches nobody.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConnId {
    worker: u16,
    slot: u32,
    gen: u32,
}

impl ConnId {
    pub(crate) fn new(worker: u16, slot: u32, gen: u32) -> Self {
        Self { worker, slot, gen }
    }

    /// Index of the worker that owns the connection.
    pub fn worker(&self) -> usize {
        self.worker as usize
    }

    pub(crate) fn slot(&self) -> u32 {
        self.slot
    }

    pub(crate) fn gen(&self) -> u32 {
        self.gen
    }
}

impl fmt::Debug for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ConnId({}:{}#{})", self.worker, self.slot, self.gen)
    }
}

/// Per-worker limits in the units the state machine uses.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    pub(crate) send_buffer_limit: usize,
    pub(crate) handshake_timeout_ms: u64,
    /// `u64::MAX` = no idle timeout.
    pub(crate) idle_timeout_ms: u64,
    pub(crate) close_timeout_ms: u64,
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
}

/// The worker state a handler's [`Conn`] may reach besides its own
/// connection: the flush list, limits, clock, timers, counters.
pub(crate) struct WorkerCtx {
    pub(crate) worker: u16,
    pub(crate) dirty: Vec<Token>,
    pub(crate) limits: Limits,
    pub(crate) rx: RxConfig,
    pub(crate) now_ms: u64,
    pub(crate) timers: Timers,
    pub(crate) stats: LocalStats,
    /// Reusable buffer for handshake responses.
    pub(crate) scratch: Vec<u8>,
    /// Sending states of connections that have nothing to send, for reuse.
    #[allow(clippy::vec_box)]
    // boxes move in and out of connections; addresses must stay stable
    pub(crate) out_pool: Vec<Box<crate::conn::Outgoing>>,
    /// Frames to queue on every open connection of this worker this turn.
    pub(crate) broadcasts: Vec<bytes::Bytes>,
    /// Topic subscriptions of this worker's connections.
    pub(crate) topics: Topics,
    /// `(topic, frame)` published this turn, delivered at the end of it.
    pub(crate) publishes: Vec<(std::sync::Arc<str>, bytes::Bytes)>,
    /// The other workers' inboxes (for broadcasts).
    pub(crate) shared: std::sync::Arc<Shared>,
    /// The assembled message lent to `on_message`, and its claim by a send.
    pub(crate) lend: crate::conn::Lend,
    /// Receive buffers lent to send queues.
    pub(crate) loans: crate::conn::Loans,
}
