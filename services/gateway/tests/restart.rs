//! Room state survives a restart on the same data dir; memberships do not.

use roomcast_testkit::TestGateway;
use serde_json::json;

#[tokio::test]
async fn a_restarted_gateway_serves_the_same_room_states() {
    let dir = tempfile::tempdir().unwrap();
    let gw = TestGateway::start_in(dir.path(), 0, &[]).await;
    let mut a = gw.v1(Some("alpha")).await;
    let id = {
        a.ok(json!({"action":"addIcon","room":"alpha","icon":{"img":1,"x":10,"y":10}}))
            .await;
        let added = a
            .ok(json!({"action":"addIcon","room":"alpha","icon":{"img":2,"x":20,"y":20}}))
            .await;
        assert_eq!(added["version"], 2);
        a.recv_type("patch").await["op"]["addIcon"]["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    a.ok(json!({"action":"moveIcon","room":"alpha","icon":{"id":id,"img":1,"x":99,"y":98}}))
        .await;
    a.ok(json!({"action":"changeBackground","room":"alpha","bg":9}))
        .await;
    a.ok(json!({"action":"changeBackground","room":"beta","bg":3}))
        .await;
    a.send(json!({"action":"getState","room":"alpha"})).await;
    let before_alpha = a.recv_type("state").await;
    a.send(json!({"action":"getState","room":"beta"})).await;
    let before_beta = a.recv_type("state").await;
    let port = gw.port;
    gw.stop().await;

    // Same data dir, same port: clients come back to the same states.
    let gw = TestGateway::start_in(dir.path(), port, &[]).await;
    let mut b = gw.v1(None).await;
    // The same states and versions; the history (offset, epoch) starts anew
    // (tests/recovery.rs).
    let persisted = |v: &serde_json::Value| (v["version"].clone(), v["state"].clone());
    b.send(json!({"action":"getState","room":"alpha"})).await;
    assert_eq!(
        persisted(&b.recv_type("state").await),
        persisted(&before_alpha)
    );
    b.send(json!({"action":"getState","room":"beta"})).await;
    assert_eq!(
        persisted(&b.recv_type("state").await),
        persisted(&before_beta)
    );
    assert_eq!(before_alpha["version"], 4);
    assert_eq!(
        before_alpha["state"]["icons"][&id],
        json!({"img":1,"x":99,"y":98})
    );

    // Versions continue from where they were.
    let ack = b
        .ok(json!({"action":"deleteIcon","room":"alpha","id":id}))
        .await;
    assert_eq!(ack["version"], 5);
    // Memberships are ephemeral: nobody is in alpha but b, who has not joined it.
    b.send(json!({"action":"listRooms"})).await;
    assert_eq!(
        b.recv_type("rooms").await["rooms"],
        json!([{"room":"default","members":1,"users":1}])
    );
    gw.stop().await;
}
