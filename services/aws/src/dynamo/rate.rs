//! The per-connection message rate on AWS: core's GCRA ([`MessageRate`]) with its one
//! number, the theoretical arrival time (TAT), in its own small item, so the bucket
//! holds across Lambda invocations (and concurrent ones) of the same connection.
//!
//! | item | pk | sk | attributes |
//! | --- | --- | --- | --- |
//! | message rate | `CONN#<id>` | `RATE` | tat (µs since the epoch), exp |
//!
//! GCRA needs `TAT' = max(TAT, now) + interval`, and an update expression has no
//! `max`, so the two cases are two conditional `UpdateItem`s, never a read:
//!
//! 1. `SET tat = :now + :interval` if `attribute_not_exists(tat) OR tat <= :now` — the
//!    bucket is full (a client within its rate): **one write**, always allowed.
//! 2. otherwise `SET tat = tat + :interval` if `tat > :now`, returning the new TAT; its
//!    debt `TAT' − now` gives the verdict (allow / `rate_limited` / disconnect). A
//!    client using its burst or over the rate pays **two writes** a message (the failed
//!    condition of 1 is billed too).
//!
//! Case 1 returns the old `tat` (`UPDATED_OLD`): it has none exactly on a
//! connection's first message, which is how the `actions` function knows to send the
//! connection its `welcome` first, for free. With the rate off, a conditional
//! `SET welcomed` on the connection item tells the same (one write a message).
//!
//! Both are atomic, so concurrent invocations never lose a message's interval. The
//! item is apart from the connection item so each write stays one write unit (under
//! 1 KB), however many rooms the connection is in. It is not deleted at `$disconnect`
//! (that would cost a write per connection); its `exp` lets TTL remove it.

use aws_sdk_dynamodb::types::ReturnValue;
use roomcast_core::abuse::{Admission, MessageRate};
use roomcast_core::ports::BackendError;
use roomcast_core::protocol::ConnectionId;

use super::{CONN_SK, DynamoStore, backend, conn_pk, error_code, expiry, n, now_ms, number, s};

const RATE_SK: &str = "RATE";

/// A message counted: the verdict, and whether it is the connection's first.
#[derive(Debug, Clone, Copy)]
pub struct Counted {
    /// The rate's verdict.
    pub admission: Admission,
    /// The connection's first message (it is owed its `welcome`).
    pub first: bool,
}

impl DynamoStore {
    /// Count one message of connection `id` arriving at `now_us` (µs since the epoch)
    /// against `rate`. With the limit off nothing is read or written.
    pub async fn admit_message(
        &self,
        id: &ConnectionId,
        rate: &MessageRate,
        now_us: u64,
    ) -> Result<Admission, BackendError> {
        if !rate.is_on() {
            return Ok(rate.admit(None, now_us));
        }
        Ok(self.count_message(id, rate, now_us).await?.admission)
    }

    /// Whether this is the first time a connection's welcome is claimed: a conditional
    /// `SET welcomed` on its item, for when the message rate (which tells for free) is
    /// off. A connection already gone is not welcomed.
    pub async fn claim_welcome(&self, id: &ConnectionId) -> Result<bool, BackendError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", conn_pk(id))
            .key("sk", s(CONN_SK))
            .update_expression("SET welcomed = :t")
            .condition_expression("attribute_exists(pk) AND attribute_not_exists(welcomed)")
            .expression_attribute_values(":t", now_ms())
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if error_code(&e) == Some("ConditionalCheckFailedException") => Ok(false),
            Err(e) => Err(backend(format!("welcoming connection {id}"))(e)),
        }
    }

    /// [`DynamoStore::admit_message`], also telling whether the message is the
    /// connection's first (the rate must be on).
    pub async fn count_message(
        &self,
        id: &ConnectionId,
        rate: &MessageRate,
        now_us: u64,
    ) -> Result<Counted, BackendError> {
        let interval = rate.interval_us();
        // Two rounds at most: case 2 only fails if the TAT fell behind `now` between
        // the two calls, which a clock that moves forward does not allow; once more
        // covers a clock skew between invocations.
        for _ in 0..2 {
            let fresh = self
                .client
                .update_item()
                .table_name(&self.table)
                .key("pk", conn_pk(id))
                .key("sk", s(RATE_SK))
                .update_expression("SET tat = :next, #exp = :exp")
                .condition_expression("attribute_not_exists(tat) OR tat <= :now")
                .expression_attribute_names("#exp", "exp")
                .expression_attribute_values(":next", n(now_us + interval))
                .expression_attribute_values(":now", n(now_us))
                .expression_attribute_values(":exp", expiry())
                .return_values(ReturnValue::UpdatedOld)
                .send()
                .await;
            match fresh {
                Ok(out) => {
                    return Ok(Counted {
                        admission: rate.admit(None, now_us),
                        first: out.attributes().is_none_or(|a| !a.contains_key("tat")),
                    });
                }
                Err(e) if error_code(&e) == Some("ConditionalCheckFailedException") => {}
                Err(e) => return Err(backend(format!("counting a message of {id}"))(e)),
            }
            let owing = self
                .client
                .update_item()
                .table_name(&self.table)
                .key("pk", conn_pk(id))
                .key("sk", s(RATE_SK))
                .update_expression("SET tat = tat + :interval, #exp = :exp")
                .condition_expression("tat > :now")
                .expression_attribute_names("#exp", "exp")
                .expression_attribute_values(":interval", n(interval))
                .expression_attribute_values(":now", n(now_us))
                .expression_attribute_values(":exp", expiry())
                .return_values(ReturnValue::UpdatedNew)
                .send()
                .await;
            match owing {
                Ok(out) => {
                    let tat: u64 =
                        number(out.attributes().and_then(|a| a.get("tat"))).ok_or_else(|| {
                            BackendError::new(
                                format!("counting a message of {id}"),
                                "the update returned no tat",
                            )
                        })?;
                    return Ok(Counted {
                        admission: Admission {
                            verdict: rate.verdict(tat.saturating_sub(now_us)),
                            tat_us: tat,
                        },
                        first: false,
                    });
                }
                Err(e) if error_code(&e) == Some("ConditionalCheckFailedException") => {}
                Err(e) => return Err(backend(format!("counting a message of {id}"))(e)),
            }
        }
        Err(BackendError::new(
            format!("counting a message of {id}"),
            "the stored rate state kept changing under both conditions",
        ))
    }
}
