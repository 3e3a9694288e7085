//! Connections and room memberships in memory: the local gateway's
//! [`MembershipStore`] (memberships live exactly as long as the sockets they describe,
//! so a restart rightly forgets them), and the one core's tests and fuzz targets run the
//! handler on. It never fails and never waits: every `async fn` completes on its first
//! poll.

use crate::ports::{BackendError, Member, MembersPage, MembershipStore};
use crate::protocol::{ConnectionId, Protocol, RoomName, RoomSummary};
use async_trait::async_trait;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Bound;
use std::sync::Mutex;

#[derive(Default)]
struct Inner {
    /// Room → members, ordered by id so pages have a stable cursor.
    rooms: HashMap<RoomName, BTreeMap<ConnectionId, Protocol>>,
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
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding this lock leaves plain maps behind; keep serving.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
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

    async fn disconnect(&self, id: &ConnectionId) -> Result<Vec<RoomSummary>, BackendError> {
        let mut inner = self.lock();
        let rooms = inner.connections.remove(id).unwrap_or_default();
        let mut left = Vec::with_capacity(rooms.len());
        for room in rooms {
            if let Some(members) = inner.rooms.get_mut(&room) {
                members.remove(id);
                let n = count(members.len());
                if n == 0 {
                    inner.rooms.remove(&room);
                }
                left.push(RoomSummary { room, members: n });
            }
        }
        Ok(left)
    }

    async fn join(&self, room: &RoomName, member: &Member) -> Result<u32, BackendError> {
        let mut inner = self.lock();
        inner
            .connections
            .entry(member.id.clone())
            .or_default()
            .insert(room.clone());
        let members = inner.rooms.entry(room.clone()).or_default();
        members.insert(member.id.clone(), member.protocol);
        Ok(count(members.len()))
    }

    async fn join_within(
        &self,
        room: &RoomName,
        member: &Member,
        max_rooms: usize,
    ) -> Result<Option<u32>, BackendError> {
        let mut inner = self.lock();
        let rooms = inner.connections.entry(member.id.clone()).or_default();
        if !rooms.contains(room) && rooms.len() >= max_rooms {
            return Ok(None);
        }
        rooms.insert(room.clone());
        let members = inner.rooms.entry(room.clone()).or_default();
        members.insert(member.id.clone(), member.protocol);
        Ok(Some(count(members.len())))
    }

    async fn leave(&self, room: &RoomName, id: &ConnectionId) -> Result<Option<u32>, BackendError> {
        let mut inner = self.lock();
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
            .range((start, Bound::Unbounded))
            .take(limit.max(1) + 1)
            .map(|(id, protocol)| Member {
                id: id.clone(),
                protocol: *protocol,
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

    async fn rooms(&self, limit: usize) -> Result<Vec<RoomSummary>, BackendError> {
        let inner = self.lock();
        let mut rooms: Vec<RoomSummary> = inner
            .rooms
            .iter()
            .map(|(room, members)| RoomSummary {
                room: room.clone(),
                members: count(members.len()),
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

    async fn take_presence(&self, room: &RoomName, mark: u64) -> Result<u32, BackendError> {
        let mut inner = self.lock();
        if inner.presence.get(room) == Some(&mark) {
            inner.presence.remove(room);
        }
        Ok(inner.rooms.get(room).map_or(0, |m| count(m.len())))
    }
}
