//! Concurrent edits: none lost, every member sees every version exactly once.

use roomcast_testkit::TestGateway;
use serde_json::json;
use std::collections::BTreeMap;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_clients_adding_fifty_icons_each_lose_nothing() {
    const CLIENTS: usize = 4;
    const EACH: usize = 50;
    let total = (CLIENTS * EACH) as u64;
    let gw = TestGateway::start(&[]).await;
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        clients.push(gw.v1(Some("alpha")).await);
    }
    // Everyone is in before anyone writes: wait until each has seen the full count.
    for c in &mut clients {
        while c.recv_type("presence").await["members"] != CLIENTS {}
    }

    let tasks: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(n, mut c)| {
            tokio::spawn(async move {
                for i in 0..EACH {
                    let img = (n * 10 + i) % 64;
                    let x = (n * 1000 + i) as i64;
                    c.send(json!({"action":"addIcon","room":"alpha","icon":{"img":img,"x":x,"y":n},"ref":i}))
                        .await;
                }
                // Collect patches until every version has arrived.
                let mut seen: BTreeMap<u64, serde_json::Value> = BTreeMap::new();
                let mut acks = 0;
                while seen.len() < total as usize || acks < EACH {
                    let m = c.recv().await;
                    match m["type"].as_str() {
                        Some("patch") => {
                            let v = m["version"].as_u64().unwrap();
                            assert!(seen.insert(v, m["op"].clone()).is_none(), "client {n} saw version {v} twice");
                        }
                        Some("ack") => acks += 1,
                        Some("error") => panic!("client {n}: {m}"),
                        _ => {}
                    }
                }
                c.send(json!({"action":"getState","room":"alpha"})).await;
                let state = c.recv_type("state").await;
                (seen, state)
            })
        })
        .collect();

    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.unwrap());
    }
    let (first_seen, first_state) = &results[0];
    assert_eq!(
        first_seen.keys().copied().collect::<Vec<_>>(),
        (1..=total).collect::<Vec<_>>()
    );
    assert_eq!(first_state["version"], total);
    assert_eq!(
        first_state["state"]["icons"].as_object().unwrap().len(),
        total as usize
    );
    for (seen, state) in &results[1..] {
        assert_eq!(
            seen, first_seen,
            "every member saw the same patch for every version"
        );
        assert_eq!(state, first_state, "final states are equal");
    }
    // Replaying the patches in version order rebuilds the final state.
    let mut icons = serde_json::Map::new();
    for op in first_seen.values() {
        let add = &op["addIcon"];
        icons.insert(
            add["id"].as_str().unwrap().to_owned(),
            json!({"img": add["img"], "x": add["x"], "y": add["y"]}),
        );
    }
    assert_eq!(
        first_state["state"]["icons"],
        serde_json::Value::Object(icons)
    );
    gw.stop().await;
}
