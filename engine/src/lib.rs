//! # ringws: a thread-per-core io_uring WebSocket server engine
//!
//! Work in progress: the engine is built on `ringws-codec` (see issue "engine").
#![deny(missing_docs)]
