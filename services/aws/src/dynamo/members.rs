//! Connections and memberships, with each room's member count kept in step.

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem, Update};
use roomcast_core::ports::{BackendError, Member, MembersPage, MembershipStore};
use roomcast_core::protocol::{ConnectionId, Protocol, RoomName, RoomSummary};

use super::{
    BY_MEMBERS_INDEX, CONN_SK, DynamoStore, ROOMS_LPK, STATE_SK, backend, conn_pk, error_code,
    expiry, member_sk, n, now_ms, number, parse_protocol, protocol_attr, room_pk, s,
};

/// What a cancelled transaction's first condition said.
fn first_condition_failed(
    e: &aws_sdk_dynamodb::error::SdkError<TransactWriteItemsError>,
    index: usize,
) -> bool {
    match e.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(c)) => c
            .cancellation_reasons()
            .get(index)
            .and_then(|r| r.code())
            .is_some_and(|code| code == "ConditionalCheckFailed"),
        _ => false,
    }
}

fn built<T, E: std::error::Error + Send + Sync + 'static>(
    r: Result<T, E>,
) -> Result<T, BackendError> {
    r.map_err(|e| BackendError::new("building a DynamoDB request", e))
}

impl DynamoStore {
    /// Store where and as whom a connection connected, for the `actions` function's
    /// fallback when no authorizer context reaches it.
    pub async fn annotate_connection(
        &self,
        id: &ConnectionId,
        room: &RoomName,
        user: Option<&str>,
    ) -> Result<(), BackendError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", conn_pk(id))
            .key("sk", s(CONN_SK))
            .update_expression("SET #room = :room, #user = :user")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#room", "room")
            .expression_attribute_names("#user", "user")
            .expression_attribute_values(":room", s(room.as_str()))
            .expression_attribute_values(":user", s(user.unwrap_or("anonymous")))
            .send()
            .await
            .map_err(backend(format!("annotating connection {id}")))?;
        Ok(())
    }

    /// A connection's protocol and connect room, if it is connected.
    pub async fn connection(
        &self,
        id: &ConnectionId,
    ) -> Result<Option<(Protocol, RoomName)>, BackendError> {
        let item = self
            .get(conn_pk(id), CONN_SK, Some("protocol, room"), || {
                format!("reading connection {id}")
            })
            .await?;
        Ok(item.map(|item| {
            let room = item
                .get("room")
                .and_then(|v| v.as_s().ok())
                .and_then(|r| RoomName::parse(r.as_str()).ok())
                .unwrap_or_else(RoomName::default_room);
            (parse_protocol(item.get("protocol")), room)
        }))
    }

    async fn is_connected(&self, id: &ConnectionId) -> Result<bool, BackendError> {
        let item = self
            .get(conn_pk(id), CONN_SK, Some("pk"), || {
                format!("reading connection {id}")
            })
            .await?;
        Ok(item.is_some())
    }

    pub(super) async fn member_count(&self, room: &RoomName) -> Result<u32, BackendError> {
        let item = self
            .get(room_pk(room), STATE_SK, Some("members"), || {
                format!("counting members of {room}")
            })
            .await?;
        let count: i64 = number(item.as_ref().and_then(|i| i.get("members"))).unwrap_or(0);
        Ok(count.clamp(0, u32::MAX as i64) as u32)
    }

    fn count_update(&self, room: &RoomName, delta: i64) -> Result<TransactWriteItem, BackendError> {
        let update = built(
            Update::builder()
                .table_name(&self.table)
                .key("pk", room_pk(room))
                .key("sk", s(STATE_SK))
                .update_expression("SET lpk = :lpk ADD members :delta")
                .expression_attribute_values(":lpk", s(ROOMS_LPK))
                .expression_attribute_values(":delta", n(delta))
                .build(),
        )?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// Remove the membership item and decrement the count, atomically. `false`: it
    /// was not a member.
    async fn remove_membership(
        &self,
        room: &RoomName,
        id: &ConnectionId,
    ) -> Result<bool, BackendError> {
        let delete = built(
            Delete::builder()
                .table_name(&self.table)
                .key("pk", room_pk(room))
                .key("sk", member_sk(id))
                .condition_expression("attribute_exists(sk)")
                .build(),
        )?;
        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().delete(delete).build())
            .transact_items(self.count_update(room, -1)?)
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if first_condition_failed(&e, 0) => Ok(false),
            Err(e) => Err(backend(format!("removing {id} from {room}"))(e)),
        }
    }
}

#[async_trait]
impl MembershipStore for DynamoStore {
    async fn connect(&self, member: &Member) -> Result<(), BackendError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", conn_pk(&member.id))
            .key("sk", s(CONN_SK))
            .update_expression("SET protocol = :p, connectedAt = :t, #exp = :exp")
            .expression_attribute_names("#exp", "exp")
            .expression_attribute_values(":p", protocol_attr(member.protocol))
            .expression_attribute_values(":t", now_ms())
            .expression_attribute_values(":exp", expiry())
            .send()
            .await
            .map_err(backend(format!("storing connection {}", member.id)))?;
        Ok(())
    }

    async fn disconnect(&self, id: &ConnectionId) -> Result<Vec<RoomSummary>, BackendError> {
        let item = self
            .get(conn_pk(id), CONN_SK, Some("rooms"), || {
                format!("reading connection {id}")
            })
            .await?;
        let rooms: Vec<RoomName> = item
            .as_ref()
            .and_then(|i| i.get("rooms"))
            .and_then(|v| v.as_ss().ok())
            .map(|names| {
                names
                    .iter()
                    .filter_map(|r| RoomName::parse(r.as_str()).ok())
                    .collect()
            })
            .unwrap_or_default();
        let mut left = Vec::with_capacity(rooms.len());
        for room in rooms {
            if self.remove_membership(&room, id).await? {
                let members = self.member_count(&room).await?;
                left.push(RoomSummary { room, members });
            }
        }
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("pk", conn_pk(id))
            .key("sk", s(CONN_SK))
            .send()
            .await
            .map_err(backend(format!("deleting connection {id}")))?;
        Ok(left)
    }

    async fn join(&self, room: &RoomName, member: &Member) -> Result<u32, BackendError> {
        self.join_within(room, member, usize::MAX)
            .await?
            .ok_or_else(|| BackendError::new(format!("joining {room}"), "refused"))
    }

    /// One transaction: the membership, the room's count, and the room in the
    /// connection's `rooms` set — on the condition that the set holds fewer than
    /// `max_rooms` rooms (`size(rooms)`), so the check cannot race another join.
    async fn join_within(
        &self,
        room: &RoomName,
        member: &Member,
        max_rooms: usize,
    ) -> Result<Option<u32>, BackendError> {
        let put = built(
            Put::builder()
                .table_name(&self.table)
                .item("pk", room_pk(room))
                .item("sk", member_sk(&member.id))
                .item("protocol", protocol_attr(member.protocol))
                .item("joinedAt", now_ms())
                .item("exp", expiry())
                .condition_expression("attribute_not_exists(sk)")
                .build(),
        )?;
        // The connection must still exist: a join racing a disconnect must not leave
        // a membership behind that nothing will ever clean up.
        let mut conn = Update::builder()
            .table_name(&self.table)
            .key("pk", conn_pk(&member.id))
            .key("sk", s(CONN_SK))
            .update_expression("ADD rooms :room")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":room", AttributeValue::Ss(vec![room.to_string()]));
        if max_rooms != usize::MAX {
            conn = conn
                .condition_expression(
                    "attribute_exists(pk) AND (attribute_not_exists(rooms) OR size(rooms) < :max)",
                )
                .expression_attribute_values(":max", n(max_rooms));
        }
        let conn = built(conn.build())?;
        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(put).build())
            .transact_items(self.count_update(room, 1)?)
            .transact_items(TransactWriteItem::builder().update(conn).build())
            .send()
            .await;
        match result {
            // Already a member: joining is idempotent.
            Ok(_) => {}
            Err(e) if first_condition_failed(&e, 0) => {}
            // The connection is there and its rooms are full: nothing was written.
            Err(e) if first_condition_failed(&e, 2) && self.is_connected(&member.id).await? => {
                return Ok(None);
            }
            Err(e) if first_condition_failed(&e, 2) => {
                return Err(BackendError::new(
                    format!("joining {room}"),
                    format!("connection {} is not connected", member.id),
                ));
            }
            Err(e) => return Err(backend(format!("joining {} to {room}", member.id))(e)),
        }
        Ok(Some(self.member_count(room).await?))
    }

    async fn leave(&self, room: &RoomName, id: &ConnectionId) -> Result<Option<u32>, BackendError> {
        if !self.remove_membership(room, id).await? {
            return Ok(None);
        }
        let forget = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", conn_pk(id))
            .key("sk", s(CONN_SK))
            .update_expression("DELETE rooms :room")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":room", AttributeValue::Ss(vec![room.to_string()]))
            .send()
            .await;
        match forget {
            Ok(_) => {}
            // Already disconnected: nothing to forget.
            Err(e) if error_code(&e) == Some("ConditionalCheckFailedException") => {}
            Err(e) => return Err(backend(format!("updating connection {id}"))(e)),
        }
        Ok(Some(self.member_count(room).await?))
    }

    async fn members(
        &self,
        room: &RoomName,
        cursor: Option<String>,
        limit: usize,
    ) -> Result<MembersPage, BackendError> {
        let start = cursor.map(|sk| {
            [("pk".to_owned(), room_pk(room)), ("sk".to_owned(), s(sk))]
                .into_iter()
                .collect()
        });
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :conn)")
            .expression_attribute_values(":pk", room_pk(room))
            .expression_attribute_values(":conn", s("CONN#"))
            .projection_expression("sk, protocol")
            .limit(limit.clamp(1, 1000) as i32)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(backend(format!("listing members of {room}")))?;
        let members = out
            .items()
            .iter()
            .filter_map(|item| {
                let sk = item.get("sk")?.as_s().ok()?;
                let id = ConnectionId::parse(sk.strip_prefix("CONN#")?).ok()?;
                Some(Member {
                    id,
                    protocol: parse_protocol(item.get("protocol")),
                })
            })
            .collect();
        let next = out
            .last_evaluated_key()
            .and_then(|k| k.get("sk"))
            .and_then(|v| v.as_s().ok())
            .cloned();
        Ok(MembersPage { members, next })
    }

    async fn rooms(&self, limit: usize) -> Result<Vec<RoomSummary>, BackendError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(BY_MEMBERS_INDEX)
            .key_condition_expression("lpk = :lpk AND members > :zero")
            .expression_attribute_values(":lpk", s(ROOMS_LPK))
            .expression_attribute_values(":zero", n(0))
            .scan_index_forward(false)
            .limit(limit.clamp(1, 1000) as i32)
            .send()
            .await
            .map_err(backend("listing rooms"))?;
        Ok(out
            .items()
            .iter()
            .filter_map(|item| {
                let pk = item.get("pk")?.as_s().ok()?;
                let room = RoomName::parse(pk.strip_prefix("ROOM#")?).ok()?;
                let members: i64 = number(item.get("members"))?;
                Some(RoomSummary {
                    room,
                    members: members.clamp(0, u32::MAX as i64) as u32,
                })
            })
            .collect())
    }

    async fn mark_presence(
        &self,
        room: &RoomName,
        mark: u64,
        stale_before: u64,
    ) -> Result<bool, BackendError> {
        self.set_presence_mark(room, mark, stale_before).await
    }

    async fn take_presence(&self, room: &RoomName, mark: u64) -> Result<u32, BackendError> {
        self.clear_presence_mark(room, mark).await
    }
}
