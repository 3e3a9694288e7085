//! The local gateway (`roomcast`) as a child process: the server under test runs in
//! its own process, so its CPU and RSS can be read and its sockets do not share the
//! load generator's open-file limit.

use super::free_port;
use anyhow::{Context, bail};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};

/// A running `roomcast` process on 127.0.0.1.
pub struct GatewayProcess {
    child: Child,
    port: u16,
    binary: PathBuf,
    data_dir: PathBuf,
    flags: Vec<String>,
    _tmp: Option<tempfile::TempDir>,
}

/// The gateway binary: `$ROOMCAST_BIN`, else `roomcast` beside this executable
/// (`cargo build --release -p roomcast-gateway -p roomcast-bench` puts both in
/// target/release).
pub fn gateway_binary() -> anyhow::Result<PathBuf> {
    if let Some(p) = std::env::var_os("ROOMCAST_BIN") {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe()?;
    let sibling = exe.with_file_name("roomcast");
    if sibling.exists() {
        Ok(sibling)
    } else {
        bail!(
            "no gateway binary at {}: build it with `cargo build --release -p roomcast-gateway` \
             (same profile as the bench) or set ROOMCAST_BIN",
            sibling.display()
        )
    }
}

/// The flags the gateway binary knows (`roomcast --help`, read once), so a benchmark can
/// pass a flag only to a binary that has it.
pub fn gateway_supports(flag: &str) -> anyhow::Result<bool> {
    static HELP: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let help = match HELP.get() {
        Some(h) => h,
        None => {
            let binary = gateway_binary()?;
            let out = std::process::Command::new(&binary)
                .arg("--help")
                .output()
                .with_context(|| format!("{} --help", binary.display()))?;
            HELP.get_or_init(|| String::from_utf8_lossy(&out.stdout).into_owned())
        }
    };
    Ok(help
        .split(|c: char| c.is_whitespace() || c == ',' || c == '=')
        .any(|word| word == flag))
}

impl GatewayProcess {
    /// Start on a free port and a fresh data dir with extra `flags`; waits for
    /// `/healthz`.
    pub async fn start(flags: &[&str]) -> anyhow::Result<Self> {
        let tmp = tempfile::tempdir()?;
        let data_dir = tmp.path().to_owned();
        let mut gw = Self::start_in(&data_dir, free_port()?, flags).await?;
        gw._tmp = Some(tmp);
        Ok(gw)
    }

    /// Start on `data_dir` and `port`.
    pub async fn start_in(data_dir: &Path, port: u16, flags: &[&str]) -> anyhow::Result<Self> {
        let binary = gateway_binary()?;
        let flags: Vec<String> = flags.iter().map(|s| s.to_string()).collect();
        let child = spawn(&binary, data_dir, port, &flags)?;
        let gw = Self {
            child,
            port,
            binary,
            data_dir: data_dir.to_owned(),
            flags,
            _tmp: None,
        };
        gw.wait_ready().await?;
        Ok(gw)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn pid(&self) -> u32 {
        self.child.id().expect("running")
    }

    /// `ws://127.0.0.1:<port>/dev?room=<room>`.
    pub fn ws_url(&self, room: &str) -> String {
        format!("ws://127.0.0.1:{}/dev?room={room}", self.port)
    }

    /// Stop with SIGTERM (graceful: the database is closed), then start again on the
    /// same port and data dir.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.terminate().await?;
        self.child = spawn(&self.binary, &self.data_dir, self.port, &self.flags)?;
        self.wait_ready().await
    }

    /// SIGTERM and wait for the exit.
    pub async fn terminate(&mut self) -> anyhow::Result<()> {
        if let Some(pid) = self.child.id() {
            // SAFETY: kill(2) on our own child's pid, which has not been reaped yet.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
        }
        tokio::time::timeout(Duration::from_secs(20), self.child.wait())
            .await
            .context("gateway did not exit within 20 s of SIGTERM")??;
        Ok(())
    }

    /// SIGKILL and wait for the exit: for a benchmark that is done with the server and
    /// needs nothing saved (no graceful `$disconnect` of thousands of connections).
    pub async fn kill(&mut self) -> anyhow::Result<()> {
        self.child.start_kill()?;
        tokio::time::timeout(Duration::from_secs(20), self.child.wait())
            .await
            .context("gateway did not exit within 20 s of SIGKILL")??;
        Ok(())
    }

    async fn wait_ready(&self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(20);
        let addr = format!("127.0.0.1:{}", self.port);
        while Instant::now() < deadline {
            if healthz(&addr).await {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("gateway on {addr} not healthy within 20 s")
    }
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

fn spawn(binary: &Path, data_dir: &Path, port: u16, flags: &[String]) -> anyhow::Result<Child> {
    Command::new(binary)
        .arg("--port")
        .arg(port.to_string())
        .arg("--data-dir")
        .arg(data_dir)
        .args(flags)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", binary.display()))
}

/// A plain HTTP/1.1 GET of /healthz (no HTTP client crate needed for one probe).
async fn healthz(addr: &str) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(mut s) = tokio::net::TcpStream::connect(addr).await else {
        return false;
    };
    let req = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    if s.write_all(req.as_bytes()).await.is_err() {
        return false;
    }
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf).await;
    buf.starts_with(b"HTTP/1.1 200")
}
