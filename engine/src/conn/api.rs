//! What an application implements: [`Handler`], and the per-connection
//! handle [`Conn`] its callbacks get. These are the connection's public
//! types, so they live here; `server/` re-exports them (the dependency runs
//! one way: server → shard → conn).

use std::fmt;

use bytes::Bytes;
use ringws_codec::{server_frame, CloseCode, OpCode, Request};

use super::ctx::{ConnCtx, Fanout};
use super::{ConnCore, Flags};

/// A connection's identity across the server: worker, slab slot and the
/// slot's generation. Once the connection closes the id is dead for good:
/// a new connection in the same slot has another generation, so
/// [`ServerHandle::send_to`](crate::ServerHandle::send_to) with an old id
/// reaches nobody.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConnId {
    worker: u16,
    slot: u32,
    gen: u32,
}

impl ConnId {
    pub(crate) fn new(worker: u16, slot: u32, gen: u32) -> Self {
        Self { worker, slot, gen }
    }

    /// Index of the worker that owns the connection.
    pub fn worker(&self) -> usize {
        self.worker as usize
    }

    pub(crate) fn slot(&self) -> u32 {
        self.slot
    }

    pub(crate) fn gen(&self) -> u32 {
        self.gen
    }
}

impl fmt::Debug for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ConnId({}:{}#{})", self.worker, self.slot, self.gen)
    }
}

/// Encode a whole unmasked frame once, to be shared by every recipient.
pub(crate) fn encode_frame(msg: Message<'_>) -> Bytes {
    let (op, payload) = match msg {
        Message::Text(t) => (OpCode::Text, t.as_bytes()),
        Message::Binary(b) => (OpCode::Binary, b),
    };
    server_frame(op, payload)
}

/// A complete message, borrowed from the receive buffer when it arrived in
/// one piece (no copy, no allocation) or from the connection's assembly
/// buffer when it spanned buffers or fragments; a message that arrived
/// compressed (permessage-deflate) is borrowed from the worker's inflate
/// buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Message<'a> {
    /// A text message (UTF-8 already checked).
    Text(&'a str),
    /// A binary message.
    Binary(&'a [u8]),
}

/// What a send did, for backpressure.
///
/// The engine applies backpressure to the peer by itself: once a callback
/// leaves the connection's buffered amount at or above its send-buffer
/// limit ([`Builder::send_buffer_limit`](crate::Builder::send_buffer_limit)),
/// no further message is delivered and the connection is not read from
/// (TCP flow control then slows the peer) until the queue drains below the
/// limit, when [`Handler::on_drain`] runs and reading resumes. Bytes the
/// kernel had already delivered are kept and delivered in order then, never
/// dropped. So a handler that sends one reply per message (an echo) never
/// sees [`SendStatus::Dropped`] for lack of room; one that sends several,
/// or sends from elsewhere, should watch for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendStatus {
    /// Queued; it goes out at the end of this loop turn.
    Sent,
    /// Queued, but the connection's buffered amount is now above the
    /// send-buffer limit: stop sending until [`Handler::on_drain`] (the
    /// engine stops reading from the connection meanwhile).
    Queued,
    /// Not queued: the buffered amount was already at the limit (more
    /// sends in the same callback, `send_to`, broadcasts or publishes to a
    /// connection that is not draining), or the connection is closing.
    /// Drops for lack of room are counted ([`Conn::dropped_sends`],
    /// [`Stats::sends_dropped`](crate::Stats::sends_dropped)).
    Dropped,
}

/// The application's answer to an upgrade request: accept, with the new
/// connection's state and an optional subprotocol.
#[derive(Debug)]
pub struct Accept<S> {
    pub(crate) state: S,
    pub(crate) protocol: Option<String>,
}

impl<S> Accept<S> {
    /// Accept with `state` as the connection's state.
    pub fn new(state: S) -> Self {
        Self {
            state,
            protocol: None,
        }
    }

    /// Choose a subprotocol. It must be one the client offered
    /// ([`Request::protocols`]); otherwise the upgrade is refused with 500,
    /// since choosing an unoffered one is the application's mistake.
    pub fn protocol(mut self, protocol: impl Into<String>) -> Self {
        self.protocol = Some(protocol.into());
        self
    }
}

/// A refused upgrade: an HTTP status and a short reason (the body).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reject {
    pub(crate) status: u16,
    pub(crate) reason: String,
}

impl Reject {
    /// Refuse with `status` (e.g. 401, 403, 404) and a reason.
    pub fn new(status: u16, reason: impl Into<String>) -> Self {
        Self {
            status,
            reason: reason.into(),
        }
    }
}

/// The application's callbacks. One handler value is shared by every worker
/// (hence `Send + Sync`); the per-connection [`Handler::State`] lives on its
/// worker thread and is handed to each callback.
///
/// Callbacks run on the worker's thread inside its event loop: they must not
/// block. A [`Message`] borrows the buffer it was received or assembled in
/// and is valid only during `on_message`: copy what you keep. The buffer is
/// reused once the callback returns, unless a send made during the callback
/// queued bytes of it (an echo of a large message that arrived whole): then
/// it stays out of the kernel's reach until those bytes have been sent.
///
/// # Panics
///
/// In a build that unwinds (the default `panic = "unwind"`; tests always
/// do), a callback that panics loses its own connection, not the worker:
/// the panic is caught, the connection is closed with 1011 (internal
/// error), its `on_close` is called once with 1011 (a panic in `on_close`
/// itself is caught and ends there; a panic in `on_upgrade` refuses the
/// upgrade with 500), and the worker's other connections carry on.
/// [`Stats::handler_panics`](crate::Stats::handler_panics) counts them.
/// With `panic = "abort"` (the `ringws` binary's release profile) a panic
/// ends the process, as it would anywhere else.
pub trait Handler: Send + Sync + 'static {
    /// Per-connection state, created by [`Handler::on_upgrade`].
    type State: 'static;

    /// Decide on an upgrade request: path, `Origin`, subprotocol, auth.
    fn on_upgrade(&self, request: &Request) -> Result<Accept<Self::State>, Reject>;

    /// The 101 response is queued; the connection is open.
    fn on_open(&self, conn: &mut Conn<'_>, state: &mut Self::State) {
        let _ = (conn, state);
    }

    /// A complete message arrived.
    fn on_message(&self, conn: &mut Conn<'_>, state: &mut Self::State, message: Message<'_>);

    /// The connection closed: `code` and `reason` are the peer's close frame
    /// (1005 if it had none), or 1006 if the connection ended without one,
    /// or the code the server sent after a protocol error.
    fn on_close(&self, state: Self::State, code: CloseCode, reason: &str) {
        let _ = (state, code, reason);
    }

    /// The buffered amount fell back below the send-buffer limit after a
    /// send returned [`SendStatus::Queued`]. Runs before the messages held
    /// while the connection was over its limit are delivered, and before
    /// reading from the connection resumes.
    fn on_drain(&self, conn: &mut Conn<'_>, state: &mut Self::State) {
        let _ = (conn, state);
    }

    /// The number of this node's subscribers of `topic` went from `old` to
    /// `new` (counted over every worker: one call per subscription added
    /// or removed, closes included). `old == 0` is the topic's first local
    /// subscriber, `new == 0` its last. Runs on the worker that made the
    /// change, at the end of its loop turn; calls from different workers
    /// may arrive in either order, the counts they carry are each exact.
    /// Must not block. Default: nothing.
    fn on_subscription(&self, topic: &str, old: u32, new: u32) {
        let _ = (topic, old, new);
    }
}

/// A connection, as seen from inside a callback.
pub struct Conn<'a> {
    pub(crate) id: ConnId,
    pub(crate) core: &'a mut ConnCore,
    pub(crate) ctx: &'a mut ConnCtx,
}

impl Conn<'_> {
    /// This connection's id (usable with [`crate::ServerHandle::send_to`]).
    pub fn id(&self) -> ConnId {
        self.id
    }

    /// Send a text message (copied, or sent from the receive buffer, as for
    /// [`Conn::send_binary`]).
    pub fn send_text(&mut self, text: &str) -> SendStatus {
        self.core
            .send_message(self.ctx, ringws_codec::OpCode::Text, text.as_bytes())
    }

    /// Send a binary message. Small payloads are copied into the send queue;
    /// a payload of 4 KiB or more that is the payload of the message being
    /// handled (an echo or relay of a message that arrived whole in a receive
    /// buffer) is sent from that buffer without a copy, which stays lent until
    /// the send completes (off with `Builder::send_from_recv_buffers(false)`);
    /// any other payload is copied.
    pub fn send_binary(&mut self, data: &[u8]) -> SendStatus {
        self.core
            .send_message(self.ctx, ringws_codec::OpCode::Binary, data)
    }

    /// Send a binary message whose payload is shared, not copied, when large.
    pub fn send_binary_shared(&mut self, data: Bytes) -> SendStatus {
        self.core
            .send_shared(self.ctx, ringws_codec::OpCode::Binary, data)
    }

    /// Send a ping (payload ≤ 125 bytes; longer is truncated).
    pub fn ping(&mut self, payload: &[u8]) -> SendStatus {
        let p = &payload[..payload.len().min(125)];
        self.core
            .send_control(self.ctx, ringws_codec::OpCode::Ping, p)
    }

    /// Start the closing handshake with `code` and `reason` (cut to 123
    /// bytes). Codes that may not be sent (1005, 1006, 1015, unassigned)
    /// become 1000.
    pub fn close(&mut self, code: CloseCode, reason: &str) {
        self.core.start_close(self.ctx, code, reason);
    }

    /// Send a message to every open connection of the server (this one
    /// included). The frame is encoded once; every connection's queue shares
    /// its bytes. Delivery to other workers goes through their inboxes.
    pub fn broadcast(&mut self, msg: Message<'_>) {
        self.ctx.outbox.push(Fanout::All(encode_frame(msg)));
    }

    /// Subscribe this connection to `topic` (see [`Conn::publish`]).
    /// Returns `false` if it already was.
    pub fn subscribe(&mut self, topic: &str) -> bool {
        self.core.flags.insert(Flags::SUBSCRIBED);
        self.ctx
            .topics
            .subscribe(topic, (self.id.slot(), self.id.gen()))
    }

    /// Unsubscribe from `topic`; returns `false` if it was not subscribed.
    pub fn unsubscribe(&mut self, topic: &str) -> bool {
        self.ctx
            .topics
            .unsubscribe(topic, (self.id.slot(), self.id.gen()))
    }

    /// Send a message to every subscriber of `topic` on every worker (this
    /// connection included if it is subscribed). The frame is encoded once
    /// and its bytes shared by every recipient's queue. On a server joined
    /// to a broker ([`Builder::broker`](crate::Builder::broker)) it is also
    /// published there, for the topic's subscribers on the other nodes.
    pub fn publish(&mut self, topic: &str, msg: Message<'_>) {
        self.ctx
            .outbox
            .push(Fanout::Topic(topic.into(), encode_frame(msg)));
    }

    /// Like [`Conn::publish`], but never delivered to this connection,
    /// even when it is subscribed (uWebSockets' `ws.publish`): a client
    /// that sends to a room does not get its own message back.
    pub fn publish_to_others(&mut self, topic: &str, msg: Message<'_>) {
        self.ctx.outbox.push(Fanout::TopicExcept(
            topic.into(),
            encode_frame(msg),
            (self.id.slot(), self.id.gen()),
        ));
    }

    /// What [`Conn::server`] (in `server/handle.rs`) makes its handle from.
    pub(crate) fn link(&self) -> &std::sync::Arc<dyn std::any::Any + Send + Sync> {
        &self.ctx.link
    }

    /// Bytes queued and not yet written to the socket.
    pub fn buffered_amount(&self) -> usize {
        self.core.buffered_amount()
    }

    /// Data messages dropped for this connection so far because its send
    /// buffer was at its limit (see [`SendStatus::Dropped`] and
    /// [`Builder::close_after_dropped_sends`](crate::Builder::close_after_dropped_sends)).
    pub fn dropped_sends(&self) -> u32 {
        self.ctx
            .drops
            .get(&self.core.token.slot)
            .copied()
            .unwrap_or(0)
    }
}
