//! Property tests of the client-side version rule ([`RoomState`], docs/protocol.md
//! "Versions and resync"; docs/hardening.md).
//!
//! A server history: `n` ops committed one after the other on core's state, with the
//! snapshot at every version. The client joins at some version `j` (its first `state`
//! may arrive late, after patches), and the patches `1..=n` reach it in any order, each
//! at least once (duplicates anywhere), mixed with patches for another room. Whenever
//! an update asks for a resync, the "server" answers `getState` a few messages later
//! with its state at some version at least as new as anything the client has been sent.
//!
//! - At every step the client holds the server's snapshot for the version it holds,
//!   its version never goes back, and every change it reports is newer than the last.
//! - After the last message (and the answers to resyncs it asked for) the client holds
//!   the server's final state.
//! - With some patches lost instead, the same holds at every step, and one `getState`
//!   answered with the final state brings the client there.
//!
//! Cases: 256 per property by default (each case is microseconds); `PROPTEST_CASES=N`
//! sets another count.

use proptest::prelude::*;
use roomcast_sdk::{
    Background, Change, Coord, GameState, Icon, IconId, Image, Op, RoomName, RoomState,
    ServerMessage, Snapshot,
};

#[derive(Debug, Clone)]
enum Act {
    Add {
        img: i64,
        x: f64,
        y: f64,
    },
    Move {
        pick: usize,
        img: i64,
        x: f64,
        y: f64,
    },
    Delete {
        pick: usize,
    },
    Background {
        bg: i64,
    },
}

fn act() -> impl Strategy<Value = Act> {
    let coord = || -10_000.0f64..=10_000.0;
    prop_oneof![
        3 => (0i64..64, coord(), coord()).prop_map(|(img, x, y)| Act::Add { img, x, y }),
        3 => (any::<usize>(), 0i64..64, coord(), coord())
            .prop_map(|(pick, img, x, y)| Act::Move { pick, img, x, y }),
        2 => any::<usize>().prop_map(|pick| Act::Delete { pick }),
        1 => (0i64..32).prop_map(|bg| Act::Background { bg }),
    ]
}

/// The server's history: `snapshots[v]` is the state at version `v`, `patches[v - 1]`
/// the op that produced version `v`.
struct History {
    snapshots: Vec<GameState>,
    patches: Vec<Op>,
}

fn icon(img: i64, x: f64, y: f64) -> Icon {
    Icon {
        img: Image::parse(img).unwrap(),
        x: Coord::parse(x).unwrap(),
        y: Coord::parse(y).unwrap(),
    }
}

fn history(acts: &[Act]) -> History {
    let mut server = Snapshot::default();
    let mut snapshots = vec![server.state.clone()];
    let mut patches = Vec::new();
    for (n, act) in acts.iter().enumerate() {
        let ids: Vec<IconId> = server.state.icons.keys().cloned().collect();
        let existing = |pick: usize| ids.get(pick % ids.len().max(1)).cloned();
        let op = match act {
            Act::Add { img, x, y } => Op::AddIcon {
                id: IconId::parse(format!("icon{n:0>27}")).unwrap(),
                icon: icon(*img, *x, *y),
            },
            Act::Move { pick, img, x, y } => match existing(*pick) {
                Some(id) => Op::MoveIcon {
                    id,
                    icon: icon(*img, *x, *y),
                },
                None => continue,
            },
            Act::Delete { pick } => match existing(*pick) {
                Some(id) => Op::DeleteIcon { id },
                None => continue,
            },
            Act::Background { bg } => Op::ChangeBackground {
                bg: Background::parse(*bg).unwrap(),
            },
        };
        server.apply(&op, usize::MAX).unwrap();
        snapshots.push(server.state.clone());
        patches.push(op);
    }
    History { snapshots, patches }
}

/// How the patches are delivered.
#[derive(Debug, Clone)]
struct Delivery {
    /// Indexes into the patches, in delivery order (each patch at least once unless
    /// `lost`).
    order: Vec<usize>,
    /// The version the client joined at, as a fraction of `n` (0..=255 → 0..=n).
    join: u8,
    /// Where in `order` the first state arrives (mod len + 1).
    state_at: usize,
    /// Per resync: how many messages later the answer arrives, and which version it
    /// has between the lowest possible and `n` (fractions as for `join`).
    answers: Vec<(u8, u8)>,
    /// Patches (by index) that never arrive.
    lost: Vec<usize>,
}

fn delivery(n: usize, losses: bool) -> impl Strategy<Value = Delivery> {
    let all: Vec<usize> = (0..n).collect();
    (
        Just(all).prop_shuffle(),
        prop::collection::vec(0..n.max(1), 0..=n),
        any::<u8>(),
        any::<usize>(),
        prop::collection::vec((0u8..6, any::<u8>()), 1..8),
        prop::collection::vec(0..n.max(1), if losses { 1..4 } else { 0..1 }),
        prop::collection::vec(any::<usize>(), 0..=n),
    )
        .prop_map(
            move |(mut order, dups, join, state_at, answers, lost, at)| {
                // Duplicates go anywhere.
                for (d, p) in dups.into_iter().zip(at) {
                    if n > 0 {
                        order.insert(p % (order.len() + 1), d);
                    }
                }
                let lost = if n == 0 { vec![] } else { lost };
                order.retain(|i| !lost.contains(i));
                Delivery {
                    order,
                    join,
                    state_at,
                    answers,
                    lost,
                }
            },
        )
}

fn scenario(losses: bool) -> impl Strategy<Value = (Vec<Act>, Delivery)> {
    prop::collection::vec(act(), 0..40).prop_flat_map(move |acts| {
        let n = history(&acts).patches.len();
        (Just(acts), delivery(n, losses))
    })
}

fn fraction(f: u8, low: u64, high: u64) -> u64 {
    low + (high - low) * u64::from(f) / 255
}

fn alpha() -> RoomName {
    RoomName::parse("alpha").unwrap()
}

/// Feeds messages to a client replica, checking it against the history at every step.
struct Replica<'a> {
    history: &'a History,
    client: RoomState,
    /// The newest version of any message sent to the client so far: the server is at
    /// least there when it answers a `getState`.
    sent: u64,
    last_change: Option<u64>,
    resyncs: usize,
}

impl Replica<'_> {
    fn feed(&mut self, message: &ServerMessage) -> bool {
        if let ServerMessage::Patch { version, room, .. }
        | ServerMessage::State { version, room, .. } = message
            && *room == alpha()
        {
            self.sent = self.sent.max(*version);
        }
        let before = self.client.version();
        let update = self.client.apply(message);
        for change in &update.changes {
            let v = change.version();
            assert!(
                self.last_change.is_none_or(|last| v > last),
                "change {change:?} after version {:?}",
                self.last_change
            );
            self.last_change = Some(v);
            if let Change::Patched { version, op } = change {
                assert_eq!(op, &self.history.patches[*version as usize - 1]);
            }
        }
        let after = self.client.version();
        assert!(
            after >= before,
            "the version went back: {before:?} → {after:?}"
        );
        if let Some(v) = after {
            assert_eq!(
                self.client.state().unwrap(),
                &self.history.snapshots[v as usize],
                "the state held at version {v} is not the server's"
            );
        }
        if update.resync {
            self.resyncs += 1;
        }
        update.resync
    }

    fn state_at(&self, version: u64) -> ServerMessage {
        ServerMessage::State {
            room: alpha(),
            version,
            state: self.history.snapshots[version as usize].clone(),
            at: None,
        }
    }
}

fn run(acts: &[Act], d: &Delivery) -> Result<(), TestCaseError> {
    let history = history(acts);
    let n = history.patches.len() as u64;
    let joined = fraction(d.join, 0, n);
    let mut stream: Vec<ServerMessage> = d
        .order
        .iter()
        .map(|&i| ServerMessage::Patch {
            room: alpha(),
            version: i as u64 + 1,
            op: history.patches[i].clone(),
            at: None,
        })
        .collect();
    // Noise: a patch and a state for another room are ignored.
    let beta = RoomName::parse("beta").unwrap();
    stream.insert(
        d.state_at % (stream.len() + 1),
        ServerMessage::Patch {
            room: beta.clone(),
            version: 1,
            op: Op::ChangeBackground {
                bg: Background::parse(9).unwrap(),
            },
            at: None,
        },
    );
    stream.push(ServerMessage::State {
        room: beta,
        version: 99,
        state: GameState::default(),
        at: None,
    });
    let mut replica = Replica {
        history: &history,
        client: RoomState::new(alpha()),
        sent: 0,
        last_change: None,
        resyncs: 0,
    };
    stream.insert(d.state_at % (stream.len() + 1), replica.state_at(joined));

    // (due step, version) of getState answers not yet delivered.
    let mut pending: Vec<(usize, u64)> = Vec::new();
    let mut answers = d.answers.iter().cycle();
    let mut ask = |replica: &Replica, pending: &mut Vec<(usize, u64)>, now: usize| {
        let (delay, f) = answers.next().expect("cycle");
        let low = replica.sent.max(joined);
        pending.push((now + usize::from(*delay), fraction(*f, low, n)));
    };
    for (t, message) in stream.iter().enumerate() {
        if replica.feed(message) {
            ask(&replica, &mut pending, t);
        }
        while let Some(i) = pending.iter().position(|(due, _)| *due <= t) {
            let (_, version) = pending.remove(i);
            if replica.feed(&replica.state_at(version)) {
                ask(&replica, &mut pending, t);
            }
        }
    }
    // The stream is over and the server is at `n`: the answers still on their way
    // arrive, and a resync asked for now is answered with version `n`.
    while !pending.is_empty() {
        let (_, version) = pending.remove(0);
        if replica.feed(&replica.state_at(version)) {
            pending.push((0, n));
        }
    }
    if d.lost.is_empty() {
        prop_assert_eq!(replica.client.version(), Some(n), "did not converge");
    } else {
        // A lost patch is only noticed when a later one arrives; the client's next
        // getState (it asks on every gap, and again on reconnect) brings it up to date.
        let _ = replica.feed(&replica.state_at(n));
        prop_assert_eq!(replica.client.version(), Some(n));
    }
    prop_assert_eq!(
        replica.client.state().unwrap(),
        &history.snapshots[n as usize],
        "the final state is not the server's"
    );
    Ok(())
}

fn config() -> ProptestConfig {
    let mut config = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = 256;
    }
    config
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn reordered_and_duplicated_patches_converge_to_the_server_state(
        (acts, d) in scenario(false),
    ) {
        run(&acts, &d)?;
    }

    #[test]
    fn with_lost_patches_every_step_is_a_server_state_and_one_resync_converges(
        (acts, d) in scenario(true),
    ) {
        run(&acts, &d)?;
    }
}

#[test]
fn the_generator_reaches_gaps_resyncs_and_late_first_states() {
    // The properties are only as good as the deliveries: check that a plainly
    // reversed delivery with the state in the middle takes every path.
    let acts: Vec<Act> = (0..6).map(|bg| Act::Background { bg }).collect();
    let d = Delivery {
        order: (0..6).rev().collect(),
        join: 0,
        state_at: 3,
        answers: vec![(2, 128)],
        lost: vec![],
    };
    run(&acts, &d).unwrap();
    let history = history(&acts);
    let mut client = RoomState::new(alpha());
    let early = client.apply_patch(6, history.patches[5].clone());
    assert!(
        early.resync,
        "a patch before the first state asks for the state"
    );
    let synced = client.apply_state(0, GameState::default());
    assert!(synced.resync, "1..=5 still missing");
    for v in (1..=5).rev() {
        let _ = client.apply_patch(v, history.patches[v as usize - 1].clone());
    }
    assert_eq!(client.version(), Some(6));
    assert_eq!(client.state().unwrap(), &history.snapshots[6]);
}
