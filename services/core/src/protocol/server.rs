//! Server → client messages and how each subprotocol renders them.

use serde::Serialize;
use serde_json::value::RawValue;

use super::error::{ErrorCode, ProtocolError};
use super::names::{ConnectionId, EventName, Ref, RoomName};
use crate::state::{GameState, Op};

/// The subprotocol a connection negotiated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    /// `Sec-WebSocket-Protocol: roomcast.v1`: typed envelopes.
    V1,
    /// No subprotocol: the seed game's format (full `{bg, icons}` after every change,
    /// errors as `{"message": ...}`), so the seed's own client keeps working.
    Seed,
}

impl Protocol {
    /// The subprotocol name clients ask for.
    pub const V1_NAME: &'static str = "roomcast.v1";

    /// The name stored and passed around for this protocol (connection items,
    /// authorizer contexts): the subprotocol for v1, `seed` for the seed format.
    pub fn name(self) -> &'static str {
        match self {
            Self::V1 => Self::V1_NAME,
            Self::Seed => "seed",
        }
    }

    /// The protocol [`Protocol::name`] names, if any.
    pub fn from_name(name: &str) -> Option<Self> {
        [Self::V1, Self::Seed]
            .into_iter()
            .find(|p| p.name() == name)
    }

    /// Pick the protocol from the names a client offered.
    pub fn negotiate<'a>(offered: impl IntoIterator<Item = &'a str>) -> Self {
        if offered.into_iter().any(|p| p.trim() == Self::V1_NAME) {
            Self::V1
        } else {
            Self::Seed
        }
    }
}

/// A room and how many connections are in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct RoomSummary {
    /// Room name.
    pub room: RoomName,
    /// Member count.
    pub members: u32,
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
    /// The room's full state (on join, getState, resync).
    State {
        room: RoomName,
        version: u64,
        state: GameState,
    },
    /// The single change that produced `version`.
    Patch {
        room: RoomName,
        version: u64,
        op: Op,
    },
    /// An application event; `from` is the sender, `null` for a server-side publish.
    Event {
        room: RoomName,
        event: EventName,
        data: Box<RawValue>,
        from: Option<ConnectionId>,
    },
    /// The room's member count changed.
    Presence { room: RoomName, members: u32 },
    /// Answer to `listRooms`.
    Rooms { rooms: Vec<RoomSummary> },
    /// A request with a `ref` succeeded; `version` is the room version it produced.
    Ack {
        #[serde(rename = "ref")]
        reference: Ref,
        #[serde(skip_serializing_if = "Option::is_none")]
        version: Option<u64>,
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
struct SeedError<'a> {
    message: &'a str,
}

impl ServerMessage {
    /// The frame for a `roomcast.v1` client.
    pub fn to_v1(&self) -> String {
        serde_json::to_string(self).expect("server messages always serialize")
    }

    /// The frame for a seed-format client, if the seed protocol has one for this
    /// message: the state object for `state`, `{"message"}` for `error`, nothing else.
    pub fn to_seed(&self) -> Option<String> {
        match self {
            ServerMessage::State { state, .. } => Some(state.to_seed()),
            ServerMessage::Error { message, .. } => {
                Some(serde_json::to_string(&SeedError { message }).expect("serializes"))
            }
            _ => None,
        }
    }

    /// The frame for `protocol`, if that protocol carries this message.
    pub fn render(&self, protocol: Protocol) -> Option<String> {
        match protocol {
            Protocol::V1 => Some(self.to_v1()),
            Protocol::Seed => self.to_seed(),
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
    "state", "patch", "event", "presence", "rooms", "ack", "error",
];

impl<'de> serde::Deserialize<'de> for ServerMessage {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let w = WireMessage::deserialize(d)?;
        fn need<T, E: Error>(v: Option<T>, field: &'static str) -> Result<T, E> {
            v.ok_or_else(|| E::missing_field(field))
        }
        Ok(match w.kind.as_str() {
            "state" => ServerMessage::State {
                room: need(w.room, "room")?,
                version: need(w.version, "version")?,
                state: need(w.state, "state")?,
            },
            "patch" => ServerMessage::Patch {
                room: need(w.room, "room")?,
                version: need(w.version, "version")?,
                op: need(w.op, "op")?,
            },
            "event" => ServerMessage::Event {
                room: need(w.room, "room")?,
                event: need(w.event, "event")?,
                data: match w.data {
                    Some(data) => data,
                    None => RawValue::from_string("null".into()).map_err(D::Error::custom)?,
                },
                from: w.from,
            },
            "presence" => ServerMessage::Presence {
                room: need(w.room, "room")?,
                members: need(w.members, "members")?,
            },
            "rooms" => ServerMessage::Rooms {
                rooms: need(w.rooms, "rooms")?,
            },
            "ack" => ServerMessage::Ack {
                reference: need(w.reference, "ref")?,
                version: w.version,
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
