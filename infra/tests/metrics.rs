//! The template's alarms and dashboard must watch metrics that exist.
//!
//! A metric name CloudWatch has never seen is no error anywhere: the alarm just sits in
//! INSUFFICIENT_DATA (or OK, with missing data not breaching) forever, and the graph
//! stays empty. So:
//!
//! - every metric of the `roomcast` namespace that an alarm or a dashboard widget uses
//!   is one the broadcaster's EMF lines declare (`roomcast_aws::observe`), with their
//!   one dimension, `JobKind`, and a kind of job that exists;
//! - every AWS metric is one the service publishes (the list below, from the services'
//!   metric references: WebSocket APIs have their own, smaller set), with the
//!   dimensions used here;
//! - the alarms cover what docs/operations.md promises, and notify the e-mail topic
//!   exactly when `AlarmEmail` is set.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::{of_type, template};
use roomcast_aws::observe::{DELIVERY_LATENCY, FANOUT_METRICS, JOB_KIND, NAMESPACE};
use serde_json::{Value, json};

/// The values of `JobKind`: `roomcast_core::fanout::FanoutJob::kind` of each variant.
const JOB_KINDS: [&str; 3] = ["room", "shard", "presence"];

/// AWS namespaces the template may use: the dimensions its metrics are filtered by here,
/// and the metrics the service publishes.
const AWS_METRICS: [(&str, &[&str], &[&str]); 3] = [
    (
        // WebSocket APIs (not REST's 4XXError/5XXError/Count/Latency).
        "AWS/ApiGateway",
        &["ApiId", "Stage"],
        &[
            "ConnectCount",
            "MessageCount",
            "IntegrationError",
            "ClientError",
            "ExecutionError",
            "IntegrationLatency",
        ],
    ),
    (
        "AWS/SQS",
        &["QueueName"],
        &[
            "ApproximateAgeOfOldestMessage",
            "ApproximateNumberOfMessagesDelayed",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesVisible",
            "NumberOfEmptyReceives",
            "NumberOfMessagesDeleted",
            "NumberOfMessagesReceived",
            "NumberOfMessagesSent",
            "SentMessageSize",
        ],
    ),
    (
        "AWS/Lambda",
        &["FunctionName"],
        &[
            "Invocations",
            "Errors",
            "Throttles",
            "Duration",
            "ConcurrentExecutions",
        ],
    ),
];

/// One metric an alarm or a widget names.
#[derive(Debug)]
struct Use {
    place: String,
    namespace: String,
    name: String,
    /// (dimension name, value); a value that is a `Ref`/`GetAtt` is kept as JSON text.
    dimensions: Vec<(String, String)>,
    statistic: Option<String>,
}

fn text(v: &Value) -> String {
    v.as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| v.to_string())
}

fn metric_use(place: String, metric: &Value, statistic: Option<&Value>) -> Use {
    let dimensions = metric["Dimensions"]
        .as_array()
        .map(|ds| {
            ds.iter()
                .map(|d| (text(&d["Name"]), text(&d["Value"])))
                .collect()
        })
        .unwrap_or_default();
    Use {
        place,
        namespace: text(&metric["Namespace"]),
        name: text(&metric["MetricName"]),
        dimensions,
        statistic: statistic.map(text),
    }
}

/// The metrics of every alarm, single-metric or metric math (whose expression must
/// name only its own metrics' ids).
fn alarm_uses(template: &Value) -> Vec<Use> {
    let mut uses = Vec::new();
    for (name, alarm) in of_type(template, "AWS::CloudWatch::Alarm") {
        let p = &alarm["Properties"];
        let Some(queries) = p["Metrics"].as_array() else {
            let stat = p.get("ExtendedStatistic").or(p.get("Statistic"));
            uses.push(metric_use(name.clone(), p, stat));
            continue;
        };
        let ids: BTreeSet<&str> = queries.iter().filter_map(|q| q["Id"].as_str()).collect();
        for q in queries {
            if let Some(expression) = q["Expression"].as_str() {
                for token in expression.split(|c: char| !c.is_ascii_alphanumeric()) {
                    if token.starts_with(|c: char| c.is_ascii_lowercase()) {
                        assert!(ids.contains(token), "{name}: {expression} names {token}");
                    }
                }
            } else {
                let stat = &q["MetricStat"];
                uses.push(metric_use(
                    format!("{name}.{}", text(&q["Id"])),
                    &stat["Metric"],
                    Some(&stat["Stat"]),
                ));
            }
        }
    }
    uses
}

/// The dashboard's body as deployed with the defaults: `${Parameter}` becomes its
/// default, anything else (`${Api}`, `${AWS::Region}`) a placeholder.
fn dashboard_body(template: &Value) -> Value {
    let dashboards = of_type(template, "AWS::CloudWatch::Dashboard");
    assert_eq!(dashboards.len(), 1, "one dashboard");
    let sub = dashboards[0].1["Properties"]["DashboardBody"]["Fn::Sub"]
        .as_str()
        .expect("DashboardBody: !Sub with a string");
    let mut body = String::new();
    let mut rest = sub;
    while let Some(start) = rest.find("${") {
        let end = start + rest[start..].find('}').expect("a closed ${");
        let name = &rest[start + 2..end];
        body.push_str(&rest[..start]);
        match template["Parameters"].get(name) {
            Some(param) => body.push_str(&text(&param["Default"])),
            None => body.push_str(&format!("<{name}>")),
        }
        rest = &rest[end + 1..];
    }
    body.push_str(rest);
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("the dashboard is not JSON: {e}"))
}

/// The metrics of every widget: `[namespace, name, dim, value, …, {options}?]`.
fn dashboard_uses(template: &Value) -> Vec<Use> {
    let body = dashboard_body(template);
    let mut uses = Vec::new();
    for (i, widget) in body["widgets"].as_array().unwrap().iter().enumerate() {
        let props = &widget["properties"];
        let place = format!("widget {i} ({})", text(&props["title"]));
        for entry in props["metrics"].as_array().into_iter().flatten() {
            let entry = entry.as_array().expect("a metric is an array");
            let (options, parts) = match entry.last() {
                Some(Value::Object(o)) => (Some(o), &entry[..entry.len() - 1]),
                _ => (None, &entry[..]),
            };
            let parts: Vec<&str> = parts.iter().map(|p| p.as_str().unwrap()).collect();
            // "." repeats the previous entry's value: spelled out, so this test sees all.
            assert!(!parts.contains(&"."), "{place}: spell out {parts:?}");
            assert!(
                parts.len() >= 2 && parts.len().is_multiple_of(2),
                "{place}: {parts:?}"
            );
            let statistic = options
                .and_then(|o| o.get("stat"))
                .or(props.get("stat"))
                .map(text);
            uses.push(Use {
                place: place.clone(),
                namespace: parts[0].to_owned(),
                name: parts[1].to_owned(),
                dimensions: parts[2..]
                    .chunks(2)
                    .map(|d| (d[0].to_owned(), d[1].to_owned()))
                    .collect(),
                statistic,
            });
        }
    }
    uses
}

fn check(uses: &[Use]) -> Vec<String> {
    let emitted: BTreeSet<&str> = FANOUT_METRICS.iter().map(|(name, _)| *name).collect();
    let mut wrong = Vec::new();
    for u in uses {
        let dimension_names: Vec<&str> = u.dimensions.iter().map(|(n, _)| n.as_str()).collect();
        if u.namespace == NAMESPACE {
            if !emitted.contains(u.name.as_str()) {
                wrong.push(format!("{}: {} is not emitted", u.place, u.name));
            }
            let kind_ok = matches!(&u.dimensions[..], [(n, v)] if n == JOB_KIND && JOB_KINDS.contains(&v.as_str()));
            if !kind_ok {
                wrong.push(format!("{}: dimensions {:?}", u.place, u.dimensions));
            }
        } else if let Some((_, dims, names)) = AWS_METRICS.iter().find(|m| m.0 == u.namespace) {
            if !names.contains(&u.name.as_str()) {
                wrong.push(format!("{}: {} has no {}", u.place, u.namespace, u.name));
            }
            if dimension_names != *dims {
                wrong.push(format!("{}: dimensions {dimension_names:?}", u.place));
            }
        } else {
            wrong.push(format!("{}: unknown namespace {}", u.place, u.namespace));
        }
    }
    wrong
}

#[test]
fn alarms_and_widgets_use_only_metrics_that_exist() {
    let template = template();
    let (alarms, widgets) = (alarm_uses(&template), dashboard_uses(&template));
    assert!(alarms.len() >= 10 && widgets.len() >= 30, "{alarms:?}");
    let wrong = check(&alarms.into_iter().chain(widgets).collect::<Vec<_>>());
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_dashboard_graphs_every_fanout_metric() {
    let shown: BTreeSet<String> = dashboard_uses(&template())
        .into_iter()
        .filter(|u| u.namespace == NAMESPACE)
        .map(|u| u.name)
        .collect();
    let missing: Vec<&str> = FANOUT_METRICS
        .iter()
        .map(|(name, _)| *name)
        .filter(|name| !shown.contains(*name))
        .collect();
    assert!(missing.is_empty(), "not on the dashboard: {missing:?}");
}

#[test]
fn the_alarms_cover_the_operations_guide() {
    let alarms = alarm_uses(&template());
    let watched: BTreeMap<(&str, &str), Vec<&Use>> =
        alarms.iter().fold(BTreeMap::new(), |mut m, u| {
            m.entry((u.namespace.as_str(), u.name.as_str()))
                .or_default()
                .push(u);
            m
        });
    for key in [
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),
        ("AWS/SQS", "ApproximateAgeOfOldestMessage"),
        ("AWS/Lambda", "Errors"),
        ("AWS/Lambda", "Throttles"),
        ("AWS/ApiGateway", "ExecutionError"),
        ("AWS/ApiGateway", "IntegrationError"),
        ("AWS/ApiGateway", "ClientError"),
        (NAMESPACE, "Throttled"),
        (NAMESPACE, "Failed"),
    ] {
        assert!(watched.contains_key(&key), "no alarm on {key:?}");
    }
    // The dead letters of the DLQ, not the main queue's backlog.
    let dlq = &watched[&("AWS/SQS", "ApproximateNumberOfMessagesVisible")];
    assert!(
        dlq.iter()
            .any(|u| u.dimensions[0].1.contains("FanoutDeadLetterQueue"))
    );
    // DeliveryLatency p99 of both kinds that deliver members' patches.
    let latency = &watched[&(NAMESPACE, DELIVERY_LATENCY)];
    for kind in ["room", "shard"] {
        assert!(
            latency
                .iter()
                .any(|u| u.dimensions[0].1 == kind && u.statistic.as_deref() == Some("p99")),
            "no p99 {DELIVERY_LATENCY} alarm for {kind}: {latency:?}"
        );
    }
}

#[test]
fn alarms_notify_the_topic_only_when_an_address_is_given() {
    let template = template();
    assert_eq!(template["Parameters"]["AlarmEmail"]["Default"], "");
    assert_eq!(
        template["Conditions"]["HasAlarmEmail"],
        json!({"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}]})
    );
    for kind in ["AWS::SNS::Topic", "AWS::SNS::Subscription"] {
        for (name, r) in of_type(&template, kind) {
            assert_eq!(r["Condition"], "HasAlarmEmail", "{name}");
        }
    }
    let notify =
        json!({"Fn::If": ["HasAlarmEmail", [{"Ref": "AlarmTopic"}], {"Ref": "AWS::NoValue"}]});
    for (name, alarm) in of_type(&template, "AWS::CloudWatch::Alarm") {
        assert_eq!(alarm["Properties"]["AlarmActions"], notify, "{name}");
        assert_eq!(alarm["Properties"]["OKActions"], notify, "{name}");
    }
}
