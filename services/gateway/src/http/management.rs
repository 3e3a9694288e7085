//! `POST|GET|DELETE /{stage}/@connections/{id}`: the ApiGatewayManagementApi shape, so
//! the real `aws-sdk-apigatewaymanagement` client works against the local gateway.
//!
//! Errors carry `x-amzn-ErrorType` (how the SDK tells `GoneException` from the rest)
//! and a `{"message"}` body, like the real service.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use roomcast_core::ports::PostError;
use roomcast_core::protocol::ConnectionId;
use roomcast_core::protocol::limits::MAX_MESSAGE_BYTES;
use serde_json::json;
use std::time::SystemTime;

use crate::app::AppState;

fn aws_error(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Response {
    let message: String = message.into();
    (status, [("x-amzn-ErrorType", kind)], Json(json!({ "message": message }))).into_response()
}

fn gone() -> Response {
    aws_error(StatusCode::GONE, "GoneException", "the connection is gone")
}

fn parse_id(id: String) -> Result<ConnectionId, Response> {
    ConnectionId::parse(id).map_err(|e| aws_error(StatusCode::BAD_REQUEST, "BadRequestException", e.0))
}

fn timestamp(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

/// `PostToConnection`.
pub async fn post(State(app): State<AppState>, Path((_stage, id)): Path<(String, String)>, body: Bytes) -> Response {
    let id = match parse_id(id) {
        Ok(id) => id,
        Err(r) => return r,
    };
    if body.len() > MAX_MESSAGE_BYTES {
        return aws_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PayloadTooLargeException",
            format!("data is {} bytes; at most {MAX_MESSAGE_BYTES} allowed", body.len()),
        );
    }
    match app.poster.post_now(&id, body) {
        Ok(()) => StatusCode::OK.into_response(),
        Err(PostError::Gone) => gone(),
        Err(PostError::Throttled(m)) => aws_error(StatusCode::TOO_MANY_REQUESTS, "LimitExceededException", m),
        Err(PostError::Backend(e)) => aws_error(StatusCode::BAD_REQUEST, "BadRequestException", e.to_string()),
    }
}

/// `GetConnection`.
pub async fn get(State(app): State<AppState>, Path((_stage, id)): Path<(String, String)>) -> Response {
    let id = match parse_id(id) {
        Ok(id) => id,
        Err(r) => return r,
    };
    let Some(c) = app.connections.get(&id) else {
        return gone();
    };
    Json(json!({
        "connectedAt": timestamp(c.connected_at),
        "lastActiveAt": timestamp(c.last_active()),
        "identity": { "sourceIp": c.source_ip.to_string(), "userAgent": c.user_agent },
    }))
    .into_response()
}

/// `DeleteConnection`: the client is disconnected (and `$disconnect` runs).
pub async fn delete(State(app): State<AppState>, Path((_stage, id)): Path<(String, String)>) -> Response {
    let id = match parse_id(id) {
        Ok(id) => id,
        Err(r) => return r,
    };
    match app.connections.get(&id) {
        Some(c) => {
            c.close(1000, "deleted by the server");
            StatusCode::NO_CONTENT.into_response()
        }
        None => gone(),
    }
}
