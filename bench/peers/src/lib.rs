//! # ringws-peers: the yardsticks
//!
//! Two echo servers built only from crates.io, so anyone can compare ringws
//! against well-known Rust WebSocket servers without fetching anything by hand:
//!
//! * `peer-tungstenite`: tokio-tungstenite, reading messages and echoing them
//!   with batched flushes (`feed` each reply, `flush` once no more input is ready).
//! * `peer-fastwebsockets`: fastwebsockets behind hyper's upgrade, with its
//!   `FragmentCollector`, one write per frame.
//!
//! Both take `--port P` (default 9001) and `--threads N` (1 = tokio
//! `current_thread` runtime, N > 1 = `multi_thread` with N workers), print
//! `listening on ws://ADDR` once the socket is bound, and allow messages up to
//! 16 MiB. The servers live in this library (`tungstenite::run`, `fastws::run`)
//! so tests can start them in-process on an ephemeral port.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod args;
pub mod fastws;
pub mod tungstenite;

// ---- The public interface ------------------------------------------------
// `tungstenite::run` and `fastws::run` serve a bound listener (tests start
// them in-process on port 0); the binaries wrap them.
pub use args::{runtime, Args};
