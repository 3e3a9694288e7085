//! The three measures, each against a fresh server, with the load benchmark's client
//! stack and the /proc sampling `memory` and `load` use.

use super::oversize::{self, Verdict};
use super::server::CrateServer;
use crate::load::generator::{
    Clock, Delivery, Generator, Pace, Phase, Publisher, Rooms, Shared, Swarm,
};
use crate::load::server::Kind;
use crate::support::proc::{ProcSample, mib};
use crate::support::sampler::{PeakRss, wait_idle};
use std::time::{Duration, Instant};

/// Warm-up messages every client must receive before the broadcast is measured.
const WARMUP_MESSAGES: u32 = 3;
const WARMUP_TIMEOUT: Duration = Duration::from_secs(60);

/// Wait until the server is idle, at most `timeout`; a zero `timeout` (the quick run,
/// where the figures are not the point) does not wait at all.
async fn settle(pid: u32, timeout: Duration) -> anyhow::Result<()> {
    if !timeout.is_zero() {
        wait_idle(pid, timeout).await?;
    }
    Ok(())
}

/// RSS per idle connection (as `memory`: with N − without, ÷ N).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Memory {
    pub connections: usize,
    pub rss_baseline_mib: f64,
    pub rss_connected_mib: f64,
    pub kib_per_connection: f64,
    pub connect_s: f64,
    /// Connections the server ended while they sat idle.
    pub closed: u64,
}

/// `n` idle clients, all in the one room; the server is read idle before and after.
pub async fn memory(
    server: &CrateServer,
    n: usize,
    concurrency: usize,
    settle_for: Duration,
) -> anyhow::Result<(Memory, Swarm)> {
    let pid = server.pid();
    settle(pid, settle_for.min(Duration::from_secs(10))).await?;
    let baseline = ProcSample::read(pid)?.rss_bytes;
    let shared = Shared::new(Clock::new());
    let connecting = Instant::now();
    let swarm = Swarm::connect(
        Kind::Plain,
        server.port(),
        Rooms::One("idle"),
        n,
        concurrency,
        shared.clone(),
    )
    .await?;
    let connect_s = connecting.elapsed().as_secs_f64();
    settle(pid, settle_for).await?;
    let connected = ProcSample::read(pid)?.rss_bytes;
    let memory = Memory {
        connections: swarm.len(),
        rss_baseline_mib: mib(baseline),
        rss_connected_mib: mib(connected),
        kib_per_connection: connected.saturating_sub(baseline) as f64
            / swarm.len().max(1) as f64
            / 1024.0,
        connect_s,
        closed: shared.closures().values().sum(),
    };
    Ok((memory, swarm))
}

/// One frame of `bytes` per try, each on a connection of its own.
pub async fn oversize(
    server: &CrateServer,
    bytes: usize,
    limit: usize,
    tries: usize,
) -> anyhow::Result<Vec<Verdict>> {
    let mut verdicts = Vec::with_capacity(tries);
    for _ in 0..tries {
        verdicts.push(oversize::probe(server.port(), bytes, limit).await?);
    }
    Ok(verdicts)
}

/// Broadcasting as fast as the server takes it (`load`'s max phase).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Broadcast {
    pub clients: usize,
    /// Warm-up deliveries received / owed.
    pub warmup: (u64, u64),
    pub delivery: Delivery,
    /// Server CPU over the phase (publishing and draining), seconds and cores.
    pub server_cpu_s: f64,
    pub server_cpu_cores: f64,
    /// Deliveries counted by the clients per second of server CPU.
    pub deliveries_per_cpu_s: f64,
    pub server_rss_peak_mib: f64,
    /// Client connections the server ended during the run, by close code.
    pub closures: u64,
}

/// `clients` in the room, one publisher (also in the room: these servers have one
/// room, so it gets its own messages too; those deliveries are not counted).
pub async fn broadcast(
    server: &CrateServer,
    clients: usize,
    payload_bytes: usize,
    window: u32,
    secs: f64,
    concurrency: usize,
    settle_for: Duration,
) -> anyhow::Result<(Broadcast, Swarm)> {
    let pid = server.pid();
    let shared = Shared::new(Clock::new());
    let swarm = Swarm::connect(
        Kind::Plain,
        server.port(),
        Rooms::One("bench"),
        clients,
        concurrency,
        shared.clone(),
    )
    .await?;
    settle(pid, settle_for).await?;
    let publisher = Publisher::connect(Kind::Plain, server.port()).await?;
    let mut generator = Generator::new(shared.clone(), publisher, payload_bytes);
    let warmup = generator.warm_up(WARMUP_MESSAGES, WARMUP_TIMEOUT).await?;
    settle(pid, settle_for).await?;

    let peak = PeakRss::start(pid);
    peak.reset();
    let before = ProcSample::read(pid)?;
    let delivery = generator
        .phase(
            Phase::Max,
            Pace::Window(window),
            Duration::from_secs_f64(secs),
        )
        .await?;
    let after = ProcSample::read(pid)?;
    let server_cpu_s = after.cpu.saturating_sub(before.cpu).as_secs_f64();
    let broadcast = Broadcast {
        clients: swarm.len(),
        warmup,
        deliveries_per_cpu_s: delivery.delivered as f64 / server_cpu_s.max(1e-9),
        delivery,
        server_cpu_s,
        server_cpu_cores: after.cpu_cores_since(&before),
        server_rss_peak_mib: mib(peak.peak()),
        closures: shared.closures().values().sum(),
    };
    Ok((broadcast, swarm))
}
