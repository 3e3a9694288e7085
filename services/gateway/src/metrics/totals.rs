//! The counters' current values, read without rendering the text exposition: the
//! `/admin` sampler takes them once a second and turns successive readings into rates.

use super::{Labels, Metrics};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

/// Every counter `/admin` shows, as of one reading.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// Fan-out jobs run (room, shard and presence).
    pub jobs: u64,
    /// Posts delivered.
    pub delivered: u64,
    /// Posts throttled (full outbound queues).
    pub throttled: u64,
    /// Posts to connections found gone.
    pub gone: u64,
    /// Posts that failed otherwise.
    pub failed: u64,
    /// Jobs given up after every retry.
    pub dead_letters: u64,
    /// Jobs queued for another attempt.
    pub retries: u64,
    /// WebSocket connects accepted.
    pub connects: u64,
    /// WebSocket connects refused, for any reason.
    pub refusals: u64,
    /// Client frames received.
    pub messages: u64,
}

/// The sum over every label set of `family` (a family has few: kinds or outcomes).
fn sum(family: &Family<Labels, Counter>, labels: &[Labels]) -> u64 {
    labels
        .iter()
        .filter_map(|l| family.get(l).map(|c| c.get()))
        .sum()
}

fn one(family: &Family<Labels, Counter>, key: &'static str, value: &'static str) -> u64 {
    family
        .get(&vec![(key, value)])
        .map(|c| c.get())
        .unwrap_or(0)
}

impl Metrics {
    /// Read every counter `/admin` shows.
    pub fn totals(&self) -> Totals {
        let kinds = ["room", "shard", "presence"].map(|k| vec![("kind", k)]);
        let reasons = ["rate_limited", "unauthorized", "bad_request"].map(|r| vec![("reason", r)]);
        Totals {
            jobs: sum(&self.jobs, &kinds),
            delivered: one(&self.posts, "outcome", "delivered"),
            throttled: one(&self.posts, "outcome", "throttled"),
            gone: one(&self.posts, "outcome", "gone"),
            failed: one(&self.posts, "outcome", "failed"),
            dead_letters: self.dead_letters.get(),
            retries: self.retries.get(),
            connects: self.connects.get(),
            refusals: sum(&self.connect_refusals, &reasons),
            messages: self.messages.get(),
        }
    }
}
