//! [`ServerHandle`]: talk to a running server from any thread.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ringws_codec::{server_frame, OpCode};

use crate::reactor::Backend;
use crate::server::{ConnId, LocalStats, Message};
use crate::shard::{Command, Mailbox};

/// A worker's published counters. Only that worker writes them (plain
/// stores of its running totals, once per loop turn); readers load relaxed.
#[derive(Default)]
pub(crate) struct WorkerStats {
    connections: AtomicU64,
    handshakes: AtomicU64,
    msgs_in: AtomicU64,
    msgs_out: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    stale_dropped: AtomicU64,
    loop_turns: AtomicU64,
    recv_completions: AtomicU64,
    direct_bytes: AtomicU64,
    sends: AtomicU64,
    lent_sends: AtomicU64,
}

impl WorkerStats {
    pub(crate) fn publish(&self, connections: usize, s: &LocalStats) {
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
    }
}

/// What every thread shares: the workers' inboxes and counters.
pub(crate) struct Shared {
    pub(crate) mailboxes: Vec<Mailbox>,
    pub(crate) stats: Vec<WorkerStats>,
    backend: Backend,
    local_addrs: Vec<SocketAddr>,
    pub(crate) threads: Mutex<Vec<JoinHandle<()>>>,
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
            threads: Mutex::new(Vec::new()),
        })
    }

    pub(crate) fn local_addrs(&self) -> &[SocketAddr] {
        &self.local_addrs
    }

    pub(crate) fn workers(&self) -> usize {
        self.mailboxes.len()
    }
}

/// A snapshot of the server's counters (summed over workers).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stats {
    /// Connections currently in the tables (any phase).
    pub connections: u64,
    /// Upgrades completed.
    pub handshakes: u64,
    /// Messages received.
    pub messages_in: u64,
    /// Messages queued for sending.
    pub messages_out: u64,
    /// Bytes received.
    pub bytes_in: u64,
    /// Bytes written to sockets.
    pub bytes_out: u64,
    /// `send_to` calls whose `ConnId` was stale (closed connection).
    pub stale_dropped: u64,
    /// Event-loop turns (one `submit_and_wait` or `epoll_wait` each).
    /// With `recv_completions` and `sends` it shows how much work a turn
    /// batches: fewer turns and sends per message means less kernel time.
    pub loop_turns: u64,
    /// Receive completions that carried data (one per filled buffer).
    pub recv_completions: u64,
    /// Bytes received straight into message buffers, skipping the receive
    /// ring (the rest of large frames; see `Builder::direct_recv_min`).
    pub direct_bytes: u64,
    /// Socket sends started (one vectored send may carry many frames).
    pub sends: u64,
    /// Payloads sent straight from the receive buffer they arrived in,
    /// without a copy (see `Builder::send_from_recv_buffers`).
    pub lent_sends: u64,
    /// The backend running.
    pub backend: Backend,
}

/// Why [`ServerHandle::send_to`] failed before reaching a worker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NoSuchWorker;

/// A handle on a running server: `Clone + Send + Sync`, usable from any
/// thread.
#[derive(Clone)]
pub struct ServerHandle {
    shared: Arc<Shared>,
}

/// Encode a whole unmasked frame once, to be shared by every recipient.
pub(crate) fn encode_frame(msg: Message<'_>) -> Bytes {
    let (op, payload) = match msg {
        Message::Text(t) => (OpCode::Text, t.as_bytes()),
        Message::Binary(b) => (OpCode::Binary, b),
    };
    server_frame(op, payload)
}

impl ServerHandle {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    /// The (first) address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.shared.local_addrs[0]
    }

    /// Every address the server listens on, in `bind` order.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.shared.local_addrs
    }

    /// The backend running.
    pub fn backend(&self) -> Backend {
        self.shared.backend
    }

    /// Send a message to one connection, from any thread. Delivery is
    /// asynchronous; a stale id (the connection closed) is dropped by its
    /// worker and counted in [`Stats::stale_dropped`].
    pub fn send_to(&self, id: ConnId, msg: Message<'_>) -> Result<(), NoSuchWorker> {
        let mb = self.shared.mailboxes.get(id.worker()).ok_or(NoSuchWorker)?;
        mb.push(Command::SendTo(id, encode_frame(msg)));
        Ok(())
    }

    /// Send a message to every open connection on every worker; the frame is
    /// encoded once and its bytes shared.
    pub fn broadcast(&self, msg: Message<'_>) {
        let frame = encode_frame(msg);
        for mb in &self.shared.mailboxes {
            mb.push(Command::Broadcast(frame.clone()));
        }
    }

    /// Send a message to every subscriber of `topic` on every worker; the
    /// frame is encoded once and its bytes shared.
    pub fn publish(&self, topic: &str, msg: Message<'_>) {
        let frame = encode_frame(msg);
        let topic: Arc<str> = topic.into();
        for mb in &self.shared.mailboxes {
            mb.push(Command::Publish(topic.clone(), frame.clone()));
        }
    }

    /// Counters summed over workers (updated by each worker once per loop turn).
    pub fn stats(&self) -> Stats {
        let mut s = Stats {
            connections: 0,
            handshakes: 0,
            messages_in: 0,
            messages_out: 0,
            bytes_in: 0,
            bytes_out: 0,
            stale_dropped: 0,
            loop_turns: 0,
            recv_completions: 0,
            direct_bytes: 0,
            sends: 0,
            lent_sends: 0,
            backend: self.shared.backend,
        };
        for w in &self.shared.stats {
            s.connections += w.connections.load(Relaxed);
            s.handshakes += w.handshakes.load(Relaxed);
            s.messages_in += w.msgs_in.load(Relaxed);
            s.messages_out += w.msgs_out.load(Relaxed);
            s.bytes_in += w.bytes_in.load(Relaxed);
            s.bytes_out += w.bytes_out.load(Relaxed);
            s.stale_dropped += w.stale_dropped.load(Relaxed);
            s.loop_turns += w.loop_turns.load(Relaxed);
            s.recv_completions += w.recv_completions.load(Relaxed);
            s.direct_bytes += w.direct_bytes.load(Relaxed);
            s.sends += w.sends.load(Relaxed);
            s.lent_sends += w.lent_sends.load(Relaxed);
        }
        s
    }

    /// Graceful shutdown: stop accepting, send close 1001 to every
    /// connection, wait for the closing handshakes until `deadline` from
    /// now, then drop what remains. Blocks until every worker has exited.
    pub fn shutdown(&self, deadline: Duration) {
        let at = Instant::now() + deadline;
        for mb in &self.shared.mailboxes {
            mb.push(Command::Shutdown(at));
        }
        self.wait();
    }

    /// Block until every worker has exited.
    pub fn wait(&self) {
        let threads = std::mem::take(
            &mut *self
                .shared
                .threads
                .lock()
                .unwrap_or_else(|p| p.into_inner()),
        );
        for t in threads {
            let _ = t.join();
        }
    }
}
