//! A TCP proxy in front of the gateway that can cut its connections without a
//! WebSocket close: how a phone losing its network looks to both ends (the client's
//! socket errors out, the gateway sees the connection end), while the gateway and
//! every other client stay up.

use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

#[derive(Default)]
struct Links {
    /// While false, new connections are dropped as soon as they are accepted.
    open: bool,
    piping: Vec<JoinHandle<()>>,
}

/// Forwards `127.0.0.1:<port>` to the gateway's port.
pub struct Proxy {
    pub port: u16,
    links: Arc<Mutex<Links>>,
    accept: JoinHandle<()>,
}

impl Proxy {
    pub async fn start(upstream: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let links = Arc::new(Mutex::new(Links {
            open: true,
            piping: Vec::new(),
        }));
        let accept = tokio::spawn({
            let links = links.clone();
            async move {
                while let Ok((mut inbound, _)) = listener.accept().await {
                    let mut links = links.lock().unwrap();
                    if !links.open {
                        continue; // dropped: the client's handshake fails and it retries
                    }
                    links.piping.push(tokio::spawn(async move {
                        let Ok(mut outbound) = TcpStream::connect(("127.0.0.1", upstream)).await
                        else {
                            return;
                        };
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }));
                }
            }
        });
        Self {
            port,
            links,
            accept,
        }
    }

    pub fn ws_url(&self) -> String {
        format!("ws://127.0.0.1:{}/dev", self.port)
    }

    /// Drop every connection (both TCP streams, no close frame) and refuse new ones
    /// until [`Proxy::restore`].
    pub fn cut(&self) {
        let mut links = self.links.lock().unwrap();
        links.open = false;
        for pipe in links.piping.drain(..) {
            pipe.abort();
        }
    }

    /// Accept connections again.
    pub fn restore(&self) {
        self.links.lock().unwrap().open = true;
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut();
    }
}
