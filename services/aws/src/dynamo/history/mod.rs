//! Each room's history in the table, written once per change.
//!
//! | item | pk | sk | attributes |
//! | --- | --- | --- | --- |
//! | history entry | `HIST#<room>` | offset, 20 digits | frame (v1 JSON, placed), change, at (ms), exp |
//! | change marker | `HIST#<room>` | `CHANGE#<change id>` | offset, epoch, version, exp |
//!
//! The room state item holds the history's `head` (offset of the last entry) and its
//! `epoch` (set once, `if_not_exists`). Recording a change reads `version, head, epoch`
//! (and what the op's check needs), then writes ONE `TransactWriteItems`:
//!
//! 0. the room item: the op's own update, `SET head = :next, version = :version`, on
//!    the condition that `head` is still what was read — so two writers can never take
//!    the same offset, and the version rises by exactly one per change;
//! 1. the history entry at `:next` (`attribute_not_exists(sk)`);
//! 2. the change's marker (`attribute_not_exists(sk)`): a change id is recorded at
//!    most once, whatever the head has become since.
//!
//! A cancelled transaction whose marker condition failed was a retry of a change
//! already recorded: the marker says where it went, and that is the answer. A failed
//! head condition (another writer got there first) re-reads and tries the next offset,
//! a bounded number of times with jitter. `ClientRequestToken` (per attempt) lets the
//! SDK's own retries of one attempt hit DynamoDB's 10-minute idempotency.
//!
//! Entries expire by TTL (`exp` = now + `HISTORY_TTL`), which deletes late: readers
//! also filter by `at` (`History::recover`).

mod read;

use std::time::Duration;

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use roomcast_core::history::ChangeId;
use roomcast_core::ports::{BackendError, CommitError};
use roomcast_core::protocol::{Position, RoomName, ServerMessage};

pub(super) use read::Head;
use read::parse_epoch;

use super::rooms::Clauses;
use super::{DynamoStore, STATE_SK, backend, built, cancel_reason, n, now, number, room_pk, s};

/// Attempts at one change before giving up on a room too contended to write (a burst
/// of N concurrent changes to one room costs the last of them up to N attempts).
const MAX_ATTEMPTS: u32 = 64;
/// A change marker outlives its entry by this much, so a late retry still finds it.
const MARKER_MARGIN: Duration = Duration::from_secs(15 * 60);

fn hist_pk(room: &RoomName) -> AttributeValue {
    s(format!("HIST#{}", room.as_str()))
}

/// Zero-padded so the sort key orders as the offset does.
fn offset_sk(offset: u64) -> String {
    format!("{offset:020}")
}

/// The `ClientRequestToken` of one attempt (at most 36 characters): the change id and
/// the attempt, or a digest of them for a long change id (an SQS message id).
fn request_token(change: &ChangeId, attempt: u32) -> String {
    use std::hash::{Hash, Hasher};
    let token = format!("{}-{attempt}", change.as_str());
    if token.len() <= 36 {
        return token;
    }
    let digest = |salt: u8| {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (salt, &token).hash(&mut h);
        h.finish()
    };
    format!("{:016x}{:016x}", digest(0), digest(1))
}

fn change_sk(change: &ChangeId) -> AttributeValue {
    s(format!("CHANGE#{}", change.as_str()))
}

/// One change to record: the room item's own update (empty for an event), the frame
/// to place at the next offset, and the version the change makes (a commit's).
pub(super) struct Change {
    pub clauses: Clauses,
    pub message: ServerMessage,
    pub version: Option<u64>,
}

/// Where a change was recorded.
pub(super) struct Recorded {
    pub at: Position,
    pub version: Option<u64>,
}

impl DynamoStore {
    /// Record a change as the room's next history entry, exactly once per `change`:
    /// `prepare` checks it against the room as read (a commit's op check) and says
    /// what to write.
    pub(super) async fn record(
        &self,
        room: &RoomName,
        change: &ChangeId,
        icon: Option<&str>,
        prepare: impl Fn(&Head) -> Result<Change, CommitError>,
    ) -> Result<Recorded, CommitError> {
        for attempt in 0..MAX_ATTEMPTS {
            let head = self.read_head(room, icon).await?;
            let write = match prepare(&head) {
                Ok(write) => write,
                // A retried change that already applied no longer passes its check
                // (its icon is gone): the marker has the answer.
                Err(CommitError::Rejected(e)) => {
                    return match self.recorded(room, change).await? {
                        Some(done) => Ok(done),
                        None => Err(CommitError::Rejected(e)),
                    };
                }
                Err(e) => return Err(e),
            };
            let next = head.head.unwrap_or(0) + 1;
            let at = Position {
                offset: next,
                epoch: head.epoch.clone(),
            };
            let items = self.transaction(room, change, &head, write, &at)?;
            let result = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items.0))
                .client_request_token(request_token(change, attempt))
                .send()
                .await;
            let error = match result {
                Ok(_) => return Ok(items.1),
                Err(e) => e,
            };
            let already = cancel_reason(&error, 2) == Some("ConditionalCheckFailed")
                || matches!(
                    error.as_service_error(),
                    Some(TransactWriteItemsError::IdempotentParameterMismatchException(_))
                );
            if already && let Some(done) = self.recorded(room, change).await? {
                return Ok(done);
            }
            if !already && !lost_a_race(&error) {
                return Err(backend(format!("recording a change of room {room}"))(error).into());
            }
            // Another writer took the offset: back off (full jitter, capped), and retry on
            // a fresh read. Losers spread out, so a burst on one room drains in turn.
            let cap = (10u64 << attempt.min(4)).min(160);
            tokio::time::sleep(Duration::from_millis(rand::random::<u64>() % cap)).await;
        }
        Err(BackendError::new(
            format!("recording a change of room {room}"),
            format!("the room's head kept moving through {MAX_ATTEMPTS} attempts"),
        )
        .into())
    }

    /// The three writes of one attempt, and what they record.
    fn transaction(
        &self,
        room: &RoomName,
        change: &ChangeId,
        head: &Head,
        write: Change,
        at: &Position,
    ) -> Result<(Vec<TransactWriteItem>, Recorded), BackendError> {
        let mut clauses = write.clauses;
        clauses.set("head = :next", ":next", n(at.offset));
        if let Some(version) = write.version {
            clauses.set("version = :version", ":version", n(version));
        }
        let (condition, values) = match head.head {
            Some(h) => ("head = :h", Some((":h".to_owned(), n(h)))),
            None => ("attribute_not_exists(head)", None),
        };
        clauses.values.extend(values);
        let state = built(
            Update::builder()
                .table_name(&self.table)
                .key("pk", room_pk(room))
                .key("sk", s(STATE_SK))
                .update_expression(clauses.expression())
                .condition_expression(condition)
                .set_expression_attribute_names(
                    (!clauses.names.is_empty()).then(|| clauses.names.clone()),
                )
                .set_expression_attribute_values(Some(clauses.values))
                .build(),
        )?;
        let now = now();
        let exp = now + self.history.ttl;
        let entry = built(
            Put::builder()
                .table_name(&self.table)
                .item("pk", hist_pk(room))
                .item("sk", s(offset_sk(at.offset)))
                .item("frame", s(write.message.at(at.clone()).to_v1()))
                .item("change", s(change.as_str()))
                .item("at", n(now.as_millis()))
                .item("exp", n(exp.as_secs()))
                .condition_expression("attribute_not_exists(sk)")
                .build(),
        )?;
        let mut marker = Put::builder()
            .table_name(&self.table)
            .item("pk", hist_pk(room))
            .item("sk", change_sk(change))
            .item("offset", n(at.offset))
            .item("epoch", s(at.epoch.as_str()))
            .item("exp", n((exp + MARKER_MARGIN).as_secs()))
            .condition_expression("attribute_not_exists(sk)");
        if let Some(version) = write.version {
            marker = marker.item("version", n(version));
        }
        let items = vec![
            TransactWriteItem::builder().update(state).build(),
            TransactWriteItem::builder().put(entry).build(),
            TransactWriteItem::builder()
                .put(built(marker.build())?)
                .build(),
        ];
        let recorded = Recorded {
            at: at.clone(),
            version: write.version,
        };
        Ok((items, recorded))
    }

    /// Where `change` was recorded, if it was (its marker).
    async fn recorded(
        &self,
        room: &RoomName,
        change: &ChangeId,
    ) -> Result<Option<Recorded>, BackendError> {
        let item = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", hist_pk(room))
            .key("sk", change_sk(change))
            .consistent_read(true)
            .send()
            .await
            .map_err(backend(format!(
                "reading change {} of room {room}",
                change.as_str()
            )))?
            .item;
        let Some(item) = item else { return Ok(None) };
        let epoch = item.get("epoch").and_then(|v| v.as_s().ok());
        Ok(Some(Recorded {
            at: Position {
                offset: number(item.get("offset")).unwrap_or(0),
                epoch: parse_epoch(room, epoch.map_or("", |e| e))?,
            },
            version: number(item.get("version")),
        }))
    }
}

/// Whether the transaction lost to another writer (the head moved, or a concurrent
/// transaction held the item): worth a fresh read and another attempt.
fn lost_a_race(e: &aws_sdk_dynamodb::error::SdkError<TransactWriteItemsError>) -> bool {
    (0..=1).any(|i| {
        matches!(
            cancel_reason(e, i),
            Some("ConditionalCheckFailed" | "TransactionConflict")
        )
    })
}
