//! Every custom route and `$default`: the frame goes through the same core
//! [`Handler`] the local gateway uses; the replies owed to the sender (acks, errors,
//! state) are posted back to it through `@connections`.

use std::time::Instant;

use aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use bytes::Bytes;
use dashmap::DashMap;
use roomcast_core::abuse::{self, MessageRate, Verdict};
use roomcast_core::auth::RoomAccess;
use roomcast_core::ports::PostError;
use roomcast_core::protocol::{ErrorCode, ProtocolError, RoomName, ServerMessage};
use roomcast_core::{Handler, Session};

use super::session::{authorizer_context, connection_id};
use super::{error_response, response};
use crate::dynamo::DynamoStore;
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
    /// The per-connection message rate, held in the table across invocations.
    message_rate: MessageRate,
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
            message_rate: MessageRate::default(),
            api_key: None,
        }
    }

    /// Enforce `rate` (`MESSAGE_RATE`, `MESSAGE_BURST`, `MESSAGE_STRIKES`) instead of
    /// the defaults.
    pub fn with_message_rate(mut self, rate: MessageRate) -> Self {
        self.message_rate = rate;
        self
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
        if let Some(ctx) = &ctx
            && let (Some(protocol), Some(room)) = (ctx.protocol, ctx.room.clone())
        {
            return Ok(Session {
                id,
                protocol,
                room,
                access: ctx.rooms.clone(),
            });
        }
        // No (complete) authorizer context: the connection item knows protocol and room.
        // A grant that is there still applies; only no authorizer at all means any room.
        let access = ctx.map(|c| c.rooms).unwrap_or(RoomAccess::Any);
        let (protocol, room) = self
            .store
            .connection(&id)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, source = ?e.source, "reading the connection");
                ProtocolError::new(ErrorCode::Internal, "could not read the connection")
            })?
            .unwrap_or((
                roomcast_core::protocol::Protocol::V1,
                RoomName::default_room(),
            ));
        Ok(Session {
            id,
            protocol,
            room,
            access,
        })
    }

    /// Count this message against the connection's rate: `Some(None)` to handle it,
    /// `Some(Some(reply))` to answer `rate_limited` instead, `None` to disconnect. A
    /// table failure lets the message through (and is logged): the limit protects
    /// the service and must not become the outage.
    async fn count_message(&self, session: &Session, body: &str) -> Option<Option<ServerMessage>> {
        if !self.message_rate.is_on() {
            return Some(None);
        }
        let now_us = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_micros() as u64)
            .unwrap_or(0);
        match self
            .store
            .admit_message(&session.id, &self.message_rate, now_us)
            .await
        {
            Ok(admission) => match admission.verdict {
                Verdict::Allow => Some(None),
                Verdict::Limited => Some(Some(abuse::rate_limited(
                    body,
                    &self.message_rate,
                    &admission,
                    now_us,
                ))),
                Verdict::Disconnect => None,
            },
            Err(e) => {
                tracing::error!(error = %e, source = ?e.source, connection = %session.id, "message rate not counted");
                Some(None)
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
        let verdict = self.count_message(&session, body).await;
        if verdict.is_none() {
            // Sustained excess: API Gateway closes the socket and runs `$disconnect`.
            tracing::info!(connection = %session.id, "deleting a connection that stays over its message rate");
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
        let replies: Vec<ServerMessage> = if let Some(Some(refusal)) = verdict {
            vec![refusal]
        } else if event.is_base64_encoded {
            vec![
                ProtocolError::new(
                    ErrorCode::UnsupportedFrame,
                    "binary frames are not supported; send JSON text",
                )
                .into(),
            ]
        } else {
            self.handler.message(&session, body).await
        };
        let outcome = replies
            .iter()
            .find_map(|r| match r {
                ServerMessage::Error { code, .. } => Some(code.as_str()),
                _ => None,
            })
            .unwrap_or("ok");
        for reply in &replies {
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
