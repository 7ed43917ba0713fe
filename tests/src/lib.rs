//! # ringws-conformance: an Autobahn-style fuzzing client
//!
//! Connects to any WebSocket echo server and plays numbered cases with
//! Autobahn's numbering (chapters 1–7, 9, 10; 12–13 are reserved for
//! permessage-deflate). Each case writes frames byte for byte, broken ones
//! included, in chosen chops and with chosen pauses, records what comes back
//! (messages, pings, pongs, close code, who closed, clean or not, timings),
//! and earns a verdict: OK, NON-STRICT, INFORMATIONAL, UNIMPLEMENTED or FAILED.
//!
//! ```text
//!  cases::all() ──► select ──► runner (pool; chapter 9 alone)
//!                                │ per case: client::run_script
//!                                │   handshake ─► writer (script steps) ─► server
//!                                │   reader thread ◄─ frames, pings, close
//!                                ▼
//!                  verdict::judge ──► report (JSON, Markdown)
//! ```
//!
//! The runner shares no code with ringws' codec on purpose: a conformance
//! runner built on the server's codec would share its bugs.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod case;
mod cases;
mod client;
mod frame;
mod handshake;
mod report;
mod runner;
mod select;
mod verdict;

// ---- The public interface ------------------------------------------------
pub use case::{Case, CaseId, Chop, Event, Expect, ExpectClose, Script, Step};
pub use cases::{all as all_cases, chapter_title, hex, CHAPTERS};
pub use client::{run_script, Trace};
pub use frame::{apply_mask, op, parse_server_frame, random_mask, Frame, ServerFrame};
pub use handshake::{accept_key, connect, HandshakeResponse, Target};
pub use report::{render_markdown, CaseResult, EventSummary, Report};
pub use runner::{run, run_case, RunOptions};
pub use select::{select, Selection};
pub use verdict::{judge, Judgement, Observed, Verdict};
