//! `/healthz`, `/metrics`, `/config.json`.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use roomcast_core::protocol::Protocol;
use serde_json::json;

use crate::app::AppState;

/// Liveness: the process serves HTTP and the pool is running.
pub async fn healthz(State(app): State<AppState>) -> Response {
    Json(json!({
        "status": "ok",
        "connections": app.connections.len(),
        "rooms": app.members.room_count(),
    }))
    .into_response()
}

/// Prometheus text exposition.
pub async fn metrics(State(app): State<AppState>) -> Response {
    let body = app
        .metrics
        .render(app.connections.len(), app.members.room_count());
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

/// Where the page finds the socket: the same host, at `/{stage}`. On AWS the same file
/// is written at deploy time with the API's `wss://` URL.
pub async fn config_json(State(app): State<AppState>, headers: HeaderMap) -> Response {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .unwrap_or_else(|| format!("127.0.0.1:{}", app.port));
    Json(json!({
        "socketUrl": format!("ws://{host}/{}", app.config.stage),
        "stage": app.config.stage,
        "protocol": Protocol::V1_NAME,
    }))
    .into_response()
}
