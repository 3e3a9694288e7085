//! Prometheus metrics (`/metrics`, text format).

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use roomcast_core::fanout::FanoutJob;
use roomcast_core::ports::{FanoutMetrics, PostOutcome};
use std::time::Duration;

use crate::admin::latency::RecentLatency;

mod totals;
pub use totals::Totals;

type Labels = Vec<(&'static str, &'static str)>;

/// The gateway's metrics.
pub struct Metrics {
    registry: Registry,
    connections: Gauge,
    rooms: Gauge,
    messages: Counter,
    jobs: Family<Labels, Counter>,
    shards: Counter,
    posts: Family<Labels, Counter>,
    gone: Counter,
    dead_letters: Counter,
    interrupted: Counter,
    retries: Counter,
    latency: Histogram,
    connections_api_posts: Counter,
    connects: Counter,
    connect_refusals: Family<Labels, Counter>,
    /// The last second's delivery latencies, for `/admin` (drained by its sampler).
    pub recent_latency: RecentLatency,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("roomcast");
        let connections = Gauge::default();
        let rooms = Gauge::default();
        let messages = Counter::default();
        let jobs = Family::<Labels, Counter>::default();
        let shards = Counter::default();
        let posts = Family::<Labels, Counter>::default();
        let gone = Counter::default();
        let dead_letters = Counter::default();
        let interrupted = Counter::default();
        let retries = Counter::default();
        let connections_api_posts = Counter::default();
        let (connects, connect_refusals) = (Counter::default(), Family::default());
        // 1 ms .. ~33 s
        let latency = Histogram::new(exponential_buckets(0.001, 2.0, 16));
        registry.register(
            "connections",
            "Live WebSocket connections",
            connections.clone(),
        );
        registry.register("rooms", "Rooms with at least one member", rooms.clone());
        registry.register(
            "messages_received",
            "Client frames received",
            messages.clone(),
        );
        registry.register("fanout_jobs", "Fan-out jobs run, by kind", jobs.clone());
        registry.register(
            "fanout_shards",
            "Shard jobs planned from large rooms",
            shards.clone(),
        );
        registry.register("posts", "Posts to connections, by outcome", posts.clone());
        registry.register(
            "gone",
            "Connections found gone during fan-out",
            gone.clone(),
        );
        registry.register(
            "fanout_dead_letters",
            "Fan-out jobs given up after every retry",
            dead_letters.clone(),
        );
        registry.register(
            "fanout_interrupted",
            "Fan-out jobs that panicked or were aborted mid-run (each is run again)",
            interrupted.clone(),
        );
        registry.register(
            "fanout_retries",
            "Fan-out jobs (or their failed connections) queued for another attempt",
            retries.clone(),
        );
        registry.register(
            "connections_api_posts",
            "PostToConnection calls received by @connections (the AWS home's posts, in tests)",
            connections_api_posts.clone(),
        );
        registry.register(
            "ws_connects",
            "WebSocket upgrades accepted",
            connects.clone(),
        );
        registry.register(
            "ws_connect_refusals",
            "WebSocket connect attempts refused, by reason",
            connect_refusals.clone(),
        );
        registry.register(
            "delivery_latency_seconds",
            "Time from commit to a post's delivery",
            latency.clone(),
        );
        Self {
            registry,
            connections,
            rooms,
            messages,
            jobs,
            shards,
            posts,
            gone,
            dead_letters,
            interrupted,
            retries,
            latency,
            connections_api_posts,
            connects,
            connect_refusals,
            recent_latency: RecentLatency::default(),
        }
    }
}

impl Metrics {
    /// Render all metrics, after setting the gauges read at scrape time.
    pub fn render(&self, connections: usize, rooms: usize) -> String {
        self.connections.set(connections as i64);
        self.rooms.set(rooms as i64);
        let mut out = String::new();
        encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }

    /// `POST /{stage}/@connections/{id}` was called.
    pub fn connections_api_post(&self) {
        self.connections_api_posts.inc();
    }

    /// A client frame arrived.
    pub fn message(&self) {
        self.messages.inc();
    }

    /// A worker picked up a job.
    pub fn job(&self, job: &FanoutJob) {
        self.jobs.get_or_create(&vec![("kind", job.kind())]).inc();
    }

    /// A WebSocket connect was accepted.
    pub fn connect(&self) {
        self.connects.inc();
    }

    /// A WebSocket connect was refused (`rate_limited`, `unauthorized`, `bad_request`).
    pub fn connect_refused(&self, reason: &'static str) {
        self.connect_refusals
            .get_or_create(&vec![("reason", reason)])
            .inc();
    }

    /// A job was given up.
    pub fn dead_letter(&self) {
        self.dead_letters.inc();
    }

    /// A job panicked or was aborted before it finished.
    pub fn interrupted(&self) {
        self.interrupted.inc();
    }

    /// A job (or the connections it could not reach) was queued for another attempt.
    pub fn retry(&self) {
        self.retries.inc();
    }
}

impl FanoutMetrics for Metrics {
    fn planned(&self, _members: usize, shards: usize) {
        self.shards.inc_by(shards as u64);
    }

    /// A batch counts with one label lookup (which allocates) instead of one per post.
    fn posts(&self, outcome: PostOutcome, count: usize, since_commit: Duration) {
        if outcome != PostOutcome::Delivered || count == 0 {
            return (0..count).for_each(|_| self.post(outcome, since_commit));
        }
        self.posts
            .get_or_create(&vec![("outcome", "delivered")])
            .inc_by(count as u64);
        let seconds = since_commit.as_secs_f64();
        (0..count).for_each(|_| self.latency.observe(seconds));
        self.recent_latency.observe(since_commit, count as u64);
    }

    fn post(&self, outcome: PostOutcome, since_commit: Duration) {
        let label = match outcome {
            PostOutcome::Delivered => "delivered",
            PostOutcome::Gone => "gone",
            PostOutcome::Throttled => "throttled",
            PostOutcome::Failed => "failed",
        };
        self.posts.get_or_create(&vec![("outcome", label)]).inc();
        match outcome {
            PostOutcome::Delivered => {
                self.latency.observe(since_commit.as_secs_f64());
                self.recent_latency.observe(since_commit, 1);
            }
            PostOutcome::Gone => {
                self.gone.inc();
            }
            _ => {}
        }
    }
}
