//! # roomcast-bench
//!
//! Benchmarks that print figures — never timed tests. Everything runs on 127.0.0.1,
//! is bounded in time and stops by itself; `roomcast-bench all --quick` is the small
//! version CI runs as a smoke test (it asserts that the harness works, never a speed).
//!
//! ## Layout
//!
//! - [`fanout`]: the real broadcaster path (core planner + deliverer + the AWS
//!   `ApiGwPoster` over HTTP) against a simulated `@connections` endpoint with latency
//!   and 429 throttling, next to planetstack's one-by-one and all-at-once approaches; the
//!   knob sweep.
//! - [`load`]: the local gateway against Socket.IO 4 on Node (`peers/`), one load
//!   generator for both.
//! - [`bytes`]: per-update bytes on the wire, roomcast patch vs full state.
//! - [`memory`]: RSS per idle connection, both servers.
//! - [`soak`]: bounded churn against the gateway, restarted once; nothing lost.
//! - [`ws_crates`]: tungstenite, tokio-websockets and fastwebsockets against the
//!   gateway's own frames on minimal servers: idle memory, the oversize close, CPU.
//! - [`plot`]: the SVG plots in docs/ from the JSON results.
//! - [`support`]: what they share: the gateway as a child process, process stats,
//!   statistics, tables, results files, the open-file limit.

mod bytes;
mod fanout;
mod load;
mod memory;
mod plot;
mod soak;
mod support;
mod ws_crates;

use clap::{Parser, Subcommand};
use support::Output;

/// roomcast benchmarks (figures, not tests).
#[derive(Debug, Parser)]
#[command(name = "roomcast-bench", version, about)]
struct Cli {
    /// Where results are written as JSON (one file per benchmark), for `plot` and docs.
    #[arg(long, global = true, default_value = "target/bench")]
    out: std::path::PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Fan-out to one room: roomcast vs planetstack's one-by-one and all-at-once, and the
    /// knob sweep.
    Fanout(fanout::Args),
    /// The local gateway vs Socket.IO 4: delivered messages/s, latency, CPU and RSS.
    Load(load::Args),
    /// Bytes per update on the wire: roomcast patch vs planetstack's full state.
    Bytes(bytes::Args),
    /// RSS per idle connection, both servers.
    Memory(memory::Args),
    /// Churn against the gateway (restarted once): acked edits vs final states.
    Soak(soak::Args),
    /// WebSocket crates vs the gateway's own frames: idle memory, the oversize close, CPU.
    WsCrates(ws_crates::Args),
    /// One `ws-crates` server (a child process of `ws-crates`).
    #[command(hide = true)]
    WsCratesServer(ws_crates::server::ServerArgs),
    /// Render the SVG plots from the JSON results in `--out`.
    Plot(plot::Args),
    /// Every benchmark in turn (`--quick`: a small version of each, under 2 minutes).
    All {
        /// Small sizes and short runs: a smoke test that the harness works.
        #[arg(long)]
        quick: bool,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    support::raise_fd_limit();
    let cli = Cli::parse();
    let out = Output::new(cli.out)?;
    match cli.command {
        Command::Fanout(args) => fanout::run(args, &out).await,
        Command::Load(args) => load::run(args, &out).await,
        Command::Bytes(args) => bytes::run(args, &out).await,
        Command::Memory(args) => memory::run(args, &out).await,
        Command::Soak(args) => soak::run(args, &out).await,
        Command::WsCrates(args) => ws_crates::run(args, &out).await,
        Command::WsCratesServer(args) => ws_crates::server::run(args).await,
        Command::Plot(args) => plot::run(args, &out).await,
        Command::All { quick } => all(quick, &out).await,
    }
}

/// Each benchmark with its default (or quick) arguments, one after the other.
async fn all(quick: bool, out: &Output) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    macro_rules! each {
        ($($m:ident),*) => {$(
            $m::run(if quick { $m::Args::quick() } else { $m::Args::full() }, out).await?;
        )*};
    }
    each!(bytes, fanout, load, memory, soak, ws_crates);
    if !quick {
        plot::run(plot::Args::full(), out).await?;
    }
    println!(
        "\nall benchmarks done in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
