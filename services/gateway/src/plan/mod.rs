//! `roomcast plan`: the fan-out knobs a workload needs, how long a delivery takes with
//! them, and what a month of it costs on AWS at list prices.
//!
//! - [`model`]: the arithmetic of docs/operations.md (knobs → delivery time).
//! - [`cost`]: meters × [`prices`] for a month.
//! - [`prices`]: the prices, as named constants with their date.

pub mod cost;
pub mod model;
pub mod prices;

use model::Workload;
use std::fmt::Write;

/// Plan a deployment: knobs, delivery time, monthly cost.
#[derive(Debug, Clone, clap::Args)]
pub struct PlanArgs {
    /// Connections in one room.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub members: u64,
    /// Updates per minute in each room.
    #[arg(long, allow_negative_numbers = true)]
    pub updates_per_minute: f64,
    /// Hours a month the rooms are live (720: always).
    #[arg(long, default_value_t = 720.0, allow_negative_numbers = true)]
    pub hours: f64,
    /// Rooms of this size live at once.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    pub rooms: u64,
    /// Icons in a base (the state item's size sets the write units of each edit).
    #[arg(long, default_value_t = 200)]
    pub icons: u64,
    /// One PostToConnection round trip, milliseconds (the benchmark's default).
    #[arg(long, default_value_t = 30.0)]
    pub post_latency_ms: f64,
    /// Wanted time from commit to the last member, milliseconds.
    #[arg(long, default_value_t = 1000.0)]
    pub target_ms: f64,
    /// Your account's API Gateway throttle, requests per second.
    #[arg(long, default_value_t = 10_000)]
    pub account_rate: u64,
}

impl PlanArgs {
    fn workload(&self) -> Result<Workload, String> {
        for (name, v) in [
            ("--updates-per-minute", self.updates_per_minute),
            ("--hours", self.hours),
            ("--post-latency-ms", self.post_latency_ms),
            ("--target-ms", self.target_ms),
        ] {
            if !v.is_finite() || v < 0.0 {
                return Err(format!("{name} must be a finite number ≥ 0, got {v}"));
            }
        }
        if self.post_latency_ms == 0.0 || self.target_ms == 0.0 {
            return Err("--post-latency-ms and --target-ms must be above 0".into());
        }
        Ok(Workload {
            members: self.members,
            rooms: self.rooms,
            updates_per_minute: self.updates_per_minute,
            hours: self.hours,
            post_latency_ms: self.post_latency_ms,
            target_ms: self.target_ms,
            account_rate: self.account_rate,
        })
    }
}

/// The plan as text, or why the arguments make no sense.
pub fn render(args: &PlanArgs) -> Result<String, String> {
    let w = args.workload()?;
    let k = w.suggest();
    let mut out = String::new();
    let o = &mut out;
    let _ = writeln!(
        o,
        "roomcast plan: {} room(s) of {} members, {} updates/min each, {} h/month, {} icons",
        w.rooms, w.members, w.updates_per_minute, w.hours, args.icons
    );
    let _ = writeln!(
        o,
        "assuming {} ms per PostToConnection and a {} ms delivery target\n",
        w.post_latency_ms, w.target_ms
    );
    let _ = writeln!(o, "knobs (SAM parameters / Lambda environment):");
    let _ = writeln!(o, "  SHARD_SIZE={:<8} ShardSize", k.shard_size);
    let _ = writeln!(o, "  POOL_SIZE={:<9} PoolSize", k.pool_size);
    let _ = writeln!(
        o,
        "  POST_CONCURRENCY={:<2} PostConcurrency",
        k.post_concurrency
    );
    let _ = writeln!(
        o,
        "  RATE_LIMIT={:<8} RateLimit (80% of the account's {}/s)",
        k.rate_limit, w.account_rate
    );
    let shards = w.shards(&k);
    let _ = writeln!(
        o,
        "\ndelivery: {} to the last member ({})",
        ms(w.delivery_ms(&k)),
        if shards == 0 {
            "delivered in place, no shard jobs".to_string()
        } else {
            format!(
                "{shards} shard jobs, {} at a time",
                shards.min(u64::from(k.pool_size))
            )
        }
    );
    let (updates, presence) = (w.update_post_rate(), w.presence_post_rate());
    let _ = writeln!(
        o,
        "mean fan-out: {:.0} posts/s ({updates:.0} for updates, {presence:.0} for presence)",
        updates + presence
    );
    if updates + presence > f64::from(k.rate_limit) {
        let _ = writeln!(
            o,
            "WARNING: the mean fan-out exceeds RATE_LIMIT, so deliveries will queue up. Ask \
             AWS for a higher API Gateway throttle, or send fewer updates (coalesce edits) \
             or split the room."
        );
    }
    let lines = cost::monthly(&w, &k, args.icons);
    let total: f64 = lines.iter().map(|l| l.dollars).sum();
    let _ = writeln!(
        o,
        "\nmonthly cost at {} list prices of {} (free tiers left out):",
        prices::PRICE_REGION,
        prices::PRICES_AS_OF
    );
    for l in &lines {
        let _ = writeln!(
            o,
            "  {:<12} {:<30} {:>16} {:<9} ${:>12.2}",
            l.service,
            l.meter,
            si(l.quantity),
            l.unit,
            l.dollars
        );
    }
    let _ = writeln!(
        o,
        "  {:<12} {:<30} {:>16} {:<9} ${total:>12.2}",
        "total", "", "", ""
    );
    let presence: f64 = lines
        .iter()
        .filter(|l| l.meter.starts_with("messages: presence"))
        .map(|l| l.dollars)
        .sum();
    if presence > 0.5 * total {
        let _ = writeln!(
            o,
            "\nnote: presence counts (coalesced, within PRESENCE_BUDGET posts/s per room) are \
             most of the bill at this room size; see docs/operations.md, Cost."
        );
    }
    Ok(out)
}

fn ms(v: f64) -> String {
    if v >= 1000.0 {
        format!("{:.2} s", v / 1000.0)
    } else {
        format!("{v:.0} ms")
    }
}

/// 1234567 → "1.23 M".
fn si(v: f64) -> String {
    match v {
        v if v >= 1e9 => format!("{:.2} G", v / 1e9),
        v if v >= 1e6 => format!("{:.2} M", v / 1e6),
        v if v >= 1e3 => format!("{:.2} k", v / 1e3),
        v => format!("{v:.1}"),
    }
}
