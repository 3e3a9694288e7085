//! Why a post failed, logged once at warn with its whole cause chain.
//!
//! The SDK's errors print as "service error" or "dispatch failure"; what an operator
//! needs (the status, "403" from a wrong key, the refused connect, the TLS or DNS
//! error) sits further down `Error::source()`. [`cause_chain`] walks it. Lines are
//! budgeted per kind of cause ([`LINES_PER_SECOND`], see [`crate::log_limit`]), so a
//! storm of 410s from a room that vanished costs a handful of lines and one
//! "suppressed K similar" line a second, not one line per member.

use std::error::Error;
use std::sync::LazyLock;
use std::time::Duration;

use roomcast_core::ports::PostError;
use roomcast_core::protocol::ConnectionId;

use crate::log_limit::LogLimiter;

/// Warn lines per kind of cause per second, per process.
pub const LINES_PER_SECOND: u32 = 5;

static LIMITER: LazyLock<LogLimiter> =
    LazyLock::new(|| LogLimiter::new(LINES_PER_SECOND, Duration::from_secs(1)));

/// A failed `PostToConnection`: the error core acts on, and why it happened.
#[derive(Debug)]
pub struct PostFailure {
    /// What the deliverer sees (gone, throttled, or a backend error to retry).
    pub error: PostError,
    /// The kind of cause the log budget is kept by: `http_<status>`, `connect`,
    /// `timeout`, `dispatch`, `response` or `request`.
    pub kind: String,
    /// The cause chain, e.g. `HTTP 403: service error: ForbiddenException: Forbidden`.
    pub cause: String,
    /// The management endpoint posted to.
    pub endpoint: String,
}

impl PostFailure {
    /// Log this failure at warn (`message` says which post it was), within the budget
    /// of its kind; first report what the budget suppressed before it.
    pub fn warn(&self, message: &str, to: &ConnectionId) {
        let admit = LIMITER.admit(&self.kind);
        if admit.suppressed > 0 {
            suppressed_line(&self.kind, admit.suppressed);
        }
        if admit.log {
            tracing::warn!(
                connection = %to,
                endpoint = %self.endpoint,
                kind = %self.kind,
                cause = %self.cause,
                "{message}"
            );
        }
    }
}

/// Report the failures suppressed and not yet reported. Called at the end of each
/// invocation: a storm's last second gets its summary line before Lambda freezes the
/// process.
pub fn report_suppressed() {
    for (kind, suppressed) in LIMITER.drain() {
        suppressed_line(&kind, suppressed);
    }
}

fn suppressed_line(kind: &str, suppressed: u64) {
    tracing::warn!(
        kind,
        suppressed,
        "suppressed {suppressed} similar post failures ({kind})"
    );
}

/// `e` and its sources, joined with ": ". A source whose text the chain already holds
/// is skipped: some errors print their source as part of their own message.
pub fn cause_chain(e: &(dyn Error + 'static)) -> String {
    let mut chain = e.to_string();
    let mut next = e.source();
    while let Some(source) = next {
        let text = source.to_string();
        if !text.is_empty() && !chain.contains(&text) {
            chain.push_str(": ");
            chain.push_str(&text);
        }
        next = source.source();
    }
    chain
}

#[cfg(test)]
#[path = "post_failure_tests.rs"]
mod tests;
