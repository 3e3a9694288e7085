//! Reading a connection's session out of API Gateway WebSocket events.
//!
//! The authorizer puts `principal`, `rooms`, `protocol` and `room` into its context;
//! API Gateway hands that context to every later route of the connection, so the
//! `actions` function knows who is talking without a database read. Without an
//! authorizer context (an API deployed without the authorizer) it falls back to the
//! connection item and grants every room, which is what no authorizer means.

use aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest;
use aws_lambda_events::http::HeaderMap;
use roomcast_core::auth::RoomAccess;
use roomcast_core::protocol::{ConnectionId, InvalidValue, Protocol, RoomName, UserId};
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

/// The negotiated subprotocol, from the `Sec-WebSocket-Protocol` request header.
pub fn protocol_from_headers(headers: &HeaderMap) -> Protocol {
    Protocol::negotiate(
        headers
            .get_all("sec-websocket-protocol")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(',')),
    )
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
    /// `sub` of the token, or `anonymous`.
    pub principal: Option<String>,
    /// Granted rooms.
    pub rooms: RoomAccess,
    /// Negotiated subprotocol.
    pub protocol: Option<Protocol>,
    /// Connect room.
    pub room: Option<RoomName>,
}

/// Read the authorizer's context from a WebSocket event; `None` when the route ran
/// without an authorizer.
pub fn authorizer_context(event: &ApiGatewayWebsocketProxyRequest) -> Option<AuthorizerContext> {
    let fields = &event.request_context.authorizer.fields;
    let text = |k: &str| fields.get(k).and_then(Value::as_str);
    // `rooms` is always set by our authorizer; its absence means no authorizer ran.
    let rooms = text(CTX_ROOMS)?;
    Some(AuthorizerContext {
        principal: text(CTX_PRINCIPAL).map(str::to_owned),
        rooms: RoomAccess::from_context(rooms),
        protocol: text(CTX_PROTOCOL).map(|p| Protocol::negotiate([p])),
        room: text(CTX_ROOM).and_then(|r| RoomName::parse(r).ok()),
    })
}

/// Whose connection it is: the authorizer's `principal` (the token's `sub`), or the
/// connection itself when there is none or it is [`ANONYMOUS_PRINCIPAL`] (no token).
pub fn user_of(principal: Option<&str>, id: &ConnectionId) -> Result<UserId, InvalidValue> {
    UserId::of(principal.filter(|p| *p != ANONYMOUS_PRINCIPAL), id)
}
