//! What API Gateway WebSocket events say about their connection: the `$connect`
//! request's parts ([`connect_request`]), the connection id ([`connection_id`]) and the
//! authorizer's context ([`authorizer_context`]).
//!
//! The authorizer puts `principal`, `rooms`, `protocol` and `room` into its context;
//! API Gateway hands that context to every later route of the connection, so the
//! `actions` function knows who is talking without a database read. Without an
//! authorizer context (an API deployed without the authorizer) it falls back to the
//! connection item and grants every room, which is what no authorizer means.

use aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest;
use aws_lambda_events::http::HeaderMap;
use aws_lambda_events::query_map::QueryMap;
use roomcast_core::auth::{Principal, RoomAccess};
use roomcast_core::edge::{Admitted, ConnectRequest, Refusal};
use roomcast_core::protocol::{ConnectionId, Protocol, RoomName};
use serde_json::Value;

/// Context keys the authorizer sets.
pub const CTX_PRINCIPAL: &str = "principal";
/// See [`CTX_PRINCIPAL`].
pub const CTX_ROOMS: &str = "rooms";
/// The `principal` of a connection without a token.
pub const ANONYMOUS_PRINCIPAL: &str = "anonymous";
/// See [`CTX_PRINCIPAL`].
pub const CTX_PROTOCOL: &str = "protocol";
/// See [`CTX_PRINCIPAL`].
pub const CTX_ROOM: &str = "room";

/// A `$connect` event's parts, for core's [`edge::admit`](roomcast_core::edge::admit):
/// `?room=`, `?token=`, `Authorization`, `Sec-WebSocket-Protocol`.
pub fn connect_request<'a>(query: &'a QueryMap, headers: &'a HeaderMap) -> ConnectRequest<'a> {
    ConnectRequest {
        room: query.first("room"),
        token: query.first("token"),
        authorization: headers.get("authorization").and_then(|v| v.to_str().ok()),
        protocols: headers
            .get_all("sec-websocket-protocol")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect(),
    }
}

/// The connection id of a WebSocket event.
pub fn connection_id(event: &ApiGatewayWebsocketProxyRequest) -> Option<ConnectionId> {
    event
        .request_context
        .connection_id
        .as_deref()
        .and_then(|id| ConnectionId::parse(id).ok())
}

/// What the authorizer context says, if there is one.
pub struct AuthorizerContext {
    /// Who, and the granted rooms.
    pub principal: Principal,
    /// Negotiated subprotocol.
    pub protocol: Option<Protocol>,
    /// Connect room.
    pub room: Option<RoomName>,
}

impl AuthorizerContext {
    /// The admission the authorizer made, when the context holds all of it (an older
    /// authorizer's context may lack `protocol` and `room`).
    pub fn admitted(&self) -> Option<Result<Admitted, Refusal>> {
        let (protocol, room) = (self.protocol?, self.room.clone()?);
        Some(Admitted::new(room, self.principal.clone(), protocol))
    }
}

/// Read the authorizer's context from a WebSocket event; `None` when the route ran
/// without an authorizer.
pub fn authorizer_context(event: &ApiGatewayWebsocketProxyRequest) -> Option<AuthorizerContext> {
    let fields = &event.request_context.authorizer.fields;
    let text = |k: &str| fields.get(k).and_then(Value::as_str);
    // `rooms` is always set by our authorizer; its absence means no authorizer ran.
    let rooms = text(CTX_ROOMS)?;
    Some(AuthorizerContext {
        principal: Principal {
            // [`ANONYMOUS_PRINCIPAL`]: no token, the connection is its own user.
            subject: text(CTX_PRINCIPAL)
                .filter(|p| *p != ANONYMOUS_PRINCIPAL)
                .map(str::to_owned),
            rooms: RoomAccess::from_context(rooms),
        },
        protocol: text(CTX_PROTOCOL).map(|p| Protocol::negotiate([p])),
        room: text(CTX_ROOM).and_then(|r| RoomName::parse(r).ok()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn with_context(protocol: &str) -> ApiGatewayWebsocketProxyRequest {
        let mut event = ApiGatewayWebsocketProxyRequest::default();
        let fields = &mut event.request_context.authorizer.fields;
        fields.insert(CTX_PRINCIPAL.into(), json!("ada"));
        fields.insert(CTX_ROOMS.into(), json!("*"));
        fields.insert(CTX_PROTOCOL.into(), json!(protocol));
        fields.insert(CTX_ROOM.into(), json!("alpha"));
        event
    }

    #[test]
    fn the_protocol_in_a_context_reads_by_either_planetstack_name() {
        // Authorizers from before the rename wrote `seed` for the planetstack format.
        for (name, want) in [
            ("roomcast.v1", Protocol::V1),
            (Protocol::Planetstack.name(), Protocol::Planetstack),
            (Protocol::OLD_PLANETSTACK_NAME, Protocol::Planetstack),
        ] {
            let ctx = authorizer_context(&with_context(name)).expect("a context");
            assert_eq!(ctx.protocol, Some(want), "{name}");
        }
    }
}
