//! The soak: many `roomcast-sdk` clients editing their rooms for minutes against the
//! local gateway while a share of them disconnects and comes back every period and
//! the gateway is restarted once; then every acked edit must be in the final states.
//!
//! ## Why the real SDK
//!
//! The clients are [`roomcast_sdk::Client`]s, not raw sockets: what the soak proves
//! is that what users run survives a restart — the SDK's reconnect with backoff (into
//! the connect rate limit), its re-join and resync by version, its version rule
//! dropping duplicates — and that nothing acked is lost by the gateway. A raw socket
//! harness would test a reconnect loop of its own instead. Each client's
//! [`Events`](roomcast_sdk::Events) stream is watched to count what the connection
//! delivered and what the version rule did with it.
//!
//! ## The run
//!
//! 1. Start the gateway (`roomcast`, a child process with its own data dir; the
//!    per-IP connect limit is lifted, since every client here shares 127.0.0.1, and
//!    the global one stays at its default of 500/s like API Gateway's).
//! 2. Ramp: connect the clients at `--ramp-rate` per second, each into room
//!    `soak-NN` (client `i` in room `i % rooms`), and wait for every first state.
//!    Sample the gateway's RSS (**start**).
//! 3. Run for `--duration`: each client edits at `--edit-rate` (exponential gaps),
//!    one request at a time: add (up to `--max-icons` icons), move or delete one of
//!    its own icons. Every `--churn-period`, `--churn` of the clients (drawn anew)
//!    close their connection at a random moment of the period — abandoning an edit in
//!    flight — stay away 0.5–3 s and connect again with a fresh client. At
//!    `--restart-at` of the run, RSS (**before restart**), then the gateway gets
//!    SIGTERM and is started again on the same port and data dir; the clients' SDKs
//!    reconnect on their own. **Recovery** is the time from the gateway being healthy
//!    again until every client has a room state from it; RSS **after restart** once
//!    recovered.
//! 4. Stop editing (each client finishes its request in flight and is connected),
//!    read every room's final state over a fresh connection, wait for every client's
//!    replica to reach the final version and compare it to the final state, RSS
//!    (**end**), read the final states again (they must not have moved).
//! 5. Check every client's [`ledger`] against the final states: acked edits present
//!    must equal acked edits (lost = 0), unacked edits are reported as present or
//!    absent, and no icon may be unexplained.
//!
//! The run fails (non-zero exit) when an acked edit is lost, a state holds something
//! no edit explains, a replica does not converge, a client is stuck (no state from the
//! restarted gateway, or cannot connect), the final states move after the stop, or the
//! gateway's RSS at before-restart, after-restart or end exceeds
//! `start × --rss-factor + --rss-slack-mib`. It never fails on speed.
//!
//! ## Latencies
//!
//! - **edit → ack**: from the SDK call to its result (for `add_icon` that includes the
//!   new icon's own patch, which carries its id: what a caller waits for);
//! - **publish → receive**: from the editor sending the edit to another member of the
//!   room receiving its patch (first arrival, duplicates excluded; adds and moves,
//!   whose positions say which edit they are).
//!
//! Both are split into the **restart window** (overlapping the time from SIGTERM
//! until every client has a state again; edits then wait in the SDK's backlog) and
//! **steady** (the rest).

mod ledger;
mod player;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use futures::StreamExt;
use rand::Rng;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::index::sample;
use roomcast_sdk::{Client, Reconnect, RoomName};
use serde::Serialize;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::support::Output;
use crate::support::gateway::{GatewayProcess, gateway_supports};
use crate::support::proc::{ProcSample, mib};
use crate::support::stats::Latencies;
use crate::support::table::Table;
use ledger::{Finals, Ledger, Verdict};
use player::{Connection, Counts, Finished, Phase, Plan, Shared};

/// Churn against the gateway, restarted once: acked edits vs final states.
#[derive(Debug, Clone, clap::Args, Serialize)]
pub struct Args {
    /// Clients (`roomcast-sdk` Clients), spread evenly over the rooms.
    #[arg(long, default_value_t = 2000)]
    pub clients: u32,
    /// Rooms (`soak-00`, `soak-01`, …).
    #[arg(long, default_value_t = 50)]
    pub rooms: u32,
    /// Seconds of editing (the whole run adds the ramp and the checks).
    #[arg(long, default_value_t = 240.0)]
    pub duration: f64,
    /// Share of the clients that disconnect and reconnect in each churn period.
    #[arg(long, default_value_t = 0.2)]
    pub churn: f64,
    /// Seconds per churn period.
    #[arg(long, default_value_t = 60.0)]
    pub churn_period: f64,
    /// Mean edits per second per client.
    #[arg(long, default_value_t = 0.25)]
    pub edit_rate: f64,
    /// When the gateway is restarted, as a share of the duration (1 or more: never).
    #[arg(long, default_value_t = 0.5)]
    pub restart_at: f64,
    /// Seed for the edits, the churn schedule and the timings.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Connects per second while ramping up (under the gateway's 500/s limit).
    #[arg(long, default_value_t = 400)]
    pub ramp_rate: u32,
    /// The gateway's `--connects-per-second` (unset: its default, 500).
    #[arg(long)]
    pub connects_per_second: Option<u32>,
    /// Icons one client keeps at most.
    #[arg(long, default_value_t = 6)]
    pub max_icons: usize,
    /// RSS bound: every later sample at most start × this + `--rss-slack-mib`.
    #[arg(long, default_value_t = 1.5)]
    pub rss_factor: f64,
    /// RSS bound: the fixed allowance, MiB.
    #[arg(long, default_value_t = 32.0)]
    pub rss_slack_mib: f64,
}

#[derive(Parser)]
struct Defaults {
    #[command(flatten)]
    args: Args,
}

impl Args {
    /// CI's smoke version: 100 clients in 5 rooms for 16 s, a churn period of 8 s,
    /// one restart half-way.
    pub fn quick() -> Self {
        Self {
            clients: 100,
            rooms: 5,
            duration: 16.0,
            churn_period: 8.0,
            edit_rate: 1.0,
            ..Self::full()
        }
    }

    /// The numbers: 2,000 clients over 50 rooms, 4 minutes of edits, 20% of
    /// the clients churning each minute, one restart (about 4.5 minutes in all).
    pub fn full() -> Self {
        Defaults::parse_from(["soak"]).args
    }

    fn check(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.clients >= 1 && self.rooms >= 1,
            "need clients and rooms"
        );
        anyhow::ensure!(
            self.clients < ledger::MAX_CLIENTS,
            "at most {} clients (one x coordinate each)",
            ledger::MAX_CLIENTS - 1
        );
        anyhow::ensure!(
            self.duration > 0.0 && self.edit_rate > 0.0,
            "need time and edits"
        );
        anyhow::ensure!(
            (0.0..=1.0).contains(&self.churn) && self.churn_period > 0.0,
            "--churn is a share in 0..=1 of the clients per --churn-period"
        );
        anyhow::ensure!(
            self.ramp_rate >= 1 && self.max_icons >= 1,
            "bad ramp rate or icons"
        );
        Ok(())
    }
}

/// Run the soak, print its table, save `soak.json`; fail if anything was lost.
pub async fn run(args: Args, out: &Output) -> anyhow::Result<()> {
    args.check()?;
    let wall = Instant::now();
    println!(
        "\n## soak: {} clients in {} rooms, {:.0} s of edits at {}/s each, {:.0}% churn per {:.0} s, restart at {:.0}%",
        args.clients,
        args.rooms,
        args.duration,
        args.edit_rate,
        args.churn * 100.0,
        args.churn_period,
        args.restart_at * 100.0
    );

    let mut flags: Vec<String> = Vec::new();
    // Every client here comes from 127.0.0.1; 2,000 players would come from as many
    // addresses, so the per-IP limit is lifted and the global one kept.
    if gateway_supports("--connects-per-second-per-ip")? {
        flags.extend(["--connects-per-second-per-ip".into(), "0".into()]);
    }
    if let Some(n) = args.connects_per_second {
        flags.extend(["--connects-per-second".into(), n.to_string()]);
    }
    let flag_refs: Vec<&str> = flags.iter().map(String::as_str).collect();
    let mut gw = GatewayProcess::start(&flag_refs).await?;
    let pid = Arc::new(AtomicU32::new(gw.pid()));

    let rooms: Vec<RoomName> = (0..args.rooms)
        .map(|i| RoomName::parse(format!("soak-{i:02}")))
        .collect::<Result<_, _>>()?;
    let shared = Arc::new(Shared::new(
        Plan {
            url: format!("ws://127.0.0.1:{}/dev", gw.port()),
            rooms: rooms.clone(),
            edit_rate: args.edit_rate,
            max_icons: args.max_icons,
            offline: (Duration::from_millis(500), Duration::from_secs(3)),
            seed: args.seed,
        },
        args.clients as usize,
    ));
    let (phase_tx, phase_rx) = watch::channel((Phase::Ramp, None));

    // Ramp.
    let duration = Duration::from_secs_f64(args.duration);
    let schedule = churn_schedule(&args);
    let ramp_started = Instant::now();
    let players: Vec<_> = schedule
        .into_iter()
        .enumerate()
        .map(|(i, churn)| {
            let start_after = Duration::from_secs_f64(i as f64 / f64::from(args.ramp_rate));
            tokio::spawn(player::play(
                i as u32,
                i % args.rooms as usize,
                start_after,
                churn,
                shared.clone(),
                phase_rx.clone(),
            ))
        })
        .collect();
    let ramp_deadline = ramp_started
        + Duration::from_secs_f64(f64::from(args.clients) / f64::from(args.ramp_rate) + 90.0);
    loop {
        let ready = shared.ready.load(Ordering::Relaxed);
        if ready == args.clients as usize {
            break;
        }
        if Instant::now() > ramp_deadline || players.iter().any(|p| p.is_finished()) {
            // Say why: the first player that ended during the ramp, and how.
            let why = match players.into_iter().find(|p| p.is_finished()) {
                None => "none ended".to_owned(),
                Some(p) => match p.await {
                    Ok(finished) => finished
                        .error
                        .unwrap_or_else(|| "ended without error".into()),
                    Err(e) => format!("its task failed: {e}"),
                },
            };
            anyhow::bail!(
                "soak: only {ready} of {} clients connected with a state; first player that ended: {why}",
                args.clients
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let ramp = ramp_started.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_start = ProcSample::read(gw.pid())?.rss_bytes;
    println!(
        "ramp: {} clients connected in {:.1} s; gateway RSS {:.1} MiB",
        args.clients,
        ramp.as_secs_f64(),
        mib(rss_start)
    );

    // Run.
    let run_start = Instant::now();
    let run_end = run_start + duration;
    phase_tx.send_replace((Phase::Run, Some(run_start)));
    let rss_samples = Arc::new(Mutex::new(Vec::new()));
    let sampler = tokio::spawn(sample_rss(pid.clone(), run_start, rss_samples.clone()));
    let restart = if args.restart_at < 1.0 {
        let at = run_start + duration.mul_f64(args.restart_at.max(0.0));
        tokio::time::sleep_until(at).await;
        Some(restart(&mut gw, &pid, &shared, &args, run_start).await?)
    } else {
        None
    };
    tokio::time::sleep_until(run_end).await;
    println!(
        "run: {:.0} s of edits done; stopping",
        duration.as_secs_f64()
    );

    // Stop and collect.
    phase_tx.send_replace((Phase::Stop, Some(run_start)));
    let mut ledgers: Vec<Ledger> = Vec::with_capacity(players.len());
    let mut connections: Vec<(usize, Connection)> = Vec::new();
    let mut errors: Vec<String> = Vec::new();
    let joined = tokio::time::timeout(Duration::from_secs(120), futures::future::join_all(players))
        .await
        .context("soak: clients did not stop within 120 s")?;
    for finished in joined {
        let Finished {
            ledger,
            connection,
            error,
        } = finished.context("a soak client panicked")?;
        if let Some(s) = connection {
            connections.push((ledger.room, s));
        }
        errors.extend(error);
        ledgers.push(ledger);
    }
    sampler.abort();
    let rss_samples = std::mem::take(&mut *rss_samples.lock().expect("samples"));

    // Final states, convergence, RSS at the end, stability.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let finals = read_final_states(&gw, &rooms).await?;
    let convergence = converge(&connections, &finals, Duration::from_secs(30)).await;
    let rss_end = ProcSample::read(gw.pid())?.rss_bytes;
    let again = read_final_states(&gw, &rooms).await?;
    let moved: Vec<String> = finals
        .iter()
        .filter(|(i, (_, v, s))| again.get(i).is_none_or(|(_, v2, s2)| v2 != v || s2 != s))
        .map(|(_, (name, ..))| name.clone())
        .collect();
    futures::stream::iter(connections)
        .for_each_concurrent(256, |(_, s)| s.close())
        .await;
    gw.terminate().await?;

    // The check.
    let verdict = ledger::verify_all(&finals, &ledgers);
    let counts = shared.counters.read();
    let latency = {
        let l = shared.latency.lock().expect("latency");
        LatencyReport {
            edit_ack: Quantiles::of(&l.ack_steady, &l.ack_restart),
            publish_receive: Quantiles::of(&l.publish_steady, &l.publish_restart),
        }
    };
    let bound = |start: u64| start as f64 * args.rss_factor + args.rss_slack_mib * 1024.0 * 1024.0;
    let loads: Vec<f64> = rss_samples
        .iter()
        .map(|s| s.2)
        .filter(|l| l.is_finite())
        .collect();
    let machine = Machine {
        cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
        load_mean: loads.iter().sum::<f64>() / loads.len().max(1) as f64,
        load_max: loads.iter().copied().fold(0.0, f64::max),
    };
    let rss = Rss {
        start_mib: mib(rss_start),
        before_restart_mib: restart.as_ref().map(|r| mib(r.rss_before)),
        after_restart_mib: restart.as_ref().map(|r| mib(r.rss_after)),
        end_mib: mib(rss_end),
        peak_mib: rss_samples.iter().map(|s| s.1).fold(mib(rss_end), f64::max),
        bound_mib: mib(bound(rss_start) as u64),
        bound: format!(
            "before restart, after restart and end ≤ start × {} + {} MiB",
            args.rss_factor, args.rss_slack_mib
        ),
        samples: rss_samples.iter().map(|s| (s.0, s.1)).collect(),
    };
    let mut failures = errors;
    if verdict.lost > 0 {
        failures.push(format!("{} acked edit(s) lost", verdict.lost));
    }
    if verdict.acked == 0 {
        failures.push("no edit was acked: the harness did nothing".into());
    }
    if verdict.anomalies > 0 || verdict.versions_ahead > 0 {
        failures.push(format!(
            "{} anomalies and {} acked versions beyond the final state",
            verdict.anomalies, verdict.versions_ahead
        ));
    }
    if counts.diverged > 0 {
        failures.push(format!(
            "{} states differed from a replica at the same version",
            counts.diverged
        ));
    }
    if convergence.converged != convergence.clients {
        failures.push(format!(
            "{} of {} connected clients' replicas did not converge to the final state \
             (behind: {}, different: {})",
            convergence.clients - convergence.converged,
            convergence.clients,
            convergence.behind,
            convergence.different
        ));
    }
    if !moved.is_empty() {
        failures.push(format!("final states moved after the stop: {moved:?}"));
    }
    if let Some(r) = &restart
        && r.not_recovered > 0
    {
        failures.push(format!(
            "{} client(s) had no state from the restarted gateway within 60 s",
            r.not_recovered
        ));
    }
    let over: Vec<(&str, f64)> = [
        ("before restart", rss.before_restart_mib),
        ("after restart", rss.after_restart_mib),
        ("end", Some(rss.end_mib)),
    ]
    .into_iter()
    .filter_map(|(name, v)| v.map(|v| (name, v)))
    .filter(|(_, v)| *v > rss.bound_mib)
    .collect();
    if !over.is_empty() {
        failures.push(format!(
            "gateway RSS beyond the bound ({:.1} MiB = {}): {over:?}",
            rss.bound_mib, rss.bound
        ));
    }

    let results = Results {
        args: args.clone(),
        wall_s: wall.elapsed().as_secs_f64(),
        ramp_s: ramp.as_secs_f64(),
        verdict,
        counts,
        restart,
        convergence,
        latency,
        rss,
        machine,
        final_versions: finals.values().map(|(n, v, _)| (n.clone(), *v)).collect(),
        failures: failures.clone(),
        passed: failures.is_empty(),
    };
    print_table(&results);
    out.save("soak", &results)?;
    if failures.is_empty() {
        println!(
            "soak passed: {} acked edits, all in the final states ({:.0} s)",
            results.verdict.acked, results.wall_s
        );
        Ok(())
    } else {
        for d in &results.verdict.details {
            eprintln!("  {d}");
        }
        anyhow::bail!("soak FAILED:\n  - {}", failures.join("\n  - "))
    }
}

/// Per client, the offsets from the run's start at which it churns: in every period,
/// `churn` of the clients, each at a uniform moment of the period.
fn churn_schedule(args: &Args) -> Vec<Vec<Duration>> {
    let mut rng = StdRng::seed_from_u64(args.seed ^ 0xC4_0C4);
    let n = args.clients as usize;
    let mut schedule = vec![Vec::new(); n];
    let per_period = (args.churn * n as f64).round() as usize;
    let mut start = 0.0;
    while start < args.duration {
        let end = (start + args.churn_period).min(args.duration);
        for i in sample(&mut rng, n, per_period.min(n)) {
            schedule[i].push(Duration::from_secs_f64(rng.random_range(start..end)));
        }
        start += args.churn_period;
    }
    for s in &mut schedule {
        s.sort();
    }
    schedule
}

/// Every 2 s over the run into `samples`: (seconds since the run's start, the
/// gateway's RSS in MiB, the machine's 1-minute load average). Runs until aborted.
async fn sample_rss(pid: Arc<AtomicU32>, from: Instant, samples: Arc<Mutex<Vec<(f64, f64, f64)>>>) {
    let mut tick = tokio::time::interval(Duration::from_secs(2));
    loop {
        tick.tick().await;
        if let Ok(s) = ProcSample::read(pid.load(Ordering::Relaxed)) {
            samples.lock().expect("samples").push((
                from.elapsed().as_secs_f64(),
                mib(s.rss_bytes),
                load_average().unwrap_or(f64::NAN),
            ));
        }
    }
}

/// The 1-minute load average (`/proc/loadavg`): the soak shares the machine with
/// whatever else runs, which shows in the latencies.
fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// What the restart did.
#[derive(Debug, Clone, Serialize)]
struct Restart {
    /// Seconds into the run.
    at_s: f64,
    /// SIGTERM until the new process answered `/healthz`.
    downtime_s: f64,
    /// Clients connected at the SIGTERM, whose SDKs reconnect by themselves.
    connected_at_restart: usize,
    /// From healthy again until each of those had a state from it: the median client
    /// and the last.
    recovery_p50_s: f64,
    recovery_max_s: f64,
    /// The same over every client, including those away on the churn schedule at the
    /// SIGTERM (they come back after their 0.5–3 s away).
    recovery_all_max_s: f64,
    /// Clients with no state from the restarted gateway within 60 s (must be 0).
    not_recovered: usize,
    #[serde(skip)]
    rss_before: u64,
    #[serde(skip)]
    rss_after: u64,
}

async fn restart(
    gw: &mut GatewayProcess,
    pid: &AtomicU32,
    shared: &Shared,
    args: &Args,
    run_start: Instant,
) -> anyhow::Result<Restart> {
    let rss_before = ProcSample::read(gw.pid())?.rss_bytes;
    let connected: Vec<bool> = shared
        .online
        .iter()
        .map(|o| o.load(Ordering::Relaxed))
        .collect();
    let term = Instant::now();
    let _ = shared.restart_term.set(term);
    gw.restart().await.context("restarting the gateway")?;
    let healthy = Instant::now();
    pid.store(gw.pid(), Ordering::Relaxed);
    println!(
        "restart: SIGTERM at {:.1} s, healthy again after {:.2} s; waiting for the clients",
        term.duration_since(run_start).as_secs_f64(),
        healthy.duration_since(term).as_secs_f64()
    );
    let deadline = healthy + Duration::from_secs(60);
    let n = args.clients as usize;
    let mut stamps: Vec<Option<Instant>>;
    loop {
        stamps = (0..n).map(|i| shared.recovered_instant(i)).collect();
        if stamps.iter().all(Option::is_some) || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = shared.recovered_at.set(Instant::now());
    let wait = |s: &Instant| s.saturating_duration_since(healthy).as_secs_f64();
    let mut waits: Vec<f64> = stamps
        .iter()
        .zip(&connected)
        .filter(|(_, c)| **c)
        .filter_map(|(s, _)| s.as_ref().map(wait))
        .collect();
    waits.sort_by(f64::total_cmp);
    let recovery_max_s = waits.last().copied().unwrap_or(f64::NAN);
    let recovery_p50_s = waits.get(waits.len() / 2).copied().unwrap_or(f64::NAN);
    let recovery_all_max_s = stamps.iter().flatten().map(wait).fold(f64::NAN, f64::max);
    let recovered = stamps.iter().flatten().count();
    let connected_at_restart = connected.iter().filter(|c| **c).count();
    println!(
        "restart: {connected_at_restart} clients connected at the SIGTERM had a state again {recovery_max_s:.2} s \
         after the gateway was back (median {recovery_p50_s:.2} s); all {recovered} of {n} after {recovery_all_max_s:.2} s",
    );
    // Let the reconnect burst settle before reading memory.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_after = ProcSample::read(gw.pid())?.rss_bytes;
    Ok(Restart {
        at_s: term.duration_since(run_start).as_secs_f64(),
        downtime_s: healthy.duration_since(term).as_secs_f64(),
        connected_at_restart,
        recovery_p50_s,
        recovery_max_s,
        recovery_all_max_s,
        not_recovered: n - recovered,
        rss_before,
        rss_after,
    })
}

/// Every room's state over a fresh connection (a reader, not one of the players).
async fn read_final_states(gw: &GatewayProcess, rooms: &[RoomName]) -> anyhow::Result<Finals> {
    let url = gw.ws_url("soak-reader");
    let mut delay = Duration::from_millis(100);
    let deadline = Instant::now() + Duration::from_secs(30);
    let reader = loop {
        match Client::connect(url.as_str())
            .reconnect(Reconnect::never())
            .await
        {
            Ok(c) => break c,
            Err(e) if Instant::now() < deadline => {
                tracing::debug!(error = %e, "reader connect failed; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(2));
            }
            Err(e) => return Err(e).context("connecting the final-state reader"),
        }
    };
    let mut finals = BTreeMap::new();
    for (i, room) in rooms.iter().enumerate() {
        let s = reader
            .get_state(room.as_str())
            .await
            .with_context(|| format!("getState {room}"))?;
        finals.insert(i, (room.as_str().to_owned(), s.version, s.state));
    }
    reader.close().await;
    Ok(finals)
}

/// Connected clients whose replica equals its room's final state.
#[derive(Debug, Clone, Default, Serialize)]
struct Convergence {
    clients: usize,
    converged: usize,
    /// Replicas still below the final version when the wait ended.
    behind: usize,
    /// Replicas at the final version with different content.
    different: usize,
    wait_s: f64,
}

async fn converge(
    connections: &[(usize, Connection)],
    finals: &Finals,
    limit: Duration,
) -> Convergence {
    let started = Instant::now();
    let deadline = started + limit;
    loop {
        let mut c = Convergence {
            clients: connections.len(),
            ..Default::default()
        };
        for (room, s) in connections {
            let (_, version, state) = &finals[room];
            match s.client.state(s.room.as_str()) {
                Some(held) if held.version == *version && held.state == *state => c.converged += 1,
                Some(held) if held.version == *version => c.different += 1,
                _ => c.behind += 1,
            }
        }
        if c.converged == c.clients || Instant::now() > deadline {
            c.wait_s = started.elapsed().as_secs_f64();
            return c;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[derive(Debug, Clone, Serialize)]
struct Quantiles {
    /// Samples outside the restart window.
    count: u64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    /// Samples overlapping the restart window.
    restart_count: u64,
    restart_p50_ms: f64,
    restart_p99_ms: f64,
    restart_max_ms: f64,
}

impl Quantiles {
    fn of(steady: &Latencies, restart: &Latencies) -> Self {
        let q = |l: &Latencies, q: f64| {
            if l.count() == 0 {
                f64::NAN
            } else {
                l.quantile_ms(q)
            }
        };
        Self {
            count: steady.count(),
            p50_ms: q(steady, 0.5),
            p99_ms: q(steady, 0.99),
            max_ms: q(steady, 1.0),
            restart_count: restart.count(),
            restart_p50_ms: q(restart, 0.5),
            restart_p99_ms: q(restart, 0.99),
            restart_max_ms: q(restart, 1.0),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
struct LatencyReport {
    edit_ack: Quantiles,
    publish_receive: Quantiles,
}

#[derive(Debug, Clone, Serialize)]
struct Rss {
    start_mib: f64,
    before_restart_mib: Option<f64>,
    after_restart_mib: Option<f64>,
    end_mib: f64,
    peak_mib: f64,
    bound_mib: f64,
    bound: String,
    /// (seconds into the run, MiB) every 2 s.
    samples: Vec<(f64, f64)>,
}

/// The machine the run shared: the bench, the gateway and whatever else ran.
#[derive(Debug, Clone, Serialize)]
struct Machine {
    cores: usize,
    /// 1-minute load average over the run: mean and highest sample.
    load_mean: f64,
    load_max: f64,
}

#[derive(Debug, Clone, Serialize)]
struct Results {
    args: Args,
    wall_s: f64,
    ramp_s: f64,
    verdict: Verdict,
    counts: Counts,
    restart: Option<Restart>,
    convergence: Convergence,
    latency: LatencyReport,
    rss: Rss,
    machine: Machine,
    final_versions: BTreeMap<String, u64>,
    failures: Vec<String>,
    passed: bool,
}

fn print_table(r: &Results) {
    let v = &r.verdict;
    let c = &r.counts;
    let mut t = Table::new(["measure", "value"]);
    let ms = |x: f64| format!("{x:.1} ms");
    t.row([
        "clients / rooms / edit time".to_string(),
        format!(
            "{} / {} / {:.0} s (whole run {:.0} s)",
            r.args.clients, r.args.rooms, r.args.duration, r.wall_s
        ),
    ]);
    t.row(["edits sent".to_string(), c.edits.to_string()]);
    t.row(["acked edits".to_string(), v.acked.to_string()]);
    t.row([
        "acked edits present in the final states".to_string(),
        v.present.to_string(),
    ]);
    t.row(["lost (acked, absent)".to_string(), v.lost.to_string()]);
    t.row([
        "unacked edits: present / absent".to_string(),
        format!(
            "{}: {} / {}",
            v.unacked, v.unacked_present, v.unacked_absent
        ),
    ]);
    t.row([
        "rejected edits (of which rate_limited)".to_string(),
        format!("{} ({})", v.rejected, c.rate_limited),
    ]);
    t.row([
        "unexplained icons / versions ahead".to_string(),
        format!("{} / {}", v.anomalies, v.versions_ahead),
    ]);
    t.row([
        "messages delivered (patches)".to_string(),
        format!("{} ({})", c.messages, c.patches),
    ]);
    t.row([
        "duplicates dropped (by version)".to_string(),
        c.duplicates.to_string(),
    ]);
    t.row([
        "gaps / resyncs (states that moved a replica)".to_string(),
        format!("{} / {}", c.gaps, c.resyncs),
    ]);
    t.row([
        "churn reconnects / SDK reconnects / connects refused (429)".to_string(),
        format!("{} / {} / {}", c.churns, c.reconnects, c.connects_refused),
    ]);
    if let Some(rs) = &r.restart {
        t.row([
            "restart: downtime / clients connected at SIGTERM synced again".to_string(),
            format!(
                "{:.2} s / {} clients {:.2} s after healthy (median {:.2} s); \
                 all {} {:.2} s, {} stuck",
                rs.downtime_s,
                rs.connected_at_restart,
                rs.recovery_max_s,
                rs.recovery_p50_s,
                r.args.clients,
                rs.recovery_all_max_s,
                rs.not_recovered
            ),
        ]);
    }
    t.row([
        "replicas converged to the final state".to_string(),
        format!("{} / {}", r.convergence.converged, r.convergence.clients),
    ]);
    let e = &r.latency.edit_ack;
    t.row([
        "edit → ack p50 / p99 (restart window p99)".to_string(),
        format!(
            "{} / {} ({})",
            ms(e.p50_ms),
            ms(e.p99_ms),
            ms(e.restart_p99_ms)
        ),
    ]);
    let p = &r.latency.publish_receive;
    t.row([
        "publish → receive p50 / p99 (restart window p99)".to_string(),
        format!(
            "{} / {} ({})",
            ms(p.p50_ms),
            ms(p.p99_ms),
            ms(p.restart_p99_ms)
        ),
    ]);
    let opt = |x: Option<f64>| x.map_or("-".to_string(), |x| format!("{x:.1}"));
    t.row([
        "gateway RSS MiB: start / before restart / after restart / end".to_string(),
        format!(
            "{:.1} / {} / {} / {:.1}",
            r.rss.start_mib,
            opt(r.rss.before_restart_mib),
            opt(r.rss.after_restart_mib),
            r.rss.end_mib
        ),
    ]);
    t.row([
        "RSS bound".to_string(),
        format!("{:.1} MiB ({})", r.rss.bound_mib, r.rss.bound),
    ]);
    t.row([
        "machine: cores / load average over the run (mean, max)".to_string(),
        format!(
            "{} / {:.1}, {:.1}",
            r.machine.cores, r.machine.load_mean, r.machine.load_max
        ),
    ]);
    t.print("soak");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn churn_takes_the_share_in_every_period_within_the_run() {
        let args = Args {
            clients: 100,
            duration: 150.0,
            churn_period: 60.0,
            ..Args::full()
        };
        let schedule = churn_schedule(&args);
        let all: Vec<f64> = schedule
            .iter()
            .flatten()
            .map(Duration::as_secs_f64)
            .collect();
        // Periods [0, 60), [60, 120), [120, 150): 20 clients each.
        for (lo, hi) in [(0.0, 60.0), (60.0, 120.0), (120.0, 150.0)] {
            assert_eq!(all.iter().filter(|t| (lo..hi).contains(*t)).count(), 20);
        }
        assert_eq!(all.len(), 60);
        // Nobody churns twice in one period.
        for s in &schedule {
            for w in s.windows(2) {
                assert!((w[0].as_secs_f64() / 60.0).floor() < (w[1].as_secs_f64() / 60.0).floor());
            }
        }
        assert_eq!(churn_schedule(&args), schedule, "the seed decides");
    }

    #[test]
    fn quick_and_full_are_valid() {
        Args::quick().check().unwrap();
        let full = Args::full();
        full.check().unwrap();
        assert_eq!((full.clients, full.rooms), (2000, 50));
        assert!(
            full.duration <= 270.0,
            "the whole full run stays under 5 minutes"
        );
    }
}
