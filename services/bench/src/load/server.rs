//! The two servers under test, each in a child process of its own: the roomcast
//! gateway ([`GatewayProcess`]) and Socket.IO 4 on Node ([`NodePeer`]).

use crate::support::gateway::{GatewayProcess, gateway_supports};
use crate::support::node::NodePeer;

/// Which server.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// The local gateway, `roomcast` (Rust, axum).
    Roomcast,
    /// Socket.IO 4 on Node (`peers/socketio-server.js`).
    SocketIo,
    /// One of `ws-crates`' minimal servers (one room; a text frame is relayed as it is
    /// to every connection). Started by `ws-crates` itself, never by `load` or `memory`.
    #[value(skip)]
    Plain,
}

impl Kind {
    /// Both, in the order every table lists them.
    pub const BOTH: [Kind; 2] = [Kind::Roomcast, Kind::SocketIo];

    pub fn label(self) -> &'static str {
        match self {
            Kind::Roomcast => "roomcast",
            Kind::SocketIo => "Socket.IO",
            Kind::Plain => "plain WebSocket server",
        }
    }
}

/// The Socket.IO peer script under `services/bench/peers/`.
pub const SOCKETIO_SCRIPT: &str = "socketio-server.js";

/// The gateway flags every load and memory run uses: the gateway's defaults are API
/// Gateway's limits and its abuse limits, and some of them would measure the limit
/// instead of the server.
///
/// - `--connects-per-second 1000000`: the default 500/s (API Gateway's account limit)
///   would pace a 10,000-client connect over 20 s; Socket.IO has no such limit. The
///   bench raises it rather than pacing its connects.
/// - `--connects-per-second-per-ip 0` (no per-IP limit): all clients of a run come
///   from one source address.
/// - `--message-rate 0` (no per-connection message rate): the publisher is one
///   connection sending as fast as the server takes it.
///
/// The last two are passed only to a binary that has them (`roomcast --help`), so an
/// older build still runs. `ROOMCAST_WRITE_DELAY`, `ROOMCAST_WRITE_BUDGET` and
/// `ROOMCAST_IO_URING` in the bench's environment (how the fan-out writes) are passed
/// on as `--write-delay`, `--write-budget` and `--io-uring`, so the results record
/// them. Everything else is the default, including the per-connection outbound queue
/// (1024 frames, 4 MiB) and the slow-consumer timeout (10 s): closures they cause are
/// reported, not avoided.
pub fn gateway_flags() -> anyhow::Result<Vec<String>> {
    let mut flags = vec!["--connects-per-second".to_owned(), "1000000".to_owned()];
    for (flag, off) in [
        ("--connects-per-second-per-ip", "0"),
        ("--message-rate", "0"),
    ] {
        if gateway_supports(flag)? {
            flags.push(flag.to_owned());
            flags.push(off.to_owned());
        }
    }
    for (var, flag) in [
        ("ROOMCAST_WRITE_DELAY", "--write-delay"),
        ("ROOMCAST_WRITE_BUDGET", "--write-budget"),
        ("ROOMCAST_IO_URING", "--io-uring"),
    ] {
        if let Ok(value) = std::env::var(var)
            && gateway_supports(flag)?
        {
            flags.extend([flag.to_owned(), value]);
        }
    }
    Ok(flags)
}

/// A running server.
pub enum Server {
    Roomcast(GatewayProcess),
    SocketIo(NodePeer),
}

impl Server {
    /// Start `kind` on a free port of 127.0.0.1 and wait until it serves.
    pub async fn start(kind: Kind) -> anyhow::Result<Self> {
        Ok(match kind {
            Kind::Roomcast => {
                let flags = gateway_flags()?;
                let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
                Server::Roomcast(GatewayProcess::start(&flags).await?)
            }
            Kind::SocketIo => Server::SocketIo(NodePeer::node(SOCKETIO_SCRIPT).await?),
            Kind::Plain => anyhow::bail!("plain servers are started by `ws-crates`"),
        })
    }

    pub fn kind(&self) -> Kind {
        match self {
            Server::Roomcast(_) => Kind::Roomcast,
            Server::SocketIo(_) => Kind::SocketIo,
        }
    }

    pub fn pid(&self) -> u32 {
        match self {
            Server::Roomcast(g) => g.pid(),
            Server::SocketIo(n) => n.pid(),
        }
    }

    pub fn port(&self) -> u16 {
        match self {
            Server::Roomcast(g) => g.port(),
            Server::SocketIo(n) => n.port(),
        }
    }

    /// Kill it (SIGKILL) and wait: the benchmark is done with it, and a graceful stop
    /// would first run `$disconnect` for every client.
    pub async fn kill(&mut self) -> anyhow::Result<()> {
        match self {
            Server::Roomcast(g) => g.kill().await,
            Server::SocketIo(n) => n.kill().await,
        }
    }
}
