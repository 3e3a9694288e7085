//! # WebSocket crates vs roomcast's own frames
//!
//! Issue 13 chose to speak the WebSocket frames in the gateway rather than through a
//! crate; this measures the candidates it named against those frames, in one run, on
//! minimal servers of the same shape (see [`server`]): accept on 127.0.0.1, upgrade,
//! frames up to 32 KiB (messages up to 128 KiB where the crate has a second limit), one
//! room of all connections, a text frame from any client relayed to all.
//!
//! Each candidate's server is a child process of its own, started fresh for each of
//! the three measures:
//!
//! 1. RSS per idle connection at N idle connections (as `memory`: with − without, ÷ N);
//! 2. a text frame over the limit (33 and 40 KiB): a clean 1009 close, or a reset
//!    ([`oversize`]: a raw client, so that nothing hides the reset);
//! 3. deliveries per server CPU-second and p50/p99, broadcasting 1 KB messages to
//!    1,000 clients as fast as the server takes them within a window (`load`'s max
//!    phase, its generator and clients).
//!
//! The per-crate servers: [`own_frames`], [`with_tungstenite`] (default config, and a
//! small read buffer), [`with_tokio_websockets`], [`with_fastwebsockets`]; each says
//! what it can share across connections and how it closes.

mod handshake;
mod measure;
mod oversize;
mod own_frames;
mod report;
pub mod server;
mod with_fastwebsockets;
mod with_tokio_websockets;
mod with_tungstenite;

use crate::support::{Output, fd_limit};
use measure::{Broadcast, Memory};
use oversize::Verdict;
use roomcast_core::protocol::limits::MAX_FRAME_BYTES;
use server::CrateServer;
use std::time::{Duration, Instant};

/// The servers compared.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum Candidate {
    /// roomcast-gateway's `ws::frame`, driven as `ws/socket.rs` drives it.
    Own,
    /// tokio-tungstenite with tungstenite's default config (128 KiB read buffer).
    Tungstenite,
    /// tokio-tungstenite with a small read buffer (`--small-read-buffer-kib`).
    TungsteniteSmall,
    TokioWebsockets,
    Fastwebsockets,
}

impl Candidate {
    pub const ALL: [Candidate; 5] = [
        Candidate::Own,
        Candidate::Tungstenite,
        Candidate::TungsteniteSmall,
        Candidate::TokioWebsockets,
        Candidate::Fastwebsockets,
    ];

    pub fn label(self, small_kib: usize) -> String {
        match self {
            Candidate::Own => "roomcast's own frames".to_owned(),
            Candidate::Tungstenite => "tungstenite, default (128 KiB read buffer)".to_owned(),
            Candidate::TungsteniteSmall => format!("tungstenite, {small_kib} KiB read buffer"),
            Candidate::TokioWebsockets => "tokio-websockets".to_owned(),
            Candidate::Fastwebsockets => "fastwebsockets".to_owned(),
        }
    }
}

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Servers to compare (all by default).
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = Candidate::ALL)]
    pub candidates: Vec<Candidate>,
    /// tungstenite-small's read buffer, KiB: one frame at the 32 KiB limit plus its
    /// header fits one read (the gateway's setting before issue 13).
    #[arg(long, default_value_t = 40)]
    pub small_read_buffer_kib: usize,
    /// Idle connections per server (measure 1).
    #[arg(long, default_value_t = 10_000)]
    pub connections: usize,
    /// Sizes of the oversize frame, KiB (measure 2).
    #[arg(long, value_delimiter = ',', default_values_t = [33, 40])]
    pub oversize_kib: Vec<usize>,
    /// Oversize frames sent per size, each on a new connection.
    #[arg(long, default_value_t = 10)]
    pub oversize_tries: usize,
    /// Clients in the room while broadcasting (measure 3).
    #[arg(long, default_value_t = 1_000)]
    pub clients: usize,
    /// Size of each broadcast message, bytes of JSON.
    #[arg(long, default_value_t = 1024)]
    pub payload_bytes: usize,
    /// At most this many messages not yet received by every client.
    #[arg(long, default_value_t = 32)]
    pub window: u32,
    /// Seconds of publishing.
    #[arg(long, default_value_t = 10.0)]
    pub secs: f64,
    /// Client handshakes in flight at once.
    #[arg(long, default_value_t = 200)]
    pub connect_concurrency: usize,
    /// Longest wait for a server to go idle after its clients connected (0: no wait).
    #[arg(long, default_value_t = 120.0)]
    pub settle_secs: f64,
}

impl Args {
    /// Every candidate and measure, small and without waiting for the servers to
    /// idle: a smoke test that the harness works (about 5 s in a debug build).
    pub fn quick() -> Self {
        Self {
            connections: 100,
            oversize_kib: vec![40],
            oversize_tries: 1,
            clients: 20,
            secs: 0.3,
            connect_concurrency: 100,
            settle_secs: 0.0,
            ..Self::full()
        }
    }

    pub fn full() -> Self {
        Self {
            candidates: Candidate::ALL.to_vec(),
            small_read_buffer_kib: 40,
            connections: 10_000,
            oversize_kib: vec![33, 40],
            oversize_tries: 10,
            clients: 1_000,
            payload_bytes: 1024,
            window: 32,
            secs: 10.0,
            connect_concurrency: 200,
            settle_secs: 120.0,
        }
    }
}

/// One candidate's figures.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Run {
    pub candidate: Candidate,
    pub label: String,
    pub memory: Option<Memory>,
    /// (frame KiB, one verdict per try).
    pub oversize: Vec<(usize, Vec<Verdict>)>,
    pub broadcast: Option<Broadcast>,
}

pub async fn run(args: Args, out: &Output) -> anyhow::Result<()> {
    let started = Instant::now();
    anyhow::ensure!(
        fd_limit() > args.connections.max(args.clients) as u64 + 64,
        "{} connections need more open files than the limit allows ({}); see `ulimit -Hn`",
        args.connections,
        fd_limit()
    );
    let load_before = report::load_average();
    let kib = args.small_read_buffer_kib;
    let mut runs: Vec<Run> = args
        .candidates
        .iter()
        .map(|&candidate| Run {
            candidate,
            label: candidate.label(kib),
            memory: None,
            oversize: Vec::new(),
            broadcast: None,
        })
        .collect();
    let settle = Duration::from_secs_f64(args.settle_secs);
    for run in &mut runs {
        println!(
            "ws-crates: {}: {} idle connections …",
            run.label, args.connections
        );
        let mut server = CrateServer::candidate(run.candidate, kib).await?;
        let measured =
            measure::memory(&server, args.connections, args.connect_concurrency, settle).await;
        server.kill().await?;
        let (memory, swarm) = measured?;
        swarm.stop().await;
        run.memory = Some(memory);
    }
    for run in &mut runs {
        println!("ws-crates: {}: oversize frames …", run.label);
        let mut server = CrateServer::candidate(run.candidate, kib).await?;
        for &size in &args.oversize_kib {
            let verdicts =
                measure::oversize(&server, size * 1024, MAX_FRAME_BYTES, args.oversize_tries).await;
            run.oversize.push((size, verdicts?));
        }
        server.kill().await?;
    }
    for run in &mut runs {
        println!(
            "ws-crates: {}: broadcast to {} clients …",
            run.label, args.clients
        );
        let mut server = CrateServer::candidate(run.candidate, kib).await?;
        let measured = measure::broadcast(
            &server,
            args.clients,
            args.payload_bytes,
            args.window,
            args.secs,
            args.connect_concurrency,
            settle,
        )
        .await;
        server.kill().await?;
        let (broadcast, swarm) = measured?;
        swarm.stop().await;
        run.broadcast = Some(broadcast);
    }
    let load_after = report::load_average();
    report::print(&runs, &args);
    println!("\nload average before: {load_before}; after: {load_after}");
    out.save(
        "ws-crates",
        &report::Results {
            load_average_before: load_before,
            load_average_after: load_after,
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            payload_bytes: args.payload_bytes,
            window: args.window,
            secs: args.secs,
            runs: &runs,
        },
    )?;
    println!(
        "ws-crates: done in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
