//! # ringws-bench: a load generator for WebSocket servers
//!
//! Scenarios (`echo`, `fanout`, `connect`, `idle`) drive any WebSocket server
//! over loopback and report messages/s, latency percentiles (hdrhistogram) and,
//! given the server's pid, the server's CPU time per message or handshake and
//! its memory per connection, read from `/proc`. Every echo is checked byte for
//! byte. The client uses the ringws codec for framing and the handshake.
//!
//! Client threads run mio (epoll) event loops, one per thread, many
//! connections each. An io_uring client is not built yet (see the bench issue).
#![deny(missing_docs)]

pub mod client;
pub mod compare;
pub mod connect;
pub mod echo;
pub mod fanout;
pub mod idle;
pub mod payload;
pub mod procstat;
pub mod report;
pub mod run;
pub mod stats;
