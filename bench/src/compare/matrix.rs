//! The standard matrix of the comparison: which scenarios, with which parameters.

/// One cell of the matrix: a `ringws-bench` invocation (without the common flags).
#[derive(Clone, Debug)]
pub struct Case {
    /// Stable identifier, e.g. `echo/16B/c100/d16`.
    pub id: String,
    /// `echo`, `fanout`, `connect` or `idle`.
    pub scenario: &'static str,
    /// Scenario flags for `ringws-bench`.
    pub args: Vec<String>,
    /// Needs a server that broadcasts (fan-out).
    pub broadcast: bool,
    /// Load threads to use.
    pub threads: usize,
}

/// Echo sizes of the standard matrix.
pub const ECHO_SIZES: [usize; 4] = [16, 512, 16 * 1024, 1024 * 1024];
/// Connection counts of the standard matrix.
pub const ECHO_CONNECTIONS: [usize; 3] = [1, 100, 1000];
/// Pipelining depths of the standard matrix.
pub const ECHO_DEPTHS: [usize; 2] = [1, 16];
/// Open-loop echo cells of the standard matrix: 16 B messages on 100
/// connections at these total rates (messages per second over all
/// connections, as `ringws-bench echo --rate` takes it). The lower rate is
/// well within every server's closed-loop throughput (p99 then shows
/// scheduling and batching delay, not queueing); the higher one is past what
/// some peers sustain at depth 1, so queueing shows.
pub const OPEN_LOOP_RATES: [u32; 2] = [50_000, 200_000];
/// Cells whose data in flight (size × connections × depth) exceeds this are
/// left out: 1 MiB × 1,000 × 16 would queue 16 GiB in the client alone.
pub const MAX_IN_FLIGHT: usize = 256 * 1024 * 1024;

fn size_label(size: usize) -> String {
    match size {
        s if s >= 1 << 20 && s % (1 << 20) == 0 => format!("{}MiB", s >> 20),
        s if s >= 1024 && s % 1024 == 0 => format!("{}KiB", s >> 10),
        s => format!("{s}B"),
    }
}

fn echo(size: usize, conns: usize, depth: usize) -> Case {
    echo_case(size, conns, ("d", "--depth"), depth as u64)
}

/// An echo case whose last knob is `--depth` (closed loop, id `…/d<n>`) or
/// `--rate` (open loop, id `…/r<n>`).
fn echo_case(size: usize, conns: usize, (tag, flag): (&str, &str), n: u64) -> Case {
    Case {
        id: format!("echo/{}/c{conns}/{tag}{n}", size_label(size)),
        scenario: "echo",
        args: vec![
            "--connections".into(),
            conns.to_string(),
            "--size".into(),
            size.to_string(),
            flag.into(),
            n.to_string(),
            "--binary".into(),
        ],
        broadcast: false,
        threads: 1,
    }
}

/// Open loop: `conns` connections send `size`-byte messages at a fixed
/// total `rate` (messages per second), and latency is measured from each
/// message's intended send time, so a server that stalls cannot hide the
/// stall behind fewer sends (as a closed loop lets it). Named
/// `echo/<size>/c<conns>/r<rate>`.
fn echo_at_rate(size: usize, conns: usize, rate: u32) -> Case {
    echo_case(size, conns, ("r", "--rate"), u64::from(rate))
}

/// The offered rate (messages per second) of an open-loop echo case id
/// (`echo/16B/c100/r50000` → 50000), `None` for closed-loop and other cases.
pub fn open_loop_rate(id: &str) -> Option<f64> {
    let rest = id.strip_prefix("echo/")?;
    rest.rsplit('/').next()?.strip_prefix('r')?.parse().ok()
}

/// The full standard matrix.
pub fn standard() -> Vec<Case> {
    let mut cases = Vec::new();
    for size in ECHO_SIZES {
        for conns in ECHO_CONNECTIONS {
            for depth in ECHO_DEPTHS {
                if size * conns * depth <= MAX_IN_FLIGHT {
                    cases.push(echo(size, conns, depth));
                }
            }
        }
    }
    // Two sizes between those of the grid, at 100 connections × depth 16,
    // where uWebSockets is most often compared.
    for size in [1024, 64 * 1024] {
        cases.push(echo(size, 100, 16));
    }
    for rate in OPEN_LOOP_RATES {
        cases.push(echo_at_rate(16, 100, rate));
    }
    cases.push(Case {
        id: "fanout/64B/s1000/r1000".into(),
        scenario: "fanout",
        args: ["--subscribers", "1000", "--size", "64", "--rate", "1000"]
            .map(String::from)
            .to_vec(),
        broadcast: true,
        threads: 1,
    });
    cases.push(connect_storm());
    cases.push(idle(10_000, 2));
    cases
}

/// Handshake storm: 32 upgrades in flight, each connection reset after its 101.
fn connect_storm() -> Case {
    Case {
        id: "connect/c32/tcp".into(),
        scenario: "connect",
        args: ["--concurrency", "32", "--close", "tcp"]
            .map(String::from)
            .to_vec(),
        broadcast: false,
        threads: 1,
    }
}

/// `connections` idle connections, sampled after `settle_s` seconds.
fn idle(connections: usize, settle_s: u32) -> Case {
    Case {
        id: format!("idle/c{connections}"),
        scenario: "idle",
        args: vec![
            "--connections".into(),
            connections.to_string(),
            "--settle".into(),
            settle_s.to_string(),
        ],
        broadcast: false,
        threads: 1,
    }
}

/// A small matrix for a quick look (and the harness's own smoke test).
pub fn quick() -> Vec<Case> {
    vec![
        echo(16, 100, 1),
        echo(16, 100, 16),
        echo(16 * 1024, 100, 1),
        // One rate only: the lower one, which every server sustains.
        echo_at_rate(16, 100, OPEN_LOOP_RATES[0]),
        connect_storm(),
        idle(2000, 1),
    ]
}

/// Keeps the cases whose id starts with one of the comma-separated prefixes.
pub fn filter(cases: Vec<Case>, prefixes: &str) -> Vec<Case> {
    let wanted: Vec<&str> = prefixes
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    cases
        .into_iter()
        .filter(|c| wanted.iter().any(|p| c.id.starts_with(p)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_matrix_leaves_out_only_the_oversized_cells() {
        let cases = standard();
        let echoes = cases
            .iter()
            .filter(|c| c.scenario == "echo" && open_loop_rate(&c.id).is_none())
            .count();
        // Closed loop: 4 sizes × 3 connection counts × 2 depths = 24, minus 1 MiB × 1000 × {1,16}
        // and 1 MiB × 100 × 16 (1.6 GiB in flight); + 1 KiB and 64 KiB at 100 × 16.
        assert_eq!(echoes, 23);
        assert!(cases.iter().any(|c| c.id == "echo/64KiB/c100/d16"));
        assert!(cases.iter().any(|c| c.id == "echo/16B/c100/d16"));
        assert!(!cases.iter().any(|c| c.id == "echo/1MiB/c1000/d16"));
        // + 2 open-loop cells at 16 B × 100 connections.
        assert_eq!(filter(cases.clone(), "echo/16B/,idle").len(), 9);
        let open: Vec<&str> = cases
            .iter()
            .filter(|c| open_loop_rate(&c.id).is_some())
            .map(|c| c.id.as_str())
            .collect();
        assert_eq!(open, ["echo/16B/c100/r50000", "echo/16B/c100/r200000"]);
        assert!(quick().iter().any(|c| c.id == "echo/16B/c100/r50000"));
    }

    #[test]
    fn open_loop_cells_pass_the_total_rate() {
        let c = echo_at_rate(16, 100, 50_000);
        let at = c.args.iter().position(|a| a == "--rate").unwrap();
        assert_eq!(c.args[at + 1], "50000");
        assert!(!c.args.iter().any(|a| a == "--depth"));
        assert_eq!(open_loop_rate(&c.id), Some(50_000.0));
        assert_eq!(open_loop_rate("echo/16B/c100/d16"), None);
        assert_eq!(open_loop_rate("fanout/64B/s1000/r1000"), None);
    }
}
