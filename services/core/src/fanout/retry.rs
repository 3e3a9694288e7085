//! When a fan-out job (or the part of one that could not be delivered) is tried again,
//! and when it is given up: one policy for every home. The homes only schedule what it
//! decides: the local pool with a timer, the broadcaster Lambda with an SQS delay.
//!
//! The numbers (docs/reliability.md, "Job retries"): the deliverer has already retried
//! each post six times over about two seconds inside the job, so a job that still fails
//! is facing an outage of seconds (a throttled account, a store or queue blip), which
//! sub-second retries would only press on. The first retry waits `JOB_RETRY_DELAY`
//! (1 s: SQS delays are whole seconds), each next one twice as long, and after
//! `JOB_ATTEMPTS` (5) tries the job is dead-lettered: 1 + 2 + 4 + 8 = 15 s of retrying,
//! and 5 is also the SQS redrive policy's `maxReceiveCount`, so a job that fails whole
//! on AWS reaches the DLQ after as many tries as one that fails locally.

use std::time::Duration;

/// `JOB_ATTEMPTS` by default: tries of a job before it is dead-lettered.
pub const DEFAULT_JOB_ATTEMPTS: u32 = 5;
/// `JOB_RETRY_DELAY` by default: the wait before the first retry.
pub const DEFAULT_JOB_RETRY_DELAY: Duration = Duration::from_secs(1);

/// What becomes of a job that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Run it again after this long.
    After(Duration),
    /// Give it up: log it, count it, keep it for inspection where the home can (DLQ).
    DeadLetter,
}

/// How often and how late a failed job is tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// `JOB_ATTEMPTS`: tries in all, the first run included.
    pub attempts: u32,
    /// `JOB_RETRY_DELAY`: the wait before the first retry; it doubles each time.
    pub first_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: DEFAULT_JOB_ATTEMPTS,
            first_delay: DEFAULT_JOB_RETRY_DELAY,
        }
    }
}

impl RetryPolicy {
    /// The longest wait between two tries: SQS's longest `DelaySeconds`.
    pub const MAX_DELAY: Duration = Duration::from_secs(900);
    /// The most tries a job may be given.
    pub const MAX_ATTEMPTS: u32 = 20;

    /// `attempts` if it is a valid `JOB_ATTEMPTS`, else why not.
    pub fn check_attempts(attempts: u32) -> Result<u32, String> {
        if (1..=Self::MAX_ATTEMPTS).contains(&attempts) {
            Ok(attempts)
        } else {
            Err(format!("{attempts} is outside 1..={}", Self::MAX_ATTEMPTS))
        }
    }

    /// `delay` if it is a valid `JOB_RETRY_DELAY` (10 ms to 15 min; on AWS it is
    /// rounded up to whole seconds), else why not.
    pub fn check_delay(delay: Duration) -> Result<Duration, String> {
        if (Duration::from_millis(10)..=Self::MAX_DELAY).contains(&delay) {
            Ok(delay)
        } else {
            Err(format!("{delay:?} is outside 10ms..={:?}", Self::MAX_DELAY))
        }
    }

    /// What to do after try number `failed` (1 for the first run) failed.
    pub fn after(&self, failed: u32) -> Retry {
        if failed >= self.attempts.max(1) {
            return Retry::DeadLetter;
        }
        let doubled = self
            .first_delay
            .saturating_mul(1 << failed.saturating_sub(1).min(20));
        Retry::After(doubled.min(Self::MAX_DELAY))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_retries_after_1_2_4_8_seconds_then_dead_letters() {
        let p = RetryPolicy::default();
        let waits: Vec<Retry> = (1..=5).map(|n| p.after(n)).collect();
        assert_eq!(
            waits,
            [1, 2, 4, 8]
                .map(|s| Retry::After(Duration::from_secs(s)))
                .into_iter()
                .chain([Retry::DeadLetter])
                .collect::<Vec<_>>()
        );
        assert_eq!(p.after(99), Retry::DeadLetter);
    }

    #[test]
    fn delays_stop_at_the_longest_sqs_delay() {
        let p = RetryPolicy {
            attempts: 20,
            first_delay: Duration::from_secs(60),
        };
        assert_eq!(p.after(19), Retry::After(RetryPolicy::MAX_DELAY));
        let once = RetryPolicy {
            attempts: 1,
            first_delay: Duration::from_secs(1),
        };
        assert_eq!(once.after(1), Retry::DeadLetter, "one try, no retry");
    }

    #[test]
    fn settings_are_checked() {
        assert!(RetryPolicy::check_attempts(0).is_err());
        assert!(RetryPolicy::check_attempts(5).is_ok());
        assert!(RetryPolicy::check_attempts(21).is_err());
        assert!(RetryPolicy::check_delay(Duration::from_millis(9)).is_err());
        assert!(RetryPolicy::check_delay(Duration::from_millis(50)).is_ok());
        assert!(RetryPolicy::check_delay(Duration::from_secs(901)).is_err());
    }
}
