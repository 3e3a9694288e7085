//! Resident memory and CPU time of a process (the servers under test), from /proc.

use anyhow::Context;
use std::time::{Duration, Instant};

/// One reading of a process.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub struct ProcSample {
    /// Resident set size, bytes.
    pub rss_bytes: u64,
    /// User + system CPU time so far.
    pub cpu: Duration,
    #[serde(skip, default = "Instant::now")]
    pub at: Instant,
}

impl ProcSample {
    /// Read `/proc/<pid>/stat`.
    pub fn read(pid: u32) -> anyhow::Result<Self> {
        let process =
            procfs::process::Process::new(pid as i32).with_context(|| format!("process {pid}"))?;
        let stat = process
            .stat()
            .with_context(|| format!("/proc/{pid}/stat"))?;
        let ticks = procfs::ticks_per_second() as f64;
        let page = procfs::page_size();
        Ok(Self {
            rss_bytes: stat.rss * page,
            cpu: Duration::from_secs_f64((stat.utime + stat.stime) as f64 / ticks),
            at: Instant::now(),
        })
    }

    /// CPU used between two samples, as a share of one core (1.0 = one core busy).
    pub fn cpu_cores_since(&self, earlier: &ProcSample) -> f64 {
        let wall = self.at.duration_since(earlier.at).as_secs_f64();
        if wall <= 0.0 {
            return 0.0;
        }
        self.cpu.saturating_sub(earlier.cpu).as_secs_f64() / wall
    }
}

/// Bytes as MiB, for tables.
pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}
