//! Rooms: patches, isolation, multi-room, leave, emit, presence — through the real
//! server with real WebSocket clients.

use roomcast_testkit::{TestGateway, http, http_get};
use serde_json::json;
use std::time::Duration;

const QUIET: Duration = Duration::from_millis(300);

#[tokio::test]
async fn v1_clients_get_the_subprotocol_and_the_room_state_on_join() {
    let gw = TestGateway::start(&[]).await;
    let mut a = gw.v1(None).await;
    assert_eq!(a.protocol.as_deref(), Some("roomcast.v1"));
    let (ack, others) = a.request(json!({"action":"join","room":"alpha"})).await;
    assert_eq!(ack["version"], 0);
    let _ = others;
    let state = a.recv_type("state").await;
    let epoch = state["epoch"].as_str().expect("an epoch").to_owned();
    assert_eq!(
        state,
        json!({"type":"state","room":"alpha","version":0,"state":{"bg":0,"icons":{}},
               "offset":0,"epoch":epoch})
    );
    gw.stop().await;
}

#[tokio::test]
async fn two_clients_in_a_room_see_each_others_changes_as_consecutive_patches() {
    let gw = TestGateway::start(&[]).await;
    let mut a = gw.v1(Some("alpha")).await;
    let mut b = gw.v1(Some("alpha")).await;
    let mut c = gw.v1(Some("beta")).await;

    let ack = a
        .ok(json!({"action":"addIcon","room":"alpha","icon":{"img":3,"x":400,"y":400}}))
        .await;
    assert_eq!(ack["version"], 1);
    let p1 = b.recv_type("patch").await;
    assert_eq!(p1["room"], "alpha");
    assert_eq!(p1["version"], 1);
    let added = &p1["op"]["addIcon"];
    assert_eq!(
        (added["img"].clone(), added["x"].clone(), added["y"].clone()),
        (json!(3), json!(400), json!(400))
    );
    let id = added["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("icon") && id.len() == 31, "{id}");
    // The sender hears its own patch too.
    assert_eq!(a.recv_type("patch").await["version"], 1);

    b.ok(json!({"action":"moveIcon","room":"alpha","icon":{"id":id,"img":3,"x":10.4,"y":20}}))
        .await;
    b.ok(json!({"action":"changeBackground","room":"alpha","bg":4}))
        .await;
    b.ok(json!({"action":"deleteIcon","room":"alpha","id":id}))
        .await;
    let p2 = a.recv_type("patch").await;
    assert_eq!(p2["version"], 2);
    assert_eq!(
        p2["op"],
        json!({"moveIcon":{"id":id,"img":3,"x":10,"y":20}})
    );
    let p3 = a.recv_type("patch").await;
    assert_eq!(
        (p3["version"].clone(), p3["op"].clone()),
        (json!(3), json!({"changeBackground":{"bg":4}}))
    );
    let p4 = a.recv_type("patch").await;
    assert_eq!(
        (p4["version"].clone(), p4["op"].clone()),
        (json!(4), json!({"deleteIcon":{"id":id}}))
    );

    // beta heard nothing of alpha.
    let heard = c.drain(QUIET).await;
    assert!(
        heard.iter().all(|m| m["room"] != "alpha"),
        "beta heard alpha: {heard:?}"
    );

    a.send(json!({"action":"getState","room":"alpha"})).await;
    let state = a.recv_type("state").await;
    assert_eq!(state["version"], 4);
    assert_eq!(state["state"], json!({"bg":4,"icons":{}}));
    gw.stop().await;
}

#[tokio::test]
async fn a_connection_in_two_rooms_hears_both_and_nothing_after_leave() {
    let gw = TestGateway::start(&[]).await;
    let mut both = gw.v1(Some("alpha")).await;
    both.ok(json!({"action":"join","room":"beta"})).await;
    let mut a = gw.v1(Some("alpha")).await;
    let mut b = gw.v1(Some("beta")).await;

    a.ok(json!({"action":"changeBackground","room":"alpha","bg":1}))
        .await;
    b.ok(json!({"action":"changeBackground","room":"beta","bg":2}))
        .await;
    let mut rooms = vec![
        both.recv_type("patch").await["room"]
            .as_str()
            .unwrap()
            .to_owned(),
        both.recv_type("patch").await["room"]
            .as_str()
            .unwrap()
            .to_owned(),
    ];
    rooms.sort();
    assert_eq!(rooms, ["alpha", "beta"]);

    both.ok(json!({"action":"leave","room":"alpha"})).await;
    a.ok(json!({"action":"changeBackground","room":"alpha","bg":3}))
        .await;
    b.ok(json!({"action":"changeBackground","room":"beta","bg":5}))
        .await;
    let heard: Vec<_> = both
        .drain(QUIET)
        .await
        .into_iter()
        .filter(|m| m["type"] == "patch")
        .collect();
    assert_eq!(heard.len(), 1, "{heard:?}");
    assert_eq!(heard[0]["room"], "beta");
    gw.stop().await;
}

#[tokio::test]
async fn emit_reaches_the_others_and_the_sender_only_when_asked() {
    let gw = TestGateway::start(&[]).await;
    let mut a = gw.v1(Some("alpha")).await;
    let mut b = gw.v1(Some("alpha")).await;
    let mut outsider = gw.v1(Some("beta")).await;
    let a_id = a.id().await;

    a.ok(json!({"action":"emit","room":"alpha","event":"chat","data":{"text":"hi"}}))
        .await;
    let ev = b.recv_type("event").await;
    let ev = if ev["event"] == "whoami" {
        b.recv_type("event").await
    } else {
        ev
    };
    let epoch = ev["epoch"].as_str().expect("an epoch").to_owned();
    assert_eq!(
        ev,
        json!({"type":"event","room":"alpha","event":"chat","data":{"text":"hi"},"from":a_id,
               "offset":1,"epoch":epoch})
    );
    let self_heard: Vec<_> = a
        .drain(QUIET)
        .await
        .into_iter()
        .filter(|m| m["type"] == "event")
        .collect();
    assert!(
        self_heard.is_empty(),
        "sender heard its own emit: {self_heard:?}"
    );

    a.ok(json!({"action":"emit","room":"alpha","event":"chat","data":[1,2],"except_sender":false}))
        .await;
    assert_eq!(a.recv_type("event").await["data"], json!([1, 2]));
    assert_eq!(b.recv_type("event").await["data"], json!([1, 2]));
    let outside: Vec<_> = outsider
        .drain(QUIET)
        .await
        .into_iter()
        .filter(|m| m["type"] == "event")
        .collect();
    assert!(outside.is_empty(), "{outside:?}");
    gw.stop().await;
}

#[tokio::test]
async fn presence_counts_follow_join_leave_and_disconnect() {
    let gw = TestGateway::start(&[]).await;
    let mut a = gw.v1(Some("alpha")).await;
    assert_eq!(a.recv_type("presence").await["members"], 1);
    let mut b = gw.v1(None).await;
    b.ok(json!({"action":"join","room":"alpha"})).await;
    let p = a.recv_type("presence").await;
    assert_eq!(
        (p["room"].clone(), p["members"].clone()),
        (json!("alpha"), json!(2))
    );
    b.ok(json!({"action":"leave","room":"alpha"})).await;
    assert_eq!(a.recv_type("presence").await["members"], 1);
    b.ok(json!({"action":"join","room":"alpha"})).await;
    assert_eq!(a.recv_type("presence").await["members"], 2);
    b.ws.close(None).await.unwrap();
    drop(b);
    assert_eq!(a.recv_type("presence").await["members"], 1);

    a.send(json!({"action":"listRooms"})).await;
    let rooms = a.recv_type("rooms").await;
    assert_eq!(
        rooms["rooms"],
        json!([{"room":"alpha","members":1,"users":1}])
    );
    gw.stop().await;
}

#[tokio::test]
async fn server_side_publish_reaches_the_room_only() {
    let gw = TestGateway::start(&["--api-key", "sekret"]).await;
    let mut a = gw.v1(Some("alpha")).await;
    let mut other = gw.v1(Some("beta")).await;
    let body = r#"{"event":"news","data":{"n":1}}"#;
    let (status, _) = http(&gw, "POST", "/rooms/alpha/emit", &[], body).await;
    assert_eq!(status, 401, "publish without the key is refused");
    let (status, reply) = http(
        &gw,
        "POST",
        "/rooms/alpha/emit",
        &[("x-api-key", "sekret")],
        body,
    )
    .await;
    assert_eq!(status, 202, "{reply}");
    let ev = a.recv_type("event").await;
    let epoch = ev["epoch"].as_str().expect("an epoch").to_owned();
    assert_eq!(
        ev,
        json!({"type":"event","room":"alpha","event":"news","data":{"n":1},"from":null,
               "offset":1,"epoch":epoch})
    );
    let accepted: serde_json::Value = serde_json::from_str(&reply).unwrap();
    assert_eq!(
        (&accepted["offset"], &accepted["epoch"]),
        (&ev["offset"], &ev["epoch"]),
        "the publish answer says where the event stands"
    );
    assert!(
        other
            .drain(QUIET)
            .await
            .iter()
            .all(|m| m["type"] != "event")
    );

    let (status, reply) = http(
        &gw,
        "POST",
        "/rooms/bad%20room/emit",
        &[("x-api-key", "sekret")],
        body,
    )
    .await;
    assert_eq!(status, 400);
    assert!(reply.contains("invalid_room"), "{reply}");
    let (status, reply) = http(
        &gw,
        "POST",
        "/rooms/alpha/emit",
        &[("x-api-key", "sekret")],
        "{\"event\":",
    )
    .await;
    assert_eq!(status, 400);
    assert!(reply.contains("invalid_json"), "{reply}");
    gw.stop().await;
}

#[tokio::test]
async fn ops_endpoints_answer() {
    let gw = TestGateway::start(&[]).await;
    let mut a = gw.v1(Some("alpha")).await;
    // Its own count at connect, then the room's coalesced broadcast: a fan-out job ran.
    assert_eq!(a.recv_type("presence").await["members"], 1);
    assert_eq!(a.recv_type("presence").await["members"], 1);
    let health: serde_json::Value = serde_json::from_str(&http_get(&gw, "/healthz").await).unwrap();
    assert_eq!(health["status"], "ok");
    let config: serde_json::Value =
        serde_json::from_str(&http_get(&gw, "/config.json").await).unwrap();
    assert_eq!(
        config["socketUrl"],
        format!("ws://127.0.0.1:{}/dev", gw.port)
    );
    let metrics = http_get(&gw, "/metrics").await;
    for name in [
        "roomcast_connections 1",
        "roomcast_rooms 1",
        "roomcast_delivery_latency_seconds_bucket",
        "roomcast_posts_total",
        "roomcast_fanout_jobs_total",
    ] {
        assert!(metrics.contains(name), "missing {name} in\n{metrics}");
    }
    let page = http_get(&gw, "/").await;
    assert!(page.contains("roomcast"), "{page}");
    gw.stop().await;
}
