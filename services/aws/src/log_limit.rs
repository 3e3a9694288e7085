//! A budget of log lines per kind of cause per second.
//!
//! Failed posts are logged at warn with their cause, but a fan-out to a room whose
//! members all vanished answers 410 to every post, and a wrong key answers 403 to every
//! post of every job: a line each would bury the log and cost CloudWatch Logs ingestion
//! per line. So each kind of cause (`http_410`, `dispatch`, …) gets `per_window` lines a
//! window; what is over the budget is only counted, and reported as one
//! "suppressed K similar" line ([`Admit::suppressed`], [`LogLimiter::drain`]).
//!
//! Per process: each Lambda instance (and each bench worker) keeps its own budget.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Whether to log one event, and what to report before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Admit {
    /// Log this event.
    pub log: bool,
    /// Events of this kind suppressed in windows now over and not yet reported: log
    /// "suppressed K similar" first.
    pub suppressed: u64,
}

/// The budget, shared by every task of the process.
#[derive(Debug)]
pub struct LogLimiter {
    per_window: u32,
    window: Duration,
    kinds: Mutex<HashMap<String, Window>>,
}

#[derive(Debug)]
struct Window {
    start: Instant,
    logged: u32,
    suppressed: u64,
}

impl LogLimiter {
    /// At most `per_window` lines per kind per `window`.
    pub fn new(per_window: u32, window: Duration) -> Self {
        Self {
            per_window,
            window,
            kinds: Mutex::new(HashMap::new()),
        }
    }

    /// Count one event of `kind` now.
    pub fn admit(&self, kind: &str) -> Admit {
        self.admit_at(kind, Instant::now())
    }

    fn admit_at(&self, kind: &str, now: Instant) -> Admit {
        let mut kinds = self.kinds.lock().unwrap_or_else(|e| e.into_inner());
        // Look up before inserting: the hot path (a kind seen before) allocates nothing.
        if !kinds.contains_key(kind) {
            kinds.insert(
                kind.to_owned(),
                Window {
                    start: now,
                    logged: 0,
                    suppressed: 0,
                },
            );
        }
        let w = kinds.get_mut(kind).expect("inserted above");
        let mut suppressed = 0;
        if now.duration_since(w.start) >= self.window {
            suppressed = std::mem::take(&mut w.suppressed);
            w.start = now;
            w.logged = 0;
        }
        if w.logged < self.per_window {
            w.logged += 1;
            Admit {
                log: true,
                suppressed,
            }
        } else {
            w.suppressed += 1;
            Admit {
                log: false,
                suppressed,
            }
        }
    }

    /// The counts suppressed and not yet reported, per kind, now reset: call at the end
    /// of an invocation, so a storm's last window is reported even when no later event
    /// of its kind comes. Windows stay as they are; the budget is not refilled.
    pub fn drain(&self) -> Vec<(String, u64)> {
        let mut kinds = self.kinds.lock().unwrap_or_else(|e| e.into_inner());
        let mut out: Vec<(String, u64)> = kinds
            .iter_mut()
            .filter(|(_, w)| w.suppressed > 0)
            .map(|(kind, w)| (kind.clone(), std::mem::take(&mut w.suppressed)))
            .collect();
        out.sort();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn a_storm_logs_the_budget_then_one_summary_per_window() {
        let limiter = LogLimiter::new(3, SECOND);
        let t0 = Instant::now();
        let logged: Vec<bool> = (0..1000)
            .map(|i| {
                limiter
                    .admit_at("http_410", t0 + Duration::from_micros(i))
                    .log
            })
            .collect();
        assert_eq!(logged.iter().filter(|l| **l).count(), 3);
        assert!(logged[..3].iter().all(|l| *l), "the first three are logged");

        // Another kind has its own budget within the same window.
        assert!(limiter.admit_at("http_403", t0 + SECOND / 2).log);

        // The next window: logged again, with the 997 suppressed before it to report.
        let next = limiter.admit_at("http_410", t0 + SECOND);
        assert_eq!(
            next,
            Admit {
                log: true,
                suppressed: 997
            }
        );
        // Reported once only.
        let again = limiter.admit_at("http_410", t0 + SECOND + Duration::from_millis(1));
        assert_eq!(again.suppressed, 0);
    }

    #[test]
    fn drain_reports_what_no_later_event_would() {
        let limiter = LogLimiter::new(1, SECOND);
        let t0 = Instant::now();
        for i in 0..5 {
            limiter.admit_at("dispatch", t0 + Duration::from_millis(i));
        }
        limiter.admit_at("http_403", t0);
        assert_eq!(limiter.drain(), vec![("dispatch".to_owned(), 4)]);
        assert!(
            limiter.drain().is_empty(),
            "drained counts are not reported twice"
        );
        // Draining does not refill the window's budget.
        assert!(
            !limiter
                .admit_at("dispatch", t0 + Duration::from_millis(10))
                .log
        );
        assert_eq!(limiter.drain(), vec![("dispatch".to_owned(), 1)]);
    }
}
