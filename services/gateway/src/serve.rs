//! The accept loop: HTTP/1.1, with upgrades, on every accepted TCP connection.
//!
//! Our own loop instead of `axum::serve`, for one reason. `axum::serve` speaks HTTP/1
//! and HTTP/2 and reads each connection's first bytes to choose, wrapping the socket
//! in a private type; a WebSocket upgrade then cannot get its `TcpStream` back
//! (`hyper::upgrade::Upgraded::downcast`), and the gateway needs the stream itself so
//! that the fan-out can write to an idle connection's socket (`ws::registry`).
//! Browsers use HTTP/2 only over TLS, which the gateway does not terminate (a proxy in
//! front of it does), so HTTP/1.1 is all it needs to speak.

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::io;
use std::pin::pin;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

/// How long to wait before accepting again after an error that is not one
/// connection's own (out of descriptors, say), as `axum::serve` does.
const ACCEPT_BACKOFF: Duration = Duration::from_secs(1);

/// Serve `router` on `listener` until `shutdown` is cancelled, then stop accepting
/// and wait for the HTTP exchanges in flight; upgraded connections are the
/// application's to end.
pub async fn serve(listener: TcpListener, router: Router, shutdown: CancellationToken) {
    let exchanges = TaskTracker::new();
    loop {
        let (tcp, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) if is_connection_error(&e) => continue,
                Err(e) => {
                    tracing::error!(error = %e, "accept failed; trying again in 1 s");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
        };
        // Frames go out as soon as they are written: a connection's waiting frames
        // are already batched into one write, so Nagle would only add delay.
        let _ = tcp.set_nodelay(true);
        let router = router.clone();
        let service = service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            router.clone().oneshot(request)
        });
        // With a timer, hyper gives a client 30 s to send a request's headers
        // (`header_read_timeout`), so a connection that trickles them in cannot hold
        // a task, or the graceful shutdown, forever.
        let connection = http1::Builder::new()
            .timer(TokioTimer::new())
            .serve_connection(TokioIo::new(tcp), service)
            .with_upgrades();
        let shutdown = shutdown.clone();
        exchanges.spawn(async move {
            let mut connection = pin!(connection);
            let ended = tokio::select! {
                ended = connection.as_mut() => ended,
                _ = shutdown.cancelled() => {
                    // Finish the exchange in flight, take no new one.
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(e) = ended {
                tracing::debug!(%peer, error = %e, "HTTP connection ended with an error");
            }
        });
    }
    exchanges.close();
    exchanges.wait().await;
}

/// Errors of one connection that was being accepted; the listener itself is fine.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}
