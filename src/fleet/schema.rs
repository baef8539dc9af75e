//! The fleet file's JSON Schema (draft 2020-12, from the serde model in [`super::raw`]) and the
//! small amount of schema walking the unknown-key check needs.

use std::sync::Mutex;

use serde_json::{Map, Value, json};

use super::raw::RawFleet;
use super::spec::Specs;

/// The JSON Schema of the fleet file with the sections of `specs`' platforms (built once per
/// list of platforms: a process has one, the registry's).
pub(crate) fn fleet_schema(specs: Specs) -> &'static Value {
    static BUILT: Mutex<Vec<(usize, &'static Value)>> = Mutex::new(Vec::new());
    let key = specs.as_ptr() as usize;
    let mut built = BUILT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((_, schema)) = built.iter().find(|(k, _)| *k == key) {
        return schema;
    }
    let schema: &'static Value = Box::leak(Box::new(build(specs)));
    built.push((key, schema));
    schema
}

/// The schema of [`RawFleet`], with `platforms`, the templates' parts and the apps' `platform`
/// filled in from the platforms' own schemas.
fn build(specs: Specs) -> Value {
    let mut root = schemars::schema_for!(RawFleet).to_value();
    let mut platforms = Map::new();
    let mut templates = Map::new();
    for spec in specs {
        let name = spec.kind().as_str();
        let mut config = spec.config_schema();
        config["properties"]["proxy"] = proxy_schema();
        platforms.insert(name.to_owned(), adopt(&mut root, config));
        templates.insert(name.to_owned(), adopt(&mut root, spec.template_schema()));
    }
    let names: Vec<&str> = specs.iter().map(|s| s.kind().as_str()).collect();
    define(
        &mut root,
        "Platforms",
        json!({"description": "One section per platform.", "type": "object",
               "additionalProperties": false, "properties": platforms}),
    );
    define(
        &mut root,
        "Template",
        json!({"description": "The template on each platform.", "type": "object",
               "additionalProperties": false, "properties": templates}),
    );
    let props = &mut root["properties"];
    props["platforms"] = json!({
        "description": props["platforms"]["description"].clone(),
        "anyOf": [{"$ref": "#/$defs/Platforms"}, {"type": "null"}],
    });
    props["templates"] = json!({
        "description": props["templates"]["description"].clone(),
        "type": ["object", "null"],
        "additionalProperties": {"$ref": "#/$defs/Template"},
    });
    root["$defs"]["App"]["properties"]["platform"]["enum"] = json!(names);
    // The audit keys the platforms add for themselves; no other key is allowed.
    let audit = &mut root["$defs"]["AuditSpec"];
    for spec in specs {
        for (key, schema) in spec.audit_schema() {
            audit["properties"][key] = schema;
        }
    }
    audit["additionalProperties"] = json!(false);
    root
}

/// The JSON Schema of the `proxy` key every platform section has.
fn proxy_schema() -> Value {
    json!({
        "description": "The forward proxy this platform's calls go through (an `http://` or `https://` URL), e.g. a fixed egress for WeChat's IP whitelist; default: the environment's HTTPS_PROXY / HTTP_PROXY / ALL_PROXY minus NO_PROXY. Never used for the sandbox on loopback.",
        "type": "string",
        "pattern": "^https?://[^\\s]+$"
    })
}

/// Moves a platform's schema (and its own definitions) into `root`'s definitions under its
/// title; a reference to it.
fn adopt(root: &mut Value, mut schema: Value) -> Value {
    let Some(object) = schema.as_object_mut() else {
        return schema;
    };
    object.remove("$schema");
    if let Some(Value::Object(defs)) = object.remove("$defs") {
        for (name, def) in defs {
            define(root, &name, def);
        }
    }
    let Some(title) = object
        .get("title")
        .and_then(Value::as_str)
        .map(str::to_owned)
    else {
        return schema;
    };
    define(root, &title, schema);
    json!({"$ref": format!("#/$defs/{title}")})
}

fn define(root: &mut Value, name: &str, schema: Value) {
    if !root["$defs"].is_object() {
        root["$defs"] = json!({});
    }
    root["$defs"][name] = schema;
}

/// Follows `$ref`s from `node` to the schema that describes a value.
pub(crate) fn resolve<'s>(root: &'s Value, mut node: &'s Value) -> &'s Value {
    for _ in 0..32 {
        let Some(target) = node.get("$ref").and_then(Value::as_str) else {
            return node;
        };
        let Some(name) = target.strip_prefix("#/$defs/") else {
            return node;
        };
        match root.get("$defs").and_then(|d| d.get(name)) {
            Some(next) => node = next,
            None => return node,
        }
    }
    node
}

/// The branch of `node` (after `$ref`s and `anyOf`/`oneOf`) that describes an object, if any.
pub(crate) fn object_schema<'s>(root: &'s Value, node: &'s Value) -> Option<&'s Value> {
    branch(root, node, |n| {
        n.get("properties").is_some() || n.get("additionalProperties").is_some()
    })
}

/// The branch of `node` that describes an array, if any.
pub(crate) fn array_schema<'s>(root: &'s Value, node: &'s Value) -> Option<&'s Value> {
    branch(root, node, |n| n.get("items").is_some())
}

fn branch<'s>(root: &'s Value, node: &'s Value, fits: fn(&Value) -> bool) -> Option<&'s Value> {
    let node = resolve(root, node);
    if fits(node) {
        return Some(node);
    }
    ["anyOf", "oneOf", "allOf"]
        .iter()
        .filter_map(|k| node.get(*k).and_then(Value::as_array))
        .flatten()
        .find_map(|b| branch(root, b, fits))
}
