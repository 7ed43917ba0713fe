//! # ringws-uring-experiments: measurements behind two engine decisions
//!
//! Standalone programs, not part of the engine: they share nothing with
//! `engine/` but the io_uring set-up it uses (`SINGLE_ISSUER |
//! DEFER_TASKRUN | COOP_TASKRUN`, one ring per thread).
//!
//! - `sendzc`: `IORING_OP_SEND_ZC` against `IORING_OP_SEND`/`SENDMSG` on
//!   loopback TCP (sender CPU per byte, throughput), plus a scenario that
//!   checks whether a multishot receive stalls after zero-copy sends from
//!   the same ring.
//! - `msgring`: `IORING_OP_MSG_RING` against a mutex-guarded queue plus an
//!   eventfd read by the target ring (round-trip latency, CPU per message).
//!
//! This library holds what both programs need: thread pinning, per-thread
//! CPU clocks, ring set-up, a provided-buffer ring, statistics and a small
//! JSON writer (no serde: the crate depends only on `io-uring` and `libc`).

use std::fmt::Write as _;
use std::io;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use io_uring::types::BufRingEntry;
use io_uring::{types, IoUring};

/// Pin the calling thread to one CPU.
pub fn pin_to_cpu(cpu: usize) -> io::Result<()> {
    // SAFETY: `cpu_set_t` is plain data; all-zero is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: CPU_SET only writes inside `set`; `cpu` is < CPU_SETSIZE on
    // any machine this runs on (checked by the kernel call below anyway).
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: `set` is a valid cpu_set_t of the size passed; pid 0 = this thread.
    let r = unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// CPU time consumed by the calling thread, in nanoseconds
/// (`CLOCK_THREAD_CPUTIME_ID`: user + system, including io_uring task work
/// the kernel runs on this thread's behalf).
pub fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-pointer for the duration of the call.
    let r = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(r, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Build a ring the way the engine does: `SINGLE_ISSUER | DEFER_TASKRUN |
/// COOP_TASKRUN` (6.1+). Unlike the engine there is no fallback: an
/// experiment on a different set-up would not measure the engine's case.
///
/// Must be called on the thread that will submit to the ring
/// (`SINGLE_ISSUER` binds the ring to its creator).
pub fn engine_ring(sq_entries: u32, cq_entries: u32) -> io::Result<IoUring> {
    IoUring::builder()
        .setup_single_issuer()
        .setup_defer_taskrun()
        .setup_coop_taskrun()
        .setup_cqsize(cq_entries)
        .setup_clamp()
        .build(sq_entries)
}

/// Submit pending entries and wait for at least `want` completions, or until
/// `timeout`. Returns `Ok(false)` on timeout; `EINTR` counts as "woke up".
pub fn submit_wait_timeout(ring: &IoUring, want: usize, timeout: Duration) -> io::Result<bool> {
    let ts = types::Timespec::new()
        .sec(timeout.as_secs())
        .nsec(timeout.subsec_nanos());
    let args = types::SubmitArgs::new().timespec(&ts);
    match ring.submitter().submit_with_args(want, &args) {
        Ok(_) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::ETIME) => Ok(false),
        Err(e) if e.raw_os_error() == Some(libc::EINTR) => Ok(true),
        Err(e) => Err(e),
    }
}

/// An anonymous private mapping, unmapped on drop.
struct Mmap {
    ptr: *mut u8,
    len: usize,
}

impl Mmap {
    fn anon(len: usize) -> io::Result<Self> {
        // SAFETY: anonymous private mapping, no fd, kernel-chosen address.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Self {
            ptr: ptr as *mut u8,
            len,
        })
    }
}

impl Drop for Mmap {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` are exactly what mmap returned and nothing
        // borrows the mapping past the owner's drop.
        unsafe { libc::munmap(self.ptr as *mut libc::c_void, self.len) };
    }
}

/// A provided-buffer ring (`IORING_REGISTER_PBUF_RING`, 5.19+), as the
/// engine's `reactor/bufring.rs` builds it: ring entries and buffers in two
/// anonymous mappings, tail published with a `Release` store.
///
/// Invariant: every buffer id in `0..entries` is either in the ring or held
/// by exactly one completion being processed, which recycles it once.
///
/// The caller must drop (or unregister) the `IoUring` it was registered with
/// before dropping this: the kernel reads the ring memory until then.
pub struct BufRing {
    ring: Mmap,
    bufs: Mmap,
    entries: u16,
    buf_size: u32,
    tail: u16,
    bgid: u16,
}

impl BufRing {
    /// Allocate `entries` (power of two ≤ 32768) buffers of `buf_size` bytes,
    /// all placed in the ring, and register them with `ring` as group `bgid`.
    pub fn register(ring: &IoUring, entries: u16, buf_size: u32, bgid: u16) -> io::Result<Self> {
        assert!(entries.is_power_of_two() && entries <= 32768);
        let mut this = Self {
            ring: Mmap::anon(entries as usize * std::mem::size_of::<BufRingEntry>())?,
            bufs: Mmap::anon(entries as usize * buf_size as usize)?,
            entries,
            buf_size,
            tail: 0,
            bgid,
        };
        for bid in 0..entries {
            this.push(bid);
        }
        this.publish();
        // SAFETY: the ring memory is page aligned (mmap), holds `entries`
        // entries and outlives the registration (documented caller duty:
        // the IoUring goes first).
        unsafe {
            ring.submitter().register_buf_ring_with_flags(
                this.ring.ptr as u64,
                entries,
                bgid,
                0,
            )?;
        }
        Ok(this)
    }

    /// The buffer group id to pass to `RecvMulti`.
    pub fn bgid(&self) -> u16 {
        self.bgid
    }

    /// The first `len` bytes of buffer `bid`, as filled by the kernel.
    pub fn data(&self, bid: u16, len: usize) -> &[u8] {
        assert!(bid < self.entries && len <= self.buf_size as usize);
        // SAFETY: bid < entries and len ≤ buf_size keep the slice inside the
        // `bufs` mapping; the completion that named `bid` handed the buffer
        // to us, so the kernel does not write it until we recycle it.
        unsafe {
            std::slice::from_raw_parts(
                self.bufs.ptr.add(bid as usize * self.buf_size as usize),
                len,
            )
        }
    }

    fn push(&mut self, bid: u16) {
        let idx = (self.tail & (self.entries - 1)) as usize;
        // SAFETY: idx < entries, inside the ring mapping. Only addr, len and
        // bid are written: entry 0's `resv` is the shared tail.
        unsafe {
            let e = &mut *(self.ring.ptr as *mut BufRingEntry).add(idx);
            e.set_addr(self.bufs.ptr.add(bid as usize * self.buf_size as usize) as u64);
            e.set_len(self.buf_size);
            e.set_bid(bid);
        }
        self.tail = self.tail.wrapping_add(1);
    }

    fn publish(&self) {
        // SAFETY: the tail is entry 0's `resv` field in our page-aligned ring;
        // `Release` orders the entry writes before the tail the kernel reads.
        unsafe {
            let tail = BufRingEntry::tail(self.ring.ptr as *const BufRingEntry) as *const AtomicU16;
            (*tail).store(self.tail, Ordering::Release);
        }
    }

    /// Give buffer `bid` back to the kernel.
    pub fn recycle(&mut self, bid: u16) {
        self.push(bid);
        self.publish();
    }
}

/// A connected loopback TCP pair: (client side, server side).
pub fn tcp_pair() -> io::Result<(std::net::TcpStream, std::net::TcpStream)> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    let c = std::net::TcpStream::connect(l.local_addr()?)?;
    let (s, _) = l.accept()?;
    c.set_nodelay(true)?;
    s.set_nodelay(true)?;
    Ok((c, s))
}

/// Median of a non-empty slice (sorted copy; mean of the middle two).
pub fn median(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    assert!(n > 0);
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// The `p`-th percentile (0–100, nearest rank) of a sorted slice.
pub fn percentile(sorted: &[u64], p: f64) -> u64 {
    assert!(!sorted.is_empty());
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Kernel release (`uname -r`).
pub fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

/// First `model name` in /proc/cpuinfo.
pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

/// Current UTC time as RFC 3339 (`date -u`), computed without a date crate.
pub fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// A JSON value, enough for result files.
#[derive(Debug, Clone)]
pub enum Json {
    /// `null`
    Null,
    /// `true` / `false`
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float (written with up to 4 decimals; non-finite becomes `null`).
    Num(f64),
    /// A string.
    Str(String),
    /// An array.
    Arr(Vec<Json>),
    /// An object, keys in insertion order.
    Obj(Vec<(String, Json)>),
}

impl Json {
    /// An object from `(key, value)` pairs.
    pub fn obj<const N: usize>(pairs: [(&str, Json); N]) -> Json {
        Json::Obj(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
    }

    /// A string value.
    pub fn s(v: impl Into<String>) -> Json {
        Json::Str(v.into())
    }

    /// Pretty-print with two-space indentation.
    pub fn render(&self) -> String {
        let mut out = String::new();
        self.write(&mut out, 0);
        out.push('\n');
        out
    }

    fn write(&self, out: &mut String, indent: usize) {
        let pad = |out: &mut String, n: usize| out.extend(std::iter::repeat_n(' ', n));
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Json::Num(x) if x.is_finite() => {
                let s = format!("{x:.4}");
                let s = s.trim_end_matches('0').trim_end_matches('.');
                out.push_str(if s.is_empty() || s == "-" { "0" } else { s });
            }
            Json::Num(_) => out.push_str("null"),
            Json::Str(s) => {
                out.push('"');
                for c in s.chars() {
                    match c {
                        '"' => out.push_str("\\\""),
                        '\\' => out.push_str("\\\\"),
                        '\n' => out.push_str("\\n"),
                        c if (c as u32) < 0x20 => {
                            let _ = write!(out, "\\u{:04x}", c as u32);
                        }
                        c => out.push(c),
                    }
                }
                out.push('"');
            }
            Json::Arr(v) if v.is_empty() => out.push_str("[]"),
            Json::Arr(v) => {
                out.push_str("[\n");
                for (i, x) in v.iter().enumerate() {
                    pad(out, indent + 2);
                    x.write(out, indent + 2);
                    out.push_str(if i + 1 < v.len() { ",\n" } else { "\n" });
                }
                pad(out, indent);
                out.push(']');
            }
            Json::Obj(v) if v.is_empty() => out.push_str("{}"),
            Json::Obj(v) => {
                out.push_str("{\n");
                for (i, (k, x)) in v.iter().enumerate() {
                    pad(out, indent + 2);
                    Json::Str(k.clone()).write(out, indent + 2);
                    out.push_str(": ");
                    x.write(out, indent + 2);
                    out.push_str(if i + 1 < v.len() { ",\n" } else { "\n" });
                }
                pad(out, indent);
                out.push('}');
            }
        }
    }
}

/// Header fields every result file carries.
pub fn environment() -> Vec<(String, Json)> {
    vec![
        ("date".into(), Json::s(utc_now())),
        ("kernel".into(), Json::s(kernel_release())),
        ("cpu_model".into(), Json::s(cpu_model())),
        (
            "cpus_online".into(),
            Json::Int(std::thread::available_parallelism().map_or(0, |n| n.get() as i64)),
        ),
        (
            "ring_setup".into(),
            Json::s("SINGLE_ISSUER|DEFER_TASKRUN|COOP_TASKRUN"),
        ),
        ("io_uring_crate".into(), Json::s("io-uring 0.7.15")),
    ]
}

/// Where a result file goes: `--out PATH` if given (perf/uring-experiments.sh
/// passes the run's folder, `perf/results/<date>-<commit>/`), else `<name>`
/// in the current directory, never loose in `perf/results/`.
pub fn result_path(name: &str) -> std::path::PathBuf {
    let mut args = std::env::args();
    while let Some(a) = args.next() {
        if a == "--out" {
            if let Some(p) = args.next() {
                return p.into();
            }
        }
    }
    name.into()
}

/// `--quick` on the command line: shorter runs for a smoke test.
pub fn quick() -> bool {
    std::env::args().any(|a| a == "--quick")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), 50);
        assert_eq!(percentile(&v, 99.0), 99);
        assert_eq!(percentile(&v, 100.0), 100);
    }

    #[test]
    fn json_renders() {
        let j = Json::obj([
            ("a", Json::Int(1)),
            ("b", Json::Num(1.5)),
            ("c", Json::s("x\"y")),
            ("d", Json::Arr(vec![Json::Bool(true), Json::Null])),
        ]);
        assert_eq!(
            j.render(),
            "{\n  \"a\": 1,\n  \"b\": 1.5,\n  \"c\": \"x\\\"y\",\n  \"d\": [\n    true,\n    null\n  ]\n}\n"
        );
    }
}
