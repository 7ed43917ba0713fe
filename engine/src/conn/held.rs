//! Bytes received while a connection sat at its send-buffer limit.
//!
//! Rare (only under backpressure), so the connection keeps one pointer for
//! them, not an inline `BytesMut`: 8 bytes of the slab entry instead of 32,
//! paid by every idle connection.

use bytes::BytesMut;

/// Held input, in arrival order. `None` (no heap) whenever nothing is held.
#[derive(Default)]
pub(crate) struct Held(Option<Box<BytesMut>>);

impl Held {
    pub(crate) fn is_empty(&self) -> bool {
        self.0.as_ref().is_none_or(|b| b.is_empty())
    }

    /// Append behind what is already held.
    pub(crate) fn extend_from_slice(&mut self, data: &[u8]) {
        self.0.get_or_insert_default().extend_from_slice(data);
    }

    /// Take the held bytes out to process them.
    pub(crate) fn take(&mut self) -> Option<Box<BytesMut>> {
        self.0.take()
    }

    /// Put back what processing left (nothing is kept for an empty rest).
    pub(crate) fn put_back(&mut self, rest: Box<BytesMut>) {
        debug_assert!(self.0.is_none());
        if !rest.is_empty() {
            self.0 = Some(rest);
        }
    }

    /// Heap capacity held (tests).
    #[cfg(test)]
    pub(crate) fn capacity(&self) -> usize {
        self.0.as_ref().map_or(0, |b| b.capacity())
    }
}
