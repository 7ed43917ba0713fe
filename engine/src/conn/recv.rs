//! The receive side: hand received bytes to the codec's [`Receiver`] and
//! turn its events into what the state machine acts on.
//!
//! The codec parses and unmasks in place in the ring's buffer; a message
//! that arrived whole is lent to the handler straight from that buffer, and
//! only a message spanning buffers or fragments goes through the codec's
//! per-connection assembly buffer (freed again when the message is done).

use ringws_codec::{CloseCode, Event, Limits, ProtocolError, Receiver, ReceiverConfig, Role};

use crate::server::Message;

/// Receive limits for new connections.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RxConfig {
    pub(crate) max_message_size: usize,
    pub(crate) max_frame_size: usize,
}

/// What the state machine is told about.
pub(crate) enum RxEvent<'a> {
    Message(Message<'a>),
    Ping(&'a [u8]),
    Pong,
    /// The peer's close frame: code (`None` = no payload) and reason.
    Close(Option<CloseCode>, &'a str),
    Error(ProtocolError),
}

/// A connection's receiver.
pub(crate) struct Rx(Receiver);

impl Rx {
    pub(crate) fn new(cfg: &RxConfig) -> Self {
        Rx(Receiver::new(ReceiverConfig {
            role: Role::Server,
            limits: Limits {
                max_frame_size: cfg.max_frame_size as u64,
                max_message_size: cfg.max_message_size as u64,
            },
            allow_rsv1: false,
        }))
    }

    /// Process `data`, calling `f` per event until it returns `false` or
    /// the data is used up.
    pub(crate) fn feed(&mut self, data: &mut [u8], mut f: impl FnMut(RxEvent<'_>) -> bool) {
        let mut feed = self.0.feed(data);
        while let Some(ev) = feed.next_event() {
            let go = match ev {
                Ok(Event::Text(t)) => f(RxEvent::Message(Message::Text(t))),
                Ok(Event::Binary(b)) => f(RxEvent::Message(Message::Binary(b))),
                Ok(Event::Ping(p)) => f(RxEvent::Ping(p)),
                Ok(Event::Pong(_)) => f(RxEvent::Pong),
                Ok(Event::Close(c)) => match c {
                    Some((code, reason)) => f(RxEvent::Close(Some(code), reason)),
                    None => f(RxEvent::Close(None, "")),
                },
                // RSV1 is never allowed (no extension negotiated), so the
                // codec refuses such frames before this could happen.
                Ok(Event::Compressed { .. }) => f(RxEvent::Error(ProtocolError::ReservedBitsSet)),
                Err(e) => f(RxEvent::Error(e)),
            };
            if !go {
                break;
            }
        }
    }
}
