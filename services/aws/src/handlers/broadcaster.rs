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
//! - A server-side publish sent straight onto the queue (the SDK's SQS publisher) is a
//!   versioned publish envelope, `{"v":1,"publish":{"room","event","data"}}` (core's
//!   [`PublishEnvelope`]), not a fan-out job. It is handled as the HTTP publish API
//!   handles `POST /rooms/{room}/emit`: size-checked, recorded in the room's history
//!   (under the SQS message id, so a redelivered envelope is recorded once and goes out
//!   at the same offset), then fanned out, here in place. An envelope that does not
//!   parse (an unknown `v`, a bad room) or is too large is logged with the reason and
//!   reported in `batchItemFailures` like any poison job; the rest of the batch runs.

use std::time::{Duration, Instant};

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use futures::future::join_all;
use roomcast_core::Handler;
use roomcast_core::fanout::{Broadcaster, FanoutJob, JobReport, Retry, RetryPolicy, now_ms};
use roomcast_core::handler::PublishError;
use roomcast_core::history::ChangeId;
use roomcast_core::ports::FanoutQueue;
use roomcast_core::protocol::PublishEnvelope;

use crate::observe::{emit, fanout_metrics};
use crate::post_failure::report_suppressed;
use crate::sqs::SqsQueue;

/// The `broadcaster` function.
pub struct BroadcasterFn {
    broadcaster: Broadcaster,
    queue: SqsQueue,
    retry: RetryPolicy,
    /// How publish envelopes are recorded before they go out (`None`: refused).
    publish: Option<Handler>,
}

impl BroadcasterFn {
    /// Wire it: the core broadcaster (built on the same queue) and the queue for retries.
    pub fn new(broadcaster: Broadcaster, queue: SqsQueue, retry: RetryPolicy) -> Self {
        Self {
            broadcaster,
            queue,
            retry,
            publish: None,
        }
    }

    /// Take publish envelopes through `handler` (the stack's, on the same table and
    /// queue): size-checked and recorded in their room's history as the HTTP publish
    /// API does, then fanned out. Without it an envelope is refused as a poison job.
    pub fn with_publish(mut self, handler: Handler) -> Self {
        self.publish = Some(handler);
        self
    }

    /// The job a message asks for: a fan-out job as it is, or the job delivering a
    /// publish envelope once it is recorded. `None` (logged): report it as failed.
    async fn job(&self, message_id: &str, body: &str) -> Option<FanoutJob> {
        // Jobs first: they are nearly every message, and an envelope is never one.
        match serde_json::from_str(body) {
            Ok(job) => return Some(job),
            Err(e) if !PublishEnvelope::claims(body) => {
                tracing::error!(message_id, error = %e, bytes = body.len(), "poison job: neither a fan-out job nor a publish envelope");
                return None;
            }
            Err(_) => {}
        }
        let envelope = PublishEnvelope::parse(body)
            .inspect_err(|e| {
                tracing::error!(message_id, error = %e, bytes = body.len(), "poison job: a malformed publish envelope");
            })
            .ok()?;
        let room = envelope.room;
        let Some(handler) = &self.publish else {
            tracing::error!(message_id, %room, "poison job: a publish envelope, and this broadcaster records no publishes");
            return None;
        };
        let change = match message_id {
            "" => ChangeId::generate(),
            id => ChangeId::of(id),
        };
        match handler
            .record_publish(&room, envelope.request, &change)
            .await
        {
            Ok((_, job)) => Some(job),
            Err(PublishError::Refused(e)) => {
                tracing::error!(message_id, %room, error = %e, "poison job: publish refused");
                None
            }
            Err(PublishError::Backend(e)) => {
                tracing::error!(message_id, %room, error = %e, source = ?e.source, "publish not recorded");
                None
            }
        }
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
        let Some(job) = self.job(message_id, body).await else {
            return (false, None);
        };
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
