//! Running a scenario on several threads: connect, start together, measure a
//! window, stop together; and sampling the server's CPU around the window.

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::{Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::procstat::{self, ProcSample};
use crate::stats::Recorder;

/// The time window every thread follows.
#[derive(Clone, Copy, Debug)]
pub struct Window {
    /// Load starts (warm-up begins).
    pub start: Instant,
    /// Measurement begins: only completions from here on are recorded.
    pub measure_from: Instant,
    /// Measurement and load end.
    pub measure_to: Instant,
}

impl Window {
    /// Whether `t` is inside the measured window.
    pub fn contains(&self, t: Instant) -> bool {
        t >= self.measure_from && t < self.measure_to
    }
}

/// Shared between the threads of one run: everyone connects, then starts together.
pub struct RunSync {
    ready: Barrier,
    window: Mutex<Option<Window>>,
    go: Barrier,
}

impl RunSync {
    /// Called by each load thread once its connections are open; returns the window.
    pub fn wait_start(&self) -> Window {
        self.ready.wait();
        self.go.wait();
        self.window.lock().unwrap().expect("window set before go")
    }
}

/// The server side of a measurement: CPU and RSS before and after the window.
#[derive(Clone, Copy, Debug, Default)]
pub struct ServerCost {
    /// Sample at the start of the measured window.
    pub before: Option<ProcSample>,
    /// Sample at the end of the measured window.
    pub after: Option<ProcSample>,
    /// Sample before any connection was opened (for memory per connection).
    pub baseline: Option<ProcSample>,
}

impl ServerCost {
    /// Server CPU seconds spent in the window.
    pub fn cpu_seconds(&self) -> Option<f64> {
        Some((self.after?.cpu.checked_sub(self.before?.cpu)?).as_secs_f64())
    }
}

/// Resolves `ws://host:port/path` into an address, the Host header value and the path.
pub fn parse_url(url: &str) -> Result<(SocketAddr, String, String), String> {
    let rest = url
        .strip_prefix("ws://")
        .ok_or_else(|| format!("{url}: only ws:// URLs are supported"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let with_port = if authority
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
    {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    let addr = with_port
        .to_socket_addrs()
        .map_err(|e| format!("{authority}: {e}"))?
        .next()
        .ok_or_else(|| format!("{authority}: no address"))?;
    Ok((addr, authority.to_string(), path.to_string()))
}

/// Runs `body` on `threads` threads, each with its index; measures the server
/// (if `server_pid`) over the window `warmup` + `duration` that starts once
/// every thread has connected. Returns the merged recorder and server costs.
pub fn run_threads<F>(
    threads: usize,
    warmup: Duration,
    duration: Duration,
    server_pid: Option<u32>,
    body: F,
) -> (Recorder, ServerCost)
where
    F: Fn(usize, &RunSync) -> Recorder + Sync,
{
    let sync = RunSync {
        ready: Barrier::new(threads + 1),
        window: Mutex::new(None),
        go: Barrier::new(threads + 1),
    };
    let mut cost = ServerCost {
        baseline: server_pid.and_then(|p| procstat::sample(p).ok()),
        ..ServerCost::default()
    };
    let recorders = thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|i| {
                let sync = &sync;
                let body = &body;
                s.spawn(move || body(i, sync))
            })
            .collect();
        // The load threads inherited this thread's policy. Under SCHED_FIFO
        // (`bench/compare --fifo`) a saturated load thread on the same CPU
        // never yields to an equal priority, so the samples below would
        // both be taken after the run (the server's CPU then reads 0): the
        // sampler goes one priority above them.
        raise_fifo_priority();
        sync.ready.wait();
        let start = Instant::now();
        let window = Window {
            start,
            measure_from: start + warmup,
            measure_to: start + warmup + duration,
        };
        *sync.window.lock().unwrap() = Some(window);
        sync.go.wait();
        sleep_until(window.measure_from);
        cost.before = server_pid.and_then(|p| procstat::sample(p).ok());
        sleep_until(window.measure_to);
        cost.after = server_pid.and_then(|p| procstat::sample(p).ok());
        handles
            .into_iter()
            .map(|h| h.join().expect("load thread panicked"))
            .collect::<Vec<_>>()
    });
    let mut total = Recorder::default();
    for r in &recorders {
        total.merge(r);
    }
    (total, cost)
}

/// If this thread runs under `SCHED_FIFO`, move it one priority up (best
/// effort: it only sharpens when the window is sampled).
fn raise_fifo_priority() {
    // SAFETY: plain syscalls on the calling thread (pid 0) with a param
    // struct we own.
    unsafe {
        if libc::sched_getscheduler(0) != libc::SCHED_FIFO {
            return;
        }
        let mut p: libc::sched_param = std::mem::zeroed();
        if libc::sched_getparam(0, &mut p) != 0 {
            return;
        }
        if p.sched_priority < libc::sched_get_priority_max(libc::SCHED_FIFO) {
            p.sched_priority += 1;
            libc::sched_setscheduler(0, libc::SCHED_FIFO, &p);
        }
    }
}

/// Sleeps until `t` (returns at once if it has passed).
pub fn sleep_until(t: Instant) {
    let now = Instant::now();
    if t > now {
        thread::sleep(t - now);
    }
}

/// Splits `n` items over `parts` as evenly as possible; returns part `i`'s share.
pub fn share(n: usize, parts: usize, i: usize) -> usize {
    n / parts + usize::from(i < n % parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_resolve_with_default_path_and_port() {
        let (addr, host, path) = parse_url("ws://127.0.0.1:9001/echo?x=1").unwrap();
        assert_eq!(addr, "127.0.0.1:9001".parse().unwrap());
        assert_eq!(host, "127.0.0.1:9001");
        assert_eq!(path, "/echo?x=1");
        let (addr, _, path) = parse_url("ws://127.0.0.1").unwrap();
        assert_eq!(addr.port(), 80);
        assert_eq!(path, "/");
        assert!(parse_url("http://x").is_err());
    }

    #[test]
    fn shares_add_up() {
        for n in [0usize, 1, 7, 100, 1001] {
            for parts in 1..5 {
                assert_eq!((0..parts).map(|i| share(n, parts, i)).sum::<usize>(), n);
            }
        }
    }
}
