//! One room far beyond the burst (100,000 members by default) fanned out by roomcast
//! against an endpoint at API Gateway's account quota, timed against the quota floor.
//!
//! **The floor** is what no sender can beat: the endpoint's token bucket starts full
//! (`burst`) and refills at `rate`, so by time `t` it has accepted at most
//! `burst + rate × t` posts, and `members` posts need at least
//! `(members − burst) / rate` (plus one post's latency for the last answer). Every run
//! starts with a full bucket (the bench lets it refill between runs), so this is the
//! floor that applies; `members / rate` would be the floor for a bucket another
//! broadcast had just emptied, and is looser by `burst / rate` (0.5 s at the quota).
//!
//! The stage has its own endpoint process, so `--quick` can use a scaled-down quota
//! (and a room of a few thousand) while the comparison above keeps its own.

use super::endpoint::{Endpoint, EndpointConfig};
use super::{ApproachResult, KnobValues, rate_label, room_of, roomcast_runs, secs};
use crate::support::table::Table;
use roomcast_core::fanout::Knobs;
use serde::{Deserialize, Serialize};

/// One knob setting on the quota room.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QuotaPoint {
    pub members: usize,
    pub knobs: KnobValues,
    /// The quota floor, s: (members − burst) / rate + latency.
    pub floor_s: f64,
    pub shards: usize,
    pub result: ApproachResult,
    /// Median time ÷ floor.
    pub ratio: f64,
    /// 1-minute load average when the point started and when it ended.
    pub load: (f64, f64),
    /// CPU time per post answered (200 or 429) over the point's runs, µs: the bench
    /// process (planner, deliverers, SDK clients: what the broadcaster instances spend
    /// on AWS) and the endpoint process (what API Gateway spends there).
    pub client_cpu_us: f64,
    pub endpoint_cpu_us: f64,
    /// Cores the two processes got while posting: their CPU seconds ÷ the runs' time.
    pub cores_used: f64,
}

impl QuotaPoint {
    /// The time the room would take if only CPU limited it, on `cores` idle cores.
    pub fn cpu_bound_s(&self, cores: f64) -> f64 {
        self.members as f64 * (self.client_cpu_us + self.endpoint_cpu_us) / 1e6 / cores
    }
}

/// CPU seconds (user + system, all threads) of process `pid` (`self` for this one),
/// from `/proc/<pid>/stat` in clock ticks of 1/100 s.
fn cpu_s(pid: &str) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return f64::NAN;
    };
    // Fields after the command name (which may hold spaces) start at `state`.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok());
    match (ticks(11), ticks(12)) {
        (Some(utime), Some(stime)) => (utime + stime) / 100.0,
        _ => f64::NAN,
    }
}

/// The floor for `members` posts on `endpoint` (see the module docs).
pub fn floor_s(members: usize, endpoint: &EndpointConfig) -> f64 {
    let latency = endpoint.latency_ms / 1000.0;
    if endpoint.throttle_rate == 0 {
        return latency;
    }
    let beyond = members.saturating_sub(endpoint.throttle_burst as usize) as f64;
    beyond / endpoint.throttle_rate as f64 + latency
}

/// `SHARD_SIZE/POOL_SIZE/POST_CONCURRENCY/RATE_LIMIT`, e.g. `500/4/128/9500`.
pub fn parse_knobs(s: &str) -> Result<Knobs, String> {
    let n: Vec<u32> = s
        .split('/')
        .map(|p| p.trim().parse::<u32>().map_err(|e| format!("{p:?}: {e}")))
        .collect::<Result<_, _>>()?;
    let [shard_size, pool_size, post_concurrency, rate_limit] = n[..] else {
        return Err(format!(
            "{s:?}: want SHARD_SIZE/POOL_SIZE/POST_CONCURRENCY/RATE_LIMIT"
        ));
    };
    Knobs {
        shard_size,
        pool_size,
        post_concurrency,
        rate_limit,
    }
    .validate()
    .map_err(|e| format!("{s:?}: {e}"))
}

fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN)
}

/// Run every knob setting `runs` times on a room of `members` against `config`.
pub async fn run(
    config: &EndpointConfig,
    members: usize,
    settings: &[Knobs],
    runs: usize,
    payload: &str,
) -> anyhow::Result<Vec<QuotaPoint>> {
    println!(
        "quota room of {members}: endpoint {} posts/s (burst {}), {} ms per post; {} setting(s) × {runs} run(s)…",
        rate_label(config.throttle_rate),
        config.throttle_burst,
        config.latency_ms,
        settings.len()
    );
    let mut endpoint = Endpoint::start(config).await?;
    let (room, store, ids) = room_of(members).await?;
    let floor = floor_s(members, config);
    let mut points = vec![];
    for knobs in settings {
        let before = load_average();
        let endpoint_pid = endpoint.pid().map_or("0".to_owned(), |p| p.to_string());
        let cpu_before = (cpu_s("self"), cpu_s(&endpoint_pid));
        let c = roomcast_runs(
            &mut endpoint,
            config,
            knobs,
            &room,
            &store,
            &ids,
            payload,
            runs,
        )
        .await?;
        let cpu = (
            cpu_s("self") - cpu_before.0,
            cpu_s(&endpoint_pid) - cpu_before.1,
        );
        let result = c.result("roomcast", members);
        let posts = (members as f64 + result.throttled) * result.times_s.len() as f64;
        let point = QuotaPoint {
            client_cpu_us: cpu.0 / posts * 1e6,
            endpoint_cpu_us: cpu.1 / posts * 1e6,
            cores_used: (cpu.0 + cpu.1) / result.times_s.iter().sum::<f64>(),
            members,
            knobs: knobs.into(),
            floor_s: floor,
            shards: c.shards,
            ratio: result.median_s / floor,
            result,
            load: (before, load_average()),
        };
        println!(
            "  {}: {} s ({:.2}× the floor), {:.0} 429s per run, CPU {:.0} + {:.0} µs/post on {:.2} cores, load {:.1}",
            label(&point.knobs),
            secs(point.result.median_s),
            point.ratio,
            point.result.throttled,
            point.client_cpu_us,
            point.endpoint_cpu_us,
            point.cores_used,
            point.load.1
        );
        points.push(point);
    }
    Ok(points)
}

fn label(k: &KnobValues) -> String {
    format!(
        "{}/{}/{}/{}",
        k.shard_size,
        k.pool_size,
        k.post_concurrency,
        rate_label(k.rate_limit)
    )
}

/// The table `fanout` prints for the quota room.
pub fn print(points: &[QuotaPoint], endpoint: &EndpointConfig) {
    if points.is_empty() {
        return;
    }
    let mut t = Table::new([
        "members",
        "SHARD/POOL/CONC/RATE",
        "shard jobs",
        "runs",
        "median s",
        "min s",
        "max s",
        "floor s",
        "median / floor",
        "posts/s",
        "429s per run",
        "delivered (worst run)",
        "exactly once",
        "CPU µs/post: bench + endpoint",
        "cores used",
        "CPU-bound s on 2 idle cores",
        "load avg",
    ]);
    for p in points {
        let r = &p.result;
        let min = r.times_s.iter().copied().fold(f64::INFINITY, f64::min);
        let max = r.times_s.iter().copied().fold(0.0, f64::max);
        t.row([
            p.members.to_string(),
            label(&p.knobs),
            p.shards.to_string(),
            r.times_s.len().to_string(),
            secs(r.median_s),
            secs(min),
            secs(max),
            secs(p.floor_s),
            format!("{:.2}", p.ratio),
            format!("{:.0}", r.posts_per_s),
            format!("{:.0}", r.throttled),
            format!("{} / {}", r.delivered_min, p.members),
            if r.exactly_once { "yes" } else { "no" }.to_string(),
            format!("{:.0} + {:.0}", p.client_cpu_us, p.endpoint_cpu_us),
            format!("{:.2}", p.cores_used),
            secs(p.cpu_bound_s(2.0)),
            format!("{:.1}–{:.1}", p.load.0, p.load.1),
        ]);
    }
    t.print(&format!(
        "Fan-out at the quota: {} posts/s, burst {}, {} ms per post; floor = (members − burst) / rate + latency",
        rate_label(endpoint.throttle_rate),
        endpoint.throttle_burst,
        endpoint.latency_ms
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_floor_is_what_the_bucket_admits() {
        let quota = EndpointConfig {
            latency_ms: 30.0,
            throttle_rate: 10_000,
            throttle_burst: 5_000,
        };
        // (100,000 − 5,000) / 10,000 + 0.03.
        assert!((floor_s(100_000, &quota) - 9.53).abs() < 1e-9);
        // A room within the burst is floored by one post's latency.
        assert!((floor_s(4_000, &quota) - 0.03).abs() < 1e-9);
    }

    #[test]
    fn knob_settings_parse_in_the_documented_order() {
        let k = parse_knobs("500/4/128/9500").unwrap();
        assert_eq!(
            (k.shard_size, k.pool_size, k.post_concurrency, k.rate_limit),
            (500, 4, 128, 9500)
        );
        assert!(parse_knobs("500/4/128").is_err());
        assert!(parse_knobs("500/4/x/0").is_err());
    }
}
