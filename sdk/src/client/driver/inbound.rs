//! What the driver does with each frame from the server: hold it while its room's
//! join is answered, drop it if its offset was seen, apply it to the room's replica,
//! answer the request it closes, and publish it.

use super::{Driver, Kind, Reply, Waiter};
use crate::client::recovery::Acked;
use crate::client::{Event, Identity, MembersPage, Welcome};
use crate::protocol::{ClientAction, IconId, ProtocolError, Ref, RoomName, ServerMessage};
use crate::{Change, Error, Snapshot};

impl Driver {
    /// One text frame from the server; returns frames to send (resync requests).
    pub(super) fn on_text(&mut self, text: &str) -> Vec<String> {
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
        self.emit(Event::from_message(message));
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
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}
