//! Property tests of the action handler's commits and fan-out (docs/hardening.md).
//!
//! Any sequence of valid game actions (`addIcon`, `moveIcon`, `deleteIcon`,
//! `changeBackground`) from several clients over several rooms, sent through the real
//! [`Handler`](roomcast_core::Handler) on in-memory ports (`tests/common/memory.rs`):
//!
//! - every action is acked with a version or refused with `unknown_icon` / `icon_limit`
//!   (and only when the refusal is due);
//! - each room's acked versions, and the versions of its patch jobs, are exactly
//!   `1..=n`, one patch job per version;
//! - applying the fanned-out patches in version order to an empty room gives the
//!   store's final state, and no base ever exceeds the icon cap.
//!
//! Once with the clients' frames in the generated order (deterministic, shrinks well),
//! once with each client sending from its own task on a multi-threaded runtime, so
//! commits and enqueues of different clients interleave for real (patch jobs may then
//! be enqueued out of version order, which is why they are sorted by version).
//!
//! Cases: 64 per property by default; `PROPTEST_CASES=N` sets another count.

mod common;

use proptest::prelude::*;
use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use common::memory::World;
use roomcast_core::Session;
use roomcast_core::auth::RoomAccess;
use roomcast_core::fanout::FanoutJob;
use roomcast_core::protocol::{
    ConnectionId, ErrorCode, IconId, Protocol, Ref, RoomName, ServerMessage,
};
use roomcast_core::state::{Op, RoomState};
use serde_json::json;

const ROOMS: [&str; 3] = ["alpha", "beta", "gamma"];
const CLIENTS: usize = 3;

#[derive(Debug, Clone)]
enum Act {
    Add {
        img: u16,
        x: f64,
        y: f64,
    },
    Move {
        pick: usize,
        img: u16,
        x: f64,
        y: f64,
    },
    Delete {
        pick: usize,
    },
    Background {
        bg: u8,
    },
}

#[derive(Debug, Clone)]
struct Step {
    client: usize,
    room: usize,
    act: Act,
}

fn coord() -> impl Strategy<Value = f64> {
    prop_oneof![
        -10_000.0f64..=10_000.0,
        Just(-10_000.0),
        Just(10_000.0),
        (-10_000i32..=10_000).prop_map(f64::from),
    ]
}

fn act() -> impl Strategy<Value = Act> {
    prop_oneof![
        4 => (0u16..64, coord(), coord()).prop_map(|(img, x, y)| Act::Add { img, x, y }),
        3 => (any::<usize>(), 0u16..64, coord(), coord())
            .prop_map(|(pick, img, x, y)| Act::Move { pick, img, x, y }),
        2 => any::<usize>().prop_map(|pick| Act::Delete { pick }),
        1 => (0u8..32).prop_map(|bg| Act::Background { bg }),
    ]
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec(
        (0..CLIENTS, 0..ROOMS.len(), act()).prop_map(|(client, room, act)| Step {
            client,
            room,
            act,
        }),
        0..60,
    )
}

fn config() -> ProptestConfig {
    let mut config = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = 64;
    }
    config
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .expect("runtime")
    })
}

fn room(i: usize) -> RoomName {
    RoomName::parse(ROOMS[i]).unwrap()
}

/// Clients 0 and 1 speak `roomcast.v1`; client 2 is a planetstack client connected to
/// `alpha`, which leaves `room` out for its own room (the default room fills it in).
fn sessions() -> Vec<Session> {
    (0..CLIENTS)
        .map(|i| Session {
            user: roomcast_core::protocol::UserId::parse(format!("user{i}")).unwrap(),
            id: ConnectionId::parse(format!("client{i}")).unwrap(),
            protocol: if i == 2 {
                Protocol::Planetstack
            } else {
                Protocol::V1
            },
            room: room(0),
            access: RoomAccess::Any,
        })
        .collect()
}

/// What the sender saw for one step.
#[derive(Debug)]
struct Sent {
    room: RoomName,
    /// The icon count of the room when the frame was built (exact when sequential).
    icons_before: usize,
    /// The frame named an icon that was not in the room when it was built.
    ghost: bool,
    is_add: bool,
    reply: Result<u64, ErrorCode>,
}

/// Build the step's frame from the room's current icons and send it.
async fn send(world: &World, session: &Session, n: usize, step: &Step) -> Sent {
    let r = room(step.room);
    let current = world.rooms.get(&r);
    let ids: Vec<&IconId> = current.state.icons.keys().collect();
    let mut ghost = false;
    let mut pick = |p: usize| match ids.get(p % ids.len().max(1)) {
        Some(id) => id.as_str().to_owned(),
        None => {
            ghost = true;
            IconId::generate().as_str().to_owned()
        }
    };
    let mut frame = match &step.act {
        Act::Add { img, x, y } => {
            json!({"action": "addIcon", "icon": {"img": img, "x": x, "y": y}})
        }
        Act::Move { pick: p, img, x, y } => {
            json!({"action": "moveIcon", "icon": {"id": pick(*p), "img": img, "x": x, "y": y}})
        }
        Act::Delete { pick: p } => json!({"action": "deleteIcon", "id": pick(*p)}),
        Act::Background { bg } => json!({"action": "changeBackground", "bg": bg}),
    };
    if session.protocol == Protocol::V1 || r != session.room {
        frame["room"] = json!(r.as_str());
    }
    frame["ref"] = json!(n);
    let replies = world.handler.message(session, &frame.to_string()).await;
    let reply = match replies.as_slice() {
        [
            ServerMessage::Ack {
                reference: Ref::Number(got),
                version: Some(version),
                recovered: None,
                ..
            },
        ] if *got == n as i64 => Ok(*version),
        [
            ServerMessage::Error {
                code,
                reference: Some(Ref::Number(got)),
                ..
            },
        ] if *got == n as i64 => Err(*code),
        other => panic!("{frame}: unexpected replies {other:?}"),
    };
    Sent {
        room: r,
        icons_before: current.state.icons.len(),
        ghost,
        is_add: matches!(step.act, Act::Add { .. }),
        reply,
    }
}

/// Run the steps, in order or with one task per client, and check the properties.
fn check(cap: usize, steps: &[Step], concurrent: bool) -> Result<(), TestCaseError> {
    let world = Arc::new(World::new(cap));
    let sessions = sessions();
    let sent: Vec<Sent> = runtime().block_on(async {
        if !concurrent {
            let mut sent = Vec::new();
            for (n, step) in steps.iter().enumerate() {
                sent.push(send(&world, &sessions[step.client], n, step).await);
            }
            return sent;
        }
        let tasks: Vec<_> = sessions
            .iter()
            .enumerate()
            .map(|(c, session)| {
                let (world, session) = (world.clone(), session.clone());
                let mine: Vec<(usize, Step)> = steps
                    .iter()
                    .cloned()
                    .enumerate()
                    .filter(|(_, s)| s.client == c)
                    .collect();
                tokio::spawn(async move {
                    let mut sent = Vec::new();
                    for (n, step) in &mine {
                        sent.push(send(&world, &session, *n, step).await);
                        tokio::task::yield_now().await;
                    }
                    sent
                })
            })
            .collect();
        let mut sent = Vec::new();
        for task in tasks {
            sent.extend(task.await.expect("client task"));
        }
        sent
    });

    // Refusals only when due.
    for s in &sent {
        match s.reply {
            Ok(_) => {}
            Err(ErrorCode::IconLimit) => {
                prop_assert!(s.is_add, "icon_limit for a non-add: {s:?}");
                if !concurrent {
                    prop_assert_eq!(s.icons_before, cap, "icon_limit below the cap: {:?}", s);
                }
            }
            Err(ErrorCode::UnknownIcon) => {
                prop_assert!(
                    s.ghost || concurrent,
                    "unknown_icon for an icon that was there: {:?}",
                    s
                );
            }
            Err(code) => prop_assert!(false, "unexpected refusal {code:?}: {s:?}"),
        }
        if !concurrent && s.is_add && s.icons_before < cap {
            prop_assert!(s.reply.is_ok(), "an add under the cap was refused: {s:?}");
        }
        if !concurrent && !s.ghost && !s.is_add {
            prop_assert!(s.reply.is_ok(), "a valid change was refused: {s:?}");
        }
    }

    // Acked versions and patch jobs, per room.
    let mut acked: BTreeMap<RoomName, Vec<u64>> = BTreeMap::new();
    for s in &sent {
        if let Ok(v) = s.reply {
            acked.entry(s.room.clone()).or_default().push(v);
        }
    }
    let mut patches: BTreeMap<RoomName, Vec<(u64, Op)>> = BTreeMap::new();
    for job in world.queue.take() {
        let FanoutJob::Room(job) = job else {
            panic!("the handler enqueues room jobs only");
        };
        let message: ServerMessage = serde_json::from_str(&job.payload).expect("payload reads");
        let ServerMessage::Patch {
            room, version, op, ..
        } = message
        else {
            panic!("only patches are fanned out here: {}", job.payload);
        };
        prop_assert_eq!(&room, &job.room);
        prop_assert_eq!(job.version, Some(version));
        patches.entry(room).or_default().push((version, op));
    }

    let stored = world.rooms.all();
    prop_assert_eq!(
        stored.keys().collect::<Vec<_>>(),
        acked.keys().collect::<Vec<_>>(),
        "rooms with state are the rooms with acked changes"
    );
    for (room, mut versions) in acked {
        let mut room_patches = patches.remove(&room).unwrap_or_default();
        let expected: Vec<u64> = (1..=versions.len() as u64).collect();
        if !concurrent {
            let in_order: Vec<u64> = room_patches.iter().map(|(v, _)| *v).collect();
            prop_assert_eq!(
                &in_order,
                &expected,
                "patches of {} enqueued in order",
                room
            );
        }
        versions.sort_unstable();
        prop_assert_eq!(&versions, &expected, "acked versions of {}", room);
        room_patches.sort_by_key(|(v, _)| *v);
        let patch_versions: Vec<u64> = room_patches.iter().map(|(v, _)| *v).collect();
        prop_assert_eq!(&patch_versions, &expected, "patch versions of {}", room);

        let mut replay = RoomState::default();
        for (version, op) in &room_patches {
            prop_assert_eq!(replay.apply(op, cap), Ok(*version), "{} replays", room);
        }
        prop_assert_eq!(&replay, &stored[&room], "replayed patches of {}", room);
        prop_assert!(replay.state.icons.len() <= cap);
    }
    prop_assert!(patches.is_empty(), "patches without acks: {patches:?}");
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn patches_in_version_order_rebuild_the_state(cap in 1usize..8, steps in steps()) {
        check(cap, &steps, false)?;
    }

    #[test]
    fn concurrent_clients_get_versions_one_to_n_and_patches_rebuild_the_state(
        cap in 1usize..8,
        steps in steps(),
    ) {
        check(cap, &steps, true)?;
    }
}
