//! A client that stops reading never slows its room: its bounded queue fills, posts to
//! it are throttled like API Gateway's LimitExceeded, and it is closed with 1013.

use roomcast_testkit::{TestGateway, metric};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_reader_is_closed_with_1013_and_the_room_keeps_flowing() {
    const EVENTS: usize = 400;
    let gw = TestGateway::start(&[
        // The sender floods on purpose; the per-connection message rate is not the subject.
        "--message-rate",
        "0",
        "--outbound-frames",
        "4",
        "--outbound-bytes",
        "262144",
        "--slow-consumer-timeout",
        "300ms",
    ])
    .await;
    let mut stalled = gw.v1(Some("alpha")).await;
    let mut reader = gw.v1(Some("alpha")).await;
    let mut sender = gw.v1(Some("alpha")).await;
    let blob = "x".repeat(30 * 1024); // one client frame is at most 32 KB

    // The reader keeps up in its own task while the sender floods the room with 60 KB
    // events; nobody reads `stalled`, so the kernel buffers and then its queue fill.
    let reading = tokio::spawn(async move {
        let (mut got, mut members) = (0, 0);
        while got < EVENTS {
            let m = reader.recv().await;
            match m["type"].as_str() {
                Some("event") if m["event"] == "blob" => got += 1,
                Some("presence") => members = m["members"].as_u64().unwrap(),
                _ => {}
            }
        }
        (got, members, reader)
    });
    for _ in 0..EVENTS {
        sender
            .ok(json!({"action":"emit","room":"alpha","event":"blob","data":blob}))
            .await;
    }
    let (got, mut members, mut reader) = reading.await.unwrap();
    assert_eq!(got, EVENTS, "the reading member got every event");

    let close = stalled.closed().await;
    assert_eq!(
        close.map(|c| c.0),
        Some(1013),
        "the stalled member is closed with 1013"
    );
    // The room hears that the stalled member is gone.
    while members != 2 {
        members = reader.recv_type("presence").await["members"]
            .as_u64()
            .unwrap();
    }
    assert!(metric(&gw, "roomcast_posts_total{outcome=\"throttled\"}").await >= 1.0);
    assert!(metric(&gw, "roomcast_gone_total").await >= 1.0);
    gw.stop().await;
}
