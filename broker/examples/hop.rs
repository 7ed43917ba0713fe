//! Publish-to-delivery latency of the broker hop: two bridges on one Redis,
//! node A publishes at a fixed rate, node B records when each message
//! arrives.
//!
//! ```text
//! redis-server --port 6390 --save '' &
//! cargo run --release -p ringws-broker --example hop -- redis://127.0.0.1:6390 10000 3 64
//! ```
//! Arguments: URL, publishes per second, seconds, payload bytes.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use ringws_broker::{Bridge, BridgeConfig, Kind};

fn main() {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .unwrap_or_else(|| "redis://127.0.0.1:6379".into());
    let rate: u64 = args.next().map_or(10_000, |a| a.parse().expect("rate"));
    let secs: u64 = args.next().map_or(3, |a| a.parse().expect("seconds"));
    let size: usize = args.next().map_or(64, |a| a.parse().expect("bytes"));
    let size = size.max(16);

    let epoch = Instant::now();
    let hist = Arc::new(Mutex::new(Histogram::<u64>::new(3).unwrap()));
    let sink = hist.clone();
    let b = Bridge::start(BridgeConfig::new(url.clone()), move |_, _, payload| {
        let sent = u64::from_le_bytes(payload[..8].try_into().unwrap());
        let now = epoch.elapsed().as_nanos() as u64;
        let _ = sink.lock().unwrap().record(now.saturating_sub(sent) / 1000);
    })
    .expect("bridge b");
    let a = Bridge::start(BridgeConfig::new(url), |_, _, _| {}).expect("bridge a");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !(a.stats().connected && b.stats().connected) {
        assert!(Instant::now() < deadline, "bridges did not connect");
        std::thread::sleep(Duration::from_millis(5));
    }
    b.subscribe("hop");
    std::thread::sleep(Duration::from_millis(100));

    let total = rate * secs;
    let interval = Duration::from_nanos(1_000_000_000 / rate.max(1));
    let start = Instant::now();
    let mut payload = vec![0u8; size];
    let cpu_before = cpu_time();
    let mut i = 0u64;
    while i < total {
        // Publish what is due, then sleep a little (spinning would take a
        // core from the bridges on a small machine).
        let due = start + interval * i as u32;
        let now = Instant::now();
        if now < due {
            std::thread::sleep(due - now);
            continue;
        }
        let stamp = epoch.elapsed().as_nanos() as u64;
        payload[..8].copy_from_slice(&stamp.to_le_bytes());
        a.publish("hop", Kind::Binary, &payload);
        i += 1;
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while b.stats().delivered < total && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    let cpu = cpu_time() - cpu_before;
    let h = hist.lock().unwrap();
    println!(
        "{rate}/s x {secs}s x {size} B: delivered {}/{total}, dropped {}, process CPU {:.2} us/msg, latency us p50 {} p90 {} p99 {} max {}",
        b.stats().delivered,
        a.stats().dropped,
        cpu.as_secs_f64() * 1e6 / total as f64,
        h.value_at_quantile(0.5),
        h.value_at_quantile(0.9),
        h.value_at_quantile(0.99),
        h.max()
    );
}

/// User + system CPU time of this process (publisher, both bridge threads).
fn cpu_time() -> Duration {
    let mut ru = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes one rusage into the pointer it is given.
    let ru = unsafe {
        libc::getrusage(libc::RUSAGE_SELF, ru.as_mut_ptr());
        ru.assume_init()
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}
