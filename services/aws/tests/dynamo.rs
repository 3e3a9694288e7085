//! The DynamoDB adapter against moto with the real SDK client: table shape, state
//! commits with conditions, concurrency, memberships and counts, TTL.

mod common;

use std::collections::BTreeSet;

use aws_sdk_dynamodb::types::{AttributeValue, TimeToLiveStatus};
use futures::future::join_all;
use roomcast_aws::dynamo::{BY_MEMBERS_INDEX, CONNECTION_TTL_SECS};
use roomcast_core::history::ChangeId;
use roomcast_core::ports::{CommitError, Headcount, Member, MembershipStore, RoomStore};
use roomcast_core::protocol::{
    Background, ConnectionId, Coord, Icon, IconId, Image, Protocol, RoomName, UserId,
};
use roomcast_core::state::{ApplyError, Op};

fn room(s: &str) -> RoomName {
    RoomName::parse(s).unwrap()
}

fn icon(img: i64, x: f64, y: f64) -> Icon {
    Icon {
        img: Image::parse(img).unwrap(),
        x: Coord::parse(x).unwrap(),
        y: Coord::parse(y).unwrap(),
    }
}

fn member(protocol: Protocol) -> Member {
    let id = ConnectionId::generate();
    Member {
        user: UserId::anonymous(&id),
        id,
        protocol,
    }
}

/// A commit as the handler makes it (a fresh change id), giving the new version.
trait CommitFresh {
    async fn commit_op(&self, room: &RoomName, op: &Op) -> Result<u64, CommitError>;
}

impl CommitFresh for roomcast_aws::dynamo::DynamoStore {
    async fn commit_op(&self, room: &RoomName, op: &Op) -> Result<u64, CommitError> {
        self.commit(room, op, &ChangeId::generate())
            .await
            .map(|c| c.version)
    }
}

#[tokio::test]
async fn the_table_has_its_keys_index_and_ttl_on_exp() {
    let sdk = common::sdk().await;
    let store = common::table(&sdk).await;
    let client = store.client();
    let table = client
        .describe_table()
        .table_name(store.table())
        .send()
        .await
        .unwrap()
        .table
        .unwrap();
    let keys: Vec<(&str, &str)> = table
        .key_schema()
        .iter()
        .map(|k| (k.attribute_name(), k.key_type().as_str()))
        .collect();
    assert_eq!(keys, [("pk", "HASH"), ("sk", "RANGE")]);
    let index = &table.global_secondary_indexes()[0];
    assert_eq!(index.index_name(), Some(BY_MEMBERS_INDEX));
    let ttl = client
        .describe_time_to_live()
        .table_name(store.table())
        .send()
        .await
        .unwrap()
        .time_to_live_description
        .unwrap();
    assert_eq!(ttl.attribute_name(), Some("exp"));
    assert_eq!(ttl.time_to_live_status(), Some(&TimeToLiveStatus::Enabled));
}

#[tokio::test]
async fn commits_bump_the_version_and_load_reads_them_back() {
    let sdk = common::sdk().await;
    let store = common::table(&sdk).await;
    let alpha = room("alpha");

    let empty = store.load(&alpha).await.unwrap().state;
    assert_eq!(empty.version, 0);
    assert!(empty.state.icons.is_empty());

    // The first commit on a room nobody joined creates its state item.
    let a = IconId::generate();
    let b = IconId::generate();
    assert_eq!(
        store
            .commit_op(
                &alpha,
                &Op::AddIcon {
                    id: a.clone(),
                    icon: icon(1, 10.0, 20.0)
                }
            )
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .commit_op(
                &alpha,
                &Op::AddIcon {
                    id: b.clone(),
                    icon: icon(2, 30.0, 40.0)
                }
            )
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        store
            .commit_op(
                &alpha,
                &Op::MoveIcon {
                    id: a.clone(),
                    icon: icon(5, 11.0, -21.0)
                }
            )
            .await
            .unwrap(),
        3
    );
    assert_eq!(
        store
            .commit_op(
                &alpha,
                &Op::ChangeBackground {
                    bg: Background::parse(4).unwrap()
                }
            )
            .await
            .unwrap(),
        4
    );
    assert_eq!(
        store
            .commit_op(&alpha, &Op::DeleteIcon { id: b.clone() })
            .await
            .unwrap(),
        5
    );

    let state = store.load(&alpha).await.unwrap().state;
    assert_eq!(state.version, 5);
    assert_eq!(state.state.bg.get(), 4);
    assert_eq!(state.state.icons.len(), 1);
    assert_eq!(state.state.icons[&a], icon(5, 11.0, -21.0));

    // A background change alone also creates a room.
    let beta = room("beta");
    store
        .commit_op(
            &beta,
            &Op::ChangeBackground {
                bg: Background::parse(2).unwrap(),
            },
        )
        .await
        .unwrap();
    assert_eq!(store.load(&beta).await.unwrap().state.version, 1);
}

#[tokio::test]
async fn failed_conditions_reject_and_change_nothing() {
    let sdk = common::sdk().await;
    let store = common::table_with_cap(&sdk, 2).await;
    let alpha = room("alpha");
    let ghost = IconId::generate();

    // Unknown icons, on a room that does not exist yet and on one that does.
    for _ in 0..2 {
        for op in [
            Op::MoveIcon {
                id: ghost.clone(),
                icon: icon(1, 1.0, 1.0),
            },
            Op::DeleteIcon { id: ghost.clone() },
        ] {
            match store.commit_op(&alpha, &op).await {
                Err(CommitError::Rejected(ApplyError::UnknownIcon(id))) => assert_eq!(id, ghost),
                other => panic!("expected unknown icon, got {other:?}"),
            }
        }
        store
            .commit_op(
                &alpha,
                &Op::ChangeBackground {
                    bg: Background::parse(1).unwrap(),
                },
            )
            .await
            .unwrap();
    }
    let before = store.load(&alpha).await.unwrap().state;
    assert_eq!(before.version, 2);

    // The icon cap: two fit, the third is refused, deleting one makes room again.
    let first = IconId::generate();
    store
        .commit_op(
            &alpha,
            &Op::AddIcon {
                id: first.clone(),
                icon: icon(1, 0.0, 0.0),
            },
        )
        .await
        .unwrap();
    store
        .commit_op(
            &alpha,
            &Op::AddIcon {
                id: IconId::generate(),
                icon: icon(1, 0.0, 0.0),
            },
        )
        .await
        .unwrap();
    let full = store
        .commit_op(
            &alpha,
            &Op::AddIcon {
                id: IconId::generate(),
                icon: icon(1, 0.0, 0.0),
            },
        )
        .await;
    assert!(
        matches!(full, Err(CommitError::Rejected(ApplyError::IconLimit(2)))),
        "{full:?}"
    );
    let after = store.load(&alpha).await.unwrap().state;
    assert_eq!(after.version, 4);
    assert_eq!(after.state.icons.len(), 2);
    store
        .commit_op(&alpha, &Op::DeleteIcon { id: first })
        .await
        .unwrap();
    store
        .commit_op(
            &alpha,
            &Op::AddIcon {
                id: IconId::generate(),
                icon: icon(1, 0.0, 0.0),
            },
        )
        .await
        .unwrap();
    assert_eq!(store.load(&alpha).await.unwrap().state.state.icons.len(), 2);
}

#[tokio::test]
async fn concurrent_icon_updates_lose_nothing() {
    let sdk = common::sdk().await;
    let store = common::table(&sdk).await;
    let alpha = room("alpha");
    const N: usize = 40;

    let ids: Vec<IconId> = (0..N).map(|_| IconId::generate()).collect();
    let adds = join_all(ids.iter().enumerate().map(|(i, id)| {
        let store = store.clone();
        let alpha = alpha.clone();
        let op = Op::AddIcon {
            id: id.clone(),
            icon: icon((i % 10) as i64, i as f64, 0.0),
        };
        async move { store.commit_op(&alpha, &op).await.unwrap() }
    }))
    .await;
    // Every commit got its own version: 1..=N, no two the same.
    let versions: BTreeSet<u64> = adds.into_iter().collect();
    assert_eq!(versions, (1..=N as u64).collect());

    // Concurrent moves of different icons, interleaved with background changes.
    let moves = join_all(ids.iter().enumerate().map(|(i, id)| {
        let store = store.clone();
        let alpha = alpha.clone();
        let op = if i % 5 == 0 {
            Op::ChangeBackground {
                bg: Background::parse((i % 8) as i64).unwrap(),
            }
        } else {
            Op::MoveIcon {
                id: id.clone(),
                icon: icon(9, i as f64, 100.0 + i as f64),
            }
        };
        async move { store.commit_op(&alpha, &op).await.unwrap() }
    }))
    .await;
    let versions: BTreeSet<u64> = moves.into_iter().collect();
    assert_eq!(versions, (N as u64 + 1..=2 * N as u64).collect());

    let state = store.load(&alpha).await.unwrap().state;
    assert_eq!(state.version, 2 * N as u64);
    assert_eq!(state.state.icons.len(), N);
    for (i, id) in ids.iter().enumerate() {
        let expected = if i % 5 == 0 {
            icon((i % 10) as i64, i as f64, 0.0)
        } else {
            icon(9, i as f64, 100.0 + i as f64)
        };
        assert_eq!(state.state.icons[id], expected, "icon {i}");
    }
}

#[tokio::test]
async fn joins_and_leaves_keep_the_member_count() {
    let sdk = common::sdk().await;
    let store = common::table(&sdk).await;
    let alpha = room("alpha");
    let beta = room("beta");
    let a = member(Protocol::V1);
    let b = member(Protocol::Planetstack);
    store.connect(&a).await.unwrap();
    store.connect(&b).await.unwrap();

    assert_eq!(store.join(&alpha, &a).await.unwrap().members, 1);
    assert_eq!(
        store.join(&alpha, &a).await.unwrap(),
        Headcount {
            members: 1,
            users: 1
        },
        "joining twice is idempotent"
    );
    assert_eq!(store.join(&alpha, &b).await.unwrap().members, 2);
    assert_eq!(store.join(&beta, &a).await.unwrap().members, 1);

    // The room's state item counts them; membership items carry the protocol.
    let page = store.members(&alpha, None, 10).await.unwrap();
    let mut got: Vec<(String, Protocol)> = page
        .members
        .iter()
        .map(|m| (m.id.to_string(), m.protocol))
        .collect();
    got.sort_by(|x, y| x.0.cmp(&y.0));
    let mut want = vec![
        (a.id.to_string(), Protocol::V1),
        (b.id.to_string(), Protocol::Planetstack),
    ];
    want.sort_by(|x, y| x.0.cmp(&y.0));
    assert_eq!(got, want);

    let rooms = store.rooms(10).await.unwrap();
    let listed: Vec<(&str, u32)> = rooms.iter().map(|r| (r.room.as_str(), r.members)).collect();
    assert_eq!(listed, [("alpha", 2), ("beta", 1)], "busiest first");

    assert_eq!(
        store.leave(&alpha, &b.id).await.unwrap(),
        Some(Headcount {
            members: 1,
            users: 1
        })
    );
    assert_eq!(
        store.leave(&alpha, &b.id).await.unwrap(),
        None,
        "not a member any more"
    );

    // Disconnect: every room it was in, with the new counts; items gone.
    let mut left = store.disconnect(&a.id).await.unwrap();
    left.sort_by(|x, y| x.room.cmp(&y.room));
    let left: Vec<(&str, u32)> = left
        .iter()
        .map(|r| (r.room.as_str(), r.count.members))
        .collect();
    assert_eq!(left, [("alpha", 0), ("beta", 0)]);
    assert!(
        store
            .members(&alpha, None, 10)
            .await
            .unwrap()
            .members
            .is_empty()
    );
    assert!(
        store.rooms(10).await.unwrap().is_empty(),
        "empty rooms are not listed"
    );
    assert!(store.connection(&a.id).await.unwrap().is_none());
    assert!(
        store.disconnect(&a.id).await.unwrap().is_empty(),
        "disconnecting twice is harmless"
    );

    // A join for a connection that does not exist fails and leaves nothing behind.
    let stranger = member(Protocol::V1);
    assert!(store.join(&alpha, &stranger).await.is_err());
    assert!(
        store
            .members(&alpha, None, 10)
            .await
            .unwrap()
            .members
            .is_empty()
    );
}

#[tokio::test]
async fn members_page_through_a_large_room() {
    let sdk = common::sdk().await;
    let store = common::table(&sdk).await;
    let big = room("big");
    let members: Vec<Member> = (0..25).map(|_| member(Protocol::V1)).collect();
    for m in &members {
        store.connect(m).await.unwrap();
    }
    let counts = join_all(members.iter().map(|m| store.join(&big, m))).await;
    assert!(counts.iter().all(Result::is_ok));

    let mut seen = BTreeSet::new();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        let page = store.members(&big, cursor, 10).await.unwrap();
        pages += 1;
        assert!(page.members.len() <= 10);
        for m in page.members {
            assert!(seen.insert(m.id.to_string()), "no member twice");
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(seen.len(), 25);
    assert!(pages >= 3);
    assert_eq!(
        store.rooms(1).await.unwrap()[0].members,
        25,
        "concurrent joins all counted"
    );
}

#[tokio::test]
async fn connection_items_expire_after_the_api_gateway_lifetime_plus_margin() {
    let sdk = common::sdk().await;
    let store = common::table(&sdk).await;
    let m = member(Protocol::Planetstack);
    store.connect(&m).await.unwrap();
    store
        .annotate_connection(&m.id, &room("alpha"))
        .await
        .unwrap();
    store.join(&room("alpha"), &m).await.unwrap();

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    const {
        assert!(
            CONNECTION_TTL_SECS > 2 * 60 * 60,
            "longer than API Gateway's 2 h lifetime"
        )
    };
    for (pk, sk) in [
        (format!("CONN#{}", m.id), "CONN".to_owned()),
        ("ROOM#alpha".to_owned(), format!("CONN#{}", m.id)),
    ] {
        let item = store
            .client()
            .get_item()
            .table_name(store.table())
            .key("pk", AttributeValue::S(pk.clone()))
            .key("sk", AttributeValue::S(sk))
            .send()
            .await
            .unwrap()
            .item
            .unwrap_or_else(|| panic!("{pk} exists"));
        let exp: u64 = item["exp"].as_n().unwrap().parse().unwrap();
        assert!(
            exp >= now + CONNECTION_TTL_SECS - 5 && exp <= now + CONNECTION_TTL_SECS + 5,
            "{pk}"
        );
    }
    // The connection remembers its protocol, connect room and user.
    let (protocol, connect_room, user) = store.connection(&m.id).await.unwrap().unwrap();
    assert_eq!(protocol, Protocol::Planetstack);
    assert_eq!(connect_room.as_str(), "alpha");
    assert_eq!(user, m.user);
}

/// Presence by user: a user's second connection adds a member, not a user; the room's
/// users are listed with their connection counts, paged.
#[tokio::test]
async fn users_count_distinct_users_and_list_their_connections() {
    let sdk = common::sdk().await;
    let store = common::table(&sdk).await;
    let alpha = room("alpha");
    let as_user = |user: &str| {
        let mut m = member(Protocol::V1);
        m.user = UserId::parse(user).unwrap();
        m
    };
    let (ada_tab, ada_phone, bob) = (as_user("ada"), as_user("ada"), as_user("bob"));
    for m in [&ada_tab, &ada_phone, &bob] {
        store.connect(m).await.unwrap();
    }
    // The two of ada's connections join at once: the count goes 0 → 1 → 2 exactly once.
    let (a, b) = tokio::join!(store.join(&alpha, &ada_tab), store.join(&alpha, &ada_phone));
    a.unwrap();
    b.unwrap();
    let count = store.join(&alpha, &bob).await.unwrap();
    assert_eq!(
        count,
        Headcount {
            members: 3,
            users: 2
        }
    );
    let page = store.users(&alpha, None, 10).await.unwrap();
    let listed: Vec<(&str, u32)> = page
        .users
        .iter()
        .map(|u| (u.user.as_str(), u.connections))
        .collect();
    assert_eq!(listed, [("ada", 2), ("bob", 1)]);
    assert_eq!(page.next, None);
    let first = store.users(&alpha, None, 1).await.unwrap();
    assert_eq!(first.users.len(), 1);
    let second = store.users(&alpha, first.next, 1).await.unwrap();
    assert_eq!(second.users[0].user.as_str(), "bob");
    assert_eq!(second.next, None, "no empty last page");

    // One of ada's two leaves: still two users.
    let count = store.leave(&alpha, &ada_tab.id).await.unwrap();
    assert_eq!(
        count,
        Some(Headcount {
            members: 2,
            users: 2
        })
    );
    // Her last one disconnects: one user left, and her user item is gone.
    let left = store.disconnect(&ada_phone.id).await.unwrap();
    assert_eq!(
        left[0].count,
        Headcount {
            members: 1,
            users: 1
        }
    );
    let page = store.users(&alpha, None, 10).await.unwrap();
    assert_eq!(page.users.len(), 1);
    assert_eq!(page.users[0].user.as_str(), "bob");
    // Members carry their user.
    let members = store.members(&alpha, None, 10).await.unwrap().members;
    assert_eq!(members.len(), 1);
    assert_eq!(members[0].user, bob.user);
}

#[tokio::test]
async fn items_written_with_the_old_protocol_name_seed_still_read_as_planetstack() {
    let sdk = common::sdk().await;
    let store = common::table(&sdk).await;
    let alpha = room("alpha");
    let m = member(Protocol::Planetstack);
    store.connect(&m).await.unwrap();
    store.annotate_connection(&m.id, &alpha).await.unwrap();
    store.join(&alpha, &m).await.unwrap();

    // Today's items say `planetstack`; rewrite both as an item from before the rename.
    let keys = [
        (format!("CONN#{}", m.id), "CONN".to_owned()),
        ("ROOM#alpha".to_owned(), format!("CONN#{}", m.id)),
    ];
    for (pk, sk) in &keys {
        let key = |client: &aws_sdk_dynamodb::Client| {
            client
                .get_item()
                .table_name(store.table())
                .key("pk", AttributeValue::S(pk.clone()))
                .key("sk", AttributeValue::S(sk.clone()))
        };
        let item = key(store.client()).send().await.unwrap().item.unwrap();
        assert_eq!(item["protocol"].as_s().unwrap(), "planetstack", "{pk}");
        store
            .client()
            .update_item()
            .table_name(store.table())
            .key("pk", AttributeValue::S(pk.clone()))
            .key("sk", AttributeValue::S(sk.clone()))
            .update_expression("SET protocol = :p")
            .expression_attribute_values(":p", AttributeValue::S("seed".into()))
            .send()
            .await
            .unwrap();
    }

    let (protocol, _, _) = store.connection(&m.id).await.unwrap().unwrap();
    assert_eq!(protocol, Protocol::Planetstack);
    let page = store.members(&alpha, None, 10).await.unwrap();
    let got: Vec<Protocol> = page.members.iter().map(|m| m.protocol).collect();
    assert_eq!(got, vec![Protocol::Planetstack]);
}
