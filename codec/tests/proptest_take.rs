//! Property of the engine's hand-over hook: `take_message` hands over exactly
//! the bytes of the assembled message just delivered, whatever the read cuts.

mod common;

use common::fragmented;
use proptest::prelude::*;
use ringws_codec::{Event, Receiver, ReceiverConfig};

/// Messages (text or binary), each split into 1–4 fragments, with an
/// occasional ping between fragments.
fn stream() -> impl Strategy<Value = (Vec<u8>, Vec<Vec<u8>>)> {
    let msg = (
        any::<bool>(),
        prop::collection::vec(any::<u8>(), 0..3000),
        1usize..5,
        any::<bool>(),
    );
    prop::collection::vec(msg, 1..5).prop_map(|msgs| {
        let mut bytes = Vec::new();
        let mut payloads = Vec::new();
        for (text, raw, parts, ping) in msgs {
            // Text payloads are ASCII so any split stays valid UTF-8.
            let payload: Vec<u8> = if text {
                raw.iter().map(|b| b'a' + b % 26).collect()
            } else {
                raw
            };
            bytes.extend(fragmented(text, &payload, parts, ping, [3, 1, 4, 1]));
            payloads.push(payload);
        }
        (bytes, payloads)
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn taken_buffers_are_the_message(
        (bytes, payloads) in stream(),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..12),
    ) {
        let mut points: Vec<usize> = cuts.iter().map(|i| i.index(bytes.len() + 1)).collect();
        points.push(0);
        points.push(bytes.len());
        points.sort_unstable();
        points.dedup();
        let mut rx = Receiver::new(ReceiverConfig::server());
        let mut got: Vec<Vec<u8>> = Vec::new();
        for w in points.windows(2) {
            let mut piece = bytes[w[0]..w[1]].to_vec();
            let mut feed = rx.feed(&mut piece);
            loop {
                let data = match feed.next_event() {
                    None => break,
                    Some(Ok(Event::Text(t))) => Some(t.as_bytes().to_vec()),
                    Some(Ok(Event::Binary(b))) => Some(b.to_vec()),
                    Some(Ok(_)) => None,
                    Some(Err(e)) => return Err(TestCaseError::fail(format!("{e:?}"))),
                };
                if let Some(d) = data {
                    if let Some(taken) = feed.take_message() {
                        prop_assert_eq!(&taken, &d, "taken buffer differs from the message");
                    }
                    got.push(d);
                }
            }
        }
        prop_assert_eq!(got, payloads);
    }
}
