//! `emit` from a client and publish from a server: application events, no state.

use serde_json::value::RawValue;

use super::{Handler, internal};
use crate::ports::BackendError;
use crate::protocol::{
    ConnectionId, ErrorCode, EventName, ProtocolError, PublishRequest, RoomName, ServerMessage,
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
        self.check_emit_size(&data)?;
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

    /// `payload_too_large` when `data` is over `MAX_EMIT_BYTES` (the parser already
    /// refused anything over the 64 KiB ceiling). Publish APIs call it too.
    pub fn check_emit_size(&self, data: &RawValue) -> Result<(), ProtocolError> {
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
    /// to every member, `from: null`. Size-check with [`Handler::check_emit_size`]
    /// first.
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
