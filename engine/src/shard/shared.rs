//! What every thread of a server shares: the workers' inboxes, their
//! published counters, the listening addresses and the worker threads.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;

use super::{Cluster, Mailbox};
use crate::conn::{LocalStats, TlsCurrent};
use crate::reactor::Backend;

/// A worker's published counters. Only that worker writes them (plain
/// stores of its running totals, once per loop turn); readers load relaxed.
#[derive(Default)]
pub(crate) struct WorkerStats {
    pub(crate) connections: AtomicU64,
    pub(crate) handshakes: AtomicU64,
    pub(crate) msgs_in: AtomicU64,
    pub(crate) msgs_out: AtomicU64,
    pub(crate) bytes_in: AtomicU64,
    pub(crate) bytes_out: AtomicU64,
    pub(crate) stale_dropped: AtomicU64,
    pub(crate) loop_turns: AtomicU64,
    pub(crate) recv_completions: AtomicU64,
    pub(crate) direct_bytes: AtomicU64,
    pub(crate) sends: AtomicU64,
    pub(crate) lent_sends: AtomicU64,
    pub(crate) handler_panics: AtomicU64,
    pub(crate) budget_paused: AtomicU64,
    pub(crate) budget_closed: AtomicU64,
    pub(crate) budget_refused: AtomicU64,
    pub(crate) budget_used: AtomicU64,
    pub(crate) sends_dropped: AtomicU64,
    pub(crate) slow_closed: AtomicU64,
    pub(crate) message_timeouts: AtomicU64,
    pub(crate) compressions: AtomicU64,
    pub(crate) inflated: AtomicU64,
    pub(crate) fanout_compressions: AtomicU64,
}

impl WorkerStats {
    pub(crate) fn publish(&self, connections: usize, s: &LocalStats, budget_used: usize) {
        self.connections.store(connections as u64, Relaxed);
        self.handshakes.store(s.handshakes, Relaxed);
        self.msgs_in.store(s.msgs_in, Relaxed);
        self.msgs_out.store(s.msgs_out, Relaxed);
        self.bytes_in.store(s.bytes_in, Relaxed);
        self.bytes_out.store(s.bytes_out, Relaxed);
        self.stale_dropped.store(s.stale_dropped, Relaxed);
        self.loop_turns.store(s.loop_turns, Relaxed);
        self.recv_completions.store(s.recv_completions, Relaxed);
        self.direct_bytes.store(s.direct_bytes, Relaxed);
        self.sends.store(s.sends, Relaxed);
        self.lent_sends.store(s.lent_sends, Relaxed);
        self.handler_panics.store(s.handler_panics, Relaxed);
        self.budget_paused.store(s.budget_paused, Relaxed);
        self.budget_closed.store(s.budget_closed, Relaxed);
        self.budget_refused.store(s.budget_refused, Relaxed);
        self.budget_used.store(budget_used as u64, Relaxed);
        self.sends_dropped.store(s.sends_dropped, Relaxed);
        self.slow_closed.store(s.slow_closed, Relaxed);
        self.message_timeouts.store(s.message_timeouts, Relaxed);
        self.compressions.store(s.compressions, Relaxed);
        self.inflated.store(s.inflated, Relaxed);
        self.fanout_compressions
            .store(s.fanout_compressions, Relaxed);
    }
}

/// Reads the TLS configuration's files again (built by the server layer).
pub(crate) type TlsLoad = Box<dyn Fn() -> std::io::Result<Arc<rustls::ServerConfig>> + Send + Sync>;

/// The TLS configuration new handshakes use and how to load it again.
pub(crate) struct TlsShared {
    pub(crate) current: Arc<TlsCurrent>,
    pub(crate) load: TlsLoad,
}

/// What every thread shares: the workers' inboxes and counters.
pub(crate) struct Shared {
    pub(crate) mailboxes: Vec<Mailbox>,
    pub(crate) stats: Vec<WorkerStats>,
    backend: Backend,
    local_addrs: Vec<SocketAddr>,
    /// Node-level subscriber counts and the broker bridge, if any.
    pub(crate) cluster: Cluster,
    pub(crate) threads: Mutex<Vec<JoinHandle<()>>>,
    /// TLS, if the server serves it (set once, before the workers start).
    pub(crate) tls: OnceLock<TlsShared>,
}

impl Shared {
    pub(crate) fn new(
        workers: usize,
        backend: Backend,
        local_addrs: Vec<SocketAddr>,
    ) -> std::io::Result<Self> {
        Ok(Self {
            mailboxes: (0..workers)
                .map(|_| Mailbox::new())
                .collect::<Result<_, _>>()?,
            stats: (0..workers).map(|_| WorkerStats::default()).collect(),
            backend,
            local_addrs,
            cluster: Cluster::default(),
            threads: Mutex::new(Vec::new()),
            tls: OnceLock::new(),
        })
    }

    pub(crate) fn local_addrs(&self) -> &[SocketAddr] {
        &self.local_addrs
    }

    pub(crate) fn workers(&self) -> usize {
        self.mailboxes.len()
    }

    pub(crate) fn backend(&self) -> Backend {
        self.backend
    }
}
