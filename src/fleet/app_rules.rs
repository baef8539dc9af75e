//! Checks on an app's settings (after the defaults are merged in): the version, testers and audit
//! items every app has, then its platform's own checks ([`PlatformSpec::check_app`]: gray
//! percentages, tester ids, the audit settings it needs). Each
//! problem goes through [`AppAt`], so one an app inherits is reported once, at the default.

use std::collections::HashSet;

use super::inherit::AppAt;
use super::path::YamlPath;
use super::problems::{MaybeHelp, Problems};
use super::raw::RawApp;
use super::rules;
use super::spec::PlatformSpec;
use crate::model::AuditSpec;

/// At most this many audit items (WeChat `item_list`).
const MAX_AUDIT_ITEMS: usize = 5;
/// At most this many characters in an audit item's title.
const MAX_TITLE_CHARS: usize = 32;

/// Checks everything but identity and template. `app` is the app being checked; the paths of
/// its keys are built only for a problem.
pub(crate) fn check(
    raw: &RawApp,
    spec: Option<&'static dyn PlatformSpec>,
    app: &AppAt<'_>,
    p: &mut Problems<'_>,
) {
    check_version(raw.version.as_deref(), app, p);
    let testers = raw.testers.as_deref().unwrap_or_default();
    check_testers(testers, app, p);
    let no_audit = AuditSpec::default();
    let audit = raw.audit.as_deref().unwrap_or(&no_audit);
    check_audit_items(audit, app, p);
    if let Some(spec) = spec {
        spec.check_app(raw, app, p);
    }
}

fn check_version(version: Option<&str>, app: &AppAt<'_>, p: &mut Problems<'_>) {
    let path = || YamlPath::top("version");
    match version {
        None => {
            app.missing(p, &path());
        }
        Some(v) if !rules::is_version(v) => {
            app.value(
                p,
                &path(),
                format!("version must be `x.y.z` (digits), got `{v}`"),
            )
            .help("write the version as three numbers, e.g. `1.4.0`");
        }
        Some(_) => {}
    }
}

/// Reports `audit.<key>` as missing, unless `audit` or `audit.<key>` has a problem already (which
/// says enough).
/// The problem is the app's when it sets `stage` or the audit key itself, else (both inherited)
/// the default's.
pub(crate) fn require_in_audit(
    app: &AppAt<'_>,
    key: &str,
    also: &[&[&str]],
    message: String,
    help: &str,
    p: &mut Problems<'_>,
) {
    let audit = YamlPath::top("audit");
    let path = audit.key(key);
    if !app.reported(p, &audit) && !app.reported(p, &path) {
        app.value_from(p, &path, also, message).help(help);
    }
}

fn check_testers(testers: &[String], app: &AppAt<'_>, p: &mut Problems<'_>) {
    let mut seen = HashSet::new();
    let path = |j| YamlPath::top("testers").index(j);
    for (j, tester) in testers.iter().enumerate() {
        if tester.trim().is_empty() {
            app.value(p, &path(j), "tester names must not be empty");
        } else if !seen.insert(tester.as_str()) {
            app.value(p, &path(j), format!("tester `{tester}` is listed twice"));
        }
    }
}

fn check_audit_items(audit: &AuditSpec, app: &AppAt<'_>, p: &mut Problems<'_>) {
    let path = || YamlPath::top("audit").key("items");
    let n = audit.items.len();
    if n > MAX_AUDIT_ITEMS {
        app.value(
            p,
            &path(),
            format!("at most {MAX_AUDIT_ITEMS} audit items are allowed, got {n}"),
        )
        .help("WeChat `submit_audit` takes 1 to 5 pages in `item_list`");
    }
    for (j, item) in audit.items.iter().enumerate() {
        let title_chars = item.title.as_deref().map_or(0, |t| t.chars().count());
        if title_chars > MAX_TITLE_CHARS {
            app.value(
                p,
                &path().index(j).key("title"),
                format!("title must be at most {MAX_TITLE_CHARS} characters, got {title_chars}"),
            );
        }
        if let Some(problem) = item.tag.as_deref().and_then(rules::tag_problem) {
            app.value(p, &path().index(j).key("tag"), problem)
                .help("`tag` holds at most 10 space-separated tags of at most 20 characters each");
        }
    }
}
