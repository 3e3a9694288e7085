//! A client whose socket is cut while the room moves on reconnects, re-joins with
//! `since` and receives exactly what it missed: every event and patch once, in order,
//! and no state. When the room's history no longer holds it all, the re-join says
//! `recovered: false` and the state resyncs the replica instead.

mod common;

use common::{Proxy, SdkClients, TestGateway, WAIT, client_at, next, replica_reaches};
use futures::StreamExt;
use roomcast_sdk::{Client, Event, ServerMessage, background, icon};
use serde_json::json;
use std::sync::{Arc, Mutex};

const EVENTS: usize = 50;
const PATCHES: usize = 10;

/// What reached the app, in order, from the moment the socket was cut.
#[derive(Debug, Clone, PartialEq)]
enum Seen {
    Event(serde_json::Value),
    Patch(u64),
    State(u64),
    Recovered(Option<bool>),
}

#[tokio::test]
async fn a_cut_socket_recovers_exactly_the_missed_events_and_patches() {
    let away = tokio::time::timeout(6 * WAIT, scenario(&[]))
        .await
        .expect("the scenario finishes in time");
    let frames = away.frames();
    eprintln!(
        "recovery: sent {EVENTS} events + {PATCHES} patches while away; received {} events + {} \
         patches (+ the marker), {} state frames, recovered acks {:?}, position {} -> {}",
        away.count(|s| matches!(s, Seen::Event(_))) - 1,
        away.count(|s| matches!(s, Seen::Patch(_))),
        away.count(|s| matches!(s, Seen::State(_))),
        away.acks(),
        away.before,
        away.after,
    );
    let mut expected = away.sent.clone();
    expected.push(Seen::Event(json!("end")));
    assert_eq!(
        frames, expected,
        "exactly the missed frames, in order, once"
    );
    // One join, recovered; its ack closes the recovery (the missed frames come first).
    assert_eq!(away.acks(), [Some(true)], "{:?}", away.seen);
    let ack = away
        .seen
        .iter()
        .position(|s| matches!(s, Seen::Recovered(_)));
    assert!(
        ack >= Some(away.sent.len()),
        "the ack before a missed frame: {:?}",
        away.seen
    );
    assert_eq!(
        away.count(|s| matches!(s, Seen::State(_))),
        0,
        "no state resync"
    );
    assert_eq!(away.after, away.before + (EVENTS + PATCHES) as u64 + 1);
}

#[tokio::test]
async fn without_the_history_the_rejoin_resyncs_by_state() {
    // 20 entries kept: the 60 missed are not all there any more.
    let away = tokio::time::timeout(6 * WAIT, scenario(&["--history-size", "20"]))
        .await
        .expect("the scenario finishes in time");
    eprintln!(
        "recovery with 20 entries of history: {} events + {} patches of the 60 missed \
         delivered, states {:?}, recovered acks {:?}",
        away.count(|s| matches!(s, Seen::Event(_))) - 1,
        away.count(|s| matches!(s, Seen::Patch(_))),
        away.seen
            .iter()
            .filter(|s| matches!(s, Seen::State(_)))
            .collect::<Vec<_>>(),
        away.acks(),
    );
    assert_eq!(away.acks(), [Some(false)], "{:?}", away.seen);
    let version = 1 + PATCHES as u64;
    assert_eq!(
        away.frames(),
        [Seen::Event(json!("end"))],
        "no missed frame, only what came after"
    );
    assert_eq!(
        away.seen
            .iter()
            .filter(|s| matches!(s, Seen::State(_)))
            .collect::<Vec<_>>(),
        [&Seen::State(version)]
    );
    assert_eq!(away.after, away.before + (EVENTS + PATCHES) as u64 + 1);
}

/// What A saw from the cut on, what B sent meanwhile, and A's offsets in alpha.
struct Away {
    seen: Vec<Seen>,
    sent: Vec<Seen>,
    before: u64,
    after: u64,
}

impl Away {
    fn frames(&self) -> Vec<Seen> {
        let frame = |s: &&Seen| matches!(s, Seen::Event(_) | Seen::Patch(_));
        self.seen.iter().filter(frame).cloned().collect()
    }

    fn count(&self, f: impl Fn(&Seen) -> bool) -> usize {
        self.seen.iter().filter(|s| f(s)).count()
    }

    fn acks(&self) -> Vec<Option<bool>> {
        let ack = |s: &Seen| match s {
            Seen::Recovered(r) => Some(*r),
            _ => None,
        };
        self.seen.iter().filter_map(ack).collect()
    }
}

/// A in alpha through a proxy, B in alpha directly: A's socket is cut, B sends 50
/// events and 10 patches, A comes back; B then sends a marker A must get after them.
async fn scenario(flags: &[&str]) -> Away {
    let dir = tempfile::tempdir().unwrap();
    let gw = TestGateway::start_in(dir.path(), 0, flags).await;
    let proxy = Proxy::start(gw.port).await;
    let a = client_at(&proxy.ws_url(), "alpha", None).await;
    let mut events = a.events();
    let b = gw.client("alpha").await;

    // A holds a position in alpha's history before it goes away.
    b.add_icon("alpha", icon(1, 1.0, 1.0).unwrap())
        .await
        .unwrap();
    replica_reaches(&a, &mut events, "alpha", 1).await;
    let before = a.position("alpha").expect("a position from the patch");
    let id_before = a.id();

    let log = Arc::new(Mutex::new(Vec::new()));
    let recording = record(&a, log.clone());
    proxy.cut();
    next(&mut events, "Disconnected", |e| {
        matches!(e, Event::Disconnected).then_some(())
    })
    .await;

    // While A is away: 50 events and 10 patches, a patch after every fifth event.
    let mut sent = Vec::new();
    let mut version = 1;
    for i in 0..EVENTS {
        b.to("alpha").emit("n", json!(i)).await.unwrap();
        sent.push(Seen::Event(json!(i)));
        if i % (EVENTS / PATCHES) == EVENTS / PATCHES - 1 {
            let bg = background((i / 5 + 1) as i64).unwrap();
            version = b.change_background("alpha", bg).await.unwrap();
            sent.push(Seen::Patch(version));
        }
    }
    assert_eq!(version, 1 + PATCHES as u64);

    proxy.restore();
    next(&mut events, "Reconnected", |e| {
        matches!(e, Event::Reconnected).then_some(())
    })
    .await;
    assert_ne!(a.id(), id_before, "a new connection, a new id");
    // A marker sent after the reconnect: everything recovered comes before it.
    b.to("alpha").emit("n", json!("end")).await.unwrap();
    app_event_named(&mut events, json!("end")).await;
    replica_reaches(&a, &mut events, "alpha", version).await;

    let after = a.position("alpha").unwrap();
    assert_eq!(after.epoch, before.epoch);
    // The replica is the server's state either way.
    assert_eq!(
        a.state("alpha").unwrap(),
        b.get_state("alpha").await.unwrap()
    );

    a.close().await;
    // The recorder has everything once A's stream ended.
    recording.await.unwrap();
    let seen = log.lock().unwrap().clone();
    b.close().await;
    gw.stop().await;
    Away {
        seen,
        sent,
        before: before.offset,
        after: after.offset,
    }
}

/// Record A's alpha frames (and its joins' `recovered`) until the stream ends.
fn record(a: &Client, log: Arc<Mutex<Vec<Seen>>>) -> tokio::task::JoinHandle<()> {
    let mut events = a.events();
    tokio::spawn(async move {
        while let Some(event) = events.next().await {
            let seen = match event {
                Event::App { room, data, .. } if room.as_str() == "alpha" => {
                    Seen::Event(serde_json::from_str(data.get()).unwrap())
                }
                Event::Message(ServerMessage::Patch { room, version, .. })
                    if room.as_str() == "alpha" =>
                {
                    Seen::Patch(version)
                }
                Event::Message(ServerMessage::State { room, version, .. })
                    if room.as_str() == "alpha" =>
                {
                    Seen::State(version)
                }
                Event::Message(ServerMessage::Ack { recovered, .. }) if recovered.is_some() => {
                    Seen::Recovered(recovered)
                }
                Event::Lagged(n) => panic!("the log missed {n} events"),
                _ => continue,
            };
            log.lock().unwrap().push(seen);
        }
    })
}

async fn app_event_named(events: &mut roomcast_sdk::Events, data: serde_json::Value) {
    next(events, &format!("event {data}"), |e| match e {
        Event::App { data: d, .. }
            if serde_json::from_str::<serde_json::Value>(d.get()).ok() == Some(data.clone()) =>
        {
            Some(())
        }
        _ => None,
    })
    .await
}
