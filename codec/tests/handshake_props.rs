//! Property tests for the handshake: generated valid requests (random casing,
//! header order, extra headers, comma lists, split points) are accepted with
//! the right view; arbitrary bytes give the same verdict whole or split.

use proptest::prelude::*;
use ringws_codec::{
    accept_key, ExtensionOffer, HandshakeConfig, HandshakeStatus, Request, ServerHandshake,
};

fn token() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9!#$%&'*+.^_`|~-]{1,12}"
}

fn random_case(s: &str, flips: &[bool]) -> String {
    s.chars()
        .zip(flips.iter().cycle())
        .map(|(c, &up)| {
            if up {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect()
}

#[derive(Debug, Clone)]
struct Spec {
    path: String,
    query: Option<String>,
    nonce: [u8; 16],
    protocols: Vec<String>,
    origin: Option<String>,
    connection_extra: Vec<String>,
    extra: Vec<(String, String)>,
    flips: Vec<bool>,
    order_seed: u64,
    cuts: Vec<usize>,
    frames: Vec<u8>,
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        "/[a-zA-Z0-9/._~-]{0,30}",
        proptest::option::of("[a-zA-Z0-9=&%._-]{0,20}"),
        any::<[u8; 16]>(),
        proptest::collection::vec(token(), 0..4),
        proptest::option::of("https?://[a-z]{1,10}(:[0-9]{2,5})?"),
        proptest::collection::vec(prop_oneof![Just("keep-alive".to_string()), token()], 0..3),
        proptest::collection::vec((token(), "[ -~]{0,40}"), 0..6),
        proptest::collection::vec(any::<bool>(), 1..8),
        any::<u64>(),
        proptest::collection::vec(any::<usize>(), 0..4),
        proptest::collection::vec(any::<u8>(), 0..20),
    )
        .prop_map(
            |(
                path,
                query,
                nonce,
                protocols,
                origin,
                connection_extra,
                extra,
                flips,
                order_seed,
                cuts,
                frames,
            )| Spec {
                path,
                query,
                nonce,
                protocols,
                origin,
                connection_extra,
                extra: {
                    // Keep generated extras from colliding with the headers under
                    // test, and from repeating a name: the headers are shuffled
                    // (order_seed), so with a repeated name "the first one" on
                    // the wire is not the first one generated.
                    let mut extra: Vec<(String, String)> = extra
                        .into_iter()
                        .map(|(n, v)| (format!("X-{n}"), v.trim().to_string()))
                        .collect();
                    let mut seen = std::collections::HashSet::new();
                    extra.retain(|(n, _)| seen.insert(n.to_ascii_lowercase()));
                    extra
                },
                flips,
                order_seed,
                cuts,
                frames,
            },
        )
}

impl Spec {
    fn key(&self) -> String {
        // Standard base64 of the nonce, written by hand so the test does not
        // share the codec's encoder.
        const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut s = String::new();
        for c in self.nonce.chunks(3) {
            let b = [c[0], *c.get(1).unwrap_or(&0), *c.get(2).unwrap_or(&0)];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..4 {
                if i <= c.len() {
                    s.push(char::from(A[(n >> (18 - 6 * i) & 63) as usize]));
                } else {
                    s.push('=');
                }
            }
        }
        s
    }

    fn request(&self) -> Vec<u8> {
        let mut connection = self.connection_extra.clone();
        connection.push(random_case("upgrade", &self.flips));
        let mut headers: Vec<(String, String)> = vec![
            (random_case("host", &self.flips), "example.com:8080".into()),
            (
                random_case("upgrade", &self.flips),
                random_case("websocket", &self.flips),
            ),
            (
                random_case("connection", &self.flips),
                connection.join(", "),
            ),
            (random_case("sec-websocket-key", &self.flips), self.key()),
            (
                random_case("sec-websocket-version", &self.flips),
                "13".into(),
            ),
        ];
        if !self.protocols.is_empty() {
            headers.push(("Sec-WebSocket-Protocol".into(), self.protocols.join(",")));
        }
        if let Some(o) = &self.origin {
            headers.push((random_case("origin", &self.flips), o.clone()));
        }
        headers.extend(self.extra.iter().cloned());
        // Deterministic shuffle: verdicts must not depend on header order.
        let mut seed = self.order_seed | 1;
        for i in (1..headers.len()).rev() {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            headers.swap(i, (seed % (i as u64 + 1)) as usize);
        }
        let target = match &self.query {
            Some(q) => format!("{}?{q}", self.path),
            None => self.path.clone(),
        };
        let mut out = format!("GET {target} HTTP/1.1\r\n");
        for (n, v) in headers {
            out.push_str(&format!("{n}: {v}\r\n"));
        }
        out.push_str("\r\n");
        out.into_bytes()
    }
}

/// Feeds `input` cut at `cuts` (taken modulo the length, sorted).
fn feed_cut(
    input: &[u8],
    cuts: &[usize],
    config: HandshakeConfig,
) -> Option<Result<(Request, Vec<u8>), u16>> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
    points.push(0);
    points.push(input.len());
    points.sort_unstable();
    let pieces: Vec<&[u8]> = points.windows(2).map(|w| &input[w[0]..w[1]]).collect();
    let mut hs = ServerHandshake::new(config);
    for (i, piece) in pieces.iter().enumerate() {
        match hs.feed(piece) {
            Ok(HandshakeStatus::Partial) => assert!(hs.buffered_len() <= config.max_header_bytes),
            Ok(HandshakeStatus::Complete { request, consumed }) => {
                let mut rest = piece[consumed..].to_vec();
                pieces[i + 1..]
                    .iter()
                    .for_each(|p| rest.extend_from_slice(p));
                return Some(Ok((request, rest)));
            }
            Err(e) => return Some(Err(e.status())),
        }
    }
    None
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn generated_requests_are_accepted(spec in spec()) {
        let head = spec.request();
        let mut input = head.clone();
        input.extend_from_slice(&spec.frames);
        let got = feed_cut(&input, &spec.cuts, HandshakeConfig::default());
        let Some(Ok((req, rest))) = got else {
            panic!("{got:?} for {}", String::from_utf8_lossy(&head));
        };
        prop_assert_eq!(&rest, &spec.frames);
        prop_assert_eq!(req.head(), &head[..]);
        prop_assert_eq!(req.path(), spec.path.as_str());
        prop_assert_eq!(req.query(), spec.query.as_deref());
        prop_assert_eq!(req.host(), "example.com:8080");
        prop_assert_eq!(req.origin(), spec.origin.as_deref());
        prop_assert_eq!(req.protocols(), spec.protocols.as_slice());
        prop_assert_eq!(req.key(), spec.key());
        prop_assert_eq!(req.accept_key(), accept_key(spec.key().as_bytes()));
        for (n, v) in &spec.extra {
            // Generated names are unique (see `spec`).
            prop_assert_eq!(req.header(&n.to_ascii_lowercase()), Some(v.as_bytes()), "{}: {}", n, v);
        }
    }

    /// Arbitrary bytes (with a valid prefix sometimes): splitting never
    /// changes whether, and where, a request completes.
    #[test]
    fn split_equals_whole(
        prefix in proptest::option::of(spec()),
        noise in proptest::collection::vec(any::<u8>(), 0..300),
        cuts in proptest::collection::vec(any::<usize>(), 0..5),
    ) {
        let mut input = prefix.map(|s| s.request()).unwrap_or_default();
        // Corrupt or extend the request with noise.
        input.extend_from_slice(&noise);
        if !noise.is_empty() && input.len() > noise.len() {
            let i = usize::from(noise[0]) * 7 % input.len();
            input[i] = noise[noise.len() - 1];
        }
        let config = HandshakeConfig { max_header_bytes: 512, max_headers: 12 };
        let whole = feed_cut(&input, &[], config);
        let split = feed_cut(&input, &cuts, config);
        match (&whole, &split) {
            (Some(Ok((w, wr))), Some(Ok((s, sr)))) => {
                prop_assert_eq!(w.head(), s.head());
                prop_assert_eq!(wr, sr);
            }
            (Some(Ok(_)), _) | (_, Some(Ok(_))) => panic!("whole {whole:?} vs split {split:?}"),
            (w, Some(Err(_))) => prop_assert!(matches!(w, Some(Err(_))), "{:?}", w),
            _ => {}
        }
    }

    #[test]
    fn extension_offers_round_trip(
        offers in proptest::collection::vec(
            (token(), proptest::collection::vec((token(), proptest::option::of(token())), 0..4)),
            1..4,
        )
    ) {
        let offers: Vec<ExtensionOffer> =
            offers.into_iter().map(|(name, params)| ExtensionOffer { name, params }).collect();
        let text = offers.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
        prop_assert_eq!(ExtensionOffer::parse_list(text.as_bytes()).unwrap(), offers);
    }
}
