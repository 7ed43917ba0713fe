//! Medians over repeated runs, ratios ringws / peer, and the results document.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::report::Report;

/// The figures of one (case, server) pair: the median of its runs.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Figures {
    /// Operations per second.
    pub per_second: f64,
    /// Server CPU microseconds per operation.
    pub cpu_us_per_op: Option<f64>,
    /// Median latency, µs.
    pub p50_us: f64,
    /// 99th percentile latency, µs.
    pub p99_us: f64,
    /// Server RSS per idle connection, bytes (idle scenario).
    pub rss_per_connection: Option<f64>,
    /// Errors + mismatches summed over all runs (should be 0).
    pub errors: u64,
}

/// All runs of one server on one case.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ServerResult {
    /// The median figures.
    pub median: Figures,
    /// Every run's full report.
    pub runs: Vec<Report>,
    /// Why the runs failed, if they did.
    pub failure: Option<String>,
}

/// One case with every server's results.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CaseResult {
    /// Case id.
    pub id: String,
    /// Scenario name.
    pub scenario: String,
    /// Results by server name.
    pub servers: BTreeMap<String, ServerResult>,
}

/// The whole comparison, as written to `<out>/<date>-<host>.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Comparison {
    /// UTC date of the run.
    pub date: String,
    /// Host name.
    pub host: String,
    /// CPU model from /proc/cpuinfo.
    pub cpu: String,
    /// Kernel release.
    pub kernel: String,
    /// Settings: durations, runs, pinning.
    pub settings: serde_json::Value,
    /// Server names in column order.
    pub server_names: Vec<String>,
    /// Which servers are ringws.
    pub ringws_servers: Vec<String>,
    /// Results per case.
    pub cases: Vec<CaseResult>,
    /// Where this results file was written (as given on the command line:
    /// `--out` decides it), so the tables name the file that exists. Absent
    /// in files written before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_data: Option<String>,
    /// Where the charts of this run were written, if recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub charts_dir: Option<String>,
}

/// The median of `xs` (mean of the two middle values for an even count).
pub fn median(mut xs: Vec<f64>) -> Option<f64> {
    xs.retain(|x| x.is_finite());
    if xs.is_empty() {
        return None;
    }
    xs.sort_by(|a, b| a.partial_cmp(b).expect("finite"));
    let n = xs.len();
    Some(if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    })
}

/// A run's server CPU per operation, if the reading is valid: zero CPU for a
/// run that completed work is a failed reading (a stale CPU counter), not a
/// free server, and is left out of the median.
fn valid_cpu_per_op(r: &Report) -> Option<f64> {
    let sv = r.server.as_ref()?;
    if r.completed > 0 && sv.cpu_s.is_some_and(|c| c <= 0.0) {
        return None;
    }
    sv.cpu_us_per_op
}

/// The median figures of a set of runs.
pub fn figures(runs: &[Report]) -> Figures {
    let m = |f: &dyn Fn(&Report) -> Option<f64>| median(runs.iter().filter_map(f).collect());
    Figures {
        per_second: m(&|r| Some(r.per_second)).unwrap_or(0.0),
        cpu_us_per_op: m(&valid_cpu_per_op),
        p50_us: m(&|r| Some(r.latency_us.p50)).unwrap_or(0.0),
        p99_us: m(&|r| Some(r.latency_us.p99)).unwrap_or(0.0),
        rss_per_connection: m(&|r| r.server.as_ref()?.rss_per_connection),
        errors: runs.iter().map(|r| r.errors + r.mismatches).sum(),
    }
}

/// ringws's figure divided by the peer's (below 1 means ringws spends less).
pub fn ratio(ringws: Option<f64>, peer: Option<f64>) -> Option<f64> {
    match (ringws, peer) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(vec![]), None);
        assert_eq!(median(vec![f64::NAN, 5.0]), Some(5.0));
    }

    #[test]
    fn ratios_need_both_sides() {
        assert_eq!(ratio(Some(1.0), Some(4.0)), Some(0.25));
        assert_eq!(ratio(None, Some(4.0)), None);
        assert_eq!(ratio(Some(1.0), Some(0.0)), None);
    }

    #[test]
    fn results_files_without_output_paths_still_load() {
        let old = r#"{"date":"2026-11-21","host":"vm","cpu":"x","kernel":"y","settings":{},
            "server_names":["a"],"ringws_servers":["a"],"cases":[]}"#;
        let c: Comparison = serde_json::from_str(old).unwrap();
        assert_eq!((c.raw_data, c.charts_dir), (None, None));
    }
}
