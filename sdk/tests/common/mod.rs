//! Test harness: the real local gateway in-process on 127.0.0.1, and helpers that wait
//! for events with a deadline (never a fixed sleep).
#![allow(dead_code)]

mod proxy;
#[allow(unused_imports)] // not every test binary cuts sockets
pub use proxy::Proxy;

use futures::StreamExt;
use roomcast_gateway::{Application, Config};
use roomcast_sdk::{Client, Event, Events, Reconnect};
use std::path::Path;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The longest any single wait may take.
pub const WAIT: Duration = Duration::from_secs(10);

/// A running gateway.
pub struct Gateway {
    pub port: u16,
    shutdown: CancellationToken,
    task: JoinHandle<std::io::Result<()>>,
}

impl Gateway {
    /// A gateway on `data_dir` and `port` (0: any free port) with extra flags.
    pub async fn start(data_dir: &Path, port: u16, flags: &[&str]) -> Self {
        let port_s = port.to_string();
        let mut args = vec!["--port", &port_s, "--data-dir", data_dir.to_str().unwrap()];
        args.extend_from_slice(flags);
        let config = Config::from_args(args).expect("valid flags");
        let app = Application::build(config).await.expect("gateway starts");
        let port = app.port();
        let shutdown = app.shutdown_token();
        let task = tokio::spawn(app.run_until_stopped());
        Self {
            port,
            shutdown,
            task,
        }
    }

    /// Stop gracefully (sessions closed with 1001) and wait until the store is closed.
    pub async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(WAIT, self.task)
            .await
            .expect("gateway stops in time")
            .unwrap()
            .unwrap();
    }

    pub fn ws_url(&self) -> String {
        format!("ws://127.0.0.1:{}/dev", self.port)
    }

    pub fn http_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A client with test-friendly reconnect timings, connected to `room`.
    pub async fn client(&self, room: &str) -> Client {
        client_at(&self.ws_url(), room, None).await
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
    use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 600;
    let claims = serde_json::json!({"sub": sub, "exp": exp});
    encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
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
