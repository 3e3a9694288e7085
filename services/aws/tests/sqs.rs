//! The SQS fan-out queue against moto with the real SDK client.

mod common;

use roomcast_aws::sqs::{MAX_MESSAGE_BYTES, SqsQueue};
use roomcast_core::fanout::{FanoutJob, RoomJob, ShardJob, now_ms};
use roomcast_core::ports::FanoutQueue;
use roomcast_core::protocol::{ConnectionId, RoomName};

fn room_job(room: &str, payload: String) -> FanoutJob {
    FanoutJob::Room(RoomJob {
        room: RoomName::parse(room).unwrap(),
        version: Some(7),
        payload,
        except: None,
        planetstack_state: true,
        created_ms: now_ms(),
    })
}

fn shard_job(i: usize) -> FanoutJob {
    FanoutJob::Shard(ShardJob {
        room: RoomName::parse("big").unwrap(),
        version: Some(3),
        payload: format!(r#"{{"type":"patch","n":{i}}}"#),
        connections: (0..3).map(|_| ConnectionId::generate()).collect(),
        created_ms: now_ms(),
        attempt: 0,
    })
}

fn parse(m: &aws_sdk_sqs::types::Message) -> FanoutJob {
    serde_json::from_str(m.body().unwrap()).expect("a job")
}

#[tokio::test]
async fn one_job_is_one_message_and_round_trips() {
    let sdk = common::sdk().await;
    let (url, _) = common::queue(&sdk, 3).await;
    let queue = SqsQueue::new(aws_sdk_sqs::Client::new(&sdk), &url);
    let job = room_job("alpha", r#"{"type":"patch"}"#.into());
    queue.enqueue(vec![job.clone()]).await.unwrap();

    let got = common::receive(&sdk, &url, 1).await;
    assert_eq!(got.len(), 1);
    assert_eq!(parse(&got[0]), job);
}

#[tokio::test]
async fn many_jobs_go_in_batches_and_all_arrive_then_are_deleted() {
    let sdk = common::sdk().await;
    let (url, _) = common::queue(&sdk, 3).await;
    let client = aws_sdk_sqs::Client::new(&sdk);
    let queue = SqsQueue::new(client.clone(), &url);
    let jobs: Vec<FanoutJob> = (0..23).map(shard_job).collect();
    queue.enqueue(jobs.clone()).await.unwrap();

    let got = common::receive(&sdk, &url, 23).await;
    assert_eq!(got.len(), 23);
    let mut received: Vec<FanoutJob> = got.iter().map(parse).collect();
    let key = |j: &FanoutJob| serde_json::to_string(j).unwrap();
    received.sort_by_key(key);
    let mut sent = jobs;
    sent.sort_by_key(key);
    assert_eq!(received, sent, "every job exactly once, intact");

    for m in &got {
        client
            .delete_message()
            .queue_url(&url)
            .receipt_handle(m.receipt_handle().unwrap())
            .send()
            .await
            .unwrap();
    }
    let attrs = client
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
        .send()
        .await
        .unwrap();
    let count = |name: &str| {
        attrs
            .attributes()
            .unwrap()
            .iter()
            .find(|(k, _)| k.as_str() == name)
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    assert_eq!(count("ApproximateNumberOfMessages"), "0");
    assert_eq!(count("ApproximateNumberOfMessagesNotVisible"), "0");
}

#[tokio::test]
async fn a_job_over_the_sqs_limit_is_refused_whole_and_nothing_is_sent() {
    let sdk = common::sdk().await;
    let (url, _) = common::queue(&sdk, 3).await;
    let queue = SqsQueue::new(aws_sdk_sqs::Client::new(&sdk), &url);
    // A payload just under the limit fits; JSON escaping can push a frame over it.
    let fits = room_job("alpha", "x".repeat(MAX_MESSAGE_BYTES - 400));
    queue.enqueue(vec![fits]).await.unwrap();

    let quoted = "\"".repeat(MAX_MESSAGE_BYTES / 2 + 10); // each quote is escaped to two bytes
    let too_big = room_job("alpha", quoted);
    let err = queue
        .enqueue(vec![shard_job(1), too_big, shard_job(2)])
        .await
        .expect_err("refused");
    let chain = format!("{err}: {}", std::error::Error::source(&err).unwrap());
    assert!(
        chain.contains("over SQS's 262144-byte message limit"),
        "{chain}"
    );
    assert!(chain.contains("room alpha"), "{chain}");

    let got = common::receive(&sdk, &url, 4).await;
    assert_eq!(
        got.len(),
        1,
        "only the job that fit; the refused batch sent nothing"
    );
    let FanoutJob::Room(job) = parse(&got[0]) else {
        panic!("room job")
    };
    assert_eq!(
        job.payload.len(),
        MAX_MESSAGE_BYTES - 400,
        "never truncated"
    );
}

#[tokio::test]
async fn delayed_messages_wait_before_they_are_visible() {
    let sdk = common::sdk().await;
    let (url, _) = common::queue(&sdk, 3).await;
    let client = aws_sdk_sqs::Client::new(&sdk);
    let queue = SqsQueue::new(client.clone(), &url).delayed(2);
    queue.enqueue(vec![shard_job(0)]).await.unwrap();
    let now = client
        .receive_message()
        .queue_url(&url)
        .send()
        .await
        .unwrap()
        .messages
        .unwrap_or_default();
    assert!(now.is_empty(), "not visible during its delay");
    let later = common::receive(&sdk, &url, 1).await;
    assert_eq!(later.len(), 1, "visible after the delay");
}
