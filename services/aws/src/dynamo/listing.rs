//! `listRooms`: the busiest rooms, with their member and user counts.
//!
//! The `byMembers` index (`lpk`, `members`) gives the order, but it projects keys only,
//! so `users` is not in it. Each listed room's counts are then read from its room item
//! (`headcount`, a consistent `GetItem` of `members` and `users`): changing the index
//! to project `users` would mean replacing it on the live table (a GSI's projection
//! cannot be updated in place), and a `BatchGetItem` costs the same read units as the
//! `GetItem`s while needing another IAM action. Both counts come from the same read, so
//! a listed room never shows more users than members.
//!
//! A room item written before users were counted (and not joined or left since, which
//! would have added `users`) has no `users` attribute and lists 0 users, as its
//! `presence` count and `listMembers` pages say: its memberships carry no user and it
//! has no user items, so the store has no users of it to report.

use futures::{StreamExt, TryStreamExt, stream};
use roomcast_core::ports::BackendError;
use roomcast_core::protocol::{RoomName, RoomSummary};

use super::{BY_MEMBERS_INDEX, DynamoStore, ROOMS_LPK, backend, n, s};

/// Room items read at once while listing (one listing is at most 50 rooms on the
/// `listRooms` path; this bounds the connections one Lambda opens for it).
const READS_AT_ONCE: usize = 16;

impl DynamoStore {
    /// `MembershipStore::rooms`: up to `limit` rooms with members, most members first
    /// (then by name), each with the counts its room item holds now.
    pub(super) async fn list_rooms(&self, limit: usize) -> Result<Vec<RoomSummary>, BackendError> {
        let listed = self.busiest(limit).await?;
        let mut rooms: Vec<RoomSummary> = stream::iter(listed)
            .map(|room| async move {
                let count = self.headcount(&room).await?;
                Ok::<_, BackendError>(RoomSummary {
                    room,
                    members: count.members,
                    users: count.users,
                })
            })
            .buffered(READS_AT_ONCE)
            .try_collect()
            .await?;
        // The index lags its table: a room emptied since it was listed is left out, and
        // the order follows the counts read, as the memory store orders its listing.
        rooms.retain(|r| r.members > 0);
        rooms.sort_by(|a, b| b.members.cmp(&a.members).then_with(|| a.room.cmp(&b.room)));
        Ok(rooms)
    }

    /// The names of up to `limit` rooms with members, from the `byMembers` index.
    async fn busiest(&self, limit: usize) -> Result<Vec<RoomName>, BackendError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(BY_MEMBERS_INDEX)
            .key_condition_expression("lpk = :lpk AND members > :zero")
            .expression_attribute_values(":lpk", s(ROOMS_LPK))
            .expression_attribute_values(":zero", n(0))
            .scan_index_forward(false)
            .limit(limit.clamp(1, 1000) as i32)
            .send()
            .await
            .map_err(backend("listing rooms"))?;
        Ok(out
            .items()
            .iter()
            .filter_map(|item| {
                let pk = item.get("pk")?.as_s().ok()?;
                RoomName::parse(pk.strip_prefix("ROOM#")?).ok()
            })
            .collect())
    }
}
