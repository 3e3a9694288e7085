//! The single DynamoDB table (`pk`/`sk`, TTL attribute `exp`).
//!
//! | item | pk | sk | attributes |
//! | --- | --- | --- | --- |
//! | connection | `CONN#<id>` | `CONN` | rooms (string set), room, user, connectedAt, protocol, welcomed, exp |
//! | membership | `ROOM#<room>` | `CONN#<id>` | protocol, user, joinedAt, exp |
//! | room user | `ROOM#<room>` | `USER#<user>` | conns, exp (see `users.rs`) |
//! | room state | `ROOM#<room>` | `STATE` | version, bg, icons (map id → {img,x,y}), iconCount, members, users, head, epoch, lpk, presencePending |
//! | history entry | `HIST#<room>` | offset, 20 digits | frame, change, at, exp (see `history/`) |
//! | change marker | `HIST#<room>` | `CHANGE#<change id>` | offset, epoch, version, exp |
//! | message rate | `CONN#<id>` | `RATE` | tat, exp (see `rate.rs`) |
//!
//! A state change and its history entry are one write: a transaction of the op's own
//! update of the room item (touching only its icon) with `head` + 1 and `version` + 1,
//! conditioned on the `head` read before, plus the entry and the change's marker, each
//! put only if absent (`history/`): concurrent edits never lose each other, offsets
//! and versions rise by exactly one, and a change id is recorded at most once. Events
//! are the same transaction without the state. Joins and leaves are transactions that
//! keep the room's `members` and `users` counts in step with its membership and user
//! items (`joins.rs`). Room state items carry `lpk = "ROOMS"` so the `byMembers` index
//! (`lpk`, `members`) lists the busiest rooms, whose counts are then read from their
//! items (`listing.rs`).

mod history;
mod joins;
mod listing;
mod members;
mod presence;
mod rate;
mod rooms;
mod table;
mod users;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use roomcast_core::history::HistoryPolicy;
use roomcast_core::ports::BackendError;
use roomcast_core::protocol::{ConnectionId, Protocol, RoomName};
use std::time::{SystemTime, UNIX_EPOCH};

pub use rate::Counted;
pub use table::create_table;

/// The index listing rooms by member count.
pub const BY_MEMBERS_INDEX: &str = "byMembers";
/// `lpk` of every room state item (the index's one partition).
pub const ROOMS_LPK: &str = "ROOMS";
/// Connection and membership items expire this long after connect: API Gateway's 2 h
/// maximum lifetime plus a margin, so a missed `$disconnect` never leaves them forever.
pub const CONNECTION_TTL_SECS: u64 = 2 * 60 * 60 + 15 * 60;

/// Rooms, memberships and connections in one DynamoDB table.
#[derive(Clone, Debug)]
pub struct DynamoStore {
    client: Client,
    table: String,
    icon_cap: usize,
    history: HistoryPolicy,
}

impl DynamoStore {
    /// A store on `table`; a base holds at most `icon_cap` icons (the 400 KB item limit
    /// bounds a room state item, so the cap must stay well under it).
    pub fn new(client: Client, table: impl Into<String>, icon_cap: usize) -> Self {
        Self {
            client,
            table: table.into(),
            icon_cap,
            history: HistoryPolicy::default(),
        }
    }

    /// The same store keeping each room's history by `policy` (`HISTORY_SIZE`,
    /// `HISTORY_TTL`): entries expire by `exp`, and a read asks for at most `size`.
    pub fn with_history(mut self, policy: HistoryPolicy) -> Self {
        self.history = policy;
        self
    }

    /// The history policy.
    pub fn history_policy(&self) -> HistoryPolicy {
        self.history
    }

    /// The table name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// The SDK client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// A strongly consistent read of one item's `projection`; `what` names it in errors.
    async fn get(
        &self,
        pk: AttributeValue,
        sk: &str,
        projection: Option<&str>,
        what: impl FnOnce() -> String,
    ) -> Result<Option<Item>, BackendError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", pk)
            .key("sk", s(sk))
            .consistent_read(true)
            .set_projection_expression(projection.map(Into::into))
            .send()
            .await
            .map_err(|e| BackendError::new(what(), e))?;
        Ok(out.item)
    }
}

impl DynamoStore {
    /// An `UpdateItem` of `room`'s state item (state, count, presence mark), to which
    /// the caller adds its expression.
    fn update_state(
        &self,
        room: &RoomName,
    ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", room_pk(room))
            .key("sk", s(STATE_SK))
    }
}

/// One DynamoDB item.
type Item = std::collections::HashMap<String, AttributeValue>;

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn conn_pk(id: &ConnectionId) -> AttributeValue {
    s(format!("CONN#{}", id.as_str()))
}

fn room_pk(room: &RoomName) -> AttributeValue {
    s(format!("ROOM#{}", room.as_str()))
}

fn member_sk(id: &ConnectionId) -> AttributeValue {
    s(format!("CONN#{}", id.as_str()))
}

const CONN_SK: &str = "CONN";
const STATE_SK: &str = "STATE";

fn protocol_attr(p: Protocol) -> AttributeValue {
    s(p.name())
}

/// A stored protocol; items written before the attribute existed are v1.
fn parse_protocol(v: Option<&AttributeValue>) -> Protocol {
    v.and_then(|v| v.as_s().ok())
        .and_then(|name| Protocol::from_name(name))
        .unwrap_or(Protocol::V1)
}

fn now() -> std::time::Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

/// `exp` for connection and membership items (epoch seconds, DynamoDB TTL format).
fn expiry() -> AttributeValue {
    n(now().as_secs() + CONNECTION_TTL_SECS)
}

fn now_ms() -> AttributeValue {
    n(now().as_millis())
}

fn number<T: std::str::FromStr>(v: Option<&AttributeValue>) -> Option<T> {
    v.and_then(|v| v.as_n().ok()).and_then(|n| n.parse().ok())
}

/// Wrap an SDK error with what was being done; the SDK error (and its service error
/// code) stays the source.
fn backend<E>(context: impl Into<String>) -> impl FnOnce(E) -> BackendError
where
    E: std::error::Error + Send + Sync + 'static,
{
    move |e| BackendError::new(context, e)
}

/// The service error code of an SDK error (`ConditionalCheckFailedException`, …).
fn error_code<E, R>(e: &aws_sdk_dynamodb::error::SdkError<E, R>) -> Option<&str>
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    e.as_service_error().and_then(|se| se.code())
}

/// A built request part, or why it could not be built.
fn built<T, E: std::error::Error + Send + Sync + 'static>(
    r: Result<T, E>,
) -> Result<T, BackendError> {
    r.map_err(|e| BackendError::new("building a DynamoDB request", e))
}

/// The cancellation reason of item `index` of a cancelled transaction
/// (`ConditionalCheckFailed`, `TransactionConflict`, `None`).
fn cancel_reason(
    e: &aws_sdk_dynamodb::error::SdkError<
        aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError,
    >,
    index: usize,
) -> Option<&str> {
    use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError as E;
    match e.as_service_error() {
        Some(E::TransactionCanceledException(c)) => {
            c.cancellation_reasons().get(index).and_then(|r| r.code())
        }
        _ => None,
    }
}
