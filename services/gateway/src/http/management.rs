//! `POST|GET|DELETE /{stage}/@connections/{id}`: the ApiGatewayManagementApi shape, so
//! the real `aws-sdk-apigatewaymanagement` client works against the local gateway.
//!
//! Errors carry `x-amzn-ErrorType` (how the SDK tells `GoneException` from the rest)
//! and a `{"message"}` body, like the real service.

use axum::Json;
use axum::body::Bytes;
use axum::extract::ws::close_code;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use roomcast_core::ports::PostError;
use roomcast_core::protocol::ConnectionId;
use roomcast_core::protocol::limits::MAX_MESSAGE_BYTES;
use serde_json::json;
use std::time::SystemTime;

use crate::app::AppState;

/// An error in the service's own shape (`x-amzn-ErrorType` + `{"message"}`).
pub struct AwsError {
    status: StatusCode,
    kind: &'static str,
    message: String,
}

impl AwsError {
    fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            kind,
            message: message.into(),
        }
    }

    fn gone() -> Self {
        Self::new(StatusCode::GONE, "GoneException", "the connection is gone")
    }
}

impl IntoResponse for AwsError {
    fn into_response(self) -> Response {
        (
            self.status,
            [("x-amzn-ErrorType", self.kind)],
            Json(json!({ "message": self.message })),
        )
            .into_response()
    }
}

/// The connection a request names, on this gateway's stage only, for a caller with
/// the API key when one is configured. (On AWS the management API takes IAM SigV4
/// instead; a missing or bad signature is a 403 `ForbiddenException` there too.)
fn target(
    app: &AppState,
    headers: &HeaderMap,
    stage: &str,
    id: String,
) -> Result<ConnectionId, AwsError> {
    if !super::api_key_ok(app, headers) {
        return Err(AwsError::new(
            StatusCode::FORBIDDEN,
            "ForbiddenException",
            "missing or wrong x-api-key",
        ));
    }
    if stage != app.config.stage {
        return Err(AwsError::new(
            StatusCode::FORBIDDEN,
            "ForbiddenException",
            format!("no stage {stage}"),
        ));
    }
    ConnectionId::parse(id)
        .map_err(|e| AwsError::new(StatusCode::BAD_REQUEST, "BadRequestException", e.0))
}

fn timestamp(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

/// `PostToConnection`.
pub async fn post(
    State(app): State<AppState>,
    Path((stage, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, AwsError> {
    app.metrics.connections_api_post();
    let id = target(&app, &headers, &stage, id)?;
    if body.len() > MAX_MESSAGE_BYTES {
        return Err(AwsError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PayloadTooLargeException",
            format!(
                "data is {} bytes; at most {MAX_MESSAGE_BYTES} allowed",
                body.len()
            ),
        ));
    }
    match app.poster.post_now(&id, body) {
        Ok(()) => Ok(StatusCode::OK),
        Err(PostError::Gone) => Err(AwsError::gone()),
        Err(PostError::Throttled(m)) => Err(AwsError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "LimitExceededException",
            m,
        )),
        Err(PostError::Backend(e)) => Err(AwsError::new(
            StatusCode::BAD_REQUEST,
            "BadRequestException",
            e.to_string(),
        )),
    }
}

/// `GetConnection`.
pub async fn get(
    State(app): State<AppState>,
    Path((stage, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, AwsError> {
    let c = app
        .connections
        .get(&target(&app, &headers, &stage, id)?)
        .ok_or_else(AwsError::gone)?;
    Ok(Json(json!({
        "connectedAt": timestamp(c.connected_at),
        "lastActiveAt": timestamp(c.last_active()),
        "identity": { "sourceIp": c.source_ip.to_string(), "userAgent": c.user_agent },
    }))
    .into_response())
}

/// `DeleteConnection`: the client is disconnected (and `$disconnect` runs).
pub async fn delete(
    State(app): State<AppState>,
    Path((stage, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<StatusCode, AwsError> {
    let c = app
        .connections
        .get(&target(&app, &headers, &stage, id)?)
        .ok_or_else(AwsError::gone)?;
    c.close(close_code::NORMAL, "deleted by the server");
    Ok(StatusCode::NO_CONTENT)
}
