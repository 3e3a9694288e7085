//! Issue 14's recovery test in the AWS home, through real parts: `$connect` and
//! `actions` record each patch and event in the room's DynamoDB history (moto) and
//! enqueue it; the test pumps SQS into the real broadcaster, which posts through the
//! local gateway's `@connections` to real WebSocket clients. A client whose socket
//! dies reconnects as a new connection and joins with `since`.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::Client;
use common::stack::Stack;
use roomcast_core::fanout::FanoutJob;
use roomcast_core::ports::RoomStore;
use roomcast_core::protocol::{EventName, PublishEnvelope, PublishRequest, RoomName};
use serde_json::value::RawValue;
use serde_json::{Value, json};

/// What a client holds of a room's history: the `offset` and `epoch` of a frame.
fn position(frame: &Value) -> (u64, String) {
    (
        frame["offset"]
            .as_u64()
            .unwrap_or_else(|| panic!("no offset: {frame}")),
        frame["epoch"].as_str().unwrap().to_owned(),
    )
}

/// The first frame whose `ref` is `reference`, and every frame before it.
async fn until_ref(client: &mut Client, reference: &str) -> (Vec<Value>, Value) {
    let mut before = Vec::new();
    loop {
        let m = client.recv().await;
        if m["ref"] == reference {
            return (before, m);
        }
        before.push(m);
    }
}

/// Pump the queue until it is empty; the first room job (a patch or an event, or a
/// publish envelope; not a presence count) received is left on the queue once (made visible again instead of
/// deleted), so SQS delivers it a second time and the broadcaster runs it twice.
/// Returns (jobs run, jobs run twice).
async fn pump_with_one_redelivery(stack: &Stack) -> (usize, usize) {
    let sqs = aws_sdk_sqs::Client::new(&stack.sdk);
    let url = stack.wiring.queue.url();
    let (mut runs, mut seen) = (0, HashSet::new());
    let mut redelivered: Option<String> = None;
    let mut twice = 0;
    loop {
        let messages = common::receive_now(&stack.sdk, url, 10).await;
        if messages.is_empty() {
            return (runs, twice);
        }
        let (response, _) = stack
            .broadcaster
            .run_batch(common::sqs_event(&messages))
            .await;
        assert!(response.batch_item_failures.is_empty(), "{response:?}");
        for m in &messages {
            runs += 1;
            let id = m.message_id().unwrap().to_owned();
            if !seen.insert(id.clone()) {
                twice += 1;
            }
            let handle = m.receipt_handle().unwrap();
            let body = m.body().unwrap();
            // A publish envelope (the SDK's SQS publisher) is delivered as a room job.
            let room_job = PublishEnvelope::claims(body)
                || matches!(serde_json::from_str(body).unwrap(), FanoutJob::Room(_));
            if redelivered.is_none() && room_job {
                eprintln!("redelivering one job: {body}");
                redelivered = Some(id);
                sqs.change_message_visibility()
                    .queue_url(url)
                    .receipt_handle(handle)
                    .visibility_timeout(0)
                    .send()
                    .await
                    .unwrap();
                continue;
            }
            sqs.delete_message()
                .queue_url(url)
                .receipt_handle(handle)
                .send()
                .await
                .unwrap();
        }
    }
}

/// A new connection (a reconnect gets a new connection id) `$connect`ed to a room of
/// its own, so nothing of `alpha` reaches it before its join.
async fn reconnect(stack: &Stack) -> Client {
    let client = stack.gw.client().await;
    stack.connect(&client, &common::unique("own")).await;
    client
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_reconnecting_with_since_gets_exactly_the_60_frames_it_missed() {
    let stack = Stack::new(500, &[]).await;
    let editor = stack.gw.client().await;
    let mut dropped = stack.gw.client().await;
    stack.connect(&editor, "alpha").await;
    stack.connect(&dropped, "alpha").await;
    stack.drain_queue().await;

    // The dropped client holds a position: the patch of a first change.
    stack
        .act(
            &editor,
            json!({"action":"changeBackground","room":"alpha","bg":1}),
        )
        .await;
    stack.drain_queue().await;
    let held = position(&dropped.recv_type_in("alpha", "patch").await);

    // Its socket dies; API Gateway runs $disconnect.
    let gone = dropped.id.clone();
    drop(dropped);
    let response = stack
        .disconnect
        .handle(common::typed(common::disconnect_event(&gone)))
        .await;
    assert_eq!(response.status_code, 200);

    // 50 events and 10 patches, interleaved, while it is away; one fan-out job is
    // delivered twice by SQS.
    for i in 0..60u64 {
        let body = if i % 6 == 5 {
            json!({"action":"changeBackground","room":"alpha","bg":(i / 6) % 8})
        } else {
            json!({"action":"emit","room":"alpha","event":"n","data":i,"except_sender":false})
        };
        stack.act(&editor, body).await;
    }
    let (runs, twice) = pump_with_one_redelivery(&stack).await;
    assert_eq!(twice, 1, "one job was redelivered");

    // Back, as a new connection: join with the last position it held.
    let mut back = reconnect(&stack).await;
    let since = json!({"offset": held.0, "epoch": held.1});
    stack
        .act(
            &back,
            json!({"action":"join","room":"alpha","since":since,"ref":"j"}),
        )
        .await;
    let (frames, ack) = until_ref(&mut back, "j").await;
    assert_eq!(ack["recovered"], true, "{ack}");
    assert_eq!(
        frames[0]["type"], "welcome",
        "first the connection's welcome"
    );
    let missed: Vec<&Value> = frames[1..]
        .iter()
        .filter(|f| f["room"] == "alpha")
        .collect();
    let offsets: Vec<u64> = missed.iter().map(|f| position(f).0).collect();
    let expected: Vec<u64> = (held.0 + 1..=held.0 + 60).collect();
    assert_eq!(
        offsets, expected,
        "exactly the missed frames, in offset order"
    );
    assert!(missed.iter().all(|f| position(f).1 == held.1), "one epoch");
    let events = missed.iter().filter(|f| f["type"] == "event").count();
    let patches = missed.iter().filter(|f| f["type"] == "patch").count();
    assert_eq!((events, patches), (50, 10));
    let data: Vec<u64> = missed
        .iter()
        .filter(|f| f["type"] == "event")
        .map(|f| f["data"].as_u64().unwrap())
        .collect();
    assert_eq!(data, (0..60).filter(|i| i % 6 != 5).collect::<Vec<_>>());
    // After the ack: its presence, and no state.
    let after = back.drain(Duration::from_millis(500)).await;
    let states = frames
        .iter()
        .chain(&after)
        .filter(|f| f["type"] == "state")
        .count();
    assert_eq!(states, 0, "no state: {after:?}");
    let unique: HashSet<u64> = offsets.iter().copied().collect();
    eprintln!(
        "aws recovery: held offset {}, missed 60 (50 events, 10 patches); recovered {} frames \
         ({events} events, {patches} patches), offsets {}..={}, {} distinct, 0 duplicates, \
         {states} state frames, ack recovered={}; fan-out jobs run {runs}, redelivered {twice}",
        held.0,
        missed.len(),
        offsets.first().unwrap(),
        offsets.last().unwrap(),
        unique.len(),
        ack["recovered"],
    );
    stack.gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_since_in_an_unknown_epoch_gets_the_state_and_recovered_false() {
    let stack = Stack::new(500, &[]).await;
    let editor = stack.gw.client().await;
    stack.connect(&editor, "alpha").await;
    for bg in 1..=3 {
        stack
            .act(
                &editor,
                json!({"action":"changeBackground","room":"alpha","bg":bg}),
            )
            .await;
    }
    stack.drain_queue().await;

    let mut back = reconnect(&stack).await;
    let since = json!({"offset": 1, "epoch": "someOtherEpoch"});
    stack
        .act(
            &back,
            json!({"action":"join","room":"alpha","since":since,"ref":"j"}),
        )
        .await;
    let (frames, ack) = until_ref(&mut back, "j").await;
    assert_eq!(ack["recovered"], false, "{ack}");
    assert_eq!(ack["version"], 3);
    assert!(
        frames.iter().all(|f| f["room"] != "alpha"),
        "nothing replayed: {frames:?}"
    );
    let state = back.recv_type_in("alpha", "state").await;
    assert_eq!(state["version"], 3);
    assert_eq!(state["state"]["bg"], 3);
    assert_eq!(state["offset"], 3, "the state says where it stands");
    assert_ne!(state["epoch"], "someOtherEpoch");
    eprintln!(
        "aws recovery, unknown epoch: ack recovered={}, state version {} at offset {}",
        ack["recovered"], state["version"], state["offset"]
    );
    stack.gw.stop().await;
}

/// A server-side publish sent straight onto SQS as a publish envelope (what the SDK's
/// SQS publisher sends) is recorded in the room's history by the broadcaster, once even when SQS
/// delivers the job twice, and a reconnecting client recovers it like any event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sqs_publish_is_recorded_once_and_recovered() {
    let stack = Stack::new(500, &[]).await;
    let mut listener = stack.gw.client().await;
    stack.connect(&listener, "alpha").await;
    stack.drain_queue().await;
    let alpha = RoomName::parse("alpha").unwrap();
    let publish = |n: u64| {
        PublishEnvelope::new(
            alpha.clone(),
            PublishRequest {
                event: EventName::parse("news").unwrap(),
                data: RawValue::from_string(n.to_string()).unwrap(),
            },
        )
    };
    let sqs = aws_sdk_sqs::Client::new(&stack.sdk);
    for n in 1..=3 {
        sqs.send_message()
            .queue_url(stack.wiring.queue.url())
            .message_body(serde_json::to_string(&publish(n)).unwrap())
            .send()
            .await
            .unwrap();
    }
    let (runs, twice) = pump_with_one_redelivery(&stack).await;
    assert_eq!((runs, twice), (4, 1));

    // Three entries, not four; the listener heard each at its offset (one twice: the
    // redelivery posts again, at the same offset).
    let history = stack.wiring.store.history(&alpha, 0).await.unwrap();
    let offsets: Vec<u64> = history.entries.iter().map(|e| e.offset).collect();
    assert_eq!(offsets, [1, 2, 3]);
    let heard = listener.drain(Duration::from_millis(500)).await;
    let mut seen: Vec<(u64, u64)> = heard
        .iter()
        .filter(|f| f["type"] == "event" && f["room"] == "alpha")
        .map(|f| (position(f).0, f["data"].as_u64().unwrap()))
        .collect();
    assert_eq!(seen.len(), 4, "{heard:?}");
    seen.sort();
    seen.dedup();
    assert_eq!(
        seen.len(),
        3,
        "a redelivered publish keeps its offset: {seen:?}"
    );

    let mut back = reconnect(&stack).await;
    let since = json!({"offset": 0, "epoch": history.head.epoch.as_str()});
    stack
        .act(
            &back,
            json!({"action":"join","room":"alpha","since":since,"ref":"j"}),
        )
        .await;
    let (frames, ack) = until_ref(&mut back, "j").await;
    assert_eq!(ack["recovered"], true, "{ack}");
    let data: Vec<u64> = frames
        .iter()
        .filter(|f| f["type"] == "event")
        .map(|f| f["data"].as_u64().unwrap())
        .collect();
    assert_eq!(data.len(), 3);
    eprintln!(
        "aws SQS publish: 3 jobs, 4 runs (1 redelivered), {} history entries, listener heard \
         {} frames at {} offsets, recovery gave {data:?}",
        offsets.len(),
        heard.len(),
        seen.len()
    );
    stack.gw.stop().await;
}
