//! # roomcast-core
//!
//! Rooms, per-room game state and the sharded fan-out of roomcast, with no AWS, no
//! sockets and no runtime assumption beyond `async`. Both homes — the local gateway and
//! the AWS Lambdas — are thin wiring around this crate.
//!
//! ## Layout
//!
//! - [`protocol`]: the wire protocol, from sizes to frames: [`protocol::limits`],
//!   validated values ([`protocol::RoomName`], [`protocol::IconId`], …), the client
//!   frame parser, server messages per subprotocol, stable error codes.
//! - [`state`]: a base's `{bg, icons}`, its monotonic version, and the [`state::Op`]s
//!   (patches) that advance it.
//! - [`ports`]: the narrow traits core needs: [`ports::RoomStore`],
//!   [`ports::MembershipStore`], [`ports::FanoutQueue`], [`ports::Poster`].
//! - [`handler`]: one client frame in, replies out, side effects through the ports.
//! - [`memory`]: the in-memory [`ports::MembershipStore`] (the local gateway's, and the
//!   tests').
//! - [`abuse`]: the per-connection message rate (GCRA token bucket, pure, any clock),
//!   rooms per connection and emit size limits, the same in both homes.
//! - [`edge`]: connect admission (room, token, grant, user, subprotocol) and the frame
//!   pipeline (message rate, binary refusal, the handler, the owed `welcome`): what
//!   the gateway and the Lambdas do around the handler, decided once.
//! - [`auth`]: JWT verification and room grants, shared by the AWS authorizer and
//!   the local gateway.
//! - [`history`]: each room's bounded history of patches and events, with offsets and
//!   an epoch, and the rule that decides whether a `join` with `since` recovers.
//! - [`presence`]: coalesced presence: a room hears its member count at most once per
//!   interval and within a budget of posts per second, in both homes.
//! - [`fanout`]: fan-out jobs, the planner that splits large rooms into shard jobs,
//!   and the deliverer (bounded concurrency, rate budget, backoff, gone cleanup).

pub mod abuse;
pub mod auth;
pub mod edge;
pub mod fanout;
pub mod handler;
pub mod history;
pub mod memory;
pub mod ports;
pub mod presence;
pub mod protocol;
pub mod state;

pub use handler::{Handler, Session};
