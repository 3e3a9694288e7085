//! Server-side publish: `publisher.to("alpha").emit("chat", data)`, over a
//! [`Transport`].

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Serialize;

use crate::Error;
use crate::protocol::{EventName, InvalidValue, PublishRequest, RoomName};

/// How a [`Publisher`] delivers an event into a room.
///
/// A transport gets the room and the request ([`PublishRequest`], the body of the HTTP
/// publish API) and must get `{"type":"event","room",…,"event","data","from":null}` to
/// every member of the room.
///
/// - [`HttpTransport`] posts to the gateway's publish API.
/// - `SqsTransport` (feature `sqs`), for apps running in AWS next to the stack, sends
///   a versioned publish envelope (core's [`PublishEnvelope`](crate::protocol::PublishEnvelope),
///   `{"v":1,"publish":{"room","event","data"}}`) onto the stack's fan-out queue,
///   which the broadcaster handles as the HTTP publish API would. Its failures go in
///   [`Error::Transport`].
///
/// ```
/// use roomcast_sdk::protocol::{PublishRequest, RoomName};
/// use roomcast_sdk::{Error, Publisher, Transport};
/// use std::sync::Mutex;
///
/// /// Keeps what would be published (e.g. for tests).
/// #[derive(Default)]
/// struct Recorder(Mutex<Vec<(String, String)>>);
///
/// #[roomcast_sdk::async_trait]
/// impl Transport for Recorder {
///     async fn publish(&self, room: RoomName, request: PublishRequest) -> Result<(), Error> {
///         let body = serde_json::to_string(&request).map_err(Error::Encode)?;
///         self.0.lock().unwrap().push((room.to_string(), body));
///         Ok(())
///     }
/// }
///
/// # tokio::runtime::Runtime::new()?.block_on(async {
/// let recorder = std::sync::Arc::new(Recorder::default());
/// let publisher = Publisher::new(recorder.clone());
/// publisher.to("alpha").emit("chat", serde_json::json!({"text": "hi"})).await?;
/// assert_eq!(
///     recorder.0.lock().unwrap()[0],
///     ("alpha".into(), r#"{"event":"chat","data":{"text":"hi"}}"#.into())
/// );
/// # Ok::<(), Error>(()) })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[async_trait::async_trait]
pub trait Transport: Send + Sync {
    /// Deliver `request`'s event to every member of `room`.
    async fn publish(&self, room: RoomName, request: PublishRequest) -> Result<(), Error>;
}

#[async_trait::async_trait]
impl<T: Transport + ?Sized> Transport for Arc<T> {
    async fn publish(&self, room: RoomName, request: PublishRequest) -> Result<(), Error> {
        (**self).publish(room, request).await
    }
}

/// Broadcasts events into rooms from a server-side app, the Socket.IO way:
/// `publisher.to(room).emit(event, data)`. Events reach every `roomcast.v1` member of
/// the room with `from: null`. Cheap to clone.
///
/// ```no_run
/// # async fn run() -> Result<(), roomcast_sdk::Error> {
/// use roomcast_sdk::Publisher;
/// use serde_json::json;
///
/// let publisher = Publisher::http("http://127.0.0.1:8080")?;
/// publisher.to("alpha").emit("news", json!({"headline": "base attacked"})).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Publisher {
    transport: Arc<dyn Transport>,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher").finish_non_exhaustive()
    }
}

impl Publisher {
    /// A publisher over `transport`.
    pub fn new(transport: impl Transport + 'static) -> Self {
        Self {
            transport: Arc::new(transport),
        }
    }

    /// A publisher over the gateway's HTTP publish API at `base_url` (such as
    /// `http://127.0.0.1:8080`), without an API key; see [`HttpTransport`] for one.
    pub fn http(base_url: impl Into<String>) -> Result<Self, Error> {
        Ok(Self::new(HttpTransport::new(base_url)?))
    }

    /// Address `room`. An invalid name is reported by [`RoomPublisher::emit`].
    pub fn to(&self, room: impl AsRef<str>) -> RoomPublisher {
        RoomPublisher {
            publisher: self.clone(),
            room: RoomName::parse(room.as_ref()),
        }
    }
}

/// A [`Publisher`] addressing one room; from [`Publisher::to`].
#[derive(Debug, Clone)]
pub struct RoomPublisher {
    publisher: Publisher,
    room: Result<RoomName, InvalidValue>,
}

impl RoomPublisher {
    /// Publish `event` with `data` (anything serializable, at most 64 KiB of JSON) to
    /// every member of the room. Resolves when the transport accepted it for fan-out.
    pub async fn emit(&self, event: impl AsRef<str>, data: impl Serialize) -> Result<(), Error> {
        let room = self.room.clone()?;
        let request = PublishRequest {
            event: EventName::parse(event.as_ref())?,
            data: serde_json::value::to_raw_value(&data).map_err(Error::Encode)?,
        };
        self.publisher.transport.publish(room, request).await
    }
}

/// The local gateway's HTTP publish API: `POST {base}/rooms/{room}/emit` with the body
/// `{"event","data"}` and, when configured, the `x-api-key` header; `202` means
/// accepted.
///
/// It uses hyper's client with rustls (`https://` works too), which the workspace
/// already builds for the AWS SDK crates, rather than adding reqwest.
///
/// ```no_run
/// # fn run() -> Result<(), roomcast_sdk::Error> {
/// use roomcast_sdk::{HttpTransport, Publisher};
///
/// let transport = HttpTransport::new("http://127.0.0.1:8080")?.api_key("secret")?;
/// let publisher = Publisher::new(transport);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct HttpTransport {
    base: String,
    api_key: Option<http::HeaderValue>,
    timeout: Duration,
    client: HyperClient<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl std::fmt::Debug for HttpTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpTransport")
            .field("base", &self.base)
            .field("api_key", &self.api_key.as_ref().map(|_| "<set>"))
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// Error bodies are short; read at most this much of one.
const MAX_ERROR_BODY: usize = 16 * 1024;

impl HttpTransport {
    /// The publish API of the gateway at `base_url` (`http://` or `https://`, no
    /// trailing path needed).
    pub fn new(base_url: impl Into<String>) -> Result<Self, Error> {
        let base = base_url.into();
        let uri: http::Uri = base.parse().map_err(|e| Error::InvalidUrl {
            url: base.clone(),
            source: Box::new(e),
        })?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
            return Err(Error::InvalidUrl {
                url: base,
                source: "expected an http:// or https:// URL with a host".into(),
            });
        }
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config((*crate::tls::client_config()?).clone())
            .https_or_http()
            .enable_http1()
            .build();
        let client = HyperClient::builder(TokioExecutor::new()).build(connector);
        Ok(Self {
            base: base.trim_end_matches('/').to_owned(),
            api_key: None,
            timeout: Duration::from_secs(10),
            client,
        })
    }

    /// Send `key` as `x-api-key` (the gateway's `--api-key` / `ROOMCAST_API_KEY`).
    pub fn api_key(mut self, key: impl AsRef<str>) -> Result<Self, Error> {
        let mut value = http::HeaderValue::from_str(key.as_ref()).map_err(Error::Header)?;
        value.set_sensitive(true);
        self.api_key = Some(value);
        Ok(self)
    }

    /// How long one publish may take (default 10 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    async fn post(&self, room: RoomName, request: PublishRequest) -> Result<(), Error> {
        let url = format!("{}/rooms/{room}/emit", self.base);
        let body = serde_json::to_vec(&request).map_err(Error::Encode)?;
        let mut builder =
            http::Request::post(&url).header(http::header::CONTENT_TYPE, "application/json");
        if let Some(key) = &self.api_key {
            builder = builder.header("x-api-key", key.clone());
        }
        let request =
            builder
                .body(Full::new(Bytes::from(body)))
                .map_err(|e| Error::InvalidUrl {
                    url,
                    source: Box::new(e),
                })?;
        let response = self.client.request(request).await.map_err(Error::Http)?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let body = Limited::new(response.into_body(), MAX_ERROR_BODY)
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let (code, message) = crate::client::error_body(&body);
        Err(Error::Rejected {
            status: status.as_u16(),
            code,
            message,
        })
    }
}

#[async_trait::async_trait]
impl Transport for HttpTransport {
    async fn publish(&self, room: RoomName, request: PublishRequest) -> Result<(), Error> {
        tokio::time::timeout(self.timeout, self.post(room, request))
            .await
            .map_err(|_| Error::Timeout(self.timeout))?
    }
}
