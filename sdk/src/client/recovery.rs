//! Holding a room's live frames while its join (or first `getState`) is answered.
//!
//! A join with `since` is answered with the missed `patch`/`event` frames, then the
//! `ack` (`recovered: true`); without recovery, with the `ack` then the `state`. Live
//! frames of the room are at-least-once and, on AWS, may overtake the answer (parallel
//! broadcasters), so until the answer is complete every positioned frame of the room
//! is held here; then all of them are released in offset order and the room's
//! [`Watermark`] drops those at or below it and the duplicates above it. That is how
//! the app sees each missed frame once, in order, and never a live frame before the
//! recovered ones.

use std::collections::HashMap;

use crate::protocol::{Position, RoomName, ServerMessage};
use crate::{RoomState, Watermark};

/// Most frames held for one room; past this the oldest are dropped (the watermark is
/// not advanced for them, so the next recovery asks for them again).
const MAX_HELD: usize = 10_000;

/// A room this client is in: its replica (version rule) and its history position.
#[derive(Debug)]
pub(crate) struct Room {
    pub(crate) replica: RoomState,
    pub(crate) watermark: Watermark,
}

impl Room {
    pub(crate) fn new(room: RoomName) -> Self {
        Self {
            replica: RoomState::new(room),
            watermark: Watermark::default(),
        }
    }

    /// What to send as `join`'s `since`: the watermark, once the replica holds a state
    /// (a recovered join brings no state, so a replica without one needs a plain join).
    pub(crate) fn since(&self) -> Option<Position> {
        self.replica.snapshot()?;
        self.watermark.position()
    }
}

/// Where a room's sync stands.
#[derive(Debug, PartialEq, Eq)]
enum Phase {
    /// Waiting for the `ack` of request `reference`.
    Ack(i64),
    /// Acked without recovery: waiting for the `state`.
    State,
}

#[derive(Debug)]
struct Sync {
    phase: Phase,
    held: Vec<ServerMessage>,
}

/// What the `ack` of a sync request means for its room.
#[derive(Debug)]
pub(crate) enum Acked {
    /// The missed frames came before the ack: release these (sorted), no state follows.
    Recovered(RoomName, Vec<ServerMessage>),
    /// The state follows; it resets the watermark, then the held frames are released.
    AwaitState,
}

/// The rooms whose join (or first `getState`) is being answered.
#[derive(Debug, Default)]
pub(crate) struct Syncs {
    rooms: HashMap<RoomName, Sync>,
}

impl Syncs {
    /// `reference` (a `join` or `getState` of `room`) was sent: hold the room's frames
    /// until it is answered. A newer sync of the room takes over an older one and keeps
    /// what it held.
    pub(crate) fn start(&mut self, room: RoomName, reference: i64) {
        self.rooms
            .entry(room)
            .and_modify(|s| s.phase = Phase::Ack(reference))
            .or_insert(Sync {
                phase: Phase::Ack(reference),
                held: Vec::new(),
            });
    }

    /// Keep `message` if its room is syncing and it has a place in the history;
    /// otherwise hand it back.
    pub(crate) fn hold(&mut self, message: ServerMessage) -> Option<ServerMessage> {
        let room = match &message {
            ServerMessage::Patch { room, .. } | ServerMessage::Event { room, .. }
                if message.position().is_some() =>
            {
                room
            }
            _ => return Some(message),
        };
        let Some(sync) = self.rooms.get_mut(room) else {
            return Some(message);
        };
        if sync.held.len() >= MAX_HELD {
            sync.held.remove(0);
        }
        sync.held.push(message);
        None
    }

    /// The `ack` of `reference`; `None` when it is not a sync's.
    pub(crate) fn acked(&mut self, reference: i64, recovered: Option<bool>) -> Option<Acked> {
        let room = self
            .rooms
            .iter()
            .find(|(_, s)| s.phase == Phase::Ack(reference))
            .map(|(room, _)| room.clone())?;
        if recovered == Some(true) {
            let sync = self.rooms.remove(&room).expect("just found");
            return Some(Acked::Recovered(room, sorted(sync.held)));
        }
        self.rooms.get_mut(&room).expect("just found").phase = Phase::State;
        Some(Acked::AwaitState)
    }

    /// Whether a `state` of `room` completes its sync (it was acked without recovery).
    pub(crate) fn awaits_state(&self, room: &RoomName) -> bool {
        self.rooms
            .get(room)
            .is_some_and(|s| s.phase == Phase::State)
    }

    /// End `room`'s sync (its state arrived) and take what it held, sorted.
    pub(crate) fn finish(&mut self, room: &RoomName) -> Vec<ServerMessage> {
        self.rooms
            .remove(room)
            .map(|s| sorted(s.held))
            .unwrap_or_default()
    }

    /// The sync request `reference` failed: end it and take what it held, sorted.
    pub(crate) fn failed(&mut self, reference: i64) -> Vec<ServerMessage> {
        let room = self
            .rooms
            .iter()
            .find(|(_, s)| s.phase == Phase::Ack(reference))
            .map(|(room, _)| room.clone());
        room.map(|room| self.finish(&room)).unwrap_or_default()
    }

    /// The room was left: what it held is no longer wanted.
    pub(crate) fn forget(&mut self, room: &RoomName) {
        self.rooms.remove(room);
    }

    /// The connection is gone: drop everything held. The watermarks did not move for
    /// it, so the next join's `since` asks for it again.
    pub(crate) fn clear(&mut self) {
        self.rooms.clear();
    }
}

/// Held frames in offset order (a stable sort: duplicates stay next to each other and
/// the watermark drops the second).
fn sorted(mut held: Vec<ServerMessage>) -> Vec<ServerMessage> {
    held.sort_by_key(|m| m.position().map(|p| p.offset));
    held
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(offset: u64) -> ServerMessage {
        serde_json::from_value(serde_json::json!({
            "type": "event", "room": "alpha", "event": "n", "data": offset,
            "from": null, "offset": offset, "epoch": "e1"
        }))
        .unwrap()
    }

    fn offsets(frames: &[ServerMessage]) -> Vec<u64> {
        frames
            .iter()
            .map(|m| m.position().unwrap().offset)
            .collect()
    }

    #[test]
    fn a_recovered_ack_releases_the_held_frames_in_offset_order() {
        let alpha = RoomName::parse("alpha").unwrap();
        let mut syncs = Syncs::default();
        assert!(syncs.hold(event(1)).is_some(), "no sync: not held");
        syncs.start(alpha.clone(), 7);
        for o in [5, 3, 4, 5] {
            assert!(syncs.hold(event(o)).is_none());
        }
        assert!(
            syncs.acked(8, Some(true)).is_none(),
            "another request's ack"
        );
        match syncs.acked(7, Some(true)) {
            Some(Acked::Recovered(room, held)) => {
                assert_eq!(room, alpha);
                assert_eq!(offsets(&held), [3, 4, 5, 5]);
            }
            other => panic!("{other:?}"),
        }
        assert!(syncs.hold(event(6)).is_some(), "the sync is over");
    }

    #[test]
    fn without_recovery_the_frames_wait_for_the_state() {
        let alpha = RoomName::parse("alpha").unwrap();
        let mut syncs = Syncs::default();
        syncs.start(alpha.clone(), 1);
        assert!(syncs.hold(event(9)).is_none());
        assert!(matches!(
            syncs.acked(1, Some(false)),
            Some(Acked::AwaitState)
        ));
        assert!(syncs.awaits_state(&alpha));
        assert!(syncs.hold(event(8)).is_none(), "still held until the state");
        assert_eq!(offsets(&syncs.finish(&alpha)), [8, 9]);
        assert!(!syncs.awaits_state(&alpha));
    }
}
