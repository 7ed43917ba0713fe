//! Property: the low-level `FrameDecoder` returns exactly the headers the
//! encoder wrote and the unmasked payloads, for random headers (all three
//! length encodings, RSV1, every opcode) with the stream cut anywhere; and
//! `decode_masked` does the same when each chunk is unmasked while copied.

use proptest::prelude::*;
use ringws_codec::{
    Decoded, DecoderConfig, FrameDecoder, FrameHeader, OpCode, Role, MAX_HEADER_LEN,
};

fn header_and_payload() -> impl Strategy<Value = (FrameHeader, Vec<u8>)> {
    let opcode = prop::sample::select(vec![
        OpCode::Continuation,
        OpCode::Text,
        OpCode::Binary,
        OpCode::Close,
        OpCode::Ping,
        OpCode::Pong,
    ]);
    // Mostly short payloads, some in the 16-bit range, a few in the 64-bit one.
    let len = prop_oneof![8 => 0usize..130, 3 => 126usize..1000, 1 => 65530usize..65600];
    (
        opcode,
        any::<bool>(),
        any::<bool>(),
        any::<[u8; 4]>(),
        len,
        any::<u8>(),
    )
        .prop_map(|(opcode, fin, rsv1, key, len, fill)| {
            let control = opcode.is_control();
            let len = if control { len % 126 } else { len };
            let mut h = FrameHeader::new(fin || control, opcode, Some(key), len as u64);
            h.rsv1 = rsv1 && matches!(opcode, OpCode::Text | OpCode::Binary);
            let payload = (0..len)
                .map(|i| (i as u8).wrapping_mul(31) ^ fill)
                .collect();
            (h, payload)
        })
}

fn encode(frames: &[(FrameHeader, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (h, p) in frames {
        let mut hb = [0; MAX_HEADER_LEN];
        let n = h.encode(&mut hb);
        out.extend_from_slice(&hb[..n]);
        let start = out.len();
        out.extend_from_slice(p);
        ringws_codec::apply_mask(&mut out[start..], h.mask.unwrap(), 0);
    }
    out
}

/// How the test reads payloads: `decode` (unmasked in place), or
/// `decode_masked` with each chunk unmasked while copied out.
#[derive(Clone, Copy)]
enum Mode {
    InPlace,
    Copy,
}

fn decode(stream: &[u8], cuts: &[usize]) -> Vec<(FrameHeader, Vec<u8>)> {
    let a = decode_with(stream, cuts, Mode::InPlace);
    assert_eq!(a, decode_with(stream, cuts, Mode::Copy));
    a
}

fn decode_with(stream: &[u8], cuts: &[usize], mode: Mode) -> Vec<(FrameHeader, Vec<u8>)> {
    let mut dec = FrameDecoder::new(DecoderConfig {
        role: Role::Server,
        max_frame_size: 1 << 20,
        allow_rsv1: true,
    });
    let mut got: Vec<(FrameHeader, Vec<u8>)> = Vec::new();
    let mut start = 0;
    for &end in cuts.iter().chain(core::iter::once(&stream.len())) {
        let mut buf = stream[start..end].to_vec();
        let mut pos = 0;
        loop {
            let item = match mode {
                Mode::InPlace => dec.decode(&mut buf, &mut pos),
                Mode::Copy => dec.decode_masked(&buf, &mut pos),
            };
            match item.expect("valid stream") {
                None => break,
                Some(Decoded::Header(h)) => got.push((h, Vec::new())),
                Some(Decoded::Payload(c)) => {
                    let out = &mut got.last_mut().unwrap().1;
                    match (mode, c.mask) {
                        (Mode::InPlace, None) => out.extend_from_slice(&buf[c.range]),
                        (Mode::Copy, Some(key)) => {
                            ringws_codec::extend_with_mask(out, &buf[c.range], key, 0)
                        }
                        (_, m) => panic!("chunk mask {m:?} in this mode"),
                    }
                }
            }
        }
        assert_eq!(pos, buf.len());
        start = end;
    }
    assert!(dec.is_idle());
    got
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn decoder_round_trip(frames in prop::collection::vec(header_and_payload(), 1..5), cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..12)) {
        let stream = encode(&frames);
        let mut points: Vec<usize> = cuts.iter().map(|i| i.index(stream.len() + 1)).collect();
        points.sort();
        prop_assert_eq!(&decode(&stream, &points), &frames);
        // Every single split point, when the stream is short enough to afford it.
        if stream.len() <= 2000 {
            for cut in 0..=stream.len() {
                prop_assert_eq!(&decode(&stream, &[cut]), &frames, "cut {}", cut);
            }
        }
    }
}
