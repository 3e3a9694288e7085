//! Core's edge, as both homes run it: connect admission (the refusals with their codes
//! and statuses) and the frame pipeline (rate verdicts, binary frames, the owed welcome).

mod common;

use common::memory::World;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use roomcast_core::abuse::{Admission, MessageRate, Verdict};
use roomcast_core::auth::{AuthConfig, Principal, RoomAccess};
use roomcast_core::edge::{self, Answer, Body, ConnectRequest, Frame, Refusal};
use roomcast_core::protocol::{ConnectionId, Protocol, RoomName, ServerMessage};
use serde_json::{Value, json};

const SECRET: &str = "edge-test-secret-0123456789";

fn token(claims: Value) -> String {
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 600;
    let mut claims = claims;
    claims["exp"] = json!(exp);
    encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap()
}

fn verifier() -> roomcast_core::auth::TokenVerifier {
    AuthConfig {
        secret: Some(SECRET.into()),
        ..AuthConfig::default()
    }
    .verifier()
    .unwrap()
    .unwrap()
}

fn id() -> ConnectionId {
    ConnectionId::parse("Conn1234567890=").unwrap()
}

#[test]
fn open_auth_admits_the_default_room_as_an_anonymous_planetstack_client() {
    let session = edge::admit(None, &ConnectRequest::default())
        .unwrap()
        .session(id());
    assert_eq!(session.room, RoomName::default_room());
    assert_eq!(session.protocol, Protocol::Planetstack);
    assert_eq!(session.access, RoomAccess::Any);
    assert_eq!(session.user.as_str(), "anonymous:Conn1234567890=");
}

#[test]
fn the_subprotocol_is_found_in_any_offered_list() {
    let request = ConnectRequest {
        protocols: vec!["chat, roomcast.v1", "other"],
        ..ConnectRequest::default()
    };
    assert_eq!(edge::admit(None, &request).unwrap().protocol, Protocol::V1);
}

#[test]
fn the_token_comes_from_the_query_first_then_the_bearer_header() {
    let v = verifier();
    let alpha = token(json!({"sub": "ada", "rooms": ["alpha"]}));
    let beta = token(json!({"sub": "bob", "rooms": ["beta"]}));
    let header = format!("Bearer {beta}");
    let both = ConnectRequest {
        room: Some("alpha"),
        token: Some(&alpha),
        authorization: Some(&header),
        ..ConnectRequest::default()
    };
    let admitted = edge::admit(Some(&v), &both).unwrap();
    assert_eq!(admitted.principal.subject.as_deref(), Some("ada"));
    let header_only = ConnectRequest {
        room: Some("beta"),
        authorization: Some(&header),
        ..ConnectRequest::default()
    };
    let session = edge::admit(Some(&v), &header_only).unwrap().session(id());
    assert_eq!(session.user.as_str(), "bob");
}

#[test]
fn refusals_carry_their_code_and_status() {
    let v = verifier();
    let alpha = token(json!({"sub": "ada", "rooms": ["alpha"]}));
    let bad_sub = token(json!({"sub": "a\u{7}b", "rooms": ["*"]}));
    let cases: [(ConnectRequest, &str, u16); 5] = [
        (
            ConnectRequest {
                room: Some("no spaces"),
                ..ConnectRequest::default()
            },
            "invalid_room",
            400,
        ),
        (ConnectRequest::default(), "unauthorized", 401),
        (
            ConnectRequest {
                token: Some("not-a-jwt"),
                ..ConnectRequest::default()
            },
            "unauthorized",
            401,
        ),
        (
            ConnectRequest {
                room: Some("beta"),
                token: Some(&alpha),
                ..ConnectRequest::default()
            },
            "forbidden",
            403,
        ),
        (
            ConnectRequest {
                token: Some(&bad_sub),
                ..ConnectRequest::default()
            },
            "unauthorized",
            401,
        ),
    ];
    for (request, code, status) in cases {
        let refusal = edge::admit(Some(&v), &request).unwrap_err();
        assert_eq!(
            (refusal.code().as_str(), refusal.status()),
            (code, status),
            "{request:?}: {refusal}"
        );
        assert!(!refusal.to_string().is_empty());
    }
}

#[test]
fn readmit_checks_an_authorizers_grant_again() {
    let request = ConnectRequest {
        room: Some("beta"),
        ..ConnectRequest::default()
    };
    let grant = Principal {
        subject: Some("ada".into()),
        rooms: RoomAccess::from_context("alpha"),
    };
    assert!(matches!(
        edge::readmit(Some(grant), &request),
        Err(Refusal::Forbidden(room)) if room.as_str() == "beta"
    ));
    // No authorizer at all: any room, the connection its own user.
    let session = edge::readmit(None, &request).unwrap().session(id());
    assert_eq!(session.access, RoomAccess::Any);
    assert!(session.user.as_str().starts_with("anonymous:"));
}

fn v1_session() -> roomcast_core::Session {
    let request = ConnectRequest {
        protocols: vec![Protocol::V1_NAME],
        ..ConnectRequest::default()
    };
    edge::admit(None, &request).unwrap().session(id())
}

fn frame(body: Body<'_>, verdict: Verdict, owes_welcome: bool) -> Frame<'_> {
    Frame {
        body,
        rate: Admission {
            verdict,
            tat_us: 2_000_000,
        },
        now_us: 1_000_000,
        owes_welcome,
    }
}

fn types(replies: &[ServerMessage]) -> Vec<String> {
    replies
        .iter()
        .map(|m| {
            let v: Value = serde_json::from_str(&m.to_v1()).unwrap();
            v["type"].as_str().unwrap().to_owned()
        })
        .collect()
}

#[tokio::test]
async fn an_allowed_text_frame_is_handled() {
    let w = World::new(64);
    let session = v1_session();
    let get = r#"{"action":"getState","room":"alpha","ref":1}"#;
    let answer = w
        .handler
        .frame(&session, frame(Body::Text(get), Verdict::Allow, false))
        .await;
    assert!(matches!(answer, Answer::Handled(_)), "{answer:?}");
    assert_eq!(types(answer.replies()), ["ack", "state"]);
}

#[tokio::test]
async fn a_limited_frame_is_refused_with_its_ref_and_a_binary_one_as_unsupported() {
    let w = World::new(64);
    let handler = w.handler.with_message_rate(MessageRate {
        per_second: 1,
        burst: 1,
        strikes: 4,
    });
    let session = v1_session();
    let add = r#"{"action":"addIcon","room":"alpha","icon":{"img":1,"x":1,"y":1},"ref":"r9"}"#;
    let answer = handler
        .frame(&session, frame(Body::Text(add), Verdict::Limited, false))
        .await;
    let Answer::Refused(replies) = &answer else {
        panic!("{answer:?}")
    };
    let error: Value = serde_json::from_str(&replies[0].to_v1()).unwrap();
    assert_eq!(
        (error["code"].as_str(), error["ref"].as_str()),
        (Some("rate_limited"), Some("r9"))
    );
    assert_eq!(w.queue.take().len(), 0, "a refused frame changes nothing");

    let answer = handler
        .frame(&session, frame(Body::Binary, Verdict::Allow, false))
        .await;
    let Answer::Refused(replies) = &answer else {
        panic!("{answer:?}")
    };
    let error: Value = serde_json::from_str(&replies[0].to_v1()).unwrap();
    assert_eq!(error["code"], "unsupported_frame");

    let answer = handler
        .frame(&session, frame(Body::Text(add), Verdict::Disconnect, true))
        .await;
    assert!(matches!(answer, Answer::Disconnect));
    assert!(answer.replies().is_empty());
}

#[tokio::test]
async fn an_owed_welcome_goes_first_once() {
    let w = World::new(64);
    let session = v1_session();
    let get = r#"{"action":"getState","room":"alpha","ref":1}"#;
    let answer = w
        .handler
        .frame(&session, frame(Body::Text(get), Verdict::Allow, true))
        .await;
    assert_eq!(types(answer.replies()), ["welcome", "ack", "state"]);
    // A `hello` answers with the welcome itself: not a second one.
    let hello = r#"{"action":"hello","ref":2}"#;
    let answer = w
        .handler
        .frame(&session, frame(Body::Text(hello), Verdict::Allow, true))
        .await;
    assert_eq!(types(answer.replies()), ["welcome", "ack"]);
    // A refusal is owed it too: it is still the connection's first frame back.
    let answer = w
        .handler
        .frame(&session, frame(Body::Binary, Verdict::Allow, true))
        .await;
    assert_eq!(types(answer.replies()), ["welcome", "error"]);
}
