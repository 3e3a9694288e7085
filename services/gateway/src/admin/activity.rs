//! Per-room commit activity for `/admin`: each room's latest version and how many
//! changes it committed, seen where every change leaves the handler — the fan-out
//! queue. [`ActivityQueue`] wraps the queue the handler enqueues to, so neither the
//! handler nor the room store needs a hook.

use async_trait::async_trait;
use dashmap::DashMap;
use roomcast_core::fanout::FanoutJob;
use roomcast_core::ports::{BackendError, FanoutQueue};
use roomcast_core::protocol::RoomName;
use std::sync::Arc;
use std::time::Duration;

/// A room's version and its commits counted since the gateway started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RoomChanges {
    /// The latest version seen.
    pub version: u64,
    /// Commits seen.
    pub changes: u64,
}

/// Commits by room.
#[derive(Default)]
pub struct RoomActivity {
    rooms: DashMap<RoomName, RoomChanges, foldhash::fast::RandomState>,
}

impl RoomActivity {
    /// `room` committed `version`.
    pub fn record(&self, room: &RoomName, version: u64) {
        let mut entry = self.rooms.entry(room.clone()).or_default();
        entry.version = entry.version.max(version);
        entry.changes += 1;
    }

    /// What was recorded for `room`.
    pub fn get(&self, room: &RoomName) -> Option<RoomChanges> {
        self.rooms.get(room).map(|e| *e)
    }

    /// Remember `version` for a room nothing was recorded for yet (read from the
    /// store); a commit recorded meanwhile keeps its newer version.
    pub fn learn_version(&self, room: &RoomName, version: u64) {
        let mut entry = self.rooms.entry(room.clone()).or_default();
        entry.version = entry.version.max(version);
    }

    /// Rooms recorded.
    pub fn len(&self) -> usize {
        self.rooms.len()
    }

    /// Whether none are.
    pub fn is_empty(&self) -> bool {
        self.rooms.is_empty()
    }

    /// Forget rooms `keep` rejects, so rooms that emptied do not accumulate.
    pub fn retain(&self, keep: impl Fn(&RoomName) -> bool) {
        self.rooms.retain(|room, _| keep(room));
    }
}

/// The handler's fan-out queue, recording each committed change on its way through.
pub struct ActivityQueue {
    inner: Arc<dyn FanoutQueue>,
    activity: Arc<RoomActivity>,
}

impl ActivityQueue {
    /// `inner`, with its room jobs recorded in `activity`.
    pub fn new(inner: Arc<dyn FanoutQueue>, activity: Arc<RoomActivity>) -> Self {
        Self { inner, activity }
    }
}

#[async_trait]
impl FanoutQueue for ActivityQueue {
    async fn enqueue(&self, jobs: Vec<FanoutJob>) -> Result<(), BackendError> {
        // Only room jobs with a version are commits; emits carry none, and shard or
        // presence jobs are the fan-out's own.
        let commits: Vec<(RoomName, u64)> = jobs
            .iter()
            .filter_map(|job| match job {
                FanoutJob::Room(r) => r.version.map(|v| (r.room.clone(), v)),
                FanoutJob::Shard(_) | FanoutJob::Presence(_) => None,
            })
            .collect();
        self.inner.enqueue(jobs).await?;
        for (room, version) in &commits {
            self.activity.record(room, *version);
        }
        Ok(())
    }

    async fn enqueue_after(&self, job: FanoutJob, delay: Duration) -> Result<(), BackendError> {
        self.inner.enqueue_after(job, delay).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_the_latest_version_and_counts_changes() {
        let activity = RoomActivity::default();
        let room = RoomName::parse("alpha").unwrap();
        activity.record(&room, 3);
        activity.record(&room, 2);
        assert_eq!(
            activity.get(&room),
            Some(RoomChanges {
                version: 3,
                changes: 2
            })
        );
        activity.retain(|_| false);
        assert_eq!(activity.get(&room), None);
    }
}
