//! Who a client is: its connection id (the one others see in `from`, new after every
//! reconnect), its user (the token's `sub`), presence counted by user, and the room's
//! users listed page by page.

mod common;

use common::{Proxy, SdkClients, TestGateway, client_at, next, token};
use roomcast_sdk::{Event, ServerMessage, UserId};
use serde_json::json;
use std::collections::BTreeMap;

#[tokio::test]
async fn the_id_is_the_one_others_see_and_changes_with_a_reconnect() {
    let dir = tempfile::tempdir().unwrap();
    let gw = TestGateway::start_in(dir.path(), 0, &[]).await;
    let proxy = Proxy::start(gw.port).await;
    let a = client_at(&proxy.ws_url(), "alpha", None).await;
    let b = gw.client("alpha").await;
    let mut heard = b.events();
    let mut a_events = a.events();

    let first = a.id();
    assert_ne!(first, b.id());
    assert_eq!(
        a.user(),
        UserId::anonymous(&first),
        "no token: its own user"
    );
    assert!(a.limits().max_rooms >= 1);
    a.to("alpha").emit("hi", json!(1)).await.unwrap();
    let (_, from) = common::app_event(&mut heard, "alpha", "hi").await;
    assert_eq!(from.as_deref(), Some(first.as_str()));

    proxy.cut();
    next(&mut a_events, "Disconnected", |e| {
        matches!(e, Event::Disconnected).then_some(())
    })
    .await;
    proxy.restore();
    next(&mut a_events, "Reconnected", |e| {
        matches!(e, Event::Reconnected).then_some(())
    })
    .await;
    let second = a.id();
    assert_ne!(second, first);
    a.to("alpha").emit("hi", json!(2)).await.unwrap();
    let (data, from) = common::app_event(&mut heard, "alpha", "hi").await;
    assert_eq!((data, from.as_deref()), (json!(2), Some(second.as_str())));
    eprintln!("identity: id {first} before the cut, {second} after; b saw both in `from`");

    a.close().await;
    b.close().await;
    gw.stop().await;
}

const SECRET: &str = "0123456789abcdef0123456789abcdef";

#[tokio::test]
async fn presence_counts_users_and_lists_them_with_their_connections() {
    let dir = tempfile::tempdir().unwrap();
    let gw = TestGateway::start_in(dir.path(), 0, &["--jwt-secret", SECRET]).await;
    let url = gw.ws_url(None);
    let (ada, bob) = (token("ada", SECRET), token("bob", SECRET));
    let bob1 = client_at(&url, "alpha", Some(&bob)).await;
    let mut heard = bob1.events();
    let ada1 = client_at(&url, "alpha", Some(&ada)).await;
    let ada2 = client_at(&url, "alpha", Some(&ada)).await;
    assert_eq!((ada1.user().as_str(), bob1.user().as_str()), ("ada", "bob"));
    assert_ne!(ada1.id(), ada2.id());

    let counts = |e: &Event| match e {
        Event::Message(ServerMessage::Presence {
            room,
            members,
            users,
        }) if room.as_str() == "alpha" => Some((*members, *users)),
        _ => None,
    };
    let wanted = |m, u| move |e: &Event| counts(e).filter(|&c| c == (m, u));
    let three = next(&mut heard, "members 3, users 2", wanted(3, 2)).await;
    let page = bob1.list_members("alpha").await.unwrap();
    let listed: BTreeMap<_, _> = page
        .users
        .iter()
        .map(|u| (u.user.to_string(), u.connections))
        .collect();
    assert_eq!(
        listed,
        BTreeMap::from([("ada".into(), 2), ("bob".into(), 1)])
    );
    assert_eq!(page.next, None);

    // Ada closes one tab: one connection fewer, the same users.
    ada2.close().await;
    let two = next(&mut heard, "members 2, users 2", wanted(2, 2)).await;
    eprintln!(
        "presence: two ada tabs + bob -> {three:?} (members, users); one ada tab closed -> {two:?}"
    );
    let page = bob1.list_members("alpha").await.unwrap();
    assert!(
        page.users
            .iter()
            .any(|u| u.user.as_str() == "ada" && u.connections == 1)
    );

    for c in [ada1, bob1] {
        c.close().await;
    }
    gw.stop().await;
}

#[tokio::test]
async fn list_members_pages_through_every_user_once() {
    let dir = tempfile::tempdir().unwrap();
    let flags = ["--connects-per-second-per-ip", "0"];
    let gw = TestGateway::start_in(dir.path(), 0, &flags).await;
    // One more than a page: 101 anonymous connections, each a user of its own.
    let mut members = Vec::new();
    for _ in 0..101 {
        members.push(gw.client("crowd").await);
    }
    let lister = gw.client("lobby").await;
    let first = lister.list_members("crowd").await.unwrap();
    let cursor = first.next.clone().expect("more than one page");
    let second = lister.list_members_after("crowd", &cursor).await.unwrap();
    assert_eq!(second.next, None);
    let mut users: Vec<String> = first
        .users
        .iter()
        .chain(&second.users)
        .map(|u| {
            assert_eq!(u.connections, 1);
            u.user.to_string()
        })
        .collect();
    let mut expected: Vec<String> = members.iter().map(|c| c.user().to_string()).collect();
    users.sort();
    expected.sort();
    eprintln!(
        "list_members: pages of {} and {} users for {} connections",
        first.users.len(),
        second.users.len(),
        members.len()
    );
    assert_eq!(users, expected, "every user once, across the pages");
    for c in members {
        c.close().await;
    }
    lister.close().await;
    gw.stop().await;
}
