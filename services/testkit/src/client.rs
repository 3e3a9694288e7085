//! [`WsClient`]: a raw WebSocket client that sends and reads the wire frames as JSON.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::WAIT;

/// The WebSocket a client handshake opens.
pub type WsStream = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A raw WebSocket client: frames in and out as JSON, nothing interpreted for it.
///
/// Why raw and not the SDK: the gateway's and the AWS home's tests check the wire
/// itself (each frame, its order, the close codes, what a planetstack-format client sees),
/// which the SDK exists to hide. Every read waits at most [`WAIT`] and panics after,
/// so a frame that never comes fails the test instead of hanging it.
pub struct WsClient {
    /// The socket, for a test that reads or writes it directly.
    pub ws: WsStream,
    /// The subprotocol the server selected (`Sec-WebSocket-Protocol`), if any.
    pub protocol: Option<String>,
    next_ref: u64,
}

impl WsClient {
    /// Connect to `url`, asking for subprotocol `protocol` (`None`: the planetstack format);
    /// panics if the handshake fails.
    pub async fn connect(url: &str, protocol: Option<&str>) -> WsClient {
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
        WsClient {
            ws,
            protocol,
            next_ref: 0,
        }
    }

    /// Send `v` as a text frame.
    pub async fn send(&mut self, v: Value) {
        self.send_text(&v.to_string()).await;
    }

    /// Send `text` as it is (malformed frames included).
    pub async fn send_text(&mut self, text: &str) {
        self.ws.send(Message::text(text)).await.expect("send");
    }

    /// The next text frame as JSON (other frames skipped); panics on a close frame.
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

    /// The next frame of type `ty`, skipping others.
    pub async fn recv_type(&mut self, ty: &str) -> Value {
        loop {
            let v = self.recv().await;
            if v["type"] == ty {
                return v;
            }
        }
    }

    /// The next frame of type `ty` about `room`, skipping others.
    pub async fn recv_type_in(&mut self, room: &str, ty: &str) -> Value {
        loop {
            let m = self.recv().await;
            if m["room"] == room && m["type"] == ty {
                return m;
            }
        }
    }

    /// Every text frame that arrives within `window`: to show that something did not.
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

    /// The close frame the server sends next (skipping text frames): its code and
    /// reason, or `None` if the connection ended without one.
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

/// Try a `roomcast.v1` handshake (with an optional `Authorization` header): the open
/// connection, or the HTTP status and body of a refused upgrade. For the tests of what
/// is refused before a connection exists (auth, limits), which [`WsClient::connect`]
/// would only panic on.
pub async fn try_connect(
    url: &str,
    authorization: Option<&str>,
) -> Result<WsStream, (u16, String)> {
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
