//! One connection's life: register, `$connect`, read frames until something ends it,
//! `$disconnect`. A writer task drains the outbound queue so that fan-out never waits
//! on this socket.

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures::{Sink, SinkExt, Stream, StreamExt};
use roomcast_core::Session;
use roomcast_core::abuse::{self, Verdict};
use roomcast_core::protocol::{ErrorCode, ProtocolError, ServerMessage};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::{Instant, sleep_until};

use super::registry::{ConnectionHandle, Outbound};
use crate::app::AppState;

/// Close codes (RFC 6455 §7.4.1), as API Gateway uses them.
mod close {
    pub const NORMAL: u16 = 1000;
    pub const GOING_AWAY: u16 = 1001;
    pub const UNSUPPORTED: u16 = 1003;
    pub const INVALID_PAYLOAD: u16 = 1007;
    pub const POLICY: u16 = 1008;
    pub const TOO_BIG: u16 = 1009;
    pub const INTERNAL: u16 = 1011;
}

pub(super) async fn run(
    socket: WebSocket,
    app: AppState,
    session: Session,
    handle: Arc<ConnectionHandle>,
    outbound: Outbound,
) {
    let (sink, stream) = socket.split();
    let writer = tokio::spawn(write(sink, outbound, handle.clone()));
    app.connections.insert(handle.clone());
    match app.handler.connect(&session).await {
        Ok(owed) => {
            // Its connect room's count, before anything else it will read.
            for reply in owed {
                send(&handle, &session, reply).await;
            }
            read(stream, &app, &session, &handle).await
        }
        Err(e) => {
            tracing::error!(connection = %session.id, error = %e, "connect failed");
            handle.close(close::INTERNAL, "could not register the connection");
        }
    }
    handle.close(close::NORMAL, "bye");
    app.connections.remove(&session.id);
    if let Err(e) = app.handler.disconnect(&session.id).await {
        tracing::error!(connection = %session.id, error = %e, "disconnect cleanup failed");
    }
    let _ = tokio::time::timeout(Duration::from_secs(5), writer).await;
    tracing::debug!(connection = %session.id, "disconnected");
}

/// Read frames until the client leaves, a limit is hit, or the server closes.
async fn read<S>(mut stream: S, app: &AppState, session: &Session, handle: &ConnectionHandle)
where
    S: Stream<Item = Result<Message, axum::Error>> + Unpin,
{
    let lifetime = Instant::now() + app.config.max_lifetime;
    let mut idle = Instant::now() + app.config.idle_timeout;
    // The message rate's state (GCRA): one number, on this connection's own clock.
    let rate = app.config.message_rate();
    let origin = std::time::Instant::now();
    let mut tat = None;
    loop {
        let message = tokio::select! {
            m = stream.next() => m,
            _ = sleep_until(idle) => return handle.close(close::GOING_AWAY, "idle timeout"),
            _ = sleep_until(lifetime) => return handle.close(close::GOING_AWAY, "connection lifetime exceeded"),
            _ = app.shutdown.cancelled() => return handle.close(close::GOING_AWAY, "server going away"),
            _ = handle.closing() => return,
        };
        idle = Instant::now() + app.config.idle_timeout;
        handle.touch();
        if let Some(Ok(Message::Text(_) | Message::Binary(_))) = &message {
            let now = origin.elapsed().as_micros() as u64;
            let admission = rate.admit(tat, now);
            tat = Some(admission.tat_us);
            match admission.verdict {
                Verdict::Allow => {}
                Verdict::Limited => {
                    let text = match &message {
                        Some(Ok(Message::Text(t))) => t.as_str(),
                        _ => "",
                    };
                    let reply = abuse::rate_limited(text, &rate, &admission, now);
                    if !send(handle, session, reply).await {
                        return;
                    }
                    continue;
                }
                Verdict::Disconnect => {
                    tracing::info!(connection = %session.id, "closing a connection that stays over its message rate");
                    return handle.close(close::POLICY, "message rate exceeded");
                }
            }
        }
        match message {
            Some(Ok(Message::Text(text))) => {
                app.metrics.message();
                for reply in app.handler.message(session, text.as_str()).await {
                    if !send(handle, session, reply).await {
                        return;
                    }
                }
            }
            Some(Ok(Message::Binary(_))) => {
                let reply = ProtocolError::new(
                    ErrorCode::UnsupportedFrame,
                    "binary frames are not supported; send JSON text",
                );
                if !send(handle, session, reply.into()).await {
                    return;
                }
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            Some(Ok(Message::Close(_))) | None => return,
            Some(Err(e)) => {
                // tungstenite's errors are only visible here through their text.
                let text = e.to_string();
                if text.contains("Space limit exceeded") {
                    handle.close(close::TOO_BIG, "message too big");
                } else if text.contains("UTF-8") {
                    handle.close(close::INVALID_PAYLOAD, "text frame is not valid UTF-8");
                } else {
                    tracing::debug!(connection = %session.id, error = %e, "read error");
                    handle.close(close::UNSUPPORTED, "protocol error");
                }
                return;
            }
        }
    }
}

/// Queue a reply in the session's protocol (some messages have no seed form);
/// false once the connection is closed.
async fn send(handle: &ConnectionHandle, session: &Session, reply: ServerMessage) -> bool {
    match reply.render(session.protocol) {
        Some(frame) => handle.push(Utf8Bytes::from(frame)).await.is_ok(),
        None => true,
    }
}

/// Drain the outbound queue into the socket; on a close request, send the close frame.
async fn write<S>(mut sink: S, mut outbound: Outbound, handle: Arc<ConnectionHandle>)
where
    S: Sink<Message> + Unpin,
{
    loop {
        // A close request wins over queued frames: a slow consumer is not drained first.
        let frame = tokio::select! {
            biased;
            _ = handle.closing() => break,
            frame = outbound.frames.recv() => match frame {
                Some(frame) => frame,
                None => break,
            },
        };
        let len = frame.len();
        let sent = tokio::select! {
            sent = sink.send(Message::Text(frame)) => sent.is_ok(),
            _ = handle.closing() => break,
        };
        outbound.sent(len);
        if !sent {
            handle.close(close::NORMAL, "socket closed");
            return;
        }
    }
    if let Some(reason) = handle.close_reason() {
        let _ = sink
            .send(Message::Close(Some(CloseFrame {
                code: reason.code,
                reason: reason.reason.into(),
            })))
            .await;
    }
    let _ = sink.close().await;
}
