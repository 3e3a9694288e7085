//! The HTTP publisher reaches the WebSocket clients in the room, and only them.

mod common;

use common::{SdkClients, TestGateway, app_event, next};
use roomcast_sdk::{Error, ErrorCode, Event, HttpTransport, Publisher};
use serde_json::json;

#[tokio::test]
async fn the_http_publisher_reaches_the_rooms_members_and_only_them() {
    let dir = tempfile::tempdir().unwrap();
    let gw = TestGateway::start_in(dir.path(), 0, &["--api-key", "s3cret"]).await;
    let a = gw.client("alpha").await;
    let b = gw.client("lobby").await;
    let c = gw.client("beta").await;
    let (mut a_events, mut b_events, mut c_events) = (a.events(), b.events(), c.events());
    // Joining answers after the membership is stored, so the publish cannot miss it.
    a.join("alpha").await.unwrap();
    b.join("alpha").await.unwrap();
    c.join("beta").await.unwrap();

    let publisher = Publisher::new(
        HttpTransport::new(gw.base_url())
            .unwrap()
            .api_key("s3cret")
            .unwrap(),
    );
    publisher
        .to("alpha")
        .emit("news", json!({"headline": "base attacked", "n": 1}))
        .await
        .unwrap();
    for events in [&mut a_events, &mut b_events] {
        let (data, from) = app_event(events, "alpha", "news").await;
        assert_eq!(data, json!({"headline": "base attacked", "n": 1}));
        assert_eq!(from, None, "a server-side publish has no sender");
    }

    // C, in another room, gets the marker published to its room after the news, and
    // nothing of alpha's.
    publisher.to("beta").emit("marker", json!(2)).await.unwrap();
    let before_marker = {
        let mut seen = Vec::new();
        next(&mut c_events, "the marker in beta", |e| {
            if let Event::App { event, .. } = e {
                if event.as_str() == "marker" {
                    return Some(());
                }
                seen.push(event.to_string());
            }
            None
        })
        .await;
        seen
    };
    assert!(before_marker.is_empty(), "c received {before_marker:?}");
    // Without the key, or with another one: 401 with the server's code.
    for publisher in [
        Publisher::http(gw.base_url()).unwrap(),
        Publisher::new(
            HttpTransport::new(gw.base_url())
                .unwrap()
                .api_key("guess")
                .unwrap(),
        ),
    ] {
        match publisher.to("alpha").emit("news", json!(null)).await {
            Err(Error::Rejected { status, code, .. }) => {
                assert_eq!((status, code), (401, Some(ErrorCode::Unauthorized)));
            }
            other => panic!("expected a 401, got {other:?}"),
        }
    }
    // The server's own checks come back with their code: data over 64 KiB is 413.
    let err = publisher
        .to("alpha")
        .emit("big", json!({"text": "x".repeat(70 * 1024)}))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Rejected { status: 413, .. }),
        "{err:?}"
    );
    assert_eq!(err.code(), Some(ErrorCode::PayloadTooLarge));
    // Names that break the rules are refused before any request.
    assert!(matches!(
        publisher.to("not a room").emit("news", json!(1)).await,
        Err(Error::Invalid(_))
    ));
    assert!(matches!(
        publisher.to("alpha").emit("not an event!", json!(1)).await,
        Err(Error::Invalid(_))
    ));
    assert!(matches!(
        Publisher::http("ftp://127.0.0.1"),
        Err(Error::InvalidUrl { .. })
    ));

    for client in [a, b, c] {
        client.close().await;
    }
    gw.stop().await;
}
