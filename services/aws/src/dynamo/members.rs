//! Connections and memberships, with each room's member and user counts kept in step
//! (the join and leave transactions are in `joins.rs`, user items in `users.rs`).

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use roomcast_core::ports::{
    BackendError, Headcount, Left, Member, MembersPage, MembershipStore, UsersPage,
};
use roomcast_core::protocol::{ConnectionId, Protocol, RoomName, RoomSummary, UserId};

use super::joins::Joined;
use super::{
    CONN_SK, DynamoStore, backend, conn_pk, error_code, expiry, now_ms, parse_protocol,
    protocol_attr, room_pk, s,
};

impl DynamoStore {
    /// Store where a connection connected, for the `actions` function's fallback when
    /// no authorizer context reaches it (its user is stored by the connect itself).
    pub async fn annotate_connection(
        &self,
        id: &ConnectionId,
        room: &RoomName,
    ) -> Result<(), BackendError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", conn_pk(id))
            .key("sk", s(CONN_SK))
            .update_expression("SET #room = :room")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#room", "room")
            .expression_attribute_values(":room", s(room.as_str()))
            .send()
            .await
            .map_err(backend(format!("annotating connection {id}")))?;
        Ok(())
    }

    /// A connection's protocol, connect room and user, if it is connected (a
    /// connection stored before users were: its own anonymous user).
    pub async fn connection(
        &self,
        id: &ConnectionId,
    ) -> Result<Option<(Protocol, RoomName, UserId)>, BackendError> {
        let item = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", conn_pk(id))
            .key("sk", s(CONN_SK))
            .consistent_read(true)
            .projection_expression("protocol, #room, #user")
            .expression_attribute_names("#room", "room")
            .expression_attribute_names("#user", "user")
            .send()
            .await
            .map_err(backend(format!("reading connection {id}")))?
            .item;
        Ok(item.map(|item| {
            let text = |k: &str| item.get(k).and_then(|v| v.as_s().ok());
            let room = text("room")
                .and_then(|r| RoomName::parse(r.as_str()).ok())
                .unwrap_or_else(RoomName::default_room);
            let user = text("user")
                .and_then(|u| UserId::parse(u.as_str()).ok())
                .unwrap_or_else(|| UserId::anonymous(id));
            (parse_protocol(item.get("protocol")), room, user)
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
}

#[async_trait]
impl MembershipStore for DynamoStore {
    async fn connect(&self, member: &Member) -> Result<(), BackendError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", conn_pk(&member.id))
            .key("sk", s(CONN_SK))
            .update_expression("SET protocol = :p, #user = :user, connectedAt = :t, #exp = :exp")
            .expression_attribute_names("#exp", "exp")
            .expression_attribute_names("#user", "user")
            .expression_attribute_values(":p", protocol_attr(member.protocol))
            .expression_attribute_values(":user", s(member.user.as_str()))
            .expression_attribute_values(":t", now_ms())
            .expression_attribute_values(":exp", expiry())
            .send()
            .await
            .map_err(backend(format!("storing connection {}", member.id)))?;
        Ok(())
    }

    async fn disconnect(&self, id: &ConnectionId) -> Result<Vec<Left>, BackendError> {
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
                let count = self.headcount(&room).await?;
                left.push(Left { room, count });
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

    async fn join(&self, room: &RoomName, member: &Member) -> Result<Headcount, BackendError> {
        self.join_within(room, member, usize::MAX)
            .await?
            .ok_or_else(|| BackendError::new(format!("joining {room}"), "refused"))
    }

    /// One transaction (`joins.rs`): the membership, the room's counts, the room in
    /// the connection's `rooms` set within `max_rooms`, and the user's count.
    async fn join_within(
        &self,
        room: &RoomName,
        member: &Member,
        max_rooms: usize,
    ) -> Result<Option<Headcount>, BackendError> {
        match self.join_room(room, member, max_rooms).await? {
            Joined::Yes => {}
            // The connection is there and its rooms are full: nothing was written.
            Joined::ConnectionRefused if self.is_connected(&member.id).await? => return Ok(None),
            Joined::ConnectionRefused => {
                return Err(BackendError::new(
                    format!("joining {room}"),
                    format!("connection {} is not connected", member.id),
                ));
            }
        }
        Ok(Some(self.headcount(room).await?))
    }

    async fn leave(
        &self,
        room: &RoomName,
        id: &ConnectionId,
    ) -> Result<Option<Headcount>, BackendError> {
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
        Ok(Some(self.headcount(room).await?))
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
            .projection_expression("sk, protocol, #user")
            .expression_attribute_names("#user", "user")
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
                // A membership from before users were stored: its own anonymous user.
                let user = item
                    .get("user")
                    .and_then(|v| v.as_s().ok())
                    .and_then(|u| UserId::parse(u.as_str()).ok())
                    .unwrap_or_else(|| UserId::anonymous(&id));
                Some(Member {
                    id,
                    protocol: parse_protocol(item.get("protocol")),
                    user,
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

    /// The `byMembers` index's order with each room item's counts (`listing.rs`).
    async fn rooms(&self, limit: usize) -> Result<Vec<RoomSummary>, BackendError> {
        self.list_rooms(limit).await
    }

    async fn mark_presence(
        &self,
        room: &RoomName,
        mark: u64,
        stale_before: u64,
    ) -> Result<bool, BackendError> {
        self.set_presence_mark(room, mark, stale_before).await
    }

    async fn take_presence(&self, room: &RoomName, mark: u64) -> Result<Headcount, BackendError> {
        self.clear_presence_mark(room, mark).await
    }

    async fn users(
        &self,
        room: &RoomName,
        after: Option<UserId>,
        limit: usize,
    ) -> Result<UsersPage, BackendError> {
        self.list_users(room, after, limit).await
    }
}
