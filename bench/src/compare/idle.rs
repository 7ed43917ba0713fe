//! Whether the benchmark's CPUs may halt when idle, recorded with every run.
//!
//! On a VM whose idle vCPUs halt, each wake-up costs the host's scheduling
//! latency, which dominates single-connection cells; `perf/halt-poll.sh`
//! makes the guest poll first and `perf/no-halt.sh` disables the halting
//! states for a run. A result is only
//! comparable with results taken in the same idle mode, so the mode goes into
//! the results' settings.

use std::fs;
use std::path::Path;

/// The CPUs of a `taskset -c` list ("0", "0-3", "0,2-3"); malformed parts are
/// skipped.
pub fn parse_cpu_list(list: &str) -> Vec<usize> {
    let mut cpus = Vec::new();
    for part in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.trim().parse::<usize>(), b.trim().parse::<usize>()) {
                    cpus.extend(a..=b);
                }
            }
            None => cpus.extend(part.parse::<usize>().ok()),
        }
    }
    cpus.sort_unstable();
    cpus.dedup();
    cpus
}

/// How the given CPUs idle: `"poll"` when every idle state but POLL is
/// disabled on all of them (`perf/no-halt.sh`), `"halt"` when any of them may
/// halt, `"halt after polling N ns"` when they may but the haltpoll driver
/// polls first (`perf/halt-poll.sh`), `"unknown"` where sysfs has no cpuidle
/// states (no driver, or not Linux).
pub fn idle_mode(cpus: &[usize]) -> String {
    let mode = idle_mode_in(Path::new("/sys/devices/system/cpu"), cpus);
    let poll_ns = fs::read_to_string("/sys/module/haltpoll/parameters/guest_halt_poll_ns")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or(0);
    match (mode, poll_ns) {
        ("halt", ns) if ns > 0 => format!("halt after polling {ns} ns"),
        (m, _) => m.to_string(),
    }
}

fn idle_mode_in(root: &Path, cpus: &[usize]) -> &'static str {
    let mut seen = false;
    for cpu in cpus {
        let Ok(states) = fs::read_dir(root.join(format!("cpu{cpu}/cpuidle"))) else {
            continue;
        };
        for state in states.flatten() {
            let dir = state.path();
            let read = |f: &str| fs::read_to_string(dir.join(f)).map(|s| s.trim().to_string());
            let (Ok(name), Ok(disable)) = (read("name"), read("disable")) else {
                continue;
            };
            seen = true;
            if name != "POLL" && disable == "0" {
                return "halt";
            }
        }
    }
    if seen {
        "poll"
    } else {
        "unknown"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_parse_as_taskset_reads_them() {
        assert_eq!(parse_cpu_list("0"), vec![0]);
        assert_eq!(parse_cpu_list("0-2,5"), vec![0, 1, 2, 5]);
        assert_eq!(parse_cpu_list("3,1,1-2"), vec![1, 2, 3]);
        assert_eq!(parse_cpu_list("x,4"), vec![4]);
    }

    fn state(root: &Path, cpu: usize, n: usize, name: &str, disable: &str) {
        let dir = root.join(format!("cpu{cpu}/cpuidle/state{n}"));
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("name"), format!("{name}\n")).unwrap();
        fs::write(dir.join("disable"), format!("{disable}\n")).unwrap();
    }

    #[test]
    fn one_enabled_halting_state_on_any_cpu_reads_halt() {
        let root = std::env::temp_dir().join(format!("ringws-idle-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        assert_eq!(idle_mode_in(&root, &[0, 1]), "unknown");
        state(&root, 0, 0, "POLL", "0");
        state(&root, 0, 1, "haltpoll idle", "1");
        state(&root, 1, 0, "POLL", "0");
        state(&root, 1, 1, "haltpoll idle", "1");
        assert_eq!(idle_mode_in(&root, &[0, 1]), "poll");
        state(&root, 1, 1, "haltpoll idle", "0");
        assert_eq!(idle_mode_in(&root, &[0]), "poll");
        assert_eq!(idle_mode_in(&root, &[0, 1]), "halt");
        fs::remove_dir_all(&root).unwrap();
    }
}
