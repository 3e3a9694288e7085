//! Each handler fed the AWS sample events shipped with `aws_lambda_events` (and events
//! built from them), against moto and the local gateway's `@connections`.

mod common;

use std::time::Duration;

use aws_lambda_events::apigw::{
    ApiGatewayCustomAuthorizerRequestTypeRequest, ApiGatewayWebsocketProxyRequest,
};
use aws_lambda_events::iam::IamPolicyEffect;
use aws_lambda_events::sqs::SqsEvent;
use aws_sdk_ssm::types::ParameterType;
use common::{Gateway, typed};
use roomcast_aws::env::AuthSettings;
use roomcast_aws::handlers::{Actions, Authorizer, BroadcasterFn, Connect, Disconnect};
use roomcast_aws::observe::fanout_metrics;
use roomcast_aws::poster::ApiGwPoster;
use roomcast_core::auth::AuthConfig;
use roomcast_core::fanout::{FanoutConfig, FanoutJob, JobReport};
use roomcast_core::ports::MembershipStore;
use roomcast_core::protocol::{ConnectionId, Protocol, RoomName};
use roomcast_testkit::{exp, hs};
use serde_json::{Value, json};

const SECRET: &str = "handler-test-secret";

fn room(s: &str) -> RoomName {
    RoomName::parse(s).unwrap()
}

#[tokio::test]
async fn connect_and_disconnect_handle_the_unchanged_samples() {
    let sdk = common::sdk().await;
    let wiring = common::wiring(&sdk).await;
    let connect = Connect::new(wiring.handler(), wiring.store.clone());
    let disconnect = Disconnect::new(wiring.handler());

    // The sample as AWS sends it: id `TWegAcC4EowCHnA=`, no subprotocol, no `room`,
    // an authorizer context from another authorizer (no `rooms` key).
    let event: ApiGatewayWebsocketProxyRequest = typed(common::sample("websocket-connect.json"));
    let id = ConnectionId::parse(event.request_context.connection_id.clone().unwrap()).unwrap();
    let response = connect.handle(event).await;
    assert_eq!(response.status_code, 200);
    assert!(
        response.headers.get("sec-websocket-protocol").is_none(),
        "planetstack client: no subprotocol"
    );
    let (protocol, connect_room, user) = wiring.store.connection(&id).await.unwrap().unwrap();
    assert_eq!(
        user,
        roomcast_core::protocol::UserId::anonymous(&id),
        "no token: the connection is its own user"
    );
    assert_eq!(
        (protocol, connect_room.as_str()),
        (Protocol::Planetstack, "default")
    );
    let members = wiring
        .store
        .members(&room("default"), None, 10)
        .await
        .unwrap()
        .members;
    assert_eq!(members.len(), 1);
    assert_eq!(members[0].id, id);

    // The disconnect sample for the same id forgets it and tells the room.
    let mut d = common::sample("websocket-disconnect.json");
    d["requestContext"]["connectionId"] = id.as_str().into();
    assert_eq!(disconnect.handle(typed(d)).await.status_code, 200);
    assert!(wiring.store.connection(&id).await.unwrap().is_none());
    let jobs: Vec<FanoutJob> = common::receive(&sdk, wiring.queue.url(), 3)
        .await
        .iter()
        .map(|m| serde_json::from_str(m.body().unwrap()).unwrap())
        .collect();
    // One coalesced presence job for the room: the connect scheduled it, the
    // disconnect found it pending and rides along.
    let presence: Vec<&str> = jobs
        .iter()
        .filter_map(|j| match j {
            FanoutJob::Presence(p) => Some(p.room.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(presence, ["default"], "{jobs:?}");
}

#[tokio::test]
async fn connect_negotiates_the_subprotocol_and_refuses_bad_rooms_and_ungranted_rooms() {
    let sdk = common::sdk().await;
    let wiring = common::wiring(&sdk).await;
    let connect = Connect::new(wiring.handler(), wiring.store.clone());

    let id = ConnectionId::generate();
    let ok = connect
        .handle(typed(common::connect_event(
            id.as_str(),
            &[("room", "alpha")],
            Some("roomcast.v1"),
        )))
        .await;
    assert_eq!(ok.status_code, 200);
    assert_eq!(ok.headers["sec-websocket-protocol"], "roomcast.v1");
    assert_eq!(
        wiring.store.connection(&id).await.unwrap().unwrap().0,
        Protocol::V1
    );

    let bad = ConnectionId::generate();
    let refused = connect
        .handle(typed(common::connect_event(
            bad.as_str(),
            &[("room", "no spaces!")],
            None,
        )))
        .await;
    assert_eq!(refused.status_code, 400);
    assert!(format!("{:?}", refused.body).contains("invalid_room"));
    assert!(
        wiring.store.connection(&bad).await.unwrap().is_none(),
        "nothing stored"
    );

    // The authorizer's grant reaches $connect in the request context.
    let limited = ConnectionId::generate();
    let mut e = common::connect_event(limited.as_str(), &[("room", "beta")], None);
    e["requestContext"]["authorizer"] =
        json!({"principal":"ada","rooms":"alpha","protocol":"planetstack","room":"beta"});
    let forbidden = connect.handle(typed(e)).await;
    assert_eq!(forbidden.status_code, 403);
    assert!(wiring.store.connection(&limited).await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actions_enforce_the_token_rooms_and_fall_back_to_the_connection_item() {
    let sdk = common::sdk().await;
    let wiring = common::wiring(&sdk).await;
    let gw = Gateway::start(&[]).await;
    let connect = Connect::new(wiring.handler(), wiring.store.clone());
    let actions = Actions::new(wiring.handler(), wiring.store.clone(), sdk.clone(), None);
    let mut client = gw.client().await;

    // A v1 connection whose token grants only alpha.
    let grant = json!({"principal":"ada","rooms":"alpha","protocol":"roomcast.v1","room":"alpha"});
    let mut e = common::connect_event(&client.id, &[("room", "alpha")], Some("roomcast.v1"));
    e["requestContext"]["authorizer"] = grant.clone();
    assert_eq!(connect.handle(typed(e)).await.status_code, 200);

    for (i, body) in [
        json!({"action":"join","room":"beta","ref":"j"}),
        json!({"action":"getState","room":"beta","ref":"g"}),
        json!({"action":"addIcon","room":"beta","icon":{"img":1,"x":1,"y":1},"ref":"a"}),
        json!({"action":"emit","room":"beta","event":"x","data":1,"ref":"e"}),
    ]
    .into_iter()
    .enumerate()
    {
        let event = common::message_event(&client.id, &body, &gw.base_url(), Some(grant.clone()));
        assert_eq!(actions.handle(typed(event)).await.status_code, 200);
        if i == 0 {
            // API Gateway cannot post during $connect: the connection's first action
            // is answered after its welcome, which names it and its token's user.
            let welcome = client.recv().await;
            assert_eq!(welcome["type"], "welcome", "{welcome}");
            assert_eq!(welcome["id"], client.id.as_str());
            assert_eq!(welcome["user"], "ada");
        }
        let reply = client.recv().await;
        assert_eq!(reply["type"], "error", "{body}");
        assert_eq!(reply["code"], "forbidden", "{body}");
        assert_eq!(reply["ref"], body["ref"]);
    }
    let allowed = json!({"action":"getState","room":"alpha","ref":"ok"});
    actions
        .handle(typed(common::message_event(
            &client.id,
            &allowed,
            &gw.base_url(),
            Some(grant.clone()),
        )))
        .await;
    assert_eq!(
        client.recv().await,
        json!({"type":"ack","ref":"ok","version":0})
    );
    assert_eq!(client.recv().await["type"], "state");

    // A binary frame is refused with a clear error.
    let mut binary = common::message_event(&client.id, &json!({}), &gw.base_url(), Some(grant));
    binary["isBase64Encoded"] = true.into();
    binary["body"] = "AAEC".into();
    actions.handle(typed(binary)).await;
    assert_eq!(client.recv().await["code"], "unsupported_frame");

    // No authorizer context: the connection item says planetstack protocol and room `lobby`,
    // so an action without `room` goes there and the reply is planetstack's bare state.
    let mut planetstack = gw.client().await;
    let e = common::connect_event(&planetstack.id, &[("room", "lobby")], None);
    assert_eq!(connect.handle(typed(e)).await.status_code, 200);
    let body = json!({"action":"changeBackground","bg":5});
    actions
        .handle(typed(common::message_event(
            &planetstack.id,
            &body,
            &gw.base_url(),
            None,
        )))
        .await;
    let body = json!({"action":"getState"});
    actions
        .handle(typed(common::message_event(
            &planetstack.id,
            &body,
            &gw.base_url(),
            None,
        )))
        .await;
    assert_eq!(planetstack.recv().await, json!({"bg":5,"icons":{}}));
    gw.stop().await;
}

fn authorizer_event(
    query: &[(&str, &str)],
    authorization: Option<&str>,
) -> ApiGatewayCustomAuthorizerRequestTypeRequest {
    let mut e = common::sample("websocket-authorizer.json");
    let q: serde_json::Map<String, Value> = query
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).into()))
        .collect();
    e["queryStringParameters"] = q.into();
    e["multiValueQueryStringParameters"] = json!({});
    e["headers"]["Sec-WebSocket-Protocol"] = "roomcast.v1".into();
    if let Some(a) = authorization {
        e["headers"]["Authorization"] = a.into();
    }
    typed(e)
}

fn hs_authorizer() -> Authorizer {
    Authorizer::new(&AuthConfig {
        secret: Some(SECRET.into()),
        audience: Some("roomcast".into()),
        ..AuthConfig::default()
    })
    .unwrap()
}

#[test]
fn the_authorizer_allows_valid_tokens_with_principal_and_rooms_in_the_context() {
    let authorizer = hs_authorizer();
    let good = hs(
        json!({"sub":"ada","aud":"roomcast","exp":exp(600),"rooms":["alpha","beta"]}),
        SECRET,
    );
    for (query, header) in [
        (vec![("room", "alpha"), ("token", good.as_str())], None),
        (vec![("room", "beta")], Some(format!("Bearer {good}"))),
    ] {
        let r = authorizer.handle(authorizer_event(&query, header.as_deref()));
        let statement = &r.policy_document.statement[0];
        assert_eq!(statement.effect, IamPolicyEffect::Allow);
        assert_eq!(statement.action, ["execute-api:Invoke"]);
        assert_eq!(
            statement.resource,
            ["arn:aws:execute-api:eu-west-1:123456789012:abcdef123/test/$connect"]
        );
        assert_eq!(r.principal_id.as_deref(), Some("ada"));
        assert_eq!(r.context["principal"], "ada");
        assert_eq!(r.context["rooms"], "alpha,beta");
        assert_eq!(r.context["protocol"], "roomcast.v1");
    }
    // Without `room` the connect room is `default`, and the context says so.
    let open_token = hs(json!({"sub":"bob","aud":"roomcast","exp":exp(600)}), SECRET);
    let r = authorizer.handle(authorizer_event(&[("token", &open_token)], None));
    assert_eq!(
        r.policy_document.statement[0].effect,
        IamPolicyEffect::Allow
    );
    assert_eq!(
        (r.context["rooms"].as_str(), r.context["room"].as_str()),
        (Some("*"), Some("default"))
    );
}

#[test]
fn the_authorizer_denies_expired_forged_wrong_audience_missing_and_ungranted() {
    let authorizer = hs_authorizer();
    let cases = [
        (
            "expired",
            vec![(
                "token",
                hs(json!({"aud":"roomcast","exp":exp(-3600)}), SECRET),
            )],
        ),
        (
            "forged",
            vec![(
                "token",
                hs(json!({"aud":"roomcast","exp":exp(600)}), "not-it"),
            )],
        ),
        (
            "wrong audience",
            vec![(
                "token",
                hs(json!({"aud":"elsewhere","exp":exp(600)}), SECRET),
            )],
        ),
        ("missing", vec![]),
        (
            "room not granted",
            vec![
                (
                    "token",
                    hs(
                        json!({"aud":"roomcast","exp":exp(600),"rooms":["alpha"]}),
                        SECRET,
                    ),
                ),
                ("room", "beta".into()),
            ],
        ),
        (
            "bad room",
            vec![
                (
                    "token",
                    hs(json!({"aud":"roomcast","exp":exp(600)}), SECRET),
                ),
                ("room", "a b".into()),
            ],
        ),
    ];
    for (name, query) in cases {
        let query: Vec<(&str, &str)> = query.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let r = authorizer.handle(authorizer_event(&query, None));
        assert_eq!(
            r.policy_document.statement[0].effect,
            IamPolicyEffect::Deny,
            "{name}"
        );
        assert_eq!(
            r.context,
            json!({}),
            "{name}: nothing leaks into the context"
        );
    }
}

#[test]
fn an_open_authorizer_allows_everyone_every_room() {
    let authorizer = Authorizer::new(&AuthConfig::default()).unwrap();
    let r = authorizer.handle(authorizer_event(&[("room", "alpha")], None));
    assert_eq!(
        r.policy_document.statement[0].effect,
        IamPolicyEffect::Allow
    );
    assert_eq!(r.context["rooms"], "*");
    assert_eq!(r.principal_id.as_deref(), Some("anonymous"));
}

#[tokio::test]
async fn the_authorizer_reads_its_secret_from_an_ssm_secure_string() {
    let sdk = common::sdk().await;
    let ssm = aws_sdk_ssm::Client::new(&sdk);
    let name = format!("/roomcast/{}/jwt-secret", common::unique("test"));
    ssm.put_parameter()
        .name(&name)
        .value(SECRET)
        .r#type(ParameterType::SecureString)
        .send()
        .await
        .unwrap();
    let settings = AuthSettings {
        config: AuthConfig {
            audience: Some("roomcast".into()),
            ..AuthConfig::default()
        },
        secret_param: Some(name),
    };
    let authorizer = Authorizer::from_settings(settings, &ssm).await.unwrap();
    let good = hs(json!({"sub":"ada","aud":"roomcast","exp":exp(600)}), SECRET);
    let r = authorizer.handle(authorizer_event(&[("token", &good)], None));
    assert_eq!(
        r.policy_document.statement[0].effect,
        IamPolicyEffect::Allow
    );
    // The secret never shows in the authorizer's Debug output.
    assert!(!format!("{authorizer:?}").contains(SECRET));

    let missing = AuthSettings {
        secret_param: Some("/roomcast/none".into()),
        ..AuthSettings::default()
    };
    let err = Authorizer::from_settings(missing, &ssm).await.unwrap_err();
    assert!(err.to_string().contains("/roomcast/none"), "{err}");
}

#[tokio::test]
async fn the_broadcaster_reports_the_sqs_sample_as_a_poison_job() {
    let sdk = common::sdk().await;
    let wiring = common::wiring(&sdk).await;
    let broadcaster = BroadcasterFn::new(
        wiring.broadcaster(
            ApiGwPoster::new(&sdk, "http://127.0.0.1:9/dev"),
            FanoutConfig::default(),
        ),
        wiring.queue.clone(),
        roomcast_core::fanout::RetryPolicy::default(),
    );
    // The unchanged sample: its body "Message Body" is no fan-out job.
    let event: SqsEvent = typed(common::sample("sqs-event.json"));
    let response = broadcaster.handle(event).await;
    assert_eq!(
        serde_json::to_value(&response).unwrap(),
        json!({"batchItemFailures":[{"itemIdentifier":"MessageID_1"}]})
    );
}

#[test]
fn fan_out_metrics_are_valid_embedded_metric_format() {
    let report = JobReport {
        targets: 1200,
        shards: 3,
        ..JobReport::default()
    };
    let emf = fanout_metrics(
        "alpha",
        "room",
        &report,
        Duration::from_millis(42),
        Some(Duration::from_millis(80)),
    );
    let directive = &emf["_aws"]["CloudWatchMetrics"][0];
    assert_eq!(directive["Namespace"], "roomcast");
    assert!(emf["_aws"]["Timestamp"].as_u64().unwrap() > 1_700_000_000_000);
    // Every declared metric and dimension has a value at the top level.
    for m in directive["Metrics"].as_array().unwrap() {
        let name = m["Name"].as_str().unwrap();
        assert!(emf[name].is_number(), "{name}");
    }
    for d in directive["Dimensions"][0].as_array().unwrap() {
        assert!(emf[d.as_str().unwrap()].is_string());
    }
    assert_eq!(
        (emf["Members"].as_u64(), emf["Shards"].as_u64()),
        (Some(1200), Some(3))
    );
    assert_eq!(emf["Duration"].as_f64(), Some(42.0));
}
