//! `$connect`: store the connection, join `?room=`, echo the subprotocol.
use std::sync::Arc;

use aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest;
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use roomcast_aws::env::Wiring;
use roomcast_aws::handlers::Connect;
use roomcast_aws::observe::cold_start_failed;

#[tokio::main]
async fn main() -> Result<(), Error> {
    roomcast_aws::observe::init_logging();
    let wiring = Wiring::from_env().await.inspect_err(cold_start_failed)?;
    let connect = Arc::new(Connect::new(wiring.handler(), wiring.store.clone()));
    run(service_fn(
        move |event: LambdaEvent<ApiGatewayWebsocketProxyRequest>| {
            let connect = connect.clone();
            async move { Ok::<_, Error>(connect.handle(event.payload).await) }
        },
    ))
    .await
}
