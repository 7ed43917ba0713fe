//! [`ServerHandle`]: talk to a running server from any thread.

use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::conn::{encode_frame, Conn, ConnId, Message};
use crate::reactor::Backend;
use crate::shard::{Command, Shared};

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
    /// Handler callbacks that panicked (each closed its connection with
    /// 1011; see [`Handler`](crate::Handler)).
    pub handler_panics: u64,
    /// Times a connection's reads were paused by the memory budget (its
    /// soft mark; [`Builder::memory_budget`](crate::Builder::memory_budget)).
    pub budget_paused: u64,
    /// Connections closed with 1013 by the memory budget (its hard mark).
    pub budget_closed: u64,
    /// Upgrades answered with HTTP 503 while the memory budget was
    /// overloaded.
    pub budget_refused_upgrades: u64,
    /// Bytes the workers count against their memory budgets now.
    pub budget_used: u64,
    /// Data messages (sends, `send_to`, broadcasts, publishes) dropped for
    /// a connection because its send buffer was at its limit: a reader
    /// slower than what it is sent. Each subscriber a publish could not
    /// reach counts once; messages to a connection already closing are not
    /// counted.
    pub sends_dropped: u64,
    /// Connections closed with 1008 by the slow-reader policy
    /// ([`Builder::close_after_dropped_sends`](crate::Builder::close_after_dropped_sends)).
    pub slow_closed: u64,
    /// Connections closed with 1008 because a frame or message took longer
    /// than [`Builder::message_timeout`](crate::Builder::message_timeout).
    pub message_timeouts: u64,
    /// permessage-deflate: messages compressed (each run of a compressor,
    /// whatever it was for).
    pub messages_compressed: u64,
    /// permessage-deflate: compressed messages received and inflated.
    pub messages_inflated: u64,
    /// permessage-deflate: compressions made for broadcasts and publishes
    /// (part of `messages_compressed`). A worker compresses a fan-out
    /// message once per window for all its connections that reset their
    /// compressor per message (`Compression::Shared`), and once more for
    /// each connection with a compressor of its own.
    pub fanout_compressions: u64,
    /// Publishes handed to the broker and acknowledged by it
    /// ([`Builder::broker`](crate::Builder::broker); 0 without a broker).
    pub broker_published: u64,
    /// Messages from other nodes received from the broker.
    pub broker_delivered: u64,
    /// Publishes the broker never got: refused while it was away or its
    /// queue full, or lost with a connection. Once the bridge is quiet,
    /// `broker_published + broker_dropped` is the number of publishes.
    pub broker_dropped: u64,
    /// Broker messages a worker missed because its inbox already held
    /// 8,192 commands, i.e. it had fallen that far behind (one per worker
    /// missed).
    pub broker_inbox_dropped: u64,
    /// Connections to the broker made again after one was lost.
    pub broker_reconnects: u64,
    /// Whether the node is connected to its broker now.
    pub broker_connected: bool,
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

impl ServerHandle {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    /// Read the TLS certificate and key files again (see
    /// [`TlsConfig`](crate::TlsConfig)): handshakes from now on use them,
    /// connections already open keep theirs. A file that cannot be read or
    /// does not hold a matching certificate and key leaves the current
    /// certificates in place; the error says which file and why (and is
    /// logged). An error too if the server has no TLS.
    pub fn reload_tls(&self) -> std::io::Result<()> {
        let Some(tls) = self.shared.tls.get() else {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "the server has no TLS configuration",
            ));
        };
        match (tls.load)() {
            Ok(config) => {
                tls.current.replace(config);
                tracing::info!("TLS certificates reloaded; new handshakes use them");
                Ok(())
            }
            Err(e) => {
                tracing::warn!(error = %e, "TLS reload failed; keeping the current certificates");
                Err(e)
            }
        }
    }

    /// The (first) address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.shared.local_addrs()[0]
    }

    /// Every address the server listens on, in `bind` order.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        self.shared.local_addrs()
    }

    /// The backend running.
    pub fn backend(&self) -> Backend {
        self.shared.backend()
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
    /// frame is encoded once and its bytes shared. With a broker
    /// ([`Builder::broker`](crate::Builder::broker)) it goes to the other
    /// nodes' subscribers too.
    pub fn publish(&self, topic: &str, msg: Message<'_>) {
        let frame = encode_frame(msg);
        self.shared.cluster.publish(topic, &frame);
        let topic: Arc<str> = topic.into();
        for mb in &self.shared.mailboxes {
            mb.push(Command::Publish(topic.clone(), frame.clone()));
        }
    }

    /// This node's subscribers of `topic`, over every worker (updated by
    /// each worker at the end of the loop turn that changed it).
    pub fn subscribers(&self, topic: &str) -> u32 {
        self.shared.cluster.subscribers(topic)
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
            handler_panics: 0,
            budget_paused: 0,
            budget_closed: 0,
            budget_refused_upgrades: 0,
            budget_used: 0,
            sends_dropped: 0,
            slow_closed: 0,
            message_timeouts: 0,
            messages_compressed: 0,
            messages_inflated: 0,
            fanout_compressions: 0,
            broker_published: 0,
            broker_delivered: 0,
            broker_dropped: 0,
            broker_inbox_dropped: self.shared.cluster.inbox_dropped(),
            broker_reconnects: 0,
            broker_connected: false,
            backend: self.shared.backend(),
        };
        if let Some(b) = self.shared.cluster.bridge() {
            let bs = b.stats();
            s.broker_published = bs.published;
            s.broker_delivered = bs.delivered;
            s.broker_dropped = bs.dropped;
            s.broker_reconnects = bs.reconnects;
            s.broker_connected = bs.connected;
        }
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
            s.handler_panics += w.handler_panics.load(Relaxed);
            s.budget_paused += w.budget_paused.load(Relaxed);
            s.budget_closed += w.budget_closed.load(Relaxed);
            s.budget_refused_upgrades += w.budget_refused.load(Relaxed);
            s.budget_used += w.budget_used.load(Relaxed);
            s.sends_dropped += w.sends_dropped.load(Relaxed);
            s.slow_closed += w.slow_closed.load(Relaxed);
            s.message_timeouts += w.message_timeouts.load(Relaxed);
            s.messages_compressed += w.compressions.load(Relaxed);
            s.messages_inflated += w.inflated.load(Relaxed);
            s.fanout_compressions += w.fanout_compressions.load(Relaxed);
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
        // Every worker is gone: nothing more to publish or deliver.
        if let Some(b) = self.shared.cluster.bridge() {
            b.shutdown();
        }
    }
}

impl Conn<'_> {
    /// A handle on the whole server (cheap: one reference count), e.g. to
    /// keep for [`ServerHandle::send_to`] from other threads.
    pub fn server(&self) -> ServerHandle {
        let shared = self
            .link()
            .clone()
            .downcast::<Shared>()
            .expect("a connection's link is its server's shared state");
        ServerHandle::new(shared)
    }
}
