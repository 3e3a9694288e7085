//! `POST /rooms/{room}/emit`: server-side publish into a room (the SDK's publisher).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use roomcast_core::handler::PublishError;
use roomcast_core::protocol::{ErrorCode, PublishRequest, RoomName};
use serde_json::json;

use super::error_response;
use crate::app::AppState;

/// Body `{"event": "chat", "data": {...}}` → `202 {"room", "event"}`.
pub async fn emit(
    State(app): State<AppState>,
    Path(room): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Response {
    if !super::api_key_ok(&app, &headers) {
        return error_response(
            StatusCode::UNAUTHORIZED,
            ErrorCode::Unauthorized,
            "missing or wrong x-api-key",
        );
    }
    let room = match RoomName::parse(room) {
        Ok(room) => room,
        Err(e) => return error_response(StatusCode::BAD_REQUEST, ErrorCode::InvalidRoom, e.0),
    };
    let request = match PublishRequest::parse(&body) {
        Ok(r) => r,
        Err(e) => {
            let status = if e.code == ErrorCode::PayloadTooLarge {
                StatusCode::PAYLOAD_TOO_LARGE
            } else {
                StatusCode::BAD_REQUEST
            };
            return error_response(status, e.code, e.message);
        }
    };
    let event = request.event.clone();
    match app.handler.publish(room.clone(), request).await {
        Ok(at) => (
            StatusCode::ACCEPTED,
            Json(json!({ "room": room, "event": event, "offset": at.offset, "epoch": at.epoch })),
        )
            .into_response(),
        Err(PublishError::Refused(e)) => {
            error_response(StatusCode::PAYLOAD_TOO_LARGE, e.code, e.message)
        }
        Err(e @ PublishError::Backend(_)) => error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Internal,
            e.to_string(),
        ),
    }
}
