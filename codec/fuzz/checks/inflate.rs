//! The inflaters on arbitrary compressed data, under small limits.
//!
//! Byte 0 chooses the limit (64 B, 1 KiB, 16 KiB or 256 KiB), text or
//! binary, the window bits and the chunk size reads are cut into; the rest
//! is split into messages, each byte-prefixed with its length. Each message
//! goes three ways: whole through a shared `Inflater::inflate_message`, and
//! as one RSV1 frame through a server `Receiver` fed in chunks with
//! `feed_inflating`, once with a per-message-reset inflater and once with
//! a context-keeping one.
//!
//! It must never panic; the shared and the streaming (reset) inflater must
//! agree on every message (same bytes, or both refuse); nothing accepted
//! is larger than the limit; accepted text is UTF-8; the output buffer
//! never grows past the limit + 1.

use ringws_codec::{
    Event, FrameHeader, HeaderBytes, Inflater, Limits, OpCode, ProtocolError, Receiver,
    ReceiverConfig, Role,
};

fn frame(payload: &[u8], text: bool) -> Vec<u8> {
    let op = if text { OpCode::Text } else { OpCode::Binary };
    let mut h = FrameHeader::new(true, op, Some([0; 4]), payload.len() as u64);
    h.rsv1 = true;
    let mut out = HeaderBytes::from_header(&h).as_slice().to_vec();
    out.extend_from_slice(payload); // a zero mask leaves the bytes as they are
    out
}

fn stream(
    rx: &mut Receiver,
    inflater: &mut Inflater,
    wire: &[u8],
    chunk: usize,
) -> Vec<Result<Vec<u8>, ProtocolError>> {
    let mut got = Vec::new();
    for piece in wire.chunks(chunk) {
        let mut buf = piece.to_vec();
        let mut feed = rx.feed_inflating(&mut buf, inflater);
        while let Some(ev) = feed.next_event() {
            got.push(match ev {
                Ok(Event::Text(s)) => Ok(s.as_bytes().to_vec()),
                Ok(Event::Binary(b)) => Ok(b.to_vec()),
                Ok(other) => panic!("unexpected {other:?}"),
                Err(e) => Err(e),
            });
        }
    }
    got
}

/// One input: panics on any violation.
pub fn check(data: &[u8]) {
    let Some((&cfg, mut rest)) = data.split_first() else {
        return;
    };
    let limit = [64usize, 1024, 16 << 10, 256 << 10][usize::from(cfg & 3)];
    let text = cfg & 4 != 0;
    let window = 9 + (cfg >> 3) % 7;
    let chunk = 1 + usize::from(cfg >> 5) * 9;
    let config = ReceiverConfig {
        role: Role::Server,
        allow_rsv1: true,
        limits: Limits {
            max_frame_size: 1 << 20,
            max_message_size: limit as u64,
        },
    };
    let mut shared = Inflater::shared();
    let mut reset = Inflater::new(window, true);
    let mut keep = Inflater::new(window, false);
    let mut keep_rx = Receiver::new(config);
    let mut out = Vec::new();
    while let Some((&len, tail)) = rest.split_first() {
        let len = usize::from(len).min(tail.len());
        let (msg, tail) = tail.split_at(len);
        rest = tail;

        let whole = shared
            .inflate_message(text, msg, limit, &mut out)
            .map(|ev| match ev {
                Event::Text(s) => s.as_bytes().to_vec(),
                Event::Binary(b) => b.to_vec(),
                other => panic!("unexpected {other:?}"),
            });
        assert!(out.capacity() <= limit + 1, "output grew past the limit");
        if let Ok(bytes) = &whole {
            assert!(bytes.len() <= limit);
            if text {
                assert!(std::str::from_utf8(bytes).is_ok());
            }
        }

        let wire = frame(msg, text);
        let mut rx = Receiver::new(config);
        let got = stream(&mut rx, &mut reset, &wire, chunk);
        assert_eq!(got.len(), 1, "one message, one event");
        match (&whole, &got[0]) {
            (Ok(a), Ok(b)) => assert_eq!(a, b),
            (Err(_), Err(_)) => {}
            (a, b) => panic!("shared {a:?} vs streaming {b:?}"),
        }
        if got[0].is_err() {
            // The connection would be closed; start the next one afresh.
            reset = Inflater::new(window, true);
        }

        // Context kept across messages: only no panic and the limits.
        if !keep_rx.is_finished() {
            for bytes in stream(&mut keep_rx, &mut keep, &wire, chunk)
                .into_iter()
                .flatten()
            {
                assert!(bytes.len() <= limit);
            }
        }
    }
}
