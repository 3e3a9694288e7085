//! roomcast's side: the real broadcaster path, as the AWS home runs it.
//!
//! - `POOL_SIZE` workers stand in for the broadcaster Lambda's concurrent instances (the
//!   SQS event source's maximum concurrency). Each has its **own** core
//!   [`Broadcaster`] built from [`Knobs::fanout_config`] (so its own rate limiter of
//!   `RATE_LIMIT / POOL_SIZE`) and its own [`ApiGwPoster`] (its own SDK client and
//!   connection pool), and runs one job at a time.
//! - Members live in the local gateway's [`MemoryMembers`], the production
//!   `MembershipStore` of the local home: an in-process map, paged by the planner.
//!   (DynamoDB would add a Query per page of members; that cost is not measured here.)
//! - The queue is an in-process channel standing in for SQS: the planner's shard jobs go
//!   into it and any free worker takes them. Connections that still fail after the
//!   deliverer's retries come back as a shard job after the delay core's `RetryPolicy`
//!   decides, as the AWS broadcaster sends them with an SQS delay.
//! - The room state store ([`EmbeddedStore`], redb in a temp dir) is wired because the
//!   broadcaster needs one; v1-only rooms never read it.

use async_trait::async_trait;
use roomcast_aws::poster::ApiGwPoster;
use roomcast_core::fanout::Knobs;
use roomcast_core::fanout::{Broadcaster, FanoutJob, Retry, RetryPolicy, RoomJob, now_ms};
use roomcast_core::ports::{BackendError, FanoutQueue, MembershipStore, NoMetrics};
use roomcast_core::protocol::RoomName;
use roomcast_gateway::store::{EmbeddedStore, MemoryMembers};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// The stand-in for SQS: a channel, plus a count of jobs not yet finished so a run
/// knows when the fan-out is complete.
struct Queue {
    tx: async_channel::Sender<FanoutJob>,
    outstanding: AtomicUsize,
    idle: Notify,
}

#[async_trait]
impl FanoutQueue for Queue {
    async fn enqueue(&self, jobs: Vec<FanoutJob>) -> Result<(), BackendError> {
        self.outstanding.fetch_add(jobs.len(), Ordering::SeqCst);
        for job in jobs {
            self.tx
                .send(job)
                .await
                .map_err(|e| BackendError::new("bench queue", e.to_string()))?;
        }
        Ok(())
    }

    /// Like SQS's `DelaySeconds`: counted as outstanding now, visible after `delay`.
    async fn enqueue_after(&self, job: FanoutJob, delay: Duration) -> Result<(), BackendError> {
        self.outstanding.fetch_add(1, Ordering::SeqCst);
        let tx = self.tx.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let _ = tx.send(job).await;
        });
        Ok(())
    }
}

impl Queue {
    fn finished(&self) {
        if self.outstanding.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.idle.notify_waiters();
        }
    }
}

/// What one broadcast did, as the deliverers reported it.
#[derive(Debug, Clone, Default)]
pub struct RunReport {
    /// From enqueueing the room job to the last job finishing.
    pub elapsed: Duration,
    /// Shard jobs the planner made.
    pub shards: usize,
    /// Posts the deliverers counted as delivered.
    pub delivered: usize,
    /// Throttle answers the deliverers saw (each retried).
    pub throttled: usize,
    /// Connections given up on after every round.
    pub failed: usize,
}

#[derive(Default)]
struct Totals {
    shards: AtomicUsize,
    delivered: AtomicUsize,
    throttled: AtomicUsize,
    failed: AtomicUsize,
}

/// A pool of broadcaster workers posting to one endpoint.
pub struct Pool {
    queue: Arc<Queue>,
    totals: Arc<Totals>,
    workers: Vec<tokio::task::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl Pool {
    /// Start `knobs.pool_size` workers posting through `sdk` to `endpoint`.
    pub fn start(
        knobs: &Knobs,
        sdk: &aws_config::SdkConfig,
        endpoint: &str,
        members: Arc<MemoryMembers>,
    ) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let rooms = Arc::new(EmbeddedStore::open(dir.path(), 1000)?);
        let (tx, rx) = async_channel::unbounded();
        let queue = Arc::new(Queue {
            tx,
            outstanding: AtomicUsize::new(0),
            idle: Notify::new(),
        });
        let totals = Arc::new(Totals::default());
        let config = knobs.fanout_config(knobs.pool_size);
        let workers = (0..knobs.pool_size.max(1))
            .map(|_| {
                let broadcaster = Broadcaster::new(
                    rooms.clone(),
                    members.clone() as Arc<dyn MembershipStore>,
                    queue.clone(),
                    Arc::new(ApiGwPoster::new(sdk, endpoint)),
                    Arc::new(NoMetrics),
                    config.clone(),
                );
                let (rx, queue, totals) = (rx.clone(), queue.clone(), totals.clone());
                tokio::spawn(async move {
                    while let Ok(job) = rx.recv().await {
                        run_job(&broadcaster, &queue, &totals, job).await;
                        queue.finished();
                    }
                })
            })
            .collect();
        Ok(Self {
            queue,
            totals,
            workers,
            _dir: dir,
        })
    }

    /// Broadcast `payload` to `room` and wait until every job (shards, retries) is
    /// done, at most `limit`.
    pub async fn broadcast(
        &self,
        room: &RoomName,
        payload: &str,
        limit: Duration,
    ) -> anyhow::Result<RunReport> {
        for t in [
            &self.totals.shards,
            &self.totals.delivered,
            &self.totals.throttled,
            &self.totals.failed,
        ] {
            t.store(0, Ordering::SeqCst);
        }
        let job = FanoutJob::Room(RoomJob {
            room: room.clone(),
            version: Some(1),
            payload: payload.to_owned(),
            except: None,
            planetstack_state: false,
            created_ms: now_ms(),
        });
        let start = Instant::now();
        let idle = self.queue.idle.notified();
        tokio::pin!(idle);
        idle.as_mut().enable();
        self.queue.enqueue(vec![job]).await?;
        tokio::time::timeout(limit, idle)
            .await
            .map_err(|_| anyhow::anyhow!("roomcast fan-out not done within {limit:?}"))?;
        let elapsed = start.elapsed();
        let t = &self.totals;
        Ok(RunReport {
            elapsed,
            shards: t.shards.load(Ordering::SeqCst),
            delivered: t.delivered.load(Ordering::SeqCst),
            throttled: t.throttled.load(Ordering::SeqCst),
            failed: t.failed.load(Ordering::SeqCst),
        })
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.queue.tx.close();
        for w in &self.workers {
            w.abort();
        }
    }
}

async fn run_job(broadcaster: &Broadcaster, queue: &Arc<Queue>, totals: &Totals, job: FanoutJob) {
    let report = match broadcaster.run(&job).await {
        Ok(report) => report,
        Err(e) => {
            tracing::warn!(error = %e, "fan-out job failed");
            return;
        }
    };
    totals.shards.fetch_add(report.shards, Ordering::SeqCst);
    totals
        .delivered
        .fetch_add(report.delivery.delivered, Ordering::SeqCst);
    totals
        .throttled
        .fetch_add(report.delivery.throttled, Ordering::SeqCst);
    for retry in report.retry {
        // Core's policy, as the AWS broadcaster and the local pool follow it.
        let Retry::After(delay) = RetryPolicy::default().after(retry.attempt) else {
            totals
                .failed
                .fetch_add(retry.connections.len(), Ordering::SeqCst);
            continue;
        };
        queue.outstanding.fetch_add(1, Ordering::SeqCst);
        let queue = queue.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let sent = queue.tx.send(FanoutJob::Shard(retry)).await;
            if sent.is_err() {
                queue.finished();
            }
        });
    }
}
