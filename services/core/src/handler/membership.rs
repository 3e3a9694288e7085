//! Connect, disconnect, join, leave, listRooms.

use super::{Handler, Session, ack, internal};
use crate::ports::BackendError;
use crate::protocol::limits::LIST_ROOMS_LIMIT;
use crate::protocol::{ConnectionId, ErrorCode, ProtocolError, Ref, RoomName, ServerMessage};

impl Handler {
    /// `$connect`: record the connection and join its connect room. Returns the frames
    /// owed to the new connection once it is open: its connect room's member count
    /// (the room hears it with the next coalesced broadcast). API Gateway cannot post
    /// during `$connect`, so the AWS home drops them and the joiner learns the count
    /// from that broadcast, at most one presence delay later.
    pub async fn connect(&self, session: &Session) -> Result<Vec<ServerMessage>, BackendError> {
        self.members.connect(&session.member()).await?;
        let members = self.members.join(&session.room, &session.member()).await?;
        self.presence().changed(&session.room, members).await?;
        Ok(vec![ServerMessage::Presence {
            room: session.room.clone(),
            members,
        }])
    }

    /// `$disconnect`: forget the connection; the rooms it was in hear the new counts.
    pub async fn disconnect(&self, id: &ConnectionId) -> Result<(), BackendError> {
        self.presence().depart(id).await
    }

    /// Join, then read the state: a commit after the join is fanned out to us, one
    /// before it is in the state we read, so nothing falls between. The joiner gets the
    /// room's member count with the answer; the room hears it coalesced.
    pub(super) async fn join(
        &self,
        session: &Session,
        room: RoomName,
        reference: Option<Ref>,
    ) -> Result<Vec<ServerMessage>, ProtocolError> {
        let max = self.limits.max_rooms;
        let Some(members) = self
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
            .changed(&room, members)
            .await
            .map_err(internal)?;
        let mut replies = self.get_state(room.clone(), reference).await?;
        replies.push(ServerMessage::Presence { room, members });
        Ok(replies)
    }

    pub(super) async fn leave(
        &self,
        session: &Session,
        room: RoomName,
        reference: Option<Ref>,
    ) -> Result<Vec<ServerMessage>, ProtocolError> {
        if let Some(members) = self
            .members
            .leave(&room, &session.id)
            .await
            .map_err(internal)?
        {
            self.presence()
                .changed(&room, members)
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
}
