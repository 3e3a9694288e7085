//! # roomcast-gateway
//!
//! The local all-in-one roomcast server (binary `roomcast`): a WebSocket API with API
//! Gateway semantics, the `@connections` management API, an HTTP publish API, room
//! state in an embedded database, and the same planner and deliverer the AWS
//! broadcaster runs, fed by an in-process queue. `cargo run` starts it with the game.
//!
//! ## Layout
//!
//! - [`config`]: flags and environment (the four fan-out knobs among them).
//! - [`app`]: [`Application::build`] wires everything; [`app::app`] is the router.
//! - [`serve`]: the accept loop (HTTP/1.1 with upgrades; why not `axum::serve`).
//! - [`ws`]: `$connect` (upgrade, subprotocol), the connection task, the connection
//!   registry with its bounded outbound queues.
//! - [`http`]: `@connections`, `POST /rooms/{room}/emit`, `/healthz`, `/metrics`,
//!   `/config.json`.
//! - [`fanout`]: the in-process queue, the broadcaster pool, the socket poster.
//! - [`store`]: room state in redb, memberships in memory.
//! - [`metrics`]: Prometheus metrics.
//! - [`plan`]: `roomcast plan`, knobs and monthly cost for a workload.
//! - [`admin`]: the live `/admin` page's data (one server-sent-events stream).

pub mod admin;
pub mod app;
pub mod config;
pub mod fanout;
pub mod http;
pub mod metrics;
pub mod plan;
pub mod serve;
pub mod store;
pub mod ws;

pub use app::{Application, StartError};
pub use config::Config;
