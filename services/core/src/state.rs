//! Per-room game state, its monotonic version and the patches that advance it.
//!
//! Every committed change is one [`Op`] and bumps the room's version by exactly one, so
//! a client holding version `v` can apply the patch for `v + 1`, drop anything older
//! and ask for the full state on a gap. That rule is what makes parallel, at-least-once
//! fan-out safe.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::protocol::{Background, ErrorCode, Icon, IconId, ProtocolError, RoomName};

/// A base: its planet background and its modules by id (planetstack's `{bg, icons}`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GameState {
    /// Background index.
    pub bg: Background,
    /// Icons by id.
    pub icons: BTreeMap<IconId, Icon>,
}

impl GameState {
    /// Planetstack's frame: the bare state object.
    pub fn to_planetstack(&self) -> String {
        serde_json::to_string(self).expect("state always serializes")
    }
}

/// One change to a base; the `op` of a `patch` message.
///
/// On the wire it is a one-key object naming the change, e.g.
/// `{"addIcon":{"id":"icon…","img":3,"x":400,"y":400}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Op {
    /// Set the background.
    ChangeBackground { bg: Background },
    /// Add an icon under a server-assigned id.
    AddIcon {
        id: IconId,
        #[serde(flatten)]
        icon: Icon,
    },
    /// Replace an existing icon's image and position.
    MoveIcon {
        id: IconId,
        #[serde(flatten)]
        icon: Icon,
    },
    /// Remove an icon.
    DeleteIcon { id: IconId },
}

/// Why an op cannot be applied to the current state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    /// `moveIcon`/`deleteIcon` named an icon the base does not have.
    #[error("no icon {0} in this base")]
    UnknownIcon(IconId),
    /// `addIcon` on a full base.
    #[error("a base holds at most {0} icons")]
    IconLimit(usize),
}

impl ApplyError {
    /// The client-facing error, naming the room.
    pub fn to_protocol(&self, room: &RoomName) -> ProtocolError {
        let code = match self {
            ApplyError::UnknownIcon(_) => ErrorCode::UnknownIcon,
            ApplyError::IconLimit(_) => ErrorCode::IconLimit,
        };
        ProtocolError::new(code, format!("{self} (room {room})"))
    }
}

/// A room's state at a version.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomState {
    /// Number of ops applied since the room was created; 0 for a new room.
    pub version: u64,
    /// The state after those ops.
    pub state: GameState,
}

impl RoomState {
    /// Check that `op` applies, without changing anything.
    pub fn check(&self, op: &Op, icon_cap: usize) -> Result<(), ApplyError> {
        match op {
            Op::ChangeBackground { .. } => Ok(()),
            Op::AddIcon { id, .. } => {
                if self.state.icons.len() >= icon_cap && !self.state.icons.contains_key(id) {
                    Err(ApplyError::IconLimit(icon_cap))
                } else {
                    Ok(())
                }
            }
            Op::MoveIcon { id, .. } | Op::DeleteIcon { id } => {
                if self.state.icons.contains_key(id) {
                    Ok(())
                } else {
                    Err(ApplyError::UnknownIcon(id.clone()))
                }
            }
        }
    }

    /// Apply `op` and return the new version. On error nothing changes.
    pub fn apply(&mut self, op: &Op, icon_cap: usize) -> Result<u64, ApplyError> {
        self.check(op, icon_cap)?;
        match op {
            Op::ChangeBackground { bg } => self.state.bg = *bg,
            Op::AddIcon { id, icon } | Op::MoveIcon { id, icon } => {
                self.state.icons.insert(id.clone(), *icon);
            }
            Op::DeleteIcon { id } => {
                self.state.icons.remove(id);
            }
        }
        self.version += 1;
        Ok(self.version)
    }
}

/// What the version rule did with a patch (docs/protocol.md, "Versions and resync").
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PatchOutcome {
    /// The patch was `version + 1`; it is applied and the version advanced.
    Applied,
    /// The patch is at or below the held version: a duplicate, or already part of the
    /// state. Dropped; nothing changed.
    Stale,
    /// The patch is past `version + 1`: one in between is missing. Nothing changed;
    /// ask for the state (`getState`).
    Gap,
    /// The patch is `version + 1` but does not apply (the held state is not the
    /// server's). Nothing changed; ask for the state.
    Diverged(ApplyError),
}

impl RoomState {
    /// A client's side of the version rule: apply the patch that produced `version`
    /// only if it is `self.version + 1`. The server already checked the op (icon cap
    /// included), so no cap is applied here.
    pub fn apply_patch(&mut self, version: u64, op: &Op) -> PatchOutcome {
        if version <= self.version {
            return PatchOutcome::Stale;
        }
        if version - self.version > 1 {
            return PatchOutcome::Gap;
        }
        match self.apply(op, usize::MAX) {
            Ok(_) => PatchOutcome::Applied,
            Err(e) => PatchOutcome::Diverged(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Coord, Image};

    fn icon(img: i64, x: f64, y: f64) -> Icon {
        Icon {
            img: Image::parse(img).unwrap(),
            x: Coord::parse(x).unwrap(),
            y: Coord::parse(y).unwrap(),
        }
    }

    #[test]
    fn each_op_bumps_the_version_by_one() {
        let mut s = RoomState::default();
        let id = IconId::generate();
        assert_eq!(
            s.apply(
                &Op::AddIcon {
                    id: id.clone(),
                    icon: icon(3, 400.0, 400.0)
                },
                10
            ),
            Ok(1)
        );
        assert_eq!(
            s.apply(
                &Op::MoveIcon {
                    id: id.clone(),
                    icon: icon(3, 10.0, 20.0)
                },
                10
            ),
            Ok(2)
        );
        assert_eq!(
            s.apply(
                &Op::ChangeBackground {
                    bg: Background::parse(4).unwrap()
                },
                10
            ),
            Ok(3)
        );
        assert_eq!(s.state.icons[&id], icon(3, 10.0, 20.0));
        assert_eq!(s.apply(&Op::DeleteIcon { id: id.clone() }, 10), Ok(4));
        assert!(s.state.icons.is_empty());
        assert_eq!(s.state.bg.get(), 4);
    }

    #[test]
    fn refused_ops_change_nothing() {
        let mut s = RoomState::default();
        let ghost = IconId::generate();
        let before = s.clone();
        assert_eq!(
            s.apply(
                &Op::MoveIcon {
                    id: ghost.clone(),
                    icon: icon(1, 1.0, 1.0)
                },
                10
            ),
            Err(ApplyError::UnknownIcon(ghost.clone()))
        );
        assert_eq!(
            s.apply(&Op::DeleteIcon { id: ghost.clone() }, 10),
            Err(ApplyError::UnknownIcon(ghost))
        );
        assert_eq!(s, before);
    }

    #[test]
    fn the_icon_cap_is_enforced() {
        let mut s = RoomState::default();
        for _ in 0..3 {
            s.apply(
                &Op::AddIcon {
                    id: IconId::generate(),
                    icon: icon(0, 0.0, 0.0),
                },
                3,
            )
            .unwrap();
        }
        let err = s.apply(
            &Op::AddIcon {
                id: IconId::generate(),
                icon: icon(0, 0.0, 0.0),
            },
            3,
        );
        assert_eq!(err, Err(ApplyError::IconLimit(3)));
        assert_eq!(s.version, 3);
        let code = err
            .unwrap_err()
            .to_protocol(&RoomName::parse("alpha").unwrap())
            .code;
        assert_eq!(code, ErrorCode::IconLimit);
    }

    #[test]
    fn patches_follow_the_version_rule() {
        let mut s = RoomState::default();
        let id = IconId::generate();
        let add = Op::AddIcon {
            id: id.clone(),
            icon: icon(3, 1.0, 2.0),
        };
        let bg = Op::ChangeBackground {
            bg: Background::parse(7).unwrap(),
        };
        assert_eq!(s.apply_patch(2, &bg), PatchOutcome::Gap);
        assert_eq!(s, RoomState::default(), "a gap changes nothing");
        assert_eq!(s.apply_patch(1, &add), PatchOutcome::Applied);
        assert_eq!(s.apply_patch(1, &add), PatchOutcome::Stale, "a duplicate");
        assert_eq!(s.apply_patch(0, &bg), PatchOutcome::Stale);
        assert_eq!(s.apply_patch(2, &bg), PatchOutcome::Applied);
        assert_eq!(s.version, 2);
        assert_eq!(s.state.bg.get(), 7);
        assert_eq!(s.state.icons[&id], icon(3, 1.0, 2.0));
        let ghost = IconId::generate();
        let before = s.clone();
        assert_eq!(
            s.apply_patch(3, &Op::DeleteIcon { id: ghost.clone() }),
            PatchOutcome::Diverged(ApplyError::UnknownIcon(ghost))
        );
        assert_eq!(s, before);
        assert_eq!(s.apply_patch(u64::MAX, &bg), PatchOutcome::Gap);
    }

    #[test]
    fn patch_ops_have_the_documented_wire_shape() {
        let id = IconId::parse(format!("icon{}", "2JgQq".repeat(5) + "ab")).unwrap();
        let op = Op::AddIcon {
            id: id.clone(),
            icon: icon(3, 400.0, 400.0),
        };
        let json = serde_json::to_value(&op).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"addIcon": {"id": id.as_str(), "img": 3, "x": 400, "y": 400}})
        );
        let back: Op = serde_json::from_value(json).unwrap();
        assert_eq!(back, op);
        let state = GameState::default();
        assert_eq!(state.to_planetstack(), r#"{"bg":0,"icons":{}}"#);
    }
}
