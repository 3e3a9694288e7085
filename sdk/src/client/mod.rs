//! The WebSocket client: rooms, game actions, events, reconnect.

mod connect;
mod driver;
mod recovery;

use std::collections::HashMap;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::Stream;
use serde::Serialize;
use tokio::sync::{broadcast, mpsc, oneshot, watch};

use self::connect::Target;
pub(crate) use self::connect::error_body;
use self::driver::{Command, Driver, Kind, Outgoing, Reply};
pub(crate) use self::recovery::Room;
use crate::protocol::limits::MAX_FRAME_BYTES;
use crate::protocol::{
    Background, ClientAction, ClientMessage, ConnectionId, EventName, Icon, IconId, Limits,
    Position, ProtocolError, Ref, RoomName, RoomSummary, ServerMessage, UserCount, UserId,
};
use crate::{Change, Error, Snapshot};

/// A connection to a roomcast WebSocket API (the local gateway's `ws://…/dev`, or API
/// Gateway's `wss://…/{stage}`) speaking `roomcast.v1`.
///
/// Cheap to clone: every clone drives the same connection, which a background task
/// owns. The connection closes when [`Client::close`] is called or the last clone is
/// dropped.
///
/// - **Requests** carry a `ref` and resolve on the server's `ack` (or fail with its
///   `error` code as [`Error::Server`]), within the request timeout
///   ([`ClientBuilder::request_timeout`]).
/// - **Events**: [`Client::events`] is a `Stream` of every typed server message, plus
///   connection and room-state changes ([`Event`]).
/// - **Rooms and state**: the client keeps a [`RoomState`] replica of every room it is
///   in, following the version rule ([`Client::state`]).
/// - **Reconnect**: when the connection drops, the client reconnects with backoff
///   ([`Reconnect`]) and re-joins every room with `since` (its [`Client::position`]):
///   the missed patches and events arrive as events, once and in order, before any
///   live frame of the room; when the server no longer has them, the room's state
///   resyncs the replica by version. Either way no patch is applied twice or skipped.
///   Requests made while disconnected are sent once reconnected (if their timeout has
///   not run out); requests that were in flight fail with [`Error::ConnectionLost`]
///   (they may or may not have taken effect).
///
/// ```no_run
/// use futures::StreamExt;
/// use roomcast_sdk::{Client, Event, ServerMessage};
/// use serde_json::json;
///
/// # async fn run() -> Result<(), roomcast_sdk::Error> {
/// let client = Client::connect("ws://127.0.0.1:8080/dev").room("alpha").await?;
/// let mut events = client.events();
/// client.emit("alpha", "chat", json!({"text": "hi"})).await?;
/// while let Some(event) = events.next().await {
///     if let Event::Message(ServerMessage::Event { event, data, .. }) = event {
///         println!("{event}: {data}");
///     }
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

/// Something that happened on a [`Client`]'s connection, as yielded by [`Events`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Event {
    /// A message from the server, decoded: `state`, `patch`, `event`, `presence`,
    /// `rooms`, and the `ack`/`error` answers (which also resolve the requests). When
    /// it is a `state` or `patch`, [`Client::state`] already reflects it.
    Message(ServerMessage),
    /// The replica of `room` changed (after the `Message` that changed it): use this
    /// to re-render a room instead of interpreting states and patches yourself.
    Changed {
        /// The room.
        room: RoomName,
        /// What changed.
        change: Change,
    },
    /// The connection dropped. Unless it was closed by the server normally, the client
    /// is reconnecting.
    Disconnected,
    /// The client reconnected and the new connection's `welcome` arrived
    /// ([`Client::id`] is the new id); its rooms are being re-joined, each recovering
    /// what it missed (`join` with `since`) or resyncing its state.
    Reconnected,
    /// This stream fell behind and missed this many events (see
    /// [`ClientBuilder::event_buffer`]).
    Lagged(u64),
}

/// The [`Client`]'s events as a [`Stream`]. It ends when the client stops (closed,
/// dropped, or gave up reconnecting).
pub struct Events {
    inner: Pin<Box<dyn Stream<Item = Event> + Send>>,
}

impl Events {
    fn new(receiver: broadcast::Receiver<Event>) -> Self {
        let stream = futures::stream::unfold(receiver, |mut receiver| async move {
            match receiver.recv().await {
                Ok(event) => Some((event, receiver)),
                Err(broadcast::error::RecvError::Lagged(n)) => Some((Event::Lagged(n), receiver)),
                Err(broadcast::error::RecvError::Closed) => None,
            }
        });
        Self {
            inner: Box::pin(stream),
        }
    }
}

impl Stream for Events {
    type Item = Event;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        self.inner.as_mut().poll_next(cx)
    }
}

impl std::fmt::Debug for Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Events").finish_non_exhaustive()
    }
}

/// How the client reconnects: exponential backoff from `initial` doubling up to `max`,
/// each delay randomized to between half and all of it (so a restarted server is not
/// hit by every client at once). Counting restarts after every successful reconnect.
///
/// A connection closed by the server with 1000 (normal, e.g. `DeleteConnection`) is
/// not reconnected, and neither is one the server refuses for good (`400`, `401`,
/// `403`: bad room, bad or expired token, room not granted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reconnect {
    /// The first delay.
    pub initial: Duration,
    /// The longest delay.
    pub max: Duration,
    /// Give up after this many failed attempts in a row (`None`: never give up).
    pub max_attempts: Option<u32>,
}

impl Default for Reconnect {
    /// 250 ms doubling up to 10 s, never giving up.
    fn default() -> Self {
        Self {
            initial: Duration::from_millis(250),
            max: Duration::from_secs(10),
            max_attempts: None,
        }
    }
}

impl Reconnect {
    /// Do not reconnect: the client stops when the connection drops.
    pub fn never() -> Self {
        Self {
            max_attempts: Some(0),
            ..Self::default()
        }
    }

    /// The delay before attempt `attempt` (0-based), randomized.
    pub fn delay(&self, attempt: u32) -> Duration {
        let full = self
            .initial
            .saturating_mul(2u32.saturating_pow(attempt.min(31)))
            .min(self.max);
        let half = full / 2;
        half + full.mul_f64(rand::random::<f64>() / 2.0).min(half)
    }
}

/// Options the driver uses.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    pub(crate) reconnect: Reconnect,
    pub(crate) keepalive: Duration,
}

/// Configures and opens a [`Client`]; from [`Client::connect`]. Await it to connect.
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until awaited"]
pub struct ClientBuilder {
    url: String,
    room: Option<String>,
    token: Option<String>,
    request_timeout: Duration,
    connect_timeout: Duration,
    reconnect: Reconnect,
    keepalive: Duration,
    event_buffer: usize,
}

impl ClientBuilder {
    /// The connect token (a JWT), sent as `?token=` (the API Gateway authorizer and the
    /// local gateway both read it there).
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// The connect room (`?room=`): the server joins the connection to it at connect.
    /// Without one the server uses `default`. The client keeps this room's state like
    /// any other room it joins.
    pub fn room(mut self, room: impl Into<String>) -> Self {
        self.room = Some(room.into());
        self
    }

    /// How long a request waits for its answer (default 10 s).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// How long one connection attempt may take (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The reconnect policy (default [`Reconnect::default`]).
    pub fn reconnect(mut self, policy: Reconnect) -> Self {
        self.reconnect = policy;
        self
    }

    /// How often to ping the server, which keeps an idle connection from hitting the
    /// 10-minute idle timeout (default 60 s).
    pub fn keepalive(mut self, period: Duration) -> Self {
        self.keepalive = period.max(Duration::from_millis(10));
        self
    }

    /// How many events an [`Events`] stream may fall behind before it skips ahead
    /// and reports [`Event::Lagged`] (default 1024).
    pub fn event_buffer(mut self, events: usize) -> Self {
        self.event_buffer = events.max(1);
        self
    }

    /// Connect, and wait for the connection's `welcome` (so [`Client::id`] is known;
    /// both within the connect timeout). The first connection is not retried: its
    /// error is returned.
    pub async fn connect(self) -> Result<Client, Error> {
        let room = self.room.map(RoomName::parse).transpose()?;
        let target = Target::new(
            &self.url,
            room.as_ref(),
            self.token.as_deref(),
            self.connect_timeout,
        )?;
        let socket = target.open().await?;
        let connect_room = room.unwrap_or_else(RoomName::default_room);
        let (identity, mut welcomed) = watch::channel(Welcome::Awaited);
        let shared = Arc::new(Shared {
            rooms: Mutex::new(HashMap::from([(
                connect_room.clone(),
                Room::new(connect_room.clone()),
            )])),
            identity,
            next_ref: AtomicI64::new(1),
            closed: AtomicBool::new(false),
        });
        let (events_tx, events_rx) = broadcast::channel(self.event_buffer);
        let (commands_tx, commands_rx) = mpsc::unbounded_channel();
        let driver = Driver::new(
            target,
            Options {
                reconnect: self.reconnect,
                keepalive: self.keepalive,
            },
            connect_room,
            commands_rx,
            events_tx,
            shared.clone(),
        );
        tokio::spawn(driver.run(socket));
        // The driver asks with `hello` if the server does not volunteer the welcome.
        // (Returning an error drops the command sender, which stops the driver.)
        let settled = welcomed.wait_for(|w| !matches!(w, Welcome::Awaited));
        match tokio::time::timeout(self.connect_timeout, settled).await {
            Err(_) => return Err(Error::ConnectTimeout(self.connect_timeout)),
            Ok(Err(_)) => return Err(Error::Closed),
            Ok(Ok(w)) => match &*w {
                Welcome::Known(_) | Welcome::Awaited => {}
                Welcome::Refused(e) => return Err(Error::Server(e.clone())),
                Welcome::Stopped => return Err(Error::Closed),
            },
        }
        Ok(Client {
            inner: Arc::new(Inner {
                commands: commands_tx,
                first_events: Mutex::new(Some(events_rx.resubscribe())),
                events: events_rx,
                shared,
                request_timeout: self.request_timeout,
            }),
        })
    }
}

impl IntoFuture for ClientBuilder {
    type Output = Result<Client, Error>;
    type IntoFuture = Pin<Box<dyn Future<Output = Result<Client, Error>> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.connect())
    }
}

/// The answer to [`Client::add_icon`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddedIcon {
    /// The room version the new icon produced.
    pub version: u64,
    /// The id the server gave the icon (the `ack` carries it).
    pub id: IconId,
}

/// One page of a room's users, the answer to [`Client::list_members`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MembersPage {
    /// The room.
    pub room: RoomName,
    /// Users (a token's `sub`, or `anonymous:<connection id>`) with how many of the
    /// room's connections are theirs.
    pub users: Vec<UserCount>,
    /// Pass to [`Client::list_members_after`] for the next page; `None` on the last.
    pub next: Option<UserId>,
}

impl Client {
    /// Start configuring a connection to `url` (`ws://` or `wss://`, the WebSocket
    /// API's stage URL such as `ws://127.0.0.1:8080/dev`); await the builder to
    /// connect:
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), roomcast_sdk::Error> {
    /// let client = roomcast_sdk::Client::connect("wss://abc.execute-api.eu-west-1.amazonaws.com/prod")
    ///     .token("eyJhbGciOi…")
    ///     .room("alpha")
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn connect(url: impl Into<String>) -> ClientBuilder {
        ClientBuilder {
            url: url.into(),
            room: None,
            token: None,
            request_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(10),
            reconnect: Reconnect::default(),
            keepalive: Duration::from_secs(60),
            event_buffer: 1024,
        }
    }

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

    /// Join `room`: receive its patches, events and presence from now on, and get its
    /// state. The room is kept (re-joined after a reconnect) until [`Client::leave`].
    ///
    /// Joining a room this client is already in asks with `since` for what it missed
    /// (as every re-join after a reconnect does): when the server still has it, the
    /// missed frames arrive as events and the state returned is the replica's.
    pub async fn join(&self, room: impl AsRef<str>) -> Result<Snapshot, Error> {
        let room = RoomName::parse(room.as_ref())?;
        // Read now, sent a moment later: if the watermark moves meanwhile, the server
        // only sends a few frames more, which the watermark drops.
        let since = self
            .inner
            .shared
            .rooms
            .lock()
            .expect("rooms")
            .get(&room)
            .and_then(Room::since);
        let kind = Kind::Join(room.clone());
        expect_state(
            self.request(ClientAction::Join { room, since }, kind)
                .await?,
        )
    }

    /// Leave `room`: stop receiving its messages and stop keeping its state.
    pub async fn leave(&self, room: impl AsRef<str>) -> Result<(), Error> {
        let room = RoomName::parse(room.as_ref())?;
        let kind = Kind::Leave(room.clone());
        self.request(ClientAction::Leave { room }, kind).await?;
        Ok(())
    }

    /// Read `room`'s full state (membership not needed). When the client is in the
    /// room, its replica takes the state too.
    pub async fn get_state(&self, room: impl AsRef<str>) -> Result<Snapshot, Error> {
        let room = RoomName::parse(room.as_ref())?;
        let kind = Kind::State(room.clone());
        expect_state(self.request(ClientAction::GetState { room }, kind).await?)
    }

    /// Set the base's background; returns the version the change produced.
    pub async fn change_background(
        &self,
        room: impl AsRef<str>,
        bg: Background,
    ) -> Result<u64, Error> {
        let room = RoomName::parse(room.as_ref())?;
        versioned(
            self.request(ClientAction::ChangeBackground { room, bg }, Kind::Ack)
                .await?,
        )
    }

    /// Place a module; returns the version it produced and the id the server gave it.
    pub async fn add_icon(&self, room: impl AsRef<str>, icon: Icon) -> Result<AddedIcon, Error> {
        let room = RoomName::parse(room.as_ref())?;
        match self
            .request(ClientAction::AddIcon { room, icon }, Kind::Ack)
            .await?
        {
            Reply::Ack {
                version: Some(version),
                id: Some(id),
            } => Ok(AddedIcon { version, id }),
            Reply::Ack { version: None, .. } => Err(Error::MissingVersion),
            Reply::Ack { id: None, .. } => Err(Error::MissingIconId),
            other => unreachable!("addIcon answered {other:?}"),
        }
    }

    /// Move (or re-image) module `id`; returns the version the change produced. An id
    /// the base does not hold fails with `unknown_icon`.
    pub async fn move_icon(
        &self,
        room: impl AsRef<str>,
        id: &IconId,
        icon: Icon,
    ) -> Result<u64, Error> {
        let room = RoomName::parse(room.as_ref())?;
        let action = ClientAction::MoveIcon {
            room,
            id: id.clone(),
            icon,
        };
        versioned(self.request(action, Kind::Ack).await?)
    }

    /// Remove module `id`; returns the version the change produced.
    pub async fn delete_icon(&self, room: impl AsRef<str>, id: &IconId) -> Result<u64, Error> {
        let room = RoomName::parse(room.as_ref())?;
        let action = ClientAction::DeleteIcon {
            room,
            id: id.clone(),
        };
        versioned(self.request(action, Kind::Ack).await?)
    }

    /// Broadcast an application event to the room's other members (like Socket.IO's
    /// `socket.to(room).emit`): `{"type":"event","room",…,"event","data","from"}`.
    /// Resolves when the server has accepted it for fan-out.
    pub async fn emit(
        &self,
        room: impl AsRef<str>,
        event: impl AsRef<str>,
        data: impl Serialize,
    ) -> Result<(), Error> {
        self.emit_with(room.as_ref(), event.as_ref(), data, true)
            .await
    }

    /// Like [`Client::emit`], but this client receives the event too.
    pub async fn emit_including_self(
        &self,
        room: impl AsRef<str>,
        event: impl AsRef<str>,
        data: impl Serialize,
    ) -> Result<(), Error> {
        self.emit_with(room.as_ref(), event.as_ref(), data, false)
            .await
    }

    async fn emit_with(
        &self,
        room: &str,
        event: &str,
        data: impl Serialize,
        except_sender: bool,
    ) -> Result<(), Error> {
        let action = ClientAction::Emit {
            room: RoomName::parse(room)?,
            event: EventName::parse(event)?,
            data: serde_json::value::to_raw_value(&data).map_err(Error::Encode)?,
            except_sender,
        };
        self.request(action, Kind::Ack).await?;
        Ok(())
    }

    /// The most active rooms and their member counts (at most 50).
    pub async fn list_rooms(&self) -> Result<Vec<RoomSummary>, Error> {
        match self.request(ClientAction::ListRooms, Kind::Rooms).await? {
            Reply::Rooms(rooms) => Ok(rooms),
            other => unreachable!("listRooms answered {other:?}"),
        }
    }

    /// The first page of `room`'s users with their connection counts (up to 100 a
    /// page; one user's tabs and devices count once). The room's membership is not
    /// needed. Page on with [`Client::list_members_after`].
    pub async fn list_members(&self, room: impl AsRef<str>) -> Result<MembersPage, Error> {
        self.members_page(room.as_ref(), None).await
    }

    /// The page of `room`'s users after `cursor` (a page's [`MembersPage::next`]).
    pub async fn list_members_after(
        &self,
        room: impl AsRef<str>,
        cursor: &UserId,
    ) -> Result<MembersPage, Error> {
        self.members_page(room.as_ref(), Some(cursor.to_string()))
            .await
    }

    async fn members_page(&self, room: &str, cursor: Option<String>) -> Result<MembersPage, Error> {
        let room = RoomName::parse(room)?;
        let kind = Kind::Members(room.clone());
        match self
            .request(ClientAction::ListMembers { room, cursor }, kind)
            .await?
        {
            Reply::Members(page) => Ok(page),
            other => unreachable!("listMembers answered {other:?}"),
        }
    }

    /// Close the connection (politely) and stop; requests still waiting fail with
    /// [`Error::Closed`] or [`Error::ConnectionLost`], and event streams end.
    pub async fn close(&self) {
        let (done, closed) = oneshot::channel();
        if self.inner.commands.send(Command::Close(done)).is_ok() {
            let _ = closed.await;
        }
    }

    /// Send `action` with a fresh `ref` and wait for its answer.
    async fn request(&self, action: ClientAction, kind: Kind) -> Result<Reply, Error> {
        let reference = self.inner.shared.next_ref();
        let message = ClientMessage {
            reference: Some(Ref::Number(reference)),
            action,
        };
        let frame = serde_json::to_string(&message).map_err(Error::Encode)?;
        if frame.len() > MAX_FRAME_BYTES {
            return Err(Error::FrameTooLarge {
                size: frame.len(),
                max: MAX_FRAME_BYTES,
            });
        }
        let (reply, answer) = oneshot::channel();
        let outgoing = Outgoing {
            reference,
            frame,
            kind,
            reply,
        };
        self.inner
            .commands
            .send(Command::Request(outgoing))
            .map_err(|_| Error::Closed)?;
        let timeout = self.inner.request_timeout;
        match tokio::time::timeout(timeout, answer).await {
            Err(_) => Err(Error::Timeout(timeout)),
            Ok(Err(_)) => Err(Error::Closed),
            Ok(Ok(result)) => result,
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

fn expect_state(reply: Reply) -> Result<Snapshot, Error> {
    match reply {
        Reply::State(snapshot) => Ok(snapshot),
        other => unreachable!("a state request answered {other:?}"),
    }
}

fn versioned(reply: Reply) -> Result<u64, Error> {
    match reply {
        Reply::Ack {
            version: Some(version),
            ..
        } => Ok(version),
        Reply::Ack { version: None, .. } => Err(Error::MissingVersion),
        other => unreachable!("a change answered {other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_within_bounds() {
        let policy = Reconnect {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(1),
            max_attempts: None,
        };
        for _ in 0..50 {
            let first = policy.delay(0);
            assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
            let third = policy.delay(2);
            assert!(third >= Duration::from_millis(200) && third <= Duration::from_millis(400));
            let late = policy.delay(40);
            assert!(late >= Duration::from_millis(500) && late <= Duration::from_secs(1));
        }
        assert_eq!(Reconnect::never().max_attempts, Some(0));
    }
}
