//! The fan-out queue on SQS: one job per message body (JSON), shard jobs sent ten at
//! a time with `SendMessageBatch`.

use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use roomcast_core::fanout::FanoutJob;
use roomcast_core::ports::{BackendError, FanoutQueue};
use std::time::Duration;

/// SQS's largest message body and largest batch (the classic 256 KiB; the service
/// now accepts up to 1 MiB, but a standard queue created with defaults and most
/// emulators still enforce 256 KiB, so we stay under it everywhere).
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;
/// Entries per `SendMessageBatch`.
pub const MAX_BATCH_ENTRIES: usize = 10;
/// Times a batch's failed entries are re-sent before the enqueue fails.
const BATCH_RETRIES: u32 = 3;

/// A job too large for one SQS message. Refused whole: a truncated job would deliver
/// a corrupt frame.
#[derive(Debug, thiserror::Error)]
#[error(
    "fan-out job for room {room} is {bytes} bytes, over SQS's {MAX_MESSAGE_BYTES}-byte message limit"
)]
pub struct JobTooLarge {
    /// The room.
    pub room: String,
    /// The serialized size.
    pub bytes: usize,
}

/// Fan-out jobs on an SQS standard queue.
#[derive(Clone, Debug)]
pub struct SqsQueue {
    client: Client,
    url: String,
    delay_seconds: i32,
}

impl SqsQueue {
    /// The queue at `url`.
    pub fn new(client: Client, url: impl Into<String>) -> Self {
        Self {
            client,
            url: url.into(),
            delay_seconds: 0,
        }
    }

    /// The same queue, with messages delayed (retries back off this way).
    pub fn delayed(&self, seconds: i32) -> Self {
        Self {
            delay_seconds: seconds.clamp(0, 900),
            ..self.clone()
        }
    }

    /// The queue URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn body(job: &FanoutJob) -> Result<String, BackendError> {
        let body = serde_json::to_string(job)
            .map_err(|e| BackendError::new("serializing a fan-out job", e))?;
        if body.len() > MAX_MESSAGE_BYTES {
            return Err(BackendError::new(
                "enqueueing a fan-out job",
                JobTooLarge {
                    room: job.room().to_string(),
                    bytes: body.len(),
                },
            ));
        }
        Ok(body)
    }

    async fn send_one(&self, body: String) -> Result<(), BackendError> {
        self.client
            .send_message()
            .queue_url(&self.url)
            .message_body(body)
            .delay_seconds(self.delay_seconds)
            .send()
            .await
            .map_err(|e| BackendError::new(format!("sending to {}", self.url), e))?;
        Ok(())
    }

    /// Send one batch (≤ 10 entries, ≤ 256 KiB), re-sending entries SQS reports as
    /// failed a few times before giving up.
    async fn send_batch(&self, bodies: Vec<String>) -> Result<(), BackendError> {
        let mut pending: Vec<(String, String)> = bodies
            .into_iter()
            .enumerate()
            .map(|(i, b)| (i.to_string(), b))
            .collect();
        for attempt in 0..=BATCH_RETRIES {
            let entries = pending
                .iter()
                .map(|(id, body)| {
                    SendMessageBatchRequestEntry::builder()
                        .id(id)
                        .message_body(body)
                        .delay_seconds(self.delay_seconds)
                        .build()
                        .map_err(|e| BackendError::new("building a batch entry", e))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let out = self
                .client
                .send_message_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| BackendError::new(format!("sending a batch to {}", self.url), e))?;
            let failed: Vec<&str> = out.failed().iter().map(|f| f.id()).collect();
            if failed.is_empty() {
                return Ok(());
            }
            if let Some(f) = out.failed().iter().find(|f| f.sender_fault()) {
                // The sender's fault (bad body): retrying cannot help.
                return Err(BackendError::new(
                    format!("sending a batch to {}", self.url),
                    format!("{}: {}", f.code(), f.message().unwrap_or_default()),
                ));
            }
            tracing::warn!(
                attempt,
                failed = failed.len(),
                "SendMessageBatch entries failed; re-sending"
            );
            pending.retain(|(id, _)| failed.contains(&id.as_str()));
        }
        Err(BackendError::new(
            format!("sending a batch to {}", self.url),
            format!(
                "{} entries still failing after {BATCH_RETRIES} retries",
                pending.len()
            ),
        ))
    }
}

/// Group bodies into batches of at most ten entries and 256 KiB.
fn batches(bodies: Vec<String>) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = Vec::new();
    let mut size = 0;
    for body in bodies {
        let fits = out
            .last()
            .is_some_and(|b| b.len() < MAX_BATCH_ENTRIES && size + body.len() <= MAX_MESSAGE_BYTES);
        if !fits {
            out.push(Vec::new());
            size = 0;
        }
        size += body.len();
        out.last_mut().expect("just pushed").push(body);
    }
    out
}

#[async_trait]
impl FanoutQueue for SqsQueue {
    /// `DelaySeconds` is whole seconds: the delay is rounded to the nearest one (a
    /// `PRESENCE_INTERVAL` under half a second means no delay beyond the event source's
    /// own pickup) and capped at SQS's 15 minutes.
    async fn enqueue_after(&self, job: FanoutJob, delay: Duration) -> Result<(), BackendError> {
        let seconds = delay.as_secs_f64().round().min(900.0) as i32;
        self.delayed(seconds).enqueue(vec![job]).await
    }

    async fn enqueue(&self, jobs: Vec<FanoutJob>) -> Result<(), BackendError> {
        // Refuse before sending anything: all or an error.
        let bodies = jobs.iter().map(Self::body).collect::<Result<Vec<_>, _>>()?;
        match bodies.len() {
            0 => Ok(()),
            1 => self.send_one(bodies.into_iter().next().expect("one")).await,
            _ => {
                for batch in batches(bodies) {
                    self.send_batch(batch).await?;
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_respect_count_and_size() {
        let small: Vec<String> = (0..23).map(|i| format!("job{i}")).collect();
        let b = batches(small);
        assert_eq!(b.iter().map(Vec::len).collect::<Vec<_>>(), [10, 10, 3]);

        let big = "x".repeat(100 * 1024);
        let b = batches(vec![big.clone(), big.clone(), big.clone(), "y".into()]);
        assert_eq!(b.iter().map(Vec::len).collect::<Vec<_>>(), [2, 2]);
        assert!(
            b.iter()
                .all(|batch| batch.iter().map(String::len).sum::<usize>() <= MAX_MESSAGE_BYTES)
        );
    }
}
