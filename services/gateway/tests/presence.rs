//! Coalesced presence through the real server: a burst of connects into one room is
//! announced with O(N) frames, every member ends on the exact count, and nothing
//! more follows the last change.

use futures::future::join_all;
use roomcast_testkit::{TestGateway, WsClient};
use std::time::Duration;

const N: usize = 60;

/// Read presence frames of `room` until one says `members`; how many it took.
async fn until_count(c: &mut WsClient, members: usize) -> usize {
    let mut frames = 0;
    loop {
        let p = c.recv_type("presence").await;
        frames += 1;
        if p["members"] == members {
            return frames;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_connects_costs_linear_presence_frames_and_ends_exact() {
    let gw = TestGateway::start(&["--presence-interval", "300ms"]).await;
    let connects: Vec<_> = (0..N)
        .map(|_| {
            let url = gw.ws_url(Some("crowd"));
            tokio::spawn(async move { WsClient::connect(&url, Some("roomcast.v1")).await })
        })
        .collect();
    let mut clients = Vec::new();
    for c in connects {
        clients.push(c.await.unwrap());
    }
    let mut frames = 0;
    for c in &mut clients {
        frames += until_count(c, N).await;
    }
    // The final broadcast follows the last change; whatever arrives says N.
    let later = join_all(
        clients
            .iter_mut()
            .map(|c| c.drain(Duration::from_millis(900))),
    )
    .await;
    for p in later.iter().flatten().filter(|m| m["type"] == "presence") {
        assert_eq!(p["members"], N, "{p}");
        frames += 1;
    }
    // Then nothing more: no change, no broadcast.
    let later = join_all(
        clients
            .iter_mut()
            .map(|c| c.drain(Duration::from_millis(300))),
    )
    .await;
    assert!(later.iter().all(Vec::is_empty), "{later:?}");
    println!(
        "{N} connects: {frames} presence frames, {:.2} per connect",
        frames as f64 / N as f64
    );
    // Each joiner's own count, plus a handful of room broadcasts (N² before).
    assert!(frames <= 3 * N, "{frames} presence frames for {N} connects");
    gw.stop().await;
}

#[tokio::test]
async fn a_joiner_hears_the_count_with_its_answer_and_the_room_hears_it_once() {
    let gw = TestGateway::start(&["--presence-interval", "200ms"]).await;
    let mut a = gw.v1(Some("alpha")).await;
    assert_eq!(a.recv_type("presence").await["members"], 1, "at connect");
    assert_eq!(a.recv_type("presence").await["members"], 1, "the broadcast");

    let mut b = gw.v1(None).await;
    b.ok(serde_json::json!({"action":"join","room":"alpha"}))
        .await;
    // After the ack: the state, and the count with it (before any broadcast could
    // reach b, whose room's next one is 200 ms away).
    let own = loop {
        let m = b.recv().await;
        if m["type"] == "presence" && m["room"] == "alpha" {
            break m;
        }
    };
    assert_eq!(own["members"], 2);
    assert_eq!(a.recv_type("presence").await["members"], 2);
    gw.stop().await;
}

#[test]
fn a_presence_interval_out_of_range_is_refused() {
    for bad in ["1ms", "16m", "soon"] {
        let e = roomcast_gateway::config::Config::from_args(["--presence-interval", bad])
            .expect_err(bad);
        assert!(e.to_string().contains("presence-interval"), "{e}");
    }
}
