//! The WebSocket API at `/{stage}`: `$connect` (upgrade), the session loop, and the
//! registry of live connections.

pub mod registry;
mod session;

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use roomcast_core::Session;
use roomcast_core::auth::{AuthError, authorize_connect, bearer};
use roomcast_core::protocol::limits::{MAX_FRAME_BYTES, MAX_MESSAGE_BYTES};
use roomcast_core::protocol::{ConnectionId, ErrorCode, Protocol, RoomName};
use serde::Deserialize;
use std::net::SocketAddr;

use crate::app::AppState;
use crate::http::error_response;

/// Bytes read from a socket at a time. tungstenite's default chunk is 128 KiB and it is
/// zero-filled before each read, so every idle connection kept 128 KiB resident
/// (`roomcast-bench memory`: 136 KiB per connection). One frame at the limit plus its
/// header still fits in one read, so a frame just over the limit is read whole and
/// answered with a clean 1009 close instead of a reset with unread bytes.
const READ_BUFFER_BYTES: usize = MAX_FRAME_BYTES + 8 * 1024;
use registry::ConnectionHandle;

/// `?room=NAME&token=JWT`, both optional.
#[derive(Debug, Deserialize)]
pub struct ConnectQuery {
    room: Option<String>,
    token: Option<String>,
}

/// `$connect`: validate, negotiate the subprotocol, upgrade.
pub async fn connect(
    State(app): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Query(query): Query<ConnectQuery>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    // Per address first: attempts one address is refused do not use up everyone's quota.
    if let Some(per_ip) = &app.connect_limiter_per_ip {
        if per_ip.check_key(&peer.ip()).is_err() {
            return error_response(
                StatusCode::TOO_MANY_REQUESTS,
                ErrorCode::RateLimited,
                "too many new connections per second from your address; retry shortly",
            );
        }
        // Forget addresses whose bucket is full again, so the map stays small.
        if per_ip.len() > 10_000 {
            per_ip.retain_recent();
        }
    }
    if app.connect_limiter.check().is_err() {
        return error_response(
            StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::RateLimited,
            "too many new connections per second; retry shortly",
        );
    }
    let room = match query.room.map(RoomName::parse).transpose() {
        Ok(room) => room.unwrap_or_else(RoomName::default_room),
        Err(e) => return error_response(StatusCode::BAD_REQUEST, ErrorCode::InvalidRoom, e.0),
    };
    // The same decision as the AWS authorizer: `?token=` or `Authorization: Bearer`.
    let token = query.token.as_deref().or_else(|| {
        headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(bearer)
    });
    let principal = match authorize_connect(app.verifier.as_ref(), token, &room) {
        Ok(p) => p,
        Err(e @ AuthError::RoomNotGranted(_)) => {
            return error_response(StatusCode::FORBIDDEN, ErrorCode::Forbidden, e.to_string());
        }
        Err(e) => {
            tracing::info!(error = %e, "connect refused");
            return error_response(
                StatusCode::UNAUTHORIZED,
                ErrorCode::Unauthorized,
                e.to_string(),
            );
        }
    };
    let protocol = Protocol::negotiate(
        ws.requested_protocols()
            .filter_map(|p| p.to_str().ok())
            .flat_map(|p| p.split(',')),
    );
    let ws = match protocol {
        Protocol::V1 => ws.protocols([Protocol::V1_NAME]),
        Protocol::Seed => ws,
    };
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let session = Session {
        id: ConnectionId::generate(),
        protocol,
        room,
        access: principal.rooms,
    };
    let (handle, outbound) = ConnectionHandle::new(
        session.id.clone(),
        protocol,
        peer.ip(),
        user_agent,
        app.outbound_limits,
    );
    let tasks = app.tasks.clone();
    ws.max_frame_size(MAX_FRAME_BYTES)
        .max_message_size(MAX_MESSAGE_BYTES)
        .read_buffer_size(READ_BUFFER_BYTES)
        .on_upgrade(move |socket| {
            tasks.track_future(session::run(socket, app, session, handle, outbound))
        })
        .into_response()
}
