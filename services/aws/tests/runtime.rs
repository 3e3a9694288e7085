//! Each Lambda binary, started as a real process against a Lambda Runtime API on
//! loopback, answers a sample event.
//!
//! The Runtime API is a small emulator in this file (the part of
//! <https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html> that
//! `lambda_runtime` 1.5 uses): `GET /runtime/invocation/next` hands out one queued
//! event with the `Lambda-Runtime-*` headers and long-polls while the queue is empty;
//! `POST /runtime/invocation/{id}/response`, `/{id}/error` and `/runtime/init/error`
//! are recorded. The binaries get the environment Lambda gives a `provided.al2023`
//! function (`AWS_LAMBDA_RUNTIME_API`, `AWS_LAMBDA_FUNCTION_NAME`, ...) plus the
//! function's own settings, with every SDK client pointed at moto by
//! `AWS_ENDPOINT_URL`; API Gateway's `@connections` is the local gateway's.

mod common;

use std::net::SocketAddr;
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use common::*;
use roomcast_aws::dynamo::DynamoStore;
use roomcast_core::Session;
use roomcast_core::auth::RoomAccess;
use roomcast_core::fanout::{FanoutJob, RoomJob, now_ms};
use roomcast_core::protocol::{ConnectionId, Protocol, RoomName};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// How long a cold start plus one invocation may take (debug binaries, two cores,
/// builds running next to the tests).
const INVOKE_WAIT: Duration = Duration::from_secs(30);

/// The function ARN the emulator hands out with every invocation.
const FUNCTION_ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:roomcast-test";

// ---------------------------------------------------------------------------------
// The Runtime API emulator.

/// What a function told the Runtime API.
#[derive(Debug)]
enum Report {
    /// `POST /runtime/invocation/{id}/response`.
    Response { id: String, body: Value },
    /// `POST /runtime/invocation/{id}/error`.
    Error {
        id: String,
        error_type: Option<String>,
        body: Value,
    },
    /// `POST /runtime/init/error`.
    InitError {
        error_type: Option<String>,
        body: Value,
    },
}

#[derive(Clone)]
struct Api {
    /// Queued invocations: (request id, event).
    events: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<(String, Value)>>>,
    reports: mpsc::UnboundedSender<Report>,
    /// How many times `/next` was asked.
    polls: Arc<AtomicUsize>,
}

fn json_body(body: &Bytes) -> Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
}

fn error_type(headers: &HeaderMap) -> Option<String> {
    headers
        .get("lambda-runtime-function-error-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn accepted() -> Response {
    (StatusCode::ACCEPTED, axum::Json(json!({"status": "OK"}))).into_response()
}

/// `GET /runtime/invocation/next`: the next event, or wait for one.
async fn next(State(api): State<Api>) -> Response {
    api.polls.fetch_add(1, Ordering::SeqCst);
    let Some((id, event)) = api.events.lock().await.recv().await else {
        // The test is over; the function is about to be killed.
        return StatusCode::GONE.into_response();
    };
    let deadline = now_ms() + INVOKE_WAIT.as_millis() as u64;
    let trace = format!("Root=1-{:08x}-{}", now_ms() / 1000, id.replace('-', ""));
    (
        [
            ("Lambda-Runtime-Aws-Request-Id", id),
            ("Lambda-Runtime-Deadline-Ms", deadline.to_string()),
            (
                "Lambda-Runtime-Invoked-Function-Arn",
                FUNCTION_ARN.to_owned(),
            ),
            ("Lambda-Runtime-Trace-Id", trace),
            ("Content-Type", "application/json".to_owned()),
        ],
        event.to_string(),
    )
        .into_response()
}

async fn response(State(api): State<Api>, Path(id): Path<String>, body: Bytes) -> Response {
    let _ = api.reports.send(Report::Response {
        id,
        body: json_body(&body),
    });
    accepted()
}

async fn error(
    State(api): State<Api>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let _ = api.reports.send(Report::Error {
        id,
        error_type: error_type(&headers),
        body: json_body(&body),
    });
    accepted()
}

async fn init_error(State(api): State<Api>, headers: HeaderMap, body: Bytes) -> Response {
    let _ = api.reports.send(Report::InitError {
        error_type: error_type(&headers),
        body: json_body(&body),
    });
    accepted()
}

/// One Lambda function: its Runtime API and its bootstrap process.
struct Function {
    name: &'static str,
    events: mpsc::UnboundedSender<(String, Value)>,
    reports: mpsc::UnboundedReceiver<Report>,
    polls: Arc<AtomicUsize>,
    child: Child,
    /// Everything the process printed, tagged `out`/`err`, in arrival order.
    output: Arc<Mutex<Vec<(&'static str, String)>>>,
    readers: Vec<JoinHandle<()>>,
    server: JoinHandle<()>,
}

impl Function {
    /// Start the Runtime API on a free loopback port and the binary `exe` against it,
    /// with the Lambda environment plus `env` (and nothing inherited from the test).
    async fn start(name: &'static str, exe: &str, env: &[(&str, String)]) -> Self {
        let (event_tx, event_rx) = mpsc::unbounded_channel();
        let (report_tx, report_rx) = mpsc::unbounded_channel();
        let api = Api {
            events: Arc::new(tokio::sync::Mutex::new(event_rx)),
            reports: report_tx,
            polls: Arc::new(AtomicUsize::new(0)),
        };
        let polls = api.polls.clone();
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(response),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(api);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });

        let mut command = Command::new(exe);
        command
            .env_clear()
            // What Lambda sets for a custom runtime (`lambda_runtime::Config::from_env`
            // requires the first four; the log names are read when present).
            .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", format!("roomcast-{name}"))
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env(
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/roomcast-{name}"),
            )
            .env(
                "AWS_LAMBDA_LOG_STREAM_NAME",
                "2026/01/01/[$LATEST]0123456789abcdef",
            )
            .env("LAMBDA_TASK_ROOT", "/var/task")
            // The SDK's standard settings, pointed at moto.
            .env("AWS_REGION", "us-east-1")
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_SESSION_TOKEN", "testing")
            .env("AWS_ENDPOINT_URL", moto_endpoint())
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("RUST_LOG", "info")
            .env("RUST_BACKTRACE", "0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("spawning {exe}: {e}"));
        let output = Arc::new(Mutex::new(Vec::new()));
        let readers = vec![
            read_lines("out", child.stdout.take().unwrap(), output.clone()),
            read_lines("err", child.stderr.take().unwrap(), output.clone()),
        ];
        Self {
            name,
            events: event_tx,
            reports: report_rx,
            polls,
            child,
            output,
            readers,
            server,
        }
    }

    /// What the process printed so far, for failure messages.
    fn output(&self) -> String {
        self.output
            .lock()
            .unwrap()
            .iter()
            .map(|(stream, line)| format!("  [{} {stream}] {line}\n", self.name))
            .collect()
    }

    /// Invoke the function with `event` and return what it answered. Fails the test on
    /// an invocation error, an init error, an exit, or no answer within
    /// [`INVOKE_WAIT`].
    async fn invoke(&mut self, event: Value) -> Value {
        match self.call(event).await {
            Ok(body) => body,
            Err((error_type, body)) => panic!(
                "{}: invocation error {error_type:?}: {body}\noutput:\n{}",
                self.name,
                self.output()
            ),
        }
    }

    /// Invoke the function with `event`; it must answer with an invocation error
    /// (`/invocation/{id}/error`): returns its error type header and body.
    async fn invoke_error(&mut self, event: Value) -> (Option<String>, Value) {
        match self.call(event).await {
            Ok(body) => panic!("{}: answered {body} instead of an error", self.name),
            Err(error) => error,
        }
    }

    /// One invocation: the response body, or the invocation error's type and body.
    /// Anything else (an init error, an exit, silence) fails the test.
    async fn call(&mut self, event: Value) -> Result<Value, (Option<String>, Value)> {
        let id = unique("req");
        self.events.send((id.clone(), event)).unwrap();
        let outcome = tokio::time::timeout(INVOKE_WAIT, async {
            tokio::select! {
                report = self.reports.recv() => match report {
                    Some(Report::Response { id: got, body }) if got == id => Ok(Ok(body)),
                    Some(Report::Error { id: got, error_type, body }) if got == id => {
                        Ok(Err((error_type, body)))
                    }
                    Some(other) => Err(format!("unexpected {other:?}")),
                    None => Err("the Runtime API stopped".to_owned()),
                },
                status = self.child.wait() => {
                    Err(format!("the process exited ({status:?}) before answering"))
                }
            }
        })
        .await;
        match outcome {
            Ok(Ok(answer)) => answer,
            Ok(Err(what)) => panic!("{}: {what}\noutput:\n{}", self.name, self.output()),
            Err(_) => panic!(
                "{}: no answer within {INVOKE_WAIT:?}\noutput:\n{}",
                self.name,
                self.output()
            ),
        }
    }

    /// Wait (bounded) until the process exits or reports an init error; for
    /// functions that must not start. Returns the exit status (if it exited), the
    /// init error (if one was reported) and everything the process printed.
    async fn init_failure(&mut self) -> (Option<ExitStatus>, Option<Value>, String) {
        let name = self.name;
        let (status, init_error) = tokio::time::timeout(INVOKE_WAIT, async {
            tokio::select! {
                status = self.child.wait() => (Some(status.expect("wait")), None),
                report = self.reports.recv() => match report {
                    Some(Report::InitError { error_type, body }) => {
                        (None, Some(json!({"type": error_type, "body": body})))
                    }
                    other => panic!("{name}: expected an init error, got {other:?}"),
                },
            }
        })
        .await
        .unwrap_or_else(|_| {
            panic!(
                "{name}: neither exited nor reported an init error within {INVOKE_WAIT:?}\noutput:\n{}",
                self.output()
            )
        });
        if status.is_some() {
            // The pipes close with the process: read to the end.
            for reader in self.readers.drain(..) {
                let _ = tokio::time::timeout(WAIT, reader).await;
            }
        }
        (status, init_error, self.output())
    }

    /// Wait (bounded) for a JSON log line on stdout matching `pred`.
    async fn logged(&self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let found = self
                .output
                .lock()
                .unwrap()
                .iter()
                .filter(|(stream, _)| *stream == "out")
                .filter_map(|(_, line)| serde_json::from_str::<Value>(line).ok())
                .find(|v| pred(v));
            if let Some(line) = found {
                return line;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{}: no log line {what} within {WAIT:?}\noutput:\n{}",
                self.name,
                self.output()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Kill the process and the Runtime API.
    async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = tokio::time::timeout(WAIT, self.child.wait()).await;
        self.server.abort();
        for reader in self.readers.drain(..) {
            reader.abort();
        }
    }
}

fn read_lines(
    stream: &'static str,
    pipe: impl AsyncRead + Unpin + Send + 'static,
    output: Arc<Mutex<Vec<(&'static str, String)>>>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut lines = BufReader::new(pipe).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            output.lock().unwrap().push((stream, line));
        }
    })
}

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

/// An API Gateway-like connection id.
fn connection_id() -> String {
    format!("{}=", &unique("c")[2..18])
}

/// A room name no other test uses.
fn room() -> RoomName {
    RoomName::parse(unique("room")).unwrap()
}

/// Put connection `id` into `room` as the `connect` function does.
async fn connect_directly(
    sdk: &aws_config::SdkConfig,
    store: &DynamoStore,
    queue_url: &str,
    id: &str,
    room: &RoomName,
) {
    let wiring = roomcast_aws::env::Wiring::new(
        sdk,
        store.table().to_owned(),
        queue_url.to_owned(),
        roomcast_core::protocol::limits::DEFAULT_ICON_CAP,
    );
    let session = Session {
        id: ConnectionId::parse(id).unwrap(),
        protocol: Protocol::V1,
        room: room.clone(),
        access: RoomAccess::Any,
    };
    wiring.handler().connect(&session).await.expect("connected");
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
    let mut query = serde_json::Map::new();
    query.insert("room".into(), room.as_str().into());
    if let Some(t) = token {
        query.insert("token".into(), t.into());
    }
    e["queryStringParameters"] = query.clone().into();
    e["multiValueQueryStringParameters"] = query
        .into_iter()
        .map(|(k, v)| (k, Value::Array(vec![v])))
        .collect::<serde_json::Map<_, _>>()
        .into();
    e["headers"]["Sec-WebSocket-Protocol"] = "roomcast.v1".into();
    e["multiValueHeaders"]["Sec-WebSocket-Protocol"] = json!(["roomcast.v1"]);
    e
}

/// An HS256 token for `sub` granting `rooms`, expiring `ttl_secs` from now (negative:
/// already expired).
fn token(secret: &str, sub: &str, rooms: &[&RoomName], ttl_secs: i64) -> String {
    let exp = (now_ms() / 1000) as i64 + ttl_secs;
    let rooms: Vec<&str> = rooms.iter().map(|r| r.as_str()).collect();
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({"sub": sub, "exp": exp, "rooms": rooms}),
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
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
    assert_eq!(stored, Some((Protocol::V1, room.clone())));
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
        &gateway.host(),
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
    let job = FanoutJob::Room(RoomJob {
        room: room.clone(),
        version: None,
        payload: frame.to_string(),
        except: None,
        seed_state: false,
        created_ms: now_ms(),
    });
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
        record("job-1", serde_json::to_string(&job).unwrap()),
    ]});

    let answer = f.invoke(event).await;
    assert_eq!(
        answer,
        json!({"batchItemFailures": [{"itemIdentifier": "poison-1"}]}),
    );
    // The valid job was delivered through @connections.
    let got = tokio::time::timeout(WAIT, client.recv_type_in(room.as_str(), "event"))
        .await
        .unwrap_or_else(|_| panic!("no event within {WAIT:?}\noutput:\n{}", f.output()));
    assert_eq!(got, frame);

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
