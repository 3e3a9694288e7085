//! Delivery latency of the last second, for the `/admin` plots.
//!
//! The p50/p99 come from a histogram of our own, drained once a second: the Prometheus
//! histogram's buckets (1 ms × 2ⁿ) are too coarse to plot, and prometheus-client 0.26
//! does not expose their counts. Latency is measured in whole milliseconds (from the
//! job's Unix-ms commit time), so the first 32 buckets are exact (0 to 31 ms) and the
//! next 48 grow by a factor of 1.25 (a quantile above 31 ms is read to within 25 %;
//! the last bucket is open-ended, from ~18 minutes). Recording a batch of posts is one
//! atomic add.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

const BUCKETS: usize = 80;
/// Buckets `0..=EXACT` hold exactly that many milliseconds.
const EXACT: usize = 31;
const FACTOR: f64 = 1.25;

/// Counts of delivery latencies since the last [`RecentLatency::drain`].
pub struct RecentLatency {
    counts: [AtomicU64; BUCKETS],
}

impl Default for RecentLatency {
    fn default() -> Self {
        Self {
            counts: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

/// Quantiles of one drained window.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LatencyWindow {
    /// Deliveries in the window.
    pub samples: u64,
    /// Median, in milliseconds (the upper bound of its bucket: 0 is under 1 ms);
    /// `None` without samples.
    pub p50_ms: Option<f64>,
    /// 99th percentile, in milliseconds; `None` without samples.
    pub p99_ms: Option<f64>,
}

/// The upper bound of bucket `i`, in milliseconds.
fn upper_bound_ms(i: usize) -> f64 {
    if i <= EXACT {
        i as f64
    } else {
        EXACT as f64 * FACTOR.powi((i - EXACT) as i32)
    }
}

/// The bucket whose upper bound is the first at or above `ms`.
fn bucket(ms: f64) -> usize {
    let exact = EXACT as f64;
    let i = if ms <= exact {
        ms.max(0.0).ceil() as usize
    } else {
        EXACT + ((ms / exact).ln() / FACTOR.ln()).ceil() as usize
    };
    i.min(BUCKETS - 1)
}

impl RecentLatency {
    /// `count` deliveries that each took `latency`.
    pub fn observe(&self, latency: Duration, count: u64) {
        let ms = latency.as_secs_f64() * 1000.0;
        self.counts[bucket(ms)].fetch_add(count, Ordering::Relaxed);
    }

    /// Take the counts since the last drain and read their quantiles.
    pub fn drain(&self) -> LatencyWindow {
        let counts: Vec<u64> = self
            .counts
            .iter()
            .map(|c| c.swap(0, Ordering::Relaxed))
            .collect();
        let samples: u64 = counts.iter().sum();
        let quantile = |q: f64| -> Option<f64> {
            if samples == 0 {
                return None;
            }
            // The smallest bucket holding the ⌈q·n⌉-th sample.
            let rank = ((q * samples as f64).ceil() as u64).max(1);
            let mut seen = 0;
            counts.iter().enumerate().find_map(|(i, &n)| {
                seen += n;
                (seen >= rank).then(|| upper_bound_ms(i))
            })
        };
        LatencyWindow {
            samples,
            p50_ms: quantile(0.5),
            p99_ms: quantile(0.99),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_land_in_the_bucket_of_their_sample() {
        let recent = RecentLatency::default();
        recent.observe(Duration::from_millis(2), 98);
        recent.observe(Duration::from_millis(40), 2);
        let w = recent.drain();
        assert_eq!(w.samples, 100);
        assert_eq!(w.p50_ms, Some(2.0), "whole milliseconds are exact");
        let p99 = w.p99_ms.unwrap();
        assert!((40.0..50.0).contains(&p99), "p99 {p99}");
    }

    #[test]
    fn a_drain_empties_the_window() {
        let recent = RecentLatency::default();
        recent.observe(Duration::ZERO, 1);
        assert_eq!(recent.drain().p50_ms, Some(0.0));
        assert_eq!(
            recent.drain(),
            LatencyWindow {
                samples: 0,
                p50_ms: None,
                p99_ms: None
            }
        );
    }

    #[test]
    fn huge_latencies_fall_in_the_last_bucket() {
        assert_eq!(bucket(1e9), BUCKETS - 1);
    }

    #[test]
    fn every_bound_is_above_the_last() {
        for i in 1..BUCKETS {
            assert!(upper_bound_ms(i) > upper_bound_ms(i - 1), "bucket {i}");
            assert_eq!(bucket(upper_bound_ms(i)), i, "bucket {i}");
        }
    }
}
