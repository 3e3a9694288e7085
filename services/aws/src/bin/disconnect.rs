//! `$disconnect`: forget the connection and tell its rooms.
use std::sync::Arc;

use aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest;
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use roomcast_aws::env::Wiring;
use roomcast_aws::handlers::Disconnect;
use roomcast_aws::observe::cold_start_failed;

#[tokio::main]
async fn main() -> Result<(), Error> {
    roomcast_aws::observe::init_logging();
    let wiring = Wiring::from_env().await.inspect_err(cold_start_failed)?;
    let disconnect = Arc::new(Disconnect::new(wiring.handler()));
    run(service_fn(
        move |event: LambdaEvent<ApiGatewayWebsocketProxyRequest>| {
            let disconnect = disconnect.clone();
            async move { Ok::<_, Error>(disconnect.handle(event.payload).await) }
        },
    ))
    .await
}
