//! Events received while a connection sat at its send-buffer limit.
//!
//! At the limit the handler is not called (it could only queue more), but
//! the kernel may already have delivered more input before the paused
//! receive stopped. That input is parsed at once, like any other (frames
//! checked, unmasked, assembled), and the events it completes wait here, in
//! arrival order, until the queue drains below the limit. Parsing on arrival
//! means each byte is copied at most once: an assembled message is kept in
//! the codec's own buffer (moved, not copied, and still claimable by an
//! echo), a small message or ping is copied once into a shared record
//! buffer. Keeping raw bytes instead cost a copy on the way in and another
//! into assembly on the way out (with regrowth: 26% of a 1 MiB echo's CPU at
//! depth 16).
//!
//! Rare (only under backpressure), so the connection keeps one pointer for
//! all of it: 8 bytes of the slab entry, paid by every idle connection.

use std::collections::VecDeque;
use std::ops::Deref;

use bytes::{Buf, BytesMut};

use super::send::SHARE_THRESHOLD;

/// What a held event is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A text message (its UTF-8 was checked on arrival).
    Text,
    /// A binary message.
    Binary,
    /// A ping, answered once the events before it are delivered.
    Ping,
}

/// The bytes of a held event.
pub(crate) enum Payload {
    /// Copied into the record buffer (small messages and pings).
    Inline(BytesMut),
    /// An allocation of its own (the codec's assembly buffer, or a copy of
    /// a large message), which a send may take over without copying.
    Owned(Vec<u8>),
}

impl Deref for Payload {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Payload::Inline(b) => b,
            Payload::Owned(v) => v,
        }
    }
}

/// A held event.
pub(crate) struct HeldEvent {
    pub(crate) kind: Kind,
    pub(crate) payload: Payload,
}

/// Record layout in [`Queue::records`]: one tag byte (kind, plus
/// [`OWNED`]); an inline record continues with its length (`u16`, little
/// endian) and its bytes. Inline payloads are below [`SHARE_THRESHOLD`].
const OWNED: u8 = 0x80;
const INLINE_HEADER: usize = 3;

struct Queue {
    records: BytesMut,
    /// Payloads of the owned records, in order.
    owned: VecDeque<Vec<u8>>,
}

/// Held events, in arrival order. `None` (no heap) whenever nothing is held.
#[derive(Default)]
pub(crate) struct Held(
    // Boxed: 8 bytes in every slab entry instead of 56.
    #[allow(clippy::box_collection)] Option<Box<Queue>>,
);

fn tag(kind: Kind) -> u8 {
    match kind {
        Kind::Text => 0,
        Kind::Binary => 1,
        Kind::Ping => 2,
    }
}

fn kind(tag: u8) -> Kind {
    match tag & !OWNED {
        0 => Kind::Text,
        1 => Kind::Binary,
        _ => Kind::Ping,
    }
}

impl Held {
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    fn queue(&mut self) -> &mut Queue {
        self.0.get_or_insert_with(|| {
            Box::new(Queue {
                records: BytesMut::new(),
                owned: VecDeque::new(),
            })
        })
    }

    /// Hold an event whose bytes are borrowed (from a receive buffer):
    /// copied once, into the record buffer or (large) an allocation of its
    /// own.
    pub(crate) fn push_copy(&mut self, kind: Kind, bytes: &[u8]) {
        if bytes.len() >= SHARE_THRESHOLD {
            return self.push_owned(kind, bytes.to_vec());
        }
        let r = &mut self.queue().records;
        r.reserve(INLINE_HEADER + bytes.len());
        r.extend_from_slice(&[tag(kind)]);
        r.extend_from_slice(&(bytes.len() as u16).to_le_bytes());
        r.extend_from_slice(bytes);
    }

    /// Hold an event whose bytes are already an allocation of their own.
    pub(crate) fn push_owned(&mut self, kind: Kind, bytes: Vec<u8>) {
        let q = self.queue();
        q.records.extend_from_slice(&[tag(kind) | OWNED]);
        q.owned.push_back(bytes);
    }

    /// The oldest held event.
    pub(crate) fn pop(&mut self) -> Option<HeldEvent> {
        let q = self.0.as_mut()?;
        let t = q.records.get_u8();
        let payload = if t & OWNED != 0 {
            Payload::Owned(q.owned.pop_front().unwrap_or_default())
        } else {
            let len = usize::from(q.records.get_u16_le());
            Payload::Inline(q.records.split_to(len))
        };
        if q.records.is_empty() {
            self.0 = None;
        }
        Some(HeldEvent {
            kind: kind(t),
            payload,
        })
    }

    /// Drop everything held (the connection no longer reads).
    pub(crate) fn clear(&mut self) {
        self.0 = None;
    }

    /// Heap capacity held (the memory budget counts it).
    pub(crate) fn capacity(&self) -> usize {
        self.0.as_ref().map_or(0, |q| {
            q.records.capacity() + q.owned.iter().map(|v| v.capacity()).sum::<usize>()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_come_back_in_order_with_their_bytes() {
        let mut h = Held::default();
        assert!(h.is_empty());
        let big = vec![7u8; SHARE_THRESHOLD];
        h.push_copy(Kind::Text, b"abc");
        h.push_owned(Kind::Binary, vec![1, 2, 3]);
        h.push_copy(Kind::Ping, b"");
        h.push_copy(Kind::Binary, &big);
        h.push_copy(Kind::Binary, b"z");
        let mut got = Vec::new();
        while let Some(e) = h.pop() {
            let owned = matches!(e.payload, Payload::Owned(_));
            got.push((e.kind, e.payload.to_vec(), owned));
        }
        assert_eq!(
            got,
            [
                (Kind::Text, b"abc".to_vec(), false),
                (Kind::Binary, vec![1, 2, 3], true),
                (Kind::Ping, vec![], false),
                (Kind::Binary, big, true),
                (Kind::Binary, b"z".to_vec(), false),
            ]
        );
        assert!(h.is_empty());
        assert_eq!(h.capacity(), 0);
    }
}
