//! How long the fan-out lets a connection's frames wait before it writes them.
//!
//! On a gateway, a delivery written at once is one `send(2)`, and that system call is
//! most of what a delivery costs: about 6 µs of kernel for a 1 KB frame on loopback,
//! against about 1 µs of our own code (docs/benchmarks.md, "What limits the fixed
//! rate"). A gateway that writes every delivery at once therefore spends a core on
//! writes at about 150,000 deliveries per second, however well it batches the rest.
//!
//! So the fan-out keeps its writes under a budget (writes per second,
//! `ROOMCAST_WRITE_BUDGET`, [`WritePacing`]). While the deliveries it is asked for
//! stay under the budget, it writes each one at once: a room of 1,000 at 10 messages
//! a second asks 10,000 a second and pays no latency for the budget. Once they go
//! over it, a connection's frames wait `recipients ÷ budget` (at most a second) and go
//! out together in one `writev`: then the gateway makes at most `budget` writes a
//! second whatever it is asked. The recipients are the distinct connections written to
//! in the last window ([`Recipients`]): connections that hear nothing do not share the
//! budget, so they do not lengthen the wait of those that do. A room of 10,000 at 10
//! messages a second asks 100,000 a second; with the default budget of 50,000 each
//! member is written every 200 ms, with the two frames of that time in one write. Its
//! broadcasts took about 90 ms of CPU each before the first member was written anyway.
//!
//! The rate is measured over [`WINDOW_MS`] and has hysteresis: pacing starts above the
//! budget and stops below half of it, so a load near the budget does not switch back
//! and forth. An operator who wants the delay always sets `ROOMCAST_WRITE_DELAY`
//! (Centrifugo's `client.write_delay`), which overrides it.

use roomcast_core::protocol::ConnectionId;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use super::recipients::Recipients;

/// The span over which deliveries per second are counted.
pub const WINDOW_MS: u64 = 250;

/// The longest a paced frame waits: past it, a client would think the room stalled.
pub const MAX_DELAY: Duration = Duration::from_secs(1);

/// The fan-out's write policy: a fixed delay, or pacing under a write budget.
#[derive(Debug)]
pub struct WritePacing {
    /// Writes per second the fan-out stays under once busy (0: never paces).
    budget: u64,
    /// `ROOMCAST_WRITE_DELAY`: when not zero, every broadcast waits this long.
    fixed: Duration,
    window_start_ms: AtomicU64,
    delivered: AtomicU64,
    /// The connections written to in this window.
    recipients: Recipients,
    /// How many there were in the last one: those that share the budget.
    sharing: AtomicU64,
    busy: AtomicBool,
}

impl WritePacing {
    /// Pacing under `budget` writes per second (0: never), or always `fixed` when it
    /// is not zero.
    pub fn new(budget: u64, fixed: Duration) -> Self {
        Self {
            budget,
            fixed,
            window_start_ms: AtomicU64::new(0),
            delivered: AtomicU64::new(0),
            recipients: Recipients::default(),
            sharing: AtomicU64::new(0),
            busy: AtomicBool::new(false),
        }
    }

    /// Count `deliveries` asked at `now_ms` (Unix ms) and say how long they wait
    /// before their connections write them: zero means write at once. Each of their
    /// connections is then [`Self::written_to`].
    pub fn delay(&self, deliveries: usize, now_ms: u64) -> Duration {
        if self.counts() {
            self.count(deliveries as u64, now_ms);
        }
        self.current()
    }

    /// Count `to` among the connections written to in this window.
    pub fn written_to(&self, to: &ConnectionId) {
        if self.counts() {
            self.recipients.add(to);
        }
    }

    /// How long a broadcast's frames wait now, without counting anything.
    pub fn current(&self) -> Duration {
        if !self.fixed.is_zero() {
            return self.fixed;
        }
        if !self.is_pacing() {
            return Duration::ZERO;
        }
        let sharing = self.sharing.load(Ordering::Relaxed).max(1);
        let ms = sharing.saturating_mul(1000) / self.budget;
        Duration::from_millis(ms.max(1)).min(MAX_DELAY)
    }

    /// The connections delivered to in the last window, which share the budget; `None`
    /// when nothing is counted (a fixed delay, or no budget).
    pub fn sharing(&self) -> Option<u64> {
        self.counts().then(|| self.sharing.load(Ordering::Relaxed))
    }

    /// Whether the rate is measured: not with a fixed delay or no budget.
    fn counts(&self) -> bool {
        self.fixed.is_zero() && self.budget != 0
    }

    /// Whether the fan-out is pacing its writes now.
    pub fn is_pacing(&self) -> bool {
        self.budget != 0 && self.busy.load(Ordering::Relaxed)
    }

    /// Add `deliveries` to the window, and close the window once it has run
    /// [`WINDOW_MS`]: its rate decides whether the next one paces. Two callers racing
    /// at a window's end may count a few deliveries in the next one instead; the rate
    /// is a load estimate, not an account.
    fn count(&self, deliveries: u64, now_ms: u64) {
        self.delivered.fetch_add(deliveries, Ordering::Relaxed);
        let start = self.window_start_ms.load(Ordering::Relaxed);
        let elapsed = now_ms.saturating_sub(start);
        if elapsed < WINDOW_MS
            || self
                .window_start_ms
                .compare_exchange(start, now_ms, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        let per_s = self.delivered.swap(0, Ordering::Relaxed) * 1000 / elapsed;
        self.sharing
            .store(self.recipients.take(), Ordering::Relaxed);
        let busy = if self.busy.load(Ordering::Relaxed) {
            per_s > self.budget / 2
        } else {
            per_s > self.budget
        };
        self.busy.store(busy, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::super::recipients::tests::ids as members;
    use super::*;

    /// Every 10 ms from `from_ms` for `ms`, `deliveries` asked and written to a
    /// tenth of `room` in turn (a shard a time, a broadcast every 100 ms); the last
    /// delay.
    fn ask(
        p: &WritePacing,
        deliveries: usize,
        room: &[ConnectionId],
        from_ms: u64,
        ms: u64,
    ) -> Duration {
        let shard = room.len().div_ceil(10).max(1);
        let mut last = Duration::ZERO;
        for (i, t) in (from_ms..from_ms + ms).step_by(10).enumerate() {
            last = p.delay(deliveries, t);
            for id in room.chunks(shard).nth(i % 10).unwrap_or_default() {
                p.written_to(id);
            }
        }
        last
    }

    #[test]
    fn under_the_budget_every_delivery_is_written_at_once() {
        let p = WritePacing::new(50_000, Duration::ZERO);
        // 1,000 members, 10 broadcasts a second: 10,000 deliveries a second.
        let room = members(1000);
        for second in 0..5 {
            for b in 0..10 {
                let at = 1_000_000 + second * 1000 + b * 100;
                assert_eq!(p.delay(1000, at), Duration::ZERO);
                room.iter().for_each(|id| p.written_to(id));
            }
        }
        assert!(!p.is_pacing());
    }

    #[test]
    fn over_the_budget_a_connection_waits_its_share_of_it() {
        let p = WritePacing::new(50_000, Duration::ZERO);
        // 10,000 members, a broadcast every 100 ms in shards of 1,000 every 10 ms:
        // 100,000 deliveries a second; 10,000 connections share 50,000 writes a
        // second, so each writes every 200 ms (within the sketch's few percent).
        let room = members(10_000);
        let delay = ask(&p, 1000, &room, 1_000_000, 1000);
        assert!(p.is_pacing());
        assert!(
            delay.abs_diff(Duration::from_millis(200)) <= Duration::from_millis(10),
            "{delay:?}"
        );
        // At most a second, however many connections share the budget.
        let crowd = members(100_000);
        let delay = ask(&p, 10_000, &crowd, 1_001_000, 1000);
        assert_eq!(delay, MAX_DELAY);
    }

    #[test]
    fn connections_that_hear_nothing_do_not_share_the_budget() {
        let p = WritePacing::new(50_000, Duration::ZERO);
        // 1,000 members at 60 broadcasts a second, 60,000 deliveries a second, on a
        // gateway that also holds quiet connections: those never come into it. The
        // 1,000 share the budget alone: 20 ms, not (1,000 + quiet) ÷ 50,000.
        let room = members(1000);
        let mut last = Duration::ZERO;
        for t in (1_000_000..1_001_000).step_by(10) {
            last = p.delay(600, t);
            room.iter().for_each(|id| p.written_to(id));
        }
        assert!(p.is_pacing());
        assert!(
            last.abs_diff(Duration::from_millis(20)) <= Duration::from_millis(1),
            "{last:?}"
        );
    }

    #[test]
    fn pacing_stops_below_half_the_budget_and_not_before() {
        let p = WritePacing::new(50_000, Duration::ZERO);
        let room = members(10_000);
        ask(&p, 1000, &room, 1_000_000, 1000);
        assert!(p.is_pacing());
        // 40,000 a second: under the budget, above half of it.
        ask(&p, 400, &room, 1_001_000, 1000);
        assert!(p.is_pacing(), "stopped pacing above half the budget");
        // 10,000 a second.
        let delay = ask(&p, 100, &room, 1_002_000, 1000);
        assert!(!p.is_pacing());
        assert_eq!(delay, Duration::ZERO);
    }

    #[test]
    fn a_fixed_delay_always_applies_and_a_zero_budget_never_paces() {
        let fixed = WritePacing::new(50_000, Duration::from_millis(30));
        assert_eq!(fixed.delay(1, 0), Duration::from_millis(30));
        let never = WritePacing::new(0, Duration::ZERO);
        assert_eq!(ask(&never, 100_000, &members(100), 0, 1000), Duration::ZERO);
        assert!(!never.is_pacing());
    }
}
