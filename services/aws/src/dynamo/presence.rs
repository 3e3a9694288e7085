//! Coalesced presence on the room state item: `presencePending` holds the pending mark
//! (see `roomcast_core::presence`). Setting it is a conditional update, so of many
//! concurrent joins exactly one schedules the delayed SQS job; clearing it returns the
//! room's headcount (`members`, `users`) from the same write.

use aws_sdk_dynamodb::types::ReturnValue;
use roomcast_core::ports::{BackendError, Headcount};
use roomcast_core::protocol::RoomName;

use super::users::headcount_of;
use super::{DynamoStore, backend, error_code, n};

const PENDING: &str = "presencePending";

impl DynamoStore {
    /// `MembershipStore::mark_presence`: set the mark unless a fresh one is there.
    pub(super) async fn set_presence_mark(
        &self,
        room: &RoomName,
        mark: u64,
        stale_before: u64,
    ) -> Result<bool, BackendError> {
        let result = self
            .update_state(room)
            .update_expression("SET #p = :mark")
            .condition_expression("attribute_not_exists(#p) OR #p < :stale")
            .expression_attribute_names("#p", PENDING)
            .expression_attribute_values(":mark", n(mark))
            .expression_attribute_values(":stale", n(stale_before))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if error_code(&e) == Some("ConditionalCheckFailedException") => Ok(false),
            Err(e) => Err(backend(format!("marking the presence of {room}"))(e)),
        }
    }

    /// `MembershipStore::take_presence`: clear the mark if it is `mark`, returning the
    /// count the same write saw; a mark already cleared (a redelivered job) or replaced
    /// (a newer change) is left alone and the count is read.
    pub(super) async fn clear_presence_mark(
        &self,
        room: &RoomName,
        mark: u64,
    ) -> Result<Headcount, BackendError> {
        let result = self
            .update_state(room)
            .update_expression("REMOVE #p")
            .condition_expression("#p = :mark")
            .expression_attribute_names("#p", PENDING)
            .expression_attribute_values(":mark", n(mark))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(out) => Ok(headcount_of(out.attributes())),
            Err(e) if error_code(&e) == Some("ConditionalCheckFailedException") => {
                self.headcount(room).await
            }
            Err(e) => Err(backend(format!("clearing the presence of {room}"))(e)),
        }
    }
}
