//! `$connect`: store the connection, join its `?room=`, echo the subprotocol.
//!
//! API Gateway cannot post to a connection during `$connect`, so the client asks for
//! the state once the socket is open, and its `welcome` rides on the answer to its
//! first action; the presence job goes to the others now.

use std::time::Instant;

use aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use aws_lambda_events::http::HeaderValue;
use roomcast_core::Handler;
use roomcast_core::edge;
use roomcast_core::protocol::{ErrorCode, Protocol};

use super::context::{authorizer_context, connect_request, connection_id};
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
        // The authorizer decided already; its grant is checked again here (a second
        // check costs nothing), or, without an authorizer, any room is granted.
        let request = connect_request(&event.query_string_parameters, &event.headers);
        let principal = authorizer_context(&event).map(|c| c.principal);
        let session = match edge::readmit(principal, &request) {
            Ok(admitted) => admitted.session(id.clone()),
            Err(refusal) => {
                request_line(
                    "$connect",
                    request.room,
                    Some(id.as_str()),
                    start.elapsed(),
                    refusal.code().as_str(),
                );
                return error_response(
                    i64::from(refusal.status()),
                    refusal.code(),
                    refusal.to_string(),
                );
            }
        };
        let (room, protocol) = (session.room.clone(), session.protocol);
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
