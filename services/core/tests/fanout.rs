//! The fan-out (`Broadcaster`: plan, shard, deliver) and the action `Handler`, run
//! against small in-memory implementations of core's ports.

use async_trait::async_trait;
use bytes::Bytes;
use std::collections::{HashMap, HashSet};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use roomcast_core::auth::RoomAccess;
use roomcast_core::fanout::{Broadcaster, FanoutConfig, FanoutJob, RoomJob, ShardJob, now_ms};
use roomcast_core::handler::PublishError;
use roomcast_core::history::{ChangeId, History};
use roomcast_core::memory::{MemoryMembers, MemoryRooms};
use roomcast_core::ports::{
    BackendError, CommitError, Committed, FanoutMetrics, FanoutQueue, Headcount, Left, Member,
    MembersPage, MembershipStore, PostError, PostOutcome, Poster, RoomStore, Snapshot, UsersPage,
};
use roomcast_core::presence::PresencePolicy;
use roomcast_core::protocol::limits::DEFAULT_ICON_CAP;
use roomcast_core::protocol::{
    ConnectionId, Position, Protocol, PublishRequest, RoomName, RoomSummary, ServerMessage, UserId,
};
use roomcast_core::state::{Op, RoomState};
use roomcast_core::{Handler, Session};
use serde_json::{Value, json};

// =======================================================================================
// Test doubles for the ports
// =======================================================================================

fn boom(context: &str) -> BackendError {
    BackendError::new(context, "injected failure")
}

/// Core's in-memory membership store (paged with a real cursor: the id of the last
/// member of the previous page, exclusive, like DynamoDB's `LastEvaluatedKey`), with
/// injectable failures and a log of the pages read and the connections disconnected.
#[derive(Default)]
struct Members {
    inner: MemoryMembers,
    /// Every `members` call: (cursor, limit, returned count).
    pages: Mutex<Vec<(Option<String>, usize, usize)>>,
    disconnects: Mutex<Vec<ConnectionId>>,
    fail: AtomicBool,
}

impl Members {
    fn check(&self) -> Result<(), BackendError> {
        if self.fail.load(Ordering::SeqCst) {
            Err(boom("membership store"))
        } else {
            Ok(())
        }
    }

    /// Put `n` connections speaking `protocol` into `room`, ids `{prefix}{i:04}`.
    fn populate(
        &self,
        room: &RoomName,
        prefix: &str,
        n: usize,
        protocol: Protocol,
    ) -> Vec<ConnectionId> {
        (0..n)
            .map(|i| {
                let id = ConnectionId::parse(format!("{prefix}{i:04}")).unwrap();
                let member = Member {
                    user: UserId::anonymous(&id),
                    id: id.clone(),
                    protocol,
                };
                // The memory store completes on the first poll.
                futures::executor::block_on(async {
                    self.inner.connect(&member).await.unwrap();
                    self.inner.join(room, &member).await.unwrap();
                });
                id
            })
            .collect()
    }

    fn ids_in(&self, room: &RoomName) -> Vec<ConnectionId> {
        self.inner.ids_in(room)
    }

    fn is_connected(&self, id: &ConnectionId) -> bool {
        self.inner.is_connected(id)
    }

    fn pages(&self) -> Vec<(Option<String>, usize, usize)> {
        self.pages.lock().unwrap().clone()
    }
}

#[async_trait]
impl MembershipStore for Members {
    async fn connect(&self, member: &Member) -> Result<(), BackendError> {
        self.check()?;
        self.inner.connect(member).await
    }

    async fn disconnect(&self, id: &ConnectionId) -> Result<Vec<Left>, BackendError> {
        self.check()?;
        self.disconnects.lock().unwrap().push(id.clone());
        self.inner.disconnect(id).await
    }

    async fn join(&self, room: &RoomName, member: &Member) -> Result<Headcount, BackendError> {
        self.check()?;
        self.inner.join(room, member).await
    }

    async fn leave(
        &self,
        room: &RoomName,
        id: &ConnectionId,
    ) -> Result<Option<Headcount>, BackendError> {
        self.check()?;
        self.inner.leave(room, id).await
    }

    async fn members(
        &self,
        room: &RoomName,
        cursor: Option<String>,
        limit: usize,
    ) -> Result<MembersPage, BackendError> {
        self.check()?;
        assert!(limit > 0, "a page of zero members never ends");
        let page = self.inner.members(room, cursor.clone(), limit).await?;
        (self.pages.lock().unwrap()).push((cursor, limit, page.members.len()));
        Ok(page)
    }

    async fn users(
        &self,
        room: &RoomName,
        after: Option<UserId>,
        limit: usize,
    ) -> Result<UsersPage, BackendError> {
        self.check()?;
        self.inner.users(room, after, limit).await
    }

    async fn rooms(&self, limit: usize) -> Result<Vec<RoomSummary>, BackendError> {
        self.check()?;
        self.inner.rooms(limit).await
    }

    async fn mark_presence(
        &self,
        room: &RoomName,
        mark: u64,
        stale_before: u64,
    ) -> Result<bool, BackendError> {
        self.check()?;
        self.inner.mark_presence(room, mark, stale_before).await
    }

    async fn take_presence(&self, room: &RoomName, mark: u64) -> Result<Headcount, BackendError> {
        self.check()?;
        self.inner.take_presence(room, mark).await
    }
}

/// Core's in-memory room store, with injectable failures.
struct Rooms {
    inner: MemoryRooms,
    fail: AtomicBool,
}

impl Rooms {
    fn with_cap(icon_cap: usize) -> Self {
        Self {
            inner: MemoryRooms::new(icon_cap),
            fail: AtomicBool::new(false),
        }
    }

    fn get(&self, room: &RoomName) -> RoomState {
        self.inner.get(room)
    }

    fn check(&self, what: &str) -> Result<(), BackendError> {
        match self.fail.load(Ordering::SeqCst) {
            true => Err(boom(what)),
            false => Ok(()),
        }
    }
}

#[async_trait]
impl RoomStore for Rooms {
    async fn load(&self, room: &RoomName) -> Result<Snapshot, BackendError> {
        self.check("room store load")?;
        self.inner.load(room).await
    }

    async fn commit(
        &self,
        room: &RoomName,
        op: &Op,
        change: &ChangeId,
    ) -> Result<Committed, CommitError> {
        self.check("room store commit")?;
        self.inner.commit(room, op, change).await
    }

    async fn append(
        &self,
        room: &RoomName,
        event: &ServerMessage,
        change: &ChangeId,
    ) -> Result<Position, BackendError> {
        self.check("room store append")?;
        self.inner.append(room, event, change).await
    }

    async fn history(&self, room: &RoomName, after: u64) -> Result<History, BackendError> {
        self.check("room store history")?;
        self.inner.history(room, after).await
    }
}

/// Collects enqueued jobs; delayed ones apart, with their delay.
#[derive(Default)]
struct Queue {
    jobs: Mutex<Vec<FanoutJob>>,
    delayed: Mutex<Vec<(FanoutJob, Duration)>>,
    fail: AtomicBool,
}

impl Queue {
    /// The delayed jobs enqueued since the last call, with their delays.
    fn take_delayed(&self) -> Vec<(FanoutJob, Duration)> {
        std::mem::take(&mut *self.delayed.lock().unwrap())
    }

    fn take(&self) -> Vec<FanoutJob> {
        std::mem::take(&mut *self.jobs.lock().unwrap())
    }

    fn len(&self) -> usize {
        self.jobs.lock().unwrap().len()
    }

    fn take_room_jobs(&self) -> Vec<RoomJob> {
        self.take()
            .into_iter()
            .map(|job| match job {
                FanoutJob::Room(job) => job,
                other => panic!("expected a room job, got {other:?}"),
            })
            .collect()
    }

    fn take_shard_jobs(&self) -> Vec<ShardJob> {
        self.take()
            .into_iter()
            .map(|job| match job {
                FanoutJob::Shard(job) => job,
                other => panic!("expected a shard job, got {other:?}"),
            })
            .collect()
    }
}

#[async_trait]
impl FanoutQueue for Queue {
    async fn enqueue(&self, jobs: Vec<FanoutJob>) -> Result<(), BackendError> {
        if self.fail.load(Ordering::SeqCst) {
            return Err(boom("queue"));
        }
        // Jobs travel as JSON on SQS: every job must survive the trip unchanged.
        for job in &jobs {
            let text = serde_json::to_string(job).unwrap();
            assert_eq!(&serde_json::from_str::<FanoutJob>(&text).unwrap(), job);
        }
        self.jobs.lock().unwrap().extend(jobs);
        Ok(())
    }

    async fn enqueue_after(&self, job: FanoutJob, delay: Duration) -> Result<(), BackendError> {
        if self.fail.load(Ordering::SeqCst) {
            return Err(boom("queue"));
        }
        let text = serde_json::to_string(&job).unwrap();
        assert_eq!(serde_json::from_str::<FanoutJob>(&text).unwrap(), job);
        self.delayed.lock().unwrap().push((job, delay));
        Ok(())
    }
}

/// Records posts; can answer Gone, Throttled (the first N posts to an id) or fail for
/// good, and measures how many posts are in flight at once.
#[derive(Default)]
struct RecordingPoster {
    delivered: Mutex<Vec<(ConnectionId, String)>>,
    attempts: Mutex<HashMap<ConnectionId, usize>>,
    gone: Mutex<HashSet<ConnectionId>>,
    throttle: Mutex<HashMap<ConnectionId, usize>>,
    broken: Mutex<HashSet<ConnectionId>>,
    delay: Option<Duration>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

impl RecordingPoster {
    fn with_delay(delay: Duration) -> Self {
        Self {
            delay: Some(delay),
            ..Self::default()
        }
    }

    fn gone_for(&self, ids: &[ConnectionId]) {
        self.gone.lock().unwrap().extend(ids.iter().cloned());
    }

    fn throttle_first(&self, id: &ConnectionId, n: usize) {
        self.throttle.lock().unwrap().insert(id.clone(), n);
    }

    fn break_for(&self, ids: &[ConnectionId]) {
        self.broken.lock().unwrap().extend(ids.iter().cloned());
    }

    fn repair(&self) {
        self.broken.lock().unwrap().clear();
    }

    fn delivered(&self) -> Vec<(ConnectionId, String)> {
        self.delivered.lock().unwrap().clone()
    }

    /// Delivered posts per connection.
    fn counts(&self) -> HashMap<ConnectionId, usize> {
        let mut counts = HashMap::new();
        for (id, _) in self.delivered() {
            *counts.entry(id).or_default() += 1;
        }
        counts
    }

    fn payloads_for(&self, id: &ConnectionId) -> Vec<String> {
        self.delivered()
            .into_iter()
            .filter(|(to, _)| to == id)
            .map(|(_, p)| p)
            .collect()
    }

    fn attempts(&self, id: &ConnectionId) -> usize {
        self.attempts.lock().unwrap().get(id).copied().unwrap_or(0)
    }
}

#[async_trait]
impl Poster for RecordingPoster {
    async fn post(&self, to: &ConnectionId, payload: &Bytes) -> Result<(), PostError> {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        if let Some(delay) = self.delay {
            tokio::time::sleep(delay).await;
        }
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        *self.attempts.lock().unwrap().entry(to.clone()).or_default() += 1;

        if self.gone.lock().unwrap().contains(to) {
            return Err(PostError::Gone);
        }
        if let Some(left) = self.throttle.lock().unwrap().get_mut(to)
            && *left > 0
        {
            *left -= 1;
            return Err(PostError::Throttled(
                "the client side buffer is full".into(),
            ));
        }
        if self.broken.lock().unwrap().contains(to) {
            return Err(PostError::Backend(boom("post")));
        }
        let text = std::str::from_utf8(payload)
            .expect("frames are UTF-8")
            .to_owned();
        self.delivered.lock().unwrap().push((to.clone(), text));
        Ok(())
    }
}

/// Records what the fan-out reports.
#[derive(Default)]
struct RecordingMetrics {
    planned: Mutex<Vec<(usize, usize)>>,
    posts: Mutex<HashMap<&'static str, usize>>,
}

impl FanoutMetrics for RecordingMetrics {
    fn planned(&self, members: usize, shards: usize) {
        self.planned.lock().unwrap().push((members, shards));
    }

    fn post(&self, outcome: PostOutcome, _since_commit: Duration) {
        let key = match outcome {
            PostOutcome::Delivered => "delivered",
            PostOutcome::Gone => "gone",
            PostOutcome::Throttled => "throttled",
            PostOutcome::Failed => "failed",
        };
        *self.posts.lock().unwrap().entry(key).or_default() += 1;
    }
}

impl RecordingMetrics {
    fn count(&self, key: &str) -> usize {
        self.posts.lock().unwrap().get(key).copied().unwrap_or(0)
    }
}

/// One set of ports, shared by handlers and broadcasters built from it.
struct World {
    rooms: Arc<Rooms>,
    members: Arc<Members>,
    queue: Arc<Queue>,
    poster: Arc<RecordingPoster>,
    metrics: Arc<RecordingMetrics>,
}

impl World {
    fn new() -> Self {
        Self::with_poster(RecordingPoster::default())
    }

    fn with_poster(poster: RecordingPoster) -> Self {
        Self {
            rooms: Arc::new(Rooms::with_cap(DEFAULT_ICON_CAP)),
            members: Arc::new(Members::default()),
            queue: Arc::new(Queue::default()),
            poster: Arc::new(poster),
            metrics: Arc::new(RecordingMetrics::default()),
        }
    }

    fn broadcaster(&self, config: FanoutConfig) -> Broadcaster {
        Broadcaster::new(
            self.rooms.clone(),
            self.members.clone(),
            self.queue.clone(),
            self.poster.clone(),
            self.metrics.clone(),
            config,
        )
    }

    fn handler(&self) -> Handler {
        Handler::new(self.rooms.clone(), self.members.clone(), self.queue.clone())
    }
}

fn config(shard_size: usize) -> FanoutConfig {
    FanoutConfig {
        shard_size,
        post_concurrency: 16,
        rate_limit: None,
        max_attempts: 6,
        backoff_base: Duration::from_millis(1),
        backoff_max: Duration::from_millis(4),
        presence: PresencePolicy::default(),
    }
}

fn room(s: &str) -> RoomName {
    RoomName::parse(s).unwrap()
}

fn conn(s: &str) -> ConnectionId {
    ConnectionId::parse(s).unwrap()
}

const PAYLOAD: &str = r#"{"type":"presence","room":"alpha","members":50}"#;

fn room_job(room: &RoomName) -> RoomJob {
    RoomJob {
        room: room.clone(),
        version: Some(7),
        payload: PAYLOAD.to_owned(),
        except: None,
        planetstack_state: false,
        created_ms: now_ms(),
    }
}

fn sorted(mut ids: Vec<ConnectionId>) -> Vec<ConnectionId> {
    ids.sort();
    ids
}

/// Every id in `expected` got exactly one post, of `payload`, and nobody else got one.
fn assert_delivered_once(poster: &RecordingPoster, expected: &[ConnectionId], payload: &str) {
    let delivered = poster.delivered();
    let got = sorted(delivered.iter().map(|(id, _)| id.clone()).collect());
    assert_eq!(
        got,
        sorted(expected.to_vec()),
        "each member exactly once, nobody else"
    );
    for (id, p) in delivered {
        assert_eq!(p, payload, "payload to {id}");
    }
}

// =======================================================================================
// Broadcaster: planning and delivery
// =======================================================================================

#[tokio::test]
async fn a_room_at_shard_size_is_delivered_in_place_to_every_member_once() {
    let w = World::new();
    let alpha = room("alpha");
    let ids = w.members.populate(&alpha, "c", 8, Protocol::V1);
    let b = w.broadcaster(config(8));

    let report = b.run(&FanoutJob::Room(room_job(&alpha))).await.unwrap();

    assert_eq!(report.targets, 8);
    assert_eq!(report.shards, 0);
    assert_eq!(report.delivery.delivered, 8);
    assert_eq!((report.delivery.gone, report.delivery.throttled), (0, 0));
    assert!(report.delivery.failed.is_empty() && report.retry.is_empty());
    assert_eq!(w.queue.len(), 0, "no shard jobs for a room that fits");
    assert_delivered_once(&w.poster, &ids, PAYLOAD);
    assert_eq!(*w.metrics.planned.lock().unwrap(), vec![(8, 0)]);
    assert_eq!(w.metrics.count("delivered"), 8);
}

#[tokio::test]
async fn a_room_under_shard_size_is_delivered_in_place() {
    let w = World::new();
    let alpha = room("alpha");
    let ids = w.members.populate(&alpha, "c", 3, Protocol::V1);
    let report = w
        .broadcaster(config(8))
        .run(&FanoutJob::Room(room_job(&alpha)))
        .await
        .unwrap();
    assert_eq!(
        (report.targets, report.shards, report.delivery.delivered),
        (3, 0, 3)
    );
    assert_delivered_once(&w.poster, &ids, PAYLOAD);
    assert_eq!(w.queue.len(), 0);
}

#[tokio::test]
async fn an_empty_room_posts_nothing() {
    let w = World::new();
    let report = w
        .broadcaster(config(8))
        .run(&FanoutJob::Room(room_job(&room("nobody"))))
        .await
        .unwrap();
    assert_eq!(
        (report.targets, report.shards, report.delivery.delivered),
        (0, 0, 0)
    );
    assert!(w.poster.delivered().is_empty());
    assert_eq!(w.queue.len(), 0);
}

#[tokio::test]
async fn a_room_over_shard_size_is_planned_into_shard_jobs_that_partition_it() {
    let w = World::new();
    let alpha = room("alpha");
    let ids = w.members.populate(&alpha, "c", 50, Protocol::V1);
    // Another room's members must not leak in.
    w.members.populate(&room("beta"), "b", 5, Protocol::V1);
    let job = room_job(&alpha);

    let report = w
        .broadcaster(config(8))
        .run(&FanoutJob::Room(job.clone()))
        .await
        .unwrap();

    assert_eq!(report.targets, 50);
    assert_eq!(report.shards, 7, "ceil(50 / 8)");
    assert_eq!(
        report.delivery,
        Default::default(),
        "nothing delivered in place"
    );
    assert!(report.retry.is_empty());
    assert!(w.poster.delivered().is_empty(), "no posts by the planner");

    let shards = w.queue.take_shard_jobs();
    assert_eq!(shards.len(), 7);
    let mut all = Vec::new();
    for shard in &shards {
        assert!(
            !shard.connections.is_empty() && shard.connections.len() <= 8,
            "{}",
            shard.connections.len()
        );
        assert_eq!(shard.room, alpha);
        assert_eq!(shard.version, Some(7));
        assert_eq!(shard.payload, PAYLOAD);
        assert_eq!(shard.created_ms, job.created_ms);
        assert_eq!(shard.attempt, 0);
        all.extend(shard.connections.iter().cloned());
    }
    let unique: HashSet<_> = all.iter().cloned().collect();
    assert_eq!(unique.len(), all.len(), "no connection in two shards");
    assert_eq!(sorted(all), sorted(ids), "shards cover exactly the room");
    let mut sizes: Vec<usize> = shards.iter().map(|s| s.connections.len()).collect();
    sizes.sort_unstable();
    assert_eq!(sizes, vec![2, 8, 8, 8, 8, 8, 8]);
    assert_eq!(*w.metrics.planned.lock().unwrap(), vec![(50, 7)]);
}

#[tokio::test]
async fn running_the_shard_jobs_delivers_every_member_exactly_once() {
    let w = World::new();
    let alpha = room("alpha");
    let ids = w.members.populate(&alpha, "c", 50, Protocol::V1);
    let b = Arc::new(w.broadcaster(config(8)));
    b.run(&FanoutJob::Room(room_job(&alpha))).await.unwrap();
    let shards = w.queue.take();
    assert_eq!(shards.len(), 7);

    // The pool runs them in parallel.
    let tasks: Vec<_> = shards
        .into_iter()
        .map(|job| {
            let b = b.clone();
            tokio::spawn(async move { b.run(&job).await.unwrap() })
        })
        .collect();
    let mut delivered = 0;
    let mut targets = 0;
    for task in tasks {
        let report = task.await.unwrap();
        assert_eq!(report.shards, 0, "a shard job never re-shards");
        assert!(report.retry.is_empty());
        delivered += report.delivery.delivered;
        targets += report.targets;
    }
    assert_eq!((delivered, targets), (50, 50));
    assert_delivered_once(&w.poster, &ids, PAYLOAD);
    assert_eq!(w.queue.len(), 0, "shard jobs enqueue nothing");
}

#[tokio::test]
async fn planning_pages_through_large_rooms_with_the_cursor() {
    // Pages are shard_size clamped to 100..=1000: with shards of 1500, a room of 1400
    // takes two pages and is still delivered in place.
    let w = World::new();
    let alpha = room("alpha");
    let ids = w.members.populate(&alpha, "c", 1400, Protocol::V1);
    let report = w
        .broadcaster(config(1500))
        .run(&FanoutJob::Room(room_job(&alpha)))
        .await
        .unwrap();

    assert_eq!(
        (report.targets, report.shards, report.delivery.delivered),
        (1400, 0, 1400)
    );
    assert_delivered_once(&w.poster, &ids, PAYLOAD);
    let pages = w.members.pages();
    assert_eq!(pages.len(), 2, "{pages:?}");
    assert_eq!((pages[0].1, pages[0].2), (1000, 1000));
    assert_eq!(pages[0].0, None, "the first page has no cursor");
    assert!(
        pages[1..].iter().all(|(cursor, _, _)| cursor.is_some()),
        "{pages:?}"
    );
    assert_eq!(pages.iter().map(|(_, _, n)| n).sum::<usize>(), 1400);
    assert!(pages.iter().all(|(_, limit, n)| n <= limit));
}

#[tokio::test]
async fn sharding_a_paged_room_still_partitions_it() {
    let w = World::new();
    let alpha = room("alpha");
    let ids = w.members.populate(&alpha, "c", 250, Protocol::V1);
    let report = w
        .broadcaster(config(8))
        .run(&FanoutJob::Room(room_job(&alpha)))
        .await
        .unwrap();
    assert_eq!(report.shards, 32, "ceil(250 / 8)");
    assert!(w.members.pages().len() >= 3);
    let all: Vec<ConnectionId> = w
        .queue
        .take_shard_jobs()
        .into_iter()
        .flat_map(|s| s.connections)
        .collect();
    assert_eq!(all.len(), 250);
    assert_eq!(sorted(all), sorted(ids));
}

#[tokio::test]
async fn except_is_left_out_when_delivering_in_place() {
    let w = World::new();
    let alpha = room("alpha");
    let ids = w.members.populate(&alpha, "c", 5, Protocol::V1);
    let job = RoomJob {
        except: Some(ids[2].clone()),
        ..room_job(&alpha)
    };
    let report = w
        .broadcaster(config(8))
        .run(&FanoutJob::Room(job))
        .await
        .unwrap();
    assert_eq!((report.targets, report.delivery.delivered), (4, 4));
    let expected: Vec<_> = ids.iter().filter(|id| **id != ids[2]).cloned().collect();
    assert_delivered_once(&w.poster, &expected, PAYLOAD);
    assert_eq!(w.poster.attempts(&ids[2]), 0, "never even tried");
}

#[tokio::test]
async fn except_is_left_out_of_shard_jobs() {
    let w = World::new();
    let alpha = room("alpha");
    let ids = w.members.populate(&alpha, "c", 50, Protocol::V1);
    let job = RoomJob {
        except: Some(ids[17].clone()),
        ..room_job(&alpha)
    };
    let report = w
        .broadcaster(config(8))
        .run(&FanoutJob::Room(job))
        .await
        .unwrap();
    assert_eq!((report.targets, report.shards), (49, 7));
    let all: Vec<ConnectionId> = w
        .queue
        .take_shard_jobs()
        .into_iter()
        .flat_map(|s| s.connections)
        .collect();
    assert!(!all.contains(&ids[17]));
    assert_eq!(all.len(), 49);
}

#[tokio::test]
async fn an_except_that_is_not_a_member_changes_nothing() {
    let w = World::new();
    let alpha = room("alpha");
    let ids = w.members.populate(&alpha, "c", 4, Protocol::V1);
    let job = RoomJob {
        except: Some(conn("stranger")),
        ..room_job(&alpha)
    };
    let report = w
        .broadcaster(config(8))
        .run(&FanoutJob::Room(job))
        .await
        .unwrap();
    assert_eq!(report.delivery.delivered, 4);
    assert_delivered_once(&w.poster, &ids, PAYLOAD);
}

/// A room with three v1 and two planetstack members, and a committed state.
async fn mixed_room(
    w: &World,
    v1: usize,
    planetstack: usize,
) -> (RoomName, Vec<ConnectionId>, Vec<ConnectionId>, String) {
    let alpha = room("alpha");
    let v1_ids = w.members.populate(&alpha, "v", v1, Protocol::V1);
    let planetstack_ids = w
        .members
        .populate(&alpha, "s", planetstack, Protocol::Planetstack);
    let bg = roomcast_core::protocol::Background::parse(5).unwrap();
    w.rooms
        .commit(&alpha, &Op::ChangeBackground { bg }, &ChangeId::generate())
        .await
        .unwrap();
    let planetstack_frame = w.rooms.get(&alpha).state.to_planetstack();
    assert_eq!(planetstack_frame, r#"{"bg":5,"icons":{}}"#);
    (alpha, v1_ids, planetstack_ids, planetstack_frame)
}

#[tokio::test]
async fn planetstack_members_get_the_full_state_when_the_job_changes_state() {
    let w = World::new();
    let (alpha, v1_ids, planetstack_ids, planetstack_frame) = mixed_room(&w, 3, 2).await;
    let job = RoomJob {
        planetstack_state: true,
        ..room_job(&alpha)
    };
    let report = w
        .broadcaster(config(8))
        .run(&FanoutJob::Room(job))
        .await
        .unwrap();
    assert_eq!((report.targets, report.delivery.delivered), (5, 5));
    for id in &v1_ids {
        assert_eq!(w.poster.payloads_for(id), vec![PAYLOAD.to_owned()], "{id}");
    }
    for id in &planetstack_ids {
        assert_eq!(
            w.poster.payloads_for(id),
            vec![planetstack_frame.clone()],
            "{id}"
        );
    }
}

#[tokio::test]
async fn planetstack_members_get_nothing_when_the_job_has_nothing_for_them() {
    let w = World::new();
    let (alpha, v1_ids, planetstack_ids, _) = mixed_room(&w, 3, 2).await;
    let report = w
        .broadcaster(config(8))
        .run(&FanoutJob::Room(room_job(&alpha)))
        .await
        .unwrap();
    assert_eq!((report.targets, report.delivery.delivered), (3, 3));
    assert_delivered_once(&w.poster, &v1_ids, PAYLOAD);
    for id in &planetstack_ids {
        assert_eq!(w.poster.attempts(id), 0);
    }
}

#[tokio::test]
async fn sharded_planetstack_members_get_shards_carrying_the_state() {
    let w = World::new();
    let (alpha, v1_ids, planetstack_ids, planetstack_frame) = mixed_room(&w, 20, 10).await;
    let job = RoomJob {
        planetstack_state: true,
        ..room_job(&alpha)
    };
    let report = w
        .broadcaster(config(8))
        .run(&FanoutJob::Room(job))
        .await
        .unwrap();
    assert_eq!(report.targets, 30);
    // Protocols are sharded apart: ceil(20/8) + ceil(10/8).
    assert_eq!(report.shards, 5);
    let shards = w.queue.take_shard_jobs();
    let (mut got_v1, mut got_planetstack) = (Vec::new(), Vec::new());
    for shard in shards {
        if shard.payload == PAYLOAD {
            got_v1.extend(shard.connections);
        } else {
            assert_eq!(shard.payload, planetstack_frame);
            got_planetstack.extend(shard.connections);
        }
    }
    assert_eq!(sorted(got_v1), sorted(v1_ids));
    assert_eq!(sorted(got_planetstack), sorted(planetstack_ids));
}

#[tokio::test]
async fn gone_connections_are_removed_and_counted() {
    let w = World::new();
    let alpha = room("alpha");
    let ids = w.members.populate(&alpha, "c", 6, Protocol::V1);
    // One of the gone connections is also in another room: it leaves that one too.
    let beta = room("beta");
    w.members
        .join(
            &beta,
            &Member {
                id: ids[0].clone(),
                protocol: Protocol::V1,
                user: UserId::anonymous(&ids[0]),
            },
        )
        .await
        .unwrap();
    let gone = vec![ids[0].clone(), ids[4].clone()];
    w.poster.gone_for(&gone);

    let report = w
        .broadcaster(config(8))
        .run(&FanoutJob::Room(room_job(&alpha)))
        .await
        .unwrap();

    assert_eq!(report.delivery.gone, 2);
    assert_eq!(report.delivery.delivered, 4);
    assert!(
        report.delivery.failed.is_empty() && report.retry.is_empty(),
        "gone is never retried"
    );
    for id in &gone {
        assert_eq!(w.poster.attempts(id), 1, "{id} posted to once");
        assert!(!w.members.is_connected(id));
    }
    let left = w.members.ids_in(&alpha);
    assert_eq!(left.len(), 4);
    assert!(gone.iter().all(|id| !left.contains(id)));
    assert!(
        w.members.ids_in(&beta).is_empty(),
        "all of a gone connection's memberships go"
    );
    assert_eq!(w.metrics.count("gone"), 2);
    let mut announced: Vec<RoomName> = w
        .queue
        .take_delayed()
        .into_iter()
        .map(|(job, _)| job.room().clone())
        .collect();
    announced.sort();
    assert_eq!(
        announced,
        vec![alpha.clone(), beta.clone()],
        "one presence job per room, however many of its members went"
    );

    // The next broadcast does not try them again.
    let report = w
        .broadcaster(config(8))
        .run(&FanoutJob::Room(room_job(&alpha)))
        .await
        .unwrap();
    assert_eq!((report.targets, report.delivery.gone), (4, 0));
}

#[tokio::test]
async fn throttled_posts_are_retried_until_they_arrive() {
    let w = World::new();
    let alpha = room("alpha");
    let ids = w.members.populate(&alpha, "c", 4, Protocol::V1);
    w.poster.throttle_first(&ids[1], 3);
    w.poster.throttle_first(&ids[3], 2);

    let report = w
        .broadcaster(config(8))
        .run(&FanoutJob::Room(room_job(&alpha)))
        .await
        .unwrap();

    assert_eq!(report.delivery.throttled, 5);
    assert_eq!(report.delivery.delivered, 4);
    assert!(report.delivery.failed.is_empty() && report.retry.is_empty());
    assert_eq!(w.poster.attempts(&ids[1]), 4);
    assert_eq!(w.poster.attempts(&ids[3]), 3);
    assert_eq!(w.poster.attempts(&ids[0]), 1);
    assert_delivered_once(&w.poster, &ids, PAYLOAD);
    assert_eq!(w.metrics.count("throttled"), 5);
}

#[tokio::test]
async fn throttled_posts_in_a_shard_job_are_retried_too() {
    let w = World::new();
    let alpha = room("alpha");
    let ids = w.members.populate(&alpha, "c", 3, Protocol::V1);
    w.poster.throttle_first(&ids[0], 4);
    let job = ShardJob {
        room: alpha,
        version: Some(1),
        payload: PAYLOAD.into(),
        connections: ids.clone(),
        created_ms: now_ms(),
        attempt: 0,
    };
    let report = w
        .broadcaster(config(8))
        .run(&FanoutJob::Shard(job))
        .await
        .unwrap();
    assert_eq!(
        (report.delivery.delivered, report.delivery.throttled),
        (3, 4)
    );
    assert!(report.retry.is_empty());
}

#[tokio::test]
async fn throttled_past_max_attempts_is_a_failure() {
    let w = World::new();
    let alpha = room("alpha");
    let ids = w.members.populate(&alpha, "c", 2, Protocol::V1);
    w.poster.throttle_first(&ids[0], 100);
    let report = w
        .broadcaster(config(8))
        .run(&FanoutJob::Room(room_job(&alpha)))
        .await
        .unwrap();
    assert_eq!(report.delivery.throttled, 6, "one per attempt");
    assert_eq!(report.delivery.failed, vec![ids[0].clone()]);
    assert_eq!(w.poster.attempts(&ids[0]), 6);
    assert_eq!(report.retry.len(), 1);
    assert_eq!(report.retry[0].connections, vec![ids[0].clone()]);
}

#[tokio::test]
async fn posts_that_always_fail_come_back_as_a_retry_shard_job() {
    let w = World::new();
    let alpha = room("alpha");
    let ids = w.members.populate(&alpha, "c", 5, Protocol::V1);
    let broken = vec![ids[1].clone(), ids[3].clone()];
    w.poster.break_for(&broken);
    let job = room_job(&alpha);

    let report = w
        .broadcaster(config(8))
        .run(&FanoutJob::Room(job.clone()))
        .await
        .unwrap();

    assert_eq!(report.delivery.delivered, 3);
    assert_eq!(
        sorted(report.delivery.failed.clone()),
        sorted(broken.clone())
    );
    assert_eq!(report.delivery.gone, 0);
    for id in &broken {
        assert_eq!(w.poster.attempts(id), 6, "max_attempts tries");
        assert!(w.members.is_connected(id), "a failure is not a gone");
    }
    assert_eq!(report.retry.len(), 1);
    let retry = &report.retry[0];
    assert_eq!(sorted(retry.connections.clone()), sorted(broken.clone()));
    assert_eq!(retry.attempt, 1, "the room job was attempt 0");
    assert_eq!(
        (&retry.room, retry.version, retry.payload.as_str()),
        (&alpha, job.version, PAYLOAD)
    );
    assert_eq!(
        retry.created_ms, job.created_ms,
        "latency is still measured from the commit"
    );
    assert_eq!(w.metrics.count("failed"), 2);
    assert_eq!(w.queue.len(), 0, "retries are the caller's to schedule");

    // Once the connections recover, running the retry job delivers them.
    w.poster.repair();
    let report = w
        .broadcaster(config(8))
        .run(&FanoutJob::Shard(retry.clone()))
        .await
        .unwrap();
    assert_eq!(report.delivery.delivered, 2);
    assert!(report.retry.is_empty());
    assert_eq!(
        w.poster.counts().values().copied().collect::<HashSet<_>>(),
        HashSet::from([1])
    );
    assert_eq!(w.poster.counts().len(), 5);
}

#[tokio::test]
async fn a_failing_shard_job_is_retried_with_the_next_attempt_number() {
    let w = World::new();
    let alpha = room("alpha");
    let ids = w.members.populate(&alpha, "c", 8, Protocol::V1);
    w.poster.break_for(&ids[5..]);
    let job = ShardJob {
        room: alpha.clone(),
        version: Some(42),
        payload: PAYLOAD.into(),
        connections: ids.clone(),
        created_ms: 1234,
        attempt: 2,
    };
    let report = w
        .broadcaster(config(8))
        .run(&FanoutJob::Shard(job.clone()))
        .await
        .unwrap();
    assert_eq!(report.targets, 8);
    assert_eq!(report.delivery.delivered, 5);
    assert_eq!(report.retry.len(), 1);
    let retry = &report.retry[0];
    assert_eq!(retry.attempt, 3);
    assert_eq!(sorted(retry.connections.clone()), ids[5..].to_vec());
    assert_eq!(
        ShardJob {
            connections: job.connections.clone(),
            attempt: job.attempt,
            ..retry.clone()
        },
        job,
        "everything else is copied"
    );
}

#[tokio::test]
async fn failing_planetstack_members_are_retried_with_the_planetstack_payload() {
    let w = World::new();
    let (alpha, _, planetstack_ids, planetstack_frame) = mixed_room(&w, 2, 2).await;
    w.poster.break_for(&planetstack_ids[..1]);
    let job = RoomJob {
        planetstack_state: true,
        ..room_job(&alpha)
    };
    let report = w
        .broadcaster(config(8))
        .run(&FanoutJob::Room(job))
        .await
        .unwrap();
    assert_eq!(report.retry.len(), 1);
    assert_eq!(
        report.retry[0].connections,
        vec![planetstack_ids[0].clone()]
    );
    assert_eq!(
        report.retry[0].payload, planetstack_frame,
        "the retry carries the frame those clients speak"
    );
}

#[tokio::test]
async fn post_concurrency_bounds_posts_in_flight() {
    let w = World::with_poster(RecordingPoster::with_delay(Duration::from_millis(5)));
    let alpha = room("alpha");
    let ids = w.members.populate(&alpha, "c", 40, Protocol::V1);
    let cfg = FanoutConfig {
        post_concurrency: 4,
        ..config(100)
    };
    let report = w
        .broadcaster(cfg)
        .run(&FanoutJob::Room(room_job(&alpha)))
        .await
        .unwrap();
    assert_eq!(report.delivery.delivered, 40);
    assert_delivered_once(&w.poster, &ids, PAYLOAD);
    let max = w.poster.max_in_flight.load(Ordering::SeqCst);
    assert!(max <= 4, "{max} posts in flight, bound is 4");
    assert!(max > 1, "posts ran one at a time ({max})");
}

#[tokio::test]
async fn post_concurrency_one_posts_one_at_a_time() {
    let w = World::with_poster(RecordingPoster::with_delay(Duration::from_millis(1)));
    let alpha = room("alpha");
    w.members.populate(&alpha, "c", 10, Protocol::V1);
    let cfg = FanoutConfig {
        post_concurrency: 1,
        ..config(100)
    };
    let report = w
        .broadcaster(cfg)
        .run(&FanoutJob::Room(room_job(&alpha)))
        .await
        .unwrap();
    assert_eq!(report.delivery.delivered, 10);
    assert_eq!(w.poster.max_in_flight.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn the_rate_budget_slows_posts_down() {
    let w = World::new();
    let alpha = room("alpha");
    w.members.populate(&alpha, "c", 30, Protocol::V1);
    let cfg = FanoutConfig {
        rate_limit: NonZeroU32::new(20),
        ..config(100)
    };
    let started = Instant::now();
    let report = w
        .broadcaster(cfg)
        .run(&FanoutJob::Room(room_job(&alpha)))
        .await
        .unwrap();
    let elapsed = started.elapsed();
    assert_eq!(report.delivery.delivered, 30);
    // A burst of 20, then 10 more at 20/s: about half a second.
    assert!(elapsed >= Duration::from_millis(400), "{elapsed:?}");
}

#[tokio::test]
async fn a_store_or_queue_failure_fails_the_whole_room_job() {
    let w = World::new();
    let alpha = room("alpha");
    w.members.populate(&alpha, "c", 50, Protocol::V1);
    w.queue.fail.store(true, Ordering::SeqCst);
    assert!(
        w.broadcaster(config(8))
            .run(&FanoutJob::Room(room_job(&alpha)))
            .await
            .is_err()
    );
    assert!(w.poster.delivered().is_empty());

    w.queue.fail.store(false, Ordering::SeqCst);
    w.members.fail.store(true, Ordering::SeqCst);
    assert!(
        w.broadcaster(config(8))
            .run(&FanoutJob::Room(room_job(&alpha)))
            .await
            .is_err()
    );
    assert!(w.poster.delivered().is_empty());
    assert_eq!(w.queue.len(), 0);
}

#[tokio::test]
async fn a_state_load_failure_fails_an_in_place_job_before_any_post() {
    // The planetstack members' state is loaded before the v1 members are posted to, so the
    // retried job is the first delivery to anyone.
    let w = World::new();
    let (alpha, _, _, _) = mixed_room(&w, 3, 2).await;
    w.rooms.fail.store(true, Ordering::SeqCst);
    let job = RoomJob {
        planetstack_state: true,
        ..room_job(&alpha)
    };
    assert!(
        w.broadcaster(config(8))
            .run(&FanoutJob::Room(job))
            .await
            .is_err()
    );
    assert!(w.poster.delivered().is_empty());
    assert_eq!(w.queue.len(), 0);
}

#[tokio::test]
async fn the_broadcaster_reports_its_config() {
    let w = World::new();
    let b = w.broadcaster(config(8));
    assert_eq!(b.config().shard_size, 8);
    assert_eq!(b.config().post_concurrency, 16);
    let d = FanoutConfig::default();
    assert!(d.shard_size > 0 && d.post_concurrency > 0 && d.max_attempts > 0);
    assert!(d.backoff_base <= d.backoff_max);
}

// =======================================================================================
// Broadcaster: a large room is paged and enqueued progressively
// =======================================================================================

/// What the planner did, in order: a page read (the members it returned) or one
/// `enqueue` call (its shard jobs).
#[derive(Debug, Clone)]
enum Step {
    Page {
        limit: usize,
        ids: Vec<ConnectionId>,
    },
    Enqueue(Vec<ShardJob>),
}

/// The in-memory store, recording each page request into a log it shares with
/// [`LoggingQueue`]; `fail_at_page` makes that page read (1-based) fail.
struct LoggingMembers {
    inner: roomcast_core::memory::MemoryMembers,
    log: Arc<Mutex<Vec<Step>>>,
    fail_at_page: Mutex<Option<usize>>,
}

#[async_trait]
impl MembershipStore for LoggingMembers {
    async fn connect(&self, member: &Member) -> Result<(), BackendError> {
        self.inner.connect(member).await
    }

    async fn disconnect(&self, id: &ConnectionId) -> Result<Vec<Left>, BackendError> {
        self.inner.disconnect(id).await
    }

    async fn join(&self, room: &RoomName, member: &Member) -> Result<Headcount, BackendError> {
        self.inner.join(room, member).await
    }

    async fn leave(
        &self,
        room: &RoomName,
        id: &ConnectionId,
    ) -> Result<Option<Headcount>, BackendError> {
        self.inner.leave(room, id).await
    }

    async fn users(
        &self,
        room: &RoomName,
        after: Option<UserId>,
        limit: usize,
    ) -> Result<UsersPage, BackendError> {
        self.inner.users(room, after, limit).await
    }

    async fn members(
        &self,
        room: &RoomName,
        cursor: Option<String>,
        limit: usize,
    ) -> Result<MembersPage, BackendError> {
        let pages = (self.log.lock().unwrap().iter())
            .filter(|s| matches!(s, Step::Page { .. }))
            .count();
        if *self.fail_at_page.lock().unwrap() == Some(pages + 1) {
            return Err(boom("membership store page"));
        }
        let page = self.inner.members(room, cursor, limit).await?;
        let ids = page.members.iter().map(|m| m.id.clone()).collect();
        self.log.lock().unwrap().push(Step::Page { limit, ids });
        Ok(page)
    }

    async fn rooms(&self, limit: usize) -> Result<Vec<RoomSummary>, BackendError> {
        self.inner.rooms(limit).await
    }

    async fn mark_presence(
        &self,
        room: &RoomName,
        mark: u64,
        stale_before: u64,
    ) -> Result<bool, BackendError> {
        self.inner.mark_presence(room, mark, stale_before).await
    }

    async fn take_presence(&self, room: &RoomName, mark: u64) -> Result<Headcount, BackendError> {
        self.inner.take_presence(room, mark).await
    }
}

/// A queue that records each `enqueue` call into the shared log.
struct LoggingQueue(Arc<Mutex<Vec<Step>>>);

#[async_trait]
impl FanoutQueue for LoggingQueue {
    async fn enqueue(&self, jobs: Vec<FanoutJob>) -> Result<(), BackendError> {
        let shards = jobs
            .into_iter()
            .map(|job| match job {
                FanoutJob::Shard(shard) => shard,
                other => panic!("the planner enqueues shard jobs only, got {other:?}"),
            })
            .collect();
        self.0.lock().unwrap().push(Step::Enqueue(shards));
        Ok(())
    }

    async fn enqueue_after(&self, job: FanoutJob, _: Duration) -> Result<(), BackendError> {
        panic!("the planner never delays a job, got {job:?}")
    }
}

/// A room of `n` members, ids `m00000…`; every fourth speaks the planetstack protocol, so
/// the two groups interleave on every page. Returns the store and its log.
async fn logged_room(alpha: &RoomName, n: usize) -> (Arc<LoggingMembers>, Arc<Mutex<Vec<Step>>>) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let store = Arc::new(LoggingMembers {
        inner: roomcast_core::memory::MemoryMembers::default(),
        log: log.clone(),
        fail_at_page: Mutex::new(None),
    });
    for i in 0..n {
        let protocol = if i % 4 == 3 {
            Protocol::Planetstack
        } else {
            Protocol::V1
        };
        let id = conn(&format!("m{i:05}"));
        let member = Member {
            user: UserId::anonymous(&id),
            id,
            protocol,
        };
        store.connect(&member).await.unwrap();
        store.join(alpha, &member).await.unwrap();
    }
    (store, log)
}

fn logging_broadcaster(
    w: &World,
    store: &Arc<LoggingMembers>,
    log: &Arc<Mutex<Vec<Step>>>,
    shard_size: usize,
) -> Broadcaster {
    Broadcaster::new(
        w.rooms.clone(),
        store.clone(),
        Arc::new(LoggingQueue(log.clone())),
        w.poster.clone(),
        w.metrics.clone(),
        config(shard_size),
    )
}

#[tokio::test]
async fn a_large_room_is_enqueued_shard_by_shard_while_it_is_paged() {
    // 1,303 members (978 v1, 325 planetstack), shards of 60, pages of 100 (the clamp's floor):
    // the room is known to be sharded after the first page.
    let (n, shard_size) = (1303, 60);
    let w = World::new();
    let alpha = room("alpha");
    let bg = roomcast_core::protocol::Background::parse(5).unwrap();
    w.rooms
        .commit(&alpha, &Op::ChangeBackground { bg }, &ChangeId::generate())
        .await
        .unwrap();
    let frame_planetstack = w.rooms.get(&alpha).state.to_planetstack();
    let (store, log) = logged_room(&alpha, n).await;
    let except = conn("m00500");
    let job = RoomJob {
        planetstack_state: true,
        except: Some(except.clone()),
        ..room_job(&alpha)
    };
    let report = logging_broadcaster(&w, &store, &log, shard_size)
        .run(&FanoutJob::Room(job.clone()))
        .await
        .unwrap();

    let steps = log.lock().unwrap().clone();
    let planetstack = |id: &ConnectionId| id.as_str()[1..].parse::<usize>().unwrap() % 4 == 3;
    // Replay the log: at every page read, what the planner can still hold is what it
    // has read minus what it has enqueued, per protocol group.
    let (mut read, mut sent) = ([0usize; 2], [0usize; 2]);
    let (mut pages, mut first_enqueue_before_page) = (0, None);
    let mut shards = Vec::new();
    for step in &steps {
        match step {
            Step::Page { limit, ids } => {
                pages += 1;
                for g in 0..2 {
                    assert!(
                        read[g] - sent[g] <= shard_size,
                        "page {pages} read while group {g} held {} unsent targets (> one shard)",
                        read[g] - sent[g]
                    );
                }
                assert!(
                    *limit <= 1000 && ids.len() <= *limit,
                    "{limit} {}",
                    ids.len()
                );
                assert_eq!(*limit, 100, "SHARD_SIZE 60 clamped to pages of 100");
                for id in ids.iter().filter(|id| **id != except) {
                    read[usize::from(planetstack(id))] += 1;
                }
            }
            Step::Enqueue(jobs) => {
                first_enqueue_before_page.get_or_insert(pages + 1);
                assert_eq!(
                    jobs.len(),
                    1,
                    "each shard is enqueued as soon as it is full"
                );
                let shard = &jobs[0];
                assert!(shard.connections.len() <= shard_size);
                let g = usize::from(shard.payload != PAYLOAD);
                sent[g] += shard.connections.len();
                shards.push(shard.clone());
            }
        }
    }
    assert_eq!(pages, n.div_ceil(100));
    assert_eq!(
        first_enqueue_before_page,
        Some(2),
        "the first shard goes out before the second page is read"
    );
    assert_eq!((read, sent), ([977, 325], [977, 325]), "everyone, once");

    // The shards partition the room less `except`; planetstack shards carry the state.
    let mut v1_ids: Vec<ConnectionId> = Vec::new();
    let mut planetstack_ids: Vec<ConnectionId> = Vec::new();
    for shard in &shards {
        assert_eq!((shard.attempt, shard.version), (0, Some(7)));
        if shard.payload == PAYLOAD {
            v1_ids.extend(shard.connections.iter().cloned());
        } else {
            assert_eq!(shard.payload, frame_planetstack);
            planetstack_ids.extend(shard.connections.iter().cloned());
        }
    }
    let expected_planetstack: Vec<ConnectionId> = (0..n)
        .filter(|i| i % 4 == 3)
        .map(|i| conn(&format!("m{i:05}")))
        .collect();
    assert_eq!(sorted(planetstack_ids), expected_planetstack);
    assert_eq!(v1_ids.len(), 977);
    assert!(!v1_ids.contains(&except));
    // Only the last shard of each group is partial: ceil(977/60) + ceil(325/60).
    assert_eq!(shards.len(), 17 + 6);
    assert_eq!((report.targets, report.shards), (1302, 23));
    assert_eq!(*w.metrics.planned.lock().unwrap(), vec![(1302, 23)]);
    assert!(w.poster.delivered().is_empty(), "no posts by the planner");
}

#[tokio::test]
async fn a_page_failure_mid_plan_fails_the_job_and_its_retry_covers_the_whole_room() {
    let w = World::new();
    let alpha = room("alpha");
    let (store, log) = logged_room(&alpha, 1000).await;
    let broadcaster = logging_broadcaster(&w, &store, &log, 100);
    *store.fail_at_page.lock().unwrap() = Some(5);
    let job = FanoutJob::Room(room_job(&alpha));
    assert!(
        broadcaster.run(&job).await.is_err(),
        "the job is retried whole"
    );
    let shards_of = |steps: &[Step]| -> Vec<ConnectionId> {
        steps
            .iter()
            .filter_map(|s| match s {
                Step::Enqueue(jobs) => Some(jobs.iter().flat_map(|j| j.connections.clone())),
                Step::Page { .. } => None,
            })
            .flatten()
            .collect()
    };
    let first = shards_of(&std::mem::take(&mut *log.lock().unwrap()));
    // 4 pages of 100 were read (300 v1 targets): the 3 full v1 shards went out.
    assert_eq!(
        first.len(),
        300,
        "shards enqueued before the failure stay enqueued"
    );

    // The retry (SQS redelivery, the pool's re-queue) plans the whole room again: the
    // members of those shards are targeted twice, and drop the second copy by version.
    *store.fail_at_page.lock().unwrap() = None;
    let report = broadcaster.run(&job).await.unwrap();
    let second = shards_of(&log.lock().unwrap());
    assert_eq!((report.targets, second.len()), (750, 750));
    let twice = first.iter().filter(|id| second.contains(id)).count();
    assert_eq!(twice, 300);
}

// =======================================================================================
// Handler
// =======================================================================================

fn session(id: &str, protocol: Protocol) -> Session {
    Session {
        id: conn(id),
        user: UserId::anonymous(&conn(id)),
        protocol,
        room: RoomName::default_room(),
        access: RoomAccess::Any,
    }
}

fn v1(message: &ServerMessage) -> Value {
    serde_json::from_str(&message.to_v1()).unwrap()
}

fn payload(job: &RoomJob) -> Value {
    serde_json::from_str(&job.payload).unwrap()
}

#[tokio::test]
async fn join_returns_the_ack_and_the_state_and_announces_presence() {
    let w = World::new();
    let h = w.handler();
    let alpha = room("alpha");
    // The room already has a state and a member.
    w.rooms
        .commit(
            &alpha,
            &Op::ChangeBackground {
                bg: roomcast_core::protocol::Background::parse(4).unwrap(),
            },
            &ChangeId::generate(),
        )
        .await
        .unwrap();
    w.members.populate(&alpha, "other", 1, Protocol::V1);

    let me = session("me", Protocol::V1);
    let replies = h
        .message(&me, r#"{"action":"join","room":"alpha","ref":"j1"}"#)
        .await;

    assert_eq!(replies.len(), 3, "{replies:?}");
    assert_eq!(
        v1(&replies[0]),
        json!({"type": "ack", "ref": "j1", "version": 1})
    );
    assert_eq!(
        v1(&replies[1]),
        json!({"type": "state", "room": "alpha", "version": 1, "state": {"bg": 4, "icons": {}},
               "offset": 1, "epoch": w.rooms.inner.epoch().as_str()})
    );
    assert_eq!(
        v1(&replies[2]),
        json!({"type": "presence", "room": "alpha", "members": 2, "users": 2}),
        "the joiner learns the count with its answer"
    );
    assert!(w.members.ids_in(&alpha).contains(&me.id));

    // The room hears it coalesced: no broadcast now, one delayed presence job.
    assert_eq!(w.queue.len(), 0);
    let delayed = w.queue.take_delayed();
    assert_eq!(delayed.len(), 1);
    let (job, delay) = &delayed[0];
    assert!(
        matches!(job, FanoutJob::Presence(p) if p.room == alpha),
        "{job:?}"
    );
    assert_eq!(*delay, Duration::from_secs(1));
    assert_eq!(w.rooms.get(&alpha).version, 1, "joining changes no state");

    // Run, it tells every member the count it reads then.
    w.broadcaster(config(500)).run(job).await.unwrap();
    let mut got: Vec<(ConnectionId, Value)> = w
        .poster
        .delivered()
        .into_iter()
        .map(|(id, p)| (id, serde_json::from_str(&p).unwrap()))
        .collect();
    got.sort_by(|a, b| a.0.cmp(&b.0));
    let presence = json!({"type": "presence", "room": "alpha", "members": 2, "users": 2});
    assert_eq!(
        got,
        vec![
            (me.id.clone(), presence.clone()),
            (conn("other0000"), presence)
        ]
    );
}

#[tokio::test]
async fn join_without_a_ref_returns_only_the_state() {
    let w = World::new();
    let replies = w
        .handler()
        .message(
            &session("me", Protocol::V1),
            r#"{"action":"join","room":"fresh"}"#,
        )
        .await;
    assert_eq!(replies.len(), 2);
    assert_eq!(
        v1(&replies[0]),
        json!({"type": "state", "room": "fresh", "version": 0, "state": {"bg": 0, "icons": {}},
               "offset": 0, "epoch": w.rooms.inner.epoch().as_str()})
    );
    assert_eq!(
        v1(&replies[1]),
        json!({"type": "presence", "room": "fresh", "members": 1, "users": 1})
    );
}

#[tokio::test]
async fn a_mutation_commits_and_enqueues_its_patch() {
    let w = World::new();
    let h = w.handler();
    let me = session("me", Protocol::V1);
    let alpha = room("alpha");

    let replies = h
        .message(
            &me,
            r#"{"action":"addIcon","room":"alpha","icon":{"img":3,"x":400,"y":400},"ref":"r7"}"#,
        )
        .await;

    assert_eq!(replies.len(), 1);
    let created = w
        .rooms
        .get(&alpha)
        .state
        .icons
        .keys()
        .next()
        .cloned()
        .unwrap();
    assert_eq!(
        v1(&replies[0]),
        json!({"type": "ack", "ref": "r7", "version": 1, "id": created.as_str()}),
        "the ack names the icon the server created"
    );
    let stored = w.rooms.get(&alpha);
    assert_eq!(stored.version, 1);
    assert_eq!(stored.state.icons.len(), 1);
    let (id, icon) = stored.state.icons.iter().next().unwrap();
    assert!(
        id.as_str().starts_with("icon") && id.as_str().len() == 31,
        "server-assigned KSUID id"
    );
    assert_eq!((icon.img.get(), icon.x.get(), icon.y.get()), (3, 400, 400));

    let jobs = w.queue.take_room_jobs();
    assert_eq!(jobs.len(), 1);
    let job = &jobs[0];
    assert_eq!(job.room, alpha);
    assert_eq!(job.version, Some(1));
    assert_eq!(job.except, None, "the sender gets the patch too");
    assert!(
        job.planetstack_state,
        "planetstack clients get the new full state"
    );
    assert!(job.created_ms > 0 && job.created_ms <= now_ms());
    assert_eq!(
        payload(job),
        json!({"type": "patch", "room": "alpha", "version": 1,
               "op": {"addIcon": {"id": id.as_str(), "img": 3, "x": 400, "y": 400}},
               "offset": 1, "epoch": w.rooms.inner.epoch().as_str()})
    );

    // The next change is the next version.
    let replies = h
        .message(
            &me,
            r#"{"action":"changeBackground","room":"alpha","bg":9,"ref":8}"#,
        )
        .await;
    assert_eq!(
        v1(&replies[0]),
        json!({"type": "ack", "ref": 8, "version": 2})
    );
    let jobs = w.queue.take_room_jobs();
    assert_eq!(jobs[0].version, Some(2));
    assert_eq!(
        payload(&jobs[0]),
        json!({"type": "patch", "room": "alpha", "version": 2, "op": {"changeBackground": {"bg": 9}},
               "offset": 2, "epoch": w.rooms.inner.epoch().as_str()})
    );

    // Move and delete the icon by its id.
    let frame = format!(
        r#"{{"action":"moveIcon","room":"alpha","icon":{{"id":"{id}","img":4,"x":-1,"y":2}},"ref":"m"}}"#
    );
    let replies = h.message(&me, &frame).await;
    assert_eq!(
        v1(&replies[0]),
        json!({"type": "ack", "ref": "m", "version": 3})
    );
    assert_eq!(
        payload(&w.queue.take_room_jobs()[0])["op"],
        json!({"moveIcon": {"id": id.as_str(), "img": 4, "x": -1, "y": 2}})
    );
    let replies = h
        .message(
            &me,
            &format!(r#"{{"action":"deleteIcon","room":"alpha","id":"{id}"}}"#),
        )
        .await;
    assert!(replies.is_empty(), "no ref, no ack: {replies:?}");
    assert_eq!(
        payload(&w.queue.take_room_jobs()[0])["op"],
        json!({"deleteIcon": {"id": id.as_str()}})
    );
    let stored = w.rooms.get(&alpha);
    assert_eq!(
        (
            stored.version,
            stored.state.icons.len(),
            stored.state.bg.get()
        ),
        (4, 0, 9)
    );
}

#[tokio::test]
async fn moving_an_unknown_icon_is_refused_and_changes_nothing() {
    let w = World::new();
    let h = w.handler();
    let me = session("me", Protocol::V1);
    let alpha = room("alpha");
    h.message(
        &me,
        r#"{"action":"addIcon","room":"alpha","icon":{"img":1,"x":1,"y":1}}"#,
    )
    .await;
    w.queue.take();
    let before = w.rooms.get(&alpha);

    let ghost = "icon0000000000000000000000000Zz";
    let frame = format!(
        r#"{{"action":"moveIcon","room":"alpha","icon":{{"id":"{ghost}","img":1,"x":5,"y":5}},"ref":"r9"}}"#
    );
    let replies = h.message(&me, &frame).await;

    assert_eq!(replies.len(), 1);
    let reply = v1(&replies[0]);
    assert_eq!(reply["type"], "error");
    assert_eq!(reply["code"], "unknown_icon");
    assert_eq!(reply["ref"], "r9");
    assert!(
        reply["message"].as_str().unwrap().contains(ghost),
        "{reply}"
    );
    assert_eq!(w.queue.len(), 0, "nothing enqueued");
    assert_eq!(w.rooms.get(&alpha), before, "state and version unchanged");

    // Deleting it is refused the same way.
    let replies = h
        .message(
            &me,
            &format!(r#"{{"action":"deleteIcon","room":"alpha","id":"{ghost}","ref":3}}"#),
        )
        .await;
    assert_eq!(v1(&replies[0])["code"], "unknown_icon");
    assert_eq!(v1(&replies[0])["ref"], 3);
    assert_eq!(w.queue.len(), 0);
    assert_eq!(w.rooms.get(&alpha), before);
}

#[tokio::test]
async fn a_full_base_refuses_new_icons() {
    let w = World {
        rooms: Arc::new(Rooms::with_cap(2)),
        ..World::new()
    };
    let h = w.handler();
    let me = session("me", Protocol::V1);
    let add = r#"{"action":"addIcon","room":"alpha","icon":{"img":1,"x":1,"y":1},"ref":"a"}"#;
    for version in 1..=2 {
        assert_eq!(v1(&h.message(&me, add).await[0])["version"], version);
    }
    w.queue.take();
    let reply = v1(&h.message(&me, add).await[0]);
    assert_eq!(
        (reply["code"].as_str(), reply["ref"].as_str()),
        (Some("icon_limit"), Some("a"))
    );
    assert_eq!(w.queue.len(), 0);
    assert_eq!(w.rooms.get(&room("alpha")).version, 2);
}

#[tokio::test]
async fn emit_leaves_the_sender_out_by_default() {
    let w = World::new();
    let h = w.handler();
    let me = session("me", Protocol::V1);
    let replies = h
        .message(
            &me,
            r#"{"action":"emit","room":"alpha","event":"chat","data":{"text":"hi"},"ref":"e1"}"#,
        )
        .await;
    assert_eq!(replies.len(), 1);
    assert_eq!(
        v1(&replies[0]),
        json!({"type": "ack", "ref": "e1"}),
        "an emit produces no version"
    );

    let jobs = w.queue.take_room_jobs();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].except, Some(me.id.clone()));
    assert_eq!((jobs[0].version, jobs[0].planetstack_state), (None, false));
    assert_eq!(
        jobs[0].payload,
        format!(
            r#"{{"type":"event","room":"alpha","event":"chat","data":{{"text":"hi"}},"from":"me","offset":1,"epoch":"{}"}}"#,
            w.rooms.inner.epoch()
        )
    );
    assert_eq!(
        w.rooms.get(&room("alpha")),
        RoomState::default(),
        "events are not state"
    );
}

#[tokio::test]
async fn emit_with_except_sender_false_includes_the_sender() {
    let w = World::new();
    let me = session("me", Protocol::V1);
    let replies = w
        .handler()
        .message(
            &me,
            r#"{"action":"emit","room":"alpha","event":"ping","except_sender":false}"#,
        )
        .await;
    assert!(replies.is_empty());
    let jobs = w.queue.take_room_jobs();
    assert_eq!(jobs[0].except, None);
    assert_eq!(payload(&jobs[0])["data"], Value::Null);
    assert_eq!(payload(&jobs[0])["from"], "me");
}

#[tokio::test]
async fn bad_frames_get_an_error_and_touch_nothing() {
    let w = World::new();
    let h = w.handler();
    let me = session("me", Protocol::V1);
    for (frame, code, reference) in [
        ("not json", "invalid_json", Value::Null),
        (r#"["changeBackground",3]"#, "invalid_message", Value::Null),
        (
            r#"{"action":"addIcon","room":"alpha","icon":{"img":99,"x":1,"y":1},"ref":"b"}"#,
            "invalid_image",
            json!("b"),
        ),
        (
            r#"{"action":"join","room":"no good","ref":1}"#,
            "invalid_room",
            json!(1),
        ),
        (
            r#"{"action":"changeBackground","bg":1,"ref":"v1"}"#,
            "missing_field",
            json!("v1"),
        ),
    ] {
        let replies = h.message(&me, frame).await;
        assert_eq!(replies.len(), 1, "{frame}");
        let reply = v1(&replies[0]);
        assert_eq!(reply["type"], "error", "{frame}");
        assert_eq!(reply["code"], code, "{frame}");
        assert_eq!(
            reply.get("ref").cloned().unwrap_or(Value::Null),
            reference,
            "{frame}"
        );
    }
    assert_eq!(w.queue.len(), 0);
    assert!(w.rooms.inner.all().is_empty());
    assert!(w.members.ids_in(&room("alpha")).is_empty());
}

#[tokio::test]
async fn planetstack_clients_act_in_their_connect_room() {
    let w = World::new();
    let h = w.handler();
    let planetstack = Session {
        room: room("base7"),
        ..session("old", Protocol::Planetstack)
    };
    let replies = h
        .message(&planetstack, r#"{"action":"changeBackground","bg":2}"#)
        .await;
    assert!(replies.is_empty(), "{replies:?}");
    assert_eq!(w.rooms.get(&room("base7")).state.bg.get(), 2);
    let jobs = w.queue.take_room_jobs();
    assert_eq!(jobs[0].room, room("base7"));

    let replies = h.message(&planetstack, r#"{"action":"getState"}"#).await;
    assert_eq!(
        replies[0].to_planetstack().unwrap(),
        r#"{"bg":2,"icons":{}}"#
    );

    // A v1 client with the same frame must name its room.
    let replies = h
        .message(&session("new", Protocol::V1), r#"{"action":"getState"}"#)
        .await;
    assert_eq!(v1(&replies[0])["code"], "missing_field");
}

#[tokio::test]
async fn leave_acks_and_announces_only_a_real_departure() {
    let w = World::new();
    let h = w.handler();
    let me = session("me", Protocol::V1);
    let alpha = room("alpha");
    w.members.populate(&alpha, "other", 2, Protocol::V1);
    h.message(&me, r#"{"action":"join","room":"alpha"}"#).await;
    let (join_job, _) = w.queue.take_delayed().remove(0);
    w.broadcaster(config(500)).run(&join_job).await.unwrap();

    let replies = h
        .message(&me, r#"{"action":"leave","room":"alpha","ref":"l"}"#)
        .await;
    assert_eq!(v1(&replies[0]), json!({"type": "ack", "ref": "l"}));
    assert!(!w.members.ids_in(&alpha).contains(&me.id));
    let delayed = w.queue.take_delayed();
    assert_eq!(
        delayed.len(),
        1,
        "the join's job cleared the mark: a new job"
    );
    let (job, delay) = &delayed[0];
    assert!(
        matches!(job, FanoutJob::Presence(p) if p.room == alpha),
        "{job:?}"
    );
    assert_eq!(*delay, Duration::from_secs(1));

    // Leaving again: still acknowledged, nobody to tell.
    let replies = h
        .message(&me, r#"{"action":"leave","room":"alpha","ref":"l2"}"#)
        .await;
    assert_eq!(v1(&replies[0]), json!({"type": "ack", "ref": "l2"}));
    assert_eq!(w.queue.len(), 0);
    assert!(w.queue.take_delayed().is_empty());
}

#[tokio::test]
async fn list_rooms_answers_largest_first() {
    let w = World::new();
    w.members.populate(&room("small"), "s", 1, Protocol::V1);
    w.members.populate(&room("big"), "b", 5, Protocol::V1);
    w.members
        .populate(&room("mid"), "m", 1, Protocol::Planetstack);
    // Two tabs of one user: mid has 3 members but 2 users.
    for id in ["ada1", "ada2"] {
        let ada = Member {
            id: ConnectionId::parse(id).unwrap(),
            protocol: Protocol::V1,
            user: UserId::parse("ada").unwrap(),
        };
        w.members.inner.connect(&ada).await.unwrap();
        w.members.inner.join(&room("mid"), &ada).await.unwrap();
    }
    let h = w.handler();
    let replies = h
        .message(
            &session("me", Protocol::V1),
            r#"{"action":"listRooms","ref":"lr"}"#,
        )
        .await;
    assert_eq!(replies.len(), 2, "{replies:?}");
    assert_eq!(
        v1(&replies[0]),
        json!({"type": "ack", "ref": "lr"}),
        "a ref is always answered"
    );
    assert_eq!(
        v1(&replies[1]),
        json!({"type": "rooms", "rooms": [
            {"room": "big", "members": 5, "users": 5},
            {"room": "mid", "members": 3, "users": 2},
            {"room": "small", "members": 1, "users": 1}
        ]})
    );
    assert_eq!(w.queue.len(), 0);
    let replies = h
        .message(&session("me", Protocol::V1), r#"{"action":"listRooms"}"#)
        .await;
    assert_eq!(replies.len(), 1, "no ref, no ack");
    assert!(matches!(&replies[0], ServerMessage::Rooms { rooms } if rooms.len() == 3));
}

#[tokio::test]
async fn connect_and_disconnect_announce_presence() {
    let w = World::new();
    let h = w.handler();
    let a = Session {
        room: room("lobby"),
        ..session("a", Protocol::V1)
    };
    let owed = h.connect(&a).await.unwrap();
    assert_eq!(
        owed.iter().map(v1).collect::<Vec<_>>(),
        vec![
            json!({"type": "welcome", "id": "a", "user": "anonymous:a", "limits": {
                "maxRooms": 50, "maxEmitBytes": 65536, "maxFrameBytes": 32768,
                "messageRate": 100, "messageBurst": 200, "historySize": 100, "historySeconds": 120}}),
            json!({"type": "presence", "room": "lobby", "members": 1, "users": 1})
        ],
        "the new connection is owed its welcome, then its connect room's count"
    );
    assert!(w.members.is_connected(&a.id));
    assert_eq!(w.members.ids_in(&room("lobby")), vec![a.id.clone()]);
    h.message(&a, r#"{"action":"join","room":"alpha"}"#).await;
    let announced = |w: &World| -> Vec<RoomName> {
        let mut rooms: Vec<RoomName> = w
            .queue
            .take_delayed()
            .into_iter()
            .map(|(job, _)| match job {
                FanoutJob::Presence(p) => p.room,
                other => panic!("a presence job, got {other:?}"),
            })
            .collect();
        rooms.sort();
        rooms
    };
    assert_eq!(announced(&w), vec![room("alpha"), room("lobby")]);
    assert_eq!(w.queue.len(), 0, "no immediate broadcast");

    // Still pending (the jobs have not run): leaving schedules nothing more.
    h.disconnect(&a.id).await.unwrap();
    assert!(!w.members.is_connected(&a.id));
    assert_eq!(announced(&w), Vec::<RoomName>::new());
}

#[tokio::test]
async fn publish_sends_an_event_from_nobody_to_everyone() {
    let w = World::new();
    let request = PublishRequest::parse(r#"{"event":"round","data":{"n":3}}"#).unwrap();
    w.handler().publish(room("alpha"), request).await.unwrap();
    let jobs = w.queue.take_room_jobs();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].except, None);
    assert_eq!(
        jobs[0].payload,
        format!(
            r#"{{"type":"event","room":"alpha","event":"round","data":{{"n":3}},"from":null,"offset":1,"epoch":"{}"}}"#,
            w.rooms.inner.epoch()
        )
    );
}

/// The half of a publish a home runs itself (the AWS broadcaster, reading publish
/// envelopes off its queue): recorded under the given change id (the AWS table records
/// a redelivery once: services/aws/tests/e2e_recovery.rs), and the job to run carries
/// the placed event to the whole room.
#[tokio::test]
async fn a_recorded_publish_returns_the_job_that_carries_it_to_the_whole_room() {
    let w = World::new();
    let request = PublishRequest::parse(r#"{"event":"news","data":{"n":1}}"#).unwrap();
    let change = ChangeId::of("message-1");
    let h = w.handler();
    let (at, job) = h
        .record_publish(&room("alpha"), request, &change)
        .await
        .unwrap();
    let FanoutJob::Room(job) = job else {
        panic!("a room job");
    };
    assert_eq!(
        job.payload,
        format!(
            r#"{{"type":"event","room":"alpha","event":"news","data":{{"n":1}},"from":null,"offset":1,"epoch":"{}"}}"#,
            w.rooms.inner.epoch()
        )
    );
    assert_eq!(
        (job.version, job.except, job.planetstack_state),
        (None, None, false)
    );
    assert!(job.created_ms > 0);
    assert_eq!(w.queue.len(), 0, "the caller runs the job");
    assert_eq!(at.offset, 1);
}

/// A publish over `MAX_EMIT_BYTES` is refused by core itself, in both halves: nothing
/// recorded, nothing enqueued (the gateway answers 413, the broadcaster reports the
/// envelope as failed).
#[tokio::test]
async fn an_oversized_publish_is_refused_and_records_nothing() {
    let w = World::new();
    let h = w
        .handler()
        .with_limits(roomcast_core::abuse::HandlerLimits {
            max_emit_bytes: 8,
            ..Default::default()
        });
    let big = || PublishRequest::parse(r#"{"event":"news","data":"0123456789"}"#).unwrap();
    let refused = h.publish(room("alpha"), big()).await.unwrap_err();
    assert!(
        matches!(&refused, PublishError::Refused(e) if e.code.as_str() == "payload_too_large"),
        "{refused:?}"
    );
    let refused = h
        .record_publish(&room("alpha"), big(), &ChangeId::of("m-1"))
        .await
        .unwrap_err();
    assert!(matches!(refused, PublishError::Refused(_)), "{refused:?}");
    assert_eq!(w.queue.len(), 0);
    // Nothing took an offset: the next publish that fits is the room's first entry.
    let small = PublishRequest::parse(r#"{"event":"news","data":1}"#).unwrap();
    assert_eq!(h.publish(room("alpha"), small).await.unwrap().offset, 1);
}

#[tokio::test]
async fn backend_failures_before_the_commit_are_internal_errors_with_the_ref() {
    let w = World::new();
    let h = w.handler();
    let me = session("me", Protocol::V1);
    let add = r#"{"action":"addIcon","room":"alpha","icon":{"img":1,"x":1,"y":1},"ref":"x"}"#;

    w.rooms.fail.store(true, Ordering::SeqCst);
    let reply = v1(&h.message(&me, add).await[0]);
    assert_eq!(
        (reply["code"].as_str(), reply["ref"].as_str()),
        (Some("internal"), Some("x"))
    );
    assert_eq!(w.queue.len(), 0, "nothing committed, nothing sent");
    w.rooms.fail.store(false, Ordering::SeqCst);

    // Committed, but the queue is down: the change took effect, so it is acked with
    // its version and the new icon's id (an error would make the client add it again).
    w.queue.fail.store(true, Ordering::SeqCst);
    let reply = v1(&h.message(&me, add).await[0]);
    assert_eq!(
        (
            reply["type"].as_str(),
            reply["ref"].as_str(),
            reply["version"].as_u64()
        ),
        (Some("ack"), Some("x"), Some(1)),
        "{reply}"
    );
    assert!(reply["id"].is_string(), "{reply}");
    assert_eq!(w.rooms.get(&room("alpha")).version, 1);
    // An event recorded in the history while the queue is down is acked too.
    let emit = r#"{"action":"emit","room":"alpha","event":"chat","data":1,"ref":"e"}"#;
    let reply = v1(&h.message(&me, emit).await[0]);
    assert_eq!(
        (reply["type"].as_str(), reply["ref"].as_str()),
        (Some("ack"), Some("e")),
        "{reply}"
    );
    w.queue.fail.store(false, Ordering::SeqCst);

    w.members.fail.store(true, Ordering::SeqCst);
    let reply = v1(&h
        .message(&me, r#"{"action":"join","room":"alpha","ref":2}"#)
        .await[0]);
    assert_eq!(
        (reply["code"].as_str(), reply["ref"].as_i64()),
        (Some("internal"), Some(2))
    );
}

#[tokio::test]
async fn concurrent_changes_get_distinct_consecutive_versions() {
    let w = World::new();
    let h = w.handler();
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let h = h.clone();
            tokio::spawn(async move {
                let me = session(&format!("c{i}"), Protocol::V1);
                let frame = format!(r#"{{"action":"addIcon","room":"alpha","icon":{{"img":1,"x":{i},"y":0}},"ref":{i}}}"#);
                h.message(&me, &frame).await
            })
        })
        .collect();
    let mut versions = Vec::new();
    for task in tasks {
        let replies = task.await.unwrap();
        match &replies[..] {
            [
                ServerMessage::Ack {
                    version: Some(v), ..
                },
            ] => versions.push(*v),
            other => panic!("{other:?}"),
        }
    }
    versions.sort_unstable();
    assert_eq!(versions, (1..=20).collect::<Vec<u64>>());
    let mut patched: Vec<u64> = w
        .queue
        .take_room_jobs()
        .iter()
        .map(|j| j.version.unwrap())
        .collect();
    patched.sort_unstable();
    assert_eq!(patched, versions, "one patch per version");
    assert_eq!(w.rooms.get(&room("alpha")).state.icons.len(), 20);
}

// =======================================================================================
// Handler → queue → broadcaster → poster, end to end
// =======================================================================================

#[tokio::test]
async fn a_change_reaches_every_member_in_its_own_protocol() {
    let w = World::new();
    let h = w.handler();
    let alpha = room("alpha");
    let editor = session("editor", Protocol::V1);
    let watcher = session("watcher", Protocol::V1);
    let old = Session {
        room: alpha.clone(),
        ..session("old", Protocol::Planetstack)
    };
    h.connect(&old).await.unwrap();
    h.message(&editor, r#"{"action":"join","room":"alpha"}"#)
        .await;
    h.message(&watcher, r#"{"action":"join","room":"alpha"}"#)
        .await;
    w.queue.take();
    // An emit from the editor, then a change.
    h.message(
        &editor,
        r#"{"action":"emit","room":"alpha","event":"hello","data":1}"#,
    )
    .await;
    h.message(
        &editor,
        r#"{"action":"changeBackground","room":"alpha","bg":6,"ref":"c"}"#,
    )
    .await;

    let b = w.broadcaster(config(8));
    for job in w.queue.take() {
        let report = b.run(&job).await.unwrap();
        assert!(report.retry.is_empty());
    }
    let epoch = w.rooms.inner.epoch();
    let expected_patch = format!(
        r#"{{"type":"patch","room":"alpha","version":1,"op":{{"changeBackground":{{"bg":6}}}},"offset":2,"epoch":"{epoch}"}}"#
    );
    let expected_event = format!(
        r#"{{"type":"event","room":"alpha","event":"hello","data":1,"from":"editor","offset":1,"epoch":"{epoch}"}}"#
    );
    assert_eq!(
        w.poster.payloads_for(&editor.id),
        vec![expected_patch.to_owned()],
        "sender: patch, not its own event"
    );
    assert_eq!(
        w.poster.payloads_for(&watcher.id),
        vec![expected_event.to_owned(), expected_patch.to_owned()]
    );
    assert_eq!(
        w.poster.payloads_for(&old.id),
        vec![r#"{"bg":6,"icons":{}}"#.to_owned()],
        "planetstack client: the new full state only"
    );
    assert_eq!(w.queue.len(), 0);
}

#[tokio::test]
async fn a_change_to_a_large_room_reaches_everyone_through_shards() {
    let w = World::new();
    let h = w.handler();
    let alpha = room("alpha");
    let ids = w.members.populate(&alpha, "c", 100, Protocol::V1);
    h.message(
        &session("c0000", Protocol::V1),
        r#"{"action":"changeBackground","room":"alpha","bg":3}"#,
    )
    .await;

    let b = w.broadcaster(config(16));
    let mut pending = w.queue.take();
    let mut rounds = 0;
    while !pending.is_empty() {
        rounds += 1;
        for job in pending {
            b.run(&job).await.unwrap();
        }
        pending = w.queue.take();
    }
    assert_eq!(rounds, 2, "room job, then its shard jobs");
    let expected = format!(
        r#"{{"type":"patch","room":"alpha","version":1,"op":{{"changeBackground":{{"bg":3}}}},"offset":1,"epoch":"{}"}}"#,
        w.rooms.inner.epoch()
    );
    assert_delivered_once(&w.poster, &ids, &expected);
}

#[tokio::test]
async fn get_state_answers_a_ref_with_an_ack_then_the_state() {
    let w = World::new();
    let h = w.handler();
    let me = session("me", Protocol::V1);
    h.message(
        &me,
        r#"{"action":"changeBackground","room":"alpha","bg":1}"#,
    )
    .await;
    let replies = h
        .message(&me, r#"{"action":"getState","room":"alpha","ref":"g"}"#)
        .await;
    assert_eq!(replies.len(), 2, "{replies:?}");
    assert_eq!(
        v1(&replies[0]),
        json!({"type": "ack", "ref": "g", "version": 1})
    );
    assert!(
        matches!(&replies[1], ServerMessage::State { version: 1, state, .. } if state.bg.get() == 1)
    );

    let replies = h
        .message(&me, r#"{"action":"getState","room":"alpha"}"#)
        .await;
    assert_eq!(replies.len(), 1, "no ref, no ack");
    assert!(matches!(
        &replies[0],
        ServerMessage::State { version: 1, .. }
    ));

    // A planetstack client sees only the state: the planetstack protocol has no ack.
    let planetstack = Session {
        room: room("alpha"),
        ..session("old", Protocol::Planetstack)
    };
    let frames: Vec<String> = h
        .message(&planetstack, r#"{"action":"getState","ref":"g"}"#)
        .await
        .iter()
        .filter_map(|m| m.render(Protocol::Planetstack))
        .collect();
    assert_eq!(frames, vec![r#"{"bg":1,"icons":{}}"#.to_owned()]);
    assert_eq!(
        w.queue.take_room_jobs().len(),
        1,
        "only the change was broadcast"
    );
}
