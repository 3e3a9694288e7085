//! Connect admission: the room, the token, the grant, the user and the subprotocol.

use crate::Session;
use crate::auth::{AuthError, Principal, TokenVerifier, authorize_connect, bearer};
use crate::protocol::{ConnectionId, ErrorCode, Protocol, RoomName, UserId};

/// The parts of a `$connect` request the decision reads, as each home finds them.
#[derive(Debug, Default, Clone)]
pub struct ConnectRequest<'a> {
    /// `?room=`; absent: the `default` room.
    pub room: Option<&'a str>,
    /// `?token=`: browsers cannot set headers on a WebSocket.
    pub token: Option<&'a str>,
    /// The `Authorization` header (`Bearer <jwt>` or the bare token), for other clients.
    pub authorization: Option<&'a str>,
    /// The `Sec-WebSocket-Protocol` header values (each may be a comma list).
    pub protocols: Vec<&'a str>,
}

impl<'a> ConnectRequest<'a> {
    /// `?token=` wins over the `Authorization` header.
    pub fn token(&self) -> Option<&'a str> {
        self.token.or_else(|| self.authorization.map(bearer))
    }

    /// `roomcast.v1` when offered, else the planetstack wire format (no subprotocol).
    pub fn protocol(&self) -> Protocol {
        Protocol::negotiate(self.protocols.iter().flat_map(|v| v.split(',')))
    }

    fn room_name(&self) -> Result<RoomName, Refusal> {
        match self.room.map(RoomName::parse).transpose() {
            Ok(room) => Ok(room.unwrap_or_else(RoomName::default_room)),
            Err(e) => Err(Refusal::InvalidRoom(e.0)),
        }
    }
}

/// Why a connect is refused. Each says its error code and the HTTP status the local
/// gateway answers; the AWS authorizer can only deny (API Gateway answers 403).
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// `?room=` is not a room name.
    #[error("{0}")]
    InvalidRoom(&'static str),
    /// No token where one is required, or one that does not verify.
    #[error(transparent)]
    Unauthorized(AuthError),
    /// The token does not grant the connect room.
    #[error("the token does not grant room {0}")]
    Forbidden(RoomName),
    /// The token's `sub` cannot be a user id.
    #[error("{}", UserId::RULE)]
    InvalidSubject,
}

impl Refusal {
    /// The stable error code (docs/protocol.md).
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::InvalidRoom(_) => ErrorCode::InvalidRoom,
            Self::Unauthorized(_) | Self::InvalidSubject => ErrorCode::Unauthorized,
            Self::Forbidden(_) => ErrorCode::Forbidden,
        }
    }

    /// The HTTP status of the refused upgrade.
    pub fn status(&self) -> u16 {
        match self {
            Self::InvalidRoom(_) => 400,
            Self::Unauthorized(_) | Self::InvalidSubject => 401,
            Self::Forbidden(_) => 403,
        }
    }
}

impl From<AuthError> for Refusal {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::RoomNotGranted(room) => Self::Forbidden(room),
            e => Self::Unauthorized(e),
        }
    }
}

/// An admitted connect, before its connection id exists (API Gateway's authorizer
/// runs before there is one; the gateway names it after the decision).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admitted {
    /// The connect room.
    pub room: RoomName,
    /// Who it is and the rooms it may use.
    pub principal: Principal,
    /// The negotiated subprotocol.
    pub protocol: Protocol,
    /// The user id of the token's `sub`; `None`: anonymous, the connection itself.
    user: Option<UserId>,
}

impl Admitted {
    /// An admission made elsewhere (an authorizer's context), checked again: the room
    /// against the grant, the subject as a user id.
    pub fn new(room: RoomName, principal: Principal, protocol: Protocol) -> Result<Self, Refusal> {
        if !principal.rooms.allows(&room) {
            return Err(Refusal::Forbidden(room));
        }
        let user = principal
            .subject
            .as_deref()
            .map(UserId::parse)
            .transpose()
            .map_err(|_| Refusal::InvalidSubject)?;
        Ok(Self {
            room,
            principal,
            protocol,
            user,
        })
    }

    /// The connection's session, once it has an id.
    pub fn session(self, id: ConnectionId) -> Session {
        let user = self.user.unwrap_or_else(|| UserId::anonymous(&id));
        Session {
            id,
            protocol: self.protocol,
            room: self.room,
            access: self.principal.rooms,
            user,
        }
    }
}

/// The whole connect decision: the room (or `default`), the token verified when auth
/// is on (`verifier`), the room against its grant, the `sub` as a user id, the
/// subprotocol.
pub fn admit(
    verifier: Option<&TokenVerifier>,
    request: &ConnectRequest<'_>,
) -> Result<Admitted, Refusal> {
    let room = request.room_name()?;
    let principal = authorize_connect(verifier, request.token(), &room)?;
    Admitted::new(room, principal, request.protocol())
}

/// The decision again where an authorizer already made it (AWS `$connect`): its
/// grant, or `None` when the API runs without an authorizer (any room, anonymous).
pub fn readmit(
    principal: Option<Principal>,
    request: &ConnectRequest<'_>,
) -> Result<Admitted, Refusal> {
    let room = request.room_name()?;
    Admitted::new(
        room,
        principal.unwrap_or_else(Principal::anonymous),
        request.protocol(),
    )
}
