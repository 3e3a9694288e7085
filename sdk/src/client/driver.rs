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
use super::recovery::{Acked, Syncs};
use super::{Event, Identity, MembersPage, Options, Room, Shared, Welcome};
use crate::protocol::{
    ClientAction, ClientMessage, IconId, ProtocolError, Ref, RoomName, ServerMessage,
};
use crate::{Change, Error, Snapshot};

/// Past this many requests awaiting an answer, forget those whose caller gave up.
const MAX_PENDING: usize = 1024;

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
enum Waiter {
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
    awaiting_members: Vec<(RoomName, ReplySender)>,
    resyncing: HashSet<RoomName>,
    /// Rooms whose join (or first `getState`) is being answered, and their held frames.
    syncs: Syncs,
    /// This connection's `welcome` arrived, or a `hello` asked for it.
    welcomed: bool,
    asked_hello: bool,
    /// A reconnect to announce ([`Event::Reconnected`]) once its `welcome` arrives.
    announce: bool,
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
            awaiting_members: Vec::new(),
            resyncing: HashSet::new(),
            syncs: Syncs::default(),
            welcomed: false,
            asked_hello: false,
            announce: false,
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
                    self.announce = true;
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
        self.shared.identity.send_if_modified(|w| {
            let awaited = matches!(w, Welcome::Awaited);
            if awaited {
                *w = Welcome::Stopped;
            }
            awaited
        });
        self.shared
            .closed
            .store(true, std::sync::atomic::Ordering::Release);
    }

    /// One connection: resync the rooms, send what waited, then serve until it ends.
    async fn session(&mut self, socket: &mut Socket) -> End {
        (self.welcomed, self.asked_hello) = (false, false);
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

    /// After (re)connecting: re-join every room this client is in with `since` (its
    /// watermark) to recover what it missed, or ask for its state when there is no
    /// watermark yet (`getState` for the connect room, which the server joined at
    /// connect; `join` for the others); leave the connect room if it was left; then
    /// send the backlog.
    async fn start(&mut self, socket: &mut Socket) -> Result<(), ()> {
        let rooms: Vec<(RoomName, _)> = self
            .shared
            .rooms
            .lock()
            .expect("rooms")
            .iter()
            .map(|(name, room)| (name.clone(), room.since()))
            .collect();
        let mut frames = Vec::new();
        if !rooms.iter().any(|(r, _)| *r == self.connect_room) {
            let room = self.connect_room.clone();
            let action = ClientAction::Leave { room: room.clone() };
            frames.push(self.internal(action, Waiter::Internal(room)).1);
        }
        for (room, since) in rooms {
            let action = if room == self.connect_room && since.is_none() {
                ClientAction::GetState { room: room.clone() }
            } else {
                ClientAction::Join {
                    room: room.clone(),
                    since,
                }
            };
            self.resyncing.insert(room.clone());
            let (reference, frame) = self.internal(action, Waiter::Internal(room.clone()));
            self.syncs.start(room, reference);
            frames.push(frame);
        }
        while let Some(out) = self.backlog.pop_front() {
            frames.extend(self.prepare(out));
        }
        for frame in frames {
            socket.send(Message::text(frame)).await.map_err(|_| ())?;
        }
        Ok(())
    }

    /// A frame for the driver's own request, with a fresh `ref`.
    fn internal(&mut self, action: ClientAction, waiter: Waiter) -> (i64, String) {
        let reference = self.shared.next_ref();
        self.pending.insert(reference, waiter);
        let message = ClientMessage {
            reference: Some(Ref::Number(reference)),
            action,
        };
        let frame = serde_json::to_string(&message).expect("client messages serialize");
        (reference, frame)
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
                Kind::Join(room) => {
                    if !rooms.contains_key(room) {
                        rooms.insert(room.clone(), Room::new(room.clone()));
                        self.resyncing.insert(room.clone());
                        added = true;
                    }
                    self.syncs.start(room.clone(), out.reference);
                }
                Kind::Leave(room) => {
                    rooms.remove(room);
                    self.resyncing.remove(room);
                    self.syncs.forget(room);
                }
                _ => {}
            }
        }
        if self.pending.len() >= MAX_PENDING {
            // Callers that timed out waiting for a server that never answered.
            self.pending.retain(|_, w| match w {
                Waiter::User { reply, .. } => !reply.is_closed(),
                Waiter::Internal(_) | Waiter::Hello => true,
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
        if let Some(message) = self.syncs.hold(message) {
            self.handle(message, &mut out);
        }
        out
    }

    /// One message that is not (or no longer) held: drop it if it is a duplicate,
    /// apply it, answer the request it closes, and publish it.
    fn handle(&mut self, message: ServerMessage, out: &mut Vec<String>) {
        if let ServerMessage::Patch { room, .. } | ServerMessage::Event { room, .. } = &message
            && let Some(at) = message.position()
            && let Some(r) = self.shared.rooms.lock().expect("rooms").get_mut(room)
            && !r.watermark.admit(at)
        {
            tracing::trace!(%room, offset = at.offset, "duplicate frame dropped");
            return;
        }
        let mut changes = Vec::new();
        let mut after = Vec::new();
        match &message {
            ServerMessage::Welcome { id, user, limits } => {
                self.welcomed = true;
                self.shared.identity.send_replace(Welcome::Known(Identity {
                    id: id.clone(),
                    user: user.clone(),
                    limits: *limits,
                }));
            }
            ServerMessage::Ack {
                reference,
                version,
                id,
                recovered,
            } => {
                self.ask_hello(out);
                self.on_ack(reference, *version, id.clone(), *recovered, out);
            }
            ServerMessage::Error {
                code,
                message: text,
                reference,
            } => {
                self.ask_hello(out);
                let error = ProtocolError::new(*code, text.clone()).with_ref(reference.clone());
                after = self.on_error(error);
            }
            ServerMessage::State {
                room,
                version,
                state,
                at,
            } => {
                self.resyncing.remove(room);
                // The answer to a join (or first getState) resets the watermark.
                let completes = self.syncs.awaits_state(room);
                if let Some(at) = at
                    && let Some(r) = self.shared.rooms.lock().expect("rooms").get_mut(room)
                {
                    r.watermark.observe_state(at, completes);
                }
                changes = self.replicate(room, &message, out);
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
                if completes {
                    after = self.syncs.finish(room);
                }
            }
            ServerMessage::Patch { room, .. } => changes = self.replicate(room, &message, out),
            ServerMessage::Rooms { rooms } => {
                if let Some(reply) = self.awaiting_rooms.pop_front() {
                    let _ = reply.send(Ok(Reply::Rooms(rooms.clone())));
                }
            }
            ServerMessage::Members { room, users, next } => {
                if let Some(i) = self.awaiting_members.iter().position(|(r, _)| r == room) {
                    let (_, reply) = self.awaiting_members.remove(i);
                    let _ = reply.send(Ok(Reply::Members(MembersPage {
                        room: room.clone(),
                        users: users.clone(),
                        next: next.clone(),
                    })));
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
        let welcome = matches!(message, ServerMessage::Welcome { .. });
        self.emit(Event::Message(message));
        if welcome && std::mem::take(&mut self.announce) {
            self.emit(Event::Reconnected);
        }
        if let Some(room) = room {
            for change in changes {
                self.emit(Event::Changed {
                    room: room.clone(),
                    change,
                });
            }
        }
        for message in after {
            self.handle(message, out);
        }
    }

    /// Every answer comes after the connection's `welcome` (the local gateway sends it
    /// at connect; on AWS it leads the answer to the first action): an answer without
    /// one means the server did not volunteer it, so ask.
    fn ask_hello(&mut self, out: &mut Vec<String>) {
        if !self.welcomed && !self.asked_hello {
            self.asked_hello = true;
            out.push(self.internal(ClientAction::Hello, Waiter::Hello).1);
        }
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
                Some(r) => r.replica.apply(message),
                None => return Vec::new(),
            }
        };
        if update.resync && self.resyncing.insert(room.clone()) {
            tracing::debug!(%room, "version gap; asking for the state");
            let action = ClientAction::GetState { room: room.clone() };
            out.push(self.internal(action, Waiter::Internal(room.clone())).1);
        }
        update.changes
    }

    fn on_ack(
        &mut self,
        reference: &Ref,
        version: Option<u64>,
        id: Option<IconId>,
        recovered: Option<bool>,
        out: &mut Vec<String>,
    ) {
        let Ref::Number(n) = reference else { return };
        if let Some(Acked::Recovered(room, held)) = self.syncs.acked(*n, recovered) {
            // The missed frames came before this ack: they go first, in offset order,
            // with the live frames held meanwhile (the watermark drops the duplicates).
            self.resyncing.remove(&room);
            for message in held {
                self.handle(message, out);
            }
        }
        match self.pending.remove(n) {
            Some(Waiter::User { kind, reply, .. }) => match kind {
                Kind::Ack | Kind::Leave(_) => {
                    let _ = reply.send(Ok(Reply::Ack { version, id }));
                }
                Kind::Join(room) if recovered == Some(true) => {
                    // No state follows: the replica, now caught up, is the answer.
                    let held = self
                        .shared
                        .rooms
                        .lock()
                        .expect("rooms")
                        .get(&room)
                        .and_then(|r| r.replica.snapshot().cloned());
                    match held {
                        Some(snapshot) => {
                            let _ = reply.send(Ok(Reply::State(snapshot)));
                        }
                        None => {
                            // Left and re-joined meanwhile: ask for the state.
                            let action = ClientAction::GetState { room: room.clone() };
                            out.push(self.internal(action, Waiter::Internal(room.clone())).1);
                            self.awaiting_state.push((room, reply));
                        }
                    }
                }
                Kind::Join(room) | Kind::State(room) => self.awaiting_state.push((room, reply)),
                Kind::Rooms => self.awaiting_rooms.push_back(reply),
                Kind::Members(room) => self.awaiting_members.push((room, reply)),
            },
            Some(Waiter::Internal(_) | Waiter::Hello) | None => {}
        }
    }

    /// A request failed; returns the frames its room held if it was a sync.
    fn on_error(&mut self, error: ProtocolError) -> Vec<ServerMessage> {
        let Some(Ref::Number(n)) = &error.reference else {
            tracing::warn!(%error, "the server reported an error");
            return Vec::new();
        };
        let held = self.syncs.failed(*n);
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
            Some(Waiter::Hello) => {
                tracing::warn!(%error, "hello refused; the connection's id stays unknown");
                let refused = Welcome::Refused(error);
                self.shared.identity.send_if_modified(|w| match w {
                    Welcome::Known(_) => false,
                    _ => {
                        *w = refused;
                        true
                    }
                });
                if std::mem::take(&mut self.announce) {
                    self.emit(Event::Reconnected);
                }
            }
            None => {}
        }
        held
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
        for (_, reply) in self.awaiting_members.drain(..) {
            let _ = reply.send(Err(Error::ConnectionLost));
        }
        self.resyncing.clear();
        self.syncs.clear();
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
