//! What a [`Client`](crate::Client)'s connection reports: its messages and state changes, as a stream.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures::Stream;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;
use tokio::sync::broadcast;

use crate::protocol::{ConnectionId, EventName, RoomName};
use crate::{Change, Error, ServerMessage};

/// Something that happened on a [`Client`](crate::Client)'s connection, as yielded by [`Events`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Event {
    /// An application event in a room this client is in: emitted by a member
    /// ([`Client::to`](crate::Client::to)) or published by a server
    /// ([`Publisher`](crate::Publisher)). Read `data` with [`Event::data`], or
    /// subscribe to one event by name, decoded, with [`Client::on`](crate::Client::on).
    App {
        /// The room.
        room: RoomName,
        /// The event's name.
        event: EventName,
        /// The member connection that emitted it; `None` when a server published it.
        from: Option<ConnectionId>,
        /// Its data, the JSON as sent.
        data: Box<RawValue>,
    },
    /// Any other message from the server, decoded: `state`, `patch`, `presence`,
    /// `rooms`, `members`, `welcome`, and the `ack`/`error` answers (which also resolve
    /// the requests). When it is a `state` or `patch`,
    /// [`Client::state`](crate::Client::state) already reflects it. Application events
    /// come as [`Event::App`] instead.
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

impl Event {
    /// The event for a message from the server: [`Event::App`] for an application
    /// event, else [`Event::Message`].
    pub(crate) fn from_message(message: ServerMessage) -> Self {
        match message {
            ServerMessage::Event {
                room,
                event,
                data,
                from,
                ..
            } => Event::App {
                room,
                event,
                from,
                data,
            },
            other => Event::Message(other),
        }
    }

    /// An [`Event::App`]'s data decoded as `T`; `None` for any other event.
    ///
    /// ```
    /// # fn handle(event: roomcast_sdk::Event) -> Result<(), roomcast_sdk::Error> {
    /// use roomcast_sdk::Event;
    ///
    /// #[derive(serde::Deserialize)]
    /// struct Chat {
    ///     text: String,
    /// }
    ///
    /// if let Event::App { event: name, .. } = &event
    ///     && name.as_str() == "chat"
    ///     && let Some(chat) = event.data::<Chat>()?
    /// {
    ///     println!("{}", chat.text);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn data<T: DeserializeOwned>(&self) -> Result<Option<T>, Error> {
        match self {
            Event::App { data, .. } => serde_json::from_str(data.get())
                .map(Some)
                .map_err(Error::Decode),
            _ => Ok(None),
        }
    }
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
