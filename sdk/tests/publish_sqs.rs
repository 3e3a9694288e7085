//! The SQS publisher end to end, through real parts: `publisher.to(room).emit(..)`
//! sends a publish envelope onto a fan-out queue in moto, the real AWS broadcaster
//! (`BroadcasterFn`, as the Lambda wires it) records it in the room's DynamoDB history
//! and posts it through the local gateway's `@connections` to the room's members, real
//! SDK clients, and only to them.
//!
//! Needs moto (`ROOMCAST_MOTO_ENDPOINT`, as the AWS tests: `.ci/test` starts one).

mod common;

use std::time::Duration;

use aws_config::SdkConfig;
use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use aws_sdk_sqs::types::Message;
use common::{SdkClients, TestGateway, WAIT};
use futures::StreamExt;
use roomcast_aws::env::Wiring;
use roomcast_aws::handlers::{BroadcasterFn, Connect};
use roomcast_aws::poster::ApiGwPoster;
use roomcast_core::fanout::{FanoutConfig, RetryPolicy};
use roomcast_core::ports::RoomStore;
use roomcast_core::protocol::limits::DEFAULT_ICON_CAP;
use roomcast_sdk::protocol::PublishEnvelope;
use roomcast_sdk::{Event, Events, Publisher, RoomName};
use roomcast_testkit::moto::{sdk_config as aws, unique};
use serde_json::{Value, json};

/// The broadcaster Lambda as `bin/broadcaster.rs` wires it, posting through the
/// gateway's `@connections` (standing in for API Gateway's).
fn broadcaster(aws: &SdkConfig, wiring: &Wiring, gw: &TestGateway) -> BroadcasterFn {
    BroadcasterFn::new(
        wiring.broadcaster(
            ApiGwPoster::new(aws, format!("{}/dev", gw.base_url())),
            FanoutConfig::default(),
        ),
        wiring.queue.clone(),
        RetryPolicy::default(),
    )
    .with_publish(wiring.handler())
}

/// A fresh table (the production definition) and fan-out queue, wired as the
/// Lambdas wire them; presence jobs without an SQS delay so a drain finds them.
async fn wiring(aws: &SdkConfig) -> Wiring {
    let table = unique("roomcast");
    roomcast_aws::dynamo::create_table(&aws_sdk_dynamodb::Client::new(aws), &table)
        .await
        .expect("table created");
    let queue = aws_sdk_sqs::Client::new(aws)
        .create_queue()
        .queue_name(unique("roomcast-fanout"))
        .send()
        .await
        .expect("queue created")
        .queue_url
        .expect("queue url");
    let mut wiring = Wiring::new(aws, table, queue, DEFAULT_ICON_CAP);
    wiring.presence.interval = Duration::from_millis(10);
    wiring
}

/// `$connect` of connection `id` into `room` (`?room=`, `roomcast.v1`), as API
/// Gateway sends it to the connect function.
async fn connect(connect: &Connect, id: &str, room: &str) {
    let event = json!({
        "headers": {"Sec-WebSocket-Protocol": "roomcast.v1"},
        "multiValueHeaders": {"Sec-WebSocket-Protocol": ["roomcast.v1"]},
        "queryStringParameters": {"room": room},
        "multiValueQueryStringParameters": {"room": [room]},
        "requestContext": {
            "routeKey": "$connect",
            "eventType": "CONNECT",
            "connectionId": id,
            "stage": "dev",
            "domainName": "127.0.0.1",
            "apiId": "local",
            "requestId": unique("request"),
            "connectedAt": 1,
            "requestTimeEpoch": 1,
            "identity": {"sourceIp": "127.0.0.1"},
        },
        "isBase64Encoded": false,
    });
    let response = connect
        .handle(serde_json::from_value(event).expect("a connect event"))
        .await;
    assert_eq!(response.status_code, 200, "{response:?}");
}

/// Up to `max` messages, waiting up to `wait` for the first; deletes none.
async fn receive(aws: &SdkConfig, url: &str, max: i32, wait: Duration) -> Vec<Message> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let messages = aws_sdk_sqs::Client::new(aws)
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(max)
            .send()
            .await
            .expect("receive")
            .messages
            .unwrap_or_default();
        if !messages.is_empty() || tokio::time::Instant::now() >= deadline {
            return messages;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The SQS event a Lambda event source mapping delivers for `messages`.
fn sqs_event(messages: &[Message]) -> SqsEvent {
    let mut event = SqsEvent::default();
    event.records = messages
        .iter()
        .map(|m| {
            let mut record = SqsMessage::default();
            record.message_id = m.message_id().map(str::to_owned);
            record.receipt_handle = m.receipt_handle().map(str::to_owned);
            record.body = m.body().map(str::to_owned);
            record
        })
        .collect();
    event
}

/// The application events `events` yields within `window`.
async fn app_events(events: Events, window: Duration) -> Vec<Event> {
    let heard: Vec<Event> = events
        .take_until(tokio::time::sleep(window))
        .collect()
        .await;
    heard
        .into_iter()
        .filter(|e| matches!(e, Event::App { .. }))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sqs_publisher_reaches_the_rooms_members_and_only_them() {
    let aws = aws().await;
    let wiring = wiring(&aws).await;
    let dir = tempfile::tempdir().unwrap();
    // The gateway only stands in for API Gateway's `@connections`; its own rooms'
    // presence waits, so nothing of the gateway's lands among what AWS posts.
    let gw = TestGateway::start_in(dir.path(), 0, &["--presence-interval", "15m"]).await;
    let member = gw.client(&unique("lobby")).await;
    let outsider = gw.client(&unique("lobby")).await;
    let connect_fn = Connect::new(wiring.handler(), wiring.store.clone());
    connect(&connect_fn, member.id().as_str(), "alpha").await;
    connect(&connect_fn, outsider.id().as_str(), "beta").await;
    let broadcaster = broadcaster(&aws, &wiring, &gw);
    // Presence jobs from the connects first.
    let presence = receive(&aws, wiring.queue.url(), 10, Duration::ZERO).await;
    broadcaster.handle(sqs_event(&presence)).await;
    let mut news = member.on::<Value>("news");
    let outsider_events = outsider.events();

    let publisher = Publisher::sqs(aws_sdk_sqs::Client::new(&aws), wiring.queue.url());
    publisher
        .to("alpha")
        .emit("news", json!({"headline": "base online"}))
        .await
        .unwrap();

    // On the queue: the documented publish envelope, not a fan-out job.
    let messages = receive(&aws, wiring.queue.url(), 1, WAIT).await;
    assert_eq!(messages.len(), 1);
    let body = messages[0].body().unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(body).unwrap(),
        json!({"v": 1, "publish": {"room": "alpha", "event": "news", "data": {"headline": "base online"}}})
    );
    let envelope = PublishEnvelope::parse(body).unwrap();
    assert_eq!(envelope.room.as_str(), "alpha");

    let response = broadcaster.handle(sqs_event(&messages)).await;
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    let (from, data) = tokio::time::timeout(WAIT, news.next())
        .await
        .expect("the member hears the news")
        .expect("the client runs");
    assert_eq!(from, None, "a server-side publish has no sender");
    assert_eq!(data, json!({"headline": "base online"}));
    // Recorded in the room's history first, as the HTTP publish API records it.
    let alpha = RoomName::parse("alpha").unwrap();
    let history = wiring.store.history(&alpha, 0).await.unwrap();
    assert_eq!(history.entries.len(), 1);
    assert_eq!(history.entries[0].offset, 1);
    let heard = app_events(outsider_events, Duration::from_millis(300)).await;
    assert!(heard.is_empty(), "the outsider heard {heard:?}");

    // A bad room name is refused before anything is sent.
    assert!(publisher.to("no spaces").emit("x", json!(1)).await.is_err());
    assert!(
        receive(&aws, wiring.queue.url(), 1, Duration::ZERO)
            .await
            .is_empty()
    );
    member.close().await;
    outsider.close().await;
    gw.stop().await;
}

/// An envelope the broadcaster cannot take (too large for `MAX_EMIT_BYTES`, an unknown
/// `v`, not JSON at all) fails alone: reported in `batchItemFailures` (SQS retries it,
/// then dead-letters it), while the batch's good envelope is recorded and delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_envelope_fails_alone_and_the_rest_of_the_batch_goes_out() {
    let aws = aws().await;
    let mut wiring = wiring(&aws).await;
    wiring.limits.max_emit_bytes = 32;
    let dir = tempfile::tempdir().unwrap();
    let gw = TestGateway::start_in(dir.path(), 0, &["--presence-interval", "15m"]).await;
    let member = gw.client(&unique("lobby")).await;
    let connect_fn = Connect::new(wiring.handler(), wiring.store.clone());
    connect(&connect_fn, member.id().as_str(), "alpha").await;
    let broadcaster = broadcaster(&aws, &wiring, &gw);
    let presence = receive(&aws, wiring.queue.url(), 10, Duration::ZERO).await;
    broadcaster.handle(sqs_event(&presence)).await;
    let mut news = member.on::<Value>("news");

    let sqs = aws_sdk_sqs::Client::new(&aws);
    let publisher = Publisher::sqs(sqs.clone(), wiring.queue.url());
    publisher.to("alpha").emit("news", json!(1)).await.unwrap();
    // The SDK does not know the stack's MAX_EMIT_BYTES; the broadcaster checks it.
    publisher
        .to("alpha")
        .emit("news", json!({"text": "x".repeat(64)}))
        .await
        .unwrap();
    for body in [
        json!({"v": 2, "publish": {"room": "alpha", "event": "news", "data": 2}}).to_string(),
        "not json".to_owned(),
    ] {
        sqs.send_message()
            .queue_url(wiring.queue.url())
            .message_body(body)
            .send()
            .await
            .unwrap();
    }
    let mut messages = Vec::new();
    while messages.len() < 4 {
        let got = receive(&aws, wiring.queue.url(), 10, WAIT).await;
        assert!(
            !got.is_empty(),
            "4 messages on the queue, got {}",
            messages.len()
        );
        messages.extend(got);
    }

    let response = broadcaster.handle(sqs_event(&messages)).await;
    let mut failed: Vec<&str> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    failed.sort();
    let mut bad: Vec<&str> = messages
        .iter()
        .filter(|m| {
            m.body() != Some(r#"{"v":1,"publish":{"room":"alpha","event":"news","data":1}}"#)
        })
        .map(|m| m.message_id().unwrap())
        .collect();
    bad.sort();
    assert_eq!(failed, bad);
    assert_eq!(bad.len(), 3);

    let (from, data) = tokio::time::timeout(WAIT, news.next())
        .await
        .expect("the member hears the good envelope")
        .expect("the client runs");
    assert_eq!((from, data), (None, json!(1)));
    let alpha = RoomName::parse("alpha").unwrap();
    let history = wiring.store.history(&alpha, 0).await.unwrap();
    assert_eq!(
        history.entries.len(),
        1,
        "only the good envelope is recorded"
    );
    member.close().await;
    gw.stop().await;
}
