//! The SDK's one error type.

use std::time::Duration;

use crate::protocol::{ErrorCode, InvalidValue, ProtocolError};

/// Everything that can go wrong in the client or the publisher.
///
/// Each variant keeps its cause as [`std::error::Error::source`]; the server's own
/// refusals keep their stable [`ErrorCode`], see [`Error::code`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An argument broke a protocol rule (room or event name, icon id, …) and was
    /// not sent.
    #[error(transparent)]
    Invalid(#[from] InvalidValue),
    /// The URL could not be used.
    #[error("invalid URL {url:?}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// Why it was refused.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The WebSocket connection failed (I/O, TLS, handshake).
    #[error("WebSocket connection failed")]
    WebSocket(#[source] Box<tokio_tungstenite::tungstenite::Error>),
    /// Connecting took longer than the connect timeout.
    #[error("connecting timed out after {0:?}")]
    ConnectTimeout(Duration),
    /// The server answered an HTTP request (the WebSocket upgrade, or a publish) with
    /// an error status; `code` is set when the body was roomcast's `{"code","message"}`.
    #[error("the server refused with HTTP {status}: {message}")]
    Rejected {
        /// HTTP status.
        status: u16,
        /// The stable error code, when the body carried one.
        code: Option<ErrorCode>,
        /// The server's explanation (or the start of its body).
        message: String,
    },
    /// The server did not select the `roomcast.v1` subprotocol, so it would speak the
    /// planetstack format, which this client does not read.
    #[error("the server did not accept the roomcast.v1 subprotocol")]
    Subprotocol,
    /// The TLS configuration could not be built.
    #[error("TLS configuration failed")]
    Tls(#[source] rustls::Error),
    /// The server answered the request with an `error`; nothing changed.
    #[error(transparent)]
    Server(ProtocolError),
    /// No answer within the request timeout. The request may still take effect.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The connection dropped after the request was sent and before its answer; the
    /// request may or may not have taken effect.
    #[error("the connection dropped before the answer (the request may have taken effect)")]
    ConnectionLost,
    /// The client was closed (or gave up reconnecting).
    #[error("the client is closed")]
    Closed,
    /// The request's frame is larger than a client frame may be (API Gateway: 32 KiB);
    /// sending it would make the server close the connection.
    #[error("the frame is {size} bytes; a client frame may be at most {max}")]
    FrameTooLarge {
        /// The frame's size in bytes.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The `ack` of a state change carried no version.
    #[error("the server's ack carried no version")]
    MissingVersion,
    /// The `ack` of `addIcon` carried no icon id.
    #[error("the server's ack carried no icon id")]
    MissingIconId,
    /// A value could not be serialized to JSON.
    #[error("cannot encode the request as JSON")]
    Encode(#[source] serde_json::Error),
    /// The server's answer to a request could not be read.
    #[error("cannot decode the server's answer")]
    Decode(#[source] serde_json::Error),
    /// The HTTP request failed (connect, TLS, I/O).
    #[error("HTTP request failed")]
    Http(#[source] hyper_util::client::legacy::Error),
    /// A header value (such as the API key) is not a valid HTTP header value.
    #[error("invalid HTTP header value")]
    Header(#[source] http::header::InvalidHeaderValue),
    /// A custom [`Transport`](crate::Transport) failed.
    #[error("publish transport failed")]
    Transport(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl Error {
    /// The server's stable error code, when the server refused: an `error` frame
    /// ([`Error::Server`]) or an HTTP error body ([`Error::Rejected`]).
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Error::Server(e) => Some(e.code),
            Error::Rejected { code, .. } => *code,
            _ => None,
        }
    }
}

impl From<ProtocolError> for Error {
    fn from(e: ProtocolError) -> Self {
        Error::Server(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::RoomName;
    use std::error::Error as _;

    #[test]
    fn codes_and_sources_are_kept() {
        let e: Error = ProtocolError::new(ErrorCode::UnknownIcon, "no icon").into();
        assert_eq!(e.code(), Some(ErrorCode::UnknownIcon));
        assert_eq!(e.to_string(), "unknown_icon: no icon");

        let e: Error = RoomName::parse("a b").unwrap_err().into();
        assert_eq!(e.to_string(), RoomName::RULE);
        assert_eq!(e.code(), None);

        let json = serde_json::from_str::<u8>("x").unwrap_err();
        let e = Error::Decode(json);
        assert!(e.source().is_some());
    }
}
