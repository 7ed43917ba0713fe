//! Property: encoder → receiver round trips for random frame sequences
//! (fragmented messages with interleaved control frames, random masks),
//! with the byte stream cut at every possible split point.

mod common;

use common::{run_cuts, Ev};
use proptest::prelude::*;
use ringws_codec::{write_frame, OpCode, ReceiverConfig};

#[derive(Clone, Debug)]
enum Msg {
    /// A data message as its fragments (at least one), with a control frame
    /// optionally following each fragment but the last.
    Data {
        text: bool,
        fragments: Vec<Vec<u8>>,
        controls: Vec<Option<(bool, Vec<u8>)>>,
    },
    /// A lone ping (true) or pong (false).
    Control(bool, Vec<u8>),
}

fn payload(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..max)
}

fn text_fragments() -> impl Strategy<Value = Vec<Vec<u8>>> {
    // Random text cut into fragments at random byte offsets, even inside
    // characters (the receiver must carry those across fragments).
    (
        ".{0,40}",
        prop::collection::vec(any::<prop::sample::Index>(), 0..4),
    )
        .prop_map(|(s, cuts): (String, Vec<_>)| {
            let bytes = s.into_bytes();
            let mut points: Vec<usize> = cuts.iter().map(|i| i.index(bytes.len() + 1)).collect();
            points.sort();
            let mut out = Vec::new();
            let mut start = 0;
            for p in points {
                out.push(bytes[start..p].to_vec());
                start = p;
            }
            out.push(bytes[start..].to_vec());
            out
        })
}

fn control() -> impl Strategy<Value = Option<(bool, Vec<u8>)>> {
    prop::option::weighted(0.3, (any::<bool>(), payload(126)))
}

fn message() -> impl Strategy<Value = Msg> {
    prop_oneof![
        (text_fragments(), prop::collection::vec(control(), 4)).prop_map(
            |(fragments, controls)| Msg::Data {
                text: true,
                fragments,
                controls
            }
        ),
        (
            prop::collection::vec(payload(300), 1..4),
            prop::collection::vec(control(), 4)
        )
            .prop_map(|(fragments, controls)| Msg::Data {
                text: false,
                fragments,
                controls
            }),
        (any::<bool>(), payload(126)).prop_map(|(ping, p)| Msg::Control(ping, p)),
    ]
}

/// Encodes the messages as masked client frames (or unmasked server frames)
/// and returns the stream and the events a receiver should produce.
fn encode(msgs: &[Msg], keys: &[[u8; 4]], masked: bool) -> (Vec<u8>, Vec<Ev>) {
    let mut out = Vec::new();
    let mut want = Vec::new();
    let mut k = 0;
    let mut key = || {
        k += 1;
        masked.then(|| keys[k % keys.len()])
    };
    let ctrl = |ping: bool, p: &[u8]| {
        if ping {
            Ev::Ping(p.to_vec())
        } else {
            Ev::Pong(p.to_vec())
        }
    };
    for m in msgs {
        match m {
            Msg::Control(ping, p) => {
                write_frame(
                    &mut out,
                    true,
                    if *ping { OpCode::Ping } else { OpCode::Pong },
                    p,
                    key(),
                );
                want.push(ctrl(*ping, p));
            }
            Msg::Data {
                text,
                fragments,
                controls,
            } => {
                let last = fragments.len() - 1;
                for (i, f) in fragments.iter().enumerate() {
                    let op = match (i, text) {
                        (0, true) => OpCode::Text,
                        (0, false) => OpCode::Binary,
                        _ => OpCode::Continuation,
                    };
                    write_frame(&mut out, i == last, op, f, key());
                    if i < last {
                        if let Some((ping, p)) = &controls[i % controls.len()] {
                            write_frame(
                                &mut out,
                                true,
                                if *ping { OpCode::Ping } else { OpCode::Pong },
                                p,
                                key(),
                            );
                            want.push(ctrl(*ping, p));
                        }
                    }
                }
                let all = fragments.concat();
                want.push(if *text {
                    Ev::Text(String::from_utf8(all).unwrap())
                } else {
                    Ev::Binary(all)
                });
            }
        }
    }
    (out, want)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Every single split point of the stream.
    #[test]
    fn round_trip_every_split(msgs in prop::collection::vec(message(), 1..5), keys in prop::collection::vec(any::<[u8; 4]>(), 1..4), server in any::<bool>()) {
        let (stream, want) = encode(&msgs, &keys, server);
        let config = if server { ReceiverConfig::server() } else { ReceiverConfig::client() };
        for cut in 0..=stream.len() {
            let (events, rx) = run_cuts(config, &stream, &[cut]);
            prop_assert_eq!(&events, &want, "cut at {}", cut);
            prop_assert!(rx.is_idle());
        }
    }

    /// Many random cuts at once (1-byte buffers included).
    #[test]
    fn round_trip_random_cuts(msgs in prop::collection::vec(message(), 1..8), keys in prop::collection::vec(any::<[u8; 4]>(), 1..4), cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..40)) {
        let (stream, want) = encode(&msgs, &keys, true);
        let mut points: Vec<usize> = cuts.iter().map(|i| i.index(stream.len() + 1)).collect();
        points.sort();
        let (events, rx) = run_cuts(ReceiverConfig::server(), &stream, &points);
        prop_assert_eq!(&events, &want);
        prop_assert!(rx.is_idle());
        // One byte per buffer.
        let every: Vec<usize> = (1..stream.len()).collect();
        let (events, _) = run_cuts(ReceiverConfig::server(), &stream, &every);
        prop_assert_eq!(&events, &want);
    }
}
