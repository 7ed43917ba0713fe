//! The handshake parsers on arbitrary bytes, split at fuzzer-chosen points.
//!
//! Beyond "never panics", it checks that splitting changes nothing: the
//! request fed in up to three pieces completes exactly when it completes in
//! one piece, with the same request and the same trailing (frame) bytes, and a
//! refusal of the pieces implies a refusal of the whole. This is what proves
//! the incremental end-of-head scanner stops where `httparse` does.

use ringws_codec::{
    write_accept_response, ClientHandshake, ClientStatus, ExtensionOffer, HandshakeConfig,
    HandshakeStatus, Request, ServerHandshake,
};

/// Small limits so the fuzzer reaches the 431 paths with short inputs.
const CONFIG: HandshakeConfig = HandshakeConfig {
    max_header_bytes: 1024,
    max_headers: 16,
};

/// Feeds `pieces` in order; returns the verdict and the bytes after the head.
fn run(pieces: &[&[u8]]) -> Option<Result<(Request, Vec<u8>), u16>> {
    let mut hs = ServerHandshake::new(CONFIG);
    for (i, piece) in pieces.iter().enumerate() {
        match hs.feed(piece) {
            Ok(HandshakeStatus::Partial) => {
                assert!(hs.buffered_len() <= CONFIG.max_header_bytes);
            }
            Ok(HandshakeStatus::Complete { request, consumed }) => {
                let mut rest = piece[consumed..].to_vec();
                pieces[i + 1..]
                    .iter()
                    .for_each(|p| rest.extend_from_slice(p));
                return Some(Ok((request, rest)));
            }
            Err(e) => {
                let status = e.status();
                assert!(matches!(status, 400 | 405 | 426 | 431), "{e:?}");
                assert!(e.response_bytes().starts_with(b"HTTP/1.1 "));
                return Some(Err(status));
            }
        }
    }
    None
}

/// One input: panics on any violation.
pub fn check(data: &[u8]) {
    if data.len() < 4 {
        return;
    }
    let (cuts, input) = data.split_at(4);
    let a = usize::from(u16::from_le_bytes([cuts[0], cuts[1]])) % (input.len() + 1);
    let b = usize::from(u16::from_le_bytes([cuts[2], cuts[3]])) % (input.len() + 1);
    let (a, b) = (a.min(b), a.max(b));

    let whole = run(&[input]);
    let split = run(&[&input[..a], &input[a..b], &input[b..]]);
    match (&whole, &split) {
        (Some(Ok((w, wrest))), Some(Ok((s, srest)))) => {
            assert_eq!(w.head(), s.head());
            assert_eq!(wrest, srest);
            assert_eq!(w.protocols(), s.protocols());
            assert_eq!(w.extensions(), s.extensions());
            // The application view is consistent with the head.
            assert_eq!(w.head().len() + wrest.len(), input.len());
            assert!(w.path().starts_with('/'));
            // Offers written back with Display parse to the same offers.
            for offer in w.extensions() {
                let text = offer.to_string();
                let again = ExtensionOffer::parse_list(text.as_bytes()).unwrap();
                assert_eq!(again.as_slice(), std::slice::from_ref(offer));
            }
            // Accepting with anything the client offered must succeed.
            let ext = w.extensions().first().map(|o| o.to_string());
            let mut out = Vec::new();
            write_accept_response(
                &mut out,
                w,
                w.protocols().first().map(String::as_str),
                ext.as_deref(),
                &[],
            )
            .unwrap();
        }
        (Some(Ok(_)), other) | (other, Some(Ok(_))) => {
            panic!("one-shot {whole:?} vs split {other:?}")
        }
        // Split refused: the whole must be refused too (maybe earlier, e.g.
        // an httparse error seen before the end of the head).
        (whole, Some(Err(_))) => assert!(matches!(whole, Some(Err(_))), "{whole:?}"),
        _ => {}
    }

    // The client's response parser on the same bytes: must not panic.
    let mut client = ClientHandshake::with_nonce("h", "/", [0; 16])
        .protocol("chat")
        .extensions("permessage-deflate; client_max_window_bits")
        .config(CONFIG);
    for piece in [&input[..a], &input[a..]] {
        match client.feed(piece) {
            Ok(ClientStatus::Partial) => {}
            Ok(ClientStatus::Complete { consumed, .. }) => {
                assert!(consumed <= piece.len());
                break;
            }
            Err(_) => break,
        }
    }
}
