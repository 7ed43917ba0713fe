//! Every refusal of RFC 6455 the receiver enforces, with the close code it
//! maps to, fed whole and at every split point.

#![allow(clippy::type_complexity)] // vector tables

mod common;

use common::{masked, raw_masked, run, run_cuts, Ev};
use ringws_codec::{Limits, OpCode, ProtocolError, ProtocolError::*, ReceiverConfig, Role};

const K: [u8; 4] = [0xA1, 0xB2, 0xC3, 0xD4];

fn cat(parts: &[Vec<u8>]) -> Vec<u8> {
    parts.concat()
}

fn close_payload(code: u16, reason: &[u8]) -> Vec<u8> {
    let mut p = code.to_be_bytes().to_vec();
    p.extend_from_slice(reason);
    p
}

/// (name, config, stream, events before the error, error, close code).
fn table() -> Vec<(
    &'static str,
    ReceiverConfig,
    Vec<u8>,
    Vec<Ev>,
    ProtocolError,
    u16,
)> {
    let server = ReceiverConfig::server();
    let client = ReceiverConfig::client();
    let deflate = ReceiverConfig {
        allow_rsv1: true,
        ..server
    };
    let small = ReceiverConfig {
        role: Role::Server,
        limits: Limits {
            max_frame_size: 100,
            max_message_size: 150,
        },
        allow_rsv1: false,
    };
    let hi = || masked(true, OpCode::Text, b"hi", K);
    let t_hi = || Ev::Text("hi".into());
    let mut t = vec![
        (
            "rsv1 without extension",
            server,
            cat(&[hi(), raw_masked(0xC1, b"x")]),
            vec![t_hi()],
            ReservedBitsSet,
            1002,
        ),
        (
            "rsv2",
            server,
            raw_masked(0xA2, b"x"),
            vec![],
            ReservedBitsSet,
            1002,
        ),
        (
            "rsv3",
            server,
            raw_masked(0x92, b"x"),
            vec![],
            ReservedBitsSet,
            1002,
        ),
        (
            "rsv2 with extension",
            deflate,
            raw_masked(0xA2, b"x"),
            vec![],
            ReservedBitsSet,
            1002,
        ),
        (
            "rsv1 on ping with extension",
            deflate,
            raw_masked(0xC9, b""),
            vec![],
            Rsv1NotAllowedHere,
            1002,
        ),
        (
            "rsv1 on continuation with extension",
            deflate,
            cat(&[raw_masked(0x41, b"a"), raw_masked(0xC0, b"b")]),
            vec![],
            Rsv1NotAllowedHere,
            1002,
        ),
    ];
    for op in [3u8, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF] {
        t.push((
            "reserved opcode",
            server,
            cat(&[hi(), raw_masked(0x80 | op, b"")]),
            vec![t_hi()],
            ReservedOpcode,
            1002,
        ));
    }
    t.extend([
        (
            "fragmented ping",
            server,
            raw_masked(0x09, b"p"),
            vec![],
            FragmentedControlFrame,
            1002,
        ),
        (
            "fragmented close",
            server,
            raw_masked(0x08, b""),
            vec![],
            FragmentedControlFrame,
            1002,
        ),
        (
            "126-byte ping",
            server,
            raw_masked(0x89, &[0; 126]),
            vec![],
            ControlFrameTooLong,
            1002,
        ),
        (
            "126-byte close",
            server,
            raw_masked(0x88, &[0x03; 126]),
            vec![],
            ControlFrameTooLong,
            1002,
        ),
        (
            "unmasked client frame",
            server,
            b"\x81\x02hi".to_vec(),
            vec![],
            UnmaskedFrame,
            1002,
        ),
        (
            "masked server frame",
            client,
            hi(),
            vec![],
            MaskedFrame,
            1002,
        ),
        (
            "64-bit length, top bit",
            server,
            b"\x82\xFF\x80\x00\x00\x00\x00\x00\x00\x00\x01\x02\x03\x04".to_vec(),
            vec![],
            LengthTopBitSet,
            1002,
        ),
        (
            "continuation first",
            server,
            raw_masked(0x80, b"x"),
            vec![],
            UnexpectedContinuation,
            1002,
        ),
        (
            "continuation after complete message",
            server,
            cat(&[hi(), masked(true, OpCode::Continuation, b"x", K)]),
            vec![t_hi()],
            UnexpectedContinuation,
            1002,
        ),
        (
            "text inside fragmented message",
            server,
            cat(&[masked(false, OpCode::Text, b"a", K), hi()]),
            vec![],
            ExpectedContinuation,
            1002,
        ),
        (
            "binary inside fragmented message",
            server,
            cat(&[
                masked(false, OpCode::Binary, b"a", K),
                masked(false, OpCode::Binary, b"b", K),
            ]),
            vec![],
            ExpectedContinuation,
            1002,
        ),
        (
            "close payload of 1 byte",
            server,
            masked(true, OpCode::Close, b"\x03", K),
            vec![],
            CloseLengthOne,
            1002,
        ),
        (
            "close reason not UTF-8",
            server,
            masked(true, OpCode::Close, &close_payload(1000, b"bad \xFF"), K),
            vec![],
            InvalidCloseReason,
            1007,
        ),
        (
            "close reason truncated UTF-8",
            server,
            masked(true, OpCode::Close, &close_payload(1000, b"\xE2\x82"), K),
            vec![],
            InvalidCloseReason,
            1007,
        ),
        (
            "text not UTF-8",
            server,
            cat(&[
                hi(),
                masked(
                    true,
                    OpCode::Text,
                    b"\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5\xED\xA0\x80edited",
                    K,
                ),
            ]),
            vec![t_hi()],
            InvalidUtf8,
            1007,
        ),
        (
            "text ends inside a character",
            server,
            cat(&[
                masked(false, OpCode::Text, b"a\xE2\x82", K),
                masked(true, OpCode::Continuation, b"", K),
            ]),
            vec![],
            InvalidUtf8,
            1007,
        ),
        (
            "frame over max_frame_size",
            small,
            masked(true, OpCode::Binary, &[0; 101], K),
            vec![],
            FrameTooBig,
            1009,
        ),
        (
            "message over max_message_size",
            small,
            cat(&[
                masked(false, OpCode::Binary, &[0; 100], K),
                masked(true, OpCode::Ping, b"", K),
                masked(false, OpCode::Continuation, &[0; 50], K),
                masked(true, OpCode::Continuation, &[0; 1], K),
            ]),
            vec![Ev::Ping(vec![])],
            MessageTooBig,
            1009,
        ),
    ]);
    // Close codes that may not appear on the wire.
    for code in [
        0u16, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
    ] {
        t.push((
            "invalid close code",
            server,
            masked(true, OpCode::Close, &close_payload(code, b""), K),
            vec![],
            InvalidCloseCode,
            1002,
        ));
    }
    t
}

#[test]
fn every_refusal_with_its_close_code() {
    for (name, config, stream, before, err, code) in table() {
        assert_eq!(err.close_code().0, code, "{name}");
        let mut want = before.clone();
        want.push(Ev::Err(err));
        assert_eq!(run(config, &stream), want, "{name}");
        for cut in 0..=stream.len() {
            let (events, rx) = run_cuts(config, &stream, &[cut]);
            assert_eq!(events, want, "{name}, cut at {cut}");
            assert_eq!(rx.error(), Some(err));
            assert!(rx.is_finished());
        }
    }
}

#[test]
fn allowed_close_codes_are_delivered() {
    for code in [
        1000u16, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4999,
    ] {
        let stream = masked(
            true,
            OpCode::Close,
            &close_payload(code, "ok €".as_bytes()),
            K,
        );
        assert_eq!(
            run(ReceiverConfig::server(), &stream),
            [Ev::Close(Some((code, "ok €".into())))]
        );
    }
    let stream = masked(true, OpCode::Close, b"", K);
    assert_eq!(run(ReceiverConfig::server(), &stream), [Ev::Close(None)]);
}

/// The size limits are enforced from the header alone: nothing of the
/// payload needs to have arrived, so nothing of it was buffered.
#[test]
fn limits_refuse_before_the_payload_arrives() {
    let config = ReceiverConfig {
        limits: Limits {
            max_frame_size: 1 << 20,
            max_message_size: 1 << 20,
        },
        ..ReceiverConfig::server()
    };
    // Just the 14-byte header of a 2 MiB frame.
    let header = &raw_masked(0x82, &vec![0; 2 << 20])[..14];
    assert_eq!(run(config, header), [Ev::Err(FrameTooBig)]);

    // A fragmented message whose second fragment's header would exceed the
    // limit: refused at that header, before its payload.
    let mut stream = masked(false, OpCode::Binary, &vec![1; 600 << 10], K);
    stream.extend_from_slice(&raw_masked(0x80, &vec![0; 600 << 10])[..14]);
    let config2 = ReceiverConfig {
        limits: Limits {
            max_frame_size: 1 << 20,
            max_message_size: 1 << 20,
        },
        ..ReceiverConfig::server()
    };
    let (events, rx) = run_cuts(config2, &stream, &[1000]);
    assert_eq!(events, [Ev::Err(MessageTooBig)]);
    assert_eq!(rx.buffered_capacity(), 0, "nothing kept after the error");
    // Single frame over max_message_size but under max_frame_size.
    let config3 = ReceiverConfig {
        limits: Limits {
            max_frame_size: 1000,
            max_message_size: 10,
        },
        ..ReceiverConfig::server()
    };
    assert_eq!(
        run(config3, &raw_masked(0x81, b"eleven byte")[..6]),
        [Ev::Err(MessageTooBig)]
    );
}

/// Autobahn 6.4.x: invalid UTF-8 fails as soon as the bad byte arrives, not
/// when the frame or message ends.
#[test]
fn utf8_fails_fast() {
    // 6.4.1-like: a fragment with an invalid sequence, the rest never sent.
    let stream = cat(&[
        masked(false, OpCode::Text, "κόσμε".as_bytes(), K),
        masked(false, OpCode::Continuation, b"\xF4\x90\x80\x80", K),
    ]);
    assert_eq!(
        run(ReceiverConfig::server(), &stream),
        [Ev::Err(InvalidUtf8)]
    );

    // 6.4.3/6.4.4-like: a single frame announced long, cut right after the
    // invalid byte: the error comes without the rest of the payload.
    let mut payload = "κόσμε".as_bytes().to_vec();
    payload.extend_from_slice(b"\xF4\x90\x80\x80");
    payload.extend_from_slice(&[b'a'; 1000]);
    let frame = masked(true, OpCode::Text, &payload, K);
    let header = 4 + 4; // 16-bit length + mask
    let bad = header + "κόσμε".len() + 2; // through 0xF4 0x90
    let (events, _) = run_cuts(ReceiverConfig::server(), &frame[..bad], &[header + 3]);
    assert_eq!(events, [Ev::Err(InvalidUtf8)]);
    // One byte fewer (only 0xF4 arrived, which may still start a valid
    // character): no verdict yet.
    let (events, rx) = run_cuts(ReceiverConfig::server(), &frame[..bad - 1], &[header + 3]);
    assert_eq!(events, []);
    assert!(!rx.is_finished());
}

#[test]
fn finished_receiver_yields_nothing_more() {
    let stream = cat(&[
        masked(true, OpCode::Close, &close_payload(1000, b""), K),
        masked(true, OpCode::Text, b"after", K),
    ]);
    let (events, mut rx) = run_cuts(ReceiverConfig::server(), &stream, &[3]);
    assert_eq!(events, [Ev::Close(Some((1000, String::new())))]);
    let mut more = masked(true, OpCode::Text, b"x", K);
    assert!(rx.feed(&mut more).next_event().is_none());

    let (events, mut rx) = run_cuts(ReceiverConfig::server(), &raw_masked(0x83, b""), &[]);
    assert_eq!(events, [Ev::Err(ReservedOpcode)]);
    let mut more = masked(true, OpCode::Text, b"x", K);
    assert!(rx.feed(&mut more).next_event().is_none());
    assert_eq!(rx.error(), Some(ReservedOpcode));
}
