//! The WebSocket API at `/{stage}`: `$connect` (upgrade), each connection's task, and the
//! registry of live connections.
//!
//! The gateway speaks the WebSocket frames itself (`frame.rs`, `socket.rs`) on the
//! connection hyper hands over: server frames are encoded once per broadcast and shared,
//! a connection's waiting frames go out in one vectored write, and an idle connection
//! keeps no read buffer (a library's per-connection buffer was 40 KiB of the 46.7 KiB
//! an idle connection cost; docs/benchmarks.md).

/// Public so that `roomcast-bench ws-crates` measures these very frames against the
/// WebSocket crates; nothing outside `ws` uses it otherwise.
pub mod frame;
pub mod registry;

pub(crate) mod batch;
mod socket;
mod task;
mod upgrade;

#[cfg(test)]
#[path = "direct_tests.rs"]
mod direct_tests;

use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
pub use frame::text as text_frame;
use roomcast_core::edge::{self, ConnectRequest, Refusal};
use roomcast_core::protocol::{ConnectionId, ErrorCode, Protocol};
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
    let request = ConnectRequest {
        room: query.room.as_deref(),
        token: query.token.as_deref(),
        authorization: headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok()),
        protocols: ws.protocols().collect(),
    };
    let admitted = match edge::admit(app.verifier.as_ref(), &request) {
        Ok(admitted) => admitted,
        Err(refusal) => {
            if !matches!(refusal, Refusal::InvalidRoom(_)) {
                tracing::info!(error = %refusal, "connect refused");
            }
            return refused(&refusal);
        }
    };
    let session = admitted.session(ConnectionId::generate());
    let protocol = session.protocol;
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let handle = ConnectionHandle::new(
        session.id.clone(),
        protocol,
        peer.ip(),
        user_agent,
        app.outbound_limits,
    );
    let tasks = app.connection_tasks.clone();
    let chosen = (protocol == Protocol::V1).then_some(Protocol::V1_NAME);
    ws.accept(chosen, move |io| {
        tasks.track_future(task::run(io, app, session, handle))
    })
}

/// A refused upgrade: core's status and code, the reason in the body.
fn refused(refusal: &Refusal) -> Response {
    let status = StatusCode::from_u16(refusal.status()).unwrap_or(StatusCode::FORBIDDEN);
    error_response(status, refusal.code(), refusal.to_string())
}
