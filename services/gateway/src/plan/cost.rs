//! A month of a workload in dollars, meter by meter, from [`super::prices`].

use super::model::{CONNECTION_HOURS, Workload};
use super::prices::*;
use roomcast_core::fanout::Knobs;

/// Sizes and durations the estimate assumes (typical in-region figures; the EMF
/// metrics and CloudWatch show a deployment's own).
pub mod assume {
    /// Bytes of one patch as posted (a moveIcon patch is about 120).
    pub const PATCH_BYTES: u64 = 160;
    /// `actions` invocation: UpdateItem + SendMessage, milliseconds at 256 MB.
    pub const ACTIONS_MS: f64 = 25.0;
    /// `$connect` path: authorizer + connect + disconnect, milliseconds each at 256 MB.
    pub const CONNECT_PATH_MS: f64 = 20.0;
    /// Memory of the front functions and of the broadcaster, GB.
    pub const FRONT_GB: f64 = 0.25;
    pub const BROADCASTER_GB: f64 = 0.5;
    /// One page of the membership query (1 MB, about 8,000 items), milliseconds.
    pub const QUERY_PAGE_MS: f64 = 15.0;
    pub const MEMBERS_PER_PAGE: u64 = 8_000;
    /// A membership item, bytes (read by the planner's query).
    pub const MEMBERSHIP_ITEM_BYTES: u64 = 120;
    /// A room's state item: fixed part and bytes per icon.
    pub const STATE_ITEM_BYTES: u64 = 150;
    pub const ICON_BYTES: u64 = 75;
    /// Bytes per connection id in a shard job.
    pub const SHARD_ID_BYTES: u64 = 19;
    /// Write units of a join or leave (a 3-write transaction, doubled) and of the
    /// connection item's put and delete.
    pub const CONNECTION_WRU: f64 = 2.0 * 3.0 + 2.0 * 3.0 + 2.0;
    /// Idle SQS long polls by the event source's pollers in a month (5 pollers,
    /// one 20 s poll each at a time).
    pub const IDLE_SQS_POLLS_PER_MONTH: f64 = 5.0 * 3.0 * 60.0 * 24.0 * 30.0;
}

/// One meter's share of the month.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub service: &'static str,
    pub meter: &'static str,
    pub quantity: f64,
    pub unit: &'static str,
    pub dollars: f64,
}

/// The month, meter by meter.
pub fn monthly(w: &Workload, k: &Knobs, icons: u64) -> Vec<Line> {
    use assume::*;
    let updates = w.rooms as f64 * w.updates_per_minute * 60.0 * w.hours;
    let members = w.members as f64;
    // Every member reconnects at least every 2 hours; joins and leaves are announced
    // by coalesced presence broadcasts (within PRESENCE_BUDGET posts/s per room), and
    // each joiner gets the count with its answer.
    let sessions = w.rooms as f64 * members * (w.hours / CONNECTION_HOURS).ceil();
    let seconds = w.hours * 3600.0;
    let presence_broadcasts = w.presence_broadcast_rate() * seconds;
    let presence_posts = w.presence_post_rate() * seconds;
    let increments = PATCH_BYTES.div_ceil(APIGW_MESSAGE_INCREMENT_BYTES) as f64;

    let update_messages = updates * (2.0 + members) * increments;
    let presence_messages = presence_posts + sessions * 2.0; // + each client's getState
    let messages = update_messages + presence_messages;
    let connection_minutes = w.rooms as f64 * members * w.hours * 60.0;

    // Lambda: one actions call per update; the broadcaster once for the room job and
    // once per shard; the connect path per session.
    let shards = w.shards(k) as f64;
    let posting_s = |n: f64| n * w.post_latency_ms / f64::from(k.post_concurrency.max(1)) / 1000.0;
    let plan_s = w.members.div_ceil(MEMBERS_PER_PAGE) as f64 * QUERY_PAGE_MS / 1000.0;
    let per_job_s = if shards == 0.0 {
        plan_s + posting_s(members)
    } else {
        plan_s + shards * posting_s(f64::from(k.shard_size))
    };
    let jobs = updates + presence_broadcasts;
    let broadcaster_gb_s = jobs * per_job_s * BROADCASTER_GB;
    let front_gb_s = (updates * ACTIONS_MS + sessions * 3.0 * CONNECT_PATH_MS) / 1000.0 * FRONT_GB;
    let lambda_requests = updates + jobs * (1.0 + shards) + sessions * 3.0;

    // SQS: send, receive and delete per job; shard jobs are sent 10 to a batch and
    // billed per 64 KB chunk.
    let shard_chunks =
        (200 + u64::from(k.shard_size) * SHARD_ID_BYTES).div_ceil(SQS_REQUEST_CHUNK_BYTES) as f64;
    let sqs_requests = jobs
        * (3.0 + (shards / 10.0).ceil() * shard_chunks + shards * 2.0 * shard_chunks)
        + IDLE_SQS_POLLS_PER_MONTH;

    // DynamoDB: each edit rewrites the state item (billed on its full size), the
    // planner reads the memberships eventually consistently, sessions write theirs.
    let state_kb = (STATE_ITEM_BYTES + icons * ICON_BYTES).div_ceil(1024) as f64;
    // Presence: each join and leave writes the pending mark (conditionally; a failed
    // condition is billed too), each broadcast clears it.
    let wru = updates * state_kb + sessions * (CONNECTION_WRU + 2.0) + presence_broadcasts;
    let rru = jobs * ((w.members * MEMBERSHIP_ITEM_BYTES).div_ceil(4096) as f64 * 0.5).max(0.5);

    let million = 1e6;
    let apigw_messages = messages.min(1e9) / million * APIGW_PER_MILLION_MESSAGES
        + (messages - 1e9).max(0.0) / million * APIGW_PER_MILLION_MESSAGES_OVER_1B;
    vec![
        line(
            "API Gateway",
            "messages: updates",
            update_messages,
            "messages",
            apigw_messages * update_messages / messages.max(1.0),
        ),
        line(
            "API Gateway",
            "messages: presence + getState",
            presence_messages,
            "messages",
            apigw_messages * presence_messages / messages.max(1.0),
        ),
        line(
            "API Gateway",
            "connection minutes",
            connection_minutes,
            "minutes",
            connection_minutes / million * APIGW_PER_MILLION_CONNECTION_MINUTES,
        ),
        line(
            "Lambda",
            "requests",
            lambda_requests,
            "requests",
            lambda_requests / million * LAMBDA_PER_MILLION_REQUESTS,
        ),
        line(
            "Lambda",
            "duration (arm64)",
            broadcaster_gb_s + front_gb_s,
            "GB-s",
            (broadcaster_gb_s + front_gb_s) * LAMBDA_ARM_PER_GB_SECOND,
        ),
        line(
            "SQS",
            "requests",
            sqs_requests,
            "requests",
            sqs_requests / million * SQS_PER_MILLION_REQUESTS,
        ),
        line(
            "DynamoDB",
            "write request units",
            wru,
            "WRU",
            wru / million * DYNAMODB_PER_MILLION_WRU,
        ),
        line(
            "DynamoDB",
            "read request units",
            rru,
            "RRU",
            rru / million * DYNAMODB_PER_MILLION_RRU,
        ),
    ]
}

fn line(
    service: &'static str,
    meter: &'static str,
    quantity: f64,
    unit: &'static str,
    dollars: f64,
) -> Line {
    Line {
        service,
        meter,
        quantity,
        unit,
        dollars,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workload(members: u64, hours: f64) -> Workload {
        Workload {
            members,
            rooms: 1,
            updates_per_minute: 60.0,
            hours,
            post_latency_ms: 30.0,
            target_ms: 1000.0,
            account_rate: 10_000,
        }
    }

    fn dollars(lines: &[Line], meter: &str) -> f64 {
        lines.iter().find(|l| l.meter == meter).unwrap().dollars
    }

    #[test]
    fn update_messages_are_members_plus_the_sender_round_trip() {
        let w = workload(100, 10.0);
        let lines = monthly(&w, &w.suggest(), 200);
        let updates = 60.0 * 60.0 * 10.0;
        let m = lines
            .iter()
            .find(|l| l.meter == "messages: updates")
            .unwrap();
        assert_eq!(m.quantity, updates * 102.0);
        let minutes = lines
            .iter()
            .find(|l| l.meter == "connection minutes")
            .unwrap();
        assert_eq!(minutes.quantity, 100.0 * 10.0 * 60.0);
        assert!((minutes.dollars - 60_000.0 / 1e6 * 0.25).abs() < 1e-12);
    }

    #[test]
    fn messages_past_a_billion_are_cheaper() {
        let w = workload(10_000, 720.0);
        let lines = monthly(&w, &w.suggest(), 200);
        let messages: f64 = lines
            .iter()
            .filter(|l| l.service == "API Gateway" && l.unit == "messages")
            .map(|l| l.quantity)
            .sum();
        let paid: f64 =
            dollars(&lines, "messages: updates") + dollars(&lines, "messages: presence + getState");
        assert!(messages > 1e9);
        let expected = 1000.0 + (messages - 1e9) / 1e6 * 0.80;
        assert!(
            (paid - expected).abs() < 1e-6 * expected,
            "{paid} vs {expected}"
        );
    }

    #[test]
    fn a_bigger_base_costs_more_write_units_per_edit() {
        let w = workload(100, 10.0);
        let small = dollars(&monthly(&w, &w.suggest(), 10), "write request units");
        let big = dollars(&monthly(&w, &w.suggest(), 1000), "write request units");
        assert!(big > 10.0 * small, "{small} vs {big}");
    }
}
