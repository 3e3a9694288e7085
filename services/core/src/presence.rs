//! Coalesced presence: a room hears its member count at most once per interval, and
//! never at more than a budget of posts per second, whatever its churn.
//!
//! Broadcasting a `presence` on every join and leave costs a room of N members about
//! N²/2 posts to fill (10,000 connects: ~50 M `PostToConnection` calls). Instead, a
//! change only *marks* the room's presence as pending; the first mark schedules one
//! delayed [`PresenceJob`]. When that job runs, the broadcaster clears the mark and
//! reads the member count in one step, then sends that exact count to the room. A
//! change after the clear sets a new mark and schedules the next job, so the last
//! change is always followed by one broadcast with the final count.
//!
//! Both homes run this same code; they differ only in where the mark lives (the local
//! gateway's memory, a conditional update of the DynamoDB room item) and how the delay
//! is kept (an in-process timer, SQS `DelaySeconds`).
//!
//! [`PresenceJob`]: crate::fanout::PresenceJob

use std::time::Duration;

use crate::fanout::{FanoutJob, PresenceJob, now_ms};
use crate::ports::{BackendError, FanoutQueue, Headcount, MembershipStore};
use crate::protocol::{ConnectionId, RoomName};

/// `PRESENCE_INTERVAL` by default: a room hears its count at most once a second.
pub const DEFAULT_PRESENCE_INTERVAL: Duration = Duration::from_secs(1);
/// `PRESENCE_BUDGET` by default: presence posts per second one room may cost.
pub const DEFAULT_PRESENCE_BUDGET: u32 = 1_000;
/// A pending mark this much older than its room's delay is taken to belong to a lost
/// job (a crash between marking and enqueueing), and the next change takes it over.
const STALE_GRACE: Duration = Duration::from_secs(60);

/// How often a room may hear its member count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PresencePolicy {
    /// `PRESENCE_INTERVAL`: the shortest time between two broadcasts to one room.
    pub interval: Duration,
    /// `PRESENCE_BUDGET`: presence posts per second one room may cost; a room of
    /// `members` waits at least `members / budget` seconds between broadcasts.
    pub budget: u32,
}

impl Default for PresencePolicy {
    fn default() -> Self {
        Self {
            interval: DEFAULT_PRESENCE_INTERVAL,
            budget: DEFAULT_PRESENCE_BUDGET,
        }
    }
}

impl PresencePolicy {
    /// The shortest `PRESENCE_INTERVAL`: a timer per room per interval.
    pub const MIN_INTERVAL: Duration = Duration::from_millis(10);
    /// The longest `PRESENCE_INTERVAL`: SQS's longest `DelaySeconds`, so both homes
    /// accept the same settings.
    pub const MAX_INTERVAL: Duration = Duration::from_secs(900);

    /// `interval` if it is a valid `PRESENCE_INTERVAL`, else why not. Each home parses
    /// the text its own way and checks the range here.
    pub fn check_interval(interval: Duration) -> Result<Duration, String> {
        if (Self::MIN_INTERVAL..=Self::MAX_INTERVAL).contains(&interval) {
            Ok(interval)
        } else {
            Err(format!(
                "{interval:?} is outside {:?}..={:?}",
                Self::MIN_INTERVAL,
                Self::MAX_INTERVAL
            ))
        }
    }

    /// How long a room of `members` waits before its next presence broadcast: the
    /// interval, stretched so that one broadcast every delay stays within the budget
    /// (10,000 members at 1,000 posts/s: every 10 s).
    pub fn delay(&self, members: u32) -> Duration {
        let budgeted = Duration::from_secs_f64(f64::from(members) / f64::from(self.budget.max(1)));
        self.interval.max(budgeted)
    }

    /// A mark set before this is abandoned and may be taken over.
    fn stale_before(&self, now_ms: u64, members: u32) -> u64 {
        let stale = self.delay(members).saturating_mul(2) + STALE_GRACE;
        mark_at(now_ms.saturating_sub(stale.as_millis() as u64), 0)
    }
}

/// A pending mark: the Unix ms it was set at, times 65,536, plus 16 random bits. Marks
/// order by time (for staleness), and two set in the same millisecond still differ,
/// so a redelivered job can never clear a newer change's mark.
pub fn mark_at(unix_ms: u64, random: u16) -> u64 {
    (unix_ms << 16) | u64::from(random)
}

/// Marks rooms' presence as pending and schedules the jobs that announce it. Held by
/// the handler (joins, leaves, connects, disconnects) and by the deliverer (connections
/// found gone), so members hear the same presence either way.
#[derive(Clone, Copy)]
pub(crate) struct Presence<'a> {
    pub members: &'a dyn MembershipStore,
    pub queue: &'a dyn FanoutQueue,
    pub policy: PresencePolicy,
}

impl Presence<'_> {
    /// `room` now has `count`: make sure a broadcast of its headcount follows.
    pub async fn changed(&self, room: &RoomName, count: Headcount) -> Result<(), BackendError> {
        let members = count.members;
        let now = now_ms();
        let mark = mark_at(now, rand::random());
        let stale_before = self.policy.stale_before(now, members);
        if !self.members.mark_presence(room, mark, stale_before).await? {
            // A job is already scheduled; it will read the count this change made.
            return Ok(());
        }
        let job = FanoutJob::Presence(PresenceJob {
            room: room.clone(),
            mark,
        });
        if let Err(e) = self
            .queue
            .enqueue_after(job, self.policy.delay(members))
            .await
        {
            // Without its job the mark would hold back every later broadcast until it
            // goes stale: give it back, so the next change schedules one.
            let _ = self.members.take_presence(room, mark).await;
            return Err(e);
        }
        Ok(())
    }

    /// Forget a connection; the rooms it was in will hear their new counts. Shared by
    /// `$disconnect` and the deliverer's cleanup of gone connections.
    pub async fn depart(&self, id: &ConnectionId) -> Result<(), BackendError> {
        for left in self.members.disconnect(id).await? {
            self.changed(&left.room, left.count).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_delay_is_the_interval_until_the_budget_stretches_it() {
        let p = PresencePolicy::default();
        assert_eq!(p.delay(0), Duration::from_secs(1));
        assert_eq!(p.delay(1_000), Duration::from_secs(1));
        assert_eq!(p.delay(2_500), Duration::from_millis(2_500));
        assert_eq!(p.delay(10_000), Duration::from_secs(10));
        let p = PresencePolicy {
            interval: Duration::from_millis(200),
            budget: 0,
        };
        assert_eq!(
            p.delay(3),
            Duration::from_secs(3),
            "a zero budget counts as 1/s"
        );
    }

    #[test]
    fn the_interval_is_checked_against_sqs_delays() {
        assert!(PresencePolicy::check_interval(Duration::from_millis(10)).is_ok());
        assert!(PresencePolicy::check_interval(Duration::from_secs(900)).is_ok());
        assert!(PresencePolicy::check_interval(Duration::from_millis(9)).is_err());
        assert!(PresencePolicy::check_interval(Duration::from_secs(901)).is_err());
    }

    #[test]
    fn a_mark_goes_stale_two_delays_and_a_minute_later() {
        let p = PresencePolicy::default();
        let now = 1_000_000;
        assert_eq!(p.stale_before(now, 10), mark_at(now - 62_000, 0));
        assert_eq!(p.stale_before(now, 10_000), mark_at(now - 80_000, 0));
        assert_eq!(p.stale_before(10, 10), 0);
        assert!(
            mark_at(now, u16::MAX) < mark_at(now + 1, 0),
            "marks order by time"
        );
    }
}
