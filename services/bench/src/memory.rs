//! # Memory per idle connection
//!
//! RSS per idle connection, both servers, one run: start the server, read its RSS
//! with no clients (baseline, once it is idle), connect N clients that then send
//! nothing (the load benchmark's client stack; each client joins a room of its own at
//! connect, `idle-<i>`), wait until the server is idle again, read its RSS:
//! (RSS with N − baseline) ÷ N.
//!
//! A room each, not one room: what an idle connection costs is measured apart from
//! what a room costs (the load benchmark fills one room and reports its presence
//! frames per join), on both servers alike (Socket.IO puts every socket in a room of
//! its own anyway).
//!
//! The server is killed at the end (no graceful `$disconnect` of N clients), and the
//! clients connect from a fresh loopback source address (TIME_WAIT).

use crate::load::generator::{Clock, Rooms, Shared, Swarm};
use crate::load::server::{Kind, Server};
use crate::support::proc::{ProcSample, mib};
use crate::support::sampler::wait_idle;
use crate::support::table::Table;
use crate::support::{Output, fd_limit};
use std::time::{Duration, Instant};

/// The idle clients' rooms: `idle-0`, `idle-1`, … (one each).
const ROOMS: &str = "idle";

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Idle connections per server.
    #[arg(long, default_value_t = 10_000)]
    pub connections: usize,
    /// Servers to measure (both by default).
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = Kind::BOTH)]
    pub servers: Vec<Kind>,
    /// Client handshakes in flight at once.
    #[arg(long, default_value_t = 200)]
    pub connect_concurrency: usize,
    /// Longest wait for the server to go idle after connecting.
    #[arg(long, default_value_t = 300.0)]
    pub settle_secs: f64,
}

impl Args {
    pub fn quick() -> Self {
        Self {
            connections: 500,
            servers: Kind::BOTH.to_vec(),
            connect_concurrency: 100,
            settle_secs: 30.0,
        }
    }

    pub fn full() -> Self {
        Self {
            connections: 10_000,
            servers: Kind::BOTH.to_vec(),
            connect_concurrency: 200,
            settle_secs: 300.0,
        }
    }
}

/// One server's figures.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Measured {
    pub server: Kind,
    pub connections: usize,
    pub rss_baseline_mib: f64,
    pub rss_connected_mib: f64,
    pub kib_per_connection: f64,
    pub connect_s: f64,
    pub settle_s: f64,
    /// Connections the server closed while they sat idle.
    pub closed: u64,
}

pub async fn run(args: Args, out: &Output) -> anyhow::Result<()> {
    let started = Instant::now();
    anyhow::ensure!(
        fd_limit() > args.connections as u64 + 64,
        "{} connections need more open files than the limit allows ({}); see `ulimit -Hn`",
        args.connections,
        fd_limit()
    );
    let mut results = Vec::new();
    for &kind in &args.servers {
        println!(
            "memory: {} with {} idle connections …",
            kind.label(),
            args.connections
        );
        let mut server = Server::start(kind).await?;
        let measured = measure(&server, &args).await;
        server.kill().await?;
        let (m, swarm) = measured?;
        swarm.stop().await;
        println!(
            "  {:.1} → {:.1} MiB: {:.1} KiB per connection",
            m.rss_baseline_mib, m.rss_connected_mib, m.kib_per_connection
        );
        results.push(m);
    }

    let mut table = Table::new([
        "server",
        "idle connections",
        "RSS without clients MiB",
        "RSS with clients MiB",
        "KiB per connection",
        "connect s",
        "settle s",
    ]);
    for m in &results {
        table.row([
            m.server.label().to_owned(),
            m.connections.to_string(),
            format!("{:.1}", m.rss_baseline_mib),
            format!("{:.1}", m.rss_connected_mib),
            format!("{:.1}", m.kib_per_connection),
            format!("{:.1}", m.connect_s),
            format!("{:.1}", m.settle_s),
        ]);
    }
    let by = |kind: Kind| results.iter().find(|m| m.server == kind);
    if let (Some(rc), Some(sio)) = (by(Kind::Roomcast), by(Kind::SocketIo)) {
        table.row([
            "roomcast ÷ Socket.IO".to_owned(),
            String::new(),
            format!("{:.2}×", rc.rss_baseline_mib / sio.rss_baseline_mib),
            format!("{:.2}×", rc.rss_connected_mib / sio.rss_connected_mib),
            format!("{:.2}×", rc.kib_per_connection / sio.kib_per_connection),
            String::new(),
            String::new(),
        ]);
    }
    table.print("Memory per idle connection (RSS; each connection in a room of its own)");
    out.save("memory", &results)?;
    println!("memory: done in {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

async fn measure(server: &Server, args: &Args) -> anyhow::Result<(Measured, Swarm)> {
    let pid = server.pid();
    let settle = Duration::from_secs_f64(args.settle_secs);
    wait_idle(pid, Duration::from_secs(10)).await?;
    let baseline = ProcSample::read(pid)?.rss_bytes;

    let shared = Shared::new(Clock::new());
    let connecting = Instant::now();
    let swarm = Swarm::connect(
        server.kind(),
        server.port(),
        Rooms::Own(ROOMS),
        args.connections,
        args.connect_concurrency,
        shared.clone(),
    )
    .await?;
    let connect_s = connecting.elapsed().as_secs_f64();
    let settle_s = wait_idle(pid, settle).await?.as_secs_f64();
    let connected = ProcSample::read(pid)?.rss_bytes;
    let n = swarm.len().max(1);
    let measured = Measured {
        server: server.kind(),
        connections: swarm.len(),
        rss_baseline_mib: mib(baseline),
        rss_connected_mib: mib(connected),
        kib_per_connection: connected.saturating_sub(baseline) as f64 / n as f64 / 1024.0,
        connect_s,
        settle_s,
        closed: shared.closures().values().sum(),
    };
    Ok((measured, swarm))
}
