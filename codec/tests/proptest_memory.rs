//! Memory follows the bytes: whatever the fragmentation, the cuts between
//! received buffers, the interleaved control frames and the direct
//! receives, the receiver's assembly buffer never holds more than about a
//! quarter beyond the bytes the peer actually sent (`held × 1.25 + 256`),
//! and nothing at all between messages. Frames announce far more than
//! they carry in some cases (a peer that announces 15 MiB and sends a
//! little): the announced length never shows up in the capacity.

mod common;

use common::{fragmented, masked};
use proptest::prelude::*;
use ringws_codec::{assembly_target, OpCode, Receiver, ReceiverConfig};

fn bound(held: usize) -> usize {
    held + held / 4 + 256
}

fn check(rx: &Receiver, what: &str) -> Result<(), TestCaseError> {
    let (held, cap) = (rx.buffered_len(), rx.buffered_capacity());
    prop_assert!(
        cap <= bound(held),
        "{what}: held {held}, capacity {cap} > {}",
        bound(held)
    );
    Ok(())
}

/// Feeds `stream` in `cuts`-sized pieces, taking direct receives of at most
/// `max` bytes after each piece while allowed, checking the bound after
/// every step.
fn feed_checked(
    stream: &[u8],
    cuts: &[usize],
    direct: &[usize],
) -> Result<Receiver, TestCaseError> {
    let mut rx = Receiver::new(ReceiverConfig::server());
    let (mut pos, mut c, mut d) = (0, 0, 0);
    while pos < stream.len() && !rx.is_finished() {
        let n = cuts[c % cuts.len()].min(stream.len() - pos);
        c += 1;
        let mut buf = stream[pos..pos + n].to_vec();
        pos += n;
        let mut feed = rx.feed(&mut buf);
        while feed.next_event().is_some() {}
        drop(feed);
        check(&rx, "after a feed")?;
        if direct.is_empty() {
            continue;
        }
        while rx.direct_remaining() > 0 && pos < stream.len() {
            let max = direct[d % direct.len()];
            d += 1;
            let held = rx.buffered_len();
            let (mut out, room) = rx.take_direct(max).expect("allowed");
            prop_assert!(held >= 1024, "lent with only {held} bytes held");
            prop_assert!(
                out.capacity() <= bound(held),
                "lent: held {held}, capacity {}",
                out.capacity()
            );
            let k = room.min(stream.len() - pos);
            out.extend_from_slice(&stream[pos..pos + k]);
            pos += k;
            let mut feed = rx.feed_direct(out, k);
            while feed.next_event().is_some() {}
            drop(feed);
            check(&rx, "after a direct receive")?;
        }
    }
    Ok(rx)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn capacity_stays_within_a_quarter_of_the_bytes_held(
        msgs in prop::collection::vec(
            (prop::collection::vec(any::<u8>(), 0..20_000), 1usize..8, any::<bool>()),
            1..4,
        ),
        cuts in prop::collection::vec(1usize..5000, 1..6),
        direct in prop::collection::vec(1usize..70_000, 0..4),
    ) {
        let mut stream = Vec::new();
        for (payload, parts, ping) in &msgs {
            stream.extend(fragmented(false, payload, *parts, *ping, [3, 1, 4, 1]));
        }
        let rx = feed_checked(&stream, &cuts, &direct)?;
        prop_assert!(rx.is_idle(), "nothing held between messages");
    }

    #[test]
    fn an_announced_length_reserves_nothing(
        announced in 100_000u64..15 << 20,
        sent in 1usize..60_000,
        cuts in prop::collection::vec(1usize..5000, 1..6),
        direct in prop::collection::vec(1usize..(1 << 20), 0..3),
    ) {
        let mut stream = vec![0x82, 0x80 | 127];
        stream.extend_from_slice(&announced.to_be_bytes());
        stream.extend_from_slice(&[7, 7, 7, 7]);
        stream.extend(std::iter::repeat_n(0xAB, sent));
        let rx = feed_checked(&stream, &cuts, &direct)?;
        prop_assert!(rx.buffered_len() <= sent);
    }
}

#[test]
fn the_target_is_a_quarter_beyond_capped_at_the_frame_end() {
    assert_eq!(assembly_target(0, 10, None), 10 + 256);
    assert_eq!(assembly_target(0, 10, Some(5)), 15);
    assert_eq!(assembly_target(4096, 100, None), 4096 + 100 + 1049);
    assert_eq!(assembly_target(4096, 100, Some(300)), 4096 + 100 + 300);
    assert_eq!(assembly_target(4096, 100, Some(0)), 4196);
}

#[test]
fn one_byte_fragments_regrow_geometrically() {
    // 20,000 one-byte fragments of one message: the buffer regrows a few
    // dozen times, not at every fragment, and stays within the bound.
    let mut stream = masked(false, OpCode::Binary, b"x", [1, 2, 3, 4]);
    for _ in 0..19_998 {
        stream.extend(masked(false, OpCode::Continuation, b"x", [1, 2, 3, 4]));
    }
    stream.extend(masked(true, OpCode::Continuation, b"x", [1, 2, 3, 4]));
    let mut rx = Receiver::new(ReceiverConfig::server());
    let (mut regrown, mut last) = (0, 0);
    for piece in stream.chunks(7) {
        let mut buf = piece.to_vec();
        let mut feed = rx.feed(&mut buf);
        while let Some(ev) = feed.next_event() {
            assert!(matches!(ev, Ok(ringws_codec::Event::Binary(b)) if b.len() == 20_000));
        }
        drop(feed);
        let cap = rx.buffered_capacity();
        assert!(cap <= bound(rx.buffered_len()));
        regrown += usize::from(cap > last);
        last = cap;
    }
    assert!(regrown < 60, "regrown {regrown} times");
    assert!(rx.is_idle());
}
