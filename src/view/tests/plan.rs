//! Summary counts, the summary line's grammar, colours and the JSON shape (the full text and
//! JSON are pinned by snapshots in `plan_snapshots`).

use crate::model::{AppState, Observed, Record};
use crate::plan::tests::*;
use crate::plan::{Plan, Summary};
use crate::view::plan::{self as render, FORMAT_VERSION, incomplete_line, summary_line};

#[test]
fn the_summary_counts_every_step_and_every_state() {
    let summary = sample_plan().summary();
    assert_eq!(
        summary,
        Summary {
            commits: 2,
            audits: 2,
            withdrawals: 1,
            deletions: 0,
            releases: 5,
            tester_changes: 1,
            settings: 0,
            unverified_testers: 0,
            in_sync: 1,
            waiting_on_audit: 1,
            failed: 1,
            not_authorized: 1,
            suspended: 0,
            graying: 0,
            not_observed: 0,
            changed_apps: 4,
        }
    );
}

#[test]
fn the_summary_line_follows_the_grammar() {
    let summary = Summary {
        commits: 3,
        audits: 2,
        releases: 1,
        tester_changes: 4,
        in_sync: 12,
        waiting_on_audit: 1,
        ..Summary::default()
    };
    assert_eq!(
        summary_line(&summary),
        "Plan: 3 commits, 2 audits, 1 release, 4 tester changes · 12 in sync · 1 waiting on audit"
    );
    let summary = Summary {
        commits: 1,
        audits: 1,
        withdrawals: 2,
        tester_changes: 1,
        failed: 2,
        not_authorized: 1,
        ..Summary::default()
    };
    assert_eq!(
        summary_line(&summary),
        "Plan incomplete: 1 commit, 1 audit, 2 withdrawals, 1 tester change · 2 failed · 1 not \
         authorized"
    );
    assert_eq!(
        incomplete_line(&summary).as_deref(),
        Some(
            "Incomplete: 3 of 3 apps are not planned through (2 failed, 1 is not authorized); \
             see the errors on stderr"
        )
    );
}

#[test]
fn a_plan_without_mutations_says_no_changes() {
    let summary = Summary {
        in_sync: 12,
        ..Summary::default()
    };
    assert_eq!(summary_line(&summary), "Plan: no changes · 12 in sync");
    assert_eq!(incomplete_line(&summary), None);
    let unobserved = Summary {
        in_sync: 5,
        not_observed: 2,
        ..Summary::default()
    };
    assert_eq!(
        summary_line(&unobserved),
        "Plan incomplete: no changes · 5 in sync · 2 not observed"
    );
    assert!(!summary.has_steps());
    assert!(sample_plan().summary().has_steps());
    assert_eq!(summary_line(&Summary::default()), "Plan: no changes");
}

#[test]
fn apps_in_sync_are_only_counted() {
    let d = desired();
    let (o, r) = (
        Observed {
            experience: Some(wanted_build()),
            live: live(wanted_build(), None),
            ..observed()
        },
        Record::default(),
    );
    let plan = Plan {
        apps: vec![plan(&d, &o, &r), plan(&d, &o, &r)],
        audit_budget: None,
        unobserved: Vec::new(),
        rollout: None,
    };
    assert_eq!(plan.apps[0].state, AppState::InSync);
    assert_eq!(render::text(&plan, false), "Plan: no changes · 2 in sync\n");
}

#[test]
fn colour_is_added_only_when_asked() {
    let plan = sample_plan();
    let plain = render::text(&plan, false);
    assert!(!plain.contains('\x1b'));
    assert!(plain.contains("    + commit 1.5.0 [mf:1a2b3c4d]\n"));
    let coloured = render::text(&plan, true);
    assert!(coloured.contains("    \x1b[32m+ commit 1.5.0 [mf:1a2b3c4d]\x1b[0m\n"));
    assert!(coloured.contains("\x1b[33m~ gray → 10% [mf:1a2b3c4d]   (after approval)\x1b[0m"));
    assert!(coloured.contains("\x1b[31m- withdraw audit 101 [mf:5e6f7a8b]\x1b[0m"));
    assert!(coloured.contains("\x1b[36m< roll back to [mf:1a2b3c4d]\x1b[0m"));
    assert!(coloured.contains("\x1b[32m+  \"theme\": \"red\"\x1b[0m"));
}

#[test]
fn the_text_shows_reasons_diffs_and_failures() {
    let text = render::text(&sample_plan(), false);
    assert!(text.starts_with("~ tea-house (wechat wx1111111111111111) 1.5.0 [mf:1a2b3c4d]\n"));
    assert!(text.contains("          -  \"theme\": \"green\"\n"));
    assert!(text.contains("          +  \"theme\": \"red\"\n"));
    assert!(text.contains("    failed: audit 103 was rejected: the menu page shows no prices"));
    assert!(text.contains("    not authorized: the app has not authorized"));
    assert!(!text.contains("dumpling-king"));
    assert!(text.ends_with(
        "Plan incomplete: 2 commits, 2 audits, 1 withdrawal, 5 releases, 1 tester change · 1 in \
         sync · 1 waiting on audit · 1 failed · 1 not authorized\nIncomplete: 2 of 8 apps are \
         not planned through (1 failed, 1 is not authorized); see the errors on stderr\n"
    ));
}

#[test]
fn the_json_lists_every_app_with_stable_fields() {
    let value = render::json(&sample_plan());
    assert_eq!(value["format_version"], FORMAT_VERSION);
    assert_eq!(value["summary"]["releases"], 5);
    let apps = value["apps"].as_array().unwrap();
    assert_eq!(apps.len(), 8);
    assert_eq!(apps[0]["name"], "tea-house");
    assert_eq!(apps[0]["state"], "changes");
    assert_eq!(apps[0]["steps"][1]["kind"], "commit");
    assert_eq!(apps[0]["steps"][1]["fingerprint"], FP);
    assert!(apps[0]["steps"][1]["reason"].is_string());
    assert_eq!(apps[0]["ext_change"]["before"]["theme"], "green");
    assert_eq!(apps[2]["state"], "in_sync");
    assert_eq!(apps[3]["state"], "failed");
    assert!(apps[3]["reason"].as_str().unwrap().starts_with("audit 103"));
    assert_eq!(apps[4]["state"], "not_authorized");
}
