//! # roomcast-aws
//!
//! roomcast's AWS home: core's ports implemented with the official SDK crates, and the
//! five Lambda entrypoints. Every handler is a library function fed typed
//! `aws_lambda_events` events, so tests drive the same code the binaries run; the
//! binaries under `src/bin/` only build clients once at cold start and call
//! `lambda_runtime::run`.
//!
//! ## Layout
//!
//! - [`env`](mod@env): the environment the Lambdas read (`TABLE_NAME`, `QUEUE_URL`, the four
//!   fan-out knobs, the JWT settings) and the AWS SDK configuration.
//! - Adapters (core's ports, nothing about Lambda):
//!   - [`dynamo`]: the single table — connections, memberships, room state — as
//!     [`roomcast_core::ports::RoomStore`] and [`roomcast_core::ports::MembershipStore`].
//!   - [`sqs`]: the fan-out queue ([`roomcast_core::ports::FanoutQueue`]).
//!   - [`poster`]: `PostToConnection` ([`roomcast_core::ports::Poster`]).
//! - [`handlers`]: `connect`, `disconnect`, `authorizer`, `actions`, `broadcaster`.
//! - [`observe`]: JSON logs and CloudWatch Embedded Metric Format lines.
//! - [`post_failure`]: why a post failed, logged at warn within [`log_limit`]'s budget.

pub mod dynamo;
pub mod env;
pub mod handlers;
pub mod log_limit;
pub mod observe;
pub mod post_failure;
pub mod poster;
pub mod sqs;

/// mimalloc, for every binary that links this crate (the five Lambdas, the bench's
/// `ApiGwPoster` runs): the AWS SDK allocates per request, and glibc malloc cost a
/// third of the posting path's CPU (docs/benchmarks.md, the 100,000-member room).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
