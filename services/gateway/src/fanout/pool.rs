//! The in-process queue and the broadcaster pool.
//!
//! Two channels: room jobs from the action handlers (bounded, so a flood of edits
//! slows the editors rather than growing memory), and shard and retry jobs from the
//! workers themselves (unbounded, drained first) so that a worker never blocks on a
//! queue only workers can empty.
//!
//! A job that panics mid-delivery neither takes its worker down nor is lost (the panic
//! is caught at the job): like a Lambda that dies before deleting its SQS message, the
//! whole job is run again later, and members that already got it drop the duplicate by
//! version. When, and how often, is core's [`RetryPolicy`] (`JOB_ATTEMPTS`,
//! `JOB_RETRY_DELAY`), the same as the broadcaster Lambda's; a job it gives up is
//! logged and counted, the local stand-in for SQS's DLQ.
//!
//! Jobs go before the writes they feed. A worker runs the jobs that wait one after
//! another, in its own task, and yields to the connections only after a [`BURST`] of
//! them: a job's pushes are cheap, a connection's write is a syscall, and every job
//! that runs before the connections do adds a frame to their next `writev`. Run as a
//! task per job, each job queued behind the thousands of connections the previous one
//! had just woken, and a connection of a 10,000 room wrote 4 frames per call
//! (docs/benchmarks.md).

use async_trait::async_trait;
use futures::FutureExt;
use roomcast_core::fanout::{Broadcaster, FanoutJob, Retry, RetryPolicy};
use roomcast_core::ports::{BackendError, FanoutQueue};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::metrics::Metrics;

/// Room jobs waiting at most.
const ROOM_QUEUE_CAPACITY: usize = 65_536;

/// How long a worker runs waiting jobs back to back before it lets the connections
/// (and requests) on its thread run: long enough for a burst of a large room's shard
/// jobs to reach every queue before the writes begin, short against a message's
/// latency.
const BURST: Duration = Duration::from_millis(2);

struct Queued {
    job: Arc<FanoutJob>,
    attempt: u32,
}

/// The in-process [`FanoutQueue`].
pub struct LocalQueue {
    rooms: async_channel::Sender<Queued>,
    shards: async_channel::Sender<Queued>,
    /// The newest commit (Unix ms) of a room job ever queued.
    newest_commit_ms: AtomicU64,
}

/// The workers' end of the queue.
pub struct QueueReceiver {
    rooms: async_channel::Receiver<Queued>,
    shards: async_channel::Receiver<Queued>,
}

#[cfg(test)]
impl QueueReceiver {
    /// Take a waiting room job off the queue, as a worker would; whether there was one.
    pub(crate) fn take_room_job(&self) -> bool {
        self.rooms.try_recv().is_ok()
    }
}

impl LocalQueue {
    /// A queue and its receiving end.
    pub fn new() -> (Arc<Self>, QueueReceiver) {
        let (rooms, room_rx) = async_channel::bounded(ROOM_QUEUE_CAPACITY);
        let (shards, shard_rx) = async_channel::unbounded();
        (
            Arc::new(Self {
                rooms,
                shards,
                newest_commit_ms: AtomicU64::new(0),
            }),
            QueueReceiver {
                rooms: room_rx,
                shards: shard_rx,
            },
        )
    }

    /// Room and presence jobs waiting for a worker (not those running): the fan-out's
    /// backlog, which decides whether a broadcast writes or queues ([`super::LocalPoster`]).
    pub fn room_jobs_waiting(&self) -> usize {
        self.rooms.len()
    }

    /// Whether a broadcast committed after `committed_ms` (to any room) was queued.
    /// One to the same room goes to the same connections next (a room's broadcasts are
    /// planned in order), so frames queued now can join it in one `writev`; one to
    /// another room is a job that runs before they are written, as with
    /// [`Self::room_jobs_waiting`]. Milliseconds: one committed in the same one is
    /// not seen, and the broadcast is written directly, as it would be without it.
    pub fn committed_after(&self, committed_ms: u64) -> bool {
        self.newest_commit_ms.load(Ordering::Relaxed) > committed_ms
    }

    async fn send(&self, job: Arc<FanoutJob>, attempt: u32) -> Result<(), BackendError> {
        if let (FanoutJob::Room(room), 0) = (&*job, attempt) {
            self.newest_commit_ms
                .fetch_max(room.created_ms, Ordering::Relaxed);
        }
        // Presence jobs come off their timer into the room queue: like a room job,
        // each plans a broadcast to its whole room.
        let channel = match *job {
            FanoutJob::Room(_) | FanoutJob::Presence(_) => &self.rooms,
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
            self.send(Arc::new(job), 0).await?;
        }
        Ok(())
    }

    /// A timer task per delayed job (SQS's `DelaySeconds`, in process): at most one
    /// per room at a time, since only the change that marks a room's presence as
    /// pending schedules one. A job still waiting at shutdown is dropped with the
    /// memberships it would have counted.
    async fn enqueue_after(&self, job: FanoutJob, delay: Duration) -> Result<(), BackendError> {
        if self.rooms.is_closed() {
            return Err(BackendError::new(
                "fan-out queue",
                "the broadcaster pool has stopped",
            ));
        }
        let rooms = self.rooms.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let _ = rooms
                .send(Queued {
                    job: Arc::new(job),
                    attempt: 0,
                })
                .await;
        });
        Ok(())
    }
}

/// How many workers, and what becomes of a job that fails.
#[derive(Debug, Clone, Copy)]
pub struct PoolConfig {
    /// `POOL_SIZE`: workers, each running one job at a time.
    pub size: usize,
    /// `JOB_ATTEMPTS`, `JOB_RETRY_DELAY`.
    pub retry: RetryPolicy,
}

/// Start the workers; they stop when `shutdown` is cancelled.
pub fn spawn_pool(
    config: PoolConfig,
    queue: Arc<LocalQueue>,
    receiver: QueueReceiver,
    broadcaster: Arc<Broadcaster>,
    metrics: Arc<Metrics>,
    tasks: &TaskTracker,
    shutdown: CancellationToken,
) {
    for worker in 0..config.size.max(1) {
        let (queue, broadcaster, metrics, shutdown) = (
            queue.clone(),
            broadcaster.clone(),
            metrics.clone(),
            shutdown.clone(),
        );
        let (rooms, shards) = (receiver.rooms.clone(), receiver.shards.clone());
        let tracker = tasks.clone();
        tasks.spawn(async move {
            let mut burst = Instant::now();
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
                    config.retry,
                    next,
                    &queue,
                    &broadcaster,
                    &metrics,
                    &tracker,
                    &shutdown,
                )
                .await;
                if burst.elapsed() >= BURST {
                    tokio::task::yield_now().await;
                    burst = Instant::now();
                }
            }
        });
    }
}

#[allow(clippy::too_many_arguments)] // one worker's context, passed down once
async fn run(
    worker: usize,
    retry: RetryPolicy,
    queued: Queued,
    queue: &Arc<LocalQueue>,
    broadcaster: &Arc<Broadcaster>,
    metrics: &Metrics,
    tasks: &TaskTracker,
    shutdown: &CancellationToken,
) {
    metrics.job(&queued.job);
    let job = &queued.job;
    // A panic unwinds the job only: the worker sees it here instead of dying with it
    // (the broadcaster holds no lock across an await, and the job is run again whole).
    let ran = AssertUnwindSafe(broadcaster.run(job)).catch_unwind().await;
    let again: Vec<(Arc<FanoutJob>, u32)> = match ran {
        Ok(Ok(report)) => {
            tracing::debug!(worker, room = %job.room(), targets = report.targets, shards = report.shards,
                delivered = report.delivery.delivered, gone = report.delivery.gone,
                throttled = report.delivery.throttled, failed = report.delivery.failed.len(), "fan-out job done");
            report
                .retry
                .into_iter()
                .map(|s| (Arc::new(FanoutJob::Shard(s)), queued.attempt + 1))
                .collect()
        }
        Ok(Err(e)) => {
            tracing::warn!(worker, room = %job.room(), attempt = queued.attempt, error = %e, "fan-out job failed; will retry");
            vec![(queued.job.clone(), queued.attempt + 1)]
        }
        Err(panic) => {
            // Posts it made before it stopped may be made again: at least once, and
            // clients drop what they already have by version.
            let why = panic_message(panic);
            tracing::error!(worker, room = %job.room(), kind = job.kind(), version = ?job.version(),
                attempt = queued.attempt, why, "fan-out job interrupted mid-run; will run it again");
            metrics.interrupted();
            vec![(queued.job.clone(), queued.attempt + 1)]
        }
    };
    for (job, attempt) in again {
        let Retry::After(delay) = retry.after(attempt) else {
            let targets = match &*job {
                FanoutJob::Shard(s) => Some(s.connections.len()),
                FanoutJob::Room(_) | FanoutJob::Presence(_) => None,
            };
            tracing::error!(room = %job.room(), kind = job.kind(), version = ?job.version(), ?targets,
                attempt, "fan-out job dead-lettered: given up after {attempt} attempts");
            metrics.dead_letter();
            continue;
        };
        metrics.retry();
        // Like an SQS visibility timeout: try again later, without holding a worker.
        let (queue, shutdown) = (queue.clone(), shutdown.clone());
        tasks.spawn(async move {
            tokio::select! {
                _ = shutdown.cancelled() => {}
                _ = tokio::time::sleep(delay) => {
                    let _ = queue.send(job, attempt).await;
                }
            }
        });
    }
}

/// What a panic carried, when it is a message.
fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(s) => *s,
        Err(payload) => payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .unwrap_or_else(|| "a panic".to_owned()),
    }
}
