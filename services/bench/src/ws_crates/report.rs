//! The tables (one per measure, Markdown for docs/benchmarks.md) and the results file.

use super::oversize::Verdict;
use super::{Args, Run};
use crate::support::table::Table;
use std::collections::BTreeMap;

/// What `ws-crates.json` holds.
#[derive(Debug, serde::Serialize)]
pub struct Results<'a> {
    pub load_average_before: String,
    pub load_average_after: String,
    pub cores: usize,
    pub payload_bytes: usize,
    pub window: u32,
    pub secs: f64,
    pub runs: &'a [Run],
}

/// The 1, 5 and 15 minute load averages (others share this machine's cores).
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_owned())
}

/// `5 × clean 1009`, `3 × clean 1009, 2 × 1009, then reset`: the verdicts of the
/// tries, most frequent first.
pub fn verdict_counts(verdicts: &[Verdict]) -> String {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for v in verdicts {
        *counts.entry(v.label()).or_default() += 1;
    }
    let mut counts: Vec<_> = counts.into_iter().collect();
    counts.sort_by_key(|c| std::cmp::Reverse(c.1));
    counts
        .iter()
        .map(|(label, n)| format!("{n} × {label}"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn print(runs: &[Run], args: &Args) {
    let mut memory = Table::new([
        "server",
        "idle connections",
        "RSS without clients MiB",
        "RSS with clients MiB",
        "KiB per connection",
        "connect s",
    ]);
    for run in runs {
        if let Some(m) = &run.memory {
            memory.row([
                run.label.clone(),
                m.connections.to_string(),
                format!("{:.1}", m.rss_baseline_mib),
                format!("{:.1}", m.rss_connected_mib),
                format!("{:.1}", m.kib_per_connection),
                format!("{:.1}", m.connect_s),
            ]);
        }
    }
    memory.print("Memory per idle connection (RSS; all in one room)");

    let mut oversize = Table::new(["server", "frame", "answer (each try on a new connection)"]);
    for run in runs {
        for (kib, verdicts) in &run.oversize {
            oversize.row([
                run.label.clone(),
                format!("{kib} KiB"),
                verdict_counts(verdicts),
            ]);
        }
    }
    oversize.print("A text frame over the 32 KiB limit");

    let own = runs
        .iter()
        .find(|r| r.candidate == super::Candidate::Own)
        .and_then(|r| r.broadcast.as_ref())
        .map(|b| b.deliveries_per_cpu_s);
    let mut broadcast = Table::new([
        "server",
        "clients",
        "sent",
        "delivered / expected",
        "delivered msg/s",
        "p50 ms",
        "p99 ms",
        "server CPU s",
        "deliveries per CPU-second",
        "÷ own frames",
    ]);
    for run in runs {
        let Some(b) = &run.broadcast else { continue };
        let d = &b.delivery;
        broadcast.row([
            run.label.clone(),
            b.clients.to_string(),
            d.sent.to_string(),
            format!("{} / {}", d.delivered, d.expected),
            format!("{:.0}", d.delivered_per_s),
            format!("{:.2}", d.p50_ms),
            format!("{:.2}", d.p99_ms),
            format!("{:.2}", b.server_cpu_s),
            format!("{:.0}", b.deliveries_per_cpu_s),
            own.map_or("–".to_owned(), |o| {
                format!("{:.2}×", b.deliveries_per_cpu_s / o)
            }),
        ]);
    }
    broadcast.print(&format!(
        "Broadcast, {} B messages, as fast as possible (window {}), {} s",
        args.payload_bytes, args.window, args.secs
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_are_counted_most_frequent_first() {
        let verdicts = [
            Verdict::CloseThenReset(1009),
            Verdict::Clean(1009),
            Verdict::Clean(1009),
        ];
        assert_eq!(
            verdict_counts(&verdicts),
            "2 × clean 1009, 1 × 1009, then reset"
        );
        assert_eq!(verdict_counts(&[]), "");
    }
}
