//! One connection's life in one task: register, `$connect`, then read frames and write
//! the outbound queue until something ends it, `$disconnect` and the closing handshake.
//!
//! One task, not a reader and a writer: an idle connection costs one task, one timer
//! and no buffers. The task sleeps until the socket has bytes, its queue has frames
//! (a push wakes it only when the queue was empty), its one timer fires (the nearer of
//! the idle and lifetime deadlines) or the server shuts down.

use axum::extract::ws::close_code as close;
use bytes::Bytes;
use roomcast_core::Session;
use roomcast_core::edge::{Answer, Body, Frame};
use roomcast_core::protocol::ServerMessage;
use std::future::{Future, poll_fn};
use std::pin::pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;
use tokio::time::{Instant, sleep_until};

use super::frame::{self, Incoming, Violation};
use super::registry::ConnectionHandle;
use super::socket::Socket;
use super::upgrade::Upgrade;
use crate::app::AppState;

/// How long the closing handshake may take before the socket is dropped.
const GOODBYE: Duration = Duration::from_secs(5);

/// How the session ended, which decides the closing handshake.
enum Ending {
    /// The server closes: send the close frame and wait for the client's.
    Server,
    /// The client sent its close frame: answer it.
    Client,
    /// The stream is gone: nothing to send.
    Lost,
}

/// What woke the session.
enum Wake {
    /// The queue has frames where it had none.
    Queue,
    Read(std::io::Result<bool>),
    WriteFailed,
    Close,
    Timer,
    Shutdown,
}

pub(super) async fn run(io: Upgrade, app: AppState, session: Session, h: Arc<ConnectionHandle>) {
    let mut socket = Socket::new(io);
    // However the task ends (even unwinding), the handle lets go of the socket.
    let _detach = Detach(&h);
    app.connections.insert(h.clone());
    let ending = match app.handler.connect(&session).await {
        Ok(owed) => {
            // Its connect room's count, before anything else it will read.
            let mut greeted = true;
            for reply in owed {
                greeted = greeted && send(&mut socket, &h, &session, reply).await;
            }
            match greeted {
                true => {
                    // Greeted: from here the fan-out may write to the idle socket itself.
                    h.attach(socket.stream());
                    serve(&mut socket, &app, &session, &h).await
                }
                false => Ending::Server,
            }
        }
        Err(e) => {
            tracing::error!(connection = %session.id, error = %e, "connect failed");
            h.close(close::ERROR, "could not register the connection");
            Ending::Server
        }
    };
    h.close(close::NORMAL, "bye");
    app.connections.remove(&session.id);
    let disconnect = async {
        if let Err(e) = app.handler.disconnect(&session.id).await {
            tracing::error!(connection = %session.id, error = %e, "disconnect cleanup failed");
        }
    };
    let goodbye = async {
        let reason = h.close_reason().expect("a close was asked for");
        let frame = frame::close(reason.code, reason.reason);
        let linger = matches!(ending, Ending::Server);
        if !matches!(ending, Ending::Lost) {
            let _ = tokio::time::timeout(GOODBYE, socket.goodbye(&h, frame, linger)).await;
        }
    };
    tokio::join!(disconnect, goodbye);
    tracing::debug!(connection = %session.id, "disconnected");
}

/// Serve the connection until the client leaves, a limit is hit, or the server closes.
async fn serve(
    socket: &mut Socket,
    app: &AppState,
    session: &Session,
    h: &ConnectionHandle,
) -> Ending {
    let lifetime = Instant::now() + app.config.max_lifetime;
    let idle = app.config.idle_timeout;
    let mut last_seen = Instant::now();
    let mut timer = pin!(sleep_until(lifetime.min(last_seen + idle)));
    let mut shutdown = pin!(app.shutdown.cancelled());
    let mut woken = pin!(h.woken());
    // The message rate's state (GCRA): one number, on this connection's own clock.
    let rate = app.config.message_rate();
    let origin = std::time::Instant::now();
    let mut tat = None;
    let mut events = Vec::new();
    loop {
        let wake = poll_fn(|cx| {
            while woken.as_mut().poll(cx).is_ready() {
                woken.set(h.woken());
                // A close request wins over queued frames: a slow consumer is not drained.
                if h.close_reason().is_some() {
                    return Poll::Ready(Wake::Close);
                }
                if !socket.writing() {
                    return Poll::Ready(Wake::Queue);
                }
            }
            if let Poll::Ready(Err(_)) = socket.poll_write(cx, h) {
                return Poll::Ready(Wake::WriteFailed);
            }
            if let Poll::Ready(r) = socket.poll_read(cx, &mut events) {
                return Poll::Ready(Wake::Read(r));
            }
            if timer.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Wake::Timer);
            }
            if shutdown.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Wake::Shutdown);
            }
            Poll::Pending
        })
        .await;
        match wake {
            Wake::Queue => {
                // Let the fan-out that woke us push the rest of its batch (and the next
                // broadcasts already under way) first: frames that pile up meanwhile go
                // out in the same vectored write, and a system call costs far more than
                // the frame it carries (docs/benchmarks.md).
                tokio::task::yield_now().await;
                continue;
            }
            Wake::Read(Ok(true)) => {}
            Wake::Read(_) | Wake::WriteFailed => {
                h.close(close::NORMAL, "socket closed");
                return Ending::Lost;
            }
            Wake::Close => return Ending::Server,
            Wake::Shutdown => {
                h.close(close::AWAY, "server going away");
                return Ending::Server;
            }
            Wake::Timer => {
                let now = Instant::now();
                if now >= lifetime {
                    h.close(close::AWAY, "connection lifetime exceeded");
                    return Ending::Server;
                }
                if now >= last_seen + idle {
                    h.close(close::AWAY, "idle timeout");
                    return Ending::Server;
                }
                timer.as_mut().reset(lifetime.min(last_seen + idle));
                continue;
            }
        }
        if events.is_empty() {
            continue;
        }
        last_seen = Instant::now();
        h.touch();
        for event in std::mem::take(&mut events) {
            let message = match event {
                Incoming::Text(text) => Some(text),
                Incoming::Binary => None,
                Incoming::Ping(payload) => {
                    if !reply(socket, h, frame::pong(&payload)).await {
                        return Ending::Server;
                    }
                    continue;
                }
                Incoming::Pong => continue,
                Incoming::Close => return Ending::Client,
                Incoming::Violation(v) => {
                    let (code, reason) = match v {
                        Violation::TooBig => (close::SIZE, "message too big"),
                        Violation::BadUtf8 => (close::INVALID, "text frame is not valid UTF-8"),
                        Violation::Protocol => (close::UNSUPPORTED, "protocol error"),
                    };
                    h.close(code, reason);
                    return Ending::Server;
                }
            };
            let now = origin.elapsed().as_micros() as u64;
            let mut at = h.position();
            let admission = rate.admit(tat, now);
            tat = Some(admission.tat_us);
            let frame = Frame {
                body: match &message {
                    Some(text) => Body::Text(text),
                    None => Body::Binary,
                },
                rate: admission,
                now_us: now,
                // Sent at connect, ahead of everything.
                owes_welcome: false,
            };
            let replies = match app.handler.frame(session, frame).await {
                Answer::Handled(replies) => {
                    app.metrics.message();
                    replies
                }
                Answer::Refused(replies) => replies,
                Answer::Disconnect => {
                    h.close(close::POLICY, Answer::DISCONNECT_REASON);
                    return Ending::Server;
                }
            };
            for message in replies {
                if !send_at(socket, h, session, message, &mut at).await {
                    return Ending::Server;
                }
            }
            h.release();
        }
    }
}

/// [`send`] at `at` in the queue: before what was broadcast while the request was
/// handled ([`ConnectionHandle::enqueue_at`]).
async fn send_at(
    socket: &mut Socket,
    h: &ConnectionHandle,
    session: &Session,
    m: ServerMessage,
    at: &mut usize,
) -> bool {
    let Some(text) = m.render(session.protocol) else {
        return true;
    };
    match h.enqueue_at(frame::text(text.as_bytes()), at) {
        Ok(()) => true,
        Err(None) => false,
        // Full: write out first, then queue at the end, like any reply.
        Err(Some(frame)) => reply(socket, h, frame).await,
    }
}

/// Queue a reply in the session's protocol (some messages have no planetstack form);
/// false once the connection is closing.
async fn send(
    socket: &mut Socket,
    h: &ConnectionHandle,
    session: &Session,
    m: ServerMessage,
) -> bool {
    match m.render(session.protocol) {
        Some(text) => reply(socket, h, frame::text(text.as_bytes())).await,
        None => true,
    }
}

/// Queue a frame of the connection's own; when its queue is full, write the queue out
/// first: a client that does not read slows only itself.
async fn reply(socket: &mut Socket, h: &ConnectionHandle, frame: Bytes) -> bool {
    let mut frame = frame;
    loop {
        match h.enqueue(frame) {
            Ok(()) => return true,
            Err(None) => return false,
            Err(Some(back)) => frame = back,
        }
        let mut woken = pin!(h.woken());
        let written = poll_fn(|cx| {
            if let Poll::Ready(r) = socket.poll_write(cx, h) {
                return Poll::Ready(r.is_ok());
            }
            let _ = woken.as_mut().poll(cx);
            if h.close_reason().is_some() {
                return Poll::Ready(false);
            }
            Poll::Pending
        })
        .await;
        if !written {
            return false;
        }
    }
}

/// Stops the fan-out's direct writes to the socket when the connection's task ends
/// ([`ConnectionHandle::try_push_now`]).
struct Detach<'a>(&'a ConnectionHandle);

impl Drop for Detach<'_> {
    fn drop(&mut self) {
        self.0.detach();
    }
}
