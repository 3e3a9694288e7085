//! roomcast's test fixtures, one of each: [`TestGateway`], the real local gateway
//! in-process on `127.0.0.1`, and [`WsClient`], a raw WebSocket client of it.
//!
//! The gateway's, the AWS home's and the SDK's tests all need a running gateway: the
//! gateway's to test it, the AWS home's because its `@connections` stands in for API
//! Gateway's, the SDK's because it is the server the SDK talks to. Each used to carry
//! its own copy of the fixture, and two of them their own raw client; the copies had
//! started to differ (how a gateway stops, what a client skips). This crate is the one
//! place they live, so a fix to how a test starts, stops or reads a gateway reaches
//! every crate's tests at once.
//!
//! It is a dev-dependency only (`publish = false`). Everything here panics on failure:
//! a fixture that cannot do its part is a failed test, said where it happened.
//!
//! ```no_run
//! use roomcast_testkit::TestGateway;
//! use serde_json::json;
//!
//! # async fn example() {
//! let gw = TestGateway::start(&["--icon-cap", "2"]).await;
//! let mut ada = gw.v1(Some("alpha")).await;
//! ada.ok(json!({"action":"changeBackground","room":"alpha","bg":2})).await;
//! assert_eq!(ada.recv_type("patch").await["room"], "alpha");
//! gw.stop().await;
//! # }
//! ```

mod client;
mod gateway;
mod http;
pub mod moto;

pub use client::{WsClient, WsStream, try_connect};
pub use gateway::TestGateway;
pub use http::{http, http_at, http_get, metric};

use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::Value;
use std::time::Duration;

/// The longest any single wait of a test may take (a frame, a close, a stop): long
/// enough for two busy cores, short enough that a hang fails instead of stalling CI.
pub const WAIT: Duration = Duration::from_secs(10);

/// `now + in_secs` as a JWT `exp` (negative: already expired).
pub fn exp(in_secs: i64) -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
        + in_secs
}

/// An HS256 token for `claims`, signed with `secret`: what an identity provider would
/// issue for a gateway started with `--jwt-secret secret`.
pub fn hs(claims: Value, secret: &str) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}
