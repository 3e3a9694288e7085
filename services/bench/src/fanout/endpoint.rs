//! A simulated API Gateway management endpoint (`POST /{stage}/@connections/{id}`) in a
//! child process.
//!
//! - Each post is answered `200` after a set latency (a tokio sleep, so concurrent posts
//!   really overlap), standing in for API Gateway pushing the frame to the client.
//! - Above a pool-wide rate (a token bucket: a steady rate plus a burst, like API
//!   Gateway's account-level throttle) a post is answered at once with `429`,
//!   `x-amzn-ErrorType: LimitExceededException` and a `{"message"}` body: the shape
//!   `aws-sdk-apigatewaymanagement` parses into `LimitExceededException`.
//! - It counts posts, throttles and deliveries per connection id, so the bench can
//!   verify that every member got the frame exactly once instead of trusting return
//!   values.
//!
//! It runs in its own process (the bench binary re-run with a hidden flag) because an
//! unbounded all-at-once fan-out to 10,000 members opens 10,000 connections: client and
//! server sockets in one process would exceed the 20,000 open-file hard limit.
//!
//! The parent controls it over stdin/stdout, one line each way: `reset` → `ok`,
//! `stats` → one JSON [`Stats`] line. It exits when its stdin closes, so it never
//! outlives the bench.

use anyhow::{Context, bail};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// The stage in the endpoint's URL.
pub const STAGE: &str = "bench";

/// How the simulated endpoint behaves.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EndpointConfig {
    /// Time before a post is answered `200`.
    pub latency_ms: f64,
    /// Steady posts/s over all callers before `429` (0: never throttles).
    pub throttle_rate: u32,
    /// Token-bucket capacity on top of the steady rate.
    pub throttle_burst: u32,
}

/// What the endpoint saw since the last `reset`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Stats {
    /// Posts answered `200`.
    pub delivered: u64,
    /// Posts answered `429`.
    pub throttled: u64,
    /// Deliveries per connection id.
    pub per_connection: HashMap<String, u32>,
}

struct Shared {
    latency: Duration,
    budget: Option<DefaultDirectRateLimiter>,
    delivered: AtomicU64,
    throttled: AtomicU64,
    per_connection: Mutex<HashMap<String, u32>>,
}

async fn post_to_connection(
    State(shared): State<Arc<Shared>>,
    Path((_stage, id)): Path<(String, String)>,
    _body: Bytes,
) -> Response {
    if let Some(budget) = &shared.budget
        && budget.check().is_err()
    {
        shared.throttled.fetch_add(1, Ordering::Relaxed);
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [
                ("x-amzn-ErrorType", "LimitExceededException"),
                ("content-type", "application/json"),
            ],
            r#"{"message":"Rate exceeded"}"#,
        )
            .into_response();
    }
    tokio::time::sleep(shared.latency).await;
    shared.delivered.fetch_add(1, Ordering::Relaxed);
    *shared
        .per_connection
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(id)
        .or_default() += 1;
    StatusCode::OK.into_response()
}

/// The child's side: serve on 127.0.0.1:0, print `port <n>`, then answer `reset` and
/// `stats` on stdin until it closes.
pub async fn serve(config: EndpointConfig) -> anyhow::Result<()> {
    let budget = NonZeroU32::new(config.throttle_rate).map(|rate| {
        let burst = NonZeroU32::new(config.throttle_burst).unwrap_or(rate);
        RateLimiter::direct(Quota::per_second(rate).allow_burst(burst))
    });
    let shared = Arc::new(Shared {
        latency: Duration::from_secs_f64(config.latency_ms / 1000.0),
        budget,
        delivered: AtomicU64::new(0),
        throttled: AtomicU64::new(0),
        per_connection: Mutex::new(HashMap::new()),
    });
    let app = Router::new()
        .route("/{stage}/@connections/{id}", post(post_to_connection))
        .with_state(shared.clone());
    // A deep accept backlog (the kernel caps it at net.core.somaxconn): 10,000 posts
    // started at once are 10,000 connects, and a short backlog would add SYN retries
    // (1 s, 3 s, …) that API Gateway's front end would not.
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind("127.0.0.1:0".parse()?)?;
    let listener = socket.listen(65_535)?;
    let port = listener.local_addr()?.port();
    tokio::spawn(async move { axum::serve(listener, app).await });

    let mut out = tokio::io::stdout();
    out.write_all(format!("port {port}\n").as_bytes()).await?;
    out.flush().await?;
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Some(line) = lines.next_line().await? {
        let reply = match line.trim() {
            "reset" => {
                shared.delivered.store(0, Ordering::SeqCst);
                shared.throttled.store(0, Ordering::SeqCst);
                shared
                    .per_connection
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .clear();
                "ok".to_owned()
            }
            "stats" => serde_json::to_string(&Stats {
                delivered: shared.delivered.load(Ordering::SeqCst),
                throttled: shared.throttled.load(Ordering::SeqCst),
                per_connection: shared
                    .per_connection
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .clone(),
            })?,
            other => format!("error unknown command {other:?}"),
        };
        out.write_all(reply.as_bytes()).await?;
        out.write_all(b"\n").await?;
        out.flush().await?;
    }
    Ok(())
}

/// The parent's handle on the endpoint process.
pub struct Endpoint {
    child: Child,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
    /// The stage URL to give `ApiGwPoster` (`http://127.0.0.1:<port>/bench`).
    pub url: String,
}

impl Endpoint {
    /// Start the endpoint process (this binary, `fanout --serve-endpoint`).
    pub async fn start(config: &EndpointConfig) -> anyhow::Result<Self> {
        let exe = std::env::current_exe()?;
        let mut child = Command::new(exe)
            .args([
                "fanout",
                "--serve-endpoint",
                "--latency-ms",
                &config.latency_ms.to_string(),
                "--throttle-rate",
                &config.throttle_rate.to_string(),
                "--throttle-burst",
                &config.throttle_burst.to_string(),
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .context("starting the simulated endpoint process")?;
        let stdin = child.stdin.take().expect("piped");
        let mut stdout = BufReader::new(child.stdout.take().expect("piped")).lines();
        let first = tokio::time::timeout(Duration::from_secs(20), stdout.next_line())
            .await
            .context("the endpoint process did not start within 20 s")??
            .context("the endpoint process exited before listening")?;
        let Some(port) = first.strip_prefix("port ") else {
            bail!("unexpected first line from the endpoint process: {first:?}");
        };
        Ok(Self {
            url: format!("http://127.0.0.1:{}/{STAGE}", port.trim()),
            child,
            stdin,
            stdout,
        })
    }

    async fn call(&mut self, command: &str) -> anyhow::Result<String> {
        self.stdin
            .write_all(format!("{command}\n").as_bytes())
            .await?;
        self.stdin.flush().await?;
        let line = tokio::time::timeout(Duration::from_secs(30), self.stdout.next_line())
            .await
            .context("the endpoint process did not answer within 30 s")??
            .context("the endpoint process exited")?;
        if line.starts_with("error") {
            bail!("endpoint: {line}");
        }
        Ok(line)
    }

    /// The endpoint process's id (to read its CPU time).
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Forget the counts (before a run).
    pub async fn reset(&mut self) -> anyhow::Result<()> {
        self.call("reset").await.map(drop)
    }

    /// The counts since the last reset.
    pub async fn stats(&mut self) -> anyhow::Result<Stats> {
        Ok(serde_json::from_str(&self.call("stats").await?)?)
    }
}
