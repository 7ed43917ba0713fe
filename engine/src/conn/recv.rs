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

/// A connection's receiver, held only while it has state worth keeping.
///
/// Between messages the codec's [`Receiver`] is idle (no partial frame, no
/// message in progress, no heap), and an idle receiver is exactly a new
/// one. So an idle connection keeps no receiver at all (8 bytes instead of
/// 64): each feed starts from a fresh receiver on the stack, and only one
/// left holding a partial frame or message is boxed until it completes.
pub(crate) struct Rx(Option<Box<Receiver>>);

fn config(cfg: &RxConfig) -> ReceiverConfig {
    ReceiverConfig {
        role: Role::Server,
        limits: Limits {
            max_frame_size: cfg.max_frame_size as u64,
            max_message_size: cfg.max_message_size as u64,
        },
        allow_rsv1: false,
    }
}

impl Rx {
    pub(crate) fn new() -> Self {
        Rx(None)
    }

    /// Whether a partial frame or message is held.
    #[cfg(test)]
    pub(crate) fn is_holding(&self) -> bool {
        self.0.is_some()
    }

    /// Bytes that can be fed next without producing an event (see
    /// [`Receiver::quiet_len`]).
    pub(crate) fn quiet_len(&self) -> usize {
        self.0
            .as_ref()
            .map_or(0, |rx| rx.quiet_len().min(usize::MAX as u64) as usize)
    }

    /// Process `data`, calling `f` per event until it returns `false` or
    /// the data is used up. Returns how many bytes at the end of `data`
    /// were not processed (non-zero only when `f` stopped early; they were
    /// not touched, so they can be fed later).
    pub(crate) fn feed(
        &mut self,
        cfg: &RxConfig,
        data: &mut [u8],
        f: impl FnMut(RxEvent<'_>) -> bool,
    ) -> usize {
        match &mut self.0 {
            Some(rx) => {
                let rest = Self::run(rx, data, f);
                // A finished receiver (close or error seen) is kept: a fresh
                // one would accept frames again.
                if rx.is_idle() && !rx.is_finished() {
                    self.0 = None;
                }
                rest
            }
            None => {
                let mut rx = Receiver::new(config(cfg));
                let rest = Self::run(&mut rx, data, f);
                if !rx.is_idle() || rx.is_finished() {
                    self.0 = Some(Box::new(rx));
                }
                rest
            }
        }
    }

    fn run(rx: &mut Receiver, data: &mut [u8], mut f: impl FnMut(RxEvent<'_>) -> bool) -> usize {
        let mut feed = rx.feed(data);
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
        feed.unprocessed()
    }
}
