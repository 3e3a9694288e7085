//! The machine's own CPU accounting (`/proc/stat`), to say how much of a phase the
//! hypervisor took away.
//!
//! On a virtual machine, *steal* is time a vCPU wanted to run while the host ran
//! something else. Every figure the load benchmark prints is CPU-bound on two cores,
//! so a phase with 20% steal is slower for reasons neither server controls; on the
//! machine these docs were measured on, latencies moved about 2× from hour to hour
//! with it. The load benchmark records it per phase so that a slow round can be told
//! from a slow server.

use procfs::{CpuTime, CurrentSI, KernelStats};

/// One reading of all CPUs' time, in ticks.
#[derive(Debug, Clone, Copy)]
pub struct HostCpu {
    steal: u64,
    total: u64,
}

impl HostCpu {
    /// Read `/proc/stat`; `None` where it cannot be read (not Linux, no procfs).
    pub fn read() -> Option<Self> {
        KernelStats::current()
            .ok()
            .map(|stats| Self::of(&stats.total))
    }

    fn of(t: &CpuTime) -> Self {
        // `guest` and `guest_nice` are already part of `user` and `nice`.
        let rest = [t.iowait, t.irq, t.softirq, t.steal].map(Option::unwrap_or_default);
        Self {
            steal: t.steal.unwrap_or_default(),
            total: t.user + t.nice + t.system + t.idle + rest.iter().sum::<u64>(),
        }
    }

    /// The share of all CPU time between `earlier` and this reading that was stolen
    /// (0.0–1.0).
    pub fn steal_since(&self, earlier: &HostCpu) -> f64 {
        let total = self.total.saturating_sub(earlier.total);
        if total == 0 {
            return 0.0;
        }
        self.steal.saturating_sub(earlier.steal) as f64 / total as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(steal: u64, busy: u64, idle: u64) -> HostCpu {
        HostCpu {
            steal,
            total: steal + busy + idle,
        }
    }

    #[test]
    fn steal_is_a_share_of_all_the_time_that_passed() {
        let before = at(100, 1_000, 5_000);
        assert_eq!(at(130, 1_100, 5_070).steal_since(&before), 0.15);
        assert_eq!(before.steal_since(&before), 0.0);
    }

    #[test]
    fn this_machine_can_be_read() {
        let a = HostCpu::read().expect("/proc/stat");
        let b = HostCpu::read().expect("/proc/stat");
        assert!(b.total >= a.total && a.total > 0);
        assert!((0.0..=1.0).contains(&b.steal_since(&a)));
    }
}
