//! The unknown-key check: walks the document beside the schema, reports every key the schema does
//! not allow (with a "did you mean" hint) and removes it, so typed reading can go on.

use std::sync::OnceLock;

use serde_json::Value as Json;
use serde_json::Value;

use super::path::YamlPath;
use super::problems::Problems;
use super::schema::{array_schema, object_schema};

/// Keys an app must set itself, never through `defaults`.
const APP_ONLY: [&str; 4] = ["name", "platform", "appid", "app_auth_token"];

/// Reports and removes every unknown key in the top-level section `key: value`; false when `key`
/// itself is unknown (reported; the caller drops the section).
pub(crate) fn strip_section(
    root: &Json,
    key: &str,
    value: &mut Value,
    p: &mut Problems<'_>,
) -> bool {
    let Some(top) = object_schema(root, root) else {
        return true;
    };
    match child_schema(top, key) {
        Some(node) => {
            walk(value, root, node, &Trail::Top(key), p);
            true
        }
        None => {
            report(key, top, &YamlPath::root(), &YamlPath::top(key), p);
            false
        }
    }
}

/// Reports and removes every unknown key in `apps[index]`.
pub(crate) fn strip_app(root: &Json, index: usize, item: &mut Value, p: &mut Problems<'_>) {
    // The app schema does not depend on the platforms: looked up once.
    static APP: OnceLock<Option<Json>> = OnceLock::new();
    let app = APP.get_or_init(|| {
        object_schema(root, root)
            .and_then(|top| child_schema(top, "apps"))
            .and_then(|apps| array_schema(root, apps))
            .and_then(|apps| apps.get("items"))
            .and_then(|item| object_schema(root, item))
            .cloned()
    });
    if let Some(node) = app {
        walk(item, root, node, &Trail::App(index), p);
    }
}

/// Where the walk is: built as it goes down without allocating, made a [`YamlPath`] only for a
/// problem.
enum Trail<'a> {
    /// A top-level key.
    Top(&'a str),
    /// `apps[i]`.
    App(usize),
    Key(&'a Trail<'a>, &'a str),
    Index(&'a Trail<'a>, usize),
}

impl Trail<'_> {
    fn path(&self) -> YamlPath {
        match self {
            Trail::Top(key) => YamlPath::top(key),
            Trail::App(index) => YamlPath::top("apps").index(*index),
            Trail::Key(parent, key) => parent.path().key(key),
            Trail::Index(parent, index) => parent.path().index(*index),
        }
    }
}

fn walk(value: &mut Value, root: &Json, node: &Json, trail: &Trail<'_>, p: &mut Problems<'_>) {
    match value {
        Value::Object(map) => {
            let Some(schema) = object_schema(root, node) else {
                return;
            };
            let mut unknown = Vec::new();
            for (key, child) in map.iter_mut() {
                match child_schema(schema, key) {
                    Some(node) if child.is_object() || child.is_array() => {
                        walk(child, root, node, &Trail::Key(trail, key), p);
                    }
                    Some(_) => {}
                    None => unknown.push(key.clone()),
                }
            }
            if unknown.is_empty() {
                return;
            }
            let path = trail.path();
            for key in unknown {
                report(&key, schema, &path, &path.key(&key), p);
                map.remove(key.as_str());
            }
        }
        Value::Array(items) => {
            let Some(items_schema) = array_schema(root, node).and_then(|s| s.get("items")) else {
                return;
            };
            for (i, item) in items.iter_mut().enumerate() {
                walk(item, root, items_schema, &Trail::Index(trail, i), p);
            }
        }
        _ => {}
    }
}

/// The schema of `key`'s value, or `None` when the key is not allowed.
fn child_schema<'s>(schema: &'s Json, key: &str) -> Option<&'s Json> {
    if let Some(prop) = schema.get("properties").and_then(|ps| ps.get(key)) {
        return Some(prop);
    }
    match schema.get("additionalProperties") {
        Some(Json::Bool(false)) => None,
        Some(extra) => Some(extra),
        None => Some(&Json::Bool(true)),
    }
}

fn report(key: &str, schema: &Json, parent: &YamlPath, here: &YamlPath, p: &mut Problems<'_>) {
    let allowed: Vec<&str> = schema
        .get("properties")
        .and_then(Json::as_object)
        .map(|ps| ps.keys().map(String::as_str).collect())
        .unwrap_or_default();
    let help = if parent.to_string() == "defaults" && APP_ONLY.contains(&key) {
        format!("`{key}` cannot be inherited; set it on each app")
    } else if let Some(close) = did_you_mean(key, &allowed) {
        format!("did you mean `{close}`?")
    } else {
        let list: Vec<String> = allowed.iter().map(|k| format!("`{k}`")).collect();
        format!("allowed keys here: {}", list.join(", "))
    };
    p.key(here, format!("unknown key `{key}`")).help(help);
}

/// The allowed key closest to `key`, if it is close enough to be a typo.
pub(crate) fn did_you_mean<'k>(key: &str, allowed: &[&'k str]) -> Option<&'k str> {
    let limit = (key.chars().count() / 3).max(1);
    allowed
        .iter()
        .map(|a| (strsim::damerau_levenshtein(key, a), *a))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, a)| a)
}

#[cfg(test)]
mod tests {
    use super::did_you_mean;

    #[test]
    fn suggests_close_keys_only() {
        let allowed = ["gray", "stage", "testers"];
        assert_eq!(did_you_mean("gary", &allowed), Some("gray"));
        assert_eq!(did_you_mean("tester", &allowed), Some("testers"));
        assert_eq!(did_you_mean("color", &allowed), None);
        assert_eq!(
            did_you_mean("component_secre", &["component_secret", "token"]),
            Some("component_secret")
        );
    }
}
