//! In-memory implementations of core's ports. They never fail and never wait: every
//! `async fn` completes on its first poll, so a fuzz target can drive the real
//! [`Handler`] with `futures::executor::block_on`.

use async_trait::async_trait;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};

use roomcast_core::Handler;
use roomcast_core::fanout::FanoutJob;
use roomcast_core::ports::{
    BackendError, CommitError, FanoutQueue, Member, MembersPage, MembershipStore, RoomStore,
};
use roomcast_core::protocol::{ConnectionId, Protocol, RoomName, RoomSummary};
use roomcast_core::state::{Op, RoomState};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Room states in a map. A commit is `RoomState::apply` under one lock: atomic, the
/// version goes up by exactly one, concurrent commits never lose each other.
pub struct MemoryRooms {
    states: Mutex<BTreeMap<RoomName, RoomState>>,
    icon_cap: usize,
}

impl MemoryRooms {
    /// Bases hold at most `icon_cap` icons.
    pub fn new(icon_cap: usize) -> Self {
        Self {
            states: Mutex::default(),
            icon_cap,
        }
    }

    /// The icon cap.
    pub fn icon_cap(&self) -> usize {
        self.icon_cap
    }

    /// A room's state (version 0 and empty if never written).
    pub fn get(&self, room: &RoomName) -> RoomState {
        lock(&self.states).get(room).cloned().unwrap_or_default()
    }

    /// Every room ever written.
    pub fn all(&self) -> BTreeMap<RoomName, RoomState> {
        lock(&self.states).clone()
    }

    /// Commit `op` directly (fixtures), as the handler would.
    pub fn apply(&self, room: &RoomName, op: &Op) -> Result<u64, CommitError> {
        let mut states = lock(&self.states);
        let mut state = states.get(room).cloned().unwrap_or_default();
        // A refused op leaves no trace, not even an empty room.
        let version = state.apply(op, self.icon_cap)?;
        states.insert(room.clone(), state);
        Ok(version)
    }
}

#[async_trait]
impl RoomStore for MemoryRooms {
    async fn load(&self, room: &RoomName) -> Result<RoomState, BackendError> {
        Ok(self.get(room))
    }

    async fn commit(&self, room: &RoomName, op: &Op) -> Result<u64, CommitError> {
        self.apply(room, op)
    }
}

#[derive(Default)]
struct MembersInner {
    connections: BTreeMap<ConnectionId, BTreeSet<RoomName>>,
    rooms: BTreeMap<RoomName, BTreeMap<ConnectionId, Protocol>>,
}

/// Connections and memberships in sorted maps; pages use the last id as the cursor.
#[derive(Default)]
pub struct MemoryMembers {
    inner: Mutex<MembersInner>,
}

impl MemoryMembers {
    /// The ids in `room`.
    pub fn ids_in(&self, room: &RoomName) -> Vec<ConnectionId> {
        lock(&self.inner)
            .rooms
            .get(room)
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    }
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[async_trait]
impl MembershipStore for MemoryMembers {
    async fn connect(&self, member: &Member) -> Result<(), BackendError> {
        lock(&self.inner)
            .connections
            .entry(member.id.clone())
            .or_default();
        Ok(())
    }

    async fn disconnect(&self, id: &ConnectionId) -> Result<Vec<RoomSummary>, BackendError> {
        let mut inner = lock(&self.inner);
        let rooms = inner.connections.remove(id).unwrap_or_default();
        let mut left = Vec::new();
        for room in rooms {
            if let Some(members) = inner.rooms.get_mut(&room) {
                members.remove(id);
                let members = count(members.len());
                if members == 0 {
                    inner.rooms.remove(&room);
                }
                left.push(RoomSummary { room, members });
            }
        }
        Ok(left)
    }

    async fn join(&self, room: &RoomName, member: &Member) -> Result<u32, BackendError> {
        let mut inner = lock(&self.inner);
        inner
            .connections
            .entry(member.id.clone())
            .or_default()
            .insert(room.clone());
        let members = inner.rooms.entry(room.clone()).or_default();
        members.insert(member.id.clone(), member.protocol);
        Ok(count(members.len()))
    }

    async fn leave(&self, room: &RoomName, id: &ConnectionId) -> Result<Option<u32>, BackendError> {
        let mut inner = lock(&self.inner);
        if let Some(rooms) = inner.connections.get_mut(id) {
            rooms.remove(room);
        }
        let Some(members) = inner.rooms.get_mut(room) else {
            return Ok(None);
        };
        if members.remove(id).is_none() {
            return Ok(None);
        }
        let n = count(members.len());
        if n == 0 {
            inner.rooms.remove(room);
        }
        Ok(Some(n))
    }

    async fn members(
        &self,
        room: &RoomName,
        cursor: Option<String>,
        limit: usize,
    ) -> Result<MembersPage, BackendError> {
        let inner = lock(&self.inner);
        let Some(all) = inner.rooms.get(room) else {
            return Ok(MembersPage::default());
        };
        let mut page: Vec<Member> = all
            .iter()
            .filter(|(id, _)| cursor.as_deref().is_none_or(|c| id.as_str() > c))
            .take(limit.saturating_add(1))
            .map(|(id, protocol)| Member {
                id: id.clone(),
                protocol: *protocol,
            })
            .collect();
        let next = if page.len() > limit {
            page.truncate(limit);
            page.last().map(|m| m.id.as_str().to_owned())
        } else {
            None
        };
        Ok(MembersPage {
            members: page,
            next,
        })
    }

    async fn rooms(&self, limit: usize) -> Result<Vec<RoomSummary>, BackendError> {
        let inner = lock(&self.inner);
        let mut rooms: Vec<RoomSummary> = inner
            .rooms
            .iter()
            .map(|(room, m)| RoomSummary {
                room: room.clone(),
                members: count(m.len()),
            })
            .collect();
        rooms.sort_by(|a, b| b.members.cmp(&a.members).then_with(|| a.room.cmp(&b.room)));
        rooms.truncate(limit);
        Ok(rooms)
    }
}

/// Collects enqueued fan-out jobs in enqueue order.
#[derive(Default)]
pub struct RecordingQueue {
    jobs: Mutex<Vec<FanoutJob>>,
}

impl RecordingQueue {
    /// The jobs enqueued since the last call.
    pub fn take(&self) -> Vec<FanoutJob> {
        std::mem::take(&mut *lock(&self.jobs))
    }
}

#[async_trait]
impl FanoutQueue for RecordingQueue {
    async fn enqueue(&self, jobs: Vec<FanoutJob>) -> Result<(), BackendError> {
        lock(&self.jobs).extend(jobs);
        Ok(())
    }
}

/// A handler on fresh in-memory ports, and the ports to inspect.
pub struct World {
    pub handler: Handler,
    pub rooms: Arc<MemoryRooms>,
    pub members: Arc<MemoryMembers>,
    pub queue: Arc<RecordingQueue>,
}

impl World {
    /// Bases hold at most `icon_cap` icons.
    pub fn new(icon_cap: usize) -> Self {
        let rooms = Arc::new(MemoryRooms::new(icon_cap));
        let members = Arc::new(MemoryMembers::default());
        let queue = Arc::new(RecordingQueue::default());
        let handler = Handler::new(rooms.clone(), members.clone(), queue.clone());
        Self {
            handler,
            rooms,
            members,
            queue,
        }
    }
}
