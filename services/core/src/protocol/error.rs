//! Stable error codes and the error a client receives for a bad frame.
//!
//! Codes are part of the wire contract: clients switch on them, so a code is never
//! renamed or reused. Messages are for humans and may change.

use serde::{Deserialize, Serialize};
use std::fmt;

use super::names::Ref;

/// Every error code the server can answer with, as `snake_case` on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The frame is not valid JSON (syntax error, truncated). A number out of range in
    /// a typed field is that field's error instead (e.g. `invalid_coordinate`).
    InvalidJson,
    /// The frame is JSON but not an object.
    InvalidMessage,
    /// The object has no `action` field.
    MissingAction,
    /// `action` is not a string naming a known action.
    UnknownAction,
    /// `ref` is not a short string or an integer.
    InvalidRef,
    /// A required field is absent.
    MissingField,
    /// A field has the wrong type or shape (and no more specific code applies).
    InvalidField,
    /// A room name does not match `[A-Za-z0-9_-]{1,64}`.
    InvalidRoom,
    /// `bg` is not a background index in range.
    InvalidBackground,
    /// `img` is not an image index in range.
    InvalidImage,
    /// `x`/`y` is not a finite number in range.
    InvalidCoordinate,
    /// An icon id is not `icon` followed by a 27-character KSUID.
    InvalidIconId,
    /// An event name does not match `[A-Za-z0-9_.:-]{1,64}`.
    InvalidEvent,
    /// The icon id names no icon in this room.
    UnknownIcon,
    /// The base already holds the maximum number of icons.
    IconLimit,
    /// A payload (emit `data`, a post) is larger than allowed.
    PayloadTooLarge,
    /// The client sent a binary frame; the protocol is JSON text.
    UnsupportedFrame,
    /// Too many requests: new connections per second (HTTP 429 on connect), or
    /// messages per second on one connection (`MESSAGE_RATE`).
    RateLimited,
    /// A `join` beyond the rooms one connection may be in (`MAX_ROOMS`).
    RoomLimit,
    /// Missing or wrong API key on an HTTP API, or a missing/invalid token at connect.
    Unauthorized,
    /// The connection's token does not grant this room (its `rooms` claim).
    Forbidden,
    /// The connection id is not connected (HTTP APIs).
    Gone,
    /// The server could not complete the request (storage or queue failure); nothing
    /// was changed that is not also reported.
    Internal,
}

impl ErrorCode {
    /// The wire spelling of this code.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidJson => "invalid_json",
            Self::InvalidMessage => "invalid_message",
            Self::MissingAction => "missing_action",
            Self::UnknownAction => "unknown_action",
            Self::InvalidRef => "invalid_ref",
            Self::MissingField => "missing_field",
            Self::InvalidField => "invalid_field",
            Self::InvalidRoom => "invalid_room",
            Self::InvalidBackground => "invalid_background",
            Self::InvalidImage => "invalid_image",
            Self::InvalidCoordinate => "invalid_coordinate",
            Self::InvalidIconId => "invalid_icon_id",
            Self::InvalidEvent => "invalid_event",
            Self::UnknownIcon => "unknown_icon",
            Self::IconLimit => "icon_limit",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedFrame => "unsupported_frame",
            Self::RateLimited => "rate_limited",
            Self::RoomLimit => "room_limit",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::Gone => "gone",
            Self::Internal => "internal",
        }
    }

    /// All codes, for documentation tests.
    pub const ALL: [ErrorCode; 23] = [
        Self::InvalidJson,
        Self::InvalidMessage,
        Self::MissingAction,
        Self::UnknownAction,
        Self::InvalidRef,
        Self::MissingField,
        Self::InvalidField,
        Self::InvalidRoom,
        Self::InvalidBackground,
        Self::InvalidImage,
        Self::InvalidCoordinate,
        Self::InvalidIconId,
        Self::InvalidEvent,
        Self::UnknownIcon,
        Self::IconLimit,
        Self::PayloadTooLarge,
        Self::UnsupportedFrame,
        Self::RateLimited,
        Self::RoomLimit,
        Self::Unauthorized,
        Self::Forbidden,
        Self::Gone,
        Self::Internal,
    ];
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A request the server refuses: a code, a human message and the client's `ref`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ProtocolError {
    /// Stable machine-readable code.
    pub code: ErrorCode,
    /// Human-readable explanation.
    pub message: String,
    /// The `ref` of the request this answers, when it could be read.
    pub reference: Option<Ref>,
}

impl ProtocolError {
    /// An error with no `ref` yet.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            reference: None,
        }
    }

    /// Attach the request's `ref` so the client can match the answer.
    pub fn with_ref(mut self, reference: Option<Ref>) -> Self {
        self.reference = reference;
        self
    }
}
