//! Watching a server process while a benchmark runs: its peak RSS (polled from /proc)
//! and waiting until it is idle.

use super::proc::ProcSample;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

/// Polls a process's RSS every 100 ms and keeps the peak since the last
/// [`PeakRss::reset`].
pub struct PeakRss {
    pid: u32,
    peak: Arc<AtomicU64>,
    task: JoinHandle<()>,
}

impl PeakRss {
    pub fn start(pid: u32) -> Self {
        let peak = Arc::new(AtomicU64::new(0));
        let task = {
            let peak = peak.clone();
            tokio::spawn(async move {
                loop {
                    if let Ok(s) = ProcSample::read(pid) {
                        peak.fetch_max(s.rss_bytes, Ordering::AcqRel);
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            })
        };
        Self { pid, peak, task }
    }

    /// Start over from the current RSS.
    pub fn reset(&self) {
        let now = ProcSample::read(self.pid).map_or(0, |s| s.rss_bytes);
        self.peak.store(now, Ordering::Release);
    }

    /// The peak RSS since the last reset, bytes.
    pub fn peak(&self) -> u64 {
        let now = ProcSample::read(self.pid).map_or(0, |s| s.rss_bytes);
        self.peak.fetch_max(now, Ordering::AcqRel).max(now)
    }
}

impl Drop for PeakRss {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Wait until `pid` uses less than 5% of a core over half a second (it has finished
/// what it was doing), at most `timeout`; returns how long that took.
pub async fn wait_idle(pid: u32, timeout: Duration) -> anyhow::Result<Duration> {
    let started = Instant::now();
    loop {
        let before = ProcSample::read(pid)?;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let after = ProcSample::read(pid)?;
        if after.cpu_cores_since(&before) < 0.05 || started.elapsed() >= timeout {
            return Ok(started.elapsed());
        }
    }
}
