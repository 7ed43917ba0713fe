//! Results: one record per case (with a summarised trace), the JSON report,
//! and the Markdown rendering of one or more reports side by side.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::case::{Case, CaseId, Event};
use crate::cases::chapter_title;
use crate::client::Trace;
use crate::verdict::{Judgement, Verdict};

/// Events kept in a result; longer traces keep the first ones and a count.
const MAX_EVENTS: usize = 20;
/// Payload bytes shown per event.
const HEAD: usize = 32;

/// One received event, summarised (chapter 9 payloads are megabytes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventSummary {
    /// `message`, `ping`, `pong` or `timeout`.
    pub kind: String,
    /// For messages: binary or text.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub binary: Option<bool>,
    /// Payload length.
    pub len: usize,
    /// The first bytes: text if UTF-8, else hex.
    pub head: String,
    /// Arrival time after the script started, ms.
    pub at_ms: f64,
}

impl EventSummary {
    fn new(e: &Event, at_ms: f64) -> Self {
        let (kind, binary, payload): (&str, Option<bool>, &[u8]) = match e {
            Event::Message { binary, payload } => ("message", Some(*binary), payload),
            Event::Ping(p) => ("ping", None, p),
            Event::Pong(p) => ("pong", None, p),
            Event::Timeout(name) => ("timeout", None, name.as_bytes()),
        };
        let head = &payload[..payload.len().min(HEAD)];
        let head = match std::str::from_utf8(head) {
            Ok(s) => s.to_string(),
            Err(_) => format!("0x{}", crate::cases::hex(head)),
        };
        EventSummary {
            kind: kind.into(),
            binary,
            len: payload.len(),
            head,
            at_ms,
        }
    }
}

/// The result of one case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseResult {
    /// Case number, e.g. `6.4.1`.
    pub id: String,
    /// What the case sends.
    pub description: String,
    /// What it expects.
    pub expectation: String,
    /// Overall verdict.
    pub verdict: Verdict,
    /// Verdict from the events alone.
    pub behavior: Verdict,
    /// Autobahn's close label.
    pub close_behavior: String,
    /// Why.
    pub reason: String,
    /// Close code the server sent (None: no close frame or empty payload).
    pub close_code: Option<u16>,
    /// Close reason the server sent.
    #[serde(default)]
    pub close_reason: String,
    /// Who closed first: client, server, nobody.
    pub closed_by: String,
    /// Close frames went both ways.
    pub clean: bool,
    /// The server closed the TCP connection (rather than the client dropping it).
    pub server_closed_tcp: bool,
    /// Handshake time, ms.
    pub handshake_ms: Option<f64>,
    /// Time until the expected events had all arrived, ms.
    pub matched_ms: Option<f64>,
    /// Whole case, ms.
    pub duration_ms: f64,
    /// Number of events received.
    pub events_total: usize,
    /// The first events (none for OK results: they are the expected ones).
    pub events: Vec<EventSummary>,
    /// Anything unusual.
    #[serde(default)]
    pub notes: Vec<String>,
}

impl CaseResult {
    /// Builds the record from a case, its judgement and its trace.
    pub fn new(case: &Case, j: Judgement, t: &Trace) -> Self {
        // An OK result received exactly what the case expects: listing it
        // again would only bloat the JSON.
        let keep = if j.verdict == Verdict::Ok {
            0
        } else {
            MAX_EVENTS
        };
        let events = t
            .observed
            .events
            .iter()
            .zip(&t.event_ms)
            .take(keep)
            .map(|(e, at)| EventSummary::new(e, *at))
            .collect();
        CaseResult {
            id: case.id.to_string(),
            description: case.description.clone(),
            expectation: case.expectation.clone(),
            verdict: j.verdict,
            behavior: j.behavior,
            close_behavior: j.close_behavior.to_string(),
            reason: j.reason,
            close_code: t.observed.close_code,
            close_reason: t.close_reason.clone(),
            closed_by: t.closed_by.to_string(),
            clean: t.observed.clean,
            server_closed_tcp: t.server_closed_tcp,
            handshake_ms: t.handshake_ms,
            matched_ms: t.matched_ms,
            duration_ms: t.duration_ms,
            events_total: t.observed.events.len(),
            events,
            notes: t.notes.clone(),
        }
    }
    /// How the connection ended, in words: events received, who closed, how.
    pub fn ending(&self) -> String {
        let how = match (self.closed_by.as_str(), self.close_code, self.clean) {
            ("server", Some(c), _) => format!("server sent close {c}"),
            ("server", None, true) => "server sent an empty close".to_string(),
            ("server", None, false) => "server dropped TCP without a close frame".to_string(),
            ("client", Some(c), _) => format!("client closed, server answered {c}"),
            ("client", None, true) => {
                "client closed, server answered with an empty close".to_string()
            }
            ("client", None, false) => "client closed, server dropped TCP".to_string(),
            _ => "nobody closed".to_string(),
        };
        format!("{} events received; {how}", self.events_total)
    }
    /// The parsed case number (for sorting).
    pub fn case_id(&self) -> CaseId {
        CaseId::parse(&self.id).unwrap_or(CaseId(vec![u32::MAX]))
    }
}

/// A run against one server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Name shown in tables.
    pub agent: String,
    /// URL tested.
    pub url: String,
    /// Runner name and version.
    pub runner: String,
    /// Wall time of the run, ms.
    pub duration_ms: f64,
    /// Cases left out by `--max-size`.
    #[serde(default)]
    pub skipped_by_size: usize,
    /// The `--max-size` in force, if any.
    #[serde(default)]
    pub max_size: Option<usize>,
    /// Results sorted by case number.
    pub results: Vec<CaseResult>,
}

impl Report {
    /// How many results have each verdict.
    pub fn counts(&self) -> BTreeMap<Verdict, usize> {
        let mut m = BTreeMap::new();
        for r in &self.results {
            *m.entry(r.verdict).or_insert(0) += 1;
        }
        m
    }
    /// Results that FAILED.
    pub fn failed(&self) -> impl Iterator<Item = &CaseResult> {
        self.results.iter().filter(|r| r.verdict == Verdict::Failed)
    }
    /// JSON with one result per line (compact, yet diffs stay readable).
    pub fn to_json(&self) -> String {
        let head = Report {
            results: Vec::new(),
            ..self.clone()
        };
        let head = serde_json::to_string(&head).unwrap_or_default();
        let lines: Vec<String> = self
            .results
            .iter()
            .map(|r| serde_json::to_string(r).unwrap_or_default())
            .collect();
        let body = format!("\"results\":[\n{}\n]}}\n", lines.join(",\n"));
        match head.strip_suffix("\"results\":[]}") {
            Some(prefix) => format!("{prefix}{body}"),
            None => serde_json::to_string_pretty(self).unwrap_or_default(),
        }
    }
    /// Parses a report written by [`Report::to_json`].
    pub fn from_json(s: &str) -> Result<Self, String> {
        serde_json::from_str(s).map_err(|e| e.to_string())
    }
}

fn cell_text(s: &str, max: usize) -> String {
    let s = s.replace('|', "\\|").replace('\n', " ");
    if s.chars().count() > max {
        let cut: String = s.chars().take(max - 1).collect();
        format!("{cut}…")
    } else {
        s
    }
}

fn cell(r: Option<&CaseResult>) -> String {
    let Some(r) = r else { return "–".into() };
    let mut s = r.verdict.as_str().to_string();
    if let Some(code) = r.close_code {
        let _ = write!(s, " {code}");
    }
    if r.id.starts_with("9.") {
        if let Some(t) = r.matched_ms {
            let _ = write!(s, " ({t:.0} ms)");
        }
    }
    s
}

/// Renders reports side by side: a summary, the cases where verdicts
/// differ (with each agent's reason), and one table per chapter. `notes` is
/// Markdown inserted after the differences (the hand-written "why").
pub fn render_markdown(reports: &[Report], command: &str, notes: Option<&str>) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# Conformance report\n");
    let _ = writeln!(
        md,
        "Generated by `ringws-conformance` (an Autobahn-style fuzzing client, `tests/`); do not edit by hand. \
         Regenerate with:\n\n```sh\n{command}\n```\n"
    );
    let _ = writeln!(
        md,
        "Verdicts follow Autobahn's rules (see `tests/src/verdict.rs`): OK, NON-STRICT (allowed but not strict, e.g. \
         failing an invalid UTF-8 message only when it is complete, or a wrong close code), INFORMATIONAL \
         (the spec leaves it open), UNIMPLEMENTED, FAILED. A cell shows the verdict and the close code the \
         server sent; chapter 9 cells add the time until the echo was complete.\n"
    );
    let _ = writeln!(md, "## Summary\n");
    let _ = write!(md, "| agent | URL | cases |");
    for v in Verdict::ALL {
        let _ = write!(md, " {v} |");
    }
    let _ = writeln!(md, " run time |\n|---|---|---|---|---|---|---|---|---|");
    for r in reports {
        let c = r.counts();
        let _ = write!(md, "| {} | `{}` | {} |", r.agent, r.url, r.results.len());
        for v in Verdict::ALL {
            let _ = write!(md, " {} |", c.get(&v).copied().unwrap_or(0));
        }
        let _ = writeln!(md, " {:.1} s |", r.duration_ms / 1e3);
    }
    let limits: Vec<String> = reports
        .iter()
        .filter_map(|r| {
            r.max_size.filter(|_| r.skipped_by_size > 0).map(|m| {
                format!(
                    "{}: `--max-size {m}` left out {} chapter 9 cases",
                    r.agent, r.skipped_by_size
                )
            })
        })
        .collect();
    if !limits.is_empty() {
        let _ = writeln!(md, "\n{}.", limits.join("; "));
    }

    // Union of case ids in order.
    let mut ids: Vec<(CaseId, String, String)> = Vec::new();
    for r in reports {
        for c in &r.results {
            if !ids.iter().any(|(_, id, _)| *id == c.id) {
                ids.push((c.case_id(), c.id.clone(), c.description.clone()));
            }
        }
    }
    ids.sort();
    let find = |r: &Report, id: &str| r.results.iter().find(|c| c.id == id).cloned();

    if reports.len() > 1 {
        let _ = writeln!(md, "\n## Where the agents differ\n");
        let _ = write!(md, "| case |");
        for r in reports {
            let _ = write!(md, " {} |", r.agent);
        }
        let _ = writeln!(md, " why |");
        let _ = writeln!(md, "|---|{}---|", "---|".repeat(reports.len()));
        let mut any = false;
        for (_, id, _) in &ids {
            let rs: Vec<Option<CaseResult>> = reports.iter().map(|r| find(r, id)).collect();
            let verdicts: Vec<Option<Verdict>> =
                rs.iter().map(|r| r.as_ref().map(|r| r.verdict)).collect();
            if verdicts.iter().all(|v| *v == verdicts[0]) {
                continue;
            }
            any = true;
            let best = verdicts.iter().flatten().min().copied();
            let why: Vec<String> = reports
                .iter()
                .zip(&rs)
                .filter_map(|(rep, r)| {
                    let r = r.as_ref()?;
                    (Some(r.verdict) != best)
                        .then(|| format!("{}: {} ({})", rep.agent, r.reason, r.ending()))
                })
                .collect();
            let _ = write!(md, "| {id} |");
            for r in &rs {
                let _ = write!(md, " {} |", cell(r.as_ref()));
            }
            let _ = writeln!(md, " {} |", cell_text(&why.join("; "), 400));
        }
        if !any {
            let _ = writeln!(md, "| – | {} no differences |", "| ".repeat(reports.len()));
        }
    }
    if let Some(notes) = notes {
        let _ = writeln!(md, "\n{}", notes.trim_end());
    }

    let mut chapter = None;
    for (cid, id, desc) in &ids {
        if chapter != Some(cid.chapter()) {
            chapter = Some(cid.chapter());
            let _ = writeln!(
                md,
                "\n## {} {}\n",
                cid.chapter(),
                chapter_title(cid.chapter())
            );
            let _ = write!(md, "| case | description |");
            for r in reports {
                let _ = write!(md, " {} |", r.agent);
            }
            let _ = writeln!(md, "\n|---|---|{}", "---|".repeat(reports.len()));
        }
        let _ = write!(md, "| {id} | {} |", cell_text(desc, 110));
        for r in reports {
            let _ = write!(md, " {} |", cell(find(r, id).as_ref()));
        }
        let _ = writeln!(md);
    }
    let failed: Vec<String> = reports
        .iter()
        .flat_map(|r| {
            r.failed()
                .map(move |c| format!("- {} {}: {}", r.agent, c.id, c.reason))
        })
        .collect();
    if !failed.is_empty() {
        let _ = writeln!(md, "\n## FAILED cases\n\n{}", failed.join("\n"));
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trip_one_result_per_line() {
        let r = CaseResult {
            id: "6.4.1".into(),
            description: "d".into(),
            expectation: "e".into(),
            verdict: Verdict::NonStrict,
            behavior: Verdict::NonStrict,
            close_behavior: "OK".into(),
            reason: "r".into(),
            close_code: Some(1007),
            close_reason: String::new(),
            closed_by: "server".into(),
            clean: true,
            server_closed_tcp: true,
            handshake_ms: Some(0.1),
            matched_ms: None,
            duration_ms: 2000.0,
            events_total: 1,
            events: vec![EventSummary::new(&Event::Timeout("A".into()), 1000.0)],
            notes: vec![],
        };
        let report = Report {
            agent: "x".into(),
            url: "ws://h:1/".into(),
            runner: "t".into(),
            duration_ms: 1.0,
            skipped_by_size: 0,
            max_size: None,
            results: vec![
                r.clone(),
                CaseResult {
                    id: "1.1.1".into(),
                    ..r
                },
            ],
        };
        let json = report.to_json();
        assert_eq!(json.lines().count(), 4, "{json}");
        assert_eq!(Report::from_json(&json).unwrap(), report);
        let md = render_markdown(&[report.clone(), report], "cmd", Some("## Notes"));
        assert!(
            md.contains("| 6.4.1 | d | NON-STRICT 1007 | NON-STRICT 1007 |"),
            "{md}"
        );
        assert!(md.contains("## Notes"));
    }
}
