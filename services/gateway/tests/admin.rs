//! `/admin/events`, the `/admin` page's one data stream: refused without the API key,
//! and with it a server-sent event a second whose JSON carries the rooms (members and
//! users), the connections, the fan-out and the knobs as they are.

use roomcast_testkit::{TestGateway, WAIT, WsClient, exp, hs, http, metric};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

const KEY: &str = "admin-key";

/// An open `/admin/events` stream, read event by event.
struct Events {
    lines: tokio::io::Lines<BufReader<TcpStream>>,
}

impl Events {
    /// `GET path` (`/admin/events…`) with `headers`; panics unless it answers 200
    /// with `text/event-stream`.
    async fn open(gw: &TestGateway, path: &str, headers: &[(&str, &str)]) -> Events {
        let mut tcp = TcpStream::connect(("127.0.0.1", gw.port)).await.unwrap();
        let mut request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n", gw.port);
        for (k, v) in headers {
            request.push_str(&format!("{k}: {v}\r\n"));
        }
        request.push_str("\r\n");
        tcp.write_all(request.as_bytes()).await.unwrap();
        let mut lines = BufReader::new(tcp).lines();
        let mut head = Vec::new();
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.is_empty() {
                break;
            }
            head.push(line.to_ascii_lowercase());
        }
        assert!(head[0].contains(" 200 "), "{head:?}");
        assert!(
            head.iter().any(|h| h == "content-type: text/event-stream"),
            "{head:?}"
        );
        Events { lines }
    }

    /// The next event's data, parsed. The body is chunked: the chunk sizes and
    /// keep-alive comments are lines without the `data: ` prefix and are skipped.
    async fn next(&mut self) -> Value {
        let read = async {
            loop {
                let line = self.lines.next_line().await.unwrap().expect("stream open");
                if let Some(data) = line.strip_prefix("data: ") {
                    return serde_json::from_str::<Value>(data).expect("each event is JSON");
                }
            }
        };
        tokio::time::timeout(WAIT, read)
            .await
            .expect("an event within the wait")
    }
}

/// The listed room `name`, if any.
fn room<'a>(snapshot: &'a Value, name: &str) -> Option<&'a Value> {
    snapshot["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["room"] == name)
}

#[tokio::test]
async fn the_stream_and_the_page_refuse_requests_without_the_key() {
    let gw = TestGateway::start(&["--api-key", KEY]).await;
    for path in [
        "/admin",
        "/admin/events",
        "/admin/main.js",
        "/admin/events?key=nope",
    ] {
        let (status, body) = http(&gw, "GET", path, &[], "").await;
        assert_eq!(status, 401, "{path}: {body}");
        assert_eq!(
            serde_json::from_str::<Value>(&body).unwrap()["code"],
            "unauthorized"
        );
    }
    let (status, _) = http(&gw, "GET", "/admin", &[("x-api-key", "nope")], "").await;
    assert_eq!(status, 401);
    let (status, page) = http(&gw, "GET", "/admin", &[("x-api-key", KEY)], "").await;
    assert_eq!(status, 200);
    assert!(page.contains("/admin/main.js"));
    gw.stop().await;
}

#[tokio::test]
async fn each_event_is_a_json_snapshot_of_the_rooms_connections_and_knobs() {
    let gw = TestGateway::start(&["--api-key", KEY, "--pool-size", "3", "--shard-size", "7"]).await;
    // Each joins at connect; a state reply means its session (and membership) is up.
    let mut alpha = Vec::new();
    for _ in 0..3 {
        let mut c = gw.v1(Some("alpha")).await;
        c.send(json!({"action":"getState","room":"alpha"})).await;
        c.recv_type("state").await;
        alpha.push(c);
    }
    let mut beta = gw.v1(Some("beta")).await;
    beta.send(json!({"action":"getState","room":"beta"})).await;
    beta.recv_type("state").await;
    let mut planetstack = gw.planetstack(Some("beta")).await;
    planetstack.send(json!({"action":"getState"})).await;
    planetstack.recv().await;
    alpha[0]
        .ok(json!({"action":"changeBackground","room":"alpha","bg":3}))
        .await;
    alpha[1]
        .ok(json!({"action":"changeBackground","room":"alpha","bg":4}))
        .await;
    // A refused connect (a room name that is not one) counts as a refusal.
    let (status, _) = http(&gw, "GET", "/dev?room=no%20spaces", &[], "").await;
    assert_eq!(status, 400);

    // The key as `?key=` (for EventSource) works as well as the header.
    let mut by_query = Events::open(&gw, &format!("/admin/events?key={KEY}"), &[]).await;
    let mut events = Events::open(&gw, "/admin/events", &[("x-api-key", KEY)]).await;
    let s = events.next().await;
    // A tick may fall between the two subscriptions: then the first stream has one
    // snapshot more, and its next is the one the second stream got first.
    let mut q = by_query.next().await;
    if q["at"] != s["at"] {
        q = by_query.next().await;
    }
    assert_eq!(q, s, "both streams get the same snapshot");

    assert_eq!(
        s["knobs"],
        json!({"shardSize":7,"poolSize":3,"postConcurrency":64,"rateLimit":0})
    );
    let c = &s["connections"];
    assert_eq!(
        (
            c["count"].as_u64(),
            c["v1"].as_u64(),
            c["planetstack"].as_u64()
        ),
        (Some(5), Some(4), Some(1))
    );
    for field in [
        "queuedFramesTotal",
        "queuedFramesMax",
        "queuedBytesTotal",
        "queuedBytesMax",
        "slowConsumersClosed",
        "connectsPerSecond",
        "refusalsPerSecond",
    ] {
        assert!(c[field].is_number(), "connections.{field} in {c}");
    }
    assert_eq!(s["roomCount"], 2);
    // Without tokens each connection is its own (anonymous) user.
    let a = room(&s, "alpha").expect("alpha is listed");
    assert_eq!(
        (
            a["members"].as_u64(),
            a["users"].as_u64(),
            a["version"].as_u64()
        ),
        (Some(3), Some(3), Some(2))
    );
    let b = room(&s, "beta").expect("beta is listed");
    assert_eq!(
        (
            b["members"].as_u64(),
            b["users"].as_u64(),
            b["version"].as_u64()
        ),
        (Some(2), Some(2), Some(0))
    );
    let f = &s["fanout"];
    for field in [
        "jobsPerSecond",
        "postsPerSecond",
        "throttled",
        "gone",
        "failed",
        "deadLetters",
        "writeDelayMs",
        "writeRecipients",
    ] {
        assert!(f[field].is_number(), "fanout.{field} in {f}");
    }
    assert!(f["latency"]["samples"].is_number());
    assert!(s["errors"].is_array());
    assert_eq!(metric(&gw, "roomcast_ws_connects_total").await, 5.0);
    assert_eq!(
        metric(
            &gw,
            "roomcast_ws_connect_refusals_total{reason=\"bad_request\"}"
        )
        .await,
        1.0
    );

    // Edits while the stream is open show as changes per second and as deliveries.
    let mut deliveries = 0;
    let mut busiest = String::new();
    for bg in 0..6 {
        alpha[2]
            .ok(json!({"action":"changeBackground","room":"alpha","bg":bg % 2 + 5}))
            .await;
        tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    }
    for _ in 0..3 {
        let s = events.next().await;
        deliveries += s["fanout"]["latency"]["samples"].as_u64().unwrap();
        if s["rooms"][0]["changesPerSecond"].as_f64().unwrap() > 0.0 {
            busiest = s["rooms"][0]["room"].as_str().unwrap().to_owned();
        }
    }
    assert!(
        deliveries >= 6 * 3,
        "every edit reached the 3 members of alpha: {deliveries}"
    );
    assert_eq!(busiest, "alpha", "the busiest room comes first");
    // Closed sockets end their sessions at once (open ones get 5 s to say goodbye).
    drop((alpha, beta, planetstack, events, by_query));
    gw.stop().await;
}

#[tokio::test]
async fn a_room_lists_one_user_once_however_many_of_their_connections() {
    const SECRET: &str = "admin-test-secret";
    let gw = TestGateway::start(&["--api-key", KEY, "--jwt-secret", SECRET]).await;
    let mut clients = Vec::new();
    for sub in ["ada", "ada", "bob"] {
        let token = hs(json!({"sub": sub, "exp": exp(600)}), SECRET);
        let url = format!("{}&token={token}", gw.ws_url(Some("alpha")));
        let mut c = WsClient::connect(&url, Some("roomcast.v1")).await;
        // A state answer means the connection's session, and its membership, are up.
        c.send(json!({"action":"getState","room":"alpha"})).await;
        c.recv_type("state").await;
        clients.push(c);
    }
    let mut events = Events::open(&gw, "/admin/events", &[("x-api-key", KEY)]).await;
    let s = events.next().await;
    let a = room(&s, "alpha").expect("alpha is listed");
    assert_eq!(
        (a["members"].as_u64(), a["users"].as_u64()),
        (Some(3), Some(2)),
        "ada's two connections are one user: {a}"
    );
    drop((clients, events));
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_consumer_closed_and_its_throttled_posts_show_in_the_stream() {
    let gw = TestGateway::start(&[
        "--api-key",
        KEY,
        // The sender floods on purpose; the per-connection message rate is not the subject.
        "--message-rate",
        "0",
        "--outbound-frames",
        "4",
        "--outbound-bytes",
        "262144",
        "--slow-consumer-timeout",
        "300ms",
    ])
    .await;
    let mut events = Events::open(&gw, "/admin/events", &[("x-api-key", KEY)]).await;
    let first = events.next().await;
    assert_eq!(first["connections"]["slowConsumersClosed"], 0);

    // Nobody reads `stalled`: the kernel buffers and then its queue fill, posts to it
    // are throttled, and once full for 300 ms it is closed with 1013.
    let mut stalled = gw.v1(Some("alpha")).await;
    let mut sender = gw.v1(Some("alpha")).await;
    let blob = "x".repeat(30 * 1024);
    for _ in 0..400 {
        sender
            .ok(json!({"action":"emit","room":"alpha","event":"blob","data":blob}))
            .await;
    }
    assert_eq!(stalled.closed().await.map(|c| c.0), Some(1013));

    let mut last = Value::Null;
    for _ in 0..5 {
        last = events.next().await;
        if last["connections"]["slowConsumersClosed"] == 1 {
            break;
        }
    }
    assert_eq!(last["connections"]["slowConsumersClosed"], 1, "{last}");
    assert!(last["fanout"]["throttled"].as_u64().unwrap() >= 1, "{last}");
    drop((events, sender));
    gw.stop().await;
}
