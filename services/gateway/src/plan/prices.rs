//! AWS list prices the planner multiplies by, as named constants with their date.
//!
//! us-east-1 on-demand list prices, in US dollars, from the public pricing pages:
//! <https://aws.amazon.com/api-gateway/pricing/>, <https://aws.amazon.com/lambda/pricing/>,
//! <https://aws.amazon.com/sqs/pricing/>, <https://aws.amazon.com/dynamodb/pricing/on-demand/>.
//! Free tiers are left out (the plan is for a service past its first year). Check the
//! pages before quoting a figure to anyone: prices change, and other regions differ.

/// When these prices were recorded.
pub const PRICES_AS_OF: &str = "2026-11-25";
/// The region they are for.
pub const PRICE_REGION: &str = "us-east-1";

/// API Gateway WebSocket: per million messages (sent or received), first billion a month.
pub const APIGW_PER_MILLION_MESSAGES: f64 = 1.00;
/// API Gateway WebSocket: per million messages beyond the first billion a month.
pub const APIGW_PER_MILLION_MESSAGES_OVER_1B: f64 = 0.80;
/// API Gateway WebSocket: messages are metered in 32 KB increments.
pub const APIGW_MESSAGE_INCREMENT_BYTES: u64 = 32 * 1024;
/// API Gateway WebSocket: per million connection minutes.
pub const APIGW_PER_MILLION_CONNECTION_MINUTES: f64 = 0.25;

/// Lambda (arm64): per GB-second of duration.
pub const LAMBDA_ARM_PER_GB_SECOND: f64 = 0.000_013_333_4;
/// Lambda: per million requests.
pub const LAMBDA_PER_MILLION_REQUESTS: f64 = 0.20;

/// SQS standard queue: per million requests (each 64 KB chunk of a payload is one).
pub const SQS_PER_MILLION_REQUESTS: f64 = 0.40;
/// SQS: payload chunk billed as one request.
pub const SQS_REQUEST_CHUNK_BYTES: u64 = 64 * 1024;

/// DynamoDB on demand: per million write request units (1 KB each; since the
/// November 2024 reduction).
pub const DYNAMODB_PER_MILLION_WRU: f64 = 0.625;
/// DynamoDB on demand: per million read request units (4 KB strongly consistent,
/// or two eventually consistent reads).
pub const DYNAMODB_PER_MILLION_RRU: f64 = 0.125;
