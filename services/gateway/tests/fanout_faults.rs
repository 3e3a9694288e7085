//! Fault injection in the local gateway's fan-out (issue 8): the real gateway, real
//! WebSocket clients, and the real socket poster wrapped by a poster that injects one
//! fault — a job that panics mid-delivery, posts answered 429 for a while, 410 for
//! chosen members, a poison job. Every assertion is about completeness and dedupe by
//! version (each member ends with every version, and duplicates are counted), never
//! about speed.

use async_trait::async_trait;
use bytes::Bytes;
use roomcast_core::ports::{PostError, Poster};
use roomcast_core::protocol::ConnectionId;
use roomcast_testkit::{TestGateway, WAIT, WsClient, metric};
use serde_json::{Value, json};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------
// The fault-injecting poster.

/// What the injector does with one post.
enum Fault {
    /// Hand it to the real poster.
    Pass,
    /// Panic, as a deliverer that dies mid-job.
    Panic(&'static str),
    /// Answer like API Gateway's 429 `LimitExceededException`.
    Throttle,
    /// Answer like a 410 `GoneException`.
    Gone,
}

/// The real poster, with `decide(to, payload)` choosing a fault per post.
struct Injector<F> {
    real: Arc<dyn Poster>,
    decide: F,
}

#[async_trait]
impl<F> Poster for Injector<F>
where
    F: Fn(&ConnectionId, &str) -> Fault + Send + Sync,
{
    async fn post(&self, to: &ConnectionId, payload: &Bytes) -> Result<(), PostError> {
        let text = std::str::from_utf8(payload).unwrap_or_default();
        match (self.decide)(to, text) {
            Fault::Pass => self.real.post(to, payload).await,
            Fault::Panic(why) => panic!("injected fault: {why}"),
            Fault::Throttle => Err(PostError::Throttled("injected 429".into())),
            Fault::Gone => Err(PostError::Gone),
        }
    }
}

/// A gateway whose broadcaster pool posts through `decide`.
async fn gateway<F>(flags: &[&str], decide: F) -> TestGateway
where
    F: Fn(&ConnectionId, &str) -> Fault + Send + Sync + 'static,
{
    TestGateway::start_with_fanout_poster(flags, move |real| Arc::new(Injector { real, decide }))
        .await
}

// ---------------------------------------------------------------------------------
// Rooms, edits, tallies.

const ROOM: &str = "alpha";

/// `n` members of [`ROOM`], each having seen the room reach `n` members.
async fn members(gw: &TestGateway, n: usize) -> Vec<WsClient> {
    let mut clients = Vec::new();
    for _ in 0..n {
        clients.push(gw.v1(Some(ROOM)).await);
    }
    for c in &mut clients {
        while c.recv_type("presence").await["members"] != n {}
    }
    clients
}

/// A client outside the room that makes the edits (edits need no membership).
async fn editor(gw: &TestGateway) -> WsClient {
    gw.v1(Some("lobby")).await
}

/// Commit `bg` changes `from..=to`; returns nothing until each is acknowledged.
async fn edit(editor: &mut WsClient, versions: std::ops::RangeInclusive<u64>) {
    for v in versions {
        let ack = editor
            .ok(json!({"action":"changeBackground","room":ROOM,"bg":v % 10}))
            .await;
        assert_eq!(ack["version"], v, "versions rise by one");
    }
}

/// The patch versions a member received, in arrival order: read until it holds every
/// version in `1..=upto`, then keep reading for `settle` to catch late duplicates.
async fn patches(c: &mut WsClient, upto: u64, settle: Duration) -> Vec<u64> {
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + WAIT * 2;
    while (1..=upto).any(|v| !got.contains(&v)) {
        let m = tokio::time::timeout_at(deadline, c.recv())
            .await
            .unwrap_or_else(|_| panic!("versions missing after {:?}: have {got:?}", WAIT * 2));
        if m["type"] == "patch" && m["room"] == ROOM {
            got.push(m["version"].as_u64().unwrap());
        }
    }
    got.extend(
        c.drain(settle)
            .await
            .iter()
            .filter(|m| m["type"] == "patch" && m["room"] == ROOM)
            .map(|m| m["version"].as_u64().unwrap()),
    );
    got
}

/// Every member's arrivals after dedupe by version are exactly `1..=upto`; returns the
/// duplicates dropped, per member (what a client's version rule throws away).
fn dedupe(test: &str, received: &[Vec<u64>], upto: u64) -> Vec<usize> {
    let want: BTreeSet<u64> = (1..=upto).collect();
    let dups: Vec<usize> = received
        .iter()
        .enumerate()
        .map(|(i, got)| {
            let distinct: BTreeSet<u64> = got.iter().copied().collect();
            assert_eq!(distinct, want, "{test}: member {i} after dedupe: {got:?}");
            got.len() - distinct.len()
        })
        .collect();
    eprintln!(
        "{test}: {} members x {upto} versions, {} frames, {} duplicates dropped by version (per member {dups:?})",
        received.len(),
        received.iter().map(Vec::len).sum::<usize>(),
        dups.iter().sum::<usize>()
    );
    dups
}

/// Poll `/metrics` until `name` reaches `at_least`; returns its value.
async fn metric_reaches(gw: &TestGateway, name: &str, at_least: f64) -> f64 {
    let deadline = Instant::now() + WAIT;
    loop {
        let value = metric(gw, name).await;
        if value >= at_least {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "{name} stayed at {value} (< {at_least})"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// ---------------------------------------------------------------------------------
// The faults.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_killed_mid_delivery_is_run_again_and_members_drop_the_duplicates_by_version() {
    const MEMBERS: usize = 6;
    const VERSIONS: u64 = 5;
    const DIES_AT_POST: usize = 3;
    // Every patch's job dies (panics) at its third post, once: two members already
    // have the patch when the deliverer goes down. One post in flight at a time, so
    // "the third post" is exact.
    let seen: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    // Re-runs after 50 ms (JOB_RETRY_DELAY is 1 s by default), within the quiet window
    // the members are read with.
    let gw = gateway(
        &[
            "--pool-size",
            "2",
            "--post-concurrency",
            "1",
            "--job-retry-delay",
            "50ms",
        ],
        move |_, payload| {
            if !payload.contains(r#""type":"patch""#) {
                return Fault::Pass;
            }
            let mut seen = seen.lock().unwrap();
            let posts = seen.entry(payload.to_owned()).or_default();
            *posts += 1;
            if *posts == DIES_AT_POST {
                Fault::Panic("the deliverer dies mid-job")
            } else {
                Fault::Pass
            }
        },
    )
    .await;
    let mut clients = members(&gw, MEMBERS).await;
    let mut editor = editor(&gw).await;
    edit(&mut editor, 1..=VERSIONS).await;

    let mut received = Vec::new();
    for c in &mut clients {
        received.push(patches(c, VERSIONS, Duration::from_millis(300)).await);
    }
    let dups = dedupe("killed mid-job", &received, VERSIONS);
    // Each patch reached the members before the one it died at, then all of them.
    assert_eq!(
        dups.iter().sum::<usize>(),
        (DIES_AT_POST - 1) * VERSIONS as usize,
        "{received:?}"
    );
    assert_eq!(
        metric(&gw, "roomcast_fanout_interrupted_total").await,
        VERSIONS as f64,
        "each patch's job died once"
    );
    assert_eq!(metric(&gw, "roomcast_fanout_dead_letters_total").await, 0.0);
    // Two workers survived five panics: the pool still delivers.
    edit(&mut editor, VERSIONS + 1..=VERSIONS + 1).await;
    for c in &mut clients {
        assert_eq!(c.recv_type("patch").await["version"], VERSIONS + 1);
    }
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posts_throttled_for_a_while_back_off_and_then_every_member_gets_every_version() {
    const MEMBERS: usize = 6;
    const VERSIONS: u64 = 5;
    const FOR_A_WHILE: Duration = Duration::from_millis(800);
    // Every patch post is answered 429 for 800 ms from the first one: longer than a
    // connection's in-job tries (6, backoff 25 ms doubling, full jitter) usually last,
    // so the pool's retry shard jobs take part too.
    let since: Arc<Mutex<Option<Instant>>> = Arc::default();
    let gw = gateway(&["--pool-size", "2"], move |_, payload| {
        if !payload.contains(r#""type":"patch""#) {
            return Fault::Pass;
        }
        let started = *since.lock().unwrap().get_or_insert_with(Instant::now);
        if started.elapsed() < FOR_A_WHILE {
            Fault::Throttle
        } else {
            Fault::Pass
        }
    })
    .await;
    let mut clients = members(&gw, MEMBERS).await;
    let mut editor = editor(&gw).await;
    edit(&mut editor, 1..=VERSIONS).await;

    let mut received = Vec::new();
    for c in &mut clients {
        received.push(patches(c, VERSIONS, Duration::from_millis(200)).await);
    }
    let dups = dedupe("429 for a while", &received, VERSIONS);
    assert_eq!(
        dups.iter().sum::<usize>(),
        0,
        "a throttled post delivers nothing, so nothing arrives twice"
    );
    let throttled = metric(&gw, "roomcast_posts_total{outcome=\"throttled\"}").await;
    let retries = metric(&gw, "roomcast_fanout_retries_total").await;
    eprintln!("429 for a while: {throttled} throttled posts, {retries} retry jobs");
    assert!(
        throttled >= (MEMBERS * VERSIONS as usize) as f64,
        "{throttled}"
    );
    assert_eq!(metric(&gw, "roomcast_fanout_dead_letters_total").await, 0.0);
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_answering_410_are_cleaned_up_and_the_rest_get_every_version() {
    const MEMBERS: usize = 6;
    const VERSIONS: u64 = 5;
    let gone: Arc<Mutex<HashSet<String>>> = Arc::default();
    let posts_to_gone: Arc<Mutex<usize>> = Arc::default();
    let gw = {
        let (gone, posts_to_gone) = (gone.clone(), posts_to_gone.clone());
        gateway(&["--pool-size", "2"], move |to, _| {
            if gone.lock().unwrap().contains(to.as_str()) {
                *posts_to_gone.lock().unwrap() += 1;
                Fault::Gone
            } else {
                Fault::Pass
            }
        })
        .await
    };
    let mut clients = members(&gw, MEMBERS).await;
    // Two members' connections will answer 410 from now on. (Each learns its id in a
    // room of its own, so no one reads another's answer.)
    for (i, c) in clients.iter_mut().take(2).enumerate() {
        let own = format!("me-{i}");
        c.ok(json!({"action":"join","room":own})).await;
        let id = c.id().await;
        c.ok(json!({"action":"leave","room":own})).await;
        gone.lock().unwrap().insert(id);
    }
    let mut editor = editor(&gw).await;
    edit(&mut editor, 1..=VERSIONS).await;

    let (departed, staying) = clients.split_at_mut(2);
    let mut received = Vec::new();
    for c in staying.iter_mut() {
        received.push(patches(c, VERSIONS, Duration::from_millis(200)).await);
    }
    let dups = dedupe("410 for two members", &received, VERSIONS);
    assert_eq!(dups.iter().sum::<usize>(), 0);
    for c in departed.iter_mut() {
        let frames = c.drain(Duration::from_millis(100)).await;
        assert!(
            frames.iter().all(|m| m["type"] != "patch"),
            "a gone member gets nothing: {frames:?}"
        );
    }
    assert!(metric(&gw, "roomcast_gone_total").await >= 2.0);

    // Their memberships are gone: the room counts the four that stayed, and the next
    // patch is not even tried on the two.
    let (answer, mut others) = editor.request(json!({"action":"listRooms"})).await;
    assert_eq!(answer["type"], "ack");
    let rooms = loop {
        if let Some(r) = others.iter().find(|m| m["type"] == "rooms") {
            break r.clone();
        }
        others.push(editor.recv().await);
    };
    let alpha: Vec<&Value> = rooms["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["room"] == ROOM)
        .collect();
    assert_eq!(alpha[0]["members"], MEMBERS - 2, "{rooms}");
    let tried_before = *posts_to_gone.lock().unwrap();
    edit(&mut editor, VERSIONS + 1..=VERSIONS + 1).await;
    for c in staying.iter_mut() {
        assert_eq!(c.recv_type("patch").await["version"], VERSIONS + 1);
    }
    assert_eq!(*posts_to_gone.lock().unwrap(), tried_before);
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_job_is_given_up_after_max_attempts_and_the_other_jobs_are_delivered() {
    const MEMBERS: usize = 4;
    const VERSIONS: u64 = 5;
    // Any post of the poison event kills its job, every time.
    let poisoned = Arc::new(AtomicBool::new(false));
    let gw = {
        let poisoned = poisoned.clone();
        gateway(
            &["--pool-size", "2", "--job-retry-delay", "50ms"],
            move |_, payload| {
                if payload.contains(r#""event":"poison""#) {
                    poisoned.store(true, Ordering::SeqCst);
                    Fault::Panic("a poison job")
                } else {
                    Fault::Pass
                }
            },
        )
        .await
    };
    let mut clients = members(&gw, MEMBERS).await;
    let (status, _) = roomcast_testkit::http(
        &gw,
        "POST",
        &format!("/rooms/{ROOM}/emit"),
        &[],
        r#"{"event":"poison","data":1}"#,
    )
    .await;
    assert_eq!(status, 202);
    let mut editor = editor(&gw).await;
    edit(&mut editor, 1..=VERSIONS).await;

    // The poison job is tried JOB_ATTEMPTS times (5 by default), then given up.
    let dead = metric_reaches(&gw, "roomcast_fanout_dead_letters_total", 1.0).await;
    assert_eq!(dead, 1.0);
    assert!(poisoned.load(Ordering::SeqCst));
    assert_eq!(
        metric(&gw, "roomcast_fanout_interrupted_total").await,
        roomcast_core::fanout::DEFAULT_JOB_ATTEMPTS as f64
    );
    // The other jobs were delivered, completely and once, and the poison never was.
    edit(&mut editor, VERSIONS + 1..=VERSIONS + 1).await;
    let mut received = Vec::new();
    for c in &mut clients {
        let mut frames = Vec::new();
        let mut versions = Vec::new();
        while !versions.contains(&(VERSIONS + 1)) {
            let m = c.recv().await;
            if m["type"] == "patch" {
                versions.push(m["version"].as_u64().unwrap());
            }
            frames.push(m);
        }
        assert!(
            frames.iter().all(|m| m["event"] != "poison"),
            "the poison event never arrived: {frames:?}"
        );
        received.push(versions);
    }
    let dups = dedupe("poison job", &received, VERSIONS + 1);
    assert_eq!(dups.iter().sum::<usize>(), 0);
    gw.stop().await;
}
