//! The task that owns the socket: sends requests, matches answers to them by `ref`,
//! keeps the room replicas, publishes events, and reconnects.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use futures::{SinkExt, StreamExt};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::time::{Instant, MissedTickBehavior};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use super::connect::{Socket, Target, is_permanent};
use super::{Event, Options, Shared};
use crate::protocol::{ClientAction, ClientMessage, ProtocolError, Ref, RoomName, ServerMessage};
use crate::{Change, Error, RoomState, Snapshot};

/// Past this many requests awaiting an answer, forget those whose caller gave up.
const MAX_PENDING: usize = 1024;

/// What a request's caller is waiting for.
pub(crate) type ReplySender = oneshot::Sender<Result<Reply, Error>>;

/// A request's answer.
#[derive(Debug)]
pub(crate) enum Reply {
    /// `ack` (with its version, if any).
    Ack(Option<u64>),
    /// `ack` then `state`.
    State(Snapshot),
    /// `ack` then `rooms`.
    Rooms(Vec<crate::protocol::RoomSummary>),
}

/// What a request expects, and what sending it means for the rooms this client is in.
#[derive(Debug, Clone)]
pub(crate) enum Kind {
    /// Answered by `ack`.
    Ack,
    /// `join`: the room is kept (re-joined on reconnect) from the moment it is sent;
    /// answered by `ack` then `state`.
    Join(RoomName),
    /// `leave`: the room is dropped from the moment it is sent; answered by `ack`.
    Leave(RoomName),
    /// `getState`: `ack` then `state`.
    State(RoomName),
    /// `listRooms`: `ack` then `rooms`.
    Rooms,
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
enum Waiter {
    User {
        kind: Kind,
        reply: ReplySender,
        /// A `join` that started tracking its room (undone if the join fails).
        added: bool,
    },
    /// The driver's own `join`/`getState`/`leave` to resync a room.
    Internal(RoomName),
}

/// Why a session ended.
enum End {
    /// The connection dropped (or the server closed it other than normally): reconnect.
    Lost,
    /// The server closed it normally (1000, e.g. `DeleteConnection`): like Socket.IO's
    /// "io server disconnect", do not reconnect.
    ServerClosed,
    /// `close()` was called or every handle was dropped.
    Stop,
}

pub(crate) struct Driver {
    pub(crate) target: Target,
    pub(crate) options: Options,
    pub(crate) connect_room: RoomName,
    pub(crate) commands: mpsc::UnboundedReceiver<Command>,
    pub(crate) events: broadcast::Sender<Event>,
    pub(crate) shared: Arc<Shared>,
    pending: HashMap<i64, Waiter>,
    awaiting_state: Vec<(RoomName, ReplySender)>,
    awaiting_rooms: VecDeque<ReplySender>,
    resyncing: HashSet<RoomName>,
    backlog: VecDeque<Outgoing>,
    closing: Vec<oneshot::Sender<()>>,
}

impl Driver {
    pub(crate) fn new(
        target: Target,
        options: Options,
        connect_room: RoomName,
        commands: mpsc::UnboundedReceiver<Command>,
        events: broadcast::Sender<Event>,
        shared: Arc<Shared>,
    ) -> Self {
        Self {
            target,
            options,
            connect_room,
            commands,
            events,
            shared,
            pending: HashMap::new(),
            awaiting_state: Vec::new(),
            awaiting_rooms: VecDeque::new(),
            resyncing: HashSet::new(),
            backlog: VecDeque::new(),
            closing: Vec::new(),
        }
    }

    /// Serve `socket`, then reconnect after every loss until stopped.
    pub(crate) async fn run(mut self, mut socket: Socket) {
        loop {
            let end = self.session(&mut socket).await;
            self.fail_in_flight();
            match end {
                End::Stop => break,
                End::ServerClosed => {
                    tracing::info!("the server closed the connection; not reconnecting");
                    self.emit(Event::Disconnected);
                    break;
                }
                End::Lost => {}
            }
            self.emit(Event::Disconnected);
            match self.reconnect().await {
                Some(s) => {
                    socket = s;
                    self.emit(Event::Reconnected);
                }
                None => break,
            }
        }
        for out in self.backlog.drain(..) {
            let _ = out.reply.send(Err(Error::Closed));
        }
        for done in self.closing.drain(..) {
            let _ = done.send(());
        }
        self.shared
            .closed
            .store(true, std::sync::atomic::Ordering::Release);
    }

    /// One connection: resync the rooms, send what waited, then serve until it ends.
    async fn session(&mut self, socket: &mut Socket) -> End {
        if self.start(socket).await.is_err() {
            return End::Lost;
        }
        let period = self.options.keepalive;
        let mut keepalive = tokio::time::interval_at(Instant::now() + period, period);
        keepalive.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                frame = socket.next() => match frame {
                    Some(Ok(Message::Text(text))) => {
                        for out in self.on_text(text.as_str()) {
                            if socket.send(Message::text(out)).await.is_err() {
                                return End::Lost;
                            }
                        }
                    }
                    Some(Ok(Message::Close(frame))) => {
                        // Let tungstenite send its answer to the close.
                        let _ = socket.flush().await;
                        tracing::debug!(?frame, "closed by the server");
                        return match frame {
                            Some(f) if f.code == CloseCode::Normal => End::ServerClosed,
                            _ => End::Lost,
                        };
                    }
                    Some(Ok(_)) => {}
                    Some(Err(error)) => {
                        tracing::debug!(%error, "connection lost");
                        return End::Lost;
                    }
                    None => return End::Lost,
                },
                command = self.commands.recv() => match command {
                    None => {
                        close(socket).await;
                        return End::Stop;
                    }
                    Some(Command::Close(done)) => {
                        self.closing.push(done);
                        close(socket).await;
                        return End::Stop;
                    }
                    Some(Command::Request(out)) => {
                        if let Some(frame) = self.prepare(out)
                            && socket.send(Message::text(frame)).await.is_err()
                        {
                            return End::Lost;
                        }
                    }
                },
                _ = keepalive.tick() => {
                    if socket.send(Message::Ping(Default::default())).await.is_err() {
                        return End::Lost;
                    }
                }
            }
        }
    }

    /// After (re)connecting: ask for the state of every room this client is in
    /// (`getState` for the connect room, which the server joined at connect; `join`
    /// for the others), leave the connect room if it was left, then send the backlog.
    async fn start(&mut self, socket: &mut Socket) -> Result<(), ()> {
        let rooms = self.shared.room_names();
        let mut frames = Vec::new();
        if !rooms.contains(&self.connect_room) {
            let room = self.connect_room.clone();
            frames.push(self.internal(ClientAction::Leave { room: room.clone() }, room));
        }
        for room in rooms {
            let action = if room == self.connect_room {
                ClientAction::GetState { room: room.clone() }
            } else {
                ClientAction::Join { room: room.clone() }
            };
            self.resyncing.insert(room.clone());
            frames.push(self.internal(action, room));
        }
        while let Some(out) = self.backlog.pop_front() {
            frames.extend(self.prepare(out));
        }
        for frame in frames {
            socket.send(Message::text(frame)).await.map_err(|_| ())?;
        }
        Ok(())
    }

    /// A frame for the driver's own request about `room`, with a fresh `ref`.
    fn internal(&mut self, action: ClientAction, room: RoomName) -> String {
        let reference = self.shared.next_ref();
        self.pending.insert(reference, Waiter::Internal(room));
        let message = ClientMessage {
            reference: Some(Ref::Number(reference)),
            action,
        };
        serde_json::to_string(&message).expect("client messages serialize")
    }

    /// Register a caller's request as sent and return its frame (none if the caller
    /// already gave up).
    fn prepare(&mut self, out: Outgoing) -> Option<String> {
        if out.reply.is_closed() {
            return None;
        }
        let mut added = false;
        {
            let mut rooms = self.shared.rooms.lock().expect("rooms");
            match &out.kind {
                Kind::Join(room) if !rooms.contains_key(room) => {
                    rooms.insert(room.clone(), RoomState::new(room.clone()));
                    self.resyncing.insert(room.clone());
                    added = true;
                }
                Kind::Leave(room) => {
                    rooms.remove(room);
                    self.resyncing.remove(room);
                }
                _ => {}
            }
        }
        if self.pending.len() >= MAX_PENDING {
            // Callers that timed out waiting for a server that never answered.
            self.pending.retain(|_, w| match w {
                Waiter::User { reply, .. } => !reply.is_closed(),
                Waiter::Internal(_) => true,
            });
        }
        self.pending.insert(
            out.reference,
            Waiter::User {
                kind: out.kind,
                reply: out.reply,
                added,
            },
        );
        Some(out.frame)
    }

    /// One text frame from the server; returns frames to send (resync requests).
    fn on_text(&mut self, text: &str) -> Vec<String> {
        let message: ServerMessage = match serde_json::from_str(text) {
            Ok(m) => m,
            Err(error) => {
                self.undecodable(text, error);
                return Vec::new();
            }
        };
        let mut out = Vec::new();
        let mut changes = Vec::new();
        match &message {
            ServerMessage::Ack { reference, version } => self.on_ack(reference, *version),
            ServerMessage::Error {
                code,
                message: text,
                reference,
            } => {
                let error = ProtocolError::new(*code, text.clone()).with_ref(reference.clone());
                self.on_error(error);
            }
            ServerMessage::State {
                room,
                version,
                state,
            } => {
                self.resyncing.remove(room);
                changes = self.replicate(room, &message, &mut out);
                let snapshot = Snapshot {
                    version: *version,
                    state: state.clone(),
                };
                let (done, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.awaiting_state)
                    .into_iter()
                    .partition(|(r, _)| r == room);
                self.awaiting_state = waiting;
                for (_, reply) in done {
                    let _ = reply.send(Ok(Reply::State(snapshot.clone())));
                }
            }
            ServerMessage::Patch { room, .. } => changes = self.replicate(room, &message, &mut out),
            ServerMessage::Rooms { rooms } => {
                if let Some(reply) = self.awaiting_rooms.pop_front() {
                    let _ = reply.send(Ok(Reply::Rooms(rooms.clone())));
                }
            }
            ServerMessage::Event { .. } | ServerMessage::Presence { .. } => {}
        }
        let room = match &message {
            ServerMessage::State { room, .. } | ServerMessage::Patch { room, .. } => {
                Some(room.clone())
            }
            _ => None,
        };
        self.emit(Event::Message(message));
        if let Some(room) = room {
            for change in changes {
                self.emit(Event::Changed {
                    room: room.clone(),
                    change,
                });
            }
        }
        out
    }

    /// Feed a `state`/`patch` to the room's replica (if this client is in the room);
    /// ask for the state once when the replica cannot advance.
    fn replicate(
        &mut self,
        room: &RoomName,
        message: &ServerMessage,
        out: &mut Vec<String>,
    ) -> Vec<Change> {
        let update = {
            let mut rooms = self.shared.rooms.lock().expect("rooms");
            match rooms.get_mut(room) {
                Some(replica) => replica.apply(message),
                None => return Vec::new(),
            }
        };
        if update.resync && self.resyncing.insert(room.clone()) {
            tracing::debug!(%room, "version gap; asking for the state");
            out.push(self.internal(ClientAction::GetState { room: room.clone() }, room.clone()));
        }
        update.changes
    }

    fn on_ack(&mut self, reference: &Ref, version: Option<u64>) {
        let Ref::Number(n) = reference else { return };
        match self.pending.remove(n) {
            Some(Waiter::User { kind, reply, .. }) => match kind {
                Kind::Ack | Kind::Leave(_) => {
                    let _ = reply.send(Ok(Reply::Ack(version)));
                }
                Kind::Join(room) | Kind::State(room) => self.awaiting_state.push((room, reply)),
                Kind::Rooms => self.awaiting_rooms.push_back(reply),
            },
            Some(Waiter::Internal(_)) | None => {}
        }
    }

    fn on_error(&mut self, error: ProtocolError) {
        let Some(Ref::Number(n)) = &error.reference else {
            tracing::warn!(%error, "the server reported an error");
            return;
        };
        match self.pending.remove(n) {
            Some(Waiter::User { kind, reply, added }) => {
                if let (Kind::Join(room), true) = (&kind, added) {
                    self.shared.rooms.lock().expect("rooms").remove(room);
                    self.resyncing.remove(room);
                }
                let _ = reply.send(Err(Error::Server(error)));
            }
            Some(Waiter::Internal(room)) => {
                tracing::warn!(%room, %error, "resync request refused");
                self.resyncing.remove(&room);
            }
            None => {}
        }
    }

    /// A frame that is not a `roomcast.v1` message this client knows. If it answers
    /// one of our requests, that request fails with the decoding error.
    fn undecodable(&mut self, text: &str, error: serde_json::Error) {
        tracing::warn!(%error, frame = %truncate(text, 200), "undecodable frame from the server");
        let reference = serde_json::from_str::<serde_json::Value>(text)
            .ok()
            .and_then(|v| v.get("ref").and_then(serde_json::Value::as_i64));
        if let Some(n) = reference
            && let Some(Waiter::User { reply, .. }) = self.pending.remove(&n)
        {
            let _ = reply.send(Err(Error::Decode(error)));
        }
    }

    /// The connection is gone: requests in flight fail with
    /// [`Error::ConnectionLost`]; the driver's own requests are forgotten (they are
    /// sent again on reconnect).
    fn fail_in_flight(&mut self) {
        for (_, waiter) in self.pending.drain() {
            if let Waiter::User { reply, .. } = waiter {
                let _ = reply.send(Err(Error::ConnectionLost));
            }
        }
        for (_, reply) in self.awaiting_state.drain(..) {
            let _ = reply.send(Err(Error::ConnectionLost));
        }
        for reply in self.awaiting_rooms.drain(..) {
            let _ = reply.send(Err(Error::ConnectionLost));
        }
        self.resyncing.clear();
    }

    /// Reconnect with backoff; requests made meanwhile wait in the backlog (each
    /// caller's timeout still runs). `None`: stopped, or gave up.
    async fn reconnect(&mut self) -> Option<Socket> {
        let mut attempt = 0u32;
        loop {
            if self
                .options
                .reconnect
                .max_attempts
                .is_some_and(|max| attempt >= max)
            {
                tracing::warn!(attempts = attempt, "giving up reconnecting");
                return None;
            }
            let delay = self.options.reconnect.delay(attempt);
            attempt = attempt.saturating_add(1);
            let sleep = tokio::time::sleep(delay);
            tokio::pin!(sleep);
            loop {
                tokio::select! {
                    _ = &mut sleep => break,
                    command = self.commands.recv() => if !self.hold(command) { return None },
                }
            }
            let target = self.target.clone();
            let opening = target.open();
            tokio::pin!(opening);
            let result = loop {
                tokio::select! {
                    result = &mut opening => break result,
                    command = self.commands.recv() => if !self.hold(command) { return None },
                }
            };
            match result {
                Ok(socket) => {
                    tracing::info!(attempt, "reconnected");
                    return Some(socket);
                }
                Err(error) if is_permanent(&error) => {
                    tracing::warn!(%error, "reconnect refused; giving up");
                    return None;
                }
                Err(error) => tracing::debug!(%error, attempt, "reconnect failed"),
            }
        }
    }

    /// A command while disconnected: requests wait; `false` means stop.
    fn hold(&mut self, command: Option<Command>) -> bool {
        match command {
            None => false,
            Some(Command::Close(done)) => {
                self.closing.push(done);
                false
            }
            Some(Command::Request(out)) => {
                self.backlog.retain(|o| !o.reply.is_closed());
                self.backlog.push_back(out);
                true
            }
        }
    }

    fn emit(&self, event: Event) {
        // No subscriber is fine: events are for whoever listens.
        let _ = self.events.send(event);
    }
}

/// Close politely, without waiting long for the server's answer.
async fn close(socket: &mut Socket) {
    let polite = async {
        socket.close(None).await.ok()?;
        while let Some(Ok(_)) = socket.next().await {}
        Some(())
    };
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), polite).await;
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}
