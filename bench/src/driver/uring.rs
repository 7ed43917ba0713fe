//! The io_uring backend: one ring per load thread.
//!
//! - Ring set-up asks for `SINGLE_ISSUER | DEFER_TASKRUN | COOP_TASKRUN`
//!   (6.1) and falls back to `COOP_TASKRUN` (5.19), then to no flags.
//! - `IORING_OP_CONNECT` (5.5) on a blocking socket (the ring never blocks the
//!   thread; it polls and retries), then a multishot `IORING_OP_RECV` (6.0)
//!   into the provided buffer ring (5.19), re-armed whenever a completion
//!   lacks `IORING_CQE_F_MORE` (ENOBUFS included).
//! - `IORING_OP_SEND` with `MSG_NOSIGNAL`, one in flight per connection;
//!   a short send is resubmitted from where it stopped.
//! - Everything a loop turn queued goes to the kernel in the one
//!   `io_uring_enter` that also waits, with the timeout passed as an
//!   extended argument (`IORING_FEAT_EXT_ARG`, 5.11).
//! - `close` cancels the connection's ops by fd (`IORING_ASYNC_CANCEL_FD`,
//!   5.19) hard-linked to an `IORING_OP_CLOSE` (5.6); its slot (send buffer,
//!   sockaddr) is reused only once every op on it has completed.

use std::io;
use std::net::SocketAddr;
use std::os::fd::RawFd;
use std::time::{Duration, Instant};

use io_uring::{cqueue, opcode, squeue, types, IoUring, Probe};

use super::bufring::BufRing;
use super::{sys, ConnectOptions, Event};

/// Buffer group of the thread's one provided-buffer ring.
const BGID: u16 = 0;
/// Receive buffers: 1024 × 16 KiB (lazily backed by the allocator's zeroed pages).
const BUF_COUNT: u16 = 1024;
const BUF_SIZE: u32 = 16 * 1024;
/// Submission queue entries; the completion queue is 8 times larger, since
/// multishot receives post many completions per submission.
const SQ_ENTRIES: u32 = 1024;
/// `by_token` value of a token without a connection.
const NO_SLOT: u32 = u32::MAX;

/// What a completion is for: the op in the top byte of `user_data`, the
/// connection's slot in the low 32 bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Connect = 1,
    Recv = 2,
    Send = 3,
    /// Cancel and close ops of a closed connection: nothing to do on completion.
    Teardown = 4,
}

fn encode(op: Op, slot: u32) -> u64 {
    ((op as u64) << 56) | u64::from(slot)
}

fn decode(user_data: u64) -> Option<(Op, u32)> {
    let op = match user_data >> 56 {
        1 => Op::Connect,
        2 => Op::Recv,
        3 => Op::Send,
        4 => Op::Teardown,
        _ => return None,
    };
    Some((op, user_data as u32))
}

/// One connection's transport state.
///
/// Invariant: while any of `connecting`, `recv_armed`, `sending` is true the
/// kernel may read `addr` or `out`, so the slot is neither freed nor reused.
struct Slot {
    token: usize,
    /// The socket; -1 once closed.
    fd: RawFd,
    /// Read by the kernel until the CONNECT completes; boxed so growing
    /// `slots` does not move it.
    addr: Box<(libc::sockaddr_storage, libc::socklen_t)>,
    connecting: bool,
    recv_armed: bool,
    sending: bool,
    /// Bytes taken from the client; `out[pos..]` is not sent yet.
    out: Vec<u8>,
    pos: usize,
    /// Closed was reported, or the caller closed it: no more events.
    done: bool,
    /// The caller closed it: free the slot when no op is in flight.
    released: bool,
}

impl Slot {
    fn in_flight(&self) -> bool {
        self.connecting || self.recv_armed || self.sending
    }
}

/// A thread's io_uring and its connections.
///
/// Field order matters: `ring` drops (unregistering the buffer ring) before
/// `slots` and `bufs` free memory the kernel used; `Drop` first waits until
/// no op is in flight.
pub struct UringDriver {
    ring: IoUring,
    slots: Vec<Slot>,
    bufs: BufRing,
    /// Slots free for reuse.
    free: Vec<u32>,
    /// The caller's token → slot index (`NO_SLOT` if none).
    by_token: Vec<u32>,
    /// Completions copied out of the CQ, so handling them can queue new ops.
    cqes: Vec<(u64, i32, u32)>,
}

fn build_ring(sq: u32) -> io::Result<IoUring> {
    let mut last = None;
    // Newest flags first; EINVAL means the kernel does not know one of them.
    for level in 0..3 {
        let mut b = IoUring::builder();
        b.setup_cqsize(sq * 8).setup_clamp();
        if level == 0 {
            b.setup_single_issuer().setup_defer_taskrun();
        }
        if level <= 1 {
            b.setup_coop_taskrun();
        }
        match b.build(sq) {
            Ok(r) => return Ok(r),
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("io_uring setup failed")))
}

/// Checks that this kernel lets us set up a ring with everything the driver uses.
pub(super) fn probe() -> Result<(), String> {
    let ring = build_ring(8).map_err(|e| match e.raw_os_error() {
        Some(libc::ENOSYS) => "io_uring_setup: ENOSYS (no io_uring, or a seccomp filter)".into(),
        Some(libc::EPERM) => {
            "io_uring_setup: EPERM (kernel.io_uring_disabled, or a seccomp filter)".into()
        }
        _ => format!("io_uring_setup: {e}"),
    })?;
    if !ring.params().is_feature_ext_arg() {
        return Err("no IORING_FEAT_EXT_ARG (kernel older than 5.11)".into());
    }
    let mut probe = Probe::new();
    ring.submitter()
        .register_probe(&mut probe)
        .map_err(|e| format!("IORING_REGISTER_PROBE: {e}"))?;
    for (name, code) in [
        ("CONNECT", opcode::Connect::CODE),
        ("RECV", opcode::RecvMulti::CODE),
        ("SEND", opcode::Send::CODE),
        ("ASYNC_CANCEL", opcode::AsyncCancel2::CODE),
        ("CLOSE", opcode::Close::CODE),
    ] {
        if !probe.is_supported(code) {
            return Err(format!("opcode IORING_OP_{name} missing"));
        }
    }
    // Buffer rings have no opcode to probe: register a tiny one.
    let bufs = BufRing::new(2, 64).map_err(|e| e.to_string())?;
    // SAFETY: `ring` is dropped below, before `bufs`.
    unsafe { bufs.register(&ring.submitter(), BGID) }
        .map_err(|e| format!("IORING_REGISTER_PBUF_RING: {e}"))?;
    drop(ring);
    drop(bufs);
    Ok(())
}

impl UringDriver {
    /// A ring for about `connections` connections. Create it on the thread
    /// that uses it (`SINGLE_ISSUER`).
    pub fn new(connections: usize) -> io::Result<Self> {
        let ring = build_ring(SQ_ENTRIES)?;
        let bufs = BufRing::new(BUF_COUNT, BUF_SIZE)?;
        // SAFETY: `ring` is declared before `bufs` in `UringDriver`, so it
        // drops (and the registration ends) first.
        unsafe { bufs.register(&ring.submitter(), BGID)? };
        Ok(Self {
            ring,
            slots: Vec::with_capacity(connections),
            bufs,
            free: Vec::new(),
            by_token: Vec::with_capacity(connections),
            cqes: Vec::with_capacity(1024),
        })
    }

    /// Queues `entry`, first handing the SQ to the kernel if it is full.
    ///
    /// # Safety
    /// Every pointer in `entry` must stay valid until its completion.
    unsafe fn push(&mut self, entry: squeue::Entry) {
        loop {
            // SAFETY: the caller vouches for the entry's pointers.
            if unsafe { self.ring.submission().push(&entry) }.is_ok() {
                return;
            }
            // Submitting without waiting; an error here shows up again on
            // the next `poll`, which reports it.
            let _ = self.ring.submit();
        }
    }

    fn slot_of(&self, token: usize) -> Option<usize> {
        match self.by_token.get(token) {
            Some(&s) if s != NO_SLOT => Some(s as usize),
            _ => None,
        }
    }

    pub(super) fn connect(
        &mut self,
        token: usize,
        addr: SocketAddr,
        opts: ConnectOptions,
    ) -> io::Result<()> {
        let fd = sys::tcp_socket(&addr)?;
        let set = sys::set_nodelay(fd).and_then(|()| {
            if opts.linger_zero {
                sys::set_linger_zero(fd)
            } else {
                Ok(())
            }
        });
        if let Err(e) = set {
            sys::close(fd);
            return Err(e);
        }
        self.close(token);
        let fresh = Slot {
            token,
            fd,
            addr: Box::new(sys::sockaddr(&addr)),
            connecting: true,
            recv_armed: false,
            sending: false,
            out: Vec::new(),
            pos: 0,
            done: false,
            released: false,
        };
        let i = match self.free.pop() {
            Some(i) => {
                let old = &mut self.slots[i as usize];
                debug_assert!(!old.in_flight());
                // Keep the old send buffer's capacity.
                let out = std::mem::take(&mut old.out);
                *old = Slot { out, ..fresh };
                i
            }
            None => {
                self.slots.push(fresh);
                (self.slots.len() - 1) as u32
            }
        };
        if self.by_token.len() <= token {
            self.by_token.resize(token + 1, NO_SLOT);
        }
        self.by_token[token] = i;
        let s = &self.slots[i as usize];
        let e = opcode::Connect::new(
            types::Fd(fd),
            &s.addr.0 as *const libc::sockaddr_storage as *const libc::sockaddr,
            s.addr.1,
        )
        .build()
        .user_data(encode(Op::Connect, i));
        // SAFETY: `addr` is boxed in the slot, which is not reused while
        // `connecting` is set (cleared only by this op's completion).
        unsafe { self.push(e) };
        Ok(())
    }

    fn push_send(&mut self, i: usize) {
        let s = &mut self.slots[i];
        debug_assert!(!s.sending && s.pos < s.out.len());
        let rest = &s.out[s.pos..];
        let len = rest.len().min(u32::MAX as usize) as u32;
        let e = opcode::Send::new(types::Fd(s.fd), rest.as_ptr(), len)
            .flags(libc::MSG_NOSIGNAL)
            .build()
            .user_data(encode(Op::Send, i as u32));
        s.sending = true;
        // SAFETY: `out` is neither touched nor freed while `sending` is set
        // (`flush` returns early, the slot is not reused), so its heap
        // memory stays put until this op completes.
        unsafe { self.push(e) };
    }

    fn arm_recv(&mut self, i: usize) {
        let s = &mut self.slots[i];
        let e = opcode::RecvMulti::new(types::Fd(s.fd), BGID)
            .build()
            .user_data(encode(Op::Recv, i as u32));
        s.recv_armed = true;
        // SAFETY: the op points at no memory of ours: the kernel picks
        // buffers from the registered buffer ring, which outlives the io_uring
        // (field order of `UringDriver`).
        unsafe { self.push(e) };
    }

    pub(super) fn flush(&mut self, token: usize, out: &mut Vec<u8>) -> io::Result<bool> {
        let Some(i) = self.slot_of(token) else {
            return Err(io::ErrorKind::NotConnected.into());
        };
        let s = &mut self.slots[i];
        if s.done {
            return Err(io::ErrorKind::NotConnected.into());
        }
        if s.sending {
            return Ok(false);
        }
        if s.pos == s.out.len() {
            s.out.clear();
            s.pos = 0;
            if out.is_empty() {
                return Ok(true);
            }
            std::mem::swap(out, &mut s.out);
        }
        if !s.connecting {
            self.push_send(i);
        }
        Ok(false)
    }

    pub(super) fn close(&mut self, token: usize) {
        let Some(i) = self.slot_of(token) else {
            return;
        };
        self.by_token[token] = NO_SLOT;
        let s = &mut self.slots[i];
        s.done = true;
        s.released = true;
        let fd = std::mem::replace(&mut s.fd, -1);
        if fd >= 0 {
            if s.in_flight() {
                // Cancel first, then close: a pending op holds a reference to
                // the socket, so closing alone would not end the connection.
                // The hard link runs the close even when nothing was left to
                // cancel. Room for both keeps the pair in one submission.
                let cancel =
                    opcode::AsyncCancel2::new(types::CancelBuilder::fd(types::Fd(fd)).all())
                        .build()
                        .flags(squeue::Flags::IO_HARDLINK)
                        .user_data(encode(Op::Teardown, i as u32));
                let close = opcode::Close::new(types::Fd(fd))
                    .build()
                    .user_data(encode(Op::Teardown, i as u32));
                {
                    let sq = self.ring.submission();
                    let room = sq.capacity() - sq.len();
                    drop(sq);
                    if room < 2 {
                        let _ = self.ring.submit();
                    }
                }
                // SAFETY: neither op points at memory of ours.
                unsafe {
                    self.push(cancel);
                    self.push(close);
                }
            } else {
                sys::close(fd);
            }
        }
        self.release_if_idle(i);
    }

    fn release_if_idle(&mut self, i: usize) {
        let s = &mut self.slots[i];
        if s.released && !s.in_flight() {
            s.released = false;
            s.out.clear();
            s.pos = 0;
            self.free.push(i as u32);
        }
    }

    pub(super) fn poll(
        &mut self,
        timeout: Option<Duration>,
        mut f: impl FnMut(Event<'_>),
    ) -> io::Result<()> {
        let res = match timeout {
            None => self.ring.submit_and_wait(1),
            Some(d) => {
                let ts = types::Timespec::from(d);
                let args = types::SubmitArgs::new().timespec(&ts);
                self.ring.submitter().submit_with_args(1, &args)
            }
        };
        match res {
            Ok(_) => {}
            // ETIME: the timeout expired. EINTR: a signal. EBUSY: the CQ has
            // overflowed (kept by the kernel; reap below). EAGAIN: short of
            // memory for now. All mean: handle what is there, go round again.
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ETIME | libc::EINTR | libc::EBUSY | libc::EAGAIN)
                ) => {}
            Err(e) => return Err(e),
        }
        let mut cqes = std::mem::take(&mut self.cqes);
        cqes.clear();
        cqes.extend(
            self.ring
                .completion()
                .map(|c| (c.user_data(), c.result(), c.flags())),
        );
        for &(user_data, res, flags) in &cqes {
            if let Some((op, slot)) = decode(user_data) {
                self.complete(op, slot as usize, res, flags, &mut f);
            }
        }
        self.cqes = cqes;
        Ok(())
    }

    fn complete(&mut self, op: Op, i: usize, res: i32, flags: u32, f: &mut impl FnMut(Event<'_>)) {
        let err = |res: i32| Some(io::Error::from_raw_os_error(-res));
        match op {
            Op::Teardown => {}
            Op::Connect => {
                let s = &mut self.slots[i];
                s.connecting = false;
                if s.done {
                    self.release_if_idle(i);
                } else if res < 0 {
                    s.done = true;
                    f(Event::Closed(s.token, err(res)));
                } else {
                    let pending = s.pos < s.out.len();
                    self.arm_recv(i);
                    if pending {
                        self.push_send(i);
                    }
                }
            }
            Op::Recv => {
                if let Some(bid) = cqueue::buffer_select(flags) {
                    if res > 0 && !self.slots[i].done {
                        let token = self.slots[i].token;
                        // SAFETY: `bid` and `res` come from this completion,
                        // which lends us the buffer until `give_back` below.
                        let data = unsafe { self.bufs.filled(bid, res as usize) };
                        f(Event::Data(token, data));
                    }
                    self.bufs.give_back(bid);
                }
                if cqueue::more(flags) {
                    return;
                }
                let s = &mut self.slots[i];
                s.recv_armed = false;
                if s.done {
                    self.release_if_idle(i);
                } else if res > 0 || res == -libc::ENOBUFS {
                    // The multishot ended without an error (ENOBUFS: the
                    // buffer ring ran dry; the buffers are back by now).
                    self.arm_recv(i);
                } else {
                    s.done = true;
                    let why = if res == 0 { None } else { err(res) };
                    f(Event::Closed(s.token, why));
                }
            }
            Op::Send => {
                let s = &mut self.slots[i];
                s.sending = false;
                if s.done {
                    self.release_if_idle(i);
                } else if res < 0 {
                    s.done = true;
                    f(Event::Closed(s.token, err(res)));
                } else {
                    s.pos += res as usize;
                    if s.pos < s.out.len() {
                        self.push_send(i);
                    } else {
                        s.out.clear();
                        s.pos = 0;
                        f(Event::Sent(s.token));
                    }
                }
            }
        }
    }
}

impl Drop for UringDriver {
    fn drop(&mut self) {
        for token in 0..self.by_token.len() {
            self.close(token);
        }
        // Wait (bounded) for the cancellations, so that no send buffer or
        // sockaddr is freed while the kernel may still read it.
        let deadline = Instant::now() + Duration::from_secs(2);
        while self.slots.iter().any(Slot::in_flight) && Instant::now() < deadline {
            if self.poll(Some(Duration::from_millis(10)), |_| {}).is_err() {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_data_round_trips() {
        for op in [Op::Connect, Op::Recv, Op::Send, Op::Teardown] {
            for slot in [0u32, 1, 77, u32::MAX - 1] {
                assert_eq!(decode(encode(op, slot)), Some((op, slot)));
            }
        }
        assert_eq!(decode(0), None);
        assert_eq!(decode(9 << 56), None);
    }
}
