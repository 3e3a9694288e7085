//! SQS consumer: plan and deliver fan-out jobs, partial batch failures.
use std::sync::Arc;

use aws_lambda_events::sqs::SqsEvent;
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use roomcast_aws::env::{Wiring, apigw_api_key, job_retry, knobs, required};
use roomcast_aws::handlers::BroadcasterFn;
use roomcast_aws::observe::cold_start_failed;
use roomcast_aws::poster::ApiGwPoster;

#[tokio::main]
async fn main() -> Result<(), Error> {
    roomcast_aws::observe::init_logging();
    let wiring = Wiring::from_env().await.inspect_err(cold_start_failed)?;
    let knobs = knobs().inspect_err(cold_start_failed)?;
    let retry = job_retry().inspect_err(cold_start_failed)?;
    tracing::info!(?knobs, "broadcaster knobs");
    let poster = ApiGwPoster::with_api_key(
        &wiring.sdk,
        required("APIGW_ENDPOINT").inspect_err(cold_start_failed)?,
        apigw_api_key().as_deref(),
    );
    // Each concurrent instance has its own rate limiter: RATE_LIMIT / POOL_SIZE each.
    let broadcaster = wiring.broadcaster(poster, knobs.fanout_config(knobs.pool_size));
    let function = Arc::new(
        BroadcasterFn::new(broadcaster, wiring.queue.clone(), retry).with_publish(wiring.handler()),
    );
    run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let function = function.clone();
        async move { Ok::<_, Error>(function.handle(event.payload).await) }
    }))
    .await
}
