//! Runs selected cases against a server: small cases concurrently on a small
//! pool, large ones (chapter 9) alone so their timings mean something.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use crate::case::Case;
use crate::client::run_script;
use crate::handshake::Target;
use crate::report::{CaseResult, Report};
use crate::verdict::judge;

/// How to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Bound on each wait inside a case (large cases get more, see [`Case::large`]).
    pub timeout: Duration,
    /// Cases running at once (large cases always run alone).
    pub jobs: usize,
    /// Print one line per case to stderr.
    pub progress: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            timeout: Duration::from_secs(2),
            jobs: 8,
            progress: false,
        }
    }
}

/// Runs one case and judges it.
pub fn run_case(target: &Target, case: &Case, timeout: Duration) -> CaseResult {
    let script = case.script();
    let trace = run_script(target, &script, timeout + case.extra_time);
    let judgement = judge(&script.expect, &trace.observed);
    CaseResult::new(case, judgement, &trace)
}

/// Runs `cases` against `target` and collects a report for `agent`.
pub fn run(agent: &str, url: &str, cases: &[Case], opts: &RunOptions) -> Result<Report, String> {
    let target = Target::parse(url)?;
    let started = Instant::now();
    let (alone, pooled): (Vec<&Case>, Vec<&Case>) = cases.iter().partition(|c| c.exclusive);
    let results = Mutex::new(Vec::with_capacity(cases.len()));
    let next = AtomicUsize::new(0);
    let record = |r: CaseResult| {
        if opts.progress {
            eprintln!(
                "{:<8} {:<13} {:>8.1} ms  {}",
                r.id,
                r.verdict.as_str(),
                r.duration_ms,
                r.reason
            );
        }
        results.lock().unwrap_or_else(|p| p.into_inner()).push(r);
    };
    thread::scope(|s| {
        for _ in 0..opts.jobs.max(1).min(pooled.len().max(1)) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(case) = pooled.get(i) else { break };
                record(run_case(&target, case, opts.timeout));
            });
        }
    });
    for case in alone {
        record(run_case(&target, case, opts.timeout));
    }
    let mut results = results.into_inner().unwrap_or_else(|p| p.into_inner());
    results.sort_by_key(CaseResult::case_id);
    Ok(Report {
        agent: agent.to_string(),
        url: url.to_string(),
        runner: format!("ringws-conformance {}", env!("CARGO_PKG_VERSION")),
        duration_ms: started.elapsed().as_secs_f64() * 1e3,
        skipped_by_size: 0,
        max_size: None,
        results,
    })
}
