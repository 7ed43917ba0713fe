//! Handshaking → Open → Closed, each phase carrying only what is valid in
//! it; beside the phase, the receive ([`Recv`]) and the socket's wind-down
//! ([`Teardown`]: close queued → FIN after flush → FIN sent, or dead) are
//! one state each, and only orthogonal facts are [`Flags`].

use std::os::fd::RawFd;

use bytes::Bytes;
use ringws_codec::{
    reject_response, write_accept_response, CloseCode, HandshakeConfig, HandshakeStatus, OpCode,
    ServerHandshake,
};

use super::ctx::ConnCtx;
use super::deflate::{ConnDeflate, FanoutCache, WorkerDeflate};
use super::held::{Held, HeldEvent, Kind, Payload};
use super::receive::{Recv, Step};
use super::recv::{Flow, Input, Lent, Rx, RxEvent};
use super::send::{Outgoing, SendQueue, SHARE_THRESHOLD};
use super::transport::Transport;
use super::{Conn, ConnId, Handler, Message, Reject, SendStatus};
use crate::reactor::{RecvEnd, Token};

bitflags::bitflags! {
    /// Orthogonal facts about a connection the worker and the state
    /// machine share (its receive is [`Recv`], its wind-down [`Teardown`]).
    #[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
    pub(crate) struct Flags: u8 {
        /// On the worker's dirty list (output queued this turn).
        const DIRTY = 1;
        /// An automatic ping is outstanding.
        const PINGED = 1 << 1;
        /// A send returned `Queued`: call `on_drain` once below the limit.
        const OVER_LIMIT = 1 << 2;
        /// Subscribed to at least one topic (clean up on release).
        const SUBSCRIBED = 1 << 3;
        /// Reads paused by the worker's memory budget (soft mark).
        const BUDGET_PAUSED = 1 << 4;
        /// permessage-deflate: the window the server compresses with,
        /// minus 8 (1..=7 for 9..=15); 0 = not negotiated (see
        /// `deflate.rs`).
        const DEFLATE_WINDOW = 0b111 << super::deflate::WINDOW_SHIFT;
    }
}

/// How far the connection's socket has wound down, in order: each state
/// is reached only after the ones before it (or skipping them), never
/// going back. The protocol [`Phase`] says what the application has seen;
/// this says what may still be written and when the socket goes.
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Teardown {
    /// Data frames may be queued.
    #[default]
    Live,
    /// A close frame (or an HTTP refusal) is queued: no more data frames;
    /// the peer's close is awaited.
    CloseQueued,
    /// Half-close (FIN) once the queue is flushed.
    Flushing,
    /// FIN sent; lingering to drain the peer's last bytes.
    FinSent,
    /// Release the connection once no operation is in flight.
    Dead,
    /// Dead, and the socket was shut down to abort a send stuck in flight.
    Aborted,
}

/// Everything about a connection except its phase: the part a handler's
/// [`Conn`] handle may touch.
pub(crate) struct ConnCore {
    pub(crate) fd: RawFd,
    pub(crate) token: Token,
    pub(crate) flags: Flags,
    /// The socket's wind-down.
    pub(crate) teardown: Teardown,
    /// The receive: what is armed, paused or ending.
    pub(crate) recv: Recv,
    /// Between the wire and the codec (zero bytes for plain TCP).
    pub(crate) transport: Transport,
    /// Queue and `sendmsg` memory, only while there is something to send
    /// or a send in flight (boxes pooled by the worker).
    pub(crate) out: Option<Box<Outgoing>>,
    /// Milliseconds (worker clock) of the last received bytes.
    pub(crate) last_rx_ms: u64,
    /// When `handle_timeout` must run next.
    pub(crate) deadline_ms: u64,
    /// The deadline of this connection's live timer-heap entry (`u64::MAX`
    /// if none).
    pub(crate) timer_at: u64,
    /// Events received (parsed) but not handed to the handler yet because
    /// the connection reached its send-buffer limit: what the kernel
    /// delivered before the paused receive stopped, in arrival order, handed
    /// over before anything newer. Empty, with no heap, otherwise.
    pub(crate) held: Held,
    /// Bytes this connection is counted for in the worker's memory budget
    /// (its footprint when last settled; see `Connection::footprint`).
    pub(crate) charged: u32,
}

/// The receive a connection wants armed (see [`Connection::plan_receive`]).
#[derive(Debug)]
pub(crate) enum Plan {
    /// Into the spare capacity of this lent message buffer, this many bytes
    /// (give the buffer back with [`Connection::handle_direct`], or
    /// [`Connection::direct_refused`] if it could not be armed).
    Direct(Vec<u8>, usize),
    /// A short one-shot of this many bytes into the ring.
    Short(u32),
    /// The multishot into the ring.
    Multishot,
}

/// Plaintext scratch capacity a worker keeps between TLS reads.
const TLS_SCRATCH_KEEP: usize = 1 << 20;

/// Pooled sending states kept per worker (each about 1.1 KiB plus at most
/// 64 KiB of tail capacity).
const OUT_POOL_MAX: usize = 64;

/// The phase, with per-phase data.
pub(crate) enum Phase<S> {
    /// Reading the HTTP upgrade request (boxed: only new connections pay).
    Handshaking(Box<ServerHandshake>),
    /// Messages flow both ways; once a close frame is queued
    /// ([`Teardown::CloseQueued`]) the peer's close is awaited and no more
    /// messages are delivered.
    Open { user: S, rx: Rx },
    /// `on_close` delivered (or never opened); only socket teardown is left.
    Closed,
}

/// A connection: slab entry of a worker.
pub(crate) struct Connection<S> {
    pub(crate) core: ConnCore,
    pub(crate) phase: Phase<S>,
}

impl ConnCore {
    fn id(&self, ctx: &ConnCtx) -> ConnId {
        ConnId::new(ctx.worker, self.token.slot, self.token.gen)
    }

    /// What permessage-deflate agreement the connection has.
    pub(crate) fn pmd(&self) -> ConnDeflate {
        ConnDeflate::of(self.flags, self.token)
    }

    pub(crate) fn buffered_amount(&self) -> usize {
        self.out.as_ref().map_or(0, |o| o.queue.len())
    }

    /// Whether a send is in flight.
    pub(crate) fn in_flight(&self) -> bool {
        self.out.as_ref().is_some_and(|o| o.queue.in_flight())
    }

    /// The send queue, taking a pooled box if the connection has none.
    fn queue(&mut self, ctx: &mut ConnCtx) -> &mut SendQueue {
        &mut self
            .out
            .get_or_insert_with(|| ctx.out_pool.pop().unwrap_or_else(Outgoing::new))
            .queue
    }

    /// Return the sending state to the pool once it is empty and idle.
    pub(crate) fn release_out(&mut self, ctx: &mut ConnCtx) {
        if let Some(o) = &self.out {
            if o.queue.len() == 0 && !o.queue.in_flight() {
                let o = self.out.take().expect("checked");
                if ctx.out_pool.len() < OUT_POOL_MAX {
                    ctx.out_pool.push(o);
                }
            }
        }
    }

    /// Put the connection on the worker's list of connections to flush.
    fn mark_dirty(&mut self, ctx: &mut ConnCtx) {
        if !self.flags.contains(Flags::DIRTY) {
            self.flags.insert(Flags::DIRTY);
            ctx.dirty.push(self.token);
        }
    }

    fn header(opcode: OpCode, fin: bool, len: usize) -> ([u8; 14], usize) {
        let mut h = [0u8; 14];
        let n = ringws_codec::encode_header(&mut h, fin, opcode, len as u64, None);
        (h, n)
    }

    /// A close frame (or refusal) is queued, or the connection is gone: no
    /// more data frames.
    pub(crate) fn close_sent(&self) -> bool {
        self.teardown >= Teardown::CloseQueued
    }

    /// Whether the connection is abandoned (released once nothing is in
    /// flight).
    pub(crate) fn is_dead(&self) -> bool {
        self.teardown >= Teardown::Dead
    }

    /// Abandon the connection.
    pub(crate) fn kill(&mut self) {
        self.teardown = self.teardown.max(Teardown::Dead);
    }

    /// Whether a data message may be queued: not once a close is queued,
    /// nor while the send buffer is at its limit. A message refused for
    /// lack of room is counted (per connection and in the worker's
    /// `sends_dropped`), and once a connection has dropped as many as the
    /// slow-reader policy allows it is closed with 1008.
    fn room(&mut self, ctx: &mut ConnCtx) -> bool {
        if self.close_sent() {
            return false;
        }
        if self.buffered_amount() < ctx.limits.send_buffer_limit {
            return true;
        }
        let dropped = ctx.drops.entry(self.token.slot).or_insert(0);
        *dropped = dropped.saturating_add(1);
        let dropped = *dropped;
        ctx.stats.sends_dropped += 1;
        if ctx.limits.close_after_drops.is_some_and(|n| dropped >= n) {
            ctx.stats.slow_closed += 1;
            tracing::debug!(dropped, "slow reader: closing with 1008");
            // Behind the queued bytes: a reader that never catches up is
            // cut by the close timeout.
            self.start_close(ctx, CloseCode::POLICY, "slow reader");
        }
        false
    }

    fn after_queue(&mut self, ctx: &mut ConnCtx) -> SendStatus {
        self.mark_dirty(ctx);
        ctx.stats.msgs_out += 1;
        if self.buffered_amount() > ctx.limits.send_buffer_limit {
            self.flags.insert(Flags::OVER_LIMIT);
            SendStatus::Queued
        } else {
            SendStatus::Sent
        }
    }

    pub(crate) fn send_message(
        &mut self,
        ctx: &mut ConnCtx,
        opcode: OpCode,
        payload: &[u8],
    ) -> SendStatus {
        if !self.room(ctx) {
            return SendStatus::Dropped;
        }
        if self.pmd().compresses(payload.len()) {
            self.push_compressed(ctx, opcode, payload);
            return self.after_queue(ctx);
        }
        let (h, n) = Self::header(opcode, true, payload.len());
        let lent = Lent {
            addr: payload.as_ptr() as usize,
            len: payload.len(),
        };
        if ctx.lend.lent == Some(lent)
            && ctx.lend.claimed.is_none()
            && payload.len() >= SHARE_THRESHOLD
        {
            // The handler sends on the assembled message it was lent (an
            // echo, a relay): queue a placeholder and take the codec's
            // buffer itself once `on_message` returns, instead of a copy.
            let at = self.queue(ctx).push_claimed(&h[..n], payload.len());
            ctx.lend.claimed = Some(at);
        } else if let Some(id) = (payload.len() >= SHARE_THRESHOLD
            && self.transport.wire_is_plaintext())
        .then(|| ctx.loans.lend(payload))
        .flatten()
        {
            // The handler sends bytes of the receive buffer being handled
            // (an echo of a message that arrived whole): point at them; the
            // buffer stays out of the kernel's hands until the send is done.
            ctx.stats.lent_sends += 1;
            // SAFETY: `lend` checked that the payload lies in the receive
            // buffer being handled, and counted the loan: the worker does
            // not recycle that buffer, nor does anything write to it, until
            // the queue gives the loan back with the segment.
            unsafe { self.queue(ctx).push_lent(&h[..n], payload, id) };
        } else {
            self.queue(ctx).push_payload(&h[..n], payload);
        }
        self.after_queue(ctx)
    }

    pub(crate) fn send_shared(
        &mut self,
        ctx: &mut ConnCtx,
        opcode: OpCode,
        payload: Bytes,
    ) -> SendStatus {
        if !self.room(ctx) {
            return SendStatus::Dropped;
        }
        if self.pmd().compresses(payload.len()) {
            self.push_compressed(ctx, opcode, &payload);
            return self.after_queue(ctx);
        }
        let (h, n) = Self::header(opcode, true, payload.len());
        self.queue(ctx).push_shared(&h[..n], payload);
        self.after_queue(ctx)
    }

    /// Compress `payload` (with the connection's stream or the worker's)
    /// and queue it as one frame with RSV1 set.
    fn push_compressed(&mut self, ctx: &mut ConnCtx, opcode: OpCode, payload: &[u8]) {
        let mut z = std::mem::take(&mut ctx.deflate.compress_buf);
        z.clear();
        self.pmd().compress(&mut ctx.deflate, payload, &mut z);
        let h = ringws_codec::HeaderBytes::compressed(true, opcode, z.len() as u64, None);
        self.queue(ctx).push_payload(h.as_slice(), &z);
        WorkerDeflate::trim(&mut z);
        ctx.deflate.compress_buf = z;
    }

    /// Queue a complete pre-encoded frame (cross-worker send / broadcast).
    pub(crate) fn send_frame(&mut self, ctx: &mut ConnCtx, frame: Bytes) -> SendStatus {
        self.send_fanout(ctx, frame, &mut FanoutCache::default())
    }

    /// Queue a complete pre-encoded, uncompressed frame meant for many
    /// connections: as it is, or, to a connection that negotiated
    /// permessage-deflate, compressed: once per window in `cache` for
    /// connections that share the worker's compressors, else with the
    /// connection's own stream.
    pub(crate) fn send_fanout(
        &mut self,
        ctx: &mut ConnCtx,
        frame: Bytes,
        cache: &mut FanoutCache,
    ) -> SendStatus {
        if !self.room(ctx) {
            return SendStatus::Dropped;
        }
        let data = super::deflate::split_frame(&frame)
            .filter(|(_, payload)| self.pmd().compresses(payload.len()));
        if let Some((opcode, payload)) = data {
            match cache.shared_frame(self.pmd(), &mut ctx.deflate, opcode, payload) {
                Some(z) => self.queue(ctx).push_shared(&[], z),
                None => {
                    ctx.deflate.fanout_compressions += 1;
                    self.push_compressed(ctx, opcode, payload);
                }
            }
            return self.after_queue(ctx);
        }
        self.queue(ctx).push_shared(&[], frame);
        self.after_queue(ctx)
    }

    /// Put the buffer of the message a send claimed into the queue's
    /// placeholder `at`. A claim is only made for a lent buffer, so a
    /// missing one is a bug: the connection is dropped rather than send a
    /// hole. Returns whether the placeholder was filled.
    fn fill_claim(&mut self, ctx: &mut ConnCtx, at: usize, buf: Option<Vec<u8>>) -> bool {
        match (buf, self.out.as_mut()) {
            (Some(buf), Some(o)) => {
                o.queue.fill_claimed(at, Bytes::from(buf));
                #[cfg(test)]
                {
                    ctx.lend.taken += 1;
                }
                #[cfg(not(test))]
                let _ = ctx;
                true
            }
            _ => {
                tracing::error!("claimed message buffer missing; dropping connection");
                self.kill();
                false
            }
        }
    }

    /// Control frames skip the send-buffer limit (they are ≤ 127 bytes and
    /// the protocol requires answering pings).
    pub(crate) fn send_control(
        &mut self,
        ctx: &mut ConnCtx,
        opcode: OpCode,
        payload: &[u8],
    ) -> SendStatus {
        if self.close_sent() {
            return SendStatus::Dropped;
        }
        let (h, n) = Self::header(opcode, true, payload.len());
        self.queue(ctx).push_copy(&[&h[..n], payload]);
        self.mark_dirty(ctx);
        SendStatus::Sent
    }

    fn queue_close(&mut self, ctx: &mut ConnCtx, code: Option<CloseCode>, reason: &str) {
        if self.close_sent() {
            return;
        }
        let (body, len) = match code {
            Some(c) => ringws_codec::close_payload(c, reason),
            None => ([0u8; 125], 0),
        };
        let (h, n) = Self::header(OpCode::Close, true, len);
        self.queue(ctx).push_copy(&[&h[..n], &body[..len]]);
        self.teardown = Teardown::CloseQueued;
        self.mark_dirty(ctx);
        // The peer's close is due within the close timeout.
        let d = ctx.now_ms + ctx.limits.close_timeout_ms;
        self.set_deadline(ctx, d);
    }

    /// The application asked to close (only meaningful while open).
    pub(crate) fn start_close(&mut self, ctx: &mut ConnCtx, code: CloseCode, reason: &str) {
        // 1005, 1006, 1015 and unassigned codes must never be sent.
        let code = if code.is_allowed_on_wire() {
            code
        } else {
            tracing::debug!(
                code = code.0,
                "close code not allowed on the wire; sending 1000"
            );
            CloseCode::NORMAL
        };
        self.queue_close(ctx, Some(code), reason);
    }

    /// Flush, then half-close.
    fn finish(&mut self, ctx: &mut ConnCtx) {
        self.teardown = self.teardown.max(Teardown::Flushing);
        // TLS: close_notify after the last bytes, before the FIN.
        self.transport.closing();
        self.mark_dirty(ctx);
        let d = ctx.now_ms + ctx.limits.close_timeout_ms;
        self.set_deadline(ctx, d);
    }

    /// Move the deadline; pushes a heap entry only when it moves earlier.
    pub(crate) fn set_deadline(&mut self, ctx: &mut ConnCtx, when: u64) {
        self.deadline_ms = when;
        if when < self.timer_at {
            self.timer_at = when;
            ctx.timers.push(when, self.token.slot, self.token.gen);
        }
    }
}

impl<S> Connection<S> {
    /// A freshly accepted connection, reading its handshake.
    pub(crate) fn new(
        fd: RawFd,
        token: Token,
        hs: HandshakeConfig,
        transport: Transport,
        ctx: &mut ConnCtx,
    ) -> Self {
        let mut core = ConnCore {
            fd,
            token,
            flags: Flags::default(),
            teardown: Teardown::Live,
            recv: Recv::default(),
            transport,
            out: None,
            last_rx_ms: ctx.now_ms,
            deadline_ms: u64::MAX,
            timer_at: u64::MAX,
            held: Held::default(),
            charged: 0,
        };
        core.set_deadline(ctx, ctx.now_ms + ctx.limits.handshake_timeout_ms);
        Self {
            core,
            phase: Phase::Handshaking(Box::new(ServerHandshake::new(hs))),
        }
    }

    /// Whether messages can be sent to it (for `send_to`/broadcast): open
    /// and no close frame queued.
    pub(crate) fn is_open(&self) -> bool {
        matches!(self.phase, Phase::Open { .. }) && !self.core.close_sent()
    }

    /// The armed receive's final completion came. A real end of stream is
    /// handled here (or, while paused, after the held events).
    pub(crate) fn recv_ended<H: Handler<State = S>>(
        &mut self,
        end: RecvEnd,
        h: &H,
        ctx: &mut ConnCtx,
    ) {
        let dead = self.core.is_dead();
        if self.core.recv.ended(end, dead) == Step::PeerEnded {
            self.handle_eof(h, ctx);
        }
    }

    /// Settle the receive: hand over held events while below the limit,
    /// then say what the worker must do with the receive ([`Step::Arm`]:
    /// arm what [`Connection::plan_receive`] says; [`Step::Cancel`];
    /// [`Step::Idle`]). `direct_min`: the payload still to come that makes a
    /// frame skip the ring (`None`: never).
    pub(crate) fn poll_recv<H: Handler<State = S>>(
        &mut self,
        direct_min: Option<usize>,
        h: &H,
        ctx: &mut ConnCtx,
    ) -> Step {
        if self.core.is_dead() || self.core.recv == Recv::Stopping {
            return Step::Idle;
        }
        // Backpressure: at the send-buffer limit, stop reading so TCP
        // pushes back on the peer; below it (where `on_drain` fires),
        // process what was held, then read again.
        self.process_held(h, ctx);
        if self.core.flags.contains(Flags::BUDGET_PAUSED)
            && !matches!(self.phase, Phase::Open { .. })
            && matches!(self.core.recv, Recv::Paused { .. } | Recv::Unarmed { .. })
        {
            // Closed by the budget and its receive is stopped (a buffer
            // lent to a direct receive is back and freed): read again,
            // discarding, so that the socket closes with FIN, not RST.
            self.core.flags.remove(Flags::BUDGET_PAUSED);
        }
        if ctx.budget.over_soft()
            && !self.core.flags.contains(Flags::BUDGET_PAUSED)
            && self.is_open()
            && self.partial_bytes(ctx.loans.direct_capacity(self.core.token.slot))
                >= super::PAUSE_MIN
        {
            // Past the budget's soft mark a large partial message stops
            // growing at once, not at the end of the turn: a turn may
            // complete a receive on every connection.
            self.core.flags.insert(Flags::BUDGET_PAUSED);
            ctx.budget.paused_now += 1;
            ctx.stats.budget_paused += 1;
            let due = self
                .core
                .last_rx_ms
                .saturating_add(ctx.limits.close_timeout_ms)
                .max(ctx.now_ms + 1);
            self.core.set_deadline(ctx, due);
        }
        let pause = self.wants_pause(ctx);
        let direct = self.core.recv == Recv::Multishot
            && direct_min.is_some_and(|min| self.wants_direct(min));
        match self.core.recv.poll(pause, direct) {
            Step::PeerEnded => {
                self.handle_eof(h, ctx);
                Step::Idle
            }
            step => step,
        }
    }

    /// Which receive to arm now ([`Step::Arm`]): a direct one into the
    /// message buffer when a large frame is in progress (at most `max`
    /// bytes), else a short one for the next header after a large frame,
    /// else the multishot.
    pub(crate) fn plan_receive(&mut self, direct_min: Option<usize>, max: usize) -> Plan {
        let Some(min) = direct_min else {
            return Plan::Multishot;
        };
        let (large, after_short) = self.core.recv.plan();
        // A frame already being received directly continues so to its end
        // (only a header just read by the short receive is judged by size).
        let min = if large && !after_short { 1 } else { min };
        if let Some((buf, room)) = self.take_direct(min, max) {
            return Plan::Direct(buf, room);
        }
        self.plan_header(large, after_short)
    }

    /// The reactor could not take a direct receive: the buffer comes back
    /// untouched; what to arm instead.
    pub(crate) fn direct_refused(&mut self, buf: Vec<u8>) -> Plan {
        self.restore_direct(buf);
        let (large, after_short) = self.core.recv.plan();
        self.plan_header(large, after_short)
    }

    /// A connection whose last frame came directly reads the next frame's
    /// header (or the rest of one the short receive cut) with a short
    /// receive: a multishot would pull the whole next frame through the
    /// ring before its header could be looked at.
    fn plan_header(&self, large: bool, after_short: bool) -> Plan {
        if large && ((!after_short && self.at_frame_boundary()) || self.in_frame_header()) {
            Plan::Short(ringws_codec::MAX_HEADER_LEN as u32)
        } else {
            Plan::Multishot
        }
    }

    /// Whether reading must wait: the connection is open and its buffered
    /// amount is at or above the send-buffer limit, so a message delivered
    /// now could only be answered with [`SendStatus::Dropped`].
    pub(crate) fn rx_blocked(&self, ctx: &ConnCtx) -> bool {
        matches!(self.phase, Phase::Open { .. })
            && !self.core.close_sent()
            && self.core.buffered_amount() >= ctx.limits.send_buffer_limit
    }

    /// Whether the receive should be paused (blocked, events held, or
    /// paused by the memory budget).
    pub(crate) fn wants_pause(&self, ctx: &ConnCtx) -> bool {
        !self.core.held.is_empty()
            || self.rx_blocked(ctx)
            || self.core.flags.contains(Flags::BUDGET_PAUSED)
    }

    /// Bytes of the partial message this connection holds: the codec's
    /// assembly buffer (capacity), or `lent` (the capacity of that buffer
    /// while it is out with a direct receive). Once the connection is
    /// closed a lent buffer is freed by its receive's completion (due
    /// soon: the receive was stopped), so it is no longer counted; that
    /// keeps the budget from closing more connections meanwhile.
    pub(crate) fn partial_bytes(&self, lent: usize) -> usize {
        match &self.phase {
            Phase::Open { rx, .. } => rx.buffered_capacity() + lent,
            _ => 0,
        }
    }

    /// What the memory budget counts for this connection: its partial
    /// message ([`Connection::partial_bytes`]), its send queue and the
    /// events it holds.
    pub(crate) fn footprint(&self, lent: usize) -> usize {
        self.partial_bytes(lent)
            + self.core.buffered_amount()
            + self.core.held.capacity()
            + self.core.transport.held_bytes()
    }

    /// The memory budget is past its hard mark and this connection holds
    /// one of the largest partial messages: close it with 1013 (try again
    /// later), delivering `on_close` once.
    pub(crate) fn close_for_budget<H: Handler<State = S>>(&mut self, h: &H, ctx: &mut ConnCtx) {
        if !matches!(self.phase, Phase::Open { .. }) {
            return;
        }
        ctx.stats.budget_closed += 1;
        // The armed receive is cancelled, which also frees a buffer lent
        // to a direct receive now rather than when the peer next sends;
        // then reading resumes, discarding (`poll_recv`). The close frame
        // is flushed meanwhile.
        self.core.flags.insert(Flags::BUDGET_PAUSED);
        self.core.held.clear();
        let code = CloseCode(1013);
        self.core
            .queue_close(ctx, Some(code), "server memory budget exceeded");
        self.close_now(h, ctx, code, "memory budget");
    }

    /// Bytes arrived.
    pub(crate) fn handle_data<H: Handler<State = S>>(
        &mut self,
        data: &mut [u8],
        h: &H,
        ctx: &mut ConnCtx,
    ) {
        self.core.last_rx_ms = ctx.now_ms;
        self.core.flags.remove(Flags::PINGED);
        ctx.stats.bytes_in += data.len() as u64;
        match &mut self.core.transport {
            Transport::Plain => self.handle_plaintext(data, h, ctx),
            Transport::Tls(tls) => {
                // Records → plaintext (gathered in the worker's scratch,
                // shared by its connections) and what rustls must answer.
                let mut plain = std::mem::take(&mut ctx.tls_plain);
                let mut wire = Vec::new();
                let res = tls.read(data, &mut plain, &mut wire);
                if !wire.is_empty() {
                    self.core.queue(ctx).push_wire(Bytes::from(wire));
                    self.core.mark_dirty(ctx);
                }
                if !plain.is_empty() {
                    self.handle_plaintext(&mut plain, h, ctx);
                }
                plain.clear();
                if plain.capacity() > TLS_SCRATCH_KEEP {
                    plain = Vec::new();
                }
                ctx.tls_plain = plain;
                if let Some(e) = res.error {
                    // No close frame can be sent over a failed session:
                    // its alert (if any) goes out, then FIN.
                    tracing::debug!(error = %e, "TLS session failed; closing");
                    self.close_now(h, ctx, CloseCode::ABNORMAL, "");
                    self.core.teardown = self.core.teardown.max(Teardown::CloseQueued);
                    self.phase = Phase::Closed;
                } else if res.peer_closed {
                    self.handle_eof(h, ctx);
                }
            }
        }
    }

    /// Plaintext arrived: the upgrade request, or frames.
    fn handle_plaintext<H: Handler<State = S>>(
        &mut self,
        data: &mut [u8],
        h: &H,
        ctx: &mut ConnCtx,
    ) {
        match &mut self.phase {
            Phase::Handshaking(hs) => {
                let status = hs.feed(data);
                self.after_handshake(status, data, h, ctx);
            }
            Phase::Open { .. } => self.feed_frames(Input::Bytes(data), h, ctx),
            Phase::Closed => {}
        }
    }

    /// Whether the rest of the frame in progress is worth receiving
    /// straight into its message buffer: open, nothing held, and at least
    /// `min` payload bytes still to come.
    pub(crate) fn wants_direct(&self, min: usize) -> bool {
        match &self.phase {
            Phase::Open { rx, .. } => {
                self.core.held.is_empty()
                    && self.core.transport.wire_is_plaintext()
                    && !self.core.close_sent()
                    && rx.direct_remaining() >= min.max(1) as u64
            }
            _ => false,
        }
    }

    /// Whether the receiver is between frames (so the next bytes start a
    /// frame header).
    pub(crate) fn at_frame_boundary(&self) -> bool {
        match &self.phase {
            Phase::Open { rx, .. } => rx.at_frame_boundary(),
            _ => false,
        }
    }

    /// Whether part of a frame header has been read and the rest is due.
    pub(crate) fn in_frame_header(&self) -> bool {
        match &self.phase {
            Phase::Open { rx, .. } => rx.in_frame_header(),
            _ => false,
        }
    }

    /// Lend out the message buffer of the frame in progress for a direct
    /// receive of at most `max` bytes (see [`Connection::wants_direct`]).
    pub(crate) fn take_direct(&mut self, min: usize, max: usize) -> Option<(Vec<u8>, usize)> {
        if !self.wants_direct(min) {
            return None;
        }
        match &mut self.phase {
            Phase::Open { rx, .. } => rx.take_direct(max),
            _ => None,
        }
    }

    /// Give back a buffer from [`Connection::take_direct`] unused.
    pub(crate) fn restore_direct(&mut self, buf: Vec<u8>) {
        if let Phase::Open { rx, .. } = &mut self.phase {
            rx.restore_direct(buf);
        }
    }

    /// A direct receive ended: `buf` is the lent message buffer with `n`
    /// new bytes at its end (`n` may be 0: nothing came). Processed like
    /// received bytes; dropped if the connection no longer reads.
    pub(crate) fn handle_direct<H: Handler<State = S>>(
        &mut self,
        buf: Vec<u8>,
        n: usize,
        h: &H,
        ctx: &mut ConnCtx,
    ) {
        if n > 0 {
            self.core.last_rx_ms = ctx.now_ms;
            self.core.flags.remove(Flags::PINGED);
            ctx.stats.bytes_in += n as u64;
        }
        if matches!(self.phase, Phase::Open { .. }) {
            self.feed_frames(Input::Direct(buf, n), h, ctx);
        }
    }

    /// Hand held events to the handler while the connection is below its
    /// limit (the worker calls this whenever it settles a connection).
    pub(crate) fn process_held<H: Handler<State = S>>(&mut self, h: &H, ctx: &mut ConnCtx) {
        while !self.core.held.is_empty() && !self.rx_blocked(ctx) {
            let id = self.core.id(ctx);
            let Connection { core, phase } = self;
            let user = match phase {
                Phase::Open { user, .. } => user,
                // Closed: nothing reads them any more.
                Phase::Handshaking(_) | Phase::Closed => {
                    core.held.clear();
                    return;
                }
            };
            let Some(ev) = core.held.pop() else {
                return;
            };
            if hand_over(h, core, ctx, id, user, ev).is_err() {
                self.handler_panicked(h, ctx);
                return;
            }
        }
    }

    /// A handler callback panicked (in an unwinding build): the connection
    /// is closed with 1011 and `on_close` is delivered once (with 1011),
    /// as after a protocol error; nothing more is handed to the handler.
    /// Other connections of the worker are not touched.
    fn handler_panicked<H: Handler<State = S>>(&mut self, h: &H, ctx: &mut ConnCtx) {
        ctx.stats.handler_panics += 1;
        tracing::error!(
            conn = ?self.core.id(ctx),
            "handler panicked; closing the connection with 1011"
        );
        self.core.held.clear();
        self.core
            .queue_close(ctx, Some(CloseCode::INTERNAL_ERROR), "internal error");
        self.close_now(h, ctx, CloseCode::INTERNAL_ERROR, "handler panicked");
    }

    fn after_handshake<H: Handler<State = S>>(
        &mut self,
        status: Result<HandshakeStatus, ringws_codec::HandshakeError>,
        data: &mut [u8],
        h: &H,
        ctx: &mut ConnCtx,
    ) {
        let mut out = std::mem::take(&mut ctx.scratch);
        out.clear();
        match status {
            Ok(HandshakeStatus::Partial) => {}
            Ok(HandshakeStatus::Complete { .. }) if ctx.budget.refusing() => {
                // Past the memory budget's hard mark: no new connections
                // until usage is back below the low mark.
                ctx.stats.budget_refused += 1;
                reject_response(503, "server over its memory budget", &mut out);
                self.refuse(&out, ctx);
            }
            Ok(HandshakeStatus::Complete { request, consumed }) => {
                match guarded(|| h.on_upgrade(&request)).unwrap_or_else(|()| {
                    ctx.stats.handler_panics += 1;
                    tracing::error!("on_upgrade panicked; refusing with 500");
                    Err(Reject::new(500, "server error"))
                }) {
                    Ok(accept) => {
                        // permessage-deflate: the first offer the policy
                        // can honour, answered as RFC 7692 §7.1 allows.
                        let deflate = request.deflate(ctx.deflate.policy);
                        let answer = deflate.map(|p| p.to_string());
                        match write_accept_response(
                            &mut out,
                            &request,
                            accept.protocol.as_deref(),
                            answer.as_deref(),
                            &[],
                        ) {
                            Ok(()) => {
                                drop(request);
                                if let Some(p) = &deflate {
                                    let core = &mut self.core;
                                    let charge = ConnDeflate::agree(
                                        &mut core.flags,
                                        core.token,
                                        p,
                                        &mut ctx.deflate,
                                    );
                                    ctx.budget.charge(charge);
                                }
                                self.core.queue(ctx).push_copy(&[&out]);
                                self.core.mark_dirty(ctx);
                                ctx.stats.handshakes += 1;
                                self.phase = Phase::Open {
                                    user: accept.state,
                                    rx: Rx::new(),
                                };
                                let idle = ctx.limits.idle_timeout_ms;
                                self.core.set_deadline(ctx, ctx.now_ms.saturating_add(idle));
                                // A deadline moved later does not touch the heap;
                                // the handshake-timeout entry re-queues it.
                                let mut panicked = false;
                                if let Phase::Open { user, .. } = &mut self.phase {
                                    let id = self.core.id(ctx);
                                    let core = &mut self.core;
                                    let run = guarded(|| {
                                        h.on_open(&mut Conn { id, core, ctx }, user);
                                    });
                                    panicked = run.is_err();
                                }
                                if panicked {
                                    self.handler_panicked(h, ctx);
                                }
                                if consumed < data.len() && matches!(self.phase, Phase::Open { .. })
                                {
                                    self.feed_frames(Input::Bytes(&mut data[consumed..]), h, ctx);
                                }
                            }
                            Err(e) => {
                                tracing::warn!(error = %e, "handler accepted with an invalid response; refusing with 500");
                                reject_response(500, "server error", &mut out);
                                self.refuse(&out, ctx);
                            }
                        }
                    }
                    Err(reject) => {
                        reject_response(reject.status, &reject.reason, &mut out);
                        self.refuse(&out, ctx);
                    }
                }
            }
            Err(e) => {
                tracing::debug!(
                    status = e.status(),
                    reason = e.reason(),
                    "handshake refused"
                );
                e.write_response(&mut out);
                self.refuse(&out, ctx);
            }
        }
        ctx.scratch = out;
    }

    fn refuse(&mut self, response: &[u8], ctx: &mut ConnCtx) {
        self.core.queue(ctx).push_copy(&[response]);
        self.core.teardown = Teardown::CloseQueued;
        self.phase = Phase::Closed;
        self.core.finish(ctx);
    }

    /// Process frames. Below the send-buffer limit each event goes to the
    /// handler (or is answered) as it completes; once the limit is reached
    /// (or while events are already held) the rest of `data` is still
    /// parsed, and the events it completes are held, in order, for
    /// [`Connection::process_held`]. A close or a protocol error first hands
    /// over what is held, so the application sees every message that came
    /// before it.
    fn feed_frames<H: Handler<State = S>>(&mut self, input: Input<'_>, h: &H, ctx: &mut ConnCtx) {
        let id = self.core.id(ctx);
        let over_limit = self.rx_blocked(ctx);
        let Connection { core, phase } = self;
        let (user, rx) = match phase {
            Phase::Open { user, rx } => (user, rx),
            _ => return,
        };
        // What ended the connection, if anything: (code, reason).
        let mut end: Option<(CloseCode, String)> = None;
        // A handler callback panicked: stop, close with 1011.
        let mut panicked = false;
        let mut holding = over_limit || !core.held.is_empty();
        // The assembled message being taken over to be held.
        let mut taking: Option<Kind> = None;
        let mut cfg = ctx.rx;
        let pmd = core.pmd();
        cfg.deflate = pmd.is_on();
        let limit = ctx.limits.send_buffer_limit;
        // Compressed messages are inflated into the worker's buffer, lent
        // to the handler like a receive buffer (taken out of the context
        // meanwhile, since the handler gets the context too).
        let mut inflated = std::mem::take(&mut ctx.deflate.inflate_buf);
        let now = ctx.now_ms;
        rx.feed(&cfg, now, input, |ev| {
            let ev = match ev {
                RxEvent::Compressed(text, payload) => match pmd.inflate(
                    &mut ctx.deflate,
                    text,
                    payload,
                    cfg.max_message_size,
                    &mut inflated,
                ) {
                    // Not the codec's assembly buffer: nothing to claim.
                    Ok(m) => RxEvent::Message(m, None),
                    Err(e) => RxEvent::Error(e),
                },
                ev => ev,
            };
            match ev {
                RxEvent::Message(m, lent) => {
                    ctx.stats.msgs_in += 1;
                    // Once a close is queued (by the handler, or before),
                    // the application gets no further messages.
                    if core.close_sent() {
                        return Flow::Go;
                    }
                    if holding {
                        let (kind, bytes) = match m {
                            Message::Text(t) => (Kind::Text, t.as_bytes()),
                            Message::Binary(b) => (Kind::Binary, b),
                        };
                        if lent.is_some() {
                            // Assembled: hold the codec's buffer itself.
                            taking = Some(kind);
                            return Flow::Take;
                        }
                        core.held.push_copy(kind, bytes);
                        return Flow::Go;
                    }
                    // An assembled message may be sent on without a copy:
                    // `send_message` claims its buffer if the handler sends
                    // exactly these bytes.
                    ctx.lend.lent = lent;
                    let run = guarded(|| {
                        h.on_message(
                            &mut Conn {
                                id,
                                core: &mut *core,
                                ctx: &mut *ctx,
                            },
                            user,
                            m,
                        );
                    });
                    ctx.lend.lent = None;
                    panicked = run.is_err();
                    if ctx.lend.claimed.is_some() {
                        // Even after a panic: the queue's placeholder gets
                        // its bytes, then the connection is closed.
                        return Flow::Take;
                    }
                    if panicked {
                        return Flow::Stop;
                    }
                }
                RxEvent::Taken(buf) => {
                    if let Some(kind) = taking.take() {
                        core.held.push_owned(kind, buf.unwrap_or_default());
                        return Flow::Go;
                    }
                    let at = ctx.lend.claimed.take().expect("a claim precedes Taken");
                    if !core.fill_claim(ctx, at, buf) || panicked {
                        return Flow::Stop;
                    }
                }
                RxEvent::Ping(p) => {
                    if holding {
                        // Answered in order, after the messages before it.
                        core.held.push_copy(Kind::Ping, p);
                        return Flow::Go;
                    }
                    core.send_control(ctx, OpCode::Pong, p);
                }
                RxEvent::Pong => {}
                RxEvent::Close(code, reason) => {
                    if hand_over_all(h, core, ctx, id, user).is_err() {
                        panicked = true;
                        return Flow::Stop;
                    }
                    let code = code.unwrap_or(CloseCode::NO_STATUS);
                    // Echo the peer's code (RFC 6455 §5.5.1), or none if it sent none.
                    let echo = if code == CloseCode::NO_STATUS {
                        None
                    } else {
                        Some(code)
                    };
                    core.queue_close(ctx, echo, "");
                    end = Some((code, reason.to_owned()));
                    return Flow::Stop;
                }
                RxEvent::Compressed(..) => unreachable!("inflated above"),
                RxEvent::Error(e) => {
                    if hand_over_all(h, core, ctx, id, user).is_err() {
                        panicked = true;
                        return Flow::Stop;
                    }
                    core.queue_close(ctx, Some(e.close_code()), e.reason());
                    end = Some((e.close_code(), e.reason().to_owned()));
                    return Flow::Stop;
                }
            }
            // Backpressure: at the limit the handler could only queue more.
            // Hold what follows (pings too: their pongs are queued).
            if !core.close_sent() && core.buffered_amount() >= limit {
                holding = true;
            }
            Flow::Go
        });
        WorkerDeflate::trim(&mut inflated);
        ctx.deflate.inflate_buf = inflated;
        // A frame or message left in progress must finish in time.
        let t = ctx.limits.message_timeout_ms;
        if let (Some(since), false) = (rx.started_ms(), t == u64::MAX || core.close_sent()) {
            let due = since.saturating_add(t);
            if due < core.deadline_ms {
                core.set_deadline(ctx, due);
            }
        }
        if panicked {
            self.handler_panicked(h, ctx);
        } else if let Some((code, reason)) = end {
            self.close_now(h, ctx, code, &reason);
        }
    }

    /// Deliver `on_close` and move to `Closed`, flushing then half-closing.
    fn close_now<H: Handler<State = S>>(
        &mut self,
        h: &H,
        ctx: &mut ConnCtx,
        code: CloseCode,
        reason: &str,
    ) {
        match std::mem::replace(&mut self.phase, Phase::Closed) {
            Phase::Open { user, .. } => {
                ctx.stats.closed += 1;
                // The phase is already `Closed`: whatever happens, this is
                // the only `on_close` of the connection.
                if guarded(|| h.on_close(user, code, reason)).is_err() {
                    ctx.stats.handler_panics += 1;
                    tracing::error!("on_close panicked");
                }
            }
            Phase::Handshaking(_) | Phase::Closed => {}
        }
        self.core.finish(ctx);
    }

    /// The peer ended its side of the stream (or the socket failed). What is
    /// queued is still flushed; a failing send then abandons it.
    pub(crate) fn handle_eof<H: Handler<State = S>>(&mut self, h: &H, ctx: &mut ConnCtx) {
        self.close_now(h, ctx, CloseCode::ABNORMAL, "");
    }

    /// Server shutdown: close with 1001.
    pub(crate) fn going_away(&mut self, ctx: &mut ConnCtx) {
        match self.phase {
            Phase::Open { .. } => {
                self.core
                    .queue_close(ctx, Some(CloseCode::GOING_AWAY), "server shutting down");
            }
            Phase::Handshaking(_) => {
                self.phase = Phase::Closed;
                self.core.kill();
            }
            _ => {}
        }
    }

    /// The deadline passed (spurious calls are harmless: it re-checks).
    pub(crate) fn handle_timeout<H: Handler<State = S>>(&mut self, h: &H, ctx: &mut ConnCtx) {
        let now = ctx.now_ms;
        if self.core.teardown >= Teardown::Flushing {
            // Lingering too long, or the peer does not read our last bytes.
            self.core.kill();
            return;
        }
        match &mut self.phase {
            Phase::Handshaking(_) => {
                tracing::debug!("handshake timeout");
                self.phase = Phase::Closed;
                self.core.kill();
            }
            Phase::Open { .. } if self.core.close_sent() => {
                // No close frame came back in time.
                self.close_now(h, ctx, CloseCode::ABNORMAL, "");
                self.core.kill();
            }
            Phase::Open { .. } if self.core.flags.contains(Flags::BUDGET_PAUSED) => {
                // Paused by the memory budget, so nothing was received
                // since `last_rx_ms`. Still under pressure after the close
                // timeout: close it (a paused peer that vanished would
                // otherwise hold its bytes for good: nothing reads its end
                // of stream). Pressure gone: read again.
                let due = self
                    .core
                    .last_rx_ms
                    .saturating_add(ctx.limits.close_timeout_ms);
                if ctx.budget.below_low() {
                    self.core.flags.remove(Flags::BUDGET_PAUSED);
                    let idle = ctx.limits.idle_timeout_ms;
                    let next = self.core.last_rx_ms.saturating_add(idle).max(now + 1);
                    self.core.set_deadline(ctx, next);
                } else if now >= due {
                    self.close_for_budget(h, ctx);
                } else {
                    self.core.set_deadline(ctx, due);
                }
            }
            Phase::Open { rx, .. } => {
                // A frame or message begun too long ago: 1008, unless the
                // server itself paused the reads (its clock restarts then).
                let t = ctx.limits.message_timeout_ms;
                let mut message_due = match rx.started_ms() {
                    Some(since) if t != u64::MAX => since.saturating_add(t),
                    _ => u64::MAX,
                };
                if now >= message_due {
                    let paused = !self.core.held.is_empty()
                        || (self.core.buffered_amount() >= ctx.limits.send_buffer_limit);
                    if paused {
                        rx.restart_clock(now);
                        message_due = now.saturating_add(t);
                    } else {
                        ctx.stats.message_timeouts += 1;
                        tracing::debug!("message timeout: closing with 1008");
                        let code = CloseCode::POLICY;
                        self.core.queue_close(ctx, Some(code), "message timeout");
                        self.close_now(h, ctx, code, "message timeout");
                        return;
                    }
                }
                let idle = ctx.limits.idle_timeout_ms;
                let due = self.core.last_rx_ms.saturating_add(idle);
                let idle_next = if idle == u64::MAX {
                    u64::MAX
                } else if now < due {
                    due
                } else if !self.core.flags.contains(Flags::PINGED) {
                    self.core.send_control(ctx, OpCode::Ping, b"");
                    self.core.flags.insert(Flags::PINGED);
                    now.saturating_add(idle)
                } else {
                    self.core
                        .queue_close(ctx, Some(CloseCode::GOING_AWAY), "idle timeout");
                    return;
                };
                let next = idle_next.min(message_due);
                if next != u64::MAX {
                    self.core.set_deadline(ctx, next);
                }
            }
            Phase::Closed => self.core.kill(),
        }
    }

    /// The send in flight finished; returns `true` if `on_drain` is due.
    pub(crate) fn handle_sent(&mut self, result: Result<usize, i32>, ctx: &mut ConnCtx) -> bool {
        match result {
            Ok(n) if n > 0 => {
                ctx.stats.bytes_out += n as u64;
                if let Some(o) = &mut self.core.out {
                    o.queue.complete(n, &mut ctx.loans);
                }
                if self.core.buffered_amount() > 0 {
                    self.core.mark_dirty(ctx);
                } else {
                    self.core.release_out(ctx);
                }
                if self.core.flags.contains(Flags::OVER_LIMIT)
                    && self.core.buffered_amount() < ctx.limits.send_buffer_limit
                {
                    self.core.flags.remove(Flags::OVER_LIMIT);
                    return self.is_open();
                }
                false
            }
            _ => {
                if let Some(o) = &mut self.core.out {
                    o.queue.fail();
                    o.queue.clear(&mut ctx.loans);
                }
                self.core.release_out(ctx);
                self.core.kill();
                false
            }
        }
    }

    /// Call `on_drain` (the worker decided it is due).
    pub(crate) fn drain<H: Handler<State = S>>(&mut self, h: &H, ctx: &mut ConnCtx) {
        let id = self.core.id(ctx);
        let mut panicked = false;
        if let Phase::Open { user, .. } = &mut self.phase {
            let core = &mut self.core;
            panicked = guarded(|| h.on_drain(&mut Conn { id, core, ctx }, user)).is_err();
        }
        if panicked {
            self.handler_panicked(h, ctx);
        }
    }
}

/// Deliver one held event: a message to the handler (an assembled one lent
/// so that a send of exactly its bytes takes its buffer), a ping answered.
fn hand_over<S, H: Handler<State = S>>(
    h: &H,
    core: &mut ConnCore,
    ctx: &mut ConnCtx,
    id: ConnId,
    user: &mut S,
    ev: HeldEvent,
) -> Result<(), ()> {
    let text = match ev.kind {
        Kind::Ping => {
            core.send_control(ctx, OpCode::Pong, &ev.payload);
            return Ok(());
        }
        Kind::Text => true,
        Kind::Binary => false,
    };
    if core.close_sent() {
        return Ok(());
    }
    let bytes: &[u8] = &ev.payload;
    let m = if text {
        // Checked on arrival; this only makes the `&str` (no `unsafe`).
        match std::str::from_utf8(bytes) {
            Ok(t) => Message::Text(t),
            Err(_) => {
                tracing::error!("held text message is not UTF-8; dropping connection");
                core.kill();
                return Ok(());
            }
        }
    } else {
        Message::Binary(bytes)
    };
    ctx.lend.lent = matches!(ev.payload, Payload::Owned(_)).then(|| Lent {
        addr: bytes.as_ptr() as usize,
        len: bytes.len(),
    });
    let run = guarded(|| h.on_message(&mut Conn { id, core, ctx }, user, m));
    ctx.lend.lent = None;
    if let Some(at) = ctx.lend.claimed.take() {
        let buf = match ev.payload {
            Payload::Owned(v) => Some(v),
            Payload::Inline(_) => None,
        };
        core.fill_claim(ctx, at, buf);
    }
    run
}

/// Run a handler callback, catching a panic (in an unwinding build; with
/// `panic = "abort"` this is a plain call). The caller closes the
/// connection the panic came from.
fn guarded<R>(f: impl FnOnce() -> R) -> Result<R, ()> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|_| ())
}

/// Deliver everything held, whatever the send-buffer limit (a close or an
/// error follows: the connection is ending).
fn hand_over_all<S, H: Handler<State = S>>(
    h: &H,
    core: &mut ConnCore,
    ctx: &mut ConnCtx,
    id: ConnId,
    user: &mut S,
) -> Result<(), ()> {
    while let Some(ev) = core.held.pop() {
        hand_over(h, core, ctx, id, user, ev)?;
    }
    Ok(())
}
