//! The Lambda Runtime API on loopback, and Lambda binaries started as real processes
//! against it (shared by `runtime.rs` and `broadcaster_crash.rs`; included with
//! `#[path]` next to `mod common;`, so `roomcast-sdk`'s tests, which include
//! `common/mod.rs`, need none of this).
//!
//! The emulator is the part of
//! <https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html> that
//! `lambda_runtime` 1.5 uses: `GET /runtime/invocation/next` hands out one queued
//! event with the `Lambda-Runtime-*` headers and long-polls while the queue is empty;
//! `POST /runtime/invocation/{id}/response`, `/{id}/error` and `/runtime/init/error`
//! are recorded. The binaries get the environment Lambda gives a `provided.al2023`
//! function (`AWS_LAMBDA_RUNTIME_API`, `AWS_LAMBDA_FUNCTION_NAME`, ...) plus the
//! function's own settings, with every SDK client pointed at moto by
//! `AWS_ENDPOINT_URL`; API Gateway's `@connections` is the local gateway's.
#![allow(dead_code)]

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
use roomcast_aws::dynamo::DynamoStore;
use roomcast_core::Session;
use roomcast_core::auth::RoomAccess;
use roomcast_core::fanout::now_ms;
use roomcast_core::protocol::{ConnectionId, Protocol, RoomName};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::common::{WAIT, moto_endpoint, unique};

/// How long a cold start plus one invocation may take (debug binaries, two cores,
/// builds running next to the tests).
pub const INVOKE_WAIT: Duration = Duration::from_secs(30);

/// The function ARN the emulator hands out with every invocation.
pub const FUNCTION_ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:roomcast-test";

// ---------------------------------------------------------------------------------
// The Runtime API emulator.

/// What a function told the Runtime API.
#[derive(Debug)]
pub enum Report {
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
pub struct Function {
    name: &'static str,
    events: mpsc::UnboundedSender<(String, Value)>,
    reports: mpsc::UnboundedReceiver<Report>,
    pub polls: Arc<AtomicUsize>,
    child: Child,
    /// Everything the process printed, tagged `out`/`err`, in arrival order.
    output: Arc<Mutex<Vec<(&'static str, String)>>>,
    readers: Vec<JoinHandle<()>>,
    server: JoinHandle<()>,
}

impl Function {
    /// Start the Runtime API on a free loopback port and the binary `exe` against it,
    /// with the Lambda environment plus `env` (and nothing inherited from the test).
    pub async fn start(name: &'static str, exe: &str, env: &[(&str, String)]) -> Self {
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
    pub fn output(&self) -> String {
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
    pub async fn invoke(&mut self, event: Value) -> Value {
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
    pub async fn invoke_error(&mut self, event: Value) -> (Option<String>, Value) {
        match self.call(event).await {
            Ok(body) => panic!("{}: answered {body} instead of an error", self.name),
            Err(error) => error,
        }
    }

    /// One invocation: the response body, or the invocation error's type and body.
    /// Anything else (an init error, an exit, silence) fails the test.
    pub async fn call(&mut self, event: Value) -> Result<Value, (Option<String>, Value)> {
        let id = self.submit(event);
        self.answer(&id).await
    }

    /// Queue an invocation with `event` without waiting for it; returns its request
    /// id (for [`Function::answer`]).
    pub fn submit(&self, event: Value) -> String {
        let id = unique("req");
        self.events.send((id.clone(), event)).unwrap();
        id
    }

    /// The answer to the submitted invocation `id`, as [`Function::call`] returns it.
    pub async fn answer(&mut self, id: &str) -> Result<Value, (Option<String>, Value)> {
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
    pub async fn init_failure(&mut self) -> (Option<ExitStatus>, Option<Value>, String) {
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
    pub async fn logged(&self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
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

    /// SIGKILL the process now, as Lambda's sandbox dies mid-invocation, and wait for
    /// it; returns how it ended and what it had reported to the Runtime API (a killed
    /// invocation never answers, so its SQS messages are left to their visibility
    /// timeout). The Runtime API stops with it.
    pub async fn kill(mut self) -> (ExitStatus, Vec<Report>) {
        self.child.start_kill().expect("SIGKILL");
        let status = tokio::time::timeout(WAIT, self.child.wait())
            .await
            .expect("the killed process is reaped")
            .expect("wait");
        let mut reports = Vec::new();
        while let Ok(report) = self.reports.try_recv() {
            reports.push(report);
        }
        self.server.abort();
        for reader in self.readers.drain(..) {
            reader.abort();
        }
        (status, reports)
    }

    /// Kill the process and the Runtime API.
    pub async fn stop(mut self) {
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

/// An API Gateway-like connection id.
pub fn connection_id() -> String {
    format!("{}=", &unique("c")[2..18])
}

/// A room name no other test uses.
pub fn room() -> RoomName {
    RoomName::parse(unique("room")).unwrap()
}

/// Put connection `id` into `room` as the `connect` function does.
pub async fn connect_directly(
    sdk: &aws_config::SdkConfig,
    store: &DynamoStore,
    queue_url: &str,
    id: &str,
    room: &RoomName,
) {
    let mut wiring = roomcast_aws::env::Wiring::new(
        sdk,
        store.table().to_owned(),
        queue_url.to_owned(),
        roomcast_core::protocol::limits::DEFAULT_ICON_CAP,
    );
    wiring.presence.interval = super::UNDELAYED_PRESENCE;
    let id = ConnectionId::parse(id).unwrap();
    let session = Session {
        user: roomcast_core::protocol::UserId::anonymous(&id),
        id,
        protocol: Protocol::V1,
        room: room.clone(),
        access: RoomAccess::Any,
    };
    wiring.handler().connect(&session).await.expect("connected");
}
