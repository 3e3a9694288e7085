//! Plan a room job: small rooms are delivered in place, large rooms are split into
//! shard jobs of at most `SHARD_SIZE` connection ids that the pool runs in parallel.

use bytes::Bytes;
use std::sync::Arc;

use crate::ports::{BackendError, FanoutMetrics, FanoutQueue, MembershipStore, Poster, RoomStore};
use crate::protocol::{ConnectionId, Protocol, ServerMessage};

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

    /// Run one job to completion. An `Err` means nothing was delivered and the whole
    /// job should be retried (its store or queue failed).
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
        let members = self
            .deliverer
            .members
            .take_presence(&job.room, job.mark)
            .await?;
        if members == 0 {
            return Ok(JobReport::default());
        }
        let message = ServerMessage::Presence {
            room: job.room.clone(),
            members,
        };
        self.plan(&RoomJob {
            room: job.room.clone(),
            version: None,
            payload: message.to_v1(),
            except: None,
            seed_state: false,
            created_ms: now_ms(),
        })
        .await
    }

    async fn plan(&self, job: &RoomJob) -> Result<JobReport, BackendError> {
        let shard_size = self.config().shard_size.max(1);
        let (v1, seed) = self.targets(job, shard_size.clamp(100, 1000)).await?;
        let mut groups = vec![(job.payload.clone(), v1)];
        if !seed.is_empty() {
            // Seed clients get the room's current full state; read once per job.
            groups.push((self.rooms.load(&job.room).await?.state.to_seed(), seed));
        }
        let targets: usize = groups.iter().map(|(_, ids)| ids.len()).sum();
        let shard = |payload: &str, connections: Vec<ConnectionId>, attempt| ShardJob {
            room: job.room.clone(),
            version: job.version,
            payload: payload.to_owned(),
            connections,
            created_ms: job.created_ms,
            attempt,
        };

        let mut report = JobReport {
            targets,
            ..JobReport::default()
        };
        if targets <= shard_size {
            for (payload, ids) in groups.into_iter().filter(|(_, ids)| !ids.is_empty()) {
                let bytes = Bytes::from(payload.clone());
                let delivery = self.deliverer.deliver(&bytes, &ids, job.created_ms).await;
                if !delivery.failed.is_empty() {
                    report
                        .retry
                        .push(shard(&payload, delivery.failed.clone(), 1));
                }
                report.delivery.absorb(delivery);
            }
        } else {
            let shards: Vec<FanoutJob> = groups
                .iter()
                .flat_map(|(payload, ids)| ids.chunks(shard_size).map(move |c| (payload, c)))
                .map(|(payload, chunk)| FanoutJob::Shard(shard(payload, chunk.to_vec(), 0)))
                .collect();
            report.shards = shards.len();
            self.queue.enqueue(shards).await?;
        }
        self.deliverer.metrics.planned(targets, report.shards);
        Ok(report)
    }

    /// Page through the room's members, split by protocol, leaving out `except` and
    /// seed members when the job has nothing for them.
    async fn targets(
        &self,
        job: &RoomJob,
        page: usize,
    ) -> Result<(Vec<ConnectionId>, Vec<ConnectionId>), BackendError> {
        let (mut v1, mut seed) = (Vec::new(), Vec::new());
        let mut cursor = None;
        loop {
            let members = self
                .deliverer
                .members
                .members(&job.room, cursor, page)
                .await?;
            for m in members.members {
                if job.except.as_ref() == Some(&m.id) {
                    continue;
                }
                match m.protocol {
                    Protocol::V1 => v1.push(m.id),
                    Protocol::Seed if job.seed_state => seed.push(m.id),
                    Protocol::Seed => {}
                }
            }
            match members.next {
                Some(next) => cursor = Some(next),
                None => return Ok((v1, seed)),
            }
        }
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
