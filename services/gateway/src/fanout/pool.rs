//! The in-process queue and the broadcaster pool.
//!
//! Two channels: room jobs from the action handlers (bounded, so a flood of edits
//! slows the editors rather than growing memory), and shard and retry jobs from the
//! workers themselves (unbounded, drained first) so that a worker never blocks on a
//! queue only workers can empty.

use async_trait::async_trait;
use roomcast_core::fanout::{Broadcaster, FanoutJob};
use roomcast_core::ports::{BackendError, FanoutQueue};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::metrics::Metrics;

/// Jobs give up after this many tries (the local stand-in for SQS's DLQ).
const MAX_JOB_ATTEMPTS: u32 = 8;
/// Room jobs waiting at most.
const ROOM_QUEUE_CAPACITY: usize = 65_536;

struct Queued {
    job: FanoutJob,
    attempt: u32,
}

/// The in-process [`FanoutQueue`].
pub struct LocalQueue {
    rooms: async_channel::Sender<Queued>,
    shards: async_channel::Sender<Queued>,
}

/// The workers' end of the queue.
pub struct QueueReceiver {
    rooms: async_channel::Receiver<Queued>,
    shards: async_channel::Receiver<Queued>,
}

impl LocalQueue {
    /// A queue and its receiving end.
    pub fn new() -> (Arc<Self>, QueueReceiver) {
        let (rooms, room_rx) = async_channel::bounded(ROOM_QUEUE_CAPACITY);
        let (shards, shard_rx) = async_channel::unbounded();
        (
            Arc::new(Self { rooms, shards }),
            QueueReceiver {
                rooms: room_rx,
                shards: shard_rx,
            },
        )
    }

    async fn send(&self, job: FanoutJob, attempt: u32) -> Result<(), BackendError> {
        let channel = match job {
            FanoutJob::Room(_) => &self.rooms,
            FanoutJob::Shard(_) => &self.shards,
        };
        channel
            .send(Queued { job, attempt })
            .await
            .map_err(|_| BackendError::new("fan-out queue", "the broadcaster pool has stopped"))
    }
}

#[async_trait]
impl FanoutQueue for LocalQueue {
    async fn enqueue(&self, jobs: Vec<FanoutJob>) -> Result<(), BackendError> {
        for job in jobs {
            self.send(job, 0).await?;
        }
        Ok(())
    }
}

/// Start `size` workers; they stop when `shutdown` is cancelled.
pub fn spawn_pool(
    size: usize,
    queue: Arc<LocalQueue>,
    receiver: QueueReceiver,
    broadcaster: Arc<Broadcaster>,
    metrics: Arc<Metrics>,
    tasks: &TaskTracker,
    shutdown: CancellationToken,
) {
    for worker in 0..size.max(1) {
        let (queue, broadcaster, metrics, shutdown) = (
            queue.clone(),
            broadcaster.clone(),
            metrics.clone(),
            shutdown.clone(),
        );
        let (rooms, shards) = (receiver.rooms.clone(), receiver.shards.clone());
        let retries = tasks.clone();
        tasks.spawn(async move {
            loop {
                let next = tokio::select! {
                    biased;
                    _ = shutdown.cancelled() => break,
                    Ok(q) = shards.recv() => q,
                    Ok(q) = rooms.recv() => q,
                    else => break,
                };
                run(
                    worker,
                    next,
                    &queue,
                    &broadcaster,
                    &metrics,
                    &retries,
                    &shutdown,
                )
                .await;
            }
        });
    }
}

async fn run(
    worker: usize,
    queued: Queued,
    queue: &Arc<LocalQueue>,
    broadcaster: &Broadcaster,
    metrics: &Metrics,
    retries: &TaskTracker,
    shutdown: &CancellationToken,
) {
    metrics.job(&queued.job);
    let retry: Vec<(FanoutJob, u32)> = match broadcaster.run(&queued.job).await {
        Ok(report) => {
            tracing::debug!(worker, room = %queued.job.room(), targets = report.targets, shards = report.shards,
                delivered = report.delivery.delivered, gone = report.delivery.gone,
                throttled = report.delivery.throttled, failed = report.delivery.failed.len(), "fan-out job done");
            report
                .retry
                .into_iter()
                .map(|s| (FanoutJob::Shard(s), queued.attempt + 1))
                .collect()
        }
        Err(e) => {
            tracing::warn!(worker, room = %queued.job.room(), error = %e, "fan-out job failed; will retry");
            vec![(queued.job, queued.attempt + 1)]
        }
    };
    for (job, attempt) in retry {
        if attempt >= MAX_JOB_ATTEMPTS {
            tracing::warn!(room = %job.room(), attempt, "fan-out job dead-lettered");
            metrics.dead_letter();
            continue;
        }
        // Like an SQS visibility timeout: try again later, without holding a worker.
        let (queue, shutdown) = (queue.clone(), shutdown.clone());
        retries.spawn(async move {
            tokio::select! {
                _ = shutdown.cancelled() => {}
                _ = tokio::time::sleep(Duration::from_millis(100) * attempt) => {
                    let _ = queue.send(job, attempt).await;
                }
            }
        });
    }
}
