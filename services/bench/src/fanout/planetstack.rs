//! Planetstack's two ways of notifying a room, on the same SDK client and endpoint:
//!
//! - **one by one**: each `PostToConnection` awaited before the next (what planetstack's
//!   article describes);
//! - **all at once**: every post started together and awaited with `join_all`, no
//!   concurrency bound, no retry (what planetstack's code does with `Promise.all`).
//!
//! Neither retries: a throttled or failed post is a member left without the update,
//! and it is counted as such.

use futures::future::join_all;
use roomcast_aws::poster::ApiGwPoster;
use roomcast_core::ports::{PostError, Poster};
use roomcast_core::protocol::ConnectionId;
use std::time::{Duration, Instant};

/// The two planetstack approaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Approach {
    OneByOne,
    AllAtOnce,
}

impl Approach {
    pub fn label(self) -> &'static str {
        match self {
            Approach::OneByOne => "planetstack one-by-one",
            Approach::AllAtOnce => "planetstack all-at-once",
        }
    }
}

/// What one planetstack broadcast did.
#[derive(Debug, Clone, Default)]
pub struct PlanetstackReport {
    /// From the first post to the last answer.
    pub elapsed: Duration,
    /// Posts answered 200.
    pub delivered: usize,
    /// Posts answered 429 (not retried: those members missed the update).
    pub throttled: usize,
    /// Posts that failed otherwise (connection errors, timeouts).
    pub failed: usize,
}

/// Post `payload` to every id in `to` the `approach` way.
pub async fn broadcast(
    approach: Approach,
    poster: &ApiGwPoster,
    to: &[ConnectionId],
    payload: &bytes::Bytes,
) -> PlanetstackReport {
    let start = Instant::now();
    let outcomes: Vec<Result<(), PostError>> = match approach {
        Approach::OneByOne => {
            let mut outcomes = Vec::with_capacity(to.len());
            for id in to {
                outcomes.push(poster.post(id, payload).await);
            }
            outcomes
        }
        Approach::AllAtOnce => join_all(to.iter().map(|id| poster.post(id, payload))).await,
    };
    let mut report = PlanetstackReport {
        elapsed: start.elapsed(),
        ..PlanetstackReport::default()
    };
    for outcome in outcomes {
        match outcome {
            Ok(()) => report.delivered += 1,
            Err(PostError::Throttled(_)) => report.throttled += 1,
            Err(e) => {
                tracing::debug!(error = %e, "planetstack post failed");
                report.failed += 1;
            }
        }
    }
    report
}
