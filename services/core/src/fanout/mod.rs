//! The fan-out: plan a room job into deliveries or shard jobs, then deliver them.
//!
//! [`Broadcaster::run`] is what every broadcaster worker calls for one job, in the
//! local pool and in the Lambda alike.

mod deliver;
mod job;
mod knobs;
mod planner;
mod retry;

pub use deliver::{Delivery, FanoutConfig};
pub use job::{FanoutJob, PresenceJob, RoomJob, ShardJob, now_ms};
pub use knobs::Knobs;
pub use planner::{Broadcaster, JobReport};
pub use retry::{DEFAULT_JOB_ATTEMPTS, DEFAULT_JOB_RETRY_DELAY, Retry, RetryPolicy};
