//! One WebSocket client stack (tokio-websockets) for both servers: connecting from a
//! given source address, each server's handshake, the publish frame, and telling the
//! frames a client receives apart.
//!
//! | | roomcast | Socket.IO |
//! | --- | --- | --- |
//! | connect | `ws://127.0.0.1:P/dev?room=R`, subprotocol `roomcast.v1` | `ws://127.0.0.1:P/socket.io/?EIO=4&transport=websocket&room=R`, then `40` |
//! | joined to `R` | in `$connect` | in the peer's connection handler |
//! | publish | `{"action":"emit","room":"bench","event":"m","data":D}` | `42["publish","bench",D]` → `io.to("bench").emit("m", D)` |
//! | received | `{"type":"event","room":"bench","event":"m","data":D,"from":".."}` | `42["m",D]` |
//! | keep-alive | a WebSocket ping every 60 s (the gateway closes after 10 idle minutes) | answer the server's `2` with `3` |
//!
//! `ws-crates`' plain servers ([`Kind::Plain`]): `ws://127.0.0.1:P/?room=R` (the room is
//! ignored: one room of all), publish and received are `D` itself.

use super::engineio;
use super::server::Kind;
use crate::support::net::connect_from;
use anyhow::{Context, bail};
use axum::http::HeaderValue;
use axum::http::header::SEC_WEBSOCKET_PROTOCOL;
use futures::{SinkExt, StreamExt};
use std::net::Ipv4Addr;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_websockets::{ClientBuilder, Message, WebSocketStream};

/// A connected client.
pub type Ws = WebSocketStream<TcpStream>;

/// The event name on both servers.
pub const EVENT: &str = "m";

/// How long one client may take to connect and finish its handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(60);

/// Connect to the `kind` server on `port` from `source`, joined to `room`, and finish
/// the handshake: roomcast is ready at the upgrade (`$connect` joins the room right
/// after it; the bench's warm-up checks that every client receives), Socket.IO once
/// the namespace connect is acknowledged (`40{..}`, sent after the connection handler
/// joined the room).
pub async fn connect(kind: Kind, port: u16, room: &str, source: Ipv4Addr) -> anyhow::Result<Ws> {
    tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake(kind, port, room, source))
        .await
        .context("handshake timed out")?
}

async fn handshake(kind: Kind, port: u16, room: &str, source: Ipv4Addr) -> anyhow::Result<Ws> {
    let stream = connect_from(source, port)
        .await
        .with_context(|| format!("TCP connect to 127.0.0.1:{port} from {source}"))?;
    let path = match kind {
        Kind::Roomcast => format!("/dev?room={room}"),
        Kind::Plain => format!("/?room={room}"),
        Kind::SocketIo => engineio::path(Some(room)),
    };
    let mut client = ClientBuilder::new().uri(&format!("ws://127.0.0.1:{port}{path}"))?;
    if kind == Kind::Roomcast {
        client = client.add_header(
            SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static("roomcast.v1"),
        )?;
    }
    let (mut ws, _) = client.connect_on(stream).await?;
    if kind == Kind::SocketIo {
        let open = next_text(&mut ws).await?;
        engineio::parse_open(&open)?;
        ws.send(Message::text(engineio::CONNECT)).await?;
        loop {
            let frame = next_text(&mut ws).await?;
            if engineio::is_ping(&frame) {
                ws.send(Message::text(engineio::PONG)).await?;
            } else if engineio::is_connected(&frame)? {
                break;
            }
        }
    }
    Ok(ws)
}

async fn next_text(ws: &mut Ws) -> anyhow::Result<String> {
    loop {
        match ws.next().await {
            Some(Ok(message)) => {
                if let Some(text) = message.as_text() {
                    return Ok(text.to_owned());
                }
                if let Some(close) = message.as_close() {
                    bail!("closed during the handshake: {close:?}");
                }
            }
            Some(Err(e)) => return Err(e.into()),
            None => bail!("connection ended during the handshake"),
        }
    }
}

/// What a received text frame is.
#[derive(Debug, PartialEq, Eq)]
pub enum Incoming<'a> {
    /// An event relayed to the room (the whole frame; the bench's stamp is inside).
    Event(&'a str),
    /// Socket.IO's ping: answer [`engineio::PONG`].
    Ping,
    /// A roomcast `error` frame (the publisher's, e.g. `rate_limited`).
    Error(&'a str),
    /// A roomcast `presence` count (counted: presence frames per join).
    Presence,
    /// Anything else.
    Other,
}

pub fn classify(kind: Kind, frame: &str) -> Incoming<'_> {
    match kind {
        Kind::Roomcast if frame.starts_with(r#"{"type":"event""#) => Incoming::Event(frame),
        Kind::Roomcast if frame.starts_with(r#"{"type":"error""#) => Incoming::Error(frame),
        Kind::Roomcast if frame.starts_with(r#"{"type":"presence""#) => Incoming::Presence,
        Kind::Roomcast => Incoming::Other,
        Kind::Plain => Incoming::Event(frame),
        Kind::SocketIo if engineio::is_ping(frame) => Incoming::Ping,
        Kind::SocketIo => match engineio::event_body(frame) {
            Some(_) => Incoming::Event(frame),
            None => Incoming::Other,
        },
    }
}

/// The frame that publishes `data` (JSON) to `room`.
pub fn publish_frame(kind: Kind, room: &str, data: &str) -> String {
    match kind {
        Kind::Roomcast => {
            format!(r#"{{"action":"emit","room":"{room}","event":"{EVENT}","data":{data}}}"#)
        }
        Kind::SocketIo => engineio::event(
            "publish",
            &[&serde_json::Value::from(room).to_string(), data],
        ),
        Kind::Plain => data.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames() {
        assert_eq!(
            publish_frame(Kind::Roomcast, "bench", r#"{"a":1}"#),
            r#"{"action":"emit","room":"bench","event":"m","data":{"a":1}}"#
        );
        assert_eq!(
            publish_frame(Kind::SocketIo, "bench", r#"{"a":1}"#),
            r#"42["publish","bench",{"a":1}]"#
        );
        let event = r#"{"type":"event","room":"bench","event":"m","data":{"a":1},"from":"x"}"#;
        assert_eq!(classify(Kind::Roomcast, event), Incoming::Event(event));
        assert_eq!(
            classify(
                Kind::Roomcast,
                r#"{"type":"presence","room":"bench","members":3}"#
            ),
            Incoming::Presence
        );
        assert_eq!(
            classify(Kind::Roomcast, r#"{"type":"rooms","rooms":[]}"#),
            Incoming::Other
        );
        assert!(matches!(
            classify(
                Kind::Roomcast,
                r#"{"type":"error","code":"rate_limited","message":"x"}"#
            ),
            Incoming::Error(_)
        ));
        assert_eq!(classify(Kind::SocketIo, "2"), Incoming::Ping);
        assert_eq!(
            classify(Kind::SocketIo, r#"42["m",{"a":1}]"#),
            Incoming::Event(r#"42["m",{"a":1}]"#)
        );
        assert_eq!(
            classify(Kind::SocketIo, r#"40{"sid":"x"}"#),
            Incoming::Other
        );
        assert_eq!(
            publish_frame(Kind::Plain, "bench", r#"{"a":1}"#),
            r#"{"a":1}"#
        );
        assert_eq!(
            classify(Kind::Plain, r#"{"a":1}"#),
            Incoming::Event(r#"{"a":1}"#)
        );
    }
}
