//! `ringws-compare`: runs the comparison matrix (see `bench/compare`, which
//! builds everything in release mode first and then calls this).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use clap::Parser;
use ringws_bench::compare::servers::{Pinning, Running, ServerSpec};
use ringws_bench::compare::summary::{figures, CaseResult, Comparison, ServerResult};
use ringws_bench::compare::{charts, idle, markdown, matrix};
use ringws_bench::report::Report;
use serde_json::json;

#[derive(Parser)]
#[command(
    name = "ringws-compare",
    about = "Side-by-side benchmark of ringws and peer WebSocket servers",
    // A later flag wins over an earlier one: `bench/compare` passes
    // `--bin-dir` first, and the user's own `--bin-dir` still applies.
    args_override_self = true
)]
struct Cli {
    /// Where the release binaries are (ringws, ringws-bench, peer-*).
    #[arg(long, default_value = "target/release")]
    bin_dir: PathBuf,
    /// Servers to compare (comma-separated names); `uws` runs where
    /// `bench/peers/uws/build.sh` built it.
    #[arg(
        long,
        default_value = "ringws-uring,ringws-epoll,tungstenite,fastwebsockets,uws"
    )]
    servers: String,
    /// Only the cases whose id starts with one of these comma-separated prefixes.
    #[arg(long)]
    cases: Option<String>,
    /// The small matrix (a few minutes) instead of the standard one.
    #[arg(long)]
    quick: bool,
    /// Runs per (case, server); the median is reported.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Measured seconds per run.
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    /// Warm-up seconds per run.
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// CPUs for the server (taskset list).
    #[arg(long, default_value = "0")]
    server_cpus: String,
    /// CPUs for the load generator (taskset list).
    #[arg(long, default_value = "1")]
    client_cpus: String,
    /// Run server and load generator under SCHED_FIFO (`chrt -f 50`).
    #[arg(long)]
    fifo: bool,
    /// Port for the servers.
    #[arg(long, default_value_t = 9101)]
    port: u16,
    /// Directory for the results JSON and charts [default:
    /// perf/results/<date>-<commit>, the commit checked out (with "-dirty" if
    /// tracked files differ from it); with --from-json: the recorded file's
    /// directory].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Markdown file whose generated section gets the tables (skipped if empty).
    #[arg(long, default_value = "docs/benchmarks.md")]
    docs: PathBuf,
    /// Run nothing: recompute the medians of a recorded results file (with
    /// today's validity rules) and rewrite its charts and tables.
    #[arg(long)]
    from_json: Option<PathBuf>,
}

fn read_trim(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

fn cpu_model() -> String {
    read_trim("/proc/cpuinfo")
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .map(|r| r.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

fn today() -> String {
    Command::new("date")
        .args(["-u", "+%F"])
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| "unknown-date".into())
}

fn run_bench(
    cli: &Cli,
    pin: &Pinning,
    case: &matrix::Case,
    server: &ServerSpec,
    pid: u32,
    json_path: &PathBuf,
) -> Result<Report, String> {
    let mut args: Vec<String> = vec![
        case.scenario.into(),
        "--url".into(),
        format!("ws://127.0.0.1:{}/", cli.port),
        "--threads".into(),
        case.threads.to_string(),
        "--duration".into(),
        cli.duration.to_string(),
        "--warmup".into(),
        cli.warmup.to_string(),
        "--server-pid".into(),
        pid.to_string(),
        "--label".into(),
        server.name.clone(),
        "--json".into(),
        json_path.display().to_string(),
    ];
    args.extend(case.args.iter().cloned());
    let _ = std::fs::remove_file(json_path);
    let status = pin
        .command(false, &cli.bin_dir.join("ringws-bench"), &args)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .status()
        .map_err(|e| format!("ringws-bench: {e}"))?;
    let text = std::fs::read_to_string(json_path)
        .map_err(|e| format!("ringws-bench exited {status} without a report ({e})"))?;
    serde_json::from_str::<Report>(&text).map_err(|e| format!("unreadable report: {e}"))
}

/// The commit checked out, short, with "-dirty" when tracked files differ
/// from it (a run measures the working tree, not only the commit).
fn checked_out_commit() -> Option<String> {
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .and_then(|o| String::from_utf8(o.stdout).ok())
    };
    let commit = git(&["rev-parse", "--short=7", "HEAD"])?.trim().to_string();
    let dirty = git(&["status", "--porcelain", "--untracked-files=no"])
        .is_some_and(|s| !s.trim().is_empty());
    Some(if dirty {
        format!("{commit}-dirty")
    } else {
        commit
    })
}

/// The default `--out` of a run: `perf/results/<date>-<commit>`, the layout
/// `perf/results/README.md` indexes.
fn default_out(date: &str) -> PathBuf {
    let commit = checked_out_commit().unwrap_or_else(|| "unknown-commit".into());
    PathBuf::from(format!("perf/results/{date}-{commit}"))
}

/// Rewrites charts and tables from a recorded results file (the file itself
/// too, with today's medians; charts go next to it unless `--out` says).
fn rerender(cli: &Cli, path: &PathBuf) {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut comparison: Comparison =
        serde_json::from_str(&text).expect("a ringws-compare results file");
    // Files written before servers were restarted per run carry each run's
    // RSS from a server that already held the previous run's memory: only
    // the first run of an idle case started from a fresh baseline.
    let per_run = comparison.settings.get("restart").and_then(|v| v.as_str()) == Some("per-run");
    for case in &mut comparison.cases {
        for result in case.servers.values_mut() {
            let runs: &[Report] = if case.scenario == "idle" && !per_run {
                &result.runs[..result.runs.len().min(1)]
            } else {
                &result.runs
            };
            result.median = figures(runs);
        }
    }
    let out = cli.out.clone().unwrap_or_else(|| {
        path.parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map_or_else(|| PathBuf::from("."), PathBuf::from)
    });
    // The tables name the file this run rewrites, not where the data was
    // first written (older files do not record it at all).
    comparison.raw_data = Some(path.display().to_string());
    comparison.charts_dir = Some(charts_dir(&out, &comparison).display().to_string());
    std::fs::write(
        path,
        serde_json::to_string_pretty(&comparison).expect("serialize") + "\n",
    )
    .expect("write results");
    write_outputs(cli, &out, &comparison);
}

/// Where a run's charts go: `<out>/<date>-<host>/`.
fn charts_dir(out: &Path, comparison: &Comparison) -> PathBuf {
    out.join(format!("{}-{}", comparison.date, comparison.host))
}

/// Charts in `out`, and the generated section of the docs.
fn write_outputs(cli: &Cli, out: &Path, comparison: &Comparison) {
    match charts::write_all(comparison, &charts_dir(out, comparison)) {
        Ok(files) => files.iter().for_each(|f| eprintln!("wrote {f}")),
        Err(e) => eprintln!("charts: {e}"),
    }
    let section = markdown::render(comparison);
    if !cli.docs.as_os_str().is_empty() {
        let doc = std::fs::read_to_string(&cli.docs).unwrap_or_else(|_| "# Benchmarks\n".into());
        std::fs::write(&cli.docs, markdown::splice(&doc, &section)).expect("write docs");
        eprintln!("updated {}", cli.docs.display());
    }
    print!("{section}");
}

fn main() {
    let cli = Cli::parse();
    if let Some(path) = &cli.from_json {
        return rerender(&cli, path);
    }
    let started = Instant::now();
    let wanted: Vec<&str> = cli.servers.split(',').map(str::trim).collect();
    let servers: Vec<ServerSpec> = ServerSpec::standard(&cli.bin_dir)
        .into_iter()
        .filter(|s| wanted.contains(&s.name.as_str()))
        .collect();
    for name in &wanted {
        if !servers.iter().any(|s| s.name == *name) {
            eprintln!("ringws-compare: {name} is not available (not built?): left out");
        }
    }
    if servers.is_empty() {
        eprintln!(
            "ringws-compare: no known server in --servers {}",
            cli.servers
        );
        std::process::exit(1);
    }
    let mut cases = if cli.quick {
        matrix::quick()
    } else {
        matrix::standard()
    };
    if let Some(prefixes) = &cli.cases {
        cases = matrix::filter(cases, prefixes);
    }
    let pin = Pinning {
        server_cpus: cli.server_cpus.clone(),
        client_cpus: cli.client_cpus.clone(),
        fifo: cli.fifo,
    };
    // Read before the run: perf/no-halt.sh sets it for the whole command.
    let idle_mode = idle::idle_mode(&idle::parse_cpu_list(&format!(
        "{},{}",
        cli.server_cpus, cli.client_cpus
    )));
    eprintln!("ringws-compare: idle CPUs: {idle_mode} (see perf/halt-poll.sh, perf/no-halt.sh)");
    let host = read_trim("/proc/sys/kernel/hostname");
    let date = today();
    // Named before the run: the tree measured is the one checked out now.
    let out = cli.out.clone().unwrap_or_else(|| default_out(&date));
    let tmp = std::env::temp_dir().join(format!("ringws-compare-{}.json", std::process::id()));
    let mut results = Vec::new();
    for case in &cases {
        let in_case: Vec<&ServerSpec> = servers
            .iter()
            .filter(|s| !case.broadcast || s.broadcast_args.is_some())
            .collect();
        let mut runs: Vec<Vec<Report>> = vec![Vec::new(); in_case.len()];
        let mut failures: Vec<Option<String>> = vec![None; in_case.len()];
        // Rounds: every server once per round, so that a slow phase of the
        // machine (minutes long on these shared VMs) hits every server
        // alike instead of all the runs of one. A fresh server for every
        // run: no memory or state carried over (the idle case measures RSS
        // growth from a fresh baseline). A server that fails is left out of
        // the later rounds.
        for round in 0..cli.runs {
            for (i, server) in in_case.iter().enumerate() {
                if failures[i].is_some() {
                    continue;
                }
                eprintln!(
                    "[{:>5.0}s] {} on {} ({}/{})",
                    started.elapsed().as_secs_f64(),
                    case.id,
                    server.name,
                    round + 1,
                    cli.runs
                );
                let result = Running::start(server, case.broadcast, cli.port, &pin)
                    .and_then(|running| run_bench(&cli, &pin, case, server, running.pid, &tmp));
                match result {
                    Ok(r) => runs[i].push(r),
                    Err(e) => {
                        eprintln!("    failed: {e}");
                        failures[i] = Some(e);
                    }
                }
            }
        }
        let mut by_server = BTreeMap::new();
        for ((server, runs), failure) in in_case.iter().zip(runs).zip(failures) {
            by_server.insert(
                server.name.clone(),
                ServerResult {
                    median: figures(&runs),
                    runs,
                    failure,
                },
            );
        }
        results.push(CaseResult {
            id: case.id.clone(),
            scenario: case.scenario.to_string(),
            servers: by_server,
        });
    }
    let mut comparison = Comparison {
        date: date.clone(),
        host: host.clone(),
        cpu: cpu_model(),
        kernel: read_trim("/proc/sys/kernel/osrelease"),
        settings: json!({
            "runs": cli.runs, "duration_s": cli.duration, "warmup_s": cli.warmup,
            "server_cpus": cli.server_cpus, "client_cpus": cli.client_cpus, "fifo": cli.fifo,
            "idle": idle_mode, // see compare::idle::idle_mode
            "matrix": if cli.quick { "quick" } else { "standard" }, "cases_filter": cli.cases,
            "elapsed_s": started.elapsed().as_secs_f64().round(),
            "restart": "per-run", "order": "rounds",
        }),
        server_names: servers.iter().map(|s| s.name.clone()).collect(),
        ringws_servers: servers
            .iter()
            .filter(|s| s.is_ringws)
            .map(|s| s.name.clone())
            .collect(),
        cases: results,
        raw_data: None,
        charts_dir: None,
    };
    std::fs::create_dir_all(&out).expect("create results dir");
    let json_path = out.join(format!("{date}-{host}.json"));
    comparison.raw_data = Some(json_path.display().to_string());
    comparison.charts_dir = Some(charts_dir(&out, &comparison).display().to_string());
    std::fs::write(
        &json_path,
        serde_json::to_string_pretty(&comparison).expect("serialize") + "\n",
    )
    .expect("write results");
    eprintln!("wrote {}", json_path.display());
    write_outputs(&cli, &out, &comparison);
    eprintln!("total {:.0} s", started.elapsed().as_secs_f64());
}
