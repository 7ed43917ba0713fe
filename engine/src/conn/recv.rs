//! The receive side: hand received bytes to the codec's [`Receiver`] and
//! turn its events into what the state machine acts on.
//!
//! The codec parses and unmasks in place in the ring's buffer; a message
//! that arrived whole is lent to the handler straight from that buffer, and
//! only a message spanning buffers or fragments goes through the codec's
//! per-connection assembly buffer (freed again when the message is done).

use ringws_codec::{CloseCode, Event, Limits, ProtocolError, Receiver, ReceiverConfig, Role};

use super::Message;

/// Receive limits for new connections.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RxConfig {
    pub(crate) max_message_size: usize,
    pub(crate) max_frame_size: usize,
    /// permessage-deflate was negotiated: RSV1 on a message's first frame
    /// is allowed and the message comes out as [`RxEvent::Compressed`].
    pub(crate) deflate: bool,
}

/// Bytes for the receiver.
pub(crate) enum Input<'a> {
    /// Received into a (ring) buffer: parsed, unmasked in place, lent out.
    Bytes(&'a mut [u8]),
    /// The buffer lent by [`Rx::take_direct`], back with this many payload
    /// bytes received straight into its end.
    Direct(Vec<u8>, usize),
}

/// What the state machine is told about.
pub(crate) enum RxEvent<'a> {
    /// A data message; `Some(lent)` when it was assembled by the codec (it
    /// spanned buffers or fragments), so its buffer may be claimed.
    Message(Message<'a>, Option<Lent>),
    /// The buffer of the assembled message just delivered, handed over
    /// because the state machine answered [`Flow::Take`] (`None` only if the
    /// codec had none, which the caller's checks rule out).
    Taken(Option<Vec<u8>>),
    Ping(&'a [u8]),
    Pong,
    /// The peer's close frame: code (`None` = no payload) and reason.
    Close(Option<CloseCode>, &'a str),
    /// A whole compressed data message (`text`, compressed payload), to be
    /// inflated; only when [`RxConfig::deflate`] is set.
    Compressed(bool, &'a [u8]),
    Error(ProtocolError),
}

/// Where an assembled message lent to the handler lives (address, length):
/// a send of exactly these bytes can take the buffer instead of copying it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Lent {
    pub(crate) addr: usize,
    pub(crate) len: usize,
}

/// The message being lent to the handler and whether a send claimed its
/// buffer (kept in the worker context while `on_message` runs).
#[derive(Default)]
pub(crate) struct Lend {
    /// Set only during `on_message` for an assembled message.
    pub(crate) lent: Option<Lent>,
    /// The send-queue segment waiting for the claimed buffer.
    pub(crate) claimed: Option<usize>,
    /// Buffers taken over without a copy (tests).
    #[cfg(test)]
    pub(crate) taken: usize,
}

/// What the state machine wants after an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Flow {
    /// Stop here; the rest of the data is not processed now.
    Stop,
    /// Go on with the next event.
    Go,
    /// Hand over the buffer of the message just delivered (an
    /// [`RxEvent::Taken`] follows), then decide.
    Take,
}

/// A connection's receiver, held only while it has state worth keeping.
///
/// Between messages the codec's [`Receiver`] is idle (no partial frame, no
/// message in progress, no heap), and an idle receiver is exactly a new
/// one. So an idle connection keeps no receiver at all (8 bytes instead of
/// 64): each feed starts from a fresh receiver on the stack, and only one
/// left holding a partial frame or message is boxed until it completes.
pub(crate) struct Rx(Option<Box<Partial>>);

/// A receiver holding a partial frame or message, and since when.
struct Partial {
    rx: Receiver,
    /// Worker clock (ms) when the frame or message in progress began: the
    /// first byte after the last complete message.
    since_ms: u64,
}

fn config(cfg: &RxConfig) -> ReceiverConfig {
    ReceiverConfig {
        role: Role::Server,
        limits: Limits {
            max_frame_size: cfg.max_frame_size as u64,
            max_message_size: cfg.max_message_size as u64,
        },
        allow_rsv1: cfg.deflate,
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

    /// When the frame or message in progress began (worker clock, ms), if
    /// one is (see `Builder::message_timeout`).
    pub(crate) fn started_ms(&self) -> Option<u64> {
        self.0
            .as_ref()
            .filter(|p| !p.rx.is_finished())
            .map(|p| p.since_ms)
    }

    /// Count the message in progress as begun at `now_ms` (after reads
    /// paused by the server itself).
    pub(crate) fn restart_clock(&mut self, now_ms: u64) {
        if let Some(p) = &mut self.0 {
            p.since_ms = now_ms;
        }
    }

    /// Payload bytes of the data frame in progress still to come that may
    /// be received straight into the message buffer (0 if none).
    pub(crate) fn direct_remaining(&self) -> u64 {
        self.0.as_ref().map_or(0, |p| p.rx.direct_remaining())
    }

    /// Heap capacity of the partial message held (0 while its buffer is
    /// lent to a direct receive: the book of loans has it then).
    pub(crate) fn buffered_capacity(&self) -> usize {
        self.0.as_ref().map_or(0, |p| p.rx.buffered_capacity())
    }

    /// Between frames (no header or payload in progress).
    pub(crate) fn at_frame_boundary(&self) -> bool {
        self.0.as_ref().is_none_or(|p| p.rx.at_frame_boundary())
    }

    /// Part of a frame header is held; the rest is due.
    pub(crate) fn in_frame_header(&self) -> bool {
        self.0.as_ref().is_some_and(|p| p.rx.in_frame_header())
    }

    /// Lend out the message buffer for a direct receive of at most `max`
    /// bytes: the buffer (room reserved) and how many bytes to receive.
    pub(crate) fn take_direct(&mut self, max: usize) -> Option<(Vec<u8>, usize)> {
        self.0.as_mut()?.rx.take_direct(max)
    }

    /// Give back a buffer from [`Rx::take_direct`] with nothing received.
    pub(crate) fn restore_direct(&mut self, buf: Vec<u8>) {
        if let Some(p) = &mut self.0 {
            // No new bytes: no event, the message buffer is simply back.
            drop(p.rx.feed_direct(buf, 0));
        }
    }

    /// Process `input` (received at `now_ms`), calling `f` per event until
    /// it returns `false` or the input is used up. Returns how many bytes at
    /// the end of the input were not processed (non-zero only when `f`
    /// stopped early; they were not touched, so they can be fed later).
    pub(crate) fn feed(
        &mut self,
        cfg: &RxConfig,
        now_ms: u64,
        input: Input<'_>,
        mut f: impl FnMut(RxEvent<'_>) -> Flow,
    ) -> usize {
        // Whether a data message completed: what is left began now.
        let mut completed = false;
        let g = |ev: RxEvent<'_>| {
            if matches!(ev, RxEvent::Message(..) | RxEvent::Compressed(..)) {
                completed = true;
            }
            f(ev)
        };
        match &mut self.0 {
            Some(p) => {
                let rest = Self::run(&mut p.rx, input, g);
                // A finished receiver (close or error seen) is kept: a fresh
                // one would accept frames again.
                if p.rx.is_idle() && !p.rx.is_finished() {
                    self.0 = None;
                } else if completed {
                    p.since_ms = now_ms;
                }
                rest
            }
            // A lent buffer comes back only to the receiver that lent it,
            // which is kept (it is mid-frame): nothing to do without one.
            None if matches!(input, Input::Direct(..)) => 0,
            None => {
                let mut rx = Receiver::new(config(cfg));
                let rest = Self::run(&mut rx, input, g);
                if !rx.is_idle() || rx.is_finished() {
                    self.0 = Some(Box::new(Partial {
                        rx,
                        since_ms: now_ms,
                    }));
                }
                rest
            }
        }
    }

    fn run(rx: &mut Receiver, input: Input<'_>, mut f: impl FnMut(RxEvent<'_>) -> Flow) -> usize {
        // A message outside the fed buffer was assembled by the codec.
        let (mut feed, lo, hi) = match input {
            Input::Bytes(data) => {
                let fed = data.as_ptr_range();
                let (lo, hi) = (fed.start as usize, fed.end as usize);
                (rx.feed(data), lo, hi)
            }
            Input::Direct(buf, n) => (rx.feed_direct(buf, n), 0, 0),
        };
        let lent = |m: &[u8]| {
            let addr = m.as_ptr() as usize;
            (!(m.is_empty() || (lo <= addr && addr < hi))).then_some(Lent { addr, len: m.len() })
        };
        while let Some(ev) = feed.next_event() {
            let mut flow = match ev {
                Ok(Event::Text(t)) => {
                    let l = lent(t.as_bytes());
                    f(RxEvent::Message(Message::Text(t), l))
                }
                Ok(Event::Binary(b)) => {
                    let l = lent(b);
                    f(RxEvent::Message(Message::Binary(b), l))
                }
                Ok(Event::Ping(p)) => f(RxEvent::Ping(p)),
                Ok(Event::Pong(_)) => f(RxEvent::Pong),
                Ok(Event::Close(c)) => match c {
                    Some((code, reason)) => f(RxEvent::Close(Some(code), reason)),
                    None => f(RxEvent::Close(None, "")),
                },
                // Only when negotiated (the codec refuses RSV1 otherwise).
                Ok(Event::Compressed { text, payload }) => f(RxEvent::Compressed(text, payload)),
                Err(e) => f(RxEvent::Error(e)),
            };
            if flow == Flow::Take {
                flow = f(RxEvent::Taken(feed.take_message()));
            }
            if flow != Flow::Go {
                break;
            }
        }
        feed.unprocessed()
    }
}
