//! How many distinct connections the fan-out wrote to in a window: the connections
//! that share the write budget ([`super::WritePacing`]).
//!
//! The pacing delay is `connections ÷ budget`. Counting every live connection made a
//! busy room wait for the idle ones: 1,000 members at 60 broadcasts a second on a
//! gateway that also holds 10,000 quiet connections waited 220 ms a frame, where 20 ms
//! keeps the gateway within its budget. Counting only the recipients needs a
//! distinct count taken on every delivery, by two workers at once, without a lock or
//! a field in each connection (whose first 64 bytes are what a delivery reads).
//!
//! So it is a HyperLogLog sketch (Flajolet et al., 2007) of 1,024 one-byte registers,
//! updated with a relaxed load and, rarely, an atomic `fetch_max`: a register only
//! grows, so after the first deliveries of a window almost every update is a load of
//! a line both workers share for reading. Its standard error is about 3% (1.04 ÷ √1,024);
//! a few dozen are counted within one or two (linear counting). The crates that
//! implement it take `&mut self` to insert, which would put a lock on every delivery.

use roomcast_core::protocol::ConnectionId;
use std::sync::atomic::{AtomicU8, Ordering};

/// Registers: 2^BITS, indexed by a hash's top bits.
const BITS: u32 = 10;
const M: usize = 1 << BITS;

/// Distinct connections added since the last [`Recipients::take`], estimated.
pub struct Recipients {
    registers: Box<[AtomicU8; M]>,
}

impl std::fmt::Debug for Recipients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recipients").finish_non_exhaustive()
    }
}

impl Default for Recipients {
    fn default() -> Self {
        Self {
            registers: Box::new(std::array::from_fn(|_| AtomicU8::new(0))),
        }
    }
}

impl Recipients {
    /// Count `id` (again: a connection counts once).
    pub fn add(&self, id: &ConnectionId) {
        let hash = id.hash64();
        let register = &self.registers[(hash >> (64 - BITS)) as usize];
        // The position of the first 1 in the remaining bits (the guard bit caps it).
        let rank = ((hash << BITS) | (1 << (BITS - 1))).leading_zeros() as u8 + 1;
        if register.load(Ordering::Relaxed) < rank {
            register.fetch_max(rank, Ordering::Relaxed);
        }
    }

    /// The estimate, and start again from none. Adds racing with it may be counted in
    /// either window: the count is a load estimate, not an account.
    pub fn take(&self) -> u64 {
        let (mut sum, mut zeros) = (0.0f64, 0u32);
        for register in self.registers.iter() {
            let rank = register.swap(0, Ordering::Relaxed);
            sum += 0.5f64.powi(i32::from(rank));
            zeros += u32::from(rank == 0);
        }
        let m = M as f64;
        let raw = 0.7213 / (1.0 + 1.079 / m) * m * m / sum;
        let estimate = if raw <= 2.5 * m && zeros > 0 {
            m * (m / f64::from(zeros)).ln()
        } else {
            raw
        };
        estimate.round() as u64
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// `n` ids, the same in every run (sequential: the hash must mix them). The pacing
    /// tests' members too.
    pub(in crate::fanout) fn ids(n: usize) -> Vec<ConnectionId> {
        (0..n)
            .map(|i| ConnectionId::parse(format!("c{i:026}")).unwrap())
            .collect()
    }

    #[test]
    fn none_one_and_a_few_are_counted_within_one() {
        let r = Recipients::default();
        assert_eq!(r.take(), 0);
        let few = ids(20);
        r.add(&few[0]);
        assert_eq!(r.take(), 1);
        for _ in 0..50 {
            few.iter().for_each(|id| r.add(id));
        }
        assert!(r.take().abs_diff(20) <= 1, "each connection counts once");
        assert_eq!(r.take(), 0, "take starts again from none");
    }

    #[test]
    fn large_counts_are_within_a_few_percent() {
        let r = Recipients::default();
        for n in [1_000, 10_000, 100_000] {
            let members = ids(n);
            for _ in 0..3 {
                members.iter().for_each(|id| r.add(id));
            }
            let estimate = r.take() as f64;
            let error = (estimate - n as f64).abs() / n as f64;
            assert!(
                error < 0.1,
                "{estimate} for {n} ({:.1}% off)",
                error * 100.0
            );
        }
    }
}
