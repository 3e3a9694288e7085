//! The Node peers under `services/bench/peers/` (Socket.IO 4) as child processes, like
//! [`super::gateway::GatewayProcess`] for the gateway: their own process, so their CPU
//! and RSS are read from /proc and their sockets do not count against the load
//! generator's open-file limit (a child inherits the limit [`super::raise_fd_limit`]
//! raised).

use anyhow::bail;
use std::path::PathBuf;
use tokio::process::Command;

use super::child::ReadyChild;

/// The peers directory: `$ROOMCAST_BENCH_PEERS`, else `services/bench/peers` of this
/// source tree.
pub fn peers_dir() -> PathBuf {
    std::env::var_os("ROOMCAST_BENCH_PEERS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/peers")))
}

/// The `node` executable: `$ROOMCAST_BENCH_NODE`, else `node` on `PATH`.
fn node_binary() -> PathBuf {
    std::env::var_os("ROOMCAST_BENCH_NODE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("node"))
}

/// A running Node peer listening on 127.0.0.1.
pub type NodePeer = ReadyChild;

impl ReadyChild {
    /// Start `node <peers>/<script> 0` and wait for its `ready PORT` line.
    pub async fn node(script: &str) -> anyhow::Result<NodePeer> {
        let dir = peers_dir();
        if !dir.join("node_modules").is_dir() {
            bail!(
                "the Node peers are not installed: run `npm ci --prefix {}` (needs node and npm)",
                dir.display()
            );
        }
        let node = node_binary();
        let mut command = Command::new(&node);
        command.arg(dir.join(script)).arg("0").current_dir(&dir);
        let what = format!(
            "`{} {script}` (is node on PATH? or set ROOMCAST_BENCH_NODE)",
            node.display()
        );
        ReadyChild::spawn(command, &what).await
    }
}
