//! The WebSocket API at `/{stage}`: `$connect` (upgrade), the session loop, and the
//! registry of live connections.
//!
//! The gateway speaks the WebSocket frames itself (`frame.rs`, `socket.rs`) on the
//! connection hyper hands over: server frames are encoded once per broadcast and shared,
//! a connection's waiting frames go out in one vectored write, and an idle connection
//! keeps no read buffer (a library's per-connection buffer was 40 KiB of the 46.7 KiB
//! an idle connection cost; docs/benchmarks.md).

mod frame;
pub mod registry;
mod session;
mod socket;
mod upgrade;

use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
pub use frame::text as text_frame;
use roomcast_core::Session;
use roomcast_core::auth::{AuthError, authorize_connect, bearer};
use roomcast_core::protocol::{ConnectionId, ErrorCode, Protocol, RoomName, UserId};
use serde::Deserialize;
use std::net::SocketAddr;

use crate::app::AppState;
use crate::http::error_response;

use registry::ConnectionHandle;
use upgrade::WebSocketRequest;

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
    ws: WebSocketRequest,
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
    let id = ConnectionId::generate();
    let user = match UserId::of(principal.subject.as_deref(), &id) {
        Ok(user) => user,
        Err(e) => {
            return error_response(StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized, e.0);
        }
    };
    let protocol = Protocol::negotiate(ws.protocols());
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let session = Session {
        id,
        protocol,
        room,
        access: principal.rooms,
        user,
    };
    let handle = ConnectionHandle::new(
        session.id.clone(),
        protocol,
        peer.ip(),
        user_agent,
        app.outbound_limits,
    );
    let tasks = app.sessions.clone();
    let chosen = (protocol == Protocol::V1).then_some(Protocol::V1_NAME);
    ws.accept(chosen, move |io| {
        tasks.track_future(session::run(io, app, session, handle))
    })
}
