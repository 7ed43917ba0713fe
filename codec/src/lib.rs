//! # ringws-codec: the WebSocket protocol with no I/O
//!
//! Bytes from the network go in, frames, messages and handshake decisions come
//! out; bytes to send are written into buffers the caller owns. This crate opens
//! no sockets, starts no threads and never reads the clock: the engine (or a
//! test, or a fuzzer) drives it with byte slices.
//!
//! ```text
//!   socket bytes ──► handshake::ServerHandshake ──► 101 / HTTP error bytes
//!                 └► Receiver::feed(&mut buf) ─ FrameDecoder (checks, limits, unmask in place)
//!                      └ assembly + streaming UTF-8 ──► Event::{Text, Binary, Ping, Pong, Close}
//!                                                       (borrowed from `buf`, or from the assembly
//!                                                        buffer for fragmented/straddling messages)
//!   application ──► encode_header / HeaderBytes (+ borrowed payload, one vectored write) ──► socket
//!                   write_frame / write_close / server_frame (whole frames)
//! ```
//!
//! Frame-layer entry points: [`Receiver`] (what an engine uses per
//! connection: 64 bytes, no heap while idle), the lower-level
//! [`FrameDecoder`], the encoder functions, [`apply_mask`] (SIMD, picked once
//! at run time) and [`Utf8Validator`]. Every peer fault is a
//! [`ProtocolError`] that knows its close code and reason.
//!
//! permessage-deflate (RFC 7692): [`negotiate_deflate`] / [`Request::deflate`]
//! pick the agreed [`DeflateParams`] under a [`Compression`] policy;
//! [`Inflater`] inflates (streaming through [`Receiver::feed_inflating`], or a
//! whole [`Event::Compressed`] message with a shared inflater) with the
//! message limit applied to the inflated size; [`Deflater`] and
//! [`write_message`] compress outgoing messages.
//!
//! `unsafe` is denied everywhere except in `mask/`, where the SIMD kernels live,
//! and in two places that make a `&str` of text the streaming validator already
//! accepted (no second UTF-8 pass): one match arm of `message.rs` (assembled
//! text) and `Inflater::inflate_message` (inflated text).
#![deny(unsafe_code)]
#![deny(missing_docs)]
#![deny(clippy::undocumented_unsafe_blocks, clippy::missing_safety_doc)]

mod close;
mod compress;
mod error;
mod frame;
mod handshake;
mod mask;
mod message;
mod utf8;

// ---- The public interface ------------------------------------------------
// Every module is private; what users get is re-exported here.
pub use close::CloseCode;
pub use compress::{
    write_message, Deflater, Inflater, DEFAULT_COMPRESS_LEVEL, DEFAULT_COMPRESS_THRESHOLD,
    INFLATE_CHUNK,
};
pub use error::ProtocolError;
pub use frame::decoder::{Decoded, DecoderConfig, FrameDecoder, PayloadChunk};
pub use frame::encoder::{
    close_payload, encode_header, server_frame, write_close, write_frame, HeaderBytes,
    MAX_CLOSE_REASON,
};
pub use frame::header::{FrameHeader, OpCode, Role, MAX_HEADER_LEN};
pub use handshake::*;
pub use mask::{apply_mask, apply_mask_copy, extend_with_mask, kernel_name as mask_kernel_name};
pub use message::{
    assembly_target, Event, Feed, Limits, Receiver, ReceiverConfig, DIRECT_MIN_HELD,
};
pub use utf8::Utf8Validator;

/// Reference kernels and other entry points for tests, benches and fuzzers.
/// Not part of the stable API.
#[doc(hidden)]
pub mod internal {
    pub use crate::mask::internal::*;
}
