//! What one `/admin` update carries: the JSON the page renders, serialized once a
//! second and shared by every open page. Field names are camelCase, as in the
//! WebSocket protocol.

use roomcast_core::fanout::Knobs;
use roomcast_core::protocol::RoomSummary;
use serde::Serialize;

use super::latency::LatencyWindow;
use super::recent_errors::LoggedEvent;
use crate::ws::registry::census::Census;

/// One update of the `/admin` page.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    /// When it was taken (Unix ms).
    pub at: u64,
    /// Seconds since the previous reading, which the rates are averaged over.
    pub interval_seconds: f64,
    /// What the previous snapshot took to build and serialize, wall-clock µs
    /// (what `/admin` costs the gateway per second, besides writing to each page).
    pub build_micros: u64,
    /// The four fan-out knobs in effect.
    pub knobs: Knobs,
    /// Live connections.
    pub connections: ConnectionsView,
    /// The broadcaster pool's throughput, failures and delivery latency.
    pub fanout: FanoutView,
    /// Rooms with at least one member, in all.
    pub room_count: usize,
    /// The rooms listed ([`super::sampler::ROOMS_LISTED`] at most), busiest first.
    pub rooms: Vec<RoomView>,
    /// The latest warnings and errors the gateway logged, newest first.
    pub errors: Vec<LoggedEvent>,
}

/// Connections: the registry's census plus the connect and slow-consumer counters.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionsView {
    /// Count, protocol mix, outbound queue depths.
    #[serde(flatten)]
    pub census: Census,
    /// Connections closed with 1013 since the gateway started.
    pub slow_consumers_closed: u64,
    pub connects_per_second: f64,
    pub refusals_per_second: f64,
    /// Client frames received per second.
    pub messages_per_second: f64,
}

/// The broadcaster pool: rates over the last interval, totals since start.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FanoutView {
    pub jobs_per_second: f64,
    /// Posts delivered per second.
    pub posts_per_second: f64,
    pub throttled_per_second: f64,
    pub gone_per_second: f64,
    /// Throttled posts since start.
    pub throttled: u64,
    /// Posts to gone connections since start.
    pub gone: u64,
    /// Posts failed otherwise since start.
    pub failed: u64,
    /// Jobs given up after every retry, since start.
    pub dead_letters: u64,
    /// Delivery latency of the posts delivered in the last interval.
    pub latency: LatencyWindow,
    /// How long a broadcast's frames wait for the next ones before they are written
    /// (0: at once; more when the fan-out is over its write budget, or with a fixed
    /// `ROOMCAST_WRITE_DELAY`).
    pub write_delay_ms: u64,
    /// The connections delivered to in the last 250 ms: those that share the write
    /// budget, so the delay once over it is this ÷ the budget. `null` when nothing is
    /// counted (a fixed `ROOMCAST_WRITE_DELAY`, or no budget).
    pub write_recipients: Option<u64>,
}

/// One room's line.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RoomView {
    /// `room`, `members` and `users` — the membership store's summary, passed through
    /// as it serializes, so the page shows what `listRooms` answers.
    #[serde(flatten)]
    pub summary: RoomSummary,
    /// The room's version; `None` until it was read or changed.
    pub version: Option<u64>,
    /// Commits per second over the last interval.
    pub changes_per_second: f64,
}
