//! `ringws-bench`: the load generator's command line.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use ringws_bench::connect::{connect_thread, CloseMode, ConnectParams};
use ringws_bench::driver::{self, Backend, ClientBackend};
use ringws_bench::echo::{echo_thread, EchoParams};
use ringws_bench::fanout::{fanout_thread, FanoutParams};
use ringws_bench::idle::{idle_run, IdleParams};
use ringws_bench::procstat;
use ringws_bench::report::Report;
use ringws_bench::run::{parse_url, run_threads, share, RunSync, ServerCost};
use ringws_bench::stats::Recorder;
use serde_json::json;

#[derive(Parser)]
#[command(name = "ringws-bench", about = "Load generator for WebSocket servers")]
struct Cli {
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Args, Clone)]
struct Common {
    /// Server URL.
    #[arg(long, default_value = "ws://127.0.0.1:9001/")]
    url: String,
    /// Load threads.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Measured seconds.
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    /// Warm-up seconds before the measured window.
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// The server's pid: report its CPU time per operation and its memory.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Name of the server in the report.
    #[arg(long, default_value = "server")]
    label: String,
    /// Write the JSON report here (else print it after the table).
    #[arg(long)]
    json: Option<std::path::PathBuf>,
    /// Client transport: io_uring if the kernel allows (auto), or forced.
    #[arg(long, value_enum, default_value_t = ClientBackend::Auto)]
    client_backend: ClientBackend,
}

impl Common {
    /// The client transport that will run (auto resolved once, here).
    fn backend(&self) -> Backend {
        driver::resolve(self.client_backend).unwrap_or_else(|e| die(&e))
    }

    /// The server's address, Host header value and path, from `--url`.
    fn target(&self) -> (SocketAddr, String, String) {
        parse_url(&self.url).unwrap_or_else(|e| die(&e))
    }

    /// Runs `body` on `threads` load threads over this run's window.
    fn measure<F>(&self, threads: usize, body: F) -> (Recorder, ServerCost)
    where
        F: Fn(usize, &RunSync) -> Recorder + Sync,
    {
        run_threads(
            threads,
            secs(self.warmup),
            secs(self.duration),
            self.server_pid,
            body,
        )
    }

    /// The report of a run of `scenario` measured over `duration_s`.
    fn report(
        &self,
        scenario: &str,
        params: serde_json::Value,
        duration_s: f64,
        rec: &Recorder,
        cost: &ServerCost,
    ) -> Report {
        Report::new(
            scenario,
            &self.label,
            &self.url,
            params,
            duration_s,
            rec,
            self.server_pid,
            cost,
        )
    }
}

#[derive(Subcommand)]
enum Scenario {
    /// N connections echo messages of S bytes, D in flight each (or at a fixed rate).
    Echo {
        #[command(flatten)]
        common: Common,
        /// Connections.
        #[arg(long, default_value_t = 100)]
        connections: usize,
        /// Message size, bytes.
        #[arg(long, default_value_t = 16)]
        size: usize,
        /// Messages in flight per connection (closed loop).
        #[arg(long, default_value_t = 1)]
        depth: usize,
        /// Open loop: total messages per second (latency from the intended send time).
        #[arg(long)]
        rate: Option<f64>,
        /// Binary frames instead of text.
        #[arg(long)]
        binary: bool,
    },
    /// M subscribers, one publisher at a fixed rate (server broadcasts what it receives).
    Fanout {
        #[command(flatten)]
        common: Common,
        /// Subscribers (the publisher is one of them).
        #[arg(long, default_value_t = 1000)]
        subscribers: usize,
        /// Message size, bytes (≥ 16).
        #[arg(long, default_value_t = 64)]
        size: usize,
        /// Publishes per second.
        #[arg(long, default_value_t = 1000.0)]
        rate: f64,
        /// Another node of the same cluster (repeatable): subscribers are
        /// spread over `--url` and these; the publisher is on `--url`.
        #[arg(long)]
        also: Vec<String>,
    },
    /// Handshake storm: upgrades per second.
    Connect {
        #[command(flatten)]
        common: Common,
        /// Handshakes in flight per thread.
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
        /// How an upgraded connection ends.
        #[arg(long, value_enum, default_value_t = CloseMode::Tcp)]
        close: CloseMode,
    },
    /// Open N idle connections and report the server's RSS per connection.
    Idle {
        #[command(flatten)]
        common: Common,
        /// Connections.
        #[arg(long, default_value_t = 10_000)]
        connections: usize,
        /// Seconds to let them sit before sampling.
        #[arg(long, default_value_t = 2.0)]
        settle: f64,
    },
}

fn raise_fd_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read/write the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

fn main() {
    raise_fd_limit();
    let cli = Cli::parse();
    let (report, json_path) = match cli.scenario {
        Scenario::Echo {
            common,
            connections,
            size,
            depth,
            rate,
            binary,
        } => {
            let (addr, host, path) = common.target();
            let threads = common.threads.clamp(1, connections.max(1));
            let p = EchoParams {
                addr,
                host,
                path,
                size,
                depth: depth.max(1),
                binary,
                rate,
                threads,
                backend: common.backend(),
            };
            let (rec, cost) = common.measure(threads, |i, sync| {
                echo_thread(&p, i, share(connections, threads, i), sync)
            });
            let params = json!({"connections": connections, "size": size, "depth": depth, "rate": rate, "binary": binary, "threads": threads, "client_backend": p.backend.name()});
            (
                common.report("echo", params, common.duration, &rec, &cost),
                common.json,
            )
        }
        Scenario::Fanout {
            common,
            subscribers,
            size,
            rate,
            also,
        } => {
            let (addr, host, path) = common.target();
            let others: Vec<_> = also
                .iter()
                .map(|u| parse_url(u).unwrap_or_else(|e| die(&e)))
                .collect();
            let nodes = 1 + others.len();
            let threads = common.threads.clamp(1, subscribers.max(1));
            let p = FanoutParams {
                addr,
                host,
                path,
                size: size.max(16),
                rate,
                backend: common.backend(),
                others,
            };
            let (rec, cost) = common.measure(threads, |i, sync| {
                fanout_thread(&p, i, share(subscribers, threads, i), sync)
            });
            let params = json!({"subscribers": subscribers, "size": size.max(16), "rate": rate, "threads": threads, "client_backend": p.backend.name(), "nodes": nodes});
            (
                common.report("fanout", params, common.duration, &rec, &cost),
                common.json,
            )
        }
        Scenario::Connect {
            common,
            concurrency,
            close,
        } => {
            let (addr, host, path) = common.target();
            let p = ConnectParams {
                addr,
                host,
                path,
                concurrency: concurrency.max(1),
                close,
                backend: common.backend(),
            };
            let (rec, cost) =
                common.measure(common.threads.max(1), |i, sync| connect_thread(&p, i, sync));
            let params = json!({"concurrency": concurrency, "close": close, "threads": common.threads, "client_backend": p.backend.name()});
            (
                common.report("connect", params, common.duration, &rec, &cost),
                common.json,
            )
        }
        Scenario::Idle {
            common,
            connections,
            settle,
        } => {
            let (addr, host, path) = common.target();
            let p = IdleParams {
                addr,
                host,
                path,
                connections,
                settle: secs(settle),
                backend: common.backend(),
            };
            let pid = common.server_pid;
            let mut cost = ServerCost {
                baseline: pid.and_then(|p| procstat::sample(p).ok()),
                ..Default::default()
            };
            let opened = idle_run(&p, || {
                cost.after = pid.and_then(|p| procstat::sample(p).ok())
            })
            .unwrap_or_else(|e| die(&e.to_string()));
            let rec = Recorder {
                completed: opened as u64,
                errors: (connections - opened) as u64,
                ..Default::default()
            };
            let params = json!({"connections": connections, "settle_s": settle, "client_backend": p.backend.name()});
            let mut report = common.report("idle", params, settle, &rec, &cost);
            if let (Some(sv), Some(b), Some(a)) =
                (report.server.as_mut(), cost.baseline, cost.after)
            {
                sv.cpu_s = None;
                sv.cpu_us_per_op = None;
                sv.rss_per_connection = Some((a.rss as f64 - b.rss as f64) / opened.max(1) as f64);
            }
            (report, common.json)
        }
    };
    print!("{}", report.table());
    let doc = serde_json::to_string_pretty(&report).expect("report serializes");
    match json_path {
        Some(path) => std::fs::write(&path, doc + "\n")
            .unwrap_or_else(|e| die(&format!("{}: {e}", path.display()))),
        None => println!("{doc}"),
    }
    if report.errors > 0 || report.mismatches > 0 {
        std::process::exit(2);
    }
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s.max(0.0))
}

fn die(msg: &str) -> ! {
    eprintln!("ringws-bench: {msg}");
    std::process::exit(1)
}
