//! What a server process costs: CPU time and resident memory.
//!
//! CPU time is read from the process's CPU-time clock
//! (`clock_getcpuclockid(pid)` + `clock_gettime`): nanoseconds, all threads,
//! and *current*, because the kernel brings the running thread's runtime up to
//! date when the clock is read. `/proc/PID/task/*/schedstat` is not: a thread
//! that never blocks on a tickless CPU (a busy server pinned alone on a core,
//! especially under SCHED_FIFO) can show no progress at all for seconds, which
//! made whole runs read 0 µs per message. schedstat, then the 10 ms ticks of
//! `/proc/PID/stat`, remain as fallbacks where the clock cannot be read.
//! Memory is `VmRSS` from `/proc/PID/status`.

use std::fs;
use std::time::Duration;

/// A snapshot of one process's resource use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProcSample {
    /// CPU time used by all threads so far (user + system).
    pub cpu: Duration,
    /// Resident set size in bytes (`VmRSS`).
    pub rss: u64,
}

/// Reads the CPU time and RSS of `pid` now.
pub fn sample(pid: u32) -> std::io::Result<ProcSample> {
    let cpu = match cpu_from_clock(pid).or_else(|| cpu_from_schedstat(pid)) {
        Some(d) => d,
        None => cpu_from_stat(pid)?,
    };
    Ok(ProcSample {
        cpu,
        rss: rss_bytes(pid)?,
    })
}

fn cpu_from_clock(pid: u32) -> Option<Duration> {
    let mut clock: libc::clockid_t = 0;
    // SAFETY: clock_getcpuclockid writes one clockid_t into the variable we pass.
    if unsafe { libc::clock_getcpuclockid(pid as libc::pid_t, &mut clock) } != 0 {
        return None;
    }
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into the variable we pass.
    if unsafe { libc::clock_gettime(clock, &mut ts) } != 0 {
        return None;
    }
    Some(Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
}

fn cpu_from_schedstat(pid: u32) -> Option<Duration> {
    let mut total: u64 = 0;
    let mut any = false;
    for entry in fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let path = entry.ok()?.path().join("schedstat");
        // A thread may exit between read_dir and read: its time is then lost,
        // which is why the engine's workers live as long as the server.
        let Ok(text) = fs::read_to_string(&path) else {
            continue;
        };
        total += text.split_whitespace().next()?.parse::<u64>().ok()?;
        any = true;
    }
    any.then(|| Duration::from_nanos(total))
}

fn cpu_from_stat(pid: u32) -> std::io::Result<Duration> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    let rest = text.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After ')' the fields start at field 3 (state); utime is field 14, stime 15.
    let parse = |i: usize| {
        fields
            .get(i - 3)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let ticks = parse(14) + parse(15);
    // SAFETY: sysconf has no preconditions; it only reads a configuration value.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Ok(Duration::from_nanos(ticks * 1_000_000_000 / hz))
}

fn rss_bytes(pid: u32) -> std::io::Result<u64> {
    let text = fs::read_to_string(format!("/proc/{pid}/status"))?;
    Ok(parse_vmrss(&text).unwrap_or(0))
}

/// Parses the `VmRSS:` line of `/proc/PID/status` into bytes.
fn parse_vmrss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vmrss_line_is_parsed_in_bytes() {
        let status = "Name:\tx\nVmPeak:\t 100 kB\nVmRSS:\t    2048 kB\nThreads:\t1\n";
        assert_eq!(parse_vmrss(status), Some(2048 * 1024));
        assert_eq!(parse_vmrss("Name:\tx\n"), None);
    }

    #[test]
    fn cpu_clock_and_schedstat_agree_on_an_idle_child() {
        // A child that sleeps has used next to no CPU: both sources say so.
        let mut child = std::process::Command::new("sleep")
            .arg("1")
            .spawn()
            .unwrap();
        let pid = child.id();
        std::thread::sleep(Duration::from_millis(100));
        let clock = cpu_from_clock(pid).expect("clock of a child we own");
        assert!(clock < Duration::from_millis(50), "{clock:?}");
        if let Some(stat) = cpu_from_schedstat(pid) {
            assert!(stat < Duration::from_millis(50), "{stat:?}");
        }
        child.kill().unwrap();
        child.wait().unwrap();
    }

    #[test]
    fn own_process_cpu_grows_with_work() {
        let pid = std::process::id();
        let before = sample(pid).unwrap();
        // Burn a measurable amount of CPU.
        let mut x = 0u64;
        let start = std::time::Instant::now();
        while start.elapsed() < Duration::from_millis(60) {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        }
        std::hint::black_box(x);
        let after = sample(pid).unwrap();
        assert!(after.cpu > before.cpu, "{before:?} -> {after:?}");
        assert!(after.rss > 0);
    }
}
