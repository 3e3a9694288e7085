//! The connection's id is known when `connect` returns in every home: the local
//! gateway sends the `welcome` at connect; API Gateway cannot post during `$connect`,
//! so the AWS home leads the answer to the first action with it; and a server that
//! answers without one is asked with `hello` (a server that knows no `hello` fails
//! the connect at once). Scripted servers play the last three.

mod common;

use futures::{SinkExt, StreamExt};
use roomcast_sdk::{Client, Error, ErrorCode};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

fn welcome() -> Value {
    json!({"type": "welcome", "id": "c42", "user": "ada",
        "limits": {"maxRooms": 10, "maxEmitBytes": 16384, "maxFrameBytes": 32768, "messageRate": 5,
            "messageBurst": 10, "historySize": 100, "historySeconds": 120}})
}

/// How a scripted server, which never sends the welcome at connect, gives it.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    /// Ahead of the answer to the first action (the AWS home).
    LeadFirst,
    /// Only ahead of the answer to `hello`.
    OnHello,
    /// Never: `hello` is an unknown action.
    Never,
}

/// A server that answers each action (reporting its name) and gives the welcome as
/// `mode` says.
async fn server(mode: Mode) -> (String, mpsc::UnboundedReceiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/dev", listener.local_addr().unwrap());
    let (actions, heard) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let mut ws = common::accept_v1(stream).await;
        let mut first = true;
        while let Some(Ok(Message::Text(text))) = ws.next().await {
            let asked: Value = serde_json::from_str(text.as_str()).unwrap();
            let action = asked["action"].as_str().unwrap_or_default().to_owned();
            let mut frames = Vec::new();
            let hello = action == "hello";
            if (hello && mode == Mode::OnHello) || (first && mode == Mode::LeadFirst) {
                frames.push(welcome());
            }
            first = false;
            frames.push(if hello && mode == Mode::Never {
                json!({"type": "error", "code": "unknown_action", "message": "no hello", "ref": asked["ref"]})
            } else {
                json!({"type": "ack", "ref": asked["ref"], "version": 0})
            });
            if action == "getState" {
                frames.push(json!({"type": "state", "room": asked["room"], "version": 0,
                    "state": {"bg": 0, "icons": {}}, "offset": 0, "epoch": "E1"}));
            }
            for f in frames {
                ws.send(Message::text(f.to_string())).await.unwrap();
            }
            let _ = actions.send(action);
        }
    });
    (url, heard)
}

async fn connect_and_list(mode: Mode) -> (Result<Client, Error>, Vec<String>) {
    let (url, mut heard) = server(mode).await;
    let client = Client::connect(url).room("alpha").await;
    // Every action the client sent, until the server has been quiet for a moment
    // (the server reports an action just after answering it).
    let mut actions = Vec::new();
    let quiet = std::time::Duration::from_millis(200);
    while let Ok(Some(action)) = tokio::time::timeout(quiet, heard.recv()).await {
        actions.push(action);
    }
    (client, actions)
}

#[tokio::test]
async fn a_welcome_leading_the_first_answer_needs_no_hello() {
    let (client, actions) = connect_and_list(Mode::LeadFirst).await;
    let client = client.unwrap();
    assert_eq!(client.id().as_str(), "c42");
    assert_eq!(client.user().as_str(), "ada");
    assert_eq!(client.limits().message_rate, 5);
    assert_eq!(actions, ["getState"], "no hello");
    client.close().await;
}

#[tokio::test]
async fn an_answer_without_a_welcome_is_followed_by_hello() {
    let (client, actions) = connect_and_list(Mode::OnHello).await;
    let client = client.unwrap();
    assert_eq!(client.id().as_str(), "c42");
    assert_eq!(actions, ["getState", "hello"]);
    client.close().await;
}

#[tokio::test]
async fn a_server_without_hello_fails_the_connect_at_once() {
    let started = std::time::Instant::now();
    let (client, actions) = connect_and_list(Mode::Never).await;
    match client {
        Err(e) => assert_eq!(e.code(), Some(ErrorCode::UnknownAction)),
        Ok(c) => panic!("connected without an id: {c:?}"),
    }
    assert_eq!(actions, ["getState", "hello"]);
    // Not the 10 s connect timeout (the 200 ms is the quiet wait for the actions).
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
}
