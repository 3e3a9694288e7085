//! roomcast infra tooling: the API Gateway request models, generated from the protocol.
//!
//! One source of truth: core's parser types (`roomcast_core::protocol::schema`, feature
//! `schemars`) give each client action's JSON Schema; this crate turns them into what
//! API Gateway takes (JSON Schema draft-04, self-contained) and writes them twice, both
//! generated, never by hand:
//!
//! - `infra/models/<action>.json`, one file per action, for review and for other tools;
//! - the generated block of `infra/template.yaml`: per action an
//!   `AWS::ApiGatewayV2::Model` with that schema and an `AWS::ApiGatewayV2::Route` that
//!   validates with it.
//!
//! `cargo run -p roomcast-infra --bin roomcast-models` rewrites both; `-- --check` only
//! reports drift. `infra/tests/drift.rs` fails when template, models and protocol differ.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use roomcast_core::protocol::ACTIONS;
use roomcast_core::protocol::schema::request_schemas;
use schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};

/// The meta-schema API Gateway models are written in.
pub const DRAFT04: &str = "http://json-schema.org/draft-04/schema#";

/// First line of the generated block in the template.
pub const BEGIN_MARKER: &str = "  # BEGIN GENERATED: action models and routes (cargo run -p roomcast-infra --bin roomcast-models)";
/// Last line of the generated block in the template.
pub const END_MARKER: &str = "  # END GENERATED";

/// The expression API Gateway routes and selects models by.
pub const SELECTION_EXPRESSION: &str = "$request.body.action";

/// One request model: the schema API Gateway validates an action's frames with.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    /// The client action (`join`, `getState`, …): the route key and the model's key.
    pub action: &'static str,
    /// The JSON Schema (draft-04, no `$ref`).
    pub schema: Value,
}

impl Model {
    /// The model's name in API Gateway (alphanumeric, as API Gateway requires).
    pub fn name(&self) -> &'static str {
        self.action
    }

    /// The CloudFormation logical id prefix: `getState` → `GetState`.
    pub fn logical_prefix(&self) -> String {
        let mut chars = self.action.chars();
        match chars.next() {
            Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
            None => String::new(),
        }
    }

    /// Logical id of the model resource.
    pub fn model_id(&self) -> String {
        format!("{}Model", self.logical_prefix())
    }

    /// Logical id of the route resource.
    pub fn route_id(&self) -> String {
        format!("{}Route", self.logical_prefix())
    }

    /// The model file's path relative to `infra/`.
    pub fn file_name(&self) -> String {
        format!("models/{}.json", self.action)
    }

    /// The model file's content: pretty JSON, keys sorted, a final newline.
    pub fn file_text(&self) -> String {
        let mut text = serde_json::to_string_pretty(&self.schema).expect("a schema serializes");
        text.push('\n');
        text
    }
}

/// The request model of every client action, in protocol order.
pub fn models() -> Vec<Model> {
    let mut generator = SchemaSettings::draft07()
        .with(|s| {
            // Self-contained schemas: API Gateway resolves `$ref`s only to other models.
            s.inline_subschemas = true;
            s.meta_schema = None;
        })
        .into_generator();
    request_schemas(&mut generator)
        .into_iter()
        .map(|(action, schema)| Model {
            action,
            schema: to_draft04(action, schema.to_value()),
        })
        .collect()
}

/// Rewrite a draft-07 schema from schemars as a draft-04 document API Gateway accepts.
///
/// schemars has no draft-04 mode; the differences that can appear are handled here
/// (`const` → one-value `enum`, numeric `exclusiveMinimum`/`exclusiveMaximum` → the
/// boolean form, empty `required` dropped since draft-04 wants at least one name,
/// `examples` dropped). Anything that cannot be expressed panics, so a new construct in
/// the protocol types is noticed when the models are generated rather than at deploy.
pub fn to_draft04(action: &str, schema: Value) -> Value {
    let Value::Object(mut root) = convert(schema) else {
        panic!("the schema of {action} is not an object schema");
    };
    root.insert("$schema".into(), DRAFT04.into());
    root.insert("title".into(), format!("roomcast {action} request").into());
    Value::Object(root)
}

fn convert(schema: Value) -> Value {
    match schema {
        Value::Bool(true) => json!({}),
        Value::Bool(false) => json!({ "not": {} }),
        Value::Object(map) => Value::Object(convert_object(map)),
        other => panic!("not a schema: {other}"),
    }
}

fn convert_object(map: Map<String, Value>) -> Map<String, Value> {
    let mut out = Map::new();
    for (key, value) in map {
        match key.as_str() {
            "$ref" | "$defs" | "definitions" | "$id" | "$anchor" => {
                panic!("request models must be self-contained, found `{key}`")
            }
            "if"
            | "then"
            | "else"
            | "dependentRequired"
            | "dependentSchemas"
            | "unevaluatedProperties"
            | "prefixItems"
            | "contains"
            | "propertyNames" => {
                panic!("`{key}` is not JSON Schema draft-04")
            }
            "examples" | "$comment" | "deprecated" | "readOnly" | "writeOnly" => {}
            "const" => {
                out.insert("enum".into(), json!([value]));
            }
            "exclusiveMinimum" | "exclusiveMaximum" if value.is_number() => {
                let bound = if key == "exclusiveMinimum" {
                    "minimum"
                } else {
                    "maximum"
                };
                out.insert(bound.into(), value);
                out.insert(key, true.into());
            }
            "required" if value.as_array().is_some_and(Vec::is_empty) => {}
            "properties" | "patternProperties" => {
                let Value::Object(props) = value else {
                    panic!("`{key}` is not an object");
                };
                let props = props.into_iter().map(|(k, v)| (k, convert(v))).collect();
                out.insert(key, Value::Object(props));
            }
            "items" | "additionalProperties" | "additionalItems" | "not" => {
                let converted = match value {
                    Value::Array(items) => Value::Array(items.into_iter().map(convert).collect()),
                    // draft-04 takes booleans here, keep them as they are
                    Value::Bool(b) => Value::Bool(b),
                    other => convert(other),
                };
                out.insert(key, converted);
            }
            "anyOf" | "allOf" | "oneOf" => {
                let Value::Array(items) = value else {
                    panic!("`{key}` is not an array");
                };
                out.insert(key, Value::Array(items.into_iter().map(convert).collect()));
            }
            _ => {
                out.insert(key, value);
            }
        }
    }
    out
}

/// The generated block of the template (markers included, a final newline).
pub fn template_block(models: &[Model]) -> String {
    let mut out = String::new();
    out.push_str(BEGIN_MARKER);
    out.push('\n');
    out.push_str(
        "  # One model and one route per client action (roomcast_core::protocol::ACTIONS).\n\
         \x20 # The schemas are roomcast_core::protocol::schema's, as in infra/models/; edit the\n\
         \x20 # Rust types, never this block: a test fails when they differ.\n",
    );
    for model in models {
        let action = model.action;
        let schema = indent(&model.file_text(), 8);
        let _ = write!(
            out,
            "  {model_id}:
    Type: AWS::ApiGatewayV2::Model
    Properties:
      ApiId: !Ref Api
      Name: {name}
      ContentType: application/json
      Description: The `{action}` frame (generated from the Rust protocol types)
      Schema:
{schema}  {route_id}:
    Type: AWS::ApiGatewayV2::Route
    DependsOn: {model_id}
    Properties:
      ApiId: !Ref Api
      RouteKey: {action}
      OperationName: {action}
      AuthorizationType: NONE
      Target: !Sub integrations/${{ActionsIntegration}}
      ModelSelectionExpression: !If [ValidateRequests, \"{SELECTION_EXPRESSION}\", !Ref AWS::NoValue]
      RequestModels: !If [ValidateRequests, {{{action}: {name}}}, !Ref AWS::NoValue]
",
            model_id = model.model_id(),
            route_id = model.route_id(),
            name = model.name(),
        );
    }
    out.push_str(END_MARKER);
    out.push('\n');
    out
}

fn indent(text: &str, spaces: usize) -> String {
    let pad = " ".repeat(spaces);
    text.lines().map(|l| format!("{pad}{l}\n")).collect()
}

/// Why the template's generated block could not be found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingMarkers;

impl std::fmt::Display for MissingMarkers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the template needs the lines {BEGIN_MARKER:?} and {END_MARKER:?}, in this order, under Resources"
        )
    }
}

impl std::error::Error for MissingMarkers {}

/// The template with its generated block replaced by `block`.
pub fn splice(template: &str, block: &str) -> Result<String, MissingMarkers> {
    let (before, rest) = split_at_line(template, BEGIN_MARKER).ok_or(MissingMarkers)?;
    let (_, after) = split_at_line(rest, END_MARKER).ok_or(MissingMarkers)?;
    let after = after.split_once('\n').map_or("", |(_, tail)| tail);
    Ok(format!("{before}{block}{after}"))
}

/// Split before the line equal to `line` (the line stays in the second part).
fn split_at_line<'a>(text: &'a str, line: &str) -> Option<(&'a str, &'a str)> {
    let mut offset = 0;
    for l in text.split_inclusive('\n') {
        if l.trim_end_matches(['\n', '\r']) == line {
            return Some(text.split_at(offset));
        }
        offset += l.len();
    }
    None
}

/// `infra/`, where the template and the models live.
pub fn infra_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// What `infra/` should hold: (path relative to `infra/`, content) for every generated
/// file, the template with its block regenerated included.
pub fn expected_files(infra: &Path) -> std::io::Result<Vec<(String, String)>> {
    let models = models();
    let template = std::fs::read_to_string(infra.join("template.yaml"))?;
    let template = splice(&template, &template_block(&models))
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
    let mut files: Vec<(String, String)> = models
        .iter()
        .map(|m| (m.file_name(), m.file_text()))
        .collect();
    files.push(("template.yaml".into(), template));
    Ok(files)
}

/// Model files in `infra/models/` that no action generates (left over from a rename).
pub fn stale_model_files(infra: &Path) -> std::io::Result<Vec<String>> {
    let mut stale = Vec::new();
    let dir = infra.join("models");
    if !dir.exists() {
        return Ok(stale);
    }
    for entry in std::fs::read_dir(dir)? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        let action = name.strip_suffix(".json");
        if !action.is_some_and(|a| ACTIONS.contains(&a)) {
            stale.push(format!("models/{name}"));
        }
    }
    stale.sort();
    Ok(stale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draft04_conversion_rewrites_later_keywords() {
        let converted = to_draft04(
            "x",
            json!({
                "type": "object",
                "required": [],
                "examples": [{}],
                "properties": {
                    "a": { "const": 1 },
                    "b": { "type": "number", "exclusiveMinimum": 0 },
                    "c": true,
                },
            }),
        );
        assert_eq!(
            converted,
            json!({
                "$schema": DRAFT04,
                "title": "roomcast x request",
                "type": "object",
                "properties": {
                    "a": { "enum": [1] },
                    "b": { "type": "number", "minimum": 0, "exclusiveMinimum": true },
                    "c": {},
                },
            })
        );
    }

    #[test]
    #[should_panic(expected = "self-contained")]
    fn references_are_refused() {
        to_draft04("x", json!({ "$ref": "#/definitions/Room" }));
    }

    #[test]
    fn splice_replaces_only_the_block() {
        let template = format!("a\n{BEGIN_MARKER}\nold\n{END_MARKER}\nb\n");
        let block = format!("{BEGIN_MARKER}\nnew\n{END_MARKER}\n");
        assert_eq!(
            splice(&template, &block).unwrap(),
            format!("a\n{BEGIN_MARKER}\nnew\n{END_MARKER}\nb\n")
        );
        assert_eq!(splice("a\nb\n", &block), Err(MissingMarkers));
        assert_eq!(
            splice(&format!("{END_MARKER}\n{BEGIN_MARKER}\n"), &block),
            Err(MissingMarkers)
        );
    }

    #[test]
    fn logical_ids_capitalize_the_action() {
        let m = Model {
            action: "getState",
            schema: json!({}),
        };
        assert_eq!(m.model_id(), "GetStateModel");
        assert_eq!(m.route_id(), "GetStateRoute");
        assert_eq!(m.file_name(), "models/getState.json");
    }
}
