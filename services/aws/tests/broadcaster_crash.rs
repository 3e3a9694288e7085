//! The broadcaster Lambda killed mid-job (issue 8, fault injection, AWS home).
//!
//! The real `broadcaster` binary runs as a process against the Lambda Runtime API
//! emulator (`common/runtime_api.rs`), with DynamoDB and SQS on moto and API
//! Gateway's `@connections` played by the local gateway, whose real WebSocket clients
//! are the room's members. The test is the SQS event source mapping: it receives a
//! batch, invokes the function with it, and deletes the messages only when the
//! function answers. The function's posts are slowed by its own rate budget
//! (`RATE_LIMIT`), and it is SIGKILLed once some members have the patches and others
//! do not. Its messages become visible again after the queue's visibility timeout; a
//! fresh process delivers them; every member ends with every version, and the
//! duplicates (the posts the killed process made) are dropped by version.

mod common;
#[path = "common/runtime_api.rs"]
mod runtime_api;

use std::collections::BTreeSet;
use std::os::unix::process::ExitStatusExt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_sqs::types::{Message, MessageSystemAttributeName};
use common::*;
use futures::StreamExt;
use roomcast_aws::env::Wiring;
use roomcast_core::Session;
use roomcast_core::auth::RoomAccess;
use roomcast_core::protocol::limits::DEFAULT_ICON_CAP;
use roomcast_core::protocol::{ConnectionId, Protocol, ServerMessage};
use runtime_api::*;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message as Frame;

const MEMBERS: usize = 6;
const VERSIONS: u64 = 5;
/// The queue's visibility timeout: how long a received, undeleted job stays hidden.
const VISIBILITY_SECS: u32 = 2;
/// The function's rate budget (posts/s, one instance): the first 10 posts go at once
/// (the budget's burst), the other 20 of the 30 take about two seconds.
const RATE_LIMIT: &str = "10";
/// Kill once this many patches have arrived: past the burst, mid-delivery.
const KILL_AFTER: usize = 12;

/// Receive `n` messages (waiting for them to be visible), with their receive counts.
async fn receive_jobs(sdk: &aws_config::SdkConfig, url: &str, n: usize) -> Vec<Message> {
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let mut got: Vec<Message> = Vec::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    while got.len() < n {
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {} of {n} jobs visible within {WAIT:?}",
            got.len()
        );
        let batch = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .expect("receive")
            .messages
            .unwrap_or_default();
        got.extend(batch);
    }
    got
}

fn receive_count(m: &Message) -> u32 {
    m.attributes()
        .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

fn ids(messages: &[Message]) -> BTreeSet<String> {
    messages
        .iter()
        .map(|m| m.message_id().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broadcaster_killed_mid_job_is_redelivered_by_sqs_and_members_drop_the_duplicates() {
    let sdk = sdk().await;
    let store = table(&sdk).await;
    let (queue_url, dlq) = queue_with_visibility(&sdk, 5, VISIBILITY_SECS).await;
    let gateway = Gateway::start(&[]).await;
    let room = room();
    let env = vec![
        ("TABLE_NAME", store.table().to_owned()),
        ("QUEUE_URL", queue_url.clone()),
        ("APIGW_ENDPOINT", gateway.endpoint()),
        ("POOL_SIZE", "1".to_owned()),
        ("POST_CONCURRENCY", "2".to_owned()),
        ("RATE_LIMIT", RATE_LIMIT.to_owned()),
    ];

    // The room's members: real WebSocket clients, connected as `connect` does. Each
    // client's patch versions of the room are recorded as they arrive.
    let received: Arc<Mutex<Vec<Vec<u64>>>> = Arc::new(Mutex::new(vec![Vec::new(); MEMBERS]));
    let mut readers = Vec::new();
    for i in 0..MEMBERS {
        let client = gateway.client().await;
        connect_directly(&sdk, &store, &queue_url, &client.id, &room).await;
        let (received, room) = (received.clone(), room.as_str().to_owned());
        let mut ws = client.socket.ws;
        readers.push(tokio::spawn(async move {
            while let Some(Ok(frame)) = ws.next().await {
                let Frame::Text(text) = frame else { continue };
                let m: Value = serde_json::from_str(&text).unwrap();
                if m["type"] == "patch" && m["room"] == room.as_str() {
                    received.lock().unwrap()[i].push(m["version"].as_u64().unwrap());
                }
            }
        }));
    }
    let arrived = || received.lock().unwrap().iter().map(Vec::len).sum::<usize>();
    // The connects' presence jobs are not what this test is about.
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    loop {
        let presence = receive_now(&sdk, &queue_url, 10).await;
        if presence.is_empty() {
            break;
        }
        for m in presence {
            sqs.delete_message()
                .queue_url(&queue_url)
                .receipt_handle(m.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
    }

    // VERSIONS committed changes, each enqueued as one room job (actions' handler).
    let wiring = Wiring::new(
        &sdk,
        store.table().to_owned(),
        queue_url.clone(),
        DEFAULT_ICON_CAP,
    );
    let editor = Session {
        id: ConnectionId::parse(connection_id()).unwrap(),
        protocol: Protocol::V1,
        room: room.clone(),
        access: RoomAccess::Any,
        user: roomcast_core::protocol::UserId::parse("editor").unwrap(),
    };
    for v in 1..=VERSIONS {
        let frame = json!({"action":"changeBackground","room":room.as_str(),"bg":v,"ref":"r"});
        let replies = wiring.handler().message(&editor, &frame.to_string()).await;
        assert!(
            matches!(replies.as_slice(), [ServerMessage::Ack { version: Some(got), .. }] if *got == v),
            "{replies:?}"
        );
    }

    // Round 1: a warm broadcaster gets the batch and is SIGKILLed mid-delivery.
    let first = Function::start("broadcaster", env!("CARGO_BIN_EXE_broadcaster"), &env).await;
    let jobs = receive_jobs(&sdk, &queue_url, VERSIONS as usize).await;
    assert_eq!(jobs.len(), VERSIONS as usize);
    assert!(jobs.iter().all(|m| receive_count(m) == 1));
    let invocation = first.submit(serde_json::to_value(sqs_event(&jobs)).unwrap());
    let deadline = tokio::time::Instant::now() + INVOKE_WAIT;
    while arrived() < KILL_AFTER {
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {} patches arrived\noutput:\n{}",
            arrived(),
            first.output()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (status, reports) = first.kill().await;
    let at_kill = arrived();
    assert_eq!(status.signal(), Some(9), "{status:?}");
    assert!(
        !reports
            .iter()
            .any(|r| matches!(r, Report::Response { id, .. } if *id == invocation)),
        "the killed invocation never answered: {reports:?}"
    );
    assert!(
        at_kill < MEMBERS * VERSIONS as usize,
        "killed mid-job: {at_kill} of {} posts had landed",
        MEMBERS * VERSIONS as usize
    );

    // The messages were never deleted: after the visibility timeout SQS hands the same
    // jobs out again, now on their second receive.
    let again = receive_jobs(&sdk, &queue_url, VERSIONS as usize).await;
    assert_eq!(ids(&again), ids(&jobs), "the same jobs come back");
    assert!(again.iter().all(|m| receive_count(m) == 2));

    // Round 2: a fresh broadcaster (a new sandbox) delivers them and answers; the
    // event source mapping deletes what succeeded.
    let mut second = Function::start("broadcaster", env!("CARGO_BIN_EXE_broadcaster"), &env).await;
    let answer = second
        .invoke(serde_json::to_value(sqs_event(&again)).unwrap())
        .await;
    assert_eq!(answer, json!({"batchItemFailures": []}));
    for m in &again {
        sqs.delete_message()
            .queue_url(&queue_url)
            .receipt_handle(m.receipt_handle().unwrap())
            .send()
            .await
            .unwrap();
    }

    // Every member has every version; what arrived twice is dropped by version.
    let want: BTreeSet<u64> = (1..=VERSIONS).collect();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let complete = received.lock().unwrap().iter().all(|got| {
            let distinct: BTreeSet<u64> = got.iter().copied().collect();
            distinct == want
        });
        if complete {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "incomplete: {:?}\noutput:\n{}",
            received.lock().unwrap(),
            second.output()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let received = received.lock().unwrap().clone();
    let dups: Vec<usize> = received
        .iter()
        .map(|got| got.len() - got.iter().collect::<BTreeSet<_>>().len())
        .collect();
    let total_dups: usize = dups.iter().sum();
    eprintln!(
        "broadcaster SIGKILLed after {at_kill} of {} posts had arrived: {} frames in all, \
         {total_dups} duplicates dropped by version (per member {dups:?}); arrivals {received:?}",
        MEMBERS * VERSIONS as usize,
        received.iter().map(Vec::len).sum::<usize>(),
    );
    // Each post the killed process made is made again by the fresh one (it reruns the
    // whole jobs), so the duplicates are at least what had arrived at the kill.
    assert!(total_dups >= at_kill, "{total_dups} < {at_kill}");
    assert!(total_dups < MEMBERS * VERSIONS as usize);

    // Nothing is left on the queue, nothing went to the DLQ.
    assert!(receive_now(&sdk, &queue_url, 10).await.is_empty());
    assert!(receive_now(&sdk, &dlq, 10).await.is_empty());

    for r in readers {
        r.abort();
    }
    second.stop().await;
    gateway.stop().await;
}
