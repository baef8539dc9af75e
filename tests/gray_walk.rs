//! End-to-end gray walks (`gray: { steps, hold }`): the real binary against a standalone sandbox
//! on loopback, counted from the sandbox's own records — each step comes only after the one
//! before has held, on WeChat (after a full first release, as it demands) and on Alipay
//! (p10 → p30 → online); a walk whose hold has not passed shows its step and when the next is due.

mod common;

use common::{App, app_plan, code, fleet_on_sandbox, records, text};

/// The calls of `app` at or after `since_ms` whose name is one of `calls`, as (call, at_ms).
fn walk_calls(url: &str, app: &str, calls: &[&str], since_ms: u64) -> Vec<(String, u64)> {
    records(url)
        .into_iter()
        .filter(|r| r.app == app && r.at_ms >= since_ms && calls.contains(&r.call.as_str()))
        .map(|r| (r.call, r.at_ms))
        .collect()
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// Asserts the walk's calls are `expected` in order, each at least `hold_ms` after the one before.
fn assert_walked(calls: &[(String, u64)], expected: &[&str], hold_ms: u64) {
    let names: Vec<&str> = calls.iter().map(|(c, _)| c.as_str()).collect();
    assert_eq!(names, expected, "{calls:?}");
    for pair in calls.windows(2) {
        let gap = pair[1].1 - pair[0].1;
        assert!(
            gap >= hold_ms,
            "a step came {gap} ms after the one before: {calls:?}"
        );
    }
}

/// Writes `app` (walking `[a, b, 100]`, a 2 s hold), waits until it converges, and asserts from
/// the sandbox's records that its walk took `[gray, gray, release]` (the platform's calls), each
/// at least the hold after the one before.
fn walks_through(fleet: &common::TestFleet, url: &str, app: &App, [gray, release]: [&str; 2]) {
    fleet.write(std::slice::from_ref(app));
    let since = now_ms();
    let out = fleet.wait("60s");
    assert_eq!(code(&out), 0, "the walk converges:\n{}", text(&out));
    let calls = walk_calls(url, app.appid, &[gray, release], since);
    assert_walked(&calls, &[gray, gray, release], 2000);
}

#[test]
fn a_wechat_walk_raises_step_by_step_after_each_hold_and_ends_in_a_full_release() {
    let (sandbox, fleet) = fleet_on_sandbox();
    let mut app = App {
        walk: "{ steps: [5, 20, 100], hold: 2s }",
        ..App::new("tea-house", "wx1111111111111111")
    };
    fleet.write(std::slice::from_ref(&app));
    let first = fleet.run(&["plan"]);
    assert!(
        text(&first).contains("first release cannot be gray"),
        "{}",
        text(&first)
    );
    fleet.converge();

    app.version = "1.1.0";
    walks_through(
        &fleet,
        &sandbox.url,
        &app,
        ["wxa/grayrelease", "wxa/release"],
    );
    let status = fleet.status_json();
    let live = common::live_text(app_plan(&status, "tea-house"));
    assert!(
        live.starts_with("1.1.0 [mf:") && !live.contains("gray"),
        "{live}"
    );
}

/// `tea-house` released at 1.0.0 on a standalone sandbox, its fleet entry now wanting 1.1.0
/// walked 5 → 20 → 100 % an hour a step.
fn an_hour_long_walk() -> (common::SandboxProcess, common::TestFleet, App) {
    let (sandbox, fleet) = fleet_on_sandbox();
    let mut app = App::new("tea-house", "wx1111111111111111");
    fleet.write(std::slice::from_ref(&app));
    fleet.converge();
    app.version = "1.1.0";
    app.walk = "{ steps: [5, 20, 100], hold: 1h }";
    fleet.write(std::slice::from_ref(&app));
    (sandbox, fleet, app)
}

#[test]
fn a_walk_that_has_not_held_long_enough_shows_its_step_and_when_the_next_is_due() {
    let (sandbox, fleet, _) = an_hour_long_walk();
    let out = fleet.wait("8s");
    assert_eq!(
        code(&out),
        3,
        "an hour's hold outlasts the wait:\n{}",
        text(&out)
    );
    assert!(
        text(&out)
            .contains("cannot converge within `--timeout`: gray walk at 5%: the 20% step is due"),
        "{}",
        text(&out)
    );
    let before = now_ms() / 1000;
    let plan = fleet.plan_json();
    let app_doc = app_plan(&plan, "tea-house");
    assert_eq!(app_doc["state"], "graying", "{app_doc}");
    assert_eq!(app_doc["steps"], serde_json::json!([]), "{app_doc}");
    assert_eq!(app_doc["walk"]["percent"], 5);
    assert_eq!(app_doc["walk"]["next"], 20);
    let due = app_doc["walk"]["due"].as_u64().expect("a due time");
    assert!(
        due > before + 3500 && due <= before + 3601,
        "the next step is due an hour after the first began: {due} vs now {before}"
    );
    let calls = walk_calls(
        &sandbox.url,
        "wx1111111111111111",
        &["wxa/grayrelease", "wxa/release"],
        0,
    );
    let grays = calls.iter().filter(|(c, _)| c == "wxa/grayrelease").count();
    assert_eq!(grays, 1, "only the first step: {calls:?}");
    let status = fleet.status_json();
    let row = app_plan(&status, "tea-house");
    assert_eq!(row["state"], "graying", "{row}");
    assert!(
        row["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("gray walk at 5%: the 20% step is due 20")),
        "{row}"
    );
    let human = fleet.run(&["plan"]);
    assert!(
        text(&human).contains("gray walk at 5%: the 20% step is due 20"),
        "{}",
        text(&human)
    );
}

#[test]
fn an_alipay_walk_goes_p10_p30_then_online() {
    let (sandbox, fleet) = fleet_on_sandbox();
    let app = App {
        walk: "{ steps: [10, 30, 100], hold: 2s }",
        ..App::alipay("rice-bowl", "2021004100000001")
    };
    let calls = [
        "alipay.open.mini.version.gray.online",
        "alipay.open.mini.version.online",
    ];
    walks_through(&fleet, &sandbox.url, &app, calls);
}

#[test]
fn a_rollback_in_the_console_aborts_the_walk_until_the_fleet_wants_another_build() {
    let (sandbox, fleet, mut app) = an_hour_long_walk();
    assert_eq!(code(&fleet.wait("8s")), 3, "walking at 5%");
    let remote = minifleet::sandbox::RemoteSandbox::new(&sandbox.url);
    let reverted = common::block_on(remote.console_revert_gray("wx1111111111111111")).unwrap();
    assert!(reverted, "a gray ran");

    let out = fleet.wait("8s");
    let all = text(&out);
    assert_eq!(code(&out), 1, "the walk is aborted, as a failure: {all}");
    assert!(all.contains("gray walk failed with rolled_back"), "{all}");
    assert!(all.contains("was rolled back at 5% (1.0.0 [mf:"), "{all}");
    let grays = walk_calls(&sandbox.url, "wx1111111111111111", &["wxa/grayrelease"], 0);
    assert_eq!(grays.len(), 1, "never grayed again: {grays:?}");
    let plan = fleet.plan_json_exiting(1);
    assert_eq!(app_plan(&plan, "tea-house")["state"], "failed", "{plan}");

    app.version = "1.2.0";
    fleet.write(std::slice::from_ref(&app));
    let plan = fleet.plan_json();
    assert_eq!(
        common::step_kinds(&plan, "tea-house"),
        ["commit", "submit_audit", "wait_for_audit", "gray"],
        "another build walks again: {plan}"
    );
}
