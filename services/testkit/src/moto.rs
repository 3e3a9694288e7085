//! The AWS side of the tests: moto on 127.0.0.1, started by `.ci/test`, shared by every
//! test binary, so each test names what it creates with [`unique`].

use aws_config::{BehaviorVersion, Region, SdkConfig};

/// `ROOMCAST_MOTO_ENDPOINT`, or a panic that says how to get one.
pub fn endpoint() -> String {
    std::env::var("ROOMCAST_MOTO_ENDPOINT").unwrap_or_else(|_| {
        panic!(
            "ROOMCAST_MOTO_ENDPOINT is not set: run the suite with .ci/test (it installs \
             moto[server] into target/venv and starts moto_server), or start \
             `target/venv/bin/python .ci/moto_server.py 127.0.0.1 5000` yourself and \
             export ROOMCAST_MOTO_ENDPOINT=http://127.0.0.1:5000"
        )
    })
}

/// The SDK configuration a Lambda (or an app next to the stack) would have, pointed
/// at moto.
pub async fn sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint())
        .region(Region::new("us-east-1"))
        .credentials_provider(aws_sdk_sqs::config::Credentials::new(
            "testing", "testing", None, None, "moto",
        ))
        .load()
        .await
}

/// A name no other test uses (moto is shared by every test binary).
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        ksuid::Ksuid::generate().to_base62().to_lowercase()
    )
}
