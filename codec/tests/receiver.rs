//! Receiver behaviour the engine relies on: zero-copy delivery, assembly
//! across buffers, interleaved control frames, memory when idle.

mod common;

use common::{masked, run, run_cuts, Ev};
use ringws_codec::{Event, OpCode, Receiver, ReceiverConfig};

const K: [u8; 4] = [0x01, 0x80, 0xFE, 0x7F];

/// Whether `inner` lies inside the address range `outer` (taken from the
/// fed buffer before it was lent to the receiver).
fn within(inner: &[u8], outer: &core::ops::Range<usize>) -> bool {
    let i = inner.as_ptr_range();
    outer.start <= i.start as usize && i.end as usize <= outer.end
}

#[test]
fn idle_receiver_is_small_and_holds_no_heap() {
    let size = core::mem::size_of::<Receiver>();
    println!("size_of::<Receiver>() = {size} bytes");
    assert!(size <= 64);
    let rx = Receiver::new(ReceiverConfig::server());
    assert!(rx.is_idle());
    assert_eq!(rx.buffered_capacity(), 0);
}

#[test]
fn whole_frames_are_lent_from_the_fed_buffer() {
    let mut stream = masked(true, OpCode::Text, "héllo wörld".as_bytes(), K);
    stream.extend(masked(true, OpCode::Binary, &[9; 300], K));
    stream.extend(masked(true, OpCode::Ping, b"p", K));
    stream.extend(masked(true, OpCode::Close, b"\x03\xE8bye", K));
    let mut rx = Receiver::new(ReceiverConfig::server());
    let mut buf = stream.clone();
    let r = buf.as_ptr_range();
    let outer = &(r.start as usize..r.end as usize);
    let mut feed = rx.feed(&mut buf);
    let mut n = 0;
    while let Some(ev) = feed.next_event() {
        match ev.unwrap() {
            Event::Text(s) => {
                assert_eq!(s, "héllo wörld");
                assert!(within(s.as_bytes(), outer));
            }
            Event::Binary(b) => assert!(b == [9; 300] && within(b, outer)),
            Event::Ping(b) => assert!(b == b"p" && within(b, outer)),
            Event::Close(Some((code, reason))) => {
                assert_eq!((code.0, reason), (1000, "bye"));
                assert!(within(reason.as_bytes(), outer));
            }
            other => panic!("{other:?}"),
        }
        n += 1;
    }
    assert_eq!(n, 4);
    drop(feed);
    assert_eq!(rx.buffered_capacity(), 0, "no assembly for whole frames");
}

#[test]
fn fragments_with_interleaved_control_frames() {
    let stream = [
        masked(false, OpCode::Text, "frag".as_bytes(), K),
        masked(true, OpCode::Ping, b"ping-1", K),
        masked(false, OpCode::Continuation, "mént".as_bytes(), K),
        masked(true, OpCode::Pong, b"", K),
        masked(false, OpCode::Continuation, b"", K),
        masked(true, OpCode::Ping, &[7; 125], K),
        masked(true, OpCode::Continuation, "ed ✓".as_bytes(), K),
        masked(true, OpCode::Binary, b"next", K),
    ]
    .concat();
    let want = vec![
        Ev::Ping(b"ping-1".to_vec()),
        Ev::Pong(vec![]),
        Ev::Ping(vec![7; 125]),
        Ev::Text("fragménted ✓".into()),
        Ev::Binary(b"next".to_vec()),
    ];
    assert_eq!(run(ReceiverConfig::server(), &stream), want);
    // Every two-cut split: control frames straddling buffers in the middle
    // of an assembled message must not corrupt it.
    for a in 0..=stream.len() {
        for b in (a..=stream.len()).step_by(7) {
            let (events, rx) = run_cuts(ReceiverConfig::server(), &stream, &[a, b]);
            assert_eq!(events, want, "cuts {a} {b}");
            assert!(rx.is_idle());
        }
    }
}

#[test]
fn assembly_buffer_lives_only_while_a_message_is_in_progress() {
    let payload = vec![0x5A; 10_000];
    let stream = masked(true, OpCode::Binary, &payload, K);
    let mut rx = Receiver::new(ReceiverConfig::server());
    let (first, second) = stream.split_at(5000);
    let mut a = first.to_vec();
    let mut feed = rx.feed(&mut a);
    assert!(feed.next_event().is_none());
    drop(feed);
    assert!(
        rx.buffered_capacity() >= 5000 - 4 - 4,
        "partial message kept"
    );
    assert!(!rx.is_idle());
    let mut b = second.to_vec();
    let mut feed = rx.feed(&mut b);
    match feed.next_event() {
        Some(Ok(Event::Binary(got))) => assert_eq!(got, &payload[..]),
        other => panic!("{other:?}"),
    }
    assert!(feed.next_event().is_none());
    drop(feed);
    assert_eq!(rx.buffered_capacity(), 0, "freed after delivery");
    assert!(rx.is_idle());
}

#[test]
fn header_split_at_every_byte_is_kept_internally() {
    // A 64-bit-length masked frame has a 14-byte header; feed it one byte
    // per buffer.
    let payload = vec![3u8; 70_000];
    let stream = masked(true, OpCode::Binary, &payload, K);
    let cuts: Vec<usize> = (1..=14).collect();
    let (events, _) = run_cuts(ReceiverConfig::server(), &stream, &cuts);
    assert_eq!(events, [Ev::Binary(payload)]);
}

#[test]
fn text_split_inside_characters() {
    let text = "日本語のテキスト 🎉 emoji";
    let stream = masked(true, OpCode::Text, text.as_bytes(), K);
    for cut in 0..=stream.len() {
        let (events, _) = run_cuts(ReceiverConfig::server(), &stream, &[cut]);
        assert_eq!(events, [Ev::Text(text.into())], "cut {cut}");
    }
}

#[test]
fn compressed_messages_need_the_extension() {
    let config = ReceiverConfig {
        allow_rsv1: true,
        ..ReceiverConfig::server()
    };
    // RSV1 on the first frame only; the payload is not UTF-8-checked.
    let stream = [
        common::raw_masked(0x41, b"\xFF\x00"),
        common::raw_masked(0x80, b"\x01"),
    ]
    .concat();
    assert_eq!(
        run(config, &stream),
        [Ev::Compressed(true, vec![0xFF, 0, 1])]
    );
    let stream = common::raw_masked(0xC2, b"zz");
    assert_eq!(
        run(config, &stream),
        [Ev::Compressed(false, b"zz".to_vec())]
    );
}

#[test]
fn assembly_grows_with_the_bytes_not_the_announced_length() {
    // 8 MiB announced, 1 KiB sent: nothing is reserved for the rest.
    let big = 8u64 << 20;
    let mut head = vec![0x82, 0x80 | 127];
    head.extend_from_slice(&big.to_be_bytes());
    head.extend_from_slice(&K);
    head.extend_from_slice(&[0u8; 1024]);
    let mut rx = Receiver::new(ReceiverConfig::server());
    let ev = rx.feed(&mut head).next_event().map(|e| e.map(|_| ()));
    assert!(ev.is_none(), "{ev:?}");
    let cap = rx.buffered_capacity();
    assert_eq!(rx.buffered_len(), 1024);
    assert!((1024..=1024 + 256).contains(&cap), "reserved {cap}");
    // 200 KiB announced and sent in 1 KiB pieces: the buffer never holds
    // more than a quarter beyond the bytes (plus 256), and ends exact.
    let stream = masked(true, OpCode::Binary, &vec![1; 200 << 10], K);
    let mut rx = Receiver::new(ReceiverConfig::server());
    let mut grown = 0;
    let mut last_cap = 0;
    for piece in stream.chunks(1024) {
        let mut part = piece.to_vec();
        let mut feed = rx.feed(&mut part);
        while let Some(ev) = feed.next_event() {
            assert!(matches!(ev, Ok(Event::Binary(b)) if b.len() == 200 << 10));
        }
        drop(feed);
        let (held, cap) = (rx.buffered_len(), rx.buffered_capacity());
        assert!(cap <= held + held / 4 + 256, "held {held}, capacity {cap}");
        grown += usize::from(cap != last_cap);
        last_cap = cap;
    }
    // Geometric growth: a few dozen regrowths for 200 pieces, not one each.
    assert!(grown < 40, "regrown {grown} times");
    assert!(rx.is_idle());
}

#[test]
fn an_assembled_message_can_be_taken_without_a_copy() {
    let payload: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
    let stream = masked(true, OpCode::Binary, &payload, K);
    let (a, b) = stream.split_at(1000);
    let mut rx = Receiver::new(ReceiverConfig::server());
    let mut first = a.to_vec();
    assert!(rx.feed(&mut first).next_event().is_none());
    let mut second = b.to_vec();
    let mut feed = rx.feed(&mut second);
    let ptr = match feed.next_event() {
        Some(Ok(Event::Binary(m))) => {
            assert_eq!(m, &payload[..]);
            m.as_ptr()
        }
        other => panic!("{other:?}"),
    };
    let taken = feed.take_message().expect("assembled");
    assert_eq!(taken, payload);
    assert_eq!(
        taken.as_ptr(),
        ptr,
        "the very buffer that was lent, not a copy"
    );
    assert!(feed.take_message().is_none(), "taken once");
    drop(feed);
    assert_eq!(rx.buffered_capacity(), 0);
    // A message lent from the fed buffer has no assembly to take; the
    // receiver goes on working after a take.
    let mut whole = masked(true, OpCode::Text, b"short", K);
    let mut feed = rx.feed(&mut whole);
    assert!(matches!(feed.next_event(), Some(Ok(Event::Text("short")))));
    assert!(feed.take_message().is_none());
}
