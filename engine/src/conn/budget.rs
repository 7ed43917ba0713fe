//! A worker's memory budget: everything it buffers for peers, summed.
//!
//! Counted: each connection's partial-message buffer (the codec's assembly
//! buffer, or the same buffer while it is lent to a direct receive), its
//! send queue and the events it holds while paused, recomputed whenever the
//! worker settles the connection; the receive ring, as a fixed charge; and
//! whatever other code charges through [`Budget::charge`] /
//! [`Budget::release`] (inflate/deflate state, TLS records: each charges
//! what it allocates for a peer and releases it when freed).
//!
//! Marks (the way Envoy's overload manager treats heap pressure):
//! * **soft** (80 %): reads of the connections holding the largest partial
//!   messages (at least [`PAUSE_MIN`]) are paused; TCP pushes back on
//!   those peers. Smaller partial messages and whole messages carry on.
//! * **hard** (100 %): the connections holding the largest partial
//!   messages are closed with 1013 (try again later) until usage is below
//!   the soft mark, and new upgrades are answered with HTTP 503 until
//!   usage falls below the low mark.
//! * **low** (60 %): paused connections are read again; upgrades are
//!   accepted again.

/// Partial messages smaller than this are never paused or closed by the
/// budget: small honest traffic is left alone.
pub(crate) const PAUSE_MIN: usize = 64 << 10;

/// How full the budget is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Pressure {
    /// Below the soft mark.
    Normal,
    /// At or above the soft mark (80 %).
    Soft,
    /// At or above the hard mark (the budget).
    Hard,
}

/// The memory budget of one worker (the server's budget divided by the
/// number of workers). Usage is a count of bytes, not an allocator query:
/// it is what the worker holds for peers, at its buffers' capacities.
#[derive(Debug)]
pub struct Budget {
    limit: usize,
    used: usize,
    /// Set at the hard mark, cleared below the low mark: upgrades are
    /// refused meanwhile.
    overloaded: bool,
    /// Connections paused by the budget right now.
    pub(crate) paused_now: usize,
}

impl Budget {
    /// A budget of `limit` bytes (at least 1).
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            limit: limit.max(1),
            used: 0,
            overloaded: false,
            paused_now: 0,
        }
    }

    /// Count `bytes` more held for peers (an allocation made for a
    /// connection outside the buffers the worker counts itself).
    pub fn charge(&mut self, bytes: usize) {
        self.used = self.used.saturating_add(bytes);
    }

    /// Those bytes were freed.
    pub fn release(&mut self, bytes: usize) {
        self.used = self.used.saturating_sub(bytes);
    }

    /// A connection's footprint is now `now` bytes; `charged` is what it
    /// was charged so far (updated).
    pub(crate) fn recharge(&mut self, charged: &mut usize, now: usize) {
        if now != *charged {
            self.release(*charged);
            self.charge(now);
            *charged = now;
        }
    }

    /// Bytes counted now.
    pub fn used(&self) -> usize {
        self.used
    }

    /// The budget in bytes.
    pub fn limit(&self) -> usize {
        self.limit
    }

    fn soft(&self) -> usize {
        self.limit / 10 * 8
    }

    fn low(&self) -> usize {
        self.limit / 10 * 6
    }

    /// How full the budget is; updates the overload state (set at the hard
    /// mark, cleared below the low mark).
    pub(crate) fn pressure(&mut self) -> Pressure {
        if self.used >= self.limit {
            self.overloaded = true;
            Pressure::Hard
        } else {
            if self.used < self.low() {
                self.overloaded = false;
            }
            if self.used >= self.soft() {
                Pressure::Soft
            } else {
                Pressure::Normal
            }
        }
    }

    /// At or above the soft mark (no state change).
    pub(crate) fn over_soft(&self) -> bool {
        self.used >= self.soft()
    }

    /// Usage is below the low mark: paused connections may read again.
    pub(crate) fn below_low(&self) -> bool {
        self.used < self.low()
    }

    /// How many bytes must be freed to get below the soft mark.
    pub(crate) fn excess_over_soft(&self) -> usize {
        (self.used + 1).saturating_sub(self.soft())
    }

    /// New upgrades are refused (503): the hard mark was reached and usage
    /// has not yet fallen below the low mark.
    pub(crate) fn refusing(&self) -> bool {
        self.overloaded
    }
}

/// The default budget: half the machine's memory (`MemTotal` in
/// `/proc/meminfo`), or 4 GiB where that cannot be read.
pub(crate) fn default_budget() -> usize {
    let total = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                let kib = l.strip_prefix("MemTotal:")?.trim().strip_suffix("kB")?;
                kib.trim().parse::<u64>().ok()
            })
        })
        .map(|kib| kib.saturating_mul(1024));
    total.map_or(4 << 30, |b| usize::try_from(b / 2).unwrap_or(usize::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_and_hysteresis() {
        let mut b = Budget::new(1000);
        let mut c = 0;
        b.recharge(&mut c, 500);
        assert_eq!((b.used(), b.pressure()), (500, Pressure::Normal));
        b.recharge(&mut c, 800);
        assert_eq!(b.pressure(), Pressure::Soft);
        assert!(!b.refusing());
        b.charge(200);
        assert_eq!(b.pressure(), Pressure::Hard);
        assert!(b.refusing());
        assert_eq!(b.excess_over_soft(), 201);
        b.release(200);
        b.recharge(&mut c, 650);
        assert_eq!(b.pressure(), Pressure::Normal);
        assert!(b.refusing(), "refusing until below the low mark");
        b.recharge(&mut c, 599);
        assert_eq!(b.pressure(), Pressure::Normal);
        assert!(!b.refusing() && b.below_low());
        b.recharge(&mut c, 0);
        assert_eq!((b.used(), c), (0, 0));
    }

    #[test]
    fn the_default_is_half_the_machine() {
        let d = default_budget();
        assert!(d >= 64 << 20, "{d}");
    }
}
