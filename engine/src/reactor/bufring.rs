//! A provided-buffer ring (`IORING_REGISTER_PBUF_RING`, Linux 5.19) that the
//! kernel picks receive buffers from.
//!
//! Two anonymous mappings: the ring of `io_uring_buf` entries (page aligned,
//! as the kernel requires) and the buffer memory itself (`entries × size`).
//! We are the producer: we write an entry, then publish the new tail with a
//! `Release` store so the kernel (the consumer) never sees the tail before the
//! entry it covers. The kernel tells us which buffer it filled through the
//! completion's buffer id; we hand that buffer back with [`BufRing::recycle`]
//! as soon as the connection is done with it.
//!
//! # Incremental consumption (`IOU_PBUF_RING_INC`, Linux 6.12)
//!
//! Registered with that flag, a receive takes only the bytes it needs from
//! the current buffer, and the next receive (of any connection) continues in
//! the same buffer after them: a 100-byte read no longer uses up a 64 KiB
//! buffer, so a ring of a few large buffers serves many small reads. Each
//! completion still names the buffer; its bytes start where the previous
//! piece of that buffer ended (we track the offset, as the kernel does), and
//! `IORING_CQE_F_BUF_MORE` says the kernel will put more into it. The buffer
//! goes back to the ring only after its last piece (no `BUF_MORE`) has been
//! handled; pieces are handled in completion order, so the earlier ones are
//! done by then.

use std::io;
use std::sync::atomic::{AtomicU16, Ordering};

use io_uring::types::BufRingEntry;

use super::sys::Mmap;

/// A registered buffer ring and its buffers.
///
/// Invariants: `entries` is a power of two ≤ 32768; every buffer id in
/// `0..entries` is either in the ring (kernel may fill it) or held by exactly
/// one completion being processed (and then recycled exactly once).
pub(crate) struct BufRing {
    ring: Mmap,
    bufs: Mmap,
    entries: u16,
    buf_size: u32,
    /// Our local copy of the tail; the kernel only reads the published one.
    tail: u16,
    /// Buffer group id the ring is registered under.
    pub(crate) bgid: u16,
    /// Registered for incremental consumption.
    inc: bool,
    /// Bytes of each buffer already handed out (incremental mode only).
    offsets: Box<[u32]>,
}

/// A received piece of a ring buffer.
pub(crate) struct Piece {
    pub(crate) ptr: *mut u8,
    /// The buffer goes back to the ring once this piece is handled (it is
    /// its last piece).
    pub(crate) last: bool,
}

impl BufRing {
    /// Allocate `entries` buffers of `buf_size` bytes and fill the ring with
    /// all of them. Register it with [`BufRing::register`] before use.
    pub(crate) fn new(entries: u16, buf_size: u32, bgid: u16) -> io::Result<Self> {
        if !entries.is_power_of_two() || entries > 32768 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "buffer ring size must be a power of two ≤ 32768",
            ));
        }
        let ring = Mmap::anon(entries as usize * std::mem::size_of::<BufRingEntry>())?;
        let bufs = Mmap::anon(entries as usize * buf_size as usize)?;
        let mut this = Self {
            ring,
            bufs,
            entries,
            buf_size,
            tail: 0,
            bgid,
            inc: false,
            offsets: vec![0; entries as usize].into_boxed_slice(),
        };
        for bid in 0..entries {
            this.push(bid);
        }
        this.publish();
        Ok(this)
    }

    /// Register the ring with the kernel under `self.bgid`, for incremental
    /// consumption if `inc` and the kernel has it (else whole buffers).
    /// Returns whether incremental consumption is on.
    pub(crate) fn register(
        &mut self,
        submitter: &io_uring::Submitter<'_>,
        inc: bool,
    ) -> io::Result<bool> {
        let flags = if inc {
            io_uring::types::IOU_PBUF_RING_INC as u16
        } else {
            0
        };
        // SAFETY: the ring memory is page aligned (mmap), holds `entries`
        // entries and lives as long as `self`; the owner unregisters (or drops
        // the io_uring) before dropping `self` — see `UringReactor`'s field order.
        let r = unsafe {
            submitter.register_buf_ring_with_flags(
                self.ring.ptr() as u64,
                self.entries,
                self.bgid,
                flags,
            )
        };
        match r {
            // EINVAL: a kernel before 6.12 does not know the flag.
            Err(e) if inc && e.raw_os_error() == Some(libc::EINVAL) => {
                tracing::debug!("IOU_PBUF_RING_INC refused: receive buffers are used whole");
                self.register(submitter, false)
            }
            Err(e) => Err(e),
            Ok(()) => {
                self.inc = inc;
                Ok(inc)
            }
        }
    }

    /// Where the `len` bytes a completion reported for buffer `bid` are, and
    /// whether that completion ends the buffer's use by the kernel
    /// (`more` is the completion's `IORING_CQE_F_BUF_MORE`).
    pub(crate) fn take(&mut self, bid: u16, len: u32, more: bool) -> Piece {
        let base = self.buf_ptr(bid);
        if !self.inc {
            return Piece {
                ptr: base,
                last: true,
            };
        }
        let off = &mut self.offsets[bid as usize];
        debug_assert!(*off + len <= self.buf_size);
        // SAFETY: the kernel filled `len` bytes at offset `off` of this
        // buffer, so `off + len <= buf_size` and the pointer stays inside it.
        let ptr = unsafe { base.add(*off as usize) };
        *off += len;
        Piece { ptr, last: !more }
    }

    /// Return the buffers' pages to the kernel (the ring of entries stays).
    /// Buffers read as zeros until the kernel fills them again.
    ///
    /// # Safety
    /// No received bytes may still be in use, and the kernel must not be
    /// filling a buffer right now: with `DEFER_TASKRUN` it only does while
    /// this thread is inside `io_uring_enter`, so between loop turns, once
    /// every completion of the last turn was handled, is safe. A buffer the
    /// kernel is part-way through (incremental mode) only loses bytes that
    /// were already handled; it writes the rest into fresh pages.
    pub(crate) unsafe fn discard_pages(&self) {
        // SAFETY: forwarded contract.
        unsafe { self.bufs.discard() }
    }

    /// Registered for incremental consumption.
    pub(crate) fn incremental(&self) -> bool {
        self.inc
    }

    /// Number of buffers (ids `0..entries`).
    pub(crate) fn entries(&self) -> u16 {
        self.entries
    }

    /// Pointer to buffer `bid`'s memory.
    pub(crate) fn buf_ptr(&self, bid: u16) -> *mut u8 {
        debug_assert!(bid < self.entries);
        // SAFETY: bid < entries, so the offset stays inside the `bufs` mapping.
        unsafe { self.bufs.ptr().add(bid as usize * self.buf_size as usize) }
    }

    fn push(&mut self, bid: u16) {
        let mask = self.entries - 1;
        let idx = (self.tail & mask) as usize;
        // SAFETY: idx < entries, inside the ring mapping. Only the addr, len and
        // bid fields are written: in entry 0 the `resv` field is the shared
        // tail, which must not be clobbered.
        unsafe {
            let entry = &mut *(self.ring.ptr() as *mut BufRingEntry).add(idx);
            entry.set_addr(self.buf_ptr(bid) as u64);
            entry.set_len(self.buf_size);
            entry.set_bid(bid);
        }
        self.tail = self.tail.wrapping_add(1);
    }

    fn publish(&self) {
        // SAFETY: the tail lives in entry 0's `resv` field of our page-aligned
        // ring. `Release` orders the entry writes above before the tail the
        // kernel reads with an acquire load.
        unsafe {
            let tail =
                BufRingEntry::tail(self.ring.ptr() as *const BufRingEntry) as *const AtomicU16;
            (*tail).store(self.tail, Ordering::Release);
        }
    }

    /// Give buffer `bid` back to the kernel.
    pub(crate) fn recycle(&mut self, bid: u16) {
        self.offsets[bid as usize] = 0;
        self.push(bid);
        self.publish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_checked() {
        assert!(BufRing::new(3, 4096, 0).is_err());
        assert!(BufRing::new(0, 4096, 0).is_err());
        let r = BufRing::new(8, 4096, 0).unwrap();
        assert_eq!(r.tail, 8);
        // Distinct, non-overlapping buffers.
        assert_eq!(r.buf_ptr(1) as usize - r.buf_ptr(0) as usize, 4096);
    }

    #[test]
    fn recycle_advances_the_published_tail() {
        let mut r = BufRing::new(4, 64, 0).unwrap();
        r.recycle(2);
        // SAFETY: reading our own ring's tail field.
        let t = unsafe { *BufRingEntry::tail(r.ring.ptr() as *const BufRingEntry) };
        assert_eq!(t, 5);
        // Entry 0 was rewritten with bid 2 but its tail survived.
        // SAFETY: entry 0 is inside the ring mapping.
        let e0 = unsafe { &*(r.ring.ptr() as *const BufRingEntry) };
        assert_eq!(e0.bid(), 2);
    }

    #[test]
    fn incremental_pieces_follow_each_other_until_the_last() {
        let mut r = BufRing::new(4, 64, 0).unwrap();
        r.inc = true;
        let base = r.buf_ptr(1) as usize;
        let a = r.take(1, 10, true);
        let b = r.take(1, 20, true);
        let c = r.take(1, 34, false);
        assert_eq!(
            [
                a.ptr as usize - base,
                b.ptr as usize - base,
                c.ptr as usize - base
            ],
            [0, 10, 30]
        );
        assert!(!a.last && !b.last && c.last);
        r.recycle(1);
        assert_eq!(
            r.take(1, 5, true).ptr as usize,
            base,
            "a recycled buffer starts over"
        );
        // Whole-buffer mode: every piece starts at the buffer and is its last.
        r.inc = false;
        let p = r.take(2, 64, false);
        assert!(p.last && p.ptr == r.buf_ptr(2));
    }
}
