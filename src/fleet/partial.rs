//! Typed reading that reports every mistyped value: deserialize, and on an error report it at its
//! exact path, set the offending key aside and try again, until the rest reads cleanly.

use serde::de::DeserializeOwned;
use serde_json::Value;
use serde_path_to_error::Segment;

use super::path::{Seg, YamlPath};
use super::problems::Problems;
use super::secrets::{SecretError, is_secret_key};
use super::typed::Tree;

/// Reads the mapping at `path` as `T`, reporting (and removing from `value`) every key whose value
/// does not fit. A missing or null section reads as `T::default()`.
pub(crate) fn read<T: DeserializeOwned + Default>(
    value: &mut Value,
    path: &YamlPath,
    p: &mut Problems<'_>,
) -> T {
    if value.is_null() {
        return T::default();
    }
    if !value.is_object() {
        p.value(path, format!("expected a mapping, got {}", kind(value)));
        *value = Value::Null;
        return T::default();
    }
    // Most sections read cleanly: without tracking paths, that is much cheaper.
    if let Ok(t) = T::deserialize(Tree(value)) {
        return t;
    }
    // Each round removes one key, so this ends; the bound is a safety net.
    for _ in 0..10_000 {
        match serde_path_to_error::deserialize::<_, T>(Tree(value)) {
            Ok(t) => return t,
            Err(e) => {
                let inner = to_yaml_path(e.path());
                report(&path.join(&inner), &e.inner().to_string(), p);
                if !remove_deepest_key(value, &inner) {
                    return T::default();
                }
            }
        }
    }
    T::default()
}

/// Reports a type error; for secret fields without serde's words, which quote the value.
fn report(path: &YamlPath, message: &str, p: &mut Problems<'_>) {
    let secret = matches!(path.segs().last(), Some(Seg::Key(k)) if is_secret_key(k));
    if secret {
        let e = SecretError::Literal;
        p.value(path, e.to_string()).help(e.help());
    } else if let Some(number) = number_for_string(message) {
        p.value(path, clean_message(message)).help(format!(
            "YAML reads bare digits as a number: quote it, e.g. `\"{number}\"`"
        ));
    } else {
        p.value(path, clean_message(message));
    }
}

/// The number in serde's "integer `N`, expected a string" message: an appid or id left unquoted.
fn number_for_string(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("invalid type: ")?;
    let rest = rest
        .strip_prefix("integer `")
        .or_else(|| rest.strip_prefix("floating point `"))?;
    let (number, tail) = rest.split_once('`')?;
    tail.contains("expected a string").then_some(number)
}

/// What kind of YAML value this is, for messages.
pub(crate) fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

fn to_yaml_path(path: &serde_path_to_error::Path) -> YamlPath {
    let segs = path
        .iter()
        .filter_map(|s| match s {
            Segment::Seq { index } => Some(Seg::Index(*index)),
            Segment::Map { key } => Some(Seg::Key(key.clone())),
            Segment::Enum { .. } | Segment::Unknown => None,
        })
        .collect();
    YamlPath::from_segs(segs)
}

/// Removes the deepest mapping key on `path` (a mistyped list item takes its whole list).
fn remove_deepest_key(value: &mut Value, path: &YamlPath) -> bool {
    let segs = path.segs();
    let Some(last_key) = segs.iter().rposition(|s| matches!(s, Seg::Key(_))) else {
        return false;
    };
    let mut node = value;
    for seg in &segs[..last_key] {
        let next = match seg {
            Seg::Key(k) => node.get_mut(k.as_str()),
            Seg::Index(i) => node.get_mut(*i),
        };
        match next {
            Some(n) => node = n,
            None => return false,
        }
    }
    match (&segs[last_key], node.as_object_mut()) {
        (Seg::Key(k), Some(map)) => map.remove(k.as_str()).is_some(),
        _ => false,
    }
}

/// serde's words, without Rust type names.
fn clean_message(message: &str) -> String {
    let Some(at) = message.find("expected ") else {
        return message.to_owned();
    };
    let (head, expected) = message.split_at(at + "expected ".len());
    // An integer out of its range: say the range, not just "an integer".
    if head.starts_with("invalid value: integer") {
        let range = match expected {
            "u8" => Some("an integer from 0 to 255"),
            "u16" => Some("an integer from 0 to 65535"),
            "u32" => Some("an integer from 0 to 4294967295"),
            "u64" => Some("an integer of 0 or more"),
            "i8" => Some("an integer from -128 to 127"),
            "i16" => Some("an integer from -32768 to 32767"),
            "i32" => Some("an integer from -2147483648 to 2147483647"),
            _ => None,
        };
        if let Some(range) = range {
            return format!("{head}{range}");
        }
    }
    let plain = match expected {
        "a map" => "a mapping",
        "a sequence" => "a list",
        "u8" | "u16" | "u32" | "u64" | "i8" | "i16" | "i32" | "i64" => "an integer",
        e if e.starts_with("struct ") => "a mapping",
        e => e,
    };
    format!("{head}{plain}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleans_rust_type_names() {
        assert_eq!(
            clean_message("invalid type: string \"high\", expected i64"),
            "invalid type: string \"high\", expected an integer"
        );
        assert_eq!(
            clean_message("invalid type: string \"x\", expected struct AuditSpec"),
            "invalid type: string \"x\", expected a mapping"
        );
        assert_eq!(
            clean_message("invalid value: integer `-1`, expected u32"),
            "invalid value: integer `-1`, expected an integer from 0 to 4294967295"
        );
        assert_eq!(
            clean_message("invalid value: integer `99999999999`, expected i32"),
            "invalid value: integer `99999999999`, expected an integer from -2147483648 to 2147483647"
        );
        assert_eq!(
            clean_message("unknown variant `x`, expected `a` or `b`"),
            "unknown variant `x`, expected `a` or `b`"
        );
    }

    #[test]
    fn removes_the_deepest_key() {
        let mut v: Value = crate::fleet::doc::whole("a: {b: [1, {c: 2, d: 3}]}").unwrap();
        let path = YamlPath::top("a").key("b").index(1).key("c");
        assert!(remove_deepest_key(&mut v, &path));
        assert_eq!(v, crate::fleet::doc::whole("a: {b: [1, {d: 3}]}").unwrap());
        let list_item = YamlPath::top("a").key("b").index(0);
        assert!(remove_deepest_key(&mut v, &list_item));
        assert_eq!(v, crate::fleet::doc::whole("a: {}").unwrap());
    }
}
