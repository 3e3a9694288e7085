//! Presence by user: how many of a room's connections are each user's.
//!
//! | item | pk | sk | attributes |
//! | --- | --- | --- | --- |
//! | room user | `ROOM#<room>` | `USER#<user>` | conns, exp |
//!
//! The room state item's `users` counts the room's user items. A join or leave reads
//! the user's `conns` and puts a condition on that value in its transaction
//! (`joins.rs`): the count goes 0→1 (the item is put, `users` + 1) or 1→0 (the item is
//! deleted, `users` − 1) exactly once, and a transaction that raced another on the same
//! user is cancelled and retried on a fresh read.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem, Update};
use roomcast_core::ports::{BackendError, Headcount, UsersPage};
use roomcast_core::protocol::{RoomName, UserCount, UserId};

use super::{DynamoStore, STATE_SK, backend, built, expiry, n, number, room_pk, s};

const USER_PREFIX: &str = "USER#";

fn user_sk(user: &UserId) -> AttributeValue {
    s(format!("{USER_PREFIX}{}", user.as_str()))
}

/// A stored count as a `u32` (a count is never negative; a stray one reads as 0).
fn count(v: Option<&AttributeValue>) -> u32 {
    number::<i64>(v).unwrap_or(0).clamp(0, u32::MAX as i64) as u32
}

/// One step of a user's connection count in a room, as a transaction item.
pub(super) struct UserStep {
    pub item: TransactWriteItem,
    /// What the step does to the room's `users`: +1, −1 or 0.
    pub users: i64,
}

impl DynamoStore {
    /// How many of `room`'s connections are `user`'s now (a consistent read).
    pub(super) async fn user_conns(
        &self,
        room: &RoomName,
        user: &UserId,
    ) -> Result<u64, BackendError> {
        let item = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", room_pk(room))
            .key("sk", user_sk(user))
            .consistent_read(true)
            .projection_expression("conns")
            .send()
            .await
            .map_err(backend(format!("reading user {user} in {room}")))?
            .item;
        Ok(number(item.as_ref().and_then(|i| i.get("conns"))).unwrap_or(0))
    }

    /// Move `user`'s count in `room` from `conns` (as read) by `delta` (±1), on the
    /// condition that it is still `conns`. `None`: nothing to do (a leave of a user
    /// the room has no count for: an item from before users were counted).
    pub(super) fn user_step(
        &self,
        room: &RoomName,
        user: &UserId,
        conns: u64,
        delta: i64,
    ) -> Result<Option<UserStep>, BackendError> {
        let key = |k: &str| -> HashMap<String, AttributeValue> {
            HashMap::from([("pk".into(), room_pk(room)), (k.into(), user_sk(user))])
        };
        let after = conns as i64 + delta;
        if conns == 0 && delta < 0 {
            return Ok(None);
        }
        let (item, users) = if conns == 0 {
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(key("sk")))
                .item("conns", n(after))
                .item("exp", expiry())
                .condition_expression("attribute_not_exists(sk)");
            (
                TransactWriteItem::builder()
                    .put(built(put.build())?)
                    .build(),
                1,
            )
        } else if after <= 0 {
            let delete = Delete::builder()
                .table_name(&self.table)
                .set_key(Some(key("sk")))
                .condition_expression("conns = :was")
                .expression_attribute_values(":was", n(conns));
            (
                TransactWriteItem::builder()
                    .delete(built(delete.build())?)
                    .build(),
                -1,
            )
        } else {
            let update = Update::builder()
                .table_name(&self.table)
                .set_key(Some(key("sk")))
                .update_expression("SET conns = :now, #exp = :exp")
                .condition_expression("conns = :was")
                .expression_attribute_names("#exp", "exp")
                .expression_attribute_values(":now", n(after))
                .expression_attribute_values(":was", n(conns))
                .expression_attribute_values(":exp", expiry());
            (
                TransactWriteItem::builder()
                    .update(built(update.build())?)
                    .build(),
                0,
            )
        };
        Ok(Some(UserStep { item, users }))
    }

    /// The room's headcount: its `members` and `users` counts.
    pub(super) async fn headcount(&self, room: &RoomName) -> Result<Headcount, BackendError> {
        let item = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", room_pk(room))
            .key("sk", s(STATE_SK))
            .consistent_read(true)
            .projection_expression("members, #users")
            .expression_attribute_names("#users", "users")
            .send()
            .await
            .map_err(backend(format!("counting members of {room}")))?
            .item;
        Ok(headcount_of(item.as_ref()))
    }

    /// `MembershipStore::users`: a page of the room's user items, in user order.
    pub(super) async fn list_users(
        &self,
        room: &RoomName,
        after: Option<UserId>,
        limit: usize,
    ) -> Result<UsersPage, BackendError> {
        let limit = limit.clamp(1, 1000);
        let start = after.map(|user| {
            HashMap::from([
                ("pk".to_owned(), room_pk(room)),
                ("sk".to_owned(), user_sk(&user)),
            ])
        });
        // One more than asked: whether a next page exists, without an empty last page.
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :user)")
            .expression_attribute_values(":pk", room_pk(room))
            .expression_attribute_values(":user", s(USER_PREFIX))
            .projection_expression("sk, conns")
            .limit(limit as i32 + 1)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(backend(format!("listing the users of {room}")))?;
        let mut users: Vec<UserCount> = out
            .items()
            .iter()
            .filter_map(|item| {
                let sk = item.get("sk")?.as_s().ok()?;
                Some(UserCount {
                    user: UserId::parse(sk.strip_prefix(USER_PREFIX)?).ok()?,
                    connections: count(item.get("conns")),
                })
            })
            .collect();
        let next = if users.len() > limit {
            users.truncate(limit);
            users.last().map(|u| u.user.clone())
        } else {
            None
        };
        Ok(UsersPage { users, next })
    }
}

/// The headcount a room item holds.
pub(super) fn headcount_of(item: Option<&HashMap<String, AttributeValue>>) -> Headcount {
    Headcount {
        members: count(item.and_then(|i| i.get("members"))),
        users: count(item.and_then(|i| i.get("users"))),
    }
}
