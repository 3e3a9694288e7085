//! Both directions of the wire types: client frames serialize to what the parser reads,
//! and server frames deserialize back to the messages that rendered them (what a client
//! such as the SDK relies on).

use roomcast_core::protocol::{
    Background, ClientAction, ClientMessage, ConnectionId, Coord, Epoch, ErrorCode, EventName,
    Icon, IconId, Image, Position, ProtocolError, PublishRequest, Ref, RoomName, RoomSummary,
    ServerMessage,
};
use roomcast_core::state::{GameState, Op};
use serde_json::json;
use serde_json::value::RawValue;

fn room() -> RoomName {
    RoomName::parse("alpha").unwrap()
}

fn icon(img: i64, x: f64, y: f64) -> Icon {
    Icon {
        img: Image::parse(img).unwrap(),
        x: Coord::parse(x).unwrap(),
        y: Coord::parse(y).unwrap(),
    }
}

fn every_action() -> Vec<ClientAction> {
    let id = IconId::generate();
    vec![
        ClientAction::Join {
            room: room(),
            since: None,
        },
        ClientAction::Join {
            room: room(),
            since: Some(Position {
                offset: 42,
                epoch: Epoch::generate(),
            }),
        },
        ClientAction::ListMembers {
            room: room(),
            cursor: Some("alice".into()),
        },
        ClientAction::ListMembers {
            room: room(),
            cursor: None,
        },
        ClientAction::Hello,
        ClientAction::Leave { room: room() },
        ClientAction::GetState { room: room() },
        ClientAction::ChangeBackground {
            room: room(),
            bg: Background::parse(4).unwrap(),
        },
        ClientAction::AddIcon {
            room: room(),
            icon: icon(3, 400.0, -400.0),
        },
        ClientAction::MoveIcon {
            room: room(),
            id: id.clone(),
            icon: icon(5, 10.0, 20.0),
        },
        ClientAction::DeleteIcon { room: room(), id },
        ClientAction::Emit {
            room: room(),
            event: EventName::parse("chat").unwrap(),
            data: RawValue::from_string(r#"{"text":"hi","n":[1,2.5]}"#.into()).unwrap(),
            except_sender: false,
        },
        ClientAction::ListRooms,
    ]
}

#[test]
fn every_client_message_serializes_to_a_frame_the_parser_reads_back() {
    for (i, action) in every_action().into_iter().enumerate() {
        for reference in [None, Some(Ref::Text(format!("r{i}"))), Some(Ref::Number(7))] {
            let msg = ClientMessage {
                reference,
                action: action.clone(),
            };
            let frame = serde_json::to_string(&msg).unwrap();
            let back = ClientMessage::parse(&frame, None)
                .unwrap_or_else(|e| panic!("{frame} does not parse: {e}"));
            assert_eq!(serde_json::to_string(&back).unwrap(), frame);
            assert_eq!(back.reference, msg.reference);
        }
    }
}

#[test]
fn client_frames_have_the_documented_shapes() {
    let id = IconId::parse(format!("icon{}", "3MankMC0w82wnPvdBZMx7e7o737")).unwrap();
    let cases = [
        (
            ClientAction::AddIcon {
                room: room(),
                icon: icon(3, 399.6, 400.0),
            },
            json!({"action":"addIcon","room":"alpha","icon":{"img":3,"x":400,"y":400},"ref":"r7"}),
        ),
        (
            ClientAction::MoveIcon {
                room: room(),
                id: id.clone(),
                icon: icon(3, 10.0, 20.0),
            },
            json!({"action":"moveIcon","room":"alpha","icon":{"id":id.as_str(),"img":3,"x":10,"y":20},"ref":"r7"}),
        ),
        (
            ClientAction::DeleteIcon {
                room: room(),
                id: id.clone(),
            },
            json!({"action":"deleteIcon","room":"alpha","id":id.as_str(),"ref":"r7"}),
        ),
        (
            ClientAction::ListRooms,
            json!({"action":"listRooms","ref":"r7"}),
        ),
    ];
    for (action, expected) in cases {
        let msg = ClientMessage {
            reference: Some(Ref::Text("r7".into())),
            action,
        };
        assert_eq!(serde_json::to_value(&msg).unwrap(), expected);
    }
}

#[test]
fn publish_requests_serialize_to_the_body_the_api_parses() {
    let request = PublishRequest {
        event: EventName::parse("news").unwrap(),
        data: RawValue::from_string(r#"{"n":1}"#.into()).unwrap(),
    };
    let body = serde_json::to_string(&request).unwrap();
    assert_eq!(body, r#"{"event":"news","data":{"n":1}}"#);
    let back = PublishRequest::parse(&body).unwrap();
    assert_eq!(back.event, request.event);
    assert_eq!(back.data.get(), request.data.get());
}

fn every_server_message() -> Vec<ServerMessage> {
    let id = IconId::generate();
    let mut state = GameState {
        bg: Background::parse(4).unwrap(),
        ..GameState::default()
    };
    state.icons.insert(id.clone(), icon(3, 400.0, 400.0));
    vec![
        ServerMessage::State {
            room: room(),
            version: 13,
            state,
            at: None,
        },
        ServerMessage::Patch {
            room: room(),
            version: 14,
            op: Op::MoveIcon {
                id,
                icon: icon(1, -5.0, 6.0),
            },
            at: None,
        },
        ServerMessage::Event {
            room: room(),
            event: EventName::parse("chat").unwrap(),
            data: RawValue::from_string(r#"{"text":"hi"}"#.into()).unwrap(),
            from: Some(ConnectionId::generate()),
            at: None,
        },
        ServerMessage::Event {
            room: room(),
            event: EventName::parse("news").unwrap(),
            data: RawValue::from_string("null".into()).unwrap(),
            from: None,
            at: None,
        },
        ServerMessage::Presence {
            room: room(),
            members: 3,
            users: 3,
        },
        ServerMessage::Rooms {
            rooms: vec![RoomSummary {
                room: room(),
                members: 2,
                users: 1,
            }],
        },
        ServerMessage::Ack {
            reference: Ref::Text("r7".into()),
            version: Some(13),
            id: None,
            recovered: None,
        },
        ServerMessage::Ack {
            reference: Ref::Number(8),
            version: None,
            id: None,
            recovered: None,
        },
        ProtocolError::new(ErrorCode::InvalidRoom, RoomName::RULE)
            .with_ref(Some(Ref::Text("r8".into())))
            .into(),
        ProtocolError::new(ErrorCode::InvalidRef, Ref::RULE).into(),
    ]
}

#[test]
fn every_server_message_deserializes_from_its_v1_frame() {
    for msg in every_server_message() {
        let frame = msg.to_v1();
        let back: ServerMessage =
            serde_json::from_str(&frame).unwrap_or_else(|e| panic!("{frame}: {e}"));
        assert_eq!(back.to_v1(), frame);
        let from_value: ServerMessage =
            serde_json::from_value(serde_json::from_str(&frame).unwrap()).unwrap();
        assert_eq!(from_value.to_v1(), frame);
    }
}

#[test]
fn the_documented_examples_deserialize() {
    let frames = [
        r#"{"type":"welcome","id":"3MankGZJTPZhs4QHa1XKfK9Ax2T","user":"alice","limits":{"maxRooms":50,"maxEmitBytes":65536,"maxFrameBytes":32768,"messageRate":100,"messageBurst":200,"historySize":100,"historySeconds":120}}"#,
        r#"{"type":"ack","ref":"r7","version":13}"#,
        r#"{"type":"ack","ref":"r7","version":13,"id":"icon3MankMC0w82wnPvdBZMx7e7o737"}"#,
        r#"{"type":"ack","ref":"j1","recovered":true}"#,
        r#"{"type":"patch","room":"alpha","version":13,"op":{"addIcon":{"id":"icon3MankMC0w82wnPvdBZMx7e7o737","img":3,"x":400,"y":400}},"offset":21,"epoch":"3MankG0Ad8yyQsyS5PikwcK7aV1"}"#,
        r#"{"type":"state","room":"alpha","version":13,"state":{"bg":4,"icons":{"icon3MankMC0w82wnPvdBZMx7e7o737":{"img":3,"x":400,"y":400}}},"offset":21,"epoch":"3MankG0Ad8yyQsyS5PikwcK7aV1"}"#,
        r#"{"type":"event","room":"alpha","event":"chat","data":{"text":"hi"},"from":"3MankGZJTPZhs4QHa1XKfK9Ax2T","offset":22,"epoch":"3MankG0Ad8yyQsyS5PikwcK7aV1"}"#,
        r#"{"type":"presence","room":"alpha","members":3,"users":2}"#,
        r#"{"type":"members","room":"alpha","users":[{"user":"alice","connections":2},{"user":"anonymous:3MankGZJTPZhs4QHa1XKfK9Ax2T","connections":1}],"next":"anonymous:3MankGZJTPZhs4QHa1XKfK9Ax2T"}"#,
        r#"{"type":"rooms","rooms":[{"room":"alpha","members":3,"users":2},{"room":"beta","members":1,"users":1}]}"#,
        r#"{"type":"error","code":"invalid_room","message":"room must match [A-Za-z0-9_-]{1,64}","ref":"r8"}"#,
    ];
    for frame in frames {
        let msg: ServerMessage = serde_json::from_str(frame).unwrap();
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&msg.to_v1()).unwrap(),
            serde_json::from_str::<serde_json::Value>(frame).unwrap()
        );
    }
    // An event without data reads as `null` data; unknown fields are ignored.
    let msg: ServerMessage =
        serde_json::from_str(r#"{"type":"event","room":"a","event":"e","from":null,"extra":1}"#)
            .unwrap();
    assert!(matches!(msg, ServerMessage::Event { ref data, .. } if data.get() == "null"));
}

/// A server from before presence by user sends rooms without `users`: a newer client
/// must still read its `listRooms` answer (as 0 users) rather than drop the frame.
#[test]
fn a_rooms_message_without_users_still_deserializes() {
    let frame = r#"{"type":"rooms","rooms":[{"room":"alpha","members":3}]}"#;
    let msg: ServerMessage = serde_json::from_str(frame).unwrap();
    let ServerMessage::Rooms { rooms } = msg else {
        panic!("{frame} read as {msg:?}");
    };
    assert_eq!(
        rooms,
        [RoomSummary {
            room: room(),
            members: 3,
            users: 0,
        }]
    );
    let summary: RoomSummary = serde_json::from_value(json!({"room":"alpha","members":3})).unwrap();
    assert_eq!(summary.users, 0);
}

#[test]
fn malformed_server_frames_are_refused() {
    for frame in [
        r#"{"type":"state","room":"alpha","version":1}"#,
        r#"{"type":"patch","room":"alpha","op":{"deleteIcon":{"id":"x"}},"version":1}"#,
        r#"{"type":"teleport","room":"alpha"}"#,
        r#"{"type":"ack","version":1}"#,
        r#"{"type":"error","code":"no_such_code","message":"?"}"#,
        r#"{"room":"alpha"}"#,
        r#"[1,2]"#,
    ] {
        assert!(
            serde_json::from_str::<ServerMessage>(frame).is_err(),
            "{frame} should not decode"
        );
    }
}

#[test]
fn every_error_code_round_trips() {
    for code in ErrorCode::ALL {
        let text = serde_json::to_string(&code).unwrap();
        assert_eq!(text, format!("\"{}\"", code.as_str()));
        assert_eq!(serde_json::from_str::<ErrorCode>(&text).unwrap(), code);
    }
}
