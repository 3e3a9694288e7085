//! Who a connection is, through the real server: its `welcome`, its user (the JWT
//! `sub`, else itself), presence by user in `presence`, `listMembers` and `listRooms`,
//! the `addIcon` ack's id.

use roomcast_testkit::{TestGateway, WsClient, exp, hs};
use serde_json::{Value, json};

const SECRET: &str = "identity-test-secret";

/// A v1 client of `sub` in `room`.
async fn as_user(gw: &TestGateway, room: &str, sub: &str) -> WsClient {
    let token = hs(json!({"sub": sub, "exp": exp(600)}), SECRET);
    let url = format!("{}&token={token}", gw.ws_url(Some(room)));
    WsClient::connect(&url, Some("roomcast.v1")).await
}

/// Presence frames of `c` until one says `members`.
async fn presence_at(c: &mut WsClient, members: u64) -> Value {
    loop {
        let p = c.recv_type("presence").await;
        if p["members"] == members {
            return p;
        }
    }
}

#[tokio::test]
async fn the_first_frame_is_the_welcome_with_the_id_the_others_see() {
    let gw = TestGateway::start(&["--max-rooms", "7"]).await;
    let mut a = gw.v1(Some("alpha")).await;
    let welcome = a.recv().await;
    assert_eq!(welcome["type"], "welcome", "{welcome}");
    let id = welcome["id"].as_str().unwrap().to_owned();
    assert_eq!(welcome["user"], format!("anonymous:{id}"), "its own user");
    assert_eq!(welcome["limits"]["maxRooms"], 7);
    assert_eq!(welcome["limits"]["historySize"], 100);
    assert_eq!(welcome["limits"]["historySeconds"], 120);
    assert_eq!(a.id().await, id, "hello answers the same welcome");

    let mut b = gw.v1(Some("alpha")).await;
    a.ok(json!({"action":"emit","room":"alpha","event":"hi"}))
        .await;
    assert_eq!(b.recv_type("event").await["from"], id.as_str());
    gw.stop().await;
}

#[tokio::test]
async fn the_add_icon_ack_names_the_icon_the_patch_carries() {
    let gw = TestGateway::start(&[]).await;
    let mut a = gw.v1(Some("alpha")).await;
    let ack = a
        .ok(json!({"action":"addIcon","room":"alpha","icon":{"img":2,"x":5,"y":6}}))
        .await;
    let patch = a.recv_type("patch").await;
    assert_eq!(ack["id"], patch["op"]["addIcon"]["id"], "{ack} {patch}");
    assert!(ack["id"].as_str().unwrap().starts_with("icon"));
    gw.stop().await;
}

#[tokio::test]
async fn presence_counts_one_user_once_however_many_tabs() {
    let gw = TestGateway::start(&["--jwt-secret", SECRET, "--presence-interval", "50ms"]).await;
    let mut ada_tab1 = as_user(&gw, "alpha", "ada").await;
    let ada_tab2 = as_user(&gw, "alpha", "ada").await;
    let _bob = as_user(&gw, "alpha", "bob").await;
    let welcome = ada_tab1.recv_type("welcome").await;
    assert_eq!(welcome["user"], "ada");

    let p = presence_at(&mut ada_tab1, 3).await;
    eprintln!("three connections of ada, ada, bob: {p}");
    assert_eq!(
        (p["members"].clone(), p["users"].clone()),
        (json!(3), json!(2))
    );
    drop(ada_tab2);
    let p = presence_at(&mut ada_tab1, 2).await;
    eprintln!("ada's second tab closed: {p}");
    assert_eq!(p["users"], 2, "ada is still here");

    ada_tab1
        .ok(json!({"action":"listMembers","room":"alpha"}))
        .await;
    let members = ada_tab1.recv_type("members").await;
    assert_eq!(
        members["users"],
        json!([{"user":"ada","connections":1},{"user":"bob","connections":1}])
    );
    assert!(members.get("next").is_none(), "one page");
    gw.stop().await;
}

#[tokio::test]
async fn list_rooms_counts_each_user_once_beside_the_members() {
    let gw = TestGateway::start(&["--jwt-secret", SECRET]).await;
    let mut ada_tab1 = as_user(&gw, "alpha", "ada").await;
    let mut ada_tab2 = as_user(&gw, "alpha", "ada").await;
    let mut bob = as_user(&gw, "beta", "bob").await;
    // A state answer means the connection's session, and its membership, are up.
    for (c, room) in [
        (&mut ada_tab1, "alpha"),
        (&mut ada_tab2, "alpha"),
        (&mut bob, "beta"),
    ] {
        c.send(json!({"action":"getState","room":room})).await;
        c.recv_type("state").await;
    }
    bob.ok(json!({"action":"listRooms"})).await;
    assert_eq!(
        bob.recv_type("rooms").await["rooms"],
        json!([
            {"room":"alpha","members":2,"users":1},
            {"room":"beta","members":1,"users":1},
        ])
    );
    gw.stop().await;
}

#[tokio::test]
async fn list_members_pages_through_a_room_of_many_users() {
    let gw = TestGateway::start(&["--connects-per-second-per-ip", "1000"]).await;
    let mut clients = Vec::new();
    for _ in 0..130 {
        clients.push(gw.v1(Some("crowd")).await);
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut request = json!({"action":"listMembers","room":"crowd"});
        if let Some(c) = &cursor {
            request["cursor"] = json!(c);
        }
        clients[0].ok(request).await;
        let page = clients[0].recv_type("members").await;
        pages += 1;
        for u in page["users"].as_array().unwrap() {
            assert_eq!(u["connections"], 1);
            seen.push(u["user"].as_str().unwrap().to_owned());
        }
        match page.get("next") {
            Some(next) => cursor = Some(next.as_str().unwrap().to_owned()),
            None => break,
        }
    }
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(
        (pages, seen.len(), sorted.len()),
        (2, 130, 130),
        "each user once"
    );
    let (answer, _) = clients[0]
        .request(json!({"action":"listMembers","room":"crowd","cursor":"\u{7}"}))
        .await;
    assert_eq!(answer["code"], "invalid_field", "{answer}");
    gw.stop().await;
}
