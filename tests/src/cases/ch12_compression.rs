//! Chapters 12 and 13: permessage-deflate (RFC 7692).
//!
//! 12.1 (text) and 12.2 (binary): messages of 16 B to 128 KiB, compressible
//! (deterministic JSON-like text), each sent compressed with RSV1 a number of
//! times in a row, every echo awaited and compared after inflating. 13.x:
//! the same text round trips under each offer variant Autobahn uses (its
//! default, `client_no_context_takeover`, window bits 9 and 15, those
//! combined, and the three-offer fallback), windows 9 and 15 on each side.
//! A server that declines the offer earns UNIMPLEMENTED (Autobahn's rule);
//! a correct echo of every message earns OK.
//!
//! The runner compresses each message on its own with a window of 9, which
//! every offer here allows (a client may always reset, and a smaller window
//! than agreed is always fine), and inflates the server's messages with one
//! window-15 inflater per connection, kept across messages.

use flate2::{Compress, Compression, FlushCompress};

use crate::case::{Case, Event, Script};
use crate::frame::Frame;

const SIZES: [usize; 10] = [16, 64, 256, 1024, 4096, 8192, 16384, 32768, 65536, 131072];

/// Deterministic, compressible text of `n` bytes.
fn payload(n: usize) -> Vec<u8> {
    let mut s = String::with_capacity(n + 64);
    let mut i = 0u64;
    while s.len() < n {
        s.push_str(&format!(
            "{{\"sym\":\"T{}\",\"px\":{}.{:02},\"qty\":{}}},",
            i % 17,
            100 + i % 7,
            i % 100,
            i * 13 % 1000
        ));
        i += 1;
    }
    s.truncate(n);
    s.into_bytes()
}

/// `p` deflated on its own (sync flush, trailer stripped), window 9.
fn deflate(p: &[u8]) -> Vec<u8> {
    let mut c = Compress::new_with_window_bits(Compression::default(), false, 9);
    let mut out = Vec::with_capacity(p.len() + 64);
    loop {
        let consumed = c.total_in() as usize;
        c.compress_vec(&p[consumed..], &mut out, FlushCompress::Sync)
            .expect("deflate");
        if c.total_in() as usize == p.len() && out.len() < out.capacity() {
            break;
        }
        out.reserve(out.capacity().max(64));
    }
    if out.ends_with(&[0, 0, 0xff, 0xff]) {
        out.truncate(out.len() - 4);
    }
    out
}

/// Messages per case: Autobahn's 1000, fewer for the largest sizes.
fn count(n: usize) -> usize {
    if n > 16384 {
        100
    } else {
        1000
    }
}

fn round_trips(offer: &'static str, binary: bool, n: usize) -> Script {
    let p = payload(n);
    let z = deflate(&p);
    let (frame, event) = if binary {
        (Frame::binary(z), Event::binary(p))
    } else {
        (Frame::text(z), Event::text(p))
    };
    let k = count(n);
    Script::new()
        .offer_extension(offer)
        .round_trips(frame.rsv(4), k)
        .expect(vec![event; k])
}

/// The offers of 13.1–13.7.
const OFFERS: [&str; 7] = [
    "permessage-deflate",
    "permessage-deflate; client_no_context_takeover",
    "permessage-deflate; client_max_window_bits=9; server_max_window_bits=9",
    "permessage-deflate; client_max_window_bits=15; server_max_window_bits=15",
    "permessage-deflate; client_no_context_takeover; server_no_context_takeover; client_max_window_bits=9; server_max_window_bits=9",
    "permessage-deflate; client_no_context_takeover; server_no_context_takeover; client_max_window_bits=15; server_max_window_bits=15",
    "permessage-deflate; client_no_context_takeover; client_max_window_bits=9, permessage-deflate; client_no_context_takeover, permessage-deflate",
];

/// Cases 12.1.x, 12.2.x and 13.1.x–13.7.x.
pub fn cases() -> Vec<Case> {
    let mut v = Vec::new();
    for (sub, binary) in [(1u32, false), (2, true)] {
        let kind = if binary { "binary" } else { "text" };
        for (i, n) in SIZES.into_iter().enumerate() {
            v.push(
                Case::new(
                    &[12, sub, 1 + i as u32],
                    format!(
                        "Offer permessage-deflate; send {} compressed {kind} messages of {n} bytes, each after the previous echo.",
                        count(n)
                    ),
                    format!("Receive echo'ed {kind} messages (inflated, with payloads as sent)."),
                    move || round_trips("permessage-deflate", binary, n),
                )
                .large(n * count(n)),
            );
        }
    }
    for (o, offer) in OFFERS.into_iter().enumerate() {
        for (i, n) in SIZES.into_iter().enumerate() {
            v.push(
                Case::new(
                    &[13, 1 + o as u32, 1 + i as u32],
                    format!(
                        "Offer `{offer}`; send {} compressed text messages of {n} bytes, each after the previous echo.",
                        count(n)
                    ),
                    "Receive echo'ed text messages (inflated, with payloads as sent).".to_string(),
                    move || round_trips(offer, false, n),
                )
                .large(n * count(n)),
            );
        }
    }
    v
}
