//! One run's results: a JSON document and a human-readable table.

use serde::{Deserialize, Serialize};

use crate::run::ServerCost;
use crate::stats::{LatencySummary, Recorder};

/// The result of one scenario run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Report {
    /// `echo`, `fanout`, `connect` or `idle`.
    pub scenario: String,
    /// Free-form name of the server under test (e.g. `ringws-uring`).
    pub label: String,
    /// The URL the load went to.
    pub url: String,
    /// The scenario's parameters.
    pub params: serde_json::Value,
    /// Length of the measured window, seconds.
    pub duration_s: f64,
    /// Operations completed in the window (echoes, deliveries, upgrades).
    pub completed: u64,
    /// Operations per second.
    pub per_second: f64,
    /// Payload megabytes (10^6) received per second.
    pub mb_per_s: f64,
    /// Latency percentiles, microseconds.
    pub latency_us: LatencySummary,
    /// Failed connections, protocol errors, unexpected closes.
    pub errors: u64,
    /// Echoes whose payload was not what was sent.
    pub mismatches: u64,
    /// What the server spent, when its pid was given.
    pub server: Option<ServerReport>,
}

/// The server's cost over the window.
#[derive(Clone, Debug, Serialize, Deserialize, Default)]
pub struct ServerReport {
    /// Server pid measured.
    pub pid: u32,
    /// CPU seconds (all threads, user + system) in the window.
    pub cpu_s: Option<f64>,
    /// CPU microseconds per completed operation.
    pub cpu_us_per_op: Option<f64>,
    /// RSS before any connection opened, bytes.
    pub rss_baseline: Option<u64>,
    /// RSS at the end of the window, bytes.
    pub rss_after: Option<u64>,
    /// (rss_after − rss_baseline) / connections, bytes (idle scenario).
    pub rss_per_connection: Option<f64>,
}

impl Report {
    /// Builds the report from the merged recorder and the server samples.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        scenario: &str,
        label: &str,
        url: &str,
        params: serde_json::Value,
        duration_s: f64,
        rec: &Recorder,
        pid: Option<u32>,
        cost: &ServerCost,
    ) -> Self {
        let server = pid.map(|pid| {
            let cpu_s = cost.cpu_seconds();
            ServerReport {
                pid,
                cpu_s,
                cpu_us_per_op: cpu_s
                    .filter(|_| rec.completed > 0)
                    .map(|s| s * 1e6 / rec.completed as f64),
                rss_baseline: cost.baseline.map(|s| s.rss),
                rss_after: cost.after.map(|s| s.rss),
                rss_per_connection: None,
            }
        });
        Self {
            scenario: scenario.to_string(),
            label: label.to_string(),
            url: url.to_string(),
            params,
            duration_s,
            completed: rec.completed,
            per_second: rec.completed as f64 / duration_s.max(1e-9),
            mb_per_s: rec.bytes_in as f64 / 1e6 / duration_s.max(1e-9),
            latency_us: rec.latency_summary(),
            errors: rec.errors,
            mismatches: rec.mismatches,
            server,
        }
    }

    /// A few aligned lines for a person.
    pub fn table(&self) -> String {
        let mut s = format!("{:<8} {:<16} {}\n", self.scenario, self.label, self.params);
        if self.scenario == "idle" {
            s += &format!(
                "  {} connections open  errors {}\n",
                self.completed, self.errors
            );
        } else {
            let l = &self.latency_us;
            s += &format!(
                "  {:>12.0} ops/s  {:>9.2} MB/s  errors {}  mismatches {}\n  latency µs  p50 {:.1}  p90 {:.1}  p99 {:.1}  p99.9 {:.1}  max {:.1}\n",
                self.per_second, self.mb_per_s, self.errors, self.mismatches, l.p50, l.p90, l.p99, l.p999, l.max,
            );
        }
        if let Some(sv) = &self.server {
            if let Some(us) = sv.cpu_us_per_op {
                s += &format!(
                    "  server CPU {:.3} µs/op ({:.2} s)\n",
                    us,
                    sv.cpu_s.unwrap_or(0.0)
                );
            }
            if let Some(b) = sv.rss_per_connection {
                s += &format!("  server RSS {:.0} B per connection\n", b);
            }
        }
        s
    }
}
