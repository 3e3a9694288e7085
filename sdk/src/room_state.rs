//! A client-side replica of one room's state, kept by the version rule.

use std::collections::BTreeMap;

use crate::protocol::{RoomName, ServerMessage};
use crate::{GameState, Op, PatchOutcome, Snapshot};

/// Most patches held back while waiting for a missing one (or for the first state);
/// past this the buffer is dropped and the next state resyncs.
const MAX_BUFFERED: usize = 1024;

/// One room's state as a client sees it, following the version rule of
/// docs/protocol.md ("Versions and resync"):
///
/// - a `state` becomes the held state unless it is older than what is held;
/// - a `patch` is applied only if it is `version + 1`; an older one is dropped (a
///   duplicate); a newer one is a **gap**: it is kept aside and the update asks for a
///   resync (`getState`). Kept patches are applied as soon as the missing one (or a
///   state covering it) arrives, so patches that merely arrived out of order are not
///   lost;
/// - patches that arrive before the first state are kept aside the same way and
///   replayed on top of it.
///
/// So every patch is applied exactly once, in version order, or covered by a state.
/// The [`Client`](crate::Client) keeps one of these for every room it is in (see
/// [`Client::state`](crate::Client::state)); use it directly when driving your own
/// message loop.
///
/// ```
/// use roomcast_sdk::{Change, RoomName, RoomState, ServerMessage};
///
/// let mut alpha = RoomState::new(RoomName::parse("alpha")?);
/// let frame = |s: &str| serde_json::from_str::<ServerMessage>(s);
///
/// // A patch before any state is kept aside, and the update asks for the state.
/// let early = alpha.apply(&frame(r#"{"type":"patch","room":"alpha","version":2,
///     "op":{"changeBackground":{"bg":5}}}"#)?);
/// assert!(early.resync && early.changes.is_empty());
///
/// // The state at version 1 arrives: it is taken, then patch 2 is replayed on top.
/// let synced = alpha.apply(&frame(r#"{"type":"state","room":"alpha","version":1,
///     "state":{"bg":4,"icons":{}}}"#)?);
/// assert_eq!(synced.changes.len(), 2);
/// assert!(matches!(synced.changes[1], Change::Patched { version: 2, .. }));
/// assert_eq!(alpha.version(), Some(2));
/// assert_eq!(alpha.state().unwrap().bg.get(), 5);
///
/// // A duplicate is dropped.
/// let again = alpha.apply(&frame(r#"{"type":"patch","room":"alpha","version":2,
///     "op":{"changeBackground":{"bg":5}}}"#)?);
/// assert!(again.is_empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct RoomState {
    room: RoomName,
    held: Option<Snapshot>,
    buffered: BTreeMap<u64, Op>,
}

/// One change to a [`RoomState`]'s held state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A `state` became the held state: the first sync, or a resync that moved it on.
    Replaced {
        /// The state's version.
        version: u64,
    },
    /// The patch that produced `version` was applied.
    Patched {
        /// The version it produced.
        version: u64,
        /// The change.
        op: Op,
    },
}

impl Change {
    /// The version the held state has after this change.
    pub fn version(&self) -> u64 {
        match self {
            Change::Replaced { version } | Change::Patched { version, .. } => *version,
        }
    }
}

/// What feeding one message to a [`RoomState`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[must_use = "an update may ask for a resync"]
pub struct Update {
    /// Changes to the held state, in order (a state may be followed by patches that
    /// were kept aside).
    pub changes: Vec<Change>,
    /// The held state cannot advance without the room's full state: send `getState`.
    pub resync: bool,
}

impl Update {
    /// Nothing changed and no resync is needed.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty() && !self.resync
    }
}

impl RoomState {
    /// A replica of `room` that holds no state yet.
    pub fn new(room: RoomName) -> Self {
        Self {
            room,
            held: None,
            buffered: BTreeMap::new(),
        }
    }

    /// The room.
    pub fn room(&self) -> &RoomName {
        &self.room
    }

    /// The held state and its version, once a first state arrived.
    pub fn snapshot(&self) -> Option<&Snapshot> {
        self.held.as_ref()
    }

    /// The held version, once a first state arrived.
    pub fn version(&self) -> Option<u64> {
        self.held.as_ref().map(|s| s.version)
    }

    /// The held state, once a first state arrived.
    pub fn state(&self) -> Option<&GameState> {
        self.held.as_ref().map(|s| &s.state)
    }

    /// Feed any server message: `state` and `patch` for this room are applied by the
    /// rule, everything else is ignored.
    pub fn apply(&mut self, message: &ServerMessage) -> Update {
        match message {
            ServerMessage::State {
                room,
                version,
                state,
                ..
            } if *room == self.room => self.apply_state(*version, state.clone()),
            ServerMessage::Patch {
                room, version, op, ..
            } if *room == self.room => self.apply_patch(*version, op.clone()),
            _ => Update::default(),
        }
    }

    /// Take the room's full state at `version`, unless it is older than the held one.
    pub fn apply_state(&mut self, version: u64, state: GameState) -> Update {
        let mut update = Update::default();
        match &self.held {
            Some(held) if version < held.version => return update,
            Some(held) if version == held.version && held.state == state => {}
            _ => {
                self.held = Some(Snapshot { version, state });
                update.changes.push(Change::Replaced { version });
            }
        }
        self.drain(&mut update);
        update
    }

    /// Apply the patch that produced `version`, by the rule.
    pub fn apply_patch(&mut self, version: u64, op: Op) -> Update {
        let mut update = Update::default();
        let Some(held) = &mut self.held else {
            self.keep(version, op);
            update.resync = true;
            return update;
        };
        match held.apply_patch(version, &op) {
            PatchOutcome::Applied => {
                update.changes.push(Change::Patched { version, op });
                self.drain(&mut update);
            }
            PatchOutcome::Stale => {}
            PatchOutcome::Gap => {
                self.keep(version, op);
                update.resync = true;
            }
            PatchOutcome::Diverged(e) => {
                tracing::warn!(room = %self.room, version, error = %e, "patch does not apply; resyncing");
                update.resync = true;
            }
        }
        update
    }

    fn keep(&mut self, version: u64, op: Op) {
        if self.buffered.len() >= MAX_BUFFERED {
            self.buffered.clear();
        }
        self.buffered.insert(version, op);
    }

    /// Apply the kept patches that now follow the held version; ask for a resync if
    /// some are still beyond a gap.
    fn drain(&mut self, update: &mut Update) {
        let Some(held) = &mut self.held else { return };
        self.buffered = self.buffered.split_off(&held.version.saturating_add(1));
        while let Some((&version, _)) = self.buffered.first_key_value() {
            if version != held.version + 1 {
                update.resync = true;
                return;
            }
            let op = self.buffered.remove(&version).expect("just seen");
            match held.apply_patch(version, &op) {
                PatchOutcome::Applied => update.changes.push(Change::Patched { version, op }),
                _ => {
                    self.buffered.clear();
                    update.resync = true;
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Background, Coord, Icon, IconId, Image};

    fn bg(n: i64) -> Op {
        Op::ChangeBackground {
            bg: Background::parse(n).unwrap(),
        }
    }

    fn synced(version: u64) -> RoomState {
        let mut r = RoomState::new(RoomName::parse("alpha").unwrap());
        let u = r.apply_state(version, GameState::default());
        assert_eq!(u.changes, vec![Change::Replaced { version }]);
        r
    }

    fn versions(u: &Update) -> Vec<u64> {
        u.changes.iter().map(Change::version).collect()
    }

    #[test]
    fn in_order_patches_apply_and_duplicates_drop() {
        let mut r = synced(3);
        assert_eq!(versions(&r.apply_patch(4, bg(1))), [4]);
        assert_eq!(versions(&r.apply_patch(5, bg(2))), [5]);
        assert!(r.apply_patch(5, bg(9)).is_empty());
        assert!(r.apply_patch(1, bg(9)).is_empty());
        assert_eq!((r.version(), r.state().unwrap().bg.get()), (Some(5), 2));
    }

    #[test]
    fn out_of_order_patches_are_kept_until_the_gap_fills() {
        let mut r = synced(0);
        let u = r.apply_patch(3, bg(3));
        assert!(u.resync && u.changes.is_empty());
        let u = r.apply_patch(2, bg(2));
        assert!(u.resync && u.changes.is_empty());
        let u = r.apply_patch(1, bg(1));
        assert_eq!(versions(&u), [1, 2, 3]);
        assert!(!u.resync);
        assert_eq!(r.state().unwrap().bg.get(), 3);
        // The resync answer that was asked for changes nothing: same version, same state.
        assert!(r.apply_state(3, r.state().unwrap().clone()).is_empty());
    }

    #[test]
    fn a_state_covers_a_gap_and_replays_newer_kept_patches() {
        let mut r = synced(1);
        assert!(r.apply_patch(4, bg(4)).resync);
        assert!(r.apply_patch(6, bg(6)).resync);
        // The state at 4 covers 2..=4; patch 4 is dropped, 6 stays beyond a gap.
        let u = r.apply_state(4, GameState::default());
        assert_eq!(versions(&u), [4]);
        assert!(u.resync, "5 is still missing");
        let u = r.apply_patch(5, bg(5));
        assert_eq!(versions(&u), [5, 6]);
        assert_eq!(r.version(), Some(6));
    }

    #[test]
    fn an_older_state_is_ignored() {
        let mut r = synced(7);
        assert!(r.apply_state(6, GameState::default()).is_empty());
        assert_eq!(r.version(), Some(7));
    }

    #[test]
    fn a_patch_that_does_not_apply_asks_for_a_resync() {
        let mut r = synced(0);
        let u = r.apply_patch(
            1,
            Op::DeleteIcon {
                id: IconId::generate(),
            },
        );
        assert!(u.resync && u.changes.is_empty());
        assert_eq!(r.version(), Some(0));
        let id = IconId::generate();
        let icon = Icon {
            img: Image::parse(1).unwrap(),
            x: Coord::parse(2.0).unwrap(),
            y: Coord::parse(3.0).unwrap(),
        };
        let _ = r.apply_patch(
            1,
            Op::AddIcon {
                id: id.clone(),
                icon,
            },
        );
        assert_eq!(r.state().unwrap().icons[&id], icon);
    }

    #[test]
    fn messages_for_other_rooms_are_ignored() {
        let mut r = synced(0);
        let other = ServerMessage::Patch {
            room: RoomName::parse("beta").unwrap(),
            version: 1,
            op: bg(1),
            at: None,
        };
        assert!(r.apply(&other).is_empty());
        assert_eq!(r.version(), Some(0));
    }
}
