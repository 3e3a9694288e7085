//! Deliver one frame to a list of connections: bounded concurrency, a shared rate
//! budget, backoff with jitter on throttling, cleanup of gone connections.

use bytes::Bytes;
use futures::StreamExt;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use rand::Rng;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use crate::ports::{FanoutMetrics, FanoutQueue, MembershipStore, PostError, PostOutcome, Poster};
use crate::presence::{Presence, PresencePolicy};
use crate::protocol::ConnectionId;

use super::job::now_ms;

/// The fan-out knobs (the first four are the operator's; see docs/operations.md).
#[derive(Debug, Clone)]
pub struct FanoutConfig {
    /// `SHARD_SIZE`: rooms up to this many members are delivered by the planning
    /// worker itself; larger rooms are split into shard jobs of this many connections.
    pub shard_size: usize,
    /// `POST_CONCURRENCY`: posts in flight per job.
    pub post_concurrency: usize,
    /// `RATE_LIMIT`: posts per second over the whole pool (`None`: unlimited).
    pub rate_limit: Option<NonZeroU32>,
    /// Tries per connection before it is reported as failed.
    pub max_attempts: u32,
    /// First backoff after a throttle; doubles each try, with full jitter.
    pub backoff_base: Duration,
    /// Backoff ceiling.
    pub backoff_max: Duration,
    /// How the rooms of connections found gone hear their new counts (the handler's
    /// policy: both homes set them from the same settings).
    pub presence: PresencePolicy,
}

impl Default for FanoutConfig {
    fn default() -> Self {
        Self {
            shard_size: 500,
            post_concurrency: 64,
            rate_limit: None,
            max_attempts: 6,
            backoff_base: Duration::from_millis(25),
            backoff_max: Duration::from_secs(2),
            presence: PresencePolicy::default(),
        }
    }
}

/// What a delivery achieved.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delivery {
    /// Posts that arrived.
    pub delivered: usize,
    /// Connections found gone (and cleaned up).
    pub gone: usize,
    /// Throttle responses seen (each was retried).
    pub throttled: usize,
    /// Connections that still failed after every try.
    pub failed: Vec<ConnectionId>,
}

impl Delivery {
    pub(crate) fn absorb(&mut self, other: Delivery) {
        self.delivered += other.delivered;
        self.gone += other.gone;
        self.throttled += other.throttled;
        self.failed.extend(other.failed);
    }
}

pub(crate) struct Deliverer {
    pub(crate) poster: Arc<dyn Poster>,
    pub(crate) members: Arc<dyn MembershipStore>,
    pub(crate) queue: Arc<dyn FanoutQueue>,
    pub(crate) metrics: Arc<dyn FanoutMetrics>,
    pub(crate) config: FanoutConfig,
    budget: Option<DefaultDirectRateLimiter>,
}

enum One {
    Delivered,
    Gone,
    Failed(ConnectionId),
}

impl Deliverer {
    pub(crate) fn new(
        poster: Arc<dyn Poster>,
        members: Arc<dyn MembershipStore>,
        queue: Arc<dyn FanoutQueue>,
        metrics: Arc<dyn FanoutMetrics>,
        config: FanoutConfig,
    ) -> Self {
        let budget = config
            .rate_limit
            .map(|r| RateLimiter::direct(Quota::per_second(r)));
        Self {
            poster,
            members,
            queue,
            metrics,
            config,
            budget,
        }
    }

    /// Post `payload` to every connection in `to`: all at once if the poster can
    /// ([`Poster::try_post_all`]) and no rate budget applies, then one by one,
    /// `post_concurrency` at a time, for the rest.
    pub(crate) async fn deliver(
        &self,
        payload: &Bytes,
        to: &[ConnectionId],
        created_ms: u64,
    ) -> Delivery {
        let mut report = Delivery::default();
        let batch = match self.budget {
            None => self.poster.try_post_all(to, payload, created_ms),
            Some(_) => None,
        };
        let Some(results) = batch else {
            let all: Vec<_> = to.iter().map(|id| (id.clone(), 0)).collect();
            self.deliver_each(payload, all.into_iter(), created_ms, &mut report)
                .await;
            return report;
        };
        let mut retries = Vec::new();
        for (id, result) in to.iter().zip(results) {
            match result {
                Ok(()) => report.delivered += 1,
                Err(PostError::Gone) => {
                    self.depart(id).await;
                    self.metrics.post(PostOutcome::Gone, since(created_ms));
                    report.gone += 1;
                }
                Err(e) => {
                    if matches!(e, PostError::Throttled(_)) {
                        report.throttled += 1;
                        self.metrics.post(PostOutcome::Throttled, since(created_ms));
                    }
                    retries.push((id.clone(), 1));
                }
            }
        }
        let delivered = report.delivered;
        self.metrics
            .posts(PostOutcome::Delivered, delivered, since(created_ms));
        self.deliver_each(payload, retries.into_iter(), created_ms, &mut report)
            .await;
        report
    }

    /// Post to each `(connection, attempts already failed)`, `post_concurrency` at a time.
    async fn deliver_each(
        &self,
        payload: &Bytes,
        to: impl Iterator<Item = (ConnectionId, u32)>,
        created_ms: u64,
        report: &mut Delivery,
    ) {
        let concurrency = self.config.post_concurrency.max(1);
        // Owned ids: a closure over borrowed items makes the future's Send-ness
        // higher-ranked, which spawned workers cannot prove.
        let mut results = futures::stream::iter(to)
            .map(|(id, failed)| self.post_one(payload, id, created_ms, failed))
            .buffer_unordered(concurrency);
        while let Some((outcome, throttles)) = results.next().await {
            report.throttled += throttles;
            match outcome {
                One::Delivered => report.delivered += 1,
                One::Gone => report.gone += 1,
                One::Failed(id) => report.failed.push(id),
            }
        }
    }

    /// Clean up a connection found gone.
    async fn depart(&self, id: &ConnectionId) {
        let presence = Presence {
            members: self.members.as_ref(),
            queue: self.queue.as_ref(),
            policy: self.config.presence,
        };
        if let Err(e) = presence.depart(id).await {
            tracing::warn!(connection = %id, error = %e, "could not clean up a gone connection");
        }
    }

    /// Post to one connection with retries; `failed` attempts were made already.
    async fn post_one(
        &self,
        payload: &Bytes,
        id: ConnectionId,
        created_ms: u64,
        failed: u32,
    ) -> (One, usize) {
        let mut throttles = 0;
        let max_attempts = self.config.max_attempts.max(1);
        if failed > 0 && failed < max_attempts {
            futures_timer::Delay::new(self.backoff(failed)).await;
        }
        for attempt in failed + 1..=max_attempts {
            if let Some(budget) = &self.budget {
                budget.until_ready().await;
            }
            match self.poster.post(&id, payload).await {
                Ok(()) => {
                    self.metrics.post(PostOutcome::Delivered, since(created_ms));
                    return (One::Delivered, throttles);
                }
                Err(PostError::Gone) => {
                    self.depart(&id).await;
                    self.metrics.post(PostOutcome::Gone, since(created_ms));
                    return (One::Gone, throttles);
                }
                Err(e) => {
                    if matches!(e, PostError::Throttled(_)) {
                        throttles += 1;
                        self.metrics.post(PostOutcome::Throttled, since(created_ms));
                    } else {
                        tracing::debug!(connection = %id, attempt, error = %e, "post failed");
                    }
                    if attempt < self.config.max_attempts {
                        futures_timer::Delay::new(self.backoff(attempt)).await;
                    }
                }
            }
        }
        self.metrics.post(PostOutcome::Failed, since(created_ms));
        (One::Failed(id), throttles)
    }

    /// Exponential backoff with full jitter: uniform in `0..=min(max, base * 2^(n-1))`.
    fn backoff(&self, attempt: u32) -> Duration {
        let cap = self
            .config
            .backoff_base
            .saturating_mul(1 << attempt.saturating_sub(1).min(20))
            .min(self.config.backoff_max);
        let ms = cap.as_millis() as u64;
        Duration::from_millis(rand::rng().random_range(0..=ms))
    }
}

fn since(created_ms: u64) -> Duration {
    Duration::from_millis(now_ms().saturating_sub(created_ms))
}
