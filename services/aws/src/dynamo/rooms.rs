//! Room state: one item per room, changed by single `UpdateItem`s.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use roomcast_core::ports::{BackendError, CommitError, RoomStore};
use roomcast_core::protocol::{Background, Icon, IconId, RoomName};
use roomcast_core::state::{ApplyError, GameState, Op, RoomState};
use serde::Deserialize;

use super::{DynamoStore, ROOMS_LPK, STATE_SK, backend, error_code, n, number, room_pk, s};

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

/// One `UpdateItem`, described.
struct Update {
    expression: &'static str,
    condition: Option<&'static str>,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
    /// What a failed condition means (`None`: the update has no condition).
    rejected: Option<ApplyError>,
}

fn icon_attr(icon: &Icon) -> Result<AttributeValue, BackendError> {
    serde_dynamo::to_attribute_value(icon).map_err(|e| BackendError::new("encoding an icon", e))
}

impl DynamoStore {
    fn update_for(&self, op: &Op) -> Result<Update, BackendError> {
        let mut values =
            HashMap::from([(":one".to_owned(), n(1)), (":lpk".to_owned(), s(ROOMS_LPK))]);
        let mut names = HashMap::new();
        let (expression, condition, rejected) = match op {
            Op::ChangeBackground { bg } => {
                values.insert(":bg".into(), n(bg.get()));
                ("SET bg = :bg, lpk = :lpk ADD version :one", None, None)
            }
            Op::AddIcon { id, icon } => {
                names.insert("#id".into(), id.as_str().to_owned());
                values.insert(":icon".into(), icon_attr(icon)?);
                values.insert(":cap".into(), n(self.icon_cap));
                (
                    "SET icons.#id = :icon, lpk = :lpk ADD version :one, iconCount :one",
                    Some("attribute_not_exists(iconCount) OR iconCount < :cap"),
                    Some(ApplyError::IconLimit(self.icon_cap)),
                )
            }
            Op::MoveIcon { id, icon } => {
                names.insert("#id".into(), id.as_str().to_owned());
                values.insert(":icon".into(), icon_attr(icon)?);
                values.remove(":lpk");
                (
                    "SET icons.#id = :icon ADD version :one",
                    Some("attribute_exists(icons.#id)"),
                    Some(ApplyError::UnknownIcon(id.clone())),
                )
            }
            Op::DeleteIcon { id } => {
                names.insert("#id".into(), id.as_str().to_owned());
                values.insert(":minus".into(), n(-1));
                values.remove(":lpk");
                (
                    "REMOVE icons.#id ADD version :one, iconCount :minus",
                    Some("attribute_exists(icons.#id)"),
                    Some(ApplyError::UnknownIcon(id.clone())),
                )
            }
        };
        Ok(Update {
            expression,
            condition,
            names,
            values,
            rejected,
        })
    }

    async fn run_update(
        &self,
        room: &RoomName,
        u: &Update,
    ) -> Result<u64, aws_sdk_dynamodb::error::SdkError<UpdateItemError>> {
        let out = self
            .update_state(room)
            .update_expression(u.expression)
            .set_condition_expression(u.condition.map(Into::into))
            .set_expression_attribute_names((!u.names.is_empty()).then(|| u.names.clone()))
            .set_expression_attribute_values(Some(u.values.clone()))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await?;
        Ok(number(out.attributes().and_then(|a| a.get("version"))).unwrap_or(0))
    }

    /// `icons.#id` needs the `icons` map to exist; a room item made by a join (or no
    /// item at all) gets an empty one. Idempotent, so racing writers are harmless.
    async fn ensure_icons_map(&self, room: &RoomName) -> Result<(), BackendError> {
        self.update_state(room)
            .update_expression("SET icons = if_not_exists(icons, :empty), lpk = :lpk")
            .expression_attribute_values(":empty", AttributeValue::M(HashMap::new()))
            .expression_attribute_values(":lpk", s(ROOMS_LPK))
            .send()
            .await
            .map_err(backend(format!("creating the state of room {room}")))?;
        Ok(())
    }
}

#[async_trait]
impl RoomStore for DynamoStore {
    async fn load(&self, room: &RoomName) -> Result<RoomState, BackendError> {
        let item = self
            .get(room_pk(room), STATE_SK, Some("version, bg, icons"), || {
                format!("loading room {room}")
            })
            .await?;
        let Some(item) = item else {
            return Ok(RoomState::default());
        };
        let item: StateItem = serde_dynamo::from_item(item)
            .map_err(|e| BackendError::new(format!("decoding the state of room {room}"), e))?;
        Ok(RoomState {
            version: item.version,
            state: GameState {
                bg: item.bg,
                icons: item.icons,
            },
        })
    }

    async fn commit(&self, room: &RoomName, op: &Op) -> Result<u64, CommitError> {
        let update = self.update_for(op)?;
        let mut created_map = false;
        loop {
            match self.run_update(room, &update).await {
                Ok(version) => return Ok(version),
                Err(e) => match (error_code(&e), &update.rejected) {
                    (Some("ConditionalCheckFailedException"), Some(rejected)) => {
                        return Err(CommitError::Rejected(rejected.clone()));
                    }
                    // "The document path provided in the update expression is invalid":
                    // no `icons` map yet. Create it once and try again.
                    (Some("ValidationException"), _) if !created_map && touches_icon(op) => {
                        self.ensure_icons_map(room).await?;
                        created_map = true;
                    }
                    _ => return Err(backend(format!("committing to room {room}"))(e).into()),
                },
            }
        }
    }
}

fn touches_icon(op: &Op) -> bool {
    !matches!(op, Op::ChangeBackground { .. })
}
