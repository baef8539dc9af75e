//! The fleet file's JSON Schema (draft 2020-12, from the serde model in [`super::raw`]) and the
//! small amount of schema walking the unknown-key check needs.

use std::sync::OnceLock;

use serde_json::Value;

use super::raw::RawFleet;

/// The JSON Schema of the fleet file.
pub(crate) fn fleet_schema() -> &'static Value {
    static SCHEMA: OnceLock<Value> = OnceLock::new();
    SCHEMA.get_or_init(|| schemars::schema_for!(RawFleet).to_value())
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
