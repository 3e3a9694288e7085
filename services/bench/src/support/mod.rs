//! What the benchmarks share.

pub mod child;
pub mod gateway;
pub mod host;
pub mod net;
pub mod node;
pub mod proc;
pub mod sampler;
pub mod stats;
pub mod table;

use anyhow::Context;
use std::path::PathBuf;

/// Where results go: `<dir>/<name>.json`, read back by `plot` and quoted in docs.
#[derive(Debug, Clone)]
pub struct Output {
    dir: PathBuf,
}

impl Output {
    pub fn new(dir: PathBuf) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(Self { dir })
    }

    /// Write one benchmark's results as pretty JSON and say where.
    pub fn save(&self, name: &str, value: &impl serde::Serialize) -> anyhow::Result<PathBuf> {
        let path = self.dir.join(format!("{name}.json"));
        std::fs::write(&path, serde_json::to_vec_pretty(value)?)
            .with_context(|| format!("writing {}", path.display()))?;
        println!("(results: {})", path.display());
        Ok(path)
    }

    /// Read back what [`Output::save`] wrote.
    pub fn load<T: serde::de::DeserializeOwned>(&self, name: &str) -> anyhow::Result<T> {
        let path = self.dir.join(format!("{name}.json"));
        let bytes = std::fs::read(&path).with_context(|| {
            format!(
                "reading {} (run `roomcast-bench {name}` first)",
                path.display()
            )
        })?;
        Ok(serde_json::from_slice(&bytes)?)
    }
}

/// Raise the soft open-file limit to the hard one: 10,000 sockets need it (the
/// machines here allow 20,000 per process; the default soft limit is 1,024).
pub fn raise_fd_limit() {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) => tracing::debug!(limit = n, "open-file limit raised"),
        Err(e) => eprintln!("warning: could not raise the open-file limit: {e}"),
    }
}

/// The current open-file limit (soft), to size runs or explain a failure.
pub fn fd_limit() -> u64 {
    rlimit::getrlimit(rlimit::Resource::NOFILE)
        .map(|(soft, _)| soft)
        .unwrap_or(1024)
}

/// A free TCP port on 127.0.0.1 (bound, read, released).
pub fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}
