//! The broker seen from the bridge thread.

use std::io;
use std::os::fd::BorrowedFd;
use std::time::Duration;

/// What one [`Broker::poll`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Turn {
    /// Publishes the broker acknowledged.
    pub confirmed: u64,
    /// Publishes the broker answered with an error.
    pub rejected: u64,
    /// Messages handed to the callback.
    pub messages: u64,
}

/// A publish/subscribe broker as the bridge thread drives it: one connection,
/// owned by one thread, never shared.
///
/// The bridge calls these in a loop: [`connect`](Broker::connect) until it
/// succeeds (with backoff), then [`subscribe`](Broker::subscribe) /
/// [`unsubscribe`](Broker::unsubscribe) batches and
/// [`publish`](Broker::publish) calls, which only queue bytes, then
/// [`poll`](Broker::poll), which sends what is queued, waits, and reads. Any
/// error means the connection is lost: the bridge calls
/// [`disconnect`](Broker::disconnect) and starts over; after a connect the
/// broker holds no subscriptions (the bridge subscribes every live topic
/// again).
///
/// Topics and messages are opaque bytes to the broker; the envelope (node id,
/// kind) is the bridge's business. Delivery is at most once: what is in
/// flight when a connection is lost is gone.
///
/// Implementations must not block longer than their configured I/O timeouts
/// in any method, and must bound what they buffer: `publish` answers
/// `Ok(false)` rather than queue past its bound.
pub trait Broker: Send {
    /// Opens a connection (dropping any old one); the broker starts with no
    /// subscriptions.
    fn connect(&mut self) -> io::Result<()>;

    /// Drops the connection. Returns how many publishes were queued or sent
    /// but not yet acknowledged: they are lost.
    fn disconnect(&mut self) -> u64;

    /// Subscribes to every topic in `topics` (one request for the batch).
    fn subscribe(&mut self, topics: &[&str]) -> io::Result<()>;

    /// Unsubscribes from every topic in `topics` (one request for the batch).
    fn unsubscribe(&mut self, topics: &[&str]) -> io::Result<()>;

    /// Queues one message for `topic`. `Ok(false)`: the outgoing buffer is
    /// full; nothing was queued, try again after a [`poll`](Broker::poll).
    fn publish(&mut self, topic: &str, message: &[u8]) -> io::Result<bool>;

    /// Sends queued bytes, waits up to `timeout` until the connection has
    /// something to read or `wake` is readable, then hands at most `budget`
    /// received messages to `on_message(topic, message)`. Returns at once
    /// (after sending) when messages are already buffered.
    fn poll(
        &mut self,
        timeout: Duration,
        wake: BorrowedFd<'_>,
        budget: usize,
        on_message: &mut dyn FnMut(&str, &[u8]),
    ) -> io::Result<Turn>;
}
