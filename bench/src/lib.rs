//! # ringws-bench: a load generator for WebSocket servers
//!
//! Scenarios (`echo`, `fanout`, `connect`, `idle`) drive any WebSocket server
//! over loopback and report messages/s, latency percentiles (hdrhistogram) and,
//! given the server's pid, the server's CPU time per message or handshake and
//! its memory per connection, read from `/proc`. Every echo is checked byte for
//! byte. The client uses the ringws codec for framing and the handshake.
//!
//! Client threads each run one transport (`driver`): io_uring by default,
//! mio (epoll) as the fallback (`--client-backend`), many connections each.
#![deny(missing_docs)]

pub mod client;
pub mod compare;
pub mod connect;
pub mod driver;
pub mod echo;
pub mod fanout;
pub mod idle;
pub mod payload;
pub mod procstat;
pub mod report;
pub mod run;
pub mod stats;
