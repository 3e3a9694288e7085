//! The action handler: one frame in, replies for the sender out, side effects through
//! the ports. The local gateway and the AWS `actions` Lambda both call this, so the
//! game logic exists once.

mod emit;

pub use emit::PublishError;
mod game;
mod membership;

pub(crate) use membership::presence;

use std::sync::Arc;

use crate::abuse::{HandlerLimits, MessageRate};
use crate::auth::RoomAccess;
use crate::fanout::{FanoutJob, RoomJob, now_ms};
use crate::history::HistoryPolicy;
use crate::ports::{BackendError, FanoutQueue, Member, MembershipStore, RoomStore};
use crate::presence::{Presence, PresencePolicy};
use crate::protocol::limits::MAX_FRAME_BYTES;
use crate::protocol::{
    ClientAction, ClientMessage, ConnectionId, ErrorCode, IconId, Limits, Protocol, ProtocolError,
    Ref, RoomName, ServerMessage, UserId,
};

/// One connection, as the handler sees it.
#[derive(Debug, Clone)]
pub struct Session {
    /// Connection id.
    pub id: ConnectionId,
    /// Negotiated subprotocol.
    pub protocol: Protocol,
    /// The room given at connect (`?room=`), else `default`: planetstack clients' actions go here.
    pub room: RoomName,
    /// The rooms its token grants ([`RoomAccess::Any`] under open auth).
    pub access: RoomAccess,
    /// Whose connection it is: the token's `sub`, else the connection itself.
    pub user: UserId,
}

impl Session {
    fn member(&self) -> Member {
        Member {
            id: self.id.clone(),
            protocol: self.protocol,
            user: self.user.clone(),
        }
    }
}

/// Handles client actions against the ports.
#[derive(Clone)]
pub struct Handler {
    rooms: Arc<dyn RoomStore>,
    members: Arc<dyn MembershipStore>,
    queue: Arc<dyn FanoutQueue>,
    limits: HandlerLimits,
    presence: PresencePolicy,
    history: HistoryPolicy,
    message_rate: MessageRate,
}

impl Handler {
    /// Wire a handler from its ports, with the default [`HandlerLimits`].
    pub fn new(
        rooms: Arc<dyn RoomStore>,
        members: Arc<dyn MembershipStore>,
        queue: Arc<dyn FanoutQueue>,
    ) -> Self {
        Self {
            rooms,
            members,
            queue,
            limits: HandlerLimits::default(),
            presence: PresencePolicy::default(),
            history: HistoryPolicy::default(),
            message_rate: MessageRate::default(),
        }
    }

    /// The same handler recovering from history kept by `policy` (the room store
    /// keeps it by the same settings).
    pub fn with_history(mut self, policy: HistoryPolicy) -> Self {
        self.history = policy;
        self
    }

    /// The message rate the home enforces before frames reach the handler, told to
    /// clients in their `welcome`.
    pub fn with_message_rate(mut self, rate: MessageRate) -> Self {
        self.message_rate = rate;
        self
    }

    /// The message rate it tells clients in `welcome` and refuses frames over.
    pub fn message_rate(&self) -> &MessageRate {
        &self.message_rate
    }

    /// The `welcome` a connection is owed first: its id, its user and its limits.
    pub fn welcome(&self, session: &Session) -> ServerMessage {
        ServerMessage::Welcome {
            id: session.id.clone(),
            user: session.user.clone(),
            limits: Limits {
                max_rooms: self.limits.max_rooms,
                max_emit_bytes: self.limits.max_emit_bytes,
                max_frame_bytes: MAX_FRAME_BYTES,
                message_rate: self.message_rate.per_second,
                message_burst: self.message_rate.burst,
                history_size: self.history.size,
                history_seconds: self.history.ttl.as_secs(),
            },
        }
    }

    /// The same handler announcing presence by `policy` (interval and budget).
    pub fn with_presence(mut self, policy: PresencePolicy) -> Self {
        self.presence = policy;
        self
    }

    /// Presence bookkeeping over this handler's ports.
    fn presence(&self) -> Presence<'_> {
        Presence {
            members: self.members.as_ref(),
            queue: self.queue.as_ref(),
            policy: self.presence,
        }
    }

    /// The same handler enforcing `limits` (rooms per connection, emit size).
    pub fn with_limits(mut self, limits: HandlerLimits) -> Self {
        self.limits = limits;
        self
    }

    /// The limits this handler enforces.
    pub fn limits(&self) -> HandlerLimits {
        self.limits
    }

    /// Handle one text frame from `session`; returns the frames owed to the sender
    /// (acks, errors, state). Bad input yields an `error` and changes nothing.
    pub async fn message(&self, session: &Session, frame: &str) -> Vec<ServerMessage> {
        let default_room = (session.protocol == Protocol::Planetstack).then_some(&session.room);
        let msg = match ClientMessage::parse(frame, default_room) {
            Ok(msg) => msg,
            Err(e) => return vec![e.into()],
        };
        let reference = msg.reference.clone();
        if let Some(room) = msg.action.room().filter(|r| !session.access.allows(r)) {
            let e = ProtocolError::new(
                ErrorCode::Forbidden,
                format!("your token does not grant room {room}"),
            );
            return vec![e.with_ref(reference).into()];
        }
        let result = match msg.action {
            ClientAction::Join { room, since } => {
                self.join(session, room, since, msg.reference).await
            }
            ClientAction::ListMembers { room, cursor } => {
                self.list_members(room, cursor, msg.reference).await
            }
            ClientAction::Hello => {
                let mut replies = vec![self.welcome(session)];
                replies.extend(ack(msg.reference, None));
                Ok(replies)
            }
            ClientAction::Leave { room } => self.leave(session, room, msg.reference).await,
            ClientAction::ListRooms => self.list_rooms(session, msg.reference).await,
            ClientAction::GetState { room } => self.get_state(room, msg.reference).await,
            ClientAction::ChangeBackground { room, bg } => {
                self.change(
                    room,
                    crate::state::Op::ChangeBackground { bg },
                    msg.reference,
                )
                .await
            }
            ClientAction::AddIcon { room, icon } => self.add_icon(room, icon, msg.reference).await,
            ClientAction::MoveIcon { room, id, icon } => {
                self.change(room, crate::state::Op::MoveIcon { id, icon }, msg.reference)
                    .await
            }
            ClientAction::DeleteIcon { room, id } => {
                self.change(room, crate::state::Op::DeleteIcon { id }, msg.reference)
                    .await
            }
            ClientAction::Emit {
                room,
                event,
                data,
                except_sender,
            } => {
                let except = except_sender.then(|| session.id.clone());
                self.emit(room, event, data, Some(session.id.clone()), except)
                    .await
                    .map(|_| ack(msg.reference, None))
            }
        };
        result.unwrap_or_else(|e| vec![e.with_ref(reference).into()])
    }

    /// Enqueue a message for every member of `room`.
    ///
    /// Called once the message is committed (a change) or recorded in the room's
    /// history (an event), so a failure here is not the sender's: the request took
    /// effect and is acknowledged. An error would tell the client it did not, and a
    /// client that retried an `addIcon` would add a second icon. Members heal the way
    /// they do after a dead-lettered job: the next patch arrives as a gap and they
    /// resync, and a reconnect with `since` recovers from the history.
    async fn broadcast(
        &self,
        room: &RoomName,
        message: &ServerMessage,
        version: Option<u64>,
        except: Option<ConnectionId>,
        planetstack_state: bool,
    ) {
        self.enqueue(
            room,
            room_job(room, message, version, except, planetstack_state),
        )
        .await;
    }

    /// Enqueue `job` (a room's, already committed or recorded), logging a failure as
    /// [`Handler::broadcast`] explains.
    async fn enqueue(&self, room: &RoomName, job: FanoutJob) {
        let version = job.version();
        if let Err(e) = self.queue.enqueue(vec![job]).await {
            tracing::error!(
                %room, ?version, error = %e, source = ?e.source,
                "committed, but the fan-out job could not be enqueued: members catch up on their next patch or reconnect"
            );
        }
    }
}

fn room_job(
    room: &RoomName,
    message: &ServerMessage,
    version: Option<u64>,
    except: Option<ConnectionId>,
    planetstack_state: bool,
) -> FanoutJob {
    FanoutJob::Room(RoomJob {
        room: room.clone(),
        version,
        payload: message.to_v1(),
        except,
        planetstack_state,
        created_ms: now_ms(),
    })
}

/// The `ack` owed for a request: only requests that carry a `ref` are acknowledged.
fn ack(reference: Option<Ref>, version: Option<u64>) -> Vec<ServerMessage> {
    Ack::new(reference, version)
        .map(ServerMessage::from)
        .into_iter()
        .collect()
}

/// An `ack` with more to say than the version.
struct Ack {
    reference: Ref,
    version: Option<u64>,
    id: Option<IconId>,
    recovered: Option<bool>,
}

impl Ack {
    fn new(reference: Option<Ref>, version: Option<u64>) -> Option<Self> {
        Some(Self {
            reference: reference?,
            version,
            id: None,
            recovered: None,
        })
    }
}

impl From<Ack> for ServerMessage {
    fn from(a: Ack) -> Self {
        ServerMessage::Ack {
            reference: a.reference,
            version: a.version,
            id: a.id,
            recovered: a.recovered,
        }
    }
}

/// A storage or queue failure, as the client sees it.
fn internal(e: BackendError) -> ProtocolError {
    tracing::error!(error = %e, source = ?e.source, "backend failure");
    ProtocolError::new(
        ErrorCode::Internal,
        format!("the server could not complete the request: {e}"),
    )
}
