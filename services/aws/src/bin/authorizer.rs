//! REQUEST authorizer on `$connect`: JWT from `?token=` or `Authorization`.
use std::sync::Arc;

use aws_lambda_events::apigw::ApiGatewayCustomAuthorizerRequestTypeRequest;
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use roomcast_aws::env::{auth_settings, sdk_config};
use roomcast_aws::handlers::Authorizer;
use roomcast_aws::observe::cold_start_failed;

#[tokio::main]
async fn main() -> Result<(), Error> {
    roomcast_aws::observe::init_logging();
    let settings = auth_settings();
    let ssm = aws_sdk_ssm::Client::new(&sdk_config().await);
    let authorizer = Arc::new(
        Authorizer::from_settings(settings, &ssm)
            .await
            .inspect_err(cold_start_failed)?,
    );
    run(service_fn(
        move |event: LambdaEvent<ApiGatewayCustomAuthorizerRequestTypeRequest>| {
            let authorizer = authorizer.clone();
            async move { Ok::<_, Error>(authorizer.handle(event.payload)) }
        },
    ))
    .await
}
