//! Building and running the gateway: [`Application::build`] wires the backends, the
//! broadcaster pool and the router; [`Application::run_until_stopped`] serves until the
//! shutdown token is cancelled, then waits for every session to finish, then stops
//! the broadcaster pool and waits for its workers, so the database is closed when it
//! returns.

use axum::Router;
use axum::middleware::from_fn_with_state;
use axum::routing::{any, get, post};
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};
use roomcast_core::Handler;
use roomcast_core::auth::TokenVerifier;
use roomcast_core::fanout::{Broadcaster, FanoutConfig};
use roomcast_core::ports::Poster;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::ops::Deref;
use std::sync::Arc;
use tokio::net::{TcpListener, TcpSocket};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower_http::services::ServeDir;

use crate::admin::activity::{ActivityQueue, RoomActivity};
use crate::admin::recent_errors::RecentErrors;
use crate::admin::sampler::{Sampler, Sources};
use crate::admin::{self, AdminFeed, connects};
use crate::config::Config;
use crate::fanout::{LocalPoster, LocalQueue, PoolConfig, spawn_pool};
use crate::http::{management, ops, publish};
use crate::metrics::Metrics;
use crate::store::{EmbeddedStore, MemoryMembers, OpenError};
use crate::ws::{self, registry::Connections, registry::OutboundLimits};

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The room database could not be opened.
    #[error(transparent)]
    Store(#[from] OpenError),
    /// The JWT settings are unusable (both keys, a bad PEM, an unreadable key file).
    #[error("bad JWT settings: {0}")]
    Auth(String),
    /// The port could not be bound.
    #[error("cannot listen on {addr}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// Shared state of every handler and session.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

/// What [`AppState`] holds.
pub struct Inner {
    pub config: Config,
    pub port: u16,
    pub handler: Handler,
    pub members: Arc<MemoryMembers>,
    pub connections: Arc<Connections>,
    pub poster: Arc<LocalPoster>,
    pub metrics: Arc<Metrics>,
    pub outbound_limits: OutboundLimits,
    /// Verifies connect tokens; `None`: open auth.
    pub verifier: Option<TokenVerifier>,
    pub connect_limiter: DefaultDirectRateLimiter,
    /// New connections per second from one IP address; `None`: no per-IP limit.
    pub connect_limiter_per_ip: Option<DefaultKeyedRateLimiter<IpAddr>>,
    /// The connections' tasks (`ws/task.rs`), awaited before the broadcaster pool stops.
    pub connection_tasks: TaskTracker,
    pub shutdown: CancellationToken,
    /// The `/admin` page's shared snapshots.
    pub admin: AdminFeed,
}

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

/// A gateway bound to its port, ready to run.
pub struct Application {
    listener: TcpListener,
    router: Router,
    port: u16,
    tasks: TaskTracker,
    connection_tasks: TaskTracker,
    shutdown: CancellationToken,
    /// Stops the broadcaster pool, once every session has ended: a change a session
    /// was committing when the shutdown began still finds the queue open.
    pool_stop: CancellationToken,
}

impl Application {
    /// Open the store, start the broadcaster pool and bind the port.
    pub async fn build(config: Config) -> Result<Self, StartError> {
        Self::build_with_fanout_poster(config, |poster| poster).await
    }

    /// [`Application::build`], with the broadcaster pool posting through
    /// `wrap(socket poster)` instead of the socket poster itself. A fault-injection
    /// seam for tests (a poster around the real one that panics, throttles or answers
    /// gone); `@connections` keeps posting to the sockets directly. The binary does not
    /// use it.
    pub async fn build_with_fanout_poster(
        config: Config,
        wrap: impl FnOnce(Arc<dyn Poster>) -> Arc<dyn Poster> + Send,
    ) -> Result<Self, StartError> {
        let addr = SocketAddr::new(config.host, config.port);
        let listener = listen(addr).map_err(|source| StartError::Bind { addr, source })?;
        let port = listener
            .local_addr()
            .map(|a| a.port())
            .unwrap_or(config.port);

        let auth = config
            .auth()
            .map_err(|e| StartError::Auth(format!("JWT_PUBLIC_KEY file: {e}")))?;
        let verifier = auth
            .verifier()
            .map_err(|e| StartError::Auth(e.to_string()))?;
        match &verifier {
            None => tracing::warn!(
                "auth is OPEN: no JWT_SECRET or JWT_PUBLIC_KEY, every connection may use every room"
            ),
            Some(v) => tracing::info!(verifier = ?v, "connect tokens required"),
        }
        let rooms = Arc::new(EmbeddedStore::open_with_history(
            &config.data_dir,
            config.icon_cap,
            config.history(),
        )?);
        let members = Arc::new(MemoryMembers::default());
        let connections = Arc::new(Connections::default());
        let (queue, receiver) = LocalQueue::new();
        let poster = LocalPoster::new(connections.clone(), queue.clone(), config.write_pacing());
        let poster = Arc::new(if config.io_uring {
            poster
        } else {
            poster.without_io_uring()
        });
        let metrics = Arc::new(Metrics::default());
        let tasks = TaskTracker::new();
        let connection_tasks = TaskTracker::new();
        let shutdown = CancellationToken::new();
        let pool_stop = CancellationToken::new();

        let broadcaster = Arc::new(Broadcaster::new(
            rooms.clone(),
            members.clone(),
            queue.clone(),
            wrap(poster.clone()),
            metrics.clone(),
            // One pool, one rate limiter: the whole RATE_LIMIT.
            FanoutConfig {
                presence: config.presence(),
                ..config.knobs().fanout_config(1)
            },
        ));
        spawn_pool(
            PoolConfig {
                size: config.pool_size as usize,
                retry: config.retry(),
            },
            queue.clone(),
            receiver,
            broadcaster,
            metrics.clone(),
            &tasks,
            pool_stop.clone(),
        );
        spawn_history_sweep(rooms.clone(), &tasks, shutdown.clone());

        let activity = Arc::new(RoomActivity::default());
        let admin = AdminFeed::start(
            Sampler::new(Sources {
                metrics: metrics.clone(),
                connections: connections.clone(),
                members: members.clone(),
                rooms: rooms.clone(),
                poster: poster.clone(),
                activity: activity.clone(),
                errors: RecentErrors::global(),
                knobs: config.knobs(),
            }),
            &tasks,
            shutdown.clone(),
        );
        let queue = Arc::new(ActivityQueue::new(queue, activity));
        let state = AppState(Arc::new(Inner {
            handler: Handler::new(rooms, members.clone(), queue)
                .with_limits(config.handler_limits())
                .with_presence(config.presence())
                .with_history(config.history())
                .with_message_rate(config.message_rate()),
            port,
            members,
            connections,
            poster,
            metrics,
            outbound_limits: OutboundLimits {
                frames: config.outbound_frames as usize,
                bytes: config.outbound_bytes,
                slow_consumer_timeout: config.slow_consumer_timeout,
            },
            verifier,
            connect_limiter: RateLimiter::direct(Quota::per_second(
                NonZeroU32::new(config.connects_per_second).unwrap_or(NonZeroU32::MIN),
            )),
            connect_limiter_per_ip: NonZeroU32::new(config.connects_per_second_per_ip)
                .map(|n| RateLimiter::keyed(Quota::per_second(n))),
            connection_tasks: connection_tasks.clone(),
            shutdown: shutdown.clone(),
            admin,
            config,
        }));
        let router = app(state);
        Ok(Self {
            listener,
            router,
            port,
            tasks,
            connection_tasks,
            shutdown,
            pool_stop,
        })
    }

    /// The port actually bound (useful with `--port 0`).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Cancel this to stop the gateway gracefully.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Serve until the shutdown token is cancelled; sessions are closed with 1001 and
    /// every task is awaited before this returns.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        crate::serve::serve(self.listener, self.router, self.shutdown.clone()).await;
        self.shutdown.cancel();
        self.connection_tasks.close();
        self.connection_tasks.wait().await;
        self.pool_stop.cancel();
        self.tasks.close();
        self.tasks.wait().await;
        Ok(())
    }
}

/// Expire rooms' history entries now and then, so a room that went quiet does not
/// keep its last ones in memory until the process ends.
fn spawn_history_sweep(
    rooms: Arc<EmbeddedStore>,
    tasks: &TaskTracker,
    shutdown: CancellationToken,
) {
    let every = rooms.history_sweep_interval();
    tasks.spawn(async move {
        let mut ticks = tokio::time::interval(every);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = ticks.tick() => rooms.expire_history(),
            }
        }
    });
}

/// The router: the game, the WebSocket API at `/{stage}`, `@connections`, publish, ops,
/// `/admin`.
pub fn app(state: AppState) -> Router {
    let stage = state.config.stage.clone();
    let web = ServeDir::new(&state.config.web_dir);
    Router::new()
        .route("/healthz", get(ops::healthz))
        .route("/metrics", get(ops::metrics))
        .route("/config.json", get(ops::config_json))
        .route("/rooms/{room}/emit", post(publish::emit))
        .route(
            &format!("/{stage}"),
            any(ws::connect).layer(from_fn_with_state(state.clone(), connects::count)),
        )
        .route(
            "/{stage}/@connections/{id}",
            post(management::post)
                .get(management::get)
                .delete(management::delete),
        )
        .merge(admin::router(state.clone()))
        .fallback_service(web)
        .with_state(state)
}

/// Connections the kernel completes before the accept loop takes them. Tokio's
/// `TcpListener::bind` uses std's 128: a burst of connects (players rejoining after a
/// restart, 200 handshakes at a time in `roomcast-bench load`) overflowed it, and the
/// kernel dropped the SYNs (`nstat`: 146 `ListenDrops`), so those clients retried a
/// second later (1,000 connects: 0.1 s, or 1.1 s with drops). Node's default is 511;
/// the kernel caps it at `net.core.somaxconn` (4096 here).
const LISTEN_BACKLOG: u32 = 1024;

/// Bind `addr` (reusing the address, as `TcpListener::bind` does) and listen.
fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}
