//! The four fan-out knobs, once: their defaults and the ranges every home accepts.
//! The gateway's flags, the Lambdas' environment, `roomcast plan` and the bench all
//! read this type, so a value one home takes the other takes too.

use std::num::NonZeroU32;
use std::ops::RangeInclusive;

use super::FanoutConfig;

/// `SHARD_SIZE`, `POOL_SIZE`, `POST_CONCURRENCY`, `RATE_LIMIT` (docs/operations.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Knobs {
    /// `SHARD_SIZE`: rooms up to this many members are delivered in place; larger ones
    /// are split into shard jobs of this many connections.
    pub shard_size: u32,
    /// `POOL_SIZE`: broadcaster workers (locally) or the SQS event source's maximum
    /// concurrency (on AWS).
    pub pool_size: u32,
    /// `POST_CONCURRENCY`: posts in flight per job.
    pub post_concurrency: u32,
    /// `RATE_LIMIT`: posts per second over the whole pool; 0 is unlimited.
    pub rate_limit: u32,
}

impl Default for Knobs {
    /// The knob sweep in docs/benchmarks.md: 64 posts in flight halve the time per
    /// doubling up to there; 500 per shard keeps a shard job at about 10 KB.
    fn default() -> Self {
        Self {
            shard_size: 500,
            pool_size: 4,
            post_concurrency: 64,
            rate_limit: 0,
        }
    }
}

impl Knobs {
    /// A shard job carries its connection ids (about 23 bytes each in JSON): 10,000
    /// stay inside SQS's 256 KiB message limit.
    pub const SHARD_SIZE: RangeInclusive<u32> = 1..=10_000;
    /// SQS event sources scale to at most 1,000 concurrent instances.
    pub const POOL_SIZE: RangeInclusive<u32> = 1..=1_000;
    /// Past a few hundred the poster's CPU is the limit (docs/benchmarks.md).
    pub const POST_CONCURRENCY: RangeInclusive<u32> = 1..=10_000;

    /// `n` if it is a valid `SHARD_SIZE`, else why not.
    pub fn check_shard_size(n: u32) -> Result<u32, String> {
        within(n, Self::SHARD_SIZE)
    }

    /// `n` if it is a valid `POOL_SIZE`, else why not.
    pub fn check_pool_size(n: u32) -> Result<u32, String> {
        within(n, Self::POOL_SIZE)
    }

    /// `n` if it is a valid `POST_CONCURRENCY`, else why not.
    pub fn check_post_concurrency(n: u32) -> Result<u32, String> {
        within(n, Self::POST_CONCURRENCY)
    }

    /// All four in range (`RATE_LIMIT` takes any value), else the first that is not.
    pub fn validate(self) -> Result<Self, String> {
        Self::check_shard_size(self.shard_size).map_err(|e| format!("SHARD_SIZE: {e}"))?;
        Self::check_pool_size(self.pool_size).map_err(|e| format!("POOL_SIZE: {e}"))?;
        Self::check_post_concurrency(self.post_concurrency)
            .map_err(|e| format!("POST_CONCURRENCY: {e}"))?;
        Ok(self)
    }

    /// `RATE_LIMIT` as the deliverer takes it (`None`: unlimited).
    pub fn rate(&self) -> Option<NonZeroU32> {
        NonZeroU32::new(self.rate_limit)
    }

    /// The deliverer's settings for one of `sharing` instances that share nothing but
    /// `RATE_LIMIT`: locally the pool has one limiter (`sharing` 1); on AWS each of the
    /// `POOL_SIZE` concurrent instances has its own, so each gets `RATE_LIMIT /
    /// POOL_SIZE` (at least 1) and the pool as a whole stays under `RATE_LIMIT`.
    pub fn fanout_config(&self, sharing: u32) -> FanoutConfig {
        let rate = self
            .rate()
            .map(|r| (r.get() / sharing.max(1)).max(1))
            .and_then(NonZeroU32::new);
        FanoutConfig {
            shard_size: self.shard_size as usize,
            post_concurrency: self.post_concurrency as usize,
            rate_limit: rate,
            ..FanoutConfig::default()
        }
    }
}

fn within(n: u32, range: RangeInclusive<u32>) -> Result<u32, String> {
    if range.contains(&n) {
        Ok(n)
    } else {
        Err(format!(
            "{n} is outside {}..={}",
            range.start(),
            range.end()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_valid_and_the_ranges_are_enforced() {
        assert_eq!(Knobs::default().validate(), Ok(Knobs::default()));
        for bad in [
            Knobs {
                shard_size: 0,
                ..Knobs::default()
            },
            Knobs {
                shard_size: 10_001,
                ..Knobs::default()
            },
            Knobs {
                pool_size: 1_001,
                ..Knobs::default()
            },
            Knobs {
                post_concurrency: 0,
                ..Knobs::default()
            },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
        assert_eq!(
            Knobs::check_pool_size(0).unwrap_err(),
            "0 is outside 1..=1000"
        );
    }

    #[test]
    fn the_rate_is_split_over_instances_that_do_not_share_a_limiter() {
        let k = Knobs {
            shard_size: 250,
            pool_size: 4,
            post_concurrency: 32,
            rate_limit: 1_000,
        };
        assert_eq!(k.fanout_config(1).rate_limit, NonZeroU32::new(1_000));
        let config = k.fanout_config(4);
        assert_eq!(config.rate_limit, NonZeroU32::new(250));
        assert_eq!((config.shard_size, config.post_concurrency), (250, 32));
        // Never rounded down to "unlimited".
        let tiny = Knobs {
            rate_limit: 3,
            pool_size: 10,
            ..k
        };
        assert_eq!(tiny.fanout_config(10).rate_limit, NonZeroU32::new(1));
        assert_eq!(Knobs::default().fanout_config(4).rate_limit, None);
    }
}
