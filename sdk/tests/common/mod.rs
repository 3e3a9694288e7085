//! Test harness: SDK clients of the real local gateway ([`TestGateway`], in-process on
//! 127.0.0.1), and helpers that wait for events with a deadline (never a fixed sleep).
#![allow(dead_code)]

mod proxy;
#[allow(unused_imports)] // not every test binary cuts sockets
pub use proxy::Proxy;

use futures::StreamExt;
use roomcast_sdk::{Client, Event, Events, Reconnect};
pub use roomcast_testkit::{TestGateway, WAIT};
use std::time::Duration;

/// The SDK's clients of a [`TestGateway`].
pub trait SdkClients {
    /// A client with test-friendly reconnect timings, connected to `room`.
    async fn client(&self, room: &str) -> Client;
}

impl SdkClients for TestGateway {
    async fn client(&self, room: &str) -> Client {
        client_at(&self.ws_url(None), room, None).await
    }
}

/// A client of `url` with test-friendly reconnect timings, connected to `room` (with
/// `token` if given).
pub async fn client_at(url: &str, room: &str, token: Option<&str>) -> Client {
    let mut builder = Client::connect(url).room(room).reconnect(Reconnect {
        initial: Duration::from_millis(50),
        max: Duration::from_millis(500),
        max_attempts: None,
    });
    if let Some(token) = token {
        builder = builder.token(token);
    }
    builder.await.expect("client connects")
}

/// An HS256 token for `sub`, valid for ten minutes.
pub fn token(sub: &str, secret: &str) -> String {
    roomcast_testkit::hs(
        serde_json::json!({"sub": sub, "exp": roomcast_testkit::exp(600)}),
        secret,
    )
}

/// The next event matching `pick`, skipping others; panics after [`WAIT`].
pub async fn next<T>(
    events: &mut Events,
    what: &str,
    mut pick: impl FnMut(&Event) -> Option<T>,
) -> T {
    let wait = async {
        while let Some(event) = events.next().await {
            if let Some(found) = pick(&event) {
                return found;
            }
        }
        panic!("the event stream ended while waiting for {what}");
    };
    tokio::time::timeout(WAIT, wait)
        .await
        .unwrap_or_else(|_| panic!("no {what} within {WAIT:?}"))
}

/// The next application event named `name` in `room`: `(data, from)`.
pub async fn app_event(
    events: &mut Events,
    room: &str,
    name: &str,
) -> (serde_json::Value, Option<String>) {
    next(events, &format!("event {name} in {room}"), |e| match e {
        Event::App {
            room: r,
            event,
            data,
            from,
            ..
        } if r.as_str() == room && event.as_str() == name => Some((
            serde_json::from_str(data.get()).unwrap(),
            from.as_ref().map(|f| f.to_string()),
        )),
        _ => None,
    })
    .await
}

/// Wait until `client`'s replica of `room` is at `version`.
pub async fn replica_reaches(client: &Client, events: &mut Events, room: &str, version: u64) {
    if client.state(room).is_some_and(|s| s.version >= version) {
        return;
    }
    next(events, &format!("{room} at version {version}"), |_| {
        client
            .state(room)
            .is_some_and(|s| s.version >= version)
            .then_some(())
    })
    .await
}

/// Accept a WebSocket on `stream` as a server that selects `roomcast.v1` (for the
/// scripted servers that play what the real homes do not).
pub async fn accept_v1(
    stream: tokio::net::TcpStream,
) -> tokio_tungstenite::WebSocketStream<tokio::net::TcpStream> {
    use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
    // The handshake callback's error type is tungstenite's (large) error response.
    #[allow(clippy::result_large_err)]
    fn select(_: &Request, mut response: Response) -> Result<Response, ErrorResponse> {
        let v1 = "roomcast.v1".parse().expect("a header value");
        response.headers_mut().insert("Sec-WebSocket-Protocol", v1);
        Ok(response)
    }
    tokio_tungstenite::accept_hdr_async(stream, select)
        .await
        .expect("the handshake completes")
}
