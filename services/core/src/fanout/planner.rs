//! Plan a room job: small rooms are delivered in place, large rooms are split into
//! shard jobs of at most `SHARD_SIZE` connection ids that the pool runs in parallel.

use bytes::Bytes;
use std::sync::Arc;

use crate::ports::{BackendError, FanoutMetrics, FanoutQueue, MembershipStore, Poster, RoomStore};
use crate::protocol::{ConnectionId, Protocol};

use super::deliver::{Deliverer, Delivery, FanoutConfig};
use super::job::{FanoutJob, PresenceJob, RoomJob, ShardJob, now_ms};

/// What running one job did.
#[derive(Debug, Default)]
pub struct JobReport {
    /// Connections targeted (after `except`).
    pub targets: usize,
    /// Shard jobs enqueued (0 when delivered in place).
    pub shards: usize,
    /// Outcome of the posts made by this job.
    pub delivery: Delivery,
    /// Connections that failed every try, as shard jobs to run again later (SQS
    /// redelivery or the local queue); clients drop duplicates by version.
    pub retry: Vec<ShardJob>,
}

/// Runs fan-out jobs: one per broadcaster worker, shared by the whole pool so the
/// rate budget is pool-wide.
pub struct Broadcaster {
    deliverer: Deliverer,
    rooms: Arc<dyn RoomStore>,
    queue: Arc<dyn FanoutQueue>,
}

impl Broadcaster {
    /// Wire a broadcaster from its ports.
    pub fn new(
        rooms: Arc<dyn RoomStore>,
        members: Arc<dyn MembershipStore>,
        queue: Arc<dyn FanoutQueue>,
        poster: Arc<dyn Poster>,
        metrics: Arc<dyn FanoutMetrics>,
        config: FanoutConfig,
    ) -> Self {
        Self {
            deliverer: Deliverer::new(poster, members, queue.clone(), metrics, config),
            rooms,
            queue,
        }
    }

    /// The knobs in force.
    pub fn config(&self) -> &FanoutConfig {
        &self.deliverer.config
    }

    /// Run one job to completion. An `Err` means the job should be retried whole: for
    /// a room job that failed after enqueueing some shard jobs (see `plan`), those
    /// members get the frame again.
    pub async fn run(&self, job: &FanoutJob) -> Result<JobReport, BackendError> {
        match job {
            FanoutJob::Room(job) => self.plan(job).await,
            FanoutJob::Shard(job) => Ok(self.deliver_shard(job).await),
            FanoutJob::Presence(job) => self.announce(job).await,
        }
    }

    /// Clear the room's pending presence mark, reading its member count in the same
    /// step, and fan that count out like any room message. An empty room has nobody
    /// to tell.
    async fn announce(&self, job: &PresenceJob) -> Result<JobReport, BackendError> {
        let count = self
            .deliverer
            .members
            .take_presence(&job.room, job.mark)
            .await?;
        if count.members == 0 {
            return Ok(JobReport::default());
        }
        let message = crate::handler::presence(job.room.clone(), count);
        self.plan(&RoomJob {
            room: job.room.clone(),
            version: None,
            payload: message.to_v1(),
            except: None,
            planetstack_state: false,
            created_ms: now_ms(),
        })
        .await
    }

    /// Page through the room and either deliver it in place (at most `SHARD_SIZE`
    /// targets) or enqueue it as shard jobs **while paging**: once the room is known to
    /// be larger than one shard, every full shard is enqueued before the next page is
    /// read, so a room of any size costs about one page plus one shard per protocol
    /// group in memory, and the pool starts delivering while the planner still pages.
    ///
    /// Failure mid-plan: a page read, the planetstack state load or an enqueue that fails after
    /// some shards went out returns `Err`, and the room job is retried whole (SQS
    /// redelivery, the local pool's re-queue). The members of the shards already
    /// enqueued then get the frame twice: patches are dropped by version, events and
    /// presence are not (docs/reliability.md). Resuming from the cursor instead would
    /// need the cursor in the retried job; a failure here is rare and the duplicates
    /// are what any re-run costs.
    async fn plan(&self, job: &RoomJob) -> Result<JobReport, BackendError> {
        let shard_size = self.config().shard_size.max(1);
        let page = shard_size.clamp(100, 1000);
        let mut plan = Plan::new(job, shard_size);
        let mut cursor = None;
        loop {
            let members = self
                .deliverer
                .members
                .members(&job.room, cursor, page)
                .await?;
            for m in members.members {
                plan.add(m.id, m.protocol);
            }
            if plan.sharding() {
                self.enqueue_shards(&mut plan, false).await?;
            }
            match members.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        let mut report = if plan.sharding() {
            self.enqueue_shards(&mut plan, true).await?;
            JobReport::default()
        } else {
            self.deliver_in_place(&mut plan).await?
        };
        (report.targets, report.shards) = (plan.targets, plan.shards);
        self.deliverer.metrics.planned(plan.targets, plan.shards);
        Ok(report)
    }

    /// Enqueue each group's full shards, one job per `enqueue` so none waits for the
    /// next; with `last`, the partial ones too. (On SQS that is one `SendMessageBatch`
    /// per shard instead of per ten: a call per 500 posts.)
    async fn enqueue_shards(&self, plan: &mut Plan<'_>, last: bool) -> Result<(), BackendError> {
        for planetstack in [false, true] {
            while let Some(connections) = plan.take_shard(planetstack, last) {
                let payload = if planetstack {
                    self.planetstack_payload(plan).await?
                } else {
                    plan.job.payload.clone()
                };
                let shard = plan.shard(payload, connections, 0);
                self.queue.enqueue(vec![FanoutJob::Shard(shard)]).await?;
                plan.shards += 1;
            }
        }
        Ok(())
    }

    /// A room of at most one shard: post from here, and hand back what failed as
    /// retry shard jobs.
    async fn deliver_in_place(&self, plan: &mut Plan<'_>) -> Result<JobReport, BackendError> {
        let mut report = JobReport::default();
        if !plan.planetstack.is_empty() {
            // Before any post: a failed load then fails the job with nothing delivered.
            self.planetstack_payload(plan).await?;
        }
        for planetstack in [false, true] {
            let ids = std::mem::take(if planetstack {
                &mut plan.planetstack
            } else {
                &mut plan.v1
            });
            if ids.is_empty() {
                continue;
            }
            let payload = if planetstack {
                self.planetstack_payload(plan).await?
            } else {
                plan.job.payload.clone()
            };
            let bytes = Bytes::from(payload.clone());
            let delivery = self
                .deliverer
                .deliver(&bytes, &ids, plan.job.created_ms)
                .await;
            if !delivery.failed.is_empty() {
                let failed = delivery.failed.clone();
                report.retry.push(plan.shard(payload, failed, 1));
            }
            report.delivery.absorb(delivery);
        }
        Ok(report)
    }

    /// Planetstack clients get the room's current full state, read once per job and only
    /// when a planetstack member is to be posted to.
    async fn planetstack_payload(&self, plan: &mut Plan<'_>) -> Result<String, BackendError> {
        if plan.planetstack_payload.is_none() {
            let state = self.rooms.load(&plan.job.room).await?.state.state;
            plan.planetstack_payload = Some(state.to_planetstack());
        }
        Ok(plan.planetstack_payload.clone().unwrap_or_default())
    }

    async fn deliver_shard(&self, job: &ShardJob) -> JobReport {
        let bytes = Bytes::from(job.payload.clone());
        let delivery = self
            .deliverer
            .deliver(&bytes, &job.connections, job.created_ms)
            .await;
        let retry = if delivery.failed.is_empty() {
            vec![]
        } else {
            vec![ShardJob {
                connections: delivery.failed.clone(),
                attempt: job.attempt + 1,
                ..job.clone()
            }]
        };
        JobReport {
            targets: job.connections.len(),
            shards: 0,
            delivery,
            retry,
        }
    }
}

/// A room job's plan while it pages: the targets not yet in a shard job, split by
/// protocol, and what was planned so far.
struct Plan<'a> {
    job: &'a RoomJob,
    shard_size: usize,
    v1: Vec<ConnectionId>,
    planetstack: Vec<ConnectionId>,
    planetstack_payload: Option<String>,
    /// Targets seen (after `except`).
    targets: usize,
    /// Shard jobs enqueued.
    shards: usize,
}

impl<'a> Plan<'a> {
    fn new(job: &'a RoomJob, shard_size: usize) -> Self {
        Self {
            job,
            shard_size,
            v1: Vec::new(),
            planetstack: Vec::new(),
            planetstack_payload: None,
            targets: 0,
            shards: 0,
        }
    }

    /// Count a member in, leaving out `except` and planetstack members when the job has
    /// nothing for them.
    fn add(&mut self, id: ConnectionId, protocol: Protocol) {
        if self.job.except.as_ref() == Some(&id) {
            return;
        }
        match protocol {
            Protocol::V1 => self.v1.push(id),
            Protocol::Planetstack if self.job.planetstack_state => self.planetstack.push(id),
            Protocol::Planetstack => return,
        }
        self.targets += 1;
    }

    /// More targets than one shard: the room is sharded (and stays so).
    fn sharding(&self) -> bool {
        self.targets > self.shard_size
    }

    /// The next shard of a group: a full one, or with `last` whatever is left.
    fn take_shard(&mut self, planetstack: bool, last: bool) -> Option<Vec<ConnectionId>> {
        let ids = if planetstack {
            &mut self.planetstack
        } else {
            &mut self.v1
        };
        if ids.len() >= self.shard_size {
            let rest = ids.split_off(self.shard_size);
            Some(std::mem::replace(ids, rest))
        } else if last && !ids.is_empty() {
            Some(std::mem::take(ids))
        } else {
            None
        }
    }

    fn shard(&self, payload: String, connections: Vec<ConnectionId>, attempt: u32) -> ShardJob {
        ShardJob {
            room: self.job.room.clone(),
            version: self.job.version,
            payload,
            connections,
            created_ms: self.job.created_ms,
            attempt,
        }
    }
}
