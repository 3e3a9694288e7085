//! `MembershipStore::rooms` on the DynamoDB adapter against moto: each listed room
//! carries its distinct users beside its members, read from the room item, and a room
//! item from before users were counted lists 0 users.

mod common;

use aws_sdk_dynamodb::types::AttributeValue;
use roomcast_core::ports::{Member, MembershipStore};
use roomcast_core::protocol::{ConnectionId, Protocol, RoomName, RoomSummary, UserId};

fn room(s: &str) -> RoomName {
    RoomName::parse(s).unwrap()
}

/// A connected member of `user`.
async fn connected(store: &impl MembershipStore, user: &str) -> Member {
    let m = Member {
        id: ConnectionId::generate(),
        protocol: Protocol::V1,
        user: UserId::parse(user).unwrap(),
    };
    store.connect(&m).await.unwrap();
    m
}

fn summary(name: &str, members: u32, users: u32) -> RoomSummary {
    RoomSummary {
        room: room(name),
        members,
        users,
    }
}

#[tokio::test]
async fn listed_rooms_count_one_users_connections_once() {
    let sdk = common::sdk().await;
    let store = common::table(&sdk).await;
    let (alpha, beta) = (room("alpha"), room("beta"));
    let ada_tab1 = connected(&store, "ada").await;
    let ada_tab2 = connected(&store, "ada").await;
    let bob = connected(&store, "bob").await;
    for m in [&ada_tab1, &ada_tab2, &bob] {
        store.join(&alpha, m).await.unwrap();
    }
    store.join(&beta, &bob).await.unwrap();
    assert_eq!(
        store.rooms(10).await.unwrap(),
        [summary("alpha", 3, 2), summary("beta", 1, 1)],
        "busiest first, ada once"
    );

    // ada's second tab leaves: alpha keeps both users; her last tab leaves: one user.
    store.leave(&alpha, &ada_tab2.id).await.unwrap();
    assert_eq!(store.rooms(10).await.unwrap()[0], summary("alpha", 2, 2));
    store.disconnect(&ada_tab1.id).await.unwrap();
    assert_eq!(
        store.rooms(10).await.unwrap(),
        [summary("alpha", 1, 1), summary("beta", 1, 1)]
    );
    assert_eq!(store.rooms(1).await.unwrap().len(), 1, "the limit holds");
}

#[tokio::test]
async fn a_room_item_from_before_users_were_counted_lists_zero_users() {
    let sdk = common::sdk().await;
    let store = common::table(&sdk).await;
    // A room item as joins wrote it before presence by user: `members`, no `users`.
    store
        .client()
        .put_item()
        .table_name(store.table())
        .item("pk", AttributeValue::S("ROOM#legacy".into()))
        .item("sk", AttributeValue::S("STATE".into()))
        .item("lpk", AttributeValue::S("ROOMS".into()))
        .item("members", AttributeValue::N("2".into()))
        .send()
        .await
        .unwrap();
    let bob = connected(&store, "bob").await;
    store.join(&room("current"), &bob).await.unwrap();
    assert_eq!(
        store.rooms(10).await.unwrap(),
        [summary("legacy", 2, 0), summary("current", 1, 1)],
        "the old item still lists, by its members, with the users it recorded: none"
    );
}
