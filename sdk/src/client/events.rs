//! What a [`Client`](crate::Client)'s connection reports: its messages and state changes, as a stream.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures::Stream;
use tokio::sync::broadcast;

use crate::protocol::RoomName;
use crate::{Change, ServerMessage};

/// Something that happened on a [`Client`](crate::Client)'s connection, as yielded by [`Events`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Event {
    /// A message from the server, decoded: `state`, `patch`, `event`, `presence`,
    /// `rooms`, and the `ack`/`error` answers (which also resolve the requests). When
    /// it is a `state` or `patch`, [`Client::state`](crate::Client::state) already reflects it.
    Message(ServerMessage),
    /// The replica of `room` changed (after the `Message` that changed it): use this
    /// to re-render a room instead of interpreting states and patches yourself.
    Changed {
        /// The room.
        room: RoomName,
        /// What changed.
        change: Change,
    },
    /// The connection dropped. Unless it was closed by the server normally, the client
    /// is reconnecting.
    Disconnected,
    /// The client reconnected and the new connection's `welcome` arrived
    /// ([`Client::id`](crate::Client::id) is the new id); its rooms are being re-joined, each recovering
    /// what it missed (`join` with `since`) or resyncing its state.
    Reconnected,
    /// This stream fell behind and missed this many events (see
    /// [`ClientBuilder::event_buffer`](crate::ClientBuilder::event_buffer)).
    Lagged(u64),
}

/// The [`Client`](crate::Client)'s events as a [`Stream`]. It ends when the client stops (closed,
/// dropped, or gave up reconnecting).
pub struct Events {
    inner: Pin<Box<dyn Stream<Item = Event> + Send>>,
}

impl Events {
    pub(super) fn new(receiver: broadcast::Receiver<Event>) -> Self {
        let stream = futures::stream::unfold(receiver, |mut receiver| async move {
            match receiver.recv().await {
                Ok(event) => Some((event, receiver)),
                Err(broadcast::error::RecvError::Lagged(n)) => Some((Event::Lagged(n), receiver)),
                Err(broadcast::error::RecvError::Closed) => None,
            }
        });
        Self {
            inner: Box::pin(stream),
        }
    }
}

impl Stream for Events {
    type Item = Event;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        self.inner.as_mut().poll_next(cx)
    }
}

impl std::fmt::Debug for Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Events").finish_non_exhaustive()
    }
}
