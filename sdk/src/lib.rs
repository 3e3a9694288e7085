//! # roomcast-sdk
//!
//! Join roomcast rooms and broadcast into them from Rust.
//!
//! - [`Client`]: a `roomcast.v1` WebSocket client (tokio + tokio-tungstenite) for
//!   players and bots: [`join`](Client::join), [`leave`](Client::leave),
//!   [`get_state`](Client::get_state), the game actions
//!   ([`change_background`](Client::change_background), [`add_icon`](Client::add_icon),
//!   [`move_icon`](Client::move_icon), [`delete_icon`](Client::delete_icon)),
//!   application events the way the publisher sends them
//!   (`client.to("alpha").emit("chat", data)`, [`Client::to`]) and typed subscriptions
//!   to them (`client.on::<Chat>("chat")`, a `Stream` of `(from, Chat)`,
//!   [`Client::on`]), [`list_rooms`](Client::list_rooms),
//!   [`list_members`](Client::list_members), its own [`id`](Client::id) and
//!   [`user`](Client::user), a `Stream` of everything that happens ([`Client::events`]:
//!   [`Event::App`] for application events), requests that resolve on their `ack` or
//!   fail with the server's error code, and automatic reconnect that re-joins every
//!   room with `since` to recover exactly what it missed (or resyncs its state by
//!   version when the server no longer has it).
//! - [`Watermark`]: one room's place in its history (offset and epoch), dropping
//!   duplicate and already-seen frames; the client keeps one per room.
//! - [`RoomState`]: one room's state kept by the version rule (apply `version + 1`,
//!   drop older, resync on a gap). The client keeps one per room; use it directly with
//!   your own message loop.
//! - [`Publisher`]: server-side broadcast, `publisher.to("alpha").emit("chat", data)`,
//!   over a [`Transport`]: [`HttpTransport`] (the gateway's `POST /rooms/{room}/emit`),
//!   `SqsTransport` (feature `sqs`, off by default: a versioned publish envelope,
//!   [`protocol::PublishEnvelope`], onto the AWS stack's fan-out queue through an
//!   `aws_sdk_sqs::Client` you build), or your own.
//!
//! The wire types are roomcast-core's, re-exported here ([`protocol`], [`ServerMessage`],
//! [`Op`], …): the SDK has no copy of its own. [`Snapshot`] is core's
//! `state::RoomState`, a room's state at a version.
//!
//! ## Example
//!
//! A player and a server-side publisher (this runs against a gateway started in the
//! hidden lines):
//!
//! ```
//! # use roomcast_gateway::{Application, Config};
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! # let config = Config::from_args(["--port", "0", "--data-dir", dir.path().to_str().unwrap()])?;
//! # let app = Application::build(config).await?;
//! # let (port, stop) = (app.port(), app.shutdown_token());
//! # let server = tokio::spawn(app.run_until_stopped());
//! # let ws_url = format!("ws://127.0.0.1:{port}/dev");
//! # let http_url = format!("http://127.0.0.1:{port}");
//! use futures::StreamExt;
//! use roomcast_sdk::{icon, Client, Publisher};
//! use serde::Deserialize;
//! use serde_json::json;
//!
//! #[derive(Deserialize, Debug, PartialEq)]
//! struct News {
//!     n: u32,
//! }
//!
//! let player = Client::connect(&ws_url).room("alpha").await?;
//! let mut news = player.on::<News>("news");
//! let base = player.join("alpha").await?;
//! assert!(base.state.icons.is_empty());
//!
//! let added = player.add_icon("alpha", icon(3, 400.0, 400.0)?).await?;
//! assert_eq!(added.version, base.version + 1);
//!
//! Publisher::http(&http_url)?.to("alpha").emit("news", json!({"n": 1})).await?;
//! // `from` is `None`: a server published it.
//! assert_eq!(news.next().await, Some((None, News { n: 1 })));
//! // The client's replica of the room already holds the new module.
//! let alpha = player.state("alpha").unwrap();
//! assert!(alpha.state.icons.contains_key(&added.id));
//! # player.close().await;
//! # stop.cancel();
//! # server.await??;
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]

mod client;
mod error;
mod publisher;
mod room_state;
#[cfg(feature = "sqs")]
mod sqs;
mod tls;
mod watermark;

pub use roomcast_core::protocol;

pub use roomcast_core::protocol::{
    Background, ConnectionId, Coord, Epoch, ErrorCode, EventName, Icon, IconId, Image,
    InvalidValue, Limits, Position, ProtocolError, Ref, RoomName, RoomSummary, ServerMessage,
    UserCount, UserId,
};
pub use roomcast_core::state::{ApplyError, GameState, Op, PatchOutcome, RoomState as Snapshot};

/// The attribute for implementing [`Transport`] (re-exported `async_trait`).
pub use async_trait::async_trait;

pub use client::{
    AddedIcon, Client, ClientBuilder, ClientRoom, Event, Events, MembersPage, On, Reconnect,
};
pub use error::Error;
pub use publisher::{HttpTransport, Publisher, RoomPublisher, Transport};
pub use room_state::{Change, RoomState, Update};
#[cfg(feature = "sqs")]
pub use sqs::SqsTransport;
pub use watermark::Watermark;

/// A module's content for [`Client::add_icon`] / [`Client::move_icon`], checked
/// against the protocol's rules: `img` in `0..64`, `x` and `y` finite in
/// `-10000..=10000` (rounded to whole pixels).
///
/// ```
/// let i = roomcast_sdk::icon(3, 399.6, 400.0)?;
/// assert_eq!((i.img.get(), i.x.get(), i.y.get()), (3, 400, 400));
/// assert!(roomcast_sdk::icon(64, 0.0, 0.0).is_err());
/// # Ok::<(), roomcast_sdk::Error>(())
/// ```
pub fn icon(img: i64, x: f64, y: f64) -> Result<Icon, Error> {
    Ok(Icon {
        img: Image::parse(img)?,
        x: Coord::parse(x)?,
        y: Coord::parse(y)?,
    })
}

/// A background index for [`Client::change_background`], in `0..32`.
///
/// ```
/// assert_eq!(roomcast_sdk::background(4)?.get(), 4);
/// assert!(roomcast_sdk::background(32).is_err());
/// # Ok::<(), roomcast_sdk::Error>(())
/// ```
pub fn background(bg: i64) -> Result<Background, Error> {
    Ok(Background::parse(bg)?)
}

/// The README's examples, compiled as doctests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
