//! Application events: `client.to(room).emit(event, data)` and typed subscriptions,
//! `client.on::<T>(event)`.

use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::{Stream, StreamExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::driver::Kind;
use super::{Client, Event, Events};
use crate::Error;
use crate::protocol::{ClientAction, ConnectionId, EventName, InvalidValue, RoomName};

impl Client {
    /// Address `room` (the Socket.IO way, as [`Publisher::to`](crate::Publisher::to)
    /// does): `client.to("alpha").emit("chat", data)`. An invalid name is reported by
    /// [`ClientRoom::emit`].
    pub fn to(&self, room: impl AsRef<str>) -> ClientRoom {
        ClientRoom {
            client: self.clone(),
            room: RoomName::parse(room.as_ref()),
            except_self: true,
        }
    }

    /// The application events named `event`, in every room this client is in, with
    /// their data decoded as `T`: a `Stream` of `(from, T)`, where `from` is the member
    /// connection that emitted it, or `None` when a server published it.
    ///
    /// It sees the events from this call on (recovered ones after a reconnect
    /// included), like a later [`Client::events`]; an event whose data does not decode
    /// as `T` is skipped with a `tracing` warning (read [`Event::App`] on
    /// [`Client::events`] to see everything). It ends when the client stops.
    /// [`ClientRoom::on`] is the same for one room.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), roomcast_sdk::Error> {
    /// use futures::StreamExt;
    /// use roomcast_sdk::Client;
    ///
    /// #[derive(serde::Deserialize)]
    /// struct Chat {
    ///     text: String,
    /// }
    ///
    /// let client = Client::connect("ws://127.0.0.1:8080/dev").room("alpha").await?;
    /// let mut chats = client.on::<Chat>("chat");
    /// while let Some((from, chat)) = chats.next().await {
    ///     println!("{}: {}", from.map_or("server".into(), |f| f.to_string()), chat.text);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn on<T: DeserializeOwned + Send + 'static>(&self, event: impl AsRef<str>) -> On<T> {
        On::new(self.subscribe(), Rooms::All, event.as_ref())
    }

    /// A stream of this connection's events from now on.
    fn subscribe(&self) -> Events {
        Events::new(self.inner.events.resubscribe())
    }

    async fn emit_with(
        &self,
        room: RoomName,
        event: &str,
        data: impl Serialize,
        except_sender: bool,
    ) -> Result<(), Error> {
        let action = ClientAction::Emit {
            room,
            event: EventName::parse(event)?,
            data: serde_json::value::to_raw_value(&data).map_err(Error::Encode)?,
            except_sender,
        };
        self.request(action, Kind::Ack).await?;
        Ok(())
    }
}

/// A [`Client`] addressing one room, from [`Client::to`]: emit application events
/// into it and subscribe to its events. Cheap to clone.
///
/// ```no_run
/// # async fn run(client: roomcast_sdk::Client) -> Result<(), roomcast_sdk::Error> {
/// use serde_json::json;
///
/// client.to("alpha").emit("chat", json!({"text": "hi"})).await?; // the others
/// client.to("alpha").including_self().emit("round", json!(3)).await?; // everyone
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct ClientRoom {
    client: Client,
    room: Result<RoomName, InvalidValue>,
    except_self: bool,
}

impl ClientRoom {
    /// Leave this client out of what [`ClientRoom::emit`] sends: the room's other
    /// members get it (like Socket.IO's `socket.to(room).emit`). The default.
    pub fn except_self(mut self) -> Self {
        self.except_self = true;
        self
    }

    /// Send what [`ClientRoom::emit`] sends to this client too (every member).
    pub fn including_self(mut self) -> Self {
        self.except_self = false;
        self
    }

    /// Broadcast application event `event` with `data` (anything serializable, within
    /// the server's `max_emit_bytes`) to the room's other members, or to every member
    /// after [`ClientRoom::including_self`]: each receives [`Event::App`] with `from`
    /// this client's [`id`](Client::id). This client need not be in the room. Resolves
    /// when the server has accepted it for fan-out (its `ack`).
    pub async fn emit(&self, event: impl AsRef<str>, data: impl Serialize) -> Result<(), Error> {
        let room = self.room.clone()?;
        self.client
            .emit_with(room, event.as_ref(), data, self.except_self)
            .await
    }

    /// [`Client::on`] for this room only.
    pub fn on<T: DeserializeOwned + Send + 'static>(&self, event: impl AsRef<str>) -> On<T> {
        let rooms = match &self.room {
            Ok(room) => Rooms::Only(room.clone()),
            // No room has that name, so no event matches.
            Err(_) => Rooms::None,
        };
        On::new(self.client.subscribe(), rooms, event.as_ref())
    }
}

/// A typed subscription to one application event, from [`Client::on`] or
/// [`ClientRoom::on`]: a [`Stream`] of `(from, T)`.
pub struct On<T> {
    inner: Pin<Box<dyn Stream<Item = (Option<ConnectionId>, T)> + Send>>,
    _data: PhantomData<fn() -> T>,
}

/// The rooms a subscription listens to.
enum Rooms {
    All,
    Only(RoomName),
    None,
}

impl Rooms {
    fn admit(&self, room: &RoomName) -> bool {
        match self {
            Rooms::All => true,
            Rooms::Only(only) => only == room,
            Rooms::None => false,
        }
    }
}

impl<T: DeserializeOwned + Send + 'static> On<T> {
    fn new(events: Events, rooms: Rooms, name: &str) -> Self {
        let name = name.to_owned();
        let stream = events.filter_map(move |e| {
            let item = match e {
                Event::App {
                    room: r,
                    event,
                    from,
                    data,
                } if event.as_str() == name && rooms.admit(&r) => {
                    match serde_json::from_str::<T>(data.get()) {
                        Ok(value) => Some((from, value)),
                        Err(error) => {
                            tracing::warn!(
                                room = %r, event = %event, %error,
                                "application event skipped: its data does not decode as the subscription's type"
                            );
                            None
                        }
                    }
                }
                _ => None,
            };
            std::future::ready(item)
        });
        Self {
            inner: Box::pin(stream),
            _data: PhantomData,
        }
    }
}

impl<T> Stream for On<T> {
    type Item = (Option<ConnectionId>, T);
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}

impl<T> std::fmt::Debug for On<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("On").finish_non_exhaustive()
    }
}
