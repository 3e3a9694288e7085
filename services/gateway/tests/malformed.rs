//! Malformed input: every bad frame is answered by an `error` with a stable code and a
//! message, the connection stays open and nothing stored changes — through the real
//! server with real WebSocket clients.

use futures::SinkExt;
use roomcast_testkit::{TestGateway, WsClient};
use serde_json::{Value, json};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};

/// How a malformed case goes on the wire.
enum Wire {
    /// One text frame.
    Text(String),
    /// One text message split into continuation frames of at most `MAX_FRAGMENT` bytes.
    Fragmented(String),
    /// One binary frame.
    Binary(Vec<u8>),
}

/// One bad frame and the answer it must get.
struct Case {
    name: &'static str,
    wire: Wire,
    code: &'static str,
    /// The `ref` the error must echo; `None`: the error carries no `ref`.
    echo: Option<Value>,
}

/// Fragments stay under API Gateway's 32 KB frame limit.
const MAX_FRAGMENT: usize = 30 * 1024;

/// A well-formed id (`icon` + 27 base62 characters) that names no icon.
fn ghost_id() -> String {
    format!("icon{}", "Zz9".repeat(9))
}

/// A text case without a `ref` (or with one the server cannot read).
fn plain(name: &'static str, frame: impl Into<String>, code: &'static str) -> Case {
    Case {
        name,
        wire: Wire::Text(frame.into()),
        code,
        echo: None,
    }
}

/// A text case whose frame is an object: `ref` is inserted as its first field and must
/// come back on the error.
fn with_ref(
    name: &'static str,
    frame: impl Into<String>,
    code: &'static str,
    reference: Value,
) -> Case {
    let frame = frame.into();
    let body = frame
        .strip_prefix('{')
        .expect("a ref case is a JSON object");
    let sep = if body.trim_start().starts_with('}') {
        ""
    } else {
        ","
    };
    Case {
        name,
        wire: Wire::Text(format!("{{\"ref\":{reference}{sep}{body}")),
        code,
        echo: Some(reference),
    }
}

fn cases() -> Vec<Case> {
    let ghost = ghost_id();
    let long_room = "r".repeat(65);
    let long_event = "e".repeat(65);
    let long_ref = "f".repeat(65);
    let big_data = "x".repeat(70 * 1024);
    vec![
        // Not JSON at all, or not an object.
        plain("not JSON", "hello there", "invalid_json"),
        plain(
            "truncated JSON",
            r#"{"action":"addIcon","room":"alpha","icon":{"img":1,"#,
            "invalid_json",
        ),
        plain("empty frame", "", "invalid_json"),
        plain("whitespace only", "  \n ", "invalid_json"),
        plain(
            "trailing garbage",
            r#"{"action":"getState","room":"alpha"} x"#,
            "invalid_json",
        ),
        plain(
            "two objects",
            r#"{"action":"getState","room":"alpha"}{"action":"listRooms"}"#,
            "invalid_json",
        ),
        plain(
            "NaN literal",
            r#"{"action":"moveIcon","ref":"nan","room":"alpha","icon":{"img":1,"x":NaN,"y":1}}"#,
            "invalid_json",
        ),
        plain(
            "Infinity literal",
            r#"{"action":"changeBackground","room":"alpha","bg":Infinity}"#,
            "invalid_json",
        ),
        plain(
            "ref 1e999",
            r#"{"action":"getState","room":"alpha","ref":1e999}"#,
            "invalid_json",
        ),
        plain(
            "deeply nested",
            format!("{}{}", "[".repeat(300), "]".repeat(300)),
            "invalid_json",
        ),
        // Valid JSON grammar but no f64: refused as the coordinate it is.
        with_ref(
            "x 1e999",
            r#"{"action":"addIcon","room":"alpha","icon":{"img":1,"x":1e999,"y":1}}"#,
            "invalid_coordinate",
            json!("inf"),
        ),
        plain("JSON array", r#"["addIcon","alpha"]"#, "invalid_message"),
        plain("empty array", "[]", "invalid_message"),
        plain("JSON number", "42", "invalid_message"),
        plain("JSON string", r#""getState""#, "invalid_message"),
        plain("JSON null", "null", "invalid_message"),
        plain("JSON true", "true", "invalid_message"),
        // The envelope.
        plain("empty object", "{}", "missing_action"),
        with_ref(
            "missing action",
            r#"{"room":"alpha"}"#,
            "missing_action",
            json!("m1"),
        ),
        with_ref(
            "null action",
            r#"{"action":null,"room":"alpha"}"#,
            "missing_action",
            json!(2),
        ),
        with_ref(
            "action a number",
            r#"{"action":7,"room":"alpha"}"#,
            "unknown_action",
            json!("m3"),
        ),
        with_ref(
            "action an object",
            r#"{"action":{"name":"join"},"room":"alpha"}"#,
            "unknown_action",
            json!("m4"),
        ),
        with_ref(
            "unknown action",
            r#"{"action":"launchRocket","room":"alpha"}"#,
            "unknown_action",
            json!("m5"),
        ),
        with_ref(
            "action wrong case",
            r#"{"action":"ADDICON","room":"alpha"}"#,
            "unknown_action",
            json!(-6),
        ),
        with_ref(
            "empty action",
            r#"{"action":"","room":"alpha"}"#,
            "unknown_action",
            json!("m7"),
        ),
        plain(
            "ref an object",
            r#"{"action":"getState","room":"alpha","ref":{"id":1}}"#,
            "invalid_ref",
        ),
        plain(
            "ref 65 chars",
            format!(r#"{{"action":"getState","room":"alpha","ref":"{long_ref}"}}"#),
            "invalid_ref",
        ),
        plain(
            "ref 1.5",
            r#"{"action":"getState","room":"alpha","ref":1.5}"#,
            "invalid_ref",
        ),
        plain(
            "ref true",
            r#"{"action":"getState","room":"alpha","ref":true}"#,
            "invalid_ref",
        ),
        plain(
            "ref beyond i64",
            r#"{"action":"getState","room":"alpha","ref":9223372036854775808}"#,
            "invalid_ref",
        ),
        // Rooms.
        with_ref(
            "missing room (v1)",
            r#"{"action":"getState"}"#,
            "missing_field",
            json!("r1"),
        ),
        with_ref(
            "null room (v1)",
            r#"{"action":"join","room":null}"#,
            "missing_field",
            json!("r2"),
        ),
        with_ref(
            "empty room",
            r#"{"action":"join","room":""}"#,
            "invalid_room",
            json!("r3"),
        ),
        with_ref(
            "65-char room",
            format!(r#"{{"action":"join","room":"{long_room}"}}"#),
            "invalid_room",
            json!("r4"),
        ),
        with_ref(
            "room with a space",
            r#"{"action":"getState","room":"al pha"}"#,
            "invalid_room",
            json!("r5"),
        ),
        with_ref(
            "unicode room",
            r#"{"action":"join","room":"ålpha"}"#,
            "invalid_room",
            json!("r6"),
        ),
        with_ref(
            "room with a slash",
            r#"{"action":"leave","room":"alpha/beta"}"#,
            "invalid_room",
            json!("r7"),
        ),
        with_ref(
            "room a number",
            r#"{"action":"changeBackground","room":7,"bg":1}"#,
            "invalid_room",
            json!("r8"),
        ),
        with_ref(
            "room an array",
            r#"{"action":"addIcon","room":["alpha"],"icon":{"img":1,"x":1,"y":1}}"#,
            "invalid_room",
            json!("r9"),
        ),
        // Missing fields.
        with_ref(
            "missing bg",
            r#"{"action":"changeBackground","room":"alpha"}"#,
            "missing_field",
            json!("f1"),
        ),
        with_ref(
            "missing icon",
            r#"{"action":"addIcon","room":"alpha"}"#,
            "missing_field",
            json!("f2"),
        ),
        with_ref(
            "missing icon.x",
            r#"{"action":"addIcon","room":"alpha","icon":{"img":1,"y":1}}"#,
            "missing_field",
            json!("f3"),
        ),
        with_ref(
            "missing icon.id",
            r#"{"action":"moveIcon","room":"alpha","icon":{"img":1,"x":1,"y":1}}"#,
            "missing_field",
            json!("f4"),
        ),
        with_ref(
            "missing id",
            r#"{"action":"deleteIcon","room":"alpha"}"#,
            "missing_field",
            json!("f5"),
        ),
        with_ref(
            "missing event",
            r#"{"action":"emit","room":"alpha","data":1}"#,
            "missing_field",
            json!("f6"),
        ),
        // Wrong types and out-of-range values.
        with_ref(
            "bg a string",
            r#"{"action":"changeBackground","room":"alpha","bg":"4"}"#,
            "invalid_background",
            json!("t1"),
        ),
        with_ref(
            "bg a fraction",
            r#"{"action":"changeBackground","room":"alpha","bg":3.5}"#,
            "invalid_background",
            json!("t2"),
        ),
        with_ref(
            "bg 99",
            r#"{"action":"changeBackground","room":"alpha","bg":99}"#,
            "invalid_background",
            json!("t3"),
        ),
        with_ref(
            "bg -1",
            r#"{"action":"changeBackground","room":"alpha","bg":-1}"#,
            "invalid_background",
            json!("t4"),
        ),
        with_ref(
            "bg huge",
            r#"{"action":"changeBackground","room":"alpha","bg":123456789012345678901234567890}"#,
            "invalid_background",
            json!("t5"),
        ),
        with_ref(
            "img -1",
            r#"{"action":"addIcon","room":"alpha","icon":{"img":-1,"x":1,"y":1}}"#,
            "invalid_image",
            json!("t6"),
        ),
        with_ref(
            "img 64",
            r#"{"action":"addIcon","room":"alpha","icon":{"img":64,"x":1,"y":1}}"#,
            "invalid_image",
            json!("t7"),
        ),
        with_ref(
            "img null",
            r#"{"action":"addIcon","room":"alpha","icon":{"img":null,"x":1,"y":1}}"#,
            "invalid_image",
            json!("t8"),
        ),
        with_ref(
            "x a string",
            r#"{"action":"addIcon","room":"alpha","icon":{"img":1,"x":"10","y":1}}"#,
            "invalid_coordinate",
            json!("t9"),
        ),
        with_ref(
            "x true",
            r#"{"action":"addIcon","room":"alpha","icon":{"img":1,"x":true,"y":1}}"#,
            "invalid_coordinate",
            json!("t10"),
        ),
        with_ref(
            "x 1e300",
            r#"{"action":"addIcon","room":"alpha","icon":{"img":1,"x":1e300,"y":1}}"#,
            "invalid_coordinate",
            json!("t11"),
        ),
        with_ref(
            "y -10001",
            r#"{"action":"addIcon","room":"alpha","icon":{"img":1,"x":1,"y":-10001}}"#,
            "invalid_coordinate",
            json!("t12"),
        ),
        with_ref(
            "icon a string",
            r#"{"action":"addIcon","room":"alpha","icon":"rocket"}"#,
            "invalid_field",
            json!("t13"),
        ),
        with_ref(
            "except_sender a string",
            r#"{"action":"emit","room":"alpha","event":"chat","except_sender":"no"}"#,
            "invalid_field",
            json!("t14"),
        ),
        with_ref(
            "duplicate bg",
            r#"{"action":"changeBackground","room":"alpha","bg":1,"bg":2}"#,
            "invalid_field",
            json!("t15"),
        ),
        plain(
            "duplicate action",
            r#"{"action":"getState","action":"addIcon","room":"alpha"}"#,
            "invalid_message",
        ),
        // Icon ids.
        with_ref(
            "moveIcon unknown id",
            format!(
                r#"{{"action":"moveIcon","room":"alpha","icon":{{"id":"{ghost}","img":1,"x":5,"y":5}}}}"#
            ),
            "unknown_icon",
            json!("i1"),
        ),
        with_ref(
            "deleteIcon unknown id",
            format!(r#"{{"action":"deleteIcon","room":"alpha","id":"{ghost}"}}"#),
            "unknown_icon",
            json!("i2"),
        ),
        with_ref(
            "id too short",
            r#"{"action":"deleteIcon","room":"alpha","id":"icon2JgQq"}"#,
            "invalid_icon_id",
            json!("i3"),
        ),
        with_ref(
            "id without prefix",
            format!(
                r#"{{"action":"deleteIcon","room":"alpha","id":"nope{}"}}"#,
                "a".repeat(27)
            ),
            "invalid_icon_id",
            json!("i4"),
        ),
        with_ref(
            "id with symbols",
            format!(
                r#"{{"action":"deleteIcon","room":"alpha","id":"icon{}"}}"#,
                "!".repeat(27)
            ),
            "invalid_icon_id",
            json!("i5"),
        ),
        with_ref(
            "id too long",
            format!(r#"{{"action":"deleteIcon","room":"alpha","id":"{ghost}x"}}"#),
            "invalid_icon_id",
            json!("i6"),
        ),
        with_ref(
            "id a number",
            r#"{"action":"deleteIcon","room":"alpha","id":7}"#,
            "invalid_icon_id",
            json!("i7"),
        ),
        with_ref(
            "moveIcon malformed id",
            r#"{"action":"moveIcon","room":"alpha","icon":{"id":"icon-1","img":1,"x":5,"y":5}}"#,
            "invalid_icon_id",
            json!("i8"),
        ),
        // Events.
        with_ref(
            "empty event",
            r#"{"action":"emit","room":"alpha","event":""}"#,
            "invalid_event",
            json!("e1"),
        ),
        with_ref(
            "event with a space",
            r#"{"action":"emit","room":"alpha","event":"a b"}"#,
            "invalid_event",
            json!("e2"),
        ),
        with_ref(
            "65-char event",
            format!(r#"{{"action":"emit","room":"alpha","event":"{long_event}"}}"#),
            "invalid_event",
            json!("e3"),
        ),
        with_ref(
            "event a number",
            r#"{"action":"emit","room":"alpha","event":5}"#,
            "invalid_event",
            json!("e4"),
        ),
        // Size and frame type.
        Case {
            name: "emit data over 64 KiB, fragmented",
            wire: Wire::Fragmented(format!(
                r#"{{"action":"emit","room":"alpha","event":"big","data":"{big_data}","ref":"big"}}"#
            )),
            code: "payload_too_large",
            echo: Some(json!("big")),
        },
        Case {
            name: "binary frame",
            wire: Wire::Binary(br#"{"action":"getState","room":"alpha"}"#.to_vec()),
            code: "unsupported_frame",
            echo: None,
        },
    ]
}

/// Put one case on the wire.
async fn send(client: &mut WsClient, wire: &Wire) {
    match wire {
        Wire::Text(text) => client.send_text(text).await,
        Wire::Binary(bytes) => client
            .ws
            .send(Message::binary(bytes.clone()))
            .await
            .expect("send binary"),
        Wire::Fragmented(text) => {
            let chunks: Vec<&[u8]> = text.as_bytes().chunks(MAX_FRAGMENT).collect();
            assert!(chunks.len() >= 3, "a fragmented case spans several frames");
            for (i, chunk) in chunks.iter().enumerate() {
                let opcode = if i == 0 {
                    OpCode::Data(Data::Text)
                } else {
                    OpCode::Data(Data::Continue)
                };
                let last = i + 1 == chunks.len();
                client
                    .ws
                    .send(Message::Frame(Frame::message(chunk.to_vec(), opcode, last)))
                    .await
                    .expect("send fragment");
            }
        }
    }
}

/// The `error` answering the frame just sent. Presence may interleave; anything that
/// would mean the frame was accepted (ack, patch, state, event) fails the test.
async fn next_error(client: &mut WsClient, name: &str) -> Value {
    loop {
        let m = client.recv().await;
        match m["type"].as_str() {
            Some("error") => return m,
            Some("presence") => continue,
            _ => panic!("case {name:?}: expected an error, got {m}"),
        }
    }
}

/// The room's state frame, as `getState` answers it.
async fn get_state(client: &mut WsClient, room: &str) -> Value {
    client.send(json!({"action":"getState","room":room})).await;
    client.recv_type("state").await
}

#[tokio::test]
async fn every_malformed_frame_gets_a_coded_error_and_changes_nothing() {
    let gw = TestGateway::start(&[]).await;
    let mut a = gw.v1(Some("alpha")).await;
    a.ok(json!({"action":"addIcon","room":"alpha","icon":{"img":3,"x":400,"y":400}}))
        .await;
    a.ok(json!({"action":"addIcon","room":"alpha","icon":{"img":5,"x":-20,"y":75}}))
        .await;
    a.ok(json!({"action":"changeBackground","room":"alpha","bg":4}))
        .await;
    let before = get_state(&mut a, "alpha").await;
    assert_eq!(before["version"], 3, "{before}");
    assert_eq!(before["state"]["bg"], 4);
    assert_eq!(before["state"]["icons"].as_object().unwrap().len(), 2);
    // Let the patches of the setup arrive so that only answers are read below.
    let _ = a.drain(Duration::from_millis(200)).await;

    let cases = cases();
    assert!(cases.len() >= 35, "only {} cases", cases.len());
    let mut failures = vec![];
    for case in &cases {
        send(&mut a, &case.wire).await;
        let err = next_error(&mut a, case.name).await;
        let message = err["message"].as_str().unwrap_or_default();
        if err["code"] != case.code {
            failures.push(format!(
                "{:?}: code {} (expected {}): {err}",
                case.name, err["code"], case.code
            ));
        }
        if message.is_empty() {
            failures.push(format!("{:?}: empty message: {err}", case.name));
        }
        let echoed = err.get("ref").cloned();
        if echoed != case.echo {
            failures.push(format!(
                "{:?}: ref {echoed:?} (expected {:?}): {err}",
                case.name, case.echo
            ));
        }
        let keys: Vec<_> = err.as_object().unwrap().keys().cloned().collect();
        if keys
            .iter()
            .any(|k| !["type", "code", "message", "ref"].contains(&k.as_str()))
        {
            failures.push(format!("{:?}: unexpected fields: {err}", case.name));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases wrong:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );

    // Nothing was broadcast: no patch or event reached the room.
    let stray = a.drain(Duration::from_millis(200)).await;
    assert!(stray.is_empty(), "frames after the bad input: {stray:?}");
    let after = get_state(&mut a, "alpha").await;
    assert_eq!(after, before, "stored state changed");

    // The connection is still open and serves valid requests.
    let ack = a
        .ok(json!({"action":"changeBackground","room":"alpha","bg":5}))
        .await;
    assert_eq!(ack["version"], 4);
    gw.stop().await;
}

#[tokio::test]
async fn a_planetstack_client_gets_message_only_errors_and_stays_open() {
    let gw = TestGateway::start(&[]).await;
    let mut planetstack = gw.planetstack(Some("alpha")).await;
    assert_eq!(planetstack.protocol, None);
    for frame in [
        "not json".to_owned(),
        r#"{"action":"changeBackground","bg":"4"}"#.to_owned(),
        r#"{"action":"launchRocket"}"#.to_owned(),
        format!(r#"{{"action":"deleteIcon","id":"{}"}}"#, ghost_id()),
    ] {
        planetstack.send_text(&frame).await;
        let err = planetstack.recv().await;
        let obj = err.as_object().expect("an object");
        assert_eq!(
            obj.keys().collect::<Vec<_>>(),
            ["message"],
            "{frame} answered {err}"
        );
        assert!(!err["message"].as_str().unwrap().is_empty(), "{err}");
    }
    planetstack
        .ws
        .send(Message::binary(b"\x00\x01".to_vec()))
        .await
        .unwrap();
    let err = planetstack.recv().await;
    assert_eq!(
        err.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["message"],
        "{err}"
    );

    // Still open: a valid action in the connection's room answers the planetstack state object.
    planetstack.send_text(r#"{"action":"getState"}"#).await;
    assert_eq!(planetstack.recv().await, json!({"bg":0,"icons":{}}));
    gw.stop().await;
}

#[tokio::test]
async fn a_single_frame_over_32_kib_closes_with_1009() {
    let gw = TestGateway::start(&[]).await;
    let mut a = gw.v1(Some("alpha")).await;
    a.ok(json!({"action":"changeBackground","room":"alpha","bg":2}))
        .await;
    let data = "y".repeat(33 * 1024);
    let frame = json!({"action":"emit","room":"alpha","event":"big","data":data}).to_string();
    assert!(frame.len() > 32 * 1024);
    // The send may race the server's close; what matters is the close frame.
    let _ = a.ws.send(Message::text(frame)).await;
    let (code, reason) = a.closed().await.expect("a close frame");
    assert_eq!(code, 1009, "{reason}");

    // The room is unharmed: another client reads the state the first one left.
    let mut b = gw.v1(Some("alpha")).await;
    b.send(json!({"action":"getState","room":"alpha"})).await;
    let state = b.recv_type("state").await;
    assert_eq!(
        (state["version"].clone(), state["state"]["bg"].clone()),
        (json!(1), json!(2))
    );
    gw.stop().await;
}

#[tokio::test]
async fn a_frame_of_exactly_32_kib_is_accepted_one_byte_more_is_not() {
    let gw = TestGateway::start(&[]).await;
    let mut a = gw.v1(Some("alpha")).await;
    let body = format!(
        r#"{{"action":"emit","room":"alpha","event":"e","data":"{}","ref":"edge"}}"#,
        "w".repeat(32 * 1024 - 100)
    );
    // Pad with JSON whitespace to exactly 32 KiB.
    let exact = format!("{body}{}", " ".repeat(32 * 1024 - body.len()));
    assert_eq!(exact.len(), 32 * 1024);
    a.send_text(&exact).await;
    assert_eq!(a.recv_type("ack").await["ref"], "edge");

    let _ = a.ws.send(Message::text(format!("{exact} "))).await;
    let (code, reason) = a.closed().await.expect("a close frame");
    assert_eq!(code, 1009, "{reason}");
    gw.stop().await;
}

#[tokio::test]
async fn a_fragmented_message_over_128_kib_closes_with_1009() {
    let gw = TestGateway::start(&[]).await;
    let mut a = gw.v1(Some("alpha")).await;
    let data = "q".repeat(130 * 1024);
    let text = format!(r#"{{"action":"emit","room":"alpha","event":"big","data":"{data}"}}"#);
    // Every fragment is within the frame limit; the message as a whole is not. The
    // last sends may race the server's close.
    let chunks: Vec<&[u8]> = text.as_bytes().chunks(MAX_FRAGMENT).collect();
    for (i, chunk) in chunks.iter().enumerate() {
        let opcode = if i == 0 {
            OpCode::Data(Data::Text)
        } else {
            OpCode::Data(Data::Continue)
        };
        let frame = Frame::message(chunk.to_vec(), opcode, i + 1 == chunks.len());
        if a.ws.send(Message::Frame(frame)).await.is_err() {
            break;
        }
    }
    let (code, reason) = a.closed().await.expect("a close frame");
    assert_eq!(code, 1009, "{reason}");
    gw.stop().await;
}

#[tokio::test]
async fn a_fragmented_message_under_the_limits_is_accepted() {
    // The control for the fragmented over-size case: fragments themselves are fine.
    let gw = TestGateway::start(&[]).await;
    let mut a = gw.v1(Some("alpha")).await;
    let data = "z".repeat(62 * 1024);
    let text = format!(
        r#"{{"action":"emit","room":"alpha","event":"big","data":"{data}","ref":"ok","except_sender":false}}"#
    );
    send(&mut a, &Wire::Fragmented(text)).await;
    let ack = a.recv_type("ack").await;
    assert_eq!(ack["ref"], "ok");
    let ev = a.recv_type("event").await;
    assert_eq!(ev["data"].as_str().unwrap().len(), 62 * 1024);
    gw.stop().await;
}

#[tokio::test]
async fn the_icon_cap_refuses_the_next_icon_and_keeps_the_base() {
    let gw = TestGateway::start(&["--icon-cap", "3"]).await;
    let mut a = gw.v1(Some("alpha")).await;
    for i in 0..3 {
        let ack = a
            .ok(json!({"action":"addIcon","room":"alpha","icon":{"img":i,"x":10 * i,"y":0}}))
            .await;
        assert_eq!(ack["version"], i + 1);
    }
    let (err, _) = a
        .request(json!({"action":"addIcon","room":"alpha","icon":{"img":9,"x":1,"y":1}}))
        .await;
    assert_eq!(err["type"], "error", "{err}");
    assert_eq!(err["code"], "icon_limit", "{err}");
    assert!(!err["message"].as_str().unwrap().is_empty(), "{err}");

    let state = get_state(&mut a, "alpha").await;
    assert_eq!(state["version"], 3);
    let icons = state["state"]["icons"].as_object().unwrap();
    assert_eq!(icons.len(), 3, "{state}");
    // Moving an existing icon is still allowed at the cap.
    let id = icons.keys().next().unwrap().clone();
    let ack = a
        .ok(json!({"action":"moveIcon","room":"alpha","icon":{"id":id,"img":1,"x":50,"y":50}}))
        .await;
    assert_eq!(ack["version"], 4);
    // Another room has its own cap.
    a.ok(json!({"action":"addIcon","room":"beta","icon":{"img":1,"x":1,"y":1}}))
        .await;
    gw.stop().await;
}

#[tokio::test]
async fn many_bad_frames_in_a_burst_are_each_answered_in_order() {
    let gw = TestGateway::start(&[]).await;
    let mut a = gw.v1(Some("alpha")).await;
    for i in 0..50 {
        a.send_text(&format!(
            r#"{{"action":"changeBackground","room":"alpha","bg":{},"ref":{i}}}"#,
            100 + i
        ))
        .await;
    }
    for i in 0..50 {
        let err = a.recv_type("error").await;
        assert_eq!(
            (err["code"].clone(), err["ref"].clone()),
            (json!("invalid_background"), json!(i)),
            "{err}"
        );
    }
    let state = get_state(&mut a, "alpha").await;
    assert_eq!(state["version"], 0);
    gw.stop().await;
}

#[tokio::test]
async fn a_text_frame_that_is_not_utf8_closes_with_1007() {
    let gw = TestGateway::start(&[]).await;
    let mut c = gw.v1(Some("alpha")).await;
    let frame = Frame::message(vec![0xff, 0xfe, 0xfd], OpCode::Data(Data::Text), true);
    c.ws.send(Message::Frame(frame)).await.unwrap();
    assert_eq!(c.closed().await.map(|c| c.0), Some(1007));
    gw.stop().await;
}
