//! Joins and leaves: one transaction each, keeping the room's `members` and `users`
//! counts in step with its membership and user items.

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem, Update};
use roomcast_core::ports::{BackendError, Member};
use roomcast_core::protocol::{ConnectionId, RoomName, UserId};

use super::{
    CONN_SK, DynamoStore, ROOMS_LPK, STATE_SK, backend, built, cancel_reason, conn_pk, expiry,
    member_sk, n, now_ms, protocol_attr, room_pk, s,
};

/// Attempts at a join or leave whose user count keeps changing under it.
const MAX_ATTEMPTS: u32 = 24;

fn failed(e: &SdkError<TransactWriteItemsError>, index: usize) -> bool {
    cancel_reason(e, index) == Some("ConditionalCheckFailed")
}

/// Another transaction held an item, or the user's count moved: read and try again.
fn raced(e: &SdkError<TransactWriteItemsError>, user_index: usize) -> bool {
    failed(e, user_index)
        || (0..=user_index).any(|i| cancel_reason(e, i) == Some("TransactionConflict"))
}

/// How a join ended.
pub(super) enum Joined {
    /// Joined now, or was a member already (joining is idempotent).
    Yes,
    /// The connection's `rooms` set is full (or the connection is gone): nothing written.
    ConnectionRefused,
}

impl DynamoStore {
    /// The room item's counts move by `members` and `users`.
    fn count_update(
        &self,
        room: &RoomName,
        members: i64,
        users: i64,
    ) -> Result<TransactWriteItem, BackendError> {
        let update = built(
            Update::builder()
                .table_name(&self.table)
                .key("pk", room_pk(room))
                .key("sk", s(STATE_SK))
                .update_expression("SET lpk = :lpk ADD members :members, #users :users")
                .expression_attribute_names("#users", "users")
                .expression_attribute_values(":lpk", s(ROOMS_LPK))
                .expression_attribute_values(":members", n(members))
                .expression_attribute_values(":users", n(users))
                .build(),
        )?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// One transaction: the membership (with its user), the room's counts, the room in
    /// the connection's `rooms` set — on the condition that the set holds fewer than
    /// `max_rooms` rooms (`size(rooms)`), so the check cannot race another join — and
    /// the user's count, on the condition that it is still what was read.
    pub(super) async fn join_room(
        &self,
        room: &RoomName,
        member: &Member,
        max_rooms: usize,
    ) -> Result<Joined, BackendError> {
        for _ in 0..MAX_ATTEMPTS {
            let conns = self.user_conns(room, &member.user).await?;
            let step = self
                .user_step(room, &member.user, conns, 1)?
                .ok_or_else(|| BackendError::new("joining", "no user step"))?;
            let put = built(
                Put::builder()
                    .table_name(&self.table)
                    .item("pk", room_pk(room))
                    .item("sk", member_sk(&member.id))
                    .item("protocol", protocol_attr(member.protocol))
                    .item("user", s(member.user.as_str()))
                    .item("joinedAt", now_ms())
                    .item("exp", expiry())
                    .condition_expression("attribute_not_exists(sk)")
                    .build(),
            )?;
            // The connection must still exist: a join racing a disconnect must not
            // leave a membership behind that nothing will ever clean up.
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
            let result = self
                .client
                .transact_write_items()
                .transact_items(TransactWriteItem::builder().put(put).build())
                .transact_items(self.count_update(room, 1, step.users)?)
                .transact_items(
                    TransactWriteItem::builder()
                        .update(built(conn.build())?)
                        .build(),
                )
                .transact_items(step.item)
                .send()
                .await;
            match result {
                Ok(_) => return Ok(Joined::Yes),
                // Already a member: nothing to write.
                Err(e) if failed(&e, 0) => return Ok(Joined::Yes),
                Err(e) if failed(&e, 2) => return Ok(Joined::ConnectionRefused),
                Err(e) if raced(&e, 3) => continue,
                Err(e) => return Err(backend(format!("joining {} to {room}", member.id))(e)),
            }
        }
        Err(BackendError::new(
            format!("joining {} to {room}", member.id),
            "the user's count kept changing",
        ))
    }

    /// Remove the membership item and step the counts down, atomically. `false`: it
    /// was not a member.
    pub(super) async fn remove_membership(
        &self,
        room: &RoomName,
        id: &ConnectionId,
    ) -> Result<bool, BackendError> {
        let item = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", room_pk(room))
            .key("sk", member_sk(id))
            .consistent_read(true)
            .projection_expression("sk, #user")
            .expression_attribute_names("#user", "user")
            .send()
            .await
            .map_err(backend(format!("reading the membership of {id} in {room}")))?;
        let Some(item) = item.item else {
            return Ok(false);
        };
        // Memberships from before users were counted carry no user: only `members` moves.
        let user = item
            .get("user")
            .and_then(|v| v.as_s().ok())
            .and_then(|u| UserId::parse(u.as_str()).ok());
        for _ in 0..MAX_ATTEMPTS {
            let step = match &user {
                Some(user) => {
                    let conns = self.user_conns(room, user).await?;
                    self.user_step(room, user, conns, -1)?
                }
                None => None,
            };
            let delete = built(
                Delete::builder()
                    .table_name(&self.table)
                    .key("pk", room_pk(room))
                    .key("sk", member_sk(id))
                    .condition_expression("attribute_exists(sk)")
                    .build(),
            )?;
            let (users, step) = match step {
                Some(step) => (step.users, Some(step.item)),
                None => (0, None),
            };
            let mut items = vec![
                TransactWriteItem::builder().delete(delete).build(),
                self.count_update(room, -1, users)?,
            ];
            items.extend(step);
            let result = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items))
                .send()
                .await;
            match result {
                Ok(_) => return Ok(true),
                // Gone meanwhile (a concurrent leave or disconnect took it).
                Err(e) if failed(&e, 0) => return Ok(false),
                Err(e) if raced(&e, 2) => continue,
                Err(e) => return Err(backend(format!("removing {id} from {room}"))(e)),
            }
        }
        Err(BackendError::new(
            format!("removing {id} from {room}"),
            "the user's count kept changing",
        ))
    }
}
