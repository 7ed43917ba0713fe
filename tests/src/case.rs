//! The case model: what a case sends (frames, chopping, delays), and what it
//! expects back (events and how the connection must end).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::frame::Frame;
use crate::verdict::Verdict;

/// A case number such as `6.4.1`, compared numerically.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CaseId(pub Vec<u32>);

impl CaseId {
    /// Parses `"6.4.1"`.
    pub fn parse(s: &str) -> Option<Self> {
        s.split('.')
            .map(|p| p.parse().ok())
            .collect::<Option<Vec<u32>>>()
            .filter(|v| !v.is_empty())
            .map(CaseId)
    }
    /// The chapter (first number).
    pub fn chapter(&self) -> u32 {
        self.0[0]
    }
}

impl fmt::Display for CaseId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.0.iter().map(u32::to_string).collect();
        f.write_str(&parts.join("."))
    }
}

/// Something the client observes, compared against the expectation in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A complete data message (fragments reassembled).
    Message {
        /// Binary (true) or text (false).
        binary: bool,
        /// The payload.
        payload: Vec<u8>,
    },
    /// A ping from the server.
    Ping(Vec<u8>),
    /// A pong from the server.
    Pong(Vec<u8>),
    /// A named wait that ended with the connection still open (Autobahn's
    /// `("timeout", "A")` markers in 6.4.x).
    Timeout(String),
}

impl Event {
    /// A text message event.
    pub fn text(p: impl Into<Vec<u8>>) -> Self {
        Event::Message {
            binary: false,
            payload: p.into(),
        }
    }
    /// A binary message event.
    pub fn binary(p: impl Into<Vec<u8>>) -> Self {
        Event::Message {
            binary: true,
            payload: p.into(),
        }
    }
}

/// How bytes of one write are cut into `write` calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chop {
    /// One write.
    Whole,
    /// Writes of at most `size` bytes with `delay` between them.
    Every {
        /// Bytes per write.
        size: usize,
        /// Pause between writes.
        delay: Duration,
    },
}

/// One step of a case's script.
#[derive(Debug, Clone)]
pub enum Step {
    /// Write bytes (already masked frames) as chopped.
    Send {
        /// Wire bytes.
        bytes: Vec<u8>,
        /// How to cut them.
        chop: Chop,
        /// The bytes contain our close frame: from now on we are closing.
        closes: bool,
    },
    /// Sleep.
    Pause(Duration),
    /// Record [`Event::Timeout`] if the connection is still open.
    Marker(String),
    /// Send `frame` `count` times, each after the previous echo arrived
    /// (chapter 9.7/9.8 round trips).
    RoundTrips {
        /// The message frame.
        frame: Frame,
        /// How many times.
        count: usize,
    },
}

/// How the connection must end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectClose {
    /// The client starts the closing handshake (true) or the server fails or
    /// closes the connection (false).
    pub closed_by_me: bool,
    /// Close codes accepted from the server (an empty close payload is always accepted).
    pub codes: Vec<u16>,
    /// Both close frames must have been exchanged.
    pub require_clean: bool,
}

/// What a case expects: event sequences with the verdict each earns (first
/// match wins), how the connection ends, and verdict overrides.
#[derive(Debug, Clone)]
pub struct Expect {
    /// `(verdict, events)` in order of preference.
    pub outcomes: Vec<(Verdict, Vec<Event>)>,
    /// The closing expectation.
    pub close: ExpectClose,
    /// The spec leaves the outcome open: report INFORMATIONAL whatever happens.
    pub informational: bool,
    /// A close code outside [`ExpectClose::codes`] fails the case (7.7.x, 7.9.x)
    /// instead of making it NON-STRICT.
    pub wrong_code_fatal: bool,
    /// `Sec-WebSocket-Extensions` offer sent in the handshake; a server that
    /// does not accept an extension of that name earns UNIMPLEMENTED (the
    /// hook chapters 12–13, permessage-deflate, will use).
    pub extension_offer: Option<String>,
}

/// The steps and expectation of a case, built only when the case runs (the
/// chapter 9 payloads are large).
#[derive(Debug, Clone)]
pub struct Script {
    /// Steps in order.
    pub steps: Vec<Step>,
    /// The expectation.
    pub expect: Expect,
}

/// Pause between octet-wise chops: long enough that the server sees
/// separate reads on loopback, short enough for 1-byte chops of 65 KiB.
pub const CHOP_DELAY: Duration = Duration::from_millis(1);

impl Script {
    /// An empty script expecting nothing and a clean client-initiated close
    /// with 1000.
    pub fn new() -> Self {
        Script {
            steps: Vec::new(),
            expect: Expect {
                outcomes: Vec::new(),
                close: ExpectClose {
                    closed_by_me: true,
                    codes: vec![1000],
                    require_clean: true,
                },
                informational: false,
                wrong_code_fatal: false,
                extension_offer: None,
            },
        }
    }

    fn push_send(&mut self, frames: &[Frame], chop: Chop, closes: bool) {
        let mut bytes = Vec::new();
        for f in frames {
            f.encode(crate::frame::random_mask(), &mut bytes);
        }
        self.steps.push(Step::Send {
            bytes,
            chop,
            closes,
        });
    }

    /// All frames in one write (Autobahn's frames sent in one reactor turn).
    pub fn send(mut self, frames: impl IntoIterator<Item = Frame>) -> Self {
        let frames: Vec<Frame> = frames.into_iter().collect();
        self.push_send(&frames, Chop::Whole, false);
        self
    }
    /// One write per frame ("frame-wise", Autobahn's `sync = True`).
    pub fn send_each(mut self, frames: impl IntoIterator<Item = Frame>) -> Self {
        for f in frames {
            self.push_send(&[f], Chop::Whole, false);
            self.steps.push(Step::Pause(CHOP_DELAY));
        }
        self
    }
    /// All frames cut into writes of `size` bytes ("octet-wise" for 1).
    pub fn send_chopped(mut self, frames: impl IntoIterator<Item = Frame>, size: usize) -> Self {
        let frames: Vec<Frame> = frames.into_iter().collect();
        let delay = if size < 64 {
            CHOP_DELAY
        } else {
            Duration::ZERO
        };
        self.push_send(&frames, Chop::Every { size, delay }, false);
        self
    }
    /// Frames that end with our close frame: marks the client as closing.
    pub fn send_close(mut self, frames: impl IntoIterator<Item = Frame>) -> Self {
        let frames: Vec<Frame> = frames.into_iter().collect();
        self.push_send(&frames, Chop::Whole, true);
        self
    }
    /// Raw bytes in one write (e.g. part of a frame).
    pub fn raw(mut self, bytes: Vec<u8>) -> Self {
        self.steps.push(Step::Send {
            bytes,
            chop: Chop::Whole,
            closes: false,
        });
        self
    }
    /// A pause.
    pub fn pause(mut self, d: Duration) -> Self {
        self.steps.push(Step::Pause(d));
        self
    }
    /// A timeout marker (see [`Event::Timeout`]).
    pub fn marker(mut self, name: &str) -> Self {
        self.steps.push(Step::Marker(name.into()));
        self
    }
    /// Round trips (see [`Step::RoundTrips`]).
    pub fn round_trips(mut self, frame: Frame, count: usize) -> Self {
        self.steps.push(Step::RoundTrips { frame, count });
        self
    }
    /// Events that earn OK.
    pub fn expect(mut self, events: impl IntoIterator<Item = Event>) -> Self {
        self.expect
            .outcomes
            .push((Verdict::Ok, events.into_iter().collect()));
        self
    }
    /// Events that earn NON-STRICT.
    pub fn or_non_strict(mut self, events: impl IntoIterator<Item = Event>) -> Self {
        self.expect
            .outcomes
            .push((Verdict::NonStrict, events.into_iter().collect()));
        self
    }
    /// The server must fail the connection (close frame with one of `codes`,
    /// or dropping TCP).
    pub fn server_fails(mut self, codes: &[u16]) -> Self {
        self.expect.close = ExpectClose {
            closed_by_me: false,
            codes: codes.to_vec(),
            require_clean: false,
        };
        self
    }
    /// We close; the server must answer with one of `codes`, cleanly if `clean`.
    pub fn client_closes(mut self, codes: &[u16], clean: bool) -> Self {
        self.expect.close = ExpectClose {
            closed_by_me: true,
            codes: codes.to_vec(),
            require_clean: clean,
        };
        self
    }
    /// Marks the case INFORMATIONAL.
    pub fn informational(mut self) -> Self {
        self.expect.informational = true;
        self
    }
    /// Offers an extension (e.g. `permessage-deflate; client_max_window_bits`):
    /// the case is UNIMPLEMENTED unless the server accepts it.
    pub fn offer_extension(mut self, offer: &str) -> Self {
        self.expect.extension_offer = Some(offer.to_string());
        self
    }
    /// Makes a wrong close code fatal.
    pub fn wrong_code_fatal(mut self) -> Self {
        self.expect.wrong_code_fatal = true;
        self
    }
}

impl Default for Script {
    fn default() -> Self {
        Self::new()
    }
}

/// A numbered case: text for the report, and a script builder.
#[derive(Clone)]
pub struct Case {
    /// Its number.
    pub id: CaseId,
    /// What it sends.
    pub description: String,
    /// What it expects.
    pub expectation: String,
    /// Largest message it sends, for `--max-size` (0 when small).
    pub size: usize,
    /// Run alone, not beside other cases (timings are recorded).
    pub exclusive: bool,
    /// Extra time this case may need beyond the runner's timeout.
    pub extra_time: Duration,
    build: Arc<dyn Fn() -> Script + Send + Sync>,
}

impl fmt::Debug for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Case")
            .field("id", &self.id.to_string())
            .field("description", &self.description)
            .finish()
    }
}

impl Case {
    /// A case numbered `id` (e.g. `&[6, 4, 1]`).
    pub fn new(
        id: &[u32],
        description: impl Into<String>,
        expectation: impl Into<String>,
        build: impl Fn() -> Script + Send + Sync + 'static,
    ) -> Self {
        Case {
            id: CaseId(id.to_vec()),
            description: description.into(),
            expectation: expectation.into(),
            size: 0,
            exclusive: false,
            extra_time: Duration::ZERO,
            build: Arc::new(build),
        }
    }
    /// Declares a large payload: run alone, with time to move `size` bytes.
    pub fn large(mut self, size: usize) -> Self {
        self.size = size;
        self.exclusive = true;
        // Generous for debug-built servers: 2 MiB/s each way plus slack.
        self.extra_time = Duration::from_secs(5) + Duration::from_millis((size >> 10) as u64);
        self
    }
    /// Builds the script.
    pub fn script(&self) -> Script {
        (self.build)()
    }
}

/// Repeats `pattern` to exactly `len` bytes.
pub fn repeat(pattern: &[u8], len: usize) -> Vec<u8> {
    pattern.iter().copied().cycle().take(len).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_print_and_order() {
        let mut ids: Vec<CaseId> = ["10.1.1", "9.1.1", "6.10.1", "6.4.1", "1.1.8"]
            .iter()
            .map(|s| CaseId::parse(s).unwrap())
            .collect();
        ids.sort();
        let shown: Vec<String> = ids.iter().map(|i| i.to_string()).collect();
        assert_eq!(shown, ["1.1.8", "6.4.1", "6.10.1", "9.1.1", "10.1.1"]);
        assert_eq!(CaseId::parse("x.1"), None);
        assert_eq!(CaseId::parse(""), None);
    }

    #[test]
    fn script_steps() {
        let s = Script::new()
            .send_each([Frame::text("a"), Frame::text("b")])
            .send_chopped([Frame::text("abc")], 1);
        assert_eq!(s.steps.len(), 5);
        match &s.steps[4] {
            Step::Send { bytes, chop, .. } => {
                assert_eq!(bytes.len(), 9);
                assert!(matches!(chop, Chop::Every { size: 1, .. }));
            }
            other => panic!("{other:?}"),
        }
    }
}
