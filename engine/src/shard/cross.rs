//! Messages between threads and workers: a mutex-guarded queue per worker
//! plus an eventfd the worker's reactor watches.
//!
//! Chosen as the simplest correct mechanism: the per-message path (a
//! connection's own receives and sends) never touches it; only `send_to`,
//! `publish` and shutdown do, and a sender takes the lock for a push and
//! writes the eventfd only when the queue was empty (one wake-up per batch).
//! `IORING_OP_MSG_RING` would skip the eventfd read but carries only 96 bits
//! and needs a ring on the sending side; not measured yet.

use std::os::fd::RawFd;
use std::sync::Mutex;
use std::time::Instant;

use bytes::Bytes;

use crate::reactor::sys;
use crate::server::ConnId;

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
}

impl Mailbox {
    pub(crate) fn new() -> std::io::Result<Self> {
        Ok(Self {
            queue: Mutex::new(Vec::new()),
            eventfd: sys::eventfd()?,
        })
    }

    /// The eventfd the worker's reactor watches.
    pub(crate) fn eventfd(&self) -> RawFd {
        self.eventfd
    }

    /// Queue a command and wake the worker if the queue was empty.
    pub(crate) fn push(&self, cmd: Command) {
        let was_empty = {
            let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
            let was_empty = q.is_empty();
            q.push(cmd);
            was_empty
        };
        if was_empty {
            sys::eventfd_write(self.eventfd);
        }
    }

    /// Take every queued command (swaps with `into`, which must be empty).
    pub(crate) fn drain_into(&self, into: &mut Vec<Command>) {
        let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        std::mem::swap(&mut *q, into);
    }
}

impl Drop for Mailbox {
    fn drop(&mut self) {
        sys::close(self.eventfd);
    }
}
