//! Medians and latency percentiles.

use hdrhistogram::Histogram;
use std::time::Duration;

/// The median of some runs (the mean of the middle two for an even count).
pub fn median(values: &[f64]) -> f64 {
    assert!(!values.is_empty(), "median of nothing");
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    }
}

/// Latencies recorded in microseconds, 1 µs to 10 min, 3 significant figures.
#[derive(Debug, Clone)]
pub struct Latencies {
    histogram: Histogram<u64>,
}

impl Default for Latencies {
    fn default() -> Self {
        Self {
            histogram: Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid bounds"),
        }
    }
}

impl Latencies {
    pub fn record(&mut self, latency: Duration) {
        let us = (latency.as_micros() as u64).clamp(1, 600_000_000);
        self.histogram.record(us).expect("clamped into bounds");
    }

    pub fn add(&mut self, other: &Latencies) {
        self.histogram.add(&other.histogram).expect("same bounds");
    }

    pub fn count(&self) -> u64 {
        self.histogram.len()
    }

    /// The `q` quantile (0.5, 0.99, …) in milliseconds.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        self.histogram.value_at_quantile(q) as f64 / 1000.0
    }
}
