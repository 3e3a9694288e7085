//! One AWS deployment's worth of functions on moto and the local gateway, and the
//! queue pumped by the test the way a Lambda event source mapping would: receive a
//! batch, hand it to the broadcaster, delete what succeeded, leave the failures.

use std::time::Duration;

use aws_config::SdkConfig;
use aws_lambda_events::sqs::SqsBatchResponse;
use roomcast_aws::env::Wiring;
use roomcast_aws::handlers::{Actions, BroadcasterFn, Connect, Disconnect};
use roomcast_aws::poster::ApiGwPoster;
use roomcast_core::fanout::{FanoutConfig, FanoutJob, JobReport};
use serde_json::Value;

use super::{Client, Gateway};

/// One AWS deployment's worth of functions, on moto and the local gateway.
pub struct Stack {
    pub sdk: SdkConfig,
    pub wiring: Wiring,
    pub gw: Gateway,
    pub connect: Connect,
    pub disconnect: Disconnect,
    pub actions: Actions,
    pub broadcaster: BroadcasterFn,
}

pub fn quick(shard_size: usize) -> FanoutConfig {
    FanoutConfig {
        shard_size,
        post_concurrency: 8,
        backoff_base: Duration::from_millis(20),
        backoff_max: Duration::from_millis(400),
        max_attempts: 40,
        ..FanoutConfig::default()
    }
}

impl Stack {
    pub async fn new(shard_size: usize, gateway_flags: &[&str]) -> Self {
        let sdk = super::sdk().await;
        let wiring = super::wiring(&sdk).await;
        Self::with_wiring(shard_size, gateway_flags, sdk, wiring).await
    }

    pub async fn with_wiring(
        shard_size: usize,
        gateway_flags: &[&str],
        sdk: SdkConfig,
        wiring: Wiring,
    ) -> Self {
        let gw = Gateway::start(gateway_flags).await;
        let poster = ApiGwPoster::new(&sdk, gw.endpoint());
        Self {
            connect: Connect::new(wiring.handler(), wiring.store.clone()),
            disconnect: Disconnect::new(wiring.handler()),
            actions: Actions::new(wiring.handler(), wiring.store.clone(), sdk.clone(), None),
            broadcaster: BroadcasterFn::new(
                wiring.broadcaster(poster, quick(shard_size)),
                wiring.queue.clone(),
                roomcast_core::fanout::RetryPolicy::default(),
            )
            .with_publish(wiring.handler()),
            sdk,
            wiring,
            gw,
        }
    }

    /// `$connect` for a real gateway client, joined to `room`.
    pub async fn connect(&self, client: &Client, room: &str) {
        let event = super::connect_event(&client.id, &[("room", room)], Some("roomcast.v1"));
        let response = self.connect.handle(super::typed(event)).await;
        assert_eq!(response.status_code, 200, "{:?}", response.body);
    }

    /// A client frame through the `actions` function.
    pub async fn act(&self, client: &Client, body: Value) {
        let event = super::message_event(&client.id, &body, &self.gw.base_url(), None);
        let response = self.actions.handle(super::typed(event)).await;
        assert_eq!(response.status_code, 200);
    }

    /// One event source mapping round: receive what is visible, run it, delete the
    /// successes. Returns the batch response and what the jobs did.
    pub async fn pump(&self) -> (SqsBatchResponse, Vec<JobReport>, Vec<FanoutJob>) {
        let messages = super::receive_now(&self.sdk, self.wiring.queue.url(), 10).await;
        let jobs = messages
            .iter()
            .filter_map(|m| serde_json::from_str(m.body().unwrap_or_default()).ok())
            .collect();
        let (response, reports) = self
            .broadcaster
            .run_batch(super::sqs_event(&messages))
            .await;
        let failed: Vec<&str> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        let sqs = aws_sdk_sqs::Client::new(&self.sdk);
        for m in messages
            .iter()
            .filter(|m| !failed.contains(&m.message_id().unwrap_or_default()))
        {
            sqs.delete_message()
                .queue_url(self.wiring.queue.url())
                .receipt_handle(m.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
        (response, reports, jobs)
    }

    /// Pump until nothing has arrived for `quiet` (delayed jobs included).
    pub async fn drain_until_quiet(&self, quiet: Duration) -> Vec<JobReport> {
        let mut all = Vec::new();
        let mut last = tokio::time::Instant::now();
        while last.elapsed() < quiet {
            let (response, reports, jobs) = self.pump().await;
            assert!(response.batch_item_failures.is_empty(), "{response:?}");
            if !jobs.is_empty() {
                last = tokio::time::Instant::now();
            }
            all.extend(reports);
        }
        all
    }

    /// Pump until the queue is empty.
    pub async fn drain_queue(&self) -> Vec<JobReport> {
        let mut all = Vec::new();
        loop {
            let (response, reports, jobs) = self.pump().await;
            assert!(response.batch_item_failures.is_empty(), "{response:?}");
            if jobs.is_empty() {
                return all;
            }
            all.extend(reports);
        }
    }
}
