//! End-to-end: a plan of more apps than fit a screen is grouped (`plan --group`, the default past
//! 20 apps with steps), `--no-group` keeps one block per app, and `-o json` lists every app.

mod common;

use common::{App, TestFleet, code, text};

/// A `'static` copy of `s`, for the fleet builder's fields.
fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

/// 30 new WeChat apps, each with its own `shopId`.
fn thirty() -> TestFleet {
    let fleet = TestFleet::new();
    let apps: Vec<App> = (0..30)
        .map(|i| App {
            ext: leak(format!("{{ shopId: \"{i}\" }}")),
            ..App::new(
                leak(format!("shop-{i:02}")),
                leak(format!("wx{:016}", 1000 + i)),
            )
        })
        .collect();
    fleet.write(&apps);
    fleet
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_plan_of_thirty_apps_is_grouped_and_its_json_still_lists_every_app() {
    let fleet = thirty();
    let out = fleet.run(&["plan", "--group"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let grouped = stdout(&out);
    assert!(
        grouped.starts_with(
            "~ 30 apps on wechat: commit 1.0.0 → submit audit → wait for audit → release to \
             100%\n    shop-00, shop-01, shop-02 and 27 more\n    + commit 1.0.0\n"
        ),
        "{grouped}"
    );
    assert!(
        grouped.contains("        ext differs between apps in `shopId`\n"),
        "{grouped}"
    );
    assert!(
        grouped.contains("\nPlan: 30 commits, 30 audits, 30 releases\n"),
        "{grouped}"
    );
    assert!(!grouped.contains("shop-03"), "only a few names: {grouped}");

    let by_default = fleet.run(&["plan"]);
    assert_eq!(stdout(&by_default), grouped, "more than 20 apps: grouped");
    let dry_run = fleet.run(&["reconcile", "--dry-run", "--group"]);
    assert_eq!(stdout(&dry_run), grouped);

    let per_app = stdout(&fleet.run(&["plan", "--no-group"]));
    let blocks = per_app.lines().filter(|l| l.starts_with("~ shop-")).count();
    assert_eq!(blocks, 30, "{per_app}");
    assert!(per_app.contains("\nPlan: 30 commits, 30 audits, 30 releases\n"));

    let out = fleet.run(&["plan", "--group", "-o", "json"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("plan JSON");
    let names: Vec<&str> = doc["apps"]
        .as_array()
        .expect("apps")
        .iter()
        .map(|a| a["name"].as_str().expect("name"))
        .collect();
    let wanted: Vec<String> = (0..30).map(|i| format!("shop-{i:02}")).collect();
    assert_eq!(names, wanted, "every app, in fleet order");
    assert!(doc["apps"][7]["ext_change"]["after"]["shopId"] == "7");
}

#[test]
fn group_and_no_group_cannot_be_asked_together_and_are_in_the_help() {
    let fleet = thirty();
    let out = fleet.run(&["plan", "--group", "--no-group"]);
    assert_eq!(code(&out), 2, "{}", text(&out));
    assert!(text(&out).contains("cannot be used with"), "{}", text(&out));
    let help = stdout(&fleet.run(&["plan", "--help"]));
    assert!(help.contains("--group"), "{help}");
    assert!(help.contains("--no-group"), "{help}");
    let help = stdout(&fleet.run(&["reconcile", "--help"]));
    assert!(help.contains("--group"), "{help}");
}
