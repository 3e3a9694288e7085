//! Room state in redb: one row per room (`version`, `bg`) and one per icon, so a
//! commit writes only what its op touches, like the DynamoDB `UpdateItem`s on AWS.
//!
//! Rooms are cached in memory once read. A per-room async mutex serializes commits to
//! one room (the version must go up by exactly one) while rooms commit in parallel.
//!
//! Each room's history (core's [`RoomLog`]) lives in memory only, behind a lock of its
//! own: a commit records its patch while it holds the room's commit lock (so a state and
//! the offset it is current to are read together), but an `emit` only takes the history
//! lock and never waits for a commit's disk write. Writing every event to disk would cost a
//! durable write per `emit`, which emits never paid before; instead the store has one
//! epoch per process, and a restart tells clients, by its new epoch, that the history
//! behind their offsets is gone (they get the state, which redb kept).

use async_trait::async_trait;
use dashmap::DashMap;
use redb::{Database, ReadableDatabase, TableDefinition};
use roomcast_core::fanout::now_ms;
use roomcast_core::history::{ChangeId, History, HistoryPolicy, RoomLog};
use roomcast_core::ports::{BackendError, CommitError, Committed, RoomStore, Snapshot};
use roomcast_core::protocol::{Background, Epoch, Icon, IconId, Position, RoomName, ServerMessage};
use roomcast_core::state::{GameState, Op, RoomState};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Arc;
use tokio::sync::Mutex;

const ROOMS: TableDefinition<&str, &[u8]> = TableDefinition::new("rooms");
const ICONS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("icons");

/// The room row.
#[derive(Serialize, Deserialize)]
struct RoomRow {
    version: u64,
    bg: Background,
}

/// Why the database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The directory could not be created.
    #[error("cannot create data dir {path}")]
    Dir {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// redb refused (locked by another process, corrupt, …).
    #[error("cannot open database {path}")]
    Db {
        path: String,
        #[source]
        source: redb::DatabaseError,
    },
}

/// One room in memory: its state once read, and its history.
#[derive(Default)]
struct Slot {
    state: Mutex<Option<RoomState>>,
    log: std::sync::Mutex<RoomLog>,
}

impl Slot {
    fn log(&self) -> std::sync::MutexGuard<'_, RoomLog> {
        // A panic while holding it leaves a plain ring behind; keep serving.
        self.log.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Durable room state for the local gateway, with each room's history in memory.
pub struct EmbeddedStore {
    db: Arc<Database>,
    rooms: DashMap<RoomName, Arc<Slot>>,
    icon_cap: usize,
    history: HistoryPolicy,
    /// This process's history epoch.
    epoch: Epoch,
}

impl EmbeddedStore {
    /// Open (or create) `rooms.redb` under `dir`.
    pub fn open(dir: &Path, icon_cap: usize) -> Result<Self, OpenError> {
        Self::open_with_history(dir, icon_cap, HistoryPolicy::default())
    }

    /// [`EmbeddedStore::open`], keeping each room's history by `history`.
    pub fn open_with_history(
        dir: &Path,
        icon_cap: usize,
        history: HistoryPolicy,
    ) -> Result<Self, OpenError> {
        std::fs::create_dir_all(dir).map_err(|source| OpenError::Dir {
            path: dir.display().to_string(),
            source,
        })?;
        let path = dir.join("rooms.redb");
        let db = Database::create(&path).map_err(|source| OpenError::Db {
            path: path.display().to_string(),
            source,
        })?;
        Ok(Self {
            db: Arc::new(db),
            rooms: DashMap::new(),
            icon_cap,
            history,
            epoch: Epoch::generate(),
        })
    }

    fn slot(&self, room: &RoomName) -> Arc<Slot> {
        self.rooms.entry(room.clone()).or_default().clone()
    }

    /// Drop history entries older than the policy keeps, in every room: entries are
    /// otherwise trimmed only when their room records the next one, so a room that went
    /// quiet would hold its last ones for the life of the process.
    pub fn expire_history(&self) {
        let now = now_ms();
        for slot in self.rooms.iter() {
            slot.log().expire(&self.history, now);
        }
    }

    /// How often [`Self::expire_history`] is worth running: half the ttl, at least 1 s.
    pub fn history_sweep_interval(&self) -> std::time::Duration {
        (self.history.ttl / 2).max(std::time::Duration::from_secs(1))
    }

    fn position(&self, offset: u64) -> Position {
        Position {
            offset,
            epoch: self.epoch.clone(),
        }
    }

    /// Read a room from disk (blocking; run on the blocking pool).
    fn read(db: &Database, room: &str) -> Result<RoomState, BackendError> {
        let fail = |e: Box<dyn std::error::Error + Send + Sync>| {
            BackendError::new(format!("reading room {room}"), e)
        };
        let txn = db.begin_read().map_err(|e| fail(e.into()))?;
        let rooms = match txn.open_table(ROOMS) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(RoomState::default()),
            Err(e) => return Err(fail(e.into())),
        };
        let Some(row) = rooms.get(room).map_err(|e| fail(e.into()))? else {
            return Ok(RoomState::default());
        };
        let row: RoomRow = serde_json::from_slice(row.value()).map_err(|e| fail(e.into()))?;
        let mut state = GameState {
            bg: row.bg,
            ..GameState::default()
        };
        let icons = txn.open_table(ICONS).map_err(|e| fail(e.into()))?;
        // Icon ids are ASCII alphanumerics, all below '~'.
        for entry in icons
            .range((room, "")..(room, "~"))
            .map_err(|e| fail(e.into()))?
        {
            let (key, value) = entry.map_err(|e| fail(e.into()))?;
            let id = IconId::parse(key.value().1).map_err(|e| fail(e.into()))?;
            let icon: Icon = serde_json::from_slice(value.value()).map_err(|e| fail(e.into()))?;
            state.icons.insert(id, icon);
        }
        Ok(RoomState {
            version: row.version,
            state,
        })
    }

    /// Write one op's effect durably (blocking; run on the blocking pool).
    fn write(db: &Database, room: &str, row: &RoomRow, op: &Op) -> Result<(), BackendError> {
        let fail = |e: Box<dyn std::error::Error + Send + Sync>| {
            BackendError::new(format!("committing to room {room}"), e)
        };
        let txn = db.begin_write().map_err(|e| fail(e.into()))?;
        {
            let mut rooms = txn.open_table(ROOMS).map_err(|e| fail(e.into()))?;
            let bytes = serde_json::to_vec(row).map_err(|e| fail(e.into()))?;
            rooms
                .insert(room, bytes.as_slice())
                .map_err(|e| fail(e.into()))?;
            let mut icons = txn.open_table(ICONS).map_err(|e| fail(e.into()))?;
            match op {
                Op::ChangeBackground { .. } => {}
                Op::AddIcon { id, icon } | Op::MoveIcon { id, icon } => {
                    let bytes = serde_json::to_vec(icon).map_err(|e| fail(e.into()))?;
                    icons
                        .insert((room, id.as_str()), bytes.as_slice())
                        .map_err(|e| fail(e.into()))?;
                }
                Op::DeleteIcon { id } => {
                    icons
                        .remove((room, id.as_str()))
                        .map_err(|e| fail(e.into()))?;
                }
            }
        }
        txn.commit().map_err(|e| fail(e.into()))
    }

    async fn loaded<'a>(
        &self,
        guard: &'a mut Option<RoomState>,
        room: &RoomName,
    ) -> Result<&'a mut RoomState, BackendError> {
        if guard.is_none() {
            let db = self.db.clone();
            let name = room.as_str().to_owned();
            let state = tokio::task::spawn_blocking(move || Self::read(&db, &name))
                .await
                .map_err(|e| BackendError::new("reading room", e))??;
            *guard = Some(state);
        }
        Ok(guard.as_mut().expect("loaded above"))
    }
}

#[async_trait]
impl RoomStore for EmbeddedStore {
    async fn load(&self, room: &RoomName) -> Result<Snapshot, BackendError> {
        let slot = self.slot(room);
        let mut guard = slot.state.lock().await;
        let state = self.loaded(&mut guard, room).await?.clone();
        // Under the commit lock: every patch at or below this head is in `state`.
        let head = slot.log().head();
        Ok(Snapshot {
            state,
            at: self.position(head),
        })
    }

    /// One process applies each commit once; a change id would only matter to a store
    /// that can see a request retried, which an in-process call is not.
    async fn commit(
        &self,
        room: &RoomName,
        op: &Op,
        _change: &ChangeId,
    ) -> Result<Committed, CommitError> {
        let slot = self.slot(room);
        let mut guard = slot.state.lock().await;
        let state = self.loaded(&mut guard, room).await?;
        state.check(op, self.icon_cap)?;
        let bg = match op {
            Op::ChangeBackground { bg } => *bg,
            _ => state.state.bg,
        };
        let row = RoomRow {
            version: state.version + 1,
            bg,
        };
        let (db, name, op_owned) = (self.db.clone(), room.as_str().to_owned(), op.clone());
        tokio::task::spawn_blocking(move || Self::write(&db, &name, &row, &op_owned))
            .await
            .map_err(|e| BackendError::new("committing", e))??;
        // Durable now; the cache follows (check passed, so apply cannot fail).
        let version = state.apply(op, self.icon_cap)?;
        let patch = ServerMessage::Patch {
            room: room.clone(),
            version,
            op: op.clone(),
            at: None,
        };
        let at = slot.log().push(patch, &self.epoch, &self.history, now_ms());
        Ok(Committed { version, at })
    }

    async fn append(
        &self,
        room: &RoomName,
        event: &ServerMessage,
        _change: &ChangeId,
    ) -> Result<Position, BackendError> {
        Ok(self
            .slot(room)
            .log()
            .push(event.clone(), &self.epoch, &self.history, now_ms()))
    }

    async fn history(&self, room: &RoomName, after: u64) -> Result<History, BackendError> {
        Ok(self.slot(room).log().after(after, &self.epoch))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use roomcast_core::protocol::EventName;
    use serde_json::value::RawValue;
    use std::time::Duration;

    fn event(room: &RoomName) -> ServerMessage {
        ServerMessage::Event {
            room: room.clone(),
            event: EventName::parse("chat").unwrap(),
            data: RawValue::from_string("1".into()).unwrap(),
            from: None,
            at: None,
        }
    }

    #[tokio::test]
    async fn a_quiet_rooms_history_expires_in_the_sweep_and_its_offsets_go_on() {
        let dir = tempfile::tempdir().unwrap();
        let policy = HistoryPolicy {
            size: 10,
            ttl: Duration::from_secs(1),
        };
        let store = EmbeddedStore::open_with_history(dir.path(), 10, policy).unwrap();
        let room = RoomName::parse("quiet").unwrap();
        for _ in 0..3 {
            store
                .append(&room, &event(&room), &ChangeId::generate())
                .await
                .unwrap();
        }
        assert_eq!(store.history(&room, 0).await.unwrap().entries.len(), 3);
        tokio::time::sleep(Duration::from_millis(1_100)).await;
        store.expire_history();
        let history = store.history(&room, 0).await.unwrap();
        assert!(history.entries.is_empty(), "expired without a new entry");
        assert_eq!(history.head.offset, 3);
        let next = store
            .append(&room, &event(&room), &ChangeId::generate())
            .await
            .unwrap();
        assert_eq!(next.offset, 4, "offsets never go back");
    }
}
