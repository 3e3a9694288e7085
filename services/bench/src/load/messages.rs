//! Per-message counters: how many receivers have each message, and how late its last
//! delivery was.
//!
//! The first decides when the as-fast-as-possible window may publish again; the
//! second says what a p99 over deliveries is made of. In a room of 1,000, a message's
//! 990th delivery is its own p99, so if every broadcast took the same time, the
//! deliveries' p99 would be about the median message's *last* delivery: the time one
//! broadcast takes end to end. Where the p99 is well above that, it is made by the
//! slower broadcasts, not by every broadcast's stragglers.

use std::ops::Range;
use std::sync::atomic::{AtomicU32, Ordering};

/// Messages tracked at once, indexed by sequence number modulo this (much larger than
/// any window).
pub const RING: usize = 1 << 14;

/// One message's counters, side by side so that a delivery touches one cache line.
#[derive(Default)]
struct Slot {
    delivered: AtomicU32,
    /// The latest delivery's latency, µs (u32: 71 minutes).
    slowest_us: AtomicU32,
}

/// The counters of the last [`RING`] messages.
pub struct Messages {
    slots: Box<[Slot]>,
}

impl Messages {
    pub fn new() -> Self {
        Self {
            slots: (0..RING).map(|_| Slot::default()).collect(),
        }
    }

    fn slot(&self, seq: u64) -> &Slot {
        &self.slots[seq as usize % RING]
    }

    /// Start counting message `seq` (before it is published).
    pub fn reset(&self, seq: u64) {
        let slot = self.slot(seq);
        slot.delivered.store(0, Ordering::Release);
        slot.slowest_us.store(0, Ordering::Release);
    }

    /// One delivery of `seq`, `latency_us` after it was sent; returns how many
    /// receivers have it now.
    pub fn delivered_to_one(&self, seq: u64, latency_us: u64) -> u32 {
        let slot = self.slot(seq);
        let latency = u32::try_from(latency_us).unwrap_or(u32::MAX);
        if latency > slot.slowest_us.load(Ordering::Relaxed) {
            slot.slowest_us.fetch_max(latency, Ordering::Relaxed);
        }
        slot.delivered.fetch_add(1, Ordering::AcqRel) + 1
    }

    /// How many receivers have `seq`.
    pub fn delivered(&self, seq: u64) -> u32 {
        self.slot(seq).delivered.load(Ordering::Acquire)
    }

    /// The last delivery of each of `seqs` that anyone received, ms, sorted; only the
    /// newest [`RING`] of them are still counted.
    pub fn slowest_ms(&self, seqs: Range<u64>) -> Vec<f64> {
        let from = seqs.start.max(seqs.end.saturating_sub(RING as u64));
        let mut slowest: Vec<f64> = (from..seqs.end)
            .filter(|&seq| self.delivered(seq) > 0)
            .map(|seq| f64::from(self.slot(seq).slowest_us.load(Ordering::Acquire)) / 1e3)
            .collect();
        slowest.sort_by(f64::total_cmp);
        slowest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_message_keeps_its_count_and_its_latest_delivery() {
        let m = Messages::new();
        for seq in 1..=3 {
            m.reset(seq);
        }
        assert_eq!(m.delivered_to_one(1, 5_000), 1);
        assert_eq!(m.delivered_to_one(1, 2_000), 2);
        assert_eq!(m.delivered_to_one(2, 9_000), 1);
        assert_eq!(m.delivered(1), 2);
        // Message 3 reached no one: it has no last delivery to report.
        assert_eq!(m.slowest_ms(1..4), vec![5.0, 9.0]);
        m.reset(1);
        assert_eq!((m.delivered(1), m.slowest_ms(1..2)), (0, vec![]));
    }

    #[test]
    fn a_long_phase_reports_its_newest_ring_messages() {
        let m = Messages::new();
        for seq in 0..RING as u64 + 10 {
            m.reset(seq);
            m.delivered_to_one(seq, seq * 1_000);
        }
        let slowest = m.slowest_ms(0..RING as u64 + 10);
        assert_eq!(slowest.len(), RING);
        assert_eq!(slowest[0], 10.0);
    }
}
