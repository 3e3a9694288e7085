//! After the gateway restarts (same port, same data dir) the client reconnects by
//! itself, re-joins its rooms and resyncs each room's state by version: no patch is
//! applied twice or skipped.

mod common;

use common::{SdkClients, TestGateway, WAIT, app_event, next, replica_reaches};
use roomcast_sdk::{Change, Event, RoomName, background, icon};
use serde_json::json;
use std::sync::{Arc, Mutex};

#[tokio::test]
async fn after_a_gateway_restart_rooms_are_rejoined_and_state_resynced_by_version() {
    tokio::time::timeout(6 * WAIT, scenario())
        .await
        .expect("the scenario finishes in time");
}

async fn scenario() {
    let dir = tempfile::tempdir().unwrap();
    let first = TestGateway::start_in(dir.path(), 0, &[]).await;
    let port = first.port;

    let a = first.client("alpha").await;
    let mut events = a.events();
    // Every change A's replica of alpha goes through, from the start.
    let log = Arc::new(Mutex::new(Vec::<Change>::new()));
    let collector = {
        let log = log.clone();
        let mut events = a.events();
        tokio::spawn(async move {
            use futures::StreamExt;
            while let Some(event) = events.next().await {
                match event {
                    Event::Changed { room, change } if room.as_str() == "alpha" => {
                        log.lock().unwrap().push(change)
                    }
                    Event::Lagged(n) => panic!("the log missed {n} events"),
                    _ => {}
                }
            }
        })
    };
    a.join("beta").await.unwrap();

    // Versions 1..=5 reach A as patches.
    let b = first.client("alpha").await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let added = b
            .add_icon("alpha", icon(i, 10.0 * i as f64, 0.0).unwrap())
            .await
            .unwrap();
        assert_eq!(added.version, i as u64 + 1);
        ids.push(added.id);
    }
    replica_reaches(&a, &mut events, "alpha", 5).await;
    b.close().await;

    // The gateway goes away; A notices.
    first.stop().await;
    next(&mut events, "Disconnected", |e| {
        matches!(e, Event::Disconnected).then_some(())
    })
    .await;
    // A request made while disconnected waits for the reconnect.
    let queued = tokio::spawn({
        let a = a.clone();
        async move { a.to("beta").emit("queued", json!(1)).await }
    });

    // While A is away the room moves on (to version 8): the same data dir served on
    // another port, which A does not know.
    {
        let elsewhere = TestGateway::start_in(dir.path(), 0, &[]).await;
        let b = elsewhere.client("alpha").await;
        b.move_icon("alpha", &ids[0], icon(9, 1.0, 2.0).unwrap())
            .await
            .unwrap();
        b.delete_icon("alpha", &ids[1]).await.unwrap();
        assert_eq!(
            b.change_background("alpha", background(12).unwrap())
                .await
                .unwrap(),
            8
        );
        b.close().await;
        elsewhere.stop().await;
    }

    // The gateway comes back on the same port and data dir; A reconnects by itself.
    let gw = TestGateway::start_in(dir.path(), port, &[]).await;
    assert_eq!(gw.port, port);
    next(&mut events, "Reconnected", |e| {
        matches!(e, Event::Reconnected).then_some(())
    })
    .await;
    queued
        .await
        .unwrap()
        .expect("the queued request is sent after the reconnect");
    // The missed versions 6..=8 arrive as one state.
    replica_reaches(&a, &mut events, "alpha", 8).await;

    // Changes after the reconnect arrive as patches again (A is back in alpha).
    let c = gw.client("lobby").await;
    assert_eq!(
        c.change_background("alpha", background(3).unwrap())
            .await
            .unwrap(),
        9
    );
    assert_eq!(
        c.add_icon("alpha", icon(1, 5.0, 5.0).unwrap())
            .await
            .unwrap()
            .version,
        10
    );
    replica_reaches(&a, &mut events, "alpha", 10).await;
    // ...and A is back in beta.
    c.to("beta")
        .emit("hello", json!({"after": "restart"}))
        .await
        .unwrap();
    let (data, _) = app_event(&mut events, "beta", "hello").await;
    assert_eq!(data, json!({"after": "restart"}));
    assert_eq!(
        a.rooms(),
        ["alpha", "beta"].map(|r| RoomName::parse(r).unwrap())
    );

    // A's replica is the server's state.
    let server = c.get_state("alpha").await.unwrap();
    assert_eq!(a.state("alpha").unwrap(), server);
    assert_eq!(server.state.bg.get(), 3);
    assert!(!server.state.icons.contains_key(&ids[1]));

    // The replica's history: each patch applied exactly at version + 1, states only
    // moving forward, and the versions missed while away covered by the resync state.
    let log = log.lock().unwrap().clone();
    let mut held = None;
    let (mut patched, mut replaced) = (Vec::new(), Vec::new());
    for change in &log {
        match change {
            Change::Replaced { version } => {
                assert!(
                    held.is_none_or(|h| *version >= h),
                    "state went back: {log:?}"
                );
                replaced.push(*version);
            }
            Change::Patched { version, .. } => {
                assert_eq!(
                    held.map(|h| h + 1),
                    Some(*version),
                    "patch out of turn: {log:?}"
                );
                patched.push(*version);
            }
        }
        held = Some(change.version());
    }
    assert_eq!(patched, [1, 2, 3, 4, 5, 9, 10], "{log:?}");
    assert_eq!(replaced, [0, 8], "{log:?}");

    a.close().await;
    collector.await.unwrap();
    c.close().await;
    gw.stop().await;
}
