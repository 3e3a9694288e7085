//! `/admin`: a live view of the gateway for operators — rooms, connections, the
//! fan-out's throughput and latency, the knobs in effect and the latest errors.
//!
//! The page is static ES modules and SVG under `web/admin/` (no build step, like the
//! game). Its data comes over one server-sent-events stream, `/admin/events`: a
//! [`sampler::Sampler`] builds one [`snapshot::Snapshot`] a second, serializes it
//! once, and a `watch` channel hands the same bytes to every open page, so ten open
//! pages cost one snapshot a second plus ten writes. While no page is open it only
//! reads the counters (to keep its rates one second wide) and builds nothing.
//!
//! Access: [`access`]. Routes: `/admin` and `/admin/` (the page), `/admin/events`
//! (the stream), `/admin/{file}` (the page's modules, from `web/admin/`).

pub mod access;
pub mod activity;
pub mod connects;
mod handlers;
pub mod latency;
pub mod recent_errors;
pub mod sampler;
pub mod snapshot;

use axum::Router;
use axum::middleware::from_fn_with_state;
use axum::routing::get;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower_http::services::ServeDir;

use crate::app::AppState;
use sampler::Sampler;

/// How often a snapshot is built (the page's refresh rate).
pub const INTERVAL: Duration = Duration::from_secs(1);

/// The latest snapshot as JSON text, shared by every open page.
#[derive(Clone)]
pub struct AdminFeed {
    latest: watch::Sender<Arc<str>>,
}

impl AdminFeed {
    /// Build snapshots with `sampler` every [`INTERVAL`] until `shutdown`.
    pub fn start(mut sampler: Sampler, tasks: &TaskTracker, shutdown: CancellationToken) -> Self {
        let (latest, _) = watch::channel(Arc::<str>::from(""));
        let feed = Self {
            latest: latest.clone(),
        };
        tasks.spawn(async move {
            let mut cost = Duration::ZERO;
            let mut tick = tokio::time::interval(INTERVAL);
            tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tick.tick() => {}
                }
                if latest.receiver_count() == 0 {
                    sampler.skip();
                    continue;
                }
                let started = std::time::Instant::now();
                let mut snapshot = sampler.sample().await;
                snapshot.build_micros = cost.as_micros().try_into().unwrap_or(u64::MAX);
                match serde_json::to_string(&snapshot) {
                    Ok(json) => {
                        cost = started.elapsed();
                        latest.send_replace(json.into());
                    }
                    Err(e) => tracing::error!(error = %e, "cannot serialize the /admin snapshot"),
                }
            }
        });
        feed
    }

    /// A receiver that sees every snapshot from the next one on.
    pub fn subscribe(&self) -> watch::Receiver<Arc<str>> {
        self.latest.subscribe()
    }
}

/// `/admin`'s routes, all behind [`access::require_key`].
pub fn router(state: AppState) -> Router<AppState> {
    // The modules are served from the web dir as `/admin/…` paths, so `web/admin/x.js`
    // answers `/admin/x.js`; the game's own files stay outside the key check.
    let files = ServeDir::new(&state.config.web_dir);
    Router::new()
        .route("/admin", get(handlers::page))
        .route("/admin/", get(handlers::page))
        .route("/admin/events", get(handlers::stream))
        .route_service("/admin/{*file}", files)
        .layer(from_fn_with_state(state, access::require_key))
}
