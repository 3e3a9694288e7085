//! Application events through the typed API: `client.to(room).emit(..)` with
//! `except_self` / `including_self`, and `client.on::<T>(event)` streams of
//! `(from, T)` (all rooms, or one room with `client.to(room).on`).

mod common;

use std::time::Duration;

use common::{SdkClients, TestGateway, WAIT, next};
use futures::{Stream, StreamExt};
use roomcast_sdk::{Event, Publisher};
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Chat {
    text: String,
}

/// The next item of `stream`, within [`WAIT`].
async fn next_item<S: Stream + Unpin>(stream: &mut S, what: &str) -> S::Item {
    tokio::time::timeout(WAIT, stream.next())
        .await
        .unwrap_or_else(|_| panic!("no {what} within {WAIT:?}"))
        .unwrap_or_else(|| panic!("the stream ended before {what}"))
}

/// Nothing more within a short window.
async fn quiet<S: Stream + Unpin>(stream: &mut S) -> bool
where
    S::Item: std::fmt::Debug,
{
    match tokio::time::timeout(Duration::from_millis(300), stream.next()).await {
        Err(_) => true,
        Ok(item) => panic!("unexpected {item:?}"),
    }
}

#[tokio::test]
async fn typed_subscriptions_decode_the_data_and_name_the_sender() {
    let dir = tempfile::tempdir().unwrap();
    let gw = TestGateway::start_in(dir.path(), 0, &[]).await;
    let a = gw.client("lobby").await;
    let b = gw.client("lobby").await;
    let mut a_chats = a.on::<Chat>("chat");
    let mut b_chats = b.on::<Chat>("chat");
    let mut b_alpha_chats = b.to("alpha").on::<Chat>("chat");
    let mut b_events = b.events();
    for room in ["alpha", "beta"] {
        a.join(room).await.unwrap();
        b.join(room).await.unwrap();
    }

    // To the others by default: B hears it, from A; A does not.
    let hi = Chat { text: "hi".into() };
    a.to("alpha").emit("chat", &hi).await.unwrap();
    assert_eq!(
        next_item(&mut b_chats, "B's chat").await,
        (Some(a.id()), hi.clone())
    );
    assert_eq!(
        next_item(&mut b_alpha_chats, "B's chat in alpha").await,
        (Some(a.id()), hi.clone())
    );
    // The same event, flat on `events()`, its data readable without ServerMessage.
    let app = next(&mut b_events, "the chat as Event::App", |e| {
        matches!(e, Event::App { .. }).then(|| e.clone())
    })
    .await;
    let Event::App {
        ref room,
        ref event,
        ref from,
        ..
    } = app
    else {
        unreachable!()
    };
    assert_eq!(
        (room.as_str(), event.as_str(), from.clone()),
        ("alpha", "chat", Some(a.id()))
    );
    assert_eq!(app.data::<Chat>().unwrap(), Some(hi));

    // `including_self`: every member, the sender too; `except_self` back to the others.
    let all = Chat { text: "all".into() };
    a.to("beta")
        .including_self()
        .emit("chat", &all)
        .await
        .unwrap();
    assert_eq!(
        next_item(&mut a_chats, "A's own chat").await,
        (Some(a.id()), all.clone())
    );
    assert_eq!(
        next_item(&mut b_chats, "B's chat").await,
        (Some(a.id()), all)
    );
    let only_b = Chat {
        text: "only b".into(),
    };
    a.to("beta")
        .including_self()
        .except_self()
        .emit("chat", &only_b)
        .await
        .unwrap();
    assert_eq!(
        next_item(&mut b_chats, "B's chat").await,
        (Some(a.id()), only_b)
    );
    assert!(quiet(&mut a_chats).await, "A left itself out");

    // One room's subscription heard nothing of beta; other events and data that is
    // not a Chat are skipped; a server's publish has no sender.
    assert!(quiet(&mut b_alpha_chats).await);
    a.to("alpha").emit("move", json!({"x": 1})).await.unwrap();
    a.to("alpha").emit("chat", json!(42)).await.unwrap();
    Publisher::http(gw.base_url())
        .unwrap()
        .to("alpha")
        .emit(
            "chat",
            Chat {
                text: "news".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(
        next_item(&mut b_alpha_chats, "the published chat").await,
        (
            None,
            Chat {
                text: "news".into()
            }
        )
    );

    // A bad room or event is refused before anything is sent.
    assert!(a.to("no spaces").emit("chat", json!(1)).await.is_err());
    assert!(a.to("alpha").emit("bad event!", json!(1)).await.is_err());

    a.close().await;
    b.close().await;
    gw.stop().await;
}
