//! The task that owns the socket: sends requests, matches answers to them by `ref`,
//! keeps the room replicas, publishes events, and reconnects.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use futures::{SinkExt, StreamExt};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::time::{Instant, MissedTickBehavior};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

mod inbound;
mod reconnect;
mod requests;

pub(crate) use self::requests::{Command, Kind, Outgoing, Reply};
use self::requests::{ReplySender, Waiter};

use super::connect::{Socket, Target};
use super::recovery::Syncs;
use super::{Event, Options, Room, Shared, Welcome};
use crate::Error;
use crate::protocol::{ClientAction, ClientMessage, Ref, RoomName};

/// Past this many requests awaiting an answer, forget those whose caller gave up.
const MAX_PENDING: usize = 1024;

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
