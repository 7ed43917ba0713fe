//! Helpers shared by the frame-layer integration tests.
#![allow(dead_code)]

use ringws_codec::{CloseCode, Event, OpCode, ProtocolError, Receiver, ReceiverConfig};

/// An owned copy of an [`Event`] (or the error), so tests can collect them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ev {
    Text(String),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<(u16, String)>),
    Compressed(bool, Vec<u8>),
    Err(ProtocolError),
}

impl Ev {
    pub fn from_event(ev: Result<Event<'_>, ProtocolError>) -> Self {
        match ev {
            Ok(Event::Text(s)) => Ev::Text(s.to_owned()),
            Ok(Event::Binary(b)) => Ev::Binary(b.to_vec()),
            Ok(Event::Ping(b)) => Ev::Ping(b.to_vec()),
            Ok(Event::Pong(b)) => Ev::Pong(b.to_vec()),
            Ok(Event::Close(c)) => {
                Ev::Close(c.map(|(code, r): (CloseCode, &str)| (code.0, r.to_owned())))
            }
            Ok(Event::Compressed { text, payload }) => Ev::Compressed(text, payload.to_vec()),
            Err(e) => Ev::Err(e),
        }
    }
}

/// Feeds `stream` to a fresh receiver, cut at the given (sorted) points, and
/// collects every event. Checks that each feed consumes all its bytes unless
/// the receiver finished.
pub fn run_cuts(config: ReceiverConfig, stream: &[u8], cuts: &[usize]) -> (Vec<Ev>, Receiver) {
    let mut rx = Receiver::new(config);
    let mut events = Vec::new();
    let mut start = 0;
    for &end in cuts.iter().chain(core::iter::once(&stream.len())) {
        let end = end.clamp(start, stream.len());
        let mut buf = stream[start..end].to_vec();
        let mut feed = rx.feed(&mut buf);
        while let Some(ev) = feed.next_event() {
            events.push(Ev::from_event(ev));
        }
        let left = feed.unprocessed();
        drop(feed);
        if !rx.is_finished() {
            assert_eq!(left, 0, "an open receiver consumes every byte");
        }
        start = end;
    }
    (events, rx)
}

/// Feeds the whole stream in one buffer.
pub fn run(config: ReceiverConfig, stream: &[u8]) -> Vec<Ev> {
    run_cuts(config, stream, &[]).0
}

/// A masked (client-to-server) frame.
pub fn masked(fin: bool, opcode: OpCode, payload: &[u8], key: [u8; 4]) -> Vec<u8> {
    let mut out = Vec::new();
    ringws_codec::write_frame(&mut out, fin, opcode, payload, Some(key));
    out
}

/// One message as masked frames: `payload` split into `parts` fragments
/// (a single empty frame if it is empty), with a ping after the first
/// fragment when `ping` is set and there are several.
pub fn fragmented(text: bool, payload: &[u8], parts: usize, ping: bool, key: [u8; 4]) -> Vec<u8> {
    let step = payload.len().div_ceil(parts).max(1);
    let chunks: Vec<&[u8]> = if payload.is_empty() {
        vec![&[][..]]
    } else {
        payload.chunks(step).collect()
    };
    let mut bytes = Vec::new();
    for (i, c) in chunks.iter().enumerate() {
        let op = match (i, text) {
            (0, true) => OpCode::Text,
            (0, false) => OpCode::Binary,
            _ => OpCode::Continuation,
        };
        bytes.extend(masked(i + 1 == chunks.len(), op, c, key));
        if ping && i == 0 && chunks.len() > 1 {
            bytes.extend(masked(true, OpCode::Ping, b"p", [9, 9, 9, 9]));
        }
    }
    bytes
}

/// Raw bytes of a masked frame with arbitrary first byte (FIN, RSV, opcode)
/// and a payload, for frames the encoder would not produce.
pub fn raw_masked(b0: u8, payload: &[u8]) -> Vec<u8> {
    let key = [0x11, 0x22, 0x33, 0x44];
    let mut out = vec![b0];
    match payload.len() {
        n @ 0..=125 => out.push(0x80 | n as u8),
        n @ 126..=0xFFFF => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&key);
    let start = out.len();
    out.extend_from_slice(payload);
    ringws_codec::apply_mask(&mut out[start..], key, 0);
    out
}
