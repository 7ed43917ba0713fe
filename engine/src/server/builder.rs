//! [`Server::builder`]: configuration, binding and starting the workers.

use std::io;
use std::net::ToSocketAddrs;
use std::sync::Arc;
use std::time::Duration;

use crate::conn::{Handler, TlsCurrent};
use crate::reactor::{choose_backend, sys, Backend};
use crate::server::ServerHandle;
use crate::server::TlsConfig;
use crate::shard::{deliver, Config, Shared, TlsShared};
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
            tls: None,
        }
    }
}

/// Configures and starts a server.
#[derive(Debug)]
pub struct Builder {
    cfg: Config,
    error: Option<String>,
    broker: Option<BridgeConfig>,
    tls: Option<TlsConfig>,
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

    /// An address to serve `wss://` on (TLS with the [`Builder::tls`]
    /// configuration); call again for several. The [`Builder::bind`]
    /// addresses stay plain `ws://`, so one server can serve both. Without
    /// any `bind_tls`, a server given [`Builder::tls`] serves TLS on its
    /// `bind` addresses.
    pub fn bind_tls(mut self, addr: impl ToSocketAddrs) -> Self {
        match addr.to_socket_addrs().map(|mut a| a.next()) {
            Ok(Some(a)) => self.cfg.bind_tls.push(a),
            Ok(None) => self.error = Some("TLS bind address resolved to nothing".into()),
            Err(e) => self.error = Some(format!("TLS bind address: {e}")),
        }
        self
    }

    /// Serve TLS (`wss://`) with these certificates (see [`TlsConfig`]) on
    /// the [`Builder::bind_tls`] addresses, or on the `bind` addresses if
    /// there are none. The files are read by [`Builder::start`] (an error
    /// there names the file) and again by
    /// [`ServerHandle::reload_tls`]. The TLS handshake counts against the
    /// handshake timeout, with the upgrade request.
    pub fn tls(mut self, config: TlsConfig) -> Self {
        self.tls = Some(config);
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

    /// Time a peer may take to send a frame or message, from its first
    /// byte to its last (a fragmented message counts whole; the clock
    /// restarts after each complete message and while the server itself
    /// holds the reads back). Past it the connection is closed with 1008
    /// ([`Stats::message_timeouts`](crate::Stats::message_timeouts)). This
    /// cuts peers that trickle a large message to hold its buffer, which the
    /// idle timeout does not (any byte counts as activity for it). Default
    /// `None`: no limit; a value a few times the largest message's transfer
    /// time at the slowest honest client's rate is a safe choice.
    pub fn message_timeout(mut self, d: Option<Duration>) -> Self {
        self.cfg.message_timeout = d;
        self
    }

    /// The slow-reader policy. A data message (a send, `send_to`, a
    /// broadcast or a publish) meant for a connection whose send buffer is
    /// at its limit is dropped for that connection
    /// ([`SendStatus::Dropped`](crate::SendStatus::Dropped)) and counted
    /// ([`Conn::dropped_sends`](crate::Conn::dropped_sends),
    /// [`Stats::sends_dropped`](crate::Stats::sends_dropped)). With
    /// `Some(n)`, a connection that has dropped `n` messages is also closed
    /// with 1008 ([`Stats::slow_closed`](crate::Stats::slow_closed)); the
    /// close frame goes behind the bytes already queued, and the close
    /// timeout ends a reader that never catches up. `Some(1)` is
    /// uWebSockets' `closeOnBackpressureLimit`. Default `None`: drop and
    /// count, never close.
    pub fn close_after_dropped_sends(mut self, n: Option<u32>) -> Self {
        self.cfg.close_after_drops = n.map(|n| n.max(1));
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

    /// Bound what the server buffers for peers to `bytes` in all, split
    /// evenly across workers (default: half the machine's memory, from
    /// `MemTotal` in `/proc/meminfo`). Counted per worker: partial
    /// messages (assembly and direct-receive buffers, at capacity), send
    /// queues, events held while paused, and the receive ring. At 80 % the
    /// worker pauses reads of the connections holding the largest partial
    /// messages (64 KiB and more); at 100 % it closes those with 1013 (try
    /// again later) until usage is below 80 %, and answers new upgrades
    /// with HTTP 503 until it is below 60 %. Smaller traffic is left alone.
    /// Counters: [`Stats::budget_paused`](crate::Stats::budget_paused),
    /// `budget_closed`, `budget_refused_upgrades`; see docs/reliability.md.
    pub fn memory_budget(mut self, bytes: usize) -> Self {
        self.cfg.memory_budget = Some(bytes);
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

    /// permessage-deflate (RFC 7692) for upgrades that offer it (default
    /// [`Compression::Off`](crate::Compression::Off): every offer declined).
    ///
    /// - `Shared`: no context takeover either way (answers
    ///   `server_no_context_takeover; client_no_context_takeover`); each
    ///   worker has one compressor per window and one inflater for all its
    ///   connections, so a connection holds no compression memory.
    /// - `Dedicated { server_window_bits, client_window_bits }`: context
    ///   takeover where the client allows it, with a compressor and an
    ///   inflater per connection, each allocated when the first message
    ///   goes its way (zlib-rs: ~250–380 KiB of deflate state and ~47 KiB
    ///   of inflate state; see docs/decisions.md).
    ///
    /// Either way a compressed message is inflated into the worker's
    /// buffer (the handler borrows it), its inflated size held to
    /// [`Builder::max_message_size`] while inflating (1009 past it; bad
    /// data 1007); data messages of 64 bytes and more are sent compressed,
    /// smaller ones and control frames never.
    pub fn compression(mut self, c: crate::Compression) -> Self {
        self.cfg.compression = c;
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
        if !cfg.bind_tls.is_empty() && self.tls.is_none() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "bind_tls without a TLS configuration (Builder::tls)",
            ));
        }
        let tls = match &self.tls {
            Some(t) => {
                let config = t.load()?;
                Some(Arc::new(TlsCurrent::new(config)))
            }
            None => None,
        };
        // Listeners in order: `bind`, then `bind_tls`; which serve TLS.
        let all_tls = tls.is_some() && cfg.bind_tls.is_empty();
        cfg.listener_tls = cfg.bind.iter().map(|_| all_tls).collect();
        cfg.listener_tls.extend(cfg.bind_tls.iter().map(|_| true));
        let tls_binds = std::mem::take(&mut cfg.bind_tls);
        cfg.bind.extend(tls_binds);
        cfg.tls = tls.clone();
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
        if let (Some(current), Some(config)) = (tls, self.tls) {
            let _ = shared.tls.set(TlsShared {
                current,
                load: Box::new(move || config.load()),
            });
        }
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
        let listener_tls = cfg.listener_tls.clone();
        crate::shard::spawn_workers(cfg, per_worker, handler, shared.clone())?;
        for (local, tls) in shared.local_addrs().iter().zip(&listener_tls) {
            let scheme = if *tls { "wss" } else { "ws" };
            tracing::info!(%local, scheme, workers = shared.workers(), %backend, "listening");
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
