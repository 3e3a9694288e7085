//! `PostToConnection` through the ApiGatewayManagementApi client.
//!
//! The SDK's own retries are off: core's deliverer owns backoff (full jitter), the
//! rate budget and the throttle count, and a hidden SDK retry would blur all three.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_apigatewaymanagement::Client;
use aws_sdk_apigatewaymanagement::config::retry::RetryConfig;
use aws_sdk_apigatewaymanagement::config::timeout::TimeoutConfig;
use aws_sdk_apigatewaymanagement::operation::post_to_connection::PostToConnectionError;
use aws_sdk_apigatewaymanagement::primitives::Blob;
use bytes::Bytes;
use roomcast_core::ports::{BackendError, PostError, Poster};
use roomcast_core::protocol::ConnectionId;

/// Posts frames to connections of one API stage.
#[derive(Clone, Debug)]
pub struct ApiGwPoster {
    client: Client,
    endpoint: String,
}

/// The management endpoint of a WebSocket API stage, from an event's request context
/// (`domainName`, `stage`). Custom domains work too: their stage path is the mapping.
pub fn endpoint_for(domain_name: &str, stage: &str) -> String {
    if domain_name.starts_with("http://") || domain_name.starts_with("https://") {
        format!("{}/{stage}", domain_name.trim_end_matches('/'))
    } else {
        format!("https://{domain_name}/{stage}")
    }
}

impl ApiGwPoster {
    /// A poster for the stage at `endpoint` (e.g.
    /// `https://abc123.execute-api.eu-west-1.amazonaws.com/prod`, or the local
    /// gateway's `http://127.0.0.1:8080/dev`).
    pub fn new(sdk: &aws_config::SdkConfig, endpoint: impl Into<String>) -> Self {
        let endpoint = endpoint.into();
        let config = aws_sdk_apigatewaymanagement::config::Builder::from(sdk)
            .endpoint_url(&endpoint)
            .retry_config(RetryConfig::disabled())
            .timeout_config(
                TimeoutConfig::builder()
                    .operation_attempt_timeout(Duration::from_secs(10))
                    .build(),
            )
            .build();
        Self {
            client: Client::from_conf(config),
            endpoint,
        }
    }

    /// The endpoint posts go to.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }
}

#[async_trait]
impl Poster for ApiGwPoster {
    async fn post(&self, to: &ConnectionId, payload: &Bytes) -> Result<(), PostError> {
        let result = self
            .client
            .post_to_connection()
            .connection_id(to.as_str())
            .data(Blob::new(payload.to_vec()))
            .send()
            .await;
        let Err(e) = result else {
            return Ok(());
        };
        let status = e.raw_response().map(|r| r.status().as_u16());
        match e.as_service_error() {
            Some(PostToConnectionError::GoneException(_)) => Err(PostError::Gone),
            Some(PostToConnectionError::LimitExceededException(le)) => Err(PostError::Throttled(
                le.message().unwrap_or("LimitExceededException").to_owned(),
            )),
            _ if status == Some(410) => Err(PostError::Gone),
            _ if status == Some(429) => Err(PostError::Throttled(format!("HTTP 429: {e}"))),
            _ => Err(PostError::Backend(BackendError::new(
                format!("posting to {to} at {}", self.endpoint),
                e,
            ))),
        }
    }
}
