//! Property: inflate(deflate(x)) = x through negotiated permessage-deflate,
//! both directions (masked client frames to a server receiver, unmasked
//! server frames to a client receiver), for every window size 9–15 on each
//! side, with and without context takeover each way, any fragmentation of
//! the compressed message into frames and any cutting of the byte stream
//! into reads; and, where the sender resets per message, the same through
//! a shared inflater (`feed` + `inflate_message`).

mod common;

use common::Ev;
use proptest::prelude::*;
use ringws_codec::{
    accept_deflate_answer, apply_mask, negotiate_deflate, Compression, DeflateOffer, Deflater,
    Event, ExtensionOffer, FrameHeader, HeaderBytes, Inflater, Limits, OpCode, Receiver,
    ReceiverConfig, Role,
};

#[derive(Clone, Debug)]
struct Message {
    text: bool,
    bytes: Vec<u8>,
    /// Into how many frames the compressed payload is cut (1–4).
    frames: usize,
}

fn message() -> impl Strategy<Value = Message> {
    let text = (".{0,60}", 1usize..40).prop_map(|(s, n): (String, usize)| s.repeat(n).into_bytes());
    let binary = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..600),
        (prop::collection::vec(any::<u8>(), 1..20), 1usize..200).prop_map(|(v, n)| v.repeat(n)),
    ];
    prop_oneof![
        (text, 1usize..=4).prop_map(|(bytes, frames)| Message {
            text: true,
            bytes,
            frames
        }),
        (binary, 1usize..=4).prop_map(|(bytes, frames)| Message {
            text: false,
            bytes,
            frames
        }),
    ]
}

/// Frames of one compressed message: RSV1 on the first frame only.
fn frames(out: &mut Vec<u8>, m: &Message, compressed: &[u8], mask: Option<[u8; 4]>) {
    let size = compressed.len().div_ceil(m.frames).max(1);
    let pieces: Vec<&[u8]> = if compressed.is_empty() {
        vec![&[]]
    } else {
        compressed.chunks(size).collect()
    };
    let op = if m.text { OpCode::Text } else { OpCode::Binary };
    for (i, p) in pieces.iter().enumerate() {
        let mut h = FrameHeader::new(
            i + 1 == pieces.len(),
            if i == 0 { op } else { OpCode::Continuation },
            mask,
            p.len() as u64,
        );
        h.rsv1 = i == 0;
        out.extend_from_slice(HeaderBytes::from_header(&h).as_slice());
        let at = out.len();
        out.extend_from_slice(p);
        if let Some(k) = mask {
            apply_mask(&mut out[at..], k, 0);
        }
    }
}

fn want(msgs: &[Message]) -> Vec<Ev> {
    msgs.iter()
        .map(|m| {
            if m.text {
                Ev::Text(String::from_utf8(m.bytes.clone()).unwrap())
            } else {
                Ev::Binary(m.bytes.clone())
            }
        })
        .collect()
}

/// Feeds `wire` cut every `step` bytes; inflating with `own`, or with a
/// shared inflater when `own` is `None`.
fn receive(role: Role, wire: &[u8], step: usize, mut own: Option<&mut Inflater>) -> Vec<Ev> {
    let mut rx = Receiver::new(ReceiverConfig {
        role,
        allow_rsv1: true,
        limits: Limits::default(),
    });
    let mut shared = Inflater::shared();
    let mut out = Vec::new();
    let mut events = Vec::new();
    for piece in wire.chunks(step) {
        let mut buf = piece.to_vec();
        let mut feed = match own.as_deref_mut() {
            Some(i) => rx.feed_inflating(&mut buf, i),
            None => rx.feed(&mut buf),
        };
        while let Some(ev) = feed.next_event() {
            events.push(match ev {
                Ok(Event::Compressed { text, payload }) => {
                    Ev::from_event(shared.inflate_message(text, payload, 16 << 20, &mut out))
                }
                other => Ev::from_event(other),
            });
        }
    }
    events
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 160, ..ProptestConfig::default() })]

    #[test]
    fn round_trip_both_directions(
        server_bits in 9u8..=15,
        client_bits in 9u8..=15,
        server_takeover in any::<bool>(),
        client_takeover in any::<bool>(),
        msgs in prop::collection::vec(message(), 1..6),
        step in 1usize..400,
        key in any::<[u8; 4]>(),
    ) {
        let offer = DeflateOffer {
            server_no_context_takeover: !server_takeover,
            client_no_context_takeover: !client_takeover,
            server_max_window_bits: Some(server_bits),
            client_max_window_bits: Some(Some(client_bits)),
        };
        let offers = ExtensionOffer::parse_list(offer.to_string().as_bytes()).unwrap();
        let policy = Compression::Dedicated { server_window_bits: 15, client_window_bits: 15 };
        let agreed = negotiate_deflate(&offers, policy).unwrap();
        let answer = ExtensionOffer::parse_list(agreed.to_string().as_bytes()).unwrap();
        let client_view = accept_deflate_answer(&offers, &answer[0]).unwrap();
        let (server, client) = (agreed.server(), client_view.client());
        prop_assert_eq!(server.compress_window_bits, server_bits);
        prop_assert_eq!(client.compress_window_bits, client_bits);
        prop_assert_eq!(server.compress_reset, !server_takeover);
        prop_assert_eq!(server.inflate_reset, !client_takeover);

        // Client to server: masked.
        let mut tx = Deflater::for_side(&client).threshold(0);
        let mut wire = Vec::new();
        for m in &msgs {
            let mut c = Vec::new();
            tx.compress(&m.bytes, &mut c);
            frames(&mut wire, m, &c, Some(key));
        }
        let mut rx = Inflater::for_side(&server);
        prop_assert_eq!(receive(Role::Server, &wire, step, Some(&mut rx)), want(&msgs));
        if server.inflate_reset {
            prop_assert_eq!(receive(Role::Server, &wire, step, None), want(&msgs));
        }

        // Server to client: unmasked.
        let mut tx = Deflater::for_side(&server).threshold(0);
        let mut wire = Vec::new();
        for m in &msgs {
            let mut c = Vec::new();
            tx.compress(&m.bytes, &mut c);
            frames(&mut wire, m, &c, None);
        }
        let mut rx = Inflater::for_side(&client);
        prop_assert_eq!(receive(Role::Client, &wire, step, Some(&mut rx)), want(&msgs));
        if client.inflate_reset {
            prop_assert_eq!(receive(Role::Client, &wire, step, None), want(&msgs));
        }
    }
}
