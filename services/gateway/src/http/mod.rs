//! The HTTP side: the `@connections` management API, the publish API and the
//! operational endpoints.

pub mod management;
pub mod ops;
pub mod publish;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use roomcast_core::protocol::ErrorCode;
use serde_json::json;

/// A JSON error body `{"code", "message"}` with `status`.
pub fn error_response(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Response {
    let message: String = message.into();
    (status, Json(json!({ "code": code, "message": message }))).into_response()
}
