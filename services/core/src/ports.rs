//! Ports: the narrow traits core needs from the outside world.
//!
//! Each home implements them its own way: the local gateway with an embedded database,
//! an in-process queue and its sockets; AWS with DynamoDB, SQS and
//! ApiGatewayManagementApi. Core only ever sees these traits.

use async_trait::async_trait;
use bytes::Bytes;
use std::time::Duration;

use crate::fanout::FanoutJob;
use crate::history::{ChangeId, History};
use crate::protocol::{
    ConnectionId, Position, Protocol, RoomName, RoomSummary, ServerMessage, UserCount, UserId,
};
use crate::state::{ApplyError, Op, RoomState};

/// A failure of the backing service (I/O, network, throttling beyond retries).
/// It keeps its source so logs show the real cause.
#[derive(Debug, thiserror::Error)]
#[error("{context}")]
pub struct BackendError {
    /// What was being done.
    pub context: String,
    /// The underlying error.
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

impl BackendError {
    /// Wrap `source` with what was being done.
    pub fn new(
        context: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self {
            context: context.into(),
            source: source.into(),
        }
    }
}

/// Why a commit did not happen.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    /// The op does not apply to the current state (unknown icon, full base).
    #[error(transparent)]
    Rejected(#[from] ApplyError),
    /// The store failed; the change may not be assumed committed.
    #[error(transparent)]
    Backend(#[from] BackendError),
}

/// A room's state with the history position it is current to.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// The state and its version.
    pub state: RoomState,
    /// The last history entry the state includes.
    pub at: Position,
}

/// What a commit produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Committed {
    /// The room's new version.
    pub version: u64,
    /// The patch's place in the room's history.
    pub at: Position,
}

/// Durable per-room game state, and the room's history of what it broadcast (see
/// [`crate::history`]): one port, because a patch and its history entry are one write.
#[async_trait]
pub trait RoomStore: Send + Sync {
    /// The room's current state and history head, read together; a room never
    /// written is version 0, empty, at offset 0.
    async fn load(&self, room: &RoomName) -> Result<Snapshot, BackendError>;

    /// Apply one op atomically and durably, touching only what the op touches, and
    /// record its `patch` as the room's next history entry in the same step. Returns
    /// the new version and the entry's position. Concurrent commits never lose each
    /// other; the same `change` committed twice (a retried request) is applied once.
    async fn commit(
        &self,
        room: &RoomName,
        op: &Op,
        change: &ChangeId,
    ) -> Result<Committed, CommitError>;

    /// Record an `event` (without a position) as the room's next history entry and
    /// return its position; the same `change` appended twice is recorded once.
    async fn append(
        &self,
        room: &RoomName,
        event: &ServerMessage,
        change: &ChangeId,
    ) -> Result<Position, BackendError>;

    /// The room's history head and the entries it still holds after offset `after`,
    /// in offset order (at most the policy's size).
    async fn history(&self, room: &RoomName, after: u64) -> Result<History, BackendError>;
}

/// A connection as the membership store knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Its id.
    pub id: ConnectionId,
    /// What it speaks, which decides the frames it gets.
    pub protocol: Protocol,
    /// Whose it is (presence counts users as well as connections).
    pub user: UserId,
}

/// How many are in a room: connections, and distinct users among them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Headcount {
    /// Connections.
    pub members: u32,
    /// Distinct users (one user's tabs and devices count once).
    pub users: u32,
}

/// A room a connection left, with the room's new headcount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Left {
    /// The room.
    pub room: RoomName,
    /// Its headcount after the leave.
    pub count: Headcount,
}

/// One page of a room's users.
#[derive(Debug, Clone, Default)]
pub struct UsersPage {
    /// Users in this page, in user order.
    pub users: Vec<UserCount>,
    /// The last user of this page, when more follow: the next page starts after it.
    pub next: Option<UserId>,
}

impl MembersPage {
    /// An empty last page.
    pub fn empty() -> Self {
        Self::default()
    }
}

/// One page of a room's members.
#[derive(Debug, Clone, Default)]
pub struct MembersPage {
    /// Members in this page.
    pub members: Vec<Member>,
    /// Where the next page starts, if there is one.
    pub next: Option<String>,
}

/// Which connections exist and which rooms each is in.
#[async_trait]
pub trait MembershipStore: Send + Sync {
    /// Record a new connection.
    async fn connect(&self, member: &Member) -> Result<(), BackendError>;

    /// Forget a connection and all its memberships; returns the rooms it left with
    /// their new headcounts.
    async fn disconnect(&self, id: &ConnectionId) -> Result<Vec<Left>, BackendError>;

    /// Add a connection to a room (idempotent); returns the room's headcount.
    async fn join(&self, room: &RoomName, member: &Member) -> Result<Headcount, BackendError>;

    /// [`MembershipStore::join`], unless the connection is already in `max_rooms`
    /// other rooms: then `Ok(None)` and nothing is stored. Joining a room it is in
    /// already is never refused. The check and the join must be one atomic step.
    ///
    /// The default cannot count a connection's rooms and does not limit; both homes'
    /// stores override it.
    async fn join_within(
        &self,
        room: &RoomName,
        member: &Member,
        max_rooms: usize,
    ) -> Result<Option<Headcount>, BackendError> {
        let _ = max_rooms;
        self.join(room, member).await.map(Some)
    }

    /// Remove a connection from a room; returns the new headcount, or `None` when it
    /// was not a member.
    async fn leave(
        &self,
        room: &RoomName,
        id: &ConnectionId,
    ) -> Result<Option<Headcount>, BackendError>;

    /// A page of the room's members, at most `limit`, starting at `cursor`.
    async fn members(
        &self,
        room: &RoomName,
        cursor: Option<String>,
        limit: usize,
    ) -> Result<MembersPage, BackendError>;

    /// A page of the room's users with their connection counts, at most `limit`, in
    /// user order, starting after user `after` (`listMembers`).
    async fn users(
        &self,
        room: &RoomName,
        after: Option<UserId>,
        limit: usize,
    ) -> Result<UsersPage, BackendError>;

    /// The rooms with the most members, at most `limit`, largest first.
    async fn rooms(&self, limit: usize) -> Result<Vec<RoomSummary>, BackendError>;

    /// Mark `room`'s presence as pending with `mark`, unless a mark at or after
    /// `stale_before` is there already (marks order by time:
    /// [`crate::presence::mark_at`]). `true`: this call set it, and
    /// the caller schedules the presence job. One atomic step (a conditional write), so
    /// of many concurrent changes exactly one schedules the job. See
    /// [`crate::presence`].
    async fn mark_presence(
        &self,
        room: &RoomName,
        mark: u64,
        stale_before: u64,
    ) -> Result<bool, BackendError>;

    /// Clear `room`'s pending mark if it is still `mark`, and return the room's
    /// headcount as of that clear. A change counted after the clear finds no mark and
    /// schedules the next job; one counted before it is in the count returned. Run
    /// again for the same mark (a redelivered job), it clears nothing and still returns
    /// the count.
    async fn take_presence(&self, room: &RoomName, mark: u64) -> Result<Headcount, BackendError>;
}

/// Where fan-out jobs wait for the broadcaster pool.
#[async_trait]
pub trait FanoutQueue: Send + Sync {
    /// Enqueue jobs (SQS: `SendMessageBatch` in tens). All or an error.
    async fn enqueue(&self, jobs: Vec<FanoutJob>) -> Result<(), BackendError>;

    /// Enqueue one job that becomes visible to the pool only after `delay` (SQS:
    /// `DelaySeconds`, whole seconds rounded up, at most 15 minutes; locally a timer).
    async fn enqueue_after(&self, job: FanoutJob, delay: Duration) -> Result<(), BackendError>;
}

/// Why a post did not arrive.
#[derive(Debug, thiserror::Error)]
pub enum PostError {
    /// The connection is gone (HTTP 410): clean it up, never retry.
    #[error("connection is gone")]
    Gone,
    /// Throttled or the client's buffer is full (429 / `LimitExceededException`):
    /// back off and retry.
    #[error("throttled: {0}")]
    Throttled(String),
    /// Anything else; retried a few times, then reported as failed.
    #[error(transparent)]
    Backend(#[from] BackendError),
}

/// Sends one frame to one connection (`PostToConnection`).
#[async_trait]
pub trait Poster: Send + Sync {
    /// Post `payload` (a UTF-8 JSON frame) to `to`.
    async fn post(&self, to: &ConnectionId, payload: &Bytes) -> Result<(), PostError>;

    /// Post `payload` to every connection in `to` at once, if this poster's posts
    /// complete without waiting (the local gateway: a push onto each connection's
    /// queue): one result per connection, in order. Lets the poster encode the frame
    /// once for the whole batch, and spares the deliverer a future per post. Only the
    /// posts that fail are retried, one by one. `None` (the default; AWS): the deliverer
    /// posts one by one, `POST_CONCURRENCY` at a time.
    ///
    /// `committed_ms` is when the broadcast was committed (Unix ms): a poster that
    /// can write at once or batch may batch when a later broadcast already waits.
    fn try_post_all(
        &self,
        to: &[ConnectionId],
        payload: &Bytes,
        committed_ms: u64,
    ) -> Option<Vec<Result<(), PostError>>> {
        let _ = (to, payload, committed_ms);
        None
    }
}

/// What happened to one post, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PostOutcome {
    /// Delivered.
    Delivered,
    /// The connection was gone and has been cleaned up.
    Gone,
    /// Throttled once (it will be retried).
    Throttled,
    /// Gave up after retries.
    Failed,
}

/// Observes the fan-out, so each home can export metrics its own way.
pub trait FanoutMetrics: Send + Sync {
    /// A room job was planned into `shards` shard jobs (0: delivered in place).
    fn planned(&self, _members: usize, _shards: usize) {}
    /// A post finished (or was throttled); `since_commit` is the time since the job
    /// was created, i.e. the delivery latency a client sees.
    fn post(&self, _outcome: PostOutcome, _since_commit: Duration) {}
    /// `count` posts with the same outcome and latency (a batch).
    fn posts(&self, outcome: PostOutcome, count: usize, since_commit: Duration) {
        for _ in 0..count {
            self.post(outcome, since_commit);
        }
    }
}

/// Metrics that go nowhere.
pub struct NoMetrics;
impl FanoutMetrics for NoMetrics {}
