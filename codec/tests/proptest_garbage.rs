//! Property: on arbitrary (mostly malformed) input the receiver never
//! panics, and what it reports does not depend on how the bytes were cut
//! into buffers: the same events, the same error, at the same point.

mod common;

use common::run_cuts;
use proptest::prelude::*;
use ringws_codec::{Limits, ReceiverConfig, Role};

/// Frame-shaped noise: a first byte from a mix of valid and invalid
/// FIN/RSV/opcode combinations, mask bit usually set, short lengths (with the
/// occasional 16/64-bit encoding), and payloads that are text, close
/// payloads or random bytes.
fn noise(client: bool) -> impl Strategy<Value = Vec<u8>> {
    let b0 = prop_oneof![
        16 => prop::sample::select(vec![0x81u8, 0x82, 0x81, 0x82, 0x01, 0x02, 0x00, 0x80, 0x88, 0x89, 0x8A]),
        1 => any::<u8>(),
    ];
    let payload = prop_oneof![
        ".{0,20}".prop_map(String::into_bytes),
        (900u16..5100, ".{0,10}").prop_map(|(code, r)| [
            code.to_be_bytes().to_vec(),
            r.into_bytes()
        ]
        .concat()),
        prop::collection::vec(any::<u8>(), 0..40),
    ];
    let frame = (
        b0,
        prop::bool::weighted(0.97),
        0u8..4,
        any::<[u8; 4]>(),
        payload,
    )
        .prop_map(move |(b0, as_required, enc, key, payload)| {
            let masked = as_required != client;
            let mut out = vec![b0];
            let m = if masked { 0x80 } else { 0 };
            let n = payload.len();
            match enc {
                0 => {
                    out.push(m | 126);
                    out.extend_from_slice(&(n as u16).to_be_bytes());
                }
                1 => {
                    out.push(m | 127);
                    out.extend_from_slice(&(n as u64).to_be_bytes());
                }
                _ => out.push(m | n as u8),
            }
            if masked {
                out.extend_from_slice(&key);
            }
            let start = out.len();
            out.extend_from_slice(&payload);
            if masked {
                ringws_codec::apply_mask(&mut out[start..], key, 0);
            }
            out
        });
    (
        prop::collection::vec(frame, 0..8),
        prop::collection::vec(any::<u8>(), 0..4),
    )
        .prop_map(|(frames, tail)| [frames.concat(), tail].concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn verdict_independent_of_cuts((client, bytes) in any::<bool>().prop_flat_map(|c| (Just(c), noise(c))), cuts in prop::collection::vec(any::<prop::sample::Index>(), 1..10)) {
        let config = ReceiverConfig {
            role: if client { Role::Client } else { Role::Server },
            limits: Limits { max_frame_size: 64, max_message_size: 100 },
            allow_rsv1: false,
        };
        let (whole, rx_whole) = run_cuts(config, &bytes, &[]);
        let mut points: Vec<usize> = cuts.iter().map(|i| i.index(bytes.len() + 1)).collect();
        points.sort();
        let (split, rx_split) = run_cuts(config, &bytes, &points);
        prop_assert_eq!(&split, &whole);
        prop_assert_eq!(rx_split.error(), rx_whole.error());
        // One byte per buffer.
        let every: Vec<usize> = (1..bytes.len()).collect();
        let (bytewise, _) = run_cuts(config, &bytes, &every);
        prop_assert_eq!(&bytewise, &whole);
    }
}
