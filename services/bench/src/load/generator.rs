//! The load generator, the same for both servers: a swarm of receiving clients in one
//! room, one publisher outside it, and the phases (warm-up, fixed rate, as fast as
//! possible) with their counters.
//!
//! Each published message carries a stamp at the start of its `data`,
//! `{"f":PHASE,"s":SEQ,"t":SENT_US,"p":"xxx…"}`, padded to the payload size. `t` is
//! microseconds on this process's monotonic clock ([`Clock`]), so publish-to-receive
//! latency needs no clock sync: publisher and receivers are tasks of one process.
//! Both servers forward `data` unchanged (roomcast byte for byte, Socket.IO through
//! `JSON.parse`/`JSON.stringify`, which keeps this object as it is).

use super::client::{self, Incoming, Ws};
use super::messages::{Messages, RING};
use super::server::Kind;
use crate::support::net::fresh_source_addr;
use crate::support::stats::{Latencies, quantile};
use futures::stream::SplitSink;
use futures::{SinkExt, StreamExt};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use tokio_websockets::Message;

/// The room every receiving client is in.
pub const ROOM: &str = "bench";
/// The publisher's own room: it is not a member of [`ROOM`], so on both servers the
/// receivers are exactly the swarm (roomcast's `except_sender` and Socket.IO's
/// `socket.to` vs `io.to` make no difference).
pub const PUBLISHER_ROOM: &str = "bench-publisher";

/// roomcast clients send a WebSocket ping this often, as the SDK's client does: the
/// gateway closes a connection that sent nothing for 10 minutes (API Gateway's idle
/// timeout), and settling 10,000 connects into one room can take that long.
/// Socket.IO clients need nothing of their own: they answer the server's pings.
const KEEPALIVE: Duration = Duration::from_secs(60);
/// Latency histograms are sharded over clients so that receivers rarely share a lock.
const LATENCY_SHARDS: usize = 16;

/// The phases; a message's phase is in its stamp, so late deliveries count where they
/// belong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// A few messages that every client must receive before measuring starts.
    Warmup = 0,
    /// A fixed publish rate.
    Fixed = 1,
    /// As fast as possible, with a bounded window of incomplete messages.
    Max = 2,
}

/// Microseconds since the generator started (monotonic).
#[derive(Debug, Clone, Copy)]
pub struct Clock(Instant);

impl Clock {
    pub fn new() -> Self {
        Self(Instant::now())
    }
    pub fn now_us(&self) -> u64 {
        self.0.elapsed().as_micros() as u64
    }
}

/// The stamped `data` of one message, `size` bytes of JSON.
pub fn payload(phase: Phase, seq: u64, sent_us: u64, size: usize) -> String {
    let mut data = format!(r#"{{"f":{},"s":{seq},"t":{sent_us},"p":""#, phase as u8);
    let pad = size.saturating_sub(data.len() + 2);
    data.extend(std::iter::repeat_n('x', pad));
    data.push_str("\"}");
    data
}

/// What a received message's stamp says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub phase: usize,
    pub seq: u64,
    pub sent_us: u64,
}

/// Find the stamp in a received frame (either server's envelope).
pub fn parse_stamp(frame: &str) -> Option<Stamp> {
    fn number(s: &str) -> Option<(u64, &str)> {
        let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        Some((s[..end].parse().ok()?, &s[end..]))
    }
    let rest = &frame[frame.find(r#"{"f":"#)? + 5..];
    let (phase, rest) = number(rest)?;
    let (seq, rest) = number(rest.strip_prefix(r#","s":"#)?)?;
    let (sent_us, _) = number(rest.strip_prefix(r#","t":"#)?)?;
    (phase < 3).then_some(Stamp {
        phase: phase as usize,
        seq,
        sent_us,
    })
}

/// One phase's counters, updated by every receiver.
struct Counters {
    delivered: AtomicU64,
    /// Deliveries whose sequence number was not above the client's last one in this
    /// phase: reordered or duplicated (roomcast is at-least-once).
    reordered: AtomicU64,
    last_us: AtomicU64,
    latencies: Vec<Mutex<Latencies>>,
}

impl Counters {
    fn new() -> Self {
        Self {
            delivered: AtomicU64::new(0),
            reordered: AtomicU64::new(0),
            last_us: AtomicU64::new(0),
            latencies: (0..LATENCY_SHARDS).map(|_| Mutex::default()).collect(),
        }
    }

    fn latencies(&self) -> Latencies {
        let mut all = Latencies::default();
        for shard in &self.latencies {
            all.add(&shard.lock().unwrap_or_else(|e| e.into_inner()));
        }
        all
    }
}

/// What the receivers and the publisher share.
pub struct Shared {
    clock: Clock,
    phases: [Counters; 3],
    /// Deliveries and the latest one, per message.
    messages: Messages,
    /// Receiving clients still connected.
    receivers: AtomicU32,
    /// Woken when a message has reached every receiver.
    complete: Notify,
    /// Set before the bench ends the run, so that the ends it causes are not counted.
    stopping: AtomicBool,
    /// Connections the server ended during the run, by close code (or `eof`/`error`).
    closures: Mutex<BTreeMap<String, u64>>,
    /// `presence` frames the receivers got.
    presence: AtomicU64,
}

impl Shared {
    pub fn new(clock: Clock) -> Arc<Self> {
        Arc::new(Self {
            clock,
            phases: [Counters::new(), Counters::new(), Counters::new()],
            messages: Messages::new(),
            receivers: AtomicU32::new(0),
            complete: Notify::new(),
            stopping: AtomicBool::new(false),
            closures: Mutex::default(),
            presence: AtomicU64::new(0),
        })
    }

    /// `presence` frames the receivers have got so far.
    pub fn presence_frames(&self) -> u64 {
        self.presence.load(Ordering::Acquire)
    }

    pub fn receivers(&self) -> u32 {
        self.receivers.load(Ordering::Acquire)
    }

    pub fn closures(&self) -> BTreeMap<String, u64> {
        self.closures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn delivered(&self, phase: Phase) -> u64 {
        self.phases[phase as usize]
            .delivered
            .load(Ordering::Acquire)
    }

    fn record(&self, stamp: Stamp, last_seq: &mut [u64; 3], shard: usize) {
        let now = self.clock.now_us();
        let counters = &self.phases[stamp.phase];
        counters.delivered.fetch_add(1, Ordering::AcqRel);
        counters.last_us.fetch_max(now, Ordering::AcqRel);
        if stamp.seq <= last_seq[stamp.phase] {
            counters.reordered.fetch_add(1, Ordering::Relaxed);
        } else {
            last_seq[stamp.phase] = stamp.seq;
        }
        let latency_us = now.saturating_sub(stamp.sent_us);
        counters.latencies[shard]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .record(Duration::from_micros(latency_us));
        let count = self.messages.delivered_to_one(stamp.seq, latency_us);
        if count == self.receivers() {
            self.complete.notify_one();
        }
    }

    fn closed(&self, why: String) {
        self.receivers.fetch_sub(1, Ordering::AcqRel);
        if !self.stopping.load(Ordering::Acquire) {
            *self
                .closures
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .entry(why)
                .or_default() += 1;
        }
        // A window waiting on this client's deliveries re-checks.
        self.complete.notify_one();
    }
}

/// Which room each client of a swarm joins at connect.
#[derive(Debug, Clone, Copy)]
pub enum Rooms<'a> {
    /// All in this one room.
    One(&'a str),
    /// Each in a room of its own: `<prefix>-<index>`.
    Own(&'a str),
}

impl Rooms<'_> {
    fn room(&self, client: usize) -> String {
        match self {
            Rooms::One(room) => (*room).to_owned(),
            Rooms::Own(prefix) => format!("{prefix}-{client}"),
        }
    }
}

/// The receiving clients, each in a task of its own.
pub struct Swarm {
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Swarm {
    /// Connect `n` clients of `kind` to `port`, joined to the room(s) `rooms` says, from
    /// one fresh source address, at most `concurrency` handshakes at a time; each
    /// starts receiving as soon as it is connected.
    pub async fn connect(
        kind: Kind,
        port: u16,
        rooms: Rooms<'_>,
        n: usize,
        concurrency: usize,
        shared: Arc<Shared>,
    ) -> anyhow::Result<Self> {
        let source = fresh_source_addr();
        let (stop, _) = watch::channel(false);
        let connects = futures::stream::iter(0..n)
            .map(|i| {
                let room = rooms.room(i);
                async move { connect_retrying(kind, port, &room, source).await }
            })
            .buffer_unordered(concurrency.max(1));
        futures::pin_mut!(connects);
        let mut tasks = Vec::with_capacity(n);
        while let Some(ws) = connects.next().await {
            let ws = ws?;
            shared.receivers.fetch_add(1, Ordering::AcqRel);
            let shard = tasks.len() % LATENCY_SHARDS;
            tasks.push(tokio::spawn(receive(
                kind,
                ws,
                shared.clone(),
                shard,
                stop.subscribe(),
            )));
        }
        Ok(Self {
            shared,
            stop,
            tasks,
        })
    }

    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// End every client (after the server was killed, their reads end by themselves).
    pub async fn stop(self) {
        self.shared.stopping.store(true, Ordering::Release);
        self.stop.send_replace(true);
        let all = futures::future::join_all(self.tasks);
        if tokio::time::timeout(Duration::from_secs(30), all)
            .await
            .is_err()
        {
            tracing::warn!("some clients did not stop within 30 s");
        }
    }
}

/// A connect that failed for a transient reason (a full accept backlog, a 429) is
/// tried again, a few times.
async fn connect_retrying(
    kind: Kind,
    port: u16,
    room: &str,
    source: std::net::Ipv4Addr,
) -> anyhow::Result<Ws> {
    let mut attempt = 0;
    loop {
        match client::connect(kind, port, room, source).await {
            Ok(ws) => return Ok(ws),
            Err(e) if attempt < 5 => {
                attempt += 1;
                tracing::debug!(error = %e, attempt, "connect failed; retrying");
                tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
            }
            Err(e) => return Err(e.context(format!("{} client connect", kind.label()))),
        }
    }
}

async fn receive(
    kind: Kind,
    mut ws: Ws,
    shared: Arc<Shared>,
    shard: usize,
    mut stop: watch::Receiver<bool>,
) {
    let mut last_seq = [0u64; 3];
    let mut keepalive =
        tokio::time::interval_at(tokio::time::Instant::now() + KEEPALIVE, KEEPALIVE);
    let why = loop {
        let message = tokio::select! {
            m = ws.next() => m,
            _ = stopped(&mut stop) => break "stopped".to_owned(),
            _ = keepalive.tick(), if kind == Kind::Roomcast => {
                if ws.send(Message::ping("")).await.is_err() {
                    break "error".to_owned();
                }
                continue;
            }
        };
        let message = match message {
            Some(Ok(message)) => message,
            Some(Err(e)) => break format!("error: {e}"),
            None => break "eof".to_owned(),
        };
        if let Some(text) = message.as_text() {
            match client::classify(kind, text) {
                Incoming::Event(frame) => {
                    if let Some(stamp) = parse_stamp(frame) {
                        shared.record(stamp, &mut last_seq, shard);
                    }
                }
                Incoming::Ping => {
                    if ws.send(Message::text(super::engineio::PONG)).await.is_err() {
                        break "error".to_owned();
                    }
                }
                Incoming::Presence => {
                    shared.presence.fetch_add(1, Ordering::AcqRel);
                }
                Incoming::Error(_) | Incoming::Other => {}
            }
        } else if let Some((code, _)) = message.as_close() {
            break format!("close {}", u16::from(code));
        }
    };
    shared.closed(why);
}

/// Resolves once the swarm is told to stop (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

/// The publisher: one more client, in [`PUBLISHER_ROOM`], publishing to [`ROOM`].
pub struct Publisher {
    kind: Kind,
    sink: Arc<tokio::sync::Mutex<SplitSink<Ws, Message>>>,
    /// `error` frames the server answered (roomcast: e.g. `rate_limited`), by code.
    errors: Arc<Mutex<BTreeMap<String, u64>>>,
    reader: JoinHandle<()>,
}

impl Publisher {
    pub async fn connect(kind: Kind, port: u16) -> anyhow::Result<Self> {
        let ws = connect_retrying(kind, port, PUBLISHER_ROOM, fresh_source_addr()).await?;
        let (sink, mut stream) = ws.split();
        let sink = Arc::new(tokio::sync::Mutex::new(sink));
        let errors: Arc<Mutex<BTreeMap<String, u64>>> = Arc::default();
        let reader = {
            let (sink, errors) = (sink.clone(), errors.clone());
            tokio::spawn(async move {
                while let Some(Ok(message)) = stream.next().await {
                    let Some(text) = message.as_text() else {
                        continue;
                    };
                    match client::classify(kind, text) {
                        Incoming::Ping => {
                            let _ = sink
                                .lock()
                                .await
                                .send(Message::text(super::engineio::PONG))
                                .await;
                        }
                        Incoming::Error(frame) => {
                            let code = serde_json::from_str::<serde_json::Value>(frame)
                                .ok()
                                .and_then(|v| v["code"].as_str().map(str::to_owned))
                                .unwrap_or_else(|| "unknown".to_owned());
                            *errors
                                .lock()
                                .unwrap_or_else(|e| e.into_inner())
                                .entry(code)
                                .or_default() += 1;
                        }
                        Incoming::Event(_) | Incoming::Presence | Incoming::Other => {}
                    }
                }
            })
        };
        Ok(Self {
            kind,
            sink,
            errors,
            reader,
        })
    }

    async fn publish(&self, data: &str) -> anyhow::Result<()> {
        let frame = client::publish_frame(self.kind, ROOM, data);
        self.sink.lock().await.send(Message::text(frame)).await?;
        Ok(())
    }

    pub fn errors(&self) -> BTreeMap<String, u64> {
        self.errors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// How one phase publishes.
#[derive(Debug, Clone, Copy)]
pub enum Pace {
    /// This many messages a second.
    Rate(f64),
    /// As fast as possible, with at most this many messages not yet received by
    /// every client.
    Window(u32),
}

/// What one phase measured on the generator's side.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Delivery {
    /// Messages published.
    pub sent: u64,
    /// Deliveries owed: each message times the receivers connected when it was sent.
    pub expected: u64,
    /// Deliveries received.
    pub delivered: u64,
    /// Deliveries out of order or duplicated (per client, by sequence number).
    pub reordered: u64,
    /// Times the window gave up waiting (5 s) for a message to reach every client.
    pub stalls: u64,
    /// From the first publish to the last delivery (or the end of publishing).
    pub duration_s: f64,
    pub delivered_per_s: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// Each message's last delivery (when the whole room had it): its median and
    /// 90th percentile over the phase's messages. Beside the deliveries' p99 they tell
    /// every broadcast's own length from a few slow broadcasts
    /// ([`super::messages`]). `None` when no message reached anyone.
    #[serde(default)]
    pub last_p50_ms: Option<f64>,
    #[serde(default)]
    pub last_p90_ms: Option<f64>,
}

/// Publishing, with the sequence numbers and the payload size.
pub struct Generator {
    pub shared: Arc<Shared>,
    pub publisher: Publisher,
    payload_bytes: usize,
    next_seq: u64,
}

impl Generator {
    pub fn new(shared: Arc<Shared>, publisher: Publisher, payload_bytes: usize) -> Self {
        Self {
            shared,
            publisher,
            payload_bytes,
            next_seq: 1,
        }
    }

    /// Publish one message of `phase`; returns its sequence number.
    async fn send(&mut self, phase: Phase) -> anyhow::Result<u64> {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.shared.messages.reset(seq);
        let data = payload(phase, seq, self.shared.clock.now_us(), self.payload_bytes);
        self.publisher.publish(&data).await?;
        Ok(seq)
    }

    /// Publish `count` warm-up messages (10 a second), then wait until every receiver
    /// has all of them, at most `timeout`; returns (delivered, expected).
    pub async fn warm_up(&mut self, count: u32, timeout: Duration) -> anyhow::Result<(u64, u64)> {
        let deadline = Instant::now() + timeout;
        let mut expected = 0;
        for _ in 0..count {
            expected += u64::from(self.shared.receivers());
            self.send(Phase::Warmup).await?;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        while self.shared.delivered(Phase::Warmup) < expected && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok((self.shared.delivered(Phase::Warmup), expected))
    }

    /// Publish for `duration` at `pace`, then wait for the deliveries to drain (until
    /// all expected ones arrived, nothing arrived for 3 s, or 60 s).
    pub async fn phase(
        &mut self,
        phase: Phase,
        pace: Pace,
        duration: Duration,
    ) -> anyhow::Result<Delivery> {
        let shared = self.shared.clone();
        anyhow::ensure!(
            shared.receivers() > 0,
            "no receiving client is connected any more (closures: {:?})",
            shared.closures()
        );
        let start_us = shared.clock.now_us();
        let first_seq = self.next_seq;
        let end = Instant::now() + duration;
        let (mut sent, mut expected, mut stalls) = (0u64, 0u64, 0u64);
        match pace {
            Pace::Rate(rate) => {
                let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
                loop {
                    tick.tick().await;
                    if Instant::now() >= end {
                        break;
                    }
                    expected += u64::from(shared.receivers());
                    self.send(phase).await?;
                    sent += 1;
                }
            }
            Pace::Window(window) => {
                let window = u64::from(window.clamp(1, RING as u32 / 2));
                // Receivers owed each message still in the window, oldest first.
                let mut owed: std::collections::VecDeque<(u64, u32)> = Default::default();
                let mut oldest_since = Instant::now();
                while Instant::now() < end && shared.receivers() > 0 {
                    // Retire the messages every (still connected) receiver has.
                    while let Some(&(seq, need)) = owed.front() {
                        let got = shared.messages.delivered(seq);
                        if got >= need.min(shared.receivers()) {
                            owed.pop_front();
                            oldest_since = Instant::now();
                        } else {
                            break;
                        }
                    }
                    if (owed.len() as u64) < window {
                        let need = shared.receivers();
                        expected += u64::from(need);
                        let seq = self.send(phase).await?;
                        owed.push_back((seq, need));
                        sent += 1;
                        continue;
                    }
                    if oldest_since.elapsed() > Duration::from_secs(5) {
                        // A message that some receiver never gets must not stop the
                        // phase; it is counted as lost below.
                        owed.pop_front();
                        oldest_since = Instant::now();
                        stalls += 1;
                        continue;
                    }
                    let _ = tokio::time::timeout(
                        Duration::from_millis(100),
                        shared.complete.notified(),
                    )
                    .await;
                }
            }
        }
        let send_end_us = shared.clock.now_us();
        self.drain(phase, expected).await;
        let counters = &shared.phases[phase as usize];
        let delivered = counters.delivered.load(Ordering::Acquire);
        let last_us = counters.last_us.load(Ordering::Acquire).max(send_end_us);
        let duration_s = (last_us - start_us) as f64 / 1e6;
        let latencies = counters.latencies();
        let last = shared.messages.slowest_ms(first_seq..self.next_seq);
        let q = |q: f64| {
            if latencies.count() == 0 {
                f64::NAN
            } else {
                latencies.quantile_ms(q)
            }
        };
        Ok(Delivery {
            sent,
            expected,
            delivered,
            reordered: counters.reordered.load(Ordering::Acquire),
            stalls,
            duration_s,
            delivered_per_s: delivered as f64 / duration_s,
            p50_ms: q(0.5),
            p99_ms: q(0.99),
            max_ms: q(1.0),
            last_p50_ms: quantile(&last, 0.5),
            last_p90_ms: quantile(&last, 0.9),
        })
    }

    async fn drain(&self, phase: Phase, expected: u64) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut last = self.shared.delivered(phase);
        let mut changed = Instant::now();
        while last < expected
            && Instant::now() < deadline
            && changed.elapsed() < Duration::from_secs(3)
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let now = self.shared.delivered(phase);
            if now != last {
                last = now;
                changed = Instant::now();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_has_the_size_and_a_readable_stamp() {
        let data = payload(Phase::Max, 42, 1_234_567, 1024);
        assert_eq!(data.len(), 1024);
        serde_json::from_str::<serde_json::Value>(&data).unwrap();
        let stamp = Stamp {
            phase: 2,
            seq: 42,
            sent_us: 1_234_567,
        };
        let roomcast =
            format!(r#"{{"type":"event","room":"bench","event":"m","data":{data},"from":"x"}}"#);
        assert_eq!(parse_stamp(&roomcast), Some(stamp));
        let socketio = format!(r#"42["m",{data}]"#);
        assert_eq!(parse_stamp(&socketio), Some(stamp));
        assert_eq!(
            parse_stamp(r#"{"type":"presence","room":"bench","members":3}"#),
            None
        );
    }

    #[test]
    fn tiny_payloads_still_parse() {
        let data = payload(Phase::Fixed, 1, 2, 0);
        assert_eq!(parse_stamp(&data).map(|s| s.seq), Some(1));
    }
}
