//! The WebSocket client: rooms, game actions, events, reconnect.

mod app;
mod builder;
mod connect;
mod driver;
mod events;
mod recovery;
mod requests;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{broadcast, mpsc, oneshot, watch};

pub use self::app::{ClientRoom, On};
pub(crate) use self::builder::Options;
pub use self::builder::{ClientBuilder, Reconnect};
pub(crate) use self::connect::error_body;
use self::driver::Command;
pub use self::events::{Event, Events};
pub(crate) use self::recovery::Room;
pub use self::requests::{AddedIcon, MembersPage};
use crate::Snapshot;
use crate::protocol::{ConnectionId, Limits, Position, ProtocolError, RoomName, UserId};

/// A connection to a roomcast WebSocket API (the local gateway's `ws://…/dev`, or API
/// Gateway's `wss://…/{stage}`) speaking `roomcast.v1`.
///
/// Cheap to clone: every clone drives the same connection, which a background task
/// owns. The connection closes when [`Client::close`] is called or the last clone is
/// dropped.
///
/// - **Requests** carry a `ref` and resolve on the server's `ack` (or fail with its
///   `error` code as [`Error::Server`](crate::Error::Server)), within the request timeout
///   ([`ClientBuilder::request_timeout`]).
/// - **Application events**: [`Client::to`] emits into a room
///   (`client.to(room).emit(event, data)`, to the others by default, like the
///   [`Publisher`](crate::Publisher)); [`Client::on`] is a `Stream` of one event's
///   `(from, data)`, its data decoded into your type.
/// - **Events**: [`Client::events`] is a `Stream` of everything: application events
///   ([`Event::App`]), the other typed server messages, and connection and room-state
///   changes ([`Event`]).
/// - **Rooms and state**: the client keeps a [`RoomState`](crate::RoomState) replica of every room it is
///   in, following the version rule ([`Client::state`]).
/// - **Reconnect**: when the connection drops, the client reconnects with backoff
///   ([`Reconnect`]) and re-joins every room with `since` (its [`Client::position`]):
///   the missed patches and events arrive as events, once and in order, before any
///   live frame of the room; when the server no longer has them, the room's state
///   resyncs the replica by version. Either way no patch is applied twice or skipped.
///   Requests made while disconnected are sent once reconnected (if their timeout has
///   not run out); requests that were in flight fail with [`Error::ConnectionLost`](crate::Error::ConnectionLost)
///   (they may or may not have taken effect).
///
/// ```no_run
/// use futures::StreamExt;
/// use roomcast_sdk::Client;
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Serialize, Deserialize)]
/// struct Chat {
///     text: String,
/// }
///
/// # async fn run() -> Result<(), roomcast_sdk::Error> {
/// let client = Client::connect("ws://127.0.0.1:8080/dev").room("alpha").await?;
/// let mut chats = client.on::<Chat>("chat");
/// client.to("alpha").emit("chat", Chat { text: "hi".into() }).await?;
/// while let Some((from, chat)) = chats.next().await {
///     println!("{from:?}: {}", chat.text);
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    commands: mpsc::UnboundedSender<Command>,
    /// The receiver subscribed before connecting, handed to the first `events()`.
    first_events: Mutex<Option<broadcast::Receiver<Event>>>,
    /// A receiver to `resubscribe` from (it is never read).
    events: broadcast::Receiver<Event>,
    shared: Arc<Shared>,
    request_timeout: Duration,
}

/// What the handles and the driver share.
pub(crate) struct Shared {
    /// The rooms this client is in, with their replicas and history positions.
    pub(crate) rooms: Mutex<HashMap<RoomName, Room>>,
    /// The current connection's `welcome` (the last one's while reconnecting).
    pub(crate) identity: watch::Sender<Welcome>,
    next_ref: AtomicI64,
    pub(crate) closed: AtomicBool,
}

/// Where the first connection's `welcome` stands; `connect` waits until it is not
/// [`Welcome::Awaited`].
#[derive(Debug, Clone)]
pub(crate) enum Welcome {
    Awaited,
    Known(Identity),
    /// The server refused `hello` before any welcome (a server without it).
    Refused(ProtocolError),
    /// The driver stopped before any welcome (closed by the server, or gave up).
    Stopped,
}

/// Who the connection is, from its `welcome`.
#[derive(Debug, Clone)]
pub(crate) struct Identity {
    pub(crate) id: ConnectionId,
    pub(crate) user: UserId,
    pub(crate) limits: Limits,
}

impl Shared {
    pub(crate) fn next_ref(&self) -> i64 {
        self.next_ref.fetch_add(1, Ordering::Relaxed)
    }

    /// The names of the rooms this client is in.
    pub(crate) fn room_names(&self) -> Vec<RoomName> {
        self.rooms.lock().expect("rooms").keys().cloned().collect()
    }
}

impl Client {
    /// The connection's events. The first call gets every event since the client
    /// connected; later calls get the events from then on. Each stream sees every
    /// event.
    pub fn events(&self) -> Events {
        let first = self.inner.first_events.lock().expect("events").take();
        Events::new(first.unwrap_or_else(|| self.inner.events.resubscribe()))
    }

    /// The held state of `room` (a room this client is in), once it has arrived.
    pub fn state(&self, room: impl AsRef<str>) -> Option<Snapshot> {
        let rooms = self.inner.shared.rooms.lock().expect("rooms");
        rooms
            .iter()
            .find(|(r, _)| r.as_str() == room.as_ref())
            .and_then(|(_, r)| r.replica.snapshot().cloned())
    }

    /// Where this client stands in `room`'s history: the offset up to which it has
    /// every patch and event, in its epoch (what it sends as `join`'s `since`).
    pub fn position(&self, room: impl AsRef<str>) -> Option<Position> {
        let rooms = self.inner.shared.rooms.lock().expect("rooms");
        rooms
            .iter()
            .find(|(r, _)| r.as_str() == room.as_ref())
            .and_then(|(_, r)| r.watermark.position())
    }

    /// This connection's id, as others see it in an event's `from` (from the server's
    /// `welcome`). It changes with every reconnect: after [`Event::Reconnected`] it is
    /// the new connection's; while reconnecting it is the lost one's.
    pub fn id(&self) -> ConnectionId {
        self.identity().id
    }

    /// The user this connection belongs to: the token's `sub`, or
    /// `anonymous:<connection id>` without a token (presence counts users by it).
    pub fn user(&self) -> UserId {
        self.identity().user
    }

    /// The limits the server applies to this connection (rooms, sizes, message rate,
    /// how much history a room keeps for recovery).
    pub fn limits(&self) -> Limits {
        self.identity().limits
    }

    fn identity(&self) -> Identity {
        match &*self.inner.shared.identity.borrow() {
            Welcome::Known(identity) => identity.clone(),
            other => unreachable!("connect returns once the welcome arrived, not {other:?}"),
        }
    }

    /// The rooms this client is in (re-joined on reconnect): its connect room and
    /// every room joined and not left since.
    pub fn rooms(&self) -> Vec<RoomName> {
        let mut rooms = self.inner.shared.room_names();
        rooms.sort();
        rooms
    }

    /// Whether the client has stopped (closed, or gave up reconnecting).
    pub fn is_closed(&self) -> bool {
        self.inner.shared.closed.load(Ordering::Acquire) || self.inner.commands.is_closed()
    }

    /// Close the connection (politely) and stop; requests still waiting fail with
    /// [`Error::Closed`](crate::Error::Closed) or [`Error::ConnectionLost`](crate::Error::ConnectionLost), and event streams end.
    pub async fn close(&self) {
        let (done, closed) = oneshot::channel();
        if self.inner.commands.send(Command::Close(done)).is_ok() {
            let _ = closed.await;
        }
    }
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("rooms", &self.rooms())
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}
