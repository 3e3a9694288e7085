//! Connect, disconnect, join (with recovery), leave, listRooms, listMembers.

use super::{Ack, Handler, Session, ack, internal};
use crate::fanout::now_ms;
use crate::history::Recovery;
use crate::ports::{BackendError, Headcount};
use crate::protocol::limits::{LIST_MEMBERS_LIMIT, LIST_ROOMS_LIMIT};
use crate::protocol::{
    ConnectionId, ErrorCode, Position, ProtocolError, Ref, RoomName, ServerMessage, UserId,
};

impl Handler {
    /// `$connect`: record the connection and join its connect room. Returns the frames
    /// owed to the new connection once it is open: its `welcome`, then its connect
    /// room's headcount (the room hears it with the next coalesced broadcast). API
    /// Gateway cannot post during `$connect`, so the AWS home drops them: there the
    /// welcome comes first in the answer to the connection's first action, and the
    /// count with the room's broadcast, at most one presence delay later.
    pub async fn connect(&self, session: &Session) -> Result<Vec<ServerMessage>, BackendError> {
        self.members.connect(&session.member()).await?;
        let count = self.members.join(&session.room, &session.member()).await?;
        self.presence().changed(&session.room, count).await?;
        Ok(vec![
            self.welcome(session),
            presence(session.room.clone(), count),
        ])
    }

    /// `$disconnect`: forget the connection; the rooms it was in hear the new counts.
    pub async fn disconnect(&self, id: &ConnectionId) -> Result<(), BackendError> {
        self.presence().depart(id).await
    }

    /// Join, then read the state (or, with `since`, the history): a change committed
    /// after the join is fanned out to us, one before it is in what we read, so nothing
    /// falls between. The joiner gets the room's headcount with the answer; the room
    /// hears it coalesced.
    ///
    /// With `since`, when the room's history still holds everything after it, the
    /// answer is exactly the missed patches and events in offset order, then the `ack`
    /// with `recovered: true` (it closes the recovery: a client holds live frames of the
    /// room until it) and no state; otherwise the `ack` says `recovered: false` and the
    /// state follows, as for a plain join.
    pub(super) async fn join(
        &self,
        session: &Session,
        room: RoomName,
        since: Option<Position>,
        reference: Option<Ref>,
    ) -> Result<Vec<ServerMessage>, ProtocolError> {
        let max = self.limits.max_rooms;
        let Some(count) = self
            .members
            .join_within(&room, &session.member(), max)
            .await
            .map_err(internal)?
        else {
            return Err(ProtocolError::new(
                ErrorCode::RoomLimit,
                format!("a connection may be in at most {max} rooms; leave one first"),
            ));
        };
        self.presence()
            .changed(&room, count)
            .await
            .map_err(internal)?;
        let recovery = match &since {
            Some(since) => self.recover(&room, since).await.map_err(internal)?,
            None => Recovery::Lost,
        };
        let mut replies = match recovery {
            Recovery::Missed(mut frames) => {
                frames.extend(Ack::new(reference, None).map(|mut a| {
                    a.recovered = Some(true);
                    ServerMessage::from(a)
                }));
                frames
            }
            Recovery::Lost => {
                let recovered = since.is_some().then_some(false);
                self.state_replies(room.clone(), reference, recovered)
                    .await?
            }
        };
        replies.push(presence(room, count));
        Ok(replies)
    }

    /// What the room's history holds after `since`, if it still holds all of it.
    async fn recover(&self, room: &RoomName, since: &Position) -> Result<Recovery, BackendError> {
        if self.history.size == 0 {
            return Ok(Recovery::Lost);
        }
        let history = self.rooms.history(room, since.offset).await?;
        Ok(history.recover(since, &self.history, now_ms()))
    }

    pub(super) async fn leave(
        &self,
        session: &Session,
        room: RoomName,
        reference: Option<Ref>,
    ) -> Result<Vec<ServerMessage>, ProtocolError> {
        if let Some(count) = self
            .members
            .leave(&room, &session.id)
            .await
            .map_err(internal)?
        {
            self.presence()
                .changed(&room, count)
                .await
                .map_err(internal)?;
        }
        Ok(ack(reference, None))
    }

    /// The most active rooms; a token limited to some rooms sees only those.
    pub(super) async fn list_rooms(
        &self,
        session: &Session,
        reference: Option<Ref>,
    ) -> Result<Vec<ServerMessage>, ProtocolError> {
        let mut rooms = self
            .members
            .rooms(LIST_ROOMS_LIMIT)
            .await
            .map_err(internal)?;
        rooms.retain(|r| session.access.allows(&r.room));
        let mut replies = ack(reference, None);
        replies.push(ServerMessage::Rooms { rooms });
        Ok(replies)
    }

    /// One page of the room's users with their connection counts.
    pub(super) async fn list_members(
        &self,
        room: RoomName,
        cursor: Option<String>,
        reference: Option<Ref>,
    ) -> Result<Vec<ServerMessage>, ProtocolError> {
        let after = cursor
            .map(UserId::parse)
            .transpose()
            .map_err(|e| ProtocolError::new(ErrorCode::InvalidField, format!("cursor: {e}")))?;
        let page = self
            .members
            .users(&room, after, LIST_MEMBERS_LIMIT)
            .await
            .map_err(internal)?;
        let mut replies = ack(reference, None);
        replies.push(ServerMessage::Members {
            room,
            users: page.users,
            next: page.next,
        });
        Ok(replies)
    }
}

/// The `presence` frame of a headcount.
pub(crate) fn presence(room: RoomName, count: Headcount) -> ServerMessage {
    ServerMessage::Presence {
        room,
        members: count.members,
        users: count.users,
    }
}
