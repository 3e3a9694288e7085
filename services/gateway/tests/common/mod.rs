//! Test harness: the real gateway on 127.0.0.1:0 and real WebSocket clients.
#![allow(dead_code)]

use futures::{SinkExt, StreamExt};
use roomcast_core::ports::Poster;
use roomcast_gateway::{Application, Config};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;

pub const WAIT: Duration = Duration::from_secs(10);

/// A running gateway.
pub struct Gateway {
    pub port: u16,
    pub data_dir: PathBuf,
    shutdown: CancellationToken,
    task: JoinHandle<std::io::Result<()>>,
    _tmp: Option<tempfile::TempDir>,
}

impl Gateway {
    /// A gateway on a fresh data dir with extra flags.
    pub async fn start(flags: &[&str]) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let mut gw = Self::start_in(tmp.path(), 0, flags).await;
        gw._tmp = Some(tmp);
        gw
    }

    /// A gateway on `data_dir` and `port` (0: any).
    pub async fn start_in(data_dir: &Path, port: u16, flags: &[&str]) -> Self {
        Self::start_with(data_dir, port, flags, |poster| poster).await
    }

    /// A gateway on a fresh data dir whose broadcaster pool posts through
    /// `wrap(the real socket poster)`: fault injection around the real poster.
    pub async fn start_with_fanout_poster(
        flags: &[&str],
        wrap: impl FnOnce(Arc<dyn Poster>) -> Arc<dyn Poster> + Send,
    ) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let mut gw = Self::start_with(tmp.path(), 0, flags, wrap).await;
        gw._tmp = Some(tmp);
        gw
    }

    async fn start_with(
        data_dir: &Path,
        port: u16,
        flags: &[&str],
        wrap: impl FnOnce(Arc<dyn Poster>) -> Arc<dyn Poster> + Send,
    ) -> Self {
        let port_s = port.to_string();
        let mut args = vec!["--port", &port_s, "--data-dir", data_dir.to_str().unwrap()];
        args.extend_from_slice(flags);
        let config = Config::from_args(args).expect("valid flags");
        let app = Application::build_with_fanout_poster(config, wrap)
            .await
            .expect("gateway starts");
        let port = app.port();
        let shutdown = app.shutdown_token();
        let task = tokio::spawn(app.run_until_stopped());
        Self {
            port,
            data_dir: data_dir.to_owned(),
            shutdown,
            task,
            _tmp: None,
        }
    }

    /// Stop gracefully and wait until the database is closed.
    pub async fn stop(self) -> Option<tempfile::TempDir> {
        self.shutdown.cancel();
        tokio::time::timeout(WAIT, self.task)
            .await
            .expect("gateway stops in time")
            .unwrap()
            .unwrap();
        self._tmp
    }

    pub fn http(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn ws_url(&self, room: Option<&str>) -> String {
        match room {
            Some(r) => format!("ws://127.0.0.1:{}/dev?room={r}", self.port),
            None => format!("ws://127.0.0.1:{}/dev", self.port),
        }
    }

    /// A `roomcast.v1` client, optionally joined to `room` at connect.
    pub async fn v1(&self, room: Option<&str>) -> Client {
        Client::connect(&self.ws_url(room), Some("roomcast.v1")).await
    }

    /// A seed-format client (no subprotocol).
    pub async fn seed(&self, room: Option<&str>) -> Client {
        Client::connect(&self.ws_url(room), None).await
    }
}

/// A real WebSocket client.
pub struct Client {
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pub protocol: Option<String>,
    next_ref: u64,
}

impl Client {
    pub async fn connect(url: &str, protocol: Option<&str>) -> Client {
        let mut request = url.into_client_request().unwrap();
        if let Some(p) = protocol {
            request
                .headers_mut()
                .insert("Sec-WebSocket-Protocol", HeaderValue::from_str(p).unwrap());
        }
        let (ws, response) = tokio_tungstenite::connect_async(request)
            .await
            .expect("connects");
        let protocol = response
            .headers()
            .get("Sec-WebSocket-Protocol")
            .map(|v| v.to_str().unwrap().to_owned());
        Client {
            ws,
            protocol,
            next_ref: 0,
        }
    }

    pub async fn send(&mut self, v: Value) {
        self.send_text(&v.to_string()).await;
    }

    pub async fn send_text(&mut self, text: &str) {
        self.ws.send(Message::text(text)).await.expect("send");
    }

    /// The next text frame as JSON.
    pub async fn recv(&mut self) -> Value {
        loop {
            let msg = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("a frame in time")
                .expect("socket open")
                .expect("no socket error");
            match msg {
                Message::Text(t) => return serde_json::from_str(t.as_str()).expect("JSON frame"),
                Message::Close(c) => panic!("closed: {c:?}"),
                _ => continue,
            }
        }
    }

    /// The next frame of `ty`, skipping others.
    pub async fn recv_type(&mut self, ty: &str) -> Value {
        loop {
            let v = self.recv().await;
            if v["type"] == ty {
                return v;
            }
        }
    }

    /// Collect frames for `window`, returning all of them.
    pub async fn drain(&mut self, window: Duration) -> Vec<Value> {
        let mut out = vec![];
        let deadline = tokio::time::Instant::now() + window;
        while let Ok(Some(Ok(msg))) = tokio::time::timeout_at(deadline, self.ws.next()).await {
            if let Message::Text(t) = msg {
                out.push(serde_json::from_str(t.as_str()).unwrap());
            }
        }
        out
    }

    /// Send `v` with a fresh `ref` and wait for its `ack` or `error`; other frames
    /// that arrive meanwhile are returned too.
    pub async fn request(&mut self, mut v: Value) -> (Value, Vec<Value>) {
        self.next_ref += 1;
        let r = format!("r{}", self.next_ref);
        v["ref"] = json!(r);
        self.send(v).await;
        let mut others = vec![];
        loop {
            let m = self.recv().await;
            if m["ref"] == r && (m["type"] == "ack" || m["type"] == "error") {
                return (m, others);
            }
            others.push(m);
        }
    }

    /// Send `v` with a ref and expect an `ack`; returns it.
    pub async fn ok(&mut self, v: Value) -> Value {
        let (answer, _) = self.request(v.clone()).await;
        assert_eq!(answer["type"], "ack", "request {v} answered {answer}");
        answer
    }

    /// This connection's id, from the `welcome` that `hello` answers with.
    pub async fn id(&mut self) -> String {
        let (_, frames) = self.request(json!({"action":"hello"})).await;
        let welcome = frames
            .iter()
            .rfind(|f| f["type"] == "welcome")
            .expect("hello answers a welcome");
        welcome["id"].as_str().unwrap().to_owned()
    }

    /// The close frame the server sends next (skipping text frames).
    pub async fn closed(&mut self) -> Option<(u16, String)> {
        loop {
            match tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("closed in time")
            {
                Some(Ok(Message::Close(frame))) => {
                    return frame.map(|f| (u16::from(f.code), f.reason.to_string()));
                }
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return None,
            }
        }
    }
}

/// Poll `/metrics` until `name` is at least `min`.
pub async fn metric(gw: &Gateway, name: &str) -> f64 {
    let body = http_get(gw, "/metrics").await;
    body.lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// A minimal HTTP GET over a raw socket (no HTTP client dependency needed).
pub async fn http_get(gw: &Gateway, path: &str) -> String {
    http(gw, "GET", path, &[], "").await.1
}

/// A minimal HTTP/1.1 request; returns (status, body).
pub async fn http(
    gw: &Gateway,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    http_at(gw.port, method, path, headers, body).await
}

/// [`http`] to any server on 127.0.0.1 (e.g. the binary run as a process).
pub async fn http_at(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Length: {}\r\nContent-Type: application/json\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.unwrap();
    let text = String::from_utf8_lossy(&buf).to_string();
    let status = text[9..12].parse().unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    (
        status,
        if chunked {
            decode_chunked(body)
        } else {
            body.to_owned()
        },
    )
}

fn decode_chunked(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).expect("chunk size");
        if n == 0 {
            break;
        }
        out.push_str(&tail[..n]);
        rest = &tail[n + 2..];
    }
    out
}

/// Try a `roomcast.v1` handshake (with an optional `Authorization` header): the open
/// connection, or the HTTP status and body of a refused upgrade.
pub async fn try_connect(
    url: &str,
    authorization: Option<&str>,
) -> Result<
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    (u16, String),
> {
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static("roomcast.v1"),
    );
    if let Some(a) = authorization {
        request
            .headers_mut()
            .insert("Authorization", HeaderValue::from_str(a).unwrap());
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((ws, _)) => Ok(ws),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            let body = response
                .body()
                .as_deref()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default();
            Err((response.status().as_u16(), body))
        }
        Err(e) => panic!("handshake failed without an HTTP answer: {e}"),
    }
}

/// `now + in_secs` as a JWT `exp`.
pub fn exp(in_secs: i64) -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
        + in_secs
}

/// An HS256 token for `claims`.
pub fn hs(claims: Value, secret: &str) -> String {
    use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
    encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}
