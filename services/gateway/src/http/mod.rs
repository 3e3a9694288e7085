//! The HTTP side: the `@connections` management API, the publish API and the
//! operational endpoints.

pub mod management;
pub mod ops;
pub mod publish;

use axum::Json;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use roomcast_core::protocol::ErrorCode;
use serde_json::json;

use crate::app::AppState;

/// Whether a server-side request may proceed: no `--api-key` configured, or its
/// `x-api-key` header equals it (compared in constant time).
pub fn api_key_ok(app: &AppState, headers: &HeaderMap) -> bool {
    let Some(key) = &app.config.api_key else {
        return true;
    };
    let given = headers
        .get("x-api-key")
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    constant_time_eq(given, key.as_bytes())
}

/// Equal bytes, without an early exit that would tell how much of a guess was right.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A JSON error body `{"code", "message"}` with `status`.
pub fn error_response(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Response {
    let message: String = message.into();
    (status, Json(json!({ "code": code, "message": message }))).into_response()
}
