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
#![deny(missing_docs)]
#![deny(clippy::undocumented_unsafe_blocks, clippy::missing_safety_doc)]

mod conn;
mod reactor;
mod server;
mod shard;

// ---- The public interface ------------------------------------------------
pub use reactor::Backend;
pub use ringws_codec::{CloseCode, Request};
pub use server::{
    Accept, Builder, Conn, ConnId, Handler, Message, Reject, SendStatus, Server, ServerHandle,
    Stats,
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
