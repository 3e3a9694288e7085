//! Observability for the Lambdas: JSON logs (one line per request) and CloudWatch
//! Embedded Metric Format (EMF) lines for the fan-out.
//!
//! EMF lines are plain JSON objects printed to stdout; CloudWatch Logs turns them into
//! metrics without any API call, so metrics cost no latency on the hot path.

use std::time::Duration;

use roomcast_core::fanout::JobReport;
use serde_json::{Value, json};

/// The CloudWatch namespace of roomcast's metrics.
pub const NAMESPACE: &str = "roomcast";

/// The one dimension of every fan-out metric: the job's kind (`room`, `shard` or
/// `presence`, [`roomcast_core::fanout::FanoutJob::kind`]).
pub const JOB_KIND: &str = "JobKind";

/// The fan-out metrics of one job, with their CloudWatch units. The SAM template's
/// alarms and dashboard name them too; infra's drift test holds them to this list.
pub const FANOUT_METRICS: [(&str, &str); 8] = [
    (MEMBERS, "Count"),
    (SHARDS, "Count"),
    (POSTS, "Count"),
    (GONE, "Count"),
    (THROTTLED, "Count"),
    (FAILED, "Count"),
    (DURATION, "Milliseconds"),
    (DELIVERY_LATENCY, "Milliseconds"),
];

/// Connections the job addressed.
pub const MEMBERS: &str = "Members";
/// Shard jobs a room job was split into.
pub const SHARDS: &str = "Shards";
/// Posts delivered.
pub const POSTS: &str = "Posts";
/// Connections found gone (410).
pub const GONE: &str = "Gone";
/// Throttled posts (429), each retried.
pub const THROTTLED: &str = "Throttled";
/// Connections that failed every try within the job.
pub const FAILED: &str = "Failed";
/// How long the job ran.
pub const DURATION: &str = "Duration";
/// From the commit (the job's creation) to the job's last post.
pub const DELIVERY_LATENCY: &str = "DeliveryLatency";

/// JSON logs to stdout, level from `RUST_LOG` (else `AWS_LAMBDA_LOG_LEVEL`, else
/// `info`). Call once at cold start.
pub fn init_logging() {
    let filter = std::env::var("RUST_LOG")
        .or_else(|_| std::env::var("AWS_LAMBDA_LOG_LEVEL").map(|l| l.to_lowercase()))
        .unwrap_or_else(|_| "info".into());
    let _ = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_target(false)
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .try_init();
}

/// Log why a function could not start, as one readable JSON line (the error `main`
/// then returns is printed in Debug form, which can be a long SDK dump).
pub fn cold_start_failed(e: &impl std::fmt::Display) {
    tracing::error!(error = %e, "cold start failed");
}

/// The one log line a handled request gets.
pub fn request_line(
    route: &str,
    room: Option<&str>,
    connection: Option<&str>,
    latency: Duration,
    outcome: &str,
) {
    tracing::info!(
        route,
        room = room.unwrap_or(""),
        connection = connection.unwrap_or(""),
        latency_ms = latency.as_secs_f64() * 1000.0,
        outcome,
        "request"
    );
}

/// What one broadcaster job did, as an EMF object.
pub fn fanout_metrics(
    room: &str,
    kind: &str,
    report: &JobReport,
    duration: Duration,
    delivery_latency: Option<Duration>,
) -> Value {
    let timestamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let d = &report.delivery;
    let metrics: Vec<Value> = FANOUT_METRICS
        .iter()
        .map(|(name, unit)| json!({"Name": name, "Unit": unit}))
        .collect();
    let mut object = json!({
        "_aws": {
            "Timestamp": timestamp,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [[JOB_KIND]],
                "Metrics": metrics,
            }],
        },
        JOB_KIND: kind,
        "room": room,
    });
    let values = [
        (MEMBERS, json!(report.targets)),
        (SHARDS, json!(report.shards)),
        (POSTS, json!(d.delivered)),
        (GONE, json!(d.gone)),
        (THROTTLED, json!(d.throttled)),
        (FAILED, json!(d.failed.len())),
        (DURATION, json!(duration.as_secs_f64() * 1000.0)),
        (
            DELIVERY_LATENCY,
            json!(delivery_latency.map(|l| l.as_millis() as u64).unwrap_or(0)),
        ),
    ];
    for (name, value) in values {
        object[name] = value;
    }
    object
}

/// Print an EMF object as one stdout line.
pub fn emit(metrics: &Value) {
    println!("{metrics}");
}
