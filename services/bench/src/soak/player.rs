//! One simulated player: a `roomcast-sdk` [`Client`] in its room, editing its own
//! icons at random, disconnecting and coming back on the churn schedule, and counting
//! what its connection delivered.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use futures::StreamExt;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use roomcast_sdk::{Change, Client, Error, Event, Events, Op, RoomName, ServerMessage};
use serde::Serialize;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::ledger::{self, Kind, Ledger, Outcome, Unacked};
use crate::support::stats::Latencies;

/// Where the run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Clients connect; nobody edits yet.
    Ramp,
    /// Edits, churn, the restart.
    Run,
    /// Finish the edit in flight, be connected, and hand back.
    Stop,
}

/// What every player reads.
pub struct Plan {
    /// `ws://127.0.0.1:<port>/dev`.
    pub url: String,
    pub rooms: Vec<RoomName>,
    /// Mean edits per second per client (exponential gaps).
    pub edit_rate: f64,
    /// Icons a client keeps at most.
    pub max_icons: usize,
    /// How long a churned client stays away: uniform in this range.
    pub offline: (Duration, Duration),
    pub seed: u64,
}

/// What the players share with the run.
pub struct Shared {
    pub plan: Plan,
    pub counters: Counters,
    /// When each client sent each of its edits (index: seq), for publish latency.
    sent: Vec<Mutex<Vec<Instant>>>,
    pub latency: Mutex<LatencySet>,
    /// Set when the gateway gets SIGTERM.
    pub restart_term: OnceLock<Instant>,
    /// Set when every client has a state from the restarted gateway.
    pub recovered_at: OnceLock<Instant>,
    /// Per client: when it first had a room state after the SIGTERM (ns since
    /// `epoch`; 0: not yet).
    pub recovered: Vec<AtomicU64>,
    /// Per client: connected (not away on the churn schedule).
    pub online: Vec<AtomicBool>,
    /// Clients connected with their first state (the ramp's barrier).
    pub ready: AtomicUsize,
    pub epoch: Instant,
}

/// Edit→ack and publish→receive latencies, apart for the restart window (from the
/// SIGTERM until every client has a state again) and the rest.
#[derive(Default)]
pub struct LatencySet {
    pub ack_steady: Latencies,
    pub ack_restart: Latencies,
    pub publish_steady: Latencies,
    pub publish_restart: Latencies,
}

macro_rules! counters {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {
        /// Counts over all players.
        #[derive(Default)]
        pub struct Counters { $($(#[$doc])* pub $name: AtomicU64,)* }

        /// [`Counters`] read out.
        #[derive(Debug, Clone, Default, Serialize)]
        pub struct Counts { $($(#[$doc])* pub $name: u64,)* }

        impl Counters {
            pub fn read(&self) -> Counts {
                Counts { $($name: self.$name.load(Ordering::Relaxed),)* }
            }
        }
    };
}

counters! {
    /// Server messages the clients received (every type).
    messages,
    /// `patch` messages for the client's room.
    patches,
    /// `state` messages for the client's room.
    states,
    /// Patches dropped by the version rule (older than or equal to the held version).
    duplicates,
    /// Patches ahead of the held version (a gap: kept aside, state asked for).
    gaps,
    /// States that moved a replica on (a resync after a gap or a reconnect).
    resyncs,
    /// States at the held version but with different content (must be 0).
    diverged,
    /// Events a watcher fell behind on.
    lagged,
    /// The SDK's own reconnects (after the restart, or a dropped connection).
    reconnects,
    /// Connections the SDK saw drop.
    disconnects,
    /// Disconnect + reconnect by the churn schedule.
    churns,
    /// Fresh connects refused with 429 (connect rate limit), retried.
    connects_refused,
    /// Fresh connects that failed otherwise, retried.
    connects_failed,
    /// Edits sent.
    edits,
    /// Server errors by code: `rate_limited`.
    rate_limited,
}

impl Counters {
    fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

impl Shared {
    pub fn new(plan: Plan, clients: usize) -> Self {
        Self {
            plan,
            counters: Counters::default(),
            sent: (0..clients).map(|_| Mutex::new(Vec::new())).collect(),
            latency: Mutex::new(LatencySet::default()),
            restart_term: OnceLock::new(),
            recovered_at: OnceLock::new(),
            recovered: (0..clients).map(|_| AtomicU64::new(0)).collect(),
            online: (0..clients).map(|_| AtomicBool::new(false)).collect(),
            ready: AtomicUsize::new(0),
            epoch: Instant::now(),
        }
    }

    /// Whether a sample from `from` to now overlaps the restart window.
    fn in_restart_window(&self, from: Instant) -> bool {
        let Some(term) = self.restart_term.get() else {
            return false;
        };
        Instant::now() >= *term && self.recovered_at.get().is_none_or(|end| from < *end)
    }

    fn record_ack(&self, from: Instant) {
        let window = self.in_restart_window(from);
        let mut l = self.latency.lock().expect("latency");
        let h = if window {
            &mut l.ack_restart
        } else {
            &mut l.ack_steady
        };
        h.record(from.elapsed());
    }

    fn record_publish(&self, client: u32, seq: u32) {
        let from = {
            let sent = self.sent[client as usize].lock().expect("sent");
            match sent.get(seq as usize) {
                Some(at) => *at,
                None => return,
            }
        };
        let window = self.in_restart_window(from);
        let mut l = self.latency.lock().expect("latency");
        let h = if window {
            &mut l.publish_restart
        } else {
            &mut l.publish_steady
        };
        h.record(from.elapsed());
    }

    /// When client `index` first had a state after the SIGTERM.
    pub fn recovered_instant(&self, index: usize) -> Option<Instant> {
        match self.recovered[index].load(Ordering::Acquire) {
            0 => None,
            ns => Some(self.epoch + Duration::from_nanos(ns)),
        }
    }
}

/// A player's end: its ledger and its (connected) client, for the final checks.
pub struct Finished {
    pub ledger: Ledger,
    pub connection: Option<Connection>,
    pub error: Option<String>,
}

/// A player's live connection: its connected client and the task counting its events
/// (a new one each time the player comes back from churn).
pub struct Connection {
    pub client: Client,
    pub room: RoomName,
    watcher: JoinHandle<()>,
}

impl Connection {
    /// Close politely and wait for the watcher to see the end.
    pub async fn close(self) {
        self.client.close().await;
        let _ = tokio::time::timeout(Duration::from_secs(5), self.watcher).await;
    }
}

/// Run client `index` in room `room` until [`Phase::Stop`]; `churn` are the instants
/// (offsets from the run's start) at which it disconnects and comes back.
pub async fn play(
    index: u32,
    room: usize,
    start_after: Duration,
    churn: Vec<Duration>,
    shared: Arc<Shared>,
    mut phase: watch::Receiver<(Phase, Option<Instant>)>,
) -> Finished {
    let mut ledger = Ledger::new(index, room);
    let mut rng = StdRng::seed_from_u64(
        shared
            .plan
            .seed
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .wrapping_add(u64::from(index)),
    );
    tokio::time::sleep(start_after).await;
    let mut connection = match connect(index, room, &shared).await {
        Ok(s) => s,
        Err(e) => {
            return Finished {
                ledger,
                connection: None,
                error: Some(e),
            };
        }
    };
    shared.online[index as usize].store(true, Ordering::Relaxed);
    shared.ready.fetch_add(1, Ordering::Relaxed);
    let run_start = match phase.wait_for(|(p, _)| *p != Phase::Ramp).await {
        Ok(state) => state.1,
        Err(_) => None,
    }
    .unwrap_or_else(Instant::now);
    let mut churn = churn.into_iter().map(|d| run_start + d).peekable();
    let mut next_edit = Instant::now() + gap(&mut rng, shared.plan.edit_rate);
    let mut stop = phase.clone();
    loop {
        let churn_at = churn.peek().copied();
        tokio::select! {
            _ = tokio::time::sleep_until(next_edit) => {
                edit(&mut ledger, &connection, &shared, &mut rng, churn_at).await;
                next_edit = Instant::now() + gap(&mut rng, shared.plan.edit_rate);
            }
            _ = sleep_until_opt(churn_at) => {
                churn.next();
                Counters::inc(&shared.counters.churns);
                shared.online[index as usize].store(false, Ordering::Relaxed);
                connection.close().await;
                let (lo, hi) = shared.plan.offline;
                let away = rng.random_range(lo.as_secs_f64()..=hi.as_secs_f64());
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs_f64(away)) => {}
                    _ = until_stop(&mut stop) => {}
                }
                connection = match connect(index, room, &shared).await {
                    Ok(s) => s,
                    Err(e) => return Finished { ledger, connection: None, error: Some(e) },
                };
                shared.online[index as usize].store(true, Ordering::Relaxed);
            }
            _ = until_stop(&mut phase) => break,
        }
    }
    Finished {
        ledger,
        connection: Some(connection),
        error: None,
    }
}

/// Until the run says stop (or is gone).
async fn until_stop(phase: &mut watch::Receiver<(Phase, Option<Instant>)>) {
    let _ = phase.wait_for(|(p, _)| *p == Phase::Stop).await;
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// An exponential gap with mean `1 / rate`, capped at 10 means.
fn gap(rng: &mut StdRng, rate: f64) -> Duration {
    let u: f64 = rng.random_range(f64::EPSILON..1.0);
    Duration::from_secs_f64((-u.ln()).min(10.0) / rate)
}

/// Open a fresh connection to the client's room (retrying refusals such as the
/// connect rate limit's 429 for up to a minute) and wait for its first state.
async fn connect(index: u32, room: usize, shared: &Arc<Shared>) -> Result<Connection, String> {
    let name = shared.plan.rooms[room].clone();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut delay = Duration::from_millis(100);
    let client = loop {
        let attempt = Client::connect(shared.plan.url.as_str())
            .room(name.as_str())
            .event_buffer(256)
            .await;
        match attempt {
            Ok(client) => break client,
            Err(e) => {
                if matches!(e, Error::Rejected { status: 429, .. }) {
                    Counters::inc(&shared.counters.connects_refused);
                } else {
                    Counters::inc(&shared.counters.connects_failed);
                }
                if Instant::now() >= deadline {
                    return Err(format!(
                        "client {index}: could not connect within 60 s: {e}"
                    ));
                }
                let jitter = rand::random_range(0.5..1.0);
                tokio::time::sleep(delay.mul_f64(jitter)).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    };
    let (first_tx, first_rx) = oneshot::channel();
    let watcher = tokio::spawn(watch_events(
        index,
        name.clone(),
        client.clone(),
        client.events(),
        shared.clone(),
        first_tx,
    ));
    // The first events() stream has every event since connect, so the join answer's
    // state reaches the watcher even when it came before this subscription.
    if tokio::time::timeout(Duration::from_secs(30), first_rx)
        .await
        .is_err()
    {
        return Err(format!(
            "client {index}: no state for {name} within 30 s of connecting"
        ));
    }
    Ok(Connection {
        client,
        room: name,
        watcher,
    })
}

/// Client `index` holds its room's state: after the restart's SIGTERM, that is when
/// it recovered (the first time only).
fn had_state(shared: &Shared, index: u32) {
    if let Some(term) = shared.restart_term.get()
        && Instant::now() > *term
    {
        let ns = shared.epoch.elapsed().as_nanos() as u64;
        let _ = shared.recovered[index as usize].compare_exchange(
            0,
            ns.max(1),
            Ordering::AcqRel,
            Ordering::Relaxed,
        );
    }
}

/// One edit: pick it, record it as pending, send it, record the outcome. A churn
/// instant that comes while it is in flight abandons it (the user left mid-edit).
async fn edit(
    ledger: &mut Ledger,
    connection: &Connection,
    shared: &Shared,
    rng: &mut StdRng,
    churn_at: Option<Instant>,
) {
    if !ledger.has_room_for_edits() {
        return;
    }
    let client = &connection.client;
    let room = connection.room.as_str();
    let me = ledger.client;
    // Learn the ids of icons whose add answered without one (the patch came late or
    // the connection dropped): the replica shows them at their add position.
    if ledger.chains.iter().any(|c| !c.retired && c.id.is_none())
        && let Some(snapshot) = client.state(room)
    {
        for chain in ledger
            .chains
            .iter_mut()
            .filter(|c| !c.retired && c.id.is_none())
        {
            let (x, y) = ledger::position(me, chain.add_seq());
            chain.id = snapshot
                .state
                .icons
                .iter()
                .find(|(_, i)| i.x.get() == x && i.y.get() == y)
                .map(|(id, _)| id.clone());
        }
    }
    let editable: Vec<usize> = (0..ledger.chains.len())
        .filter(|&i| !ledger.chains[i].retired && ledger.chains[i].id.is_some())
        .collect();
    let live = ledger.chains.iter().filter(|c| !c.retired).count();
    let img: u16 = rng.random_range(0..64);
    let roll: f64 = rng.random();
    let add = editable.is_empty() || (live < shared.plan.max_icons && roll < 0.3);
    let (chain, seq, request) = if add {
        let (chain, seq) = ledger.begin_add(img);
        (chain, seq, Request::Add)
    } else {
        let chain = editable[rng.random_range(0..editable.len())];
        if rng.random_bool(0.85) {
            let seq = ledger.begin(chain, Kind::Move { img });
            (chain, seq, Request::Move)
        } else {
            let seq = ledger.begin(chain, Kind::Delete);
            (chain, seq, Request::Delete)
        }
    };
    let sent_at = Instant::now();
    {
        let mut sent = shared.sent[me as usize].lock().expect("sent");
        debug_assert_eq!(sent.len(), seq as usize);
        sent.push(sent_at);
    }
    Counters::inc(&shared.counters.edits);
    let (x, y) = ledger::position(me, seq);
    let id = ledger.chains[chain].id.clone();
    let send = async {
        let icon = roomcast_sdk::icon(img.into(), x.into(), y.into()).expect("valid icon");
        match request {
            Request::Add => client
                .add_icon(room, icon)
                .await
                .map(|added| (added.version, Some(added.id))),
            Request::Move => client
                .move_icon(room, id.as_ref().expect("editable"), icon)
                .await
                .map(|v| (v, None)),
            Request::Delete => client
                .delete_icon(room, id.as_ref().expect("editable"))
                .await
                .map(|v| (v, None)),
        }
    };
    let result = tokio::select! {
        r = send => Some(r),
        _ = sleep_until_opt(churn_at) => None,
    };
    let outcome = match result {
        None => Outcome::Unacked(Unacked::Abandoned),
        Some(Ok((version, new_id))) => {
            shared.record_ack(sent_at);
            if let Some(new_id) = new_id {
                ledger.chains[chain].id = Some(new_id);
            }
            Outcome::Acked(version)
        }
        Some(Err(Error::Server(e))) => {
            if e.code == roomcast_sdk::ErrorCode::RateLimited {
                Counters::inc(&shared.counters.rate_limited);
            }
            Outcome::Rejected(e.code)
        }
        Some(Err(Error::ConnectionLost)) => Outcome::Unacked(Unacked::ConnectionLost),
        Some(Err(Error::Timeout(_))) => Outcome::Unacked(Unacked::Timeout),
        Some(Err(e)) => {
            tracing::warn!(client = me, error = %e, "edit failed");
            Outcome::Unacked(Unacked::Other)
        }
    };
    ledger.finish(chain, outcome);
}

#[derive(Debug, Clone, Copy)]
enum Request {
    Add,
    Move,
    Delete,
}

/// Count what one connection delivers and follow its replica's version the way the
/// SDK's [`roomcast_sdk::RoomState`] does: the `Changed` events after each message say
/// what the rule did with it.
async fn watch_events(
    index: u32,
    room: RoomName,
    client: Client,
    mut events: Events,
    shared: Arc<Shared>,
    first_state: oneshot::Sender<()>,
) {
    let c = &shared.counters;
    let mut first_state = Some(first_state);
    let mut held: Option<u64> = None;
    while let Some(event) = events.next().await {
        match event {
            Event::Message(message) => {
                Counters::inc(&c.messages);
                match message {
                    ServerMessage::Patch {
                        room: r,
                        version,
                        op,
                        ..
                    } if r == room => {
                        Counters::inc(&c.patches);
                        if held.is_some_and(|h| version <= h) {
                            Counters::inc(&c.duplicates);
                            continue;
                        }
                        if held.is_some_and(|h| version > h + 1) {
                            Counters::inc(&c.gaps);
                        }
                        if let Op::AddIcon { icon, .. } | Op::MoveIcon { icon, .. } = op
                            && let Some((from, seq)) = ledger::decode(icon.x.get(), icon.y.get())
                            && from != index
                        {
                            shared.record_publish(from, seq);
                        }
                    }
                    ServerMessage::State { room: r, .. } if r == room => {
                        Counters::inc(&c.states);
                        if let Some(tx) = first_state.take() {
                            let _ = tx.send(());
                        }
                        had_state(&shared, index);
                    }
                    _ => {}
                }
            }
            Event::Changed { room: r, change } if r == room => match change {
                Change::Replaced { version } => {
                    match held {
                        Some(h) if version == h => Counters::inc(&c.diverged),
                        Some(_) => Counters::inc(&c.resyncs),
                        None => {}
                    }
                    held = Some(version);
                }
                Change::Patched { version, .. } => held = Some(version),
            },
            // Application events were `Message`s before they had a variant of their own.
            Event::App { .. } => Counters::inc(&c.messages),
            Event::Disconnected => Counters::inc(&c.disconnects),
            Event::Reconnected => Counters::inc(&c.reconnects),
            Event::Lagged(n) => {
                c.lagged.fetch_add(n, Ordering::Relaxed);
                held = client.state(room.as_str()).map(|s| s.version);
            }
            _ => {}
        }
    }
}
