//! Abuse limits shared by both homes: the per-connection message rate, the rooms one
//! connection may be in, and the largest `emit` data.
//!
//! The message rate is a token bucket in its GCRA form (generic cell rate algorithm):
//! instead of a token count and a refill time it keeps one number per connection, the
//! *theoretical arrival time* (TAT) — when the connection's bucket would be full again.
//! One number makes it cheap to hold anywhere: a local variable in the gateway's
//! session loop, one small DynamoDB item on AWS (updated with conditional writes, so
//! it holds across Lambda invocations). [`MessageRate::admit`] is pure: the caller
//! passes the stored TAT and the current time and stores the TAT it gets back.
//!
//! Every message, admitted or not, advances the TAT by one interval
//! (`1 s / MESSAGE_RATE`). The *debt* `TAT − now` then decides:
//!
//! | debt after this message | verdict |
//! | --- | --- |
//! | ≤ `MESSAGE_BURST` intervals | [`Verdict::Allow`] |
//! | ≤ `MESSAGE_BURST + MESSAGE_STRIKES` intervals | [`Verdict::Limited`]: an `error` with code `rate_limited`, nothing else happens |
//! | more | [`Verdict::Disconnect`]: the connection is closed |
//!
//! So a client that sends in bursts gets at most `MESSAGE_BURST` messages through
//! at once and then `MESSAGE_RATE` a second; one that keeps sending while limited
//! (a *sustained* excess) digs itself deeper, because refused messages count too, and
//! is disconnected after `MESSAGE_STRIKES` refusals more than the debt drained
//! meanwhile. A client that stops for `debt / MESSAGE_RATE` seconds is in the clear.

use std::time::Duration;

use crate::protocol::limits::MAX_EMIT_DATA_BYTES;
use crate::protocol::{ClientMessage, ErrorCode, ProtocolError, ServerMessage};

/// Default `MESSAGE_RATE`: messages per second per connection. The browser game sends
/// at most 10 moves a second while dragging.
pub const DEFAULT_MESSAGE_RATE: u32 = 100;
/// Default `MESSAGE_BURST`: messages a connection may send at once.
pub const DEFAULT_MESSAGE_BURST: u32 = 200;
/// Default `MESSAGE_STRIKES`: refused (`rate_limited`) messages, beyond what drains,
/// before the connection is closed.
pub const DEFAULT_MESSAGE_STRIKES: u32 = 50;
/// Default `MAX_ROOMS`: rooms one connection may be in at once (its connect room too).
pub const DEFAULT_MAX_ROOMS: usize = 50;

/// The per-connection message rate (`MESSAGE_RATE`, `MESSAGE_BURST`, `MESSAGE_STRIKES`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageRate {
    /// Messages per second a connection may sustain; 0 turns the limit off.
    pub per_second: u32,
    /// Messages a connection may send at once (at least 1).
    pub burst: u32,
    /// Refusals beyond what drained before the connection is closed.
    pub strikes: u32,
}

impl Default for MessageRate {
    fn default() -> Self {
        Self {
            per_second: DEFAULT_MESSAGE_RATE,
            burst: DEFAULT_MESSAGE_BURST,
            strikes: DEFAULT_MESSAGE_STRIKES,
        }
    }
}

/// What to do with one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Handle it.
    Allow,
    /// Refuse it with `rate_limited`; the connection stays open.
    Limited,
    /// The excess is sustained: close the connection.
    Disconnect,
}

/// The outcome of [`MessageRate::admit`]: the verdict and the TAT to store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admission {
    /// What to do with the message.
    pub verdict: Verdict,
    /// The new theoretical arrival time, in the caller's clock (microseconds).
    pub tat_us: u64,
}

impl Admission {
    /// Let the frame through: the rate is off, or it could not be counted (a table
    /// failure on AWS must not turn the limit into the outage).
    pub fn allowed() -> Self {
        Self {
            verdict: Verdict::Allow,
            tat_us: 0,
        }
    }
}

impl MessageRate {
    /// No limit.
    pub const OFF: MessageRate = MessageRate {
        per_second: 0,
        burst: 1,
        strikes: 0,
    };

    /// Whether the limit is on (`per_second > 0`).
    pub fn is_on(&self) -> bool {
        self.per_second > 0
    }

    /// One interval (`1 s / per_second`) in microseconds; 0 when off.
    pub fn interval_us(&self) -> u64 {
        if self.per_second == 0 {
            0
        } else {
            (1_000_000 / u64::from(self.per_second)).max(1)
        }
    }

    /// The largest debt that is still allowed, in microseconds.
    pub fn allow_us(&self) -> u64 {
        self.interval_us() * u64::from(self.burst.max(1))
    }

    /// The largest debt before the connection is closed, in microseconds.
    pub fn disconnect_us(&self) -> u64 {
        self.interval_us() * (u64::from(self.burst.max(1)) + u64::from(self.strikes))
    }

    /// Decide one message arriving at `now_us` on a connection whose stored TAT is
    /// `tat_us` (`None` or 0: a fresh connection). Any clock works as long as one
    /// connection always uses the same one (microseconds).
    pub fn admit(&self, tat_us: Option<u64>, now_us: u64) -> Admission {
        if !self.is_on() {
            return Admission {
                verdict: Verdict::Allow,
                tat_us: tat_us.unwrap_or(0),
            };
        }
        let tat = tat_us.unwrap_or(0).max(now_us) + self.interval_us();
        Admission {
            verdict: self.verdict(tat - now_us),
            tat_us: tat,
        }
    }

    /// The verdict for a debt (`TAT − now` after this message), in microseconds.
    pub fn verdict(&self, debt_us: u64) -> Verdict {
        if !self.is_on() || debt_us <= self.allow_us() {
            Verdict::Allow
        } else if debt_us <= self.disconnect_us() {
            Verdict::Limited
        } else {
            Verdict::Disconnect
        }
    }

    /// How long a connection refused now has to wait before its next message is
    /// allowed again, for the human message.
    pub fn retry_after(&self, debt_us: u64) -> Duration {
        Duration::from_micros(debt_us.saturating_sub(self.allow_us()))
    }
}

/// The `error` a refused frame gets: code `rate_limited`, its `ref` echoed so a
/// client's pending request fails instead of timing out.
pub fn rate_limited(
    frame: &str,
    rate: &MessageRate,
    admission: &Admission,
    now_us: u64,
) -> ServerMessage {
    let wait = rate.retry_after(admission.tat_us.saturating_sub(now_us));
    ProtocolError::new(
        ErrorCode::RateLimited,
        format!(
            "more than {} messages a second (bursts of {}); this one was dropped, retry in {} ms",
            rate.per_second,
            rate.burst.max(1),
            wait.as_millis().max(1)
        ),
    )
    .with_ref(ClientMessage::reference_of(frame))
    .into()
}

/// The limits [`crate::Handler`] enforces itself (the message rate is enforced by each
/// home before a frame reaches the handler, where the TAT lives).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HandlerLimits {
    /// `MAX_ROOMS`: a `join` beyond this many rooms is refused with `room_limit`.
    pub max_rooms: usize,
    /// `MAX_EMIT_BYTES`: emit and publish `data` over this is `payload_too_large`
    /// (at most [`MAX_EMIT_DATA_BYTES`], which the parser enforces).
    pub max_emit_bytes: usize,
}

impl Default for HandlerLimits {
    fn default() -> Self {
        Self {
            max_rooms: DEFAULT_MAX_ROOMS,
            max_emit_bytes: MAX_EMIT_DATA_BYTES,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: u64 = 1_000_000;

    fn rate(per_second: u32, burst: u32, strikes: u32) -> MessageRate {
        MessageRate {
            per_second,
            burst,
            strikes,
        }
    }

    /// Send `n` messages at `now`, threading the TAT; the verdicts.
    fn burst(r: &MessageRate, tat: &mut Option<u64>, now: u64, n: usize) -> Vec<Verdict> {
        (0..n)
            .map(|_| {
                let a = r.admit(*tat, now);
                *tat = Some(a.tat_us);
                a.verdict
            })
            .collect()
    }

    #[test]
    fn a_burst_is_allowed_then_limited_then_disconnected() {
        let r = rate(10, 3, 2);
        let mut tat = None;
        let now = 50 * SECOND;
        use Verdict::*;
        assert_eq!(
            burst(&r, &mut tat, now, 7),
            [
                Allow, Allow, Allow, Limited, Limited, Disconnect, Disconnect
            ]
        );
    }

    #[test]
    fn the_bucket_refills_at_the_rate() {
        let r = rate(10, 3, 100);
        let mut tat = None;
        let t0 = 7 * SECOND;
        assert!(
            burst(&r, &mut tat, t0, 3)
                .iter()
                .all(|v| *v == Verdict::Allow)
        );
        assert_eq!(burst(&r, &mut tat, t0, 1), [Verdict::Limited]);
        // The refused message counted too: 0.1 s later the debt is still 4 intervals.
        assert_eq!(burst(&r, &mut tat, t0 + SECOND / 10, 1), [Verdict::Limited]);
        // After the whole debt drained, a full burst fits again.
        let later = tat.unwrap();
        assert_eq!(burst(&r, &mut tat, later, 3), [Verdict::Allow; 3]);
    }

    #[test]
    fn a_client_at_the_rate_is_never_limited_and_one_above_it_is_closed() {
        let r = rate(10, 2, 5);
        let mut tat = None;
        for i in 0..1000 {
            assert_eq!(
                burst(&r, &mut tat, i * SECOND / 10, 1),
                [Verdict::Allow],
                "message {i}"
            );
        }
        // 20 a second against 10: limited after a while, then closed.
        let mut tat = None;
        let verdicts: Vec<Verdict> = (0..100)
            .flat_map(|i| burst(&r, &mut tat, i * SECOND / 20, 1))
            .collect();
        let first_limited = verdicts.iter().position(|v| *v == Verdict::Limited);
        let first_closed = verdicts.iter().position(|v| *v == Verdict::Disconnect);
        assert!(first_limited.is_some() && first_closed.is_some());
        assert!(first_limited < first_closed);
    }

    #[test]
    fn the_refusal_echoes_the_ref_and_says_when_to_retry() {
        let r = rate(10, 1, 5);
        let a = r.admit(Some(SECOND + SECOND / 10), SECOND);
        assert_eq!(a.verdict, Verdict::Limited);
        let reply = rate_limited(r#"{"action":"emit","ref":"r9"}"#, &r, &a, SECOND).to_v1();
        let v: serde_json::Value = serde_json::from_str(&reply).unwrap();
        assert_eq!(v["code"], "rate_limited");
        assert_eq!(v["ref"], "r9");
        assert!(
            v["message"].as_str().unwrap().contains("retry in 100 ms"),
            "{v}"
        );
        let unreadable = rate_limited("{not json", &r, &a, SECOND).to_v1();
        assert!(!unreadable.contains("\"ref\""), "{unreadable}");
    }

    #[test]
    fn off_allows_everything() {
        let mut tat = None;
        assert!(
            burst(&MessageRate::OFF, &mut tat, 0, 10_000)
                .iter()
                .all(|v| *v == Verdict::Allow)
        );
    }
}
