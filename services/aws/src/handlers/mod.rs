//! The five Lambda handlers, as library functions over typed `aws_lambda_events`
//! events. Each is a struct built once at cold start (clients, config) with an async
//! `handle`; the binaries wrap it in `lambda_runtime::service_fn`.

pub mod actions;
pub mod authorizer;
pub mod broadcaster;
pub mod connect;
mod context;
pub mod disconnect;

pub use actions::Actions;
pub use authorizer::Authorizer;
pub use broadcaster::BroadcasterFn;
pub use connect::Connect;
pub use disconnect::Disconnect;

use aws_lambda_events::apigw::ApiGatewayProxyResponse;
use aws_lambda_events::encodings::Body;
use roomcast_core::protocol::{ErrorCode, ProtocolError};

/// A `$connect`/`$disconnect`/route response: API Gateway only looks at the status
/// (a non-2xx on `$connect` refuses the connection) and, on `$connect`, the
/// `Sec-WebSocket-Protocol` header.
pub fn response(status: i64, body: Option<String>) -> ApiGatewayProxyResponse {
    let mut r = ApiGatewayProxyResponse::default();
    r.status_code = status;
    r.body = body.map(Body::Text);
    r
}

/// An error response with the protocol's `{code, message}` body.
pub fn error_response(
    status: i64,
    code: ErrorCode,
    message: impl Into<String>,
) -> ApiGatewayProxyResponse {
    let e = ProtocolError::new(code, message);
    response(
        status,
        Some(serde_json::json!({"code": e.code, "message": e.message}).to_string()),
    )
}
