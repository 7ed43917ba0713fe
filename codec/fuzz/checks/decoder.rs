//! The receive path (`Receiver`: frame decoder, unmasking, message assembly,
//! streaming UTF-8) on arbitrary bytes in fuzzer-chosen chunks, server role.
//!
//! It must never panic, and chunking must not change what comes out: the
//! events (and the error, if any) from the chunked feed equal those from one
//! feed of the whole input.

use ringws_codec::{Event, Limits, ProtocolError, Receiver, ReceiverConfig, Role};

#[derive(Debug, PartialEq)]
enum Owned {
    Text(String),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<(u16, String)>),
    Compressed(bool, Vec<u8>),
    Error(ProtocolError),
}

fn own(ev: Result<Event<'_>, ProtocolError>) -> Owned {
    match ev {
        Ok(Event::Text(s)) => Owned::Text(s.to_owned()),
        Ok(Event::Binary(b)) => Owned::Binary(b.to_vec()),
        Ok(Event::Ping(b)) => Owned::Ping(b.to_vec()),
        Ok(Event::Pong(b)) => Owned::Pong(b.to_vec()),
        Ok(Event::Close(c)) => Owned::Close(c.map(|(code, r)| (u16::from(code), r.to_owned()))),
        Ok(Event::Compressed { text, payload }) => Owned::Compressed(text, payload.to_vec()),
        Err(e) => Owned::Error(e),
    }
}

fn run(config: ReceiverConfig, chunks: &mut [&mut [u8]]) -> Vec<Owned> {
    let mut rx = Receiver::new(config);
    let mut out = Vec::new();
    for chunk in chunks.iter_mut() {
        let mut feed = rx.feed(chunk);
        while let Some(ev) = feed.next_event() {
            out.push(own(ev));
        }
        drop(feed);
        if rx.is_idle() {
            assert_eq!(rx.buffered_capacity(), 0, "idle receiver holds memory");
        }
    }
    out
}

/// One input: panics on any violation.
pub fn check(data: &[u8]) {
    // Byte 0: flags; bytes 1..=4: chunk length seeds; the rest: the stream.
    if data.len() < 5 {
        return;
    }
    let (ctl, stream) = data.split_at(5);
    let config = ReceiverConfig {
        role: Role::Server,
        // Small limits so 1009 paths are reachable with short inputs.
        limits: if ctl[0] & 1 != 0 {
            Limits {
                max_frame_size: 64,
                max_message_size: 200,
            }
        } else {
            Limits::default()
        },
        allow_rsv1: ctl[0] & 2 != 0,
    };

    let mut whole = stream.to_vec();
    let expected = run(config, &mut [&mut whole[..]]);

    // Chunk lengths cycle through the four seeds (1..=256 each).
    let mut chunked = stream.to_vec();
    let mut pieces: Vec<&mut [u8]> = Vec::new();
    let mut rest = &mut chunked[..];
    let mut i = 0;
    while !rest.is_empty() {
        let n = (usize::from(ctl[1 + i % 4]) + 1).min(rest.len());
        let (head, tail) = rest.split_at_mut(n);
        pieces.push(head);
        rest = tail;
        i += 1;
    }
    let got = run(config, &mut pieces);
    assert_eq!(expected, got, "chunked feed differs from one feed");
}
