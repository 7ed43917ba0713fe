//! [`Server::builder`]: configuration, binding and starting the workers.

use std::io;
use std::net::ToSocketAddrs;
use std::sync::Arc;
use std::time::Duration;

use crate::conn::Handler;
use crate::reactor::{choose_backend, sys, Backend};
use crate::server::ServerHandle;
use crate::shard::{deliver, Config, Shared};
use ringws_broker::{Bridge, BridgeConfig};

/// The server type; see [`Server::builder`].
pub struct Server;

impl Server {
    /// Start configuring a server.
    pub fn builder() -> Builder {
        Builder {
            cfg: Config::default(),
            error: None,
            broker: None,
        }
    }
}

/// Configures and starts a server.
#[derive(Debug)]
pub struct Builder {
    cfg: Config,
    error: Option<String>,
    broker: Option<BridgeConfig>,
}

impl Builder {
    /// An address to listen on (the first it resolves to); call again to
    /// listen on several. Default 127.0.0.1:9001. Port 0 picks a free port;
    /// see [`ServerHandle::local_addrs`].
    pub fn bind(mut self, addr: impl ToSocketAddrs) -> Self {
        match addr.to_socket_addrs().map(|mut a| a.next()) {
            Ok(Some(a)) => self.cfg.bind.push(a),
            Ok(None) => self.error = Some("bind address resolved to nothing".into()),
            Err(e) => self.error = Some(format!("bind address: {e}")),
        }
        self
    }

    /// Worker threads (default: one per available core). Each owns a ring,
    /// a listener and its shard of the connections.
    pub fn workers(mut self, n: usize) -> Self {
        self.cfg.workers = n.max(1);
        self
    }

    /// I/O backend (default [`Backend::Auto`]).
    pub fn backend(mut self, b: Backend) -> Self {
        self.cfg.backend = b;
        self
    }

    /// Largest message (default 16 MiB); larger is refused with 1009.
    pub fn max_message_size(mut self, n: usize) -> Self {
        self.cfg.max_message_size = n;
        self
    }

    /// Largest frame (default 16 MiB); larger is refused with 1009 when its
    /// header arrives, before the payload is buffered.
    pub fn max_frame_size(mut self, n: usize) -> Self {
        self.cfg.max_frame_size = n;
        self
    }

    /// Per-connection send-buffer limit for backpressure (default 1 MiB).
    ///
    /// At or above it after a callback, the connection is not read from
    /// until its queue drains below it (see [`SendStatus`](crate::SendStatus)):
    /// a peer that sends without reading is slowed by TCP, not buffered for.
    /// The queue can exceed the limit by the message that crossed it, plus
    /// control frames; input held meanwhile is at most what the kernel had
    /// already received when reading paused.
    pub fn send_buffer_limit(mut self, n: usize) -> Self {
        self.cfg.send_buffer_limit = n;
        self
    }

    /// Time allowed for the upgrade request (default 10 s).
    pub fn handshake_timeout(mut self, d: Duration) -> Self {
        self.cfg.handshake_timeout = d;
        self
    }

    /// Idle time after which a ping is sent; a second idle period without
    /// any bytes closes with 1001 (default 120 s, `None` = off).
    pub fn idle_timeout(mut self, d: Option<Duration>) -> Self {
        self.cfg.idle_timeout = d;
        self
    }

    /// Time allowed for the closing handshake and the final flush (default 5 s).
    pub fn close_timeout(mut self, d: Duration) -> Self {
        self.cfg.close_timeout = d;
        self
    }

    /// Connections a worker accepts before refusing new ones (closing them
    /// at once).
    pub fn max_connections_per_worker(mut self, n: usize) -> Self {
        self.cfg.max_connections_per_worker = n;
        self
    }

    /// Receive buffers per worker: count (power of two ≤ 32768) and size.
    /// On io_uring these form the provided-buffer ring (default 8 × 1 MiB;
    /// epoll: a pool of 32 × 256 KiB;
    /// running out costs a re-arm, never data).
    pub fn recv_buffers(mut self, count: u16, size: u32) -> Self {
        self.cfg.recv_buffers = Some((count, size));
        self
    }

    /// io_uring: let each receive take only the part of a ring buffer it
    /// needs (`IOU_PBUF_RING_INC`, Linux 6.12+; default on, ignored where
    /// the kernel lacks it), so small reads share a buffer. Off: every
    /// receive uses up a whole buffer.
    pub fn incremental_recv(mut self, on: bool) -> Self {
        self.cfg.incremental_recv = on;
        self
    }

    /// Receive the rest of a large data frame straight into its message
    /// buffer instead of through the receive buffers (which costs a copy):
    /// once a frame's header shows at least `min` payload bytes still to
    /// come, the connection's reads go into the message buffer until the
    /// frame ends (io_uring: one-shot receives instead of the multishot;
    /// epoll: `recv` into it instead of the read pool). Default
    /// [`DIRECT_RECV_MIN`](crate::DIRECT_RECV_MIN) (128 KiB); `None` turns it off.
    pub fn direct_recv_min(mut self, min: Option<usize>) -> Self {
        self.cfg.direct_recv_min = min;
        self
    }

    /// Send bytes of a message that arrived whole in a receive buffer (an
    /// echo, a relay of at least 4 KiB) straight from that buffer instead
    /// of a copy; the buffer returns to the kernel when the send is done.
    /// At most half of a worker's receive buffers are lent at once. Default
    /// on; off, such payloads are copied into the send queue.
    pub fn send_from_recv_buffers(mut self, on: bool) -> Self {
        self.cfg.send_from_recv_buffers = on;
        self
    }

    /// Pin worker `i` to the `i`-th allowed CPU (default on).
    pub fn pin_workers(mut self, pin: bool) -> Self {
        self.cfg.pin_workers = pin;
        self
    }

    /// Join other nodes through a broker (Redis: `BridgeConfig::new("redis://host:6379")`).
    ///
    /// [`Conn::publish`](crate::Conn::publish) and
    /// [`ServerHandle::publish`] then also publish to the broker, and
    /// messages other nodes publish to a topic reach this node's
    /// subscribers of it. The node subscribes to a topic on the broker
    /// while it has at least one local subscriber. A broker that is
    /// unreachable (at start or later) is retried in the background; local
    /// delivery carries on, and publishes meanwhile are dropped and
    /// counted ([`Stats::broker_dropped`](crate::Stats::broker_dropped)):
    /// delivery across nodes is at most once, like Redis pub/sub. The
    /// node ids of the nodes on one broker must differ
    /// (`BridgeConfig::new` picks a random one).
    pub fn broker(mut self, config: BridgeConfig) -> Self {
        self.broker = Some(config);
        self
    }

    /// Bind, start the workers and return a handle.
    pub fn start<H: Handler>(self, handler: H) -> io::Result<ServerHandle> {
        if let Some(e) = self.error {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, e));
        }
        let mut cfg = self.cfg;
        if cfg.bind.is_empty() {
            cfg.bind
                .push("127.0.0.1:9001".parse().expect("literal address"));
        }
        let (backend, why) = choose_backend(cfg.backend);
        tracing::info!(%backend, reason = %why, "backend chosen");
        cfg.backend = backend;
        // Bind every worker's listeners here so errors surface now, and so
        // port 0 resolves once and the other workers join that port.
        let mut per_worker: Vec<Vec<i32>> = vec![Vec::new(); cfg.workers];
        let mut locals = Vec::new();
        for &addr in &cfg.bind {
            let mut local = addr;
            for w in 0..cfg.workers {
                match sys::reuseport_listener(local, cfg.backlog, true).and_then(|fd| {
                    per_worker[w].push(fd);
                    if w == 0 {
                        local = sys::local_addr(fd)?;
                        locals.push(local);
                    }
                    Ok(())
                }) {
                    Ok(()) => {}
                    Err(e) => {
                        per_worker.iter().flatten().for_each(|&fd| sys::close(fd));
                        return Err(io::Error::new(e.kind(), format!("bind {addr}: {e}")));
                    }
                }
            }
        }
        let shared = Arc::new(Shared::new(cfg.workers, backend, locals)?);
        if let Some(bcfg) = self.broker {
            // Before the workers start, so no subscription is missed.
            let node = bcfg.node_id;
            let url = bcfg.url.clone();
            let bridge = Bridge::start(bcfg, deliver(Arc::downgrade(&shared))).map_err(|e| {
                per_worker.iter().flatten().for_each(|&fd| sys::close(fd));
                io::Error::new(e.kind(), format!("broker {url}: {e}"))
            })?;
            tracing::info!(%url, node = format_args!("{node:016x}"), "broker bridge started");
            shared.cluster.attach(bridge);
        }
        let handler = Arc::new(handler);
        crate::shard::spawn_workers(cfg, per_worker, handler, shared.clone())?;
        for local in shared.local_addrs() {
            tracing::info!(%local, workers = shared.workers(), %backend, "listening");
        }
        Ok(ServerHandle::new(shared))
    }

    /// Bind, start, and block until the server shuts down.
    pub fn run<H: Handler>(self, handler: H) -> io::Result<()> {
        let h = self.start(handler)?;
        h.wait();
        Ok(())
    }
}
