//! The local home of the fan-out: an in-process queue, a pool of broadcaster workers
//! running core's planner and deliverer, and a poster that writes to the sockets.

mod pacing;
mod pool;
mod poster;
mod recipients;

pub use pacing::WritePacing;
pub use pool::{LocalQueue, PoolConfig, QueueReceiver, spawn_pool};
pub use poster::LocalPoster;
