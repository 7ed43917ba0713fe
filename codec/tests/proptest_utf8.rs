//! Property: the streaming UTF-8 validator agrees with `std::str::from_utf8`
//! on random valid and invalid input cut at random points, and fails in the
//! chunk where the input stops being a valid prefix (not later).

use proptest::prelude::*;
use ringws_codec::Utf8Validator;

/// Bytes biased towards UTF-8 edge cases: valid text with some bytes
/// replaced by lead bytes, continuation bytes, surrogates, over-longs.
fn input() -> impl Strategy<Value = Vec<u8>> {
    let valid = "(\\PC|[\u{80}-\u{7FF}]|[\u{800}-\u{FFFF}]|[\u{10000}-\u{10FFFF}]){0,30}"
        .prop_map(String::into_bytes);
    let tweak = prop::collection::vec(
        (
            any::<prop::sample::Index>(),
            prop::sample::select(vec![
                0x80u8, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF, 0xE0, 0xED, 0xEF, 0xF0, 0xF4, 0xF5, 0xFF,
                0xA0, 0x90,
            ]),
        ),
        0..3,
    );
    (valid, tweak).prop_map(|(mut bytes, tweaks)| {
        for (i, b) in tweaks {
            if bytes.is_empty() {
                bytes.push(b);
            } else {
                let at = i.index(bytes.len());
                bytes[at] = b;
            }
        }
        bytes
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn streaming_equals_std(bytes in input(), cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..6)) {
        let mut points: Vec<usize> = cuts.iter().map(|i| i.index(bytes.len() + 1)).collect();
        points.sort();
        points.push(bytes.len());
        let mut v = Utf8Validator::new();
        let mut start = 0;
        // (start, end) of the chunk that failed, if one did.
        let mut failed = None;
        for &p in &points {
            if v.push(&bytes[start..p]).is_err() {
                failed = Some((start, p));
                break;
            }
            start = p;
        }
        let finished_ok = failed.is_none() && v.finish().is_ok();
        match std::str::from_utf8(&bytes) {
            Ok(_) => prop_assert!(finished_ok),
            Err(e) => {
                prop_assert!(!finished_ok);
                match (e.error_len(), failed) {
                    // Ends inside a character: only `finish` may fail.
                    (None, f) => prop_assert_eq!(f, None),
                    (Some(n), Some((s, end))) => {
                        // Not before the bad bytes arrived, and no later than
                        // the byte after them.
                        prop_assert!(end > e.valid_up_to(), "failed before the error");
                        prop_assert!(s <= e.valid_up_to() + n, "failed late: chunk {}..{}, error at {}+{}", s, end, e.valid_up_to(), n);
                    }
                    (Some(_), None) => prop_assert!(false, "a real error was only found by finish"),
                }
            }
        }
    }
}
