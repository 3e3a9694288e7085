//! The base-building actions: getState and the four state changes.

use super::{Ack, Handler, internal};
use crate::history::ChangeId;
use crate::ports::{CommitError, Committed};
use crate::protocol::{Icon, IconId, ProtocolError, Ref, RoomName, ServerMessage};
use crate::state::Op;

impl Handler {
    /// Like join: an `ack` (when the request has a `ref`), then the state with the
    /// history position it is current to.
    pub(super) async fn get_state(
        &self,
        room: RoomName,
        reference: Option<Ref>,
    ) -> Result<Vec<ServerMessage>, ProtocolError> {
        self.state_replies(room, reference, None).await
    }

    /// The `ack` (saying whether a `join` recovered, when it asked to) and the state.
    pub(super) async fn state_replies(
        &self,
        room: RoomName,
        reference: Option<Ref>,
        recovered: Option<bool>,
    ) -> Result<Vec<ServerMessage>, ProtocolError> {
        let snapshot = self.rooms.load(&room).await.map_err(internal)?;
        let version = snapshot.state.version;
        let mut replies: Vec<ServerMessage> = Ack::new(reference, Some(version))
            .map(|mut a| {
                a.recovered = recovered;
                a.into()
            })
            .into_iter()
            .collect();
        replies.push(ServerMessage::State {
            room,
            version,
            state: snapshot.state.state,
            at: Some(snapshot.at),
        });
        Ok(replies)
    }

    /// The server, not the client, names new icons; the ack tells the sender which.
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

    /// Commit (recording the patch in the room's history in the same step), then fan
    /// out the patch to the whole room (sender included: its ack carries the version and
    /// the patch confirms the content).
    pub(super) async fn change(
        &self,
        room: RoomName,
        op: Op,
        reference: Option<Ref>,
    ) -> Result<Vec<ServerMessage>, ProtocolError> {
        let Committed { version, at } =
            match self.rooms.commit(&room, &op, &ChangeId::generate()).await {
                Ok(committed) => committed,
                Err(CommitError::Rejected(e)) => return Err(e.to_protocol(&room)),
                Err(CommitError::Backend(e)) => return Err(internal(e)),
            };
        let created = match &op {
            Op::AddIcon { id, .. } => Some(id.clone()),
            _ => None,
        };
        let patch = ServerMessage::Patch {
            room: room.clone(),
            version,
            op,
            at: Some(at),
        };
        self.broadcast(&room, &patch, Some(version), None, true)
            .await;
        Ok(Ack::new(reference, Some(version))
            .map(|mut a| {
                a.id = created;
                a.into()
            })
            .into_iter()
            .collect())
    }
}
