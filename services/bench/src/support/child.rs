//! A server run as a child process that prints `ready PORT` once it listens and exits
//! when its stdin closes: the Node peers ([`super::node`]) and the `ws-crates`
//! candidates. Its own process, so its CPU and RSS are read from /proc and its sockets
//! do not count against the load generator's open-file limit.

use anyhow::Context;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};

/// How long a server may take to say `ready`, and to exit once killed.
const PATIENCE: Duration = Duration::from_secs(20);

/// A running child server on 127.0.0.1, killed when dropped.
pub struct ReadyChild {
    child: Child,
    port: u16,
    /// Held open: the server exits when its stdin closes, so it never outlives us.
    _stdin: ChildStdin,
    /// What it is, for errors.
    what: String,
}

impl ReadyChild {
    /// Spawn `command` (stdin and stdout piped, stderr inherited) and wait for its
    /// `ready PORT` line; `what` names it in errors.
    pub async fn spawn(mut command: Command, what: &str) -> anyhow::Result<Self> {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {what}"))?;
        let stdin = child.stdin.take().expect("piped");
        let mut lines = BufReader::new(child.stdout.take().expect("piped")).lines();
        let line = tokio::time::timeout(PATIENCE, lines.next_line())
            .await
            .with_context(|| format!("{what}: no `ready` line within 20 s"))??
            .with_context(|| format!("{what} exited before it was ready"))?;
        let port = line
            .strip_prefix("ready ")
            .and_then(|p| p.trim().parse().ok())
            .with_context(|| format!("{what}: expected `ready PORT`, got {line:?}"))?;
        // Keep draining stdout so a chatty server never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Self {
            child,
            port,
            _stdin: stdin,
            what: what.to_owned(),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn pid(&self) -> u32 {
        self.child.id().expect("running")
    }

    /// SIGKILL and wait for the exit (nothing to save; no closing handshake with
    /// thousands of clients).
    pub async fn kill(&mut self) -> anyhow::Result<()> {
        self.child.start_kill()?;
        tokio::time::timeout(PATIENCE, self.child.wait())
            .await
            .with_context(|| format!("{} did not exit within 20 s of SIGKILL", self.what))??;
        Ok(())
    }
}
