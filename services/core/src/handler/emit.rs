//! `emit` from a client and publish from a server: application events, no state.

use serde_json::value::RawValue;

use super::{Handler, internal};
use crate::ports::BackendError;
use crate::protocol::{
    ConnectionId, EventName, ProtocolError, PublishRequest, RoomName, ServerMessage,
};

impl Handler {
    pub(super) async fn emit(
        &self,
        room: RoomName,
        event: EventName,
        data: Box<RawValue>,
        from: Option<ConnectionId>,
        except: Option<ConnectionId>,
    ) -> Result<(), ProtocolError> {
        let message = ServerMessage::Event {
            room: room.clone(),
            event,
            data,
            from,
        };
        self.broadcast(&room, &message, None, except, false)
            .await
            .map_err(internal)
    }

    /// Server-side publish (`POST /rooms/{room}/emit`, the SDK's publisher): an event
    /// to every member, `from: null`.
    pub async fn publish(
        &self,
        room: RoomName,
        request: PublishRequest,
    ) -> Result<(), BackendError> {
        self.queue
            .enqueue(vec![crate::fanout::FanoutJob::publish(room, request)])
            .await
    }
}
