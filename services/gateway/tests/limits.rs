//! API Gateway's connection limits, enforced locally: idle timeout, maximum lifetime,
//! `$connect` validation and the new-connections-per-second quota — through the real
//! server with real WebSocket clients.

use futures::{SinkExt, StreamExt};
use roomcast_testkit::{TestGateway, try_connect};
use serde_json::json;
use std::time::Duration;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn a_silent_client_is_closed_after_the_idle_timeout_an_active_one_is_not() {
    let gw = TestGateway::start(&["--idle-timeout", "1s"]).await;
    let mut silent = gw.v1(Some("alpha")).await;
    let mut active = gw.v1(Some("alpha")).await;
    let start = Instant::now();
    let watcher = tokio::spawn(async move {
        let close = silent.closed().await;
        (close, start.elapsed())
    });

    // The active client sends something every 300 ms for well past the timeout.
    while start.elapsed() < Duration::from_millis(1800) {
        active.send(json!({"action":"listRooms"})).await;
        active.recv_type("rooms").await;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let ack = active
        .ok(json!({"action":"changeBackground","room":"alpha","bg":1}))
        .await;
    assert_eq!(ack["version"], 1, "the active client is still served");

    let (close, elapsed) = watcher.await.unwrap();
    let (code, reason) = close.expect("a close frame");
    assert_eq!(code, 1001, "{reason}");
    assert!(reason.contains("idle"), "{reason}");
    assert!(
        elapsed >= Duration::from_millis(900) && elapsed < Duration::from_secs(4),
        "closed after {elapsed:?}"
    );
    gw.stop().await;
}

#[tokio::test]
async fn the_maximum_lifetime_closes_even_an_active_client() {
    let gw = TestGateway::start(&["--max-lifetime", "1s"]).await;
    let mut client = gw.v1(Some("alpha")).await;
    let start = Instant::now();
    let close = loop {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "not closed after {:?}",
            start.elapsed()
        );
        // Sending may race the close; the close frame is what the test waits for.
        let _ = client
            .ws
            .send(Message::text(r#"{"action":"listRooms"}"#))
            .await;
        let deadline = Instant::now() + Duration::from_millis(200);
        let mut closed = None;
        while let Ok(Some(msg)) = tokio::time::timeout_at(deadline, client.ws.next()).await {
            match msg {
                Ok(Message::Close(frame)) => {
                    closed = Some(frame.map(|f| (u16::from(f.code), f.reason.to_string())));
                    break;
                }
                Ok(_) => {}
                Err(e) => panic!("socket error before a close frame: {e}"),
            }
        }
        if let Some(close) = closed {
            break close;
        }
    };
    let elapsed = start.elapsed();
    let (code, reason) = close.expect("a close frame with a code");
    assert_eq!(code, 1001, "{reason}");
    assert!(reason.contains("lifetime"), "{reason}");
    assert!(
        elapsed >= Duration::from_millis(800),
        "closed after {elapsed:?}"
    );
    gw.stop().await;
}

#[tokio::test]
async fn an_invalid_room_in_the_connect_url_fails_the_upgrade_with_400() {
    let gw = TestGateway::start(&[]).await;
    for room in ["bad%20room", "a%2Fb", &"x".repeat(65), ""] {
        let url = format!("ws://127.0.0.1:{}/dev?room={room}", gw.port);
        match try_connect(&url, None).await {
            Ok(_) => panic!("?room={room} was accepted"),
            Err((status, body)) => {
                assert_eq!(status, 400, "?room={room}: {body}");
                assert!(body.contains("invalid_room"), "?room={room}: {body}");
            }
        }
    }
    // A valid room still connects.
    let mut ok = gw.v1(Some("good-room_1")).await;
    assert_eq!(ok.recv_type("presence").await["room"], "good-room_1");
    gw.stop().await;
}

#[tokio::test]
async fn connects_beyond_the_per_second_quota_are_refused_with_429() {
    let gw = TestGateway::start(&["--connects-per-second", "2"]).await;
    let url = gw.ws_url(Some("alpha"));
    let mut open = vec![];
    let mut refused = vec![];
    for _ in 0..10 {
        match try_connect(&url, None).await {
            Ok(ws) => open.push(ws),
            Err((status, body)) => refused.push((status, body)),
        }
    }
    assert!(!refused.is_empty(), "none of 10 rapid connects was refused");
    assert!(!open.is_empty(), "the quota admits some connects");
    assert!(
        open.len() <= 6,
        "{} of 10 rapid connects admitted at 2/s",
        open.len()
    );
    for (status, body) in &refused {
        assert_eq!(*status, 429, "{body}");
        assert!(body.contains("rate_limited"), "{body}");
    }
    // The quota refills: after a pause a new connection is accepted.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let mut later = try_connect(&url, None)
        .await
        .expect("accepted once the quota refilled");
    later
        .send(Message::text(r#"{"action":"listRooms"}"#))
        .await
        .unwrap();
    gw.stop().await;
}
