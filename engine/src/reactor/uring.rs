//! The io_uring backend.
//!
//! Ring set-up prefers `SINGLE_ISSUER | DEFER_TASKRUN | COOP_TASKRUN`
//! (6.1+: completions are processed only when this thread waits, with no
//! inter-processor interrupts) and falls back to `COOP_TASKRUN` alone, then to
//! no flags. Receives are multishot (6.0+) into a provided buffer ring
//! (5.19+); accepts are multishot (5.19+); sends are `IORING_OP_SENDMSG`
//! with `MSG_NOSIGNAL`; the tick is an `IORING_OP_TIMEOUT`; cross-thread
//! wake-ups are an `IORING_OP_READ` on an eventfd, and, from other io_uring
//! workers, `IORING_OP_MSG_RING` doorbells (5.18+, probed; see
//! `shard/cross.rs`): the sender submits one on its own ring with
//! `IOSQE_CQE_SKIP_SUCCESS` (5.17+) and the kernel posts an [`OpKind::Bell`]
//! CQE into the target ring, which is a [`Completion::Wake`] that arms
//! nothing. With `DEFER_TASKRUN` on the target the kernel delivers it as
//! task work to the target's thread, which wakes its `submit_and_wait`.

use std::io;
use std::os::fd::{AsRawFd, RawFd};

use io_uring::{cqueue, opcode, squeue, types, IoUring, Probe};

use super::bufring::BufRing;
use super::user_data::{decode, encode, OpKind, Token};
use super::{Completion, ReactorConfig, RecvBuf, RecvEnd};

/// Buffer group id of the worker's (only) provided-buffer ring.
const BGID: u16 = 0;

/// An io_uring reactor.
///
/// Field order matters: `ring` drops (and the kernel releases the buffer
/// ring registration) before `bufs` unmaps the memory the kernel used.
pub(crate) struct UringReactor {
    ring: IoUring,
    bufs: BufRing,
    /// Timeout op argument; boxed so its address is stable while armed.
    tick_ts: Box<types::Timespec>,
    /// Eventfd read target; boxed so its address is stable while armed.
    wake_buf: Box<u64>,
    wake_fd: RawFd,
    /// Listeners being accepted on; the index travels in the accept's
    /// `user_data` slot. Empty after `stop_accept`.
    listeners: Vec<RawFd>,
    /// Listeners whose accept multishot stopped with an error: re-armed on
    /// the next tick rather than spinning on, say, EMFILE.
    accept_retry: Vec<u32>,
    /// Completions copied out of the CQ so handling them can push new SQEs.
    cqes: Vec<(u64, i32, u32)>,
    /// The kernel has `IORING_OP_MSG_RING` (5.18+): this ring can ring
    /// other rings and be rung.
    msg_ring: bool,
    /// Idle trimming of the receive buffers' pages (see [`Trim`]).
    trim: Trim,
}

/// Returning the receive ring's pages to the kernel when the worker has
/// received nothing for a whole tick. Under small reads the ring's pages
/// become resident one by one (incremental consumption walks through every
/// buffer), so a server that once saw traffic would keep the whole ring
/// resident forever; trimmed, an idle worker holds only its connections'
/// state. Only with `DEFER_TASKRUN`, where the kernel fills buffers solely
/// inside this thread's `io_uring_enter`: the trim runs at the start of a
/// turn, after every completion of the previous one was handled.
#[derive(Default)]
struct Trim {
    enabled: bool,
    /// Bytes were received since the last tick.
    active: bool,
    /// Some buffer page may be resident.
    touched: bool,
    /// This batch had a tick.
    ticked: bool,
    /// Discard at the start of the next turn.
    due: bool,
    /// Discards done (tests).
    done: u64,
}

/// Check that io_uring is usable and has every opcode this backend uses.
pub(crate) fn probe() -> Result<(), String> {
    if let Some(v) = super::sys::io_uring_disabled_sysctl() {
        if v == 2 {
            return Err("kernel.io_uring_disabled = 2".into());
        }
    }
    let ring = match IoUring::new(8) {
        Ok(r) => r,
        Err(e) => {
            return Err(match e.raw_os_error() {
                Some(libc::ENOSYS) => {
                    "io_uring_setup: ENOSYS (kernel without io_uring, or a seccomp profile)".into()
                }
                Some(libc::EPERM) => {
                    "io_uring_setup: EPERM (kernel.io_uring_disabled or a seccomp profile)".into()
                }
                _ => format!("io_uring_setup: {e}"),
            })
        }
    };
    let mut probe = Probe::new();
    if let Err(e) = ring.submitter().register_probe(&mut probe) {
        return Err(format!("IORING_REGISTER_PROBE: {e}"));
    }
    let needed = [
        ("ACCEPT", opcode::AcceptMulti::CODE),
        ("RECV", opcode::RecvMulti::CODE),
        ("SENDMSG", opcode::SendMsg::CODE),
        ("SEND", opcode::Send::CODE),
        ("TIMEOUT", opcode::Timeout::CODE),
        ("READ", opcode::Read::CODE),
        ("ASYNC_CANCEL", opcode::AsyncCancel::CODE),
    ];
    for (name, code) in needed {
        if !probe.is_supported(code) {
            return Err(format!("opcode IORING_OP_{name} missing"));
        }
    }
    // Multishot recv and buffer rings have no opcode of their own: try
    // registering a tiny buffer ring.
    let mut bufs = BufRing::new(2, 64, BGID).map_err(|e| e.to_string())?;
    bufs.register(&ring.submitter(), false)
        .map_err(|e| format!("IORING_REGISTER_PBUF_RING: {e}"))?;
    drop(ring);
    drop(bufs);
    Ok(())
}

/// The ring, and whether it has `DEFER_TASKRUN` (the first attempt).
fn build_ring(entries: u32) -> io::Result<(IoUring, bool)> {
    let cq = entries.saturating_mul(4);
    let attempts: [fn(&mut io_uring::Builder); 3] = [
        |b| {
            b.setup_single_issuer()
                .setup_defer_taskrun()
                .setup_coop_taskrun();
        },
        |b| {
            b.setup_coop_taskrun();
        },
        |_| {},
    ];
    let mut last = None;
    for (i, set) in attempts.iter().enumerate() {
        let mut b = IoUring::builder();
        b.setup_cqsize(cq).setup_clamp();
        set(&mut b);
        match b.build(entries) {
            Ok(r) => {
                if i > 0 {
                    tracing::debug!(
                        attempt = i,
                        "io_uring set up without SINGLE_ISSUER|DEFER_TASKRUN"
                    );
                }
                return Ok((r, i == 0));
            }
            // EINVAL: the kernel does not know a flag; try fewer.
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("io_uring setup failed")))
}

impl UringReactor {
    pub(crate) fn new(cfg: &ReactorConfig) -> io::Result<Self> {
        let (ring, defer_taskrun) = build_ring(cfg.sq_entries)?;
        let mut bufs = BufRing::new(cfg.buf_count, cfg.buf_size, BGID)?;
        let inc = bufs.register(&ring.submitter(), cfg.incremental)?;
        tracing::debug!(
            buffers = cfg.buf_count,
            size = cfg.buf_size,
            incremental = inc,
            "receive buffer ring registered"
        );
        let mut probe = Probe::new();
        let msg_ring = ring.submitter().register_probe(&mut probe).is_ok()
            && probe.is_supported(opcode::MsgRingData::CODE);
        if !msg_ring {
            tracing::debug!("IORING_OP_MSG_RING missing: cross-worker wake-ups use the eventfd");
        }
        let tick_ts = Box::new(
            types::Timespec::new()
                .sec(cfg.tick.as_secs())
                .nsec(cfg.tick.subsec_nanos()),
        );
        let mut this = Self {
            ring,
            bufs,
            tick_ts,
            wake_buf: Box::new(0),
            wake_fd: -1,
            listeners: Vec::new(),
            accept_retry: Vec::new(),
            cqes: Vec::with_capacity(256),
            msg_ring,
            trim: Trim {
                enabled: defer_taskrun,
                ..Trim::default()
            },
        };
        this.arm_tick();
        Ok(this)
    }

    /// Queue an SQE, flushing the SQ to the kernel first if it is full.
    fn push(&mut self, entry: squeue::Entry) {
        loop {
            // SAFETY: every entry built by this reactor points only at memory
            // that outlives the op: `tick_ts`/`wake_buf` are boxed fields,
            // buffers come from the registered ring, and `send`'s caller
            // keeps its msghdr alive until completion.
            if unsafe { self.ring.submission().push(&entry) }.is_ok() {
                return;
            }
            // A submission outside `turn` may issue a receive inline, which
            // fills a ring buffer and posts its completion before the next
            // turn reaps it: no trimming until that turn has run.
            self.trim.due = false;
            if let Err(e) = self.ring.submit() {
                tracing::warn!(error = %e, "io_uring submit while SQ full failed");
            }
        }
    }

    fn arm_tick(&mut self) {
        let e = opcode::Timeout::new(&*self.tick_ts as *const types::Timespec)
            .build()
            .user_data(encode(OpKind::Tick, Token::default()));
        self.push(e);
    }

    pub(crate) fn arm_accept(&mut self, listener: RawFd) -> io::Result<()> {
        let idx = self.listeners.len() as u32;
        self.listeners.push(listener);
        self.push_accept(idx);
        Ok(())
    }

    fn push_accept(&mut self, idx: u32) {
        let fd = self.listeners[idx as usize];
        let e = opcode::AcceptMulti::new(types::Fd(fd))
            .flags(libc::SOCK_CLOEXEC)
            .build()
            .user_data(encode(OpKind::Accept, Token { slot: idx, gen: 0 }));
        self.push(e);
    }

    pub(crate) fn stop_accept(&mut self) {
        for idx in 0..self.listeners.len() as u32 {
            let e = opcode::AsyncCancel::new(encode(OpKind::Accept, Token { slot: idx, gen: 0 }))
                .build()
                .user_data(encode(OpKind::Cancel, Token::default()));
            self.push(e);
        }
        self.listeners.clear();
        self.accept_retry.clear();
    }

    pub(crate) fn arm_recv(&mut self, token: Token, fd: RawFd) -> io::Result<()> {
        let e = opcode::RecvMulti::new(types::Fd(fd), BGID)
            .build()
            .user_data(encode(OpKind::Recv, token));
        self.push(e);
        Ok(())
    }

    /// A one-shot recv of at most `len` bytes from the buffer ring, under
    /// the multishot's `user_data`: its completion has a buffer and no
    /// `F_MORE`, so it maps to `Data` + `RecvEnded(Rearm)`.
    pub(crate) fn arm_recv_short(&mut self, token: Token, fd: RawFd, len: u32) -> io::Result<()> {
        let e = opcode::Recv::new(types::Fd(fd), std::ptr::null_mut(), len)
            .buf_group(BGID)
            .build()
            .flags(squeue::Flags::BUFFER_SELECT)
            .user_data(encode(OpKind::Recv, token));
        self.push(e);
        Ok(())
    }

    /// A one-shot recv into the caller's memory, under the same `user_data`
    /// as the multishot (so `stop_recv`/`pause_recv` cancel either); its
    /// completion is told apart by carrying no ring buffer.
    ///
    /// # Safety
    /// See [`super::Reactor::recv_into`].
    pub(crate) unsafe fn recv_into(
        &mut self,
        token: Token,
        fd: RawFd,
        ptr: *mut u8,
        len: u32,
    ) -> bool {
        let e = opcode::Recv::new(types::Fd(fd), ptr, len)
            .build()
            .user_data(encode(OpKind::Recv, token));
        self.push(e);
        true
    }

    pub(crate) fn stop_recv(&mut self, token: Token, _fd: RawFd) {
        let e = opcode::AsyncCancel::new(encode(OpKind::Recv, token))
            .build()
            .user_data(encode(OpKind::Cancel, token));
        self.push(e);
    }

    /// Cancelling the multishot is all a pause needs: buffers it already
    /// filled are still completed, then its final CQE (`-ECANCELED`).
    pub(crate) fn pause_recv(&mut self, token: Token, fd: RawFd) {
        self.stop_recv(token, fd);
    }

    /// Nothing is kept per connection once its receive has ended.
    pub(crate) fn forget_recv(&mut self, _token: Token, _fd: RawFd) {}

    /// # Safety
    /// See [`super::Reactor::send`].
    pub(crate) unsafe fn send(
        &mut self,
        token: Token,
        fd: RawFd,
        msg: *const libc::msghdr,
    ) -> io::Result<()> {
        // SAFETY: the caller keeps `msg` and its iovecs valid until the
        // send completes, so reading them now is fine.
        let m = unsafe { &*msg };
        let one = (m.msg_iovlen == 1 && m.msg_name.is_null() && m.msg_controllen == 0)
            // SAFETY: as above; `msg_iovlen == 1` says `msg_iov` points at one iovec.
            .then(|| unsafe { *m.msg_iov })
            .filter(|iov| iov.iov_len <= u32::MAX as usize);
        let e = match one {
            // One buffer (the usual case below 4 KiB payloads, where frames
            // are copied into the queue's tail): a plain `IORING_OP_SEND`
            // skips copying and checking the msghdr (measured in
            // docs/decisions.md).
            Some(iov) => {
                opcode::Send::new(types::Fd(fd), iov.iov_base as *const u8, iov.iov_len as u32)
                    .flags(libc::MSG_NOSIGNAL)
                    .build()
            }
            None => opcode::SendMsg::new(types::Fd(fd), msg)
                .flags(libc::MSG_NOSIGNAL as u32)
                .build(),
        };
        self.push(e.user_data(encode(OpKind::Send, token)));
        Ok(())
    }

    pub(crate) fn arm_wake(&mut self, eventfd: RawFd) -> io::Result<()> {
        self.wake_fd = eventfd;
        let e = opcode::Read::new(
            types::Fd(eventfd),
            &mut *self.wake_buf as *mut u64 as *mut u8,
            8,
        )
        .build()
        .user_data(encode(OpKind::Wake, Token::default()));
        self.push(e);
        Ok(())
    }

    /// This ring's fd, for other workers' doorbells, if it takes them.
    pub(crate) fn bell_fd(&self) -> Option<RawFd> {
        self.msg_ring.then(|| self.ring.as_raw_fd())
    }

    /// Queue an `IORING_OP_MSG_RING` that posts an [`OpKind::Bell`] CQE into
    /// the ring `ring_fd`; submitted by the next [`UringReactor::turn`].
    /// `false` (nothing queued) without `MSG_RING`: ring `eventfd` instead.
    /// Should the op fail, `eventfd` is written when its completion comes.
    pub(crate) fn ring_bell(&mut self, ring_fd: RawFd, eventfd: RawFd) -> bool {
        if !self.msg_ring || eventfd < 0 {
            return false;
        }
        let e = opcode::MsgRingData::new(
            types::Fd(ring_fd),
            0,
            encode(OpKind::Bell, Token::default()),
            None,
        )
        .build()
        .flags(squeue::Flags::SKIP_SUCCESS)
        .user_data(encode(
            OpKind::BellSent,
            Token {
                slot: eventfd as u32,
                gen: 0,
            },
        ));
        self.push(e);
        true
    }

    pub(crate) fn turn(&mut self, out: &mut Vec<Completion>, may_trim: bool) -> io::Result<()> {
        // Only with nothing in the completion queue: a pending completion
        // may carry bytes in a ring buffer (belt and braces with the reset
        // in `push`); never while the worker has buffers lent to sends.
        if std::mem::take(&mut self.trim.due) && may_trim && self.ring.completion().is_empty() {
            // SAFETY: every completion of the previous turn was handled (and
            // its buffer recycled) before this turn (caller duty), and with
            // DEFER_TASKRUN the kernel fills buffers only inside the
            // `submit_and_wait` below (`Trim::enabled` requires it).
            unsafe { self.bufs.discard_pages() };
            self.trim.touched = false;
            self.trim.done += 1;
        }
        loop {
            match self.ring.submit_and_wait(1) {
                Ok(_) => break,
                Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
                // EBUSY: completions are backed up (CQ overflow); EAGAIN:
                // the kernel is short of memory for now. Reap what is there
                // and go round again rather than failing the worker.
                Err(e) if matches!(e.raw_os_error(), Some(libc::EBUSY | libc::EAGAIN)) => break,
                Err(e) => return Err(e),
            }
        }
        self.cqes.clear();
        {
            let cq = self.ring.completion();
            if cq.overflow() > 0 {
                tracing::warn!(
                    dropped = cq.overflow(),
                    "io_uring completion queue overflowed"
                );
            }
            self.cqes
                .extend(cq.map(|c| (c.user_data(), c.result(), c.flags())));
        }
        let cqes = std::mem::take(&mut self.cqes);
        for &(ud, res, flags) in &cqes {
            self.map(ud, res, flags, out);
        }
        self.cqes = cqes;
        let t = &mut self.trim;
        if std::mem::take(&mut t.ticked) {
            t.due = t.enabled && t.touched && !t.active;
            t.active = false;
        }
        Ok(())
    }

    fn map(&mut self, ud: u64, res: i32, flags: u32, out: &mut Vec<Completion>) {
        let Some((kind, token)) = decode(ud) else {
            tracing::error!(user_data = ud, "completion with unknown user_data");
            return;
        };
        match kind {
            OpKind::Accept => {
                let more = cqueue::more(flags);
                if res >= 0 {
                    out.push(Completion::Accepted(token.slot, Ok(res)));
                } else if res != -libc::ECANCELED {
                    out.push(Completion::Accepted(token.slot, Err(-res)));
                }
                let live = (token.slot as usize) < self.listeners.len();
                if !more && live {
                    if res >= 0 {
                        self.push_accept(token.slot);
                    } else if res != -libc::ECANCELED {
                        self.accept_retry.push(token.slot);
                    }
                }
            }
            OpKind::Recv => {
                let more = cqueue::more(flags);
                if let Some(bid) = cqueue::buffer_select(flags) {
                    let len = res.max(0) as u32;
                    let piece = self.bufs.take(bid, len, cqueue::buffer_more(flags));
                    if res > 0 {
                        self.trim.active = true;
                        self.trim.touched = true;
                        let buf = RecvBuf {
                            ptr: piece.ptr,
                            len: res as usize,
                            id: bid,
                            release: piece.last,
                        };
                        out.push(Completion::Data { token, buf });
                    } else if piece.last {
                        self.bufs.recycle(bid);
                    }
                } else if res > 0 {
                    // A direct receive (`recv_into`): multishot completions
                    // with bytes always name a ring buffer.
                    out.push(Completion::Direct {
                        token,
                        len: res as usize,
                    });
                    return;
                }
                if !more {
                    let end = match res {
                        0 => RecvEnd::Eof,
                        r if r == -libc::ENOBUFS => RecvEnd::Rearm,
                        r if r < 0 => RecvEnd::Error(-r),
                        _ => RecvEnd::Rearm,
                    };
                    out.push(Completion::RecvEnded { token, end });
                }
            }
            OpKind::Send => {
                let result = if res >= 0 {
                    Ok(res as usize)
                } else {
                    Err(-res)
                };
                out.push(Completion::Sent { token, result });
            }
            OpKind::Tick => {
                // -ETIME: the timer expired (the normal case).
                self.trim.ticked = true;
                self.arm_tick();
                for idx in std::mem::take(&mut self.accept_retry) {
                    if (idx as usize) < self.listeners.len() {
                        self.push_accept(idx);
                    }
                }
                out.push(Completion::Tick);
            }
            OpKind::Wake => {
                if self.wake_fd >= 0 {
                    let fd = self.wake_fd;
                    let _ = self.arm_wake(fd);
                }
                out.push(Completion::Wake);
            }
            OpKind::Bell => out.push(Completion::Wake),
            OpKind::BellSent => {
                // Success is skipped (`SKIP_SUCCESS`): this is a failure,
                // e.g. the target's CQ is full. Ring the eventfd instead.
                tracing::debug!(
                    error = %io::Error::from_raw_os_error(-res),
                    "IORING_OP_MSG_RING failed; waking by eventfd"
                );
                super::sys::eventfd_write(token.slot as RawFd);
            }
            OpKind::Cancel => {}
        }
    }

    pub(crate) fn recycle(&mut self, buf: RecvBuf) {
        if buf.release {
            self.bufs.recycle(buf.id);
        }
    }

    /// How many times the receive buffers' pages were returned while idle.
    #[cfg(test)]
    pub(crate) fn trims(&self) -> u64 {
        self.trim.done
    }

    /// Receives consume ring buffers incrementally (`IOU_PBUF_RING_INC`).
    pub(crate) fn incremental(&self) -> bool {
        self.bufs.incremental()
    }

    /// Number of provided receive buffers.
    pub(crate) fn buf_count(&self) -> usize {
        self.bufs.entries() as usize
    }
}

#[cfg(test)]
mod bell_tests {
    use std::time::{Duration, Instant};

    use super::*;

    fn reactor(tick_ms: u64) -> Option<UringReactor> {
        let cfg = ReactorConfig {
            sq_entries: 16,
            buf_count: 4,
            buf_size: 256,
            tick: Duration::from_millis(tick_ms),
            incremental: true,
        };
        match UringReactor::new(&cfg) {
            Ok(r) if r.bell_fd().is_some() => Some(r),
            Ok(_) => {
                eprintln!("skipping: IORING_OP_MSG_RING missing (5.18+)");
                None
            }
            Err(e) => {
                eprintln!("skipping: io_uring unavailable: {e}");
                None
            }
        }
    }

    #[test]
    fn bell_wakes_the_target_ring_without_its_eventfd() {
        let (Some(mut a), Some(mut b)) = (reactor(10), reactor(10_000)) else {
            return;
        };
        // `b` watches no eventfd: a wake-up can only come from the bell.
        let efd = super::super::sys::eventfd().unwrap();
        assert!(a.ring_bell(b.bell_fd().unwrap(), efd));
        let mut out = Vec::new();
        // Submits the MSG_RING; its success posts nothing back to `a`.
        a.turn(&mut out, true).unwrap();
        assert!(!out.iter().any(|c| matches!(c, Completion::Wake)));
        out.clear();
        let t = Instant::now();
        b.turn(&mut out, true).unwrap();
        assert!(out.iter().any(|c| matches!(c, Completion::Wake)), "{out:?}");
        // Well before `b`'s 10 s tick.
        assert!(t.elapsed() < Duration::from_secs(2));
        super::super::sys::close(efd);
    }

    #[test]
    fn failed_bell_falls_back_to_the_eventfd() {
        let Some(mut a) = reactor(10) else {
            return;
        };
        let efd = super::super::sys::eventfd().unwrap();
        // An eventfd is no ring: MSG_RING fails (EBADFD), and the failure
        // completion rings the eventfd instead.
        assert!(a.ring_bell(efd, efd));
        let mut out = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(2);
        let mut v: u64 = 0;
        loop {
            a.turn(&mut out, true).unwrap();
            // SAFETY: reads 8 bytes into a local u64.
            let n = unsafe { libc::read(efd, &mut v as *mut u64 as *mut libc::c_void, 8) };
            if n == 8 || Instant::now() > deadline {
                break;
            }
        }
        assert_eq!(v, 1, "eventfd not written after a failed MSG_RING");
        super::super::sys::close(efd);
    }
}
