//! Coalesced presence through the real `Handler` and `Broadcaster` on the in-memory
//! ports, with the delayed jobs run on a virtual clock: what a burst of joins and
//! steady churn cost in presence posts, and that every member ends on the exact count.

mod common;

use async_trait::async_trait;
use bytes::Bytes;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::memory::World;
use roomcast_core::auth::RoomAccess;
use roomcast_core::fanout::{Broadcaster, FanoutConfig, FanoutJob};
use roomcast_core::ports::{MembershipStore, NoMetrics, PostError, Poster};
use roomcast_core::presence::PresencePolicy;
use roomcast_core::protocol::{ConnectionId, Protocol, RoomName, ServerMessage};
use roomcast_core::{Handler, Session};
use serde_json::Value;

/// Counts presence posts and keeps the last count each connection heard.
#[derive(Default)]
struct Heard {
    posts: Mutex<usize>,
    last: Mutex<HashMap<ConnectionId, u64>>,
}

#[async_trait]
impl Poster for Heard {
    async fn post(&self, to: &ConnectionId, payload: &Bytes) -> Result<(), PostError> {
        let frame: Value = serde_json::from_slice(payload).expect("JSON");
        assert_eq!(frame["type"], "presence", "{frame}");
        *self.posts.lock().unwrap() += 1;
        let members = frame["members"].as_u64().expect("a count");
        self.last.lock().unwrap().insert(to.clone(), members);
        Ok(())
    }
}

/// The handler, a broadcaster on the same ports, and a virtual clock for the delayed
/// jobs (due time in ms, job).
struct Room {
    world: World,
    handler: Handler,
    broadcaster: Broadcaster,
    heard: Arc<Heard>,
    now_ms: u64,
    scheduled: Vec<(u64, FanoutJob)>,
    name: RoomName,
}

impl Room {
    fn new() -> Self {
        let world = World::new(100);
        let heard = Arc::new(Heard::default());
        let policy = PresencePolicy::default();
        let handler = world.handler.clone().with_presence(policy);
        let broadcaster = Broadcaster::new(
            world.rooms.clone(),
            world.members.clone(),
            world.queue.clone(),
            heard.clone(),
            Arc::new(NoMetrics),
            FanoutConfig {
                shard_size: 100_000,
                presence: policy,
                ..FanoutConfig::default()
            },
        );
        Self {
            world,
            handler,
            broadcaster,
            heard,
            now_ms: 0,
            scheduled: Vec::new(),
            name: RoomName::parse("big").unwrap(),
        }
    }

    fn session(&self, i: usize) -> Session {
        let id = ConnectionId::parse(format!("c{i:06}")).unwrap();
        Session {
            user: roomcast_core::protocol::UserId::anonymous(&id),
            id,
            protocol: Protocol::V1,
            room: self.name.clone(),
            access: RoomAccess::Any,
        }
    }

    /// Move the clock to `ms`, running every job that falls due on the way.
    async fn advance_to(&mut self, ms: u64) {
        for (job, delay) in self.world.queue.take_delayed() {
            self.scheduled
                .push((self.now_ms + delay.as_millis() as u64, job));
        }
        self.scheduled.sort_by_key(|(due, _)| *due);
        while self.scheduled.first().is_some_and(|(due, _)| *due <= ms) {
            let (due, job) = self.scheduled.remove(0);
            self.now_ms = due;
            self.broadcaster.run(&job).await.expect("presence job");
            assert!(self.world.queue.take().is_empty(), "delivered in place");
            for (job, delay) in self.world.queue.take_delayed() {
                self.scheduled.push((due + delay.as_millis() as u64, job));
            }
            self.scheduled.sort_by_key(|(due, _)| *due);
        }
        self.now_ms = ms;
    }

    fn posts(&self) -> usize {
        *self.heard.posts.lock().unwrap()
    }

    async fn members(&self) -> Vec<ConnectionId> {
        self.world.members.ids_in(&self.name)
    }
}

#[tokio::test]
async fn a_burst_of_joins_costs_linear_presence_posts_and_ends_exact() {
    // 2,000 connects at 500 per second, the jobs firing on their delays meanwhile.
    let mut room = Room::new();
    let n = 2_000;
    for i in 0..n {
        room.advance_to(i as u64 * 2).await;
        let owed = room.handler.connect(&room.session(i)).await.unwrap();
        assert!(
            matches!(&owed[..], [ServerMessage::Welcome { .. }, ServerMessage::Presence { members, .. }] if *members as usize == i + 1),
            "the joiner's welcome and own count: {owed:?}"
        );
    }
    room.advance_to(room.now_ms + 60_000).await;
    assert!(room.scheduled.is_empty() && room.world.queue.take_delayed().is_empty());

    let posts = room.posts();
    println!(
        "{n} joins: {posts} presence posts, {:.2} per join",
        posts as f64 / n as f64
    );
    assert!(posts <= 3 * n, "{posts} posts for {n} joins");
    let last = room.heard.last.lock().unwrap().clone();
    for id in room.members().await {
        assert_eq!(last.get(&id), Some(&(n as u64)), "{id} ends on the count");
    }
}

#[tokio::test]
async fn steady_churn_in_a_room_of_10_000_stays_within_the_budget() {
    let mut room = Room::new();
    for i in 0..10_000 {
        let s = room.session(i);
        room.world
            .members
            .join(
                &s.room,
                &roomcast_core::ports::Member {
                    id: s.id,
                    protocol: s.protocol,
                    user: s.user,
                },
            )
            .await
            .unwrap();
    }
    // 10 joins and 10 leaves a second for 60 s.
    let mut next = 10_000;
    for second in 0..60u64 {
        for k in 0..10u64 {
            room.advance_to(second * 1_000 + k * 100).await;
            let joiner = room.session(next);
            next += 1;
            room.handler.connect(&joiner).await.unwrap();
            let leaver = room.session(next - 10_000);
            room.handler.disconnect(&leaver.id).await.unwrap();
        }
    }
    room.advance_to(60_000).await;
    let per_second = room.posts() as f64 / 60.0;
    println!("churn 10+10/s in 10,000: {per_second:.0} presence posts/s");
    assert!(
        per_second <= f64::from(PresencePolicy::default().budget),
        "{per_second} posts/s"
    );
    room.advance_to(200_000).await;
    let last = room.heard.last.lock().unwrap().clone();
    for id in room.members().await {
        assert_eq!(last.get(&id), Some(&10_000), "{id} ends on the count");
    }
}

#[tokio::test]
async fn a_redelivered_presence_job_repeats_the_count_and_keeps_a_newer_mark() {
    let room = Room::new();
    room.handler.connect(&room.session(0)).await.unwrap();
    let (first, delay) = room.world.queue.take_delayed().remove(0);
    assert_eq!(delay, Duration::from_secs(1));
    room.broadcaster.run(&first).await.unwrap();
    assert_eq!(room.posts(), 1);

    // A change after the job cleared its mark schedules the next job...
    room.handler.connect(&room.session(1)).await.unwrap();
    let (second, _) = room.world.queue.take_delayed().remove(0);
    // ...which the first job, delivered again, does not clear: it only repeats the count.
    room.broadcaster.run(&first).await.unwrap();
    assert_eq!(room.posts(), 3, "the count again, to both members");
    room.handler.connect(&room.session(2)).await.unwrap();
    assert!(
        room.world.queue.take_delayed().is_empty(),
        "the second job's mark is still pending"
    );
    room.broadcaster.run(&second).await.unwrap();
    let last = room.heard.last.lock().unwrap().clone();
    assert_eq!(last.values().copied().collect::<Vec<_>>(), vec![3, 3, 3]);
}

#[tokio::test]
async fn a_stale_mark_is_taken_over() {
    let room = Room::new();
    // Small numbers stand for marks: only their order matters to the store.
    let members = &room.world.members;
    assert!(members.mark_presence(&room.name, 1_000, 0).await.unwrap());
    assert!(
        !members
            .mark_presence(&room.name, 2_000, 1_000)
            .await
            .unwrap()
    );
    assert!(
        members
            .mark_presence(&room.name, 3_000, 1_001)
            .await
            .unwrap(),
        "older than stale_before: its job was lost"
    );
    assert_eq!(
        members
            .take_presence(&room.name, 1_000)
            .await
            .unwrap()
            .members,
        0
    );
    assert!(!members.mark_presence(&room.name, 4_000, 0).await.unwrap());
    members.take_presence(&room.name, 3_000).await.unwrap();
    assert!(members.mark_presence(&room.name, 5_000, 0).await.unwrap());
}

#[tokio::test]
async fn an_empty_room_hears_nothing() {
    let mut room = Room::new();
    let s = room.session(0);
    room.handler.connect(&s).await.unwrap();
    room.handler.disconnect(&s.id).await.unwrap();
    room.advance_to(10_000).await;
    assert_eq!(room.posts(), 0);
}
