//! Server → client messages and how each subprotocol renders them.

use serde::Serialize;
use serde_json::value::RawValue;

use super::error::{ErrorCode, ProtocolError};
use super::icon::IconId;
use super::names::{ConnectionId, Epoch, EventName, Ref, RoomName, UserId};
use crate::state::{GameState, Op};

/// The subprotocol a connection negotiated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    /// `Sec-WebSocket-Protocol: roomcast.v1`: typed envelopes.
    V1,
    /// No subprotocol: planetstack's format (full `{bg, icons}` after every change,
    /// errors as `{"message": ...}`), so planetstack's own client keeps working.
    /// Serialized as `planetstack`; `seed`, its name before, still reads.
    #[serde(alias = "seed")]
    Planetstack,
}

impl Protocol {
    /// The subprotocol name clients ask for.
    pub const V1_NAME: &'static str = "roomcast.v1";

    /// What [`Protocol::name`] said for [`Protocol::Planetstack`] before it had that
    /// name; [`Protocol::from_name`] and `Deserialize` still accept it.
    pub const OLD_PLANETSTACK_NAME: &'static str = "seed";

    /// The name stored and passed around for this protocol (connection items,
    /// authorizer contexts): the subprotocol for v1, `planetstack` for the planetstack format.
    pub fn name(self) -> &'static str {
        match self {
            Self::V1 => Self::V1_NAME,
            Self::Planetstack => "planetstack",
        }
    }

    /// The protocol [`Protocol::name`] names, if any. `seed`, the planetstack format's
    /// name before, still reads as [`Protocol::Planetstack`]: connection items and
    /// authorizer contexts written before the rename carry it.
    pub fn from_name(name: &str) -> Option<Self> {
        if name == Self::OLD_PLANETSTACK_NAME {
            return Some(Self::Planetstack);
        }
        [Self::V1, Self::Planetstack]
            .into_iter()
            .find(|p| p.name() == name)
    }

    /// Pick the protocol from the names a client offered.
    pub fn negotiate<'a>(offered: impl IntoIterator<Item = &'a str>) -> Self {
        if offered.into_iter().any(|p| p.trim() == Self::V1_NAME) {
            Self::V1
        } else {
            Self::Planetstack
        }
    }
}

/// A room, how many connections are in it and how many distinct users they are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct RoomSummary {
    /// Room name.
    pub room: RoomName,
    /// Member count (connections).
    pub members: u32,
    /// Distinct users among the members (one user's several tabs count once), as in
    /// `presence`. Defaults to 0 when absent, so a `rooms` message from a server older
    /// than presence by user still parses.
    #[serde(default)]
    pub users: u32,
}

/// Where a frame stands in its room's history: `offset` rises by one per history entry
/// (patch or event) of the room, and only compares within one `epoch`. A client sends
/// the last one it holds back as `join`'s `since` to recover what it missed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
pub struct Position {
    /// The entry's offset (a `state`: the offset of the last entry it includes).
    pub offset: u64,
    /// The history run the offset belongs to.
    pub epoch: Epoch,
}

/// One user in a room, as `listMembers` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct UserCount {
    /// The user (a token's `sub`, or `anonymous:<connection id>`).
    pub user: UserId,
    /// How many of the room's connections are this user's (tabs, devices).
    pub connections: u32,
}

/// The limits that apply to a connection, told in its `welcome`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Limits {
    /// Rooms it may be in at once.
    pub max_rooms: usize,
    /// Largest `emit` data, in bytes.
    pub max_emit_bytes: usize,
    /// Largest frame it may send, in bytes.
    pub max_frame_bytes: usize,
    /// Messages per second it may send on average (0: no limit).
    pub message_rate: u32,
    /// Messages it may send at once above that rate.
    pub message_burst: u32,
    /// History entries a room keeps for recovery (`since`).
    pub history_size: usize,
    /// How long a room keeps a history entry, in seconds.
    pub history_seconds: u64,
}

/// Every message the server sends on `roomcast.v1`.
///
/// It serializes to the `roomcast.v1` frame ([`ServerMessage::to_v1`]) and deserializes
/// from one (clients such as the SDK read frames with it). Deserialize from JSON text or
/// a `serde_json::Value`: an event's `data` is kept verbatim as a `RawValue`, which only
/// serde_json's deserializers can produce.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum ServerMessage {
    /// The first frame of a connection: who it is and the limits that apply to it.
    Welcome {
        id: ConnectionId,
        user: UserId,
        limits: Limits,
    },
    /// The room's full state (on join, getState, resync), current to history `at`.
    State {
        room: RoomName,
        version: u64,
        state: GameState,
        #[serde(flatten)]
        at: Option<Position>,
    },
    /// The single change that produced `version`; `at` is its place in the history.
    Patch {
        room: RoomName,
        version: u64,
        op: Op,
        #[serde(flatten)]
        at: Option<Position>,
    },
    /// An application event; `from` is the sender, `null` for a server-side publish.
    Event {
        room: RoomName,
        event: EventName,
        data: Box<RawValue>,
        from: Option<ConnectionId>,
        #[serde(flatten)]
        at: Option<Position>,
    },
    /// The room's connection count (`members`) and distinct users (`users`).
    Presence {
        room: RoomName,
        members: u32,
        users: u32,
    },
    /// Answer to `listRooms`.
    Rooms { rooms: Vec<RoomSummary> },
    /// Answer to `listMembers`: one page of the room's users; `next` asks for the next.
    Members {
        room: RoomName,
        users: Vec<UserCount>,
        #[serde(skip_serializing_if = "Option::is_none")]
        next: Option<UserId>,
    },
    /// A request with a `ref` succeeded; `version` is the room version it produced,
    /// `id` the icon an `addIcon` created, `recovered` whether a `join` with `since`
    /// recovered what was missed (the missed frames came before this ack).
    Ack {
        #[serde(rename = "ref")]
        reference: Ref,
        #[serde(skip_serializing_if = "Option::is_none")]
        version: Option<u64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<IconId>,
        #[serde(skip_serializing_if = "Option::is_none")]
        recovered: Option<bool>,
    },
    /// A request failed; nothing changed.
    Error {
        code: ErrorCode,
        message: String,
        #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<Ref>,
    },
}

impl From<ProtocolError> for ServerMessage {
    fn from(e: ProtocolError) -> Self {
        ServerMessage::Error {
            code: e.code,
            message: e.message,
            reference: e.reference,
        }
    }
}

#[derive(Serialize)]
struct PlanetstackError<'a> {
    message: &'a str,
}

impl ServerMessage {
    /// The same patch, event or state placed at `at` in its room's history (any other
    /// message is returned as it is).
    pub fn at(mut self, position: Position) -> Self {
        if let ServerMessage::State { at, .. }
        | ServerMessage::Patch { at, .. }
        | ServerMessage::Event { at, .. } = &mut self
        {
            *at = Some(position);
        }
        self
    }

    /// Where a patch, event or state stands in its room's history, if it says.
    pub fn position(&self) -> Option<&Position> {
        match self {
            ServerMessage::State { at, .. }
            | ServerMessage::Patch { at, .. }
            | ServerMessage::Event { at, .. } => at.as_ref(),
            _ => None,
        }
    }

    /// The frame for a `roomcast.v1` client.
    pub fn to_v1(&self) -> String {
        serde_json::to_string(self).expect("server messages always serialize")
    }

    /// The frame for a planetstack-format client, if the planetstack protocol has one for this
    /// message: the state object for `state`, `{"message"}` for `error`, nothing else.
    pub fn to_planetstack(&self) -> Option<String> {
        match self {
            ServerMessage::State { state, .. } => Some(state.to_planetstack()),
            ServerMessage::Error { message, .. } => {
                Some(serde_json::to_string(&PlanetstackError { message }).expect("serializes"))
            }
            _ => None,
        }
    }

    /// The frame for `protocol`, if that protocol carries this message.
    pub fn render(&self, protocol: Protocol) -> Option<String> {
        match protocol {
            Protocol::V1 => Some(self.to_v1()),
            Protocol::Planetstack => self.to_planetstack(),
        }
    }
}

/// Every field any `roomcast.v1` message has; [`ServerMessage`]'s `Deserialize` reads
/// one of these and checks the fields its `type` requires. (A derived internally tagged
/// enum would buffer the frame, and an event's `RawValue` `data` cannot be read from a
/// buffer.) Unknown fields are ignored, as in client frames.
#[derive(serde::Deserialize)]
struct WireMessage {
    #[serde(rename = "type")]
    kind: String,
    id: Option<String>,
    user: Option<UserId>,
    limits: Option<Limits>,
    offset: Option<u64>,
    epoch: Option<Epoch>,
    recovered: Option<bool>,
    users: Option<serde_json::Value>,
    next: Option<UserId>,
    room: Option<RoomName>,
    version: Option<u64>,
    state: Option<GameState>,
    op: Option<Op>,
    event: Option<EventName>,
    data: Option<Box<RawValue>>,
    from: Option<ConnectionId>,
    members: Option<u32>,
    rooms: Option<Vec<RoomSummary>>,
    #[serde(rename = "ref")]
    reference: Option<Ref>,
    code: Option<ErrorCode>,
    message: Option<String>,
}

/// The `type`s a `roomcast.v1` frame may have.
const MESSAGE_TYPES: &[&str] = &[
    "welcome", "state", "patch", "event", "presence", "rooms", "members", "ack", "error",
];

impl<'de> serde::Deserialize<'de> for ServerMessage {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let w = WireMessage::deserialize(d)?;
        fn need<T, E: Error>(v: Option<T>, field: &'static str) -> Result<T, E> {
            v.ok_or_else(|| E::missing_field(field))
        }
        // `offset` and `epoch` come together or not at all.
        let at = match (w.offset, w.epoch) {
            (Some(offset), Some(epoch)) => Some(Position { offset, epoch }),
            _ => None,
        };
        Ok(match w.kind.as_str() {
            "welcome" => ServerMessage::Welcome {
                id: ConnectionId::parse(need(w.id, "id")?).map_err(D::Error::custom)?,
                user: need(w.user, "user")?,
                limits: need(w.limits, "limits")?,
            },
            "state" => ServerMessage::State {
                room: need(w.room, "room")?,
                version: need(w.version, "version")?,
                state: need(w.state, "state")?,
                at,
            },
            "patch" => ServerMessage::Patch {
                room: need(w.room, "room")?,
                version: need(w.version, "version")?,
                op: need(w.op, "op")?,
                at,
            },
            "event" => ServerMessage::Event {
                room: need(w.room, "room")?,
                event: need(w.event, "event")?,
                data: match w.data {
                    Some(data) => data,
                    None => RawValue::from_string("null".into()).map_err(D::Error::custom)?,
                },
                from: w.from,
                at,
            },
            // `users` is a count in `presence` and a list in `members`.
            "presence" => ServerMessage::Presence {
                room: need(w.room, "room")?,
                members: need(w.members, "members")?,
                users: match w.users {
                    Some(users) => serde_json::from_value(users).map_err(D::Error::custom)?,
                    None => need(w.members, "members")?,
                },
            },
            "rooms" => ServerMessage::Rooms {
                rooms: need(w.rooms, "rooms")?,
            },
            "members" => ServerMessage::Members {
                room: need(w.room, "room")?,
                users: serde_json::from_value(need(w.users, "users")?).map_err(D::Error::custom)?,
                next: w.next,
            },
            "ack" => ServerMessage::Ack {
                reference: need(w.reference, "ref")?,
                version: w.version,
                id: w
                    .id
                    .map(IconId::parse)
                    .transpose()
                    .map_err(D::Error::custom)?,
                recovered: w.recovered,
            },
            "error" => ServerMessage::Error {
                code: need(w.code, "code")?,
                message: w.message.unwrap_or_default(),
                reference: w.reference,
            },
            other => return Err(D::Error::unknown_variant(other, MESSAGE_TYPES)),
        })
    }
}
