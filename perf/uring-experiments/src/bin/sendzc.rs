//! Experiment 1: `IORING_OP_SEND_ZC` (6.0+) against `IORING_OP_SEND` and
//! `IORING_OP_SENDMSG` (what the engine uses) on loopback TCP, and a check
//! for a multishot-receive stall after zero-copy sends from the same ring.
//!
//! Throughput part: a sender thread pinned to CPU 0 owns an engine-style ring
//! and keeps one send in flight on a connected 127.0.0.1 socket (as the
//! engine does per connection; a short send is re-issued for the rest). A
//! receiver thread pinned to CPU 1 drains the other end with blocking
//! `recv(2)` into a 1 MiB buffer. For SEND_ZC the sender rotates through 8
//! buffers and reuses one only after its notification CQE
//! (`IORING_CQE_F_NOTIF`); `IORING_SEND_ZC_REPORT_USAGE` makes the
//! notification say whether the kernel copied after all. Each (size, mode)
//! runs 3 times, interleaved; the medians are reported.
//!
//! Stall part: one ring sends with SEND_ZC on socket A while a multishot
//! `IORING_OP_RECV` with a provided buffer ring receives, on socket B (or on
//! A itself), what a peer thread echoes back. Every wait has a timeout: if
//! bytes are outstanding and no completion arrives for 2 s, the scenario
//! reports a stall, with how many bytes sit unread in the receive socket.
//!
//! Usage: `sendzc [--quick] [--out PATH]`.

use std::io;
use std::net::TcpStream;
use std::os::fd::{AsRawFd, RawFd};
use std::thread;
use std::time::{Duration, Instant};

use io_uring::{cqueue, opcode, types, IoUring};
use ringws_uring_experiments::{
    engine_ring, environment, median, pin_to_cpu, quick, result_path, submit_wait_timeout,
    tcp_pair, thread_cpu_ns, BufRing, Json,
};

/// `IORING_SEND_ZC_REPORT_USAGE` (6.2+), in the SQE's `ioprio`.
const SEND_ZC_REPORT_USAGE: u16 = 1 << 3;
/// `IORING_NOTIF_USAGE_ZC_COPIED`: set in a notification's `res` when the
/// kernel copied the data instead of sending the pages.
const NOTIF_USAGE_ZC_COPIED: i32 = 1 << 31;

const SIZES: [usize; 5] = [4 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20];
const REPS: usize = 3;
/// Buffers a SEND_ZC sender rotates through while notifications are pending.
const ZC_BUFFERS: usize = 8;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Send,
    SendMsg,
    SendZc,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Send => "SEND",
            Mode::SendMsg => "SENDMSG",
            Mode::SendZc => "SEND_ZC",
        }
    }
}

/// One send op's bookkeeping: which buffer, how far into it.
struct Sender {
    mode: Mode,
    bufs: Vec<Vec<u8>>,
    /// Notifications still owed per buffer; a buffer is reusable at 0.
    /// Signed: a notification could in principle overtake its result CQE.
    notif_pending: Vec<i32>,
    /// Kept in boxes so their addresses are stable while a SENDMSG is in
    /// flight; rewritten only when no op is in flight.
    iov: Box<libc::iovec>,
    msg: Box<libc::msghdr>,
    ops: u64,
    partial: u64,
    notifs: u64,
    copied: u64,
}

impl Sender {
    fn new(mode: Mode, size: usize, nbufs: usize) -> Self {
        Self {
            mode,
            bufs: (0..nbufs).map(|i| vec![(i as u8) | 1; size]).collect(),
            notif_pending: vec![0; nbufs],
            iov: Box::new(libc::iovec {
                iov_base: std::ptr::null_mut(),
                iov_len: 0,
            }),
            // SAFETY: msghdr is plain data; all-zero is a valid empty header.
            msg: Box::new(unsafe { std::mem::zeroed() }),
            ops: 0,
            partial: 0,
            notifs: 0,
            copied: 0,
        }
    }

    fn idle(&self) -> bool {
        self.notif_pending.iter().all(|&n| n == 0)
    }

    /// Queue a send of `bufs[buf][off..len]` on `fd`, `user_data` = `buf`.
    fn push(&mut self, ring: &mut IoUring, fd: RawFd, buf: usize, off: usize, len: usize) {
        debug_assert!(off < len && len <= self.bufs[buf].len());
        // SAFETY: off < len ≤ the buffer's length, so the pointer stays
        // inside the allocation.
        let ptr = unsafe { self.bufs[buf].as_ptr().add(off) };
        let n = (len - off) as u32;
        let entry = match self.mode {
            Mode::Send => opcode::Send::new(types::Fd(fd), ptr, n)
                .flags(libc::MSG_NOSIGNAL)
                .build(),
            Mode::SendMsg => {
                self.iov.iov_base = ptr as *mut libc::c_void;
                self.iov.iov_len = n as usize;
                self.msg.msg_iov = &mut *self.iov;
                self.msg.msg_iovlen = 1;
                opcode::SendMsg::new(types::Fd(fd), &*self.msg)
                    .flags(libc::MSG_NOSIGNAL as u32)
                    .build()
            }
            Mode::SendZc => opcode::SendZc::new(types::Fd(fd), ptr, n)
                .flags(libc::MSG_NOSIGNAL)
                .zc_flags(SEND_ZC_REPORT_USAGE)
                .build(),
        }
        .user_data(buf as u64);
        // SAFETY: the buffer (a Vec we never resize) and the boxed
        // iovec/msghdr live in `self` until the op and, for SEND_ZC, its
        // notification have completed: callers wait for both before
        // touching or dropping them.
        unsafe { ring.submission().push(&entry) }.expect("SQ has room: one op in flight");
        self.ops += 1;
    }

    /// Account a send-side CQE. Returns `Some(bytes)` for a result CQE,
    /// `None` for a notification.
    fn complete(&mut self, ud: u64, res: i32, flags: u32) -> Option<i32> {
        let buf = ud as usize;
        if cqueue::notif(flags) {
            self.notif_pending[buf] -= 1;
            self.notifs += 1;
            if res & NOTIF_USAGE_ZC_COPIED != 0 {
                self.copied += 1;
            }
            return None;
        }
        if cqueue::more(flags) {
            self.notif_pending[buf] += 1;
        }
        Some(res)
    }
}

struct RunResult {
    bytes: u64,
    wall_s: f64,
    sender_cpu_ns: u64,
    receiver_cpu_ns: u64,
    ops: u64,
    partial: u64,
    notifs: u64,
    copied: u64,
}

fn recv_all(s: TcpStream) -> (u64, u64) {
    pin_to_cpu(1).expect("pin receiver to CPU 1");
    let fd = s.as_raw_fd();
    let mut buf = vec![0u8; 1 << 20];
    let cpu0 = thread_cpu_ns();
    let mut total = 0u64;
    loop {
        // SAFETY: `buf` is a live, writable buffer of the length passed.
        let n = unsafe { libc::recv(fd, buf.as_mut_ptr() as *mut libc::c_void, buf.len(), 0) };
        if n == 0 {
            break;
        }
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            panic!("receiver recv: {e}");
        }
        total += n as u64;
    }
    (total, thread_cpu_ns() - cpu0)
}

fn send_for(mode: Mode, size: usize, s: TcpStream, dur: Duration) -> io::Result<RunResult> {
    pin_to_cpu(0)?;
    let mut ring = engine_ring(64, 256)?;
    let fd = s.as_raw_fd();
    let nbufs = if mode == Mode::SendZc { ZC_BUFFERS } else { 1 };
    let mut snd = Sender::new(mode, size, nbufs);
    // (buffer, offset) of the send in flight.
    let mut cur: Option<(usize, usize)> = None;
    let mut next = 0usize;
    let mut sent = 0u64;
    let mut stopping = false;
    let start = Instant::now();
    let cpu0 = thread_cpu_ns();
    loop {
        if cur.is_none() && !stopping {
            if start.elapsed() >= dur {
                stopping = true;
            } else if snd.notif_pending[next] == 0 {
                cur = Some((next, 0));
                snd.push(&mut ring, fd, next, 0, size);
                next = (next + 1) % nbufs;
            }
        }
        if stopping && cur.is_none() && snd.idle() {
            break;
        }
        ring.submit_and_wait(1)?;
        let cqes: Vec<_> = ring
            .completion()
            .map(|c| (c.user_data(), c.result(), c.flags()))
            .collect();
        for (ud, res, flags) in cqes {
            let Some(res) = snd.complete(ud, res, flags) else {
                continue;
            };
            if res < 0 {
                return Err(io::Error::from_raw_os_error(-res));
            }
            sent += res as u64;
            let (buf, off) = cur.take().expect("a send was in flight");
            let off = off + res as usize;
            if off < size {
                snd.partial += 1;
                cur = Some((buf, off));
                snd.push(&mut ring, fd, buf, off, size);
            }
        }
    }
    let wall = start.elapsed().as_secs_f64();
    let cpu = thread_cpu_ns() - cpu0;
    drop(ring);
    s.shutdown(std::net::Shutdown::Write)?;
    Ok(RunResult {
        bytes: sent,
        wall_s: wall,
        sender_cpu_ns: cpu,
        receiver_cpu_ns: 0,
        ops: snd.ops,
        partial: snd.partial,
        notifs: snd.notifs,
        copied: snd.copied,
    })
}

fn run_once(mode: Mode, size: usize, dur: Duration) -> io::Result<RunResult> {
    let (tx, rx) = tcp_pair()?;
    let receiver = thread::spawn(move || recv_all(rx));
    let sender = thread::spawn(move || send_for(mode, size, tx, dur));
    let mut r = sender.join().expect("sender thread")?;
    let (got, rcpu) = receiver.join().expect("receiver thread");
    assert_eq!(got, r.bytes, "receiver got every byte sent");
    r.receiver_cpu_ns = rcpu;
    Ok(r)
}

// ---------------------------------------------------------------- stall test

#[derive(Clone, Copy)]
enum Topology {
    /// Send on A, peer echoes A's bytes back on a second connection B.
    TwoSockets,
    /// Send and multishot-receive on the same connection.
    SameSocket,
}

struct StallScenario {
    topology: Topology,
    mode: Mode,
    bufring_entries: u16,
}

/// Byte at stream offset `o` of the test stream.
fn pattern(o: u64) -> u8 {
    (o % 251) as u8
}

/// Echo peer: copy everything from `from` to `to` until EOF.
fn echo_peer(from: TcpStream, to: Option<TcpStream>) {
    pin_to_cpu(1).expect("pin peer to CPU 1");
    let _ = from.set_read_timeout(Some(Duration::from_secs(10)));
    let rfd = from.as_raw_fd();
    let wfd = to.as_ref().map_or(rfd, |t| t.as_raw_fd());
    let mut buf = vec![0u8; 256 << 10];
    loop {
        // SAFETY: `buf` is a live, writable buffer of the length passed.
        let n = unsafe { libc::recv(rfd, buf.as_mut_ptr() as *mut libc::c_void, buf.len(), 0) };
        if n <= 0 {
            break;
        }
        let mut off = 0usize;
        while off < n as usize {
            // SAFETY: `off..n` lies inside `buf`, which is initialised.
            let w = unsafe {
                libc::send(
                    wfd,
                    buf.as_ptr().add(off) as *const libc::c_void,
                    n as usize - off,
                    libc::MSG_NOSIGNAL,
                )
            };
            if w <= 0 {
                return;
            }
            off += w as usize;
        }
    }
    let _ = to
        .as_ref()
        .unwrap_or(&from)
        .shutdown(std::net::Shutdown::Write);
}

fn unread_bytes(fd: RawFd) -> i64 {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one c_int through the pointer.
    let r = unsafe { libc::ioctl(fd, libc::FIONREAD, &mut n) };
    if r == 0 {
        n as i64
    } else {
        -1
    }
}

const RECV_UD: u64 = 1 << 32;
const STALL_TIMEOUT: Duration = Duration::from_secs(2);
const WINDOW: u64 = 512 << 10;
const MSG_SIZES: [usize; 5] = [64, 1000, 4096, 16384, 65536];

fn stall_run(sc: &StallScenario, dur: Duration) -> io::Result<Json> {
    let (a, a_peer) = tcp_pair()?;
    let (b, peer_out) = match sc.topology {
        Topology::TwoSockets => {
            let (b, b_peer) = tcp_pair()?;
            (Some(b), Some(b_peer))
        }
        Topology::SameSocket => (None, None),
    };
    let peer = thread::spawn(move || echo_peer(a_peer, peer_out));
    pin_to_cpu(0)?;
    let send_fd = a.as_raw_fd();
    let recv_fd = b.as_ref().map_or(send_fd, |b| b.as_raw_fd());

    let mut ring = engine_ring(64, 1024)?;
    let mut bufs = BufRing::register(&ring, sc.bufring_entries, 4096, 0)?;
    let arm_recv = |ring: &mut IoUring| {
        let e = opcode::RecvMulti::new(types::Fd(recv_fd), 0)
            .build()
            .user_data(RECV_UD);
        // SAFETY: the multishot writes only into buffers of the registered
        // ring `bufs`, which outlives `ring` (dropped explicitly below).
        unsafe { ring.submission().push(&e) }.expect("SQ has room");
    };
    arm_recv(&mut ring);

    let mut snd = Sender::new(sc.mode, 65536, ZC_BUFFERS);
    let mut cur: Option<(usize, usize, usize)> = None; // (buf, off, len)
    let (mut next, mut msg_i) = (0usize, 0usize);
    let (mut sent, mut received) = (0u64, 0u64);
    let (mut recv_cqes, mut enobufs_rearms, mut other_rearms) = (0u64, 0u64, 0u64);
    let mut corrupt = false;
    let mut eof = false;
    let mut stall: Option<Json> = None;
    let mut stopping = false;
    let start = Instant::now();
    let mut last_progress = Instant::now();

    loop {
        if !stopping && start.elapsed() >= dur {
            stopping = true;
        }
        if cur.is_none() && !stopping {
            let len = MSG_SIZES[msg_i % MSG_SIZES.len()];
            if sent - received + len as u64 <= WINDOW && snd.notif_pending[next] == 0 {
                for (i, byte) in snd.bufs[next][..len].iter_mut().enumerate() {
                    *byte = pattern(sent + i as u64);
                }
                cur = Some((next, 0, len));
                snd.push(&mut ring, send_fd, next, 0, len);
                next = (next + 1) % ZC_BUFFERS;
                msg_i += 1;
            }
        }
        if stopping && cur.is_none() && snd.idle() && received == sent {
            break;
        }
        if !submit_wait_timeout(&ring, 1, STALL_TIMEOUT)? {
            stall = Some(Json::obj([
                ("after_s", Json::Num(start.elapsed().as_secs_f64())),
                (
                    "since_last_progress_s",
                    Json::Num(last_progress.elapsed().as_secs_f64()),
                ),
                ("bytes_sent", Json::Int(sent as i64)),
                ("bytes_received", Json::Int(received as i64)),
                ("send_in_flight", Json::Bool(cur.is_some())),
                ("notifications_pending", Json::Bool(!snd.idle())),
                (
                    "unread_bytes_in_recv_socket",
                    Json::Int(unread_bytes(recv_fd)),
                ),
            ]));
            break;
        }
        let cqes: Vec<_> = ring
            .completion()
            .map(|c| (c.user_data(), c.result(), c.flags()))
            .collect();
        for (ud, res, flags) in cqes {
            if ud == RECV_UD {
                recv_cqes += 1;
                if let Some(bid) = cqueue::buffer_select(flags) {
                    if res > 0 {
                        let data = bufs.data(bid, res as usize);
                        if data
                            .iter()
                            .enumerate()
                            .any(|(i, &x)| x != pattern(received + i as u64))
                        {
                            corrupt = true;
                        }
                        received += res as u64;
                        last_progress = Instant::now();
                    }
                    bufs.recycle(bid);
                }
                if !cqueue::more(flags) {
                    match res {
                        0 => eof = true,
                        r if r == -libc::ENOBUFS => enobufs_rearms += 1,
                        r if r < 0 => return Err(io::Error::from_raw_os_error(-r)),
                        _ => other_rearms += 1,
                    }
                    if !eof {
                        arm_recv(&mut ring);
                    }
                }
                continue;
            }
            let Some(res) = snd.complete(ud, res, flags) else {
                continue;
            };
            if res < 0 {
                return Err(io::Error::from_raw_os_error(-res));
            }
            sent += res as u64;
            let (buf, off, len) = cur.take().expect("a send was in flight");
            let off = off + res as usize;
            if off < len {
                snd.partial += 1;
                cur = Some((buf, off, len));
                snd.push(&mut ring, send_fd, buf, off, len);
            }
        }
        if eof {
            break;
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    drop(ring);
    drop(bufs);
    drop(a);
    drop(b);
    let _ = peer.join();
    let name = format!(
        "{}, {}, buffer ring {}×4 KiB",
        match sc.topology {
            Topology::TwoSockets => "send on A, multishot recv on B (echo A→B)",
            Topology::SameSocket => "send and multishot recv on the same socket (echo)",
        },
        sc.mode.name(),
        sc.bufring_entries
    );
    Ok(Json::obj([
        ("scenario", Json::s(name)),
        ("send_op", Json::s(sc.mode.name())),
        ("bufring_entries", Json::Int(sc.bufring_entries as i64)),
        ("seconds", Json::Num(elapsed)),
        ("messages_sent", Json::Int(msg_i as i64)),
        ("bytes_sent", Json::Int(sent as i64)),
        ("bytes_received", Json::Int(received as i64)),
        ("recv_cqes", Json::Int(recv_cqes as i64)),
        ("multishot_rearms_enobufs", Json::Int(enobufs_rearms as i64)),
        ("multishot_rearms_other", Json::Int(other_rearms as i64)),
        ("zc_notifications", Json::Int(snd.notifs as i64)),
        ("zc_copied_notifications", Json::Int(snd.copied as i64)),
        ("data_corrupt", Json::Bool(corrupt)),
        ("unexpected_eof", Json::Bool(eof)),
        ("stalled", Json::Bool(stall.is_some())),
        ("stall", stall.unwrap_or(Json::Null)),
    ]))
}

fn main() -> io::Result<()> {
    let quick = quick();
    let dur = Duration::from_millis(if quick { 150 } else { 700 });
    let stall_dur = Duration::from_millis(if quick { 500 } else { 2500 });
    let modes = [Mode::Send, Mode::SendMsg, Mode::SendZc];

    // results[size][mode] = runs
    let mut runs: Vec<Vec<Vec<RunResult>>> = (0..SIZES.len())
        .map(|_| (0..modes.len()).map(|_| Vec::new()).collect())
        .collect();
    for _rep in 0..REPS {
        for (si, &size) in SIZES.iter().enumerate() {
            for (mi, &mode) in modes.iter().enumerate() {
                runs[si][mi].push(run_once(mode, size, dur)?);
            }
        }
    }

    println!("SEND vs SENDMSG vs SEND_ZC, loopback TCP, one send in flight, sender CPU 0, receiver CPU 1");
    println!(
        "medians of {REPS} runs of {:.2} s; CPU = CLOCK_THREAD_CPUTIME_ID of the thread",
        dur.as_secs_f64()
    );
    println!(
        "{:>8} {:>8} {:>9} {:>12} {:>12} {:>9} {:>9} {:>10}",
        "size", "op", "GB/s", "snd ns/KiB", "rcv ns/KiB", "snd util", "partial%", "copied%"
    );
    let mut rows = Vec::new();
    for (si, &size) in SIZES.iter().enumerate() {
        for (mi, &mode) in modes.iter().enumerate() {
            let rs = &runs[si][mi];
            let gbps: Vec<f64> = rs.iter().map(|r| r.bytes as f64 / r.wall_s / 1e9).collect();
            let scpu: Vec<f64> = rs
                .iter()
                .map(|r| r.sender_cpu_ns as f64 / r.bytes as f64 * 1024.0)
                .collect();
            let rcpu: Vec<f64> = rs
                .iter()
                .map(|r| r.receiver_cpu_ns as f64 / r.bytes as f64 * 1024.0)
                .collect();
            let util: Vec<f64> = rs
                .iter()
                .map(|r| r.sender_cpu_ns as f64 / 1e9 / r.wall_s)
                .collect();
            let partial: Vec<f64> = rs
                .iter()
                .map(|r| 100.0 * r.partial as f64 / r.ops as f64)
                .collect();
            let copied_pct = if mode == Mode::SendZc {
                let n: u64 = rs.iter().map(|r| r.notifs).sum();
                let c: u64 = rs.iter().map(|r| r.copied).sum();
                Some(100.0 * c as f64 / n.max(1) as f64)
            } else {
                None
            };
            println!(
                "{:>7}K {:>8} {:>9.2} {:>12.1} {:>12.1} {:>9.2} {:>9.1} {:>10}",
                size >> 10,
                mode.name(),
                median(&gbps),
                median(&scpu),
                median(&rcpu),
                median(&util),
                median(&partial),
                copied_pct.map_or("-".into(), |c| format!("{c:.1}")),
            );
            rows.push(Json::obj([
                ("size_bytes", Json::Int(size as i64)),
                ("op", Json::s(mode.name())),
                ("throughput_gb_s_median", Json::Num(median(&gbps))),
                ("sender_cpu_ns_per_kib_median", Json::Num(median(&scpu))),
                ("receiver_cpu_ns_per_kib_median", Json::Num(median(&rcpu))),
                ("sender_cpu_utilisation_median", Json::Num(median(&util))),
                ("short_send_percent_median", Json::Num(median(&partial))),
                (
                    "zc_copied_percent",
                    copied_pct.map_or(Json::Null, Json::Num),
                ),
                (
                    "runs",
                    Json::Arr(
                        rs.iter()
                            .map(|r| {
                                Json::obj([
                                    ("bytes", Json::Int(r.bytes as i64)),
                                    ("wall_s", Json::Num(r.wall_s)),
                                    ("sender_cpu_ns", Json::Int(r.sender_cpu_ns as i64)),
                                    ("receiver_cpu_ns", Json::Int(r.receiver_cpu_ns as i64)),
                                    ("ops", Json::Int(r.ops as i64)),
                                    ("short_sends", Json::Int(r.partial as i64)),
                                    ("zc_notifications", Json::Int(r.notifs as i64)),
                                    ("zc_copied_notifications", Json::Int(r.copied as i64)),
                                ])
                            })
                            .collect(),
                    ),
                ),
            ]));
        }
    }

    println!();
    println!(
        "multishot-recv stall check (timeout {} s without a completion while bytes are outstanding)",
        STALL_TIMEOUT.as_secs()
    );
    let scenarios = [
        (Topology::TwoSockets, Mode::SendZc, 64),
        (Topology::TwoSockets, Mode::SendZc, 1024),
        (Topology::SameSocket, Mode::SendZc, 64),
        (Topology::SameSocket, Mode::SendZc, 1024),
        (Topology::TwoSockets, Mode::Send, 64),
        (Topology::SameSocket, Mode::Send, 64),
    ];
    let mut stall_rows = Vec::new();
    for (topology, mode, bufring_entries) in scenarios {
        let sc = StallScenario {
            topology,
            mode,
            bufring_entries,
        };
        // Each scenario on its own thread: it pins itself and its ring is
        // SINGLE_ISSUER to that thread.
        let j = thread::spawn(move || stall_run(&sc, stall_dur))
            .join()
            .expect("stall scenario thread")?;
        let get = |k: &str| match &j {
            Json::Obj(v) => v
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, x)| x.clone())
                .unwrap_or(Json::Null),
            _ => Json::Null,
        };
        let show = |x: Json| match x {
            Json::Int(i) => i.to_string(),
            Json::Bool(b) => b.to_string(),
            Json::Str(s) => s,
            _ => "-".into(),
        };
        println!(
            "  {}: stalled={} sent={} received={} recv_cqes={} rearms(ENOBUFS)={} zc_notifs={} copied={} corrupt={}",
            show(get("scenario")),
            show(get("stalled")),
            show(get("bytes_sent")),
            show(get("bytes_received")),
            show(get("recv_cqes")),
            show(get("multishot_rearms_enobufs")),
            show(get("zc_notifications")),
            show(get("zc_copied_notifications")),
            show(get("data_corrupt")),
        );
        stall_rows.push(j);
    }

    let mut top = environment();
    top.extend([
        (
            "experiment".to_string(),
            Json::s("SEND_ZC vs SEND/SENDMSG on loopback TCP; multishot recv stall check"),
        ),
        (
            "settings".to_string(),
            Json::obj([
                ("sender_cpu", Json::Int(0)),
                ("receiver_cpu", Json::Int(1)),
                ("seconds_per_run", Json::Num(dur.as_secs_f64())),
                ("repetitions", Json::Int(REPS as i64)),
                ("sends_in_flight", Json::Int(1)),
                ("zc_buffers", Json::Int(ZC_BUFFERS as i64)),
                (
                    "send_flags",
                    Json::s("MSG_NOSIGNAL; SEND_ZC adds IORING_SEND_ZC_REPORT_USAGE"),
                ),
                ("receiver", Json::s("blocking recv(2) into a 1 MiB buffer")),
                ("tcp_nodelay", Json::Bool(true)),
                ("stall_timeout_s", Json::Num(STALL_TIMEOUT.as_secs_f64())),
                (
                    "stall_seconds_per_scenario",
                    Json::Num(stall_dur.as_secs_f64()),
                ),
                ("stall_window_bytes", Json::Int(WINDOW as i64)),
                (
                    "stall_message_sizes",
                    Json::Arr(MSG_SIZES.iter().map(|&s| Json::Int(s as i64)).collect()),
                ),
                ("quick", Json::Bool(quick)),
            ]),
        ),
        ("throughput".to_string(), Json::Arr(rows)),
        ("multishot_stall".to_string(), Json::Arr(stall_rows)),
    ]);
    let path = result_path("uring-experiments-sendzc.json");
    std::fs::write(&path, Json::Obj(top).render())?;
    println!("\nwrote {}", path.display());
    Ok(())
}
