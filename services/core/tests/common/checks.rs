//! The fuzz targets' bodies, as plain functions: the cargo-fuzz targets call them on
//! libFuzzer's inputs and `tests/fuzz_corpus.rs` calls them on every committed corpus
//! file and crash input. Each panics when an invariant breaks:
//!
//! - parsing never panics; an error carries a code from [`ErrorCode::ALL`] that the
//!   parser may produce, a non-empty message, and serializes to its `as_str` spelling;
//! - a parsed message serializes to a frame that parses back to the same message, and
//!   a connection's default room only fills a missing `room`;
//! - the handler answers a frame the parser refuses with exactly that error, and any
//!   error changes no room and enqueues nothing;
//! - a committed change touches one room, raises its version by exactly one, enqueues
//!   exactly one patch job for that version, and that patch replayed on the old state
//!   (by `RoomState::apply` and by the client-side `apply_patch`) gives the new state;
//!   a valid change that is not refused is committed;
//! - no base holds more icons than the cap; states, patches and every reply serialize
//!   and read back unchanged;
//! - over a session of many frames, each room's patch versions are exactly `1..=n` in
//!   order, and replaying its patches on an empty room gives the store's final state.

use arbitrary::{Arbitrary, Unstructured};
use futures::executor::block_on;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

use super::memory::World;
use roomcast_core::Session;
use roomcast_core::auth::RoomAccess;
use roomcast_core::fanout::FanoutJob;
use roomcast_core::protocol::{
    Background, ClientAction, ClientMessage, ConnectionId, Coord, ErrorCode, Icon, IconId, Image,
    Protocol, ProtocolError, RoomName, ServerMessage,
};
use roomcast_core::state::{GameState, Op, PatchOutcome, RoomState};

/// Icons per base in the fixtures: small, so `icon_limit` is reachable.
pub const FIXTURE_CAP: usize = 4;

/// The fixture room: full (`FIXTURE_CAP` icons with these ids), background 2, version 5.
/// Corpus frames that move or delete these ids reach the commit path.
pub const FIXTURE_ROOM: &str = "alpha";
pub const FIXTURE_ICONS: [&str; FIXTURE_CAP] = [
    "icon2JgQqZ3ZuPkqYh0VbZ1sLhQd0aB",
    "icon3MankMC0w82wnPvdBZMx7e7o737",
    "icon000000000000000000000000000",
    "iconzzzzzzzzzzzzzzzzzzzzzzzzzzz",
];

/// Codes `ClientMessage::parse` may answer with.
const PARSE_CODES: [ErrorCode; 14] = [
    ErrorCode::InvalidJson,
    ErrorCode::InvalidMessage,
    ErrorCode::MissingAction,
    ErrorCode::UnknownAction,
    ErrorCode::InvalidRef,
    ErrorCode::MissingField,
    ErrorCode::InvalidField,
    ErrorCode::InvalidRoom,
    ErrorCode::InvalidBackground,
    ErrorCode::InvalidImage,
    ErrorCode::InvalidCoordinate,
    ErrorCode::InvalidIconId,
    ErrorCode::InvalidEvent,
    ErrorCode::PayloadTooLarge,
];

/// Codes the handler adds after parsing (with in-memory ports that never fail).
const HANDLER_CODES: [ErrorCode; 3] = [
    ErrorCode::Forbidden,
    ErrorCode::UnknownIcon,
    ErrorCode::IconLimit,
];

fn room(name: &str) -> RoomName {
    RoomName::parse(name).expect("fixture room names are valid")
}

fn icon(img: i64, x: f64, y: f64) -> Icon {
    Icon {
        img: Image::parse(img).expect("fixture image"),
        x: Coord::parse(x).expect("fixture x"),
        y: Coord::parse(y).expect("fixture y"),
    }
}

/// A handler whose store holds the fixture room.
pub fn fixture() -> World {
    let world = World::new(FIXTURE_CAP);
    let alpha = room(FIXTURE_ROOM);
    for (i, id) in FIXTURE_ICONS.iter().enumerate() {
        let op = Op::AddIcon {
            id: IconId::parse(*id).expect("fixture icon ids are valid"),
            icon: icon(i as i64, 100.0 * i as f64, -50.0 * i as f64),
        };
        world
            .rooms
            .apply(&alpha, &op)
            .expect("fixture fits the cap");
    }
    let bg = Op::ChangeBackground {
        bg: Background::parse(2).expect("fixture background"),
    };
    world.rooms.apply(&alpha, &bg).expect("fixture background");
    world
}

fn session(n: u8, protocol: Protocol, access: RoomAccess) -> Session {
    let id = ConnectionId::parse(format!("conn{n}AAAAAAAAAAAA=")).expect("fixture connection id");
    Session {
        user: roomcast_core::protocol::UserId::anonymous(&id),
        id,
        protocol,
        room: room(FIXTURE_ROOM),
        access,
    }
}

/// The `frame` target: one client frame, as arbitrary bytes.
pub fn frame(data: &[u8]) {
    // The gateway refuses a text frame that is not UTF-8 before core sees it.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    check_parse(text);
    let only_alpha = RoomAccess::Only(BTreeSet::from([room(FIXTURE_ROOM)]));
    for session in [
        session(1, Protocol::V1, RoomAccess::Any),
        session(2, Protocol::Planetstack, only_alpha),
    ] {
        let world = fixture();
        step(&world, &session, text);
    }
}

/// Parser invariants for one frame, under both subprotocols' defaults.
fn check_parse(text: &str) {
    let default = room("default");
    let v1 = ClientMessage::parse(text, None);
    let planetstack = ClientMessage::parse(text, Some(&default));
    for parsed in [&v1, &planetstack] {
        match parsed {
            Ok(m) => {
                let frame = serde_json::to_string(m).expect("a parsed message serializes");
                let again = ClientMessage::parse(&frame, None).unwrap_or_else(|e| {
                    panic!("{frame} (from {text:?}) does not parse back: {e:?}")
                });
                let frame_again = serde_json::to_string(&again).expect("serializes");
                assert_eq!(frame_again, frame, "round trip of {text:?}");
                assert_eq!(again.reference, m.reference, "ref of {text:?}");
            }
            Err(e) => check_error(e, &PARSE_CODES, text),
        }
    }
    match (&v1, &planetstack) {
        // A default room only fills in a missing `room`.
        (Ok(a), Ok(b)) => assert_eq!(
            serde_json::to_string(a).expect("serializes"),
            serde_json::to_string(b).expect("serializes"),
            "the default room changed an explicit one in {text:?}"
        ),
        (Ok(a), Err(e)) => panic!("{text:?} parses as {a:?} but not with a default room: {e:?}"),
        (Err(a), Err(b)) => assert_eq!(a, b, "a default room changed the error for {text:?}"),
        // The default room fills a missing `room`: the only error it may cure.
        (Err(a), Ok(_)) => assert_eq!(a.code, ErrorCode::MissingField, "{text:?}: {a:?}"),
    }
}

fn check_error(e: &ProtocolError, allowed: &[ErrorCode], context: &str) {
    assert!(
        allowed.contains(&e.code),
        "unexpected code {:?} for {context:?}",
        e.code
    );
    assert!(ErrorCode::ALL.contains(&e.code));
    assert_eq!(
        serde_json::to_value(e.code).expect("codes serialize"),
        json!(e.code.as_str()),
        "a code's wire spelling is its as_str"
    );
    assert!(!e.message.is_empty(), "empty message for {context:?}");
}

/// Feed one frame from `session` to the world's handler and check everything it did.
/// Returns the patch it committed, if any: `(room, version, op)`.
pub fn step(world: &World, session: &Session, text: &str) -> Option<(RoomName, u64, Op)> {
    let cap = world.rooms.icon_cap();
    let default = (session.protocol == Protocol::Planetstack).then_some(&session.room);
    let parsed = ClientMessage::parse(text, default);
    let before = world.rooms.all();
    let replies = block_on(world.handler.message(session, text));
    let after = world.rooms.all();
    let jobs = world.queue.take();

    for reply in &replies {
        let v1 = reply.to_v1();
        let back: ServerMessage = serde_json::from_str(&v1)
            .unwrap_or_else(|e| panic!("reply {v1} does not read back: {e}"));
        assert_eq!(back.to_v1(), v1, "reply round trip");
        if let Some(planetstack) = reply.render(Protocol::Planetstack) {
            serde_json::from_str::<Value>(&planetstack).expect("planetstack frames are JSON");
        }
    }
    let errors: Vec<ProtocolError> = replies
        .iter()
        .filter_map(|r| match r {
            ServerMessage::Error {
                code,
                message,
                reference,
            } => Some(ProtocolError {
                code: *code,
                message: message.clone(),
                reference: reference.clone(),
            }),
            _ => None,
        })
        .collect();
    if let Err(e) = &parsed {
        assert_eq!(
            errors.as_slice(),
            std::slice::from_ref(e),
            "{text:?}: {replies:?}"
        );
    }
    if !errors.is_empty() {
        assert_eq!(replies.len(), 1, "an error comes alone: {replies:?}");
        let allowed: Vec<ErrorCode> = PARSE_CODES.iter().chain(&HANDLER_CODES).copied().collect();
        check_error(&errors[0], &allowed, text);
        assert_eq!(before, after, "{text:?} was refused but changed a room");
        assert!(
            jobs.is_empty(),
            "{text:?} was refused but enqueued {jobs:?}"
        );
    }

    for state in after.values() {
        assert!(state.state.icons.len() <= cap, "a base over the cap");
        let json = serde_json::to_string(state).expect("states serialize");
        let back: RoomState = serde_json::from_str(&json).expect("states read back");
        assert_eq!(&back, state);
        let planetstack: GameState =
            serde_json::from_str(&state.state.to_planetstack()).expect("planetstack state");
        assert_eq!(planetstack, state.state);
    }

    let changed: Vec<&RoomName> = after
        .iter()
        .filter(|(r, s)| before.get(*r).cloned().unwrap_or_default() != **s)
        .map(|(r, _)| r)
        .collect();
    assert!(changed.len() <= 1, "one frame changed {changed:?}");
    let mut patches = Vec::new();
    for job in &jobs {
        let FanoutJob::Room(job) = job else {
            panic!("the handler enqueues room jobs only: {job:?}");
        };
        let payload: ServerMessage = serde_json::from_str(&job.payload)
            .unwrap_or_else(|e| panic!("job payload {} does not read: {e}", job.payload));
        match payload {
            ServerMessage::Patch {
                room,
                version,
                op,
                at,
            } => {
                assert!(at.is_some(), "a patch says where it stands in the history");
                assert_eq!(room, job.room);
                assert_eq!(
                    job.version,
                    Some(version),
                    "a patch job carries its version"
                );
                assert!(
                    job.planetstack_state,
                    "planetstack clients get the state after a change"
                );
                patches.push((room, version, op));
            }
            other => assert_eq!(job.version, None, "only patches carry a version: {other:?}"),
        }
    }

    let is_change = parsed.as_ref().is_ok_and(|m| {
        matches!(
            m.action,
            ClientAction::ChangeBackground { .. }
                | ClientAction::AddIcon { .. }
                | ClientAction::MoveIcon { .. }
                | ClientAction::DeleteIcon { .. }
        )
    });
    let Some(room) = changed.first().copied() else {
        assert!(patches.is_empty(), "a patch without a change: {patches:?}");
        assert!(
            !is_change || !errors.is_empty(),
            "{text:?} is a valid change, was not refused, and changed nothing"
        );
        return None;
    };
    assert!(
        is_change,
        "{text:?} is not a state change but changed {room}"
    );
    let message = parsed.as_ref().expect("a change comes from a valid frame");
    assert_eq!(message.action.room(), Some(room));
    let old = before.get(room).cloned().unwrap_or_default();
    let new = &after[room];
    assert_eq!(
        new.version,
        old.version + 1,
        "a commit bumps the version by one"
    );
    assert_eq!(patches.len(), 1, "one patch per commit: {patches:?}");
    let (patch_room, version, op) = patches.pop().expect("one patch");
    assert_eq!((&patch_room, version), (room, new.version));
    let mut replay = old.clone();
    assert_eq!(replay.apply(&op, cap), Ok(new.version));
    assert_eq!(&replay, new, "the patch replayed gives the committed state");
    let mut client = old;
    assert_eq!(client.apply_patch(version, &op), PatchOutcome::Applied);
    assert_eq!(
        &client, new,
        "the client-side rule gives the committed state"
    );
    for reply in &replies {
        match reply {
            ServerMessage::Ack {
                reference,
                version,
                id,
                recovered,
            } => {
                assert_eq!(Some(reference), message.reference.as_ref());
                assert_eq!(*version, Some(new.version), "the ack carries the version");
                assert_eq!(*recovered, None);
                let created = match &op {
                    Op::AddIcon { id, .. } => Some(id),
                    _ => None,
                };
                assert_eq!(id.as_ref(), created, "an addIcon's ack names its icon");
            }
            other => panic!("a change answers an ack at most, got {other:?}"),
        }
    }
    Some((patch_room, version, op))
}

// ---------------------------------------------------------------------------------------
// The `session` target: a sequence of frames from several clients over several rooms.
// ---------------------------------------------------------------------------------------

/// Rooms the session target uses; index 3 is not a valid room name.
const ROOMS: [&str; 4] = ["r0", "r1", "r2", "r 3"];

/// A session: an icon cap and the frames to send, in order.
#[derive(Debug, Arbitrary)]
pub struct Script {
    /// Icons per base, `1 + cap % 8`.
    pub cap: u8,
    /// Frames, each from one of three clients.
    pub steps: Vec<Step>,
}

/// One frame.
#[derive(Debug, Arbitrary)]
pub struct Step {
    /// Client `client % 3`: v1 with any room; v1 granted r0 and r1 only; planetstack in r0.
    pub client: u8,
    /// What it sends.
    pub action: Action,
}

/// A frame to build. Numbers cover both sides of each range (`img` 0..64, `bg` 0..32,
/// coordinates ±10000); `icon` picks one of the room's icons, or past them a ghost
/// (valid id, no icon) or an invalid id.
#[derive(Debug, Arbitrary)]
pub enum Action {
    Add {
        room: u8,
        img: u8,
        x: i16,
        y: i16,
    },
    Move {
        room: u8,
        icon: u8,
        img: u8,
        x: i16,
        y: i16,
    },
    Delete {
        room: u8,
        icon: u8,
    },
    Background {
        room: u8,
        bg: u8,
    },
    Join {
        room: u8,
    },
    Leave {
        room: u8,
    },
    GetState {
        room: u8,
    },
    Emit {
        room: u8,
        except_sender: bool,
    },
    ListRooms,
    Raw(String),
}

/// The `session` target's input, decoded the way `fuzz_target!` decodes a typed input.
pub fn session_bytes(data: &[u8]) {
    if let Ok(script) = Script::arbitrary_take_rest(Unstructured::new(data)) {
        run_script(&script);
    }
}

fn pick_icon(world: &World, room: &str, index: u8) -> String {
    let ids: Vec<IconId> = RoomName::parse(room)
        .map(|r| world.rooms.get(&r).state.icons.into_keys().collect())
        .unwrap_or_default();
    match ids.get(usize::from(index)) {
        Some(id) => id.as_str().to_owned(),
        None if index.is_multiple_of(2) => "iconGHOSTGHOSTGHOSTGHOSTGHOST00".to_owned(),
        None => format!("icon{index}"),
    }
}

/// The frame a step sends, with a ref (`ref` = its index).
pub fn render(world: &World, n: usize, action: &Action) -> String {
    let r = |room: &u8| ROOMS[usize::from(*room) % ROOMS.len()];
    let frame = match action {
        Action::Add { room, img, x, y } => json!({
            "action": "addIcon", "room": r(room), "icon": {"img": img, "x": x, "y": y}
        }),
        Action::Move {
            room,
            icon,
            img,
            x,
            y,
        } => json!({
            "action": "moveIcon", "room": r(room),
            "icon": {"id": pick_icon(world, r(room), *icon), "img": img, "x": x, "y": y}
        }),
        Action::Delete { room, icon } => json!({
            "action": "deleteIcon", "room": r(room), "id": pick_icon(world, r(room), *icon)
        }),
        Action::Background { room, bg } => {
            json!({"action": "changeBackground", "room": r(room), "bg": bg})
        }
        Action::Join { room } => json!({"action": "join", "room": r(room)}),
        Action::Leave { room } => json!({"action": "leave", "room": r(room)}),
        Action::GetState { room } => json!({"action": "getState", "room": r(room)}),
        Action::Emit {
            room,
            except_sender,
        } => json!({
            "action": "emit", "room": r(room), "event": "chat",
            "data": {"n": n}, "except_sender": except_sender
        }),
        Action::ListRooms => json!({"action": "listRooms"}),
        Action::Raw(text) => return text.clone(),
    };
    let mut frame = frame;
    frame["ref"] = json!(n);
    frame.to_string()
}

/// Run a script through one handler, checking each step and then every room's history.
pub fn run_script(script: &Script) {
    let world = World::new(1 + usize::from(script.cap % 8));
    let granted = RoomAccess::Only(BTreeSet::from([room("r0"), room("r1")]));
    let mut planetstack = session(2, Protocol::Planetstack, RoomAccess::Any);
    planetstack.room = room("r0");
    let clients = [
        session(0, Protocol::V1, RoomAccess::Any),
        session(1, Protocol::V1, granted),
        planetstack,
    ];
    let mut history: BTreeMap<RoomName, Vec<(u64, Op)>> = BTreeMap::new();
    for (n, s) in script.steps.iter().enumerate() {
        let text = render(&world, n, &s.action);
        let client = &clients[usize::from(s.client) % clients.len()];
        if let Some((room, version, op)) = step(&world, client, &text) {
            history.entry(room).or_default().push((version, op));
        }
    }
    check_history(&world, &history);
}

/// Every room's patches are versions `1..=n` in order, and replaying them on an empty
/// room gives the store's state.
pub fn check_history(world: &World, history: &BTreeMap<RoomName, Vec<(u64, Op)>>) {
    let all = world.rooms.all();
    assert_eq!(
        all.keys().collect::<Vec<_>>(),
        history.keys().collect::<Vec<_>>(),
        "rooms with state are exactly the rooms with patches"
    );
    for (room, patches) in history {
        let versions: Vec<u64> = patches.iter().map(|(v, _)| *v).collect();
        let expected: Vec<u64> = (1..=patches.len() as u64).collect();
        assert_eq!(versions, expected, "versions of {room}");
        let mut replay = RoomState::default();
        for (version, op) in patches {
            assert_eq!(replay.apply(op, usize::MAX), Ok(*version));
        }
        assert_eq!(replay, all[room], "replaying {room}'s patches");
    }
}
