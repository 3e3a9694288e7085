//! What the AWS home may do and the local gateway does not: live frames that overtake
//! the recovered ones, and frames delivered twice (at-least-once, parallel
//! broadcasters). A scripted server plays it; the app must still see each missed and
//! live event once, in offset order, with no state.

mod common;

use common::{WAIT, next};
use futures::{SinkExt, StreamExt};
use roomcast_sdk::{Client, Event, Reconnect, ServerMessage};
use serde_json::{Value, json};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;

const EPOCH: &str = "E1";

fn welcome(id: &str) -> Value {
    json!({"type": "welcome", "id": id, "user": format!("anonymous:{id}"),
        "limits": {"maxRooms": 10, "maxEmitBytes": 16384, "maxFrameBytes": 32768, "messageRate": 0,
            "messageBurst": 0, "historySize": 100, "historySeconds": 120}})
}

fn event(offset: u64) -> Value {
    json!({"type": "event", "room": "alpha", "event": "n", "data": offset, "from": null,
        "offset": offset, "epoch": EPOCH})
}

/// Serves two connections: the first answers the connect room's `getState` at offset
/// 2 and then drops; the second answers the re-join (which must carry `since` 2) with
/// a live frame first, the missed ones out of order and twice, the ack, and late
/// duplicates. Returns the URL and the `since` the re-join carried.
async fn scripted() -> (String, tokio::task::JoinHandle<Value>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/dev", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        let mut since = Value::Null;
        for n in 0..2 {
            let (stream, _) = listener.accept().await.unwrap();
            let mut ws = common::accept_v1(stream).await;
            let send = |v: Value| Message::text(v.to_string());
            ws.send(send(welcome(&format!("conn{n}")))).await.unwrap();
            while let Some(Ok(Message::Text(text))) = ws.next().await {
                let asked: Value = serde_json::from_str(text.as_str()).unwrap();
                let reference = asked["ref"].clone();
                if n == 0 && asked["action"] == "getState" {
                    ws.send(send(json!({"type": "ack", "ref": reference, "version": 0})))
                        .await
                        .unwrap();
                    let state = json!({"type": "state", "room": "alpha", "version": 0,
                        "state": {"bg": 0, "icons": {}}, "offset": 2, "epoch": EPOCH});
                    ws.send(send(state)).await.unwrap();
                    break; // then drop the connection without a close frame
                }
                if n == 1 && asked["action"] == "join" {
                    since = asked["since"].clone();
                    let mut frames: Vec<Value> = [5, 3, 4, 4, 5].map(event).into();
                    frames.push(json!({"type": "ack", "ref": reference, "recovered": true}));
                    frames.extend([6, 5, 3].map(event));
                    for f in frames {
                        ws.send(send(f)).await.unwrap();
                    }
                }
            }
        }
        since
    });
    (url, server)
}

#[tokio::test]
async fn overtaking_and_duplicate_frames_reach_the_app_once_in_offset_order() {
    let (url, server) = scripted().await;
    let client = Client::connect(url)
        .room("alpha")
        .reconnect(Reconnect {
            initial: Duration::from_millis(20),
            max: Duration::from_millis(100),
            max_attempts: Some(20),
        })
        .await
        .unwrap();
    let mut events = client.events();
    let mut seen = Vec::new();
    next(&mut events, "the sixth event", |e| match e {
        Event::App { data, .. } => {
            seen.push(data.get().to_owned());
            (data.get() == "6").then_some(())
        }
        Event::Message(ServerMessage::State { .. }) if !seen.is_empty() => {
            panic!("a state after recovery began: {seen:?}")
        }
        _ => None,
    })
    .await;
    // Whatever else arrives in a moment is a duplicate and must be dropped.
    let late = tokio::time::timeout(Duration::from_millis(300), async {
        while let Some(e) = events.next().await {
            if let Event::App { data, .. } = e {
                return Some(data.get().to_owned());
            }
        }
        None
    })
    .await;
    eprintln!("overtaking: sent 5,3,4,4,5 | ack | 6,5,3; the app saw {seen:?}");
    assert_eq!(seen, ["3", "4", "5", "6"]);
    assert!(
        matches!(late, Err(_) | Ok(None)),
        "a duplicate got through: {late:?}"
    );
    assert_eq!(client.position("alpha").map(|p| p.offset), Some(6));
    assert_eq!(client.id().as_str(), "conn1", "the second connection's id");
    client.close().await;
    let since = tokio::time::timeout(WAIT, server).await.unwrap().unwrap();
    assert_eq!(since, json!({"offset": 2, "epoch": EPOCH}));
}
