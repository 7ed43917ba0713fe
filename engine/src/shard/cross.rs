//! Messages between threads and workers: a mutex-guarded queue per worker,
//! rung by a doorbell when a push finds it empty.
//!
//! The per-message path (a connection's own receives and sends) never
//! touches it; only `send_to`, `publish`, `broadcast` and shutdown do. A
//! sender takes the lock for a push and rings only when the queue was empty
//! (one wake-up per batch). There are two doorbells:
//!
//! - **`IORING_OP_MSG_RING`** (5.18+, `IORING_MSG_DATA`): used when the
//!   sender is a worker on io_uring and the target worker's ring is
//!   published here ([`Mailbox::ring_fd`]). The sender records the target
//!   in its own mailbox ([`Mailbox::push_from_worker`]) and submits one
//!   `MSG_RING` per target before its next `submit_and_wait`; the kernel
//!   posts a CQE straight into the target's ring. Measured on the
//!   development machine (`perf/results/2026-11-21-979ca62/uring-experiments-msgring.json`,
//!   kernel 6.18, 2 CPUs, `SINGLE_ISSUER|DEFER_TASKRUN|COOP_TASKRUN`): this
//!   queue rung by `MSG_RING` has ~3.5–3.9× lower p99 round-trip wake-up
//!   latency than the same queue rung by eventfd (median p99 169 µs against
//!   651 µs) and half the CPU per round trip (22 µs against 47 µs), and in
//!   the flood runs it moves the most messages (39.5 M/s against 34.0 M/s)
//!   with half the receiver CPU per message. One `MSG_RING` per message
//!   (the payload in the CQE) was measured too and loses floods by far.
//! - **the eventfd**: everything else (a [`crate::ServerHandle`] call from
//!   a thread that is not a worker, the epoll backend, a kernel without
//!   `MSG_RING`, a failed `MSG_RING`, a target that is shutting down). The
//!   target's reactor keeps its eventfd watch armed for these.
//!
//! # Never lose a wake-up
//! A command pushed onto an empty queue is always followed by one ring:
//! [`Mailbox::push`] writes the eventfd itself; the caller of
//! [`Mailbox::push_owed`] that got `true` must ring (`MSG_RING` or
//! [`Mailbox::wake`]); [`Mailbox::push_from_worker`] records the ring owed
//! in the sender's mailbox, and the sender takes the list
//! ([`Mailbox::take_owed`]) and rings every entry before it next waits.
//! Later pushes onto a non-empty queue ride on that ring, since the target
//! drains the whole queue when it wakes.
//!
//! # Shutdown ordering
//! A `MSG_RING` must never name a ring fd that was closed (and perhaps
//! reused, say by another server's ring in the same process). A worker
//! therefore keeps its ring open until every worker of the server has left
//! its loop: on the way out it withdraws its ring fd (senders fall back to
//! the eventfd), rings what it still owes by eventfd, marks its mailbox
//! stopped ([`Mailbox::stopped`]) and waits for every other mailbox to be
//! stopped ([`Mailbox::wait_stopped`]) before the ring is dropped. A worker
//! submits its `MSG_RING`s in the same `submit_and_wait` that ends a loop
//! turn, so once it is stopped it has nothing left that names another ring.

use std::os::fd::RawFd;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::Instant;

use bytes::Bytes;

use crate::conn::ConnId;
use crate::reactor::sys;

/// A command for a worker.
pub(crate) enum Command {
    /// Queue an already-encoded frame on one connection.
    SendTo(ConnId, Bytes),
    /// Queue an already-encoded frame on every open connection of the worker.
    Broadcast(Bytes),
    /// Queue a frame on the worker's subscribers of a topic.
    Publish(std::sync::Arc<str>, Bytes),
    /// Graceful shutdown: close every connection with 1001, stop at `deadline`.
    Shutdown(Instant),
}

/// One worker's inbox.
pub(crate) struct Mailbox {
    queue: Mutex<Vec<Command>>,
    eventfd: RawFd,
    /// The worker's io_uring fd while it accepts `MSG_RING` doorbells, -1
    /// otherwise (epoll, no `MSG_RING`, not started yet, or leaving). A fd
    /// stored here stays open until every worker is stopped.
    ring_fd: AtomicI32,
    /// Set once the worker has left its loop and will submit nothing more.
    stopped: Mutex<bool>,
    stopped_cv: Condvar,
    /// Workers this mailbox's own worker owes a doorbell. Touched only by
    /// that worker's thread (uncontended): a lock because handlers reach
    /// it through the shared mailbox list.
    owed: Mutex<Vec<u16>>,
}

impl Mailbox {
    pub(crate) fn new() -> std::io::Result<Self> {
        Ok(Self {
            queue: Mutex::new(Vec::new()),
            eventfd: sys::eventfd()?,
            ring_fd: AtomicI32::new(-1),
            stopped: Mutex::new(false),
            stopped_cv: Condvar::new(),
            owed: Mutex::new(Vec::new()),
        })
    }

    /// The eventfd the worker's reactor watches.
    pub(crate) fn eventfd(&self) -> RawFd {
        self.eventfd
    }

    /// The worker's ring fd for `MSG_RING` doorbells, if it takes them.
    pub(crate) fn ring_fd(&self) -> Option<RawFd> {
        let fd = self.ring_fd.load(Ordering::Acquire);
        (fd >= 0).then_some(fd)
    }

    /// Publish (`Some`) or withdraw (`None`) the worker's ring fd. Only the
    /// worker itself calls this; a published fd must stay open until
    /// [`Mailbox::wait_stopped`] has returned.
    pub(crate) fn set_ring_fd(&self, fd: Option<RawFd>) {
        self.ring_fd.store(fd.unwrap_or(-1), Ordering::Release);
    }

    /// Queue a command and write the eventfd if the queue was empty.
    pub(crate) fn push(&self, cmd: Command) {
        if self.push_owed(cmd) {
            self.wake();
        }
    }

    /// Queue a command; `true` if the queue was empty, in which case the
    /// caller owes the worker a ring (`MSG_RING` or [`Mailbox::wake`]).
    #[must_use = "a push onto an empty queue must be followed by a ring"]
    pub(crate) fn push_owed(&self, cmd: Command) -> bool {
        let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        let was_empty = q.is_empty();
        q.push(cmd);
        was_empty
    }

    /// Queue a command unless `max` commands are already waiting (then
    /// `false`: the caller drops it and counts the drop). Used by the
    /// broker bridge, whose deliveries must not grow an inbox without
    /// bound when a worker falls behind; rings like [`Mailbox::push`].
    pub(crate) fn push_bounded(&self, cmd: Command, max: usize) -> bool {
        let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        if q.len() >= max {
            return false;
        }
        let was_empty = q.is_empty();
        q.push(cmd);
        drop(q);
        if was_empty {
            self.wake();
        }
        true
    }

    /// Queue a command from a worker thread whose own mailbox is `sender`;
    /// this mailbox belongs to worker `target`. A sender that takes
    /// `MSG_RING` doorbells (its ring fd is published) records the ring owed
    /// in `sender`, to be rung before it next waits; any other sender
    /// writes the eventfd at once, as [`Mailbox::push`] does.
    pub(crate) fn push_from_worker(&self, cmd: Command, sender: &Mailbox, target: u16) {
        if sender.ring_fd().is_none() {
            self.push(cmd);
        } else if self.push_owed(cmd) {
            sender
                .owed
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(target);
        }
    }

    /// Move the doorbells this mailbox's worker owes into `into` (which
    /// must be empty); the caller rings every one.
    pub(crate) fn take_owed(&self, into: &mut Vec<u16>) {
        let mut o = self.owed.lock().unwrap_or_else(|p| p.into_inner());
        std::mem::swap(&mut *o, into);
    }

    /// Ring by eventfd.
    pub(crate) fn wake(&self) {
        sys::eventfd_write(self.eventfd);
    }

    /// Take every queued command (swaps with `into`, which must be empty).
    pub(crate) fn drain_into(&self, into: &mut Vec<Command>) {
        let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        std::mem::swap(&mut *q, into);
    }

    /// The worker has left its loop and submits nothing more (also called
    /// for a worker that never started).
    pub(crate) fn stopped(&self) {
        self.set_ring_fd(None);
        *self.stopped.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.stopped_cv.notify_all();
    }

    /// Block until [`Mailbox::stopped`] has been called.
    pub(crate) fn wait_stopped(&self) {
        let mut g = self.stopped.lock().unwrap_or_else(|p| p.into_inner());
        while !*g {
            g = self.stopped_cv.wait(g).unwrap_or_else(|p| p.into_inner());
        }
    }
}

impl Drop for Mailbox {
    fn drop(&mut self) {
        sys::close(self.eventfd);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_owed_only_when_empty() {
        let mb = Mailbox::new().unwrap();
        let frame = Bytes::from_static(b"x");
        assert!(mb.push_owed(Command::Broadcast(frame.clone())));
        assert!(!mb.push_owed(Command::Broadcast(frame.clone())));
        let mut into = Vec::new();
        mb.drain_into(&mut into);
        assert_eq!(into.len(), 2);
        into.clear();
        // Drained: the next push owes a ring again.
        assert!(mb.push_owed(Command::Broadcast(frame)));
    }

    #[test]
    fn worker_sender_owes_a_ring_only_with_a_published_ring() {
        let (a, b) = (Mailbox::new().unwrap(), Mailbox::new().unwrap());
        let frame = Bytes::from_static(b"x");
        let mut owed = Vec::new();
        // `a` takes no doorbells (epoll): the eventfd is written, nothing owed.
        b.push_from_worker(Command::Broadcast(frame.clone()), &a, 1);
        a.take_owed(&mut owed);
        assert!(owed.is_empty());
        let mut into = Vec::new();
        b.drain_into(&mut into);
        into.clear();
        // `a` on io_uring: one ring owed for the empty queue, none after.
        a.set_ring_fd(Some(3));
        b.push_from_worker(Command::Broadcast(frame.clone()), &a, 1);
        b.push_from_worker(Command::Broadcast(frame), &a, 1);
        a.take_owed(&mut owed);
        assert_eq!(owed, [1]);
    }

    #[test]
    fn bounded_push_refuses_past_the_limit() {
        let mb = Mailbox::new().unwrap();
        let frame = Bytes::from_static(b"x");
        assert!(mb.push_bounded(Command::Broadcast(frame.clone()), 2));
        assert!(mb.push_bounded(Command::Broadcast(frame.clone()), 2));
        assert!(!mb.push_bounded(Command::Broadcast(frame.clone()), 2));
        let mut into = Vec::new();
        mb.drain_into(&mut into);
        assert_eq!(into.len(), 2);
        assert!(mb.push_bounded(Command::Broadcast(frame), 2));
    }

    #[test]
    fn ring_fd_published_and_withdrawn() {
        let mb = Mailbox::new().unwrap();
        assert_eq!(mb.ring_fd(), None);
        mb.set_ring_fd(Some(7));
        assert_eq!(mb.ring_fd(), Some(7));
        mb.stopped();
        assert_eq!(mb.ring_fd(), None);
        mb.wait_stopped();
    }
}
