//! Template, request models and protocol must not drift apart.
//!
//! - every client action of the protocol (`roomcast_core::protocol::ACTIONS`) has a route
//!   and a request model in `infra/template.yaml`, and nothing else is routed;
//! - the models in the template and in `infra/models/` equal what the Rust types
//!   generate now (`cargo run -p roomcast-infra --bin roomcast-models` fixes drift);
//! - the models are draft-04 documents that accept the protocol's own examples
//!   (docs/protocol.md, the design brief) and reject the structural bad frames of
//!   `services/core/tests/corpus/bad_frames.json` — exactly those the parser rejects, so
//!   a model never refuses a frame the server would take;
//! - the rest of the template is wired as the Lambda crate expects (binaries, variables).
//!
//! The alarms' and the dashboard's metric names are held to what the code emits in
//! `tests/metrics.rs`.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::{infra, of_type, read, repo, resources, template};

use roomcast_core::protocol::{ACTIONS, ClientMessage, RoomName};
use roomcast_infra::{DRAFT04, Model, SELECTION_EXPRESSION, models};
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------------------------

/// Resolve `Fn::If` on conditions as deployed with the defaults (request validation on,
/// so the models apply); `None` for `AWS::NoValue`.
fn resolve(value: &Value) -> Option<Value> {
    match value {
        Value::Object(map) if map.len() == 1 && map.contains_key("Fn::If") => {
            let args = map["Fn::If"].as_array().expect("Fn::If takes a list");
            let condition = args[0].as_str().expect("a condition name");
            let on = match condition {
                "ValidateRequests" => true,
                other => panic!("resolve() does not know condition {other}"),
            };
            resolve(&args[if on { 1 } else { 2 }])
        }
        Value::Object(map) if map.get("Ref") == Some(&json!("AWS::NoValue")) => None,
        other => Some(other.clone()),
    }
}

/// A frame as a planetstack client with connect room `default` sends it: the most lenient
/// reading the server has (a missing `room` is filled in).
fn server_accepts(frame: &str) -> Result<(), String> {
    ClientMessage::parse(frame, Some(&RoomName::default_room()))
        .map(|_| ())
        .map_err(|e| format!("{}: {}", e.code, e.message))
}

struct Validators(BTreeMap<&'static str, jsonschema::Validator>);

impl Validators {
    fn new() -> Self {
        Self(
            models()
                .into_iter()
                .map(|m| {
                    let v = jsonschema::draft4::new(&m.schema)
                        .unwrap_or_else(|e| panic!("model {}: {e}", m.action));
                    (m.action, v)
                })
                .collect(),
        )
    }

    /// What API Gateway does with a frame: `Ok(Some(route))` forwards it to the route's
    /// integration after its model accepted it, `Ok(None)` forwards it to `$default`
    /// (no action route matched, no model), `Err` answers it itself.
    fn gateway(&self, frame: &Value) -> Result<Option<&'static str>, String> {
        let Some(action) = frame.get("action").and_then(Value::as_str) else {
            return Ok(None);
        };
        let Some((name, validator)) = self.0.iter().find(|(name, _)| **name == action) else {
            return Ok(None);
        };
        match validator.validate(frame) {
            Ok(()) => Ok(Some(name)),
            Err(e) => Err(format!("{e} at {}", e.instance_path())),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Generated files
// ---------------------------------------------------------------------------------------

#[test]
fn generated_files_are_up_to_date() {
    let infra = infra();
    let mut stale = Vec::new();
    for (path, want) in roomcast_infra::expected_files(&infra).expect("infra/ reads") {
        let have = std::fs::read_to_string(infra.join(&path)).unwrap_or_default();
        if have != want {
            stale.push(format!("infra/{path}"));
        }
    }
    for path in roomcast_infra::stale_model_files(&infra).unwrap() {
        stale.push(format!("infra/{path} (no such action)"));
    }
    assert!(
        stale.is_empty(),
        "out of date with the protocol types: {stale:?}\n\
         run `cargo run -p roomcast-infra --bin roomcast-models`"
    );
}

#[test]
fn models_are_self_contained_draft04_documents() {
    let all = models();
    assert_eq!(
        all.iter().map(|m| m.action).collect::<Vec<_>>(),
        ACTIONS.to_vec(),
        "one model per action, in protocol order"
    );
    for m in &all {
        jsonschema::draft4::meta::validate(&m.schema)
            .unwrap_or_else(|e| panic!("model {} is not draft-04: {e}", m.action));
        assert_eq!(m.schema["$schema"], DRAFT04, "{}", m.action);
        let text = m.schema.to_string();
        assert!(!text.contains("$ref"), "{}: {text}", m.action);
        assert!(
            m.name().bytes().all(|b| b.is_ascii_alphanumeric()),
            "API Gateway model names are alphanumeric: {}",
            m.name()
        );
        // A generous bound under API Gateway's model size quota.
        assert!(text.len() < 16 * 1024, "{}: {} bytes", m.action, text.len());
        let file: Value = serde_json::from_str(&read(&infra().join(m.file_name())))
            .unwrap_or_else(|e| panic!("{}: {e}", m.file_name()));
        assert_eq!(file, m.schema, "{} differs from the types", m.file_name());
    }
}

// ---------------------------------------------------------------------------------------
// Routes and models in the template
// ---------------------------------------------------------------------------------------

#[test]
fn every_action_has_a_route_and_a_model_and_nothing_else_is_routed() {
    let t = template();
    let api = &resources(&t)["Api"]["Properties"];
    assert_eq!(api["ProtocolType"], "WEBSOCKET");
    assert_eq!(api["RouteSelectionExpression"], SELECTION_EXPRESSION);

    let routes: BTreeMap<String, &Value> = of_type(&t, "AWS::ApiGatewayV2::Route")
        .into_iter()
        .map(|(_, r)| {
            let key = r["Properties"]["RouteKey"]
                .as_str()
                .expect("a literal RouteKey");
            (key.to_owned(), r)
        })
        .collect();
    let template_models: BTreeMap<String, (&String, &Value)> =
        of_type(&t, "AWS::ApiGatewayV2::Model")
            .into_iter()
            .map(|(id, m)| {
                let name = m["Properties"]["Name"].as_str().expect("a literal Name");
                (name.to_owned(), (id, m))
            })
            .collect();

    let mut expected_keys: BTreeSet<String> = ["$connect", "$disconnect", "$default"]
        .map(String::from)
        .into();
    for model in models() {
        let action = model.action;
        expected_keys.insert(action.to_owned());
        let route = routes
            .get(action)
            .unwrap_or_else(|| panic!("no route for action {action}"));
        let props = &route["Properties"];
        assert_eq!(props["ApiId"], json!({"Ref": "Api"}), "{action}");
        assert_eq!(
            props["Target"],
            json!({"Fn::Sub": "integrations/${ActionsIntegration}"}),
            "{action} goes to the actions function"
        );
        assert_eq!(props["AuthorizationType"], "NONE", "{action}");
        assert_eq!(
            resolve(&props["ModelSelectionExpression"]),
            Some(json!(SELECTION_EXPRESSION)),
            "{action}"
        );
        assert_eq!(
            resolve(&props["RequestModels"]),
            Some(json!({ action: model.name() })),
            "{action}"
        );
        let (model_id, resource) = template_models
            .get(model.name())
            .unwrap_or_else(|| panic!("no model named {}", model.name()));
        assert_eq!(route["DependsOn"], json!(model_id), "{action}: model first");
        let mprops = &resource["Properties"];
        assert_eq!(mprops["ApiId"], json!({"Ref": "Api"}));
        assert_eq!(mprops["ContentType"], "application/json");
        assert_eq!(
            mprops["Schema"], model.schema,
            "{action}: the template's schema differs from the types"
        );
    }
    let keys: BTreeSet<String> = routes.keys().cloned().collect();
    assert_eq!(
        keys, expected_keys,
        "routes are $connect, $disconnect, $default and one per action"
    );
    assert_eq!(
        template_models.len(),
        ACTIONS.len(),
        "one model per action, no others"
    );
}

#[test]
fn connect_disconnect_and_default_are_wired() {
    let t = template();
    let r = resources(&t);
    let route = |key: &str| {
        of_type(&t, "AWS::ApiGatewayV2::Route")
            .into_iter()
            .find(|(_, r)| r["Properties"]["RouteKey"] == key)
            .map(|(_, r)| r["Properties"].clone())
            .unwrap_or_else(|| panic!("no {key} route"))
    };
    let connect = route("$connect");
    assert_eq!(connect["AuthorizationType"], "CUSTOM");
    assert_eq!(connect["AuthorizerId"], json!({"Ref": "ConnectAuthorizer"}));
    assert_eq!(
        connect["Target"],
        json!({"Fn::Sub": "integrations/${ConnectIntegration}"})
    );
    assert_eq!(
        route("$disconnect")["Target"],
        json!({"Fn::Sub": "integrations/${DisconnectIntegration}"})
    );
    let default = route("$default");
    assert_eq!(
        default["Target"],
        json!({"Fn::Sub": "integrations/${ActionsIntegration}"})
    );
    assert!(
        default.get("RequestModels").is_none(),
        "$default has no model: the actions function answers what no route takes"
    );

    let authorizer = &r["ConnectAuthorizer"]["Properties"];
    assert_eq!(authorizer["AuthorizerType"], "REQUEST");
    // An identity source only when a key is configured: a missing one makes API Gateway
    // refuse the connect (401) before the authorizer could let an open stack allow it.
    assert_eq!(
        authorizer["IdentitySource"],
        json!({"Fn::If": ["AuthRequired", ["route.request.querystring.token"], {"Ref": "AWS::NoValue"}]})
    );

    // Each integration invokes its function, which lets API Gateway invoke it.
    for (integration, function) in [
        ("ConnectIntegration", "ConnectFunction"),
        ("DisconnectIntegration", "DisconnectFunction"),
        ("ActionsIntegration", "ActionsFunction"),
    ] {
        let props = &r[integration]["Properties"];
        assert_eq!(props["IntegrationType"], "AWS_PROXY", "{integration}");
        let uri = props["IntegrationUri"]["Fn::Sub"].as_str().unwrap();
        assert!(uri.contains(&format!("${{{function}.Arn}}")), "{uri}");
    }
    let uri = authorizer["AuthorizerUri"]["Fn::Sub"].as_str().unwrap();
    assert!(uri.contains("${AuthorizerFunction.Arn}"), "{uri}");
    let permitted: BTreeSet<String> = of_type(&t, "AWS::Lambda::Permission")
        .into_iter()
        .filter(|(_, p)| p["Properties"]["Principal"] == "apigateway.amazonaws.com")
        .map(|(_, p)| {
            p["Properties"]["FunctionName"]["Ref"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    for function in [
        "ConnectFunction",
        "DisconnectFunction",
        "ActionsFunction",
        "AuthorizerFunction",
    ] {
        assert!(
            permitted.contains(function),
            "{function} lacks a Lambda permission"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Functions as the Lambda crate (services/aws) expects them
// ---------------------------------------------------------------------------------------

#[test]
fn functions_are_the_lambda_crates_binaries_with_their_variables() {
    let t = template();
    let globals = &t["Globals"]["Function"];
    assert_eq!(globals["Runtime"], "provided.al2023");
    assert_eq!(globals["Architectures"], json!(["arm64"]));
    assert_eq!(globals["Handler"], "bootstrap");
    let code_uri = globals["CodeUri"].as_str().expect("a global CodeUri");
    let crate_dir = infra().join(code_uri);
    let manifest = read(&crate_dir.join("Cargo.toml"));
    assert!(
        manifest.contains("name = \"roomcast-aws\""),
        "CodeUri {code_uri} is the roomcast-aws crate"
    );
    let common = ["RUST_LOG"];
    let expected: [(&str, &str, &[&str]); 5] = [
        (
            "ConnectFunction",
            "connect",
            &[
                "TABLE_NAME",
                "QUEUE_URL",
                "PRESENCE_INTERVAL",
                "PRESENCE_BUDGET",
                "HISTORY_SIZE",
                "HISTORY_TTL",
            ],
        ),
        (
            "DisconnectFunction",
            "disconnect",
            &[
                "TABLE_NAME",
                "QUEUE_URL",
                "PRESENCE_INTERVAL",
                "PRESENCE_BUDGET",
                "HISTORY_SIZE",
                "HISTORY_TTL",
            ],
        ),
        (
            "AuthorizerFunction",
            "authorizer",
            &[
                "JWT_SECRET_PARAM",
                "JWT_PUBLIC_KEY",
                "JWT_AUDIENCE",
                "JWT_ISSUER",
            ],
        ),
        (
            "ActionsFunction",
            "actions",
            &[
                "TABLE_NAME",
                "QUEUE_URL",
                "PRESENCE_INTERVAL",
                "PRESENCE_BUDGET",
                "HISTORY_SIZE",
                "HISTORY_TTL",
                "ICON_CAP",
                "MESSAGE_RATE",
                "MESSAGE_BURST",
                "MESSAGE_STRIKES",
                "MAX_ROOMS",
                "MAX_EMIT_BYTES",
            ],
        ),
        (
            "BroadcasterFunction",
            "broadcaster",
            &[
                "TABLE_NAME",
                "QUEUE_URL",
                "PRESENCE_INTERVAL",
                "PRESENCE_BUDGET",
                "HISTORY_SIZE",
                "HISTORY_TTL",
                "APIGW_ENDPOINT",
                "SHARD_SIZE",
                "POOL_SIZE",
                "POST_CONCURRENCY",
                "RATE_LIMIT",
                "JOB_ATTEMPTS",
                "JOB_RETRY_DELAY",
                "MAX_EMIT_BYTES",
            ],
        ),
    ];
    let functions = of_type(&t, "AWS::Serverless::Function");
    assert_eq!(functions.len(), expected.len());
    for (id, binary, vars) in expected {
        let f = &resources(&t)[id];
        assert_eq!(f["Metadata"]["BuildMethod"], "rust-cargolambda", "{id}");
        assert_eq!(f["Metadata"]["BuildProperties"]["Binary"], binary, "{id}");
        assert!(
            manifest.contains(&format!("name = \"{binary}\"")),
            "services/aws/Cargo.toml declares no binary {binary} (function {id})"
        );
        let have: BTreeSet<&str> = f["Properties"]["Environment"]["Variables"]
            .as_object()
            .map(|m| m.keys().map(String::as_str).collect())
            .unwrap_or_default();
        let want: BTreeSet<&str> = vars.iter().copied().collect();
        assert_eq!(have, want, "{id}'s variables (RUST_LOG comes from Globals)");
        let secretish = have.iter().any(|v| *v == "JWT_SECRET");
        assert!(!secretish, "{id}: the JWT secret never sits in plain text");
    }
    let global_vars = globals["Environment"]["Variables"].as_object().unwrap();
    assert_eq!(
        global_vars.keys().map(String::as_str).collect::<Vec<_>>(),
        common
    );

    // The broadcaster pool: SQS source with partial batch failures, concurrency = PoolSize.
    let event = &resources(&t)["BroadcasterFunction"]["Properties"]["Events"]["FanoutJobs"];
    assert_eq!(event["Type"], "SQS");
    let props = &event["Properties"];
    assert_eq!(
        props["Queue"],
        json!({"Fn::GetAtt": ["FanoutQueue", "Arn"]})
    );
    assert_eq!(
        props["FunctionResponseTypes"],
        json!(["ReportBatchItemFailures"])
    );
    assert_eq!(
        props["ScalingConfig"]["MaximumConcurrency"],
        json!({"Ref": "PoolSize"})
    );
    let broadcaster = &resources(&t)["BroadcasterFunction"]["Properties"];
    let timeout = broadcaster["Timeout"].as_u64().unwrap();
    let visibility = resources(&t)["FanoutQueue"]["Properties"]["VisibilityTimeout"]
        .as_u64()
        .unwrap();
    assert!(
        visibility >= 6 * timeout,
        "queue visibility {visibility}s < 6 x broadcaster timeout {timeout}s"
    );
    assert_eq!(
        broadcaster["Environment"]["Variables"]["POOL_SIZE"],
        json!({"Ref": "PoolSize"}),
        "POOL_SIZE is the event source's maximum concurrency"
    );
    assert!(t["Parameters"]["PoolSize"]["MinValue"].as_u64().unwrap() >= 2);
}

/// The abuse limits: each variable of the actions function is its parameter, and the
/// parameter's default is the one both homes use when the variable is unset.
#[test]
fn abuse_limit_parameters_default_to_the_code_defaults() {
    use roomcast_core::abuse;
    use roomcast_core::protocol::limits::MAX_EMIT_DATA_BYTES;
    let t = template();
    let vars = &resources(&t)["ActionsFunction"]["Properties"]["Environment"]["Variables"];
    for (var, param, default) in [
        (
            "MESSAGE_RATE",
            "MessageRate",
            abuse::DEFAULT_MESSAGE_RATE as u64,
        ),
        (
            "MESSAGE_BURST",
            "MessageBurst",
            abuse::DEFAULT_MESSAGE_BURST as u64,
        ),
        (
            "MESSAGE_STRIKES",
            "MessageStrikes",
            abuse::DEFAULT_MESSAGE_STRIKES as u64,
        ),
        ("MAX_ROOMS", "MaxRooms", abuse::DEFAULT_MAX_ROOMS as u64),
        ("MAX_EMIT_BYTES", "MaxEmitBytes", MAX_EMIT_DATA_BYTES as u64),
    ] {
        assert_eq!(vars[var], json!({"Ref": param}), "{var}");
        if var == "MAX_EMIT_BYTES" {
            // The broadcaster size-checks publish envelopes by the same limit.
            let broadcaster =
                &resources(&t)["BroadcasterFunction"]["Properties"]["Environment"]["Variables"];
            assert_eq!(
                broadcaster[var],
                json!({"Ref": param}),
                "broadcaster's {var}"
            );
        }
        assert_eq!(
            t["Parameters"][param]["Default"].as_u64(),
            Some(default),
            "{param}'s default"
        );
    }
    assert_eq!(
        t["Parameters"]["MaxEmitBytes"]["MaxValue"].as_u64(),
        Some(MAX_EMIT_DATA_BYTES as u64)
    );
}

#[test]
fn presence_parameters_default_to_the_code_defaults() {
    use roomcast_core::presence;
    let t = template();
    for id in [
        "ConnectFunction",
        "DisconnectFunction",
        "ActionsFunction",
        "BroadcasterFunction",
    ] {
        let vars = &resources(&t)[id]["Properties"]["Environment"]["Variables"];
        assert_eq!(
            vars["PRESENCE_INTERVAL"],
            json!({"Ref": "PresenceInterval"}),
            "{id}"
        );
        assert_eq!(
            vars["PRESENCE_BUDGET"],
            json!({"Ref": "PresenceBudget"}),
            "{id}"
        );
    }
    let interval = t["Parameters"]["PresenceInterval"]["Default"]
        .as_str()
        .unwrap();
    assert_eq!(
        humantime::parse_duration(interval).unwrap(),
        presence::DEFAULT_PRESENCE_INTERVAL
    );
    assert_eq!(
        t["Parameters"]["PresenceBudget"]["Default"].as_u64(),
        Some(u64::from(presence::DEFAULT_PRESENCE_BUDGET))
    );
}

#[test]
fn job_retries_default_to_cores_policy_and_the_dlq_after_as_many_receives() {
    use roomcast_core::fanout::{DEFAULT_JOB_ATTEMPTS, DEFAULT_JOB_RETRY_DELAY};
    let t = template();
    let vars = &resources(&t)["BroadcasterFunction"]["Properties"]["Environment"]["Variables"];
    assert_eq!(vars["JOB_ATTEMPTS"], json!({"Ref": "JobAttempts"}));
    assert_eq!(vars["JOB_RETRY_DELAY"], json!({"Ref": "JobRetryDelay"}));
    let p = &t["Parameters"];
    assert_eq!(
        p["JobAttempts"]["Default"].as_u64(),
        Some(u64::from(DEFAULT_JOB_ATTEMPTS))
    );
    let delay = p["JobRetryDelay"]["Default"].as_str().unwrap();
    assert_eq!(
        humantime::parse_duration(delay).unwrap(),
        DEFAULT_JOB_RETRY_DELAY
    );
    assert_eq!(
        p["MaxReceiveCount"]["Default"], p["JobAttempts"]["Default"],
        "a job that fails whole and one whose posts keep failing reach the DLQ after as many tries"
    );
}

#[test]
fn history_parameters_default_to_the_code_defaults_and_reach_every_writer() {
    use roomcast_core::history::{self, HistoryPolicy};
    let t = template();
    // The functions that build a core Handler (it decides recovery by the same policy
    // the table keeps entries by), and the broadcaster, which records SQS publishes.
    for id in [
        "ConnectFunction",
        "DisconnectFunction",
        "ActionsFunction",
        "BroadcasterFunction",
    ] {
        let vars = &resources(&t)[id]["Properties"]["Environment"]["Variables"];
        assert_eq!(vars["HISTORY_SIZE"], json!({"Ref": "HistorySize"}), "{id}");
        assert_eq!(vars["HISTORY_TTL"], json!({"Ref": "HistoryTtl"}), "{id}");
    }
    let size = &t["Parameters"]["HistorySize"];
    assert_eq!(
        size["Default"].as_u64(),
        Some(history::DEFAULT_HISTORY_SIZE as u64)
    );
    assert_eq!(size["MinValue"].as_u64(), Some(0));
    assert_eq!(
        size["MaxValue"].as_u64(),
        Some(HistoryPolicy::MAX_SIZE as u64)
    );
    let ttl = t["Parameters"]["HistoryTtl"]["Default"].as_str().unwrap();
    assert_eq!(
        humantime::parse_duration(ttl).unwrap(),
        history::DEFAULT_HISTORY_TTL
    );
}

#[test]
fn the_table_has_the_keys_ttl_and_index_the_adapters_use() {
    let t = template();
    let table = &resources(&t)["Table"]["Properties"];
    assert_eq!(table["BillingMode"], "PAY_PER_REQUEST");
    assert_eq!(
        table["KeySchema"],
        json!([{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}])
    );
    assert_eq!(
        table["TimeToLiveSpecification"],
        json!({"AttributeName": "exp", "Enabled": true})
    );
    let index = &table["GlobalSecondaryIndexes"][0];
    assert_eq!(index["IndexName"], "byMembers");
    assert_eq!(
        index["KeySchema"],
        json!([{"AttributeName": "lpk", "KeyType": "HASH"}, {"AttributeName": "members", "KeyType": "RANGE"}])
    );
    assert_eq!(index["Projection"]["ProjectionType"], "KEYS_ONLY");
    let types: BTreeMap<&str, &str> = table["AttributeDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["AttributeName"].as_str().unwrap(),
                d["AttributeType"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        types,
        BTreeMap::from([("lpk", "S"), ("members", "N"), ("pk", "S"), ("sk", "S")])
    );
}

// ---------------------------------------------------------------------------------------
// What the models accept and reject
// ---------------------------------------------------------------------------------------

/// Client frames shown in docs/protocol.md (JSON lines with an `action` in code blocks).
fn protocol_doc_examples() -> Vec<String> {
    let doc = read(&repo().join("docs/protocol.md"));
    let mut frames = Vec::new();
    let mut in_code = false;
    for line in doc.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if in_code {
            let line = line.trim();
            if let Ok(v @ Value::Object(_)) = serde_json::from_str::<Value>(line)
                && v.get("action").is_some()
            {
                frames.push(line.to_owned());
            }
        }
    }
    frames
}

/// The client frames of the design brief's example exchange (`→` lines). The brief
/// lives outside the repository, so its three frames are quoted here verbatim.
const DESIGN_BRIEF_EXAMPLES: [&str; 3] = [
    r#"{"action":"addIcon","room":"alpha","icon":{"img":3,"x":400,"y":400},"ref":"r7"}"#,
    r#"{"action":"getState","room":"alpha"}"#,
    r#"{"action":"emit","room":"alpha","event":"chat","data":{"text":"hi"}}"#,
];

#[test]
fn models_accept_the_protocols_own_examples() {
    let validators = Validators::new();
    let doc = protocol_doc_examples();
    assert!(doc.len() >= ACTIONS.len(), "found only {doc:?}");
    let mut covered = BTreeSet::new();
    for frame in doc.iter().map(String::as_str).chain(DESIGN_BRIEF_EXAMPLES) {
        let value: Value = serde_json::from_str(frame).unwrap();
        server_accepts(frame).unwrap_or_else(|e| panic!("the parser refuses {frame}: {e}"));
        match validators.gateway(&value) {
            Ok(Some(action)) => {
                covered.insert(action);
            }
            Ok(None) => panic!("{frame} matches no action route"),
            Err(e) => panic!("the {} model refuses {frame}: {e}", value["action"]),
        }
    }
    let missing: Vec<_> = ACTIONS.iter().filter(|a| !covered.contains(*a)).collect();
    assert!(
        missing.is_empty(),
        "docs/protocol.md shows no example of {missing:?}"
    );
}

#[derive(serde::Deserialize)]
struct Corpus {
    cases: Vec<CorpusCase>,
}

#[derive(serde::Deserialize)]
struct CorpusCase {
    what: String,
    frame: Value,
    code: String,
}

#[test]
fn models_reject_exactly_the_structural_bad_frames_the_parser_rejects() {
    let corpus: Corpus = serde_json::from_str(&read(
        &repo().join("services/core/tests/corpus/bad_frames.json"),
    ))
    .expect("the corpus reads");
    assert!(corpus.cases.len() >= 60, "{} cases", corpus.cases.len());
    let validators = Validators::new();
    let mut failures = Vec::new();
    let (mut rejected, mut to_default, mut v1_only) = (0, 0, 0);
    for case in &corpus.cases {
        let text = serde_json::to_string(&case.frame).unwrap();
        let parser = server_accepts(&text);
        match (validators.gateway(&case.frame), parser) {
            // The model refuses what the server refuses: API Gateway answers, no Lambda call.
            (Err(_), Err(_)) => rejected += 1,
            // No action route (missing, unknown or non-string action): $default, where the
            // actions function answers with missing_action / unknown_action / invalid_ref.
            (Ok(None), Err(_)) => to_default += 1,
            // Only wrong for a roomcast.v1 client (no room): the model cannot see the
            // subprotocol, so it lets the frame through and the function answers it.
            (Ok(Some(_)), Ok(())) if case.code == "missing_field" => v1_only += 1,
            (Err(e), Ok(())) => failures.push(format!(
                "{}: the model refuses a frame the server accepts ({e})",
                case.what
            )),
            (Ok(Some(action)), Err(e)) => failures.push(format!(
                "{}: the {action} model accepts a frame the server refuses ({e})",
                case.what
            )),
            (Ok(_), Ok(())) => failures.push(format!(
                "{}: the server accepts it even as a planetstack client; it is no bad frame",
                case.what
            )),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(rejected >= 45, "only {rejected} cases rejected by a model");
    assert!(to_default >= 5 && v1_only >= 3, "{to_default} {v1_only}");
}

/// Values to try per kind of field: boundaries, every printable ASCII character in
/// names, wrong types.
fn probes(kind: &str) -> Vec<Value> {
    let scalars_and_shapes = [
        json!(null),
        json!(true),
        json!(false),
        json!(0),
        json!(-1),
        json!(1.5),
        json!(""),
        json!([]),
        json!({}),
        json!(["alpha"]),
        json!({"name": "alpha"}),
    ];
    let mut out: Vec<Value> = scalars_and_shapes.to_vec();
    let printable = (0x20u8..0x7f).map(char::from);
    let name = |max: usize| -> Vec<Value> {
        let mut v: Vec<Value> = printable.clone().map(|c| json!(c.to_string())).collect();
        v.extend(printable.clone().map(|c| json!(format!("ab{c}cd"))));
        v.extend(
            [
                "x".repeat(max),
                "x".repeat(max + 1),
                "café".into(),
                "a\n".into(),
                "\na".into(),
                "é".into(),
            ]
            .map(Value::from),
        );
        v
    };
    match kind {
        "room" | "event" => out.extend(name(64)),
        "epoch" => out.extend(name(32)),
        "cursor" => out.extend(
            [
                json!("alice"),
                json!("anonymous:abc"),
                json!("x".repeat(300)),
                json!("x".repeat(301)),
                json!("é".repeat(300)),
                json!("a\n"),
            ]
            .to_vec(),
        ),
        "offset" => out.extend(
            [
                json!(1),
                json!(u64::MAX),
                json!(i64::MAX),
                json!(4.0),
                json!(1e2),
                json!("4"),
            ]
            .to_vec(),
        ),
        "since" => out.extend(
            [
                json!({"offset": 3, "epoch": "abc"}),
                json!({"offset": 3}),
                json!({"epoch": "abc"}),
                json!({"offset": 3, "epoch": "abc", "more": 1}),
            ]
            .to_vec(),
        ),
        "id" => {
            let base = "2JgQqZ3ZuPkqYh0VbZ1sLhQd0a"; // 26 characters
            out.extend(printable.map(|c| json!(format!("icon{base}{c}"))));
            out.extend(
                [
                    format!("icon{base}"),
                    format!("icon{base}AB"),
                    format!("Icon{base}A"),
                    format!("ICON{base}A"),
                    format!("xicon{base}"),
                    format!("icon{base}é"),
                    "icon".into(),
                ]
                .map(Value::from),
            );
        }
        "bg" | "img" => out.extend(
            [
                json!(0),
                json!(1),
                json!(31),
                json!(32),
                json!(63),
                json!(64),
                json!(4.0),
                json!(3.5),
                json!(1e2),
                json!("4"),
                json!(i64::MAX),
                json!(u64::MAX),
                json!(i64::MIN),
            ]
            .to_vec(),
        ),
        "coord" => out.extend(
            [
                json!(-10000),
                json!(10000),
                json!(-10000.0),
                json!(10000.0),
                json!(10000.4),
                json!(-10000.5),
                json!(10001),
                json!(399.6),
                json!(-0.0),
                json!(1e300),
                json!(-1e300),
                json!(f64::MIN_POSITIVE),
                json!("400"),
                json!(u64::MAX),
            ]
            .to_vec(),
        ),
        "ref" => out.extend(
            [
                json!("r7"),
                json!("r".repeat(64)),
                json!("r".repeat(65)),
                json!("é".repeat(64)),
                json!("é".repeat(65)),
                json!(7),
                json!(i64::MAX),
                json!(i64::MIN),
                json!(u64::MAX),
                json!(i64::MAX as u64 + 1),
                json!(1.0),
                json!(1e3),
            ]
            .to_vec(),
        ),
        "bool" => out.extend([json!("true"), json!(1)]),
        "data" => out.extend([json!({"text": "hi"}), json!([1, {"a": null}]), json!("x")]),
        "icon" => out.extend([json!([3, 400, 400]), json!("here"), json!(7)]),
        other => panic!("no probes for {other}"),
    }
    out
}

/// A field of a frame: its path and the kind of value it holds (see [`probes`]).
type Field = (Vec<&'static str>, &'static str);

/// A valid frame per action, and its fields.
fn valid_frames() -> Vec<(Value, Vec<Field>)> {
    let id = "icon2JgQqZ3ZuPkqYh0VbZ1sLhQd0aB";
    let room = |action: &str| json!({"action": action, "room": "alpha", "ref": "r"});
    let room_fields = vec![(vec!["room"], "room"), (vec!["ref"], "ref")];
    let mut frames = Vec::new();
    for action in ["leave", "getState"] {
        frames.push((room(action), room_fields.clone()));
    }
    let mut f = room("join");
    f["since"] = json!({"offset": 3, "epoch": "abc"});
    let since_fields = vec![
        (vec!["since"], "since"),
        (vec!["since", "offset"], "offset"),
        (vec!["since", "epoch"], "epoch"),
    ];
    frames.push((f, [room_fields.clone(), since_fields].concat()));
    let mut f = room("listMembers");
    f["cursor"] = json!("alice");
    frames.push((
        f,
        [room_fields.clone(), vec![(vec!["cursor"], "cursor")]].concat(),
    ));
    // hello reads no room: any value there is an ignored unknown field.
    frames.push((room("hello"), room_fields.clone()));
    let mut f = room("changeBackground");
    f["bg"] = json!(4);
    frames.push((f, [room_fields.clone(), vec![(vec!["bg"], "bg")]].concat()));
    let icon_fields = |with_id: bool| {
        let mut v = vec![
            (vec!["icon"], "icon"),
            (vec!["icon", "img"], "img"),
            (vec!["icon", "x"], "coord"),
            (vec!["icon", "y"], "coord"),
        ];
        if with_id {
            v.push((vec!["icon", "id"], "id"));
        }
        [room_fields.clone(), v].concat()
    };
    let mut f = room("addIcon");
    f["icon"] = json!({"img": 3, "x": 400, "y": 400});
    frames.push((f, icon_fields(false)));
    let mut f = room("moveIcon");
    f["icon"] = json!({"id": id, "img": 3, "x": 10, "y": 20});
    frames.push((f, icon_fields(true)));
    let mut f = room("deleteIcon");
    f["id"] = json!(id);
    frames.push((f, [room_fields.clone(), vec![(vec!["id"], "id")]].concat()));
    let mut f = room("emit");
    f["event"] = json!("chat");
    f["data"] = json!({"text": "hi"});
    f["except_sender"] = json!(false);
    let emit_fields = vec![
        (vec!["event"], "event"),
        (vec!["data"], "data"),
        (vec!["except_sender"], "bool"),
    ];
    frames.push((f, [room_fields.clone(), emit_fields].concat()));
    // listRooms reads no room: any value there is an ignored unknown field.
    frames.push((room("listRooms"), room_fields));
    frames
}

fn set(frame: &mut Value, path: &[&str], value: Option<Value>) {
    let (last, parents) = path.split_last().unwrap();
    let mut target = frame;
    for p in parents {
        target = &mut target[*p];
    }
    let object = target.as_object_mut().expect("a field of an object");
    match value {
        Some(v) => {
            object.insert((*last).to_owned(), v);
        }
        None => {
            object.remove(*last);
        }
    }
}

/// The differential check: over every field of every action and a sweep of values (and
/// the field left out, and an unknown extra field), the model accepts exactly what the
/// server accepts. So the patterns and ranges written for the schemas say what the
/// parser's rules say, and validation on AWS never turns away a frame the local gateway
/// would take.
#[test]
fn models_agree_with_the_parser_on_a_sweep_of_every_field() {
    let validators = Validators::new();
    let mut checked = 0;
    let mut disagreements = Vec::new();
    let frames = valid_frames();
    assert_eq!(frames.len(), ACTIONS.len());
    for (base, fields) in frames {
        let mut variants = vec![base.clone()];
        let mut extra = base.clone();
        extra["somethingElse"] = json!({"ignored": [1, 2]});
        variants.push(extra);
        for (path, kind) in &fields {
            let mut missing = base.clone();
            set(&mut missing, path, None);
            variants.push(missing);
            for probe in probes(kind) {
                let mut v = base.clone();
                set(&mut v, path, Some(probe));
                variants.push(v);
            }
        }
        for frame in variants {
            checked += 1;
            let text = serde_json::to_string(&frame).unwrap();
            let server = server_accepts(&text);
            let model = validators.gateway(&frame);
            let model_accepts = matches!(model, Ok(Some(_)));
            assert!(!matches!(model, Ok(None)), "{text} found no route");
            if model_accepts != server.is_ok() {
                disagreements.push(format!(
                    "{text}\n    model: {model:?}\n    server: {server:?}"
                ));
            }
        }
    }
    assert!(checked > 2000, "only {checked} frames");
    assert!(
        disagreements.is_empty(),
        "{} of {checked} frames judged differently:\n{}",
        disagreements.len(),
        disagreements.join("\n")
    );
}

#[test]
fn the_models_dir_holds_one_file_per_action() {
    let files: BTreeSet<String> = std::fs::read_dir(infra().join("models"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let want: BTreeSet<String> = models()
        .iter()
        .map(|m: &Model| format!("{}.json", m.action))
        .collect();
    assert_eq!(files, want);
}
