//! Identity and presence by user in the AWS home, through the real functions, moto and
//! the local gateway's `@connections`: the `welcome` a connection is owed arrives first
//! in the answer to its first action (told by the rate limiter's first write, or with
//! the rate off by a conditional write), exactly once; presence and `listMembers`
//! count users by the authorizer's `principal`.

mod common;

use std::time::Duration;

use common::Client;
use common::stack::Stack;
use roomcast_aws::handlers::Actions;
use roomcast_core::abuse::MessageRate;
use serde_json::{Value, json};

/// The authorizer context of a token for `user` granting every room.
fn grant(user: &str, room: &str) -> Value {
    json!({"principal": user, "rooms": "*", "protocol": "roomcast.v1", "room": room})
}

/// `body` through `actions` with `context`; the frames up to the one with `ref` `r`.
async fn ask(actions: &Actions, stack: &Stack, client: &mut Client, body: Value) -> Vec<Value> {
    let event = common::message_event(&client.id, &body, &stack.gw.base_url(), None);
    assert_eq!(actions.handle(common::typed(event)).await.status_code, 200);
    let mut frames = Vec::new();
    loop {
        let m = client.recv().await;
        let done = m["ref"] == body["ref"];
        frames.push(m);
        if done {
            return frames;
        }
    }
}

fn types(frames: &[Value]) -> Vec<&str> {
    frames.iter().map(|f| f["type"].as_str().unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_welcome_comes_once_first_with_the_rate_on_or_off() {
    let stack = Stack::new(500, &[]).await;
    let handler = || stack.wiring.handler();
    let rate_on = Actions::new(
        handler(),
        stack.wiring.store.clone(),
        stack.sdk.clone(),
        None,
    );
    let rate_off = Actions::new(
        handler().with_message_rate(MessageRate::OFF),
        stack.wiring.store.clone(),
        stack.sdk.clone(),
        None,
    );
    for (actions, what) in [(&rate_on, "rate on"), (&rate_off, "rate off")] {
        let mut client = stack.gw.client().await;
        stack.connect(&client, &common::unique("own")).await;
        // A first `hello`: one welcome and its ack, nothing else.
        let first = ask(
            actions,
            &stack,
            &mut client,
            json!({"action":"hello","ref":1}),
        )
        .await;
        assert_eq!(types(&first), ["welcome", "ack"], "{what}: {first:?}");
        let welcome = &first[0];
        assert_eq!(welcome["id"], client.id.as_str(), "{what}");
        assert_eq!(
            welcome["user"],
            format!("anonymous:{}", client.id),
            "{what}"
        );
        let limits = &welcome["limits"];
        assert_eq!(limits["historySize"], 100, "{what}: {welcome}");
        assert_eq!(limits["historySeconds"], 120, "{what}: {welcome}");
        // Later actions: no second welcome.
        let body = json!({"action":"getState","room":"alpha","ref":2});
        let later = ask(actions, &stack, &mut client, body).await;
        assert_eq!(types(&later), ["ack"], "{what}: {later:?}");
        assert_eq!(client.recv().await["type"], "state");
        eprintln!(
            "{what}: first answer {:?}, then {:?}",
            types(&first),
            types(&later)
        );
    }
    // A connection whose first action is not `hello` gets the welcome before its answer.
    let mut client = stack.gw.client().await;
    stack.connect(&client, &common::unique("own")).await;
    let body = json!({"action":"join","room":"alpha","ref":"j"});
    let frames = ask(&rate_off, &stack, &mut client, body).await;
    assert_eq!(types(&frames), ["welcome", "ack"], "{frames:?}");
    stack.gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_counts_users_by_principal_and_list_members_pages_them() {
    let stack = Stack::new(500, &[]).await;
    let mut clients = Vec::new();
    for user in ["ada", "ada", "bob"] {
        let client = stack.gw.client().await;
        let mut event =
            common::connect_event(&client.id, &[("room", "alpha")], Some("roomcast.v1"));
        event["requestContext"]["authorizer"] = grant(user, "alpha");
        let response = stack.connect.handle(common::typed(event)).await;
        assert_eq!(response.status_code, 200, "{:?}", response.body);
        clients.push((client, user));
    }
    stack.drain_queue().await;
    let (bob, _) = &mut clients[2];
    let presence = loop {
        let p = bob.recv_type_in("alpha", "presence").await;
        if p["members"] == 3 {
            break p;
        }
    };
    assert_eq!(
        presence["users"], 2,
        "two of ada's tabs are one user: {presence}"
    );

    // listMembers: ada with 2 connections, bob with 1, one page at a time.
    let context = grant("bob", "alpha");
    let mut listed = Vec::new();
    let mut cursor = Value::Null;
    for page in 0.. {
        assert!(page < 4, "paging ends");
        let body = json!({"action":"listMembers","room":"alpha","cursor":cursor,"ref":page});
        let event =
            common::message_event(&bob.id, &body, &stack.gw.base_url(), Some(context.clone()));
        stack.actions.handle(common::typed(event)).await;
        let members = bob.recv_type_in("alpha", "members").await;
        for u in members["users"].as_array().unwrap() {
            listed.push((
                u["user"].as_str().unwrap().to_owned(),
                u["connections"].clone(),
            ));
        }
        cursor = members["next"].clone();
        if cursor.is_null() {
            break;
        }
    }
    assert_eq!(
        listed,
        [("ada".to_owned(), json!(2)), ("bob".to_owned(), json!(1))]
    );

    // One of ada's connections leaves: still two users.
    let (ada_tab, _) = &clients[0];
    let response = stack
        .disconnect
        .handle(common::typed(common::disconnect_event(&ada_tab.id)))
        .await;
    assert_eq!(response.status_code, 200);
    stack.drain_queue().await;
    let (bob, _) = &mut clients[2];
    let presence = loop {
        let p = bob.recv_type_in("alpha", "presence").await;
        if p["members"] == 2 {
            break p;
        }
    };
    assert_eq!(presence["users"], 2, "{presence}");
    let rest = bob.drain(Duration::from_millis(200)).await;
    eprintln!(
        "aws presence by user: 3 connections of ada, ada, bob: members 3, users 2; \
         after one of ada's leaves: members {}, users {}; listMembers {listed:?}; {} more frames",
        presence["members"],
        presence["users"],
        rest.len()
    );
    stack.gw.stop().await;
}
