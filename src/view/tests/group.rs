//! The grouped plan text: apps with steps of the same shape told once, the rest alone, the
//! summary unchanged, and a 10,000-app version bump that fits a pull request comment.

use serde_json::json;

use crate::model::{AppPlan, Audit, AuditStatus, Observed, Record};
use crate::plan::Plan;
use crate::plan::tests::*;
use crate::view::group::{self, generic};
use crate::view::plan::{self as render, GROUP_OVER, Layout};

/// A pull request comment's limit, in characters.
const COMMENT_LIMIT: usize = 65_536;

/// App `i` (`shop-00007`, `wx0000000000000007`) going from 1.4.0 to 1.5.0, its ext changing
/// `theme` from green to red and keeping its own `shopId`.
pub(super) fn bump(i: usize) -> AppPlan {
    let (name, appid) = (format!("shop-{i:05}"), format!("wx{i:016}"));
    let mut d = desired_named(&name, &appid);
    let ext = json!({"shopId": i.to_string(), "theme": "red"});
    d.ext_json = json!({"ext": ext, "extAppid": appid, "extEnable": true}).to_string();
    let record = Record {
        last_ext: Some(json!({"shopId": i.to_string(), "theme": "green"})),
        ..Record::default()
    };
    plan(&d, &steady_old(), &record)
}

/// App `i` whose audit `id` of the wanted build was rejected for `why`.
pub(super) fn rejected(i: usize, id: &str, why: &str) -> AppPlan {
    let o = Observed {
        experience: Some(wanted_build()),
        audit: Some(Audit {
            reason: Some(why.to_owned()),
            ..audit(id, wanted_build(), AuditStatus::Rejected)
        }),
        ..steady_old()
    };
    let name = format!("bad-{i}");
    plan(
        &desired_named(&name, &format!("wx9{i:015}")),
        &o,
        &Record::default(),
    )
}

/// App `i`, not authorized.
fn unauthorized(i: usize) -> AppPlan {
    let name = format!("gone-{i}");
    let d = desired_named(&name, &format!("wx8{i:015}"));
    plan(&d, &Observed::default(), &Record::default())
}

fn plan_of(apps: Vec<AppPlan>) -> Plan {
    Plan {
        apps,
        audit_budget: None,
        unobserved: Vec::new(),
        rollout: None,
    }
}

#[test]
fn apps_with_steps_of_the_same_shape_are_told_once_with_a_count_and_names() {
    let text = group::text(&plan_of((0..5).map(bump).collect()), false);
    assert!(
        text.starts_with(
            "~ 5 apps on wechat: commit 1.5.0 → submit audit → wait for audit → release to 100%\n\
             \x20   shop-00000, shop-00001, shop-00002 and 2 more\n\
             \x20   + commit 1.5.0\n\
             \x20       experience version is 1.4.0; the fleet wants 1.5.0\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("    ~ release to 100%   (after approval)\n"),
        "{text}"
    );
    assert!(
        !text.contains("[mf:"),
        "fingerprints differ per app: {text}"
    );
    assert_eq!(text.matches("shop-").count(), 3, "{text}");
}

#[test]
fn apps_with_other_steps_stand_apart_in_their_own_blocks() {
    let mut apps: Vec<AppPlan> = (0..4).map(bump).collect();
    let mut gray = desired_named("tea-gray", "wx7777777777777777");
    gray.gray = 10;
    apps.insert(1, plan(&gray, &approved(), &Record::default()));
    let text = group::text(&plan_of(apps), false);
    assert!(
        text.starts_with("~ 4 apps on wechat: commit 1.5.0"),
        "{text}"
    );
    assert!(
        text.contains(
            "\n~ tea-gray (wechat wx7777777777777777) 1.5.0 [mf:1a2b3c4d]\n    ~ gray → 10% [mf:1a2b3c4d]\n"
        ),
        "a lone app keeps its full block: {text}"
    );
    let group_at = text.find("4 apps").unwrap();
    assert!(text.find("tea-gray").unwrap() > group_at, "groups first");
}

#[test]
fn the_ext_summary_names_the_keys_that_differ_and_those_that_change_everywhere() {
    let mut apps: Vec<AppPlan> = (0..3).map(bump).collect();
    let lines = |apps: &[AppPlan]| {
        let text = group::text(&plan_of(apps.to_vec()), false);
        text.lines()
            .filter(|l| l.contains("ext") || l.contains("changes in"))
            .map(str::trim)
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        lines(&apps),
        [
            "ext differs between apps only in `shopId`",
            "changes in every app: `theme` (\"green\" → \"red\")"
        ]
    );
    // One app also adds a key; one had no last applied ext (a fresh store).
    let change = apps[1].ext_change.as_mut().unwrap();
    change.after["promo"] = json!("spring");
    apps[2].ext_change.as_mut().unwrap().before = None;
    assert_eq!(
        lines(&apps),
        [
            "ext differs between apps only in `promo`, `shopId`",
            "changes in every app: `theme` (\"green\" → \"red\")",
            "changes in some apps: `promo` (1 of 2)",
            "no last applied ext is known here for 1 app (new, or a fresh store)"
        ]
    );
    // The other keys of ext.json change in two apps.
    for app in &mut apps[..2] {
        let change = app.ext_change.as_mut().unwrap();
        change.others_after = Some(json!({"window": {"navigationBarTitleText": "Tea"}}));
    }
    apps[1].ext_change.as_mut().unwrap().others_before = Some(json!({"tabBar": {}}));
    assert_eq!(
        lines(&apps)[3],
        "ext.json beside ext changes in 2 apps: `tabBar`, `window`"
    );
}

#[test]
fn failed_and_unauthorized_apps_group_by_the_shape_of_their_reason() {
    let apps = vec![
        rejected(1, "103", "the menu page shows no prices"),
        unauthorized(1),
        rejected(2, "207", "the logo is blurred"),
        rejected(3, "311", "the menu page shows no prices"),
        unauthorized(2),
    ];
    let text = group::text(&plan_of(apps), false);
    assert!(
        text.starts_with(
            "! 3 apps on wechat failed: audit was rejected\n    bad-1, bad-2, bad-3\n    \
             failed (2 apps, e.g. bad-1): audit 103 was rejected: the menu page shows no prices; \
             change the version or ext to resubmit\n    failed (bad-2): audit 207 was rejected: \
             the logo is blurred; change the version or ext to resubmit\n\n"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "! 2 apps on wechat are not authorized: the app has not authorized the third-party \
             platform (no refresh token)\n    gone-1, gone-2\n    not authorized (gone-1): "
        ),
        "{text}"
    );
}

#[test]
fn the_grouped_text_ends_with_the_same_summary_lines() {
    let mut apps: Vec<AppPlan> = (0..25).map(bump).collect();
    apps.push(rejected(1, "103", "no prices"));
    let plan = plan_of(apps);
    let per_app = render::text(&plan, false);
    let grouped = group::text(&plan, false);
    let footer = |t: &str| {
        t.lines()
            .rev()
            .take(2)
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert_eq!(footer(&grouped), footer(&per_app));
    assert!(grouped.ends_with(
        "Plan incomplete: 25 commits, 25 audits, 25 releases · 1 failed\nIncomplete: 1 of 26 \
         apps is not planned through (1 failed); see the errors on stderr\n"
    ));
}

#[test]
fn more_than_a_screenful_of_apps_is_grouped_unless_asked_otherwise() {
    let plan = |n| plan_of((0..n).map(bump).collect());
    let (few, many) = (plan(GROUP_OVER), plan(GROUP_OVER + 1));
    assert_eq!(
        render::text_as(&few, false, Layout::Auto),
        render::text(&few, false)
    );
    assert_eq!(
        render::text_as(&many, false, Layout::Auto),
        group::text(&many, false)
    );
    assert_eq!(
        render::text_as(&many, false, Layout::PerApp),
        render::text(&many, false)
    );
    assert_eq!(
        render::text_as(&few, false, Layout::Grouped),
        group::text(&few, false)
    );
}

#[test]
fn a_ten_thousand_app_version_bump_fits_a_pull_request_comment() {
    let mut apps: Vec<AppPlan> = (0..9_997).map(bump).collect();
    apps.insert(17, rejected(1, "103", "the menu page shows no prices"));
    apps.insert(4_000, rejected(2, "207", "the logo is blurred"));
    apps.push(rejected(3, "311", "the menu page shows no prices"));
    let plan = plan_of(apps);
    let per_app = render::text(&plan, false);
    let grouped = render::text_as(&plan, false, Layout::Auto);
    assert!(
        per_app.chars().count() > 20 * COMMENT_LIMIT,
        "one block per app is far too long for a review"
    );
    assert!(
        grouped.chars().count() < COMMENT_LIMIT,
        "{} characters",
        grouped.chars().count()
    );
    assert!(grouped.starts_with(
        "~ 9,997 apps on wechat: commit 1.5.0 → submit audit → wait for audit → release to 100%\n"
    ));
    assert!(grouped.contains("\n    shop-00000, shop-00001, shop-00002 and 9,994 more\n"));
    assert!(grouped.contains("ext differs between apps only in `shopId`"));
    assert!(grouped.contains("\n! 3 apps on wechat failed: audit was rejected\n"));
    assert!(
        !grouped.contains("not shown"),
        "nothing is left out: {grouped}"
    );
    assert!(grouped.ends_with(&per_app[per_app.find("Plan incomplete:").unwrap()..]));
}

#[test]
fn a_plan_too_varied_to_group_is_cut_short_and_says_so() {
    // Every app on its own version: no two share a shape.
    let apps: Vec<AppPlan> = (0..10_000)
        .map(|i| {
            let mut d = desired_named(&format!("shop-{i:05}"), &format!("wx{i:016}"));
            d.version = format!("1.{i}.0");
            plan(&d, &steady_old(), &Record::default())
        })
        .collect();
    let plan = plan_of(apps);
    let text = group::text(&plan, false);
    assert!(text.chars().count() < COMMENT_LIMIT, "{}", text.len());
    assert!(
        text.starts_with("~ shop-00000 (wechat"),
        "lone apps in fleet order"
    );
    let cut = text
        .lines()
        .find(|l| l.contains("more apps not shown"))
        .expect("says what is left out");
    assert!(
        cut.ends_with("not shown, to keep this short: `--no-group` or `-o json` lists every app"),
        "{cut}"
    );
    assert!(text.ends_with(&format!("{}\n", render::summary_line(&plan.summary()))));
}

#[test]
fn generic_text_drops_fingerprints_and_audit_ids() {
    assert_eq!(
        generic("audit 102 of build 1.5.0 [mf:1a2b3c4d] is in review"),
        "audit of build 1.5.0 is in review"
    );
    assert_eq!(
        generic("withdraw audit 101 [mf:5e6f7a8b]"),
        "withdraw audit"
    );
    assert_eq!(generic("release [mf:1a2b3c4d] to 100%"), "release to 100%");
    assert_eq!(
        generic("wxa/commit failed with 85013"),
        "wxa/commit failed with 85013"
    );
    assert_eq!(generic("odd [mf:not a tag"), "odd [mf:not a tag");
}

#[test]
fn a_fresh_store_of_many_apps_in_sync_groups_its_tester_verifications() {
    // A CI runner's empty store against 1,000 apps in sync, each with the same two testers.
    let apps: Vec<AppPlan> = (0..1_000)
        .map(|i| {
            let mut d = desired_named(&format!("shop-{i:05}"), &format!("wx{i:016}"));
            d.testers = vec!["ops-li01".into(), "qa-wang02".into()];
            let members = vec![format!("{i}a"), format!("{i}b")];
            let o = Observed {
                members,
                ..released(None)
            };
            plan(&d, &o, &Record::default())
        })
        .collect();
    let plan = plan_of(apps);
    assert!(!plan.has_changes());
    let text = render::text_as(&plan, false, Layout::Auto);
    assert_eq!(
        text,
        "? 1,000 apps on wechat in sync; verify tester `ops-li01` → verify tester `qa-wang02`\n    \
         shop-00000, shop-00001, shop-00002 and 997 more\n    ? verify tester `ops-li01`\n        \
         the tester map has no entry for `ops-li01`: it may be bound as one of the 2 unknown \
         members\n    ? verify tester `qa-wang02`\n        the tester map has no entry for \
         `qa-wang02`: it may be bound as one of the 2 unknown members\n    note: unverified: 2 \
         testers, no tester map here (WeChat only shows opaque member ids); `reconcile` binds \
         them, which is harmless if they are bound already\n\nPlan: no changes · 1000 in sync \
         · 2000 testers unverified\n"
    );
}
