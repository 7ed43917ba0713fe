//! Waking the bridge thread from any thread, and waiting on descriptors.
//!
//! The bridge thread sleeps in one `ppoll(2)` on the broker's socket and an
//! eventfd. Callers that queue work write the eventfd; the write is skipped
//! while a wake-up is already pending, so a burst of publishes costs one
//! syscall, not one each.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// An eventfd with a pending flag.
///
/// Protocol (what makes a wake-up impossible to lose): a caller queues its
/// work, then calls [`Waker::wake`]. The sleeper calls [`Waker::reset`]
/// *before* it drains the queues. Work queued after the drain began finds the
/// flag clear and writes the eventfd, so the next wait returns at once.
#[derive(Debug)]
pub(crate) struct Waker {
    fd: File,
    pending: AtomicBool,
}

impl Waker {
    pub(crate) fn new() -> io::Result<Waker> {
        // SAFETY: eventfd takes no pointers; the result is checked below.
        let raw = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a new descriptor that nothing else owns.
        let owned = unsafe { OwnedFd::from_raw_fd(raw) };
        Ok(Waker {
            fd: File::from(owned),
            pending: AtomicBool::new(false),
        })
    }

    /// Makes the sleeper's next (or current) wait return.
    pub(crate) fn wake(&self) {
        if !self.pending.swap(true, Ordering::SeqCst) {
            // An eventfd write of 8 bytes only fails when the counter would
            // overflow, which a pending wake-up cannot reach.
            let _ = (&self.fd).write(&1u64.to_ne_bytes());
        }
    }

    /// Consumes the pending wake-up; call before draining the queues.
    pub(crate) fn reset(&self) {
        let mut buf = [0u8; 8];
        let _ = (&self.fd).read(&mut buf);
        self.pending.store(false, Ordering::SeqCst);
    }

    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// Waits until one of `fds` is ready or `timeout` passes (`ppoll(2)`, so a
/// sub-millisecond timeout is kept rather than rounded to zero or up to 1 ms).
/// An interrupted wait counts as a wake-up.
pub fn wait(fds: &mut [libc::pollfd], timeout: Duration) -> io::Result<()> {
    let ts = libc::timespec {
        tv_sec: timeout.as_secs().min(i32::MAX as u64) as libc::time_t,
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    // SAFETY: `fds` is a valid, exclusively borrowed array of `fds.len()`
    // pollfd entries for the duration of the call; `ts` lives on this stack
    // frame; a null signal mask means "leave the mask as it is".
    let rc = unsafe {
        libc::ppoll(
            fds.as_mut_ptr(),
            fds.len() as libc::nfds_t,
            &ts,
            std::ptr::null(),
        )
    };
    if rc < 0 {
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
    Ok(())
}

/// A `pollfd` asking for `events` on `fd`.
pub fn pollfd(fd: BorrowedFd<'_>, events: libc::c_short) -> libc::pollfd {
    libc::pollfd {
        fd: fd.as_raw_fd(),
        events,
        revents: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wake_before_wait_returns_at_once_and_reset_clears_it() {
        let w = Waker::new().unwrap();
        w.wake();
        w.wake();
        let mut fds = [pollfd(w.fd(), libc::POLLIN)];
        wait(&mut fds, Duration::from_secs(30)).unwrap();
        assert_ne!(fds[0].revents & libc::POLLIN, 0);
        w.reset();
        let mut fds = [pollfd(w.fd(), libc::POLLIN)];
        wait(&mut fds, Duration::from_millis(20)).unwrap();
        assert_eq!(fds[0].revents, 0, "no wake-up is pending after reset");
    }
}
