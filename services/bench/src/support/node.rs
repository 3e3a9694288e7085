//! The Node peers under `services/bench/peers/` (Socket.IO 4) as child processes, like
//! [`super::gateway::GatewayProcess`] for the gateway: their own process, so their CPU
//! and RSS are read from /proc and their sockets do not count against the load
//! generator's open-file limit (a child inherits the limit [`super::raise_fd_limit`]
//! raised).

use anyhow::{Context, bail};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};

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
pub struct NodePeer {
    child: Child,
    port: u16,
    /// Held open: the script exits when its stdin closes, so it never outlives us.
    _stdin: ChildStdin,
}

impl NodePeer {
    /// Start `node <peers>/<script> 0` and wait for its `ready PORT` line.
    pub async fn start(script: &str) -> anyhow::Result<Self> {
        let dir = peers_dir();
        if !dir.join("node_modules").is_dir() {
            bail!(
                "the Node peers are not installed: run `npm ci --prefix {}` (needs node and npm)",
                dir.display()
            );
        }
        let node = node_binary();
        let mut child = Command::new(&node)
            .arg(dir.join(script))
            .arg("0")
            .current_dir(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| {
                format!(
                    "starting `{} {script}` (is node on PATH? or set ROOMCAST_BENCH_NODE)",
                    node.display()
                )
            })?;
        let stdin = child.stdin.take().expect("piped");
        let stdout = child.stdout.take().expect("piped");
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .with_context(|| format!("{script}: no `ready` line within 20 s"))??
            .with_context(|| format!("{script} exited before it was ready"))?;
        let port = line
            .strip_prefix("ready ")
            .and_then(|p| p.trim().parse().ok())
            .with_context(|| format!("{script}: expected `ready PORT`, got {line:?}"))?;
        // Keep draining stdout so a chatty script never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Self {
            child,
            port,
            _stdin: stdin,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn pid(&self) -> u32 {
        self.child.id().expect("running")
    }

    /// SIGKILL and wait for the exit (for a benchmark peer nothing needs saving).
    pub async fn kill(&mut self) -> anyhow::Result<()> {
        self.child.start_kill()?;
        tokio::time::timeout(Duration::from_secs(20), self.child.wait())
            .await
            .context("node peer did not exit within 20 s of SIGKILL")??;
        Ok(())
    }
}
