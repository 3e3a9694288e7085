//! [`TestGateway`]: the local gateway, built from its real flags and run in-process.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use roomcast_core::ports::Poster;
use roomcast_gateway::{Application, Config};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::{WAIT, WsClient};

/// The real local gateway (`roomcast`), run in-process on `127.0.0.1`.
///
/// Why in-process and not the binary: a test starts, stops and restarts it in
/// milliseconds, can wrap its fan-out poster to inject faults, and a panic inside it
/// fails the test that caused it. It is built by `Config::from_args` from the same
/// flags the binary takes, so what a test configures is what an operator could.
///
/// Each gateway has its own store (a fresh temporary directory unless the test names
/// one) and its own port (any free one unless the test names one), so tests run in
/// parallel without meeting.
pub struct TestGateway {
    /// The port it listens on, on `127.0.0.1`.
    pub port: u16,
    /// Its `--data-dir`: its redb store lives there.
    pub data_dir: PathBuf,
    shutdown: CancellationToken,
    task: JoinHandle<std::io::Result<()>>,
    /// The data dir when this gateway made it; removed on drop unless [`Self::stop`]
    /// hands it on.
    tmp: Option<tempfile::TempDir>,
}

impl TestGateway {
    /// A gateway on a fresh data dir and any free port, with extra `flags` (the
    /// binary's, e.g. `["--jwt-secret", "s"]`).
    pub async fn start(flags: &[&str]) -> Self {
        Self::start_with_fanout_poster(flags, |poster| poster).await
    }

    /// A gateway on `data_dir` and `port` (0: any free port): a restart test starts a
    /// second one on the first one's data dir and port.
    pub async fn start_in(data_dir: &Path, port: u16, flags: &[&str]) -> Self {
        Self::start_with(data_dir, port, flags, |poster| poster).await
    }

    /// A gateway on a fresh data dir whose broadcaster pool posts through
    /// `wrap(the real socket poster)`: fault injection around the real poster.
    pub async fn start_with_fanout_poster(
        flags: &[&str],
        wrap: impl FnOnce(Arc<dyn Poster>) -> Arc<dyn Poster> + Send,
    ) -> Self {
        let tmp = tempfile::tempdir().expect("a temporary data dir");
        let mut gw = Self::start_with(tmp.path(), 0, flags, wrap).await;
        gw.tmp = Some(tmp);
        gw
    }

    async fn start_with(
        data_dir: &Path,
        port: u16,
        flags: &[&str],
        wrap: impl FnOnce(Arc<dyn Poster>) -> Arc<dyn Poster> + Send,
    ) -> Self {
        let port_s = port.to_string();
        let dir = data_dir.to_str().expect("a UTF-8 data dir");
        let mut args = vec!["--port", &port_s, "--data-dir", dir];
        args.extend_from_slice(flags);
        let config = Config::from_args(args).expect("valid flags");
        let app = Application::build_with_fanout_poster(config, wrap)
            .await
            .expect("gateway starts");
        let port = app.port();
        let shutdown = app.shutdown_token();
        let task = tokio::spawn(app.run_until_stopped());
        Self {
            port,
            data_dir: data_dir.to_owned(),
            shutdown,
            task,
            tmp: None,
        }
    }

    /// Stop gracefully (open sessions are closed with 1001) and wait until the store
    /// is closed; panics unless that happens within [`WAIT`] and without an error.
    /// Returns the data dir this gateway made, so a restart test can start another
    /// gateway on it (`None` for [`Self::start_in`]'s, which the test owns).
    pub async fn stop(self) -> Option<tempfile::TempDir> {
        self.shutdown.cancel();
        tokio::time::timeout(WAIT, self.task)
            .await
            .expect("gateway stops in time")
            .expect("the gateway's task did not panic")
            .expect("the gateway stopped without an error");
        self.tmp
    }

    /// `http://127.0.0.1:<port>`: the publish API's base URL, and what API Gateway
    /// puts in a request context's `domainName` (with the scheme).
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn http(&self, path: &str) -> String {
        format!("{}{path}", self.base_url())
    }

    /// The `@connections` management endpoint of stage `dev`, as `ApiGwPoster` takes it.
    pub fn endpoint(&self) -> String {
        self.http("/dev")
    }

    /// The WebSocket URL of stage `dev`, joining `room` at connect when given.
    pub fn ws_url(&self, room: Option<&str>) -> String {
        match room {
            Some(r) => format!("ws://127.0.0.1:{}/dev?room={r}", self.port),
            None => format!("ws://127.0.0.1:{}/dev", self.port),
        }
    }

    /// A `roomcast.v1` client, joined to `room` at connect when given.
    pub async fn v1(&self, room: Option<&str>) -> WsClient {
        WsClient::connect(&self.ws_url(room), Some("roomcast.v1")).await
    }

    /// A planetstack-format client (no subprotocol), joined to `room` at connect when given.
    pub async fn planetstack(&self, room: Option<&str>) -> WsClient {
        WsClient::connect(&self.ws_url(room), None).await
    }
}
