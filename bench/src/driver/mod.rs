//! The client transport: one [`Driver`] per load thread moves bytes for many
//! connections, on io_uring or on mio (epoll). The scenarios and
//! [`crate::client::Client`] (the WebSocket protocol) sit above it and never
//! touch a socket.
//!
//! ```text
//!  scenario ──► Client::queue (masked frames into its `out`) ──► Driver::flush(token, out)
//!  Driver::poll ──► Event::Data(token, bytes) ──► Client::on_bytes ──► messages
//!               ──► Event::Sent(token)      ──► flush again if more is queued
//!               ──► Event::Closed(token, ..)
//! ```
//!
//! Both backends have the same shape: `connect`, `flush`, `close`, `poll`.
//! A connection is named by the caller's `token` (an index it chooses and may
//! reuse after `close`).
//!
//! # The caller's duties
//! - After [`Event::Sent`] for a connection, call [`Driver::flush`] if its
//!   client has queued more bytes: each connection has at most one send in
//!   flight, and the driver cannot see the client's queue.
//! - `Data` slices are valid only during the callback; the protocol layer
//!   copies what it has to keep (the codec's receiver does).
//! - After [`Event::Closed`] the connection produces no more events; call
//!   [`Driver::close`] before reusing its token.
#![deny(clippy::undocumented_unsafe_blocks, clippy::missing_safety_doc)]

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

mod bufring;
mod epoll;
mod sys;
mod uring;

pub use self::epoll::MioDriver;
pub use self::uring::UringDriver;

/// Which client transport to use, as asked on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
pub enum ClientBackend {
    /// io_uring when the kernel lets us set it up, else epoll.
    Auto,
    /// io_uring (fails if unavailable).
    Uring,
    /// mio (epoll).
    Epoll,
}

/// The transport that runs (after `auto` has been resolved).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// io_uring: connect, multishot recv into a provided buffer ring, send.
    Uring,
    /// mio (epoll): readiness, then read/write syscalls.
    Epoll,
}

impl Backend {
    /// The name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Uring => "uring",
            Backend::Epoll => "epoll",
        }
    }
}

/// Resolves the command-line choice once, before the load threads start.
/// `Auto` falls back to epoll (and says why on stderr) when io_uring cannot
/// be set up; an explicit `Uring` that cannot be set up is an error.
pub fn resolve(choice: ClientBackend) -> Result<Backend, String> {
    match choice {
        ClientBackend::Epoll => Ok(Backend::Epoll),
        ClientBackend::Uring => uring::probe()
            .map(|()| Backend::Uring)
            .map_err(|e| format!("io_uring client backend unavailable: {e}")),
        ClientBackend::Auto => match uring::probe() {
            Ok(()) => Ok(Backend::Uring),
            Err(e) => {
                eprintln!("ringws-bench: io_uring unavailable ({e}); client uses epoll");
                Ok(Backend::Epoll)
            }
        },
    }
}

/// What a [`Driver::poll`] reports, one connection at a time.
#[derive(Debug)]
pub enum Event<'a> {
    /// Bytes received on connection `token` (the slice is the driver's buffer).
    Data(usize, &'a mut [u8]),
    /// The connection's send finished (uring) or its socket became writable
    /// (epoll): flush again if more is queued.
    Sent(usize),
    /// The connection ended: `None` for the peer's orderly shutdown (EOF),
    /// else the error (failed connect, reset, ...). Reported once.
    Closed(usize, Option<io::Error>),
}

impl Event<'_> {
    /// The connection the event is about.
    pub fn token(&self) -> usize {
        match *self {
            Event::Data(t, _) | Event::Sent(t) | Event::Closed(t, _) => t,
        }
    }
}

/// Per-connection socket options.
#[derive(Clone, Copy, Debug, Default)]
pub struct ConnectOptions {
    /// `SO_LINGER` 0: closing sends RST and leaves no TIME_WAIT behind
    /// (the connect storm would otherwise run out of ephemeral ports).
    pub linger_zero: bool,
}

/// One load thread's transport.
// One per thread, created once: the size difference between the variants
// (the uring one holds the ring and its bookkeeping) costs nothing.
#[allow(clippy::large_enum_variant)]
pub enum Driver {
    /// mio (epoll).
    Mio(MioDriver),
    /// io_uring.
    Uring(UringDriver),
}

impl Driver {
    /// A driver of the given backend, sized for about `connections` connections.
    pub fn new(backend: Backend, connections: usize) -> io::Result<Self> {
        Ok(match backend {
            Backend::Epoll => Driver::Mio(MioDriver::new(connections)?),
            Backend::Uring => Driver::Uring(UringDriver::new(connections)?),
        })
    }

    /// Which backend this is.
    pub fn backend(&self) -> Backend {
        match self {
            Driver::Mio(_) => Backend::Epoll,
            Driver::Uring(_) => Backend::Uring,
        }
    }

    /// Starts a nonblocking connect (TCP_NODELAY set) for connection `token`.
    /// Failure to connect is reported later as [`Event::Closed`]; an error here
    /// means the socket could not even be created.
    pub fn connect(
        &mut self,
        token: usize,
        addr: SocketAddr,
        opts: ConnectOptions,
    ) -> io::Result<()> {
        match self {
            Driver::Mio(d) => d.connect(token, addr, opts),
            Driver::Uring(d) => d.connect(token, addr, opts),
        }
    }

    /// Hands the bytes queued in `out` to the connection, leaving `out` empty
    /// when they were taken. Takes nothing while a send is in flight (the
    /// bytes stay in `out`; flush again on [`Event::Sent`]). Returns true when
    /// everything handed over so far has been written to the socket.
    pub fn flush(&mut self, token: usize, out: &mut Vec<u8>) -> io::Result<bool> {
        match self {
            Driver::Mio(d) => d.flush(token, out),
            Driver::Uring(d) => d.flush(token, out),
        }
    }

    /// Closes connection `token` (no more events for it); its token may be
    /// reused at once.
    pub fn close(&mut self, token: usize) {
        match self {
            Driver::Mio(d) => d.close(token),
            Driver::Uring(d) => d.close(token),
        }
    }

    /// Waits up to `timeout` (`None`: until something happens) and hands
    /// every event to `f`.
    pub fn poll(&mut self, timeout: Option<Duration>, f: impl FnMut(Event<'_>)) -> io::Result<()> {
        match self {
            Driver::Mio(d) => d.poll(timeout, f),
            Driver::Uring(d) => d.poll(timeout, f),
        }
    }
}

#[cfg(test)]
mod tests;
