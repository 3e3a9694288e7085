//! The SQS publisher against moto: `publisher.to(room).emit(..)` enqueues the same
//! fan-out job the HTTP publish API would, and the AWS broadcaster delivers it to the
//! room's members (real WebSocket clients of the local gateway's `@connections`), and
//! only to them.

#[path = "../../services/aws/tests/common/mod.rs"]
mod aws;

use roomcast_aws::handlers::{BroadcasterFn, Connect};
use roomcast_aws::poster::ApiGwPoster;
use roomcast_core::fanout::{FanoutConfig, FanoutJob};
use roomcast_sdk::Publisher;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sqs_publisher_reaches_the_rooms_members_and_only_them() {
    let sdk = aws::sdk().await;
    let wiring = aws::wiring(&sdk).await;
    let gw = aws::Gateway::start(&[]).await;
    let connect = Connect::new(wiring.handler(), wiring.store.clone());
    let mut member = gw.client().await;
    let mut outsider = gw.client().await;
    for (client, room) in [(&member, "alpha"), (&outsider, "beta")] {
        let event = aws::connect_event(&client.id, &[("room", room)], Some("roomcast.v1"));
        assert_eq!(connect.handle(aws::typed(event)).await.status_code, 200);
    }
    let broadcaster = BroadcasterFn::new(
        wiring.broadcaster(
            ApiGwPoster::new(&sdk, gw.endpoint()),
            FanoutConfig::default(),
        ),
        wiring.queue.clone(),
        roomcast_core::fanout::RetryPolicy::default(),
    );
    // Presence jobs from the connects first.
    let presence = aws::receive_now(&sdk, wiring.queue.url(), 10).await;
    broadcaster.handle(aws::sqs_event(&presence)).await;

    let publisher = Publisher::sqs(aws_sdk_sqs::Client::new(&sdk), wiring.queue.url());
    publisher
        .to("alpha")
        .emit("news", json!({"headline": "base online"}))
        .await
        .unwrap();

    let messages = aws::receive(&sdk, wiring.queue.url(), 1).await;
    assert_eq!(messages.len(), 1);
    let job: FanoutJob = serde_json::from_str(messages[0].body().unwrap()).unwrap();
    let FanoutJob::Room(room_job) = &job else {
        panic!("a room job")
    };
    assert_eq!(room_job.room.as_str(), "alpha");
    assert_eq!(room_job.version, None, "events carry no version");

    let response = broadcaster.handle(aws::sqs_event(&messages)).await;
    assert!(response.batch_item_failures.is_empty());
    let event = member.recv_type_in("alpha", "event").await;
    assert_eq!(
        event,
        json!({"type":"event","room":"alpha","event":"news","data":{"headline":"base online"},"from":null})
    );
    let heard = outsider.drain(std::time::Duration::from_millis(300)).await;
    assert!(heard.iter().all(|m| m["type"] != "event"), "{heard:?}");

    // A bad room name is refused before anything is sent.
    assert!(publisher.to("no spaces").emit("x", json!(1)).await.is_err());
    assert!(
        aws::receive_now(&sdk, wiring.queue.url(), 1)
            .await
            .is_empty()
    );
    gw.stop().await;
}
