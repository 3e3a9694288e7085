//! Each Lambda binary, started as a real process against a Lambda Runtime API on
//! loopback, answers a sample event. The Runtime API emulator and the process handling
//! are in `common/runtime_api.rs`.

mod common;
#[path = "common/runtime_api.rs"]
mod runtime_api;

use std::sync::atomic::Ordering;

use common::*;
use roomcast_aws::dynamo::DynamoStore;
use roomcast_core::protocol::{ConnectionId, Protocol, RoomName, UserId};
use runtime_api::*;
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------
// Fixtures.

/// A fresh table and queue, and the environment the table/queue functions read.
async fn backend() -> (
    aws_config::SdkConfig,
    DynamoStore,
    String,
    Vec<(&'static str, String)>,
) {
    let sdk = sdk().await;
    let store = table(&sdk).await;
    let (queue_url, _dlq) = queue(&sdk, 3).await;
    let env = vec![
        ("TABLE_NAME", store.table().to_owned()),
        ("QUEUE_URL", queue_url.clone()),
    ];
    (sdk, store, queue_url, env)
}
/// The header `name` of a proxy response, case-insensitively.
fn header<'a>(response: &'a Value, name: &str) -> Option<&'a str> {
    response["headers"]
        .as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .and_then(|(_, v)| v.as_str())
}

/// The authorizer sample with `?room=` and `?token=` (when given) and a v1 subprotocol.
fn authorizer_event(room: &RoomName, token: Option<&str>) -> Value {
    let mut e = sample("websocket-authorizer.json");
    let mut query = vec![("room", room.as_str())];
    if let Some(t) = token {
        query.push(("token", t));
    }
    set_query(&mut e, &query);
    e["headers"]["Sec-WebSocket-Protocol"] = "roomcast.v1".into();
    e["multiValueHeaders"]["Sec-WebSocket-Protocol"] = json!(["roomcast.v1"]);
    e
}

/// An HS256 token for `sub` granting `rooms`, expiring `ttl_secs` from now (negative:
/// already expired).
fn token(secret: &str, sub: &str, rooms: &[&RoomName], ttl_secs: i64) -> String {
    let rooms: Vec<&str> = rooms.iter().map(|r| r.as_str()).collect();
    roomcast_testkit::hs(
        json!({"sub": sub, "exp": roomcast_testkit::exp(ttl_secs), "rooms": rooms}),
        secret,
    )
}

/// The effect of an authorizer answer's only statement.
fn effect(answer: &Value) -> &str {
    answer["policyDocument"]["Statement"][0]["Effect"]
        .as_str()
        .unwrap_or_else(|| panic!("no policy statement in {answer}"))
}

/// Allow for a valid token (principal, rooms, protocol, room in the context); Deny
/// for a forged one, an expired one, and none.
async fn authorizer_decides(f: &mut Function, secret: &str) {
    let room = room();
    let answer = f
        .invoke(authorizer_event(
            &room,
            Some(&token(secret, "alice", &[&room], 600)),
        ))
        .await;
    assert_eq!(effect(&answer), "Allow", "{answer}");
    assert_eq!(answer["principalId"], "alice", "{answer}");
    assert_eq!(
        answer["policyDocument"]["Statement"][0]["Resource"][0],
        "arn:aws:execute-api:eu-west-1:123456789012:abcdef123/test/$connect",
        "{answer}"
    );
    assert_eq!(answer["context"]["principal"], "alice", "{answer}");
    assert_eq!(answer["context"]["room"], room.as_str(), "{answer}");
    assert_eq!(answer["context"]["protocol"], "roomcast.v1", "{answer}");
    assert!(
        answer["context"]["rooms"]
            .as_str()
            .is_some_and(|r| r.contains(room.as_str())),
        "{answer}"
    );

    for (what, event) in [
        (
            "forged",
            authorizer_event(
                &room,
                Some(&token("not-the-secret", "mallory", &[&room], 600)),
            ),
        ),
        (
            "expired",
            authorizer_event(&room, Some(&token(secret, "alice", &[&room], -600))),
        ),
        ("missing", authorizer_event(&room, None)),
        ("garbage", authorizer_event(&room, Some("not.a.jwt"))),
    ] {
        let answer = f.invoke(event).await;
        assert_eq!(effect(&answer), "Deny", "{what} token: {answer}");
        assert_eq!(answer["context"], json!({}), "{what} token: {answer}");
    }
}

// ---------------------------------------------------------------------------------
// The cases.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_binary_answers_a_v1_connect_and_stores_the_connection() {
    let (_sdk, store, _queue, env) = backend().await;
    let mut f = Function::start("connect", env!("CARGO_BIN_EXE_connect"), &env).await;
    let id = connection_id();
    let room = room();

    let answer = f
        .invoke(connect_event(
            &id,
            &[("room", room.as_str())],
            Some("roomcast.v1"),
        ))
        .await;
    assert_eq!(answer["statusCode"], 200, "{answer}");
    assert_eq!(
        header(&answer, "Sec-WebSocket-Protocol"),
        Some("roomcast.v1"),
        "{answer}"
    );
    let stored = store
        .connection(&ConnectionId::parse(id.as_str()).unwrap())
        .await
        .expect("read the connection");
    let anonymous = UserId::anonymous(&ConnectionId::parse(id.as_str()).unwrap());
    assert_eq!(stored, Some((Protocol::V1, room.clone(), anonymous)));
    let line = f
        .logged("for the $connect", |v| {
            v["route"] == "$connect" && v["connection"] == id.as_str()
        })
        .await;
    assert_eq!(line["outcome"], "ok", "{line}");
    assert_eq!(line["room"], room.as_str(), "{line}");

    // A second invocation on the same process: an invalid room is refused.
    let answer = f
        .invoke(connect_event(
            &connection_id(),
            &[("room", "no spaces")],
            None,
        ))
        .await;
    assert_eq!(answer["statusCode"], 400, "{answer}");
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnect_binary_answers_and_forgets_the_connection() {
    let (sdk, store, queue_url, env) = backend().await;
    let id = connection_id();
    connect_directly(&sdk, &store, &queue_url, &id, &room()).await;
    let cid = ConnectionId::parse(id.as_str()).unwrap();
    assert!(store.connection(&cid).await.unwrap().is_some());

    let mut f = Function::start("disconnect", env!("CARGO_BIN_EXE_disconnect"), &env).await;
    let answer = f.invoke(disconnect_event(&id)).await;
    assert_eq!(answer["statusCode"], 200, "{answer}");
    assert_eq!(store.connection(&cid).await.unwrap(), None);
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorizer_binary_allows_a_valid_token_and_denies_bad_ones_with_jwt_secret() {
    let secret = unique("secret");
    let mut f = Function::start(
        "authorizer",
        env!("CARGO_BIN_EXE_authorizer"),
        &[("JWT_SECRET", secret.clone())],
    )
    .await;
    authorizer_decides(&mut f, &secret).await;
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorizer_binary_reads_its_secret_from_an_ssm_secure_string() {
    let sdk = sdk().await;
    let secret = unique("secret");
    let param = format!("/roomcast/{}/jwt-secret", unique("test"));
    aws_sdk_ssm::Client::new(&sdk)
        .put_parameter()
        .name(&param)
        .value(&secret)
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .send()
        .await
        .expect("parameter stored");
    let mut f = Function::start(
        "authorizer",
        env!("CARGO_BIN_EXE_authorizer"),
        &[("JWT_SECRET_PARAM", param)],
    )
    .await;
    authorizer_decides(&mut f, &secret).await;
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actions_binary_answers_a_message_and_the_reply_reaches_the_websocket_client() {
    let (sdk, store, queue_url, env) = backend().await;
    // A room with one member, so listRooms has something to list.
    let listed = room();
    connect_directly(&sdk, &store, &queue_url, &connection_id(), &listed).await;

    let gateway = Gateway::start(&[]).await;
    let mut client = gateway.client().await;
    let mut f = Function::start("actions", env!("CARGO_BIN_EXE_actions"), &env).await;

    let event = message_event(
        &client.id,
        &json!({"action": "listRooms", "ref": "r1"}),
        &gateway.base_url(),
        None,
    );
    let answer = f.invoke(event).await;
    assert_eq!(answer["statusCode"], 200, "{answer}");

    // The replies went to the sender through the gateway's @connections.
    let frames = tokio::time::timeout(WAIT, async {
        let mut ack = None;
        loop {
            let m = client.recv().await;
            match m["type"].as_str() {
                Some("ack") if m["ref"] == "r1" => ack = Some(m),
                Some("rooms") => return (ack, m),
                _ => {}
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no reply within {WAIT:?}\noutput:\n{}", f.output()));
    let (ack, rooms) = frames;
    assert!(ack.is_some(), "the ack came before the rooms: {rooms}");
    assert!(
        rooms["rooms"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["room"] == listed.as_str() && r["members"] == 1),
        "{rooms}"
    );
    let line = f
        .logged("for listRooms", |v| {
            v["route"] == "listRooms" && v["connection"] == client.id.as_str()
        })
        .await;
    assert_eq!(line["outcome"], "ok", "{line}");

    f.stop().await;
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broadcaster_binary_reports_only_the_poison_job_in_batch_item_failures() {
    let (sdk, store, queue_url, mut env) = backend().await;
    let gateway = Gateway::start(&[]).await;
    let mut client = gateway.client().await;
    // The gateway's client is the only member of a room in the table.
    let room = room();
    connect_directly(&sdk, &store, &queue_url, &client.id, &room).await;
    env.push(("APIGW_ENDPOINT", gateway.endpoint()));
    let mut f = Function::start("broadcaster", env!("CARGO_BIN_EXE_broadcaster"), &env).await;

    let frame = json!({
        "type": "event", "room": room.as_str(), "event": "hello",
        "data": {"n": 1}, "from": null,
    });
    // A publish envelope (the SDK's SQS publisher), and one in a version this
    // broadcaster does not read.
    let envelope =
        json!({"v": 1, "publish": {"room": room.as_str(), "event": "hello", "data": {"n": 1}}});
    let mut future = envelope.clone();
    future["v"] = 2.into();
    let template = sample("sqs-event.json")["Records"][0].clone();
    let record = |message_id: &str, body: String| {
        let mut r = template.clone();
        r["messageId"] = message_id.into();
        r["receiptHandle"] = format!("handle-{message_id}").into();
        r["body"] = body.into();
        r
    };
    let event = json!({"Records": [
        record("poison-1", "not json".to_owned()),
        record("job-1", envelope.to_string()),
        record("future-1", future.to_string()),
    ]});

    let answer = f.invoke(event).await;
    assert_eq!(
        answer,
        json!({"batchItemFailures": [{"itemIdentifier": "poison-1"}, {"itemIdentifier": "future-1"}]}),
    );
    let line = f
        .logged("for the v2 envelope", |v| v["message_id"] == "future-1")
        .await;
    let said = line.to_string();
    assert!(
        said.contains("malformed publish envelope")
            && said.contains("unsupported publish envelope version 2"),
        "{line}"
    );
    // The valid envelope was delivered through @connections: the binary recorded its
    // event as the room's first entry, as the HTTP publish API does, then posted it.
    let got = tokio::time::timeout(WAIT, client.recv_type_in(room.as_str(), "event"))
        .await
        .unwrap_or_else(|_| panic!("no event within {WAIT:?}\noutput:\n{}", f.output()));
    let mut placed = frame.clone();
    placed["offset"] = 1.into();
    placed["epoch"] = got["epoch"].clone();
    assert!(got["epoch"].is_string(), "{got}");
    assert_eq!(got, placed);

    // An event that is not an SQS event is an invocation error (the runtime's
    // deserializer), and the process keeps serving.
    let (error_type, body) = f.invoke_error(json!({"Records": "not a list"})).await;
    assert!(
        error_type.is_some() && body["errorMessage"].as_str().is_some(),
        "{error_type:?} {body}"
    );
    let answer = f.invoke(json!({"Records": []})).await;
    assert_eq!(answer, json!({"batchItemFailures": []}));

    f.stop().await;
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_binary_missing_a_required_setting_fails_its_init_naming_the_setting() {
    let (_sdk, store, queue_url, _) = backend().await;
    let table = ("TABLE_NAME", store.table().to_owned());
    let queue = ("QUEUE_URL", queue_url);
    let missing_param = format!("/roomcast/{}/absent", unique("test"));
    // (function, binary, its environment, the setting the failure must name)
    type Case<'a> = (&'static str, &'a str, Vec<(&'a str, String)>, String);
    let cases: Vec<Case> = vec![
        (
            "connect",
            env!("CARGO_BIN_EXE_connect"),
            vec![queue.clone()],
            "TABLE_NAME".into(),
        ),
        (
            "disconnect",
            env!("CARGO_BIN_EXE_disconnect"),
            vec![table.clone()],
            "QUEUE_URL".into(),
        ),
        (
            "actions",
            env!("CARGO_BIN_EXE_actions"),
            vec![queue.clone()],
            "TABLE_NAME".into(),
        ),
        (
            "broadcaster",
            env!("CARGO_BIN_EXE_broadcaster"),
            vec![table.clone(), queue.clone()],
            "APIGW_ENDPOINT".into(),
        ),
        (
            "broadcaster",
            env!("CARGO_BIN_EXE_broadcaster"),
            vec![
                table.clone(),
                queue.clone(),
                ("APIGW_ENDPOINT", "http://127.0.0.1:9/dev".into()),
                ("SHARD_SIZE", "0".into()),
            ],
            "SHARD_SIZE".into(),
        ),
        // A secret that cannot be read fails closed: no fallback to open auth.
        (
            "authorizer",
            env!("CARGO_BIN_EXE_authorizer"),
            vec![("JWT_SECRET_PARAM", missing_param.clone())],
            missing_param.clone(),
        ),
    ];
    for (name, exe, env, named) in cases {
        let mut f = Function::start(name, exe, &env).await;
        let (status, init_error, output) = f.init_failure().await;
        match (status, init_error) {
            (_, Some(report)) => assert!(
                report.to_string().contains(&named),
                "{name}: the init error does not name {named}: {report}"
            ),
            (Some(status), None) => {
                assert!(!status.success(), "{name} exited successfully\n{output}");
                assert!(
                    output.contains(&named),
                    "{name}: exit output does not name {named}:\n{output}"
                );
            }
            (None, None) => unreachable!(),
        }
        assert_eq!(
            f.polls.load(Ordering::SeqCst),
            0,
            "{name} asked for work although it cannot run\n{output}"
        );
        f.stop().await;
    }
}
