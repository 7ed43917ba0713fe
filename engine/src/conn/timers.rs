//! Connection deadlines (handshake, idle/ping, close handshake) on a
//! min-heap, driven by the reactor's periodic tick.
//!
//! Each connection keeps its own deadline; the heap holds at most one live
//! entry per connection (`queued_at`), so a deadline that moves later — idle
//! time reset by every received message — costs nothing until the entry
//! pops, when it is re-queued at the connection's real deadline. A deadline
//! that moves earlier pushes a new entry; the older one is then stale and
//! ignored when it pops.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// The heap of `(when_ms, slot, generation)`.
#[derive(Default)]
pub(crate) struct Timers {
    heap: BinaryHeap<Reverse<(u64, u32, u32)>>,
}

impl Timers {
    /// Queue a check of connection `(slot, gen)` at `when_ms`.
    pub(crate) fn push(&mut self, when_ms: u64, slot: u32, gen: u32) {
        self.heap.push(Reverse((when_ms, slot, gen)));
    }

    /// The next entry due at or before `now_ms`.
    pub(crate) fn pop_due(&mut self, now_ms: u64) -> Option<(u64, u32, u32)> {
        match self.heap.peek() {
            Some(Reverse((when, _, _))) if *when <= now_ms => self.heap.pop().map(|Reverse(e)| e),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pops_in_deadline_order_only_when_due() {
        let mut t = Timers::default();
        t.push(30, 1, 0);
        t.push(10, 2, 0);
        t.push(20, 3, 0);
        assert_eq!(t.pop_due(5), None);
        assert_eq!(t.pop_due(25), Some((10, 2, 0)));
        assert_eq!(t.pop_due(25), Some((20, 3, 0)));
        assert_eq!(t.pop_due(25), None);
        assert_eq!(t.pop_due(30), Some((30, 1, 0)));
    }
}
