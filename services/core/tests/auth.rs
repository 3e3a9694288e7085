//! JWT verification and room grants, as the AWS authorizer and the gateway use them.

use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use roomcast_core::auth::{AuthConfig, AuthError, RoomAccess, authorize_connect, bearer};
use roomcast_core::protocol::RoomName;
use serde_json::{Value, json};

const SECRET: &str = "test-secret-0123456789";
const PRIVATE: &str = include_str!("fixtures/jwt-rs256-private.pem");
const OTHER_PRIVATE: &str = include_str!("fixtures/jwt-rs256-other-private.pem");
const PUBLIC: &str = include_str!("fixtures/jwt-rs256-public.pem");

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn hs(claims: Value) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap()
}

fn rs(claims: Value, pem: &str) -> String {
    encode(
        &Header::new(Algorithm::RS256),
        &claims,
        &EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap(),
    )
    .unwrap()
}

fn hs_config(audience: Option<&str>) -> AuthConfig {
    AuthConfig {
        secret: Some(SECRET.into()),
        audience: audience.map(Into::into),
        ..AuthConfig::default()
    }
}

fn room(s: &str) -> RoomName {
    RoomName::parse(s).unwrap()
}

#[test]
fn no_key_configured_is_open() {
    let verifier = AuthConfig::default().verifier().unwrap();
    assert!(verifier.is_none());
    let p = authorize_connect(None, None, &room("alpha")).unwrap();
    assert_eq!(p.rooms, RoomAccess::Any);
    assert_eq!(p.subject, None);
    // Empty strings (an unset CloudFormation parameter) count as not configured.
    let blank = AuthConfig {
        secret: Some(String::new()),
        public_key_pem: Some("  ".into()),
        ..AuthConfig::default()
    };
    assert!(blank.verifier().unwrap().is_none());
}

#[test]
fn hs256_token_with_rooms_claim() {
    let v = hs_config(Some("roomcast")).verifier().unwrap().unwrap();
    let token = hs(json!({"sub":"ada","aud":"roomcast","exp":now()+600,"rooms":["alpha","beta"]}));
    let p = v.verify(&token).unwrap();
    assert_eq!(p.subject.as_deref(), Some("ada"));
    assert!(p.rooms.allows(&room("alpha")));
    assert!(p.rooms.allows(&room("beta")));
    assert!(!p.rooms.allows(&room("gamma")));

    assert!(authorize_connect(Some(&v), Some(&token), &room("beta")).is_ok());
    assert!(matches!(
        authorize_connect(Some(&v), Some(&token), &room("gamma")),
        Err(AuthError::RoomNotGranted(r)) if r.as_str() == "gamma"
    ));
}

#[test]
fn token_without_rooms_claim_grants_every_room() {
    let v = hs_config(None).verifier().unwrap().unwrap();
    let p = v.verify(&hs(json!({"sub":"x","exp":now()+60}))).unwrap();
    assert_eq!(p.rooms, RoomAccess::Any);
}

#[test]
fn expired_forged_and_wrong_audience_tokens_are_refused() {
    let v = hs_config(Some("roomcast")).verifier().unwrap().unwrap();
    let cases = [
        ("expired", hs(json!({"aud":"roomcast","exp":now()-3600}))),
        ("no exp", hs(json!({"aud":"roomcast"}))),
        (
            "wrong audience",
            hs(json!({"aud":"someone-else","exp":now()+600})),
        ),
        ("no audience", hs(json!({"exp":now()+600}))),
        ("forged", {
            encode(
                &Header::new(Algorithm::HS256),
                &json!({"aud":"roomcast","exp":now()+600}),
                &EncodingKey::from_secret(b"not-the-secret"),
            )
            .unwrap()
        }),
        (
            "alg none / garbage",
            "eyJhbGciOiJub25lIn0.eyJleHAiOjk5OTk5OTk5OTl9.".into(),
        ),
        ("not a jwt", "hello".into()),
        (
            "rs256 under an hs256 config",
            rs(json!({"aud":"roomcast","exp":now()+600}), PRIVATE),
        ),
    ];
    for (name, token) in cases {
        assert!(
            matches!(v.verify(&token), Err(AuthError::InvalidToken(_))),
            "{name} must be refused"
        );
    }
    assert!(matches!(
        authorize_connect(Some(&v), None, &room("alpha")),
        Err(AuthError::MissingToken)
    ));
    assert!(matches!(
        authorize_connect(Some(&v), Some(""), &room("alpha")),
        Err(AuthError::MissingToken)
    ));
}

#[test]
fn rs256_public_key() {
    let cfg = AuthConfig {
        public_key_pem: Some(PUBLIC.into()),
        audience: Some("roomcast".into()),
        issuer: Some("https://issuer.example".into()),
        ..AuthConfig::default()
    };
    let v = cfg.verifier().unwrap().unwrap();
    let good =
        json!({"aud":"roomcast","iss":"https://issuer.example","exp":now()+600,"rooms":["alpha"]});
    let p = v.verify(&rs(good.clone(), PRIVATE)).unwrap();
    assert!(p.rooms.allows(&room("alpha")));
    assert!(
        v.verify(&rs(good, OTHER_PRIVATE)).is_err(),
        "signed by another key"
    );
    let wrong_iss = json!({"aud":"roomcast","iss":"https://evil.example","exp":now()+600});
    assert!(v.verify(&rs(wrong_iss, PRIVATE)).is_err());
    assert!(
        v.verify(&hs(json!({"aud":"roomcast","exp":now()+600})))
            .is_err(),
        "hs256 under rs256"
    );
}

#[test]
fn bad_settings_and_bad_claims_are_errors() {
    let both = AuthConfig {
        secret: Some(SECRET.into()),
        public_key_pem: Some(PUBLIC.into()),
        ..AuthConfig::default()
    };
    assert!(matches!(both.verifier(), Err(AuthError::Config(_))));
    let bad_pem = AuthConfig {
        public_key_pem: Some("-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----".into()),
        ..AuthConfig::default()
    };
    assert!(matches!(bad_pem.verifier(), Err(AuthError::Config(_))));

    let v = hs_config(None).verifier().unwrap().unwrap();
    let token = hs(json!({"exp":now()+60,"rooms":["ok","not a room!"]}));
    assert!(matches!(v.verify(&token), Err(AuthError::InvalidRoomsClaim(r)) if r == "not a room!"));
    // The verifier's Debug never shows the key.
    assert!(!format!("{v:?}").contains(SECRET));
}

#[test]
fn room_access_context_round_trip_fails_closed() {
    let only = RoomAccess::Only([room("a"), room("b-2")].into_iter().collect());
    assert_eq!(only.to_context(), "a,b-2");
    assert_eq!(RoomAccess::from_context("a,b-2"), only);
    assert_eq!(RoomAccess::from_context("*"), RoomAccess::Any);
    assert_eq!(RoomAccess::Any.to_context(), "*");
    // Garbage never widens access.
    assert_eq!(
        RoomAccess::from_context("a,*,bad name"),
        RoomAccess::Only([room("a")].into_iter().collect())
    );
    assert_eq!(
        RoomAccess::from_context(""),
        RoomAccess::Only(Default::default())
    );
}

#[test]
fn bearer_header_forms() {
    assert_eq!(bearer("Bearer abc.def.ghi"), "abc.def.ghi");
    assert_eq!(bearer("bearer   abc"), "abc");
    assert_eq!(bearer("abc"), "abc");
}
