//! Counters the load tool keeps while it runs: a lock-free latency histogram (first-frame
//! latency, end-to-end lag), nearest-rank percentiles, and per-second rates.
//!
//! Everything here is bounded: a histogram is a fixed array of buckets whatever the number of
//! samples, so a 5,000-player run that records 25,000 lag samples a second for an hour costs
//! the same 20 KiB as a test that records ten.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Values below this are kept exactly (one bucket per millisecond): every latency a healthy
/// server shows falls here, so the percentiles users compare are exact.
const LINEAR_LIMIT: u64 = 1024;
/// Sub-buckets per power of two above [`LINEAR_LIMIT`]: relative error under 1/64 (1.6 %).
const SUB_BUCKETS: u64 = 64;
/// log2 of [`LINEAR_LIMIT`].
const LINEAR_BITS: u32 = 10;
/// log2 of [`SUB_BUCKETS`].
const SUB_BITS: u32 = 6;
/// Largest value recorded; larger ones are clamped (2^32 ms is 49 days).
pub const MAX_VALUE: u64 = u32::MAX as u64;
/// Number of buckets: the linear part, then 64 for each power of two from 2^10 to 2^31.
const BUCKETS: usize = (LINEAR_LIMIT + (32 - LINEAR_BITS as u64) * SUB_BUCKETS) as usize;

/// A histogram of millisecond values that many tasks record into at once, without locks.
#[derive(Debug)]
pub struct Histogram {
    buckets: Box<[AtomicU64]>,
    count: AtomicU64,
    max: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self::new()
    }
}

fn bucket_of(v: u64) -> usize {
    let v = v.min(MAX_VALUE);
    if v < LINEAR_LIMIT {
        return v as usize;
    }
    let exp = 63 - v.leading_zeros(); // >= LINEAR_BITS
    let sub = (v >> (exp - SUB_BITS)) & (SUB_BUCKETS - 1);
    (LINEAR_LIMIT + (exp - LINEAR_BITS) as u64 * SUB_BUCKETS + sub) as usize
}

/// Smallest value that lands in bucket `i`.
fn bucket_floor(i: usize) -> u64 {
    let i = i as u64;
    if i < LINEAR_LIMIT {
        return i;
    }
    let exp = (i - LINEAR_LIMIT) / SUB_BUCKETS + LINEAR_BITS as u64;
    let sub = (i - LINEAR_LIMIT) % SUB_BUCKETS;
    (SUB_BUCKETS + sub) << (exp - SUB_BITS as u64)
}

impl Histogram {
    /// An empty histogram.
    pub fn new() -> Self {
        Self {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            max: AtomicU64::new(0),
        }
    }

    /// Record one value in milliseconds.
    pub fn record(&self, ms: u64) {
        self.buckets[bucket_of(ms)].fetch_add(1, Relaxed);
        self.count.fetch_add(1, Relaxed);
        self.max.fetch_max(ms.min(MAX_VALUE), Relaxed);
    }

    /// Number of values recorded.
    pub fn count(&self) -> u64 {
        self.count.load(Relaxed)
    }

    /// Largest value recorded (`None` when empty).
    pub fn max(&self) -> Option<u64> {
        (self.count() > 0).then(|| self.max.load(Relaxed))
    }

    /// Nearest-rank percentile `p` (0 < p <= 100): the smallest recorded value such that at
    /// least p % of the values are at or below it. Exact below 1024 ms, within 1.6 % above
    /// (the bucket's lower bound, never more than the true maximum). `None` when empty.
    pub fn percentile(&self, p: f64) -> Option<u64> {
        let counts: Vec<u64> = self.buckets.iter().map(|b| b.load(Relaxed)).collect();
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return None;
        }
        let rank = nearest_rank(p, total as usize) as u64;
        let mut seen = 0;
        for (i, c) in counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Some(bucket_floor(i));
            }
        }
        self.max()
    }
}

/// 1-based nearest rank of percentile `p` among `n` sorted values (n > 0).
fn nearest_rank(p: f64, n: usize) -> usize {
    let p = p.clamp(0.0, 100.0);
    ((p / 100.0 * n as f64).ceil() as usize).clamp(1, n)
}

/// Nearest-rank percentile of values already sorted ascending; `None` when empty.
pub fn percentile_sorted(sorted: &[u64], p: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    Some(sorted[nearest_rank(p, sorted.len()) - 1])
}

/// Minimum, median and maximum of some values (sorts them in place); zeros when empty.
pub fn min_median_max(values: &mut [u64]) -> (u64, u64, u64) {
    values.sort_unstable();
    match (
        values.first(),
        percentile_sorted(values, 50.0),
        values.last(),
    ) {
        (Some(&min), Some(median), Some(&max)) => (min, median, max),
        _ => (0, 0, 0),
    }
}

/// Kilobits per second (1 kbit = 1000 bits) of `bytes` received over `ms` milliseconds;
/// 0 over an empty interval.
pub fn kbps(bytes: u64, ms: u64) -> u64 {
    if ms == 0 {
        return 0;
    }
    // bytes * 8 bits / 1000 per kbit / (ms / 1000) seconds = bytes * 8 / ms.
    bytes.saturating_mul(8) / ms
}

/// A counter read once a second: turns an ever-growing byte count into the rate of the
/// last interval.
#[derive(Debug, Clone, Copy, Default)]
pub struct RateWindow {
    last_bytes: u64,
    last_ms: u64,
}

impl RateWindow {
    /// A window starting at `now_ms` with `bytes` already counted.
    pub fn starting_at(now_ms: u64, bytes: u64) -> Self {
        Self {
            last_bytes: bytes,
            last_ms: now_ms,
        }
    }

    /// The rate in kbps since the last call (or the start), and start a new interval.
    pub fn tick(&mut self, now_ms: u64, bytes: u64) -> u64 {
        let rate = kbps(
            bytes.saturating_sub(self.last_bytes),
            now_ms.saturating_sub(self.last_ms),
        );
        self.last_bytes = bytes;
        self.last_ms = now_ms;
        rate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_exact_below_1024_and_monotonic_above() {
        for v in 0..LINEAR_LIMIT {
            assert_eq!(bucket_floor(bucket_of(v)), v);
        }
        let mut prev = 0;
        for i in 0..BUCKETS {
            let f = bucket_floor(i);
            assert!(i == 0 || f > prev, "bucket {i} floor {f} after {prev}");
            assert_eq!(bucket_of(f), i, "floor of bucket {i} maps back");
            prev = f;
        }
        assert_eq!(bucket_of(MAX_VALUE), BUCKETS - 1);
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
        // Relative error of a bucket's floor stays under 1/64.
        for v in [1024u64, 1500, 4095, 10_000, 123_456, 9_999_999, MAX_VALUE] {
            let f = bucket_floor(bucket_of(v));
            assert!(f <= v && (v - f) * 64 <= v, "{v} -> {f}");
        }
    }

    #[test]
    fn percentiles_nearest_rank() {
        let h = Histogram::new();
        assert_eq!(h.percentile(50.0), None);
        assert_eq!(h.max(), None);
        for v in 1..=100 {
            h.record(v);
        }
        assert_eq!(h.count(), 100);
        assert_eq!(h.percentile(50.0), Some(50));
        assert_eq!(h.percentile(99.0), Some(99));
        assert_eq!(h.percentile(100.0), Some(100));
        assert_eq!(h.percentile(0.0), Some(1));
        assert_eq!(h.max(), Some(100));

        // One slow outlier among 1000 samples shows at p99.9 and max, not at p99.
        let h = Histogram::new();
        for _ in 0..999 {
            h.record(20);
        }
        h.record(5000);
        assert_eq!(h.percentile(99.0), Some(20));
        assert_eq!(h.percentile(99.95), Some(4992)); // bucket floor, within 1.6 %
        assert_eq!(h.max(), Some(5000));
    }

    #[test]
    fn histogram_from_many_threads() {
        let h = std::sync::Arc::new(Histogram::new());
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let h = h.clone();
                std::thread::spawn(move || {
                    for v in 0..1000 {
                        h.record(v + t);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(h.count(), 4000);
        assert_eq!(h.max(), Some(1002));
    }

    #[test]
    fn sorted_percentiles_and_summary() {
        assert_eq!(percentile_sorted(&[], 50.0), None);
        assert_eq!(percentile_sorted(&[7], 99.0), Some(7));
        assert_eq!(percentile_sorted(&[1, 2, 3, 4], 50.0), Some(2));
        assert_eq!(percentile_sorted(&[1, 2, 3, 4, 5], 50.0), Some(3));
        let mut v = vec![530, 480, 512, 500, 520];
        assert_eq!(min_median_max(&mut v), (480, 512, 530));
        assert_eq!(min_median_max(&mut []), (0, 0, 0));
    }

    #[test]
    fn kbps_and_windows() {
        assert_eq!(kbps(64_000, 1000), 512);
        assert_eq!(kbps(64_000, 2000), 256);
        assert_eq!(kbps(1, 0), 0);
        let mut w = RateWindow::starting_at(0, 0);
        assert_eq!(w.tick(1000, 62_500), 500);
        // A late tick (1.25 s) is not overstated.
        assert_eq!(w.tick(2250, 62_500 + 78_125), 500);
        // Nothing new: zero.
        assert_eq!(w.tick(3250, 62_500 + 78_125), 0);
        // A counter that went backwards (never happens) does not underflow.
        assert_eq!(w.tick(4250, 0), 0);
    }
}
