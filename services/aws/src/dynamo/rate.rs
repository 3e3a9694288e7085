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
//! Both are atomic, so concurrent invocations never lose a message's interval. The
//! item is apart from the connection item so each write stays one write unit (under
//! 1 KB), however many rooms the connection is in. It is not deleted at `$disconnect`
//! (that would cost a write per connection); its `exp` lets TTL remove it.

use aws_sdk_dynamodb::types::ReturnValue;
use roomcast_core::abuse::{Admission, MessageRate};
use roomcast_core::ports::BackendError;
use roomcast_core::protocol::ConnectionId;

use super::{DynamoStore, backend, conn_pk, error_code, expiry, n, number, s};

const RATE_SK: &str = "RATE";

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
                .send()
                .await;
            match fresh {
                Ok(_) => return Ok(rate.admit(None, now_us)),
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
                    return Ok(Admission {
                        verdict: rate.verdict(tat.saturating_sub(now_us)),
                        tat_us: tat,
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
