//! Live connections and their bounded outbound queues.
//!
//! Every connection has one queue, bounded in frames and in bytes, drained by its own
//! writer task. Fan-out never waits on a socket: a full queue answers the poster the way
//! API Gateway does ("the client side buffer is full"), and a queue that stays full
//! past the slow-consumer timeout gets its connection closed with 1013.

use axum::extract::ws::Utf8Bytes;
use dashmap::DashMap;
use roomcast_core::fanout::now_ms;
use roomcast_core::protocol::{ConnectionId, Protocol};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

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

/// A close the server initiates: code and reason, sent by the writer.
#[derive(Debug, Clone)]
pub struct CloseReason {
    /// WebSocket close code.
    pub code: u16,
    /// Human-readable reason.
    pub reason: &'static str,
}

/// One live connection.
pub struct ConnectionHandle {
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
    tx: mpsc::Sender<Utf8Bytes>,
    queued_bytes: Arc<AtomicUsize>,
    full_since_ms: AtomicU64,
    limits: OutboundLimits,
    close: CancellationToken,
    close_reason: Mutex<Option<CloseReason>>,
}

/// The writer's end of a connection's queue.
pub struct Outbound {
    /// Frames to send, in order.
    pub frames: mpsc::Receiver<Utf8Bytes>,
    queued_bytes: Arc<AtomicUsize>,
}

impl Outbound {
    /// Account for a frame that has left the queue.
    pub fn sent(&self, len: usize) {
        self.queued_bytes.fetch_sub(len, Ordering::AcqRel);
    }
}

impl ConnectionHandle {
    /// A handle and the receiving end its writer drains.
    pub fn new(
        id: ConnectionId,
        protocol: Protocol,
        source_ip: IpAddr,
        user_agent: String,
        limits: OutboundLimits,
    ) -> (Arc<Self>, Outbound) {
        let (tx, frames) = mpsc::channel(limits.frames.max(1));
        let queued_bytes = Arc::new(AtomicUsize::new(0));
        let handle = Arc::new(Self {
            id,
            protocol,
            connected_at: SystemTime::now(),
            source_ip,
            user_agent,
            last_active_ms: AtomicU64::new(now_ms()),
            tx,
            queued_bytes: queued_bytes.clone(),
            full_since_ms: AtomicU64::new(0),
            limits,
            close: CancellationToken::new(),
            close_reason: Mutex::new(None),
        });
        (
            handle,
            Outbound {
                frames,
                queued_bytes,
            },
        )
    }

    /// Queue a fan-out frame without waiting.
    pub fn try_push(&self, frame: Utf8Bytes) -> Result<(), PushError> {
        if self.close.is_cancelled() {
            return Err(PushError::Closed);
        }
        let len = frame.len();
        if self.queued_bytes.load(Ordering::Acquire) + len > self.limits.bytes {
            return Err(self.full());
        }
        match self.tx.try_reserve() {
            Ok(permit) => {
                self.queued_bytes.fetch_add(len, Ordering::AcqRel);
                permit.send(frame);
                self.full_since_ms.store(0, Ordering::Release);
                Ok(())
            }
            Err(mpsc::error::TrySendError::Full(())) => Err(self.full()),
            Err(mpsc::error::TrySendError::Closed(())) => Err(PushError::Closed),
        }
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
            self.close(1013, "slow consumer: outbound queue stayed full");
            PushError::SlowConsumer
        } else {
            PushError::Full
        }
    }

    /// Queue a reply to this connection's own request, waiting for room: a client that
    /// does not read slows only itself.
    pub async fn push(&self, frame: Utf8Bytes) -> Result<(), PushError> {
        let len = frame.len();
        let permit = tokio::select! {
            permit = self.tx.reserve() => permit.map_err(|_| PushError::Closed)?,
            _ = self.close.cancelled() => return Err(PushError::Closed),
        };
        self.queued_bytes.fetch_add(len, Ordering::AcqRel);
        permit.send(frame);
        Ok(())
    }

    /// Ask for the connection to be closed with `code`; the first reason wins.
    pub fn close(&self, code: u16, reason: &'static str) {
        let mut slot = self.close_reason.lock().unwrap_or_else(|e| e.into_inner());
        if slot.is_none() {
            *slot = Some(CloseReason { code, reason });
        }
        self.close.cancel();
    }

    /// Resolves once a close was asked for.
    pub async fn closing(&self) {
        self.close.cancelled().await
    }

    /// The close asked for, if any.
    pub fn close_reason(&self) -> Option<CloseReason> {
        self.close_reason
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Record client activity (for the idle timeout and `lastActiveAt`).
    pub fn touch(&self) {
        self.last_active_ms.store(now_ms(), Ordering::Release);
    }

    /// When the client last sent anything.
    pub fn last_active(&self) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_millis(self.last_active_ms.load(Ordering::Acquire))
    }
}

/// All live connections by id.
#[derive(Default)]
pub struct Connections {
    map: DashMap<ConnectionId, Arc<ConnectionHandle>>,
}

impl Connections {
    /// Add a connection.
    pub fn insert(&self, handle: Arc<ConnectionHandle>) {
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

    /// How many are live.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether none are.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}
