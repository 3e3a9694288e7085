//! JSON Schemas of the client frames (feature `schemars`).
//!
//! The schemas are generated from the parser's own types: each action's fields struct
//! in [`client`](super::client) derives `JsonSchema`, and the validated values below
//! (room names, icon ids, indexes, coordinates, refs) describe their rule in schema
//! form. API Gateway validates incoming frames with these (the request models under
//! `infra/models/`, written by `cargo run -p roomcast-infra --bin roomcast-models`),
//! and the parser answers whatever gets past them with its stable error codes.
//!
//! A schema here is never stricter than the parser: a frame the parser accepts (with the
//! planetstack default room) is accepted by its schema. `roomcast-infra`'s tests check that
//! against the bad-input corpus and a sweep of values per field. A few rules are beyond
//! a schema and stay with the parser only: duplicate keys, the size of `emit` data,
//! integers written with a fraction or exponent (`4.0`), and that `room` is required on
//! `roomcast.v1` (a planetstack client may leave it out, and a schema cannot see the
//! subprotocol).

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use std::borrow::Cow;

use super::client::{ACTIONS, fields_schema};
use super::icon::{BACKGROUNDS, Background, COORD_LIMIT, Coord, IMAGES, IconId, Image};
use super::names::{Epoch, EventName, Ref, RoomName};
use super::server::Position;

/// `room`: `[A-Za-z0-9_-]{1,64}` ([`RoomName::parse`]).
pub const ROOM_PATTERN: &str = "^[A-Za-z0-9_-]{1,64}$";
/// `event`: `[A-Za-z0-9_.:-]{1,64}` ([`EventName::parse`]).
pub const EVENT_PATTERN: &str = "^[A-Za-z0-9_.:-]{1,64}$";
/// An icon id: `icon` + 27 base62 characters ([`IconId::parse`]).
pub const ICON_ID_PATTERN: &str = "^icon[A-Za-z0-9]{27}$";
/// Longest text `ref`, in characters ([`Ref::from_json`]).
pub const REF_MAX_CHARS: u64 = 64;

/// The schema of one client frame: the action's fields plus the envelope (`action`,
/// `ref`). `None` when `action` is not one of [`ACTIONS`].
///
/// Unknown fields stay allowed (the parser ignores them) and `room` stays optional (a
/// planetstack client's room defaults to its connect room).
pub fn request_schema(action: &str, generator: &mut SchemaGenerator) -> Option<Schema> {
    let name = ACTIONS.iter().find(|a| **a == action)?;
    let mut schema = fields_schema(name, generator)?;
    let reference = generator.subschema_for::<Option<Ref>>();
    let object = schema.ensure_object();
    object.insert("type".into(), "object".into());
    let properties = object
        .entry("properties")
        .or_insert_with(|| serde_json::Value::Object(Default::default()));
    let properties = properties
        .as_object_mut()
        .expect("an object schema's properties are an object");
    properties.insert(
        "action".into(),
        serde_json::json!({ "type": "string", "enum": [name] }),
    );
    properties.insert("ref".into(), reference.to_value());
    let required = object
        .entry("required")
        .or_insert_with(|| serde_json::Value::Array(Vec::new()))
        .as_array_mut()
        .expect("required is an array");
    required.insert(0, "action".into());
    Some(schema)
}

/// [`request_schema`] for every action, in protocol order.
pub fn request_schemas(generator: &mut SchemaGenerator) -> Vec<(&'static str, Schema)> {
    ACTIONS
        .iter()
        .map(|action| {
            let schema = request_schema(action, generator).expect("every action has a schema");
            (*action, schema)
        })
        .collect()
}

impl JsonSchema for RoomName {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> Cow<'static, str> {
        "RoomName".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": RoomName::RULE,
            "type": "string",
            "pattern": ROOM_PATTERN,
        })
    }
}

impl JsonSchema for Position {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> Cow<'static, str> {
        "Position".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "the offset and epoch of the last patch or event held",
            "type": "object",
            "properties": {
                "offset": { "type": "integer", "minimum": 0 },
                "epoch": { "description": Epoch::RULE, "type": "string", "pattern": "^[A-Za-z0-9]{1,32}$" }
            },
            "required": ["offset", "epoch"]
        })
    }
}

impl JsonSchema for EventName {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> Cow<'static, str> {
        "EventName".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": EventName::RULE,
            "type": "string",
            "pattern": EVENT_PATTERN,
        })
    }
}

impl JsonSchema for IconId {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> Cow<'static, str> {
        "IconId".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": IconId::RULE,
            "type": "string",
            "pattern": ICON_ID_PATTERN,
        })
    }
}

impl JsonSchema for Background {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> Cow<'static, str> {
        "Background".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": Background::RULE,
            "type": "integer",
            "minimum": 0,
            "maximum": BACKGROUNDS - 1,
        })
    }
}

impl JsonSchema for Image {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> Cow<'static, str> {
        "Image".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": Image::RULE,
            "type": "integer",
            "minimum": 0,
            "maximum": IMAGES - 1,
        })
    }
}

impl JsonSchema for Coord {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> Cow<'static, str> {
        "Coord".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": Coord::RULE,
            "type": "number",
            "minimum": -COORD_LIMIT,
            "maximum": COORD_LIMIT,
        })
    }
}

impl JsonSchema for Ref {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> Cow<'static, str> {
        "Ref".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": Ref::RULE,
            "type": ["string", "integer"],
            "maxLength": REF_MAX_CHARS,
            "minimum": i64::MIN,
            "maximum": i64::MAX,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use schemars::generate::SchemaSettings;

    fn generator() -> SchemaGenerator {
        SchemaSettings::draft07()
            .with(|s| s.inline_subschemas = true)
            .into_generator()
    }

    #[test]
    fn every_action_has_a_schema_with_its_envelope() {
        let mut g = generator();
        let schemas = request_schemas(&mut g);
        assert_eq!(schemas.len(), ACTIONS.len());
        for (action, schema) in &schemas {
            let v = schema.as_value();
            assert_eq!(v["type"], "object", "{action}");
            assert_eq!(v["properties"]["action"]["enum"][0], *action);
            assert_eq!(v["required"][0], "action", "{action}");
            assert!(v["properties"]["ref"].is_object(), "{action}");
            // A planetstack client may leave `room` out: never required.
            let required = v["required"].as_array().unwrap();
            assert!(!required.iter().any(|r| r == "room"), "{action}: {v}");
        }
        assert!(request_schema("fly", &mut g).is_none());
        assert!(request_schema("$default", &mut g).is_none());
    }

    #[test]
    fn field_rules_come_from_the_value_types() {
        let mut g = generator();
        let add = request_schema("addIcon", &mut g).unwrap();
        let icon = &add.as_value()["properties"]["icon"];
        assert_eq!(icon["properties"]["img"]["maximum"], 63);
        assert_eq!(icon["properties"]["x"]["minimum"], -10_000);
        let mut required: Vec<_> = icon["required"].as_array().unwrap().clone();
        required.sort_by_key(|v| v.to_string());
        assert_eq!(required, ["img", "x", "y"]);
        let emit = request_schema("emit", &mut g).unwrap();
        let props = &emit.as_value()["properties"];
        assert_eq!(props["except_sender"]["default"], true);
        assert_eq!(props["event"]["pattern"], EVENT_PATTERN);
    }
}
