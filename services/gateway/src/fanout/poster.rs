//! `PostToConnection`, locally: queue the frame on the connection's outbound queue.
//!
//! A broadcast's payload is checked as UTF-8 and encoded as a WebSocket frame once,
//! and that frame's bytes are shared by every recipient's queue
//! ([`Poster::try_post_all`]); only `@connections` posts one frame at a time.
//!
//! While no room job waits in the pool's queue and no broadcast committed after this
//! one was queued, it writes straight to its idle recipients' sockets, up to 32 of
//! them per system call ([`crate::ws::batch`], io_uring), and to a recipient the batch
//! cannot lock at once one by one ([`ConnectionHandle::try_push_now`]); otherwise it
//! only queues, so that each
//! connection's frames pile up and go out in one `writev` with the next broadcast's.
//! The backlog decides per broadcast, so a gateway that falls behind returns to
//! batching by itself, and one that keeps up (a room of 10,000 at a game's tick rate,
//! whose shard jobs take tens of milliseconds) writes each frame once, from the
//! fan-out, without waking a task.
//!
//! Once the fan-out is asked for more deliveries a second than its write budget
//! (`ROOMCAST_WRITE_BUDGET`, [`WritePacing`], which counts the connections each
//! delivery goes to), or always with `ROOMCAST_WRITE_DELAY`, every broadcast is queued
//! without waking its connections, and they are woken together after the delay, so
//! each writes the broadcasts of a whole delay in one `writev`. For a room of 10,000
//! at a game's tick rate a write per connection per tick is most of the gateway's CPU
//! (docs/benchmarks.md).
//!
//! [`ConnectionHandle::try_push_now`]: crate::ws::registry::ConnectionHandle::try_push_now

use async_trait::async_trait;
use bytes::Bytes;
use roomcast_core::ports::{BackendError, PostError, Poster};
use roomcast_core::protocol::ConnectionId;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::LocalQueue;
use super::pacing::WritePacing;
use crate::ws::batch;
use crate::ws::registry::{Connections, PushError};
use crate::ws::text_frame;

/// Posts to live sockets through their bounded queues.
pub struct LocalPoster {
    connections: Arc<Connections>,
    /// The pool's queue, whose backlog decides between writing and queueing.
    queue: Arc<LocalQueue>,
    /// How long a broadcast's frames wait before their connections write them.
    pacing: WritePacing,
    /// Whether direct writes go through io_uring, a batch at a time.
    io_uring: bool,
    slow_consumers: AtomicU64,
}

impl LocalPoster {
    /// A poster over `connections`, fed by the pool that drains `queue`, writing as
    /// `pacing` says.
    pub fn new(connections: Arc<Connections>, queue: Arc<LocalQueue>, pacing: WritePacing) -> Self {
        Self {
            connections,
            queue,
            pacing,
            io_uring: true,
            slow_consumers: AtomicU64::new(0),
        }
    }

    /// Write directly with one `send(2)` per member instead of io_uring batches.
    pub fn without_io_uring(mut self) -> Self {
        self.io_uring = false;
        self
    }

    /// Connections this poster found full past the slow-consumer timeout, which closed
    /// them with 1013 (two posts racing on one full queue may both count it).
    pub fn slow_consumers_closed(&self) -> u64 {
        self.slow_consumers.load(Ordering::Relaxed)
    }

    /// How long a broadcast's frames wait now before their connections write them:
    /// zero while the fan-out is under its write budget (and no fixed delay is set).
    pub fn write_delay(&self) -> Duration {
        self.pacing.current()
    }

    /// The connections the fan-out delivered to in the last window (250 ms), which
    /// share the write budget; `None` with a fixed delay or no budget.
    pub fn write_recipients(&self) -> Option<u64> {
        self.pacing.sharing()
    }

    /// Post one frame (also used by `POST /@connections/{id}`).
    pub fn post_now(&self, to: &ConnectionId, payload: Bytes) -> Result<(), PostError> {
        let frame = encode(&payload)?;
        self.push(to, frame)
    }

    /// Queue an encoded frame on `to`'s queue.
    fn push(&self, to: &ConnectionId, frame: Bytes) -> Result<(), PostError> {
        let pushed = self.connections.with(to, |handle| handle.try_push(frame));
        self.pushed(pushed)
    }

    /// Write an encoded frame to `to`'s socket if it is idle, else queue it.
    fn write_or_push(&self, to: &ConnectionId, frame: &Bytes) -> Result<(), PostError> {
        let pushed = self
            .connections
            .with(to, |handle| handle.try_push_now(frame).map(drop));
        self.pushed(pushed)
    }

    /// Write `frame` to each of `to` that is idle, a batch of sends at a time
    /// ([`batch`]), and post it to the others one by one.
    fn write_all_now(&self, to: &[ConnectionId], frame: &Bytes) -> Vec<Result<(), PostError>> {
        let mut results = Vec::with_capacity(to.len());
        for ids in to.chunks(batch::BATCH) {
            let handles: Vec<_> = (0..ids.len())
                .map(|i| {
                    prefetch_ahead(ids, i);
                    self.pacing.written_to(&ids[i]);
                    self.connections.handle(&ids[i])
                })
                .collect();
            let written = batch::write_idle(&handles, frame, self.io_uring);
            for (id, written) in ids.iter().zip(written) {
                results.push(match written {
                    Some(written) => self.pushed(Some(written.map(drop))),
                    None => self.write_or_push(id, frame),
                });
            }
        }
        results
    }

    /// Queue an encoded frame on `to`'s queue without waking it; `to` is added to
    /// `wake` when it must be woken later.
    fn push_later(
        &self,
        to: &ConnectionId,
        frame: Bytes,
        wake: &mut Vec<ConnectionId>,
    ) -> Result<(), PostError> {
        let pushed = self
            .connections
            .with(to, |handle| handle.try_push_later(frame));
        if let Some(Ok(true)) = pushed {
            wake.push(to.clone());
        }
        self.pushed(pushed.map(|r| r.map(drop)))
    }

    /// Wake `ids` after `delay`, on one timer.
    fn wake_later(&self, ids: Vec<ConnectionId>, delay: Duration) {
        if ids.is_empty() {
            return;
        }
        let connections = self.connections.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            for id in &ids {
                connections.with(id, |handle| handle.wake_up());
            }
        });
    }

    fn pushed(&self, pushed: Option<Result<(), PushError>>) -> Result<(), PostError> {
        match pushed.ok_or(PostError::Gone)? {
            Ok(()) => Ok(()),
            Err(PushError::Full) => Err(PostError::Throttled(
                "the client side buffer is full".into(),
            )),
            Err(PushError::SlowConsumer) => {
                self.slow_consumers.fetch_add(1, Ordering::Relaxed);
                Err(PostError::Gone)
            }
            Err(PushError::Closed) => Err(PostError::Gone),
        }
    }
}

/// `post` for each of `to` in order, loading the ids and handles of the next members
/// while the current one is posted to: in a large room each was a cache miss, and the
/// kernel's work for one member's write evicts what the previous ones read.
fn each_prefetched(
    to: &[ConnectionId],
    mut post: impl FnMut(&ConnectionId) -> Result<(), PostError>,
) -> Vec<Result<(), PostError>> {
    to.iter()
        .enumerate()
        .map(|(i, id)| {
            prefetch_ahead(to, i);
            post(id)
        })
        .collect()
}

/// Load the id after next and the next member's handle: what the loop over `to` reads
/// after member `i`.
fn prefetch_ahead(to: &[ConnectionId], i: usize) {
    if let Some(after_next) = to.get(i + 2) {
        after_next.prefetch();
    }
    if let Some(next) = to.get(i + 1) {
        next.prefetch_local();
    }
}

/// The text frame for `payload`, which must be UTF-8 (clients expect JSON text).
fn encode(payload: &[u8]) -> Result<Bytes, PostError> {
    std::str::from_utf8(payload)
        .map_err(|e| PostError::Backend(BackendError::new("payload is not UTF-8", e)))?;
    Ok(text_frame(payload))
}

#[async_trait]
impl Poster for LocalPoster {
    async fn post(&self, to: &ConnectionId, payload: &Bytes) -> Result<(), PostError> {
        self.post_now(to, payload.clone())
    }

    /// Every post is a write or a queue push that never waits: encode once, then
    /// write to each idle socket when the pool has no room job waiting and no later
    /// broadcast was committed, else push; when the pacing delays it, push and wake
    /// the connections after the delay.
    fn try_post_all(
        &self,
        to: &[ConnectionId],
        payload: &Bytes,
        committed_ms: u64,
    ) -> Option<Vec<Result<(), PostError>>> {
        let now_ms = roomcast_core::fanout::now_ms();
        let delay = self.pacing.delay(to.len(), now_ms);
        let delayed = !delay.is_zero();
        let idle = !delayed
            && self.queue.room_jobs_waiting() == 0
            && !self.queue.committed_after(committed_ms);
        let results = match encode(payload) {
            Ok(frame) if delayed => {
                let mut wake = Vec::new();
                let results = each_prefetched(to, |id| {
                    self.pacing.written_to(id);
                    self.push_later(id, frame.clone(), &mut wake)
                });
                self.wake_later(wake, delay);
                results
            }
            Ok(frame) if idle => self.write_all_now(to, &frame),
            Ok(frame) => each_prefetched(to, |id| {
                self.pacing.written_to(id);
                self.push(id, frame.clone())
            }),
            Err(_) => to.iter().map(|_| encode(payload).map(drop)).collect(),
        };
        Some(results)
    }
}
