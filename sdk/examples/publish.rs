//! Server-side broadcast: publish one event into a room, over the gateway's HTTP API
//! or, next to the AWS stack, onto its fan-out queue.
//!
//! ```sh
//! cargo run -p roomcast-sdk --example publish -- alpha news '{"headline":"base attacked"}'
//! ROOMCAST_QUEUE_URL=https://sqs… cargo run -p roomcast-sdk --example publish -- alpha news
//! ```
//!
//! Arguments: `[room] [event] [json-data]` (defaults `alpha`, `news`, a greeting).
//! With `ROOMCAST_QUEUE_URL` (the stack's `FanoutQueueUrl` output) it publishes over
//! SQS with the AWS configuration from the environment (feature `sqs`, on for the
//! examples). Otherwise the API's base URL comes from `ROOMCAST_HTTP` (default
//! `http://127.0.0.1:8080`) and the key, when the gateway has one (`--api-key`), from
//! `ROOMCAST_API_KEY`.

use roomcast_sdk::{HttpTransport, Publisher};
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let room = args.next().unwrap_or_else(|| "alpha".into());
    let event = args.next().unwrap_or_else(|| "news".into());
    let data: Value = match args.next() {
        Some(text) => serde_json::from_str(&text)?,
        None => json!({"headline": "hello from the server"}),
    };
    let publisher = match std::env::var("ROOMCAST_QUEUE_URL") {
        Ok(queue_url) => {
            let aws = aws_config::load_from_env().await;
            Publisher::sqs(aws_sdk_sqs::Client::new(&aws), queue_url)
        }
        Err(_) => {
            let base =
                std::env::var("ROOMCAST_HTTP").unwrap_or_else(|_| "http://127.0.0.1:8080".into());
            let mut transport = HttpTransport::new(base)?;
            if let Ok(key) = std::env::var("ROOMCAST_API_KEY") {
                transport = transport.api_key(key)?;
            }
            Publisher::new(transport)
        }
    };
    publisher.to(&room).emit(&event, &data).await?;
    println!("published {event} to {room}: {data}");
    Ok(())
}
