//! The seed game's own client: no subprotocol, seed action names, no `room` — it gets
//! full state objects after every change, as planetstack's client expects.

use roomcast_testkit::TestGateway;
use serde_json::json;

#[tokio::test]
async fn a_seed_client_gets_full_state_objects() {
    let gw = TestGateway::start(&[]).await;
    let mut seed = gw.seed(Some("alpha")).await;
    assert_eq!(
        seed.protocol, None,
        "no subprotocol is echoed to a seed client"
    );
    let mut v1 = gw.v1(Some("alpha")).await;

    seed.send(json!({"action":"getState"})).await;
    assert_eq!(seed.recv().await, json!({"bg":0,"icons":{}}));

    seed.send(json!({"action":"addIcon","icon":{"img":5,"x":100,"y":200}}))
        .await;
    let state = seed.recv().await;
    let icons = state["icons"].as_object().unwrap();
    assert_eq!(icons.len(), 1);
    let (id, icon) = icons.iter().next().unwrap();
    assert_eq!(icon, &json!({"img":5,"x":100,"y":200}));
    // The v1 client in the same room sees the same change as a patch.
    let patch = v1.recv_type("patch").await;
    assert_eq!(patch["op"]["addIcon"]["id"], id.as_str());

    v1.ok(json!({"action":"changeBackground","room":"alpha","bg":7}))
        .await;
    assert_eq!(seed.recv().await["bg"], 7);

    seed.send(json!({"action":"moveIcon","icon":{"id":id,"img":5,"x":1,"y":2}}))
        .await;
    assert_eq!(
        seed.recv().await,
        json!({"bg":7,"icons":{id.as_str():{"img":5,"x":1,"y":2}}})
    );
    seed.send(json!({"action":"deleteIcon","id":id})).await;
    assert_eq!(seed.recv().await, json!({"bg":7,"icons":{}}));

    // Events and presence are not part of the seed protocol: nothing arrives.
    v1.ok(json!({"action":"emit","room":"alpha","event":"chat","data":1}))
        .await;
    let _second = gw.v1(Some("alpha")).await;
    seed.send(json!({"action":"frobnicate"})).await;
    let err = seed.recv().await;
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
async fn a_seed_client_without_a_room_plays_in_default() {
    let gw = TestGateway::start(&[]).await;
    let mut seed = gw.seed(None).await;
    let mut watcher = gw.v1(Some("default")).await;
    seed.send(json!({"action":"changeBackground","bg":2})).await;
    assert_eq!(seed.recv().await["bg"], 2);
    let patch = watcher.recv_type("patch").await;
    assert_eq!(patch["room"], "default");
    gw.stop().await;
}
