//! In-memory implementations of core's ports. They never fail and never wait: every
//! `async fn` completes on its first poll, so a fuzz target can drive the real
//! [`Handler`] with `futures::executor::block_on`.

use async_trait::async_trait;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use roomcast_core::Handler;
use roomcast_core::fanout::FanoutJob;
pub use roomcast_core::memory::{MemoryMembers, MemoryRooms};
use roomcast_core::ports::{BackendError, FanoutQueue};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Collects enqueued fan-out jobs in enqueue order; delayed ones (presence) apart,
/// with their delays.
#[derive(Default)]
pub struct RecordingQueue {
    jobs: Mutex<Vec<FanoutJob>>,
    delayed: Mutex<Vec<(FanoutJob, Duration)>>,
}

impl RecordingQueue {
    /// The jobs enqueued since the last call.
    pub fn take(&self) -> Vec<FanoutJob> {
        std::mem::take(&mut *lock(&self.jobs))
    }

    /// The delayed jobs enqueued since the last call, with their delays.
    pub fn take_delayed(&self) -> Vec<(FanoutJob, Duration)> {
        std::mem::take(&mut *lock(&self.delayed))
    }
}

#[async_trait]
impl FanoutQueue for RecordingQueue {
    async fn enqueue(&self, jobs: Vec<FanoutJob>) -> Result<(), BackendError> {
        lock(&self.jobs).extend(jobs);
        Ok(())
    }

    async fn enqueue_after(&self, job: FanoutJob, delay: Duration) -> Result<(), BackendError> {
        lock(&self.delayed).push((job, delay));
        Ok(())
    }
}

/// A handler on fresh in-memory ports, and the ports to inspect.
pub struct World {
    pub handler: Handler,
    pub rooms: Arc<MemoryRooms>,
    pub members: Arc<MemoryMembers>,
    pub queue: Arc<RecordingQueue>,
}

impl World {
    /// Bases hold at most `icon_cap` icons.
    pub fn new(icon_cap: usize) -> Self {
        let rooms = Arc::new(MemoryRooms::new(icon_cap));
        let members = Arc::new(MemoryMembers::default());
        let queue = Arc::new(RecordingQueue::default());
        let handler = Handler::new(rooms.clone(), members.clone(), queue.clone());
        Self {
            handler,
            rooms,
            members,
            queue,
        }
    }
}
