//! Fan-out to one room: roomcast's broadcaster path vs planetstack's two approaches, on
//! the same simulated `@connections` endpoint, and the knob sweep.
//!
//! - [`endpoint`]: the simulated management API (latency, 429 throttling, per-connection
//!   delivery counts), in a child process.
//! - [`pool`]: roomcast: core planner + deliverer + `roomcast_aws::poster::ApiGwPoster`
//!   over HTTP, `POOL_SIZE` workers on an in-process queue.
//! - [`planetstack`]: one-by-one and all-at-once with the same SDK client.
//! - [`quota`]: roomcast alone on a 100,000-member room at the account quota, against
//!   the quota floor.
//!
//! Every run is verified at the endpoint: a run counts as complete only when every
//! member's connection id received the frame (roomcast: exactly once).

mod endpoint;
mod planetstack;
mod pool;
mod quota;

use crate::support::Output;
use crate::support::stats::median;
use crate::support::table::Table;
use anyhow::{Context, bail};
use endpoint::{Endpoint, EndpointConfig, Stats};
use planetstack::Approach;
use roomcast_aws::poster::ApiGwPoster;
use roomcast_core::fanout::Knobs;
use roomcast_core::ports::{Member, MembershipStore};
use roomcast_core::protocol::{ConnectionId, Coord, Icon, IconId, Image, Protocol, RoomName};
use roomcast_core::protocol::{ServerMessage, limits};
use roomcast_core::state::Op;
use roomcast_gateway::store::MemoryMembers;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// Where the results go (`<out>/fanout.json`).
pub const RESULTS: &str = "fanout";

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Room sizes (members) compared across the three approaches (`0`: none).
    #[arg(long, value_delimiter = ',', default_value = "100,1000,10000")]
    pub rooms: Vec<usize>,
    /// The endpoint's answer time per post, ms (API Gateway pushing the frame).
    #[arg(long, default_value_t = 30.0)]
    pub latency_ms: f64,
    /// The endpoint's throttle: steady posts/s over everyone (API Gateway's default
    /// account-level quota, which covers the WebSocket callback API, is 10,000).
    #[arg(long, default_value_t = 10_000)]
    pub throttle_rate: u32,
    /// The endpoint's token-bucket capacity (API Gateway's default: 5,000).
    #[arg(long, default_value_t = 5_000)]
    pub throttle_burst: u32,
    /// Runs per room for roomcast and for planetstack all-at-once (the median is reported).
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
    /// Planetstack one-by-one gets as many runs (up to `--runs`, at least 1) as fit in this
    /// many seconds by its expected time, members × latency: 10,000 × 30 ms is 5 min a
    /// run, so the 10,000 room gets one.
    #[arg(long, default_value_t = 60)]
    pub serial_budget_s: u64,
    /// Skip planetstack one-by-one in rooms larger than this (0: never skip).
    #[arg(long, default_value_t = 0)]
    pub one_by_one_max: usize,
    /// The results file, `<out>/<name>.json` (`plot` reads `fanout`).
    #[arg(long, default_value = RESULTS)]
    pub results: String,
    /// `SHARD_SIZE` for the comparison (and the sweep's baseline).
    #[arg(long, default_value_t = 500)]
    pub shard_size: u32,
    /// `POOL_SIZE` for the comparison.
    #[arg(long, default_value_t = 4)]
    pub pool_size: u32,
    /// `POST_CONCURRENCY` for the comparison.
    #[arg(long, default_value_t = 64)]
    pub post_concurrency: u32,
    /// `RATE_LIMIT` for the comparison (0: unlimited).
    #[arg(long, default_value_t = 0)]
    pub rate_limit: u32,
    /// The room size the knobs are swept on (0: no sweep).
    #[arg(long, default_value_t = 10_000)]
    pub sweep_room: usize,
    /// Runs per sweep point.
    #[arg(long, default_value_t = 3)]
    pub sweep_runs: usize,
    /// `SHARD_SIZE` values swept (the other knobs at their baseline).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "100,250,500,1000,2500,10000"
    )]
    pub sweep_shard_size: Vec<u32>,
    /// `POOL_SIZE` values swept.
    #[arg(long, value_delimiter = ',', default_value = "1,2,4,8,16")]
    pub sweep_pool_size: Vec<u32>,
    /// `POST_CONCURRENCY` values swept.
    #[arg(long, value_delimiter = ',', default_value = "8,16,32,64,128,256")]
    pub sweep_post_concurrency: Vec<u32>,
    /// `RATE_LIMIT` values swept (0: unlimited).
    #[arg(long, value_delimiter = ',', default_value = "1000,2500,5000,8000,0")]
    pub sweep_rate_limit: Vec<u32>,
    /// Members of the quota room (0: skip it): roomcast alone, each `--quota-knobs`
    /// setting, against an endpoint of its own at `--quota-rate` / `--quota-burst`.
    #[arg(long, default_value_t = 100_000)]
    pub quota_room: usize,
    /// Runs per setting on the quota room (the median is reported).
    #[arg(long, default_value_t = 3)]
    pub quota_runs: usize,
    /// The quota room's endpoint: steady posts/s (API Gateway's account default).
    #[arg(long, default_value_t = 10_000)]
    pub quota_rate: u32,
    /// The quota room's endpoint: token-bucket capacity (API Gateway's default).
    #[arg(long, default_value_t = 5_000)]
    pub quota_burst: u32,
    /// Knob settings tried on the quota room, each
    /// `SHARD_SIZE/POOL_SIZE/POST_CONCURRENCY/RATE_LIMIT` (0: unlimited): the
    /// defaults, then the setting docs/operations.md advises at the quota.
    #[arg(
        long,
        value_delimiter = ',',
        value_parser = quota::parse_knobs,
        default_value = "500/4/64/0,500/4/128/9500"
    )]
    pub quota_knobs: Vec<Knobs>,
    /// Internal: be the simulated endpoint (the bench starts itself with this).
    #[arg(long, hide = true)]
    pub serve_endpoint: bool,
}

impl Args {
    pub fn quick() -> Self {
        Self {
            rooms: vec![50, 200],
            latency_ms: 5.0,
            runs: 2,
            serial_budget_s: 1,
            sweep_room: 200,
            sweep_runs: 1,
            sweep_shard_size: vec![50, 200],
            sweep_pool_size: vec![1, 4],
            sweep_post_concurrency: vec![8, 64],
            sweep_rate_limit: vec![500, 0],
            // The quota stage scaled down to a smoke run: 600 members (two shard
            // jobs), 600/s with a 150 burst (floor 0.78 s), the default knobs only;
            // never 100,000. (One one-by-one run of the 200 room instead of two pays
            // for it: `all --quick` keeps its time.)
            quota_room: 600,
            quota_runs: 1,
            quota_rate: 600,
            quota_burst: 150,
            quota_knobs: vec![Knobs {
                shard_size: 500,
                pool_size: 4,
                post_concurrency: 64,
                rate_limit: 0,
            }],
            ..Self::full()
        }
    }

    pub fn full() -> Self {
        use clap::Parser;
        #[derive(Parser)]
        struct Defaults {
            #[command(flatten)]
            args: Args,
        }
        Defaults::parse_from(["fanout"]).args
    }

    fn endpoint(&self) -> EndpointConfig {
        EndpointConfig {
            latency_ms: self.latency_ms,
            throttle_rate: self.throttle_rate,
            throttle_burst: self.throttle_burst,
        }
    }

    fn quota_endpoint(&self) -> EndpointConfig {
        EndpointConfig {
            latency_ms: self.latency_ms,
            throttle_rate: self.quota_rate,
            throttle_burst: self.quota_burst,
        }
    }

    fn baseline(&self) -> Knobs {
        Knobs {
            shard_size: self.shard_size,
            pool_size: self.pool_size,
            post_concurrency: self.post_concurrency,
            rate_limit: self.rate_limit,
        }
    }
}

/// The four knobs as recorded in the results.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct KnobValues {
    pub shard_size: u32,
    pub pool_size: u32,
    pub post_concurrency: u32,
    pub rate_limit: u32,
}

impl From<&Knobs> for KnobValues {
    fn from(k: &Knobs) -> Self {
        Self {
            shard_size: k.shard_size,
            pool_size: k.pool_size,
            post_concurrency: k.post_concurrency,
            rate_limit: k.rate_limit,
        }
    }
}

/// One approach's runs on one room.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApproachResult {
    pub approach: String,
    /// Time to full delivery of each run, s (for a planetstack run that missed members: the
    /// time until its last answer).
    pub times_s: Vec<f64>,
    pub median_s: f64,
    /// Members delivered per second at the median.
    pub posts_per_s: f64,
    /// 429 answers per run (median).
    pub throttled: f64,
    /// Members the endpoint saw receive the frame, worst run.
    pub delivered_min: usize,
    /// Every run delivered to every member exactly once (verified at the endpoint).
    pub exactly_once: bool,
}

/// The three approaches on one room.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RoomResult {
    pub members: usize,
    pub roomcast: ApproachResult,
    /// `None` when skipped (`--one-by-one-max`).
    #[serde(default)]
    pub one_by_one: Option<ApproachResult>,
    pub all_at_once: ApproachResult,
}

/// One point of the knob sweep.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SweepPoint {
    /// The knob varied (`SHARD_SIZE`, …).
    pub knob: String,
    pub value: u32,
    pub knobs: KnobValues,
    pub members: usize,
    /// Shard jobs the planner made.
    pub shards: usize,
    pub result: ApproachResult,
    /// The docs' arithmetic for this point, s.
    pub model_s: f64,
}

/// Everything `fanout` measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FanoutResults {
    pub endpoint: EndpointConfig,
    pub baseline: KnobValues,
    pub payload_bytes: usize,
    pub rooms: Vec<RoomResult>,
    pub sweep_room: usize,
    pub sweep: Vec<SweepPoint>,
    /// The quota room's endpoint and settings (absent in results from before it).
    #[serde(default)]
    pub quota_endpoint: Option<EndpointConfig>,
    #[serde(default)]
    pub quota: Vec<quota::QuotaPoint>,
}

/// The docs' arithmetic: members × latency / (POST_CONCURRENCY × active shards),
/// floored by the pool's rate budget and the endpoint's throttle.
///
/// Two details the measurements need: `RATE_LIMIT` is split over `POOL_SIZE`
/// instances, so with fewer active shards than instances only their share of it is in
/// use; and each limiter starts with a full bucket (one second's worth per instance in
/// `governor`, the burst at the endpoint), so a floor only binds beyond that burst.
pub fn model_s(members: usize, latency_ms: f64, k: &KnobValues, endpoint: &EndpointConfig) -> f64 {
    let m = members as f64;
    let shards = if members <= k.shard_size as usize {
        1
    } else {
        members.div_ceil(k.shard_size.max(1) as usize)
    };
    let active = shards.min(k.pool_size.max(1) as usize) as f64;
    let by_latency = m * latency_ms / 1000.0 / (k.post_concurrency.max(1) as f64 * active);
    let floor = |rate: f64, burst: f64| (m - burst).max(0.0) / rate;
    let mut t = by_latency;
    if k.rate_limit > 0 {
        let rate = (k.rate_limit / k.pool_size.max(1)).max(1) as f64 * active;
        t = t.max(floor(rate, rate));
    }
    if endpoint.throttle_rate > 0 {
        t = t.max(floor(
            endpoint.throttle_rate as f64,
            endpoint.throttle_burst as f64,
        ));
    }
    t
}

/// A `roomcast.v1` patch frame, what a `moveIcon` broadcasts.
fn patch_payload(room: &RoomName) -> String {
    ServerMessage::Patch {
        room: room.clone(),
        version: 1,
        op: Op::MoveIcon {
            id: IconId::generate(),
            icon: Icon {
                img: Image::parse(12).expect("valid"),
                x: Coord::parse(412.0).expect("valid"),
                y: Coord::parse(-187.0).expect("valid"),
            },
        },
        at: Some(roomcast_core::protocol::Position {
            offset: 1,
            epoch: roomcast_core::protocol::Epoch::generate(),
        }),
    }
    .to_v1()
}

/// An SDK configuration with a static test credential (SigV4 signing still runs) and a
/// region; the poster sets the endpoint.
fn sdk_config() -> aws_config::SdkConfig {
    use aws_sdk_apigatewaymanagement::config::{Credentials, Region, SharedCredentialsProvider};
    aws_config::SdkConfig::builder()
        .region(Region::new("eu-west-1"))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "AKIDBENCHEXAMPLE",
            "bench-secret",
            None,
            None,
            "roomcast-bench",
        )))
        .behavior_version(aws_config::BehaviorVersion::latest())
        .build()
}

/// A room of `n` v1 members in the gateway's membership store.
async fn room_of(n: usize) -> anyhow::Result<(RoomName, Arc<MemoryMembers>, Vec<ConnectionId>)> {
    let room = RoomName::parse(format!("bench-{n}")).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let members = Arc::new(MemoryMembers::default());
    let mut ids = Vec::with_capacity(n);
    for _ in 0..n {
        let id = ConnectionId::generate();
        let member = Member {
            user: roomcast_core::protocol::UserId::anonymous(&id),
            id,
            protocol: Protocol::V1,
        };
        members.connect(&member).await?;
        members.join(&room, &member).await?;
        ids.push(member.id);
    }
    Ok((room, members, ids))
}

/// How a run looked from the endpoint.
struct Verified {
    /// Members that received the frame at least once.
    delivered: usize,
    /// Every member exactly once, nothing else.
    exactly_once: bool,
    throttled: u64,
}

fn verify(stats: &Stats, ids: &[ConnectionId]) -> Verified {
    let delivered = ids
        .iter()
        .filter(|id| {
            stats
                .per_connection
                .get(id.as_str())
                .is_some_and(|n| *n > 0)
        })
        .count();
    let exactly_once = stats.per_connection.len() == ids.len()
        && ids
            .iter()
            .all(|id| stats.per_connection.get(id.as_str()) == Some(&1));
    Verified {
        delivered,
        exactly_once,
        throttled: stats.throttled,
    }
}

/// Let the endpoint's token bucket refill between runs, so each run starts alike: a
/// run of `posts` took at most that many tokens (or the whole burst).
async fn settle(config: &EndpointConfig, posts: usize) {
    let refill = if config.throttle_rate > 0 {
        posts.min(config.throttle_burst as usize) as f64 / config.throttle_rate as f64
    } else {
        0.0
    };
    tokio::time::sleep(Duration::from_secs_f64(refill + 0.1)).await;
}

struct Collected {
    times: Vec<f64>,
    throttled: Vec<f64>,
    delivered_min: usize,
    exactly_once: bool,
    shards: usize,
}

impl Collected {
    fn new() -> Self {
        Self {
            times: vec![],
            throttled: vec![],
            delivered_min: usize::MAX,
            exactly_once: true,
            shards: 0,
        }
    }

    fn add(&mut self, elapsed: Duration, v: &Verified) {
        self.times.push(elapsed.as_secs_f64());
        self.throttled.push(v.throttled as f64);
        self.delivered_min = self.delivered_min.min(v.delivered);
        self.exactly_once &= v.exactly_once;
    }

    fn result(&self, approach: &str, members: usize) -> ApproachResult {
        let median_s = median(&self.times);
        ApproachResult {
            approach: approach.to_owned(),
            times_s: self.times.clone(),
            median_s,
            posts_per_s: self.delivered_min.min(members) as f64 / median_s,
            throttled: median(&self.throttled),
            delivered_min: self.delivered_min,
            exactly_once: self.exactly_once,
        }
    }
}

/// `runs` roomcast broadcasts to `room` with `knobs`.
#[allow(clippy::too_many_arguments)]
async fn roomcast_runs(
    endpoint: &mut Endpoint,
    config: &EndpointConfig,
    knobs: &Knobs,
    room: &RoomName,
    members: &Arc<MemoryMembers>,
    ids: &[ConnectionId],
    payload: &str,
    runs: usize,
) -> anyhow::Result<Collected> {
    let sdk = sdk_config();
    let pool = pool::Pool::start(knobs, &sdk, &endpoint.url, members.clone())?;
    let model = model_s(ids.len(), config.latency_ms, &knobs.into(), config);
    let limit = Duration::from_secs_f64((model * 10.0).max(60.0));
    let mut c = Collected::new();
    for _ in 0..runs.max(1) {
        settle(config, ids.len()).await;
        endpoint.reset().await?;
        let report = pool.broadcast(room, payload, limit).await?;
        let v = verify(&endpoint.stats().await?, ids);
        if report.failed > 0 || !v.exactly_once || report.delivered != v.delivered {
            eprintln!(
                "warning: roomcast run on {} members: the deliverers counted {} delivered and \
                 {} failed, the endpoint saw {} members delivered (exactly once: {})",
                ids.len(),
                report.delivered,
                report.failed,
                v.delivered,
                v.exactly_once
            );
        }
        if report.throttled as u64 != v.throttled {
            tracing::debug!(
                deliverers = report.throttled,
                endpoint = v.throttled,
                "throttle counts differ"
            );
        }
        c.shards = report.shards;
        c.add(report.elapsed, &v);
    }
    Ok(c)
}

async fn planetstack_runs(
    endpoint: &mut Endpoint,
    config: &EndpointConfig,
    approach: Approach,
    ids: &[ConnectionId],
    payload: &str,
    runs: usize,
) -> anyhow::Result<Collected> {
    let poster = ApiGwPoster::new(&sdk_config(), endpoint.url.clone());
    let payload = bytes::Bytes::from(payload.to_owned());
    let serial = ids.len() as f64 * (config.latency_ms / 1000.0 + 0.01);
    let limit = Duration::from_secs_f64(serial * 3.0 + 120.0);
    let mut c = Collected::new();
    for _ in 0..runs.max(1) {
        settle(config, ids.len()).await;
        endpoint.reset().await?;
        let report = tokio::time::timeout(
            limit,
            planetstack::broadcast(approach, &poster, ids, &payload),
        )
        .await
        .with_context(|| format!("{} not done within {limit:?}", approach.label()))?;
        let v = verify(&endpoint.stats().await?, ids);
        if v.delivered != report.delivered {
            eprintln!(
                "warning: {}: the SDK reported {} delivered, the endpoint saw {}",
                approach.label(),
                report.delivered,
                v.delivered
            );
        }
        c.add(report.elapsed, &v);
    }
    Ok(c)
}

fn secs(s: f64) -> String {
    if s >= 10.0 {
        format!("{s:.1}")
    } else if s >= 0.1 {
        format!("{s:.2}")
    } else {
        format!("{s:.3}")
    }
}

fn rate_label(r: u32) -> String {
    if r == 0 {
        "unlimited".into()
    } else {
        r.to_string()
    }
}

pub async fn run(args: Args, out: &Output) -> anyhow::Result<()> {
    let config = args.endpoint();
    if args.serve_endpoint {
        return endpoint::serve(config).await;
    }
    if args.rooms.iter().all(|n| *n == 0) && args.sweep_room == 0 && args.quota_room == 0 {
        bail!("nothing to do: no --rooms, no --sweep-room and no --quota-room");
    }
    let baseline = args.baseline();
    let payload = patch_payload(&RoomName::parse("bench").expect("valid"));
    assert!(payload.len() <= limits::MAX_MESSAGE_BYTES);
    println!(
        "\n## fanout: simulated @connections endpoint, {} ms per post, throttle {} posts/s (burst {}); \
         roomcast knobs SHARD_SIZE={} POOL_SIZE={} POST_CONCURRENCY={} RATE_LIMIT={}; payload {} bytes",
        args.latency_ms,
        rate_label(args.throttle_rate),
        args.throttle_burst,
        baseline.shard_size,
        baseline.pool_size,
        baseline.post_concurrency,
        rate_label(baseline.rate_limit),
        payload.len()
    );
    let mut endpoint = Endpoint::start(&config).await?;
    let mut results = FanoutResults {
        endpoint: config.clone(),
        baseline: (&baseline).into(),
        payload_bytes: payload.len(),
        rooms: vec![],
        sweep_room: args.sweep_room,
        sweep: vec![],
        quota_endpoint: None,
        quota: vec![],
    };

    for &n in args.rooms.iter().filter(|n| **n > 0) {
        let (room, members, ids) = room_of(n).await?;
        let serial_s = n as f64 * args.latency_ms / 1000.0;
        let serial_runs = ((args.serial_budget_s as f64 / serial_s.max(1e-3)) as usize)
            .clamp(1, args.runs.max(1));
        let skip_serial = args.one_by_one_max > 0 && n > args.one_by_one_max;
        println!(
            "room of {n}: roomcast × {}, all-at-once × {}, one-by-one × {} (≈{serial_s:.0} s each)…",
            args.runs,
            args.runs,
            if skip_serial { 0 } else { serial_runs }
        );
        let rc = roomcast_runs(
            &mut endpoint,
            &config,
            &baseline,
            &room,
            &members,
            &ids,
            &payload,
            args.runs,
        )
        .await?;
        let all = planetstack_runs(
            &mut endpoint,
            &config,
            Approach::AllAtOnce,
            &ids,
            &payload,
            args.runs,
        )
        .await?;
        let serial = if skip_serial {
            None
        } else {
            Some(
                planetstack_runs(
                    &mut endpoint,
                    &config,
                    Approach::OneByOne,
                    &ids,
                    &payload,
                    serial_runs,
                )
                .await?,
            )
        };
        results.rooms.push(RoomResult {
            members: n,
            roomcast: rc.result("roomcast", n),
            one_by_one: serial.map(|c| c.result(Approach::OneByOne.label(), n)),
            all_at_once: all.result(Approach::AllAtOnce.label(), n),
        });
    }
    print_rooms(&results);

    if args.quota_room > 0 {
        let config = args.quota_endpoint();
        results.quota = quota::run(
            &config,
            args.quota_room,
            &args.quota_knobs,
            args.quota_runs,
            &payload,
        )
        .await?;
        quota::print(&results.quota, &config);
        results.quota_endpoint = Some(config);
    }

    if args.sweep_room > 0 {
        let n = args.sweep_room;
        let (room, members, ids) = room_of(n).await?;
        let points: Vec<(&str, Vec<u32>)> = vec![
            ("SHARD_SIZE", args.sweep_shard_size.clone()),
            ("POOL_SIZE", args.sweep_pool_size.clone()),
            ("POST_CONCURRENCY", args.sweep_post_concurrency.clone()),
            ("RATE_LIMIT", args.sweep_rate_limit.clone()),
        ];
        println!(
            "knob sweep on a room of {n}: one knob at a time around the baseline, {} run(s) each…",
            args.sweep_runs
        );
        for (knob, values) in points {
            for value in values {
                let mut knobs = baseline;
                match knob {
                    "SHARD_SIZE" => knobs.shard_size = value.max(1),
                    "POOL_SIZE" => knobs.pool_size = value.max(1),
                    "POST_CONCURRENCY" => knobs.post_concurrency = value.max(1),
                    _ => knobs.rate_limit = value,
                }
                let c = roomcast_runs(
                    &mut endpoint,
                    &config,
                    &knobs,
                    &room,
                    &members,
                    &ids,
                    &payload,
                    args.sweep_runs,
                )
                .await?;
                let values = KnobValues::from(&knobs);
                let point = SweepPoint {
                    knob: knob.to_owned(),
                    value,
                    knobs: values,
                    members: n,
                    shards: c.shards,
                    result: c.result("roomcast", n),
                    model_s: model_s(n, args.latency_ms, &values, &config),
                };
                println!(
                    "  {knob}={}: {} s",
                    if knob == "RATE_LIMIT" {
                        rate_label(value)
                    } else {
                        value.to_string()
                    },
                    secs(point.result.median_s)
                );
                results.sweep.push(point);
            }
        }
        print_sweep(&results);
    }
    out.save(&args.results, &results)?;
    Ok(())
}

fn print_rooms(r: &FanoutResults) {
    if r.rooms.is_empty() {
        return;
    }
    let mut summary = Table::new([
        "members",
        "roomcast s",
        "planetstack one-by-one s",
        "planetstack all-at-once s",
        "roomcast / one-by-one",
        "roomcast / all-at-once",
        "all-at-once delivered",
    ]);
    for room in &r.rooms {
        summary.row([
            room.members.to_string(),
            secs(room.roomcast.median_s),
            room.one_by_one
                .as_ref()
                .map_or("skipped".into(), |a| secs(a.median_s)),
            secs(room.all_at_once.median_s),
            room.one_by_one.as_ref().map_or("—".into(), |a| {
                format!("{:.4}", room.roomcast.median_s / a.median_s)
            }),
            format!("{:.2}", room.roomcast.median_s / room.all_at_once.median_s),
            format!("{} / {}", room.all_at_once.delivered_min, room.members),
        ]);
    }
    summary.print("Fan-out: time to full delivery (median)");

    let mut detail = Table::new([
        "members",
        "approach",
        "runs",
        "median s",
        "min s",
        "max s",
        "posts/s",
        "429s per run",
        "delivered (worst run)",
        "exactly once",
    ]);
    for room in &r.rooms {
        for a in [
            Some(&room.roomcast),
            room.one_by_one.as_ref(),
            Some(&room.all_at_once),
        ]
        .into_iter()
        .flatten()
        {
            let min = a.times_s.iter().copied().fold(f64::INFINITY, f64::min);
            let max = a.times_s.iter().copied().fold(0.0, f64::max);
            detail.row([
                room.members.to_string(),
                a.approach.clone(),
                a.times_s.len().to_string(),
                secs(a.median_s),
                secs(min),
                secs(max),
                format!("{:.0}", a.posts_per_s),
                format!("{:.0}", a.throttled),
                format!("{} / {}", a.delivered_min, room.members),
                if a.exactly_once { "yes" } else { "no" }.to_string(),
            ]);
        }
    }
    detail.print("Fan-out: every approach, verified at the endpoint");
}

fn print_sweep(r: &FanoutResults) {
    let mut t = Table::new([
        "knob",
        "value",
        "shard jobs",
        "median s",
        "posts/s",
        "429s per run",
        "delivered",
        "model s",
    ]);
    for p in &r.sweep {
        t.row([
            p.knob.clone(),
            if p.knob == "RATE_LIMIT" {
                rate_label(p.value)
            } else {
                p.value.to_string()
            },
            p.shards.to_string(),
            secs(p.result.median_s),
            format!("{:.0}", p.result.posts_per_s),
            format!("{:.0}", p.result.throttled),
            format!(
                "{} / {}{}",
                p.result.delivered_min,
                p.members,
                if p.result.exactly_once {
                    ""
                } else {
                    " (not exactly once)"
                }
            ),
            secs(p.model_s),
        ]);
    }
    t.print(&format!(
        "Knob sweep: room of {}, baseline SHARD_SIZE={} POOL_SIZE={} POST_CONCURRENCY={} RATE_LIMIT={}",
        r.sweep_room,
        r.baseline.shard_size,
        r.baseline.pool_size,
        r.baseline.post_concurrency,
        rate_label(r.baseline.rate_limit)
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn knobs(
        shard_size: u32,
        pool_size: u32,
        post_concurrency: u32,
        rate_limit: u32,
    ) -> KnobValues {
        KnobValues {
            shard_size,
            pool_size,
            post_concurrency,
            rate_limit,
        }
    }

    const OPEN: EndpointConfig = EndpointConfig {
        latency_ms: 30.0,
        throttle_rate: 0,
        throttle_burst: 0,
    };

    #[test]
    fn the_arithmetic_matches_the_docs_example() {
        // docs/architecture.md: 10,000 members, 20 ms, 64 in flight, 4 active shards.
        let t = model_s(10_000, 20.0, &knobs(500, 4, 64, 0), &OPEN);
        assert!((t - 0.78125).abs() < 1e-9, "{t}");
        // In place: one shard whatever the pool.
        let t = model_s(400, 30.0, &knobs(500, 4, 10, 0), &OPEN);
        assert!((t - 1.2).abs() < 1e-9, "{t}");
        // RATE_LIMIT 5000 over 4 instances, all active: (10,000 - 5,000 burst) / 5,000.
        let t = model_s(10_000, 20.0, &knobs(500, 4, 64, 5000), &OPEN);
        assert!((t - 1.0).abs() < 1e-9, "{t}");
        // The endpoint's throttle floors it too.
        let throttled = EndpointConfig {
            throttle_rate: 1000,
            throttle_burst: 500,
            ..OPEN
        };
        let t = model_s(10_000, 20.0, &knobs(500, 4, 64, 0), &throttled);
        assert!((t - 9.5).abs() < 1e-9, "{t}");
    }

    #[test]
    fn verification_needs_every_member_exactly_once() {
        let ids: Vec<ConnectionId> = (0..3).map(|_| ConnectionId::generate()).collect();
        let mut stats = Stats::default();
        for id in &ids {
            stats.per_connection.insert(id.as_str().to_owned(), 1);
        }
        let v = verify(&stats, &ids);
        assert!(v.exactly_once && v.delivered == 3);
        stats.per_connection.insert(ids[0].as_str().to_owned(), 2);
        assert!(!verify(&stats, &ids).exactly_once);
        stats.per_connection.remove(ids[0].as_str());
        let v = verify(&stats, &ids);
        assert!(!v.exactly_once && v.delivered == 2);
    }
}
