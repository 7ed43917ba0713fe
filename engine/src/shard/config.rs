//! The configuration the workers run with (set through `Builder`).

use std::net::SocketAddr;
use std::time::Duration;

use std::sync::Arc;

use crate::conn::TlsCurrent;
use crate::reactor::Backend;

/// Server configuration (see the [`Builder`](crate::Builder) methods for meanings and
/// defaults).
#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub(crate) bind: Vec<SocketAddr>,
    /// Addresses serving TLS (wss); with `tls` set and none given, the
    /// `bind` addresses serve TLS.
    pub(crate) bind_tls: Vec<SocketAddr>,
    /// The TLS configuration new handshakes use (replaced on a reload).
    pub(crate) tls: Option<Arc<TlsCurrent>>,
    /// Per listener of a worker, in order: whether it serves TLS (set by
    /// `Builder::start`).
    pub(crate) listener_tls: Vec<bool>,
    pub(crate) workers: usize,
    pub(crate) backend: Backend,
    pub(crate) max_message_size: usize,
    pub(crate) max_frame_size: usize,
    pub(crate) send_buffer_limit: usize,
    pub(crate) handshake_timeout: Duration,
    pub(crate) idle_timeout: Option<Duration>,
    pub(crate) close_timeout: Duration,
    /// Close with 1008 after this many dropped data messages.
    pub(crate) close_after_drops: Option<u32>,
    /// Time from a frame's or message's first byte to its last.
    pub(crate) message_timeout: Option<Duration>,
    pub(crate) max_connections_per_worker: usize,
    /// Receive buffers (count, size) if set; else the backend's default
    /// ([`Config::recv_geometry`]).
    pub(crate) recv_buffers: Option<(u16, u32)>,
    pub(crate) incremental_recv: bool,
    /// Receive the rest of a data frame straight into its message buffer
    /// when at least this many payload bytes are still to come;
    /// `None`: never.
    pub(crate) direct_recv_min: Option<usize>,
    /// Send a message's bytes from the receive buffer it arrived in.
    pub(crate) send_from_recv_buffers: bool,
    pub(crate) pin_workers: bool,
    pub(crate) backlog: i32,
    /// Bytes the whole server may buffer for peers, split evenly across
    /// workers; `None`: half the machine's memory.
    pub(crate) memory_budget: Option<usize>,
    /// permessage-deflate policy for upgrades.
    pub(crate) compression: ringws_codec::Compression,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            bind: Vec::new(),
            bind_tls: Vec::new(),
            tls: None,
            listener_tls: Vec::new(),
            workers: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            backend: Backend::Auto,
            max_message_size: 16 << 20,
            max_frame_size: 16 << 20,
            send_buffer_limit: 1 << 20,
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: Some(Duration::from_secs(120)),
            close_timeout: Duration::from_secs(5),
            close_after_drops: None,
            message_timeout: None,
            max_connections_per_worker: 1 << 20,
            recv_buffers: None,
            incremental_recv: true,
            direct_recv_min: Some(DIRECT_RECV_MIN),
            send_from_recv_buffers: true,
            pin_workers: true,
            backlog: 1024,
            memory_budget: None,
            compression: ringws_codec::Compression::Off,
        }
    }
}

/// Default of [`Builder::direct_recv_min`](crate::Builder::direct_recv_min) (measured in docs/decisions.md).
pub const DIRECT_RECV_MIN: usize = 128 << 10;

impl Config {
    /// The memory budget of each worker: the server's (set, or half the
    /// machine's memory) divided by the number of workers.
    pub(crate) fn worker_budget(&self) -> usize {
        let total = self
            .memory_budget
            .unwrap_or_else(crate::conn::default_budget);
        total / self.workers.max(1)
    }

    /// Receive buffers per worker: the configured geometry, or the backend's
    /// default. io_uring: 8 × 1 MiB, consumed incrementally (small reads
    /// share a buffer). Buffers that large because a receive never spans
    /// two buffers: the one that ends a buffer is cut at its end, and a
    /// frame cut there is copied into an assembly buffer instead of being
    /// lent from the ring. Frames of size F are cut about F / size of the
    /// time (16 × 128 KiB cut every other 64 KiB frame). Eight of them
    /// because at most half the buffers may be lent to sends at once, and
    /// a 1 MiB buffer stays lent until its last echo is out (with four,
    /// most 64 KiB echoes at depth 16 were copied instead). epoll: 32 × 256
    /// KiB, one buffer per read, so up to 32 reads per loop turn, and a 64
    /// KiB message fits one read. Measured in docs/decisions.md.
    pub(crate) fn recv_geometry(&self, backend: Backend) -> (u16, u32) {
        self.recv_buffers.unwrap_or(match backend {
            Backend::Epoll => (32, 256 << 10),
            Backend::Uring | Backend::Auto => (8, 1 << 20),
        })
    }
}
