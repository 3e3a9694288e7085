//! Every custom route and `$default`: the frame goes through the same core
//! [`Handler`] the local gateway uses; the replies owed to the sender (acks, errors,
//! state) are posted back to it through `@connections` — on a connection's first
//! message, after its `welcome`.

use std::time::Instant;

use aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use bytes::Bytes;
use dashmap::DashMap;
use roomcast_core::abuse::Admission;
use roomcast_core::auth::RoomAccess;
use roomcast_core::edge::{Answer, Body, Frame};
use roomcast_core::ports::PostError;
use roomcast_core::protocol::{
    ErrorCode, Protocol, ProtocolError, RoomName, ServerMessage, UserId,
};
use roomcast_core::{Handler, Session};

use super::context::{AuthorizerContext, authorizer_context, connection_id};
use super::{error_response, response};
use crate::dynamo::{Counted, DynamoStore};
use crate::observe::request_line;
use crate::post_failure::report_suppressed;
use crate::poster::{ApiGwPoster, endpoint_for};

/// Just the room, for the request's log line (the handler does the real parsing).
#[derive(serde::Deserialize)]
struct RoomField {
    room: Option<String>,
}

/// The `actions` function.
pub struct Actions {
    handler: Handler,
    store: DynamoStore,
    sdk: aws_config::SdkConfig,
    /// `APIGW_ENDPOINT`, when set, wins over the event's domain and stage.
    endpoint_override: Option<String>,
    /// One management client per endpoint, reused across invocations.
    posters: DashMap<String, ApiGwPoster>,
    /// `APIGW_API_KEY`: sent as `x-api-key` to a local gateway's `@connections`.
    api_key: Option<String>,
}

impl Actions {
    /// Wire it.
    pub fn new(
        handler: Handler,
        store: DynamoStore,
        sdk: aws_config::SdkConfig,
        endpoint_override: Option<String>,
    ) -> Self {
        Self {
            handler,
            store,
            sdk,
            endpoint_override,
            posters: DashMap::new(),
            api_key: None,
        }
    }

    /// Send `x-api-key` to the management endpoint (`APIGW_API_KEY`, local gateway only).
    pub fn with_api_key(mut self, key: Option<String>) -> Self {
        self.api_key = key;
        self
    }

    fn poster(&self, event: &ApiGatewayWebsocketProxyRequest) -> Option<ApiGwPoster> {
        let ctx = &event.request_context;
        let endpoint = match &self.endpoint_override {
            Some(e) => e.clone(),
            None => endpoint_for(ctx.domain_name.as_deref()?, ctx.stage.as_deref()?),
        };
        Some(
            self.posters
                .entry(endpoint.clone())
                .or_insert_with(|| {
                    ApiGwPoster::with_api_key(&self.sdk, endpoint, self.api_key.as_deref())
                })
                .clone(),
        )
    }

    async fn session(
        &self,
        event: &ApiGatewayWebsocketProxyRequest,
    ) -> Result<Session, ProtocolError> {
        let id = connection_id(event).ok_or_else(|| {
            ProtocolError::new(ErrorCode::InvalidField, "no connection id in the event")
        })?;
        let ctx = authorizer_context(event);
        if let Some(admitted) = ctx.as_ref().and_then(AuthorizerContext::admitted) {
            return admitted
                .map(|a| a.session(id))
                .map_err(|refusal| ProtocolError::new(refusal.code(), refusal.to_string()));
        }
        // No (complete) authorizer context: the connection item knows protocol, room and
        // user. A grant that is there still applies; only no authorizer at all means any
        // room.
        let access = ctx.map(|c| c.principal.rooms).unwrap_or(RoomAccess::Any);
        let (protocol, room, user) = self
            .store
            .connection(&id)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, source = ?e.source, "reading the connection");
                ProtocolError::new(ErrorCode::Internal, "could not read the connection")
            })?
            .unwrap_or_else(|| {
                (
                    Protocol::V1,
                    RoomName::default_room(),
                    UserId::anonymous(&id),
                )
            });
        Ok(Session {
            id,
            protocol,
            room,
            access,
            user,
        })
    }

    /// Count this message against the connection's rate, and tell whether it is the
    /// connection's first (owed its `welcome` before anything else: API Gateway cannot
    /// post during `$connect`). The rate limiter's first write tells that for free; with
    /// the rate off a conditional write on the connection item does. A table failure
    /// lets the message through (and is logged): the limit protects the service and
    /// must not become the outage.
    async fn count_message(&self, session: &Session) -> (Admission, u64, bool) {
        let now_us = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_micros() as u64)
            .unwrap_or(0);
        let rate = self.handler.message_rate();
        if !rate.is_on() {
            if session.protocol != Protocol::V1 {
                return (Admission::allowed(), now_us, false);
            }
            let first = self
                .store
                .claim_welcome(&session.id)
                .await
                .inspect_err(|e| tracing::error!(error = %e, source = ?e.source, connection = %session.id, "welcome not claimed"))
                .unwrap_or(false);
            return (Admission::allowed(), now_us, first);
        }
        match self.store.count_message(&session.id, rate, now_us).await {
            Ok(Counted { admission, first }) => (admission, now_us, first),
            Err(e) => {
                tracing::error!(error = %e, source = ?e.source, connection = %session.id, "message rate not counted");
                (Admission::allowed(), now_us, false)
            }
        }
    }

    /// Handle one message event.
    pub async fn handle(&self, event: ApiGatewayWebsocketProxyRequest) -> ApiGatewayProxyResponse {
        let start = Instant::now();
        let route = event
            .request_context
            .route_key
            .clone()
            .unwrap_or_else(|| "$default".into());
        let Some(poster) = self.poster(&event) else {
            return error_response(
                400,
                ErrorCode::InvalidField,
                "no domainName/stage in the event and no APIGW_ENDPOINT",
            );
        };
        let session = match self.session(&event).await {
            Ok(s) => s,
            Err(e) => return error_response(500, e.code, e.message),
        };
        let body = event.body.as_deref().unwrap_or_default();
        let room = serde_json::from_str::<RoomField>(body)
            .ok()
            .and_then(|r| r.room);
        let (rate, now_us, first) = self.count_message(&session).await;
        let frame = Frame {
            body: if event.is_base64_encoded {
                Body::Binary
            } else {
                Body::Text(body)
            },
            rate,
            now_us,
            owes_welcome: first,
        };
        let answer = self.handler.frame(&session, frame).await;
        if matches!(answer, Answer::Disconnect) {
            // Sustained excess: API Gateway closes the socket and runs `$disconnect`.
            if let Err(e) = poster.delete(&session.id).await {
                tracing::error!(error = %e, source = ?e.source, connection = %session.id, "could not delete the connection");
            }
            request_line(
                &route,
                room.as_deref(),
                Some(session.id.as_str()),
                start.elapsed(),
                "rate_limited_disconnect",
            );
            return response(200, None);
        }
        let replies = answer.replies();
        let outcome = replies
            .iter()
            .find_map(|r| match r {
                ServerMessage::Error { code, .. } => Some(code.as_str()),
                _ => None,
            })
            .unwrap_or("ok");
        for reply in replies {
            let Some(frame) = reply.render(session.protocol) else {
                continue;
            };
            // Once per failed reply, with its cause (a 403 from a wrong key, a refused
            // connect): the line the operator needs when clients hear nothing back.
            if let Err(failure) = poster.try_post(&session.id, &Bytes::from(frame)).await {
                failure.warn("reply not delivered", &session.id);
                // The sender left meanwhile: nobody to answer the rest to.
                if matches!(failure.error, PostError::Gone) {
                    break;
                }
            }
        }
        report_suppressed();
        request_line(
            &route,
            room.as_deref(),
            Some(session.id.as_str()),
            start.elapsed(),
            outcome,
        );
        response(200, None)
    }
}
