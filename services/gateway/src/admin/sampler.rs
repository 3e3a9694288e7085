//! Builds a [`Snapshot`] from what the gateway already keeps: the metrics' counters,
//! the connection registry, the membership store and the room activity. Rates are the
//! difference between two successive readings over the time between them, so the page
//! shows per-second figures without the gateway counting per second anywhere.

use roomcast_core::fanout::now_ms;
use roomcast_core::ports::{MembershipStore, RoomStore};
use roomcast_core::protocol::RoomName;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use super::activity::RoomActivity;
use super::recent_errors::RecentErrors;
use super::snapshot::{ConnectionsView, FanoutView, RoomView, Snapshot};
use crate::fanout::LocalPoster;
use crate::metrics::{Metrics, Totals};
use crate::store::MemoryMembers;
use crate::ws::registry::Connections;
use roomcast_core::fanout::Knobs;

/// Rooms taken from the membership store per update (its largest rooms first); the
/// page sorts those by activity.
pub const ROOMS_LISTED: usize = 200;
/// Versions read from the room store per update for listed rooms that did not change
/// since the gateway started, so a page opened on many rooms does not stall a tick.
const VERSION_READS_PER_UPDATE: usize = 20;
/// Rooms whose activity is kept while no page is open; beyond it the record starts over
/// (a page open prunes it to the listed rooms every second instead).
const ROOMS_TRACKED_UNWATCHED: usize = 10_000;

/// Everything a snapshot is read from.
pub struct Sources {
    pub metrics: Arc<Metrics>,
    pub connections: Arc<Connections>,
    pub members: Arc<MemoryMembers>,
    pub rooms: Arc<dyn RoomStore>,
    pub poster: Arc<LocalPoster>,
    pub activity: Arc<RoomActivity>,
    pub errors: &'static RecentErrors,
    pub knobs: Knobs,
}

/// Turns successive readings into snapshots.
pub struct Sampler {
    sources: Sources,
    last: (Instant, Totals),
    /// Each listed room's change count at the last full snapshot, and when that was.
    last_rooms: (Instant, HashMap<RoomName, u64>),
}

/// `(now - before) / seconds`, 0 for no time.
fn rate(now: u64, before: u64, seconds: f64) -> f64 {
    if seconds <= 0.0 {
        return 0.0;
    }
    now.saturating_sub(before) as f64 / seconds
}

impl Sampler {
    /// A sampler whose first rates count from now.
    pub fn new(sources: Sources) -> Self {
        let now = Instant::now();
        let totals = sources.metrics.totals();
        Self {
            sources,
            last: (now, totals),
            last_rooms: (now, HashMap::new()),
        }
    }

    /// Advance the readings without building a snapshot (nobody is watching): the
    /// counters and the latency window stay one interval old, so the next snapshot's
    /// rates and quantiles are about the last second, not the time since the last page.
    pub fn skip(&mut self) {
        self.last = (Instant::now(), self.sources.metrics.totals());
        self.sources.metrics.recent_latency.drain();
        if self.sources.activity.len() > ROOMS_TRACKED_UNWATCHED {
            self.sources.activity.retain(|_| false);
        }
    }

    /// Read everything and build the next snapshot.
    pub async fn sample(&mut self) -> Snapshot {
        let s = &self.sources;
        let now = Instant::now();
        let totals = s.metrics.totals();
        let (before_at, before) = std::mem::replace(&mut self.last, (now, totals));
        let seconds = now.duration_since(before_at).as_secs_f64();
        let per_second = |now: u64, before: u64| rate(now, before, seconds);
        let connections = ConnectionsView {
            census: s.connections.census(),
            slow_consumers_closed: s.poster.slow_consumers_closed(),
            connects_per_second: per_second(totals.connects, before.connects),
            refusals_per_second: per_second(totals.refusals, before.refusals),
            messages_per_second: per_second(totals.messages, before.messages),
        };
        let fanout = FanoutView {
            jobs_per_second: per_second(totals.jobs, before.jobs),
            posts_per_second: per_second(totals.delivered, before.delivered),
            throttled_per_second: per_second(totals.throttled, before.throttled),
            gone_per_second: per_second(totals.gone, before.gone),
            throttled: totals.throttled,
            gone: totals.gone,
            failed: totals.failed,
            dead_letters: totals.dead_letters,
            latency: s.metrics.recent_latency.drain(),
            write_delay_ms: s.poster.write_delay().as_millis() as u64,
            write_recipients: s.poster.write_recipients(),
        };
        let rooms = self.rooms(now).await;
        let s = &self.sources;
        Snapshot {
            at: now_ms(),
            interval_seconds: seconds,
            build_micros: 0,
            knobs: s.knobs,
            connections,
            fanout,
            room_count: s.members.room_count(),
            rooms,
            errors: s.errors.newest_first(),
        }
    }

    /// The listed rooms with their versions and change rates, busiest first.
    async fn rooms(&mut self, now: Instant) -> Vec<RoomView> {
        let s = &self.sources;
        // The in-memory store cannot fail; an error would leave the list empty.
        let summaries = s.members.rooms(ROOMS_LISTED).await.unwrap_or_default();
        let (before_at, before) = std::mem::replace(&mut self.last_rooms, (now, HashMap::new()));
        let seconds = now.duration_since(before_at).as_secs_f64();
        let mut counts = HashMap::with_capacity(summaries.len());
        let mut reads = 0;
        let mut rooms = Vec::with_capacity(summaries.len());
        for summary in summaries {
            let mut seen = s.activity.get(&summary.room);
            if seen.is_none() && reads < VERSION_READS_PER_UPDATE {
                reads += 1;
                if let Ok(state) = s.rooms.load(&summary.room).await {
                    s.activity.learn_version(&summary.room, state.state.version);
                    seen = s.activity.get(&summary.room);
                }
            }
            let changes = seen.map(|c| c.changes).unwrap_or(0);
            let earlier = before.get(&summary.room).copied().unwrap_or(changes);
            counts.insert(summary.room.clone(), changes);
            rooms.push(RoomView {
                version: seen.map(|c| c.version),
                changes_per_second: rate(changes, earlier, seconds),
                summary,
            });
        }
        // Rooms that emptied are forgotten; the store still has their versions.
        let listed: HashSet<&RoomName> = counts.keys().collect();
        s.activity.retain(|room| listed.contains(room));
        rooms.sort_by(|a, b| {
            b.changes_per_second
                .total_cmp(&a.changes_per_second)
                .then(b.summary.members.cmp(&a.summary.members))
                .then_with(|| a.summary.room.cmp(&b.summary.room))
        });
        self.last_rooms = (now, counts);
        rooms
    }
}
