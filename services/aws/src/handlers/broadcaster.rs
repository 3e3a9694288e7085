//! The broadcaster: an SQS consumer that plans and delivers fan-out jobs with core's
//! [`Broadcaster`], answering with partial batch failures so only failed jobs retry.
//!
//! - A job that does not parse (a poison job) or whose store/queue failed is reported
//!   in `batchItemFailures`: SQS redelivers it, and after the queue's
//!   `maxReceiveCount` moves it to the DLQ.
//! - Connections that still fail after the deliverer's in-invocation retries become a
//!   new shard job holding only those ids, sent with the SQS delay core's
//!   [`RetryPolicy`] decides (`JOB_ATTEMPTS`, `JOB_RETRY_DELAY`, the local pool's
//!   policy too). When it gives up, the job that keeps failing is reported instead, so
//!   the DLQ catches it — without re-posting to everyone else.
//! - A server-side publish enqueued straight onto the queue (the SDK's SQS publisher,
//!   `FanoutJob::publish`) carries an event without a history position: it is recorded
//!   in the room's history first, under the SQS message id, so a redelivered job is
//!   recorded once and goes out at the same offset.

use std::time::{Duration, Instant};

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use futures::future::join_all;
use roomcast_core::fanout::{Broadcaster, FanoutJob, JobReport, Retry, RetryPolicy, now_ms};
use roomcast_core::history::ChangeId;
use roomcast_core::ports::{BackendError, FanoutQueue, RoomStore};
use roomcast_core::protocol::ServerMessage;

use crate::dynamo::DynamoStore;
use crate::observe::{emit, fanout_metrics};
use crate::post_failure::report_suppressed;
use crate::sqs::SqsQueue;

/// The `broadcaster` function.
pub struct BroadcasterFn {
    broadcaster: Broadcaster,
    queue: SqsQueue,
    retry: RetryPolicy,
    /// Where publishes are recorded before they go out (`None`: sent as they come).
    history: Option<DynamoStore>,
}

impl BroadcasterFn {
    /// Wire it: the core broadcaster (built on the same queue) and the queue for retries.
    pub fn new(broadcaster: Broadcaster, queue: SqsQueue, retry: RetryPolicy) -> Self {
        Self {
            broadcaster,
            queue,
            retry,
            history: None,
        }
    }

    /// Record publish jobs' events in their room's history in `store` before fanning
    /// them out, as every other event is.
    pub fn with_history(mut self, store: DynamoStore) -> Self {
        self.history = Some(store);
        self
    }

    /// Place a publish job's event in its room's history (a job that already carries
    /// its position, or any other job, is left as it is).
    async fn place(&self, message_id: &str, job: &mut FanoutJob) -> Result<(), BackendError> {
        let (Some(store), FanoutJob::Room(room_job)) = (&self.history, job) else {
            return Ok(());
        };
        if room_job.version.is_some() {
            return Ok(());
        }
        let Ok(event @ ServerMessage::Event { .. }) = serde_json::from_str(&room_job.payload)
        else {
            return Ok(());
        };
        if event.position().is_some() {
            return Ok(());
        }
        let change = match message_id {
            "" => ChangeId::generate(),
            id => ChangeId::of(id),
        };
        let at = store.append(&room_job.room, &event, &change).await?;
        room_job.payload = event.at(at).to_v1();
        Ok(())
    }

    /// Handle one SQS batch: jobs run concurrently; failures are reported per message.
    pub async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        self.run_batch(event).await.0
    }

    /// [`BroadcasterFn::handle`], also returning what each job that ran did.
    pub async fn run_batch(&self, event: SqsEvent) -> (SqsBatchResponse, Vec<JobReport>) {
        let outcomes = join_all(event.records.iter().map(|m| self.record(m))).await;
        // The posts' failure lines over budget, summed up before Lambda freezes us.
        report_suppressed();
        let mut response = SqsBatchResponse::default();
        let mut reports = Vec::new();
        for (message, (ok, report)) in event.records.iter().zip(outcomes) {
            reports.extend(report);
            if !ok {
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = message.message_id.clone().unwrap_or_default();
                response.batch_item_failures.push(failure);
            }
        }
        (response, reports)
    }

    /// Run one message's job; `false`: report it as failed.
    async fn record(&self, message: &SqsMessage) -> (bool, Option<JobReport>) {
        let message_id = message.message_id.as_deref().unwrap_or("");
        let body = message.body.as_deref().unwrap_or("");
        let mut job: FanoutJob = match serde_json::from_str(body) {
            Ok(job) => job,
            Err(e) => {
                tracing::error!(message_id, error = %e, bytes = body.len(), "poison job: not a fan-out job");
                return (false, None);
            }
        };
        if let Err(e) = self.place(message_id, &mut job).await {
            tracing::error!(message_id, room = %job.room(), error = %e, source = ?e.source, "publish not recorded");
            return (false, None);
        }
        let start = Instant::now();
        let report = match self.broadcaster.run(&job).await {
            Ok(report) => report,
            Err(e) => {
                tracing::error!(message_id, room = %job.room(), error = %e, source = ?e.source, "fan-out job failed");
                return (false, None);
            }
        };
        let latency = job
            .created_ms()
            .map(|created| Duration::from_millis(now_ms().saturating_sub(created)));
        emit(&fanout_metrics(
            job.room().as_str(),
            job.kind(),
            &report,
            start.elapsed(),
            latency,
        ));

        let mut ok = true;
        for retry in report.retry.iter().cloned() {
            let Retry::After(delay) = self.retry.after(retry.attempt) else {
                tracing::error!(
                    message_id,
                    room = %retry.room,
                    connections = retry.connections.len(),
                    attempt = retry.attempt,
                    "delivery keeps failing; leaving the job to SQS redrive"
                );
                ok = false;
                continue;
            };
            // SQS delays are whole seconds: round up, so a retry never comes early.
            let queue = self.queue.delayed(delay.as_secs_f64().ceil() as i32);
            if let Err(e) = queue.enqueue(vec![FanoutJob::Shard(retry)]).await {
                tracing::error!(message_id, error = %e, "could not enqueue a retry job");
                ok = false;
            }
        }
        (ok, Some(report))
    }
}
