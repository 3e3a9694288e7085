//! Ports in memory. [`MemoryMembers`]: connections and room memberships, the local
//! gateway's [`MembershipStore`] (memberships live exactly as long as the sockets they
//! describe, so a restart rightly forgets them). [`MemoryRooms`]: room states and
//! their history, the [`RoomStore`] core's tests and fuzz targets run the handler on.
//! They never fail and never wait: every `async fn` completes on its first poll.

use crate::fanout::now_ms;
use crate::history::{ChangeId, History, HistoryPolicy, RoomLog};
use crate::ports::{
    BackendError, CommitError, Committed, Headcount, Left, Member, MembersPage, MembershipStore,
    RoomStore, Snapshot, UsersPage,
};
use crate::protocol::{
    ConnectionId, Epoch, Position, Protocol, RoomName, RoomSummary, ServerMessage, UserCount,
    UserId,
};
use crate::state::{Op, RoomState};
use async_trait::async_trait;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Bound;
use std::sync::{Mutex, MutexGuard};

/// One room's members, by connection and by user.
#[derive(Default)]
struct Room {
    /// Connection → protocol and user, ordered by id so pages have a stable cursor.
    connections: BTreeMap<ConnectionId, (Protocol, UserId)>,
    /// User → how many of the room's connections are theirs (never 0).
    users: BTreeMap<UserId, u32>,
}

impl Room {
    fn count(&self) -> Headcount {
        Headcount {
            members: count(self.connections.len()),
            users: count(self.users.len()),
        }
    }

    fn insert(&mut self, member: &Member) {
        let entry = (member.protocol, member.user.clone());
        if let Some(old) = self.connections.insert(member.id.clone(), entry) {
            self.forget_user(&old.1);
        }
        *self.users.entry(member.user.clone()).or_default() += 1;
    }

    fn remove(&mut self, id: &ConnectionId) -> bool {
        match self.connections.remove(id) {
            Some((_, user)) => {
                self.forget_user(&user);
                true
            }
            None => false,
        }
    }

    fn forget_user(&mut self, user: &UserId) {
        if let Some(n) = self.users.get_mut(user) {
            *n -= 1;
            if *n == 0 {
                self.users.remove(user);
            }
        }
    }
}

#[derive(Default)]
struct Inner {
    /// Room → members.
    rooms: HashMap<RoomName, Room>,
    /// Connection → the rooms it is in.
    connections: HashMap<ConnectionId, BTreeSet<RoomName>>,
    /// Room → its pending presence mark (see [`crate::presence`]).
    presence: HashMap<RoomName, u64>,
}

/// In-memory [`MembershipStore`].
#[derive(Default)]
pub struct MemoryMembers {
    inner: Mutex<Inner>,
}

impl MemoryMembers {
    /// Rooms with at least one member.
    pub fn room_count(&self) -> usize {
        self.lock().rooms.len()
    }

    /// The ids in `room`, in id order.
    pub fn ids_in(&self, room: &RoomName) -> Vec<ConnectionId> {
        self.lock()
            .rooms
            .get(room)
            .map(|m| m.connections.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Whether `id` is connected.
    pub fn is_connected(&self, id: &ConnectionId) -> bool {
        self.lock().connections.contains_key(id)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        lock(&self.inner)
    }
}

/// A panic while holding one of these locks leaves plain maps behind; keep serving.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[async_trait]
impl MembershipStore for MemoryMembers {
    async fn connect(&self, member: &Member) -> Result<(), BackendError> {
        self.lock()
            .connections
            .entry(member.id.clone())
            .or_default();
        Ok(())
    }

    async fn disconnect(&self, id: &ConnectionId) -> Result<Vec<Left>, BackendError> {
        let mut inner = self.lock();
        let rooms = inner.connections.remove(id).unwrap_or_default();
        let mut left = Vec::with_capacity(rooms.len());
        for room in rooms {
            if let Some(members) = inner.rooms.get_mut(&room) {
                members.remove(id);
                let count = members.count();
                if count.members == 0 {
                    inner.rooms.remove(&room);
                }
                left.push(Left { room, count });
            }
        }
        Ok(left)
    }

    async fn join(&self, room: &RoomName, member: &Member) -> Result<Headcount, BackendError> {
        let mut inner = self.lock();
        inner
            .connections
            .entry(member.id.clone())
            .or_default()
            .insert(room.clone());
        let members = inner.rooms.entry(room.clone()).or_default();
        members.insert(member);
        Ok(members.count())
    }

    async fn join_within(
        &self,
        room: &RoomName,
        member: &Member,
        max_rooms: usize,
    ) -> Result<Option<Headcount>, BackendError> {
        let mut inner = self.lock();
        let rooms = inner.connections.entry(member.id.clone()).or_default();
        if !rooms.contains(room) && rooms.len() >= max_rooms {
            return Ok(None);
        }
        rooms.insert(room.clone());
        let members = inner.rooms.entry(room.clone()).or_default();
        members.insert(member);
        Ok(Some(members.count()))
    }

    async fn leave(
        &self,
        room: &RoomName,
        id: &ConnectionId,
    ) -> Result<Option<Headcount>, BackendError> {
        let mut inner = self.lock();
        if let Some(rooms) = inner.connections.get_mut(id) {
            rooms.remove(room);
        }
        let Some(members) = inner.rooms.get_mut(room) else {
            return Ok(None);
        };
        if !members.remove(id) {
            return Ok(None);
        }
        let count = members.count();
        if count.members == 0 {
            inner.rooms.remove(room);
        }
        Ok(Some(count))
    }

    async fn members(
        &self,
        room: &RoomName,
        cursor: Option<String>,
        limit: usize,
    ) -> Result<MembersPage, BackendError> {
        let inner = self.lock();
        let Some(members) = inner.rooms.get(room) else {
            return Ok(MembersPage::default());
        };
        let start = match cursor.map(ConnectionId::parse) {
            Some(Ok(after)) => Bound::Excluded(after),
            Some(Err(e)) => return Err(BackendError::new("bad members cursor", e)),
            None => Bound::Unbounded,
        };
        let mut page: Vec<Member> = members
            .connections
            .range((start, Bound::Unbounded))
            .take(limit.max(1) + 1)
            .map(|(id, (protocol, user))| Member {
                id: id.clone(),
                protocol: *protocol,
                user: user.clone(),
            })
            .collect();
        let next = if page.len() > limit.max(1) {
            page.pop();
            page.last().map(|m| m.id.as_str().to_owned())
        } else {
            None
        };
        Ok(MembersPage {
            members: page,
            next,
        })
    }

    async fn users(
        &self,
        room: &RoomName,
        after: Option<UserId>,
        limit: usize,
    ) -> Result<UsersPage, BackendError> {
        let inner = self.lock();
        let Some(members) = inner.rooms.get(room) else {
            return Ok(UsersPage::default());
        };
        let start = after.map_or(Bound::Unbounded, Bound::Excluded);
        let limit = limit.max(1);
        let mut users: Vec<UserCount> = members
            .users
            .range((start, Bound::Unbounded))
            .take(limit + 1)
            .map(|(user, n)| UserCount {
                user: user.clone(),
                connections: *n,
            })
            .collect();
        let next = if users.len() > limit {
            users.pop();
            users.last().map(|u| u.user.clone())
        } else {
            None
        };
        Ok(UsersPage { users, next })
    }

    async fn rooms(&self, limit: usize) -> Result<Vec<RoomSummary>, BackendError> {
        let inner = self.lock();
        let mut rooms: Vec<RoomSummary> = inner
            .rooms
            .iter()
            .map(|(room, in_room)| {
                let Headcount { members, users } = in_room.count();
                RoomSummary {
                    room: room.clone(),
                    members,
                    users,
                }
            })
            .collect();
        rooms.sort_by(|a, b| b.members.cmp(&a.members).then_with(|| a.room.cmp(&b.room)));
        rooms.truncate(limit);
        Ok(rooms)
    }

    async fn mark_presence(
        &self,
        room: &RoomName,
        mark: u64,
        stale_before: u64,
    ) -> Result<bool, BackendError> {
        let mut inner = self.lock();
        match inner.presence.get(room) {
            Some(&pending) if pending >= stale_before => Ok(false),
            _ => {
                inner.presence.insert(room.clone(), mark);
                Ok(true)
            }
        }
    }

    async fn take_presence(&self, room: &RoomName, mark: u64) -> Result<Headcount, BackendError> {
        let mut inner = self.lock();
        if inner.presence.get(room) == Some(&mark) {
            inner.presence.remove(room);
        }
        Ok(inner.rooms.get(room).map(Room::count).unwrap_or_default())
    }
}

/// One room in [`MemoryRooms`]: its state and its history.
#[derive(Default)]
struct RoomSlot {
    state: RoomState,
    log: RoomLog,
}

/// Room states and their histories in a map. A commit is `RoomState::apply` and the
/// history push under one lock: atomic, the version and the offset go up by exactly
/// one, concurrent commits never lose each other. One epoch per store: its history
/// lives and dies with it.
pub struct MemoryRooms {
    rooms: Mutex<BTreeMap<RoomName, RoomSlot>>,
    icon_cap: usize,
    history: HistoryPolicy,
    epoch: Epoch,
}

impl MemoryRooms {
    /// Bases hold at most `icon_cap` icons; history is kept by the default policy.
    pub fn new(icon_cap: usize) -> Self {
        Self::with_history(icon_cap, HistoryPolicy::default())
    }

    /// Bases hold at most `icon_cap` icons; history is kept by `history`.
    pub fn with_history(icon_cap: usize, history: HistoryPolicy) -> Self {
        Self {
            rooms: Mutex::default(),
            icon_cap,
            history,
            epoch: Epoch::generate(),
        }
    }

    /// The icon cap.
    pub fn icon_cap(&self) -> usize {
        self.icon_cap
    }

    /// The epoch of every room's history here.
    pub fn epoch(&self) -> &Epoch {
        &self.epoch
    }

    /// A room's state (version 0 and empty if never written).
    pub fn get(&self, room: &RoomName) -> RoomState {
        lock(&self.rooms)
            .get(room)
            .map(|r| r.state.clone())
            .unwrap_or_default()
    }

    /// Every room whose state was ever written (a room with only events has none).
    pub fn all(&self) -> BTreeMap<RoomName, RoomState> {
        lock(&self.rooms)
            .iter()
            .filter(|(_, r)| r.state.version > 0)
            .map(|(name, r)| (name.clone(), r.state.clone()))
            .collect()
    }

    /// Commit `op` as the handler would (fixtures too): apply it, record its patch.
    pub fn apply(&self, room: &RoomName, op: &Op) -> Result<Committed, CommitError> {
        let mut rooms = lock(&self.rooms);
        let mut state = rooms.get(room).map(|r| r.state.clone()).unwrap_or_default();
        // A refused op leaves no trace, not even an empty room.
        let version = state.apply(op, self.icon_cap)?;
        let slot = rooms.entry(room.clone()).or_default();
        slot.state = state;
        let patch = ServerMessage::Patch {
            room: room.clone(),
            version,
            op: op.clone(),
            at: None,
        };
        let at = slot.log.push(patch, &self.epoch, &self.history, now_ms());
        Ok(Committed { version, at })
    }

    fn head(&self, log: Option<&RoomLog>) -> Position {
        Position {
            offset: log.map_or(0, RoomLog::head),
            epoch: self.epoch.clone(),
        }
    }
}

#[async_trait]
impl RoomStore for MemoryRooms {
    async fn load(&self, room: &RoomName) -> Result<Snapshot, BackendError> {
        let rooms = lock(&self.rooms);
        let slot = rooms.get(room);
        Ok(Snapshot {
            state: slot.map(|r| r.state.clone()).unwrap_or_default(),
            at: self.head(slot.map(|r| &r.log)),
        })
    }

    async fn commit(
        &self,
        room: &RoomName,
        op: &Op,
        _change: &ChangeId,
    ) -> Result<Committed, CommitError> {
        self.apply(room, op)
    }

    async fn append(
        &self,
        room: &RoomName,
        event: &ServerMessage,
        _change: &ChangeId,
    ) -> Result<Position, BackendError> {
        let mut rooms = lock(&self.rooms);
        let slot = rooms.entry(room.clone()).or_default();
        Ok(slot
            .log
            .push(event.clone(), &self.epoch, &self.history, now_ms()))
    }

    async fn history(&self, room: &RoomName, after: u64) -> Result<History, BackendError> {
        let rooms = lock(&self.rooms);
        Ok(match rooms.get(room) {
            Some(slot) => slot.log.after(after, &self.epoch),
            None => History {
                head: self.head(None),
                entries: vec![],
            },
        })
    }
}
