//! The fan-out arithmetic: which knobs a workload needs and how long a delivery takes.
//!
//! One update to a room of `members` is one job; a room above `SHARD_SIZE` becomes
//! `ceil(members / SHARD_SIZE)` shard jobs that run `POOL_SIZE` at a time, each with
//! `POST_CONCURRENCY` posts in flight, so (docs/operations.md):
//!
//! time ≈ members × post latency / (POST_CONCURRENCY × active shards),
//! floored by members / RATE_LIMIT.

/// What the operator expects to carry.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Workload {
    /// Connections in one room.
    pub members: u64,
    /// Rooms of that size live at once.
    pub rooms: u64,
    /// Updates per minute in each room.
    pub updates_per_minute: f64,
    /// Hours a month the rooms are live.
    pub hours: f64,
    /// One PostToConnection round trip, milliseconds.
    pub post_latency_ms: f64,
    /// Wanted time from commit to the last member, milliseconds.
    pub target_ms: f64,
    /// Posts per second the account may make (API Gateway's account throttle, shared
    /// with every API in the region: 10,000 steady by default).
    pub account_rate: u64,
}

use roomcast_core::fanout::Knobs;
use roomcast_core::presence::PresencePolicy;

/// The largest shard suggested: a shard job carries its connection ids (about 19 bytes
/// each in JSON); 5,000 stay well inside SQS's 256 KiB message limit (core accepts up
/// to [`Knobs::SHARD_SIZE`]) and cost two 64 KB billing chunks.
pub const MAX_SHARD_SIZE: u64 = 5_000;
/// The SQS event source's maximum concurrency range (`POOL_SIZE`; SQS needs at least 2).
pub const POOL_SIZE_RANGE: (u64, u64) = (2, *Knobs::POOL_SIZE.end() as u64);
/// Commit to broadcaster start: the SQS send and the event source's poll, plus the
/// membership query (assumed, typical in-region figures; CloudWatch shows yours).
pub const QUEUE_HOP_MS: f64 = 60.0;

/// API Gateway closes a connection after 2 hours; clients reconnect, so every member
/// joins (and leaves) at least this often.
pub const CONNECTION_HOURS: f64 = 2.0;

impl Workload {
    /// Posts per second the updates need on average.
    pub fn update_post_rate(&self) -> f64 {
        self.members as f64 * self.rooms as f64 * self.updates_per_minute / 60.0
    }

    /// Joins and leaves per second in one room: each member joins and leaves at least
    /// every 2 hours.
    fn changes_per_s(&self) -> f64 {
        2.0 * self.members as f64 / (CONNECTION_HOURS * 3600.0)
    }

    /// Coalesced presence broadcasts per second over all rooms
    /// (`roomcast_core::presence`): a change that finds no broadcast pending schedules
    /// one a delay `d = max(PRESENCE_INTERVAL, members / PRESENCE_BUDGET)` later, and
    /// the changes meanwhile ride along, so a room with `c` changes a second hears
    /// `c / (1 + c·d)` broadcasts a second — `c` when quiet, `1/d` when busy.
    pub fn presence_broadcast_rate(&self) -> f64 {
        let policy = PresencePolicy::default();
        let c = self.changes_per_s();
        let d = policy
            .delay(u32::try_from(self.members).unwrap_or(u32::MAX))
            .as_secs_f64();
        self.rooms as f64 * c / (1.0 + c * d)
    }

    /// Posts per second of presence counts: each broadcast goes to every member, and
    /// each joiner gets the count with its answer (within the budget: a room of N is
    /// posted at most `PRESENCE_BUDGET` counts a second however busy).
    pub fn presence_post_rate(&self) -> f64 {
        let joins = self.rooms as f64 * self.changes_per_s() / 2.0;
        self.presence_broadcast_rate() * self.members as f64 + joins
    }

    /// Knobs that meet the target where the account's rate allows it.
    pub fn suggest(&self) -> Knobs {
        let post_concurrency =
            u64::from(Knobs::default().post_concurrency).min(self.members.max(1));
        // A shard's members are posted in SHARD_SIZE × L / PC: size shards to fit the
        // target after the queue hop, in round hundreds.
        let budget_ms = (self.target_ms - QUEUE_HOP_MS).max(self.post_latency_ms);
        let fit = (budget_ms * post_concurrency as f64 / self.post_latency_ms) as u64;
        let shard_size = round_down_100(fit).clamp(100, MAX_SHARD_SIZE);
        let shards = self.members.div_ceil(shard_size).max(1);
        // Enough instances for one update's shards at once, and for the jobs that
        // overlap (Little's law: arrival rate × time each holds an instance).
        let shard_ms =
            shard_size.min(self.members) as f64 * self.post_latency_ms / post_concurrency as f64;
        let jobs_per_s = self.rooms as f64 * self.updates_per_minute / 60.0;
        let busy = jobs_per_s * shards as f64 * (shard_ms + QUEUE_HOP_MS) / 1000.0;
        let pool_size = shards
            .max((busy * 1.5).ceil() as u64)
            .clamp(POOL_SIZE_RANGE.0, POOL_SIZE_RANGE.1);
        // Each instance gets RATE_LIMIT / POOL_SIZE: a large room must spread over the
        // whole pool, or the rate of the idle instances is lost.
        let shard_size = if self.members > shard_size {
            shard_size.min(self.members.div_ceil(pool_size))
        } else {
            shard_size
        };
        // Keep 20% of the account's throttle for everything else it serves.
        let rate_limit = self.account_rate * 8 / 10;
        // All within core's ranges by the clamps above.
        let narrow = |n: u64| u32::try_from(n).unwrap_or(u32::MAX);
        Knobs {
            shard_size: narrow(shard_size),
            pool_size: narrow(pool_size),
            post_concurrency: narrow(post_concurrency),
            rate_limit: narrow(rate_limit),
        }
    }

    /// Commit to last member, milliseconds, with these knobs.
    pub fn delivery_ms(&self, knobs: &Knobs) -> f64 {
        let (shard_size, pool_size) = (u64::from(knobs.shard_size), u64::from(knobs.pool_size));
        let shards = self.members.div_ceil(shard_size.max(1)).max(1);
        let active = shards.min(pool_size.max(1));
        let rounds = shards.div_ceil(active);
        let per_shard = self.members.min(shard_size) as f64;
        let posting = rounds as f64 * per_shard * self.post_latency_ms
            / f64::from(knobs.post_concurrency.max(1));
        // Each instance posts at RATE_LIMIT / POOL_SIZE (docs/operations.md), so only the
        // active instances' shares count.
        let floor = if knobs.rate_limit > 0 {
            let share = f64::from(knobs.rate_limit) * active as f64 / pool_size.max(1) as f64;
            self.members as f64 * 1000.0 / share
        } else {
            0.0
        };
        let hop = if shards > 1 {
            2.0 * QUEUE_HOP_MS
        } else {
            QUEUE_HOP_MS
        };
        hop + posting.max(floor)
    }

    /// Shard jobs per update.
    pub fn shards(&self, knobs: &Knobs) -> u64 {
        let shard_size = u64::from(knobs.shard_size.max(1));
        if self.members <= shard_size {
            0
        } else {
            self.members.div_ceil(shard_size)
        }
    }
}

fn round_down_100(n: u64) -> u64 {
    if n >= 100 { n / 100 * 100 } else { n }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn room(members: u64) -> Workload {
        Workload {
            members,
            rooms: 1,
            updates_per_minute: 60.0,
            hours: 720.0,
            post_latency_ms: 30.0,
            target_ms: 1000.0,
            account_rate: 10_000,
        }
    }

    #[test]
    fn the_documented_formula_holds() {
        // 10,000 members, shards of 1,000, 10 instances, 64 in flight, 30 ms:
        // 1,000 × 30 / 64 = 468.75 ms of posting, under the rate floor of
        // 10,000 / 8,000 posts/s = 1,250 ms, so the floor wins.
        let w = room(10_000);
        let knobs = Knobs {
            shard_size: 1_000,
            pool_size: 10,
            post_concurrency: 64,
            rate_limit: 8_000,
        };
        assert_eq!(w.delivery_ms(&knobs), 2.0 * QUEUE_HOP_MS + 1_250.0);
        let unlimited = Knobs {
            rate_limit: 0,
            ..knobs
        };
        assert_eq!(w.delivery_ms(&unlimited), 2.0 * QUEUE_HOP_MS + 468.75);
        // Half the instances: two rounds.
        let half = Knobs {
            pool_size: 5,
            ..unlimited
        };
        assert_eq!(w.delivery_ms(&half), 2.0 * QUEUE_HOP_MS + 937.5);
    }

    #[test]
    fn coalesced_presence_stays_within_the_budget_and_is_linear_when_quiet() {
        let budget = f64::from(PresencePolicy::default().budget);
        // 10,000 members: 2.8 changes/s, one broadcast every 10 s at most.
        let big = room(10_000);
        assert!(big.presence_post_rate() <= budget + big.changes_per_s());
        assert!(
            big.presence_post_rate() > 0.9 * budget,
            "a busy room uses its budget"
        );
        // 100 members: 0.03 changes/s, nearly one broadcast per change (N posts each).
        let small = room(100);
        let c = small.changes_per_s();
        let per_change = small.presence_broadcast_rate() / c;
        assert!((0.95..=1.0).contains(&per_change), "{per_change}");
        // Before coalescing: c × N posts a second; 10,000 members made 27,800/s.
        assert!(big.presence_post_rate() < big.changes_per_s() * 10_000.0 / 25.0);
    }

    #[test]
    fn a_small_room_is_delivered_in_place() {
        let w = room(100);
        let k = w.suggest();
        assert_eq!(w.shards(&k), 0);
        assert_eq!(u64::from(k.pool_size), POOL_SIZE_RANGE.0);
        // 100 × 30 ms / 64 in flight, after one queue hop.
        assert_eq!(w.delivery_ms(&k), QUEUE_HOP_MS + 100.0 * 30.0 / 64.0);
    }

    #[test]
    fn suggested_knobs_meet_the_target_until_the_rate_floor() {
        for members in [1_000, 10_000, 50_000] {
            let w = room(members);
            let k = w.suggest();
            assert_eq!(k.validate(), Ok(k));
            let (shard_size, pool_size) = (u64::from(k.shard_size), u64::from(k.pool_size));
            assert!(shard_size <= MAX_SHARD_SIZE);
            // The rate floor of the instances the room keeps busy.
            let active = members.div_ceil(shard_size).min(pool_size);
            let share = f64::from(k.rate_limit) * active as f64 / pool_size as f64;
            let floor = members as f64 * 1000.0 / share;
            if members > shard_size {
                assert!(active * 10 >= pool_size * 9, "{members}: pool idle: {k:?}");
            }
            let t = w.delivery_ms(&k);
            assert!(
                t <= w.target_ms + 2.0 * QUEUE_HOP_MS || t <= floor + 2.0 * QUEUE_HOP_MS,
                "{members}: {t} ms with {k:?}"
            );
        }
    }
}
