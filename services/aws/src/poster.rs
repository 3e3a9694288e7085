//! `PostToConnection` (and `DeleteConnection`) through the ApiGatewayManagementApi
//! client.
//!
//! The SDK's own retries are off: core's deliverer owns backoff (full jitter), the
//! rate budget and the throttle count, and a hidden SDK retry would blur all three.
//! So is its stalled-stream guard, which is per-request cost on bodies this small.
//!
//! On AWS the management API authenticates with IAM (SigV4, the function role's
//! `execute-api:ManageConnections`). The local gateway's `@connections` takes its
//! `--api-key` instead: [`ApiGwPoster::with_api_key`] adds the `x-api-key` header to
//! every request (the Lambdas read it from `APIGW_API_KEY`; never set it on AWS).
//!
//! A failed post is logged once, at warn, with its cause chain
//! ([`crate::post_failure`]): by the [`Poster`] impl for the broadcaster's posts, by the
//! caller of [`ApiGwPoster::try_post`] for the `actions` function's replies.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_apigatewaymanagement::Client;
use aws_sdk_apigatewaymanagement::config::StalledStreamProtectionConfig;
use aws_sdk_apigatewaymanagement::config::interceptors::BeforeTransmitInterceptorContextMut;
use aws_sdk_apigatewaymanagement::config::retry::RetryConfig;
use aws_sdk_apigatewaymanagement::config::timeout::TimeoutConfig;
use aws_sdk_apigatewaymanagement::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_apigatewaymanagement::error::SdkError;
use aws_sdk_apigatewaymanagement::operation::delete_connection::DeleteConnectionError;
use aws_sdk_apigatewaymanagement::operation::post_to_connection::PostToConnectionError;
use aws_sdk_apigatewaymanagement::primitives::Blob;
use bytes::Bytes;
use roomcast_core::ports::{BackendError, PostError, Poster};
use roomcast_core::protocol::ConnectionId;

use crate::post_failure::{PostFailure, cause_chain};

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
        Self::with_api_key(sdk, endpoint, None)
    }

    /// [`ApiGwPoster::new`], sending `x-api-key: api_key` with every request when one
    /// is given (the local gateway's `@connections` with `--api-key`).
    pub fn with_api_key(
        sdk: &aws_config::SdkConfig,
        endpoint: impl Into<String>,
        api_key: Option<&str>,
    ) -> Self {
        let endpoint = endpoint.into();
        let mut config = aws_sdk_apigatewaymanagement::config::Builder::from(sdk)
            .endpoint_url(&endpoint)
            .retry_config(RetryConfig::disabled())
            // A post's body and answer are a few KiB at most: the stall guard's timer
            // and body wrappers would be pure per-request cost (the attempt timeout
            // below still bounds a post that hangs).
            .stalled_stream_protection(StalledStreamProtectionConfig::disabled())
            .timeout_config(
                TimeoutConfig::builder()
                    .operation_attempt_timeout(Duration::from_secs(10))
                    .build(),
            );
        if let Some(key) = api_key.filter(|k| !k.is_empty()) {
            config = config.interceptor(ApiKeyHeader(key.to_owned()));
        }
        Self {
            client: Client::from_conf(config.build()),
            endpoint,
        }
    }

    /// `DeleteConnection`: API Gateway closes the socket and runs `$disconnect`. A
    /// connection already gone is not an error.
    pub async fn delete(&self, id: &ConnectionId) -> Result<(), BackendError> {
        match self
            .client
            .delete_connection()
            .connection_id(id.as_str())
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e)
                if matches!(
                    e.as_service_error(),
                    Some(DeleteConnectionError::GoneException(_))
                ) =>
            {
                Ok(())
            }
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 410) => Ok(()),
            Err(e) => Err(BackendError::new(
                format!("deleting {id} at {}", self.endpoint),
                e,
            )),
        }
    }

    /// `PostToConnection`, logging nothing: a failure comes with its cause for the caller
    /// to log once ([`PostFailure::warn`]).
    pub async fn try_post(&self, to: &ConnectionId, payload: &Bytes) -> Result<(), PostFailure> {
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
        let kind = match (status, &e) {
            (Some(status), _) => format!("http_{status}"),
            (None, SdkError::TimeoutError(_)) => "timeout".into(),
            (None, SdkError::DispatchFailure(d)) if d.is_timeout() => "timeout".into(),
            // Failures while connecting (refused, DNS, TLS handshake): the connector's I/O.
            (None, SdkError::DispatchFailure(d)) if d.is_io() => "connect".into(),
            (None, SdkError::DispatchFailure(_)) => "dispatch".into(),
            (None, SdkError::ResponseError(_)) => "response".into(),
            (None, _) => "request".into(),
        };
        // The SDK's own chain has no status ("service error: ForbiddenException"), and
        // the status is what tells a wrong key (403) from a gone client (410).
        let cause = match status {
            Some(status) => format!("HTTP {status}: {}", cause_chain(&e)),
            None => cause_chain(&e),
        };
        let error = match e.as_service_error() {
            Some(PostToConnectionError::GoneException(_)) => PostError::Gone,
            Some(PostToConnectionError::LimitExceededException(le)) => {
                PostError::Throttled(le.message().unwrap_or("LimitExceededException").to_owned())
            }
            _ if status == Some(410) => PostError::Gone,
            _ if status == Some(429) => PostError::Throttled(format!("HTTP 429: {e}")),
            _ => PostError::Backend(BackendError::new(
                format!("posting to {to} at {}: {cause}", self.endpoint),
                e,
            )),
        };
        Err(PostFailure {
            error,
            kind,
            cause,
            endpoint: self.endpoint.clone(),
        })
    }

    /// The endpoint posts go to.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }
}

/// Adds `x-api-key` to each request. Its `Debug` does not print the key.
struct ApiKeyHeader(String);

impl std::fmt::Debug for ApiKeyHeader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKeyHeader(<redacted>)")
    }
}

impl Intercept for ApiKeyHeader {
    fn name(&self) -> &'static str {
        "ApiKeyHeader"
    }

    fn modify_before_signing(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        context
            .request_mut()
            .headers_mut()
            .insert("x-api-key", self.0.clone());
        Ok(())
    }
}

#[async_trait]
impl Poster for ApiGwPoster {
    /// [`ApiGwPoster::try_post`], logging each failure with its cause (the broadcaster's
    /// posts: core's deliverer logs a failed post at debug only, and a gone or throttled
    /// one not at all).
    async fn post(&self, to: &ConnectionId, payload: &Bytes) -> Result<(), PostError> {
        self.try_post(to, payload).await.map_err(|failure| {
            failure.warn("post failed", to);
            failure.error
        })
    }
}
