//! The HTTP/1.1 upgrade to WebSocket (RFC 6455 §4.2): check the request, answer 101,
//! and hand the raw connection to the session, which speaks the frames itself
//! (`frame.rs`, `socket.rs`) instead of through a WebSocket library that would keep a
//! read buffer per connection.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use bytes::Bytes;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use sha1::{Digest, Sha1};
use tokio::net::TcpStream;

/// A valid WebSocket upgrade request, not yet answered.
pub struct WebSocketRequest {
    key: HeaderValue,
    on_upgrade: OnUpgrade,
    protocols: Vec<String>,
}

/// The upgraded connection: hyper's TCP stream back in our hands, and the bytes hyper
/// had read past the request (a client may send its first frames right behind it).
///
/// Owning the `TcpStream` itself, rather than hyper's boxed `Upgraded`, is what lets
/// the fan-out write to an idle connection's socket from another task
/// (`TcpStream::try_write` takes `&self`; see `registry.rs`).
pub struct Upgrade {
    /// The connection's socket.
    pub tcp: TcpStream,
    /// Read by hyper, not yet parsed as frames.
    pub read_ahead: Bytes,
}

/// Why a request to the WebSocket URL is not an upgrade.
#[derive(Debug)]
pub struct NotAnUpgrade(StatusCode, &'static str);

impl IntoResponse for NotAnUpgrade {
    fn into_response(self) -> Response {
        (self.0, self.1).into_response()
    }
}

fn has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers.get_all(name).iter().any(|v| {
        v.to_str()
            .map(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
            .unwrap_or(false)
    })
}

impl<S: Send + Sync> FromRequestParts<S> for WebSocketRequest {
    type Rejection = NotAnUpgrade;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, NotAnUpgrade> {
        let bad = |m| Err(NotAnUpgrade(StatusCode::BAD_REQUEST, m));
        if parts.method != Method::GET {
            return Err(NotAnUpgrade(
                StatusCode::METHOD_NOT_ALLOWED,
                "Request method must be `GET`",
            ));
        }
        if !has_token(&parts.headers, header::CONNECTION, "upgrade") {
            return bad("Connection header did not include 'upgrade'");
        }
        if !has_token(&parts.headers, header::UPGRADE, "websocket") {
            return bad("`Upgrade` header did not include 'websocket'");
        }
        if parts
            .headers
            .get(header::SEC_WEBSOCKET_VERSION)
            .is_none_or(|v| v.as_bytes() != b"13")
        {
            return bad("`Sec-WebSocket-Version` header did not include '13'");
        }
        let Some(key) = parts.headers.get(header::SEC_WEBSOCKET_KEY).cloned() else {
            return bad("`Sec-WebSocket-Key` header missing");
        };
        let Some(on_upgrade) = parts.extensions.remove::<OnUpgrade>() else {
            return Err(NotAnUpgrade(
                StatusCode::UPGRADE_REQUIRED,
                "WebSocket request couldn't be upgraded since no upgrade state was present",
            ));
        };
        let protocols = parts
            .headers
            .get_all(header::SEC_WEBSOCKET_PROTOCOL)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|p| p.trim().to_owned())
            .collect();
        Ok(Self {
            key,
            on_upgrade,
            protocols,
        })
    }
}

impl WebSocketRequest {
    /// The subprotocols the client offers, in its order.
    pub fn protocols(&self) -> impl Iterator<Item = &str> {
        self.protocols.iter().map(String::as_str)
    }

    /// Answer 101 (with `protocol` if one was chosen) and run `session` on the raw
    /// connection once hyper hands it over.
    pub fn accept<F, Fut>(self, protocol: Option<&'static str>, session: F) -> Response
    where
        F: FnOnce(Upgrade) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let on_upgrade = self.on_upgrade;
        tokio::spawn(async move {
            let io = match on_upgrade.await {
                Ok(io) => io,
                Err(e) => return tracing::debug!(error = %e, "WebSocket upgrade failed"),
            };
            // The gateway serves HTTP/1.1 on TCP only (`crate::serve`), so the
            // upgraded connection is always the stream it accepted.
            match io.downcast::<TokioIo<TcpStream>>() {
                Ok(parts) => {
                    session(Upgrade {
                        tcp: parts.io.into_inner(),
                        read_ahead: parts.read_buf,
                    })
                    .await
                }
                Err(_) => tracing::error!("WebSocket upgrade: the connection is not a TCP stream"),
            }
        });
        let mut response = (
            StatusCode::SWITCHING_PROTOCOLS,
            [
                (header::CONNECTION, HeaderValue::from_static("upgrade")),
                (header::UPGRADE, HeaderValue::from_static("websocket")),
                (
                    header::SEC_WEBSOCKET_ACCEPT,
                    accept_key(self.key.as_bytes()),
                ),
            ],
        )
            .into_response();
        if let Some(p) = protocol {
            response
                .headers_mut()
                .insert(header::SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static(p));
        }
        response
    }
}

/// `Sec-WebSocket-Accept`: base64(SHA-1(key + the RFC's GUID)).
fn accept_key(key: &[u8]) -> HeaderValue {
    let mut sha1 = Sha1::default();
    sha1.update(key);
    sha1.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    let encoded = base64::engine::general_purpose::STANDARD.encode(sha1.finalize());
    HeaderValue::from_str(&encoded).expect("base64 is a valid header value")
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_accept_key_is_the_rfc_example() {
        // RFC 6455 §1.3.
        assert_eq!(
            super::accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }
}
