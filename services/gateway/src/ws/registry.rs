//! Live connections and their bounded outbound queues.
//!
//! Every connection has one queue of encoded frames, bounded in frames and in bytes,
//! drained by the connection's own task. Fan-out never waits on a socket: a full queue
//! answers the poster the way API Gateway does ("the client side buffer is full"), and
//! a queue that stays full past the slow-consumer timeout gets its connection closed
//! with 1013. A push wakes the connection only when its queue was empty, so frames that
//! pile up while it writes go out together in one vectored write.
//!
//! When the fan-out has nothing else waiting, a frame for a connection with nothing
//! queued, nothing being written and no request being handled is written to its
//! socket at once by the fan-out itself ([`ConnectionHandle::try_push_now`], or a
//! batch of such connections locked together, `ws::batch`):
//! one non-blocking write under the queue's lock instead of a queue push, a task wake-up,
//! a poll and two more locks. Under load the fan-out queues instead, because the
//! delay of the wake-up is what lets a connection's frames pile up into one `writev`
//! (docs/benchmarks.md: writing every frame directly cut throughput up to 4×).

use axum::extract::ws::close_code;
use bytes::Bytes;
use dashmap::DashMap;
use roomcast_core::fanout::now_ms;
use roomcast_core::protocol::{ConnectionId, Protocol};
use std::any::Any;
use std::collections::VecDeque;
use std::io;
use std::net::IpAddr;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, SystemTime};
use tokio::net::TcpStream;
use tokio::sync::Notify;

pub mod census;

/// Bounds of each connection's outbound queue.
#[derive(Debug, Clone, Copy)]
pub struct OutboundLimits {
    /// Frames queued at most.
    pub frames: usize,
    /// Bytes queued at most.
    pub bytes: usize,
    /// How long a queue may stay full before its connection is closed (1013).
    pub slow_consumer_timeout: Duration,
}

/// Why a frame was not queued.
#[derive(Debug, PartialEq, Eq)]
pub enum PushError {
    /// The queue is full: try again later.
    Full,
    /// The queue stayed full too long; the connection is being closed.
    SlowConsumer,
    /// The connection is closed.
    Closed,
}

/// A close the server initiates: code and reason, sent by the connection's task.
#[derive(Debug, Clone)]
pub struct CloseReason {
    /// WebSocket close code.
    pub code: u16,
    /// Human-readable reason.
    pub reason: &'static str,
}

/// The queue proper; `frames`/`bytes` also count what the connection took out and has
/// not yet written, so the bounds hold for everything between a post and the socket.
///
/// `repr(C)`, what a direct write reads first: with the handle's reference counts and
/// lock these fields fill the first 64 bytes of the handle's allocation, so a delivery
/// to an idle connection of a large room reads those (see [`ConnectionHandle`]), not
/// three lines scattered over two allocations.
#[derive(Default)]
#[repr(C)]
struct Queue {
    /// The socket, while the fan-out may write to it directly: from the greeting on,
    /// until a close is asked for or the closing handshake begins.
    direct: Option<Direct>,
    frames: usize,
    /// A request is being handled: its replies go before what is broadcast meanwhile,
    /// so nothing is written around them.
    hold: bool,
    /// The first waiting frame is the rest of one the fan-out began writing: the
    /// stream stays framed only if it is finished first, even when closing.
    begun: bool,
    waiting: VecDeque<Bytes>,
    bytes: usize,
    close: Option<CloseReason>,
}

/// Bytes of a [`ConnectionHandle`] a direct write reads: the mark, the lock, and the
/// queue up to its flags.
#[cfg(test)]
pub(super) const HOT_BYTES: usize = std::mem::offset_of!(ConnectionHandle, queue)
    + (size_of::<Mutex<Queue>>() - size_of::<Queue>())
    + std::mem::offset_of!(Queue, begun)
    + 1;

/// The socket the fan-out writes to directly, with its descriptor beside the pointer:
/// reading it through the stream was a cache miss per delivery (69% of
/// `try_push_now`'s samples at 1,000 × 10 msg/s).
struct Direct {
    fd: RawFd,
    stream: Arc<TcpStream>,
}

impl Direct {
    fn new(stream: Arc<TcpStream>) -> Self {
        Self {
            fd: stream.as_raw_fd(),
            stream,
        }
    }

    /// One non-blocking `send(2)`.
    fn send(&self, frame: &[u8]) -> io::Result<usize> {
        // SAFETY: `fd` is `stream`'s descriptor, which `self` keeps open for the
        // borrow's lifetime: it is closed only when the last `Arc` of the stream drops.
        let fd = unsafe { BorrowedFd::borrow_raw(self.fd) };
        debug_assert_eq!(fd.as_raw_fd(), self.stream.as_raw_fd());
        socket2::SockRef::from(&fd).send(frame)
    }
}

impl Queue {
    /// The socket, if a frame may be written to it now ahead of nothing (a close
    /// asked for has taken it away).
    fn idle_socket(&self) -> Option<&Direct> {
        let idle = self.frames == 0 && !self.hold && !self.begun;
        self.direct.as_ref().filter(|_| idle)
    }

    /// Move the waiting frames into `into`; whether the first was begun.
    fn take_into(&mut self, into: &mut VecDeque<Bytes>) -> Option<bool> {
        if self.waiting.is_empty() {
            return None;
        }
        std::mem::swap(&mut self.waiting, into);
        Some(std::mem::take(&mut self.begun))
    }
}

/// One live connection.
///
/// `repr(C)`: the slow-consumer mark, the lock and the fields of the queue a direct
/// write reads come first, right after the `Arc`'s reference counts, so that the
/// whole of a delivery to an idle connection (the upgrade of the id's weak handle,
/// the lock, the idle check, the socket, the mark) reads the first 64 bytes of the
/// handle's allocation, which the fan-out loads ahead of time
/// ([`ConnectionId::prefetch_local`]). In a large room each was a miss otherwise.
#[repr(C)]
pub struct ConnectionHandle {
    full_since_ms: AtomicU64,
    queue: Mutex<Queue>,
    /// Connection id.
    pub id: ConnectionId,
    /// Negotiated protocol.
    pub protocol: Protocol,
    /// When it connected.
    pub connected_at: SystemTime,
    /// Peer address.
    pub source_ip: IpAddr,
    /// Peer `User-Agent`.
    pub user_agent: String,
    last_active_ms: AtomicU64,
    /// Wakes the connection's task: frames to write, or a close.
    wake: Notify,
    limits: OutboundLimits,
}

impl ConnectionHandle {
    /// A handle whose queue the connection's task drains.
    pub fn new(
        id: ConnectionId,
        protocol: Protocol,
        source_ip: IpAddr,
        user_agent: String,
        limits: OutboundLimits,
    ) -> Arc<Self> {
        Arc::new(Self {
            full_since_ms: AtomicU64::new(0),
            queue: Mutex::new(Queue::default()),
            id,
            protocol,
            connected_at: SystemTime::now(),
            source_ip,
            user_agent,
            last_active_ms: AtomicU64::new(now_ms()),
            wake: Notify::new(),
            limits: OutboundLimits {
                frames: limits.frames.max(1),
                ..limits
            },
        })
    }

    fn queue(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queue an encoded frame for fan-out without waiting.
    pub fn try_push(&self, frame: Bytes) -> Result<(), PushError> {
        self.pushed(self.enqueue(frame))
    }

    /// [`Self::try_push`], but written to the socket at once when the connection is
    /// idle (see the module's doc); `Ok(true)` when it was. By reference: a frame
    /// written at once is never cloned (one shared count less per delivery).
    ///
    /// The write is a plain `send(2)` on the socket's fd, not tokio's `try_write`:
    /// reading tokio's readiness for it is a cache miss per delivery in a large room
    /// (84% of this function's samples at 1,000 × 10 msg/s). Tokio's readiness only
    /// gates tokio's own writes: a `WouldBlock` here queues the frame, and the task's
    /// own write then learns from the socket that it is full and waits for it.
    pub fn try_push_now(&self, frame: &Bytes) -> Result<bool, PushError> {
        let q = self.queue();
        match q.idle_socket() {
            Some(socket) => {
                let written = socket.send(frame);
                Idle { handle: self, q }.wrote(frame, written)
            }
            None => self.queue_frame(q, frame),
        }
    }

    /// The connection locked, if its lock is free and it is idle (as
    /// [`Self::try_push_now`] means it), for a write its caller makes: the fan-out's
    /// batch of writes ([`super::batch`]) holds a few of these at once, so it never
    /// waits for a lock, which another batch may hold.
    pub(super) fn try_lock_idle(&self) -> Option<Idle<'_>> {
        let q = match self.queue.try_lock() {
            Ok(q) => q,
            Err(std::sync::TryLockError::Poisoned(e)) => e.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => return None,
        };
        q.idle_socket()?;
        Some(Idle { handle: self, q })
    }

    /// Queue `frame` under `q`, waking the connection if its queue was empty.
    fn queue_frame(&self, q: MutexGuard<'_, Queue>, frame: &Bytes) -> Result<bool, PushError> {
        let mut at = usize::MAX;
        self.pushed(self.enqueue_in(q, frame.clone(), &mut at, true).map(drop))
            .map(|()| false)
    }

    /// [`Self::try_push`] without waking the connection: `Ok(true)` when its queue was
    /// empty, and the caller must [`Self::wake_up`] it later. Frames pushed meanwhile
    /// join the same `writev` (`ROOMCAST_WRITE_DELAY`, [`crate::fanout::LocalPoster`]).
    pub fn try_push_later(&self, frame: Bytes) -> Result<bool, PushError> {
        let mut at = usize::MAX;
        let queued = self.enqueue_in(self.queue(), frame, &mut at, false);
        let was_empty = matches!(queued, Ok(true));
        self.pushed(queued.map(drop)).map(|()| was_empty)
    }

    /// Wake the connection to write what [`Self::try_push_later`] queued.
    pub fn wake_up(&self) {
        self.wake.notify_one();
    }

    fn pushed(&self, queued: Result<(), Option<Bytes>>) -> Result<(), PushError> {
        match queued {
            Ok(()) => {
                if self.full_since_ms.load(Ordering::Relaxed) != 0 {
                    self.full_since_ms.store(0, Ordering::Release);
                }
                Ok(())
            }
            Err(None) => Err(PushError::Closed),
            Err(Some(_)) => Err(self.full()),
        }
    }

    /// Let the fan-out write to `socket` directly while the connection is idle.
    pub(super) fn attach(&self, socket: Arc<TcpStream>) {
        let mut q = self.queue();
        if q.close.is_none() {
            q.direct = Some(Direct::new(socket));
        }
    }

    /// No more direct writes: the closing handshake begins, or the task ends.
    pub(super) fn detach(&self) {
        self.queue().direct = None;
    }

    /// Queue a frame of the connection's own (a reply, a pong). `Err(Some(frame))`:
    /// the queue is full and the caller must write some out first; `Err(None)`: closed.
    pub(super) fn enqueue(&self, frame: Bytes) -> Result<(), Option<Bytes>> {
        let mut end = usize::MAX;
        self.enqueue_at(frame, &mut end)
    }

    /// Where a frame queued now would go: the session takes this before it hands a
    /// request to the handler, and queues the replies here ([`Self::enqueue_at`]).
    /// Until [`Self::release`], broadcasts are queued behind them, never written
    /// around them.
    pub(super) fn position(&self) -> usize {
        let mut q = self.queue();
        q.hold = true;
        q.waiting.len()
    }

    /// The request's replies are queued: direct writes may resume.
    pub(super) fn release(&self) {
        self.queue().hold = false;
    }

    /// [`Self::enqueue`], but at `at` (clamped to the queue's end), and `at` moves past
    /// it: replies queued at the position taken before their request was handled go
    /// out before the broadcasts that arrived meanwhile. So a `join` answer (its state,
    /// or the frames it recovered) reaches the client before any patch or event of the
    /// room it just joined, and an `ack` before the patch of its own change.
    pub(super) fn enqueue_at(&self, frame: Bytes, at: &mut usize) -> Result<(), Option<Bytes>> {
        self.enqueue_in(self.queue(), frame, at, true).map(drop)
    }

    /// Queue `frame` at `at`; `Ok(true)` when the queue was empty, which wakes the
    /// connection if `wake`.
    fn enqueue_in(
        &self,
        mut q: MutexGuard<'_, Queue>,
        frame: Bytes,
        at: &mut usize,
        wake: bool,
    ) -> Result<bool, Option<Bytes>> {
        if q.close.is_some() {
            return Err(None);
        }
        if q.frames >= self.limits.frames || q.bytes + frame.len() > self.limits.bytes {
            return Err(Some(frame));
        }
        let was_empty = q.waiting.is_empty();
        q.frames += 1;
        q.bytes += frame.len();
        // The rest of a frame the fan-out began writing stays first.
        let first = usize::from(q.begun).min(q.waiting.len());
        *at = (*at).min(q.waiting.len()).max(first);
        q.waiting.insert(*at, frame);
        *at += 1;
        drop(q);
        if was_empty && wake {
            self.wake.notify_one();
        }
        Ok(was_empty)
    }

    /// Move every waiting frame into `into` (which is empty); `None` if there were
    /// none, else whether the first is the rest of a frame the fan-out began writing.
    pub(super) fn take(&self, into: &mut VecDeque<Bytes>) -> Option<bool> {
        self.queue().take_into(into)
    }

    /// `frames` frames of `bytes` bytes in all have been written to the socket.
    pub(super) fn sent(&self, frames: usize, bytes: usize) {
        let mut q = self.queue();
        q.frames -= frames;
        q.bytes -= bytes;
    }

    /// [`Self::sent`], then [`Self::take`], under one lock.
    pub(super) fn sent_then_take(
        &self,
        frames: usize,
        bytes: usize,
        into: &mut VecDeque<Bytes>,
    ) -> Option<bool> {
        let mut q = self.queue();
        q.frames -= frames;
        q.bytes -= bytes;
        q.take_into(into)
    }

    /// Resolves when the queue has frames or a close was asked for.
    pub(super) async fn woken(&self) {
        self.wake.notified().await
    }

    /// The queue is full: remember since when, and give up on the connection once it
    /// has been full for longer than the slow-consumer timeout.
    fn full(&self) -> PushError {
        let now = now_ms();
        let since =
            match self
                .full_since_ms
                .compare_exchange(0, now, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => now,
                Err(since) => since,
            };
        if Duration::from_millis(now.saturating_sub(since)) >= self.limits.slow_consumer_timeout {
            self.close(
                close_code::AGAIN,
                "slow consumer: outbound queue stayed full",
            );
            PushError::SlowConsumer
        } else {
            PushError::Full
        }
    }

    /// Ask for the connection to be closed with `code`; the first reason wins.
    pub fn close(&self, code: u16, reason: &'static str) {
        let mut q = self.queue();
        if q.close.is_none() {
            q.close = Some(CloseReason { code, reason });
            q.direct = None;
        }
        drop(q);
        self.wake.notify_one();
    }

    /// The close asked for, if any.
    pub fn close_reason(&self) -> Option<CloseReason> {
        self.queue().close.clone()
    }

    /// Record client activity (for `lastActiveAt`).
    pub fn touch(&self) {
        self.last_active_ms.store(now_ms(), Ordering::Release);
    }

    /// When the client last sent anything.
    pub fn last_active(&self) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_millis(self.last_active_ms.load(Ordering::Acquire))
    }
}

/// An idle connection, locked: nothing queued, nothing being written, no request
/// being handled, a socket to write to. Whatever is written to it goes out before
/// anything queued after, because nothing can be queued until it is settled
/// ([`Idle::wrote`]).
pub(super) struct Idle<'a> {
    handle: &'a ConnectionHandle,
    q: MutexGuard<'a, Queue>,
}

impl Idle<'_> {
    /// The socket: an idle connection has one ([`Queue::idle_socket`]), and only a
    /// holder of the lock takes it away.
    fn socket(&self) -> &Direct {
        self.q
            .direct
            .as_ref()
            .expect("a connection locked as idle keeps its socket")
    }

    /// The socket's descriptor, open while `self` lives: the queue's `Direct` keeps
    /// its stream.
    pub(super) fn fd(&self) -> RawFd {
        self.socket().fd
    }

    /// One non-blocking `send(2)` of `frame` to the socket.
    pub(super) fn send(&self, frame: &[u8]) -> io::Result<usize> {
        self.socket().send(frame)
    }

    /// Settle a write of `frame` to the socket that returned `written`: `Ok(true)` when
    /// the socket took it all. When it took part, the rest goes first, written by the
    /// connection's task, whatever the queue's bounds (it is empty, and the frame was
    /// taken). When it took nothing (`WouldBlock`) or failed, the frame is queued, and
    /// the task's own write finds out what the socket says.
    pub(super) fn wrote(
        self,
        frame: &Bytes,
        written: io::Result<usize>,
    ) -> Result<bool, PushError> {
        let Idle { handle, mut q } = self;
        match written {
            Ok(n) if n == frame.len() => {
                drop(q);
                handle.pushed(Ok(())).map(|()| true)
            }
            Ok(n) if n > 0 => {
                let rest = frame.slice(n..);
                q.frames += 1;
                q.bytes += rest.len();
                q.waiting.push_back(rest);
                q.begun = true;
                drop(q);
                handle.wake.notify_one();
                handle.pushed(Ok(())).map(|()| false)
            }
            Ok(_) | Err(_) => handle.queue_frame(q, frame),
        }
    }
}

/// All live connections by id. A delivery to an id this gateway minted skips the map:
/// the id carries its handle ([`ConnectionId::local`]), attached at insert. The map
/// serves ids parsed from outside (`@connections`, the admin API), hashed with
/// foldhash rather than SipHash: ids are server-generated, not chosen by clients.
#[derive(Default)]
pub struct Connections {
    map: DashMap<ConnectionId, Arc<ConnectionHandle>, foldhash::fast::RandomState>,
}

impl Connections {
    /// Add a connection.
    pub fn insert(&self, handle: Arc<ConnectionHandle>) {
        let local: Weak<dyn Any + Send + Sync> = Arc::downgrade(&handle) as _;
        handle.id.attach_local(local);
        self.map.insert(handle.id.clone(), handle);
    }

    /// Remove a connection.
    pub fn remove(&self, id: &ConnectionId) {
        self.map.remove(id);
    }

    /// Look a connection up.
    pub fn get(&self, id: &ConnectionId) -> Option<Arc<ConnectionHandle>> {
        self.map.get(id).map(|h| h.clone())
    }

    /// A connection's handle: the id's own when it has one, else the map's.
    pub fn handle(&self, id: &ConnectionId) -> Option<Arc<ConnectionHandle>> {
        id.local::<ConnectionHandle>().or_else(|| self.get(id))
    }

    /// Run `f` on a connection (one delivery). Through the id's own handle when it has
    /// one: a connection that ended is closed before it leaves the map, so its handle
    /// refuses the push just as the map would not find it.
    pub fn with<T>(&self, id: &ConnectionId, f: impl FnOnce(&ConnectionHandle) -> T) -> Option<T> {
        if let Some(h) = id.local::<ConnectionHandle>() {
            return Some(f(&h));
        }
        self.map.get(id).map(|h| f(&h))
    }

    /// How many are live.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether none are.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}
