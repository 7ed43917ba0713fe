//! One worker: a pinned thread that owns a reactor, a listener and its shard
//! of the connection table, and runs the event loop.
//!
//! A loop turn: wait for completions → route each to its connection (the
//! state machine queues output and sets flags) → run due timers → take the
//! inbox → for every connection with queued output and no send in flight,
//! start one vectored send → publish counters. Settling a connection also
//! applies backpressure: at its send-buffer limit its receive is paused
//! (bytes already delivered are held), below it they are processed and
//! the receive re-armed. Just before waiting, the worker rings every other
//! worker it owes a doorbell (see `cross.rs`). On io_uring every send,
//! re-arm and `MSG_RING` doorbell of the turn is submitted by the next
//! turn's single `submit_and_wait`.

use std::io;
use std::os::fd::RawFd;
use std::sync::{mpsc, Arc};
use std::time::Instant;

use ringws_codec::HandshakeConfig;

use super::cross::Command;
use super::slab::Slab;
use super::{Config, Shared};
use crate::conn::{
    Armed, Budget, ConnCtx, Connection, Current, Fanout, FanoutCache, Flags, Handler, Limits,
    Loans, LocalStats, Plan, Pressure, RxConfig, Step, Teardown, Timers, TlsAcceptor, Topics,
    Transport, WorkerDeflate, PAUSE_MIN,
};
use crate::reactor::{sys, Completion, Reactor, ReactorConfig, Token};

fn ms(d: std::time::Duration) -> u64 {
    d.as_millis().min(u64::MAX as u128 / 2) as u64
}

/// Start one thread per listener; returns once every reactor is built (so
/// an io_uring set-up failure is reported to `start`).
pub(crate) fn spawn_workers<H: Handler>(
    cfg: Config,
    listeners: Vec<Vec<RawFd>>,
    handler: Arc<H>,
    shared: Arc<Shared>,
) -> io::Result<()> {
    let cpus = sys::allowed_cpus();
    let (ready_tx, ready_rx) = mpsc::channel::<io::Result<()>>();
    let mut threads = Vec::new();
    let n = listeners.len();
    for (i, mine) in listeners.into_iter().enumerate() {
        let cfg = cfg.clone();
        let handler = handler.clone();
        let shared_w = shared.clone();
        let ready = ready_tx.clone();
        let cpu = if cfg.pin_workers && !cpus.is_empty() {
            Some(cpus[i % cpus.len()])
        } else {
            None
        };
        let t = std::thread::Builder::new()
            .name(format!("ringws-worker-{i}"))
            .spawn(move || {
                let shared = shared_w;
                if let Some(cpu) = cpu {
                    if let Err(e) = sys::pin_to_cpu(cpu) {
                        tracing::warn!(worker = i, cpu, error = %e, "could not pin worker");
                    }
                }
                match Worker::new(i as u16, &cfg, mine.clone(), handler, shared.clone()) {
                    Ok(mut w) => {
                        let _ = ready.send(Ok(()));
                        drop(ready);
                        // A handler's panic is caught per callback and
                        // costs only its connection (`conn/state.rs`); a
                        // panic in the engine itself takes the worker (and
                        // its connections) down: say so, don't vanish.
                        let run =
                            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| w.run()));
                        match run {
                            Ok(Ok(())) => {}
                            Ok(Err(e)) => tracing::error!(worker = i, error = %e, "worker failed"),
                            Err(_) => tracing::error!(
                                worker = i,
                                "worker panicked; its connections are dropped"
                            ),
                        }
                    }
                    Err(e) => {
                        mine.iter().for_each(|&fd| sys::close(fd));
                        // Never started: the others need not wait for it.
                        shared.mailboxes[i].stopped();
                        let _ = ready.send(Err(e));
                    }
                }
            });
        let t = match t {
            Ok(t) => t,
            Err(e) => {
                // Workers i.. never run: the started ones must not wait for
                // them when they stop. (The started ones are left running,
                // as before.)
                shared.mailboxes[i..].iter().for_each(|mb| mb.stopped());
                return Err(e);
            }
        };
        threads.push(t);
    }
    drop(ready_tx);
    let mut first_err = None;
    for _ in 0..n {
        match ready_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => first_err = first_err.or(Some(e)),
            Err(_) => {
                first_err = first_err.or(Some(io::Error::other("worker thread died during start")))
            }
        }
    }
    *shared.threads.lock().unwrap_or_else(|p| p.into_inner()) = threads;
    if let Some(e) = first_err {
        for mb in &shared.mailboxes {
            mb.push(Command::Shutdown(Instant::now()));
        }
        let threads =
            std::mem::take(&mut *shared.threads.lock().unwrap_or_else(|p| p.into_inner()));
        for t in threads {
            let _ = t.join();
        }
        return Err(e);
    }
    Ok(())
}

struct Worker<H: Handler> {
    id: u16,
    reactor: Reactor,
    listeners: Vec<RawFd>,
    slab: Slab<Connection<H::State>>,
    handler: Arc<H>,
    shared: Arc<Shared>,
    /// What connections and handlers may reach of the worker.
    ctx: ConnCtx,
    /// Fan-out from other workers and threads, delivered with the flush.
    fanin: Vec<Fanout>,
    hs: HandshakeConfig,
    max_conns: usize,
    start: Instant,
    events: Vec<Completion>,
    inbox: Vec<Command>,
    /// Scratch for the doorbells owed to other workers (`ring_bells`).
    owed: Vec<u16>,
    /// Graceful-shutdown deadline (ms on the worker clock).
    shutdown_at: Option<u64>,
    accept_errors: u64,
    next_accept_log_ms: u64,
    /// The least payload still to come that makes a frame go straight
    /// into its message buffer (`None`: off). The buffers lent to the
    /// kernel meanwhile are kept by the book of loans (`ctx.loans`).
    direct_min: Option<usize>,
    /// Makes the TLS session of a connection accepted on a TLS listener.
    tls: Option<TlsAcceptor>,
    /// Per listener (index in `listeners`): whether it serves TLS.
    listener_tls: Vec<bool>,
}

/// Most bytes one direct receive asks for (a larger frame takes several):
/// what a peer that announces a huge frame and sends little can make the
/// server reserve ahead of its bytes, as for assembly.
const DIRECT_MAX: usize = 1 << 20;

impl<H: Handler> Worker<H> {
    fn new(
        id: u16,
        cfg: &Config,
        listeners: Vec<RawFd>,
        handler: Arc<H>,
        shared: Arc<Shared>,
    ) -> io::Result<Self> {
        let idle_ms = cfg.idle_timeout.map(ms).unwrap_or(u64::MAX);
        let handshake_ms = ms(cfg.handshake_timeout);
        let close_ms = ms(cfg.close_timeout);
        let message_ms = cfg.message_timeout.map(ms).unwrap_or(u64::MAX);
        // Tick often enough for the shortest timeout to be roughly honoured.
        let shortest = idle_ms.min(handshake_ms).min(close_ms).min(message_ms);
        let tick = std::time::Duration::from_millis((shortest / 8).clamp(5, 250));
        let (buf_count, buf_size) = cfg.recv_geometry(cfg.backend);
        let rcfg = ReactorConfig {
            sq_entries: 1024,
            buf_count,
            buf_size,
            tick,
            incremental: cfg.incremental_recv,
        };
        let mut reactor = Reactor::new(cfg.backend, &rcfg)?;
        reactor.arm_wake(shared.mailboxes[id as usize].eventfd())?;
        for &l in &listeners {
            reactor.arm_accept(l)?;
        }
        let ctx = ConnCtx {
            worker: id,
            dirty: Vec::new(),
            limits: Limits {
                send_buffer_limit: cfg.send_buffer_limit,
                handshake_timeout_ms: handshake_ms,
                idle_timeout_ms: idle_ms,
                close_timeout_ms: close_ms,
                close_after_drops: cfg.close_after_drops,
                message_timeout_ms: message_ms,
            },
            rx: RxConfig {
                max_message_size: cfg.max_message_size,
                max_frame_size: cfg.max_frame_size,
                deflate: false,
            },
            now_ms: 0,
            timers: Timers::default(),
            stats: LocalStats::default(),
            scratch: Vec::new(),
            tls_plain: Vec::new(),
            out_pool: Vec::new(),
            topics: Topics::default(),
            outbox: Vec::new(),
            lend: Default::default(),
            loans: Loans::new(reactor.recv_buffer_count(), cfg.send_from_recv_buffers),
            budget: Budget::new(cfg.worker_budget()),
            link: shared.clone(),
            deflate: WorkerDeflate::new(cfg.compression),
            drops: Default::default(),
        };
        let mut ctx = ctx;
        // The receive ring is memory held for peers too: a fixed charge.
        let ring = buf_count as usize * buf_size as usize;
        ctx.budget.charge(ring);
        if ctx.budget.limit() < 2 * ring {
            tracing::warn!(
                worker = id,
                budget = ctx.budget.limit(),
                ring,
                "memory budget per worker is less than twice its receive ring; most of it is taken before any peer sends"
            );
        }
        let direct_min = cfg.direct_recv_min;
        tracing::debug!(
            worker = id,
            backend = %reactor.backend(),
            incremental_recv = reactor.incremental_recv(),
            ?direct_min,
            "worker started"
        );
        Ok(Self {
            id,
            reactor,
            listeners,
            slab: Slab::new(),
            handler,
            shared,
            ctx,
            hs: HandshakeConfig::default(),
            max_conns: cfg.max_connections_per_worker,
            start: Instant::now(),
            events: Vec::with_capacity(256),
            inbox: Vec::new(),
            fanin: Vec::new(),
            owed: Vec::new(),
            shutdown_at: None,
            accept_errors: 0,
            next_accept_log_ms: 0,
            direct_min,
            tls: cfg.tls.clone().map(TlsAcceptor::new),
            listener_tls: cfg.listener_tls.clone(),
        })
    }

    fn run(&mut self) -> io::Result<()> {
        // From here on other io_uring workers may ring this ring; it stays
        // open until every worker has stopped (`Drop`).
        self.shared.mailboxes[self.id as usize].set_ring_fd(self.reactor.bell_fd());
        loop {
            // Every doorbell owed (handlers anywhere in the last turn, the
            // flush, a forced close) goes out with this wait's submission.
            self.ring_bells();
            for buf in self.ctx.loans.freed.drain(..) {
                self.reactor.recycle(buf);
            }
            let mut events = std::mem::take(&mut self.events);
            // Lent receive buffers keep their pages (no idle trim).
            self.reactor
                .turn(&mut events, !self.ctx.loans.outstanding())?;
            self.ctx.stats.loop_turns += 1;
            self.ctx.now_ms = self.start.elapsed().as_millis() as u64;
            for ev in events.drain(..) {
                self.on_completion(ev);
            }
            self.events = events;
            self.run_timers();
            self.flush();
            let d = &self.ctx.deflate;
            self.ctx.stats.compressions = d.compressions;
            self.ctx.stats.inflated = d.inflated;
            self.ctx.stats.fanout_compressions = d.fanout_compressions;
            self.enforce_budget();
            self.shared.stats[self.id as usize].publish(
                self.slab.len(),
                &self.ctx.stats,
                self.ctx.budget.used(),
            );
            if let Some(at) = self.shutdown_at {
                if self.slab.len() == 0 {
                    break;
                }
                if self.ctx.now_ms >= at {
                    self.force_close_all();
                    // Give the cancellations a bounded number of turns.
                    if self.ctx.now_ms >= at + 1000 {
                        tracing::warn!(
                            worker = self.id,
                            left = self.slab.len(),
                            "shutdown: abandoning connections"
                        );
                        break;
                    }
                }
            }
        }
        self.listeners.iter().for_each(|&fd| sys::close(fd));
        Ok(())
    }

    fn on_completion(&mut self, ev: Completion) {
        match ev {
            Completion::Accepted(listener, Ok(fd)) => self.on_accept(listener, fd),
            Completion::Accepted(_, Err(errno)) => {
                // Rate-limited: under descriptor exhaustion this repeats.
                self.accept_errors += 1;
                if self.ctx.now_ms >= self.next_accept_log_ms {
                    self.next_accept_log_ms = self.ctx.now_ms + 1000;
                    let err = std::io::Error::from_raw_os_error(errno);
                    tracing::warn!(worker = self.id, error = %err, total = self.accept_errors, "accept failed");
                }
            }
            Completion::Data { token, buf } => {
                self.ctx.stats.recv_completions += 1;
                if let Some((_, c)) = self.slab.get_mut_masked(token.slot, token.gen) {
                    if c.core.teardown >= Teardown::FinSent {
                        // Lingering after our FIN: discard.
                    } else {
                        // SAFETY: the slice is used only inside this call and
                        // the buffer is recycled right after (or parked while
                        // sends lent its bytes, which nothing writes to).
                        let data = unsafe { buf.bytes() };
                        let range = data.as_ptr_range();
                        self.ctx.loans.current = Some(Current {
                            start: range.start as usize,
                            end: range.end as usize,
                            id: buf.id(),
                        });
                        c.handle_data(data, &*self.handler, &mut self.ctx);
                        self.ctx.loans.current = None;
                    }
                }
                if let Some(buf) = self.ctx.loans.release(buf) {
                    self.reactor.recycle(buf);
                }
                self.settle(token);
            }
            Completion::RecvEnded { token, end } => {
                let Some((_, c)) = self.slab.get_mut_masked(token.slot, token.gen) else {
                    return;
                };
                if let Some(buf) = self.ctx.loans.direct_back(token.slot) {
                    // A direct receive ended with nothing: the message
                    // buffer goes back to the receiver as it was.
                    c.handle_direct(buf, 0, &*self.handler, &mut self.ctx);
                }
                c.recv_ended(end, &*self.handler, &mut self.ctx);
                self.settle(token);
            }
            Completion::Direct { token, len } => {
                self.ctx.stats.recv_completions += 1;
                self.ctx.stats.direct_bytes += len as u64;
                let buf = self.ctx.loans.direct_done(token.slot, len);
                let Some((_, c)) = self.slab.get_mut_masked(token.slot, token.gen) else {
                    return;
                };
                c.core.recv.direct_done();
                if let (Some(buf), false) = (buf, c.core.teardown >= Teardown::FinSent) {
                    c.handle_direct(buf, len, &*self.handler, &mut self.ctx);
                }
                // `settle` arms the next receive, or pauses.
                self.settle(token);
            }
            Completion::Sent { token, result } => {
                let Some((_, c)) = self.slab.get_mut_masked(token.slot, token.gen) else {
                    tracing::error!(?token, "send completion for an unknown connection");
                    return;
                };
                if c.handle_sent(result, &mut self.ctx) {
                    c.drain(&*self.handler, &mut self.ctx);
                }
                self.settle(token);
            }
            Completion::Tick => {}
            Completion::Wake => self.on_wake(),
        }
    }

    fn on_accept(&mut self, listener: u32, fd: RawFd) {
        if self.shutdown_at.is_some() || self.slab.len() >= self.max_conns {
            sys::close(fd);
            return;
        }
        let transport = match (self.listener_tls.get(listener as usize), self.tls.as_mut()) {
            (Some(true), Some(tls)) => match tls.accept() {
                Ok(t) => Transport::Tls(Box::new(t)),
                Err(e) => {
                    tracing::warn!(error = %e, "TLS session could not be made; closing");
                    sys::close(fd);
                    return;
                }
            },
            _ => Transport::Plain,
        };
        let (slot, gen) = self.slab.vacant_id();
        let token = Token { slot, gen };
        let conn = Connection::new(fd, token, self.hs, transport, &mut self.ctx);
        let inserted = self.slab.insert(conn);
        debug_assert_eq!(inserted, (slot, gen));
        // `settle` arms its receive.
        self.settle(token);
    }

    /// Act on what the state machine decided: the receive step it
    /// returns (pause or resume reading for backpressure, go direct),
    /// half-close after the flush, stop the receive of an abandoned
    /// connection, release the connection when nothing is in flight.
    fn settle(&mut self, token: Token) {
        let Some((gen, c)) = self.slab.get_mut_masked(token.slot, token.gen) else {
            return;
        };
        let step = c.poll_recv(self.direct_min, &*self.handler, &mut self.ctx);
        let min = self.direct_min;
        Self::execute(&mut self.reactor, &mut self.ctx.loans, min, token, c, step);
        Self::account(&mut self.ctx, token, c);
        if c.core.teardown == Teardown::Flushing
            && !c.core.in_flight()
            && c.core.buffered_amount() == 0
        {
            c.core.teardown = Teardown::FinSent;
            // FIN after our last bytes; keep reading (and discarding) so a
            // close with unread input does not turn into a reset that could
            // destroy the close frame on its way.
            // A syscall, not a ring op: `IORING_OP_SHUTDOWN` runs later in a
            // kernel worker and looks the descriptor up by number then, by
            // when the socket may be closed and the number reused by a new
            // connection (a churn test caught exactly that). Closing through
            // the ring measured no better than `close` (docs/decisions.md).
            let _ = sys::syscall!(shutdown(c.core.fd, libc::SHUT_WR));
            if self.shutdown_at.is_some() {
                // Shutting down: the closing handshake is done, do not
                // linger for the peer's FIN.
                c.core.kill();
            }
        }
        if c.core.is_dead() {
            // Abandon output: drop what is queued; a send stuck in flight
            // (peer not reading) is ended by shutting the socket down.
            if c.core.in_flight() {
                if c.core.teardown != Teardown::Aborted {
                    c.core.teardown = Teardown::Aborted;
                    sys::shutdown(c.core.fd);
                }
            } else if c.core.buffered_amount() > 0 {
                if let Some(o) = &mut c.core.out {
                    o.queue.clear(&mut self.ctx.loans);
                }
                c.core.release_out(&mut self.ctx);
            }
            let step = c.core.recv.stop();
            Self::execute(&mut self.reactor, &mut self.ctx.loans, None, token, c, step);
        }
        // Release once nothing is in flight and nothing is left to do: the
        // receive has ended, no send is in flight, and either our last
        // bytes and FIN are out or the connection was abandoned.
        let c = self.slab.get_mut(token.slot, gen).expect("present");
        if !c.core.recv.is_armed()
            && !c.core.in_flight()
            && (c.core.is_dead()
                || (c.core.teardown == Teardown::FinSent && c.core.buffered_amount() == 0))
        {
            let c = self.slab.remove(token.slot, gen).expect("present");
            self.ctx.budget.release(c.core.charged as usize);
            let streams = c.core.pmd().release(&mut self.ctx.deflate);
            self.ctx.budget.release(streams);
            if !self.ctx.drops.is_empty() {
                self.ctx.drops.remove(&token.slot);
            }
            // A receive ended by a pause leaves epoll's registration.
            self.reactor.forget_recv(token, c.core.fd);
            sys::close(c.core.fd);
            if c.core.flags.contains(Flags::SUBSCRIBED) {
                self.ctx.topics.remove_all((token.slot, gen));
            }
        }
    }

    /// Count the connection's footprint (partial message, send queue,
    /// held events) in the worker's memory budget.
    fn account(ctx: &mut ConnCtx, token: Token, c: &mut Connection<H::State>) {
        let lent = ctx.loans.direct_capacity(token.slot);
        let now = c.footprint(lent).min(u32::MAX as usize);
        let mut charged = c.core.charged as usize;
        ctx.budget.recharge(&mut charged, now);
        c.core.charged = charged as u32;
    }

    /// Apply the memory budget once per turn (see `conn/budget.rs`): at the
    /// soft mark pause reads of the connections holding the largest
    /// partial messages, at the hard mark close them with 1013 until usage
    /// is below the soft mark; below the low mark read them again.
    fn enforce_budget(&mut self) {
        let pressure = self.ctx.budget.pressure();
        if pressure == Pressure::Normal {
            if self.ctx.budget.paused_now > 0 && self.ctx.budget.below_low() {
                self.ctx.budget.paused_now = 0;
                for (slot, gen) in self.slab.ids() {
                    if let Some(c) = self.slab.get_mut(slot, gen) {
                        if c.core.flags.contains(Flags::BUDGET_PAUSED) {
                            c.core.flags.remove(Flags::BUDGET_PAUSED);
                            self.settle(Token { slot, gen });
                        }
                    }
                }
            }
            return;
        }
        // The connections holding the largest partial messages, largest
        // first.
        let mut big: Vec<(usize, u32, u32)> = Vec::new();
        for (slot, gen) in self.slab.ids() {
            if let Some(c) = self.slab.get_mut(slot, gen) {
                if !c.is_open() {
                    continue;
                }
                let partial = c.partial_bytes(self.ctx.loans.direct_capacity(slot));
                if partial >= PAUSE_MIN {
                    big.push((partial, slot, gen));
                }
            }
        }
        big.sort_unstable_by_key(|b| std::cmp::Reverse(b.0));
        if pressure == Pressure::Hard {
            let mut need = self.ctx.budget.excess_over_soft();
            for (partial, slot, gen) in big {
                if need == 0 {
                    break;
                }
                if let Some(c) = self.slab.get_mut(slot, gen) {
                    tracing::debug!(
                        worker = self.id,
                        partial,
                        "memory budget: closing with 1013"
                    );
                    c.close_for_budget(&*self.handler, &mut self.ctx);
                    need = need.saturating_sub(partial);
                }
                self.settle(Token { slot, gen });
            }
            // The close frames go out with this turn's flush.
            self.flush();
        } else {
            // Settling pauses them (`Connection::poll_recv`).
            for (_, slot, gen) in big {
                self.settle(Token { slot, gen });
            }
        }
    }

    /// Do what the connection's receive state asked for.
    fn execute(
        reactor: &mut Reactor,
        loans: &mut Loans,
        direct_min: Option<usize>,
        token: Token,
        c: &mut Connection<H::State>,
        step: Step,
    ) {
        match step {
            Step::Idle | Step::PeerEnded => {}
            Step::Arm => Self::arm(reactor, loans, direct_min, token, c),
            Step::Cancel => reactor.pause_recv(token, c.core.fd),
            Step::Stop => reactor.stop_recv(token, c.core.fd),
        }
    }

    /// Arm the receive the connection plans; what the reactor refuses
    /// falls back to the next kind, and a multishot that cannot be armed
    /// abandons the connection.
    fn arm(
        reactor: &mut Reactor,
        loans: &mut Loans,
        direct_min: Option<usize>,
        token: Token,
        c: &mut Connection<H::State>,
    ) {
        let fd = c.core.fd;
        let mut plan = c.plan_receive(direct_min, DIRECT_MAX);
        loop {
            plan = match plan {
                Plan::Direct(buf, room) => {
                    debug_assert!(room <= DIRECT_MAX);
                    // The book holds the buffer before the kernel sees it.
                    let ptr = loans.lend_direct(token.slot, buf, room);
                    // SAFETY: `room` bytes of spare capacity are reserved at
                    // `ptr` (`lend_direct` checked). The book keeps the
                    // buffer until this receive's completion (and never
                    // frees it if dropped first), nothing reads it meanwhile,
                    // and the slot is not released while the receive is armed.
                    if unsafe { reactor.recv_into(token, fd, ptr, room as u32) } {
                        c.core.recv.armed(Armed::Direct);
                        return;
                    }
                    let buf = loans.direct_back(token.slot).expect("just lent");
                    c.direct_refused(buf)
                }
                Plan::Short(len) => {
                    if reactor.arm_recv_short(token, fd, len).is_ok() {
                        c.core.recv.armed(Armed::Short);
                        return;
                    }
                    Plan::Multishot
                }
                Plan::Multishot => {
                    match reactor.arm_recv(token, fd) {
                        Ok(()) => c.core.recv.armed(Armed::Multishot),
                        Err(e) => {
                            tracing::warn!(error = %e, "arming receive failed");
                            c.core.recv.arm_failed();
                            c.core.kill();
                        }
                    }
                    return;
                }
            };
        }
    }

    fn run_timers(&mut self) {
        let now = self.ctx.now_ms;
        while let Some((when, slot, gen)) = self.ctx.timers.pop_due(now) {
            let Some(c) = self.slab.get_mut(slot, gen) else {
                continue;
            };
            if c.core.timer_at != when {
                continue; // superseded by an earlier entry
            }
            c.core.timer_at = u64::MAX;
            if c.core.deadline_ms <= now {
                c.handle_timeout(&*self.handler, &mut self.ctx);
            }
            let c = self.slab.get_mut(slot, gen).expect("present");
            if c.core.timer_at == u64::MAX && c.core.deadline_ms != u64::MAX {
                let d = c.core.deadline_ms.max(now + 1);
                c.core.timer_at = d;
                self.ctx.timers.push(d, slot, gen);
            }
            self.settle(Token { slot, gen });
        }
    }

    fn on_wake(&mut self) {
        let mut inbox = std::mem::take(&mut self.inbox);
        self.shared.mailboxes[self.id as usize].drain_into(&mut inbox);
        for cmd in inbox.drain(..) {
            match cmd {
                Command::SendTo(id, frame) => match self.slab.get_mut(id.slot(), id.gen()) {
                    Some(c) if c.is_open() => {
                        c.core.send_frame(&mut self.ctx, frame);
                    }
                    _ => self.ctx.stats.stale_dropped += 1,
                },
                Command::Broadcast(frame) => self.fanin.push(Fanout::All(frame)),
                Command::Publish(topic, frame) => self.fanin.push(Fanout::Topic(topic, frame)),
                Command::Shutdown(at) => {
                    let at_ms = ms(at.saturating_duration_since(self.start));
                    self.shutdown_at = Some(at_ms);
                    self.reactor.stop_accept();
                    for (slot, gen) in self.slab.ids() {
                        if let Some(c) = self.slab.get_mut(slot, gen) {
                            c.going_away(&mut self.ctx);
                            if c.core.teardown == Teardown::FinSent {
                                // Already closed and lingering for the
                                // peer's FIN: not worth delaying shutdown.
                                c.core.kill();
                            }
                        }
                        self.settle(Token { slot, gen });
                    }
                }
            }
        }
        self.inbox = inbox;
    }

    /// Ring each worker owed a doorbell: `IORING_OP_MSG_RING` when both
    /// rings take it (queued here, submitted by the coming `turn`), the
    /// target's eventfd otherwise.
    fn ring_bells(&mut self) {
        let me = &self.shared.mailboxes[self.id as usize];
        let mut owed = std::mem::take(&mut self.owed);
        me.take_owed(&mut owed);
        for t in owed.drain(..) {
            let mb = &self.shared.mailboxes[t as usize];
            let rung = match mb.ring_fd() {
                Some(fd) => self.reactor.ring_bell(fd, mb.eventfd()),
                None => false,
            };
            if !rung {
                mb.wake();
            }
        }
        self.owed = owed;
    }

    fn force_close_all(&mut self) {
        for (slot, gen) in self.slab.ids() {
            if let Some(c) = self.slab.get_mut(slot, gen) {
                if !c.core.is_dead() {
                    c.handle_eof(&*self.handler, &mut self.ctx);
                    c.core.kill();
                }
            }
            self.settle(Token { slot, gen });
        }
    }

    /// The one fan-out path. Frames from this worker's handlers (the
    /// outbox) go to the other workers' inboxes first; then every frame
    /// for this worker's connections, from its handlers or from elsewhere,
    /// is queued on each open recipient, sharing its bytes.
    fn fan_out(&mut self) {
        let mine = std::mem::take(&mut self.ctx.outbox);
        // Multi-node pub/sub: this node's publishes go to the broker too.
        self.shared.cluster.publish_outbox(&mine);
        let mbs = &self.shared.mailboxes;
        let me = self.id as usize;
        for f in &mine {
            for (i, mb) in mbs.iter().enumerate().filter(|&(i, _)| i != me) {
                let cmd = match f {
                    Fanout::All(frame) => Command::Broadcast(frame.clone()),
                    Fanout::Topic(topic, frame) | Fanout::TopicExcept(topic, frame, _) => {
                        Command::Publish(topic.clone(), frame.clone())
                    }
                };
                mb.push_from_worker(cmd, &mbs[me], i as u16);
            }
        }
        let mut fanin = std::mem::take(&mut self.fanin);
        fanin.extend(mine);
        // Broadcasts first, in one pass over the table, then publishes.
        // Each frame is compressed at most once per window for the
        // connections that negotiated permessage-deflate (see FanoutCache).
        let mut caches: Vec<FanoutCache> = fanin.iter().map(|_| FanoutCache::default()).collect();
        if fanin.iter().any(|f| matches!(f, Fanout::All(_))) {
            for (slot, gen) in self.slab.ids() {
                if let Some(c) = self.slab.get_mut(slot, gen) {
                    if c.is_open() {
                        for (f, cache) in fanin.iter().zip(&mut caches) {
                            if let Fanout::All(frame) = f {
                                c.core.send_fanout(&mut self.ctx, frame.clone(), cache);
                            }
                        }
                    }
                }
            }
        }
        let mut ids = Vec::new();
        for (f, cache) in fanin.iter().zip(&mut caches) {
            let (topic, frame, except) = match f {
                Fanout::Topic(topic, frame) => (topic, frame, None),
                Fanout::TopicExcept(topic, frame, except) => (topic, frame, Some(*except)),
                Fanout::All(_) => continue,
            };
            {
                self.ctx.topics.subscribers(topic, &mut ids);
                for &(slot, gen) in ids.iter().filter(|&&id| Some(id) != except) {
                    if let Some(c) = self.slab.get_mut(slot, gen) {
                        if c.is_open() {
                            c.core.send_fanout(&mut self.ctx, frame.clone(), cache);
                        }
                    }
                }
            }
        }
        fanin.clear();
        self.fanin = fanin;
    }

    /// Start one vectored send per connection with queued output.
    fn flush(&mut self) {
        // Settling may run handlers on held bytes, which queue more output
        // and fan-out: go round until nothing new was marked.
        loop {
            self.fan_out();
            while !self.ctx.dirty.is_empty() {
                let mut dirty = std::mem::take(&mut self.ctx.dirty);
                self.flush_dirty(&mut dirty);
                if self.ctx.dirty.is_empty() {
                    self.ctx.dirty = dirty;
                }
            }
            if self.ctx.outbox.is_empty() {
                break;
            }
        }
        // Subscriptions added and removed this turn → node-level counts,
        // the subscription hook and the broker (see `cluster.rs`).
        let mut changes = Vec::new();
        self.ctx.topics.take_changes(&mut changes);
        self.shared.cluster.apply(&mut changes, &*self.handler);
    }

    fn flush_dirty(&mut self, dirty: &mut Vec<Token>) {
        for token in dirty.drain(..) {
            let Some(c) = self.slab.get_mut(token.slot, token.gen) else {
                continue;
            };
            c.core.flags.remove(Flags::DIRTY);
            if c.core.is_dead() {
                self.settle(token);
                continue;
            }
            let fd = c.core.fd;
            if let Some(o) = &mut c.core.out {
                // Plaintext queued this turn becomes wire bytes (a no-op
                // for plain TCP).
                if !c.core.transport.seal(&mut o.queue) {
                    tracing::debug!("plaintext could not be sealed; dropping the connection");
                    c.core.kill();
                    self.settle(token);
                    continue;
                }
                if !o.queue.in_flight() && o.queue.prepare(&mut o.op) {
                    let msg: *const libc::msghdr = &o.op.hdr;
                    // SAFETY: the msghdr lives in the connection's boxed
                    // `Outgoing`, which is not released or reused while a
                    // send is in flight, and the segments it points at are
                    // locked in its queue until `Sent`; the slot itself is
                    // not released while a send is in flight.
                    if let Err(e) = unsafe { self.reactor.send(token, fd, msg) } {
                        tracing::warn!(error = %e, "send submission failed");
                    }
                    self.ctx.stats.sends += 1;
                }
            }
            c.core.release_out(&mut self.ctx);
            self.settle(token);
        }
    }
}

impl<H: Handler> Drop for Worker<H> {
    fn drop(&mut self) {
        // Remaining sockets (abandoned after the shutdown deadline).
        for (slot, gen) in self.slab.ids() {
            if let Some(c) = self.slab.get_mut(slot, gen) {
                sys::shutdown(c.core.fd);
                sys::close(c.core.fd);
            }
        }
        // Shutdown ordering (`cross.rs`): withdraw the ring fd, ring what
        // is still owed by eventfd (nothing more will be submitted), then
        // keep the ring open until no other worker can still be about to
        // submit a `MSG_RING` naming it. A worker that failed or panicked
        // therefore parks here until the server shuts down.
        let me = &self.shared.mailboxes[self.id as usize];
        me.set_ring_fd(None);
        me.take_owed(&mut self.owed);
        for t in self.owed.drain(..) {
            self.shared.mailboxes[t as usize].wake();
        }
        me.stopped();
        for mb in &self.shared.mailboxes {
            mb.wait_stopped();
        }
    }
}
