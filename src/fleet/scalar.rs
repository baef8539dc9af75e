//! A YAML scalar as the fleet file's tree holds it, read as serde_yaml read scalars: plain ones
//! resolved by the YAML 1.2 core schema (null, boolean, integer, float, else text; the test table
//! and `tests/plain_scalars.tsv` keep serde_yaml's answers), quoted and block ones as text, tags
//! as [`TagRead`] says. What a JSON tree cannot hold (an integer beyond 64 bits, `.inf`, `.nan`)
//! is named, for the reader to refuse, never rounded or guessed.

use serde_json::{Number, Value};
use yaml_rust2::parser::Tag;
use yaml_rust2::scanner::TScalarStyle;

/// A scalar's value from its text, its style and its tag.
pub(crate) fn resolve(text: String, style: TScalarStyle, tag: Option<&Tag>) -> Resolved {
    match tag.map(tag_read) {
        None | Some(TagRead::Local) if style != TScalarStyle::Plain => {
            Resolved::Value(Value::String(text))
        }
        None | Some(TagRead::Local) => resolve_plain(text),
        Some(TagRead::Global) => Resolved::Value(Value::String(text)),
        Some(TagRead::Core(tag)) => match core_scalar(&tag, text.clone()) {
            Some(resolved) => resolved,
            None => Resolved::NotOfTag { text, tag },
        },
    }
}

/// What a tag does to a scalar, as serde_yaml read tags.
enum TagRead {
    /// A tag of the YAML core schema (`!!int`, or `!<tag:yaml.org,2002:int>`), by name.
    Core(String),
    /// A local tag (`!name`, or `!`): dropped, the scalar read as if untagged. serde_yaml kept
    /// it beside the value, but every accessor and typed read of the fleet file looked through it.
    Local,
    /// Another global tag: the scalar is text.
    Global,
}

/// What `tag` does, from its full name (yaml-rust2 expands `!!` and declared handles into the
/// handle; `!name` keeps `!`).
fn tag_read(tag: &Tag) -> TagRead {
    let full = format!("{}{}", tag.handle, tag.suffix);
    match full.strip_prefix("tag:yaml.org,2002:") {
        Some(name) => TagRead::Core(name.to_owned()),
        None if full.starts_with('!') => TagRead::Local,
        None => TagRead::Global,
    }
}

/// A scalar under the core tag `name`, as serde_yaml read it: `!!int`, `!!float`, `!!bool` and
/// `!!null` convert its text, whatever its quoting (`None` where the text is none of that); any
/// other (`!!str`, `!!binary`, `!!timestamp`…) keeps the text.
fn core_scalar(name: &str, text: String) -> Option<Resolved> {
    match name {
        "int" => match resolve_plain(text) {
            Resolved::Value(Value::Number(n)) if !n.is_f64() => {
                Some(Resolved::Value(Value::Number(n)))
            }
            wide @ Resolved::Wide(_) => Some(wide),
            _ => None,
        },
        "float" => float(&text).map(|f| match Number::from_f64(f) {
            Some(n) => Resolved::Value(Value::Number(n)),
            None => Resolved::NotFinite(text.clone()),
        }),
        "bool" => match resolve_plain(text) {
            b @ Resolved::Value(Value::Bool(_)) => Some(b),
            _ => None,
        },
        "null" => match resolve_plain(text) {
            null @ Resolved::Value(Value::Null) => Some(null),
            _ => None,
        },
        _ => Some(Resolved::Value(Value::String(text))),
    }
}

/// A scalar, resolved.
pub(crate) enum Resolved {
    Value(Value),
    /// An integer beyond 64 bits, as written.
    Wide(String),
    /// `.inf`, `.nan` and the like: no JSON number.
    NotFinite(String),
    /// Text its core tag does not fit (`!!int abc`), with the tag's name (`int`).
    NotOfTag {
        /// The scalar's text.
        text: String,
        /// The core tag's name.
        tag: String,
    },
}

/// Whether `text`, written bare, reads back as the same text (to show a value as written).
pub(crate) fn reads_as_text(text: &str) -> bool {
    text.starts_with(char::is_alphanumeric)
        && text
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
        && matches!(
            resolve_plain(text.to_owned()),
            Resolved::Value(Value::String(_))
        )
}

/// The YAML 1.2 core schema's resolution of a plain scalar: null, boolean, integer, float, else
/// string.
pub(crate) fn resolve_plain(text: String) -> Resolved {
    let value = |v| Resolved::Value(v);
    match text.as_str() {
        "" | "~" | "null" | "Null" | "NULL" => return value(Value::Null),
        "true" | "True" | "TRUE" => return value(Value::Bool(true)),
        "false" | "False" | "FALSE" => return value(Value::Bool(false)),
        _ => {}
    }
    let first = text.as_bytes()[0];
    if !(first.is_ascii_digit() || matches!(first, b'+' | b'-' | b'.')) {
        return value(Value::String(text));
    }
    if let Some(n) = unsigned(&text, u64::from_str_radix) {
        return value(Value::Number(Number::from(n)));
    }
    if let Some(n) = negative(&text, i64::from_str_radix) {
        return value(Value::Number(Number::from(n)));
    }
    let wide = unsigned(&text, u128::from_str_radix).is_some()
        || negative(&text, i128::from_str_radix).is_some();
    if wide {
        return Resolved::Wide(text);
    }
    if !leading_zero_digits(&text) {
        if let Some(f) = float(&text) {
            return match Number::from_f64(f) {
                Some(n) => value(Value::Number(n)),
                None => Resolved::NotFinite(text),
            };
        }
    }
    value(Value::String(text))
}

/// A radix prefix and its digits (`0x…`, `0o…`, `0b…`), the digits not signed themselves.
fn radix(text: &str) -> Option<(&str, u32)> {
    [("0x", 16), ("0o", 8), ("0b", 2)]
        .into_iter()
        .find_map(|(prefix, radix)| Some((text.strip_prefix(prefix)?, radix)))
        .filter(|(digits, _)| !digits.starts_with(['+', '-']))
}

/// `T::from_str_radix`.
type FromRadix<T> = fn(&str, u32) -> Result<T, std::num::ParseIntError>;

/// A non-negative integer: optional `+`, then a radix prefix or decimal digits.
fn unsigned<T>(text: &str, from_radix: FromRadix<T>) -> Option<T> {
    let unsigned = text.strip_prefix('+').unwrap_or(text);
    if let Some((digits, r)) = radix(unsigned) {
        if let Ok(n) = from_radix(digits, r) {
            return Some(n);
        }
    }
    if unsigned.starts_with(['+', '-']) || leading_zero_digits(text) {
        return None;
    }
    from_radix(unsigned, 10).ok()
}

/// A negative integer: `-`, then a radix prefix or decimal digits.
fn negative<T>(text: &str, from_radix: FromRadix<T>) -> Option<T> {
    let rest = text.strip_prefix('-')?;
    if let Some((digits, r)) = radix(rest) {
        if let Ok(n) = from_radix(&format!("-{digits}"), r) {
            return Some(n);
        }
    }
    if leading_zero_digits(text) {
        return None;
    }
    from_radix(text, 10).ok()
}

/// Leading zeros followed by digits: a string in YAML 1.2 (`0123`).
fn leading_zero_digits(text: &str) -> bool {
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    digits.len() > 1 && digits.starts_with('0') && digits[1..].bytes().all(|b| b.is_ascii_digit())
}

/// A float, `.inf` and `.nan` spelled as YAML spells them.
fn float(text: &str) -> Option<f64> {
    let unsigned = match text.strip_prefix('+') {
        Some(rest) if rest.starts_with(['+', '-']) => return None,
        Some(rest) => rest,
        None => text,
    };
    match (unsigned, text) {
        (".inf" | ".Inf" | ".INF", _) => return Some(f64::INFINITY),
        (_, "-.inf" | "-.Inf" | "-.INF") => return Some(f64::NEG_INFINITY),
        (_, ".nan" | ".NaN" | ".NAN") => return Some(f64::NAN),
        _ => {}
    }
    unsigned.parse::<f64>().ok().filter(|f| f.is_finite())
}
