//! The reactor: the only code that touches io_uring or epoll.
//!
//! One reactor per worker thread. Both backends offer the same completion
//! surface (as mio's selectors do): the shard *arms* operations (accept,
//! receive, send, wake-up) and, once per loop turn, [`Reactor::turn`] fills a
//! list of [`Completion`]s. io_uring produces them natively; epoll emulates
//! them by doing the nonblocking syscall when the socket is ready.
//!
//! # Caller duties
//! - Every [`Completion::Data`] carries a buffer that must be handed back
//!   with [`Reactor::recycle`] once the connection is done with it (even for
//!   a stale token): on io_uring it belongs to the provided-buffer ring.
//! - The `msghdr` (and the iovecs and bytes it points to) given to
//!   [`Reactor::send`] must stay alive and unmoved until the matching
//!   [`Completion::Sent`]; at most one send per connection is in flight.
//! - A receive that ends with [`RecvEnd::Rearm`] must be re-armed (ENOBUFS
//!   or a multishot that stopped): nothing is lost, the data waits in the
//!   socket.
//! - After [`Reactor::stop_recv`] or [`Reactor::pause_recv`] the shard
//!   still waits for the receive's final [`Completion::RecvEnded`] before
//!   it re-arms the receive or forgets the connection, and it handles the
//!   [`Completion::Data`] that arrive before it (bytes the kernel already
//!   delivered: never dropped). A paused receive is resumed with
//!   [`Reactor::arm_recv`]; on epoll this reads at once, since the socket's
//!   readiness edge may have passed while paused.
//! - Before closing a connection's socket the shard calls
//!   [`Reactor::forget_recv`].

mod bufring;
mod epoll;
pub(crate) mod sys;
mod uring;
pub(crate) mod user_data;

use std::fmt;
use std::io;
use std::os::fd::RawFd;
use std::time::Duration;

pub(crate) use user_data::Token;

/// Which I/O backend a server runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Backend {
    /// io_uring when the kernel allows it and has every opcode the engine
    /// needs, epoll otherwise. The choice and the reason are logged.
    #[default]
    Auto,
    /// io_uring only; starting fails if it is unavailable.
    Uring,
    /// epoll with nonblocking sockets.
    Epoll,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Auto => "auto",
            Backend::Uring => "uring",
            Backend::Epoll => "epoll",
        })
    }
}

impl std::str::FromStr for Backend {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(Backend::Auto),
            "uring" | "io_uring" | "io-uring" => Ok(Backend::Uring),
            "epoll" => Ok(Backend::Epoll),
            other => Err(format!("unknown backend {other:?} (auto | uring | epoll)")),
        }
    }
}

/// Sizes the reactor needs.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ReactorConfig {
    /// Submission queue entries (io_uring); the completion queue is 4× this.
    pub(crate) sq_entries: u32,
    /// Provided buffers in the ring (power of two ≤ 32768).
    pub(crate) buf_count: u16,
    /// Size of each receive buffer.
    pub(crate) buf_size: u32,
    /// io_uring: consume ring buffers incrementally when the kernel can.
    pub(crate) incremental: bool,
    /// Period of [`Completion::Tick`].
    pub(crate) tick: Duration,
}

/// A received chunk: `len` bytes at `ptr`, owned by the reactor (ring buffer
/// `id` on io_uring, read-pool slot `id` on epoll) until recycled.
#[derive(Debug)]
pub(crate) struct RecvBuf {
    ptr: *mut u8,
    len: usize,
    id: u16,
    /// Recycling hands the buffer back (false for a piece of an
    /// incrementally consumed ring buffer that the kernel still fills).
    release: bool,
}

impl RecvBuf {
    /// The buffer's id in its ring or pool.
    pub(crate) fn id(&self) -> u16 {
        self.id
    }

    /// Whether recycling hands the buffer back (its last piece).
    pub(crate) fn releases(&self) -> bool {
        self.release
    }

    #[cfg(test)]
    pub(crate) fn for_tests(ptr: *mut u8, len: usize, id: u16, release: bool) -> Self {
        Self {
            ptr,
            len,
            id,
            release,
        }
    }

    /// The received bytes, mutable so the codec can unmask in place.
    ///
    /// # Safety
    /// The caller must not keep the slice past [`Reactor::recycle`] of this
    /// buffer, nor create two slices of it at once.
    pub(crate) unsafe fn bytes<'a>(&self) -> &'a mut [u8] {
        // SAFETY: the reactor filled `len` bytes at `ptr` and does not touch
        // the buffer again until it is recycled (caller's duty above).
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.len) }
    }
}

/// Why a connection's receive stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RecvEnd {
    /// The peer closed its side (read returned 0).
    Eof,
    /// An error (`errno`), including `ECANCELED` after `stop_recv` or
    /// `pause_recv`.
    Error(i32),
    /// The multishot stopped (ENOBUFS, or a completion without `F_MORE`):
    /// arm it again.
    Rearm,
}

/// One event out of [`Reactor::turn`].
#[derive(Debug)]
pub(crate) enum Completion {
    /// A new connection from listener number `.0` (in the order they were
    /// armed; already nonblocking on epoll), or an accept error (`errno`);
    /// the reactor keeps accepting either way.
    Accepted(u32, Result<RawFd, i32>),
    /// A direct receive ([`Reactor::recv_into`]) wrote `len` (> 0) bytes
    /// into the caller's memory; the receive has ended (arm the next one).
    /// A direct receive that gets nothing ends with [`Completion::RecvEnded`]
    /// instead (`Eof`, or `Error`, `ECANCELED` after a stop or a pause).
    Direct {
        /// Connection.
        token: Token,
        /// Bytes written.
        len: usize,
    },
    /// Bytes received on a connection.
    Data {
        /// Connection.
        token: Token,
        /// The bytes; recycle after use.
        buf: RecvBuf,
    },
    /// A connection's receive stopped.
    RecvEnded {
        /// Connection.
        token: Token,
        /// Why.
        end: RecvEnd,
    },
    /// A send finished: bytes written, or an `errno`.
    Sent {
        /// Connection.
        token: Token,
        /// Bytes written (may be fewer than queued: resume the rest).
        result: Result<usize, i32>,
    },
    /// The periodic timer fired.
    Tick,
    /// Another thread signalled the wake-up eventfd, or another worker
    /// rang this ring with `IORING_OP_MSG_RING`: drain the inbox.
    Wake,
}

/// The backend actually running.
// One per worker, never moved after start: the size difference is moot.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Reactor {
    /// io_uring.
    Uring(uring::UringReactor),
    /// epoll.
    Epoll(epoll::EpollReactor),
}

macro_rules! dispatch {
    ($self:ident, $r:ident => $e:expr) => {
        match $self {
            Reactor::Uring($r) => $e,
            Reactor::Epoll($r) => $e,
        }
    };
}

impl Reactor {
    /// Build the reactor for `backend` (`Auto` already resolved by
    /// [`choose_backend`]). Must run on the worker thread that will use it:
    /// io_uring's `SINGLE_ISSUER` ties the ring to its first submitter.
    pub(crate) fn new(backend: Backend, cfg: &ReactorConfig) -> io::Result<Self> {
        match backend {
            Backend::Epoll => Ok(Reactor::Epoll(epoll::EpollReactor::new(cfg)?)),
            Backend::Uring | Backend::Auto => Ok(Reactor::Uring(uring::UringReactor::new(cfg)?)),
        }
    }

    /// How many times an idle io_uring worker returned its receive buffers'
    /// pages to the kernel (always 0 on epoll, whose pool is fixed).
    #[cfg(test)]
    pub(crate) fn trims(&self) -> u64 {
        match self {
            Reactor::Uring(r) => r.trims(),
            Reactor::Epoll(_) => 0,
        }
    }

    /// io_uring receives consume ring buffers incrementally (never on epoll).
    pub(crate) fn incremental_recv(&self) -> bool {
        match self {
            Reactor::Uring(r) => r.incremental(),
            Reactor::Epoll(_) => false,
        }
    }

    /// Which backend this is.
    pub(crate) fn backend(&self) -> Backend {
        match self {
            Reactor::Uring(_) => Backend::Uring,
            Reactor::Epoll(_) => Backend::Epoll,
        }
    }

    /// Start accepting on `listener` (kept armed until the reactor drops or
    /// [`Reactor::stop_accept`]).
    pub(crate) fn arm_accept(&mut self, listener: RawFd) -> io::Result<()> {
        dispatch!(self, r => r.arm_accept(listener))
    }

    /// Stop accepting (graceful shutdown). The listener fd stays open.
    pub(crate) fn stop_accept(&mut self) {
        dispatch!(self, r => r.stop_accept())
    }

    /// Start (or restart) receiving on a connection.
    pub(crate) fn arm_recv(&mut self, token: Token, fd: RawFd) -> io::Result<()> {
        dispatch!(self, r => r.arm_recv(token, fd))
    }

    /// Receive up to `len` bytes of a connection straight into `ptr`
    /// (one-shot, instead of the multishot into the buffer ring): for the
    /// rest of a large frame, which then skips the copy out of the ring.
    /// Ends with [`Completion::Direct`] or [`Completion::RecvEnded`]; it is
    /// stopped, paused and counted like an armed receive. On epoll the
    /// connection must be registered (its receive armed before): the next
    /// read goes to `ptr` instead of the pool. Returns `false`, arming
    /// nothing, when it cannot be done.
    ///
    /// # Safety
    /// `ptr..ptr + len` must stay valid for writes, and not be read or
    /// moved, until the receive's completion.
    pub(crate) unsafe fn recv_into(
        &mut self,
        token: Token,
        fd: RawFd,
        ptr: *mut u8,
        len: u32,
    ) -> bool {
        match self {
            // SAFETY: forwarded caller contract.
            Reactor::Uring(r) => unsafe { r.recv_into(token, fd, ptr, len) },
            // SAFETY: forwarded caller contract.
            Reactor::Epoll(r) => unsafe { r.recv_into(token, ptr, len) },
        }
    }

    /// Receive at most `len` bytes once, into the buffer ring (a frame
    /// header's worth, to see how large the next frame is before choosing
    /// between the multishot and [`Reactor::recv_into`]): one
    /// [`Completion::Data`], then [`Completion::RecvEnded`] (`Rearm` after
    /// data); on epoll one read of at most `len` bytes.
    pub(crate) fn arm_recv_short(&mut self, token: Token, fd: RawFd, len: u32) -> io::Result<()> {
        dispatch!(self, r => r.arm_recv_short(token, fd, len))
    }

    /// Ask the receive to end; a final [`Completion::RecvEnded`] follows.
    pub(crate) fn stop_recv(&mut self, token: Token, fd: RawFd) {
        dispatch!(self, r => r.stop_recv(token, fd))
    }

    /// Stop reading for backpressure, keeping the connection registered
    /// for sends. [`Completion::Data`] already produced may still arrive;
    /// a final [`Completion::RecvEnded`] follows (`Error(ECANCELED)`, or
    /// whatever ended the receive first). [`Reactor::arm_recv`] resumes.
    pub(crate) fn pause_recv(&mut self, token: Token, fd: RawFd) {
        dispatch!(self, r => r.pause_recv(token, fd))
    }

    /// The connection is released: drop whatever the reactor still keeps
    /// for it (epoll's registration after a pause). No completion follows;
    /// a no-op when nothing is kept.
    pub(crate) fn forget_recv(&mut self, token: Token, fd: RawFd) {
        dispatch!(self, r => r.forget_recv(token, fd))
    }

    /// Start a vectored send.
    ///
    /// # Safety
    /// `msg` and everything it points to must stay valid and unmoved until
    /// the matching [`Completion::Sent`]; one send per connection at a time.
    pub(crate) unsafe fn send(
        &mut self,
        token: Token,
        fd: RawFd,
        msg: *const libc::msghdr,
    ) -> io::Result<()> {
        // SAFETY: forwarded caller contract.
        dispatch!(self, r => unsafe { r.send(token, fd, msg) })
    }

    /// Watch `eventfd` for cross-thread wake-ups.
    pub(crate) fn arm_wake(&mut self, eventfd: RawFd) -> io::Result<()> {
        dispatch!(self, r => r.arm_wake(eventfd))
    }

    /// This ring's fd for other workers' `IORING_OP_MSG_RING` doorbells;
    /// `None` on epoll or a kernel without `MSG_RING`.
    pub(crate) fn bell_fd(&self) -> Option<RawFd> {
        match self {
            Reactor::Uring(r) => r.bell_fd(),
            Reactor::Epoll(_) => None,
        }
    }

    /// Ring another worker whose ring is `ring_fd` (from its
    /// [`Reactor::bell_fd`]) with `IORING_OP_MSG_RING`, submitted by the
    /// next [`Reactor::turn`]; the target sees a [`Completion::Wake`]. If
    /// the op fails, `eventfd` (the target's) is written instead. Returns
    /// `false` when this backend cannot ring: the caller writes `eventfd`.
    ///
    /// `ring_fd` must stay open until this reactor's next `turn` has
    /// submitted the op (see the shutdown ordering in `shard/cross.rs`).
    pub(crate) fn ring_bell(&mut self, ring_fd: RawFd, eventfd: RawFd) -> bool {
        match self {
            Reactor::Uring(r) => r.ring_bell(ring_fd, eventfd),
            Reactor::Epoll(_) => false,
        }
    }

    /// Submit what was armed, wait for at least one event (bounded by the
    /// tick), and append the completions to `out`. `may_trim`: the receive
    /// buffers' pages may be returned if the worker has been idle (io_uring).
    pub(crate) fn turn(&mut self, out: &mut Vec<Completion>, may_trim: bool) -> io::Result<()> {
        match self {
            Reactor::Uring(r) => r.turn(out, may_trim),
            Reactor::Epoll(r) => r.turn(out),
        }
    }

    /// Receive buffers (ids `0..count`).
    pub(crate) fn recv_buffer_count(&self) -> usize {
        dispatch!(self, r => r.buf_count())
    }

    /// Hand a received buffer back.
    pub(crate) fn recycle(&mut self, buf: RecvBuf) {
        dispatch!(self, r => r.recycle(buf))
    }
}

/// Resolve `Auto` by probing; returns the backend and the reason, for the log.
pub(crate) fn choose_backend(requested: Backend) -> (Backend, String) {
    match requested {
        Backend::Epoll => (Backend::Epoll, "forced by configuration".into()),
        Backend::Uring => (Backend::Uring, "forced by configuration".into()),
        Backend::Auto => match uring::probe() {
            Ok(()) => (
                Backend::Uring,
                "io_uring available with every opcode the engine needs".into(),
            ),
            Err(why) => (Backend::Epoll, format!("io_uring unusable: {why}")),
        },
    }
}

#[cfg(test)]
mod tests;
