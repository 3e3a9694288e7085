//! The requests a [`Client`] sends: membership, reads, game actions, events, and
//! the room and member lists; each resolves on its `ack` (and the frame that follows).

use tokio::sync::oneshot;

use super::driver::{Command, Kind, Outgoing, Reply};
use super::{Client, Room};
use crate::protocol::limits::MAX_FRAME_BYTES;
use crate::protocol::{
    Background, ClientAction, ClientMessage, Icon, IconId, Ref, RoomName, RoomSummary, UserCount,
    UserId,
};
use crate::{Error, Snapshot};

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

    /// The most active rooms with their member and user counts (at most 50; a server
    /// older than presence by user leaves `users` at 0).
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

    /// Send `action` with a fresh `ref` and wait for its answer.
    pub(super) async fn request(&self, action: ClientAction, kind: Kind) -> Result<Reply, Error> {
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
