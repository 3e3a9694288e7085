//! Configuring and opening a [`Client`]: the builder, the reconnect policy, and the
//! wait for the first connection's `welcome`.

use std::collections::HashMap;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicI64};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{broadcast, mpsc, watch};

use super::connect::Target;
use super::driver::Driver;
use super::{Client, Inner, Room, Shared, Welcome};
use crate::Error;
use crate::protocol::RoomName;

/// How the client reconnects: exponential backoff from `initial` doubling up to `max`,
/// each delay randomized to between half and all of it (so a restarted server is not
/// hit by every client at once). Counting restarts after every successful reconnect.
///
/// A connection closed by the server with 1000 (normal, e.g. `DeleteConnection`) is
/// not reconnected, and neither is one the server refuses for good (`400`, `401`,
/// `403`: bad room, bad or expired token, room not granted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reconnect {
    /// The first delay.
    pub initial: Duration,
    /// The longest delay.
    pub max: Duration,
    /// Give up after this many failed attempts in a row (`None`: never give up).
    pub max_attempts: Option<u32>,
}

impl Default for Reconnect {
    /// 250 ms doubling up to 10 s, never giving up.
    fn default() -> Self {
        Self {
            initial: Duration::from_millis(250),
            max: Duration::from_secs(10),
            max_attempts: None,
        }
    }
}

impl Reconnect {
    /// Do not reconnect: the client stops when the connection drops.
    pub fn never() -> Self {
        Self {
            max_attempts: Some(0),
            ..Self::default()
        }
    }

    /// The delay before attempt `attempt` (0-based), randomized.
    pub fn delay(&self, attempt: u32) -> Duration {
        let full = self
            .initial
            .saturating_mul(2u32.saturating_pow(attempt.min(31)))
            .min(self.max);
        let half = full / 2;
        half + full.mul_f64(rand::random::<f64>() / 2.0).min(half)
    }
}

/// Options the driver uses.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    pub(crate) reconnect: Reconnect,
    pub(crate) keepalive: Duration,
}

/// Configures and opens a [`Client`]; from [`Client::connect`]. Await it to connect.
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until awaited"]
pub struct ClientBuilder {
    url: String,
    room: Option<String>,
    token: Option<String>,
    request_timeout: Duration,
    connect_timeout: Duration,
    reconnect: Reconnect,
    keepalive: Duration,
    event_buffer: usize,
}

impl ClientBuilder {
    /// The connect token (a JWT), sent as `?token=` (the API Gateway authorizer and the
    /// local gateway both read it there).
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// The connect room (`?room=`): the server joins the connection to it at connect.
    /// Without one the server uses `default`. The client keeps this room's state like
    /// any other room it joins.
    pub fn room(mut self, room: impl Into<String>) -> Self {
        self.room = Some(room.into());
        self
    }

    /// How long a request waits for its answer (default 10 s).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// How long one connection attempt may take (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The reconnect policy (default [`Reconnect::default`]).
    pub fn reconnect(mut self, policy: Reconnect) -> Self {
        self.reconnect = policy;
        self
    }

    /// How often to ping the server, which keeps an idle connection from hitting the
    /// 10-minute idle timeout (default 60 s).
    pub fn keepalive(mut self, period: Duration) -> Self {
        self.keepalive = period.max(Duration::from_millis(10));
        self
    }

    /// How many events an [`Events`](crate::Events) stream may fall behind before it skips ahead
    /// and reports [`Event::Lagged`](crate::Event::Lagged) (default 1024).
    pub fn event_buffer(mut self, events: usize) -> Self {
        self.event_buffer = events.max(1);
        self
    }

    /// Connect, and wait for the connection's `welcome` (so [`Client::id`] is known;
    /// both within the connect timeout). The first connection is not retried: its
    /// error is returned.
    pub async fn connect(self) -> Result<Client, Error> {
        let room = self.room.map(RoomName::parse).transpose()?;
        let target = Target::new(
            &self.url,
            room.as_ref(),
            self.token.as_deref(),
            self.connect_timeout,
        )?;
        let socket = target.open().await?;
        let connect_room = room.unwrap_or_else(RoomName::default_room);
        let (identity, mut welcomed) = watch::channel(Welcome::Awaited);
        let shared = Arc::new(Shared {
            rooms: Mutex::new(HashMap::from([(
                connect_room.clone(),
                Room::new(connect_room.clone()),
            )])),
            identity,
            next_ref: AtomicI64::new(1),
            closed: AtomicBool::new(false),
        });
        // The first `events()` gets everything from here on, the connect room's state
        // included (`resubscribe` would start at the tail, after what arrived while
        // connect waited for the welcome); later calls resubscribe from `later`.
        let (events_tx, first_rx) = broadcast::channel(self.event_buffer);
        let later = events_tx.subscribe();
        let (commands_tx, commands_rx) = mpsc::unbounded_channel();
        let driver = Driver::new(
            target,
            Options {
                reconnect: self.reconnect,
                keepalive: self.keepalive,
            },
            connect_room,
            commands_rx,
            events_tx,
            shared.clone(),
        );
        tokio::spawn(driver.run(socket));
        // The driver asks with `hello` if the server does not volunteer the welcome.
        // (Returning an error drops the command sender, which stops the driver.)
        let settled = welcomed.wait_for(|w| !matches!(w, Welcome::Awaited));
        match tokio::time::timeout(self.connect_timeout, settled).await {
            Err(_) => return Err(Error::ConnectTimeout(self.connect_timeout)),
            Ok(Err(_)) => return Err(Error::Closed),
            Ok(Ok(w)) => match &*w {
                Welcome::Known(_) | Welcome::Awaited => {}
                Welcome::Refused(e) => return Err(Error::Server(e.clone())),
                Welcome::Stopped => return Err(Error::Closed),
            },
        }
        Ok(Client {
            inner: Arc::new(Inner {
                commands: commands_tx,
                first_events: Mutex::new(Some(first_rx)),
                events: later,
                shared,
                request_timeout: self.request_timeout,
            }),
        })
    }
}

impl IntoFuture for ClientBuilder {
    type Output = Result<Client, Error>;
    type IntoFuture = Pin<Box<dyn Future<Output = Result<Client, Error>> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.connect())
    }
}

impl Client {
    /// Start configuring a connection to `url` (`ws://` or `wss://`, the WebSocket
    /// API's stage URL such as `ws://127.0.0.1:8080/dev`); await the builder to
    /// connect:
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), roomcast_sdk::Error> {
    /// let client = roomcast_sdk::Client::connect("wss://abc.execute-api.eu-west-1.amazonaws.com/prod")
    ///     .token("eyJhbGciOi…")
    ///     .room("alpha")
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn connect(url: impl Into<String>) -> ClientBuilder {
        ClientBuilder {
            url: url.into(),
            room: None,
            token: None,
            request_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(10),
            reconnect: Reconnect::default(),
            keepalive: Duration::from_secs(60),
            event_buffer: 1024,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_within_bounds() {
        let policy = Reconnect {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(1),
            max_attempts: None,
        };
        for _ in 0..50 {
            let first = policy.delay(0);
            assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
            let third = policy.delay(2);
            assert!(third >= Duration::from_millis(200) && third <= Duration::from_millis(400));
            let late = policy.delay(40);
            assert!(late >= Duration::from_millis(500) && late <= Duration::from_secs(1));
        }
        assert_eq!(Reconnect::never().max_attempts, Some(0));
    }
}
