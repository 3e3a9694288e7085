//! Command-line flags and environment variables.
//!
//! Settings the Lambdas share use the same bare environment names as there — the four
//! fan-out knobs (`SHARD_SIZE`, `POOL_SIZE`, `POST_CONCURRENCY`, `RATE_LIMIT`), presence
//! (`PRESENCE_INTERVAL`, `PRESENCE_BUDGET`), history (`HISTORY_SIZE`, `HISTORY_TTL`), the
//! abuse limits (`MESSAGE_RATE`, `MESSAGE_BURST`, `MESSAGE_STRIKES`, `MAX_ROOMS`,
//! `MAX_EMIT_BYTES`) and `JWT_*` — so one `.env` serves both homes; everything else is
//! `ROOMCAST_*`. docs/security.md lists every limit.

use crate::fanout::WritePacing;
use clap::Parser;
use roomcast_core::abuse::{self, HandlerLimits, MessageRate};
use roomcast_core::auth::AuthConfig;
use roomcast_core::fanout::{self as fanout, Knobs, RetryPolicy};
use roomcast_core::history::{self, HistoryPolicy};
use roomcast_core::presence::{self, PresencePolicy};
use roomcast_core::protocol::limits;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

/// roomcast: rooms and real-time broadcast over WebSockets, with API Gateway semantics.
/// `Debug` redacts the API key and the JWT secret.
#[derive(Clone, Parser)]
#[command(
    name = "roomcast",
    version,
    about,
    args_conflicts_with_subcommands = true
)]
pub struct Config {
    /// Without a command: run the gateway.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Address to listen on.
    #[arg(long, env = "ROOMCAST_HOST", default_value = "127.0.0.1")]
    pub host: IpAddr,
    /// Port to listen on (0: any free port).
    #[arg(long, env = "ROOMCAST_PORT", default_value_t = 8080)]
    pub port: u16,
    /// API Gateway stage: the WebSocket API is served at `/{stage}`.
    #[arg(long, env = "ROOMCAST_STAGE", default_value = "dev", value_parser = parse_stage)]
    pub stage: String,
    /// Where room state is persisted (an embedded redb database).
    #[arg(long, env = "ROOMCAST_DATA_DIR", default_value = ".roomcast")]
    pub data_dir: PathBuf,
    /// Static files of the browser game (default: the repository's `web/`).
    #[arg(long, env = "ROOMCAST_WEB_DIR", default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../../web"))]
    pub web_dir: PathBuf,

    /// Rooms up to this many members are delivered in place; larger ones are split
    /// into shard jobs of this many connections.
    #[arg(long, env = "SHARD_SIZE", default_value_t = Knobs::default().shard_size, value_parser = count_in(Knobs::check_shard_size))]
    pub shard_size: u32,
    /// Broadcaster workers running fan-out jobs in parallel.
    #[arg(long, env = "POOL_SIZE", default_value_t = Knobs::default().pool_size, value_parser = count_in(Knobs::check_pool_size))]
    pub pool_size: u32,
    /// Posts in flight per fan-out job.
    #[arg(long, env = "POST_CONCURRENCY", default_value_t = Knobs::default().post_concurrency, value_parser = count_in(Knobs::check_post_concurrency))]
    pub post_concurrency: u32,
    /// Posts per second over the whole pool (0: unlimited).
    #[arg(long, env = "RATE_LIMIT", default_value_t = Knobs::default().rate_limit)]
    pub rate_limit: u32,
    /// Tries of a fan-out job before it is dead-lettered (the first run included).
    #[arg(long, env = "JOB_ATTEMPTS", default_value_t = fanout::DEFAULT_JOB_ATTEMPTS,
          value_parser = count_in(RetryPolicy::check_attempts))]
    pub job_attempts: u32,
    /// Wait before a failed fan-out job's first retry; it doubles each retry.
    #[arg(long, env = "JOB_RETRY_DELAY", default_value = "1s", value_parser = duration_in(RetryPolicy::check_delay))]
    pub job_retry_delay: Duration,
    /// Shortest time between two `presence` broadcasts to one room (joins and leaves
    /// in between are coalesced into the next one).
    #[arg(long, env = "PRESENCE_INTERVAL", default_value = "1s", value_parser = duration_in(PresencePolicy::check_interval))]
    pub presence_interval: Duration,
    /// Presence posts per second one room may cost: a room of N waits at least
    /// N / budget seconds between broadcasts.
    #[arg(long, env = "PRESENCE_BUDGET", default_value_t = presence::DEFAULT_PRESENCE_BUDGET,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub presence_budget: u32,
    /// History entries (patches and events) each room keeps for clients that
    /// reconnect with `since` (0: none, a reconnect always gets the state).
    #[arg(long, env = "HISTORY_SIZE", default_value_t = history::DEFAULT_HISTORY_SIZE,
          value_parser = count_in(HistoryPolicy::check_size))]
    pub history_size: usize,
    /// How long a history entry stays recoverable.
    #[arg(long, env = "HISTORY_TTL", default_value = "2m", value_parser = duration_in(HistoryPolicy::check_ttl))]
    pub history_ttl: Duration,

    /// Close a connection that sent nothing for this long (API Gateway: 10 min).
    #[arg(long, env = "ROOMCAST_IDLE_TIMEOUT", default_value = "10m", value_parser = humantime::parse_duration)]
    pub idle_timeout: Duration,
    /// Close any connection after this long (API Gateway: 2 h).
    #[arg(long, env = "ROOMCAST_MAX_LIFETIME", default_value = "2h", value_parser = humantime::parse_duration)]
    pub max_lifetime: Duration,
    /// Most icons one base may hold.
    #[arg(long, env = "ROOMCAST_ICON_CAP", default_value_t = limits::DEFAULT_ICON_CAP)]
    pub icon_cap: usize,
    /// New WebSocket connections accepted per second (API Gateway: 500 per account).
    #[arg(long, env = "ROOMCAST_CONNECTS_PER_SECOND", default_value_t = limits::CONNECTS_PER_SECOND,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub connects_per_second: u32,
    /// New WebSocket connections accepted per second from one client IP address
    /// (bursts up to the same number; 0: no per-IP limit). Checked before the global
    /// quota, so one address cannot use it up.
    #[arg(long, env = "ROOMCAST_CONNECTS_PER_SECOND_PER_IP", default_value_t = DEFAULT_CONNECTS_PER_SECOND_PER_IP)]
    pub connects_per_second_per_ip: u32,
    /// API key (header `x-api-key`) required by the server-side HTTP APIs: publish
    /// (`POST /rooms/{room}/emit`), `@connections` and `/admin` (which also takes
    /// `?key=`); none: all are open.
    #[arg(long, env = "ROOMCAST_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,

    /// Messages per second one connection may sustain (0: no limit); over it a message
    /// is answered `rate_limited`.
    #[arg(long, env = "MESSAGE_RATE", default_value_t = abuse::DEFAULT_MESSAGE_RATE)]
    pub message_rate: u32,
    /// Messages one connection may send at once before the rate applies.
    #[arg(long, env = "MESSAGE_BURST", default_value_t = abuse::DEFAULT_MESSAGE_BURST,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub message_burst: u32,
    /// `rate_limited` answers (beyond what drains meanwhile) before the connection is
    /// closed with 1008.
    #[arg(long, env = "MESSAGE_STRIKES", default_value_t = abuse::DEFAULT_MESSAGE_STRIKES)]
    pub message_strikes: u32,
    /// Rooms one connection may be in at once; a `join` beyond is `room_limit`.
    #[arg(long, env = "MAX_ROOMS", default_value_t = abuse::DEFAULT_MAX_ROOMS,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub max_rooms: usize,
    /// Largest emit and publish `data` in bytes (at most 65536, API Gateway's fit).
    #[arg(long, env = "MAX_EMIT_BYTES", default_value_t = limits::MAX_EMIT_DATA_BYTES,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=limits::MAX_EMIT_DATA_BYTES as u64))]
    pub max_emit_bytes: usize,

    /// HS256 secret for connect tokens (same as the AWS authorizer's); with no key set,
    /// auth is open.
    #[arg(long, env = "JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// RS256 public key for connect tokens: PEM text, or a path to a PEM file.
    #[arg(long, env = "JWT_PUBLIC_KEY")]
    pub jwt_public_key: Option<String>,
    /// Required `aud` claim.
    #[arg(long, env = "JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,
    /// Required `iss` claim.
    #[arg(long, env = "JWT_ISSUER")]
    pub jwt_issuer: Option<String>,

    /// Frames a connection may have queued before posts to it are throttled.
    #[arg(long, env = "ROOMCAST_OUTBOUND_FRAMES", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..))]
    pub outbound_frames: u32,
    /// Bytes a connection may have queued before posts to it are throttled.
    #[arg(long, env = "ROOMCAST_OUTBOUND_BYTES", default_value_t = 4 << 20)]
    pub outbound_bytes: usize,
    /// A connection whose queue stays full this long is closed with 1013.
    #[arg(long, env = "ROOMCAST_SLOW_CONSUMER_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub slow_consumer_timeout: Duration,
    /// How long a broadcast waits for the next ones before its connections write it:
    /// latency traded for fewer writes (0: as soon as possible; at most 1s).
    #[arg(long, env = "ROOMCAST_WRITE_DELAY", default_value = "0s", value_parser = duration_in(check_write_delay))]
    pub write_delay: Duration,
    /// Writes per second the fan-out stays under once it is asked for more deliveries
    /// than that: each connection's frames then wait `connections ÷ budget` (at most
    /// 1s) and go out in one write (0: never wait; `ROOMCAST_WRITE_DELAY` overrides).
    #[arg(long, env = "ROOMCAST_WRITE_BUDGET", default_value_t = 50_000)]
    pub write_budget: u64,
    /// Whether the fan-out's direct writes go through io_uring, a batch of members per
    /// system call (Linux; without it, or where the kernel refuses it, one `send(2)`
    /// per member).
    #[arg(long, env = "ROOMCAST_IO_URING", default_value_t = true, action = clap::ArgAction::Set)]
    pub io_uring: bool,
}

/// `ROOMCAST_WRITE_DELAY` if it is at most a second, past which a client would think
/// the room stalled (a local gateway setting: on AWS every post is one request).
fn check_write_delay(delay: Duration) -> Result<Duration, String> {
    if delay <= Duration::from_secs(1) {
        Ok(delay)
    } else {
        Err(format!("{delay:?} is longer than 1s"))
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redacted = |s: &Option<String>| s.as_ref().map(|_| "<redacted>");
        f.debug_struct("Config")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("stage", &self.stage)
            .field("data_dir", &self.data_dir)
            .field("web_dir", &self.web_dir)
            .field("shard_size", &self.shard_size)
            .field("pool_size", &self.pool_size)
            .field("post_concurrency", &self.post_concurrency)
            .field("rate_limit", &self.rate_limit)
            .field("retry", &self.retry())
            .field("presence", &self.presence())
            .field("history", &self.history())
            .field("idle_timeout", &self.idle_timeout)
            .field("max_lifetime", &self.max_lifetime)
            .field("icon_cap", &self.icon_cap)
            .field("connects_per_second", &self.connects_per_second)
            .field(
                "connects_per_second_per_ip",
                &self.connects_per_second_per_ip,
            )
            .field("api_key", &redacted(&self.api_key))
            .field("message_rate", &self.message_rate())
            .field("max_rooms", &self.max_rooms)
            .field("max_emit_bytes", &self.max_emit_bytes)
            .field("jwt_secret", &redacted(&self.jwt_secret))
            .field("jwt_public_key", &self.jwt_public_key)
            .field("jwt_audience", &self.jwt_audience)
            .field("jwt_issuer", &self.jwt_issuer)
            .field("outbound_frames", &self.outbound_frames)
            .field("outbound_bytes", &self.outbound_bytes)
            .field("slow_consumer_timeout", &self.slow_consumer_timeout)
            .field("write_delay", &self.write_delay)
            .field("write_budget", &self.write_budget)
            .field("io_uring", &self.io_uring)
            .finish_non_exhaustive()
    }
}

/// What the binary does besides serving.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// Suggest the fan-out knobs for a workload, the delivery time they give, and a
    /// month's AWS cost at list prices.
    Plan(crate::plan::PlanArgs),
}

/// A flag's parser for a duration such as `1s` or `500ms`, in the range core's `check`
/// allows (`PresencePolicy::check_interval`, `HistoryPolicy::check_ttl`, …).
fn duration_in(
    check: fn(Duration) -> Result<Duration, String>,
) -> impl Fn(&str) -> Result<Duration, String> + Clone + Send + Sync + 'static {
    move |s| {
        humantime::parse_duration(s)
            .map_err(|e| e.to_string())
            .and_then(check)
    }
}

/// A flag's parser for a count in the range core's `check` allows.
fn count_in<T>(
    check: fn(T) -> Result<T, String>,
) -> impl Fn(&str) -> Result<T, String> + Clone + Send + Sync + 'static
where
    T: std::str::FromStr<Err: std::fmt::Display> + 'static,
{
    move |s| s.parse::<T>().map_err(|e| e.to_string()).and_then(check)
}

fn parse_stage(s: &str) -> Result<String, String> {
    if !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        Ok(s.to_owned())
    } else {
        Err("stage must match [A-Za-z0-9_-]{1,128}".into())
    }
}

/// Default per-IP connects per second: generous for a LAN party behind one address,
/// a wall for one script opening sockets in a loop.
pub const DEFAULT_CONNECTS_PER_SECOND_PER_IP: u32 = 100;

impl Config {
    /// The per-connection message rate.
    pub fn message_rate(&self) -> MessageRate {
        MessageRate {
            per_second: self.message_rate,
            burst: self.message_burst,
            strikes: self.message_strikes,
        }
    }

    /// How often rooms hear their member counts.
    pub fn presence(&self) -> PresencePolicy {
        PresencePolicy {
            interval: self.presence_interval,
            budget: self.presence_budget,
        }
    }

    /// The four fan-out knobs.
    pub fn knobs(&self) -> Knobs {
        Knobs {
            shard_size: self.shard_size,
            pool_size: self.pool_size,
            post_concurrency: self.post_concurrency,
            rate_limit: self.rate_limit,
        }
    }

    /// The fan-out's write policy.
    pub fn write_pacing(&self) -> WritePacing {
        WritePacing::new(self.write_budget, self.write_delay)
    }

    /// What becomes of failed fan-out jobs.
    pub fn retry(&self) -> RetryPolicy {
        RetryPolicy {
            attempts: self.job_attempts,
            first_delay: self.job_retry_delay,
        }
    }

    /// How much history rooms keep.
    pub fn history(&self) -> HistoryPolicy {
        HistoryPolicy {
            size: self.history_size,
            ttl: self.history_ttl,
        }
    }

    /// What the core handler enforces.
    pub fn handler_limits(&self) -> HandlerLimits {
        HandlerLimits {
            max_rooms: self.max_rooms,
            max_emit_bytes: self.max_emit_bytes,
        }
    }

    /// The token settings, shared with the AWS authorizer (a `--jwt-public-key` that is
    /// not PEM text is read as a file path).
    pub fn auth(&self) -> std::io::Result<AuthConfig> {
        let public_key_pem = match &self.jwt_public_key {
            Some(k) if !k.trim_start().starts_with("-----BEGIN") => {
                Some(std::fs::read_to_string(k)?)
            }
            other => other.clone(),
        };
        Ok(AuthConfig {
            secret: self.jwt_secret.clone(),
            public_key_pem,
            audience: self.jwt_audience.clone(),
            issuer: self.jwt_issuer.clone(),
        })
    }

    /// Defaults with the given flags applied, as the binary would parse them; for
    /// tests and embedding.
    pub fn from_args<I, T>(args: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        Self::try_parse_from(
            std::iter::once("roomcast".into()).chain(args.into_iter().map(Into::into)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_settings_core_checks_are_refused_outside_its_ranges() {
        for bad in [
            ["--presence-interval", "5ms"],
            ["--history-size", "1001"],
            ["--history-ttl", "soon"],
            ["--job-attempts", "0"],
            ["--job-retry-delay", "16m"],
            ["--write-delay", "2s"],
        ] {
            assert!(Config::from_args(bad).is_err(), "{bad:?}");
        }
        let c = Config::from_args([
            "--history-size",
            "20",
            "--history-ttl",
            "30s",
            "--job-attempts",
            "3",
            "--job-retry-delay",
            "50ms",
            "--write-delay",
            "100ms",
            "--write-budget",
            "0",
            "--io-uring",
            "false",
        ])
        .unwrap();
        assert!(!c.io_uring);
        assert_eq!(c.write_delay, Duration::from_millis(100));
        assert_eq!(c.write_budget, 0);
        assert_eq!(
            (c.history(), c.retry()),
            (
                HistoryPolicy {
                    size: 20,
                    ttl: Duration::from_secs(30)
                },
                RetryPolicy {
                    attempts: 3,
                    first_delay: Duration::from_millis(50)
                }
            )
        );
    }
}
