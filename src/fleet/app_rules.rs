//! Checks on an app's settings (after the defaults are merged in): version, gray, testers and
//! the audit settings each platform needs (WeChat items; Alipay description and contacts). Each
//! problem goes through [`AppAt`], so one an app inherits is reported once, at the default.

use std::collections::HashSet;

use super::inherit::AppAt;
use super::path::YamlPath;
use super::problems::{MaybeHelp, Problems};
use super::raw::RawApp;
use super::rules;
use crate::model::{AuditSpec, PlatformKind, Stage};
use crate::plan::rules::ALIPAY;

/// At most this many audit items (WeChat `item_list`).
const MAX_AUDIT_ITEMS: usize = 5;
/// At most this many characters in an audit item's title.
const MAX_TITLE_CHARS: usize = 32;
/// At most this many Alipay `mini_category_ids`.
const MAX_CATEGORIES: usize = 4;

/// Checks everything but identity and template. `app` is the app being checked; the paths of
/// its keys are built only for a problem.
pub(crate) fn check(
    raw: &RawApp,
    platform: Option<PlatformKind>,
    app: &AppAt<'_>,
    p: &mut Problems<'_>,
) {
    check_version(raw.version.as_deref(), app, p);
    let testers = raw.testers.as_deref().unwrap_or_default();
    check_testers(testers, app, p);
    let no_audit = AuditSpec::default();
    let audit = raw.audit.as_deref().unwrap_or(&no_audit);
    check_audit_items(audit, app, p);
    let stage = raw.stage.unwrap_or_default();
    let gray = raw.gray.unwrap_or(100);
    match platform {
        Some(PlatformKind::Wechat) => {
            check_wechat_gray(gray, app, p);
            require_audit_items(audit, stage, app, p);
        }
        Some(PlatformKind::Alipay) => {
            check_alipay_gray(gray, app, p);
            check_logon_ids(testers, app, p);
            check_alipay_audit(audit, app, p);
            let described = raw
                .description
                .as_deref()
                .is_some_and(|d| !d.trim().is_empty());
            require_version_desc(audit, described, stage, app, p);
        }
        None => {}
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

fn check_wechat_gray(gray: i64, app: &AppAt<'_>, p: &mut Problems<'_>) {
    if !(1..=100).contains(&gray) {
        app.value(
            p,
            &YamlPath::top("gray"),
            format!("gray must be between 1 and 100, got {gray}"),
        )
        .help("WeChat gray releases take a percentage from 1 to 100; 100 means a full release");
    }
}

fn check_alipay_gray(gray: i64, app: &AppAt<'_>, p: &mut Problems<'_>) {
    let allowed = u8::try_from(gray).is_ok_and(|g| ALIPAY.gray_allowed(g));
    if !allowed {
        app.value(
            p,
            &YamlPath::top("gray"),
            format!("Alipay gray must be 10, 30, 50 or 100, got {gray}"),
        )
        .help("Alipay gray releases are p10, p30 or p50; 100 means a full release");
    }
}

/// Alipay invites members by logon id: an email address or a phone number.
fn check_logon_ids(testers: &[String], app: &AppAt<'_>, p: &mut Problems<'_>) {
    for (j, tester) in testers.iter().enumerate() {
        if tester.trim().is_empty() || rules::is_alipay_logon_id(tester) {
            continue;
        }
        let tpath = YamlPath::top("testers").index(j);
        if !app.reported(p, &tpath) {
            app.value(
                p,
                &tpath,
                format!("tester `{tester}` is not an Alipay logon id (an email address or a phone number)"),
            )
            .help("Alipay invites testers by the account they log in to Alipay with");
        }
    }
}

/// The Alipay-only audit fields: contacts and categories.
fn check_alipay_audit(audit: &AuditSpec, app: &AppAt<'_>, p: &mut Problems<'_>) {
    let path = || YamlPath::top("audit");
    if let Some(phone) = audit.service_phone.as_deref() {
        let n = phone.chars().count();
        let ok = (5..=30).contains(&n) && phone.bytes().all(|b| b.is_ascii_digit() || b == b'-');
        if !ok {
            app.value(
                p,
                &path().key("service_phone"),
                format!("`service_phone` must be 5 to 30 digits and `-`, got `{phone}`"),
            );
        }
    }
    if let Some(email) = audit
        .service_email
        .as_deref()
        .filter(|e| !rules::is_email(e))
    {
        app.value(
            p,
            &path().key("service_email"),
            format!("`service_email` must be an email address, got `{email}`"),
        );
    }
    let n = audit.mini_category_ids.len();
    if n > MAX_CATEGORIES {
        app.value(
            p,
            &path().key("mini_category_ids"),
            format!("at most {MAX_CATEGORIES} categories are allowed, got {n}"),
        )
        .help("Alipay `audit.apply` takes 1 to 4 `mini_category_ids`");
    }
}

/// An Alipay submission needs a `version_desc`: `audit.version_desc` or the app's description.
fn require_version_desc(
    audit: &AuditSpec,
    described: bool,
    stage: Stage,
    app: &AppAt<'_>,
    p: &mut Problems<'_>,
) {
    let needed = stage != Stage::Experience
        && !described
        && audit
            .version_desc
            .as_deref()
            .is_none_or(|d| d.trim().is_empty());
    if !needed {
        return;
    }
    let stage = stage.as_str();
    require_in_audit(
        app,
        "version_desc",
        &[&["stage"], &["description"]],
        format!("an Alipay app at stage `{stage}` needs `audit.version_desc` or a `description`"),
        "Alipay reviews each version with its description; add `description` or `audit.version_desc` to defaults",
        p,
    );
}

/// Reports `audit.<key>` as missing, unless `audit` or `audit.<key>` has a problem already (which
/// says enough).
/// The problem is the app's when it sets `stage` or the audit key itself, else (both inherited)
/// the default's.
fn require_in_audit(
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

fn require_audit_items(audit: &AuditSpec, stage: Stage, app: &AppAt<'_>, p: &mut Problems<'_>) {
    if stage == Stage::Experience || !audit.items.is_empty() {
        return;
    }
    let stage = stage.as_str();
    require_in_audit(
        app,
        "items",
        &[&["stage"]],
        format!("a WeChat app at stage `{stage}` needs at least one audit item"),
        "add `audit.items` to defaults",
        p,
    );
}
