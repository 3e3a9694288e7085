//! Fan-out jobs: what an action handler enqueues and what the broadcaster pool runs.

use serde::{Deserialize, Serialize};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::protocol::{ConnectionId, RoomName};

/// A unit of broadcaster work. On SQS each job is one message body (JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FanoutJob {
    /// Deliver to a whole room: the broadcaster pages through its members first.
    Room(RoomJob),
    /// Deliver to an explicit list of connections (a shard of a large room, or a retry).
    Shard(ShardJob),
    /// Tell a room its member count now (coalesced presence; see [`crate::presence`]).
    Presence(PresenceJob),
}

/// "Send this to everyone in the room."
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoomJob {
    /// The room.
    pub room: RoomName,
    /// The room version this message carries, if it is a patch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    /// The `roomcast.v1` frame, serialized once by the handler.
    pub payload: String,
    /// A connection to leave out (the sender of an `emit`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub except: Option<ConnectionId>,
    /// Planetstack-format members get the room's full state (true for state changes);
    /// when false they get nothing, as the planetstack protocol has no such message.
    /// Jobs queued before the rename say `seed_state`, which still reads.
    #[serde(default, alias = "seed_state")]
    pub planetstack_state: bool,
    /// When the change was committed (Unix ms): delivery latency is measured from here.
    pub created_ms: u64,
}

/// "Send this frame to exactly these connections."
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardJob {
    /// The room (for logs, metrics and membership cleanup).
    pub room: RoomName,
    /// The room version this message carries, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    /// The frame, already rendered for these connections' protocol.
    pub payload: String,
    /// Targets, at most `SHARD_SIZE`.
    pub connections: Vec<ConnectionId>,
    /// Copied from the room job.
    pub created_ms: u64,
    /// How many times delivery of these connections was already tried.
    #[serde(default)]
    pub attempt: u32,
}

/// "Tell the room how many members it has now": scheduled, delayed, by the change
/// that set the room's pending presence `mark`; the broadcaster clears that mark, reads
/// the count in the same step and fans out one `presence`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PresenceJob {
    /// The room.
    pub room: RoomName,
    /// The pending mark this job answers ([`crate::presence::mark_at`]: when the
    /// change that set it happened, made unique).
    pub mark: u64,
}

impl FanoutJob {
    /// The room the job is for.
    pub fn room(&self) -> &RoomName {
        match self {
            FanoutJob::Room(j) => &j.room,
            FanoutJob::Shard(j) => &j.room,
            FanoutJob::Presence(j) => &j.room,
        }
    }

    /// Its kind, as tagged on the queue (for logs and metrics).
    pub fn kind(&self) -> &'static str {
        match self {
            FanoutJob::Room(_) => "room",
            FanoutJob::Shard(_) => "shard",
            FanoutJob::Presence(_) => "presence",
        }
    }

    /// The room version it carries, if it is a patch.
    pub fn version(&self) -> Option<u64> {
        match self {
            FanoutJob::Room(j) => j.version,
            FanoutJob::Shard(j) => j.version,
            FanoutJob::Presence(_) => None,
        }
    }

    /// When what it delivers was committed (Unix ms): delivery latency is measured
    /// from here. A presence job has none: it is delayed on purpose, and the broadcast
    /// it plans is stamped when it reads the count.
    pub fn created_ms(&self) -> Option<u64> {
        match self {
            FanoutJob::Room(j) => Some(j.created_ms),
            FanoutJob::Shard(j) => Some(j.created_ms),
            FanoutJob::Presence(_) => None,
        }
    }
}

/// Milliseconds since the Unix epoch, the clock jobs are stamped with.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_round_trip_as_json_with_a_kind_tag() {
        let job = FanoutJob::Shard(ShardJob {
            room: RoomName::parse("alpha").unwrap(),
            version: Some(13),
            payload: r#"{"type":"patch"}"#.into(),
            connections: vec![ConnectionId::generate()],
            created_ms: 1,
            attempt: 0,
        });
        let text = serde_json::to_string(&job).unwrap();
        assert!(
            text.starts_with(r#"{"kind":"shard","room":"alpha","version":13"#),
            "{text}"
        );
        assert_eq!(serde_json::from_str::<FanoutJob>(&text).unwrap(), job);
    }

    #[test]
    fn a_room_job_queued_before_the_rename_still_reads() {
        // `seed_state` is what `planetstack_state` was called on the queue before.
        let old = r#"{"kind":"room","room":"alpha","version":13,"payload":"{}","seed_state":true,"created_ms":1}"#;
        let FanoutJob::Room(job) = serde_json::from_str::<FanoutJob>(old).unwrap() else {
            panic!("a room job");
        };
        assert!(job.planetstack_state);
        let new = serde_json::to_string(&FanoutJob::Room(job)).unwrap();
        assert!(new.contains(r#""planetstack_state":true"#), "{new}");
        assert!(!new.contains("seed_state"), "{new}");
    }
}
