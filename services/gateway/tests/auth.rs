//! Connect tokens in the local gateway: the same JWT settings and decisions as the AWS
//! authorizer, and the `rooms` claim enforced on every room action.

use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use roomcast_testkit::{TestGateway, WsClient, exp, hs, try_connect};
use serde_json::{Value, json};

const SECRET: &str = "gateway-test-secret";
const PUBLIC_PEM: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../core/tests/fixtures/jwt-rs256-public.pem"
);
const PRIVATE: &str = include_str!("../../core/tests/fixtures/jwt-rs256-private.pem");

async fn hs_gateway() -> TestGateway {
    TestGateway::start(&["--jwt-secret", SECRET, "--jwt-audience", "roomcast"]).await
}

#[tokio::test]
async fn connect_needs_a_valid_token_when_a_key_is_configured() {
    let gw = hs_gateway().await;
    let url = gw.ws_url(Some("alpha"));
    let good = hs(json!({"sub":"ada","aud":"roomcast","exp":exp(600)}), SECRET);
    let refused = [
        ("no token", url.clone(), None),
        (
            "expired",
            format!(
                "{url}&token={}",
                hs(json!({"aud":"roomcast","exp":exp(-3600)}), SECRET)
            ),
            None,
        ),
        (
            "forged",
            format!(
                "{url}&token={}",
                hs(json!({"aud":"roomcast","exp":exp(600)}), "wrong")
            ),
            None,
        ),
        (
            "wrong audience",
            format!(
                "{url}&token={}",
                hs(json!({"aud":"other","exp":exp(600)}), SECRET)
            ),
            None,
        ),
    ];
    for (name, url, auth) in refused {
        let (status, body) = try_connect(&url, auth)
            .await
            .err()
            .unwrap_or_else(|| panic!("{name} connected"));
        assert_eq!(status, 401, "{name}");
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["code"], "unauthorized", "{name}");
    }
    // Query parameter and Authorization header both work.
    assert!(
        try_connect(&format!("{url}&token={good}"), None)
            .await
            .is_ok()
    );
    assert!(
        try_connect(&url, Some(&format!("Bearer {good}")))
            .await
            .is_ok()
    );
    gw.stop().await;
}

#[tokio::test]
async fn the_rooms_claim_limits_connect_join_state_changes_and_emit() {
    let gw = hs_gateway().await;
    let token = hs(
        json!({"sub":"ada","aud":"roomcast","exp":exp(600),"rooms":["alpha"]}),
        SECRET,
    );
    let (status, body) = try_connect(&format!("{}&token={token}", gw.ws_url(Some("beta"))), None)
        .await
        .expect_err("beta is not granted");
    assert_eq!(status, 403);
    assert!(body.contains("forbidden"), "{body}");

    let url = format!("{}&token={token}", gw.ws_url(Some("alpha")));
    let mut ada = WsClient::connect(&url, Some("roomcast.v1")).await;
    ada.ok(json!({"action":"addIcon","room":"alpha","icon":{"img":1,"x":5,"y":5}}))
        .await;

    // An unrestricted client sets up beta, so refusals are not about emptiness.
    let open = hs(json!({"aud":"roomcast","exp":exp(600)}), SECRET);
    let mut bob = WsClient::connect(
        &format!("{}&token={open}", gw.ws_url(Some("beta"))),
        Some("roomcast.v1"),
    )
    .await;
    bob.ok(json!({"action":"changeBackground","room":"beta","bg":3}))
        .await;

    for frame in [
        json!({"action":"join","room":"beta"}),
        json!({"action":"getState","room":"beta"}),
        json!({"action":"changeBackground","room":"beta","bg":1}),
        json!({"action":"addIcon","room":"beta","icon":{"img":1,"x":1,"y":1}}),
        json!({"action":"emit","room":"beta","event":"chat","data":{}}),
    ] {
        let (reply, _) = ada.request(frame.clone()).await;
        assert_eq!(reply["type"], "error", "{frame}");
        assert_eq!(reply["code"], "forbidden", "{frame}");
    }
    // Nothing reached beta: its version is still 1 and bob heard nothing from ada.
    let ack = bob.ok(json!({"action":"getState","room":"beta"})).await;
    assert_eq!(ack["version"], 1);
    let state = bob.recv_type("state").await;
    assert_eq!(state["state"]["bg"], 3);

    // listRooms shows ada only the rooms her token grants.
    ada.ok(json!({"action":"listRooms"})).await;
    let rooms = ada.recv_type("rooms").await;
    let names: Vec<&str> = rooms["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["room"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["alpha"]);
    gw.stop().await;
}

#[tokio::test]
async fn rs256_public_key_from_a_file() {
    let gw = TestGateway::start(&["--jwt-public-key", PUBLIC_PEM]).await;
    let token = encode(
        &Header::new(Algorithm::RS256),
        &json!({"sub":"ada","exp":exp(600)}),
        &EncodingKey::from_rsa_pem(PRIVATE.as_bytes()).unwrap(),
    )
    .unwrap();
    let url = gw.ws_url(Some("alpha"));
    assert!(
        try_connect(&format!("{url}&token={token}"), None)
            .await
            .is_ok()
    );
    let hs_token = hs(json!({"exp":exp(600)}), SECRET);
    assert_eq!(
        try_connect(&format!("{url}&token={hs_token}"), None)
            .await
            .err()
            .unwrap()
            .0,
        401
    );
    gw.stop().await;
}
