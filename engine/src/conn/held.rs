//! Bytes received while a connection sat at its send-buffer limit.
//!
//! Rare (only under backpressure), so the connection keeps one pointer for
//! them, not an inline queue: 8 bytes of the slab entry, paid by every idle
//! connection.
//!
//! The bytes are kept as a queue of chunks, not one contiguous buffer: a
//! contiguous buffer that is appended to at the back while it is consumed at
//! the front moves or regrows its contents again and again (the profile of a
//! 1 MiB echo at depth 16 spent 15% of the server's time in `BytesMut`'s
//! `reserve`), whereas a chunk is written once and freed once processed. The
//! codec takes input split at any byte, so chunk boundaries cost nothing.

use bytes::BytesMut;
use std::collections::VecDeque;

/// A new chunk has room for at least this much, so a burst of small reads
/// shares one allocation.
const MIN_CHUNK: usize = 4096;

/// Held input, in arrival order. `None` (no heap) whenever nothing is held.
#[derive(Default)]
pub(crate) struct Held(Option<Box<VecDeque<BytesMut>>>);

impl Held {
    pub(crate) fn is_empty(&self) -> bool {
        self.0.as_ref().is_none_or(|q| q.is_empty())
    }

    /// Append behind what is already held: into the last chunk if it has
    /// room, else into a new chunk. Bytes already held are never moved.
    pub(crate) fn extend_from_slice(&mut self, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        let q = self.0.get_or_insert_default();
        match q.back_mut() {
            Some(last) if last.capacity() - last.len() >= data.len() => {
                last.extend_from_slice(data)
            }
            _ => {
                let mut chunk = BytesMut::with_capacity(data.len().max(MIN_CHUNK));
                chunk.extend_from_slice(data);
                q.push_back(chunk);
            }
        }
    }

    /// Take the oldest held chunk out to process it; give back what is left
    /// of it with [`Held::put_front`].
    pub(crate) fn pop_front(&mut self) -> Option<BytesMut> {
        let q = self.0.as_mut()?;
        let chunk = q.pop_front();
        if q.is_empty() {
            self.0 = None;
        }
        chunk
    }

    /// Put back the unprocessed rest of the chunk [`Held::pop_front`] gave
    /// (nothing is kept for an empty rest).
    pub(crate) fn put_front(&mut self, rest: BytesMut) {
        if !rest.is_empty() {
            self.0.get_or_insert_default().push_front(rest);
        }
    }

    /// Drop everything held (the connection no longer reads).
    pub(crate) fn clear(&mut self) {
        self.0 = None;
    }

    /// Heap capacity held (tests).
    #[cfg(test)]
    pub(crate) fn capacity(&self) -> usize {
        self.0
            .as_ref()
            .map_or(0, |q| q.iter().map(|c| c.capacity()).sum())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_order_across_chunks_and_partial_takes() {
        let mut h = Held::default();
        assert!(h.is_empty());
        h.extend_from_slice(b"abc");
        h.extend_from_slice(&[b'x'; MIN_CHUNK]); // does not fit: a new chunk
        h.extend_from_slice(b"def");
        let mut first = h.pop_front().unwrap();
        assert_eq!(&first[..], b"abc");
        let _ = first.split_to(1);
        h.put_front(first);
        let mut all = Vec::new();
        while let Some(c) = h.pop_front() {
            all.extend_from_slice(&c);
        }
        let mut want = b"bc".to_vec();
        want.extend_from_slice(&[b'x'; MIN_CHUNK]);
        want.extend_from_slice(b"def");
        assert_eq!(all, want);
        assert!(h.is_empty());
        assert_eq!(h.capacity(), 0);
    }
}
