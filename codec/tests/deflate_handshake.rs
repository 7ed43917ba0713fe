//! permessage-deflate negotiated through whole handshakes: the client's
//! request, the server's choice, the 101 carrying it, the client's check.

use ringws_codec::{
    write_accept_response, ClientHandshake, ClientHandshakeError, ClientStatus, Compression,
    DeflateOffer, HandshakeStatus, ServerHandshake,
};

/// Runs a handshake whose request carries `extensions` headers (one header
/// per element of the slice) under `policy`; returns the 101's
/// `Sec-WebSocket-Extensions` and the client's verdict on it.
fn handshake(
    extensions: &[&str],
    policy: Compression,
) -> (Option<String>, Result<ClientStatus, ClientHandshakeError>) {
    let mut client = ClientHandshake::with_nonce("example.com", "/", [7; 16]);
    if !extensions.is_empty() {
        client = client.extensions(&extensions.join(", "));
    }
    let mut request = Vec::new();
    client.write_request(&mut request);
    // Split the offers over several headers as some clients do.
    if extensions.len() > 1 {
        let joined = format!("Sec-WebSocket-Extensions: {}\r\n", extensions.join(", "));
        let split: String = extensions
            .iter()
            .map(|e| format!("Sec-WebSocket-Extensions: {e}\r\n"))
            .collect();
        let text = String::from_utf8(request).unwrap().replace(&joined, &split);
        request = text.into_bytes();
    }
    let mut server = ServerHandshake::default();
    let HandshakeStatus::Complete { request: req, .. } = server.feed(&request).unwrap() else {
        panic!("incomplete request");
    };
    let agreed = req.deflate(policy).map(|p| p.to_string());
    let mut reply = Vec::new();
    write_accept_response(&mut reply, &req, None, agreed.as_deref(), &[]).unwrap();
    (agreed, client.feed(&reply))
}

#[test]
fn real_clients_offers() {
    let shared = "permessage-deflate; server_no_context_takeover; client_no_context_takeover";
    let dedicated = Compression::Dedicated {
        server_window_bits: 15,
        client_window_bits: 15,
    };
    // (offers as separate headers, policy, expected 101 value)
    let table: &[(&[&str], Compression, Option<&str>)] = &[
        // Chromium, Python websockets, Node ws.
        (
            &["permessage-deflate; client_max_window_bits"],
            dedicated,
            Some("permessage-deflate"),
        ),
        (
            &["permessage-deflate; client_max_window_bits"],
            Compression::Shared,
            Some(shared),
        ),
        (
            &["permessage-deflate; client_max_window_bits"],
            Compression::Off,
            None,
        ),
        // Firefox.
        (&["permessage-deflate"], Compression::Shared, Some(shared)),
        // Autobahn 13.7-style fallback over three headers.
        (
            &[
                "permessage-deflate; client_no_context_takeover; client_max_window_bits; server_max_window_bits=8",
                "permessage-deflate; client_no_context_takeover; client_max_window_bits; server_no_context_takeover",
                "permessage-deflate; client_no_context_takeover; client_max_window_bits",
            ],
            dedicated,
            Some("permessage-deflate; server_no_context_takeover; client_no_context_takeover"),
        ),
    ];
    for &(offers, policy, want) in table {
        let (agreed, verdict) = handshake(offers, policy);
        assert_eq!(agreed.as_deref(), want, "{offers:?} {policy:?}");
        let ClientStatus::Complete { response, .. } = verdict.unwrap() else {
            panic!("incomplete 101");
        };
        assert_eq!(
            response.deflate().map(|p| p.to_string()).as_deref(),
            want,
            "{offers:?}"
        );
    }
}

#[test]
fn client_refuses_a_server_that_exceeds_the_offer() {
    let offer = DeflateOffer {
        server_max_window_bits: Some(10),
        ..DeflateOffer::default()
    };
    let client = || ClientHandshake::with_nonce("example.com", "/", [7; 16]).deflate(offer);
    let mut request = Vec::new();
    client().write_request(&mut request);
    assert!(String::from_utf8_lossy(&request).contains(
        "Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=10; client_max_window_bits\r\n"
    ));
    let mut server = ServerHandshake::default();
    let HandshakeStatus::Complete { request: req, .. } = server.feed(&request).unwrap() else {
        panic!("incomplete request");
    };
    for (answer, ok) in [
        ("permessage-deflate; server_max_window_bits=10", true),
        ("permessage-deflate; server_max_window_bits=9; client_max_window_bits=12", true),
        ("permessage-deflate; server_max_window_bits=11", false),
        ("permessage-deflate", false),
        (
            "permessage-deflate; server_max_window_bits=10, permessage-deflate; server_max_window_bits=10",
            false,
        ),
    ] {
        let mut reply = Vec::new();
        write_accept_response(&mut reply, &req, None, Some(answer), &[]).unwrap();
        let verdict = client().feed(&reply);
        match verdict {
            Ok(ClientStatus::Complete { response, .. }) => {
                assert!(ok, "{answer} accepted");
                assert!(response.deflate().unwrap().server_max_window_bits <= 10);
            }
            Err(e) => {
                assert!(!ok, "{answer}: {e}");
                assert_eq!(e, ClientHandshakeError::BadDeflateAnswer);
            }
            Ok(ClientStatus::Partial) => panic!("partial"),
        }
    }
}
