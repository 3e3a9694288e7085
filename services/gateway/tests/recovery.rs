//! Reconnect without loss, through the real gateway: a client that dropped joins again
//! with `since` and gets exactly what its room broadcast meanwhile; the history's
//! limits (time, a restart) fall back to the state.

use roomcast_testkit::{TestGateway, WsClient};
use serde_json::{Value, json};
use std::time::Duration;

/// Where a frame stands: `(offset, epoch)`.
fn position(frame: &Value) -> (u64, String) {
    (
        frame["offset"].as_u64().expect("an offset"),
        frame["epoch"].as_str().expect("an epoch").to_owned(),
    )
}

/// A client in `room` that holds the room's position from its join's state.
async fn joined(gw: &TestGateway, room: &str) -> (WsClient, (u64, String)) {
    let mut c = gw.v1(None).await;
    let (ack, others) = c.request(json!({"action":"join","room":room})).await;
    assert_eq!(ack["type"], "ack");
    let _ = others;
    let state = c.recv_type("state").await;
    let at = position(&state);
    (c, at)
}

/// 50 events and 10 patches from `by` into `room`, interleaved; each is acknowledged,
/// so all are recorded and fanned out when this returns.
async fn broadcast_60(by: &mut WsClient, room: &str) {
    for i in 0..60 {
        let frame = if i % 6 == 5 {
            json!({"action":"changeBackground","room":room,"bg":i % 10})
        } else {
            json!({"action":"emit","room":room,"event":"chat","data":{"n":i}})
        };
        by.ok(frame).await;
    }
}

/// Join `room` with `since`: the frames up to and including the ack, and the ack.
async fn rejoin(c: &mut WsClient, room: &str, since: &(u64, String)) -> (Value, Vec<Value>) {
    c.request(json!({
        "action":"join","room":room,"since":{"offset":since.0,"epoch":since.1}
    }))
    .await
}

#[tokio::test]
async fn a_dropped_client_gets_exactly_the_60_frames_it_missed_and_no_state() {
    let gw = TestGateway::start(&[]).await;
    let (victim, at) = joined(&gw, "alpha").await;
    let (mut editor, _) = joined(&gw, "alpha").await;
    // Killed without a closing handshake: the server only sees the socket end.
    drop(victim);
    broadcast_60(&mut editor, "alpha").await;

    let mut back = gw.v1(None).await;
    let (ack, frames) = rejoin(&mut back, "alpha", &at).await;
    assert_eq!(ack["recovered"], true, "{ack}");
    let missed: Vec<&Value> = frames
        .iter()
        .filter(|f| f["type"] == "patch" || f["type"] == "event")
        .collect();
    let offsets: Vec<u64> = missed.iter().map(|f| position(f).0).collect();
    let expected: Vec<u64> = (at.0 + 1..=at.0 + 60).collect();
    let (events, patches) = (
        missed.iter().filter(|f| f["type"] == "event").count(),
        missed.iter().filter(|f| f["type"] == "patch").count(),
    );
    eprintln!(
        "recovered {} frames ({events} events, {patches} patches), offsets {}..={}, state frames {}",
        missed.len(),
        offsets.first().unwrap_or(&0),
        offsets.last().unwrap_or(&0),
        frames.iter().filter(|f| f["type"] == "state").count()
    );
    assert_eq!(
        offsets, expected,
        "exactly the missed offsets, in order, once"
    );
    assert_eq!((events, patches), (50, 10));
    assert!(missed.iter().all(|f| position(f).1 == at.1), "one epoch");
    assert!(
        frames.iter().all(|f| f["type"] != "state"),
        "no state: {frames:?}"
    );
    let n: Vec<i64> = missed
        .iter()
        .filter(|f| f["type"] == "event")
        .map(|f| f["data"]["n"].as_i64().unwrap())
        .collect();
    assert_eq!(n, (0..60).filter(|i| i % 6 != 5).collect::<Vec<_>>());
    // The presence the join owes comes after the ack; then live frames continue.
    assert_eq!(back.recv().await["type"], "presence");
    editor
        .ok(json!({"action":"emit","room":"alpha","event":"chat","data":"live"}))
        .await;
    let live = back.recv_type("event").await;
    assert_eq!(position(&live).0, at.0 + 61);
    gw.stop().await;
}

#[tokio::test]
async fn history_older_than_its_ttl_falls_back_to_the_state() {
    // HISTORY_TTL is 2 minutes by default; 1 s here stands for it.
    let gw = TestGateway::start(&["--history-ttl", "1s"]).await;
    let (victim, at) = joined(&gw, "alpha").await;
    let (mut editor, _) = joined(&gw, "alpha").await;
    drop(victim);
    broadcast_60(&mut editor, "alpha").await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;

    let mut back = gw.v1(None).await;
    let (ack, _) = rejoin(&mut back, "alpha", &at).await;
    assert_eq!(ack["recovered"], false, "{ack}");
    assert_eq!(ack["version"], 10);
    let state = back.recv().await;
    assert_eq!(state["type"], "state", "the state follows the ack");
    assert_eq!(
        position(&state),
        (at.0 + 60, at.1.clone()),
        "current to the last entry"
    );
    gw.stop().await;
}

#[tokio::test]
async fn history_keeps_only_its_size() {
    let gw = TestGateway::start(&["--history-size", "20"]).await;
    let (victim, at) = joined(&gw, "alpha").await;
    let (mut editor, _) = joined(&gw, "alpha").await;
    drop(victim);
    broadcast_60(&mut editor, "alpha").await;
    let mut back = gw.v1(None).await;
    let (ack, _) = rejoin(&mut back, "alpha", &at).await;
    assert_eq!(ack["recovered"], false, "60 missed, 20 kept");
    let (ack, frames) = rejoin(&mut back, "alpha", &(at.0 + 40, at.1.clone())).await;
    assert_eq!(ack["recovered"], true, "the last 20 are kept");
    let recovered = frames
        .iter()
        .filter(|f| f["type"] == "patch" || f["type"] == "event");
    assert_eq!(recovered.count(), 20);
    gw.stop().await;
}

#[tokio::test]
async fn a_restarted_gateway_has_a_new_epoch_and_answers_old_positions_with_the_state() {
    let dir = tempfile::tempdir().unwrap();
    let gw = TestGateway::start_in(dir.path(), 0, &[]).await;
    let (mut a, _) = joined(&gw, "alpha").await;
    a.ok(json!({"action":"changeBackground","room":"alpha","bg":3}))
        .await;
    let patch = a.recv_type("patch").await;
    let held = position(&patch);
    let port = gw.port;
    gw.stop().await;

    let gw = TestGateway::start_in(dir.path(), port, &[]).await;
    let mut back = gw.v1(None).await;
    let (ack, _) = rejoin(&mut back, "alpha", &held).await;
    assert_eq!(ack["recovered"], false, "the history died with the process");
    let state = back.recv_type("state").await;
    assert_eq!(state["version"], 1, "the state survived on disk");
    assert_eq!(state["state"]["bg"], 3);
    assert_ne!(position(&state).1, held.1, "a new epoch");
    gw.stop().await;
}

#[tokio::test]
async fn a_join_without_since_and_planetstack_clients_are_answered_as_before() {
    let gw = TestGateway::start(&[]).await;
    let mut v1 = gw.v1(None).await;
    let (ack, _) = v1.request(json!({"action":"join","room":"alpha"})).await;
    assert!(ack.get("recovered").is_none(), "{ack}");
    // A planetstack client never sees a welcome, an offset or a presence.
    let mut planetstack = gw.planetstack(Some("alpha")).await;
    planetstack.send(json!({"action":"getState"})).await;
    let first = planetstack.recv().await;
    assert_eq!(first, json!({"bg":0,"icons":{}}), "only the state: {first}");
    v1.ok(json!({"action":"emit","room":"alpha","event":"chat"}))
        .await;
    v1.ok(json!({"action":"changeBackground","room":"alpha","bg":2}))
        .await;
    assert_eq!(planetstack.recv().await, json!({"bg":2,"icons":{}}));
    gw.stop().await;
}
