//! Planetstack's own client: no subprotocol, planetstack action names, no `room` — it gets
//! full state objects after every change, as planetstack's client expects.

use roomcast_testkit::TestGateway;
use serde_json::json;

#[tokio::test]
async fn a_planetstack_client_gets_full_state_objects() {
    let gw = TestGateway::start(&[]).await;
    let mut planetstack = gw.planetstack(Some("alpha")).await;
    assert_eq!(
        planetstack.protocol, None,
        "no subprotocol is echoed to a planetstack client"
    );
    let mut v1 = gw.v1(Some("alpha")).await;

    planetstack.send(json!({"action":"getState"})).await;
    assert_eq!(planetstack.recv().await, json!({"bg":0,"icons":{}}));

    planetstack
        .send(json!({"action":"addIcon","icon":{"img":5,"x":100,"y":200}}))
        .await;
    let state = planetstack.recv().await;
    let icons = state["icons"].as_object().unwrap();
    assert_eq!(icons.len(), 1);
    let (id, icon) = icons.iter().next().unwrap();
    assert_eq!(icon, &json!({"img":5,"x":100,"y":200}));
    // The v1 client in the same room sees the same change as a patch.
    let patch = v1.recv_type("patch").await;
    assert_eq!(patch["op"]["addIcon"]["id"], id.as_str());

    v1.ok(json!({"action":"changeBackground","room":"alpha","bg":7}))
        .await;
    assert_eq!(planetstack.recv().await["bg"], 7);

    planetstack
        .send(json!({"action":"moveIcon","icon":{"id":id,"img":5,"x":1,"y":2}}))
        .await;
    assert_eq!(
        planetstack.recv().await,
        json!({"bg":7,"icons":{id.as_str():{"img":5,"x":1,"y":2}}})
    );
    planetstack
        .send(json!({"action":"deleteIcon","id":id}))
        .await;
    assert_eq!(planetstack.recv().await, json!({"bg":7,"icons":{}}));

    // Events and presence are not part of the planetstack protocol: nothing arrives.
    v1.ok(json!({"action":"emit","room":"alpha","event":"chat","data":1}))
        .await;
    let _second = gw.v1(Some("alpha")).await;
    planetstack.send(json!({"action":"frobnicate"})).await;
    let err = planetstack.recv().await;
    assert!(
        err["message"].as_str().unwrap().contains("unknown action"),
        "{err}"
    );
    assert!(
        err.get("type").is_none() && err.get("code").is_none(),
        "{err}"
    );
    gw.stop().await;
}

#[tokio::test]
async fn a_planetstack_client_without_a_room_plays_in_default() {
    let gw = TestGateway::start(&[]).await;
    let mut planetstack = gw.planetstack(None).await;
    let mut watcher = gw.v1(Some("default")).await;
    planetstack
        .send(json!({"action":"changeBackground","bg":2}))
        .await;
    assert_eq!(planetstack.recv().await["bg"], 2);
    let patch = watcher.recv_type("patch").await;
    assert_eq!(patch["room"], "default");
    gw.stop().await;
}
