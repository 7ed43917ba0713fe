//! Verdicts, and the rules that turn an observed trace into one.
//!
//! The rules follow Autobahn's `Case.onConnectionLost`: the received events
//! must equal one of the expected sequences (OK or NON-STRICT), and the close
//! must come from the expected side, be clean when required, and carry an
//! expected code. Where Autobahn only *labels* the close (`WRONG CODE`,
//! `UNCLEAN`, `FAILED BY CLIENT`), this runner folds it into one verdict:
//! wrong endpoint, a missing required clean close, or a server that never
//! fails a connection it must fail are FAILED; a wrong code is NON-STRICT
//! (FAILED in 7.7.x/7.9.x, as Autobahn forces there); a server that answers
//! the close but leaves the TCP connection for the client to drop is NON-STRICT
//! (RFC 6455 section 7.1.1: the server SHOULD close first).

use serde::{Deserialize, Serialize};
use std::fmt;

use crate::case::{Event, Expect};

/// Autobahn's verdicts, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Verdict {
    /// As the spec says.
    #[serde(rename = "OK")]
    Ok,
    /// Allowed, but not the strictest reading (e.g. failing late).
    #[serde(rename = "NON-STRICT")]
    NonStrict,
    /// The spec leaves the outcome open; recorded for information.
    #[serde(rename = "INFORMATIONAL")]
    Informational,
    /// The server does not offer the feature under test.
    #[serde(rename = "UNIMPLEMENTED")]
    Unimplemented,
    /// Against the spec.
    #[serde(rename = "FAILED")]
    Failed,
}

impl Verdict {
    /// All verdicts in report order.
    pub const ALL: [Verdict; 5] = [
        Verdict::Ok,
        Verdict::NonStrict,
        Verdict::Informational,
        Verdict::Unimplemented,
        Verdict::Failed,
    ];
    /// Autobahn's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Ok => "OK",
            Verdict::NonStrict => "NON-STRICT",
            Verdict::Informational => "INFORMATIONAL",
            Verdict::Unimplemented => "UNIMPLEMENTED",
            Verdict::Failed => "FAILED",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the client saw, as far as the verdict needs it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observed {
    /// Events in arrival order.
    pub events: Vec<Event>,
    /// We sent the first close frame (before receiving one or seeing EOF).
    pub closed_by_me: bool,
    /// The server sent a close frame.
    pub server_sent_close: bool,
    /// Close code from the server's close frame (None: none, or empty payload).
    pub close_code: Option<u16>,
    /// Close frames went both ways.
    pub clean: bool,
    /// The client had to drop the TCP connection at the deadline.
    pub dropped_by_me: bool,
    /// The case offered an extension the server did not accept.
    pub extension_declined: bool,
}

/// A verdict with the reasons behind it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Judgement {
    /// Overall verdict.
    pub verdict: Verdict,
    /// Verdict from the events alone.
    pub behavior: Verdict,
    /// Autobahn's close label: OK, FAILED, UNCLEAN, WRONG CODE, FAILED BY CLIENT.
    pub close_behavior: &'static str,
    /// One line saying why.
    pub reason: String,
}

/// Applies the rules in the module doc.
pub fn judge(expect: &Expect, seen: &Observed) -> Judgement {
    if seen.extension_declined {
        return Judgement {
            verdict: Verdict::Unimplemented,
            behavior: Verdict::Unimplemented,
            close_behavior: "OK",
            reason: format!(
                "the server declined the extension offer {:?}",
                expect.extension_offer.as_deref().unwrap_or_default()
            ),
        };
    }
    let matched = expect
        .outcomes
        .iter()
        .find(|(_, events)| *events == seen.events);
    let behavior = matched.map(|(v, _)| *v).unwrap_or(Verdict::Failed);
    let mut reason = match matched {
        Some((Verdict::Ok, _)) => "events as expected".to_string(),
        Some((v, _)) => format!("events match the {v} expectation"),
        None => format!(
            "events differ from every expectation (got {} events)",
            seen.events.len()
        ),
    };
    let close = &expect.close;
    // A server that never reacts leaves the client to drop the connection:
    // that is the wrong endpoint failing it.
    let never_failed = !close.closed_by_me && seen.dropped_by_me && !seen.server_sent_close;
    let (close_behavior, close_verdict, close_reason) = if close.closed_by_me != seen.closed_by_me
        || never_failed
    {
        let why = if close.closed_by_me {
            "the server closed first, the client was expected to".to_string()
        } else if seen.dropped_by_me && !seen.server_sent_close {
            "the server did not fail the connection (client dropped it at the deadline)".to_string()
        } else {
            "the client had to start the close, the server was expected to fail the connection"
                .to_string()
        };
        ("FAILED", Verdict::Failed, Some(why))
    } else if close.require_clean && !seen.clean {
        (
            "UNCLEAN",
            Verdict::Failed,
            Some("no clean closing handshake".to_string()),
        )
    } else if let Some(code) = seen.close_code.filter(|c| !close.codes.contains(c)) {
        let why = format!("close code {code}, expected {:?}", close.codes);
        let v = if expect.wrong_code_fatal {
            Verdict::Failed
        } else {
            Verdict::NonStrict
        };
        ("WRONG CODE", v, Some(why))
    } else if !close.closed_by_me && seen.dropped_by_me {
        // Expected the server to fail, it sent close but left TCP open.
        (
            "FAILED BY CLIENT",
            Verdict::NonStrict,
            Some("server did not close the TCP connection".to_string()),
        )
    } else if seen.dropped_by_me {
        (
            "FAILED BY CLIENT",
            Verdict::NonStrict,
            Some("server did not close the TCP connection after the closing handshake".to_string()),
        )
    } else {
        ("OK", Verdict::Ok, None)
    };
    if let Some(why) = close_reason {
        reason = format!("{reason}; {why}");
    }
    let mut verdict = behavior.max(close_verdict);
    if expect.informational {
        verdict = Verdict::Informational;
    }
    Judgement {
        verdict,
        behavior,
        close_behavior,
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::case::{Event, Script};

    fn seen(
        events: Vec<Event>,
        by_me: bool,
        code: Option<u16>,
        clean: bool,
        dropped: bool,
    ) -> Observed {
        Observed {
            events,
            closed_by_me: by_me,
            server_sent_close: code.is_some() || clean,
            close_code: code,
            clean,
            dropped_by_me: dropped,
            extension_declined: false,
        }
    }

    #[test]
    fn verdict_table() {
        let echo = Script::new().expect([Event::text("x")]).expect;
        let fail = Script::new().expect([]).server_fails(&[1002]).expect;
        let fast = Script::new()
            .expect([Event::Timeout("A".into())])
            .or_non_strict([Event::Timeout("A".into()), Event::Timeout("B".into())])
            .server_fails(&[1007])
            .expect;
        let code7 = Script::new()
            .expect([])
            .client_closes(&[1000, 3000], true)
            .wrong_code_fatal()
            .expect;
        let a = || Event::Timeout("A".into());
        let b = || Event::Timeout("B".into());
        let x = || Event::text("x");
        let cases: Vec<(&Expect, Observed, Verdict, &str)> = vec![
            (
                &echo,
                seen(vec![x()], true, Some(1000), true, false),
                Verdict::Ok,
                "OK",
            ),
            (
                &echo,
                seen(vec![], true, Some(1000), true, false),
                Verdict::Failed,
                "OK",
            ),
            (
                &echo,
                seen(vec![x()], true, None, false, true),
                Verdict::Failed,
                "UNCLEAN",
            ),
            (
                &echo,
                seen(vec![x()], true, Some(1000), true, true),
                Verdict::NonStrict,
                "FAILED BY CLIENT",
            ),
            (
                &echo,
                seen(vec![x()], false, Some(1001), true, false),
                Verdict::Failed,
                "FAILED",
            ),
            (
                &fail,
                seen(vec![], false, Some(1002), true, false),
                Verdict::Ok,
                "OK",
            ),
            (
                &fail,
                seen(vec![], false, None, false, false),
                Verdict::Ok,
                "OK",
            ),
            (
                &fail,
                seen(vec![], false, Some(1007), true, false),
                Verdict::NonStrict,
                "WRONG CODE",
            ),
            (
                &fail,
                seen(vec![], false, None, false, true),
                Verdict::Failed,
                "FAILED",
            ),
            (
                &fail,
                seen(vec![x()], false, Some(1002), true, false),
                Verdict::Failed,
                "OK",
            ),
            (
                &fast,
                seen(vec![a()], false, Some(1007), true, false),
                Verdict::Ok,
                "OK",
            ),
            (
                &fast,
                seen(vec![a(), b()], false, Some(1007), true, false),
                Verdict::NonStrict,
                "OK",
            ),
            (
                &fast,
                seen(vec![], false, Some(1007), true, false),
                Verdict::Failed,
                "OK",
            ),
            (
                &code7,
                seen(vec![], true, Some(3000), true, false),
                Verdict::Ok,
                "OK",
            ),
            (
                &code7,
                seen(vec![], true, Some(1002), true, false),
                Verdict::Failed,
                "WRONG CODE",
            ),
        ];
        for (i, (expect, obs, want, close)) in cases.into_iter().enumerate() {
            let j = judge(expect, &obs);
            assert_eq!(
                (j.verdict, j.close_behavior),
                (want, close),
                "row {i}: {}",
                j.reason
            );
        }
        let mut info = Script::new().expect([x()]).informational().expect;
        info.outcomes.clear();
        assert_eq!(
            judge(&info, &seen(vec![], true, Some(1000), true, false)).verdict,
            Verdict::Informational
        );
        let deflate = Script::new()
            .expect([])
            .offer_extension("permessage-deflate")
            .expect;
        let mut declined = seen(vec![], true, Some(1000), true, false);
        declined.extension_declined = true;
        assert_eq!(judge(&deflate, &declined).verdict, Verdict::Unimplemented);
    }
}
