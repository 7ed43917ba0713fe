//! Compressed messages through the `Receiver`: inflated as they arrive
//! (`feed_inflating`, a connection's own inflater) or collected whole and
//! inflated by a shared inflater (`feed` + `Inflater::inflate_message`);
//! RSV1 rules, fail-fast UTF-8, invalid data.

mod common;

use common::Ev;
use ringws_codec::{
    apply_mask, Deflater, Event, FrameHeader, HeaderBytes, Inflater, Limits, OpCode, ProtocolError,
    Receiver, ReceiverConfig,
};

const KEY: [u8; 4] = [0x11, 0x22, 0x33, 0x44];

fn config(max_message_size: u64) -> ReceiverConfig {
    ReceiverConfig {
        allow_rsv1: true,
        limits: Limits {
            max_frame_size: 1 << 30,
            max_message_size,
        },
        ..ReceiverConfig::server()
    }
}

/// Appends one masked frame with the given bits.
fn frame(out: &mut Vec<u8>, fin: bool, rsv1: bool, op: OpCode, payload: &[u8]) {
    let mut h = FrameHeader::new(fin, op, Some(KEY), payload.len() as u64);
    h.rsv1 = rsv1;
    out.extend_from_slice(HeaderBytes::from_header(&h).as_slice());
    let start = out.len();
    out.extend_from_slice(payload);
    apply_mask(&mut out[start..], KEY, 0);
}

/// A compressed message as `frames` fragments (RSV1 on the first only).
fn fragmented(out: &mut Vec<u8>, op: OpCode, compressed: &[u8], frames: usize) {
    let size = compressed.len().div_ceil(frames.max(1)).max(1);
    let pieces: Vec<&[u8]> = if compressed.is_empty() {
        vec![&[]]
    } else {
        compressed.chunks(size).collect()
    };
    for (i, p) in pieces.iter().enumerate() {
        let op = if i == 0 { op } else { OpCode::Continuation };
        frame(out, i + 1 == pieces.len(), i == 0, op, p);
    }
}

/// Feeds `stream` in `step`-byte pieces; inflating with `inflater` if given,
/// otherwise inflating `Compressed` events with a shared inflater.
fn run(stream: &[u8], step: usize, limit: u64, inflater: Option<&mut Inflater>) -> Vec<Ev> {
    let mut rx = Receiver::new(config(limit));
    let mut shared = Inflater::shared();
    let mut out = Vec::new();
    let mut events = Vec::new();
    let mut inflater = inflater;
    for piece in stream.chunks(step.max(1)) {
        let mut buf = piece.to_vec();
        let mut feed = match inflater.as_deref_mut() {
            Some(i) => rx.feed_inflating(&mut buf, i),
            None => rx.feed(&mut buf),
        };
        while let Some(ev) = feed.next_event() {
            let ev = match ev {
                Ok(Event::Compressed { text, payload }) => {
                    Ev::from_event(shared.inflate_message(text, payload, limit as usize, &mut out))
                }
                other => Ev::from_event(other),
            };
            events.push(ev);
        }
    }
    events
}

fn json(n: usize) -> String {
    (0..n)
        .map(|i| {
            format!(
                r#"{{"id":{i},"sym":"BTC-USD","px":{}.5,"qty":{}}}"#,
                40000 + i % 97,
                i % 13
            )
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[test]
fn streaming_and_shared_agree_on_every_cut() {
    let texts = [json(3), json(40), "é€😀".repeat(300), String::new()];
    for takeover in [false, true] {
        let mut client = Deflater::new(15, !takeover).threshold(0);
        let mut stream = Vec::new();
        let mut want = Vec::new();
        for (i, t) in texts.iter().enumerate() {
            let mut c = Vec::new();
            client.compress(t.as_bytes(), &mut c);
            fragmented(&mut stream, OpCode::Text, &c, 1 + i * 2);
            want.push(Ev::Text(t.clone()));
            // A ping between messages and an uncompressed binary message.
            frame(&mut stream, true, false, OpCode::Ping, b"p");
            want.push(Ev::Ping(b"p".to_vec()));
            frame(&mut stream, true, false, OpCode::Binary, b"raw");
            want.push(Ev::Binary(b"raw".to_vec()));
        }
        for step in [1, 3, 7, 64, 1000, stream.len()] {
            let mut own = Inflater::new(15, !takeover);
            assert_eq!(
                run(&stream, step, 1 << 20, Some(&mut own)),
                want,
                "step {step}"
            );
            if !takeover {
                // The shared way is only valid without context takeover.
                assert_eq!(run(&stream, step, 1 << 20, None), want, "step {step}");
            }
        }
    }
}

#[test]
fn rsv1_rules() {
    let cases: Vec<(Vec<u8>, ProtocolError)> = vec![
        // RSV1 on a continuation frame.
        (
            [
                {
                    let mut v = Vec::new();
                    frame(&mut v, false, true, OpCode::Text, &[0xf2, 0x48]);
                    v
                },
                {
                    let mut v = Vec::new();
                    frame(&mut v, true, true, OpCode::Continuation, &[0xcd]);
                    v
                },
            ]
            .concat(),
            ProtocolError::Rsv1NotAllowedHere,
        ),
        // RSV1 on control frames.
        (
            {
                let mut v = Vec::new();
                frame(&mut v, true, true, OpCode::Ping, b"x");
                v
            },
            ProtocolError::Rsv1NotAllowedHere,
        ),
        (
            {
                let mut v = Vec::new();
                frame(&mut v, true, true, OpCode::Close, &[3, 232]);
                v
            },
            ProtocolError::Rsv1NotAllowedHere,
        ),
    ];
    for (stream, want) in &cases {
        for step in [1, stream.len()] {
            let mut own = Inflater::new(15, false);
            let got = run(stream, step, 1 << 20, Some(&mut own));
            assert_eq!(got.last(), Some(&Ev::Err(*want)), "{stream:x?}");
            assert_eq!(want.close_code().0, 1002);
        }
    }
    // Without the extension RSV1 is refused whatever the frame.
    let mut v = Vec::new();
    frame(
        &mut v,
        true,
        true,
        OpCode::Text,
        &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00],
    );
    let (events, _) = common::run_cuts(ReceiverConfig::server(), &v, &[]);
    assert_eq!(events, [Ev::Err(ProtocolError::ReservedBitsSet)]);
}

#[test]
fn invalid_text_fails_in_the_fragment_that_inflates_it() {
    // A compressed text message of 2 fragments whose first one already
    // inflates to a byte that is never UTF-8: the error comes before the
    // second fragment has been sent.
    let mut d = Deflater::new(15, true).threshold(0);
    let mut bad = b"ok so far \xFF then more".to_vec();
    bad.extend_from_slice(&[b'a'; 4000]);
    let mut c = Vec::new();
    d.compress(&bad, &mut c);
    let mut first = Vec::new();
    frame(&mut first, false, true, OpCode::Text, &c);
    let mut rx = Receiver::new(config(1 << 20));
    let mut own = Inflater::new(15, true);
    let mut feed = rx.feed_inflating(&mut first, &mut own);
    assert_eq!(
        feed.next_event().map(Ev::from_event),
        Some(Ev::Err(ProtocolError::InvalidUtf8))
    );
    // Garbage that is not DEFLATE: 1007 as well.
    let mut junk = Vec::new();
    frame(&mut junk, true, true, OpCode::Binary, &[0xff; 20]);
    let mut own = Inflater::new(15, true);
    let got = run(&junk, 5, 1 << 20, Some(&mut own));
    assert_eq!(got, [Ev::Err(ProtocolError::InvalidCompressedData)]);
    assert_eq!(ProtocolError::InvalidCompressedData.close_code().0, 1007);
    assert_eq!(run(&junk, 5, 1 << 20, None), got);
}

#[test]
fn inflated_size_is_the_message_size() {
    // 100 KiB of text compresses to a few hundred bytes; a 64 KiB limit
    // refuses it while inflating, whichever way it is inflated, and a
    // 100 KiB limit lets it through.
    let text = "a".repeat(100 << 10);
    let mut d = Deflater::new(15, true);
    let mut c = Vec::new();
    d.compress(text.as_bytes(), &mut c);
    assert!(c.len() < 1024);
    let mut stream = Vec::new();
    fragmented(&mut stream, OpCode::Text, &c, 3);
    for step in [7, stream.len()] {
        let mut own = Inflater::new(15, true);
        assert_eq!(
            run(&stream, step, 64 << 10, Some(&mut own)),
            [Ev::Err(ProtocolError::MessageTooBig)]
        );
        assert_eq!(
            run(&stream, step, 64 << 10, None),
            [Ev::Err(ProtocolError::MessageTooBig)]
        );
        let mut own = Inflater::new(15, true);
        assert_eq!(
            run(&stream, step, 100 << 10, Some(&mut own)),
            [Ev::Text(text.clone())]
        );
    }
}

#[test]
#[should_panic(expected = "without its inflater")]
fn continuing_an_inflating_message_without_the_inflater_is_a_bug() {
    let mut d = Deflater::new(15, true).threshold(0);
    let mut c = Vec::new();
    d.compress(b"hello hello hello", &mut c);
    let mut stream = Vec::new();
    fragmented(&mut stream, OpCode::Text, &c, 2);
    let (a, b) = stream.split_at(8);
    let mut rx = Receiver::new(config(1 << 20));
    let mut own = Inflater::new(15, true);
    let mut a = a.to_vec();
    let mut feed = rx.feed_inflating(&mut a, &mut own);
    while feed.next_event().is_some() {}
    drop(feed);
    let mut b = b.to_vec();
    let mut feed = rx.feed(&mut b);
    while feed.next_event().is_some() {}
}

/// Regression (fuzz `inflate`, crash-f0dfd374): a compressed frame a few
/// bytes longer than the message limit that inflates to less than the
/// limit is accepted when inflated as it streams, as by the shared
/// inflater, since only the inflated size is the message's.
#[test]
fn compressed_frame_over_the_limit_that_inflates_under_it() {
    // Stored blocks make the compressed form longer than the message.
    let data: Vec<u8> = (0..60u8).map(|i| i.wrapping_mul(151)).collect();
    let mut c = Vec::new();
    Deflater::new(15, true).level(0).compress(&data, &mut c);
    assert!(c.len() > 64, "{}", c.len());
    let mut wire = Vec::new();
    frame(&mut wire, true, true, OpCode::Binary, &c);
    let mut own = Inflater::new(15, true);
    assert_eq!(
        run(&wire, 1, 64, Some(&mut own)),
        [Ev::Binary(data.clone())]
    );
    let mut out = Vec::new();
    assert_eq!(
        Inflater::shared().inflate_message(false, &c, 64, &mut out),
        Ok(Event::Binary(&data))
    );
    // Collected compressed (feed), the compressed bytes are what is
    // buffered, so they are held to the limit.
    assert_eq!(
        run(&wire, 1, 64, None),
        [Ev::Err(ProtocolError::MessageTooBig)]
    );
}
