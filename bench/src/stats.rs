//! Counters and latency histograms a load-generator thread fills, merged at the end.

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// What one thread observed during the measured window.
pub struct Recorder {
    /// Latency in nanoseconds, 3 significant digits, up to 60 s.
    pub latency: Histogram<u64>,
    /// Messages (or handshakes) completed in the window.
    pub completed: u64,
    /// Payload bytes sent in the window.
    pub bytes_out: u64,
    /// Payload bytes received in the window.
    pub bytes_in: u64,
    /// Echoes whose payload differed from what was sent.
    pub mismatches: u64,
    /// Connection failures, protocol errors, unexpected closes.
    pub errors: u64,
}

impl Default for Recorder {
    fn default() -> Self {
        Self {
            latency: Histogram::new_with_bounds(1, 60_000_000_000, 3)
                .expect("valid histogram bounds"),
            completed: 0,
            bytes_out: 0,
            bytes_in: 0,
            mismatches: 0,
            errors: 0,
        }
    }
}

impl Recorder {
    /// Records one completed operation with its latency.
    pub fn record(&mut self, latency_ns: u64) {
        // Saturate rather than drop an out-of-range sample: a stall must show up.
        let _ = self.latency.record(latency_ns.clamp(1, 60_000_000_000));
        self.completed += 1;
    }

    /// Adds another thread's observations to this one.
    pub fn merge(&mut self, other: &Recorder) {
        self.latency
            .add(&other.latency)
            .expect("same histogram bounds");
        self.completed += other.completed;
        self.bytes_out += other.bytes_out;
        self.bytes_in += other.bytes_in;
        self.mismatches += other.mismatches;
        self.errors += other.errors;
    }

    /// The latency percentiles in microseconds.
    pub fn latency_summary(&self) -> LatencySummary {
        let us = |ns: u64| ns as f64 / 1000.0;
        let h = &self.latency;
        if h.is_empty() {
            return LatencySummary::default();
        }
        LatencySummary {
            p50: us(h.value_at_quantile(0.50)),
            p90: us(h.value_at_quantile(0.90)),
            p99: us(h.value_at_quantile(0.99)),
            p999: us(h.value_at_quantile(0.999)),
            max: us(h.max()),
            mean: h.mean() / 1000.0,
        }
    }
}

/// Latency percentiles, in microseconds.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct LatencySummary {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Largest sample.
    pub max: f64,
    /// Arithmetic mean.
    pub mean: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_adds_counts_and_histograms() {
        let mut a = Recorder::default();
        let mut b = Recorder::default();
        for v in 1..=100u64 {
            a.record(v * 1000);
        }
        b.record(1_000_000);
        b.errors = 2;
        a.merge(&b);
        assert_eq!(a.completed, 101);
        assert_eq!(a.errors, 2);
        let s = a.latency_summary();
        assert!((s.p50 - 51.0).abs() < 1.0, "{s:?}");
        assert!((s.max - 1000.0).abs() < 1.0, "{s:?}");
    }
}
