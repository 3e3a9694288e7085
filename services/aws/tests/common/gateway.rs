//! The local gateway in the role the AWS tests give it: API Gateway's `@connections`,
//! whose real WebSocket clients stand for API Gateway's connections.

use std::ops::{Deref, DerefMut};

use roomcast_testkit::{TestGateway, WsClient, http_get};
use serde_json::json;

use super::unique;

/// The real local gateway ([`TestGateway`]): its `@connections` endpoint stands in for
/// API Gateway's, so the AWS functions under test post to real sockets.
pub struct Gateway(TestGateway);

impl Gateway {
    /// A gateway with extra `flags`, whose own presence broadcasts wait 15 minutes.
    ///
    /// The gateway's own rooms (each client's lobby and whoami) are plumbing: their
    /// coalesced presence broadcasts must not land among the frames the AWS path
    /// posts, so they wait 15 minutes (each joiner still gets its count at once).
    pub async fn start(flags: &[&str]) -> Self {
        let mut args = vec!["--presence-interval", "15m"];
        args.extend_from_slice(flags);
        Self(TestGateway::start(&args).await)
    }

    /// A `roomcast.v1` client in the gateway's own `lobby` room (so the gateway's
    /// broadcasts never reach it), and its connection id: what `$connect` is told.
    pub async fn client(&self) -> Client {
        let lobby = format!("lobby-{}", unique("c"));
        let mut socket = self.v1(Some(&lobby)).await;
        // An emit to ourselves in a private room tells our id (`from`).
        let whoami = unique("whoami");
        socket.send(json!({"action":"join","room":whoami})).await;
        socket
            .send(json!({"action":"emit","room":whoami,"event":"id","data":null,"except_sender":false}))
            .await;
        // The gateway fans out a room's jobs concurrently, so the presence counts of the
        // connect room and of `whoami` may arrive after the event: wait for all three,
        // or a late one would be the first frame a test reads.
        let mut id = String::new();
        let (mut lobby_presence, mut whoami_presence) = (false, false);
        while id.is_empty() || !lobby_presence || !whoami_presence {
            let m = socket.recv().await;
            match m["type"].as_str() {
                Some("event") if m["event"] == "id" => {
                    id = m["from"].as_str().unwrap().to_owned();
                }
                Some("presence") if m["room"] == lobby.as_str() => lobby_presence = true,
                Some("presence") if m["room"] == whoami.as_str() => whoami_presence = true,
                _ => {}
            }
        }
        socket.send(json!({"action":"leave","room":whoami})).await;
        Client { id, socket }
    }

    /// `PostToConnection` calls its `@connections` has received so far (read from
    /// `/metrics`, `roomcast_connections_api_posts_total`; panics if it is missing).
    pub async fn connections_api_posts(&self) -> u64 {
        let body = http_get(&self.0, "/metrics").await;
        body.lines()
            .find_map(|l| l.strip_prefix("roomcast_connections_api_posts_total "))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("no post counter in /metrics:\n{body}"))
    }

    /// [`TestGateway::stop`].
    pub async fn stop(self) {
        self.0.stop().await;
    }
}

impl Deref for Gateway {
    type Target = TestGateway;

    fn deref(&self) -> &TestGateway {
        &self.0
    }
}

/// A client of the local gateway standing for one API Gateway connection: its socket
/// ([`WsClient`], which it derefs to) and the connection id the functions are told.
pub struct Client {
    pub id: String,
    pub socket: WsClient,
}

impl Deref for Client {
    type Target = WsClient;

    fn deref(&self) -> &WsClient {
        &self.socket
    }
}

impl DerefMut for Client {
    fn deref_mut(&mut self) -> &mut WsClient {
        &mut self.socket
    }
}
