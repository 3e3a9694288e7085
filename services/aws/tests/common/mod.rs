//! Test harness for the AWS adapters: real SDK clients against moto on loopback, the
//! real local gateway for `@connections`, and the AWS sample events.
#![allow(dead_code)]

mod gateway;
pub mod stack;

pub use gateway::{Client, Gateway};
pub use roomcast_testkit::WAIT;

use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_sqs::types::QueueAttributeName;
use roomcast_aws::dynamo::{DynamoStore, create_table};
use roomcast_aws::env::Wiring;
use roomcast_core::protocol::limits::DEFAULT_ICON_CAP;
use serde_json::Value;

/// The tests' `PRESENCE_INTERVAL`: presence jobs without an SQS delay (under half a
/// second rounds to 0), so a test that drains the queue finds them. The presence tests
/// set the real default.
pub const UNDELAYED_PRESENCE: Duration = Duration::from_millis(10);

/// moto, as every crate's tests reach it (`roomcast_testkit::moto`). Without
/// `ROOMCAST_MOTO_ENDPOINT` these tests fail loudly rather than skip, so a gap cannot
/// hide in CI.
#[allow(unused_imports)] // each test binary uses some of them
pub use roomcast_testkit::moto::{endpoint as moto_endpoint, sdk_config as sdk, unique};

/// A fresh table with the production definition.
pub async fn table(sdk: &SdkConfig) -> DynamoStore {
    table_with_cap(sdk, DEFAULT_ICON_CAP).await
}

/// A fresh table whose bases hold at most `icon_cap` icons.
pub async fn table_with_cap(sdk: &SdkConfig, icon_cap: usize) -> DynamoStore {
    let name = unique("roomcast");
    let client = aws_sdk_dynamodb::Client::new(sdk);
    create_table(&client, &name).await.expect("table created");
    DynamoStore::new(client, name, icon_cap)
}

/// A fresh standard queue with a DLQ after `max_receive` receives; returns (queue
/// url, dlq url).
pub async fn queue(sdk: &SdkConfig, max_receive: u32) -> (String, String) {
    queue_with_visibility(sdk, max_receive, 30).await
}

/// [`queue`] whose received messages stay invisible for `visibility_secs` (the
/// queue's `VisibilityTimeout`): a message not deleted by then is delivered again.
pub async fn queue_with_visibility(
    sdk: &SdkConfig,
    max_receive: u32,
    visibility_secs: u32,
) -> (String, String) {
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let dlq = sqs
        .create_queue()
        .queue_name(unique("roomcast-dlq"))
        .send()
        .await
        .expect("dlq created")
        .queue_url
        .expect("dlq url");
    let dlq_arn = sqs
        .get_queue_attributes()
        .queue_url(&dlq)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("dlq attributes")
        .attributes
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .expect("dlq arn");
    let redrive =
        serde_json::json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive});
    let url = sqs
        .create_queue()
        .queue_name(unique("roomcast-fanout"))
        .attributes(QueueAttributeName::RedrivePolicy, redrive.to_string())
        .attributes(
            QueueAttributeName::VisibilityTimeout,
            visibility_secs.to_string(),
        )
        .send()
        .await
        .expect("queue created")
        .queue_url
        .expect("queue url");
    (url, dlq)
}

/// Table + queue + handler wiring, as the Lambdas build it.
pub async fn wiring(sdk: &SdkConfig) -> Wiring {
    wiring_with_dlq(sdk).await.0
}

/// [`wiring`], with the URL of the queue's DLQ (after 3 receives).
pub async fn wiring_with_dlq(sdk: &SdkConfig) -> (Wiring, String) {
    let store = table(sdk).await;
    let (queue, dlq) = queue(sdk, 3).await;
    let mut wiring = Wiring::new(sdk, store.table().to_owned(), queue, DEFAULT_ICON_CAP);
    wiring.presence.interval = UNDELAYED_PRESENCE;
    (wiring, dlq)
}

/// Receive up to `max` messages, waiting up to [`WAIT`] for the first; deletes none.
pub async fn receive(sdk: &SdkConfig, url: &str, max: usize) -> Vec<aws_sdk_sqs::types::Message> {
    receive_within(sdk, url, max, WAIT).await
}

/// Receive what is visible now (a one-second long poll), up to `max`; deletes none.
pub async fn receive_now(
    sdk: &SdkConfig,
    url: &str,
    max: usize,
) -> Vec<aws_sdk_sqs::types::Message> {
    receive_within(sdk, url, max, Duration::from_secs(1)).await
}

async fn receive_within(
    sdk: &SdkConfig,
    url: &str,
    max: usize,
    patience: Duration,
) -> Vec<aws_sdk_sqs::types::Message> {
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + patience;
    while out.len() < max && tokio::time::Instant::now() < deadline {
        let got = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .expect("receive")
            .messages
            .unwrap_or_default();
        if got.is_empty() && !out.is_empty() {
            break;
        }
        out.extend(got);
    }
    out
}

/// Look at the messages now on the queue and make them visible again at once.
pub async fn peek(sdk: &SdkConfig, url: &str, max: usize) -> Vec<aws_sdk_sqs::types::Message> {
    let got = receive(sdk, url, max).await;
    let sqs = aws_sdk_sqs::Client::new(sdk);
    for m in &got {
        sqs.change_message_visibility()
            .queue_url(url)
            .receipt_handle(m.receipt_handle().unwrap())
            .visibility_timeout(0)
            .send()
            .await
            .expect("visible again");
    }
    got
}

/// A sample event from `tests/events/`, as JSON to adjust. (`include_str!` resolves
/// next to this file, so other crates' tests can include this harness too.)
pub fn sample(name: &str) -> Value {
    let text = match name {
        "websocket-connect.json" => include_str!("../events/websocket-connect.json"),
        "websocket-disconnect.json" => include_str!("../events/websocket-disconnect.json"),
        "websocket-authorizer.json" => include_str!("../events/websocket-authorizer.json"),
        "sqs-event.json" => include_str!("../events/sqs-event.json"),
        other => panic!("no sample event {other}"),
    };
    serde_json::from_str(text).expect("json")
}

/// The connect sample for connection `id`, with a query string and subprotocol.
pub fn connect_event(id: &str, query: &[(&str, &str)], protocol: Option<&str>) -> Value {
    let mut e = sample("websocket-connect.json");
    e["requestContext"]["connectionId"] = id.into();
    e["requestContext"]["authorizer"] = Value::Null;
    set_query(&mut e, query);
    if let Some(p) = protocol {
        e["headers"]["Sec-WebSocket-Protocol"] = p.into();
    }
    e
}

/// Set a `$connect` or authorizer event's query string to `query`, in both of the
/// forms API Gateway sends (`queryStringParameters`, `multiValueQueryStringParameters`).
pub fn set_query(e: &mut Value, query: &[(&str, &str)]) {
    let q: serde_json::Map<String, Value> = query
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).into()))
        .collect();
    e["queryStringParameters"] = q.clone().into();
    e["multiValueQueryStringParameters"] = q
        .into_iter()
        .map(|(k, v)| (k, Value::Array(vec![v])))
        .collect::<serde_json::Map<_, _>>()
        .into();
}

/// A message event (route = action) from connection `id` with `body`, whose
/// management endpoint is `endpoint` (`http://127.0.0.1:port`, stage `dev`).
pub fn message_event(
    id: &str,
    body: &Value,
    endpoint_host: &str,
    authorizer: Option<Value>,
) -> Value {
    let mut e = sample("websocket-connect.json");
    let route = body
        .get("action")
        .and_then(Value::as_str)
        .unwrap_or("$default")
        .to_owned();
    e["requestContext"]["connectionId"] = id.into();
    e["requestContext"]["routeKey"] = route.into();
    e["requestContext"]["eventType"] = "MESSAGE".into();
    e["requestContext"]["domainName"] = endpoint_host.into();
    e["requestContext"]["stage"] = "dev".into();
    e["requestContext"]["authorizer"] = authorizer.unwrap_or(Value::Null);
    e["body"] = body.to_string().into();
    e
}

/// The disconnect sample for connection `id`.
pub fn disconnect_event(id: &str) -> Value {
    let mut e = sample("websocket-disconnect.json");
    e["requestContext"]["connectionId"] = id.into();
    e
}

/// An SQS event carrying `messages` as a Lambda event source mapping delivers them.
pub fn sqs_event(messages: &[aws_sdk_sqs::types::Message]) -> aws_lambda_events::sqs::SqsEvent {
    let template = sample("sqs-event.json")["Records"][0].clone();
    let records: Vec<Value> = messages
        .iter()
        .map(|m| {
            let mut r = template.clone();
            r["messageId"] = m.message_id().unwrap_or_default().into();
            r["receiptHandle"] = m.receipt_handle().unwrap_or_default().into();
            r["body"] = m.body().unwrap_or_default().into();
            r["messageAttributes"] = serde_json::json!({});
            r
        })
        .collect();
    serde_json::from_value(serde_json::json!({ "Records": records })).expect("sqs event")
}

/// Deserialize an adjusted sample into its typed event.
pub fn typed<T: serde::de::DeserializeOwned>(v: Value) -> T {
    serde_json::from_value(v).expect("typed event")
}
