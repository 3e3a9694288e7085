//! # Gateway vs Socket.IO
//!
//! The local gateway (`roomcast`) against Socket.IO 4 on Node, on this machine, with
//! the same load generator for both: N clients in one room, one publisher outside the
//! room sending 1 KB messages, first at a fixed rate, then as fast as the server
//! takes them (a bounded window of messages not yet received by every client).
//! Reported per server: delivered messages/s, p50/p99 publish-to-receive latency,
//! server CPU (share of a core) and peak RSS, and roomcast ÷ Socket.IO ratios; with
//! them each message's last delivery (median over the messages) and the share of the
//! machine's CPU time the hypervisor stole during the phase.
//!
//! - [`engineio`]: Engine.IO v4 / Socket.IO framing; the bench speaks it over
//!   WebSocket with tokio-websockets itself (no `rust_socketio`), so both servers
//!   are driven by one client stack.
//! - [`client`]: connecting, each server's handshake, publish and event frames.
//! - [`server`]: the two servers as child processes, and the gateway's flags.
//! - [`generator`]: the receiving swarm, the publisher, the phases and counters.
//! - [`messages`]: per-message counters (receivers reached, last delivery).
//!
//! Each run starts its server fresh, connects the clients from a fresh loopback
//! source address (TIME_WAIT), kills the server at the end, and takes its figures from
//! /proc. Everything is bounded in time.

pub mod client;
pub mod engineio;
pub mod generator;
pub mod messages;
pub mod server;

use crate::support::host::HostCpu;
use crate::support::proc::{ProcSample, mib};
use crate::support::sampler::{PeakRss, wait_idle};
use crate::support::stats::median;
use crate::support::table::Table;
use crate::support::{Output, fd_limit};
use generator::{Clock, Delivery, Generator, Pace, Phase, Publisher, Rooms, Shared, Swarm};
use server::{Kind, Server};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Clients in the room; one run per size and server.
    #[arg(long, value_delimiter = ',', default_values_t = [1_000, 10_000])]
    pub clients: Vec<usize>,
    /// Servers to run (both by default).
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = Kind::BOTH)]
    pub servers: Vec<Kind>,
    /// Size of each message's `data`, bytes of JSON.
    #[arg(long, default_value_t = 1024)]
    pub payload_bytes: usize,
    /// Publish rate of the fixed-rate phase, messages per second.
    #[arg(long, default_value_t = 10.0)]
    pub rate: f64,
    /// Seconds of publishing in the fixed-rate phase.
    #[arg(long, default_value_t = 10.0)]
    pub fixed_secs: f64,
    /// Seconds of publishing in the as-fast-as-possible phase.
    #[arg(long, default_value_t = 10.0)]
    pub max_secs: f64,
    /// As fast as possible: at most this many messages not yet received by every
    /// client (backpressure, so the phase measures throughput, not a growing queue).
    #[arg(long, default_value_t = 32)]
    pub window: u32,
    /// Client handshakes in flight at once while connecting.
    #[arg(long, default_value_t = 200)]
    pub connect_concurrency: usize,
    /// Longest wait, after connecting, for the server to go idle (before presence was
    /// coalesced, N connects into one room were about N² frames: 539 s at 10,000).
    #[arg(long, default_value_t = 900.0)]
    pub settle_secs: f64,
    /// Runs of each server at each size, alternating between the servers; the ratios
    /// are the median of each round's. This machine's speed drifts by up to 2× within
    /// an hour (docs/benchmarks.md), so one round can land in a slow minute.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=9))]
    pub rounds: u32,
    /// Quiet clients besides the room, each in a room of its own that hears nothing:
    /// a gateway's lobby. They should cost the room nothing (roomcast's write budget
    /// is shared by the connections written to, not by every live one).
    #[arg(long, default_value_t = 0)]
    pub idle: usize,
}

impl Args {
    pub fn quick() -> Self {
        Self {
            clients: vec![200],
            servers: Kind::BOTH.to_vec(),
            payload_bytes: 1024,
            rate: 10.0,
            fixed_secs: 2.0,
            max_secs: 2.0,
            window: 32,
            connect_concurrency: 100,
            settle_secs: 30.0,
            rounds: 1,
            idle: 0,
        }
    }

    pub fn full() -> Self {
        Self {
            clients: vec![1_000, 10_000],
            servers: Kind::BOTH.to_vec(),
            payload_bytes: 1024,
            rate: 10.0,
            fixed_secs: 10.0,
            max_secs: 10.0,
            window: 32,
            connect_concurrency: 200,
            settle_secs: 900.0,
            rounds: 1,
            idle: 0,
        }
    }
}

/// The rooms of `--idle` clients: `idle-<index>`, one each.
const IDLE_ROOMS: &str = "idle";

/// Warm-up messages every client must receive before measuring.
const WARMUP_MESSAGES: u32 = 3;
/// How long the warm-up may take once the server is idle.
const WARMUP_TIMEOUT: Duration = Duration::from_secs(60);

/// One server at one size.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Run {
    pub server: Kind,
    pub clients: usize,
    /// Which round of `--rounds` (from 1).
    #[serde(default)]
    pub round: u32,
    /// Connecting every client (handshakes done).
    pub connect_s: f64,
    /// After connecting: until the server idled and the warm-up reached every client.
    pub settle_s: f64,
    /// After the last connect: until the server's CPU idled (under 5% of a core for
    /// 0.5 s; the sampling window is included).
    #[serde(default)]
    pub idle_s: f64,
    /// `presence` frames the clients received while connecting and settling, per
    /// connect (roomcast; Socket.IO sends none).
    #[serde(default)]
    pub presence_per_join: f64,
    /// Warm-up deliveries received / owed.
    pub warmup: (u64, u64),
    /// Server RSS once connected and settled, MiB.
    pub rss_connected_mib: f64,
    pub phases: Vec<PhaseRun>,
    /// Client connections the server ended during the run, by close code.
    pub closures: BTreeMap<String, u64>,
    /// `error` frames the publisher received, by code.
    pub publisher_errors: BTreeMap<String, u64>,
}

/// One phase of a run.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct PhaseRun {
    pub phase: String,
    pub delivery: Delivery,
    /// Server CPU over the phase (publishing and draining), cores (1.0 = one core).
    pub server_cpu_cores: f64,
    /// Server peak RSS during the phase, MiB.
    pub server_rss_peak_mib: f64,
    /// The load generator's own CPU (this process), cores.
    pub bench_cpu_cores: f64,
    /// The share of the machine's CPU time stolen by the hypervisor during the phase
    /// ([`HostCpu`]); `None` where /proc/stat cannot be read.
    #[serde(default)]
    pub host_steal: Option<f64>,
}

#[derive(Debug, serde::Serialize)]
struct Results<'a> {
    args: ArgsRecord,
    gateway_flags: Vec<String>,
    cores: usize,
    runs: &'a [Run],
}

#[derive(Debug, serde::Serialize)]
struct ArgsRecord {
    payload_bytes: usize,
    rate: f64,
    fixed_secs: f64,
    max_secs: f64,
    window: u32,
    rounds: u32,
    idle: usize,
}

pub async fn run(args: Args, out: &Output) -> anyhow::Result<()> {
    let started = Instant::now();
    let largest = (args.clients.iter().copied().max().unwrap_or(0) + args.idle) as u64;
    anyhow::ensure!(
        fd_limit() > largest + 64,
        "{largest} clients need more open files than the limit allows ({}); see `ulimit -Hn`",
        fd_limit()
    );
    let mut runs = Vec::new();
    for &clients in &args.clients {
        for round in 1..=args.rounds {
            for &kind in &args.servers {
                println!(
                    "load: {} with {clients} clients, round {round} of {} …",
                    kind.label(),
                    args.rounds
                );
                let mut run = run_one(kind, clients, &args).await?;
                run.round = round;
                print_run(&run);
                runs.push(run);
            }
        }
    }
    let gateway_flags = if args.servers.contains(&Kind::Roomcast) {
        server::gateway_flags()?
    } else {
        Vec::new()
    };
    print_tables(&runs, &args);
    out.save(
        "load",
        &Results {
            args: ArgsRecord {
                payload_bytes: args.payload_bytes,
                rate: args.rate,
                fixed_secs: args.fixed_secs,
                max_secs: args.max_secs,
                window: args.window,
                rounds: args.rounds,
                idle: args.idle,
            },
            gateway_flags,
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            runs: &runs,
        },
    )?;
    println!("load: done in {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

async fn run_one(kind: Kind, clients: usize, args: &Args) -> anyhow::Result<Run> {
    let mut server = Server::start(kind).await?;
    let result = measure(&server, clients, args).await;
    server.kill().await?;
    let (run, swarms) = result?;
    for swarm in swarms {
        swarm.stop().await;
    }
    Ok(run)
}

async fn measure(
    server: &Server,
    clients: usize,
    args: &Args,
) -> anyhow::Result<(Run, Vec<Swarm>)> {
    let kind = server.kind();
    let pid = server.pid();
    // The quiet clients first, with counters of their own: they are not receivers.
    let lobby = Swarm::connect(
        kind,
        server.port(),
        Rooms::Own(IDLE_ROOMS),
        args.idle,
        args.connect_concurrency,
        Shared::new(Clock::new()),
    )
    .await?;
    let shared = Shared::new(Clock::new());
    let connecting = Instant::now();
    let swarm = Swarm::connect(
        kind,
        server.port(),
        Rooms::One(generator::ROOM),
        clients,
        args.connect_concurrency,
        shared.clone(),
    )
    .await?;
    let connect_s = connecting.elapsed().as_secs_f64();

    // First the server finishes what the connects gave it (roomcast: coalesced
    // presence, a broadcast per presence delay), then the warm-up proves every client
    // is in the room.
    let settling = Instant::now();
    let idle_s = wait_idle(pid, Duration::from_secs_f64(args.settle_secs))
        .await?
        .as_secs_f64();
    // Connected only now: it sends nothing while the server settles, which can take
    // longer than the gateway's idle timeout (10 min).
    let publisher = Publisher::connect(kind, server.port()).await?;
    let mut generator = Generator::new(shared.clone(), publisher, args.payload_bytes);
    let warmup = generator.warm_up(WARMUP_MESSAGES, WARMUP_TIMEOUT).await?;
    if warmup.0 < warmup.1 {
        eprintln!(
            "warning: {}: {} of {} warm-up deliveries within {} s",
            kind.label(),
            warmup.0,
            warmup.1,
            WARMUP_TIMEOUT.as_secs()
        );
    }
    wait_idle(pid, WARMUP_TIMEOUT).await?;
    let settle_s = settling.elapsed().as_secs_f64();
    let presence_per_join = shared.presence_frames() as f64 / clients.max(1) as f64;
    let rss_connected_mib = mib(ProcSample::read(pid)?.rss_bytes);

    let peak = PeakRss::start(pid);
    let mut phases = Vec::new();
    for (phase, pace, secs) in [
        (Phase::Fixed, Pace::Rate(args.rate), args.fixed_secs),
        (Phase::Max, Pace::Window(args.window), args.max_secs),
    ] {
        peak.reset();
        let server_before = ProcSample::read(pid)?;
        let bench_before = ProcSample::read(std::process::id())?;
        let host_before = HostCpu::read();
        let delivery = generator
            .phase(phase, pace, Duration::from_secs_f64(secs))
            .await?;
        let server_after = ProcSample::read(pid)?;
        let bench_after = ProcSample::read(std::process::id())?;
        let host_steal = HostCpu::read()
            .zip(host_before)
            .map(|(after, before)| after.steal_since(&before));
        phases.push(PhaseRun {
            phase: phase_name(phase, pace),
            delivery,
            server_cpu_cores: server_after.cpu_cores_since(&server_before),
            server_rss_peak_mib: mib(peak.peak()),
            bench_cpu_cores: bench_after.cpu_cores_since(&bench_before),
            host_steal,
        });
    }
    let run = Run {
        server: kind,
        clients: swarm.len(),
        round: 1,
        connect_s,
        settle_s,
        idle_s,
        presence_per_join,
        warmup,
        rss_connected_mib,
        phases,
        closures: shared.closures(),
        publisher_errors: generator.publisher.errors(),
    };
    Ok((run, vec![swarm, lobby]))
}

fn phase_name(phase: Phase, pace: Pace) -> String {
    match (phase, pace) {
        (_, Pace::Rate(r)) => format!("{r} msg/s"),
        (_, Pace::Window(w)) => format!("max (window {w})"),
    }
}

fn print_run(run: &Run) {
    let closures = if run.closures.is_empty() {
        "none".to_owned()
    } else {
        format!("{:?}", run.closures)
    };
    println!(
        "  connected {} in {:.1} s, idle {:.1} s after the last connect, settled in {:.1} s (warm-up {}/{}), {:.2} presence frames per join, RSS {:.1} MiB; closures: {closures}{}",
        run.clients,
        run.connect_s,
        run.idle_s,
        run.settle_s,
        run.warmup.0,
        run.warmup.1,
        run.presence_per_join,
        run.rss_connected_mib,
        if run.publisher_errors.is_empty() {
            String::new()
        } else {
            format!("; publisher errors: {:?}", run.publisher_errors)
        }
    );
}

fn print_tables(runs: &[Run], args: &Args) {
    let mut table = Table::new([
        "clients",
        "phase",
        "server",
        "round",
        "sent",
        "delivered / expected",
        "delivered msg/s",
        "p50 ms",
        "p99 ms",
        "a message's last delivery ms, median / p90",
        "server CPU (cores)",
        "server RSS peak MiB",
        "bench CPU (cores)",
        "host steal",
    ]);
    for run in runs {
        for p in &run.phases {
            let d = &p.delivery;
            table.row([
                run.clients.to_string(),
                p.phase.clone(),
                run.server.label().to_owned(),
                run.round.to_string(),
                d.sent.to_string(),
                format!("{} / {}", d.delivered, d.expected),
                format!("{:.0}", d.delivered_per_s),
                format!("{:.2}", d.p50_ms),
                format!("{:.2}", d.p99_ms),
                match (d.last_p50_ms, d.last_p90_ms) {
                    (Some(p50), Some(p90)) => format!("{p50:.2} / {p90:.2}"),
                    _ => "–".to_owned(),
                },
                format!("{:.2}", p.server_cpu_cores),
                format!("{:.1}", p.server_rss_peak_mib),
                format!("{:.2}", p.bench_cpu_cores),
                p.host_steal
                    .map_or("–".to_owned(), |s| format!("{:.0}%", s * 100.0)),
            ]);
        }
    }
    table.print(&format!(
        "Gateway vs Socket.IO: one room, {} B messages, one publisher outside the room",
        args.payload_bytes
    ));

    let mut ratios = Table::new([
        "clients",
        "phase",
        "rounds",
        "delivered msg/s",
        "p50",
        "p99",
        "server CPU",
        "server RSS",
        "deliveries per CPU-second",
    ]);
    let per_cpu = |p: &PhaseRun| p.delivery.delivered_per_s / p.server_cpu_cores.max(1e-9);
    let metrics: [fn(&PhaseRun) -> f64; 6] = [
        |p| p.delivery.delivered_per_s,
        |p| p.delivery.p50_ms,
        |p| p.delivery.p99_ms,
        |p| p.server_cpu_cores,
        |p| p.server_rss_peak_mib,
        per_cpu,
    ];
    for rc in runs
        .iter()
        .filter(|r| r.server == Kind::Roomcast && r.round <= 1)
    {
        // Each round's roomcast run against the Socket.IO run of the same round.
        let pairs: Vec<(&Run, &Run)> = runs
            .iter()
            .filter(|a| a.server == Kind::Roomcast && a.clients == rc.clients)
            .filter_map(|a| {
                let b = runs.iter().find(|b| {
                    b.server == Kind::SocketIo && b.clients == a.clients && b.round == a.round
                })?;
                Some((a, b))
            })
            .collect();
        if pairs.is_empty() {
            continue;
        }
        for (i, phase) in rc.phases.iter().enumerate() {
            let mut row = vec![
                rc.clients.to_string(),
                phase.phase.clone(),
                pairs.len().to_string(),
            ];
            for metric in metrics {
                let each: Vec<f64> = pairs
                    .iter()
                    .filter_map(|(a, b)| Some((a.phases.get(i)?, b.phases.get(i)?)))
                    .map(|(a, b)| metric(a) / metric(b))
                    .filter(|r| r.is_finite())
                    .collect();
                row.push(median_ratio(&each));
            }
            ratios.row(row);
        }
    }
    ratios.print("Ratios, roomcast ÷ Socket.IO, the median of the rounds' (min–max) (throughput: higher is better for roomcast; latency, CPU, RSS: lower)");

    let mut setup = Table::new([
        "clients",
        "server",
        "round",
        "connect s",
        "idle after s",
        "settle s",
        "presence frames / join",
        "RSS connected MiB",
        "closures by the server",
        "publisher errors",
    ]);
    for run in runs {
        setup.row([
            run.clients.to_string(),
            run.server.label().to_owned(),
            run.round.to_string(),
            format!("{:.1}", run.connect_s),
            format!("{:.1}", run.idle_s),
            format!("{:.1}", run.settle_s),
            format!("{:.2}", run.presence_per_join),
            format!("{:.1}", run.rss_connected_mib),
            counts(&run.closures),
            counts(&run.publisher_errors),
        ]);
    }
    setup.print("Connecting and settling");
}

/// The median of one ratio over the rounds, with its range when there are several.
fn median_ratio(each: &[f64]) -> String {
    let (Some(min), Some(max)) = (
        each.iter().copied().reduce(f64::min),
        each.iter().copied().reduce(f64::max),
    ) else {
        return "–".to_owned();
    };
    let median = median(each);
    if each.len() == 1 {
        format!("{median:.2}×")
    } else {
        format!("{median:.2}× ({min:.2}–{max:.2})")
    }
}

fn counts(map: &BTreeMap<String, u64>) -> String {
    if map.is_empty() {
        return "0".to_owned();
    }
    map.iter()
        .map(|(k, v)| format!("{v} × {k}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::median_ratio;

    #[test]
    fn a_ratio_over_rounds_is_their_median_with_its_range() {
        assert_eq!(median_ratio(&[2.0]), "2.00×");
        assert_eq!(median_ratio(&[1.9, 2.4, 2.1]), "2.10× (1.90–2.40)");
        assert_eq!(median_ratio(&[]), "–");
    }
}
