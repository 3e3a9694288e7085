//! The edge: what a home does with a connection before and around the [`Handler`],
//! decided once for both homes.
//!
//! - [`admission`]: a `$connect` request's parts in, a [`crate::Session`] or a
//!   [`Refusal`] (with its error code and HTTP status) out. The local gateway answers
//!   the upgrade with it; the AWS authorizer turns it into an IAM policy, and
//!   `$connect` re-reads the authorizer's grant through it.
//! - [`pipeline`]: one client frame in (text or binary, with the message-rate
//!   verdict the home counted where it keeps the connection's rate state), the
//!   replies or a disconnect out.
//!
//! A home only translates its I/O: the gateway reads query, headers and socket frames;
//! the Lambdas read API Gateway events and post through `@connections`.
//!
//! [`Handler`]: crate::Handler

pub mod admission;
pub mod pipeline;

pub use admission::{Admitted, ConnectRequest, Refusal, admit, readmit};
pub use pipeline::{Answer, Body, Frame};
