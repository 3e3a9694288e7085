//! A request on its way between a [`Client`](crate::Client) method and the driver:
//! what it expects back, what sending it means for the rooms, and who waits for it.

use tokio::sync::oneshot;

use crate::client::MembersPage;
use crate::protocol::{IconId, RoomName};
use crate::{Error, Snapshot};

/// What a request's caller is waiting for.
pub(crate) type ReplySender = oneshot::Sender<Result<Reply, Error>>;

/// A request's answer.
#[derive(Debug)]
pub(crate) enum Reply {
    /// `ack` (with its version and the new icon's id, if any).
    Ack {
        version: Option<u64>,
        id: Option<IconId>,
    },
    /// `ack` then `state`.
    State(Snapshot),
    /// `ack` then `rooms`.
    Rooms(Vec<crate::protocol::RoomSummary>),
    /// `ack` then `members`.
    Members(MembersPage),
}

/// What a request expects, and what sending it means for the rooms this client is in.
#[derive(Debug, Clone)]
pub(crate) enum Kind {
    /// Answered by `ack`.
    Ack,
    /// `join`: the room is kept (re-joined on reconnect) from the moment it is sent;
    /// answered by `ack` then `state`, or by the missed frames then the `ack`
    /// (`recovered: true`) when it carried `since`.
    Join(RoomName),
    /// `leave`: the room is dropped from the moment it is sent; answered by `ack`.
    Leave(RoomName),
    /// `getState`: `ack` then `state`.
    State(RoomName),
    /// `listRooms`: `ack` then `rooms`.
    Rooms,
    /// `listMembers`: `ack` then `members`.
    Members(RoomName),
}

/// A request from a [`Client`](crate::Client) method, serialized with its `ref`.
pub(crate) struct Outgoing {
    pub(crate) reference: i64,
    pub(crate) frame: String,
    pub(crate) kind: Kind,
    pub(crate) reply: ReplySender,
}

/// Messages from the handles to the driver.
pub(crate) enum Command {
    Request(Outgoing),
    Close(oneshot::Sender<()>),
}

/// Someone waiting for the answer to a `ref`.
pub(super) enum Waiter {
    User {
        kind: Kind,
        reply: ReplySender,
        /// A `join` that started tracking its room (undone if the join fails).
        added: bool,
    },
    /// The driver's own `join`/`getState`/`leave` to resync a room.
    Internal(RoomName),
    /// The driver's `hello`, asking for a `welcome` the server did not volunteer.
    Hello,
}
