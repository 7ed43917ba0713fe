//! `ringws-conformance`: run the cases against a server, or render reports.
//!
//! ```text
//! ringws-conformance ws://127.0.0.1:9001 [--cases '1.*,2.*'] [--exclude '9.*']
//!     [--agent NAME] [--json out.json] [--markdown out.md] [--notes notes.md]
//!     [--timeout SECS] [--max-size 1M] [--jobs N] [--quiet]
//! ringws-conformance --render docs/conformance.md [--notes notes.md] a.json b.json ...
//! ```
//! Exit status: 0 when nothing FAILED, 1 when a case FAILED, 2 on usage or I/O errors.

use std::process::ExitCode;
use std::time::Duration;

use ringws_conformance::{all_cases, render_markdown, run, select, Report, RunOptions, Selection};

const USAGE: &str = "usage: ringws-conformance URL [--cases LIST] [--exclude LIST] [--agent NAME] \
[--json FILE] [--markdown FILE] [--notes FILE] [--timeout SECS] [--max-size BYTES] [--jobs N] [--quiet] [--list]\n\
       ringws-conformance --render OUT.md [--notes FILE] REPORT.json...";

#[derive(Default)]
struct Cli {
    url: Option<String>,
    cases: Option<String>,
    exclude: Option<String>,
    agent: Option<String>,
    json: Option<String>,
    markdown: Option<String>,
    notes: Option<String>,
    render: Option<String>,
    inputs: Vec<String>,
    timeout: Option<f64>,
    max_size: Option<usize>,
    jobs: Option<usize>,
    quiet: bool,
    list: bool,
}

fn parse_size(s: &str) -> Result<usize, String> {
    let s = s.trim();
    let (num, mult) = match s.char_indices().last() {
        Some((i, 'k' | 'K')) => (&s[..i], 1usize << 10),
        Some((i, 'm' | 'M')) => (&s[..i], 1 << 20),
        _ => (s, 1),
    };
    num.parse::<usize>()
        .map(|n| n * mult)
        .map_err(|e| format!("bad size {s:?}: {e}"))
}

fn parse_args(args: Vec<String>) -> Result<Cli, String> {
    let mut cli = Cli::default();
    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        let (key, inline) = match arg.split_once('=') {
            Some((k, v)) if k.starts_with("--") => (k.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut val = || {
            inline
                .clone()
                .or_else(|| it.next())
                .ok_or(format!("{key} needs a value"))
        };
        match key.as_str() {
            "--cases" => cli.cases = Some(val()?),
            "--exclude" => cli.exclude = Some(val()?),
            "--agent" | "--agent-name" => cli.agent = Some(val()?),
            "--json" => cli.json = Some(val()?),
            "--markdown" => cli.markdown = Some(val()?),
            "--notes" => cli.notes = Some(val()?),
            "--render" => cli.render = Some(val()?),
            "--timeout" => {
                cli.timeout = Some(val()?.parse().map_err(|e| format!("--timeout: {e}"))?)
            }
            "--max-size" => cli.max_size = Some(parse_size(&val()?)?),
            "--jobs" => cli.jobs = Some(val()?.parse().map_err(|e| format!("--jobs: {e}"))?),
            "--quiet" | "-q" => cli.quiet = true,
            "--list" => cli.list = true,
            "--help" | "-h" => return Err(USAGE.into()),
            s if s.starts_with('-') => return Err(format!("unknown option {s}\n{USAGE}")),
            _ if cli.render.is_some() => cli.inputs.push(arg),
            _ if cli.url.is_none() => cli.url = Some(arg),
            _ => cli.inputs.push(arg),
        }
    }
    Ok(cli)
}

fn command_line() -> String {
    // A wrapper script (tests/conformance.sh) names itself instead.
    if let Ok(cmd) = std::env::var("RINGWS_CONFORMANCE_COMMAND") {
        return cmd;
    }
    let mut parts = vec!["cargo run -p ringws-conformance --release --".to_string()];
    for a in std::env::args().skip(1) {
        if a.contains(['*', ' ', ',']) {
            parts.push(format!("'{a}'"));
        } else {
            parts.push(a);
        }
    }
    parts.join(" ")
}

fn read_notes(cli: &Cli) -> Result<Option<String>, String> {
    cli.notes
        .as_ref()
        .map(|p| std::fs::read_to_string(p).map_err(|e| format!("{p}: {e}")))
        .transpose()
}

fn write(path: &str, text: &str) -> Result<(), String> {
    if let Some(dir) = std::path::Path::new(path)
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
    {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    std::fs::write(path, text).map_err(|e| format!("{path}: {e}"))
}

fn main_inner() -> Result<bool, String> {
    let cli = parse_args(std::env::args().skip(1).collect())?;
    let notes = read_notes(&cli)?;
    if let Some(out) = &cli.render {
        if cli.inputs.is_empty() {
            return Err(format!("--render needs report files\n{USAGE}"));
        }
        let reports = cli
            .inputs
            .iter()
            .map(|p| {
                std::fs::read_to_string(p)
                    .map_err(|e| format!("{p}: {e}"))
                    .and_then(|s| Report::from_json(&s).map_err(|e| format!("{p}: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        write(
            out,
            &render_markdown(&reports, &command_line(), notes.as_deref()),
        )?;
        eprintln!("wrote {out}");
        return Ok(reports.iter().all(|r| r.failed().next().is_none()));
    }
    let include = Selection::parse(cli.cases.as_deref().unwrap_or("*"));
    let exclude = cli.exclude.as_deref().map(Selection::parse);
    let max_size = cli.max_size.unwrap_or(usize::MAX);
    let (cases, skipped) = select(all_cases(), &include, exclude.as_ref(), max_size);
    if cli.list {
        for c in &cases {
            println!("{:<8} {}", c.id.to_string(), c.description);
        }
        return Ok(true);
    }
    let url = cli.url.clone().ok_or(USAGE)?;
    if cases.is_empty() {
        return Err("no case matches the selection".into());
    }
    let opts = RunOptions {
        timeout: Duration::from_secs_f64(cli.timeout.unwrap_or(2.0)),
        jobs: cli.jobs.unwrap_or(8),
        progress: !cli.quiet,
    };
    let agent = cli.agent.clone().unwrap_or_else(|| url.clone());
    let mut report = run(&agent, &url, &cases, &opts)?;
    report.skipped_by_size = skipped;
    report.max_size = cli.max_size;
    if let Some(path) = &cli.json {
        write(path, &report.to_json())?;
    }
    if let Some(path) = &cli.markdown {
        write(
            path,
            &render_markdown(
                std::slice::from_ref(&report),
                &command_line(),
                notes.as_deref(),
            ),
        )?;
    }
    let counts = report.counts();
    let summary: Vec<String> = counts.iter().map(|(v, n)| format!("{n} {v}")).collect();
    eprintln!(
        "{}: {} cases in {:.1} s: {}{}",
        agent,
        report.results.len(),
        report.duration_ms / 1e3,
        summary.join(", "),
        if skipped > 0 {
            format!(" ({skipped} left out by --max-size)")
        } else {
            String::new()
        }
    );
    for f in report.failed() {
        eprintln!("FAILED {}: {}", f.id, f.reason);
    }
    let ok = report.failed().next().is_none();
    Ok(ok)
}

fn main() -> ExitCode {
    match main_inner() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(2)
        }
    }
}
