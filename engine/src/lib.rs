//! # ringws: a thread-per-core io_uring WebSocket server engine
//!
//! ```text
//!  kernel ──► reactor (io_uring multishot recv into a provided buffer ring, or epoll)
//!        ──► shard (per-worker slab of connections, timers, inbox)
//!        ──► conn (state machine; ringws-codec parses in place) ──► your Handler
//!  Handler ──► Conn::send_* ──► per-connection send queue ──► one vectored send per turn ──► kernel
//! ```
//!
//! One worker thread per core owns a reactor, a `SO_REUSEPORT` listener and
//! its shard of the connection table; nothing on the per-message path is
//! shared between threads. [`ServerHandle`] talks to workers through their
//! inboxes.
//!
//! Several nodes share pub/sub through a broker: [`Builder::broker`] joins
//! this one to Redis (crate `ringws-broker`), and [`Conn::publish`] /
//! [`ServerHandle::publish`] then reach every node's subscribers (at most
//! once; see the builder's docs).
//!
//! permessage-deflate (RFC 7692) is off by default; [`Builder::compression`]
//! turns it on ([`Compression::Shared`]: the worker's streams, nothing per
//! connection; [`Compression::Dedicated`]: context takeover with
//! per-connection streams). Handlers see inflated messages, borrowed from
//! the worker's buffer, and their sends are compressed when negotiated.
//!
//! Backpressure reaches the peer: a connection whose send queue is at its
//! limit ([`Builder::send_buffer_limit`]) is not read from until the queue
//! drains, so TCP flow control slows a client that sends faster than it
//! reads (see [`SendStatus`]).
//!
//! ```no_run
//! use ringws::{Accept, Conn, Handler, Message, Reject, Request, Server};
//!
//! struct Echo;
//!
//! impl Handler for Echo {
//!     type State = ();
//!
//!     fn on_upgrade(&self, _request: &Request) -> Result<Accept<()>, Reject> {
//!         Ok(Accept::new(()))
//!     }
//!
//!     fn on_message(&self, conn: &mut Conn<'_>, _state: &mut (), message: Message<'_>) {
//!         // `message` borrows the receive buffer: no copy was made to get here.
//!         match message {
//!             Message::Text(text) => conn.send_text(text),
//!             Message::Binary(data) => conn.send_binary(data),
//!         };
//!     }
//! }
//!
//! Server::builder().bind("127.0.0.1:9001").run(Echo).unwrap();
//! ```
#![deny(missing_docs)]
#![deny(clippy::undocumented_unsafe_blocks, clippy::missing_safety_doc)]

mod conn;
mod reactor;
mod server;
mod shard;

// ---- The public interface ------------------------------------------------
pub use reactor::Backend;
pub use ringws_broker::{BridgeConfig, RedisOptions};
pub use ringws_codec::Compression;
pub use ringws_codec::{CloseCode, Request};
/// The rustls crate the TLS support is built on (for
/// [`TlsConfig::from_rustls`]).
pub use rustls;
pub use server::{
    Accept, Builder, Conn, ConnId, Handler, Message, NoSuchWorker, Reject, SendStatus, Server,
    ServerHandle, Stats, TlsConfig, DIRECT_RECV_MIN,
};

/// Internals exposed for tests and benchmarks; not a stable API.
#[doc(hidden)]
pub mod internal {
    /// Bytes of the per-connection slab entry for handler state `S`
    /// (heap held by an idle connection: none).
    pub fn connection_size<S>() -> usize {
        std::mem::size_of::<crate::conn::Connection<S>>()
    }
}
