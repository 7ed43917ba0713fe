//! "ringws against the best peer per cell": for every case of a run, ringws's
//! figure beside the lowest figure any peer reached in the same case, the
//! peer's name and the ratio. Generated from the run, so it stays true
//! whatever the matrix holds and whatever anyone's targets are.

use std::fmt::Write;

use super::summary::{CaseResult, Comparison, Figures, ServerResult};

/// The ringws server the table is about (io_uring, the main backend). The
/// other backend is not a peer: it is left out of "best peer".
pub const SUBJECT: &str = "ringws-uring";

/// Which figure a cell is compared on (lower is better for both).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quantity {
    /// Server CPU µs per operation (echo, fan-out, handshake cells).
    CpuPerOp,
    /// Server RSS bytes per idle connection (idle cells).
    RssPerConnection,
}

impl Quantity {
    /// The quantity a scenario is compared on.
    pub fn of_scenario(scenario: &str) -> Quantity {
        if scenario == "idle" {
            Quantity::RssPerConnection
        } else {
            Quantity::CpuPerOp
        }
    }

    fn get(self, f: &Figures) -> Option<f64> {
        match self {
            Quantity::CpuPerOp => f.cpu_us_per_op,
            Quantity::RssPerConnection => f.rss_per_connection,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Quantity::CpuPerOp => "server CPU µs/op",
            Quantity::RssPerConnection => "RSS B/connection",
        }
    }
}

/// One cell of the table.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// Case id.
    pub case: String,
    /// What the cell compares.
    pub quantity: Quantity,
    /// The subject's figure, or why there is none.
    pub subject: Result<f64, String>,
    /// Echo errors and mismatches of the subject in this case.
    pub subject_errors: u64,
    /// The lowest valid peer figure and whose it is.
    pub best_peer: Option<(String, f64)>,
}

impl Row {
    /// Subject / best peer (below 1: ringws spends less).
    pub fn ratio(&self) -> Option<f64> {
        match (&self.subject, &self.best_peer) {
            (Ok(v), Some((_, p))) if *p > 0.0 => Some(v / p),
            _ => None,
        }
    }

    /// At or below the best peer, with every echo intact.
    pub fn level_or_ahead(&self) -> bool {
        self.subject_errors == 0 && self.ratio().is_some_and(|r| r <= 1.0)
    }
}

/// A result's figure if it counts: the server did not fail and lost no echo.
fn valid(r: &ServerResult, q: Quantity) -> Option<f64> {
    if r.failure.is_some() || r.median.errors > 0 {
        return None;
    }
    q.get(&r.median)
}

fn row(c: &Comparison, case: &CaseResult) -> Row {
    let quantity = Quantity::of_scenario(&case.scenario);
    let best_peer = c
        .server_names
        .iter()
        .filter(|n| !c.ringws_servers.contains(n))
        .filter_map(|n| Some((n.clone(), valid(case.servers.get(n)?, quantity)?)))
        .reduce(|best, next| if next.1 < best.1 { next } else { best });
    let (subject, subject_errors) = match case.servers.get(SUBJECT) {
        None => (Err("not run".to_string()), 0),
        Some(r) => match (&r.failure, quantity.get(&r.median)) {
            (Some(failure), _) => (Err(format!("failed: {failure}")), r.median.errors),
            (None, None) => (Err("no valid reading".to_string()), r.median.errors),
            (None, Some(v)) => (Ok(v), r.median.errors),
        },
    };
    Row {
        case: case.id.clone(),
        quantity,
        subject,
        subject_errors,
        best_peer,
    }
}

/// One row per case of the run, in the run's order.
pub fn rows(c: &Comparison) -> Vec<Row> {
    c.cases.iter().map(|case| row(c, case)).collect()
}

/// A figure with the digits it needs.
fn num(v: f64) -> String {
    match v.abs() {
        x if x < 10.0 => format!("{v:.3}"),
        x if x < 100.0 => format!("{v:.2}"),
        x if x < 1000.0 => format!("{v:.1}"),
        _ => format!("{v:.0}"),
    }
}

/// The table (with its heading and a one-line count), or nothing if the
/// subject was not in the run.
pub fn render(c: &Comparison) -> String {
    let mut s = String::new();
    if !c.server_names.iter().any(|n| n == SUBJECT) {
        return s;
    }
    let rows = rows(c);
    let _ = writeln!(s, "### ringws against the best peer per cell ({SUBJECT})\n");
    let compared = rows.iter().filter(|r| r.ratio().is_some()).count();
    let ahead = rows.iter().filter(|r| r.level_or_ahead()).count();
    if compared == 0 {
        let _ = writeln!(s, "No cell of this run has a peer figure.\n");
    } else {
        let _ = writeln!(
            s,
            "{SUBJECT} spends at most what the best peer spends in {ahead} of the {compared} \
             cells that have a peer figure.\n"
        );
    }
    let _ = writeln!(s, "| case | compared on | {SUBJECT} | best peer | ratio |");
    let _ = writeln!(s, "|---|---|---:|---|---:|");
    for r in &rows {
        let subject = match &r.subject {
            Ok(v) if r.subject_errors > 0 => format!("{} ({} err)", num(*v), r.subject_errors),
            Ok(v) => num(*v),
            Err(why) => why.clone(),
        };
        let peer = r
            .best_peer
            .as_ref()
            .map_or_else(|| "–".to_string(), |(n, v)| format!("{n} {}", num(*v)));
        let ratio = r
            .ratio()
            .map_or_else(|| "–".to_string(), |x| format!("{x:.2}"));
        let _ = writeln!(
            s,
            "| `{}` | {} | {subject} | {peer} | {ratio} |",
            r.case,
            r.quantity.label()
        );
    }
    let _ = writeln!(
        s,
        "\nBest peer: the lowest figure of any non-ringws server in the same cell (a server that \
         failed or lost echoes there is left out). Ratio < 1: {SUBJECT} spends less.\n"
    );
    s
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    /// A case where each server has the given median (cpu µs/op, rss B/conn).
    fn case(id: &str, figures: &[(&str, f64, f64)]) -> CaseResult {
        let servers: BTreeMap<String, ServerResult> = figures
            .iter()
            .map(|&(name, cpu, rss)| {
                let median = Figures {
                    cpu_us_per_op: Some(cpu),
                    rss_per_connection: Some(rss),
                    ..Figures::default()
                };
                let result = ServerResult {
                    median,
                    runs: Vec::new(),
                    failure: None,
                };
                (name.to_string(), result)
            })
            .collect();
        CaseResult {
            id: id.into(),
            scenario: id.split('/').next().unwrap().into(),
            servers,
        }
    }

    fn run(cases: Vec<CaseResult>) -> Comparison {
        Comparison {
            date: "2026-11-21".into(),
            host: "test".into(),
            cpu: "cpu".into(),
            kernel: "k".into(),
            settings: serde_json::json!({}),
            server_names: [
                "ringws-uring",
                "ringws-epoll",
                "tungstenite",
                "fastwebsockets",
                "uws",
            ]
            .map(String::from)
            .to_vec(),
            ringws_servers: ["ringws-uring", "ringws-epoll"].map(String::from).to_vec(),
            cases,
            raw_data: None,
            charts_dir: None,
        }
    }

    /// Four cells: ringws ahead, a peer ahead, idle memory, no peer at all.
    fn synthetic() -> Comparison {
        run(vec![
            case(
                "echo/16B/c100/d16",
                &[
                    ("ringws-uring", 0.5, 0.0),
                    // Faster, but the other backend is not a peer.
                    ("ringws-epoll", 0.2, 0.0),
                    ("tungstenite", 1.3, 0.0),
                    ("uws", 0.625, 0.0),
                ],
            ),
            case(
                "echo/1MiB/c1/d1",
                &[
                    ("ringws-uring", 900.0, 0.0),
                    ("fastwebsockets", 1000.0, 0.0),
                    ("uws", 600.0, 0.0),
                ],
            ),
            case(
                "idle/c10000",
                &[
                    // CPU is not what an idle cell compares.
                    ("ringws-uring", 99.0, 130.0),
                    ("uws", 1.0, 520.0),
                ],
            ),
            case("fanout/64B/s1000/r1000", &[("ringws-uring", 0.9, 0.0)]),
        ])
    }

    #[test]
    fn each_cell_names_the_lowest_peer_and_the_ratio() {
        let rows = rows(&synthetic());
        assert_eq!(rows.len(), 4);
        assert_eq!(rows[0].best_peer, Some(("uws".into(), 0.625)));
        assert_eq!(rows[0].ratio(), Some(0.8));
        assert!(rows[0].level_or_ahead());
        assert_eq!(rows[1].best_peer, Some(("uws".into(), 600.0)));
        assert_eq!(rows[1].ratio(), Some(1.5));
        assert!(!rows[1].level_or_ahead());
        assert_eq!(rows[2].quantity, Quantity::RssPerConnection);
        assert_eq!(rows[2].subject, Ok(130.0));
        assert_eq!(rows[2].ratio(), Some(0.25));
        assert_eq!(rows[3].best_peer, None);
        assert_eq!(rows[3].ratio(), None);
    }

    #[test]
    fn the_table_reads_as_the_rows_say() {
        let table = render(&synthetic());
        assert!(table.contains("### ringws against the best peer per cell (ringws-uring)"));
        assert!(table.contains("in 2 of the 3 cells that have a peer figure"));
        for line in [
            "| `echo/16B/c100/d16` | server CPU µs/op | 0.500 | uws 0.625 | 0.80 |",
            "| `echo/1MiB/c1/d1` | server CPU µs/op | 900.0 | uws 600.0 | 1.50 |",
            "| `idle/c10000` | RSS B/connection | 130.0 | uws 520.0 | 0.25 |",
            "| `fanout/64B/s1000/r1000` | server CPU µs/op | 0.900 | – | – |",
        ] {
            assert!(table.contains(line), "missing {line:?} in\n{table}");
        }
    }

    #[test]
    fn failed_or_lossy_servers_are_not_figures() {
        let mut c = synthetic();
        // The best peer of the first cell lost echoes: the next one counts.
        c.cases[0].servers.get_mut("uws").unwrap().median.errors = 2;
        // The subject failed in the second cell.
        c.cases[1].servers.get_mut(SUBJECT).unwrap().failure = Some("exited".into());
        // The subject lost echoes in the idle cell: shown, never "ahead".
        c.cases[2].servers.get_mut(SUBJECT).unwrap().median.errors = 5;
        let rows = rows(&c);
        assert_eq!(rows[0].best_peer, Some(("tungstenite".into(), 1.3)));
        assert_eq!(rows[1].subject, Err("failed: exited".into()));
        assert_eq!(rows[1].ratio(), None);
        assert_eq!(rows[2].ratio(), Some(0.25));
        assert!(!rows[2].level_or_ahead());
        let table = render(&c);
        assert!(table
            .contains("| `echo/1MiB/c1/d1` | server CPU µs/op | failed: exited | uws 600.0 | – |"));
        assert!(table.contains("| 130.0 (5 err) |"));
        assert!(table.contains("in 1 of the 2 cells that have a peer figure"));
    }

    #[test]
    fn a_run_without_peers_says_so() {
        let mut c = synthetic();
        c.server_names.retain(|n| c.ringws_servers.contains(n));
        let table = render(&c);
        assert!(
            table.contains("No cell of this run has a peer figure."),
            "{table}"
        );
        assert!(table.contains("| `echo/16B/c100/d16` | server CPU µs/op | 0.500 | – | – |"));
    }

    #[test]
    fn nothing_without_the_subject() {
        let mut c = synthetic();
        c.server_names.retain(|n| n != SUBJECT);
        assert_eq!(render(&c), "");
    }
}
