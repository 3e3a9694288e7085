//! What the Lambdas read from their environment, read once at cold start.
//!
//! The names match the local gateway's flags and the SAM template's `Environment`, so
//! one set of settings describes both homes.

use std::time::Duration;

use roomcast_core::abuse::{self, HandlerLimits, MessageRate};
use roomcast_core::auth::AuthConfig;
use roomcast_core::fanout::{self, FanoutConfig, RetryPolicy};
use roomcast_core::history::{self, HistoryPolicy};
use roomcast_core::presence::{self, PresencePolicy};
use roomcast_core::protocol::limits::{DEFAULT_ICON_CAP, MAX_EMIT_DATA_BYTES};

/// A missing or malformed setting: the function cannot start.
#[derive(Debug, thiserror::Error)]
pub enum EnvError {
    /// A required variable is unset or empty.
    #[error("environment variable {0} is required")]
    Missing(&'static str),
    /// A variable does not parse.
    #[error("environment variable {name}={value:?}: {reason}")]
    Invalid {
        /// The variable.
        name: &'static str,
        /// Its value.
        value: String,
        /// What is wrong.
        reason: String,
    },
}

fn var(name: &'static str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// A required variable.
pub fn required(name: &'static str) -> Result<String, EnvError> {
    var(name).ok_or(EnvError::Missing(name))
}

/// An optional variable.
pub fn optional(name: &'static str) -> Option<String> {
    var(name)
}

fn number<T: std::str::FromStr>(name: &'static str, default: T) -> Result<T, EnvError>
where
    T::Err: std::fmt::Display,
{
    match var(name) {
        None => Ok(default),
        Some(value) => value.trim().parse().map_err(|e: T::Err| EnvError::Invalid {
            name,
            reason: e.to_string(),
            value,
        }),
    }
}

/// The DynamoDB table (`TABLE_NAME`).
pub fn table_name() -> Result<String, EnvError> {
    required("TABLE_NAME")
}

/// The fan-out queue (`QUEUE_URL`).
pub fn queue_url() -> Result<String, EnvError> {
    required("QUEUE_URL")
}

/// The most icons a base may hold (`ICON_CAP`).
pub fn icon_cap() -> Result<usize, EnvError> {
    number("ICON_CAP", DEFAULT_ICON_CAP)
}

fn in_range<T: PartialOrd + std::fmt::Display>(
    name: &'static str,
    value: T,
    min: T,
    max: T,
) -> Result<T, EnvError> {
    if value < min || value > max {
        return Err(EnvError::Invalid {
            name,
            value: value.to_string(),
            reason: format!("must be in {min}..={max}"),
        });
    }
    Ok(value)
}

/// The per-connection message rate (`MESSAGE_RATE`, 0 for none; `MESSAGE_BURST`;
/// `MESSAGE_STRIKES`), with the local gateway's defaults.
pub fn message_rate() -> Result<MessageRate, EnvError> {
    Ok(MessageRate {
        per_second: number("MESSAGE_RATE", abuse::DEFAULT_MESSAGE_RATE)?,
        burst: in_range(
            "MESSAGE_BURST",
            number("MESSAGE_BURST", abuse::DEFAULT_MESSAGE_BURST)?,
            1,
            u32::MAX,
        )?,
        strikes: number("MESSAGE_STRIKES", abuse::DEFAULT_MESSAGE_STRIKES)?,
    })
}

/// What core's handler enforces: `MAX_ROOMS` per connection and `MAX_EMIT_BYTES`
/// (at most 65536), with the local gateway's defaults.
pub fn handler_limits() -> Result<HandlerLimits, EnvError> {
    Ok(HandlerLimits {
        max_rooms: in_range(
            "MAX_ROOMS",
            number("MAX_ROOMS", abuse::DEFAULT_MAX_ROOMS)?,
            1,
            usize::MAX,
        )?,
        max_emit_bytes: in_range(
            "MAX_EMIT_BYTES",
            number("MAX_EMIT_BYTES", MAX_EMIT_DATA_BYTES)?,
            1,
            MAX_EMIT_DATA_BYTES,
        )?,
    })
}

/// `name` read with `parse` (the trimmed text to a value, or why not), or `default`
/// when unset: the settings core checks (`check_*`) all read this way.
fn checked<T>(
    name: &'static str,
    default: T,
    parse: impl FnOnce(&str) -> Result<T, String>,
) -> Result<T, EnvError> {
    match var(name) {
        None => Ok(default),
        Some(value) => parse(value.trim()).map_err(|reason| EnvError::Invalid {
            name,
            value,
            reason,
        }),
    }
}

/// A duration such as `1s` or `500ms`, then core's `check` of its range.
fn duration(
    check: impl FnOnce(Duration) -> Result<Duration, String>,
) -> impl FnOnce(&str) -> Result<Duration, String> {
    move |text| {
        humantime::parse_duration(text)
            .map_err(|e| e.to_string())
            .and_then(check)
    }
}

/// A count, then core's `check` of its range.
fn count<T: std::str::FromStr<Err: std::fmt::Display>>(
    check: impl FnOnce(T) -> Result<T, String>,
) -> impl FnOnce(&str) -> Result<T, String> {
    move |text| text.parse::<T>().map_err(|e| e.to_string()).and_then(check)
}

/// How often rooms hear their member counts: `PRESENCE_INTERVAL` (a duration such as
/// `1s` or `500ms`, 10 ms to SQS's 15-minute delay limit) and `PRESENCE_BUDGET`
/// (presence posts per second per room), with the local gateway's defaults.
pub fn presence() -> Result<PresencePolicy, EnvError> {
    let interval = checked(
        "PRESENCE_INTERVAL",
        presence::DEFAULT_PRESENCE_INTERVAL,
        duration(PresencePolicy::check_interval),
    )?;
    let budget = in_range(
        "PRESENCE_BUDGET",
        number("PRESENCE_BUDGET", presence::DEFAULT_PRESENCE_BUDGET)?,
        1,
        u32::MAX,
    )?;
    Ok(PresencePolicy { interval, budget })
}

/// How much history each room keeps for recovery: `HISTORY_SIZE` (entries, at most
/// `HistoryPolicy::MAX_SIZE`; 0 turns recovery off) and `HISTORY_TTL` (a duration such
/// as `2m`, 1 s to 24 h), with the local gateway's defaults. The table keeps the entries
/// and the handler decides recovery by the same policy.
pub fn history() -> Result<HistoryPolicy, EnvError> {
    Ok(HistoryPolicy {
        size: checked(
            "HISTORY_SIZE",
            history::DEFAULT_HISTORY_SIZE,
            count(HistoryPolicy::check_size),
        )?,
        ttl: checked(
            "HISTORY_TTL",
            history::DEFAULT_HISTORY_TTL,
            duration(HistoryPolicy::check_ttl),
        )?,
    })
}

/// What becomes of failed fan-out jobs: `JOB_ATTEMPTS` (tries in all) and
/// `JOB_RETRY_DELAY` (the first retry's wait, doubling; whole seconds on SQS), with the
/// local gateway's defaults and core's ranges.
pub fn job_retry() -> Result<RetryPolicy, EnvError> {
    Ok(RetryPolicy {
        attempts: checked(
            "JOB_ATTEMPTS",
            fanout::DEFAULT_JOB_ATTEMPTS,
            count(RetryPolicy::check_attempts),
        )?,
        first_delay: checked(
            "JOB_RETRY_DELAY",
            fanout::DEFAULT_JOB_RETRY_DELAY,
            duration(RetryPolicy::check_delay),
        )?,
    })
}

/// `APIGW_API_KEY`: the `x-api-key` the management client sends, for a local
/// gateway's `@connections` started with `--api-key`. Unset on AWS, where the
/// management API takes the function role's SigV4 signature.
pub fn apigw_api_key() -> Option<String> {
    var("APIGW_API_KEY")
}

pub use roomcast_core::fanout::Knobs;

/// The four fan-out knobs (`SHARD_SIZE`, `POOL_SIZE`, `POST_CONCURRENCY`,
/// `RATE_LIMIT`), each checked against core's range, with core's defaults.
pub fn knobs() -> Result<Knobs, EnvError> {
    let d = Knobs::default();
    Ok(Knobs {
        shard_size: checked("SHARD_SIZE", d.shard_size, count(Knobs::check_shard_size))?,
        pool_size: checked("POOL_SIZE", d.pool_size, count(Knobs::check_pool_size))?,
        post_concurrency: checked(
            "POST_CONCURRENCY",
            d.post_concurrency,
            count(Knobs::check_post_concurrency),
        )?,
        rate_limit: checked("RATE_LIMIT", d.rate_limit, count(Ok))?,
    })
}

/// JWT settings. `JWT_SECRET` may be given directly (local runs) but on AWS the
/// template passes `JWT_SECRET_PARAM`, the name of an SSM SecureString the authorizer
/// reads at cold start, so the secret never sits in the function's configuration.
pub fn auth_settings() -> AuthSettings {
    AuthSettings {
        config: AuthConfig {
            secret: var("JWT_SECRET"),
            public_key_pem: var("JWT_PUBLIC_KEY"),
            audience: var("JWT_AUDIENCE"),
            issuer: var("JWT_ISSUER"),
        },
        secret_param: var("JWT_SECRET_PARAM"),
    }
}

/// JWT settings before the SSM secret is fetched.
#[derive(Debug, Clone, Default)]
pub struct AuthSettings {
    /// Settings given directly.
    pub config: AuthConfig,
    /// SSM parameter holding the HS256 secret, if any.
    pub secret_param: Option<String>,
}

/// The shared AWS SDK configuration: region and credentials from the Lambda
/// environment; `AWS_ENDPOINT_URL` (and the per-service `AWS_ENDPOINT_URL_*`) redirect
/// clients to an emulator such as moto in tests.
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}

/// What most functions build at cold start: the SDK config, the table and the queue.
#[derive(Clone, Debug)]
pub struct Wiring {
    /// Region, credentials, endpoints.
    pub sdk: aws_config::SdkConfig,
    /// The table (`TABLE_NAME`, `ICON_CAP`).
    pub store: crate::dynamo::DynamoStore,
    /// The fan-out queue (`QUEUE_URL`).
    pub queue: crate::sqs::SqsQueue,
    /// What the handler enforces (`MAX_ROOMS`, `MAX_EMIT_BYTES`).
    pub limits: HandlerLimits,
    /// How rooms hear their counts (`PRESENCE_INTERVAL`, `PRESENCE_BUDGET`).
    pub presence: PresencePolicy,
    /// The message rate the `actions` function enforces, told in each `welcome`
    /// (`MESSAGE_RATE`, `MESSAGE_BURST`, `MESSAGE_STRIKES`).
    pub message_rate: MessageRate,
}

impl Wiring {
    /// Read the environment and build the clients.
    pub async fn from_env() -> Result<Self, EnvError> {
        let sdk = sdk_config().await;
        let mut wiring = Self::new(&sdk, table_name()?, queue_url()?, icon_cap()?);
        wiring.limits = handler_limits()?;
        wiring.presence = presence()?;
        wiring.message_rate = message_rate()?;
        Ok(wiring.with_history(history()?))
    }

    /// The same wiring keeping (and recovering from) history by `policy`: the table
    /// writes and reads entries by it and the handler decides recovery by it.
    pub fn with_history(mut self, policy: HistoryPolicy) -> Self {
        self.store = self.store.with_history(policy);
        self
    }

    /// Build from explicit settings (tests, tools).
    pub fn new(
        sdk: &aws_config::SdkConfig,
        table: String,
        queue_url: String,
        icon_cap: usize,
    ) -> Self {
        Self {
            store: crate::dynamo::DynamoStore::new(
                aws_sdk_dynamodb::Client::new(sdk),
                table,
                icon_cap,
            ),
            queue: crate::sqs::SqsQueue::new(aws_sdk_sqs::Client::new(sdk), queue_url),
            sdk: sdk.clone(),
            limits: HandlerLimits::default(),
            presence: PresencePolicy::default(),
            message_rate: MessageRate::default(),
        }
    }

    /// Core's handler on these adapters.
    pub fn handler(&self) -> roomcast_core::Handler {
        use std::sync::Arc;
        roomcast_core::Handler::new(
            Arc::new(self.store.clone()),
            Arc::new(self.store.clone()),
            Arc::new(self.queue.clone()),
        )
        .with_limits(self.limits)
        .with_presence(self.presence)
        .with_history(self.store.history_policy())
        .with_message_rate(self.message_rate)
    }

    /// Core's broadcaster on these adapters, posting through `poster`.
    pub fn broadcaster(
        &self,
        poster: crate::poster::ApiGwPoster,
        config: FanoutConfig,
    ) -> roomcast_core::fanout::Broadcaster {
        use std::sync::Arc;
        roomcast_core::fanout::Broadcaster::new(
            Arc::new(self.store.clone()),
            Arc::new(self.store.clone()),
            Arc::new(self.queue.clone()),
            Arc::new(poster),
            Arc::new(roomcast_core::ports::NoMetrics),
            FanoutConfig {
                presence: self.presence,
                ..config
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_core_checks_read_as_text_then_range() {
        let interval = |t: &str| duration(PresencePolicy::check_interval)(t);
        assert_eq!(interval("500ms"), Ok(Duration::from_millis(500)));
        assert!(
            interval("5ms").unwrap_err().contains("outside"),
            "core's range"
        );
        assert!(interval("soon").is_err(), "not a duration");
        let size = |t: &str| count(HistoryPolicy::check_size)(t);
        assert_eq!(size("20"), Ok(20));
        assert!(size("1001").unwrap_err().contains("over"));
        assert!(size("-1").is_err());
    }
}
