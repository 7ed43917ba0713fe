//! Receive buffers lent to send queues.
//!
//! A message that arrived whole in one receive buffer is handed to the
//! handler in place. When the handler sends exactly bytes of that buffer
//! (an echo, a relay), the send queue points at them instead of copying
//! them, and the buffer goes back to the kernel only once every send using
//! it has completed or been dropped. The book below counts those loans per
//! buffer and parks a buffer the reactor is done with until its last loan
//! comes back.
//!
//! A peer that stops reading keeps its loans until its connection goes, so
//! at most half the buffers may be lent at once: past that, sends copy as
//! before and the other connections keep the rest of the ring.
//!
//! The book also holds the message buffers lent to the kernel by direct
//! receives (the rest of a large frame received straight into its
//! assembly buffer). Such a buffer leaves the book only through the
//! receive's completion ([`Loans::direct_done`], [`Loans::direct_back`]);
//! a book dropped while one is still lent leaks it rather than free memory
//! the kernel may still write into (monoio's "ignored" operations keep
//! their buffers the same way). So that safety does not depend on the
//! order in which the worker's fields are dropped.

use std::collections::HashMap;

use crate::reactor::RecvBuf;

/// The receive buffer being handled: where its bytes are, and its id.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Current {
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) id: u16,
}

/// Loans of one worker's receive buffers (indexed by buffer id).
pub(crate) struct Loans {
    /// Loans outstanding per buffer.
    counts: Box<[u16]>,
    /// Buffers the reactor is done with, waiting for their last loan.
    parked: Box<[Option<RecvBuf>]>,
    /// Buffers with at least one loan, and the most allowed at once.
    lent: usize,
    max: usize,
    /// Set by the worker while it hands a receive buffer's bytes over.
    pub(crate) current: Option<Current>,
    /// Buffers whose last loan came back, for the worker to recycle.
    pub(crate) freed: Vec<RecvBuf>,
    /// Message buffers lent to direct receives in flight, by slot (a slot
    /// is not released while its receive is in flight, so one per slot).
    direct: HashMap<u32, Vec<u8>>,
}

impl Loans {
    /// A book for `buffers` receive buffers; `enabled: false` lends nothing.
    pub(crate) fn new(buffers: usize, enabled: bool) -> Self {
        Self {
            counts: vec![0; buffers].into_boxed_slice(),
            parked: (0..buffers).map(|_| None).collect(),
            lent: 0,
            max: if enabled { buffers / 2 } else { 0 },
            current: None,
            freed: Vec::new(),
            direct: HashMap::new(),
        }
    }

    /// Lend `room` bytes of `buf`'s spare capacity to a direct receive on
    /// `slot`: the address to receive into. The buffer stays in the book
    /// (moving a `Vec` does not move its heap block) until the receive's
    /// completion gives it back.
    pub(crate) fn lend_direct(&mut self, slot: u32, mut buf: Vec<u8>, room: usize) -> *mut u8 {
        assert!(
            room <= buf.capacity() - buf.len(),
            "direct room past capacity"
        );
        let ptr = buf.spare_capacity_mut().as_mut_ptr().cast::<u8>();
        let before = self.direct.insert(slot, buf);
        assert!(before.is_none(), "two direct receives on slot {slot}");
        ptr
    }

    /// The direct receive on `slot` wrote `len` bytes: its buffer, with
    /// them.
    pub(crate) fn direct_done(&mut self, slot: u32, len: usize) -> Option<Vec<u8>> {
        let mut buf = self.direct.remove(&slot)?;
        // A recv writes at most the room it was given, which
        // `lend_direct` checked against the spare capacity.
        assert!(len <= buf.capacity() - buf.len(), "direct receive overran");
        // SAFETY: the kernel initialised `len` bytes right after the
        // buffer's contents (the receive's target, `lend_direct`'s address).
        unsafe { buf.set_len(buf.len() + len) };
        Some(buf)
    }

    /// The direct receive on `slot` ended with nothing, or was never armed
    /// (the reactor refused it): its buffer, as it was.
    pub(crate) fn direct_back(&mut self, slot: u32) -> Option<Vec<u8>> {
        self.direct.remove(&slot)
    }

    /// Capacity of the message buffer lent to a direct receive on `slot`
    /// (0 if none): the memory budget counts it for its connection.
    pub(crate) fn direct_capacity(&self, slot: u32) -> usize {
        self.direct.get(&slot).map_or(0, |b| b.capacity())
    }

    /// Lend `bytes` if they lie in the buffer being handled and the cap
    /// allows: the buffer's id, to give back with [`Loans::give_back`].
    pub(crate) fn lend(&mut self, bytes: &[u8]) -> Option<u16> {
        let cur = self.current?;
        let start = bytes.as_ptr() as usize;
        if start < cur.start || start + bytes.len() > cur.end {
            return None;
        }
        let count = &mut self.counts[cur.id as usize];
        if *count == 0 {
            if self.lent >= self.max {
                return None;
            }
            self.lent += 1;
        }
        *count += 1;
        Some(cur.id)
    }

    /// A send using buffer `id` completed or was dropped.
    pub(crate) fn give_back(&mut self, id: u16) {
        let count = &mut self.counts[id as usize];
        debug_assert!(*count > 0, "loan of buffer {id} given back twice");
        *count -= 1;
        if *count == 0 {
            self.lent -= 1;
            if let Some(buf) = self.parked[id as usize].take() {
                self.freed.push(buf);
            }
        }
    }

    /// The reactor is done with `buf`'s bytes: the buffer to recycle now,
    /// or `None` if it is parked until its loans come back.
    pub(crate) fn release(&mut self, buf: RecvBuf) -> Option<RecvBuf> {
        let id = buf.id() as usize;
        if self.counts[id] == 0 {
            return Some(buf);
        }
        if buf.releases() {
            self.parked[id] = Some(buf);
        }
        None
    }

    /// Whether any receive buffer is lent (its pages must stay).
    pub(crate) fn outstanding(&self) -> bool {
        self.lent > 0
    }
}

impl Drop for Loans {
    fn drop(&mut self) {
        // A receive may still be in flight (the worker gave up on its
        // connections): the kernel may write into these, so they are never
        // freed. Bounded by the connections abandoned at shutdown.
        for (_, buf) in self.direct.drain() {
            std::mem::forget(buf);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_direct_buffer_comes_back_only_through_its_completion() {
        let mut l = Loans::new(0, false);
        let mut buf = Vec::with_capacity(64);
        buf.extend_from_slice(b"head");
        let ptr = l.lend_direct(3, buf, 16);
        assert!(l.direct_back(4).is_none() && l.direct_done(4, 1).is_none());
        // SAFETY: `ptr` has 16 writable bytes (the lent room).
        unsafe { std::ptr::copy_nonoverlapping(b"tail".as_ptr(), ptr, 4) };
        assert_eq!(l.direct_done(3, 4).unwrap(), b"headtail");
        assert!(l.direct_back(3).is_none(), "given back once");
        let ptr = l.lend_direct(3, Vec::with_capacity(8), 8);
        assert!(!ptr.is_null());
        assert_eq!(l.direct_back(3).unwrap().len(), 0);
    }

    fn buf(mem: &mut [u8], id: u16, releases: bool) -> RecvBuf {
        RecvBuf::for_tests(mem.as_mut_ptr(), mem.len(), id, releases)
    }

    #[test]
    fn a_buffer_goes_back_after_its_last_loan() {
        let mut mem = [0u8; 64];
        let mut l = Loans::new(4, true);
        let (start, end) = (mem.as_ptr() as usize, mem.as_ptr() as usize + 64);
        l.current = Some(Current { start, end, id: 1 });
        assert_eq!(l.lend(&mem[8..40]), Some(1));
        assert_eq!(l.lend(&mem[40..64]), Some(1));
        assert_eq!(l.lend(&mem[60..64]), Some(1));
        l.give_back(1);
        l.current = None;
        assert!(l.release(buf(&mut mem, 1, true)).is_none(), "parked");
        l.give_back(1);
        assert!(l.freed.is_empty() && l.outstanding());
        l.give_back(1);
        assert_eq!(l.freed.len(), 1);
        assert!(!l.outstanding());
        // Without loans a buffer is recycled at once.
        assert!(l.release(buf(&mut mem, 1, true)).is_some());
    }

    #[test]
    fn only_bytes_of_the_current_buffer_are_lent_and_at_most_half_the_buffers() {
        let mut mem = [0u8; 256];
        let other = [0u8; 16];
        let base = mem.as_ptr() as usize;
        let mut l = Loans::new(4, true);
        assert_eq!(l.lend(&mem[..8]), None, "no buffer being handled");
        for id in 0..3u16 {
            let start = base + 64 * id as usize;
            l.current = Some(Current {
                start,
                end: start + 64,
                id,
            });
            assert_eq!(l.lend(&other), None, "outside the buffer");
            let lo = 64 * id as usize;
            assert_eq!(l.lend(&mem[lo..lo + 65]), None, "runs past its end");
            let want = (id < 2).then_some(id);
            assert_eq!(l.lend(&mem[lo..lo + 64]), want, "buffer {id}");
        }
        // A buffer already lent may be lent again at the cap.
        l.current = Some(Current {
            start: base,
            end: base + 64,
            id: 0,
        });
        assert_eq!(l.lend(&mem[..4]), Some(0));
        assert!(Loans::new(4, false).lend(&mem[..4]).is_none());
        let _ = buf(&mut mem, 0, true);
    }

    #[test]
    fn a_piece_the_kernel_still_fills_is_never_parked() {
        let mut mem = [0u8; 64];
        let mut l = Loans::new(2, true);
        let start = mem.as_ptr() as usize;
        l.current = Some(Current {
            start,
            end: start + 32,
            id: 0,
        });
        assert_eq!(l.lend(&mem[..32]), Some(0));
        // An earlier piece of the buffer (not its last): nothing to park.
        assert!(l.release(buf(&mut mem[..32], 0, false)).is_none());
        l.give_back(0);
        assert!(l.freed.is_empty());
    }
}
