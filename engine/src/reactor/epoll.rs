//! The epoll backend: the same completions as io_uring, produced by doing
//! the nonblocking syscall when a socket is ready.
//!
//! Sockets are registered edge-triggered for input and output once, when
//! their receive is armed. Reads go into a pool of reusable buffers (one per
//! [`Completion::Data`] until recycled, so several connections' data can be
//! pending in one turn); sends are tried at once and parked on `EAGAIN`
//! until `EPOLLOUT`.

use std::io;
use std::os::fd::RawFd;
use std::time::Instant;

use super::sys::{self, syscall};
use super::user_data::{decode, encode, OpKind, Token};
use super::{Completion, ReactorConfig, RecvBuf, RecvEnd};

/// Reads per readiness event before yielding to other connections; the rest
/// is picked up on the next turn (edge-triggered: we must remember it).
const READS_PER_EVENT: usize = 4;

#[derive(Clone, Copy)]
struct Slot {
    token: Token,
    fd: RawFd,
    /// A send waiting for `EPOLLOUT` (null: none).
    parked_send: *const libc::msghdr,
    /// Reading paused (backpressure): readiness is not acted on for input
    /// until `arm_recv`, which then reads at once (no new edge may come).
    paused: bool,
    /// A direct receive (`recv_into`) waiting for input: the next read goes
    /// to this memory (`want` bytes) instead of the pool, once (null: none).
    direct: *mut u8,
    /// Bytes the next read may take: the direct receive's room, or the
    /// short receive's length.
    want: u32,
    /// A short receive (`arm_recv_short`): the next read takes at most
    /// `want` bytes, then the receive ends (`RecvEnded(Rearm)`).
    short: bool,
    /// A direct or short receive completed: its completion was the final
    /// one, and nothing is read until the worker arms the next receive (it
    /// may lend out a buffer that later bytes must go to).
    ended: bool,
}

/// An epoll reactor.
pub(crate) struct EpollReactor {
    epfd: RawFd,
    events: Vec<libc::epoll_event>,
    /// Registered connections by slot.
    slots: Vec<Option<Slot>>,
    /// Read buffers: `pool[id]`; `free` lists the ones not handed out. A
    /// fixed set allocated up front (zeroed, so untouched pages cost no
    /// RSS), like the io_uring buffer ring: a burst of readable connections
    /// waits for a buffer instead of growing the worker's memory.
    pool: Vec<Box<[u8]>>,
    free: Vec<u16>,
    /// Listeners (index = the accept token's slot); empty after `stop_accept`.
    listeners: Vec<RawFd>,
    /// Listeners deregistered after EMFILE-like errors, until the tick.
    accept_paused: Vec<u32>,
    wake_fd: RawFd,
    /// Completions produced outside `turn` (sends done at once).
    ready: Vec<Completion>,
    /// Connections that may still have unread data (read budget ran out),
    /// and whether they must be read until `EAGAIN` or EOF.
    again: Vec<(Token, bool)>,
    tick: std::time::Duration,
    next_tick: Instant,
}

impl EpollReactor {
    pub(crate) fn new(cfg: &ReactorConfig) -> io::Result<Self> {
        let epfd = syscall!(epoll_create1(libc::EPOLL_CLOEXEC))?;
        let count = cfg.buf_count.max(1);
        Ok(Self {
            epfd,
            events: vec![libc::epoll_event { events: 0, u64: 0 }; 256],
            slots: Vec::new(),
            pool: (0..count)
                .map(|_| vec![0u8; cfg.buf_size as usize].into_boxed_slice())
                .collect(),
            free: (0..count).rev().collect(),
            listeners: Vec::new(),
            accept_paused: Vec::new(),
            wake_fd: -1,
            ready: Vec::new(),
            again: Vec::new(),
            tick: cfg.tick,
            next_tick: Instant::now() + cfg.tick,
        })
    }

    fn ctl(&self, op: i32, fd: RawFd, events: u32, data: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event { events, u64: data };
        syscall!(epoll_ctl(self.epfd, op, fd, &mut ev)).map(drop)
    }

    pub(crate) fn arm_accept(&mut self, listener: RawFd) -> io::Result<()> {
        let idx = self.listeners.len() as u32;
        self.listeners.push(listener);
        self.watch_listener(idx)
    }

    fn watch_listener(&mut self, idx: u32) -> io::Result<()> {
        // Level-triggered: a backlog we did not drain reports again.
        let ud = encode(OpKind::Accept, Token { slot: idx, gen: 0 });
        self.ctl(
            libc::EPOLL_CTL_ADD,
            self.listeners[idx as usize],
            libc::EPOLLIN as u32,
            ud,
        )
    }

    pub(crate) fn stop_accept(&mut self) {
        for (i, &l) in self.listeners.iter().enumerate() {
            if !self.accept_paused.contains(&(i as u32)) {
                let _ = self.ctl(libc::EPOLL_CTL_DEL, l, 0, 0);
            }
        }
        self.listeners.clear();
        self.accept_paused.clear();
    }

    pub(crate) fn arm_recv(&mut self, token: Token, fd: RawFd) -> io::Result<()> {
        let idx = token.slot as usize;
        if self.slots.len() <= idx {
            self.slots.resize(idx + 1, None);
        }
        // Already registered: a re-arm after `Rearm` or a pause means "read
        // again", until `EAGAIN` (the edge may be gone).
        if self.resume(token).is_some() {
            return Ok(());
        }
        self.slots[idx] = Some(Slot {
            token,
            fd,
            parked_send: std::ptr::null(),
            paused: false,
            direct: std::ptr::null_mut(),
            want: 0,
            short: false,
            ended: false,
        });
        let ev = (libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLET) as u32;
        self.ctl(libc::EPOLL_CTL_ADD, fd, ev, encode(OpKind::Recv, token))
    }

    /// A registered connection's slot, set to read again at once (the
    /// socket's edge may have passed while it was not reading); `None` if
    /// the connection is not registered.
    fn resume(&mut self, token: Token) -> Option<&mut Slot> {
        let s = self.slots.get_mut(token.slot as usize)?.as_mut()?;
        if !s.token.same(token) {
            return None;
        }
        s.paused = false;
        s.ended = false;
        self.again.push((token, true));
        Some(s)
    }

    /// The next read takes at most `len` bytes, then the receive ends with
    /// `RecvEnded(Rearm)`; a connection not registered yet is armed as
    /// usual.
    pub(crate) fn arm_recv_short(&mut self, token: Token, fd: RawFd, len: u32) -> io::Result<()> {
        match self.resume(token) {
            Some(s) => {
                s.short = true;
                s.want = len;
                Ok(())
            }
            None => self.arm_recv(token, fd),
        }
    }

    /// The next read of this (registered) connection goes to `ptr..+len`,
    /// tried at once (the socket's edge may have passed). `false` if the
    /// connection is not registered.
    ///
    /// # Safety
    /// See [`super::Reactor::recv_into`].
    pub(crate) unsafe fn recv_into(&mut self, token: Token, ptr: *mut u8, len: u32) -> bool {
        match self.resume(token) {
            Some(s) => {
                s.direct = ptr;
                s.want = len;
                true
            }
            None => false,
        }
    }

    pub(crate) fn stop_recv(&mut self, token: Token, fd: RawFd) {
        let idx = token.slot as usize;
        if let Some(Some(s)) = self.slots.get(idx) {
            if s.token.same(token) {
                if !s.parked_send.is_null() {
                    self.ready.push(Completion::Sent {
                        token,
                        result: Err(libc::ECANCELED),
                    });
                }
                self.slots[idx] = None;
                let _ = self.ctl(libc::EPOLL_CTL_DEL, fd, 0, 0);
                self.ready.push(Completion::RecvEnded {
                    token,
                    end: RecvEnd::Error(libc::ECANCELED),
                });
            }
        }
    }

    /// Stop reading but stay registered, so a parked send still gets its
    /// `EPOLLOUT`. The final `RecvEnded` is reported by the next turn.
    pub(crate) fn pause_recv(&mut self, token: Token, _fd: RawFd) {
        if let Some(Some(s)) = self.slots.get_mut(token.slot as usize) {
            if s.token.same(token) && s.ended {
                // The receive already ended with its final completion.
                s.paused = true;
            } else if s.token.same(token) && !s.paused {
                s.paused = true;
                // The worker takes its buffer back with the `RecvEnded`.
                s.direct = std::ptr::null_mut();
                s.short = false;
                self.ready.push(Completion::RecvEnded {
                    token,
                    end: RecvEnd::Error(libc::ECANCELED),
                });
            }
        }
    }

    /// Deregister a connection whose receive was paused (a no-op if it is
    /// not registered any more).
    pub(crate) fn forget_recv(&mut self, token: Token, fd: RawFd) {
        if let Some(Some(s)) = self.slots.get(token.slot as usize) {
            if s.token.same(token) {
                debug_assert!(s.parked_send.is_null(), "released with a send parked");
                self.slots[token.slot as usize] = None;
                let _ = self.ctl(libc::EPOLL_CTL_DEL, fd, 0, 0);
            }
        }
    }

    /// # Safety
    /// See [`super::Reactor::send`].
    pub(crate) unsafe fn send(
        &mut self,
        token: Token,
        fd: RawFd,
        msg: *const libc::msghdr,
    ) -> io::Result<()> {
        // SAFETY: caller keeps `msg` valid until the `Sent` completion.
        match unsafe { sys::sendmsg(fd, msg) } {
            Ok(n) => self.ready.push(Completion::Sent {
                token,
                result: Ok(n),
            }),
            Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => {
                match self.slots.get_mut(token.slot as usize) {
                    Some(Some(s)) if s.token.same(token) => s.parked_send = msg,
                    // Not registered (receive already stopped): report failure.
                    _ => self.ready.push(Completion::Sent {
                        token,
                        result: Err(libc::EPIPE),
                    }),
                }
            }
            Err(e) => self.ready.push(Completion::Sent {
                token,
                result: Err(e.raw_os_error().unwrap_or(libc::EIO)),
            }),
        }
        Ok(())
    }

    pub(crate) fn arm_wake(&mut self, eventfd: RawFd) -> io::Result<()> {
        self.wake_fd = eventfd;
        self.ctl(
            libc::EPOLL_CTL_ADD,
            eventfd,
            libc::EPOLLIN as u32,
            encode(OpKind::Wake, Token::default()),
        )
    }

    /// Read up to the budget from one connection. With `drain`, a short read
    /// does not end the loop: the peer's FIN (`EPOLLRDHUP`) may have arrived
    /// with the data, and edge-triggered epoll will not report it again, so
    /// reading continues until `EAGAIN` or EOF.
    fn read_conn(&mut self, token: Token, drain: bool, out: &mut Vec<Completion>) {
        let Some(Some(slot)) = self.slots.get(token.slot as usize).copied() else {
            return;
        };
        if !slot.token.same(token) || slot.paused || slot.ended {
            return;
        }
        if !slot.direct.is_null() {
            self.read_direct(token, slot.fd, slot.direct, slot.want as usize, out);
            return;
        }
        for _ in 0..READS_PER_EVENT {
            let Some(id) = self.free.pop() else {
                // Every buffer is out this turn: read again next turn,
                // when they are back.
                break;
            };
            let whole = &mut self.pool[id as usize];
            let n = if slot.short {
                (slot.want as usize).min(whole.len())
            } else {
                whole.len()
            };
            let buf = &mut whole[..n];
            match sys::recv(slot.fd, buf) {
                Ok(0) => {
                    self.free.push(id);
                    out.push(Completion::RecvEnded {
                        token,
                        end: RecvEnd::Eof,
                    });
                    self.forget(token, slot.fd);
                    return;
                }
                Ok(n) => {
                    let full = n == buf.len();
                    out.push(Completion::Data {
                        token,
                        buf: RecvBuf {
                            ptr: buf.as_mut_ptr(),
                            len: n,
                            id,
                            release: true,
                        },
                    });
                    if slot.short {
                        // A short receive ends after one read.
                        if let Some(Some(s)) = self.slots.get_mut(token.slot as usize) {
                            s.short = false;
                            s.ended = true;
                        }
                        out.push(Completion::RecvEnded {
                            token,
                            end: RecvEnd::Rearm,
                        });
                        return;
                    }
                    if !full && !drain {
                        // A short read drained the socket; the next arrival
                        // raises a new edge.
                        return;
                    }
                }
                Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => {
                    self.free.push(id);
                    return;
                }
                Err(e) if e.raw_os_error() == Some(libc::EINTR) => self.free.push(id),
                Err(e) => {
                    self.free.push(id);
                    out.push(Completion::RecvEnded {
                        token,
                        end: RecvEnd::Error(e.raw_os_error().unwrap_or(libc::EIO)),
                    });
                    self.forget(token, slot.fd);
                    return;
                }
            }
        }
        self.again.push((token, drain));
    }

    /// One read into a direct receive's memory: `Direct` with the bytes
    /// (the receive is then done), or it stays pending on `EAGAIN`.
    fn read_direct(
        &mut self,
        token: Token,
        fd: RawFd,
        ptr: *mut u8,
        len: usize,
        out: &mut Vec<Completion>,
    ) {
        // SAFETY: `recv_into`'s caller keeps `ptr..ptr + len` valid for
        // writes until the receive ends, which is this read, a pause or a
        // stop (both drop the target first).
        let buf = unsafe { std::slice::from_raw_parts_mut(ptr, len) };
        match sys::recv(fd, buf) {
            Ok(0) => {
                out.push(Completion::RecvEnded {
                    token,
                    end: RecvEnd::Eof,
                });
                self.forget(token, fd);
            }
            Ok(n) => {
                if let Some(Some(s)) = self.slots.get_mut(token.slot as usize) {
                    s.direct = std::ptr::null_mut();
                    s.ended = true;
                }
                out.push(Completion::Direct { token, len: n });
            }
            Err(e) if matches!(e.raw_os_error(), Some(libc::EAGAIN | libc::EINTR)) => {
                if e.raw_os_error() == Some(libc::EINTR) {
                    self.again.push((token, true));
                }
            }
            Err(e) => {
                out.push(Completion::RecvEnded {
                    token,
                    end: RecvEnd::Error(e.raw_os_error().unwrap_or(libc::EIO)),
                });
                self.forget(token, fd);
            }
        }
    }

    /// The receive ended by itself: deregister, fail a parked send.
    fn forget(&mut self, token: Token, fd: RawFd) {
        if let Some(Some(s)) = self.slots.get(token.slot as usize).copied() {
            if !s.parked_send.is_null() {
                self.ready.push(Completion::Sent {
                    token,
                    result: Err(libc::EPIPE),
                });
            }
        }
        self.slots[token.slot as usize] = None;
        let _ = self.ctl(libc::EPOLL_CTL_DEL, fd, 0, 0);
    }

    fn retry_send(&mut self, token: Token) {
        let Some(Some(slot)) = self.slots.get_mut(token.slot as usize) else {
            return;
        };
        let msg = slot.parked_send;
        if msg.is_null() {
            return;
        }
        // SAFETY: the shard keeps a parked msghdr alive until its `Sent`.
        match unsafe { sys::sendmsg(slot.fd, msg) } {
            Ok(n) => {
                slot.parked_send = std::ptr::null();
                self.ready.push(Completion::Sent {
                    token,
                    result: Ok(n),
                });
            }
            Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => {}
            Err(e) => {
                slot.parked_send = std::ptr::null();
                self.ready.push(Completion::Sent {
                    token,
                    result: Err(e.raw_os_error().unwrap_or(libc::EIO)),
                });
            }
        }
    }

    pub(crate) fn turn(&mut self, out: &mut Vec<Completion>) -> io::Result<()> {
        let now = Instant::now();
        let timeout_ms = if !self.ready.is_empty() || !self.again.is_empty() {
            0
        } else {
            // Round up: truncating would turn a sub-millisecond wait into a
            // busy zero-timeout poll.
            let d = self.next_tick.saturating_duration_since(now);
            d.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32
        };
        let n = loop {
            match syscall!(epoll_wait(
                self.epfd,
                self.events.as_mut_ptr(),
                self.events.len() as i32,
                timeout_ms
            )) {
                Ok(n) => break n as usize,
                Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
                Err(e) => return Err(e),
            }
        };
        out.append(&mut self.ready);
        let again = std::mem::take(&mut self.again);
        for (token, drain) in again {
            self.read_conn(token, drain, out);
        }
        for i in 0..n {
            let ev = self.events[i];
            let (bits, data) = (ev.events, ev.u64);
            let Some((kind, token)) = decode(data) else {
                continue;
            };
            match kind {
                OpKind::Accept => {
                    let Some(&l) = self.listeners.get(token.slot as usize) else {
                        continue;
                    };
                    for _ in 0..64 {
                        match sys::accept(l) {
                            Ok(fd) => out.push(Completion::Accepted(token.slot, Ok(fd))),
                            Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => break,
                            Err(e) => {
                                let errno = e.raw_os_error().unwrap_or(libc::EIO);
                                out.push(Completion::Accepted(token.slot, Err(errno)));
                                let exhausted =
                                    [libc::EMFILE, libc::ENFILE, libc::ENOBUFS, libc::ENOMEM];
                                if exhausted.contains(&errno) {
                                    // The level-triggered listener would
                                    // report again at once, forever: pause
                                    // it until the tick.
                                    let _ = self.ctl(libc::EPOLL_CTL_DEL, l, 0, 0);
                                    self.accept_paused.push(token.slot);
                                }
                                break;
                            }
                        }
                    }
                }
                OpKind::Recv => {
                    if bits & libc::EPOLLOUT as u32 != 0 {
                        self.retry_send(token);
                    }
                    let input =
                        (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLHUP | libc::EPOLLERR) as u32;
                    if bits & input != 0 {
                        let hup = (libc::EPOLLRDHUP | libc::EPOLLHUP | libc::EPOLLERR) as u32;
                        self.read_conn(token, bits & hup != 0, out);
                    }
                }
                OpKind::Wake => {
                    sys::eventfd_read(self.wake_fd);
                    out.push(Completion::Wake);
                }
                // Bells are io_uring only: epoll workers are rung by eventfd.
                OpKind::Send | OpKind::Tick | OpKind::Cancel | OpKind::Bell | OpKind::BellSent => {}
            }
        }
        out.append(&mut self.ready);
        let now = Instant::now();
        if now >= self.next_tick {
            self.next_tick = now + self.tick;
            for idx in std::mem::take(&mut self.accept_paused) {
                if (idx as usize) < self.listeners.len() {
                    let _ = self.watch_listener(idx);
                }
            }
            out.push(Completion::Tick);
        }
        Ok(())
    }

    /// Number of read buffers in the pool.
    pub(crate) fn buf_count(&self) -> usize {
        self.pool.len()
    }

    pub(crate) fn recycle(&mut self, buf: RecvBuf) {
        self.free.push(buf.id);
    }
}

impl Drop for EpollReactor {
    fn drop(&mut self) {
        sys::close(self.epfd);
    }
}
