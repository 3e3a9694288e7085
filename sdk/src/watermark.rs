//! Where a client stands in one room's history: the offset up to which it holds
//! everything (the watermark), in which epoch, and the offsets it holds above it.

use std::collections::BTreeSet;

use crate::protocol::Position;

/// Most offsets held above a gap. Live frames are at-least-once, so a gap normally
/// fills; one that does not (a frame the server failed to post) must not make the
/// set grow forever: past this the oldest gap is given up (the version rule still
/// resyncs the state across it; only events in it stay missed).
const MAX_ABOVE: usize = 4096;

/// One room's position in its history, kept from the `offset`/`epoch` of the `state`,
/// `patch` and `event` frames a client receives.
///
/// Frames of a room may arrive twice (at-least-once delivery) and, on AWS, out of
/// order (parallel broadcasters), so the watermark is the highest offset up to which
/// **every** entry arrived, and the offsets that arrived above a gap are remembered:
/// [`Watermark::admit`] says whether a frame is new. The watermark is what a client
/// sends back as `join`'s `since` to recover what it missed.
///
/// ```
/// use roomcast_sdk::Watermark;
/// use roomcast_sdk::protocol::{Epoch, Position};
///
/// let epoch = Epoch::parse("e1")?;
/// let at = |offset| Position { offset, epoch: epoch.clone() };
/// let mut alpha = Watermark::default();
/// alpha.observe_state(&at(10), true); // the join's state: everything up to 10
/// assert!(alpha.admit(&at(12))); // 11 has not arrived yet
/// assert!(!alpha.admit(&at(12))); // a duplicate
/// assert_eq!(alpha.position(), Some(at(10)));
/// assert!(alpha.admit(&at(11))); // the gap fills
/// assert_eq!(alpha.position(), Some(at(12)));
/// assert!(!alpha.admit(&at(9))); // at or below the watermark
/// # Ok::<(), roomcast_sdk::InvalidValue>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Watermark {
    /// The watermark; `None` until a first state (or a frame of a new epoch) sets it.
    at: Option<Position>,
    /// Offsets above the watermark that arrived (a gap lies below each of them).
    above: BTreeSet<u64>,
}

impl Watermark {
    /// The offset up to which everything arrived, in its epoch: `join`'s `since`.
    pub fn position(&self) -> Option<Position> {
        self.at.clone()
    }

    /// A `state` current to `at`. An `authoritative` one (the answer to a join, or to
    /// the first `getState`) resets the watermark to it: what came before is in the
    /// state or, for events, lost for good. Any other state (a resync after a version
    /// gap) only sets a first position or follows a new epoch: in the same epoch,
    /// events below it may still be on their way and must not be dropped.
    pub fn observe_state(&mut self, at: &Position, authoritative: bool) {
        let same_epoch = self.at.as_ref().is_some_and(|w| w.epoch == at.epoch);
        if authoritative || !same_epoch {
            self.reset(at.clone());
        }
    }

    /// Whether the `patch` or `event` at `at` is new (and remember it if so). `false`
    /// for a frame at or below the watermark or one that already arrived above it.
    pub fn admit(&mut self, at: &Position) -> bool {
        let Some(mark) = &mut self.at else {
            // No base yet: nothing to compare with (the first state will set one).
            return true;
        };
        if mark.epoch != at.epoch {
            // The history behind the old epoch is gone: this frame starts the new one.
            self.reset(at.clone());
            return true;
        }
        if at.offset <= mark.offset || !self.above.insert(at.offset) {
            return false;
        }
        if self.above.len() > MAX_ABOVE {
            let oldest = *self.above.first().expect("not empty");
            mark.offset = oldest;
        }
        // Advance over every offset that is now contiguous.
        while self.above.first().is_some_and(|&o| o <= mark.offset + 1) {
            let next = self.above.pop_first().expect("not empty");
            mark.offset = mark.offset.max(next);
        }
        true
    }

    fn reset(&mut self, at: Position) {
        let offset = at.offset;
        self.at = Some(at);
        self.above = self.above.split_off(&(offset + 1));
        // Offsets remembered above the old mark may now be contiguous with the new one.
        let mark = self.at.as_mut().expect("just set");
        while self.above.first() == Some(&(mark.offset + 1)) {
            mark.offset = self.above.pop_first().expect("not empty");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Epoch;

    fn at(offset: u64, epoch: &str) -> Position {
        Position {
            offset,
            epoch: Epoch::parse(epoch).unwrap(),
        }
    }

    #[test]
    fn frames_before_a_first_state_pass_and_the_state_sets_the_base() {
        let mut w = Watermark::default();
        assert!(w.admit(&at(3, "a")));
        assert_eq!(w.position(), None);
        w.observe_state(&at(5, "a"), false);
        assert_eq!(w.position(), Some(at(5, "a")));
        assert!(!w.admit(&at(5, "a")));
        assert!(w.admit(&at(6, "a")));
    }

    #[test]
    fn out_of_order_frames_each_pass_once_and_the_mark_follows_the_gaps() {
        let mut w = Watermark::default();
        w.observe_state(&at(0, "a"), true);
        for o in [3, 1, 4, 3, 1] {
            let first = !w.above.contains(&o) && o > w.position().unwrap().offset;
            assert_eq!(w.admit(&at(o, "a")), first, "offset {o}");
        }
        assert_eq!(w.position(), Some(at(1, "a")));
        assert!(w.admit(&at(2, "a")));
        assert_eq!(w.position(), Some(at(4, "a")));
        assert!(w.above.is_empty());
    }

    #[test]
    fn a_resync_state_keeps_the_mark_but_a_join_state_or_new_epoch_moves_it() {
        let mut w = Watermark::default();
        w.observe_state(&at(2, "a"), true);
        w.observe_state(&at(9, "a"), false);
        assert_eq!(
            w.position(),
            Some(at(2, "a")),
            "events 3..=9 may still come"
        );
        assert!(w.admit(&at(4, "a")));
        w.observe_state(&at(3, "a"), true);
        assert_eq!(
            w.position(),
            Some(at(4, "a")),
            "4 arrived above the new base"
        );
        w.observe_state(&at(1, "b"), false);
        assert_eq!(w.position(), Some(at(1, "b")));
        assert!(w.admit(&at(7, "c")));
        assert_eq!(w.position(), Some(at(7, "c")));
    }

    #[test]
    fn a_gap_that_never_fills_is_given_up_past_the_bound() {
        let mut w = Watermark::default();
        w.observe_state(&at(0, "a"), true);
        for o in 2..(MAX_ABOVE as u64 + 3) {
            assert!(w.admit(&at(o, "a")));
        }
        assert_eq!(w.position(), Some(at(MAX_ABOVE as u64 + 2, "a")));
        assert!(!w.admit(&at(1, "a")));
    }
}
