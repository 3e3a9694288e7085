//! Abuse limits and security on the AWS path, against moto and the real local gateway
//! standing in for API Gateway's `@connections`: the message rate held in the table
//! across invocations, `DeleteConnection` on a sustained excess, rooms per connection,
//! the emit size, the room grant of a token on every room action, the API key of the
//! management client, and authorizer logs without secrets.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use aws_lambda_events::apigw::ApiGatewayCustomAuthorizerRequestTypeRequest;
use bytes::Bytes;
use common::{Client, Gateway, typed};
use roomcast_aws::env::Wiring;
use roomcast_aws::handlers::{Actions, Authorizer, Connect};
use roomcast_aws::poster::ApiGwPoster;
use roomcast_core::abuse::{HandlerLimits, MessageRate, Verdict};
use roomcast_core::auth::AuthConfig;
use roomcast_core::ports::{MembershipStore, PostError, Poster, RoomStore};
use roomcast_core::protocol::{ConnectionId, RoomName};
use roomcast_testkit::{exp, hs};
use serde_json::{Value, json};

fn room(s: &str) -> RoomName {
    RoomName::parse(s).unwrap()
}

/// Connect `client` through the `connect` handler (so its items are in the table).
async fn connect(wiring: &Wiring, client: &Client, room: &str, authorizer: Option<Value>) {
    let connect = Connect::new(wiring.handler(), wiring.store.clone());
    let mut e = common::connect_event(&client.id, &[("room", room)], Some("roomcast.v1"));
    if let Some(a) = authorizer {
        e["requestContext"]["authorizer"] = a;
    }
    assert_eq!(connect.handle(typed(e)).await.status_code, 200);
}

/// Send `body` through `actions` and wait for the answer carrying its `ref`.
async fn request(
    actions: &Actions,
    gw: &Gateway,
    client: &mut Client,
    body: Value,
    authorizer: Option<Value>,
) -> Value {
    let event = common::message_event(&client.id, &body, &gw.base_url(), authorizer);
    assert_eq!(actions.handle(typed(event)).await.status_code, 200);
    loop {
        let m = client.recv().await;
        if m["ref"] == body["ref"] {
            return m;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_message_rate_holds_across_invocations_and_a_sustained_flood_is_deleted() {
    let sdk = common::sdk().await;
    let wiring = common::wiring(&sdk).await;
    let gw = Gateway::start(&[]).await;
    let mut client = gw.client().await;
    connect(&wiring, &client, "alpha", None).await;

    // Two function instances (two Lambda sandboxes) share nothing but the table.
    let rate = MessageRate {
        per_second: 1,
        burst: 3,
        strikes: 4,
    };
    let sandboxes = [
        Actions::new(
            wiring.handler().with_message_rate(rate),
            wiring.store.clone(),
            sdk.clone(),
            None,
        ),
        Actions::new(
            wiring.handler().with_message_rate(rate),
            wiring.store.clone(),
            sdk.clone(),
            None,
        ),
    ];
    let mut verdicts = vec![];
    for i in 0..7 {
        let body = json!({"action":"getState","room":"alpha","ref":format!("m{i}")});
        let answer = request(&sandboxes[i % 2], &gw, &mut client, body, None).await;
        verdicts.push(match (answer["type"].as_str(), answer["code"].as_str()) {
            (Some("ack"), _) => "ack",
            (Some("error"), Some("rate_limited")) => "limited",
            _ => panic!("unexpected answer {answer}"),
        });
    }
    // The burst of 3 (one more if a second went by), then refusals.
    let acks = verdicts.iter().filter(|v| **v == "ack").count();
    assert!((3..=4).contains(&acks), "{verdicts:?}");
    assert!(
        verdicts[acks..].iter().all(|v| *v == "limited"),
        "{verdicts:?}"
    );

    // Sending on: the connection is deleted through @connections.
    let mut closed = None;
    for i in 7..20 {
        let body = json!({"action":"getState","room":"alpha","ref":format!("m{i}")});
        let event = common::message_event(&client.id, &body, &gw.base_url(), None);
        sandboxes[i % 2].handle(typed(event)).await;
        if let Some(close) = closed_within(&mut client, std::time::Duration::from_millis(300)).await
        {
            closed = Some(close);
            break;
        }
    }
    assert_eq!(
        closed,
        Some(Some((1000, "deleted by the server".to_owned()))),
        "DeleteConnection closed the socket"
    );
    gw.stop().await;
}

/// The close frame if the socket closes within `window` (`Some(None)`: closed
/// without a frame); `None` if it stays open.
async fn closed_within(
    client: &mut Client,
    window: std::time::Duration,
) -> Option<Option<(u16, String)>> {
    use futures::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    let deadline = tokio::time::Instant::now() + window;
    loop {
        match tokio::time::timeout_at(deadline, client.ws.next()).await {
            Err(_) => return None,
            Ok(Some(Ok(Message::Close(frame)))) => {
                return Some(frame.map(|f| (u16::from(f.code), f.reason.to_string())));
            }
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(_)) | None) => return Some(None),
        }
    }
}

#[tokio::test]
async fn the_rate_item_counts_concurrent_messages_atomically() {
    let sdk = common::sdk().await;
    let store = common::table(&sdk).await;
    let id = ConnectionId::generate();
    let rate = MessageRate {
        per_second: 1,
        burst: 5,
        strikes: 10,
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64;
    // 20 messages at the same instant, all at once: exactly the burst is allowed,
    // exactly `strikes` refused, the rest disconnect — no interval is lost.
    let verdicts =
        futures::future::join_all((0..20).map(|_| store.admit_message(&id, &rate, now))).await;
    let count = |v: Verdict| {
        verdicts
            .iter()
            .filter(|a| a.as_ref().unwrap().verdict == v)
            .count()
    };
    assert_eq!(
        (
            count(Verdict::Allow),
            count(Verdict::Limited),
            count(Verdict::Disconnect)
        ),
        (5, 10, 5)
    );
    // Turned off, nothing is stored or refused.
    let off = store
        .admit_message(&ConnectionId::generate(), &MessageRate::OFF, now)
        .await
        .unwrap();
    assert_eq!(off.verdict, Verdict::Allow);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_join_beyond_max_rooms_is_refused_and_stores_nothing() {
    let sdk = common::sdk().await;
    let mut wiring = common::wiring(&sdk).await;
    wiring.limits = HandlerLimits {
        max_rooms: 2,
        ..HandlerLimits::default()
    };
    let gw = Gateway::start(&[]).await;
    let mut client = gw.client().await;
    connect(&wiring, &client, "alpha", None).await;
    let actions = Actions::new(wiring.handler(), wiring.store.clone(), sdk.clone(), None);

    let ok = request(
        &actions,
        &gw,
        &mut client,
        json!({"action":"join","room":"beta","ref":"b"}),
        None,
    )
    .await;
    assert_eq!(ok["type"], "ack", "{ok}");
    let refused = request(
        &actions,
        &gw,
        &mut client,
        json!({"action":"join","room":"gamma","ref":"g"}),
        None,
    )
    .await;
    assert_eq!(refused["code"], "room_limit", "{refused}");
    assert!(refused["message"].as_str().unwrap().contains("at most 2"));
    // Nothing stored: no membership, no count.
    let members = wiring
        .store
        .members(&room("gamma"), None, 10)
        .await
        .unwrap();
    assert!(members.members.is_empty());
    let rooms = wiring.store.rooms(50).await.unwrap();
    assert!(
        rooms.iter().all(|r| r.room.as_str() != "gamma"),
        "{rooms:?}"
    );
    // A room it is in is joined again without a refusal; leaving makes room.
    for (body, want) in [
        (json!({"action":"join","room":"beta","ref":"b2"}), "ack"),
        (json!({"action":"leave","room":"alpha","ref":"l"}), "ack"),
        (json!({"action":"join","room":"gamma","ref":"g2"}), "ack"),
    ] {
        let answer = request(&actions, &gw, &mut client, body.clone(), None).await;
        assert_eq!(answer["type"], want, "{body}: {answer}");
    }
    let members = wiring
        .store
        .members(&room("gamma"), None, 10)
        .await
        .unwrap();
    assert_eq!(members.members.len(), 1);
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_emit_bytes_bounds_emit_data() {
    let sdk = common::sdk().await;
    let mut wiring = common::wiring(&sdk).await;
    wiring.limits = HandlerLimits {
        max_emit_bytes: 100,
        ..HandlerLimits::default()
    };
    let gw = Gateway::start(&[]).await;
    let mut client = gw.client().await;
    connect(&wiring, &client, "alpha", None).await;
    let actions = Actions::new(wiring.handler(), wiring.store.clone(), sdk.clone(), None);
    let fits =
        json!({"action":"emit","room":"alpha","event":"e","data":"x".repeat(98),"ref":"fits"});
    assert_eq!(
        request(&actions, &gw, &mut client, fits, None).await["type"],
        "ack"
    );
    let big = json!({"action":"emit","room":"alpha","event":"e","data":"x".repeat(99),"ref":"big"});
    let answer = request(&actions, &gw, &mut client, big, None).await;
    assert_eq!(answer["code"], "payload_too_large", "{answer}");
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_limited_to_alpha_can_neither_join_read_change_nor_emit_elsewhere() {
    let sdk = common::sdk().await;
    let wiring = common::wiring(&sdk).await;
    let gw = Gateway::start(&[]).await;
    let actions = Actions::new(wiring.handler(), wiring.store.clone(), sdk.clone(), None);

    // An unrestricted member sets up beta with one icon.
    let mut bob = gw.client().await;
    let any = json!({"principal":"bob","rooms":"*","protocol":"roomcast.v1","room":"beta"});
    connect(&wiring, &bob, "beta", Some(any.clone())).await;
    let added = request(
        &actions,
        &gw,
        &mut bob,
        json!({"action":"addIcon","room":"beta","icon":{"img":1,"x":1,"y":1},"ref":"add"}),
        Some(any.clone()),
    )
    .await;
    assert_eq!(added["version"], 1, "{added}");
    // (No broadcaster runs here, so the id is read from the table, not a patch.)
    let state = wiring.store.load(&room("beta")).await.unwrap();
    let icon = state.state.state.icons.keys().next().unwrap().to_string();

    let mut ada = gw.client().await;
    let grant = json!({"principal":"ada","rooms":"alpha","protocol":"roomcast.v1","room":"alpha"});
    connect(&wiring, &ada, "alpha", Some(grant.clone())).await;
    for body in [
        json!({"action":"join","room":"beta"}),
        json!({"action":"getState","room":"beta"}),
        json!({"action":"changeBackground","room":"beta","bg":2}),
        json!({"action":"addIcon","room":"beta","icon":{"img":1,"x":1,"y":1}}),
        json!({"action":"moveIcon","room":"beta","icon":{"id":icon,"img":2,"x":9,"y":9}}),
        json!({"action":"deleteIcon","room":"beta","id":icon}),
        json!({"action":"emit","room":"beta","event":"x","data":1}),
    ] {
        let mut body = body;
        body["ref"] = json!(format!("{}", body["action"].as_str().unwrap()));
        let answer = request(&actions, &gw, &mut ada, body.clone(), Some(grant.clone())).await;
        assert_eq!(answer["code"], "forbidden", "{body}: {answer}");
        assert!(answer.get("state").is_none(), "no state leaks: {answer}");
    }
    // Nothing happened to beta: same version and icon, ada not a member, bob heard
    // nothing from her.
    let state = wiring.store.load(&room("beta")).await.unwrap();
    assert_eq!(state.state.version, 1);
    let members = wiring.store.members(&room("beta"), None, 10).await.unwrap();
    assert!(members.members.iter().all(|m| m.id.as_str() != ada.id));
    let heard = bob.drain(std::time::Duration::from_millis(300)).await;
    assert!(heard.is_empty(), "{heard:?}");
    // listRooms shows ada only alpha.
    let listed = request(
        &actions,
        &gw,
        &mut ada,
        json!({"action":"listRooms","ref":"list"}),
        Some(grant.clone()),
    )
    .await;
    assert_eq!(listed["type"], "ack");
    let rooms = loop {
        let m = ada.recv().await;
        if m["type"] == "rooms" {
            break m;
        }
    };
    assert!(
        rooms["rooms"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["room"] == "alpha"),
        "{rooms}"
    );
    gw.stop().await;
}

#[tokio::test]
async fn the_management_client_sends_the_api_key_a_local_gateway_requires() {
    let sdk = common::sdk().await;
    let gw = Gateway::start(&["--api-key", "servers-only"]).await;
    let mut client = gw.client().await;
    let id = ConnectionId::parse(client.id.clone()).unwrap();
    let frame =
        Bytes::from_static(br#"{"type":"event","room":"r","event":"hi","data":1,"from":null}"#);

    let keyless = ApiGwPoster::new(&sdk, gw.endpoint());
    match keyless.post(&id, &frame).await {
        Err(PostError::Backend(e)) => assert!(format!("{e:?}").contains("403"), "{e:?}"),
        other => panic!("posted without the key: {other:?}"),
    }
    let wrong = ApiGwPoster::with_api_key(&sdk, gw.endpoint(), Some("guess"));
    assert!(wrong.post(&id, &frame).await.is_err());

    let keyed = ApiGwPoster::with_api_key(&sdk, gw.endpoint(), Some("servers-only"));
    keyed.post(&id, &frame).await.expect("posted with the key");
    assert_eq!(client.recv().await["event"], "hi");
    assert!(
        keyless.delete(&id).await.is_err(),
        "delete needs the key too"
    );
    keyed.delete(&id).await.expect("deleted with the key");
    assert_eq!(
        closed_within(&mut client, common::WAIT).await,
        Some(Some((1000, "deleted by the server".to_owned())))
    );
    // Deleting a gone connection is not an error.
    keyed.delete(&id).await.expect("gone is fine");
    gw.stop().await;
}

/// A writer collecting everything logged while it is the default subscriber.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn the_authorizer_logs_decisions_without_the_secret_or_the_tokens() {
    const SECRET: &str = "authorizer-log-secret-7f3a9c";
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let tokens = [
        hs(
            json!({"sub":"ada","exp":exp(600),"rooms":["alpha"]}),
            SECRET,
        ),
        hs(json!({"sub":"ada","exp":exp(-600)}), SECRET),
        hs(json!({"sub":"eve","exp":exp(600)}), "forged-secret"),
        hs(json!({"sub":"ada","exp":exp(600),"rooms":["beta"]}), SECRET),
    ];
    tracing::subscriber::with_default(subscriber, || {
        let authorizer = Authorizer::new(&AuthConfig {
            secret: Some(SECRET.into()),
            ..AuthConfig::default()
        })
        .unwrap();
        tracing::info!(config = ?AuthConfig { secret: Some(SECRET.into()), ..AuthConfig::default() }, "settings");
        for t in &tokens {
            let mut e = common::sample("websocket-authorizer.json");
            e["queryStringParameters"] = json!({"room":"alpha","token":t});
            e["multiValueQueryStringParameters"] = json!({});
            e["headers"]["Authorization"] = format!("Bearer {t}").into();
            let event: ApiGatewayCustomAuthorizerRequestTypeRequest = typed(e);
            authorizer.handle(event);
        }
    });
    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("connect denied"),
        "the denials are logged: {logs}"
    );
    assert!(logs.contains("<redacted>"), "{logs}");
    assert!(!logs.contains(SECRET), "the secret is logged: {logs}");
    for t in &tokens {
        let signature = t.rsplit('.').next().unwrap();
        assert!(!logs.contains(signature), "a token is logged: {logs}");
    }
}
