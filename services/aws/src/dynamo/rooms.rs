//! Room state: one item per room, changed together with the room's history.
//!
//! A commit reads the room item's `version`, `head`, `epoch` and what its op's check
//! needs (`iconCount`, whether `icons.<id>` exists), checks the op in Rust with
//! `RoomState::check`'s rules, and writes the op's own update (touching only its icon)
//! with the history entry in one transaction conditioned on the head it read (see
//! `history/`): concurrent edits never lose each other, and the version rises by
//! exactly one per op. The `icons` map an icon's update needs is made with the room's
//! epoch, before its first history entry.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use roomcast_core::history::{ChangeId, History};
use roomcast_core::ports::{BackendError, CommitError, Committed, RoomStore, Snapshot};
use roomcast_core::protocol::{Background, Icon, IconId, Position, RoomName, ServerMessage};
use roomcast_core::state::{ApplyError, GameState, Op, RoomState};
use serde::Deserialize;

use super::history::{Change, Head};
use super::{DynamoStore, ROOMS_LPK, STATE_SK, n, number, room_pk, s};

/// The state attributes as stored (absent ones: a room never written).
#[derive(Deserialize)]
struct StateItem {
    #[serde(default)]
    version: u64,
    #[serde(default)]
    bg: Background,
    #[serde(default)]
    icons: BTreeMap<IconId, Icon>,
}

/// The clauses of one update expression, with their names and values.
#[derive(Default)]
pub(super) struct Clauses {
    set: Vec<String>,
    remove: Vec<String>,
    add: Vec<String>,
    pub names: HashMap<String, String>,
    pub values: HashMap<String, AttributeValue>,
}

impl Clauses {
    /// `SET clause`, with the value it names.
    pub fn set(&mut self, clause: &str, name: &str, value: AttributeValue) {
        self.set.push(clause.to_owned());
        self.values.insert(name.to_owned(), value);
    }

    fn add(&mut self, clause: &str, name: &str, value: AttributeValue) {
        self.add.push(clause.to_owned());
        self.values.insert(name.to_owned(), value);
    }

    /// The whole expression.
    pub fn expression(&self) -> String {
        let mut parts = Vec::new();
        for (verb, clauses) in [
            ("SET", &self.set),
            ("REMOVE", &self.remove),
            ("ADD", &self.add),
        ] {
            if !clauses.is_empty() {
                parts.push(format!("{verb} {}", clauses.join(", ")));
            }
        }
        parts.join(" ")
    }
}

fn icon_attr(icon: &Icon) -> Result<AttributeValue, BackendError> {
    serde_dynamo::to_attribute_value(icon).map_err(|e| BackendError::new("encoding an icon", e))
}

/// The icon an op touches, if any.
fn icon_of(op: &Op) -> Option<&IconId> {
    match op {
        Op::ChangeBackground { .. } => None,
        Op::AddIcon { id, .. } | Op::MoveIcon { id, .. } | Op::DeleteIcon { id } => Some(id),
    }
}

impl DynamoStore {
    /// Check `op` against the room as read (`RoomState::check`'s rules) and give its
    /// update of the room item.
    fn clauses_for(&self, op: &Op, head: &Head) -> Result<Clauses, CommitError> {
        let mut c = Clauses::default();
        if let Some(id) = icon_of(op) {
            c.names.insert("#id".into(), id.as_str().to_owned());
        }
        match op {
            Op::ChangeBackground { bg } => {
                c.set("bg = :bg", ":bg", n(bg.get()));
                c.set("lpk = :lpk", ":lpk", s(ROOMS_LPK));
            }
            Op::AddIcon { icon, .. } => {
                let count = head.icon_count.unwrap_or(0);
                if !head.has_icon && count >= self.icon_cap as u64 {
                    return Err(ApplyError::IconLimit(self.icon_cap).into());
                }
                c.set("icons.#id = :icon", ":icon", icon_attr(icon)?);
                c.set("lpk = :lpk", ":lpk", s(ROOMS_LPK));
                // Replacing an icon of the same id does not add one.
                if !head.has_icon {
                    c.add("iconCount :one", ":one", n(1));
                }
            }
            Op::MoveIcon { id, icon } => {
                if !head.has_icon {
                    return Err(ApplyError::UnknownIcon(id.clone()).into());
                }
                c.set("icons.#id = :icon", ":icon", icon_attr(icon)?);
            }
            Op::DeleteIcon { id } => {
                if !head.has_icon {
                    return Err(ApplyError::UnknownIcon(id.clone()).into());
                }
                c.remove.push("icons.#id".into());
                c.add("iconCount :minus", ":minus", n(-1));
            }
        }
        Ok(c)
    }
}

#[async_trait]
impl RoomStore for DynamoStore {
    async fn load(&self, room: &RoomName) -> Result<Snapshot, BackendError> {
        let item = self
            .get(
                room_pk(room),
                STATE_SK,
                Some("version, bg, icons, head, epoch"),
                || format!("loading room {room}"),
            )
            .await?
            .unwrap_or_default();
        let epoch = self.epoch_of(room, &item).await?;
        let offset = number(item.get("head")).unwrap_or(0);
        let state: StateItem = serde_dynamo::from_item(item)
            .map_err(|e| BackendError::new(format!("decoding the state of room {room}"), e))?;
        Ok(Snapshot {
            state: RoomState {
                version: state.version,
                state: GameState {
                    bg: state.bg,
                    icons: state.icons,
                },
            },
            at: Position { offset, epoch },
        })
    }

    async fn commit(
        &self,
        room: &RoomName,
        op: &Op,
        change: &ChangeId,
    ) -> Result<Committed, CommitError> {
        let icon = icon_of(op).map(IconId::as_str);
        let recorded = self
            .record(room, change, icon, |head| {
                let version = head.version + 1;
                Ok(Change {
                    clauses: self.clauses_for(op, head)?,
                    message: ServerMessage::Patch {
                        room: room.clone(),
                        version,
                        op: op.clone(),
                        at: None,
                    },
                    version: Some(version),
                })
            })
            .await?;
        Ok(Committed {
            version: recorded.version.unwrap_or(0),
            at: recorded.at,
        })
    }

    async fn append(
        &self,
        room: &RoomName,
        event: &ServerMessage,
        change: &ChangeId,
    ) -> Result<Position, BackendError> {
        let recorded = self
            .record(room, change, None, |_| {
                Ok(Change {
                    clauses: Clauses::default(),
                    message: event.clone(),
                    version: None,
                })
            })
            .await
            .map_err(|e| match e {
                CommitError::Backend(e) => e,
                CommitError::Rejected(e) => BackendError::new(format!("appending to {room}"), e),
            })?;
        Ok(recorded.at)
    }

    async fn history(&self, room: &RoomName, after: u64) -> Result<History, BackendError> {
        self.read_history(room, after).await
    }
}
