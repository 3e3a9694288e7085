//! The SQS transport (feature `sqs`): for apps running inside AWS next to the stack,
//! publish by sending a publish envelope straight onto the stack's fan-out queue — no
//! API hop. The broadcaster handles it as the HTTP publish API handles a publish.
//!
//! It needs only `aws-sdk-sqs`, without its default features: you build the client
//! (with `aws-config`, or however your app configures AWS) and hand it over with the
//! queue's URL. Your own `aws-sdk-sqs` dependency (its default features) or
//! `aws-config` supplies the HTTP client and the async runtime it sends with.

use roomcast_core::protocol::{PublishEnvelope, PublishRequest, RoomName};

use crate::{Error, Publisher, Transport};

/// Publishes onto the stack's fan-out queue (its `FanoutQueueUrl` output); the caller
/// needs `sqs:SendMessage` on that queue.
///
/// Each publish is one message whose body is a versioned publish envelope,
/// [`PublishEnvelope`]: `{"v":1,"publish":{"room":"alpha","event":"news","data":…}}`
/// (docs/protocol.md, "Publishing over SQS"). The broadcaster size-checks it, records
/// the event in the room's history and fans it out to every member with
/// `from: null`; an envelope it cannot read (an unknown `v`) ends up in the queue's
/// dead-letter queue. Resolves when SQS accepted the message.
///
/// ```no_run
/// # async fn run() -> Result<(), roomcast_sdk::Error> {
/// use roomcast_sdk::Publisher;
///
/// // Region and credentials as your app gets them; here aws-config's defaults.
/// let aws = aws_config::load_from_env().await;
/// let queue_url = "https://sqs.eu-west-1.amazonaws.com/123456789012/roomcast-fanout";
/// let publisher = Publisher::sqs(aws_sdk_sqs::Client::new(&aws), queue_url);
/// publisher.to("alpha").emit("news", serde_json::json!({"n": 1})).await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct SqsTransport {
    client: aws_sdk_sqs::Client,
    queue_url: String,
}

impl SqsTransport {
    /// A transport onto the queue at `queue_url` through `client`.
    pub fn new(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
        }
    }

    /// The queue's URL.
    pub fn queue_url(&self) -> &str {
        &self.queue_url
    }
}

#[async_trait::async_trait]
impl Transport for SqsTransport {
    async fn publish(&self, room: RoomName, request: PublishRequest) -> Result<(), Error> {
        let body =
            serde_json::to_string(&PublishEnvelope::new(room, request)).map_err(Error::Encode)?;
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .send()
            .await
            .map_err(|e| Error::Transport(Box::new(e)))?;
        Ok(())
    }
}

impl Publisher {
    /// A publisher that sends onto the stack's fan-out queue at `queue_url` through
    /// `client` ([`SqsTransport`]).
    pub fn sqs(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        Self::new(SqsTransport::new(client, queue_url))
    }
}
