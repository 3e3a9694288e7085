//! `$disconnect`: forget the connection; its rooms hear their new member counts.
//!
//! API Gateway delivers `$disconnect` on a best-effort basis; connection items also
//! expire by TTL, and the broadcaster cleans up connections that answer 410.

use std::time::Instant;

use aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use roomcast_core::Handler;
use roomcast_core::protocol::ErrorCode;

use super::context::connection_id;
use super::{error_response, response};
use crate::observe::request_line;

/// The `disconnect` function.
pub struct Disconnect {
    handler: Handler,
}

impl Disconnect {
    /// Wire it from the core handler.
    pub fn new(handler: Handler) -> Self {
        Self { handler }
    }

    /// Handle one `$disconnect` event.
    pub async fn handle(&self, event: ApiGatewayWebsocketProxyRequest) -> ApiGatewayProxyResponse {
        let start = Instant::now();
        let Some(id) = connection_id(&event) else {
            return error_response(
                400,
                ErrorCode::InvalidField,
                "no connection id in the event",
            );
        };
        match self.handler.disconnect(&id).await {
            Ok(()) => {
                request_line(
                    "$disconnect",
                    None,
                    Some(id.as_str()),
                    start.elapsed(),
                    "ok",
                );
                response(200, None)
            }
            Err(e) => {
                tracing::error!(error = %e, source = ?e.source, connection = %id, "disconnect failed");
                request_line(
                    "$disconnect",
                    None,
                    Some(id.as_str()),
                    start.elapsed(),
                    "internal",
                );
                error_response(500, ErrorCode::Internal, "could not forget the connection")
            }
        }
    }
}
