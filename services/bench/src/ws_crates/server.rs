//! The minimal servers, one per candidate, each run as a child process of its own
//! (`roomcast-bench ws-crates-server --crate X`), so that the RSS and CPU read from
//! /proc are the server's alone, as the gateway's are in `load` and `memory`.
//!
//! Every candidate has the same shape: accept on 127.0.0.1, upgrade, one room of all
//! connections (a `tokio::sync::broadcast` channel: one shared ring of messages, one
//! cursor per connection), a text frame from any client relayed to every connection
//! (the sender too). What the channel carries is what the crate can share across
//! connections: roomcast's frames carry the encoded frame, the crates a payload.

use super::Candidate;
use super::{own_frames, with_fastwebsockets, with_tokio_websockets, with_tungstenite};
use crate::support::child::ReadyChild;
use std::future::Future;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::process::Command;
use tokio::sync::broadcast;

/// Messages the room holds for a connection that has not written them yet; a
/// connection further behind skips what it missed (the window keeps the benchmark far
/// from that).
const ROOM_CAPACITY: usize = 4096;

/// `roomcast-bench ws-crates-server`: one candidate's server.
#[derive(Debug, Clone, clap::Args)]
pub struct ServerArgs {
    /// Which server.
    #[arg(long = "crate", value_enum)]
    pub candidate: Candidate,
    /// tungstenite's read buffer, KiB (only `tungstenite-small` uses it).
    #[arg(long, default_value_t = 40)]
    pub read_buffer_kib: usize,
}

/// Serve until stdin closes (the parent is gone or done); prints `ready PORT` first.
pub async fn run(args: ServerArgs) -> anyhow::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    println!("ready {}", listener.local_addr()?.port());
    tokio::spawn(async {
        let mut sink = [0u8; 64];
        while let Ok(n) = tokio::io::stdin().read(&mut sink).await {
            if n == 0 {
                break;
            }
        }
        std::process::exit(0);
    });
    match args.candidate {
        Candidate::Own => serve(listener, own_frames::serve).await,
        Candidate::Tungstenite => {
            serve(listener, |s, tx, rx| {
                with_tungstenite::serve(s, tx, rx, None)
            })
            .await
        }
        Candidate::TungsteniteSmall => {
            let bytes = args.read_buffer_kib * 1024;
            serve(listener, move |s, tx, rx| {
                with_tungstenite::serve(s, tx, rx, Some(bytes))
            })
            .await
        }
        Candidate::TokioWebsockets => serve(listener, with_tokio_websockets::serve).await,
        Candidate::Fastwebsockets => serve(listener, with_fastwebsockets::serve).await,
    }
}

/// Accept forever; each connection gets its own task, the room's sender and a cursor.
async fn serve<T, F, Fut>(listener: TcpListener, connection: F) -> anyhow::Result<()>
where
    T: Clone + Send + 'static,
    F: Fn(TcpStream, broadcast::Sender<T>, broadcast::Receiver<T>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let (room, _) = broadcast::channel::<T>(ROOM_CAPACITY);
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            // Out of file descriptors or the like: the client sees it; keep serving.
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        // As the gateway: frames are batched before the write, so Nagle would only delay.
        let _ = stream.set_nodelay(true);
        tokio::spawn(connection(stream, room.clone(), room.subscribe()));
    }
}

/// A running candidate server, killed when dropped.
pub type CrateServer = ReadyChild;

impl ReadyChild {
    /// Start this executable's hidden `ws-crates-server` and wait for its `ready PORT`.
    pub async fn candidate(candidate: Candidate, read_buffer_kib: usize) -> anyhow::Result<Self> {
        let exe = std::env::current_exe()?;
        let value = clap::ValueEnum::to_possible_value(&candidate).expect("not skipped");
        let mut command = Command::new(&exe);
        command
            .args(["ws-crates-server", "--crate", value.get_name()])
            .args(["--read-buffer-kib", &read_buffer_kib.to_string()])
            .env("RUST_LOG", "warn");
        ReadyChild::spawn(command, &format!("{} ws-crates-server", exe.display())).await
    }
}
