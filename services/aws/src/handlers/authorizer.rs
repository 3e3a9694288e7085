//! The REQUEST authorizer on `$connect`: the same decision as the local gateway
//! ([`roomcast_core::edge::admit`]), answered as an IAM policy.
//!
//! Allowed connections carry `principal`, `rooms`, `protocol` and `room` in the
//! authorizer context, which API Gateway passes to every later route. A refusal is an
//! explicit `Deny` (the client sees 403), with the reason logged, never returned.

use std::time::Instant;

use aws_lambda_events::apigw::{
    ApiGatewayCustomAuthorizerPolicy, ApiGatewayCustomAuthorizerRequestTypeRequest,
    ApiGatewayCustomAuthorizerResponse,
};
use aws_lambda_events::iam::{IamPolicyEffect, IamPolicyStatement};
use roomcast_core::auth::{AuthConfig, AuthError, Principal, TokenVerifier};
use roomcast_core::edge;
use serde_json::{Value, json};

use super::context::{CTX_PRINCIPAL, CTX_PROTOCOL, CTX_ROOM, CTX_ROOMS, connect_request};
use crate::env::AuthSettings;
use crate::observe::request_line;

/// Why the authorizer cannot start.
#[derive(Debug, thiserror::Error)]
pub enum AuthorizerInitError {
    /// The SSM parameter could not be read.
    #[error("reading the JWT secret from SSM parameter {name}")]
    Ssm {
        /// The parameter name.
        name: String,
        /// The SDK error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The settings are unusable.
    #[error(transparent)]
    Auth(#[from] AuthError),
}

/// The `authorizer` function.
#[derive(Debug)]
pub struct Authorizer {
    verifier: Option<TokenVerifier>,
}

impl Authorizer {
    /// From settings; `None` verifier = open auth (logged loudly).
    pub fn new(config: &AuthConfig) -> Result<Self, AuthError> {
        let verifier = config.verifier()?;
        match &verifier {
            None => tracing::warn!(
                "auth is OPEN: no JWT_SECRET, JWT_SECRET_PARAM or JWT_PUBLIC_KEY; every connection is allowed every room"
            ),
            Some(v) => tracing::info!(verifier = ?v, "connect tokens required"),
        }
        Ok(Self { verifier })
    }

    /// Resolve `JWT_SECRET_PARAM` through SSM (a SecureString, decrypted), then build.
    pub async fn from_settings(
        settings: AuthSettings,
        ssm: &aws_sdk_ssm::Client,
    ) -> Result<Self, AuthorizerInitError> {
        let mut config = settings.config;
        if let Some(name) = settings.secret_param {
            let out = ssm
                .get_parameter()
                .name(&name)
                .with_decryption(true)
                .send()
                .await
                .map_err(|e| AuthorizerInitError::Ssm {
                    name: name.clone(),
                    source: Box::new(e),
                })?;
            config.secret = out.parameter.and_then(|p| p.value);
            if config.secret.is_none() {
                return Err(AuthorizerInitError::Ssm {
                    name,
                    source: "the parameter has no value".into(),
                });
            }
        }
        Ok(Self::new(&config)?)
    }

    /// Decide one `$connect`.
    pub fn handle(
        &self,
        event: ApiGatewayCustomAuthorizerRequestTypeRequest,
    ) -> ApiGatewayCustomAuthorizerResponse {
        let start = Instant::now();
        // The typed request context has no connection id; the request id correlates.
        let request_id = event.request_context.request_id.clone();
        let method_arn = event.method_arn.clone().unwrap_or_default();
        let request = connect_request(&event.query_string_parameters, &event.headers);
        let room = request.room;
        let decision = edge::admit(self.verifier.as_ref(), &request);
        let (response, outcome) = match decision {
            Ok(admitted) => {
                let principal = principal_id(&admitted.principal);
                let context = json!({
                    CTX_PRINCIPAL: principal,
                    CTX_ROOMS: admitted.principal.rooms.to_context(),
                    CTX_PROTOCOL: admitted.protocol.name(),
                    CTX_ROOM: admitted.room.as_str(),
                });
                (
                    policy(&principal, IamPolicyEffect::Allow, &method_arn, context),
                    "allow".to_owned(),
                )
            }
            Err(refusal) => {
                tracing::info!(
                    reason = %refusal,
                    request_id = request_id.as_deref().unwrap_or(""),
                    "connect denied"
                );
                (
                    policy("anonymous", IamPolicyEffect::Deny, &method_arn, json!({})),
                    "deny".to_owned(),
                )
            }
        };
        // No connection id in the typed authorizer event; the deny line has the request id.
        request_line("$connect:authorizer", room, None, start.elapsed(), &outcome);
        response
    }
}

fn principal_id(p: &Principal) -> String {
    p.subject
        .clone()
        .unwrap_or_else(|| super::context::ANONYMOUS_PRINCIPAL.into())
}

fn policy(
    principal: &str,
    effect: IamPolicyEffect,
    method_arn: &str,
    context: Value,
) -> ApiGatewayCustomAuthorizerResponse {
    let mut statement = IamPolicyStatement::default();
    statement.action = vec!["execute-api:Invoke".into()];
    statement.effect = effect;
    statement.resource = vec![method_arn.to_owned()];
    let mut document = ApiGatewayCustomAuthorizerPolicy::default();
    document.version = Some("2012-10-17".into());
    document.statement = vec![statement];
    let mut response = ApiGatewayCustomAuthorizerResponse::default();
    response.principal_id = Some(principal.to_owned());
    response.policy_document = document;
    response.context = context;
    response
}
