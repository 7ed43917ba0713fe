//! Receiving payload straight into the message buffer
//! (`take_direct` / `feed_direct`) yields exactly the events of feeding the
//! same bytes through `feed`, whatever the cuts, the sizes taken directly,
//! the fragmentation, the interleaved pings and the UTF-8 (valid or not).

mod common;

use common::{fragmented, masked, run, Ev};
use proptest::prelude::*;
use ringws_codec::{OpCode, Receiver, ReceiverConfig};

/// Messages split into 1–3 fragments, pings between fragments, text made of
/// 1–4-byte characters (so direct pieces cut characters), sometimes with an
/// invalid byte.
fn stream() -> impl Strategy<Value = Vec<u8>> {
    let msg = (
        any::<bool>(),
        prop::collection::vec(any::<u8>(), 0..4000),
        1usize..4,
        any::<bool>(),
        prop::option::weighted(0.1, any::<prop::sample::Index>()),
    );
    prop::collection::vec(msg, 1..4).prop_map(|msgs| {
        let mut bytes = Vec::new();
        for (text, raw, parts, ping, invalid) in msgs {
            let mut payload: Vec<u8> = if text {
                const CHARS: [&str; 4] = ["a", "é", "€", "𝄞"];
                raw.iter()
                    .flat_map(|b| CHARS[(b % 4) as usize].bytes())
                    .collect()
            } else {
                raw
            };
            if let (true, Some(at), false) = (text, invalid, payload.is_empty()) {
                let i = at.index(payload.len());
                payload[i] = 0xFF;
            }
            bytes.extend(fragmented(
                text,
                &payload,
                parts,
                ping,
                [0x5A, 0x01, 0xC3, 0x77],
            ));
        }
        bytes
    })
}

/// Feeds `stream` in pieces of `cuts` sizes; after each piece, while the
/// receiver allows it, "receives" the next bytes directly (at most `max` and
/// `take` of them per step) the way the engine's `recv` into the lent
/// buffer does.
fn run_direct(stream: &[u8], cuts: &[usize], takes: &[(usize, usize)]) -> Vec<Ev> {
    let mut rx = Receiver::new(ReceiverConfig::server());
    let mut events = Vec::new();
    let mut pos = 0;
    let mut t = 0;
    let mut c = 0;
    while pos < stream.len() && !rx.is_finished() {
        let n = cuts[c % cuts.len()].min(stream.len() - pos);
        c += 1;
        let mut buf = stream[pos..pos + n].to_vec();
        pos += n;
        let mut feed = rx.feed(&mut buf);
        while let Some(ev) = feed.next_event() {
            events.push(Ev::from_event(ev));
        }
        drop(feed);
        while rx.direct_remaining() > 0 && pos < stream.len() {
            let (max, take) = takes[t % takes.len()];
            t += 1;
            let before = rx.direct_remaining();
            let (mut out, room) = rx.take_direct(max).expect("direct_remaining > 0");
            assert!(room > 0 && room as u64 <= before && room <= max);
            assert!(
                rx.direct_remaining() == 0,
                "nothing more while the buffer is out"
            );
            // A feed while the buffer is out processes nothing.
            let mut stray = vec![0u8; 3];
            assert_eq!(rx.feed(&mut stray).unprocessed(), 3);
            let k = take.min(room).min(stream.len() - pos);
            let cap = out.capacity();
            out.extend_from_slice(&stream[pos..pos + k]);
            assert_eq!(out.capacity(), cap, "room was reserved");
            pos += k;
            let mut feed = rx.feed_direct(out, k);
            while let Some(ev) = feed.next_event() {
                events.push(Ev::from_event(ev));
            }
            if k == 0 {
                break;
            }
        }
    }
    events
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn direct_receives_match_fed_bytes(
        stream in stream(),
        cuts in prop::collection::vec(1usize..700, 1..6),
        takes in prop::collection::vec((1usize..5000, 0usize..5000), 1..6),
    ) {
        let want = run(ReceiverConfig::server(), &stream);
        prop_assert_eq!(run_direct(&stream, &cuts, &takes), want);
    }
}

#[test]
fn direct_receives_lend_at_most_a_quarter_of_what_is_held() {
    let payload: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let stream = masked(true, OpCode::Binary, &payload, [1, 2, 3, 4]);
    let mut rx = Receiver::new(ReceiverConfig::server());
    // Less than 1 KiB held: nothing is lent (the ring keeps receiving).
    let mut first = stream[..500].to_vec();
    assert!(rx.feed(&mut first).next_event().is_none());
    assert_eq!(rx.direct_remaining(), 0);
    assert!(rx.take_direct(1 << 20).is_none());
    let mut second = stream[500..4000].to_vec();
    assert!(rx.feed(&mut second).next_event().is_none());
    let mut pos = 4000;
    let mut steps = 0;
    let mut got = None;
    while got.is_none() {
        let held = rx.buffered_len();
        let rest = (stream.len() - pos) as u64;
        assert_eq!(rx.direct_remaining(), rest);
        let (mut buf, room) = rx.take_direct(1 << 20).unwrap();
        assert!(room as u64 <= rest);
        assert!(
            buf.capacity() <= held + held / 4 + 256,
            "held {held}, lent capacity {}",
            buf.capacity()
        );
        let cap = buf.capacity();
        buf.extend_from_slice(&stream[pos..pos + room]);
        assert_eq!(buf.capacity(), cap, "room was reserved");
        pos += room;
        steps += 1;
        let mut feed = rx.feed_direct(buf, room);
        if let Some(ev) = feed.next_event() {
            match ev {
                Ok(ringws_codec::Event::Binary(b)) => assert_eq!(b, &payload[..]),
                other => panic!("{other:?}"),
            }
            // The engine can still take the buffer over for an echo.
            assert_eq!(feed.take_message().map(|v| v.len()), Some(payload.len()));
            got = Some(());
        }
    }
    // Growth by a quarter: from ~4 KiB to 300 KB in about 20 receives.
    assert!((10..40).contains(&steps), "{steps} direct receives");
    assert!(rx.is_idle());
}

#[test]
fn nothing_to_take_between_frames_or_in_control_frames() {
    let mut rx = Receiver::new(ReceiverConfig::server());
    assert_eq!(rx.direct_remaining(), 0);
    assert!(rx.take_direct(100).is_none());
    // Inside a ping's payload.
    let ping = masked(true, OpCode::Ping, &[7; 100], [1, 1, 1, 1]);
    let mut part = ping[..20].to_vec();
    assert!(rx.feed(&mut part).next_event().is_none());
    assert_eq!(rx.direct_remaining(), 0);
    assert!(rx.take_direct(100).is_none());
}

#[test]
fn text_whose_buffer_was_lent_out_is_checked_again_whole() {
    // The first 2,000 bytes are checked on arrival; the caller then holds the
    // assembly buffer and (wrongly) breaks a byte of that checked prefix. The
    // receiver must not hand that out as `&str`: it checks lent text again.
    let payload = "é".repeat(100_000).into_bytes();
    let stream = masked(true, OpCode::Text, &payload, [9, 8, 7, 6]);
    let mut rx = Receiver::new(ReceiverConfig::server());
    let mut first = stream[..2000].to_vec();
    assert!(rx.feed(&mut first).next_event().is_none());
    let mut pos = 2000;
    let mut corrupt = true;
    loop {
        let (mut buf, room) = rx.take_direct(1 << 20).unwrap();
        if corrupt {
            assert!(buf.len() > 100, "the checked prefix is in the lent buffer");
            buf[50] = 0xFF;
            corrupt = false;
        }
        buf.extend_from_slice(&stream[pos..pos + room]);
        pos += room;
        let mut feed = rx.feed_direct(buf, room);
        if let Some(ev) = feed.next_event() {
            assert_eq!(
                ev.map(|_| ()),
                Err(ringws_codec::ProtocolError::InvalidUtf8)
            );
            assert_eq!(pos, stream.len(), "found only once the message is whole");
            break;
        }
    }
}

#[test]
fn assembled_text_that_never_left_the_receiver_is_delivered_once_checked() {
    // Fragments of valid text, one of them cut mid-character: delivered as the
    // same `&str`; the same with one invalid byte in the last fragment fails.
    let text = "aé€𝄞".repeat(5_000);
    let bytes = text.as_bytes();
    let cut = bytes.len() / 2 + 1;
    let mut stream = masked(false, OpCode::Text, &bytes[..cut], [1, 2, 3, 4]);
    stream.extend(masked(
        true,
        OpCode::Continuation,
        &bytes[cut..],
        [5, 6, 7, 8],
    ));
    let mut rx = Receiver::new(ReceiverConfig::server());
    let mut feed_bytes = stream.clone();
    let mut feed = rx.feed(&mut feed_bytes);
    match feed.next_event() {
        Some(Ok(ringws_codec::Event::Text(t))) => assert_eq!(t, text),
        other => panic!("{other:?}"),
    }
    let mut bad = bytes[cut..].to_vec();
    *bad.last_mut().unwrap() = 0xC3; // a lead byte with nothing after it
    let mut stream = masked(false, OpCode::Text, &bytes[..cut], [1, 2, 3, 4]);
    stream.extend(masked(true, OpCode::Continuation, &bad, [5, 6, 7, 8]));
    let mut rx = Receiver::new(ReceiverConfig::server());
    let mut feed = rx.feed(&mut stream);
    assert_eq!(
        feed.next_event().map(|r| r.map(|_| ())),
        Some(Err(ringws_codec::ProtocolError::InvalidUtf8))
    );
}
