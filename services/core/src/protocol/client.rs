//! Client → server messages: the frame parser.
//!
//! Parsing runs in two passes over the text. The first reads only the envelope
//! (`action`, `ref`) so that every later error can echo the client's `ref`; the second
//! deserializes the action's own fields through `serde_path_to_error`, whose path picks
//! the stable error code (`room` → `invalid_room`, `icon.x` → `invalid_coordinate`, …).

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;

use super::error::{ErrorCode, ProtocolError};
use super::icon::{Background, Icon, IconId, Image};
use super::limits::MAX_EMIT_DATA_BYTES;
use super::names::{EventName, Ref, RoomName};
use super::server::Position;
use crate::protocol::icon::Coord;

/// A parsed, valid client message.
///
/// It also serializes to the frame a client sends (`{"action":…,"room":…,"ref":…}`, the
/// shapes in docs/protocol.md), so clients build frames from the same types the server
/// parses: `ClientMessage::parse(&serde_json::to_string(&m)?, None)` gives `m` back.
#[derive(Debug, Clone)]
pub struct ClientMessage {
    /// The client's `ref`, echoed on the answer.
    pub reference: Option<Ref>,
    /// What the client asks for.
    pub action: ClientAction,
}

/// Every action a client can send, with its validated fields.
#[derive(Debug, Clone)]
pub enum ClientAction {
    /// Start receiving the room's patches, events and presence; answered with its
    /// state, or with what was missed after `since` when the room's history still has it.
    Join {
        room: RoomName,
        since: Option<Position>,
    },
    /// Stop receiving the room's messages.
    Leave { room: RoomName },
    /// Ask for the room's full state.
    GetState { room: RoomName },
    /// Set the base's planet background.
    ChangeBackground { room: RoomName, bg: Background },
    /// Place a new module; the server assigns its id.
    AddIcon { room: RoomName, icon: Icon },
    /// Move (or re-image) an existing module.
    MoveIcon {
        room: RoomName,
        id: IconId,
        icon: Icon,
    },
    /// Remove a module.
    DeleteIcon { room: RoomName, id: IconId },
    /// Broadcast an application event to the room.
    Emit {
        room: RoomName,
        event: EventName,
        /// The event's JSON data, kept verbatim (never re-serialized).
        data: Box<RawValue>,
        /// Whether the sender is left out (default `true`, like Socket.IO's `socket.to`).
        except_sender: bool,
    },
    /// Ask for the most active rooms and their member counts.
    ListRooms,
    /// Ask for one page of a room's users and their connection counts.
    ListMembers {
        room: RoomName,
        cursor: Option<String>,
    },
    /// Ask for the `welcome` (who this connection is, its limits) again.
    Hello,
}

impl ClientAction {
    /// The room the action uses (`leave` and `listRooms` need no grant: leaving is
    /// always allowed and the room list is filtered instead).
    pub fn room(&self) -> Option<&RoomName> {
        match self {
            ClientAction::Join { room, .. }
            | ClientAction::ListMembers { room, .. }
            | ClientAction::GetState { room }
            | ClientAction::ChangeBackground { room, .. }
            | ClientAction::AddIcon { room, .. }
            | ClientAction::MoveIcon { room, .. }
            | ClientAction::DeleteIcon { room, .. }
            | ClientAction::Emit { room, .. } => Some(room),
            ClientAction::Leave { .. } | ClientAction::ListRooms | ClientAction::Hello => None,
        }
    }
}

/// Action names as they appear in `action`, in protocol order.
pub const ACTIONS: [&str; 11] = [
    "join",
    "leave",
    "getState",
    "changeBackground",
    "addIcon",
    "moveIcon",
    "deleteIcon",
    "emit",
    "listRooms",
    "listMembers",
    "hello",
];

#[derive(Deserialize)]
struct Envelope {
    action: Option<serde_json::Value>,
    #[serde(rename = "ref")]
    reference: Option<serde_json::Value>,
    /// Checked for shape only: serde would otherwise read `[img, x, y]` by position.
    icon: Option<IsObject>,
}

/// Whether a JSON value is an object, read without building it (so its contents are
/// validated, with their own error codes, by the second pass).
struct IsObject(bool);

impl<'de> Deserialize<'de> for IsObject {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::{IgnoredAny, MapAccess, SeqAccess, Visitor};
        struct Shape;
        impl<'de> Visitor<'de> for Shape {
            type Value = IsObject;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<IsObject, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(IsObject(true))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<IsObject, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(IsObject(false))
            }
            fn visit_bool<E>(self, _: bool) -> Result<IsObject, E> {
                Ok(IsObject(false))
            }
            fn visit_i64<E>(self, _: i64) -> Result<IsObject, E> {
                Ok(IsObject(false))
            }
            fn visit_u64<E>(self, _: u64) -> Result<IsObject, E> {
                Ok(IsObject(false))
            }
            fn visit_f64<E>(self, _: f64) -> Result<IsObject, E> {
                Ok(IsObject(false))
            }
            fn visit_str<E>(self, _: &str) -> Result<IsObject, E> {
                Ok(IsObject(false))
            }
            fn visit_unit<E>(self) -> Result<IsObject, E> {
                Ok(IsObject(false))
            }
        }
        d.deserialize_any(Shape)
    }
}

#[derive(Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
struct RoomFields {
    room: Option<RoomName>,
}

#[derive(Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
struct JoinFields {
    room: Option<RoomName>,
    /// Recover from here: `{"offset": N, "epoch": "E"}` of the last frame held.
    since: Option<Position>,
}

#[derive(Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
struct ListMembersFields {
    room: Option<RoomName>,
    /// The `next` of the previous page (a user id: the handler checks it, so the
    /// parser and API Gateway's model take any string alike).
    cursor: Option<String>,
}

#[derive(Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
struct BackgroundFields {
    room: Option<RoomName>,
    bg: Background,
}

#[derive(Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
struct NewIcon {
    img: Image,
    x: Coord,
    y: Coord,
}

#[derive(Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
struct AddIconFields {
    room: Option<RoomName>,
    icon: NewIcon,
}

#[derive(Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
struct PlacedIcon {
    id: IconId,
    img: Image,
    x: Coord,
    y: Coord,
}

#[derive(Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
struct MoveIconFields {
    room: Option<RoomName>,
    icon: PlacedIcon,
}

#[derive(Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
struct DeleteIconFields {
    room: Option<RoomName>,
    id: IconId,
}

#[derive(Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
struct EmitFields {
    room: Option<RoomName>,
    event: EventName,
    data: Option<Box<RawValue>>,
    #[serde(default = "yes")]
    except_sender: bool,
}

fn yes() -> bool {
    true
}

/// The JSON Schema of an action's own fields: the very structs the parser reads them
/// with (the `match` in [`ClientMessage::parse`]), so the request models cannot drift
/// from it. `None` for a name that is not an action.
#[cfg(feature = "schemars")]
pub(super) fn fields_schema(
    action: &str,
    generator: &mut schemars::SchemaGenerator,
) -> Option<schemars::Schema> {
    use schemars::JsonSchema;
    Some(match action {
        "join" => JoinFields::json_schema(generator),
        "listMembers" => ListMembersFields::json_schema(generator),
        "leave" | "getState" => RoomFields::json_schema(generator),
        "changeBackground" => BackgroundFields::json_schema(generator),
        "addIcon" => AddIconFields::json_schema(generator),
        "moveIcon" => MoveIconFields::json_schema(generator),
        "deleteIcon" => DeleteIconFields::json_schema(generator),
        "emit" => EmitFields::json_schema(generator),
        "listRooms" | "hello" => schemars::json_schema!({ "type": "object" }),
        _ => return None,
    })
}

/// Just the `ref` of a frame.
#[derive(Deserialize)]
struct RefOnly {
    #[serde(rename = "ref")]
    reference: Option<serde_json::Value>,
}

impl ClientMessage {
    /// The valid `ref` of a frame, read without validating the rest: for answers given
    /// before a frame is handled (`rate_limited`). `None` when the frame has none or
    /// cannot be read.
    pub fn reference_of(frame: &str) -> Option<Ref> {
        let only: RefOnly = serde_json::from_str(frame).ok()?;
        Ref::from_json(&only.reference?).ok()
    }

    /// Parse a text frame. `default_room` fills a missing `room`: planetstack's clients
    /// never send one, so their connection's room is used; `roomcast.v1` clients pass
    /// `None` and must name the room.
    pub fn parse(frame: &str, default_room: Option<&RoomName>) -> Result<Self, ProtocolError> {
        let envelope: Envelope = serde_json::from_str(frame).map_err(|e| match e.classify() {
            serde_json::error::Category::Data => ProtocolError::new(
                ErrorCode::InvalidMessage,
                "a message must be a JSON object with an \"action\"",
            ),
            _ => ProtocolError::new(
                ErrorCode::InvalidJson,
                format!("not valid JSON: {}", strip_position(&e)),
            ),
        })?;
        // serde also fills a struct from a JSON array, positionally: refuse anything but an object.
        if !is_object(frame) {
            return Err(ProtocolError::new(
                ErrorCode::InvalidMessage,
                "a message must be a JSON object with an \"action\"",
            ));
        }
        let reference = match &envelope.reference {
            None | Some(serde_json::Value::Null) => None,
            Some(v) => Some(
                Ref::from_json(v).map_err(|e| ProtocolError::new(ErrorCode::InvalidRef, e.0))?,
            ),
        };
        let action = match envelope.action {
            None | Some(serde_json::Value::Null) => {
                return Err(
                    ProtocolError::new(ErrorCode::MissingAction, "missing field `action`")
                        .with_ref(reference),
                );
            }
            Some(serde_json::Value::String(name)) => name,
            Some(_) => {
                return Err(ProtocolError::new(
                    ErrorCode::UnknownAction,
                    "action must be a string",
                )
                .with_ref(reference));
            }
        };
        let room = |r: Option<RoomName>| {
            r.or_else(|| default_room.cloned())
                .ok_or_else(|| ProtocolError::new(ErrorCode::MissingField, "missing field `room`"))
        };
        if matches!(action.as_str(), "addIcon" | "moveIcon")
            && envelope.icon.as_ref().is_some_and(|i| !i.0)
        {
            return Err(
                ProtocolError::new(ErrorCode::InvalidField, "icon: must be an object")
                    .with_ref(reference),
            );
        }
        let parsed = match action.as_str() {
            "join" => fields::<JoinFields>(frame).and_then(|f| {
                Ok(ClientAction::Join {
                    room: room(f.room)?,
                    since: f.since,
                })
            }),
            "listMembers" => fields::<ListMembersFields>(frame).and_then(|f| {
                Ok(ClientAction::ListMembers {
                    room: room(f.room)?,
                    cursor: f.cursor,
                })
            }),
            "hello" => Ok(ClientAction::Hello),
            "leave" => fields::<RoomFields>(frame).and_then(|f| {
                Ok(ClientAction::Leave {
                    room: room(f.room)?,
                })
            }),
            "getState" => fields::<RoomFields>(frame).and_then(|f| {
                Ok(ClientAction::GetState {
                    room: room(f.room)?,
                })
            }),
            "changeBackground" => fields::<BackgroundFields>(frame).and_then(|f| {
                Ok(ClientAction::ChangeBackground {
                    room: room(f.room)?,
                    bg: f.bg,
                })
            }),
            "addIcon" => fields::<AddIconFields>(frame).and_then(|f| {
                Ok(ClientAction::AddIcon {
                    room: room(f.room)?,
                    icon: Icon {
                        img: f.icon.img,
                        x: f.icon.x,
                        y: f.icon.y,
                    },
                })
            }),
            "moveIcon" => fields::<MoveIconFields>(frame).and_then(|f| {
                Ok(ClientAction::MoveIcon {
                    room: room(f.room)?,
                    id: f.icon.id,
                    icon: Icon {
                        img: f.icon.img,
                        x: f.icon.x,
                        y: f.icon.y,
                    },
                })
            }),
            "deleteIcon" => fields::<DeleteIconFields>(frame).and_then(|f| {
                Ok(ClientAction::DeleteIcon {
                    room: room(f.room)?,
                    id: f.id,
                })
            }),
            "emit" => fields::<EmitFields>(frame).and_then(|f| {
                Ok(ClientAction::Emit {
                    room: room(f.room)?,
                    event: f.event,
                    data: emit_data(f.data)?,
                    except_sender: f.except_sender,
                })
            }),
            "listRooms" => Ok(ClientAction::ListRooms),
            other => Err(ProtocolError::new(
                ErrorCode::UnknownAction,
                format!(
                    "unknown action {:?}; expected one of {}",
                    truncate(other, 40),
                    ACTIONS.join(", ")
                ),
            )),
        };
        parsed
            .map(|action| ClientMessage {
                reference: reference.clone(),
                action,
            })
            .map_err(|e| e.with_ref(reference))
    }
}

/// Server-side publish (`POST /rooms/{room}/emit`): the room comes from the URL.
///
/// Serializes to the request body `{"event":…,"data":…}` that [`PublishRequest::parse`]
/// reads.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PublishRequest {
    /// Event name.
    pub event: EventName,
    /// Event data, verbatim.
    pub data: Box<RawValue>,
}

#[derive(Deserialize)]
struct PublishFields {
    event: EventName,
    data: Option<Box<RawValue>>,
}

impl PublishRequest {
    /// Parse a publish body `{"event": "...", "data": ...}`.
    pub fn parse(body: &str) -> Result<Self, ProtocolError> {
        serde_json::from_str::<serde::de::IgnoredAny>(body).map_err(|e| match e.classify() {
            serde_json::error::Category::Data => {
                ProtocolError::new(ErrorCode::InvalidMessage, "body must be JSON")
            }
            _ => ProtocolError::new(
                ErrorCode::InvalidJson,
                format!("not valid JSON: {}", strip_position(&e)),
            ),
        })?;
        if !is_object(body) {
            return Err(ProtocolError::new(
                ErrorCode::InvalidMessage,
                "body must be a JSON object",
            ));
        }
        let f = fields::<PublishFields>(body)?;
        Ok(Self {
            event: f.event,
            data: emit_data(f.data)?,
        })
    }
}

/// A server-side publish as a message of its own, for a transport that carries no URL:
/// the SDK's SQS publisher sends one as the body of a message on the stack's fan-out
/// queue, and the AWS broadcaster handles it exactly as the HTTP publish API handles
/// `POST /rooms/{room}/emit` ([`Handler::publish`](crate::Handler::publish)).
///
/// The format is versioned and is not the queue's internal job format:
///
/// ```json
/// {"v":1,"publish":{"room":"alpha","event":"news","data":{"n":1}}}
/// ```
///
/// - `v` (an integer) says which format the rest is in; this reader knows
///   [`PublishEnvelope::VERSION`] (1) and refuses any other with a clear error.
///   A v1 reader ignores fields it does not know, so adding an optional one keeps
///   `v`; a change an old reader would get wrong takes a new `v`.
/// - `publish` names the operation and is the HTTP body (`event`, `data`, which is
///   `null` when absent) plus the `room` the URL would carry, checked by the same rules
///   (`invalid_room`, `invalid_event`, `payload_too_large` over 64 KiB).
///
/// `serde_json::to_string` gives that text and [`PublishEnvelope::parse`] reads it.
#[derive(Debug, Clone)]
pub struct PublishEnvelope {
    /// The room to publish into.
    pub room: RoomName,
    /// The event and its data.
    pub request: PublishRequest,
}

#[derive(Deserialize)]
struct EnvelopeVersion {
    v: serde_json::Value,
}

#[derive(Deserialize)]
struct EnvelopeV1 {
    publish: PublishV1Fields,
}

#[derive(Deserialize)]
struct PublishV1Fields {
    room: RoomName,
    event: EventName,
    data: Option<Box<RawValue>>,
}

impl PublishEnvelope {
    /// The envelope version this build writes and reads.
    pub const VERSION: u64 = 1;

    /// An envelope publishing `request` into `room`.
    pub fn new(room: RoomName, request: PublishRequest) -> Self {
        Self { room, request }
    }

    /// Whether `body` claims to be an envelope (a JSON object with a `v` field), as
    /// opposed to another message on the same queue; [`PublishEnvelope::parse`] then
    /// says whether it is a good one.
    pub fn claims(body: &str) -> bool {
        is_object(body) && serde_json::from_str::<EnvelopeVersion>(body).is_ok()
    }

    /// Parse `{"v":1,"publish":{"room","event","data"}}`. An unknown `v` is refused
    /// with a message naming it and the version this reader knows.
    pub fn parse(body: &str) -> Result<Self, ProtocolError> {
        serde_json::from_str::<serde::de::IgnoredAny>(body).map_err(|e| {
            ProtocolError::new(
                ErrorCode::InvalidJson,
                format!("not valid JSON: {}", strip_position(&e)),
            )
        })?;
        if !is_object(body) {
            return Err(ProtocolError::new(
                ErrorCode::InvalidMessage,
                "a publish envelope must be a JSON object",
            ));
        }
        let version = fields::<EnvelopeVersion>(body)?.v;
        if version.as_u64() != Some(Self::VERSION) {
            return Err(ProtocolError::new(
                ErrorCode::InvalidField,
                format!(
                    "unsupported publish envelope version {}; this reader knows version {}",
                    truncate(&version.to_string(), 40),
                    Self::VERSION
                ),
            ));
        }
        let f = fields::<EnvelopeV1>(body)?.publish;
        Ok(Self {
            room: f.room,
            request: PublishRequest {
                event: f.event,
                data: emit_data(f.data)?,
            },
        })
    }
}

impl serde::Serialize for PublishEnvelope {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(serde::Serialize)]
        struct Publish<'a> {
            room: &'a RoomName,
            event: &'a EventName,
            data: &'a RawValue,
        }
        #[derive(serde::Serialize)]
        struct Envelope<'a> {
            v: u64,
            publish: Publish<'a>,
        }
        Envelope {
            v: Self::VERSION,
            publish: Publish {
                room: &self.room,
                event: &self.request.event,
                data: &self.request.data,
            },
        }
        .serialize(s)
    }
}

/// `moveIcon`'s `icon`: the id travels with the image and position.
#[derive(serde::Serialize)]
struct PlacedIconRef<'a> {
    id: &'a IconId,
    img: Image,
    x: Coord,
    y: Coord,
}

impl serde::Serialize for ClientMessage {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(None)?;
        let (action, room) = match &self.action {
            ClientAction::Join { room, .. } => ("join", Some(room)),
            ClientAction::ListMembers { room, .. } => ("listMembers", Some(room)),
            ClientAction::Hello => ("hello", None),
            ClientAction::Leave { room } => ("leave", Some(room)),
            ClientAction::GetState { room } => ("getState", Some(room)),
            ClientAction::ChangeBackground { room, .. } => ("changeBackground", Some(room)),
            ClientAction::AddIcon { room, .. } => ("addIcon", Some(room)),
            ClientAction::MoveIcon { room, .. } => ("moveIcon", Some(room)),
            ClientAction::DeleteIcon { room, .. } => ("deleteIcon", Some(room)),
            ClientAction::Emit { room, .. } => ("emit", Some(room)),
            ClientAction::ListRooms => ("listRooms", None),
        };
        m.serialize_entry("action", action)?;
        if let Some(room) = room {
            m.serialize_entry("room", room)?;
        }
        match &self.action {
            ClientAction::ChangeBackground { bg, .. } => m.serialize_entry("bg", bg)?,
            ClientAction::AddIcon { icon, .. } => m.serialize_entry("icon", icon)?,
            ClientAction::MoveIcon { id, icon, .. } => m.serialize_entry(
                "icon",
                &PlacedIconRef {
                    id,
                    img: icon.img,
                    x: icon.x,
                    y: icon.y,
                },
            )?,
            ClientAction::DeleteIcon { id, .. } => m.serialize_entry("id", id)?,
            ClientAction::Join { since, .. } => {
                if let Some(since) = since {
                    m.serialize_entry("since", since)?;
                }
            }
            ClientAction::ListMembers { cursor, .. } => {
                if let Some(cursor) = cursor {
                    m.serialize_entry("cursor", cursor)?;
                }
            }
            ClientAction::Emit {
                event,
                data,
                except_sender,
                ..
            } => {
                m.serialize_entry("event", event)?;
                m.serialize_entry("data", data)?;
                m.serialize_entry("except_sender", except_sender)?;
            }
            ClientAction::Leave { .. }
            | ClientAction::GetState { .. }
            | ClientAction::ListRooms
            | ClientAction::Hello => {}
        }
        if let Some(reference) = &self.reference {
            m.serialize_entry("ref", reference)?;
        }
        m.end()
    }
}

/// Emit data defaults to `null` and is bounded so the event fits one post.
fn emit_data(data: Option<Box<RawValue>>) -> Result<Box<RawValue>, ProtocolError> {
    let data = data.unwrap_or_else(|| RawValue::from_string("null".into()).expect("null is JSON"));
    if data.get().len() > MAX_EMIT_DATA_BYTES {
        return Err(ProtocolError::new(
            ErrorCode::PayloadTooLarge,
            format!(
                "data is {} bytes; at most {MAX_EMIT_DATA_BYTES} allowed",
                data.get().len()
            ),
        ));
    }
    Ok(data)
}

/// Deserialize an action's fields; the failing field's path chooses the error code.
fn fields<T: DeserializeOwned>(frame: &str) -> Result<T, ProtocolError> {
    let de = &mut serde_json::Deserializer::from_str(frame);
    serde_path_to_error::deserialize(de).map_err(|err| {
        let path = err.path().to_string();
        let field = err.path().iter().rev().find_map(|s| match s {
            serde_path_to_error::Segment::Map { key } => Some(key.clone()),
            _ => None,
        });
        let message = strip_position(err.inner());
        if message.starts_with("missing field") {
            let message = if path == "." {
                message
            } else {
                format!("{path}: {message}")
            };
            return ProtocolError::new(ErrorCode::MissingField, message);
        }
        let code = match field.as_deref() {
            Some("room") => ErrorCode::InvalidRoom,
            Some("bg") => ErrorCode::InvalidBackground,
            Some("img") => ErrorCode::InvalidImage,
            Some("x" | "y") => ErrorCode::InvalidCoordinate,
            Some("id") => ErrorCode::InvalidIconId,
            Some("event") => ErrorCode::InvalidEvent,
            _ => ErrorCode::InvalidField,
        };
        // Rule messages from our newtypes read well alone; serde's generic ones need the path.
        let generic = [
            "invalid type",
            "invalid value",
            "invalid length",
            "duplicate field",
        ]
        .iter()
        .any(|p| message.starts_with(p));
        let message = if generic || code == ErrorCode::InvalidField {
            format!("{path}: {message}")
        } else {
            message
        };
        ProtocolError::new(code, message)
    })
}

/// True when `json` (already known to be valid JSON) is an object, not an array or scalar.
fn is_object(json: &str) -> bool {
    json.trim_start_matches([' ', '\t', '\n', '\r'])
        .starts_with('{')
}

/// serde_json appends " at line L column C"; a one-line frame does not need it.
fn strip_position(e: &serde_json::Error) -> String {
    let s = e.to_string();
    match s.rfind(" at line ") {
        Some(i) => s[..i].to_owned(),
        None => s,
    }
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}
