//! A room larger than SHARD_SIZE is split into shard jobs and delivered completely,
//! to every member exactly once.

use roomcast_testkit::{TestGateway, metric};
use serde_json::json;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_larger_than_the_shard_size_reaches_every_member_once() {
    const MEMBERS: usize = 50;
    let gw = TestGateway::start(&[
        "--shard-size",
        "8",
        "--pool-size",
        "3",
        "--post-concurrency",
        "4",
    ])
    .await;
    let mut clients = Vec::new();
    for _ in 0..MEMBERS {
        clients.push(gw.v1(Some("big")).await);
    }
    // Wait until the last joiner's presence (50 members) has been delivered to all.
    for c in &mut clients {
        while c.recv_type("presence").await["members"] != MEMBERS {}
    }
    let shards_before = settled(&gw, "roomcast_fanout_shards_total").await;

    clients[0]
        .ok(json!({"action":"changeBackground","room":"big","bg":6}))
        .await;
    for (i, c) in clients.iter_mut().enumerate() {
        let patch = c.recv_type("patch").await;
        assert_eq!(
            (patch["version"].clone(), patch["op"].clone()),
            (json!(1), json!({"changeBackground":{"bg":6}})),
            "client {i}"
        );
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    for (i, c) in clients.iter_mut().enumerate() {
        let more: Vec<_> = c
            .drain(Duration::from_millis(5))
            .await
            .into_iter()
            .filter(|m| m["type"] == "patch")
            .collect();
        assert!(more.is_empty(), "client {i} got the patch twice: {more:?}");
    }
    let shards = settled(&gw, "roomcast_fanout_shards_total").await - shards_before;
    assert_eq!(shards, 7.0, "50 members / 8 per shard = 7 shard jobs");
    let delivered = metric(&gw, "roomcast_posts_total{outcome=\"delivered\"}").await;
    assert!(delivered >= MEMBERS as f64, "{delivered}");
    gw.stop().await;
}

/// The metric once it stopped moving (earlier presence jobs may still be planning).
async fn settled(gw: &TestGateway, name: &str) -> f64 {
    let mut last = metric(gw, name).await;
    loop {
        tokio::time::sleep(Duration::from_millis(150)).await;
        let now = metric(gw, name).await;
        if now == last {
            return now;
        }
        last = now;
    }
}
