//! Names that cannot be invalid: rooms, connections, events and request refs.
//!
//! Each newtype is built only through `parse`, so any value of the type already passed
//! validation (parse, don't validate). Serde goes through the same `parse`.

use serde::{Deserialize, Serialize};
use std::sync::Arc;

pub use super::connection_id::ConnectionId;

/// True when `s` is 1..=`max` bytes, each ASCII alphanumeric or one of `extra`.
pub(super) fn is_token(s: &str, max: usize, extra: &[u8]) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || extra.contains(&b))
}

/// Why a value was refused; the message names the rule it broke.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidValue(pub &'static str);

/// A room (a game base): `[A-Za-z0-9_-]{1,64}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(try_from = "String")]
pub struct RoomName(String);

impl RoomName {
    /// The rule, as clients see it in `invalid_room` errors.
    pub const RULE: &'static str = "room must match [A-Za-z0-9_-]{1,64}";
    /// The room a connection lands in when it names none.
    pub const DEFAULT: &'static str = "default";

    /// Validate a room name.
    pub fn parse(s: impl Into<String>) -> Result<Self, InvalidValue> {
        let s = s.into();
        if is_token(&s, 64, b"_-") {
            Ok(Self(s))
        } else {
            Err(InvalidValue(Self::RULE))
        }
    }

    /// The `default` room.
    pub fn default_room() -> Self {
        Self(Self::DEFAULT.to_owned())
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An `emit` event name: `[A-Za-z0-9_.:-]{1,64}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize)]
#[serde(try_from = "String")]
pub struct EventName(String);

impl EventName {
    /// The rule, as clients see it in `invalid_event` errors.
    pub const RULE: &'static str = "event must match [A-Za-z0-9_.:-]{1,64}";

    /// Validate an event name.
    pub fn parse(s: impl Into<String>) -> Result<Self, InvalidValue> {
        let s = s.into();
        if is_token(&s, 64, b"_.:-") {
            Ok(Self(s))
        } else {
            Err(InvalidValue(Self::RULE))
        }
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Who a connection is, for presence by user: the JWT `sub` of its token, or
/// `anonymous:<connection id>` for a connection without one (each anonymous connection
/// is a user of its own). 1..=128 bytes, no control characters. Shared text, as
/// [`ConnectionId`]'s: every member listed carries its user.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(try_from = "String")]
pub struct UserId(Arc<str>);

impl UserId {
    /// The rule, as a refused token's `sub` is told.
    pub const RULE: &'static str =
        "a user id (the token's sub) must be 1 to 128 bytes without control characters";
    /// The prefix of anonymous connections' user ids.
    pub const ANONYMOUS: &'static str = "anonymous:";

    /// Validate a user id (a token's `sub`).
    pub fn parse(s: impl Into<String>) -> Result<Self, InvalidValue> {
        let s = s.into();
        if !s.is_empty() && s.len() <= 128 && !s.chars().any(char::is_control) {
            Ok(Self(s.into()))
        } else {
            Err(InvalidValue(Self::RULE))
        }
    }

    /// The user of a connection without a token: itself.
    pub fn anonymous(id: &ConnectionId) -> Self {
        Self(format!("{}{}", Self::ANONYMOUS, id.as_str()).into())
    }

    /// The user of a connection: its token's `sub`, else itself.
    pub fn of(subject: Option<&str>, id: &ConnectionId) -> Result<Self, InvalidValue> {
        match subject {
            Some(sub) => Self::parse(sub),
            None => Ok(Self::anonymous(id)),
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The name of one unbroken run of a room's history: offsets only compare within one
/// epoch, and a new epoch means the history before it is lost (`[A-Za-z0-9]{1,32}`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize)]
#[serde(try_from = "String")]
pub struct Epoch(String);

impl Epoch {
    /// The rule, as clients see it in `invalid_field` errors.
    pub const RULE: &'static str = "epoch must match [A-Za-z0-9]{1,32}";

    /// A fresh epoch, unlike any before it.
    pub fn generate() -> Self {
        let id = ksuid::Ksuid::with_payload(rand::random()).to_base62();
        Self(id)
    }

    /// Validate an epoch a client sent back.
    pub fn parse(s: impl Into<String>) -> Result<Self, InvalidValue> {
        let s = s.into();
        if is_token(&s, 32, b"") {
            Ok(Self(s))
        } else {
            Err(InvalidValue(Self::RULE))
        }
    }

    /// The epoch as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A client-chosen request reference, echoed on the `ack`/`error` that answers it:
/// a string of at most 64 characters or an integer, returned exactly as sent.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Ref {
    /// `"ref": "r7"`
    Text(String),
    /// `"ref": 7`
    Number(i64),
}

impl Ref {
    /// The rule, as clients see it in `invalid_ref` errors.
    pub const RULE: &'static str = "ref must be a string of at most 64 characters or an integer";

    /// Read a `ref` from its JSON value.
    pub fn from_json(value: &serde_json::Value) -> Result<Self, InvalidValue> {
        match value {
            serde_json::Value::String(s) if s.chars().count() <= 64 => Ok(Self::Text(s.clone())),
            serde_json::Value::Number(n) => {
                n.as_i64().map(Self::Number).ok_or(InvalidValue(Self::RULE))
            }
            _ => Err(InvalidValue(Self::RULE)),
        }
    }
}

/// Reads a `ref` through [`Ref::from_json`], so a decoded `ref` obeys the same rule
/// as one the server parses (clients decode the `ack`/`error` that echo it).
impl<'de> Deserialize<'de> for Ref {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(d)?;
        Self::from_json(&value).map_err(serde::de::Error::custom)
    }
}

/// What every validated string value has, through its `parse` and `as_str`: `TryFrom`
/// and `Into` `String`, `Display`, `AsRef<str>`, and `Serialize` as the text itself
/// (by reference: a frame that names a room or a connection copies nothing to say it).
/// Deserializing goes through `parse` (`#[serde(try_from = "String")]` on each type).
macro_rules! string_newtype_impls {
    ($($t:ty),*) => {$(
        impl TryFrom<String> for $t {
            type Error = $crate::protocol::names::InvalidValue;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                Self::parse(s)
            }
        }
        impl From<$t> for String {
            fn from(v: $t) -> String {
                v.as_str().to_owned()
            }
        }
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl AsRef<str> for $t {
            fn as_ref(&self) -> &str {
                self.as_str()
            }
        }
        impl serde::Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
    )*};
}
pub(super) use string_newtype_impls;

string_newtype_impls!(RoomName, EventName, UserId, Epoch);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_names_follow_the_rule() {
        for ok in ["alpha", "A-b_9", &"x".repeat(64)] {
            assert_eq!(RoomName::parse(ok).unwrap().as_str(), ok);
        }
        for bad in ["", "has space", "ünï", "a/b", "a.b", &"x".repeat(65)] {
            assert_eq!(
                RoomName::parse(bad),
                Err(InvalidValue(RoomName::RULE)),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn refs_are_short_strings_or_integers() {
        use serde_json::json;
        assert_eq!(
            Ref::from_json(&json!("r7")).unwrap(),
            Ref::Text("r7".into())
        );
        assert_eq!(Ref::from_json(&json!(7)).unwrap(), Ref::Number(7));
        assert!(Ref::from_json(&json!(1.5)).is_err());
        assert!(Ref::from_json(&json!({"a": 1})).is_err());
        assert!(Ref::from_json(&json!("x".repeat(65))).is_err());
    }

    #[test]
    fn refs_deserialize_by_the_same_rule() {
        for r in [Ref::Text("r7".into()), Ref::Number(-3)] {
            let text = serde_json::to_string(&r).unwrap();
            assert_eq!(serde_json::from_str::<Ref>(&text).unwrap(), r);
        }
        assert!(serde_json::from_str::<Ref>("1.5").is_err());
        assert!(serde_json::from_str::<Ref>("{}").is_err());
    }

    #[test]
    fn user_ids_are_token_subjects_or_the_anonymous_connection() {
        let id = ConnectionId::generate();
        assert_eq!(UserId::of(Some("alice"), &id).unwrap().as_str(), "alice");
        let anon = UserId::of(None, &id).unwrap();
        assert_eq!(anon.as_str(), format!("anonymous:{id}"));
        assert!(UserId::parse("a@b.example c").is_ok());
        for bad in ["", "tab\there", &"x".repeat(129)] {
            assert!(UserId::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn epochs_are_fresh_and_parse_back() {
        let (a, b) = (Epoch::generate(), Epoch::generate());
        assert_ne!(a, b);
        assert_eq!(Epoch::parse(a.as_str()).unwrap(), a);
        assert!(Epoch::parse("has-dash").is_err());
        assert!(Epoch::parse("").is_err());
    }

    #[test]
    fn event_names_follow_the_rule() {
        assert!(EventName::parse("chat:message.v2").is_ok());
        assert!(EventName::parse("").is_err());
        assert!(EventName::parse("a b").is_err());
    }
}
