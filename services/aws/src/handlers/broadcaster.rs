//! The broadcaster: an SQS consumer that plans and delivers fan-out jobs with core's
//! [`Broadcaster`], answering with partial batch failures so only failed jobs retry.
//!
//! - A job that does not parse (a poison job) or whose store/queue failed is reported
//!   in `batchItemFailures`: SQS redelivers it, and after the queue's
//!   `maxReceiveCount` moves it to the DLQ.
//! - Connections that still fail after the deliverer's in-invocation retries become a
//!   new shard job holding only those ids, sent with an SQS delay (exponential
//!   backoff). After `max_job_attempts` such rounds the job that keeps failing is
//!   reported instead, so the DLQ catches it — without re-posting to everyone else.

use std::time::{Duration, Instant};

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use futures::future::join_all;
use roomcast_core::fanout::{Broadcaster, FanoutJob, JobReport, now_ms};
use roomcast_core::ports::FanoutQueue;

use crate::observe::{emit, fanout_metrics};
use crate::post_failure::report_suppressed;
use crate::sqs::SqsQueue;

/// Job-level rounds before a failing shard job is left to SQS's redrive (DLQ).
pub const DEFAULT_MAX_JOB_ATTEMPTS: u32 = 4;

/// The `broadcaster` function.
pub struct BroadcasterFn {
    broadcaster: Broadcaster,
    queue: SqsQueue,
    max_job_attempts: u32,
}

impl BroadcasterFn {
    /// Wire it: the core broadcaster (built on the same queue) and the queue for retries.
    pub fn new(broadcaster: Broadcaster, queue: SqsQueue, max_job_attempts: u32) -> Self {
        Self {
            broadcaster,
            queue,
            max_job_attempts: max_job_attempts.max(1),
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
        let job: FanoutJob = match serde_json::from_str(body) {
            Ok(job) => job,
            Err(e) => {
                tracing::error!(message_id, error = %e, bytes = body.len(), "poison job: not a fan-out job");
                return (false, None);
            }
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
            if retry.attempt >= self.max_job_attempts {
                tracing::error!(
                    message_id,
                    room = %retry.room,
                    connections = retry.connections.len(),
                    attempt = retry.attempt,
                    "delivery keeps failing; leaving the job to SQS redrive"
                );
                ok = false;
                continue;
            }
            let delay = 1i32 << retry.attempt.min(9);
            let queue = self.queue.delayed(delay);
            if let Err(e) = queue.enqueue(vec![FanoutJob::Shard(retry)]).await {
                tracing::error!(message_id, error = %e, "could not enqueue a retry job");
                ok = false;
            }
        }
        (ok, Some(report))
    }
}
