//! `PostToConnection`, locally: queue the frame on the connection's outbound queue.

use async_trait::async_trait;
use axum::extract::ws::Utf8Bytes;
use bytes::Bytes;
use roomcast_core::ports::{BackendError, PostError, Poster};
use roomcast_core::protocol::ConnectionId;
use std::sync::Arc;

use crate::ws::registry::{Connections, PushError};

/// Posts to live sockets through their bounded queues.
pub struct LocalPoster {
    connections: Arc<Connections>,
}

impl LocalPoster {
    /// A poster over `connections`.
    pub fn new(connections: Arc<Connections>) -> Self {
        Self { connections }
    }

    /// Post one frame (also used by `POST /@connections/{id}`).
    pub fn post_now(&self, to: &ConnectionId, payload: Bytes) -> Result<(), PostError> {
        let handle = self.connections.get(to).ok_or(PostError::Gone)?;
        // The payload's bytes are shared, not copied; this only checks UTF-8.
        let frame = Utf8Bytes::try_from(payload)
            .map_err(|e| PostError::Backend(BackendError::new("payload is not UTF-8", e)))?;
        match handle.try_push(frame) {
            Ok(()) => Ok(()),
            Err(PushError::Full) => Err(PostError::Throttled(
                "the client side buffer is full".into(),
            )),
            Err(PushError::SlowConsumer | PushError::Closed) => Err(PostError::Gone),
        }
    }
}

#[async_trait]
impl Poster for LocalPoster {
    async fn post(&self, to: &ConnectionId, payload: &Bytes) -> Result<(), PostError> {
        self.post_now(to, payload.clone())
    }
}
