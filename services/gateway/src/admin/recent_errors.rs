//! The last warnings and errors the gateway logged, for `/admin`.
//!
//! A tracing [`Layer`] rather than calls at each failure site: every failure the
//! gateway already logs (fan-out jobs that failed, were interrupted or dead-lettered,
//! refused connects, session errors) shows up without touching those sites, and new
//! ones will too. The ring is process-wide because the subscriber is: the binary
//! installs [`layer`] once in `main`.

use serde::Serialize;
use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::{Mutex, OnceLock};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

/// How many events the ring keeps.
pub const CAPACITY: usize = 50;

/// One logged warning or error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LoggedEvent {
    /// When (Unix ms).
    pub at: u64,
    /// `WARN` or `ERROR`.
    pub level: &'static str,
    /// The module that logged it.
    pub target: String,
    /// The message, then its fields as `key=value`.
    pub message: String,
}

/// A bounded ring of the latest events, oldest first.
#[derive(Default)]
pub struct RecentErrors {
    ring: Mutex<VecDeque<LoggedEvent>>,
}

impl RecentErrors {
    /// The process-wide ring [`layer`] fills.
    pub fn global() -> &'static RecentErrors {
        static RING: OnceLock<RecentErrors> = OnceLock::new();
        RING.get_or_init(RecentErrors::default)
    }

    fn push(&self, event: LoggedEvent) {
        let mut ring = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        if ring.len() == CAPACITY {
            ring.pop_front();
        }
        ring.push_back(event);
    }

    /// The events kept, newest first.
    pub fn newest_first(&self) -> Vec<LoggedEvent> {
        let ring = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        ring.iter().rev().cloned().collect()
    }
}

/// Records WARN and ERROR events into a [`RecentErrors`] ring.
pub struct RecentErrorsLayer {
    ring: &'static RecentErrors,
}

/// The layer `main` installs, filling [`RecentErrors::global`].
pub fn layer() -> RecentErrorsLayer {
    RecentErrorsLayer {
        ring: RecentErrors::global(),
    }
}

/// Writes an event's message first and its other fields after it.
#[derive(Default)]
struct Text {
    message: String,
    fields: String,
}

impl Visit for Text {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "message" => self.message.push_str(value),
            name => {
                let _ = write!(self.fields, " {name}={value}");
            }
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "message" => {
                let _ = write!(self.message, "{value:?}");
            }
            name => {
                let _ = write!(self.fields, " {name}={value:?}");
            }
        }
    }
}

impl<S: Subscriber> Layer<S> for RecentErrorsLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        // Levels order by verbosity: WARN and ERROR are the ones at or below WARN.
        if *meta.level() > Level::WARN {
            return;
        }
        let mut text = Text::default();
        event.record(&mut text);
        self.ring.push(LoggedEvent {
            at: roomcast_core::fanout::now_ms(),
            level: if *meta.level() == Level::ERROR {
                "ERROR"
            } else {
                "WARN"
            },
            target: meta.target().to_owned(),
            message: text.message + &text.fields,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::layer::SubscriberExt;

    #[test]
    fn keeps_the_latest_warnings_and_errors_only() {
        static RING: OnceLock<RecentErrors> = OnceLock::new();
        let ring = RING.get_or_init(RecentErrors::default);
        let subscriber = tracing_subscriber::registry().with(RecentErrorsLayer { ring });
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!("not kept");
            for i in 0..CAPACITY + 5 {
                tracing::warn!(attempt = i, "job failed");
            }
            tracing::error!(room = "alpha", "dead-lettered");
        });
        let kept = ring.newest_first();
        assert_eq!(kept.len(), CAPACITY);
        assert_eq!(kept[0].level, "ERROR");
        assert_eq!(kept[0].message, "dead-lettered room=alpha");
        assert_eq!(
            kept[1].message,
            format!("job failed attempt={}", CAPACITY + 4)
        );
        assert!(kept.iter().all(|e| !e.message.contains("not kept")));
    }
}
