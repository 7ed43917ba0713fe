//! The opening handshake (RFC 6455 §4): HTTP/1.1 Upgrade in, 101 or a refusal out.
//!
//! Server side, [`ServerHandshake`] is fed the bytes read from a new connection
//! until it returns [`HandshakeStatus::Complete`] with an owned [`Request`] (the
//! application's view for deciding whether to accept) and the number of bytes of
//! the last slice that belonged to the request: the rest are the first frames.
//! Acceptance is written with [`write_accept_response`]; every refusal is a
//! [`HandshakeError`] that knows its HTTP status and writes a ready-to-send
//! response with [`HandshakeError::write_response`]. Application refusals
//! (401/403/404) use [`reject_response`].
//!
//! ```text
//!  read ──► ServerHandshake::feed ──► Partial (keep reading; ≤ max_header_bytes buffered)
//!                                 ├─► Complete { Request, consumed } ──► write_accept_response ──► 101
//!                                 └─► HandshakeError ──► write_response ──► 400/405/426/431, close
//! ```
//!
//! Client side, [`ClientHandshake`] writes the request (random key) and
//! validates the 101 it gets back; the benchmarks, tests and fuzzers use it.
//!
//! Nothing here performs I/O or reads the clock: handshake timeouts belong to
//! the engine.

mod accept;
mod client;
mod config;
mod deflate;
mod error;
mod extensions;
mod head;
mod request;
mod response;
mod syntax;

pub use accept::{accept_key, WEBSOCKET_GUID};
pub use client::{ClientHandshake, ClientHandshakeError, ClientStatus, Response};
pub use config::HandshakeConfig;
pub use deflate::{
    accept_answer as accept_deflate_answer, negotiate as negotiate_deflate, Compression,
    DeflateAnswerError, DeflateOffer, DeflateParams, DeflateSide, MIN_DEFLATE_WINDOW_BITS,
    PERMESSAGE_DEFLATE,
};
pub use error::HandshakeError;
pub use extensions::{ExtensionOffer, ExtensionSyntaxError};
pub use request::{HandshakeStatus, Request, ServerHandshake};
pub use response::{reject_response, write_accept_response, AcceptError};
