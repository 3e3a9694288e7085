//! The SQS transport: for apps running inside AWS next to the stack, publish by
//! enqueueing a fan-out job straight onto the broadcaster's queue — no API hop, and
//! the same job (`FanoutJob::publish`) the HTTP publish API would enqueue.

use roomcast_aws::sqs::SqsQueue;
use roomcast_core::fanout::FanoutJob;
use roomcast_core::ports::FanoutQueue;
use roomcast_core::protocol::{PublishRequest, RoomName};

use crate::{Error, Publisher, Transport};

/// Publishes onto the fan-out queue (`QUEUE_URL` of the deployed stack). The caller
/// needs `sqs:SendMessage` on that queue.
#[derive(Clone, Debug)]
pub struct SqsTransport {
    queue: SqsQueue,
}

impl SqsTransport {
    /// A transport on `queue_url` through `client`.
    pub fn new(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        Self {
            queue: SqsQueue::new(client, queue_url),
        }
    }

    /// A transport with the default AWS configuration (region and credentials from
    /// the environment, as in a Lambda or on ECS).
    pub async fn from_env(queue_url: impl Into<String>) -> Self {
        let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        Self::new(aws_sdk_sqs::Client::new(&sdk), queue_url)
    }
}

#[async_trait::async_trait]
impl Transport for SqsTransport {
    async fn publish(&self, room: RoomName, request: PublishRequest) -> Result<(), Error> {
        self.queue
            .enqueue(vec![FanoutJob::publish(room, request)])
            .await
            .map_err(|e| Error::Transport(Box::new(e)))
    }
}

impl Publisher {
    /// A publisher that enqueues onto the stack's fan-out queue at `queue_url`.
    pub fn sqs(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        Self::new(SqsTransport::new(client, queue_url))
    }
}
