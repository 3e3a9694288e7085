//! Per-room history and recovery: what a client that dropped for a few seconds missed.
//!
//! Every patch and event a room broadcasts is first recorded as a history entry at the
//! next `offset` of the room, in the same step as the change it carries (a patch's
//! commit; an event's append), so the frame that goes out already says where it stands
//! (`"offset"`, `"epoch"`). A client sends the last position it holds back as `join`'s
//! `since`; when the room's history still holds every entry after it, the client gets
//! exactly those frames instead of the whole state (see [`History::recover`]).
//!
//! History is bounded by a [`HistoryPolicy`]: the last `size` entries, none older than
//! `ttl`. The `epoch` names one unbroken run of a room's history; a new one (a local
//! gateway restarted without its history) tells clients their offsets mean nothing here.
//!
//! Both homes keep the entries their own way — memory ([`RoomLog`]) locally, DynamoDB
//! items with a TTL on AWS — and both decide recovery here.

use std::collections::VecDeque;
use std::time::Duration;

use crate::protocol::{Epoch, Position, ServerMessage};

/// `HISTORY_SIZE` by default: entries a room keeps.
pub const DEFAULT_HISTORY_SIZE: usize = 100;
/// `HISTORY_TTL` by default: how long an entry is kept (Socket.IO's recovery window).
pub const DEFAULT_HISTORY_TTL: Duration = Duration::from_secs(120);

/// How much of its history a room keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryPolicy {
    /// `HISTORY_SIZE`: entries kept per room (0: no history, every `since` falls back
    /// to the state).
    pub size: usize,
    /// `HISTORY_TTL`: how long an entry stays recoverable.
    pub ttl: Duration,
}

impl Default for HistoryPolicy {
    fn default() -> Self {
        Self {
            size: DEFAULT_HISTORY_SIZE,
            ttl: DEFAULT_HISTORY_TTL,
        }
    }
}

impl HistoryPolicy {
    /// The largest `HISTORY_SIZE`: a recovery answers with at most this many frames.
    pub const MAX_SIZE: usize = 1_000;
    /// The longest `HISTORY_TTL`.
    pub const MAX_TTL: Duration = Duration::from_secs(24 * 60 * 60);

    /// `size` if it is a valid `HISTORY_SIZE`, else why not.
    pub fn check_size(size: usize) -> Result<usize, String> {
        if size <= Self::MAX_SIZE {
            Ok(size)
        } else {
            Err(format!("{size} is over {}", Self::MAX_SIZE))
        }
    }

    /// `ttl` if it is a valid `HISTORY_TTL`, else why not.
    pub fn check_ttl(ttl: Duration) -> Result<Duration, String> {
        if (Duration::from_secs(1)..=Self::MAX_TTL).contains(&ttl) {
            Ok(ttl)
        } else {
            Err(format!("{ttl:?} is outside 1s..={:?}", Self::MAX_TTL))
        }
    }

    /// Entries recorded before this (Unix ms) are no longer recoverable.
    pub fn expired_before(&self, now_ms: u64) -> u64 {
        now_ms.saturating_sub(self.ttl.as_millis() as u64)
    }
}

/// The id of one change (a commit or an event), made once by the handler: a store
/// that sees the same id twice (a retried request) records the change once.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ChangeId(String);

impl ChangeId {
    /// A fresh id: a KSUID, so ids sort by time and never repeat.
    pub fn generate() -> Self {
        Self(ksuid::Ksuid::with_payload(rand::random()).to_base62())
    }

    /// The id of a change that arrives with a key of its own which repeats when the
    /// change is delivered again (an SQS message id: the AWS broadcaster records a
    /// publish job's event under it, so a redelivered job is recorded once).
    pub fn of(key: impl Into<String>) -> Self {
        Self(key.into())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One history entry: the frame a room broadcast, placed at its offset.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Its offset in the room's history.
    pub offset: u64,
    /// When it was recorded (Unix ms).
    pub at_ms: u64,
    /// The `patch` or `event`, carrying its own position.
    pub message: ServerMessage,
}

/// What a store holds of a room's history after some offset: the room's head (the
/// position of its last entry, `offset` 0 before the first) and the entries after the
/// asked-for offset that it still has, in offset order.
#[derive(Debug, Clone)]
pub struct History {
    /// The last entry's position.
    pub head: Position,
    /// Entries after the asked-for offset, oldest first (possibly with holes where
    /// entries expired or were trimmed).
    pub entries: Vec<Entry>,
}

/// The answer to a `join` with `since`.
#[derive(Debug, Clone)]
pub enum Recovery {
    /// Everything after `since`, in offset order (empty: nothing was missed).
    Missed(Vec<ServerMessage>),
    /// The history no longer holds everything after `since` (another epoch, expired,
    /// trimmed, or an offset this room never reached): send the state.
    Lost,
}

impl History {
    /// Whether everything after `since` is still here and recoverable now: same epoch,
    /// an offset the room reached, and every entry from `since + 1` to the head present,
    /// within `policy.size` and none older than `policy.ttl`.
    pub fn recover(self, since: &Position, policy: &HistoryPolicy, now_ms: u64) -> Recovery {
        if since.epoch != self.head.epoch || since.offset > self.head.offset {
            return Recovery::Lost;
        }
        let missed = self.head.offset - since.offset;
        if missed > policy.size as u64 {
            return Recovery::Lost;
        }
        let expired = policy.expired_before(now_ms);
        let wanted = since.offset + 1..=self.head.offset;
        let mut entries = self
            .entries
            .into_iter()
            .filter(|e| wanted.contains(&e.offset));
        let mut frames = Vec::with_capacity(missed as usize);
        for offset in wanted.clone() {
            match entries.next() {
                Some(e) if e.offset == offset && e.at_ms >= expired => frames.push(e.message),
                _ => return Recovery::Lost,
            }
        }
        Recovery::Missed(frames)
    }
}

/// One room's history in memory: a ring of its last entries and its head offset. The
/// local gateway's store keeps one per room (under the room's lock, so offsets follow
/// commit order), and so do core's tests.
#[derive(Debug, Clone, Default)]
pub struct RoomLog {
    head: u64,
    entries: VecDeque<Entry>,
}

impl RoomLog {
    /// The offset of the last entry (0 before the first).
    pub fn head(&self) -> u64 {
        self.head
    }

    /// Record `message` as the next entry, placed at its position in `epoch`, and drop
    /// what the policy no longer keeps. Returns where it was placed.
    pub fn push(
        &mut self,
        message: ServerMessage,
        epoch: &Epoch,
        policy: &HistoryPolicy,
        now_ms: u64,
    ) -> Position {
        self.head += 1;
        let at = Position {
            offset: self.head,
            epoch: epoch.clone(),
        };
        self.entries.push_back(Entry {
            offset: self.head,
            at_ms: now_ms,
            message: message.at(at.clone()),
        });
        self.trim(policy, now_ms);
        at
    }

    /// The entries after `after` with the head, in `epoch`.
    pub fn after(&self, after: u64, epoch: &Epoch) -> History {
        History {
            head: Position {
                offset: self.head,
                epoch: epoch.clone(),
            },
            entries: self
                .entries
                .iter()
                .filter(|e| e.offset > after)
                .cloned()
                .collect(),
        }
    }

    /// Drop the entries the policy no longer keeps (older than its ttl): a room that
    /// went quiet otherwise holds its last entries until its next one.
    pub fn expire(&mut self, policy: &HistoryPolicy, now_ms: u64) {
        self.trim(policy, now_ms);
    }

    /// Whether it holds no entries (its head still counts).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn trim(&mut self, policy: &HistoryPolicy, now_ms: u64) {
        let expired = policy.expired_before(now_ms);
        while self
            .entries
            .front()
            .is_some_and(|e| self.entries.len() > policy.size || e.at_ms < expired)
        {
            self.entries.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{EventName, RoomName};
    use serde_json::value::RawValue;

    fn event(n: u32) -> ServerMessage {
        ServerMessage::Event {
            room: RoomName::parse("alpha").unwrap(),
            event: EventName::parse("chat").unwrap(),
            data: RawValue::from_string(n.to_string()).unwrap(),
            from: None,
            at: None,
        }
    }

    fn log_of(n: u32, policy: &HistoryPolicy, epoch: &Epoch, now: u64) -> RoomLog {
        let mut log = RoomLog::default();
        for i in 1..=n {
            log.push(event(i), epoch, policy, now);
        }
        log
    }

    fn offsets(r: Recovery) -> Option<Vec<u64>> {
        match r {
            Recovery::Missed(frames) => Some(
                frames
                    .iter()
                    .map(|f| f.position().expect("placed").offset)
                    .collect(),
            ),
            Recovery::Lost => None,
        }
    }

    #[test]
    fn a_client_gets_exactly_the_entries_after_its_offset() {
        let (policy, epoch) = (HistoryPolicy::default(), Epoch::generate());
        let log = log_of(10, &policy, &epoch, 1_000);
        let since = |offset| Position {
            offset,
            epoch: epoch.clone(),
        };
        let recover = |offset| {
            offsets(
                log.after(offset, &epoch)
                    .recover(&since(offset), &policy, 2_000),
            )
        };
        assert_eq!(recover(7), Some(vec![8, 9, 10]));
        assert_eq!(recover(10), Some(vec![]), "nothing missed");
        assert_eq!(recover(0), Some((1..=10).collect()));
        assert_eq!(recover(11), None, "an offset the room never reached");
    }

    #[test]
    fn another_epoch_or_a_trimmed_or_expired_entry_falls_back_to_the_state() {
        let policy = HistoryPolicy {
            size: 5,
            ttl: Duration::from_secs(120),
        };
        let epoch = Epoch::generate();
        let log = log_of(10, &policy, &epoch, 1_000);
        let at = |offset, epoch: &Epoch| Position {
            offset,
            epoch: epoch.clone(),
        };
        let history = |after| log.after(after, &epoch);
        assert_eq!(
            offsets(history(5).recover(&at(5, &epoch), &policy, 1_000)),
            Some(vec![6, 7, 8, 9, 10])
        );
        assert_eq!(
            offsets(history(4).recover(&at(4, &epoch), &policy, 1_000)),
            None,
            "trimmed"
        );
        let other = Epoch::generate();
        assert_eq!(
            offsets(history(8).recover(&at(8, &other), &policy, 1_000)),
            None,
            "another epoch"
        );
        assert_eq!(
            offsets(history(8).recover(&at(8, &epoch), &policy, 1_000 + 120_001)),
            None,
            "expired"
        );
        assert_eq!(
            offsets(history(10).recover(&at(10, &epoch), &policy, 1_000 + 999_999)),
            Some(vec![]),
            "nothing missed, nothing needed"
        );
    }

    #[test]
    fn a_hole_in_the_entries_is_not_recoverable() {
        let (policy, epoch) = (HistoryPolicy::default(), Epoch::generate());
        let mut history = log_of(5, &policy, &epoch, 1_000).after(0, &epoch);
        history.entries.remove(2);
        let since = Position { offset: 0, epoch };
        assert!(matches!(
            history.recover(&since, &policy, 1_000),
            Recovery::Lost
        ));
    }

    #[test]
    fn pushed_entries_carry_their_position_and_old_ones_are_trimmed() {
        let policy = HistoryPolicy {
            size: 3,
            ttl: Duration::from_secs(1),
        };
        let epoch = Epoch::generate();
        let mut log = RoomLog::default();
        let at = log.push(event(1), &epoch, &policy, 0);
        assert_eq!((at.offset, &at.epoch), (1, &epoch));
        let stored = log.after(0, &epoch).entries[0].message.to_v1();
        assert!(
            stored.ends_with(&format!(r#","offset":1,"epoch":"{epoch}"}}"#)),
            "the entry carries its position: {stored}"
        );
        for i in 2..=5 {
            log.push(event(i), &epoch, &policy, 10);
        }
        assert_eq!(log.head(), 5);
        assert_eq!(log.after(0, &epoch).entries.len(), 3, "the last 3");
        log.push(event(6), &epoch, &policy, 5_000);
        assert_eq!(log.after(0, &epoch).entries.len(), 1, "older than the ttl");
        log.expire(&policy, 6_001);
        assert!(log.is_empty(), "a quiet room's entries expire too");
        assert_eq!(log.head(), 6, "the head stays");
    }
}
