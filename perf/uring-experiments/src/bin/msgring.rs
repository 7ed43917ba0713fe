//! Experiment 2: cross-ring wake-ups. `IORING_OP_MSG_RING` (5.18+; posts a
//! CQE straight into another ring) against what `engine/src/shard/cross.rs`
//! does now: a `Mutex<Vec<u64>>` plus an eventfd, written with `write(2)`
//! only when the queue was empty and read by the target ring with
//! `IORING_OP_READ`, re-armed after each completion.
//!
//! Two threads, A pinned to CPU 0 and B to CPU 1, each with its own
//! engine-style ring (`SINGLE_ISSUER | DEFER_TASKRUN | COOP_TASKRUN`), each
//! blocking in `io_uring_enter` (`submit_and_wait(1)`) whenever it has
//! nothing to do, as an engine worker does.
//!
//! - Ping-pong: A sends a u64, B answers it, A times the round trip.
//! - Flood: A sends N u64s one way. B acknowledges every 1,024 (same
//!   mechanism, reverse direction) and A keeps at most 4,096 unacknowledged,
//!   so B's completion queue cannot overflow; acks cost < 0.1 % of messages.
//!   MSG_RING is tried submitting every message on its own and in batches
//!   of 32 SQEs per `io_uring_enter`; the mutex+eventfd sender locks per
//!   message, as `Mailbox::push` does.
//! - A third mechanism keeps the engine's mutex queue but rings the doorbell
//!   with MSG_RING instead of the eventfd (only when the queue was empty),
//!   so the target needs no `IORING_OP_READ` to re-arm.
//!
//! With `DEFER_TASKRUN` on the target, MSG_RING is delivered as task work to
//! the target's thread and posted when that thread enters the kernel to
//! wait; our waiting threads always do. The sender's own CQE is suppressed
//! with `IOSQE_CQE_SKIP_SUCCESS` (errors still post one).
//!
//! Usage: `msgring [--quick] [--out PATH]`.

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::Instant;

use io_uring::{opcode, squeue, types, IoUring};
use ringws_uring_experiments::{
    engine_ring, environment, median, percentile, pin_to_cpu, quick, result_path, thread_cpu_ns,
    Json,
};

/// `user_data` of the sender-side CQE of a MSG_RING (posted only on error).
const SRC_UD: u64 = u64::MAX;
/// `user_data` of the eventfd read.
const WAKE_UD: u64 = u64::MAX - 1;
/// `user_data` of a doorbell CQE (mode `Doorbell`).
const BELL_UD: u64 = u64::MAX - 3;
/// Payload that tells B to stop (ping-pong).
const STOP: u64 = u64::MAX - 2;
/// `res` carried by MSG_RING data CQEs (anything non-negative would do).
const MSG_TAG: i32 = 7;

const FLOOD_WINDOW: u64 = 4096;
const ACK_EVERY: u64 = 1024;
const REPS: usize = 3;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    /// MSG_RING, `batch` SQEs per submit.
    MsgRing { batch: usize },
    /// Mutex<Vec<u64>> + eventfd + IORING_OP_READ.
    Eventfd,
    /// Mutex<Vec<u64>> with MSG_RING as the doorbell instead of the eventfd:
    /// one MSG_RING CQE when the queue was empty, no READ to re-arm.
    Doorbell,
}

impl Mode {
    fn name(self) -> String {
        match self {
            Mode::MsgRing { batch } => format!("MSG_RING (batch {batch})"),
            Mode::Eventfd => "mutex+eventfd".into(),
            Mode::Doorbell => "mutex+MSG_RING bell".into(),
        }
    }
}

/// The engine's `Mailbox`, with a u64 instead of a `Command`.
struct Mailbox {
    queue: Mutex<Vec<u64>>,
    eventfd: RawFd,
}

impl Mailbox {
    fn new() -> io::Result<Self> {
        // SAFETY: plain syscall, no pointers.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Self {
            queue: Mutex::new(Vec::new()),
            eventfd: fd,
        })
    }

    /// Queue `v`; write the eventfd if the queue was empty. Returns whether
    /// it wrote.
    fn push(&self, v: u64) -> bool {
        let was_empty = {
            let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
            let e = q.is_empty();
            q.push(v);
            e
        };
        if was_empty {
            let one: u64 = 1;
            // SAFETY: writes 8 bytes from a live u64 to our eventfd.
            let _ =
                unsafe { libc::write(self.eventfd, &one as *const u64 as *const libc::c_void, 8) };
        }
        was_empty
    }

    /// Queue `v` without touching the eventfd. Returns whether the queue
    /// was empty (the caller rings its own doorbell then).
    fn push_quiet(&self, v: u64) -> bool {
        let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        let e = q.is_empty();
        q.push(v);
        e
    }

    fn drain_into(&self, out: &mut Vec<u64>) {
        let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        out.append(&mut q);
    }
}

impl Drop for Mailbox {
    fn drop(&mut self) {
        // SAFETY: we own the fd and close it once.
        unsafe { libc::close(self.eventfd) };
    }
}

/// State shared by the two threads of a run.
struct Shared {
    ring_fds: [AtomicI32; 2],
    mailboxes: [Mailbox; 2],
    barrier: Barrier,
}

/// One thread's side: its ring and how it reaches the other side.
struct Endpoint<'a> {
    ring: IoUring,
    mode: Mode,
    me: usize,
    shared: &'a Shared,
    peer_ring_fd: RawFd,
    /// Eventfd read target; boxed so its address is stable while armed.
    wake_buf: Box<u64>,
    unsubmitted: usize,
    /// Returns from `submit_and_wait` that delivered at least one message.
    wakeups: u64,
    /// Returns from `submit_and_wait` in total.
    enters: u64,
    doorbells: u64,
}

impl<'a> Endpoint<'a> {
    fn new(me: usize, mode: Mode, shared: &'a Shared) -> io::Result<Self> {
        pin_to_cpu(me)?;
        let ring = engine_ring(64, 16384)?;
        shared.ring_fds[me].store(ring.as_raw_fd(), Ordering::SeqCst);
        shared.barrier.wait();
        let peer_ring_fd = shared.ring_fds[1 - me].load(Ordering::SeqCst);
        let mut this = Self {
            ring,
            mode,
            me,
            shared,
            peer_ring_fd,
            wake_buf: Box::new(0),
            unsubmitted: 0,
            wakeups: 0,
            enters: 0,
            doorbells: 0,
        };
        if mode == Mode::Eventfd {
            this.arm_wake();
        }
        Ok(this)
    }

    fn push(&mut self, e: &squeue::Entry) {
        loop {
            // SAFETY: entries point only at `wake_buf` (boxed, lives in
            // `self` until the ring is dropped) or carry no pointers at all.
            if unsafe { self.ring.submission().push(e) }.is_ok() {
                return;
            }
            self.ring.submit().expect("submit while SQ full");
            self.unsubmitted = 0;
        }
    }

    fn arm_wake(&mut self) {
        let fd = self.shared.mailboxes[self.me].eventfd;
        let e = opcode::Read::new(types::Fd(fd), &mut *self.wake_buf as *mut u64 as *mut u8, 8)
            .build()
            .user_data(WAKE_UD);
        self.push(&e);
    }

    /// Send `v` to the other side (submitted now, or with the batch).
    fn send(&mut self, v: u64) {
        match self.mode {
            Mode::MsgRing { batch } => {
                self.msg_ring(v);
                self.unsubmitted += 1;
                if self.unsubmitted >= batch {
                    self.flush();
                }
            }
            Mode::Eventfd => {
                if self.shared.mailboxes[1 - self.me].push(v) {
                    self.doorbells += 1;
                }
            }
            Mode::Doorbell => {
                if self.shared.mailboxes[1 - self.me].push_quiet(v) {
                    self.doorbells += 1;
                    self.msg_ring(BELL_UD);
                    self.unsubmitted += 1;
                    self.flush();
                }
            }
        }
    }

    /// Queue one MSG_RING carrying `user_data` to the other ring.
    fn msg_ring(&mut self, user_data: u64) {
        let e = opcode::MsgRingData::new(types::Fd(self.peer_ring_fd), MSG_TAG, user_data, None)
            .build()
            .flags(squeue::Flags::SKIP_SUCCESS)
            .user_data(SRC_UD);
        self.push(&e);
    }

    /// Submit queued MSG_RING SQEs without waiting.
    fn flush(&mut self) {
        if self.unsubmitted > 0 {
            self.ring.submit().expect("io_uring_enter");
            self.unsubmitted = 0;
        }
    }

    /// Block in `io_uring_enter` until at least one message has arrived;
    /// append every arrived message to `out`.
    fn wait(&mut self, out: &mut Vec<u64>) {
        loop {
            match self.ring.submit_and_wait(1) {
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
                Err(e) => panic!("submit_and_wait: {e}"),
            }
            self.enters += 1;
            self.unsubmitted = 0;
            let mut woke = false;
            let mut bell = false;
            let before = out.len();
            let cqes: Vec<_> = self
                .ring
                .completion()
                .map(|c| (c.user_data(), c.result()))
                .collect();
            for (ud, res) in cqes {
                match ud {
                    SRC_UD => panic!("MSG_RING failed: {}", io::Error::from_raw_os_error(-res)),
                    WAKE_UD => {
                        assert!(res == 8, "eventfd read: {res}");
                        woke = true;
                    }
                    BELL_UD => bell = true,
                    v => {
                        debug_assert_eq!(res, MSG_TAG);
                        out.push(v);
                    }
                }
            }
            if woke {
                // Re-arm first, then drain: a push after the drain finds
                // the queue empty and writes the eventfd again.
                self.arm_wake();
                self.shared.mailboxes[self.me].drain_into(out);
            }
            if bell {
                self.shared.mailboxes[self.me].drain_into(out);
            }
            if out.len() > before {
                self.wakeups += 1;
                return;
            }
        }
    }
}

struct Side {
    cpu_ns: u64,
    wakeups: u64,
    enters: u64,
    doorbells: u64,
}

/// Run `a` on CPU 0 and `b` on CPU 1, each with its endpoint; both keep
/// their rings open until the other is done (MSG_RING targets a ring fd).
fn run_pair<RA: Send + 'static, RB: Send + 'static>(
    mode: Mode,
    a: impl FnOnce(&mut Endpoint) -> RA + Send + 'static,
    b: impl FnOnce(&mut Endpoint) -> RB + Send + 'static,
) -> io::Result<(RA, Side, RB, Side)> {
    let shared = Arc::new(Shared {
        ring_fds: [AtomicI32::new(-1), AtomicI32::new(-1)],
        mailboxes: [Mailbox::new()?, Mailbox::new()?],
        barrier: Barrier::new(2),
    });
    fn side<R>(
        me: usize,
        mode: Mode,
        shared: Arc<Shared>,
        f: impl FnOnce(&mut Endpoint) -> R,
    ) -> io::Result<(R, Side)> {
        let mut ep = Endpoint::new(me, mode, &shared)?;
        shared.barrier.wait(); // both rings armed
        let cpu0 = thread_cpu_ns();
        let r = f(&mut ep);
        let cpu = thread_cpu_ns() - cpu0;
        shared.barrier.wait(); // both done before either ring closes
        Ok((
            r,
            Side {
                cpu_ns: cpu,
                wakeups: ep.wakeups,
                enters: ep.enters,
                doorbells: ep.doorbells,
            },
        ))
    }
    let sb = shared.clone();
    let tb = thread::spawn(move || side(1, mode, sb, b));
    let sa = shared.clone();
    let ta = thread::spawn(move || side(0, mode, sa, a));
    let (ra, side_a) = ta.join().expect("thread A")?;
    let (rb, side_b) = tb.join().expect("thread B")?;
    Ok((ra, side_a, rb, side_b))
}

struct PingPong {
    rtt_ns: Vec<u64>,
    a: Side,
    b: Side,
}

fn ping_pong(mode: Mode, warmup: u64, n: u64) -> io::Result<PingPong> {
    let a = move |ep: &mut Endpoint| {
        let mut rtt = Vec::with_capacity(n as usize);
        let mut got = Vec::new();
        for i in 0..warmup + n {
            let t0 = Instant::now();
            ep.send(i);
            ep.flush();
            got.clear();
            ep.wait(&mut got);
            let dt = t0.elapsed().as_nanos() as u64;
            assert_eq!(got, [i], "one answer per ping, in order");
            if i >= warmup {
                rtt.push(dt);
            }
        }
        ep.send(STOP);
        ep.flush();
        rtt
    };
    let b = |ep: &mut Endpoint| {
        let mut got = Vec::new();
        loop {
            got.clear();
            ep.wait(&mut got);
            for &v in &got {
                if v == STOP {
                    return;
                }
                ep.send(v);
            }
            ep.flush();
        }
    };
    let (mut rtt, sa, (), sb) = run_pair(mode, a, b)?;
    rtt.sort_unstable();
    Ok(PingPong {
        rtt_ns: rtt,
        a: sa,
        b: sb,
    })
}

struct Flood {
    n: u64,
    wall_s: f64,
    a: Side,
    b: Side,
}

fn flood(mode: Mode, n: u64) -> io::Result<Flood> {
    let a = move |ep: &mut Endpoint| {
        let start = Instant::now();
        let mut got = Vec::new();
        let mut acked = 0u64;
        for i in 0..n {
            while i - acked >= FLOOD_WINDOW {
                ep.flush();
                got.clear();
                ep.wait(&mut got);
                acked = acked.max(got.iter().copied().max().unwrap_or(0));
            }
            ep.send(i);
        }
        ep.flush();
        while acked < n {
            got.clear();
            ep.wait(&mut got);
            acked = acked.max(got.iter().copied().max().unwrap_or(0));
        }
        start.elapsed().as_secs_f64()
    };
    let b = move |ep: &mut Endpoint| {
        let mut got = Vec::new();
        let mut count = 0u64;
        while count < n {
            got.clear();
            ep.wait(&mut got);
            let before = count;
            count += got.len() as u64;
            if count / ACK_EVERY > before / ACK_EVERY || count == n {
                ep.send(count);
                ep.flush();
            }
        }
    };
    let (wall_s, sa, (), sb) = run_pair(mode, a, b)?;
    Ok(Flood {
        n,
        wall_s,
        a: sa,
        b: sb,
    })
}

fn side_json(s: &Side, msgs: u64) -> Json {
    Json::obj([
        ("cpu_ns", Json::Int(s.cpu_ns as i64)),
        (
            "cpu_ns_per_message",
            Json::Num(s.cpu_ns as f64 / msgs as f64),
        ),
        ("wakeups_with_messages", Json::Int(s.wakeups as i64)),
        ("io_uring_enter_waits", Json::Int(s.enters as i64)),
        ("doorbells_rung", Json::Int(s.doorbells as i64)),
    ])
}

fn main() -> io::Result<()> {
    let quick = quick();
    let (warmup, rtts) = if quick {
        (1_000, 20_000)
    } else {
        (2_000, 120_000)
    };
    let flood_n: u64 = if quick { 100_000 } else { 1_000_000 };

    let pp_modes = [Mode::MsgRing { batch: 1 }, Mode::Eventfd, Mode::Doorbell];
    let flood_modes = [
        Mode::MsgRing { batch: 1 },
        Mode::MsgRing { batch: 32 },
        Mode::Eventfd,
        Mode::Doorbell,
    ];

    let mut pp: Vec<Vec<PingPong>> = pp_modes.iter().map(|_| Vec::new()).collect();
    let mut fl: Vec<Vec<Flood>> = flood_modes.iter().map(|_| Vec::new()).collect();
    for _ in 0..REPS {
        for (i, &m) in pp_modes.iter().enumerate() {
            pp[i].push(ping_pong(m, warmup, rtts)?);
        }
        for (i, &m) in flood_modes.iter().enumerate() {
            fl[i].push(flood(m, flood_n)?);
        }
    }

    println!("ping-pong A(CPU 0) <-> B(CPU 1), {rtts} round trips × {REPS} runs (medians of per-run values)");
    println!(
        "{:>20} {:>9} {:>9} {:>9} {:>9} {:>12} {:>12} {:>16}",
        "mechanism",
        "p50 µs",
        "p90 µs",
        "p99 µs",
        "p99.9 µs",
        "A CPU ns/rt",
        "B CPU ns/rt",
        "pooled p50/p99"
    );
    let mut pp_rows = Vec::new();
    for (i, &m) in pp_modes.iter().enumerate() {
        let rs = &pp[i];
        let pct = |p: f64| {
            median(
                &rs.iter()
                    .map(|r| percentile(&r.rtt_ns, p) as f64 / 1e3)
                    .collect::<Vec<_>>(),
            )
        };
        let acpu = median(
            &rs.iter()
                .map(|r| r.a.cpu_ns as f64 / rtts as f64)
                .collect::<Vec<_>>(),
        );
        let bcpu = median(
            &rs.iter()
                .map(|r| r.b.cpu_ns as f64 / rtts as f64)
                .collect::<Vec<_>>(),
        );
        let mut pooled: Vec<u64> = rs.iter().flat_map(|r| r.rtt_ns.iter().copied()).collect();
        pooled.sort_unstable();
        let pooled_p50 = percentile(&pooled, 50.0) as f64 / 1e3;
        let pooled_p99 = percentile(&pooled, 99.0) as f64 / 1e3;
        println!(
            "{:>20} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>12.0} {:>12.0} {:>16}",
            m.name(),
            pct(50.0),
            pct(90.0),
            pct(99.0),
            pct(99.9),
            acpu,
            bcpu,
            format!("{pooled_p50:.2}/{pooled_p99:.2}")
        );
        pp_rows.push(Json::obj([
            ("mechanism", Json::s(m.name())),
            ("round_trips_per_run", Json::Int(rtts as i64)),
            ("p50_us_median", Json::Num(pct(50.0))),
            ("p90_us_median", Json::Num(pct(90.0))),
            ("p99_us_median", Json::Num(pct(99.0))),
            ("p99_9_us_median", Json::Num(pct(99.9))),
            ("pooled_round_trips", Json::Int(pooled.len() as i64)),
            ("pooled_p50_us", Json::Num(pooled_p50)),
            ("pooled_p99_us", Json::Num(pooled_p99)),
            ("a_cpu_ns_per_round_trip_median", Json::Num(acpu)),
            ("b_cpu_ns_per_round_trip_median", Json::Num(bcpu)),
            (
                "runs",
                Json::Arr(
                    rs.iter()
                        .map(|r| {
                            Json::obj([
                                (
                                    "p50_us",
                                    Json::Num(percentile(&r.rtt_ns, 50.0) as f64 / 1e3),
                                ),
                                (
                                    "p99_us",
                                    Json::Num(percentile(&r.rtt_ns, 99.0) as f64 / 1e3),
                                ),
                                (
                                    "p99_9_us",
                                    Json::Num(percentile(&r.rtt_ns, 99.9) as f64 / 1e3),
                                ),
                                (
                                    "max_us",
                                    Json::Num(*r.rtt_ns.last().unwrap_or(&0) as f64 / 1e3),
                                ),
                                ("a", side_json(&r.a, rtts)),
                                ("b", side_json(&r.b, rtts)),
                            ])
                        })
                        .collect(),
                ),
            ),
        ]));
    }

    println!();
    println!("one-way flood A -> B, {flood_n} messages × {REPS} runs, window {FLOOD_WINDOW}, ack every {ACK_EVERY} (medians)");
    println!(
        "{:>20} {:>10} {:>12} {:>12} {:>12} {:>12}",
        "mechanism", "Mmsg/s", "A CPU ns/msg", "B CPU ns/msg", "B msgs/wake", "A doorbells"
    );
    let mut fl_rows = Vec::new();
    for (i, &m) in flood_modes.iter().enumerate() {
        let rs = &fl[i];
        let med = |f: &dyn Fn(&Flood) -> f64| median(&rs.iter().map(f).collect::<Vec<_>>());
        let rate = med(&|r| r.n as f64 / r.wall_s / 1e6);
        let acpu = med(&|r| r.a.cpu_ns as f64 / r.n as f64);
        let bcpu = med(&|r| r.b.cpu_ns as f64 / r.n as f64);
        let per_wake = med(&|r| r.n as f64 / r.b.wakeups.max(1) as f64);
        let efdw = med(&|r| r.a.doorbells as f64);
        println!(
            "{:>20} {:>10.2} {:>12.0} {:>12.0} {:>12.1} {:>12.0}",
            m.name(),
            rate,
            acpu,
            bcpu,
            per_wake,
            efdw
        );
        fl_rows.push(Json::obj([
            ("mechanism", Json::s(m.name())),
            ("messages_per_run", Json::Int(flood_n as i64)),
            ("million_messages_per_s_median", Json::Num(rate)),
            ("a_cpu_ns_per_message_median", Json::Num(acpu)),
            ("b_cpu_ns_per_message_median", Json::Num(bcpu)),
            ("b_messages_per_wakeup_median", Json::Num(per_wake)),
            ("a_doorbells_median", Json::Num(efdw)),
            (
                "runs",
                Json::Arr(
                    rs.iter()
                        .map(|r| {
                            Json::obj([
                                ("wall_s", Json::Num(r.wall_s)),
                                ("a", side_json(&r.a, r.n)),
                                ("b", side_json(&r.b, r.n)),
                            ])
                        })
                        .collect(),
                ),
            ),
        ]));
    }

    let mut top = environment();
    top.extend([
        (
            "experiment".to_string(),
            Json::s("cross-ring wake-up: IORING_OP_MSG_RING vs Mutex<Vec<u64>> + eventfd + IORING_OP_READ"),
        ),
        (
            "settings".to_string(),
            Json::obj([
                ("thread_a_cpu", Json::Int(0)),
                ("thread_b_cpu", Json::Int(1)),
                ("ring_entries", Json::s("SQ 64, CQ 16384")),
                ("repetitions", Json::Int(REPS as i64)),
                ("ping_pong_warmup", Json::Int(warmup as i64)),
                ("ping_pong_round_trips", Json::Int(rtts as i64)),
                ("flood_messages", Json::Int(flood_n as i64)),
                ("flood_window", Json::Int(FLOOD_WINDOW as i64)),
                ("flood_ack_every", Json::Int(ACK_EVERY as i64)),
                ("msg_ring_sender_cqe", Json::s("IOSQE_CQE_SKIP_SUCCESS")),
                ("eventfd_flags", Json::s("EFD_NONBLOCK|EFD_CLOEXEC, written only when the queue was empty")),
                ("waiting", Json::s("both threads block in submit_and_wait(1); no busy polling")),
                ("cpu_clock", Json::s("CLOCK_THREAD_CPUTIME_ID (kernel without IRQ_TIME_ACCOUNTING: softirq work on the thread is charged to it)")),
                ("quick", Json::Bool(quick)),
            ]),
        ),
        ("ping_pong".to_string(), Json::Arr(pp_rows)),
        ("flood".to_string(), Json::Arr(fl_rows)),
    ]);
    let path = result_path("uring-experiments-msgring.json");
    std::fs::write(&path, Json::Obj(top).render())?;
    println!("\nwrote {}", path.display());
    Ok(())
}
