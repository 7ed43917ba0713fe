//! What a completion belongs to, packed into the 64-bit `user_data` (io_uring)
//! or `epoll_event.u64` (epoll).
//!
//! Layout: `kind:8 | generation:24 | slot:32`. The generation lets the shard
//! drop a completion for a slot that has since been reused; only its low 24
//! bits travel, which is enough because a slot is never freed while one of
//! its operations is still in flight (the shard waits for them).

/// The operation a completion reports on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum OpKind {
    /// Multishot accept on the worker's listener.
    Accept = 1,
    /// Multishot receive on a connection (or epoll readiness of one).
    Recv = 2,
    /// A vectored send on a connection.
    Send = 3,
    /// The worker's periodic timer tick.
    Tick = 4,
    /// The worker's wake-up eventfd (cross-worker messages).
    Wake = 5,
    /// A cancel request; its own completion is ignored.
    Cancel = 6,
    /// A doorbell another worker posted into this ring with
    /// `IORING_OP_MSG_RING`: a wake-up that arms nothing.
    Bell = 7,
    /// This ring's own `IORING_OP_MSG_RING` to another worker; its
    /// completion is skipped on success, so it only reports a failure. The
    /// slot carries the target's eventfd, rung instead.
    BellSent = 8,
}

impl OpKind {
    fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            1 => Self::Accept,
            2 => Self::Recv,
            3 => Self::Send,
            4 => Self::Tick,
            5 => Self::Wake,
            6 => Self::Cancel,
            7 => Self::Bell,
            8 => Self::BellSent,
            _ => return None,
        })
    }
}

/// A connection's identity inside one worker: slab slot plus generation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) struct Token {
    /// Slab index.
    pub(crate) slot: u32,
    /// Generation of the slot when the op was issued (low 24 bits compared).
    pub(crate) gen: u32,
}

const GEN_BITS: u32 = 24;
const GEN_MASK: u32 = (1 << GEN_BITS) - 1;

impl Token {
    /// Whether `other` names the same connection (generations compared on
    /// the bits that travel in `user_data`).
    pub(crate) fn same(self, other: Token) -> bool {
        self.slot == other.slot && (self.gen & GEN_MASK) == (other.gen & GEN_MASK)
    }
}

/// Pack an op kind and token into `user_data`.
pub(crate) fn encode(kind: OpKind, token: Token) -> u64 {
    ((kind as u64) << 56) | (((token.gen & GEN_MASK) as u64) << 32) | token.slot as u64
}

/// Unpack `user_data`; `None` for a value this engine never issued.
pub(crate) fn decode(data: u64) -> Option<(OpKind, Token)> {
    let kind = OpKind::from_u8((data >> 56) as u8)?;
    let gen = ((data >> 32) as u32) & GEN_MASK;
    Some((
        kind,
        Token {
            slot: data as u32,
            gen,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_table() {
        let cases = [
            (OpKind::Accept, 0, 0),
            (OpKind::Recv, 1, 7),
            (OpKind::Send, u32::MAX, GEN_MASK),
            (OpKind::Tick, 12345, 1 << 23),
            (OpKind::Wake, 0, 0),
            (OpKind::Cancel, 99, 3),
            (OpKind::Bell, 0, 0),
            (OpKind::BellSent, 41, 0),
        ];
        for (kind, slot, gen) in cases {
            let t = Token { slot, gen };
            let (k, d) = decode(encode(kind, t)).unwrap();
            assert_eq!((k, d.slot, d.gen), (kind, slot, gen));
        }
    }

    #[test]
    fn generation_wraps_to_24_bits() {
        let t = Token {
            slot: 5,
            gen: (1 << 24) + 3,
        };
        let (_, d) = decode(encode(OpKind::Recv, t)).unwrap();
        assert_eq!(d.gen, 3);
        assert!(t.same(d));
        assert!(!t.same(Token { slot: 5, gen: 4 }));
    }

    #[test]
    fn foreign_values_refused() {
        assert!(decode(0).is_none());
        assert!(decode(u64::MAX).is_none());
    }
}
