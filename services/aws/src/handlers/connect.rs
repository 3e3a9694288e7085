//! `$connect`: store the connection, join its `?room=`, echo the subprotocol.
//!
//! API Gateway cannot post to a connection during `$connect`, so the client asks for
//! the state once the socket is open, and its `welcome` rides on the answer to its
//! first action; the presence job goes to the others now.

use std::time::Instant;

use aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use aws_lambda_events::http::HeaderValue;
use roomcast_core::auth::RoomAccess;
use roomcast_core::protocol::{ErrorCode, Protocol, RoomName};
use roomcast_core::{Handler, Session};

use super::session::{authorizer_context, connection_id, protocol_from_headers, user_of};
use super::{error_response, response};
use crate::dynamo::DynamoStore;
use crate::observe::request_line;

/// The `connect` function.
pub struct Connect {
    handler: Handler,
    store: DynamoStore,
}

impl Connect {
    /// Wire it from the core handler and the table (for the connection's annotation).
    pub fn new(handler: Handler, store: DynamoStore) -> Self {
        Self { handler, store }
    }

    /// Handle one `$connect` event.
    pub async fn handle(&self, event: ApiGatewayWebsocketProxyRequest) -> ApiGatewayProxyResponse {
        let start = Instant::now();
        let Some(id) = connection_id(&event) else {
            return error_response(
                400,
                ErrorCode::InvalidField,
                "no connection id in the event",
            );
        };
        let room = match event
            .query_string_parameters
            .first("room")
            .map(RoomName::parse)
        {
            None => RoomName::default_room(),
            Some(Ok(room)) => room,
            Some(Err(e)) => {
                request_line(
                    "$connect",
                    None,
                    Some(id.as_str()),
                    start.elapsed(),
                    "invalid_room",
                );
                return error_response(400, ErrorCode::InvalidRoom, e.0);
            }
        };
        let protocol = protocol_from_headers(&event.headers);
        let context = authorizer_context(&event);
        let (access, user) = match context {
            Some(c) => (c.rooms, c.principal),
            None => (RoomAccess::Any, None),
        };
        if !access.allows(&room) {
            // The authorizer already refuses this; a second check costs nothing.
            return error_response(
                403,
                ErrorCode::Forbidden,
                format!("the token does not grant room {room}"),
            );
        }
        let user = match user_of(user.as_deref(), &id) {
            Ok(user) => user,
            // The authorizer refuses such a `sub` already; a second check costs nothing.
            Err(e) => return error_response(403, ErrorCode::Forbidden, e.0),
        };
        let session = Session {
            id: id.clone(),
            protocol,
            room: room.clone(),
            access,
            user,
        };
        // API Gateway cannot post during `$connect`: the frames owed to the new
        // connection are dropped. Its `welcome` comes first in the answer to its first
        // action (`actions.rs`), its room's count with the room's coalesced presence
        // broadcast, at most one presence delay later.
        let stored = match self.handler.connect(&session).await {
            Ok(_owed) => self.store.annotate_connection(&id, &room).await,
            Err(e) => Err(e),
        };
        if let Err(e) = stored {
            tracing::error!(error = %e, source = ?e.source, connection = %id, "connect failed");
            request_line(
                "$connect",
                Some(room.as_str()),
                Some(id.as_str()),
                start.elapsed(),
                "internal",
            );
            return error_response(500, ErrorCode::Internal, "could not store the connection");
        }
        let mut ok = response(200, None);
        if protocol == Protocol::V1 {
            ok.headers.insert(
                "sec-websocket-protocol",
                HeaderValue::from_static(Protocol::V1_NAME),
            );
        }
        request_line(
            "$connect",
            Some(room.as_str()),
            Some(id.as_str()),
            start.elapsed(),
            "ok",
        );
        ok
    }
}
