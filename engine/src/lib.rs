//! # ringws: a thread-per-core io_uring WebSocket server engine
//!
//! Work in progress: the engine is built on `ringws-codec` (see issue "engine").
#![deny(missing_docs)]
#![deny(clippy::undocumented_unsafe_blocks, clippy::missing_safety_doc)]

mod reactor;

// ---- The public interface ------------------------------------------------
pub use reactor::Backend;
