//! Abuse limits of the local gateway, through the real server and real WebSocket
//! clients: the per-connection message rate (`rate_limited`, then close 1008), rooms
//! per connection (`room_limit`), the emit size, connects per second per IP, and the
//! API key on `@connections`. docs/security.md describes each.

use std::collections::HashSet;

use futures::{SinkExt, StreamExt};
use roomcast_testkit::{TestGateway, WAIT, http};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

#[tokio::test]
async fn a_flood_is_answered_rate_limited_and_a_sustained_one_is_closed_with_1008() {
    // 1 message a second, bursts of 3, 4 refusals before the close: the whole flood
    // below is sent in far less than the seconds its debt takes to drain.
    let gw = TestGateway::start(&[
        "--message-rate",
        "1",
        "--message-burst",
        "3",
        "--message-strikes",
        "4",
    ])
    .await;
    let mut flooder = gw.v1(Some("alpha")).await;
    let mut bystander = gw.v1(Some("alpha")).await;
    // One frame at a time, each answer awaited, until the server closes.
    let (mut acks, mut limited, mut close) = (0, 0, None);
    for i in 0..20 {
        let r = format!("f{i}");
        let frame = json!({"action":"emit","room":"alpha","event":"spam","data":i,"ref":r});
        if flooder
            .ws
            .send(Message::text(frame.to_string()))
            .await
            .is_err()
        {
            break;
        }
        let answer = loop {
            let msg = tokio::time::timeout(WAIT, flooder.ws.next())
                .await
                .expect("an answer in time");
            match msg {
                Some(Ok(Message::Text(t))) => {
                    let v: Value = serde_json::from_str(t.as_str()).unwrap();
                    if v["ref"] == r.as_str() {
                        break Some(v);
                    }
                }
                Some(Ok(Message::Close(frame))) => {
                    close = frame.map(|f| (u16::from(f.code), f.reason.to_string()));
                    break None;
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => break None,
            }
        };
        let Some(v) = answer else { break };
        match v["type"].as_str() {
            Some("ack") => {
                assert_eq!(limited, 0, "an ack after a refusal: {v}");
                acks += 1;
            }
            Some("error") => {
                assert_eq!(v["code"], "rate_limited", "{v}");
                assert!(v["message"].as_str().unwrap().contains("retry in"), "{v}");
                limited += 1;
            }
            _ => panic!("unexpected answer {v}"),
        }
    }
    assert_eq!(
        close,
        Some((1008, "message rate exceeded".to_owned())),
        "a sustained flood is closed as a policy violation"
    );
    // The burst of 3 got through (one more if a second passed), then 4 refusals
    // (one fewer if the debt drained meanwhile), then the close.
    assert!((3..=4).contains(&acks), "{acks} acks");
    assert!((3..=4).contains(&limited), "{limited} refusals");

    // Only the admitted events reached the room, and the bystander is unaffected.
    let seen: Vec<Value> = bystander
        .drain(std::time::Duration::from_millis(300))
        .await
        .into_iter()
        .filter(|m| m["type"] == "event")
        .collect();
    assert_eq!(seen.len(), acks, "{seen:?}");
    bystander
        .ok(json!({"action":"emit","room":"alpha","event":"calm","data":null}))
        .await;
    gw.stop().await;
}

#[tokio::test]
async fn message_rate_zero_turns_the_limit_off() {
    let gw = TestGateway::start(&["--message-rate", "0", "--message-burst", "1"]).await;
    let mut c = gw.v1(Some("alpha")).await;
    for _ in 0..50 {
        c.send(json!({"action":"getState","room":"alpha"})).await;
    }
    for _ in 0..50 {
        assert_eq!(c.recv_type("state").await["room"], "alpha");
    }
    gw.stop().await;
}

#[tokio::test]
async fn a_join_beyond_max_rooms_is_refused_and_stores_nothing() {
    let gw = TestGateway::start(&["--max-rooms", "2"]).await;
    // The connect room is the first of the two.
    let mut ada = gw.v1(Some("alpha")).await;
    let mut gamma = gw.v1(Some("gamma")).await;
    assert_eq!(gamma.recv_type("presence").await["members"], 1);
    ada.ok(json!({"action":"join","room":"beta"})).await;

    let (reply, _) = ada.request(json!({"action":"join","room":"gamma"})).await;
    assert_eq!(reply["type"], "error");
    assert_eq!(reply["code"], "room_limit");
    assert!(reply["ref"].is_string());
    assert!(
        reply["message"]
            .as_str()
            .unwrap()
            .contains("at most 2 rooms")
    );
    // Nothing stored: gamma heard no presence and ada gets none of its traffic.
    gamma
        .ok(json!({"action":"emit","room":"gamma","event":"hi","data":null}))
        .await;
    let heard = gamma.drain(std::time::Duration::from_millis(200)).await;
    assert!(heard.iter().all(|m| m["type"] != "presence"), "{heard:?}");
    let ada_heard = ada.drain(std::time::Duration::from_millis(200)).await;
    assert!(
        ada_heard.iter().all(|m| m["room"] != "gamma"),
        "{ada_heard:?}"
    );

    // Joining a room it is in again is not refused; leaving makes room.
    ada.ok(json!({"action":"join","room":"beta"})).await;
    ada.ok(json!({"action":"leave","room":"alpha"})).await;
    ada.ok(json!({"action":"join","room":"gamma"})).await;
    assert_eq!(gamma.recv_type("presence").await["members"], 2);
    gw.stop().await;
}

#[tokio::test]
async fn max_emit_bytes_bounds_emit_and_publish_data() {
    let gw = TestGateway::start(&["--max-emit-bytes", "100"]).await;
    let mut c = gw.v1(Some("alpha")).await;
    let fits = "x".repeat(98); // 100 bytes with its quotes
    c.ok(json!({"action":"emit","room":"alpha","event":"ok","data":fits}))
        .await;
    let (reply, _) = c
        .request(json!({"action":"emit","room":"alpha","event":"big","data":"x".repeat(99)}))
        .await;
    assert_eq!(reply["code"], "payload_too_large", "{reply}");
    assert!(reply["message"].as_str().unwrap().contains("at most 100"));

    let body = json!({"event":"big","data":"x".repeat(99)}).to_string();
    let (status, answer) = http(&gw, "POST", "/rooms/alpha/emit", &[], &body).await;
    assert_eq!(status, 413, "{answer}");
    assert!(answer.contains("payload_too_large"), "{answer}");
    let body = json!({"event":"ok","data":"x".repeat(98)}).to_string();
    let (status, answer) = http(&gw, "POST", "/rooms/alpha/emit", &[], &body).await;
    assert_eq!(status, 202, "{answer}");
    gw.stop().await;
}

#[test]
fn max_emit_bytes_cannot_exceed_what_fits_a_post() {
    let too_big = roomcast_gateway::Config::from_args(["--max-emit-bytes", "65537"]);
    assert!(too_big.is_err());
    let zero = roomcast_gateway::Config::from_args(["--max-rooms", "0"]);
    assert!(zero.is_err());
    let defaults = roomcast_gateway::Config::from_args(Vec::<String>::new()).unwrap();
    assert_eq!(defaults.max_emit_bytes, 65536);
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A v1 handshake from `source` (any 127.x address on loopback).
async fn connect_from(gw: &TestGateway, source: &str) -> Result<Ws, (u16, String)> {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket
        .bind(format!("{source}:0").parse().unwrap())
        .expect("bind the source address");
    let stream = socket
        .connect(format!("127.0.0.1:{}", gw.port).parse().unwrap())
        .await
        .expect("tcp connect");
    let mut request = gw.ws_url(Some("alpha")).into_client_request().unwrap();
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static("roomcast.v1"),
    );
    match tokio_tungstenite::client_async(request, tokio_tungstenite::MaybeTlsStream::Plain(stream))
        .await
    {
        Ok((ws, _)) => Ok(ws),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => Err((
            response.status().as_u16(),
            response
                .body()
                .as_deref()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default(),
        )),
        Err(e) => panic!("handshake failed without an HTTP answer: {e}"),
    }
}

#[tokio::test]
async fn connects_per_second_per_ip_refuse_one_address_and_not_the_others() {
    let gw = TestGateway::start(&[
        "--connects-per-second-per-ip",
        "2",
        "--connects-per-second",
        "1000",
    ])
    .await;
    let mut open = vec![];
    let mut refused = vec![];
    for _ in 0..10 {
        match connect_from(&gw, "127.0.0.1").await {
            Ok(c) => open.push(c),
            Err(r) => refused.push(r),
        }
    }
    assert!(!refused.is_empty(), "none of 10 rapid connects was refused");
    assert!(
        open.len() <= 6,
        "{} of 10 rapid connects admitted at 2/s",
        open.len()
    );
    for (status, body) in &refused {
        assert_eq!(*status, 429, "{body}");
        let body: Value = serde_json::from_str(body).unwrap();
        assert_eq!(body["code"], "rate_limited");
        assert!(body["message"].as_str().unwrap().contains("your address"));
    }
    // Another address connects at once, twice: its own quota is untouched.
    for _ in 0..2 {
        let mut other = connect_from(&gw, "127.0.0.2")
            .await
            .expect("another address is not limited");
        other
            .send(Message::text(
                r#"{"action":"getState","room":"alpha","ref":1}"#,
            ))
            .await
            .unwrap();
        loop {
            let msg = tokio::time::timeout(WAIT, other.next()).await.unwrap();
            let Some(Ok(Message::Text(t))) = msg else {
                panic!("no answer: {msg:?}")
            };
            if t.as_str().contains(r#""type":"ack""#) {
                break;
            }
        }
        open.push(other);
    }
    gw.stop().await;
}

#[tokio::test]
async fn the_api_key_guards_connections_as_it_guards_publish() {
    let gw = TestGateway::start(&["--api-key", "k3y-for-servers"]).await;
    let mut c = gw.v1(Some("alpha")).await;
    let id = c.id().await;
    let path = format!("/dev/@connections/{id}");
    let frame = r#"{"type":"event","room":"alpha","event":"hello","data":1,"from":null}"#;
    for (method, headers) in [
        ("POST", vec![]),
        ("POST", vec![("x-api-key", "guess")]),
        ("GET", vec![]),
        ("DELETE", vec![("x-api-key", "k3y-for-server")]),
    ] {
        let (status, body) = http(&gw, method, &path, &headers, frame).await;
        assert_eq!(status, 403, "{method} {headers:?}: {body}");
        assert!(body.contains("x-api-key"), "{body}");
    }
    let (status, body) = http(&gw, "POST", "/rooms/alpha/emit", &[], r#"{"event":"x"}"#).await;
    assert_eq!(status, 401, "{body}");

    let key = [("x-api-key", "k3y-for-servers")];
    let (status, body) = http(&gw, "POST", &path, &key, frame).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(c.recv_type("event").await["event"], "hello");
    let (status, body) = http(&gw, "GET", &path, &key, "").await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = http(&gw, "DELETE", &path, &key, "").await;
    assert_eq!(status, 204);
    assert_eq!(c.closed().await.map(|c| c.0), Some(1000));
    gw.stop().await;
}

#[tokio::test]
async fn connection_ids_are_distinct_and_random_through_the_real_server() {
    let gw = TestGateway::start(&[]).await;
    let mut ids = HashSet::new();
    for i in 0..40 {
        let room = format!("r{i}");
        let mut c = gw.v1(Some(&room)).await;
        let id = c.id().await;
        assert_eq!(id.len(), 27, "{id}");
        assert!(id.bytes().all(|b| b.is_ascii_alphanumeric()), "{id}");
        assert!(ids.insert(id), "an id repeated");
    }
    // Ids minted within the same second share only the KSUID's timestamp: no two
    // share more than a short prefix of their random payload.
    let ids: Vec<String> = ids.into_iter().collect();
    for a in &ids {
        for b in &ids {
            if a != b {
                let common = a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
                assert!(common < 12, "{a} and {b} share {common} leading characters");
            }
        }
    }
    gw.stop().await;
}
