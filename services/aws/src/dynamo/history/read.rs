//! Reading a room's history: the head and epoch on the room item, the entries after
//! an offset.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use roomcast_core::history::{Entry, History};
use roomcast_core::ports::BackendError;
use roomcast_core::protocol::{Epoch, Position, RoomName};

use super::{hist_pk, offset_sk};
use crate::dynamo::{DynamoStore, Item, STATE_SK, backend, number, room_pk, s};

/// The room item as read before a write.
pub(in crate::dynamo) struct Head {
    pub version: u64,
    /// `None`: no entry yet (the attribute is absent, and the write's condition says so).
    pub head: Option<u64>,
    pub epoch: Epoch,
    /// `iconCount`, absent until the room's first icon.
    pub icon_count: Option<u64>,
    /// Whether the icon the op names exists.
    pub has_icon: bool,
}

impl DynamoStore {
    /// Read the room's `version, head, epoch` (and, with `icon`, `iconCount` and whether
    /// `icons.<icon>` exists), giving the room an epoch first if it has none.
    pub(in crate::dynamo) async fn read_head(
        &self,
        room: &RoomName,
        icon: Option<&str>,
    ) -> Result<Head, BackendError> {
        let mut get = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", room_pk(room))
            .key("sk", s(STATE_SK))
            .consistent_read(true)
            .projection_expression("version, head, epoch, iconCount");
        if let Some(id) = icon {
            get = get
                .projection_expression("version, head, epoch, iconCount, icons.#id")
                .expression_attribute_names("#id", id);
        }
        let item = get
            .send()
            .await
            .map_err(backend(format!("reading the head of room {room}")))?
            .item
            .unwrap_or_default();
        let has_icon = item
            .get("icons")
            .and_then(|v| v.as_m().ok())
            .is_some_and(|m| !m.is_empty());
        Ok(Head {
            version: number(item.get("version")).unwrap_or(0),
            head: number(item.get("head")),
            epoch: self.epoch_of(room, &item).await?,
            icon_count: number(item.get("iconCount")),
            has_icon,
        })
    }

    /// The room's epoch from `item`, or a fresh one set now if it has none. Set once
    /// (`if_not_exists`): of racing first writers, all get the one that stuck.
    pub(in crate::dynamo) async fn epoch_of(
        &self,
        room: &RoomName,
        item: &Item,
    ) -> Result<Epoch, BackendError> {
        if let Some(epoch) = item.get("epoch").and_then(|v| v.as_s().ok()) {
            return parse_epoch(room, epoch);
        }
        let out = self
            .update_state(room)
            // `icons.<id>` updates need the map: made here, before the room's first entry.
            .update_expression(
                "SET epoch = if_not_exists(epoch, :fresh), icons = if_not_exists(icons, :empty)",
            )
            .expression_attribute_values(":fresh", s(Epoch::generate().as_str()))
            .expression_attribute_values(":empty", AttributeValue::M(HashMap::new()))
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(backend(format!("starting the history of room {room}")))?;
        let epoch = out.attributes().and_then(|a| a.get("epoch"));
        parse_epoch(room, epoch.and_then(|v| v.as_s().ok()).map_or("", |e| e))
    }

    /// `RoomStore::history`: the head, then the entries after `after` (at most the
    /// policy's size), read in that order so no entry up to the head can be missing
    /// from what follows.
    pub(in crate::dynamo) async fn read_history(
        &self,
        room: &RoomName,
        after: u64,
    ) -> Result<History, BackendError> {
        let head = self.read_head(room, None).await?;
        let last = head
            .head
            .unwrap_or(0)
            .min(after.saturating_add(self.history.size as u64));
        let mut entries = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        // Pages of at most 1 MB each: a full history of large events spans several.
        let mut more = after < last;
        while more {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND sk BETWEEN :lo AND :hi")
                .expression_attribute_values(":pk", hist_pk(room))
                .expression_attribute_values(":lo", s(offset_sk(after + 1)))
                .expression_attribute_values(":hi", s(offset_sk(last)))
                .projection_expression("sk, frame, #at")
                .expression_attribute_names("#at", "at")
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(backend(format!("reading the history of room {room}")))?;
            for item in out.items() {
                entries.push(entry(room, item)?);
            }
            start = out.last_evaluated_key;
            more = start.is_some();
        }
        Ok(History {
            head: Position {
                offset: head.head.unwrap_or(0),
                epoch: head.epoch,
            },
            entries,
        })
    }
}

fn entry(room: &RoomName, item: &Item) -> Result<Entry, BackendError> {
    let bad =
        |what: &str| BackendError::new(format!("a history entry of room {room}"), what.to_owned());
    let offset = item
        .get("sk")
        .and_then(|v| v.as_s().ok())
        .and_then(|sk| sk.parse().ok())
        .ok_or_else(|| bad("no offset"))?;
    let frame = item
        .get("frame")
        .and_then(|v| v.as_s().ok())
        .ok_or_else(|| bad("no frame"))?;
    let message = serde_json::from_str(frame).map_err(|e| {
        BackendError::new(format!("decoding history entry {offset} of room {room}"), e)
    })?;
    Ok(Entry {
        offset,
        at_ms: number(item.get("at")).unwrap_or(0),
        message,
    })
}

pub(super) fn parse_epoch(room: &RoomName, epoch: &str) -> Result<Epoch, BackendError> {
    Epoch::parse(epoch).map_err(|e| BackendError::new(format!("the epoch of room {room}"), e.0))
}
