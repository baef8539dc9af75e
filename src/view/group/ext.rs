//! What a group's commits do to ext, in a few lines: the top-level keys whose values differ
//! between its apps, and the keys the commits change (in every app, with the values where they
//! are the same, or in some).

use std::collections::BTreeSet;

use serde_json::Value;

use crate::model::{AppPlan, ExtChange};

use super::thousands;

/// Keys named in one line.
const KEYS: usize = 8;

/// Longest value shown, in characters.
const VALUE: usize = 40;

/// The ext lines of a group's commit step (none when no app has an ext change).
pub(super) fn summary(apps: &[&AppPlan]) -> Vec<String> {
    let changes: Vec<&ExtChange> = apps.iter().filter_map(|a| a.ext_change.as_ref()).collect();
    if changes.is_empty() {
        return Vec::new();
    }
    let mut keys: BTreeSet<&str> = BTreeSet::new();
    for change in &changes {
        keys.extend(key_names(Some(&change.after)));
        keys.extend(key_names(change.before.as_ref()));
    }
    let mut lines = vec![differs(&changes, &keys)];
    let known: Vec<&ExtChange> = changes
        .iter()
        .copied()
        .filter(|c| c.before.is_some())
        .collect();
    lines.extend(changed(&known, &keys));
    let others: BTreeSet<&str> = changes
        .iter()
        .filter(|c| c.others_before != c.others_after)
        .flat_map(|c| key_names(c.others_after.as_ref()).chain(key_names(c.others_before.as_ref())))
        .collect();
    if !others.is_empty() {
        let n = changes
            .iter()
            .filter(|c| c.others_before != c.others_after)
            .count();
        lines.push(format!(
            "ext.json beside ext changes in {} app{}: {}",
            thousands(n),
            super::super::plural(n),
            names(&others.into_iter().collect::<Vec<_>>())
        ));
    }
    let unknown = changes.len() - known.len();
    if unknown > 0 {
        lines.push(format!(
            "no last applied ext is known here for {} app{} (new, or a fresh store)",
            thousands(unknown),
            super::super::plural(unknown)
        ));
    }
    lines
}

/// `ext differs between apps only in `shopId`` / `ext is the same in every app`.
fn differs(changes: &[&ExtChange], keys: &BTreeSet<&str>) -> String {
    let varying: Vec<&str> = keys
        .iter()
        .copied()
        .filter(|k| {
            let first = field(Some(&changes[0].after), k);
            changes.iter().any(|c| field(Some(&c.after), k) != first)
        })
        .collect();
    match varying.len() {
        0 => "ext is the same in every app".to_owned(),
        n if n < keys.len() => format!("ext differs between apps only in {}", names(&varying)),
        _ => format!("ext differs between apps in {}", names(&varying)),
    }
}

/// What the commits change, among the apps whose last applied ext is known.
fn changed(known: &[&ExtChange], keys: &BTreeSet<&str>) -> Vec<String> {
    if known.is_empty() {
        return Vec::new();
    }
    let n = known.len();
    let mut everywhere = Vec::new();
    let mut some = Vec::new();
    for &key in keys {
        let count = known
            .iter()
            .filter(|c| field(c.before.as_ref(), key) != field(Some(&c.after), key))
            .count();
        match count {
            0 => {}
            _ if count == n => everywhere.push(everywhere_key(known, key)),
            _ => some.push(format!(
                "`{key}` ({} of {})",
                thousands(count),
                thousands(n)
            )),
        }
    }
    let mut lines = Vec::new();
    if everywhere.is_empty() && some.is_empty() {
        lines.push("ext: unchanged".to_owned());
    }
    if !everywhere.is_empty() {
        let all = if n == 1 { "the app" } else { "every app" };
        lines.push(format!("changes in {all}: {}", capped(&everywhere)));
    }
    if !some.is_empty() {
        lines.push(format!("changes in some apps: {}", capped(&some)));
    }
    lines
}

/// A key every commit changes: with its values when they are the same in every app.
fn everywhere_key(known: &[&ExtChange], key: &str) -> String {
    let before = field(known[0].before.as_ref(), key);
    let after = field(Some(&known[0].after), key);
    let same = known
        .iter()
        .all(|c| field(c.before.as_ref(), key) == before && field(Some(&c.after), key) == after);
    if !same {
        return format!("`{key}`");
    }
    match (before, after) {
        (Some(b), Some(a)) => format!("`{key}` ({} → {})", shown(b), shown(a)),
        (None, Some(a)) => format!("`{key}` (added: {})", shown(a)),
        (Some(_), None) => format!("`{key}` (removed)"),
        (None, None) => format!("`{key}`"),
    }
}

/// The top-level keys of an ext (a non-object ext has none).
fn key_names(ext: Option<&Value>) -> impl Iterator<Item = &str> {
    ext.and_then(Value::as_object)
        .into_iter()
        .flat_map(|m| m.keys().map(String::as_str))
}

/// The value of `key` in an ext.
fn field<'a>(ext: Option<&'a Value>, key: &str) -> Option<&'a Value> {
    ext.and_then(Value::as_object).and_then(|m| m.get(key))
}

/// A value as compact JSON, cut at [`VALUE`] characters.
fn shown(value: &Value) -> String {
    let text = value.to_string();
    match text.char_indices().nth(VALUE) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text,
    }
}

/// `` `a`, `b` `` — at most [`KEYS`] names, then how many more.
fn names(keys: &[&str]) -> String {
    let quoted: Vec<String> = keys.iter().map(|k| format!("`{k}`")).collect();
    capped(&quoted)
}

/// At most [`KEYS`] items, then how many more.
fn capped(items: &[String]) -> String {
    let mut text = items
        .iter()
        .take(KEYS)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > KEYS {
        text.push_str(&format!(" and {} more", thousands(items.len() - KEYS)));
    }
    text
}
