//! RFC 6455 §5.7 examples, byte for byte, through the encoder and the
//! receiver, with every split point.

#![allow(clippy::type_complexity)] // vector tables

mod common;

use common::{run, run_cuts, Ev};
use ringws_codec::{write_frame, HeaderBytes, OpCode, ReceiverConfig};

const MASKED_HELLO: &[u8] = b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58";
const UNMASKED_HELLO: &[u8] = b"\x81\x05\x48\x65\x6c\x6c\x6f";
const FRAGMENTED_HELLO: &[u8] = b"\x01\x03\x48\x65\x6c\x80\x02\x6c\x6f";
const UNMASKED_PING: &[u8] = b"\x89\x05\x48\x65\x6c\x6c\x6f";
const MASKED_PONG: &[u8] = b"\x8a\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58";

#[test]
fn encoder_produces_the_rfc_bytes() {
    let key = Some([0x37, 0xfa, 0x21, 0x3d]);
    let cases: &[(&[u8], &[(bool, OpCode, &[u8])], Option<[u8; 4]>)] = &[
        (UNMASKED_HELLO, &[(true, OpCode::Text, b"Hello")], None),
        (MASKED_HELLO, &[(true, OpCode::Text, b"Hello")], key),
        (
            FRAGMENTED_HELLO,
            &[
                (false, OpCode::Text, b"Hel"),
                (true, OpCode::Continuation, b"lo"),
            ],
            None,
        ),
        (UNMASKED_PING, &[(true, OpCode::Ping, b"Hello")], None),
        (MASKED_PONG, &[(true, OpCode::Pong, b"Hello")], key),
    ];
    for (want, frames, mask) in cases {
        let mut out = Vec::new();
        for &(fin, op, payload) in *frames {
            write_frame(&mut out, fin, op, payload, *mask);
        }
        assert_eq!(&out, want);
    }
    assert_eq!(
        HeaderBytes::new(true, OpCode::Binary, 256, None).as_slice(),
        b"\x82\x7E\x01\x00"
    );
    assert_eq!(
        HeaderBytes::new(true, OpCode::Binary, 65536, None).as_slice(),
        b"\x82\x7F\x00\x00\x00\x00\x00\x01\x00\x00"
    );
}

#[test]
fn receiver_decodes_the_rfc_examples_at_every_split() {
    let cases: &[(ReceiverConfig, &[u8], Ev)] = &[
        (
            ReceiverConfig::server(),
            MASKED_HELLO,
            Ev::Text("Hello".into()),
        ),
        (
            ReceiverConfig::server(),
            MASKED_PONG,
            Ev::Pong(b"Hello".to_vec()),
        ),
        (
            ReceiverConfig::client(),
            UNMASKED_HELLO,
            Ev::Text("Hello".into()),
        ),
        (
            ReceiverConfig::client(),
            FRAGMENTED_HELLO,
            Ev::Text("Hello".into()),
        ),
        (
            ReceiverConfig::client(),
            UNMASKED_PING,
            Ev::Ping(b"Hello".to_vec()),
        ),
    ];
    for (config, bytes, want) in cases {
        assert_eq!(run(*config, bytes), core::slice::from_ref(want));
        for a in 0..=bytes.len() {
            for b in a..=bytes.len() {
                let (events, rx) = run_cuts(*config, bytes, &[a, b]);
                assert_eq!(events, core::slice::from_ref(want), "cuts {a} {b}");
                assert!(rx.is_idle(), "idle after the message, no heap held");
            }
        }
    }
}

#[test]
fn rfc_256_and_64k_binary() {
    for len in [256usize, 65536] {
        let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
        let mut stream = Vec::new();
        write_frame(&mut stream, true, OpCode::Binary, &payload, None);
        assert_eq!(stream.len(), len + if len == 256 { 4 } else { 10 });
        let events = run(ReceiverConfig::client(), &stream);
        assert_eq!(events, [Ev::Binary(payload.clone())]);
        let (events, _) = run_cuts(ReceiverConfig::client(), &stream, &[1, 3, 9, 1000, 30000]);
        assert_eq!(events, [Ev::Binary(payload)]);
    }
}
