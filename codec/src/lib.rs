//! # ringws-codec: the WebSocket protocol with no I/O
//!
//! Bytes from the network go in, frames, messages and handshake decisions come
//! out; bytes to send are written into buffers the caller owns. This crate opens
//! no sockets, starts no threads and never reads the clock: the engine (or a
//! test, or a fuzzer) drives it with byte slices.
//!
//! ```text
//!   socket bytes ──► handshake::ServerHandshake ──► 101 / HTTP error bytes
//!                 └► frame::FrameDecoder (unmask in place, limits) ──► message::MessageAssembler
//!                                                                     (streaming UTF-8) ──► Text/Binary/Ping/Pong/Close
//!   application ──► frame::encoder (header bytes + borrowed payload) ──► socket
//! ```
//!
//! `unsafe` is denied everywhere except in `mask/`, where the SIMD kernels live.
#![deny(unsafe_code)]
#![deny(missing_docs)]
#![deny(clippy::undocumented_unsafe_blocks, clippy::missing_safety_doc)]

mod close;
mod error;
mod frame;
mod handshake;
mod mask;
mod message;
mod utf8;

// ---- The public interface ------------------------------------------------
// Every module is private; what users get is re-exported here.
pub use handshake::*;
