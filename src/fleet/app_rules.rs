//! Checks on an app's settings (after the defaults are merged in): version, gray, testers and
//! audit items.

use std::collections::HashSet;

use super::path::YamlPath;
use super::problems::Problems;
use super::raw::RawApp;
use super::rules;
use crate::model::{AuditSpec, PlatformKind, Stage};

/// At most this many audit items (WeChat `item_list`).
const MAX_AUDIT_ITEMS: usize = 5;
/// At most this many characters in an audit item's title.
const MAX_TITLE_CHARS: usize = 32;

/// Checks everything but identity and template.
pub(crate) fn check(
    raw: &RawApp,
    platform: Option<PlatformKind>,
    path: &YamlPath,
    p: &mut Problems<'_>,
) {
    check_version(raw.version.as_deref(), &path.key("version"), p);
    check_testers(
        raw.testers.as_deref().unwrap_or_default(),
        &path.key("testers"),
        p,
    );
    let audit = raw.audit.clone().unwrap_or_default();
    check_audit_items(&audit, &path.key("audit").key("items"), p);
    if platform == Some(PlatformKind::Wechat) {
        check_wechat_gray(raw.gray.unwrap_or(100), &path.key("gray"), p);
        let stage = raw.stage.unwrap_or_default();
        require_audit_items(&audit, stage, &path.key("audit").key("items"), p);
    }
}

fn check_version(version: Option<&str>, path: &YamlPath, p: &mut Problems<'_>) {
    match version {
        None => {
            p.missing(path);
        }
        Some(v) if !rules::is_version(v) => {
            p.value(path, format!("version must be `x.y.z` (digits), got `{v}`"))
                .help("write the version as three numbers, e.g. `1.4.0`");
        }
        Some(_) => {}
    }
}

fn check_wechat_gray(gray: i64, path: &YamlPath, p: &mut Problems<'_>) {
    if !(1..=100).contains(&gray) {
        p.value(path, format!("gray must be between 1 and 100, got {gray}"))
            .help("WeChat gray releases take a percentage from 1 to 100; 100 means a full release");
    }
}

fn check_testers(testers: &[String], path: &YamlPath, p: &mut Problems<'_>) {
    let mut seen = HashSet::new();
    for (j, tester) in testers.iter().enumerate() {
        if tester.trim().is_empty() {
            p.value(&path.index(j), "tester names must not be empty");
        } else if !seen.insert(tester.as_str()) {
            p.value(&path.index(j), format!("tester `{tester}` is listed twice"));
        }
    }
}

fn check_audit_items(audit: &AuditSpec, path: &YamlPath, p: &mut Problems<'_>) {
    let n = audit.items.len();
    if n > MAX_AUDIT_ITEMS {
        p.value(
            path,
            format!("at most {MAX_AUDIT_ITEMS} audit items are allowed, got {n}"),
        )
        .help("WeChat `submit_audit` takes 1 to 5 pages in `item_list`");
    }
    for (j, item) in audit.items.iter().enumerate() {
        let title_chars = item.title.as_deref().map_or(0, |t| t.chars().count());
        if title_chars > MAX_TITLE_CHARS {
            p.value(
                &path.index(j).key("title"),
                format!("title must be at most {MAX_TITLE_CHARS} characters, got {title_chars}"),
            );
        }
        if let Some(problem) = item.tag.as_deref().and_then(rules::tag_problem) {
            p.value(&path.index(j).key("tag"), problem)
                .help("`tag` holds at most 10 space-separated tags of at most 20 characters each");
        }
    }
}

fn require_audit_items(audit: &AuditSpec, stage: Stage, path: &YamlPath, p: &mut Problems<'_>) {
    let audit_path = path.parent().unwrap_or_default();
    if p.reported(path) || p.reported(&audit_path) {
        return;
    }
    if stage != Stage::Experience && audit.items.is_empty() {
        let stage = stage.as_str();
        p.value(
            path,
            format!("a WeChat app at stage `{stage}` needs at least one audit item"),
        )
        .help("add `audit.items` to defaults");
    }
}
