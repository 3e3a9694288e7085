//! The wire protocol from the outside: client frames in (`ClientMessage::parse`,
//! `PublishRequest::parse`), server frames out (`ServerMessage::to_v1` / `to_planetstack`),
//! and subprotocol negotiation. Examples are the design brief's, field for field.

use roomcast_core::protocol::limits::MAX_EMIT_DATA_BYTES;
use roomcast_core::protocol::{
    Background, ClientAction, ClientMessage, ConnectionId, Coord, ErrorCode, EventName, Icon,
    IconId, Image, Protocol, ProtocolError, PublishEnvelope, PublishRequest, Ref, RoomName,
    RoomSummary, ServerMessage,
};
use roomcast_core::state::{GameState, Op};
use serde_json::json;
use serde_json::value::RawValue;

/// A fixed, valid icon id ("icon" + 27 base62 characters), standing in for the brief's `icon2JgQq...`.
const ICON: &str = "icon2JgQqZ3ZuPkqYh0VbZ1sLhQd0aB";

fn room(s: &str) -> RoomName {
    RoomName::parse(s).unwrap()
}

fn icon(img: i64, x: f64, y: f64) -> Icon {
    Icon {
        img: Image::parse(img).unwrap(),
        x: Coord::parse(x).unwrap(),
        y: Coord::parse(y).unwrap(),
    }
}

fn text_ref(s: &str) -> Option<Ref> {
    Some(Ref::Text(s.to_owned()))
}

fn parse_v1(frame: &str) -> ClientMessage {
    ClientMessage::parse(frame, None).unwrap_or_else(|e| panic!("{frame} should parse, got {e:?}"))
}

fn raw(s: &str) -> Box<RawValue> {
    RawValue::from_string(s.to_owned()).unwrap()
}

#[test]
fn the_test_icon_id_is_valid() {
    assert_eq!(ICON.len(), 31);
    assert_eq!(IconId::parse(ICON).unwrap().as_str(), ICON);
}

// ---------------------------------------------------------------------------------------
// Every action, from the brief's examples
// ---------------------------------------------------------------------------------------

#[test]
fn join_leave_and_get_state_parse_with_a_string_ref() {
    let m = parse_v1(r#"{"action":"join","room":"alpha","ref":"r1"}"#);
    assert_eq!(m.reference, text_ref("r1"));
    assert!(matches!(m.action, ClientAction::Join { room: r, .. } if r == room("alpha")));

    let m = parse_v1(r#"{"action":"leave","room":"alpha","ref":"r2"}"#);
    assert_eq!(m.reference, text_ref("r2"));
    assert!(matches!(m.action, ClientAction::Leave { room: r } if r == room("alpha")));

    // The brief's getState example carries no ref.
    let m = parse_v1(r#"{"action":"getState","room":"alpha"}"#);
    assert_eq!(m.reference, None);
    assert!(matches!(m.action, ClientAction::GetState { room: r } if r == room("alpha")));
}

#[test]
fn refs_may_be_integers_and_are_kept_exactly() {
    let m = parse_v1(r#"{"action":"join","room":"alpha","ref":7}"#);
    assert_eq!(m.reference, Some(Ref::Number(7)));
    let m = parse_v1(r#"{"ref":-42,"action":"leave","room":"alpha"}"#);
    assert_eq!(m.reference, Some(Ref::Number(-42)));
    let m = parse_v1(r#"{"action":"getState","room":"alpha","ref":9223372036854775807}"#);
    assert_eq!(m.reference, Some(Ref::Number(i64::MAX)));
    let m = parse_v1(r#"{"action":"getState","room":"alpha","ref":null}"#);
    assert_eq!(m.reference, None, "a null ref is no ref");
    // 64 characters (not bytes) is the limit.
    let long = "é".repeat(64);
    let m = parse_v1(&format!(
        r#"{{"action":"getState","room":"alpha","ref":"{long}"}}"#
    ));
    assert_eq!(m.reference, Some(Ref::Text(long)));
    let m = parse_v1(r#"{"action":"getState","room":"alpha","ref":""}"#);
    assert_eq!(m.reference, text_ref(""));
}

#[test]
fn change_background_parses() {
    for (frame, reference) in [
        (
            r#"{"action":"changeBackground","room":"alpha","bg":4,"ref":"r3"}"#,
            text_ref("r3"),
        ),
        (
            r#"{"action":"changeBackground","room":"alpha","bg":4,"ref":3}"#,
            Some(Ref::Number(3)),
        ),
    ] {
        let m = parse_v1(frame);
        assert_eq!(m.reference, reference);
        match m.action {
            ClientAction::ChangeBackground { room: r, bg } => {
                assert_eq!(r, room("alpha"));
                assert_eq!(bg.get(), 4);
            }
            other => panic!("{other:?}"),
        }
    }
    // Both ends of the range.
    for bg in [0, 31] {
        let m = parse_v1(&format!(
            r#"{{"action":"changeBackground","room":"alpha","bg":{bg}}}"#
        ));
        assert!(
            matches!(m.action, ClientAction::ChangeBackground { bg: b, .. } if i64::from(b.get()) == bg)
        );
    }
}

#[test]
fn add_icon_parses_from_the_brief_example() {
    let m = parse_v1(
        r#"{"action":"addIcon","room":"alpha","icon":{"img":3,"x":400,"y":400},"ref":"r7"}"#,
    );
    assert_eq!(m.reference, text_ref("r7"));
    match m.action {
        ClientAction::AddIcon { room: r, icon: i } => {
            assert_eq!(r, room("alpha"));
            assert_eq!(i, icon(3, 400.0, 400.0));
        }
        other => panic!("{other:?}"),
    }
    let m =
        parse_v1(r#"{"action":"addIcon","room":"alpha","icon":{"img":3,"x":400,"y":400},"ref":7}"#);
    assert_eq!(m.reference, Some(Ref::Number(7)));
}

#[test]
fn coordinates_are_rounded_and_bounded_inclusively() {
    let m = parse_v1(r#"{"action":"addIcon","room":"a","icon":{"img":0,"x":399.6,"y":-0.4}}"#);
    match m.action {
        ClientAction::AddIcon { icon: i, .. } => {
            assert_eq!(i.x.get(), 400);
            assert_eq!(i.y.get(), 0);
        }
        other => panic!("{other:?}"),
    }
    let m = parse_v1(r#"{"action":"addIcon","room":"a","icon":{"img":63,"x":-10000,"y":10000}}"#);
    match m.action {
        ClientAction::AddIcon { icon: i, .. } => {
            assert_eq!((i.img.get(), i.x.get(), i.y.get()), (63, -10_000, 10_000));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn move_icon_parses() {
    let frame = format!(
        r#"{{"action":"moveIcon","room":"alpha","icon":{{"id":"{ICON}","img":5,"x":10,"y":-20}},"ref":"r4"}}"#
    );
    let m = parse_v1(&frame);
    assert_eq!(m.reference, text_ref("r4"));
    match m.action {
        ClientAction::MoveIcon {
            room: r,
            id,
            icon: i,
        } => {
            assert_eq!(r, room("alpha"));
            assert_eq!(id.as_str(), ICON);
            assert_eq!(i, icon(5, 10.0, -20.0));
        }
        other => panic!("{other:?}"),
    }
    let m = parse_v1(&frame.replace(r#""ref":"r4""#, r#""ref":4"#));
    assert_eq!(m.reference, Some(Ref::Number(4)));
}

#[test]
fn delete_icon_parses() {
    let m = parse_v1(&format!(
        r#"{{"action":"deleteIcon","room":"alpha","id":"{ICON}","ref":"r5"}}"#
    ));
    assert_eq!(m.reference, text_ref("r5"));
    match m.action {
        ClientAction::DeleteIcon { room: r, id } => {
            assert_eq!(r, room("alpha"));
            assert_eq!(id.as_str(), ICON);
        }
        other => panic!("{other:?}"),
    }
    let m = parse_v1(&format!(
        r#"{{"action":"deleteIcon","room":"alpha","id":"{ICON}","ref":5}}"#
    ));
    assert_eq!(m.reference, Some(Ref::Number(5)));
}

#[test]
fn emit_parses_with_except_sender_defaulting_to_true() {
    let m = parse_v1(r#"{"action":"emit","room":"alpha","event":"chat","data":{"text":"hi"}}"#);
    assert_eq!(m.reference, None);
    match m.action {
        ClientAction::Emit {
            room: r,
            event,
            data,
            except_sender,
        } => {
            assert_eq!(r, room("alpha"));
            assert_eq!(event.as_str(), "chat");
            assert_eq!(data.get(), r#"{"text":"hi"}"#);
            assert!(except_sender, "except_sender defaults to true");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn emit_parses_with_explicit_except_sender_and_refs() {
    for (flag, expected) in [("false", false), ("true", true)] {
        let frame = format!(
            r#"{{"action":"emit","room":"alpha","event":"chat:message.v2","data":[1,2],"except_sender":{flag},"ref":"e1"}}"#
        );
        let m = parse_v1(&frame);
        assert_eq!(m.reference, text_ref("e1"));
        match m.action {
            ClientAction::Emit {
                event,
                except_sender,
                data,
                ..
            } => {
                assert_eq!(event.as_str(), "chat:message.v2");
                assert_eq!(except_sender, expected);
                assert_eq!(data.get(), "[1,2]");
            }
            other => panic!("{other:?}"),
        }
    }
    let m = parse_v1(
        r#"{"action":"emit","room":"alpha","event":"chat","data":1,"except_sender":false,"ref":11}"#,
    );
    assert_eq!(m.reference, Some(Ref::Number(11)));
}

#[test]
fn emit_data_is_kept_verbatim_and_defaults_to_null() {
    // Whitespace, key order and number spelling are not normalized.
    let data = r#"{ "b" : 1.50, "a" : [ true , null ] }"#;
    let m = parse_v1(&format!(
        r#"{{"action":"emit","room":"alpha","event":"e","data":{data}}}"#
    ));
    assert!(matches!(&m.action, ClientAction::Emit { data: d, .. } if d.get() == data));

    let m = parse_v1(r#"{"action":"emit","room":"alpha","event":"e"}"#);
    assert!(matches!(&m.action, ClientAction::Emit { data: d, .. } if d.get() == "null"));

    // Any JSON value is data: a string, a number, null.
    for data in [r#""just text""#, "42", "null", "false"] {
        let m = parse_v1(&format!(
            r#"{{"action":"emit","room":"alpha","event":"e","data":{data}}}"#
        ));
        assert!(
            matches!(&m.action, ClientAction::Emit { data: d, .. } if d.get() == data),
            "{data}"
        );
    }
}

#[test]
fn emit_data_limit_is_inclusive() {
    // A JSON string whose raw text is exactly the limit.
    let at_limit = format!("\"{}\"", "a".repeat(MAX_EMIT_DATA_BYTES - 2));
    assert_eq!(at_limit.len(), MAX_EMIT_DATA_BYTES);
    let m = parse_v1(&format!(
        r#"{{"action":"emit","room":"alpha","event":"e","data":{at_limit}}}"#
    ));
    assert!(
        matches!(&m.action, ClientAction::Emit { data, .. } if data.get().len() == MAX_EMIT_DATA_BYTES)
    );

    let over = format!("\"{}\"", "a".repeat(MAX_EMIT_DATA_BYTES - 1));
    let err = ClientMessage::parse(
        &format!(r#"{{"action":"emit","room":"alpha","event":"e","data":{over},"ref":"big"}}"#),
        None,
    )
    .unwrap_err();
    assert_eq!(err.code, ErrorCode::PayloadTooLarge);
    assert_eq!(err.reference, text_ref("big"));
    assert!(
        err.message.contains(&MAX_EMIT_DATA_BYTES.to_string()),
        "{}",
        err.message
    );
}

#[test]
fn list_rooms_parses_with_and_without_ref() {
    let m = parse_v1(r#"{"action":"listRooms"}"#);
    assert_eq!(m.reference, None);
    assert!(matches!(m.action, ClientAction::ListRooms));
    let m = parse_v1(r#"{"action":"listRooms","ref":"l1"}"#);
    assert_eq!(m.reference, text_ref("l1"));
    let m = parse_v1(r#"{"action":"listRooms","ref":1}"#);
    assert_eq!(m.reference, Some(Ref::Number(1)));
    // listRooms names no room, so a v1 client need not send one and any extra field is ignored.
    let m = parse_v1(r#"{"action":"listRooms","room":"not validated here!"}"#);
    assert!(matches!(m.action, ClientAction::ListRooms));
}

#[test]
fn envelope_details_do_not_matter() {
    // Field order, whitespace, escapes and unknown fields.
    let m = parse_v1(
        "\n\t {\"ref\" : \"z\" ,\r\n \"room\":\"\\u0061lpha\", \"action\" : \"join\", \"extra\": {\"x\": [1]} }  \n",
    );
    assert_eq!(m.reference, text_ref("z"));
    assert!(matches!(m.action, ClientAction::Join { room: r, .. } if r == room("alpha")));
    // Room names at the limits of the rule.
    let long = "x".repeat(64);
    let m = parse_v1(&format!(r#"{{"action":"join","room":"{long}"}}"#));
    assert!(matches!(m.action, ClientAction::Join { room: r, .. } if r.as_str() == long));
    let m = parse_v1(r#"{"action":"join","room":"A-b_9"}"#);
    assert!(matches!(m.action, ClientAction::Join { room: r, .. } if r.as_str() == "A-b_9"));
}

#[test]
fn the_planetstack_default_room_fills_a_missing_room_only() {
    let base = room("base7");
    let planetstack = |frame: &str| {
        ClientMessage::parse(frame, Some(&base)).unwrap_or_else(|e| panic!("{frame}: {e:?}"))
    };
    // Planetstack's own client never names a room.
    let m = planetstack(r#"{"action":"addIcon","icon":{"img":3,"x":400,"y":400}}"#);
    assert!(matches!(m.action, ClientAction::AddIcon { room: r, .. } if r == base));
    let m = planetstack(r#"{"action":"changeBackground","bg":2}"#);
    assert!(matches!(m.action, ClientAction::ChangeBackground { room: r, .. } if r == base));
    let m = planetstack(r#"{"action":"getState"}"#);
    assert!(matches!(m.action, ClientAction::GetState { room: r } if r == base));
    let m = planetstack(&format!(r#"{{"action":"deleteIcon","id":"{ICON}"}}"#));
    assert!(matches!(m.action, ClientAction::DeleteIcon { room: r, .. } if r == base));
    let m = planetstack(&format!(
        r#"{{"action":"moveIcon","icon":{{"id":"{ICON}","img":1,"x":1,"y":1}}}}"#
    ));
    assert!(matches!(m.action, ClientAction::MoveIcon { room: r, .. } if r == base));
    let m = planetstack(r#"{"action":"emit","event":"e"}"#);
    assert!(matches!(m.action, ClientAction::Emit { room: r, .. } if r == base));
    let m = planetstack(r#"{"action":"join","room":null}"#);
    assert!(matches!(m.action, ClientAction::Join { room: r, .. } if r == base));
    // An explicit room wins.
    let m = planetstack(r#"{"action":"getState","room":"other"}"#);
    assert!(matches!(m.action, ClientAction::GetState { room: r } if r == room("other")));
    // An invalid explicit room is an error, not silently replaced by the default.
    let err = ClientMessage::parse(
        r#"{"action":"getState","room":"no good","ref":"s"}"#,
        Some(&base),
    )
    .unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidRoom);
    assert_eq!(err.reference, text_ref("s"));
}

// ---------------------------------------------------------------------------------------
// Malformed frames
// ---------------------------------------------------------------------------------------

struct Bad {
    what: String,
    frame: String,
    /// Parse as a planetstack client whose connect room is `default`.
    planetstack: bool,
    code: ErrorCode,
    reference: Option<Ref>,
}

fn bad(what: &str, frame: impl Into<String>, code: ErrorCode, reference: Option<Ref>) -> Bad {
    Bad {
        what: what.to_owned(),
        frame: frame.into(),
        planetstack: false,
        code,
        reference,
    }
}

fn r(s: &str) -> Option<Ref> {
    text_ref(s)
}

/// The structural bad frames: JSON objects with one defect (envelope, a field's type,
/// shape, range or name, a missing field), kept as data in `corpus/bad_frames.json` so
/// that infra's drift test checks the API Gateway request models against the same cases.
fn structural_bad_frames() -> Vec<Bad> {
    #[derive(serde::Deserialize)]
    struct Case {
        what: String,
        frame: serde_json::Value,
        code: ErrorCode,
        #[serde(default)]
        planetstack: bool,
        #[serde(rename = "ref")]
        reference: Option<Ref>,
    }
    #[derive(serde::Deserialize)]
    struct Corpus {
        cases: Vec<Case>,
    }
    let corpus: Corpus = serde_json::from_str(include_str!("corpus/bad_frames.json"))
        .expect("corpus/bad_frames.json reads");
    corpus
        .cases
        .into_iter()
        .map(|c| Bad {
            what: c.what,
            frame: serde_json::to_string(&c.frame).expect("a JSON value serializes"),
            planetstack: c.planetstack,
            code: c.code,
            reference: c.reference,
        })
        .collect()
}

fn malformed_frames() -> Vec<Bad> {
    use ErrorCode::*;
    let add =
        |icon: &str| format!(r#"{{"action":"addIcon","room":"alpha","icon":{icon},"ref":"a"}}"#);
    let deep = format!("{}{}", "[".repeat(500), "]".repeat(500));
    let too_big = format!("\"{}\"", "x".repeat(MAX_EMIT_DATA_BYTES));
    let mut cases = structural_bad_frames();
    cases.extend(vec![
        // Not JSON at all.
        bad("not JSON", "hello", InvalidJson, None),
        bad("empty string", "", InvalidJson, None),
        bad("only whitespace", " \n\t ", InvalidJson, None),
        bad(
            "truncated object",
            r#"{"action":"join","room":"al"#,
            InvalidJson,
            None,
        ),
        bad(
            "truncated after a comma",
            r#"{"action":"join","#,
            InvalidJson,
            None,
        ),
        bad(
            "single quotes",
            "{'action':'join','room':'alpha'}",
            InvalidJson,
            None,
        ),
        bad(
            "trailing comma",
            r#"{"action":"join","room":"alpha",}"#,
            InvalidJson,
            None,
        ),
        bad(
            "trailing garbage",
            r#"{"action":"join","room":"alpha","ref":"r"} x"#,
            InvalidJson,
            None,
        ),
        bad(
            "two objects",
            r#"{"action":"join","room":"a"}{"action":"join","room":"b"}"#,
            InvalidJson,
            None,
        ),
        bad(
            "NaN literal",
            r#"{"action":"addIcon","room":"alpha","icon":{"img":1,"x":NaN,"y":0},"ref":"a"}"#,
            InvalidJson,
            None,
        ),
        bad(
            "Infinity literal",
            r#"{"action":"changeBackground","room":"alpha","bg":Infinity}"#,
            InvalidJson,
            None,
        ),
        bad(
            "ref out of f64 range",
            r#"{"action":"join","room":"alpha","ref":1e999}"#,
            InvalidJson,
            None,
        ),
        // JSON, but not an object.
        bad("empty array", "[]", InvalidMessage, None),
        bad("array of scalars", "[1,2]", InvalidMessage, None),
        bad(
            "array shaped like listRooms",
            r#"["listRooms","r1"]"#,
            InvalidMessage,
            None,
        ),
        bad(
            "array shaped like changeBackground",
            r#"["changeBackground",3]"#,
            InvalidMessage,
            None,
        ),
        bad(
            "array holding an object",
            r#"[{"action":"join","room":"alpha"}]"#,
            InvalidMessage,
            None,
        ),
        bad("JSON string", r#""join""#, InvalidMessage, None),
        bad("JSON number", "42", InvalidMessage, None),
        bad("JSON null", "null", InvalidMessage, None),
        bad("JSON boolean", "true", InvalidMessage, None),
        // Text-level cases a JSON value cannot hold: duplicate keys, escapes, 1e999.
        bad(
            "duplicate action key",
            r#"{"action":"join","action":"leave","room":"alpha","ref":"d"}"#,
            InvalidMessage,
            None,
        ),
        bad(
            "escaped unicode room",
            r#"{"action":"join","room":"caf\u00e9","ref":"r8"}"#,
            InvalidRoom,
            r("r8"),
        ),
        // 1e999 is valid JSON grammar but no f64: the coordinate is refused.
        bad(
            "x 1e999",
            add(r#"{"img":1,"x":1e999,"y":1}"#),
            InvalidCoordinate,
            r("a"),
        ),
        // Sizes.
        bad(
            "emit data over 64 KiB",
            format!(
                r#"{{"action":"emit","room":"alpha","event":"e","data":{too_big},"ref":"big"}}"#
            ),
            PayloadTooLarge,
            r("big"),
        ),
        // Duplicate keys.
        bad(
            "duplicate room key",
            r#"{"action":"join","room":"alpha","room":"beta","ref":"dup"}"#,
            InvalidField,
            r("dup"),
        ),
        bad(
            "duplicate icon.x key",
            add(r#"{"img":1,"x":1,"y":1,"x":2}"#),
            InvalidField,
            r("a"),
        ),
        // Deep nesting.
        bad("deeply nested arrays", deep.clone(), InvalidJson, None),
        bad(
            "unclosed deep nesting",
            "[".repeat(10_000),
            InvalidJson,
            None,
        ),
        bad(
            "deeply nested action",
            format!(r#"{{"action":{deep},"ref":"n"}}"#),
            InvalidJson,
            None,
        ),
        // Valid JSON: the room is refused at its first `[`, before any depth is reached.
        bad(
            "deeply nested room",
            format!(r#"{{"action":"join","room":{deep},"ref":"n"}}"#),
            InvalidRoom,
            r("n"),
        ),
    ]);
    cases
}

#[test]
fn malformed_frames_get_the_exact_error_code_and_echo_a_valid_ref() {
    let default = RoomName::default_room();
    let cases = malformed_frames();
    assert!(cases.len() >= 90, "only {} cases", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let default_room = case.planetstack.then_some(&default);
        match ClientMessage::parse(&case.frame, default_room) {
            Ok(m) => failures.push(format!("{}: parsed as {:?}", case.what, m.action)),
            Err(e) => {
                if e.code != case.code || e.reference != case.reference {
                    failures.push(format!(
                        "{}: expected {:?} ref {:?}, got {:?} ref {:?} ({})",
                        case.what, case.code, case.reference, e.code, e.reference, e.message
                    ));
                }
                if e.message.is_empty() {
                    failures.push(format!("{}: empty message", case.what));
                }
                // The error goes out as a v1 `error` frame carrying the same code and ref.
                let frame: serde_json::Value =
                    serde_json::from_str(&ServerMessage::from(e.clone()).to_v1()).unwrap();
                let expected_ref = e
                    .reference
                    .as_ref()
                    .map(|r| serde_json::to_value(r).unwrap());
                if frame["type"] != "error"
                    || frame["code"] != e.code.as_str()
                    || frame.get("ref") != expected_ref.as_ref()
                {
                    failures.push(format!("{}: rendered as {frame}", case.what));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases wrong:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn a_bad_room_reads_the_rule() {
    assert_eq!(RoomName::RULE, "room must match [A-Za-z0-9_-]{1,64}");
    let long = "x".repeat(65);
    for bad_room in ["", "has space", "ünï", "a/b", long.as_str()] {
        let frame = format!(r#"{{"action":"join","room":"{bad_room}","ref":"r8"}}"#);
        let err = ClientMessage::parse(&frame, None).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidRoom, "{bad_room:?}");
        assert_eq!(err.message, RoomName::RULE, "{bad_room:?}");
    }
    // A room of the wrong type still gets invalid_room, with serde's explanation and the path.
    let err = ClientMessage::parse(r#"{"action":"join","room":5}"#, None).unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidRoom);
    assert!(
        err.message.starts_with("room: invalid type"),
        "{}",
        err.message
    );
}

#[test]
fn rule_messages_name_the_rule_and_generic_ones_name_the_path() {
    let msg = |frame: &str| ClientMessage::parse(frame, None).unwrap_err().message;
    assert_eq!(
        msg(r#"{"action":"changeBackground","room":"a","bg":99}"#),
        Background::RULE
    );
    assert_eq!(
        msg(r#"{"action":"addIcon","room":"a","icon":{"img":99,"x":1,"y":1}}"#),
        Image::RULE
    );
    assert_eq!(
        msg(r#"{"action":"addIcon","room":"a","icon":{"img":1,"x":1e300,"y":1}}"#),
        Coord::RULE
    );
    assert_eq!(
        msg(r#"{"action":"deleteIcon","room":"a","id":"nope"}"#),
        IconId::RULE
    );
    assert_eq!(
        msg(r#"{"action":"emit","room":"a","event":"no way"}"#),
        EventName::RULE
    );
    assert_eq!(msg(r#"{"action":"join","room":"a","ref":{}}"#), Ref::RULE);
    assert_eq!(
        msg(r#"{"action":"addIcon","room":"a","icon":{"img":1,"y":1}}"#),
        "icon: missing field `x`"
    );
    assert_eq!(
        msg(r#"{"action":"addIcon","room":"a"}"#),
        "missing field `icon`"
    );
    assert_eq!(msg(r#"{"action":"join"}"#), "missing field `room`");
    assert!(
        msg(r#"{"action":"addIcon","room":"a","icon":{"img":1,"x":"1","y":1}}"#)
            .starts_with("icon.x: invalid type")
    );
    // serde_json's " at line L column C" is stripped.
    let m = msg(r#"{"action":"join","room":"a""#);
    assert!(
        m.starts_with("not valid JSON") && !m.contains("line"),
        "{m}"
    );
    // An unknown action is named (truncated) and the valid ones listed.
    let m = msg(&format!(r#"{{"action":"{}"}}"#, "z".repeat(100)));
    assert!(
        m.contains(&"z".repeat(40)) && !m.contains(&"z".repeat(41)),
        "{m}"
    );
    assert!(
        m.contains("listRooms") && m.contains("changeBackground"),
        "{m}"
    );
}

#[test]
fn a_parse_error_renders_as_the_brief_error_frame() {
    let err = ClientMessage::parse(r#"{"action":"join","room":"bad room!","ref":"r8"}"#, None)
        .unwrap_err();
    assert_eq!(
        ServerMessage::from(err).to_v1(),
        r#"{"type":"error","code":"invalid_room","message":"room must match [A-Za-z0-9_-]{1,64}","ref":"r8"}"#
    );
}

// ---------------------------------------------------------------------------------------
// Server-side publish
// ---------------------------------------------------------------------------------------

#[test]
fn publish_requests_parse() {
    let p = PublishRequest::parse(r#"{"event":"score","data":{"points":10}}"#).unwrap();
    assert_eq!(p.event.as_str(), "score");
    assert_eq!(p.data.get(), r#"{"points":10}"#);
    let p = PublishRequest::parse(r#"{"event":"tick"}"#).unwrap();
    assert_eq!(p.data.get(), "null");
    // Unknown fields (a room, say) are ignored: the room comes from the URL.
    let p = PublishRequest::parse(r#"{"room":"elsewhere","event":"tick","data":[1]}"#).unwrap();
    assert_eq!((p.event.as_str(), p.data.get()), ("tick", "[1]"));
}

#[test]
fn bad_publish_requests_get_stable_codes() {
    let too_big = format!(
        r#"{{"event":"e","data":"{}"}}"#,
        "x".repeat(MAX_EMIT_DATA_BYTES)
    );
    let cases: Vec<(&str, String, ErrorCode)> = vec![
        ("not JSON", "event=e".into(), ErrorCode::InvalidJson),
        ("empty body", "".into(), ErrorCode::InvalidJson),
        (
            "truncated",
            r#"{"event":"e""#.into(),
            ErrorCode::InvalidJson,
        ),
        (
            "array",
            r#"["chat",null]"#.into(),
            ErrorCode::InvalidMessage,
        ),
        ("string", r#""chat""#.into(), ErrorCode::InvalidMessage),
        ("null", "null".into(), ErrorCode::InvalidMessage),
        (
            "missing event",
            r#"{"data":1}"#.into(),
            ErrorCode::MissingField,
        ),
        (
            "bad event",
            r#"{"event":"a b"}"#.into(),
            ErrorCode::InvalidEvent,
        ),
        (
            "event not a string",
            r#"{"event":1}"#.into(),
            ErrorCode::InvalidEvent,
        ),
        ("data too large", too_big, ErrorCode::PayloadTooLarge),
    ];
    for (what, body, code) in cases {
        let err = PublishRequest::parse(&body).expect_err(what);
        assert_eq!(err.code, code, "{what}: {}", err.message);
        assert_eq!(err.reference, None, "{what}");
    }
}

#[test]
fn publish_envelopes_round_trip_in_their_documented_shape() {
    let envelope = PublishEnvelope::new(
        RoomName::parse("alpha").unwrap(),
        PublishRequest::parse(r#"{"event":"news","data":{"n":1}}"#).unwrap(),
    );
    let text = serde_json::to_string(&envelope).unwrap();
    assert_eq!(
        text,
        r#"{"v":1,"publish":{"room":"alpha","event":"news","data":{"n":1}}}"#
    );
    assert!(PublishEnvelope::claims(&text));
    let back = PublishEnvelope::parse(&text).unwrap();
    assert_eq!(
        (
            back.room.as_str(),
            back.request.event.as_str(),
            back.request.data.get()
        ),
        ("alpha", "news", r#"{"n":1}"#)
    );
    // As in the HTTP body, `data` defaults to null; unknown fields are ignored.
    let p = PublishEnvelope::parse(r#"{"v":1,"x":0,"publish":{"room":"a","event":"t","y":2}}"#)
        .unwrap();
    assert_eq!(p.request.data.get(), "null");
    // A fan-out job does not claim to be one.
    assert!(!PublishEnvelope::claims(r#"{"kind":"room","room":"a"}"#));
    assert!(!PublishEnvelope::claims("not json"));
}

#[test]
fn bad_publish_envelopes_get_stable_codes_and_name_the_version() {
    let too_big = format!(
        r#"{{"v":1,"publish":{{"room":"a","event":"e","data":"{}"}}}}"#,
        "x".repeat(MAX_EMIT_DATA_BYTES)
    );
    let cases: Vec<(&str, String, ErrorCode, &str)> = vec![
        (
            "not JSON",
            "v=1".into(),
            ErrorCode::InvalidJson,
            "not valid JSON",
        ),
        (
            "array",
            "[1]".into(),
            ErrorCode::InvalidMessage,
            "JSON object",
        ),
        (
            "no version",
            r#"{"publish":{}}"#.into(),
            ErrorCode::MissingField,
            "`v`",
        ),
        (
            "unknown version",
            r#"{"v":2,"publish":{"room":"a","event":"e"}}"#.into(),
            ErrorCode::InvalidField,
            "unsupported publish envelope version 2; this reader knows version 1",
        ),
        (
            "version as text",
            r#"{"v":"1","publish":{"room":"a","event":"e"}}"#.into(),
            ErrorCode::InvalidField,
            r#"version "1""#,
        ),
        (
            "no publish",
            r#"{"v":1}"#.into(),
            ErrorCode::MissingField,
            "publish",
        ),
        (
            "bad room",
            r#"{"v":1,"publish":{"room":"a b","event":"e"}}"#.into(),
            ErrorCode::InvalidRoom,
            "room",
        ),
        (
            "no event",
            r#"{"v":1,"publish":{"room":"a"}}"#.into(),
            ErrorCode::MissingField,
            "event",
        ),
        (
            "data too large",
            too_big,
            ErrorCode::PayloadTooLarge,
            "bytes",
        ),
    ];
    for (what, body, code, says) in cases {
        let err = PublishEnvelope::parse(&body).expect_err(what);
        assert_eq!(err.code, code, "{what}: {}", err.message);
        assert!(err.message.contains(says), "{what}: {}", err.message);
    }
}

// ---------------------------------------------------------------------------------------
// Server messages
// ---------------------------------------------------------------------------------------

fn icon_id() -> IconId {
    IconId::parse(ICON).unwrap()
}

fn sample_state() -> GameState {
    let mut state = GameState {
        bg: Background::parse(4).unwrap(),
        ..GameState::default()
    };
    state.icons.insert(icon_id(), icon(3, 400.0, 400.0));
    state
}

fn all_messages() -> Vec<ServerMessage> {
    vec![
        ServerMessage::Ack {
            reference: Ref::Text("r7".into()),
            version: Some(13),
            id: None,
            recovered: None,
        },
        ServerMessage::Patch {
            room: room("alpha"),
            version: 13,
            op: Op::ChangeBackground {
                bg: Background::parse(1).unwrap(),
            },
            at: None,
        },
        ServerMessage::State {
            room: room("alpha"),
            version: 13,
            state: sample_state(),
            at: None,
        },
        ServerMessage::Event {
            room: room("alpha"),
            event: EventName::parse("chat").unwrap(),
            data: raw("1"),
            from: None,
            at: None,
        },
        ServerMessage::Presence {
            room: room("alpha"),
            members: 3,
            users: 3,
        },
        ServerMessage::Rooms { rooms: vec![] },
        ServerMessage::from(ProtocolError::new(ErrorCode::Internal, "oops")),
    ]
}

#[test]
fn ack_renders_with_ref_and_version() {
    let ack = ServerMessage::Ack {
        reference: Ref::Text("r7".into()),
        version: Some(13),
        id: None,
        recovered: None,
    };
    assert_eq!(ack.to_v1(), r#"{"type":"ack","ref":"r7","version":13}"#);
    let ack = ServerMessage::Ack {
        reference: Ref::Number(7),
        version: None,
        id: None,
        recovered: None,
    };
    assert_eq!(
        ack.to_v1(),
        r#"{"type":"ack","ref":7}"#,
        "no version, no field; integer refs stay integers"
    );
}

#[test]
fn patch_renders_with_a_one_key_op() {
    let patch = ServerMessage::Patch {
        room: room("alpha"),
        version: 13,
        op: Op::AddIcon {
            id: icon_id(),
            icon: icon(3, 400.0, 400.0),
        },
        at: None,
    };
    assert_eq!(
        patch.to_v1(),
        format!(
            r#"{{"type":"patch","room":"alpha","version":13,"op":{{"addIcon":{{"id":"{ICON}","img":3,"x":400,"y":400}}}}}}"#
        )
    );
    let ops = [
        (
            Op::ChangeBackground {
                bg: Background::parse(4).unwrap(),
            },
            json!({"changeBackground": {"bg": 4}}),
        ),
        (
            Op::MoveIcon {
                id: icon_id(),
                icon: icon(1, -5.0, 6.0),
            },
            json!({"moveIcon": {"id": ICON, "img": 1, "x": -5, "y": 6}}),
        ),
        (
            Op::DeleteIcon { id: icon_id() },
            json!({"deleteIcon": {"id": ICON}}),
        ),
    ];
    for (op, expected) in ops {
        let message = ServerMessage::Patch {
            room: room("alpha"),
            version: 2,
            op: op.clone(),
            at: None,
        };
        let v: serde_json::Value = serde_json::from_str(&message.to_v1()).unwrap();
        assert_eq!(
            v,
            json!({"type": "patch", "room": "alpha", "version": 2, "op": expected})
        );
        // The op reads back, so clients in Rust (the SDK) can apply it.
        assert_eq!(serde_json::from_value::<Op>(v["op"].clone()).unwrap(), op);
    }
}

#[test]
fn state_renders_as_in_the_brief() {
    let state = ServerMessage::State {
        room: room("alpha"),
        version: 13,
        state: sample_state(),
        at: None,
    };
    assert_eq!(
        state.to_v1(),
        format!(
            r#"{{"type":"state","room":"alpha","version":13,"state":{{"bg":4,"icons":{{"{ICON}":{{"img":3,"x":400,"y":400}}}}}}}}"#
        )
    );
    let empty = ServerMessage::State {
        room: room("fresh"),
        version: 0,
        state: GameState::default(),
        at: None,
    };
    assert_eq!(
        empty.to_v1(),
        r#"{"type":"state","room":"fresh","version":0,"state":{"bg":0,"icons":{}}}"#
    );
}

#[test]
fn event_renders_with_verbatim_data_and_from() {
    let from = ConnectionId::parse("L0SM9cOFvHcCIhw=").unwrap();
    let event = ServerMessage::Event {
        room: room("alpha"),
        event: EventName::parse("chat").unwrap(),
        data: raw(r#"{"text":"hi"}"#),
        from: Some(from),
        at: None,
    };
    assert_eq!(
        event.to_v1(),
        r#"{"type":"event","room":"alpha","event":"chat","data":{"text":"hi"},"from":"L0SM9cOFvHcCIhw="}"#
    );
    // A server-side publish has `from: null`; data is never re-serialized.
    let event = ServerMessage::Event {
        room: room("alpha"),
        event: EventName::parse("tick").unwrap(),
        data: raw(r#"{ "n" : 1.50 }"#),
        from: None,
        at: None,
    };
    assert_eq!(
        event.to_v1(),
        r#"{"type":"event","room":"alpha","event":"tick","data":{ "n" : 1.50 },"from":null}"#
    );
}

#[test]
fn presence_rooms_and_error_render_as_in_the_brief() {
    let presence = ServerMessage::Presence {
        room: room("alpha"),
        members: 3,
        users: 2,
    };
    assert_eq!(
        presence.to_v1(),
        r#"{"type":"presence","room":"alpha","members":3,"users":2}"#
    );

    let rooms = ServerMessage::Rooms {
        rooms: vec![
            RoomSummary {
                room: room("alpha"),
                members: 3,
                users: 2,
            },
            RoomSummary {
                room: room("beta"),
                members: 1,
                users: 1,
            },
        ],
    };
    assert_eq!(
        rooms.to_v1(),
        r#"{"type":"rooms","rooms":[{"room":"alpha","members":3,"users":2},{"room":"beta","members":1,"users":1}]}"#
    );

    let error = ServerMessage::Error {
        code: ErrorCode::InvalidRoom,
        message: RoomName::RULE.to_owned(),
        reference: Some(Ref::Text("r8".into())),
    };
    assert_eq!(
        error.to_v1(),
        r#"{"type":"error","code":"invalid_room","message":"room must match [A-Za-z0-9_-]{1,64}","ref":"r8"}"#
    );
    let error = ServerMessage::from(ProtocolError::new(ErrorCode::UnknownIcon, "no such icon"));
    assert_eq!(
        error.to_v1(),
        r#"{"type":"error","code":"unknown_icon","message":"no such icon"}"#
    );
}

#[test]
fn every_error_code_has_a_distinct_snake_case_wire_name() {
    let mut seen = std::collections::HashSet::new();
    for code in ErrorCode::ALL {
        let wire = serde_json::to_value(code).unwrap();
        assert_eq!(wire, json!(code.as_str()), "{code:?}");
        assert_eq!(code.to_string(), code.as_str());
        assert!(
            code.as_str()
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b == b'_'),
            "{code}"
        );
        assert!(seen.insert(code.as_str()), "duplicate {code}");
    }
    assert_eq!(seen.len(), ErrorCode::ALL.len());
}

#[test]
fn planetstack_rendering_is_the_bare_state_or_a_message() {
    let state = ServerMessage::State {
        room: room("alpha"),
        version: 13,
        state: sample_state(),
        at: None,
    };
    assert_eq!(
        state.to_planetstack().unwrap(),
        format!(r#"{{"bg":4,"icons":{{"{ICON}":{{"img":3,"x":400,"y":400}}}}}}"#)
    );
    assert_eq!(
        state.to_planetstack().unwrap(),
        sample_state().to_planetstack()
    );

    let error = ServerMessage::Error {
        code: ErrorCode::InvalidRoom,
        message: "quote \" and backslash \\".into(),
        reference: Some(Ref::Number(1)),
    };
    assert_eq!(
        error.to_planetstack().unwrap(),
        r#"{"message":"quote \" and backslash \\"}"#
    );

    for message in all_messages() {
        let planetstack = message.to_planetstack();
        match &message {
            ServerMessage::State { .. } | ServerMessage::Error { .. } => {
                assert!(planetstack.is_some())
            }
            other => assert_eq!(planetstack, None, "{other:?} has no planetstack frame"),
        }
    }
}

#[test]
fn render_picks_the_protocol_format() {
    for message in all_messages() {
        assert_eq!(message.render(Protocol::V1), Some(message.to_v1()));
        assert_eq!(
            message.render(Protocol::Planetstack),
            message.to_planetstack()
        );
        // Every v1 frame is an object with a `type`.
        let v: serde_json::Value = serde_json::from_str(&message.to_v1()).unwrap();
        assert!(v["type"].is_string(), "{v}");
    }
}

#[test]
fn protocol_negotiation() {
    assert_eq!(Protocol::V1_NAME, "roomcast.v1");
    assert_eq!(Protocol::negotiate(["roomcast.v1"]), Protocol::V1);
    assert_eq!(Protocol::negotiate(["chat", "roomcast.v1"]), Protocol::V1);
    assert_eq!(
        Protocol::negotiate([" roomcast.v1 "]),
        Protocol::V1,
        "header lists carry spaces"
    );
    assert_eq!(
        Protocol::negotiate("graphql-ws, roomcast.v1".split(',')),
        Protocol::V1
    );
    assert_eq!(
        Protocol::negotiate(std::iter::empty::<&str>()),
        Protocol::Planetstack
    );
    assert_eq!(Protocol::negotiate([""]), Protocol::Planetstack);
    assert_eq!(Protocol::negotiate(["roomcast.v2"]), Protocol::Planetstack);
    assert_eq!(
        Protocol::negotiate(["RoomCast.V1"]),
        Protocol::Planetstack,
        "subprotocol tokens are case-sensitive"
    );
    assert_eq!(
        Protocol::negotiate(["roomcast.v1.1"]),
        Protocol::Planetstack
    );
}

#[test]
fn the_old_name_seed_still_reads_as_planetstack() {
    // Connection items and authorizer contexts written before the rename say `seed`.
    assert_eq!(Protocol::Planetstack.name(), "planetstack");
    assert_eq!(
        Protocol::from_name("planetstack"),
        Some(Protocol::Planetstack)
    );
    assert_eq!(Protocol::from_name("seed"), Some(Protocol::Planetstack));
    assert_eq!(Protocol::from_name("roomcast.v1"), Some(Protocol::V1));
    assert_eq!(Protocol::from_name("nonsense"), None);
    let read = |s: &str| serde_json::from_str::<Protocol>(s).unwrap();
    assert_eq!(read(r#""seed""#), Protocol::Planetstack);
    assert_eq!(read(r#""planetstack""#), Protocol::Planetstack);
    assert_eq!(
        serde_json::to_string(&Protocol::Planetstack).unwrap(),
        r#""planetstack""#
    );
}
