//! Opening one WebSocket: the connect URL, the `roomcast.v1` handshake, TLS, and the
//! server's refusals (`429`, `400`, `401`, `403` with a `{"code","message"}` body).

use std::time::Duration;

use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderValue, header};
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream, tungstenite};

use crate::Error;
use crate::protocol::{ErrorCode, Protocol, RoomName};

/// The socket the driver owns.
pub(crate) type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Where and how to connect; the same for every reconnect.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    /// The URL with `room` and `token` appended.
    url: String,
    tls: bool,
    timeout: Duration,
}

impl Target {
    pub(crate) fn new(
        base: &str,
        room: Option<&RoomName>,
        token: Option<&str>,
        timeout: Duration,
    ) -> Result<Self, Error> {
        let lower = base.to_ascii_lowercase();
        let tls = if lower.starts_with("wss://") {
            true
        } else if lower.starts_with("ws://") {
            false
        } else {
            return Err(Error::InvalidUrl {
                url: base.to_owned(),
                source: "the scheme must be ws:// or wss://".into(),
            });
        };
        let mut url = base.to_owned();
        let mut add = |key: &str, value: &str| {
            url.push(if url.contains('?') { '&' } else { '?' });
            url.push_str(key);
            url.push('=');
            url.push_str(&encode_query_value(value));
        };
        if let Some(room) = room {
            add("room", room.as_str());
        }
        if let Some(token) = token {
            add("token", token);
        }
        let target = Self { url, tls, timeout };
        target.request()?;
        Ok(target)
    }

    fn request(&self) -> Result<tungstenite::handshake::client::Request, Error> {
        let mut request =
            self.url
                .as_str()
                .into_client_request()
                .map_err(|e| Error::InvalidUrl {
                    url: self.url.clone(),
                    source: Box::new(e),
                })?;
        request.headers_mut().insert(
            header::SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static(Protocol::V1_NAME),
        );
        Ok(request)
    }

    /// Open a socket that speaks `roomcast.v1`.
    pub(crate) async fn open(&self) -> Result<Socket, Error> {
        let connector = if self.tls {
            Connector::Rustls(crate::tls::client_config()?)
        } else {
            Connector::Plain
        };
        let handshake = tokio_tungstenite::connect_async_tls_with_config(
            self.request()?,
            Some(config()),
            true,
            Some(connector),
        );
        let (socket, response) = tokio::time::timeout(self.timeout, handshake)
            .await
            .map_err(|_| Error::ConnectTimeout(self.timeout))?
            .map_err(refused)?;
        let selected = response
            .headers()
            .get(header::SEC_WEBSOCKET_PROTOCOL)
            .and_then(|v| v.to_str().ok());
        if selected != Some(Protocol::V1_NAME) {
            return Err(Error::Subprotocol);
        }
        Ok(socket)
    }
}

/// Whether reconnecting after `error` is pointless: the server refused this client
/// (bad room, bad or expired token, room not granted) rather than being unavailable.
pub(crate) fn is_permanent(error: &Error) -> bool {
    match error {
        Error::Rejected { status, .. } => matches!(status, 400 | 401 | 403 | 404),
        Error::Subprotocol | Error::InvalidUrl { .. } | Error::Tls(_) => true,
        _ => false,
    }
}

/// An HTTP answer to the upgrade becomes [`Error::Rejected`] with the server's code.
fn refused(error: tungstenite::Error) -> Error {
    match error {
        tungstenite::Error::Http(response) => {
            let status = response.status().as_u16();
            let body = response.body().as_deref().unwrap_or_default();
            let (code, message) = error_body(body);
            Error::Rejected {
                status,
                code,
                message,
            }
        }
        // tungstenite checks the answer's subprotocol itself.
        tungstenite::Error::Protocol(
            tungstenite::error::ProtocolError::SecWebSocketSubProtocolError(_),
        ) => Error::Subprotocol,
        other => Error::WebSocket(Box::new(other)),
    }
}

/// Read roomcast's `{"code","message"}` error body; anything else is kept as text.
pub(crate) fn error_body(body: &[u8]) -> (Option<ErrorCode>, String) {
    #[derive(serde::Deserialize)]
    struct Body {
        code: Option<serde_json::Value>,
        message: Option<String>,
    }
    match serde_json::from_slice::<Body>(body) {
        Ok(b) => (
            b.code.and_then(|c| serde_json::from_value(c).ok()),
            b.message.unwrap_or_default(),
        ),
        Err(_) => {
            let text = String::from_utf8_lossy(body);
            (None, text.chars().take(200).collect())
        }
    }
}

/// Percent-encode a query value (RFC 3986 unreserved characters stay as they are).
fn encode_query_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The socket's settings: a 16 KiB read buffer instead of tungstenite's 128 KiB,
/// which it zero-fills up to its capacity before every read, however small the frame.
/// A client receiving 1 KB events at 10 a second spent 12.9–13.5 µs of CPU per event
/// with 128 KiB and 8.8 with 16 KiB; 4 KiB saved no more and cost 20% more CPU per
/// frame when frames come back to back (docs/benchmarks.md, "What limits p99"). Larger frames
/// still arrive whole: the buffer grows for them.
fn config() -> tungstenite::protocol::WebSocketConfig {
    tungstenite::protocol::WebSocketConfig::default().read_buffer_size(16 * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_connect_url_carries_room_and_token() {
        let room = RoomName::parse("alpha").unwrap();
        let t = Target::new(
            "ws://127.0.0.1:8080/dev",
            Some(&room),
            Some("a.b+c/="),
            Duration::from_secs(1),
        )
        .unwrap();
        assert_eq!(
            t.url,
            "ws://127.0.0.1:8080/dev?room=alpha&token=a.b%2Bc%2F%3D"
        );
        let t = Target::new("wss://x/dev?k=1", None, Some("t"), Duration::from_secs(1)).unwrap();
        assert_eq!((t.url.as_str(), t.tls), ("wss://x/dev?k=1&token=t", true));
        assert!(matches!(
            Target::new("http://x/dev", None, None, Duration::from_secs(1)),
            Err(Error::InvalidUrl { .. })
        ));
    }

    #[test]
    fn error_bodies_keep_their_code() {
        let (code, message) = error_body(br#"{"code":"forbidden","message":"no"}"#);
        assert_eq!((code, message.as_str()), (Some(ErrorCode::Forbidden), "no"));
        let (code, message) = error_body(b"Payload Too Large");
        assert_eq!((code, message.as_str()), (None, "Payload Too Large"));
        let (code, _) = error_body(br#"{"code":"from_the_future","message":"?"}"#);
        assert_eq!(code, None);
    }
}
