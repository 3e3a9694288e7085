//! Each room's history in DynamoDB (moto, the real SDK client): consecutive offsets in
//! one epoch, one entry per change id however often it is retried, and reads of exactly
//! the entries after an offset.

mod common;

use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

use futures::future::join_all;
use roomcast_core::history::{ChangeId, HistoryPolicy, Recovery};
use roomcast_core::ports::RoomStore;
use roomcast_core::protocol::{
    Background, Coord, EventName, Icon, IconId, Image, Position, RoomName, ServerMessage,
};
use roomcast_core::state::Op;
use serde_json::value::RawValue;

fn room(s: &str) -> RoomName {
    RoomName::parse(s).unwrap()
}

fn event(room: &RoomName, n: u64) -> ServerMessage {
    ServerMessage::Event {
        room: room.clone(),
        event: EventName::parse("chat").unwrap(),
        data: RawValue::from_string(n.to_string()).unwrap(),
        from: None,
        at: None,
    }
}

fn background(bg: i64) -> Op {
    Op::ChangeBackground {
        bg: Background::parse(bg).unwrap(),
    }
}

fn add_icon() -> Op {
    Op::AddIcon {
        id: IconId::generate(),
        icon: Icon {
            img: Image::parse(1).unwrap(),
            x: Coord::parse(1.0).unwrap(),
            y: Coord::parse(2.0).unwrap(),
        },
    }
}

fn offsets(entries: &[roomcast_core::history::Entry]) -> Vec<u64> {
    entries.iter().map(|e| e.offset).collect()
}

/// An event's `data` as a number.
fn data(message: &ServerMessage) -> u64 {
    match message {
        ServerMessage::Event { data, .. } => data.get().parse().unwrap(),
        other => panic!("not an event: {other:?}"),
    }
}

#[tokio::test]
async fn commits_and_events_take_consecutive_offsets_in_one_epoch() {
    let sdk = common::sdk().await;
    let store = common::table(&sdk).await;
    let alpha = room("alpha");

    let first = store
        .commit(&alpha, &background(1), &ChangeId::generate())
        .await
        .unwrap();
    assert_eq!((first.version, first.at.offset), (1, 1));
    let second = store
        .append(&alpha, &event(&alpha, 7), &ChangeId::generate())
        .await
        .unwrap();
    assert_eq!(second.offset, 2);
    assert_eq!(second.epoch, first.at.epoch, "one epoch per room");
    let third = store
        .commit(&alpha, &add_icon(), &ChangeId::generate())
        .await
        .unwrap();
    assert_eq!(
        (third.version, third.at.offset),
        (2, 3),
        "events take no version"
    );

    // The state knows where it stands; the history holds each frame at its place.
    let snapshot = store.load(&alpha).await.unwrap();
    assert_eq!(snapshot.state.version, 2);
    assert_eq!(snapshot.at, third.at);
    let history = store.history(&alpha, 0).await.unwrap();
    assert_eq!(history.head, third.at);
    assert_eq!(offsets(&history.entries), [1, 2, 3]);
    for entry in &history.entries {
        let at = entry
            .message
            .position()
            .expect("a recorded frame is placed");
        assert_eq!(at.offset, entry.offset);
        assert_eq!(at.epoch, first.at.epoch);
        assert!(
            entry
                .message
                .to_v1()
                .contains(&format!("\"offset\":{}", entry.offset))
        );
    }
    assert!(matches!(
        history.entries[0].message,
        ServerMessage::Patch { version: 1, .. }
    ));
    assert_eq!(data(&history.entries[1].message), 7);

    // Another room has its own offsets and epoch.
    let beta = room("beta");
    let other = store
        .append(&beta, &event(&beta, 1), &ChangeId::generate())
        .await
        .unwrap();
    assert_eq!(other.offset, 1);
    assert_ne!(other.epoch, first.at.epoch);
}

#[tokio::test]
async fn a_change_retried_is_recorded_once_and_bumps_the_version_once() {
    let sdk = common::sdk().await;
    let store = common::table(&sdk).await;
    let alpha = room("alpha");
    let (change, op) = (ChangeId::generate(), add_icon());
    let first = store.commit(&alpha, &op, &change).await.unwrap();
    // Another change lands before the retry: the retry finds the head moved on, and
    // still answers with the first record instead of writing a second.
    store
        .commit(&alpha, &background(3), &ChangeId::generate())
        .await
        .unwrap();
    let again = store.commit(&alpha, &op, &change).await.unwrap();
    assert_eq!(again, first);
    let snapshot = store.load(&alpha).await.unwrap();
    assert_eq!(snapshot.state.version, 2, "one version per change");
    assert_eq!(snapshot.state.state.icons.len(), 1);

    // A retried delete finds its icon gone: still its first record, not unknown_icon.
    let Op::AddIcon { id, .. } = op else {
        unreachable!()
    };
    let delete = ChangeId::generate();
    let deleted = store
        .commit(&alpha, &Op::DeleteIcon { id: id.clone() }, &delete)
        .await
        .unwrap();
    let retried = store.commit(&alpha, &Op::DeleteIcon { id }, &delete).await;
    assert_eq!(retried.unwrap(), deleted);

    // Events the same way, also when the retries race each other.
    let appended = ChangeId::generate();
    let nine = event(&alpha, 9);
    let positions = join_all((0..5).map(|_| store.append(&alpha, &nine, &appended))).await;
    let positions: HashSet<Position> = positions.into_iter().map(Result::unwrap).collect();
    assert_eq!(positions.len(), 1, "{positions:?}");

    let history = store.history(&alpha, 0).await.unwrap();
    assert_eq!(
        offsets(&history.entries),
        [1, 2, 3, 4],
        "one entry per change"
    );
    assert_eq!(history.head.offset, 4);
    assert_eq!(store.load(&alpha).await.unwrap().state.version, 3);
}

#[tokio::test]
async fn history_after_n_is_exactly_the_entries_after_n_within_the_size() {
    let sdk = common::sdk().await;
    let policy = HistoryPolicy {
        size: 5,
        ttl: Duration::from_secs(120),
    };
    let store = common::table(&sdk).await.with_history(policy);
    let alpha = room("alpha");
    for n in 1..=12 {
        store
            .append(&alpha, &event(&alpha, n), &ChangeId::generate())
            .await
            .unwrap();
    }
    let history = store.history(&alpha, 7).await.unwrap();
    assert_eq!(history.head.offset, 12);
    assert_eq!(offsets(&history.entries), [8, 9, 10, 11, 12]);
    let data: Vec<u64> = history.entries.iter().map(|e| data(&e.message)).collect();
    assert_eq!(data, [8, 9, 10, 11, 12]);
    assert!(store.history(&alpha, 12).await.unwrap().entries.is_empty());
    // Never more than the policy's size.
    assert_eq!(
        offsets(&store.history(&alpha, 3).await.unwrap().entries),
        [4, 5, 6, 7, 8]
    );

    // What recovery makes of it: the 5 after 7 are there; after 3, too many were missed.
    let now = roomcast_core::fanout::now_ms();
    let since = |offset| Position {
        offset,
        epoch: history.head.epoch.clone(),
    };
    let recovered = store
        .history(&alpha, 7)
        .await
        .unwrap()
        .recover(&since(7), &policy, now);
    assert!(
        matches!(recovered, Recovery::Missed(ref f) if f.len() == 5),
        "{recovered:?}"
    );
    let lost = store
        .history(&alpha, 3)
        .await
        .unwrap()
        .recover(&since(3), &policy, now);
    assert!(matches!(lost, Recovery::Lost));

    // Entries carry their TTL: now + HISTORY_TTL, in epoch seconds.
    let item = store
        .client()
        .get_item()
        .table_name(store.table())
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S("HIST#alpha".into()),
        )
        .key(
            "sk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("{:020}", 12)),
        )
        .send()
        .await
        .unwrap()
        .item
        .expect("entry 12 is stored");
    let exp: u64 = item["exp"].as_n().unwrap().parse().unwrap();
    let expected = now / 1000 + policy.ttl.as_secs();
    assert!(
        exp.abs_diff(expected) <= 5,
        "exp {exp}, expected about {expected}"
    );
}

#[tokio::test]
async fn concurrent_events_take_distinct_consecutive_offsets() {
    let sdk = common::sdk().await;
    let store = common::table(&sdk).await;
    let alpha = room("alpha");
    const N: u64 = 20;
    let positions = join_all((1..=N).map(|n| {
        let (store, alpha) = (store.clone(), alpha.clone());
        async move {
            store
                .append(&alpha, &event(&alpha, n), &ChangeId::generate())
                .await
                .unwrap()
        }
    }))
    .await;
    let got: BTreeSet<u64> = positions.iter().map(|p| p.offset).collect();
    assert_eq!(got, (1..=N).collect());
    let history = store.history(&alpha, 0).await.unwrap();
    assert_eq!(offsets(&history.entries), (1..=N).collect::<Vec<_>>());
    let data: BTreeSet<u64> = history.entries.iter().map(|e| data(&e.message)).collect();
    assert_eq!(data, (1..=N).collect(), "each event once");
}
