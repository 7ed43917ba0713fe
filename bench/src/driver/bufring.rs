//! The client's provided-buffer ring (`IORING_REGISTER_PBUF_RING`, 5.19):
//! the kernel takes a buffer from it for each multishot-recv completion and
//! we hand the buffer back as soon as the bytes have been parsed.
//!
//! Both the ring of `io_uring_buf` entries and the buffers come from the Rust
//! allocator (the ring page aligned, as the kernel requires). We are the
//! producer: entries are written first, then the tail is published with a
//! `Release` store, so the kernel never reads an entry the tail does not
//! cover yet.

use std::alloc::{self, Layout};
use std::io;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU16, Ordering};

use io_uring::types::BufRingEntry;

/// A ring of `count` buffers of `size` bytes.
///
/// Invariants: `count` is a power of two ≤ 32768; every buffer id in
/// `0..count` is either in the ring (the kernel may fill it) or lent to one
/// completion being handled, and given back exactly once by [`give_back`].
///
/// [`give_back`]: Self::give_back
pub(super) struct BufRing {
    entries: NonNull<BufRingEntry>,
    entries_layout: Layout,
    /// `count × size` bytes the kernel writes into; only reached through raw
    /// pointers, never a reference covering buffers the kernel may own.
    bufs: NonNull<u8>,
    bufs_layout: Layout,
    count: u16,
    size: u32,
    /// Our copy of the tail; the kernel reads the published one.
    tail: u16,
}

impl BufRing {
    /// Allocates the ring with every buffer in it (not yet registered).
    pub(super) fn new(count: u16, size: u32) -> io::Result<Self> {
        if !count.is_power_of_two() || count > 32768 || size == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "buffer ring: count must be a power of two ≤ 32768, size > 0",
            ));
        }
        let entries_layout =
            Layout::from_size_align(count as usize * std::mem::size_of::<BufRingEntry>(), 4096)
                .map_err(io::Error::other)?;
        let bufs_layout = Layout::from_size_align(count as usize * size as usize, 64)
            .map_err(io::Error::other)?;
        let entries = zeroed(entries_layout)?.cast::<BufRingEntry>();
        let bufs = match zeroed(bufs_layout) {
            Ok(b) => b,
            Err(e) => {
                // SAFETY: allocated just above with this layout.
                unsafe { alloc::dealloc(entries.as_ptr().cast(), entries_layout) };
                return Err(e);
            }
        };
        let mut ring = Self {
            entries,
            entries_layout,
            bufs,
            bufs_layout,
            count,
            size,
            tail: 0,
        };
        for bid in 0..count {
            ring.put(bid);
        }
        ring.publish();
        Ok(ring)
    }

    /// Registers the ring with `ring` under buffer group `bgid`.
    ///
    /// # Safety
    /// The io_uring must be dropped (or the group unregistered) before `self`.
    pub(super) unsafe fn register(
        &self,
        submitter: &io_uring::Submitter<'_>,
        bgid: u16,
    ) -> io::Result<()> {
        // SAFETY: the entries are page aligned, `count` long and live as long
        // as `self`, which the caller keeps registered no longer than that.
        unsafe {
            submitter.register_buf_ring_with_flags(
                self.entries.as_ptr() as u64,
                self.count,
                bgid,
                0,
            )
        }
    }

    /// The bytes the kernel wrote into buffer `bid`, lent until [`Self::give_back`].
    ///
    /// # Safety
    /// `bid` must come from a completion not yet given back, and `len` from
    /// the same completion (so `len ≤ size`).
    pub(super) unsafe fn filled(&mut self, bid: u16, len: usize) -> &mut [u8] {
        debug_assert!(bid < self.count && len <= self.size as usize);
        // SAFETY: bid < count and len ≤ size (caller), so the range lies in
        // buffer `bid`, which the kernel has finished writing and will not
        // touch again until it is given back; `&mut self` keeps it unique.
        unsafe {
            std::slice::from_raw_parts_mut(
                self.bufs.as_ptr().add(bid as usize * self.size as usize),
                len,
            )
        }
    }

    /// Returns buffer `bid` to the kernel.
    pub(super) fn give_back(&mut self, bid: u16) {
        self.put(bid);
        self.publish();
    }

    fn put(&mut self, bid: u16) {
        let idx = (self.tail & (self.count - 1)) as usize;
        let addr = self.bufs.as_ptr() as u64 + bid as u64 * self.size as u64;
        // SAFETY: idx < count, inside the entry allocation. Only addr, len and
        // bid are written: entry 0's `resv` field is the shared tail.
        let entry = unsafe { &mut *self.entries.as_ptr().add(idx) };
        entry.set_addr(addr);
        entry.set_len(self.size);
        entry.set_bid(bid);
        self.tail = self.tail.wrapping_add(1);
    }

    fn publish(&self) {
        // SAFETY: `entries` is the ring's first entry, so its `resv` field is
        // the tail; it is 2-byte aligned inside our allocation. `Release`
        // orders the entry writes before the kernel's acquire load of the tail.
        unsafe {
            let tail = BufRingEntry::tail(self.entries.as_ptr()) as *const AtomicU16;
            (*tail).store(self.tail, Ordering::Release);
        }
    }

    /// The published tail (tests).
    #[cfg(test)]
    fn published_tail(&self) -> u16 {
        // SAFETY: as in `publish`.
        unsafe {
            (*(BufRingEntry::tail(self.entries.as_ptr()) as *const AtomicU16))
                .load(Ordering::Acquire)
        }
    }
}

impl Drop for BufRing {
    fn drop(&mut self) {
        // SAFETY: both allocated in `new` with these layouts and not freed
        // since; the owner dropped the io_uring first (see `register`).
        unsafe {
            alloc::dealloc(self.entries.as_ptr().cast(), self.entries_layout);
            alloc::dealloc(self.bufs.as_ptr(), self.bufs_layout);
        }
    }
}

/// A zeroed allocation of `layout` (nonzero size).
fn zeroed(layout: Layout) -> io::Result<NonNull<u8>> {
    debug_assert!(layout.size() > 0);
    // SAFETY: the callers' layouts have nonzero sizes (count ≥ 1, size ≥ 1).
    NonNull::new(unsafe { alloc::alloc_zeroed(layout) })
        .ok_or_else(|| io::Error::from(io::ErrorKind::OutOfMemory))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_sizes_are_refused() {
        assert!(BufRing::new(6, 4096).is_err());
        assert!(BufRing::new(0, 4096).is_err());
        assert!(BufRing::new(8, 0).is_err());
    }

    #[test]
    fn giving_back_publishes_one_more_entry_and_keeps_the_tail() {
        let mut r = BufRing::new(4, 32).unwrap();
        assert_eq!(r.published_tail(), 4);
        r.give_back(3);
        assert_eq!(r.published_tail(), 5);
        // SAFETY: entry 0 is inside the allocation.
        let e0 = unsafe { &*r.entries.as_ptr() };
        assert_eq!(e0.bid(), 3);
        assert_eq!(e0.len(), 32);
        assert_eq!(e0.addr(), r.bufs.as_ptr() as u64 + 3 * 32);
        // SAFETY: buffer 3 was never lent to the kernel (no ring registered).
        assert_eq!(unsafe { r.filled(3, 32) }.len(), 32);
    }
}
