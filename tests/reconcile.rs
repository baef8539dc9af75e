//! End-to-end: the real binary against the embedded sandbox over loopback.

mod common;

use common::{App, TestFleet, app_plan, code, step_kinds, text};

fn two_apps() -> Vec<App> {
    vec![
        App {
            testers: "[ops-li01]",
            ..App::new("tea-house", "wx1111111111111111")
        },
        App {
            ext: "{ shopId: \"2\", theme: red }",
            ..App::new("noodle-bar", "wx2222222222222222")
        },
    ]
}

#[test]
fn first_dry_run_lists_the_commits_and_exits_2() {
    let fleet = TestFleet::new();
    fleet.write(&two_apps());
    let out = fleet.run(&["reconcile", "--dry-run", "--detailed-exitcode"]);
    assert_eq!(code(&out), 2, "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("tea-house"), "{stdout}");
    assert!(stdout.contains("noodle-bar"), "{stdout}");
    assert!(stdout.contains("commit 1.0.0"), "{stdout}");
    assert!(
        stdout.contains("Plan: 2 commits, 2 audits, 2 releases, 1 tester change"),
        "{stdout}"
    );

    let plan = fleet.plan_json();
    assert_eq!(plan["format_version"], 1);
    assert_eq!(
        step_kinds(&plan, "tea-house"),
        [
            "bind_tester",
            "commit",
            "submit_audit",
            "wait_for_audit",
            "release"
        ]
    );
    // A dry run changes nothing: the plan is the same the second time.
    assert_eq!(fleet.plan_json()["apps"], plan["apps"]);
}

#[test]
fn reconcile_wait_converges_and_the_next_dry_run_exits_0() {
    let fleet = TestFleet::new();
    fleet.write(&two_apps());
    let out = fleet.converge();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("Done:"), "{}", text(&out));
    assert!(stdout.contains("2 in sync"), "{}", text(&out));

    let again = fleet.run(&["reconcile", "--dry-run", "--detailed-exitcode"]);
    assert_eq!(code(&again), 0, "{}", text(&again));
    assert!(String::from_utf8_lossy(&again.stdout).contains("Plan: no changes · 2 in sync"));

    let status = fleet.status_json();
    for app in ["tea-house", "noodle-bar"] {
        let row = app_plan(&status, app);
        assert_eq!(row["state"], "in_sync", "{status}");
        assert!(common::live_text(row).starts_with("1.0.0 [mf:"), "{status}");
    }
    let history = fleet.run(&["history", "tea-house"]);
    let history = String::from_utf8_lossy(&history.stdout);
    for what in ["bind_tester", "commit", "submit_audit", "release"] {
        assert!(history.contains(what), "history lacks {what}:\n{history}");
    }
    // The audit verdict is history too, once.
    let approvals = history
        .lines()
        .filter(|l| l.contains(" audit ") && l.contains("approved"))
        .count();
    assert_eq!(approvals, 1, "{history}");
}

#[test]
fn editing_one_apps_ext_shows_that_diff_and_plans_one_commit() {
    let fleet = TestFleet::new();
    let mut apps = two_apps();
    fleet.write(&apps);
    fleet.converge();

    apps[1].ext = "{ shopId: \"2\", theme: blue }";
    fleet.write(&apps);
    let out = fleet.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(code(&out), 2, "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("-  \"theme\": \"red\""), "{stdout}");
    assert!(stdout.contains("+  \"theme\": \"blue\""), "{stdout}");
    assert!(
        !stdout.contains("tea-house"),
        "only noodle-bar changes:\n{stdout}"
    );
    assert!(
        stdout.contains("Plan: 1 commit, 1 audit, 1 release"),
        "{stdout}"
    );

    let plan = fleet.plan_json();
    assert_eq!(step_kinds(&plan, "tea-house"), Vec::<String>::new());
    assert_eq!(
        step_kinds(&plan, "noodle-bar"),
        ["commit", "submit_audit", "wait_for_audit", "release"]
    );
}

#[test]
fn an_invalid_fleet_exits_1_with_every_error_and_touches_nothing() {
    let fleet = TestFleet::new();
    fleet.write(&two_apps());
    fleet.converge();
    let before = snapshot(&fleet.store());

    let broken = std::fs::read_to_string(fleet.path())
        .unwrap()
        .replace("gray: 100", "gary: 100")
        .replace("version: 1.0.0", "version: one");
    fleet.write_raw(&broken);
    for args in [
        &["validate"][..],
        &["reconcile"],
        &["reconcile", "--dry-run"],
    ] {
        let out = fleet.run(args);
        assert_eq!(code(&out), 1, "{}", text(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("unknown key `gary`"), "{stderr}");
        assert!(stderr.contains("did you mean `gray`?"), "{stderr}");
        assert!(stderr.contains("apps[0]"), "{stderr}");
        assert!(stderr.contains("apps[1]"), "{stderr}");
        assert!(
            stderr.contains("tea-house") && stderr.contains("noodle-bar"),
            "{stderr}"
        );
    }
    assert_eq!(
        before,
        snapshot(&fleet.store()),
        "the store must be untouched"
    );
}

#[test]
fn an_invalid_fleet_creates_no_store() {
    let fleet = TestFleet::new();
    fleet.write_raw("version: 1\napps: [ { name: x } ]\n");
    let out = fleet.run(&["reconcile"]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    assert!(!fleet.store().exists());
}

#[test]
fn a_rejected_audit_ends_failed_with_the_reason_and_is_not_resubmitted() {
    let mut fleet = TestFleet::new();
    fleet.sandbox_extra =
        "  reject:\n    - when_ext: { theme: neon }\n      reason: Neon theme breaks the content rules\n"
            .into();
    let mut apps = vec![
        App {
            ext: "{ shopId: \"9\", theme: neon }",
            ..App::new("neon-bar", "wx9999999999999999")
        },
        App::new("calm-cafe", "wx8888888888888888"),
    ];
    fleet.write(&apps);
    let out = fleet.run(&[
        "reconcile",
        "--wait",
        "--interval",
        "200ms",
        "--timeout",
        "60s",
    ]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    let all = text(&out);
    assert!(all.contains("neon-bar"), "{all}");
    assert!(all.contains("Neon theme breaks the content rules"), "{all}");
    assert!(
        all.contains("1 in sync"),
        "calm-cafe still converges:\n{all}"
    );

    let history = fleet.run(&["history", "neon-bar", "-o", "json"]);
    let history: serde_json::Value = serde_json::from_slice(&history.stdout).unwrap();
    let rejected: Vec<&serde_json::Value> = history["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["what"] == "audit" && e["result"] == "rejected")
        .collect();
    assert_eq!(
        rejected.len(),
        1,
        "the verdict is in history once: {history}"
    );
    assert!(
        rejected[0]["detail"]
            .as_str()
            .unwrap()
            .contains("Neon theme breaks the content rules"),
        "{history}"
    );
    // A failed app makes the plan incomplete: exit 1, not "nothing to do".
    let plan = fleet.plan_json_exiting(1);
    assert_eq!(plan["incomplete"], true);
    assert_eq!(app_plan(&plan, "neon-bar")["state"], "failed");
    assert!(
        step_kinds(&plan, "neon-bar").is_empty(),
        "no resubmission: {plan}"
    );

    // A new fingerprint lifts the failure.
    apps[0].ext = "{ shopId: \"9\", theme: calm }";
    fleet.write(&apps);
    assert_eq!(
        step_kinds(&fleet.plan_json(), "neon-bar"),
        ["commit", "submit_audit", "wait_for_audit", "release"]
    );
}

#[test]
fn gray_goes_up_from_10_to_50() {
    let fleet = TestFleet::new();
    let mut app = App {
        gray: 10,
        ..App::new("tea-house", "wx1111111111111111")
    };
    fleet.write(std::slice::from_ref(&app));
    let first = fleet.run(&["plan"]);
    assert!(
        String::from_utf8_lossy(&first.stdout).contains("first release cannot be gray"),
        "{}",
        text(&first)
    );
    fleet.converge();

    app.version = "1.1.0";
    fleet.write(std::slice::from_ref(&app));
    let plan = fleet.plan_json();
    assert_eq!(
        step_kinds(&plan, "tea-house"),
        ["commit", "submit_audit", "wait_for_audit", "gray"]
    );
    fleet.converge();
    let live = |f: &TestFleet| common::live_text(app_plan(&f.status_json(), "tea-house"));
    assert!(live(&fleet).ends_with("gray 10%"), "{}", live(&fleet));

    app.gray = 50;
    fleet.write(std::slice::from_ref(&app));
    let plan = fleet.plan_json();
    let steps = app_plan(&plan, "tea-house")["steps"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(steps.len(), 1, "{plan}");
    assert_eq!(steps[0]["kind"], "gray");
    assert_eq!(steps[0]["from"], 10);
    assert_eq!(steps[0]["to"], 50);
    fleet.converge();
    assert!(live(&fleet).ends_with("gray 50%"), "{}", live(&fleet));
}

#[test]
fn going_back_to_the_previous_release_rolls_back_without_an_audit() {
    let fleet = TestFleet::new();
    let mut app = App::new("tea-house", "wx1111111111111111");
    fleet.write(std::slice::from_ref(&app));
    fleet.converge();
    let v1 = app_plan(&fleet.status_json(), "tea-house")["live"].clone();

    app.version = "1.1.0";
    fleet.write(std::slice::from_ref(&app));
    fleet.converge();

    app.version = "1.0.0";
    fleet.write(std::slice::from_ref(&app));
    let out = fleet.run(&["plan"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("< "),
        "{}",
        text(&out)
    );
    assert_eq!(step_kinds(&fleet.plan_json(), "tea-house"), ["rollback"]);
    fleet.converge();
    assert_eq!(app_plan(&fleet.status_json(), "tea-house")["live"], v1);
    let history = fleet.run(&["history", "tea-house", "-o", "json"]);
    let history: serde_json::Value = serde_json::from_slice(&history.stdout).unwrap();
    let submits = history["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["what"] == "submit_audit")
        .count();
    assert_eq!(submits, 2, "the rollback needs no new audit: {history}");
}

/// Every file under `dir` with its bytes, to prove a run left the store alone.
fn snapshot(dir: &std::path::Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push((path.clone(), std::fs::read(&path).unwrap()));
            }
        }
    }
    files.sort();
    files
}

#[test]
fn wait_times_out_with_exit_3_while_an_audit_is_slow() {
    let mut fleet = TestFleet::new();
    fleet.sandbox_extra = String::new();
    fleet.write(&[App::new("slow-shop", "wx7777777777777777")]);
    let slow = std::fs::read_to_string(fleet.path())
        .unwrap()
        .replace("audit_delay: 300ms", "audit_delay: 1h");
    fleet.write_raw(&slow);
    let out = fleet.run(&[
        "reconcile",
        "--wait",
        "--interval",
        "200ms",
        "--timeout",
        "3s",
    ]);
    assert_eq!(code(&out), 3, "{}", text(&out));
    assert!(text(&out).contains("did not converge"), "{}", text(&out));
    assert_eq!(
        app_plan(&fleet.status_json(), "slow-shop")["state"],
        "waiting_on_audit"
    );
}

#[test]
fn only_and_selector_choose_apps_and_unknown_names_are_errors() {
    let fleet = TestFleet::new();
    fleet.write(&two_apps());
    let out = fleet.run(&["plan", "-o", "json", "--only", "noodle-bar"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["apps"].as_array().unwrap().len(), 1);
    assert_eq!(plan["apps"][0]["name"], "noodle-bar");

    let out = fleet.run(&["plan", "--only", "noodle-baz"]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    assert!(
        text(&out).contains("no app named `noodle-baz`"),
        "{}",
        text(&out)
    );

    let out = fleet.run(&["plan", "--selector", "nokey"]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    assert!(text(&out).contains("key=value"), "{}", text(&out));
}
