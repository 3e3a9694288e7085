//! The AWS path end to end, without AWS: `$connect` → `actions` (addIcon through
//! core's handler) → the job on moto's SQS queue → `broadcaster` → posts over HTTP to
//! a real `@connections` endpoint (the local gateway's) → real WebSocket clients.
//!
//! The queue is pumped by the test the way a Lambda event source mapping would: receive
//! a batch, hand it to the broadcaster, delete what succeeded, leave the failures.

mod common;

use std::time::Duration;

use common::Gateway;
use common::stack::{Stack, quick};
use roomcast_aws::handlers::{BroadcasterFn, Connect};
use roomcast_aws::poster::ApiGwPoster;
use roomcast_core::fanout::{FanoutConfig, FanoutJob, ShardJob, now_ms};
use roomcast_core::ports::MembershipStore;
use roomcast_core::presence::PresencePolicy;
use roomcast_core::protocol::{ConnectionId, RoomName};
use serde_json::json;

/// Three tries in all, the first retry after a second (as SQS delays go).
fn three_tries() -> roomcast_core::fanout::RetryPolicy {
    roomcast_core::fanout::RetryPolicy {
        attempts: 3,
        first_delay: std::time::Duration::from_secs(1),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_icon_through_actions_reaches_every_member_of_the_room_and_only_them() {
    let stack = Stack::new(500, &[]).await;
    let mut a = stack.gw.client().await;
    let mut b = stack.gw.client().await;
    let mut c = stack.gw.client().await;
    stack.connect(&a, "alpha").await;
    stack.connect(&b, "alpha").await;
    stack.connect(&c, "beta").await;
    stack.drain_queue().await;
    // Presence jobs run in any order; the count settles at 2.
    while b.recv_type_in("alpha", "presence").await["members"] != 2 {}

    stack
        .act(
            &a,
            json!({"action":"addIcon","room":"alpha","icon":{"img":3,"x":400,"y":400},"ref":"r7"}),
        )
        .await;
    // The ack goes straight back to the sender through @connections, after the
    // welcome owed to the connection's first action, and names the new icon.
    let mut welcomed = false;
    let ack = loop {
        let m = a.recv().await;
        if m["type"] == "welcome" {
            assert_eq!(m["id"], a.id.as_str(), "{m}");
            assert_eq!(m["user"], format!("anonymous:{}", a.id), "{m}");
            welcomed = true;
        }
        if m["type"] == "ack" {
            break m;
        }
    };
    assert!(welcomed, "the welcome came before the ack");
    let icon_id = ack["id"].as_str().unwrap().to_owned();
    assert_eq!(
        ack,
        json!({"type":"ack","ref":"r7","version":1,"id":icon_id})
    );

    // The patch travels as a job through SQS and the broadcaster.
    let reports = stack.drain_queue().await;
    assert_eq!(
        reports.iter().map(|r| r.delivery.delivered).sum::<usize>(),
        2
    );
    for client in [&mut a, &mut b] {
        let patch = client.recv_type_in("alpha", "patch").await;
        assert_eq!(patch["version"], 1);
        assert_eq!(patch["op"]["addIcon"]["img"], 3);
        assert_eq!(patch["op"]["addIcon"]["id"], icon_id.as_str());
        assert_eq!(patch["offset"], 1, "the room's first history entry");
    }
    assert!(
        c.drain(Duration::from_millis(300))
            .await
            .iter()
            .all(|m| m["room"] != "alpha"),
        "beta hears nothing of alpha"
    );

    // getState answers from DynamoDB.
    stack
        .act(&b, json!({"action":"getState","room":"alpha"}))
        .await;
    let state = b.recv_type_in("alpha", "state").await;
    assert_eq!(state["version"], 1);
    assert_eq!(state["state"]["icons"].as_object().unwrap().len(), 1);

    // A bad frame: an error for the sender, nothing enqueued, nothing stored.
    stack
        .act(
            &b,
            json!({"action":"addIcon","room":"alpha","icon":{"img":99,"x":1,"y":1},"ref":"bad"}),
        )
        .await;
    let error = loop {
        let m = b.recv().await;
        if m["type"] == "error" {
            break m;
        }
    };
    assert_eq!(error["code"], "invalid_image");
    assert_eq!(error["ref"], "bad");
    assert!(stack.drain_queue().await.is_empty());

    // $disconnect: the room hears the new count.
    let response = stack
        .disconnect
        .handle(common::typed(common::disconnect_event(&a.id)))
        .await;
    assert_eq!(response.status_code, 200);
    stack.drain_queue().await;
    assert_eq!(b.recv_type_in("alpha", "presence").await["members"], 1);
    stack.gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_larger_than_shard_size_is_split_into_shard_jobs() {
    let stack = Stack::new(2, &[]).await;
    let mut clients = Vec::new();
    for _ in 0..5 {
        let c = stack.gw.client().await;
        stack.connect(&c, "big").await;
        clients.push(c);
    }
    stack.drain_queue().await;

    stack
        .act(
            &clients[0],
            json!({"action":"changeBackground","room":"big","bg":6}),
        )
        .await;
    // First round: the room job is planned into ceil(5 / 2) = 3 shard jobs on SQS.
    let (response, reports, jobs) = stack.pump().await;
    assert!(response.batch_item_failures.is_empty());
    let planned = reports
        .iter()
        .zip(&jobs)
        .find(|(_, j)| matches!(j, FanoutJob::Room(r) if r.version == Some(1)))
        .map(|(r, _)| r)
        .expect("the patch's room job ran");
    assert_eq!((planned.targets, planned.shards), (5, 3));
    assert_eq!(planned.delivery.delivered, 0, "nothing delivered in place");
    let shards = common::peek(&stack.sdk, stack.wiring.queue.url(), 3).await;
    let shard_jobs: Vec<ShardJob> = shards
        .iter()
        .filter_map(|m| match serde_json::from_str(m.body().unwrap()) {
            Ok(FanoutJob::Shard(s)) => Some(s),
            _ => None,
        })
        .collect();
    assert_eq!(shard_jobs.len(), 3);
    assert!(shard_jobs.iter().all(|s| s.connections.len() <= 2));
    // Run them as the pool would.
    let reports = stack.drain_queue().await;
    assert_eq!(
        reports.iter().map(|r| r.delivery.delivered).sum::<usize>(),
        5
    );
    for c in &mut clients {
        let patch = c.recv_type_in("big", "patch").await;
        assert_eq!(patch["version"], 1);
        assert_eq!(patch["op"], json!({"changeBackground":{"bg":6}}));
        let again = c.drain(Duration::from_millis(100)).await;
        assert!(again.iter().all(|m| m["type"] != "patch"), "exactly once");
    }
    stack.gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gone_connection_is_cleaned_up_and_the_rest_delivered() {
    let stack = Stack::new(500, &[]).await;
    let mut stays = stack.gw.client().await;
    let leaves = stack.gw.client().await;
    stack.connect(&stays, "alpha").await;
    stack.connect(&leaves, "alpha").await;
    stack.drain_queue().await;
    let gone_id = ConnectionId::parse(leaves.id.clone()).unwrap();
    // The socket closes without a $disconnect (API Gateway only tries its best).
    drop(leaves);
    let store = &stack.wiring.store;
    let alpha = RoomName::parse("alpha").unwrap();
    assert_eq!(
        store.members(&alpha, None, 10).await.unwrap().members.len(),
        2
    );

    stack.act(&stays, json!({"action":"emit","room":"alpha","event":"chat","data":{"text":"hi"},"except_sender":false})).await;
    let reports = stack.drain_queue().await;
    let gone: usize = reports.iter().map(|r| r.delivery.gone).sum();
    let delivered: usize = reports.iter().map(|r| r.delivery.delivered).sum();
    assert_eq!(gone, 1, "the closed connection answered 410");
    assert!(
        delivered >= 2,
        "the event, then the presence, reached the one who stayed"
    );
    let event = stays.recv_type_in("alpha", "event").await;
    assert_eq!(event["data"], json!({"text":"hi"}));
    assert_eq!(stays.recv_type_in("alpha", "presence").await["members"], 1);

    // Its connection and membership items are gone.
    let members = store.members(&alpha, None, 10).await.unwrap().members;
    assert_eq!(members.len(), 1);
    assert_ne!(members[0].id, gone_id);
    assert!(store.connection(&gone_id).await.unwrap().is_none());
    stack.gw.stop().await;
}

/// Keeps a stalled connection's outbound queue full by posting large frames to it
/// through `@connections` until stopped; reports once the queue has answered 429 many
/// times in a row (kernel buffers saturated, so a free slot is rare).
fn keep_full(
    mgmt: aws_sdk_apigatewaymanagement::Client,
    id: String,
    stop: tokio_util::sync::CancellationToken,
) -> (
    tokio::task::JoinHandle<()>,
    tokio::sync::watch::Receiver<bool>,
) {
    let filler = format!(
        r#"{{"type":"event","room":"filler","event":"x","data":"{}","from":null}}"#,
        "x".repeat(100 * 1024)
    );
    let (full, saturated) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(async move {
        let mut in_a_row = 0;
        while !stop.is_cancelled() {
            let r = mgmt
                .post_to_connection()
                .connection_id(&id)
                .data(aws_sdk_apigatewaymanagement::primitives::Blob::new(
                    filler.as_bytes(),
                ))
                .send()
                .await;
            match r {
                Ok(_) => in_a_row = 0,
                Err(e) => {
                    assert_eq!(
                        e.raw_response().map(|r| r.status().as_u16()),
                        Some(429),
                        "{e:?}"
                    );
                    in_a_row += 1;
                    if in_a_row >= 50 {
                        let _ = full.send(true);
                    }
                    tokio::task::yield_now().await;
                }
            }
        }
    });
    (task, saturated)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttled_post_is_retried_until_it_lands() {
    // An outbound queue of two frames (bytes unbounded), and a long slow-consumer
    // timeout so the gateway throttles (429 LimitExceededException) instead of closing.
    let stack = Stack::new(
        500,
        &[
            "--outbound-frames",
            "2",
            "--outbound-bytes",
            "16777216",
            "--slow-consumer-timeout",
            "60s",
        ],
    )
    .await;
    let mut slow = stack.gw.client().await;
    let mut fast = stack.gw.client().await;
    stack.connect(&slow, "alpha").await;
    stack.connect(&fast, "alpha").await;
    stack.drain_queue().await;
    let mgmt = aws_sdk_apigatewaymanagement::Client::from_conf(
        aws_sdk_apigatewaymanagement::config::Builder::from(&stack.sdk)
            .endpoint_url(stack.gw.endpoint())
            // Every 429 should reach the loop, not be retried inside the SDK.
            .retry_config(aws_sdk_apigatewaymanagement::config::retry::RetryConfig::disabled())
            .build(),
    );

    // `slow` stops reading; its queue is kept full while a patch is broadcast, and
    // released 1.5 s later. A free slot can still open by chance, so try a
    // few patches until one was throttled; every one must land in the end.
    let mut throttles = 0;
    for bg in 1..=5u64 {
        let stop = tokio_util::sync::CancellationToken::new();
        let (pressure, mut saturated) = keep_full(mgmt.clone(), slow.id.clone(), stop.clone());
        tokio::time::timeout(Duration::from_secs(30), saturated.wait_for(|s| *s))
            .await
            .expect("the stalled connection's queue filled up")
            .unwrap();
        stack
            .act(
                &fast,
                json!({"action":"changeBackground","room":"alpha","bg":bg}),
            )
            .await;
        let release = tokio::spawn(async move {
            // Moto's long poll hands the job over about a second after it is sent.
            tokio::time::sleep(Duration::from_millis(1500)).await;
            stop.cancel();
            pressure.await.unwrap();
            // `slow` reads again: the throttled patch arrives after the fillers.
            let patch = slow.recv_type_in("alpha", "patch").await;
            (slow, patch)
        });
        let reports = stack.drain_queue().await;
        let (returned, patch) = release.await.unwrap();
        slow = returned;
        assert_eq!(patch["version"], bg, "in order, once");
        assert_eq!(fast.recv_type_in("alpha", "patch").await["version"], bg);
        assert!(
            reports
                .iter()
                .all(|r| r.delivery.failed.is_empty() && r.retry.is_empty()),
            "retried until delivered, never given up: {reports:?}"
        );
        throttles += reports.iter().map(|r| r.delivery.throttled).sum::<usize>();
        if throttles > 0 {
            break;
        }
    }
    assert!(
        throttles >= 1,
        "a post to the stalled connection was throttled"
    );
    stack.gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_jobs_are_reported_in_batch_item_failures_and_only_they() {
    let sdk = common::sdk().await;
    let wiring = common::wiring(&sdk).await;
    let gw = Gateway::start(&[]).await;
    let ok_client = gw.client().await;

    // A poster whose endpoint refuses connections: every post fails (not 410/429).
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_endpoint = format!("http://{}/dev", closed.local_addr().unwrap());
    drop(closed);
    let config = FanoutConfig {
        max_attempts: 2,
        ..quick(500)
    };
    let dead = BroadcasterFn::new(
        wiring.broadcaster(ApiGwPoster::new(&sdk, dead_endpoint), config.clone()),
        wiring.queue.clone(),
        three_tries(),
    );
    let live = BroadcasterFn::new(
        wiring.broadcaster(ApiGwPoster::new(&sdk, gw.endpoint()), config),
        wiring.queue.clone(),
        three_tries(),
    );
    let shard = |attempt: u32, to: &str| {
        FanoutJob::Shard(ShardJob {
            room: RoomName::parse("alpha").unwrap(),
            version: None,
            payload: r#"{"type":"event","room":"alpha","event":"ping","data":1,"from":null}"#
                .into(),
            connections: vec![ConnectionId::parse(to).unwrap()],
            created_ms: now_ms(),
            attempt,
        })
    };
    let body = |job: &FanoutJob| serde_json::to_string(job).unwrap();
    let message = |id: &str, body: String| {
        aws_sdk_sqs::types::Message::builder()
            .message_id(id)
            .receipt_handle(format!("rh-{id}"))
            .body(body)
            .build()
    };

    // A poison job and a job at its last attempt are reported; a fresh failing job is
    // retried through a new (delayed) shard job instead; a good job succeeds.
    let batch = vec![
        message("poison", "not json".into()),
        message("exhausted", body(&shard(2, &ok_client.id))),
        message("fresh", body(&shard(0, &ok_client.id))),
    ];
    let (response, _) = dead.run_batch(common::sqs_event(&batch)).await;
    let mut failed: Vec<&str> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    failed.sort();
    assert_eq!(failed, ["exhausted", "poison"]);
    let retry = common::receive(&sdk, wiring.queue.url(), 1).await;
    assert_eq!(retry.len(), 1, "the fresh job's failures were re-enqueued");
    let FanoutJob::Shard(retry_job) = serde_json::from_str(retry[0].body().unwrap()).unwrap()
    else {
        panic!("a shard job")
    };
    assert_eq!(retry_job.attempt, 1);
    assert_eq!(retry_job.connections[0].as_str(), ok_client.id);

    // The same jobs against the live endpoint: only the poison one is reported.
    let (response, reports) = live.run_batch(common::sqs_event(&batch[1..])).await;
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    assert_eq!(
        reports.iter().map(|r| r.delivery.delivered).sum::<usize>(),
        2
    );
    let serialized = serde_json::to_value(&response).unwrap();
    assert_eq!(serialized, json!({"batchItemFailures": []}));
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_job_ends_in_the_dlq_while_the_others_are_delivered() {
    let sdk = common::sdk().await;
    let (wiring, dlq) = common::wiring_with_dlq(&sdk).await;
    let gw = Gateway::start(&[]).await;
    let mut client = gw.client().await;
    let connect = Connect::new(wiring.handler(), wiring.store.clone());
    let event = common::connect_event(&client.id, &[("room", "alpha")], Some("roomcast.v1"));
    assert_eq!(connect.handle(common::typed(event)).await.status_code, 200);
    let broadcaster = BroadcasterFn::new(
        wiring.broadcaster(ApiGwPoster::new(&sdk, gw.endpoint()), quick(500)),
        wiring.queue.clone(),
        three_tries(),
    );
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    sqs.send_message()
        .queue_url(wiring.queue.url())
        .message_body(r#"{"kind":"room","room":"alpha"}"#)
        .send()
        .await
        .unwrap();

    // Event source mapping rounds: failures stay on the queue and come back (here at
    // once, instead of after the visibility timeout) until SQS's redrive takes them.
    let mut reported = 0;
    for _ in 0..6 {
        let messages = common::receive_now(&sdk, wiring.queue.url(), 10).await;
        if messages.is_empty() {
            break;
        }
        let response = broadcaster.handle(common::sqs_event(&messages)).await;
        for m in &messages {
            let failed = response
                .batch_item_failures
                .iter()
                .any(|f| Some(f.item_identifier.as_str()) == m.message_id());
            let (call, handle) = (sqs.clone(), m.receipt_handle().unwrap().to_owned());
            if failed {
                reported += 1;
                call.change_message_visibility()
                    .queue_url(wiring.queue.url())
                    .receipt_handle(handle)
                    .visibility_timeout(0)
                    .send()
                    .await
                    .unwrap();
            } else {
                call.delete_message()
                    .queue_url(wiring.queue.url())
                    .receipt_handle(handle)
                    .send()
                    .await
                    .unwrap();
            }
        }
    }
    assert_eq!(
        reported, 3,
        "reported on each of its maxReceiveCount receives"
    );
    let dead = common::receive(&sdk, &dlq, 1).await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].body(), Some(r#"{"kind":"room","room":"alpha"}"#));
    // The presence job from the connect was delivered meanwhile.
    assert_eq!(client.recv_type_in("alpha", "presence").await["members"], 1);
    gw.stop().await;
}

/// Issue 13's AWS target: a burst of N connects into one room costs at most 3N
/// `PostToConnection` calls (counted by the `@connections` endpoint itself), with the
/// default presence policy (1 s, one delayed SQS job per room), and every member ends
/// on the exact count.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_connects_costs_at_most_3n_posts_and_ends_on_the_exact_count() {
    const N: usize = 40;
    let sdk = common::sdk().await;
    let mut wiring = common::wiring(&sdk).await;
    wiring.presence = PresencePolicy::default();
    let stack = Stack::with_wiring(500, &[], sdk, wiring).await;
    let mut clients = Vec::new();
    for _ in 0..N {
        clients.push(stack.gw.client().await);
    }
    let before = stack.gw.connections_api_posts().await;
    futures::future::join_all(clients.iter().map(|c| stack.connect(c, "crowd"))).await;
    let reports = stack.drain_until_quiet(Duration::from_millis(2_500)).await;
    let posts = stack.gw.connections_api_posts().await - before;
    let broadcasts = reports.iter().filter(|r| r.targets > 0).count();
    println!(
        "{N} connects: {posts} PostToConnection calls ({:.2} per connect) in {broadcasts} presence broadcasts",
        posts as f64 / N as f64
    );
    assert!(posts <= 3 * N as u64, "{posts} posts for {N} connects");
    for c in &mut clients {
        while c.recv_type_in("crowd", "presence").await["members"] != N {}
    }
    // The burst's marks are all cleared: the next change schedules a job at once.
    let crowd = RoomName::parse("crowd").unwrap();
    assert!(
        stack
            .wiring
            .store
            .mark_presence(&crowd, u64::MAX, 0)
            .await
            .unwrap(),
        "a pending mark was left behind"
    );
    stack.gw.stop().await;
}

/// A presence job delivered twice (SQS at least once) repeats the count and leaves a
/// newer change's pending mark alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redelivered_presence_job_repeats_the_count_and_keeps_the_newer_mark() {
    let stack = Stack::new(500, &[]).await;
    let mut a = stack.gw.client().await;
    let b = stack.gw.client().await;
    stack.connect(&a, "alpha").await;
    let (_, _, jobs) = stack.pump().await;
    let first = jobs
        .into_iter()
        .find(|j| matches!(j, FanoutJob::Presence(_)))
        .expect("the connect's presence job");
    assert_eq!(a.recv_type_in("alpha", "presence").await["members"], 1);

    stack.connect(&b, "alpha").await;
    // The first job again, as SQS would redeliver it: the count, now 2, again.
    let again = aws_sdk_sqs::types::Message::builder()
        .message_id("redelivered")
        .body(serde_json::to_string(&first).unwrap())
        .build();
    let (response, _) = stack
        .broadcaster
        .run_batch(common::sqs_event(&[again]))
        .await;
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    assert_eq!(a.recv_type_in("alpha", "presence").await["members"], 2);
    // b's connect still has its own job pending, and it runs.
    let reports = stack.drain_until_quiet(Duration::from_millis(1_500)).await;
    assert!(reports.iter().any(|r| r.targets == 2), "{reports:?}");
    assert_eq!(a.recv_type_in("alpha", "presence").await["members"], 2);
    stack.gw.stop().await;
}
