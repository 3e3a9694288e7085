//! The wire protocol: JSON text frames, routed by `action`.
//!
//! Layering, from the bytes up: [`limits`] (sizes), [`names`] and [`icon`] (values that
//! cannot be invalid), [`client`] (frame → [`ClientMessage`]), [`server`]
//! ([`ServerMessage`] → frame, per subprotocol), [`error`] (stable codes).

pub mod client;
pub mod connection_id;
pub mod error;
pub mod icon;
pub mod limits;
pub mod names;
#[cfg(feature = "schemars")]
pub mod schema;
pub mod server;

pub use client::{ACTIONS, ClientAction, ClientMessage, PublishEnvelope, PublishRequest};
pub use error::{ErrorCode, ProtocolError};
pub use icon::{Background, Coord, Icon, IconId, Image};
pub use names::{ConnectionId, Epoch, EventName, InvalidValue, Ref, RoomName, UserId};
pub use server::{Limits, Position, Protocol, RoomSummary, ServerMessage, UserCount};
