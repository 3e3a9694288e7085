//! The base-building actions: getState and the four state changes.

use super::{Handler, ack, internal};
use crate::ports::CommitError;
use crate::protocol::{Icon, IconId, ProtocolError, Ref, RoomName, ServerMessage};
use crate::state::Op;

impl Handler {
    /// Like join: an `ack` (when the request has a `ref`), then the state.
    pub(super) async fn get_state(
        &self,
        room: RoomName,
        reference: Option<Ref>,
    ) -> Result<Vec<ServerMessage>, ProtocolError> {
        let state = self.rooms.load(&room).await.map_err(internal)?;
        let mut replies = ack(reference, Some(state.version));
        replies.push(ServerMessage::State {
            room,
            version: state.version,
            state: state.state,
        });
        Ok(replies)
    }

    /// The server, not the client, names new icons.
    pub(super) async fn add_icon(
        &self,
        room: RoomName,
        icon: Icon,
        reference: Option<Ref>,
    ) -> Result<Vec<ServerMessage>, ProtocolError> {
        let op = Op::AddIcon {
            id: IconId::generate(),
            icon,
        };
        self.change(room, op, reference).await
    }

    /// Commit, then fan out the patch to the whole room (sender included: its ack
    /// carries the version and the patch confirms the content).
    pub(super) async fn change(
        &self,
        room: RoomName,
        op: Op,
        reference: Option<Ref>,
    ) -> Result<Vec<ServerMessage>, ProtocolError> {
        let version = match self.rooms.commit(&room, &op).await {
            Ok(version) => version,
            Err(CommitError::Rejected(e)) => return Err(e.to_protocol(&room)),
            Err(CommitError::Backend(e)) => return Err(internal(e)),
        };
        let patch = ServerMessage::Patch {
            room: room.clone(),
            version,
            op,
        };
        self.broadcast(&room, &patch, Some(version), None, true).await.map_err(|e| {
            let mut err = internal(e);
            err.message = format!("committed as version {version}, but the broadcast failed; others see it on their next getState");
            err
        })?;
        Ok(ack(reference, Some(version)))
    }
}
