//! `emit` from a client and publish from a server: application events, no state.

use serde_json::value::RawValue;

use super::{Handler, internal, room_job};
use crate::fanout::FanoutJob;
use crate::history::ChangeId;
use crate::ports::BackendError;
use crate::protocol::{
    ConnectionId, ErrorCode, EventName, Position, ProtocolError, PublishRequest, RoomName,
    ServerMessage,
};

impl Handler {
    /// Record the event in the room's history, then fan it out placed at its offset.
    pub(super) async fn emit(
        &self,
        room: RoomName,
        event: EventName,
        data: Box<RawValue>,
        from: Option<ConnectionId>,
        except: Option<ConnectionId>,
    ) -> Result<Position, ProtocolError> {
        self.check_emit_size(&data)?;
        self.record_and_broadcast(room, event, data, from, except)
            .await
            .map_err(internal)
    }

    async fn record_and_broadcast(
        &self,
        room: RoomName,
        event: EventName,
        data: Box<RawValue>,
        from: Option<ConnectionId>,
        except: Option<ConnectionId>,
    ) -> Result<Position, BackendError> {
        let (at, message) = self
            .record(&room, event, data, from, &ChangeId::generate())
            .await?;
        self.broadcast(&room, &message, None, except, false).await;
        Ok(at)
    }

    /// Append the event to the room's history under `change`; returns its position
    /// and the frame placed at it.
    async fn record(
        &self,
        room: &RoomName,
        event: EventName,
        data: Box<RawValue>,
        from: Option<ConnectionId>,
        change: &ChangeId,
    ) -> Result<(Position, ServerMessage), BackendError> {
        let message = ServerMessage::Event {
            room: room.clone(),
            event,
            data,
            from,
            at: None,
        };
        let at = self.rooms.append(room, &message, change).await?;
        let message = message.at(at.clone());
        Ok((at, message))
    }

    /// `payload_too_large` when `data` is over `MAX_EMIT_BYTES` (the parser already
    /// refused anything over the 64 KiB ceiling). Emits and publishes check it here.
    fn check_emit_size(&self, data: &RawValue) -> Result<(), ProtocolError> {
        let (len, max) = (data.get().len(), self.limits.max_emit_bytes);
        if len > max {
            return Err(ProtocolError::new(
                ErrorCode::PayloadTooLarge,
                format!("data is {len} bytes; at most {max} allowed"),
            ));
        }
        Ok(())
    }

    /// Server-side publish (`POST /rooms/{room}/emit`, the SDK's publisher): an event
    /// to every member, `from: null`, size-checked and recorded in the room's history
    /// like an emit.
    pub async fn publish(
        &self,
        room: RoomName,
        request: PublishRequest,
    ) -> Result<Position, PublishError> {
        let (at, job) = self
            .record_publish(&room, request, &ChangeId::generate())
            .await?;
        self.enqueue(&room, job).await;
        Ok(at)
    }

    /// The first half of [`Handler::publish`], for a home that receives publishes on
    /// the fan-out queue itself (the AWS broadcaster reading a [`PublishEnvelope`](crate::protocol::PublishEnvelope)):
    /// record the event in the room's history under `change` (a key that repeats when
    /// the publish is delivered again, so it is recorded once and keeps its offset)
    /// and return its position and the fan-out job that delivers it, to run in place
    /// of enqueueing it.
    pub async fn record_publish(
        &self,
        room: &RoomName,
        request: PublishRequest,
        change: &ChangeId,
    ) -> Result<(Position, FanoutJob), PublishError> {
        self.check_emit_size(&request.data)
            .map_err(PublishError::Refused)?;
        let (at, message) = self
            .record(room, request.event, request.data, None, change)
            .await?;
        Ok((at, room_job(room, &message, None, None, false)))
    }
}

/// Why a publish did not happen; either way nothing was recorded or sent.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The request breaks a limit (`payload_too_large`): sending it again will not help.
    #[error(transparent)]
    Refused(ProtocolError),
    /// The room's history could not be written: it may be sent again.
    #[error(transparent)]
    Backend(#[from] BackendError),
}
