//! A connection's outgoing bytes: a queue of [`Bytes`] segments plus a
//! [`BytesMut`] tail that small writes (frame headers, short payloads) are
//! appended to, turned into one vectored send per loop turn.
//!
//! The tail is frozen into a segment when a send starts, so the kernel only
//! ever sees immutable memory: appending to the tail afterwards writes after
//! (or reallocates away from) the frozen part and cannot move it. Shared
//! payloads (`publish`) are queued as their own segment without a copy.
//! A payload lent from a receive buffer (see [`super::loans`]) is queued
//! as a segment pointing into that buffer, and its loan is given back when
//! the segment has gone out or is dropped.
//! The queue and the `sendmsg` memory live together in an [`Outgoing`] box
//! that a connection holds only while it has bytes queued or a send in
//! flight; the worker pools the boxes, so an idle connection holds no send
//! memory and a busy one does not allocate per message.

use std::collections::VecDeque;

use bytes::{Buf, Bytes, BytesMut};

use super::loans::Loans;

/// Most iovecs in one send (Linux `UIO_MAXIOV` is 1024; 64 covers a turn's
/// worth of frames and keeps [`SendOp`] at about 1 KiB).
pub(crate) const MAX_IOV: usize = 64;

/// Payloads at least this long are queued as their own segment instead of
/// being copied into the tail (when the caller already has them as `Bytes`).
pub(crate) const SHARE_THRESHOLD: usize = 4096;

/// Tail capacity a drained queue keeps for its next user.
const KEEP_CAPACITY: usize = 64 << 10;

/// The memory one in-flight `sendmsg` points at.
pub(crate) struct SendOp {
    pub(crate) hdr: libc::msghdr,
    pub(crate) iov: [libc::iovec; MAX_IOV],
}

/// A connection's sending state (boxed, pooled by the worker): the queue
/// and the `sendmsg` memory, at a stable address while a send is in flight.
pub(crate) struct Outgoing {
    pub(crate) queue: SendQueue,
    pub(crate) op: SendOp,
}

impl Outgoing {
    pub(crate) fn new() -> Box<Self> {
        // SAFETY: msghdr and iovec are plain C structs; all-zero is valid.
        let op: SendOp = unsafe { std::mem::zeroed() };
        Box::new(Self {
            queue: SendQueue::default(),
            op,
        })
    }
}

/// Outgoing bytes of one connection.
///
/// Invariant: `segs[..locked]` are covered by the send in flight and are
/// neither modified nor dropped until it completes; `len` = unsent bytes in
/// `segs` + tail; every lent segment has an entry in `loans`, in order.
#[derive(Default)]
pub(crate) struct SendQueue {
    segs: VecDeque<Bytes>,
    tail: BytesMut,
    locked: usize,
    len: usize,
    /// Segments popped so far: with it a segment keeps one number for life.
    popped: u64,
    /// Lent segments: (segment number, receive buffer id), oldest first.
    loans: VecDeque<(u64, u16)>,
    /// For a transport that encrypts (TLS): `segs[..sealed]` are wire
    /// bytes, the segments after them and the tail are plaintext still to
    /// be sealed. Always at least `locked`. Unused (0) for plain TCP.
    sealed: usize,
}

impl SendQueue {
    /// Bytes queued and not yet written (`buffered_amount`).
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Whether a send is in flight.
    pub(crate) fn in_flight(&self) -> bool {
        self.locked > 0
    }

    /// Append bytes, copied into the tail.
    pub(crate) fn push_copy(&mut self, parts: &[&[u8]]) {
        let n: usize = parts.iter().map(|p| p.len()).sum();
        self.tail.reserve(n);
        for p in parts {
            self.tail.extend_from_slice(p);
        }
        self.len += n;
    }

    /// Append a header and a borrowed payload. A large payload is copied
    /// into an allocation of its own rather than onto the tail: the tail
    /// would grow to the turn's whole output and, with the previous send
    /// still holding it, be reallocated every turn into memory not in any
    /// cache; a per-message buffer of a common size is recycled warm by the
    /// allocator (see `docs/decisions.md`).
    pub(crate) fn push_payload(&mut self, header: &[u8], payload: &[u8]) {
        if payload.len() < SHARE_THRESHOLD {
            self.push_copy(&[header, payload]);
        } else {
            self.push_shared(header, Bytes::copy_from_slice(payload));
        }
    }

    /// Append a header and a payload lent from receive buffer `id` (see
    /// [`Loans::lend`]), queued without a copy.
    ///
    /// # Safety
    /// `payload` must stay valid and unchanged until the loan is given back
    /// ([`SendQueue::complete`] or [`SendQueue::clear`] hands `id` to the
    /// book): the buffer is not recycled before then.
    pub(crate) unsafe fn push_lent(&mut self, header: &[u8], payload: &[u8], id: u16) {
        // SAFETY: the caller keeps the bytes alive and unchanged for as long
        // as this segment exists; a static `Bytes` never frees them, and the
        // segment is dropped (in `complete` or `clear`) before its loan is
        // given back.
        let seg = Bytes::from_static(unsafe { &*(payload as *const [u8]) });
        self.push_segment(header, seg);
        // The lent segment is the last one: its number for life.
        self.loans
            .push_back((self.popped + self.segs.len() as u64 - 1, id));
    }

    /// Append a header and a placeholder for a `len`-byte payload whose
    /// buffer is handed over by [`SendQueue::fill_claimed`] before this
    /// queue is used again (no send can start in between). Returns the
    /// placeholder's position.
    pub(crate) fn push_claimed(&mut self, header: &[u8], len: usize) -> usize {
        self.push_copy(&[header]);
        self.freeze_tail();
        self.segs.push_back(Bytes::new());
        self.len += len;
        self.segs.len() - 1
    }

    /// Put the claimed payload in its placeholder.
    pub(crate) fn fill_claimed(&mut self, at: usize, payload: Bytes) {
        debug_assert!(self.segs[at].is_empty() && at >= self.locked);
        self.segs[at] = payload;
    }

    /// Append a header (copied) and a shared payload (not copied when large).
    pub(crate) fn push_shared(&mut self, header: &[u8], payload: Bytes) {
        if payload.len() < SHARE_THRESHOLD {
            self.push_copy(&[header, &payload]);
            return;
        }
        self.push_segment(header, payload);
    }

    /// Append a header (copied) and `seg` as a segment of its own.
    fn push_segment(&mut self, header: &[u8], seg: Bytes) {
        self.push_copy(&[header]);
        self.freeze_tail();
        self.len += seg.len();
        self.segs.push_back(seg);
    }

    fn freeze_tail(&mut self) {
        if !self.tail.is_empty() {
            let b = self.tail.split().freeze();
            self.segs.push_back(b);
        }
    }

    /// Fill `op` with everything queued (up to [`MAX_IOV`] segments) and
    /// lock those segments. Returns `false` when there is nothing to send or
    /// a send is already in flight.
    pub(crate) fn prepare(&mut self, op: &mut SendOp) -> bool {
        if self.locked > 0 {
            return false;
        }
        self.freeze_tail();
        if self.segs.is_empty() {
            return false;
        }
        let n = self.segs.len().min(MAX_IOV);
        for (i, seg) in self.segs.iter().take(n).enumerate() {
            op.iov[i] = libc::iovec {
                iov_base: seg.as_ptr() as *mut libc::c_void,
                iov_len: seg.len(),
            };
        }
        // SAFETY: all-zero is a valid msghdr; we then point it at our iovecs.
        op.hdr = unsafe { std::mem::zeroed() };
        op.hdr.msg_iov = op.iov.as_mut_ptr();
        op.hdr.msg_iovlen = n as _;
        self.locked = n;
        true
    }

    /// The send in flight wrote `n` bytes: drop what went out (giving back
    /// its loans), unlock the rest (a partial send is resumed by the next
    /// `prepare`).
    pub(crate) fn complete(&mut self, mut n: usize, loans: &mut Loans) {
        self.len -= n;
        while n > 0 {
            let front = self.segs.front_mut().expect("sent more than queued");
            if n >= front.len() {
                n -= front.len();
                self.pop_front(loans);
            } else {
                front.advance(n);
                n = 0;
            }
        }
        self.locked = 0;
        if self.len == 0 {
            self.release();
        }
    }

    fn pop_front(&mut self, loans: &mut Loans) {
        self.segs.pop_front();
        self.sealed = self.sealed.saturating_sub(1);
        if let Some(&(seg, id)) = self.loans.front() {
            if seg == self.popped {
                self.loans.pop_front();
                loans.give_back(id);
            }
        }
        self.popped += 1;
    }

    /// Whether plaintext is queued that has not been sealed yet.
    pub(crate) fn has_unsealed(&self) -> bool {
        self.sealed < self.segs.len() || !self.tail.is_empty()
    }

    /// Bytes of plaintext not sealed yet.
    pub(crate) fn unsealed_len(&self) -> usize {
        self.segs
            .iter()
            .skip(self.sealed)
            .map(|s| s.len())
            .sum::<usize>()
            + self.tail.len()
    }

    /// Hand every plaintext chunk not sealed yet to `each`, in order, and
    /// drop them from the queue (their sealed form follows with
    /// [`SendQueue::push_wire`]). No segment of a send in flight is touched.
    pub(crate) fn take_unsealed(&mut self, mut each: impl FnMut(&[u8])) {
        debug_assert!(self.sealed >= self.locked && self.loans.is_empty());
        for seg in self.segs.drain(self.sealed..) {
            debug_assert!(
                !seg.is_empty(),
                "a claimed placeholder is filled before a flush"
            );
            self.len -= seg.len();
            each(&seg);
        }
        if !self.tail.is_empty() {
            each(&self.tail);
            self.len -= self.tail.len();
            self.tail.clear();
        }
    }

    /// Queue wire bytes (records) after those already sealed and before any
    /// plaintext still to be sealed: records go out in the order they were
    /// numbered.
    pub(crate) fn push_wire(&mut self, wire: Bytes) {
        if wire.is_empty() {
            return;
        }
        self.len += wire.len();
        self.segs.insert(self.sealed, wire);
        self.sealed += 1;
    }

    /// The send in flight failed: unlock (the connection is going away).
    pub(crate) fn fail(&mut self) {
        self.locked = 0;
    }

    /// Drop everything not yet sent (teardown), giving back its loans. The
    /// queue may go back to the worker's pool, so nothing of this
    /// connection may survive in it.
    pub(crate) fn clear(&mut self, loans: &mut Loans) {
        debug_assert_eq!(self.locked, 0);
        while !self.segs.is_empty() {
            self.pop_front(loans);
        }
        self.tail.clear();
        self.len = 0;
        self.sealed = 0;
        self.release();
    }

    fn release(&mut self) {
        // The queue goes back to the worker's pool with its capacity (no
        // allocation per message), but a burst's large buffers are freed.
        if self.tail.capacity() > KEEP_CAPACITY {
            self.tail = BytesMut::new();
        }
        if self.segs.capacity() > MAX_IOV {
            self.segs = VecDeque::new();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reactor::RecvBuf;

    fn new_op() -> Box<SendOp> {
        // SAFETY: plain C structs; all-zero is valid.
        Box::new(unsafe { std::mem::zeroed() })
    }

    fn collect(op: &SendOp) -> Vec<u8> {
        let mut v = Vec::new();
        for i in 0..op.hdr.msg_iovlen {
            let iov = op.iov[i];
            // SAFETY: prepare() pointed the iovecs at live, locked segments.
            v.extend_from_slice(unsafe {
                std::slice::from_raw_parts(iov.iov_base as *const u8, iov.iov_len)
            });
        }
        v
    }

    #[test]
    fn partial_sends_resume_in_order() {
        let mut q = SendQueue::default();
        let mut op = new_op();
        let mut book = Loans::new(4, true);
        q.push_copy(&[b"ab", b"cd"]);
        q.push_shared(b"H", Bytes::from(vec![b'x'; 5000]));
        q.push_copy(&[b"tail"]);
        assert_eq!(q.len(), 4 + 1 + 5000 + 4);
        assert!(q.prepare(&mut op));
        assert!(!q.prepare(&mut op), "one send in flight");
        let first = collect(&op);
        assert_eq!(&first[..5], b"abcdH");
        // Bytes queued during the send go after it.
        q.push_copy(&[b"late"]);
        q.complete(3, &mut book);
        assert!(q.prepare(&mut op));
        let rest = collect(&op);
        assert_eq!(&rest[..2], b"dH");
        assert_eq!(&rest[rest.len() - 8..], b"taillate");
        q.complete(rest.len(), &mut book);
        assert_eq!(q.len(), 0);
        assert!(!q.prepare(&mut op));
    }

    #[test]
    fn cleared_queue_keeps_nothing_for_its_next_user() {
        // Regression: a cleared queue returned to the pool still held the
        // dead connection's bytes, which the next connection then sent.
        let mut q = SendQueue::default();
        let mut op = new_op();
        let mut book = Loans::new(4, true);
        q.push_copy(&[b"old connection's bytes"]);
        assert!(q.prepare(&mut op));
        q.complete(4, &mut book);
        q.push_copy(&[b"more"]);
        q.clear(&mut book);
        assert_eq!(q.len(), 0);
        assert!(!q.prepare(&mut op), "nothing may be left to send");
        q.push_copy(&[b"new"]);
        assert!(q.prepare(&mut op));
        assert_eq!(collect(&op), b"new");
    }

    #[test]
    fn drained_queue_frees_large_buffers_only() {
        let mut q = SendQueue::default();
        let mut op = new_op();
        let mut book = Loans::new(4, true);
        for size in [100usize, 1 << 20, 100] {
            q.push_copy(&[&vec![0u8; size / 2], &vec![0u8; size - size / 2]]);
            q.push_copy(&[b"x"]);
            assert!(q.prepare(&mut op));
            q.complete(size + 1, &mut book);
            assert_eq!(q.len(), 0);
            assert!(q.segs.is_empty());
            assert!(
                q.tail.capacity() <= KEEP_CAPACITY,
                "size {size}: {}",
                q.tail.capacity()
            );
        }
    }

    #[test]
    fn lent_segments_give_their_loans_back_once_sent_or_dropped() {
        let mut q = SendQueue::default();
        let mut op = new_op();
        let mut book = Loans::new(4, true);
        let mem = vec![5u8; 3 * SHARE_THRESHOLD];
        let start = mem.as_ptr() as usize;
        let (a, b) = (&mem[..SHARE_THRESHOLD], &mem[SHARE_THRESHOLD..]);
        book.current = Some(super::super::loans::Current {
            start,
            end: start + mem.len(),
            id: 2,
        });
        let id = book.lend(a).unwrap();
        // SAFETY: `mem` outlives the queue's use of it below.
        unsafe { q.push_lent(b"H1", a, id) };
        q.push_copy(&[b"small"]);
        let id = book.lend(b).unwrap();
        // SAFETY: as above.
        unsafe { q.push_lent(b"H2", b, id) };
        book.current = None;
        assert!(book
            .release(RecvBuf::for_tests(
                mem.as_ptr() as *mut u8,
                mem.len(),
                2,
                true
            ))
            .is_none());
        assert!(q.prepare(&mut op));
        let all = collect(&op);
        assert_eq!(all.len(), 2 + a.len() + 5 + 2 + b.len());
        assert!(
            all[..2] == *b"H1" && all[2..2 + a.len()] == *a,
            "sent from the buffer itself"
        );
        // Part of the first lent payload: its loan stays.
        q.complete(10, &mut book);
        assert!(book.freed.is_empty());
        // The rest of it and of the small frame: one loan back.
        q.complete(2 + a.len() + 5 - 10, &mut book);
        assert!(book.freed.is_empty() && book.outstanding());
        // Dropping the second gives the last loan back: the buffer is free.
        q.clear(&mut book);
        assert_eq!(book.freed.len(), 1);
        assert!(!book.outstanding());
        assert_eq!(q.len(), 0);
    }
}
