//! Every client action (custom routes and `$default`) through core's handler.
use std::sync::Arc;

use aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest;
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use roomcast_aws::env::{Wiring, apigw_api_key, optional};
use roomcast_aws::handlers::Actions;
use roomcast_aws::observe::cold_start_failed;

#[tokio::main]
async fn main() -> Result<(), Error> {
    roomcast_aws::observe::init_logging();
    let wiring = Wiring::from_env().await.inspect_err(cold_start_failed)?;
    let actions = Arc::new(
        Actions::new(
            wiring.handler(),
            wiring.store.clone(),
            wiring.sdk.clone(),
            optional("APIGW_ENDPOINT"),
        )
        .with_api_key(apigw_api_key()),
    );
    run(service_fn(
        move |event: LambdaEvent<ApiGatewayWebsocketProxyRequest>| {
            let actions = actions.clone();
            async move { Ok::<_, Error>(actions.handle(event.payload).await) }
        },
    ))
    .await
}
