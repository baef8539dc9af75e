//! Reliability end to end: the audit quota shared out in fleet order, one failing app among many,
//! the store lock, crash-restart (SIGKILL) and flaky-platform convergence without duplicate commits
//! or submissions, counted from the sandbox's own records.

mod common;

use std::process::{Command as StdCommand, Stdio};
use std::time::{Duration, Instant};

use std::collections::BTreeMap;

use common::{App, TestFleet, code, records, spawn_sandbox, text};
use minifleet::sandbox::Accepted;

/// A fleet file of `n` WeChat apps named `app-000`…, with `extra` appended to `sandbox:`.
fn many_apps(fleet: &TestFleet, n: usize, audit_delay: &str, extra: &str, bad: Option<usize>) {
    let mut yaml = format!(
        "version: 1\n\
         platforms:\n  wechat:\n    component_appid: wx00000000000000aa\n    api_base: sandbox\n\
         templates:\n  shop:\n    wechat: {{ template_id: 7 }}\n\
         defaults:\n  template: shop\n  version: 1.0.0\n  description: Test build\n  audit:\n    items:\n      - {{ address: pages/index/index, tag: shop, first_class: 餐饮, second_class: 餐厅, first_id: 220, second_id: 225, title: Home }}\n\
         sandbox:\n  audit_delay: {audit_delay}\n  privacy_scan: 50ms\n{extra}apps:\n"
    );
    for i in 0..n {
        let shop = if bad == Some(i) { "bad" } else { "ok" };
        yaml.push_str(&format!(
            "  - name: app-{i:03}\n    platform: wechat\n    appid: \"wx{i:016x}\"\n    ext: {{ shopId: \"{shop}-{i}\" }}\n"
        ));
    }
    fleet.write_raw(&yaml);
}

#[test]
fn the_audit_quota_is_shared_in_fleet_order_and_the_rest_wait() {
    let fleet = TestFleet::new();
    many_apps(&fleet, 5, "200ms", "  audit_quota: 2\n", None);
    let plan = fleet.plan_json();
    assert_eq!(plan["audit_budget"]["planned"], 5, "{plan}");
    assert_eq!(plan["audit_budget"]["left"], 2);
    assert_eq!(plan["audit_budget"]["waiting"], 3);
    let dry = fleet.run(&["plan"]);
    assert!(
        text(&dry).contains("WeChat audit quota: 5 audits planned, 2 left this month; 3 apps wait"),
        "{}",
        text(&dry)
    );
    let out = fleet.run(&[
        "reconcile",
        "--wait",
        "--interval",
        "200ms",
        "--timeout",
        "60s",
    ]);
    let all = text(&out);
    assert_eq!(
        code(&out),
        3,
        "the three waiting apps cannot converge before the timeout: {all}"
    );
    assert!(
        all.contains("3 apps cannot converge within `--timeout`"),
        "{all}"
    );
    assert!(all.contains("2 audits submitted"), "{all}");
    assert!(all.contains("wait for the quota to reset"), "{all}");
    // The first two in fleet order went through; the others wait with a note that says why.
    let after = fleet.plan_json();
    let note = |app: &str| common::app_plan(&after, app)["notes"].to_string();
    assert_eq!(common::app_plan(&after, "app-000")["state"], "in_sync");
    assert_eq!(common::app_plan(&after, "app-001")["state"], "in_sync");
    for app in ["app-002", "app-003", "app-004"] {
        assert!(
            note(app).contains("waits for the monthly audit quota"),
            "{after}"
        );
    }
    assert_eq!(after["audit_budget"]["left"], 0, "{after}");
}

/// The fleet of the quota scheduler's test: `r0`…`r2` (r2 labelled gold) at `version`, and
/// with `with_new` a new merchant `n0` and the `quota` section.
fn quota_fleet(fleet: &TestFleet, version: &str, with_new: bool) {
    let mut yaml = format!(
        "version: 1\n\
         platforms:\n  wechat:\n    component_appid: wx00000000000000aa\n    api_base: sandbox\n\
         templates:\n  shop:\n    wechat: {{ template_id: 7 }}\n\
         defaults:\n  template: shop\n  version: {version}\n  description: Test build\n  audit:\n    items:\n      - {{ address: pages/index/index, tag: shop, first_class: 餐饮, second_class: 餐厅, first_id: 220, second_id: 225, title: Home }}\n\
         sandbox:\n  audit_delay: 200ms\n  privacy_scan: 50ms\n  audit_quota: 5\n\
         apps:\n\
         \x20 - {{ name: r0, platform: wechat, appid: wx0000000000000001 }}\n\
         \x20 - {{ name: r1, platform: wechat, appid: wx0000000000000002 }}\n\
         \x20 - {{ name: r2, platform: wechat, appid: wx0000000000000003, labels: {{ tier: gold }} }}\n"
    );
    if with_new {
        yaml.push_str(
            "  - { name: n0, platform: wechat, appid: wx0000000000000004, version: 1.0.0 }\n\
             quota:\n  reserve: 1\n  priority:\n    - { match: { tier: gold }, priority: 10 }\n",
        );
    }
    fleet.write_raw(&yaml);
}

#[test]
fn priorities_and_slots_kept_for_new_merchants_decide_who_submits_when_the_quota_is_short() {
    let fleet = TestFleet::new();
    quota_fleet(&fleet, "1.0.0", false);
    fleet.converge();
    // 3 of 5 spent. Now every app wants a new build and a new merchant arrives: 4 submissions
    // wanted, 2 left, 1 of them kept for the new merchant.
    quota_fleet(&fleet, "1.1.0", true);
    let plan = fleet.plan_json();
    let budget = &plan["audit_budget"];
    assert_eq!(
        (
            &budget["planned"],
            &budget["left"],
            &budget["waiting"],
            &budget["reserve"]
        ),
        (
            &serde_json::json!(4),
            &serde_json::json!(2),
            &serde_json::json!(2),
            &serde_json::json!(1)
        ),
        "{plan}"
    );
    assert!(budget["resets_at"].as_u64().is_some(), "{plan}");
    let steps = |app: &str| common::step_kinds(&plan, app);
    assert!(
        steps("r2").contains(&"submit_audit".to_owned()),
        "gold goes first: {plan}"
    );
    assert!(
        steps("n0").contains(&"submit_audit".to_owned()),
        "the kept slot: {plan}"
    );
    let note = |app: &str| common::app_plan(&plan, app)["notes"].to_string();
    assert!(
        note("r0").contains("number 1 in line (by priority, then fleet order)"),
        "{plan}"
    );
    assert!(note("r1").contains("number 2 in line"), "{plan}");
    assert!(!steps("r0").contains(&"submit_audit".to_owned()));
    let dry = fleet.run(&["plan"]);
    assert!(
        text(&dry).contains(
            "2 left this month (1 kept for new merchants); 2 apps wait for the quota to reset on 20"
        ),
        "{}",
        text(&dry)
    );

    let out = fleet.wait("30s");
    assert_eq!(
        code(&out),
        3,
        "r0 and r1 wait for next month: {}",
        text(&out)
    );
    let after = fleet.plan_json();
    let state = |app: &str| common::app_plan(&after, app)["state"].clone();
    assert_eq!(
        (state("r2"), state("n0")),
        ("in_sync".into(), "in_sync".into()),
        "{after}"
    );
    assert_eq!(
        (state("r0"), state("r1")),
        ("waiting_on_audit".into(), "waiting_on_audit".into())
    );
    assert_eq!(
        after["audit_budget"]["left"], 0,
        "never more than the ledger could pay: {after}"
    );
    let why = common::held_reason(&fleet, "r0");
    assert!(why.contains("number 1 in line"), "{why}");
}

#[test]
fn one_failing_app_among_many_does_not_stop_the_others_and_exits_1() {
    let fleet = TestFleet::new();
    let extra =
        "  reject:\n    - when_ext: { shopId: bad-7 }\n      reason: menu pictures are missing\n";
    many_apps(&fleet, 40, "100ms", extra, Some(7));
    let out = fleet.run(&[
        "reconcile",
        "--wait",
        "--interval",
        "200ms",
        "--timeout",
        "90s",
        "--concurrency",
        "16",
    ]);
    let all = text(&out);
    assert_eq!(code(&out), 1, "{all}");
    assert!(all.contains("app `app-007`"), "{all}");
    assert!(all.contains("menu pictures are missing"), "{all}");
    assert!(all.contains("help:"), "{all}");
    assert!(all.contains("39 in sync"), "{all}");
}

/// Waits (bounded) until `cond` holds.
fn wait_until(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_second_reconcile_fails_fast_naming_the_holder_and_a_dead_holders_lock_is_taken_over() {
    let fleet = TestFleet::new();
    many_apps(&fleet, 1, "60s", "", None);
    let mut holder = StdCommand::new(assert_cmd::cargo::cargo_bin("minifleet"))
        .arg("-f")
        .arg(fleet.path())
        .args(["reconcile", "--wait", "--timeout", "60s"])
        .env_remove("MINIFLEET_STORE")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the first reconcile");
    let lock = fleet.store().join("LOCK.json");
    wait_until("the lock record", Duration::from_secs(30), || lock.exists());
    let started = Instant::now();
    let second = fleet.run(&["reconcile"]);
    let all = text(&second);
    assert_eq!(code(&second), 1, "{all}");
    assert!(started.elapsed() < Duration::from_secs(10), "fails fast");
    assert!(all.contains(&format!("pid {}", holder.id())), "{all}");
    assert!(all.contains("on host `"), "{all}");
    assert!(all.contains("help:"), "{all}");
    holder.kill().expect("SIGKILL the holder");
    holder.wait().expect("reap the holder");
    assert!(lock.exists(), "a killed process leaves its record behind");
    let third = fleet.run(&["plan"]);
    let all = text(&third);
    assert_eq!(code(&third), 0, "{all}");
    assert!(all.contains("took over the store's lock"), "{all}");
}

#[test]
fn a_lock_left_with_a_pid_now_used_by_another_program_is_taken_over_saying_so() {
    let fleet = TestFleet::new();
    many_apps(&fleet, 1, "200ms", "", None);
    std::fs::create_dir_all(fleet.store()).unwrap();
    let mut sleeper = StdCommand::new("sleep").arg("60").spawn().expect("sleep");
    let pid = sleeper.id();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default();
    let record = format!(
        r#"{{"pid": {pid}, "host": "{host}", "since_ms": 1, "command": "minifleet reconcile"}}"#
    );
    std::fs::write(fleet.store().join("LOCK.json"), record).unwrap();
    let out = fleet.run(&["plan"]);
    sleeper.kill().ok();
    sleeper.wait().ok();
    let all = text(&out);
    assert_eq!(code(&out), 0, "{all}");
    assert!(
        all.contains(&format!(
            "took over the store's lock from pid {pid} on host `{host}` since 1970-01-01T00:00:00Z: \
             pid {pid} is alive but is not minifleet (it is `sleep`): the lock is stale"
        )),
        "{all}"
    );
    assert!(!all.contains("no longer running"), "{all}");
}

#[test]
fn every_loser_of_reconciles_started_together_names_the_holder() {
    let fleet = TestFleet::new();
    many_apps(&fleet, 1, "60s", "", None);
    // Round 0 races on a fresh store; the later ones over the record the killed holder left.
    for round in 0..3 {
        let mut racers: Vec<std::process::Child> = (0..6)
            .map(|_| {
                StdCommand::new(assert_cmd::cargo::cargo_bin("minifleet"))
                    .arg("-f")
                    .arg(fleet.path())
                    .args(["reconcile", "--wait", "--timeout", "60s"])
                    .env_remove("MINIFLEET_STORE")
                    .env("NO_COLOR", "1")
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .expect("start a reconcile")
            })
            .collect();
        let mut exited = Vec::new();
        wait_until(
            "all racers but the holder to exit",
            Duration::from_secs(60),
            || {
                for (i, racer) in racers.iter_mut().enumerate() {
                    if !exited.iter().any(|(j, _)| *j == i) {
                        if let Some(status) = racer.try_wait().expect("poll a racer") {
                            exited.push((i, status));
                        }
                    }
                }
                exited.len() >= racers.len() - 1
            },
        );
        let holder = (0..racers.len())
            .find(|i| !exited.iter().any(|(j, _)| j == i))
            .expect("one racer holds the store");
        let holder_pid = racers[holder].id();
        for (i, status) in &exited {
            let mut err = String::new();
            std::io::Read::read_to_string(racers[*i].stderr.as_mut().unwrap(), &mut err).unwrap();
            assert_eq!(status.code(), Some(1), "round {round}: {err}");
            assert!(
                err.contains(&format!(
                    "in use by another minifleet process: pid {holder_pid} on host `"
                )),
                "round {round}: a loser must name the holder (pid {holder_pid}): {err}"
            );
        }
        racers[holder].kill().expect("SIGKILL the holder");
        racers[holder].wait().expect("reap the holder");
    }
}

/// `reconcile --wait` of `fleet` with `--concurrency 32`, bounded; returns its output.
fn converge_many(fleet: &TestFleet, timeout: &str) -> std::process::Output {
    let out = fleet.run(&[
        "reconcile",
        "--wait",
        "--interval",
        "200ms",
        "--timeout",
        timeout,
        "--concurrency",
        "32",
    ]);
    assert_eq!(
        code(&out),
        0,
        "reconcile --wait must converge:\n{}",
        text(&out)
    );
    out
}

/// The calls that commit or submit a build, on either platform.
const COMMITS_AND_SUBMISSIONS: [&str; 4] = [
    "wxa/commit",
    "wxa/submit_audit",
    "alipay.open.mini.version.upload",
    "alipay.open.mini.version.audit.apply",
];

/// Fails when the sandbox accepted a commit or an audit submission of one fingerprint twice for
/// one app.
fn assert_no_duplicates(records: &[Accepted]) {
    let mut seen: BTreeMap<(&str, &str, &str), usize> = BTreeMap::new();
    for r in records
        .iter()
        .filter(|r| COMMITS_AND_SUBMISSIONS.contains(&r.call.as_str()))
    {
        let fp = r.fingerprint.as_deref().unwrap_or("?");
        *seen
            .entry((r.app.as_str(), r.call.as_str(), fp))
            .or_default() += 1;
    }
    let duplicates: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(duplicates.is_empty(), "duplicate calls: {duplicates:?}");
}

#[test]
fn converges_with_transient_faults_and_lost_responses_without_duplicates() {
    let sandbox = spawn_sandbox(&[
        "--audit-delay",
        "100ms",
        "--privacy-scan",
        "50ms",
        "--error-rate",
        "0.2",
        "--lost-response-rate",
        "0.1",
        "--seed",
        "7",
    ]);
    let fleet = TestFleet::new();
    many_apps(
        &fleet,
        20,
        "100ms",
        &format!("  url: {}\n", sandbox.url),
        None,
    );
    converge_many(&fleet, "120s");
    let accepted = records(&sandbox.url);
    let commits = accepted.iter().filter(|r| r.call == "wxa/commit").count();
    assert_eq!(commits, 20, "one commit per app");
    assert_no_duplicates(&accepted);
}

#[test]
fn sigkilled_reconciles_resume_without_duplicate_commits_or_submissions() {
    // A 20 ms round trip per call keeps each run busy long enough to be killed mid-way.
    let sandbox = spawn_sandbox(&[
        "--audit-delay",
        "1s",
        "--privacy-scan",
        "50ms",
        "--latency",
        "20ms",
        "--audit-quota",
        "1000",
    ]);
    let fleet = TestFleet::new();
    many_apps(
        &fleet,
        200,
        "1s",
        &format!("  url: {}\n", sandbox.url),
        None,
    );
    let mut rng = fastrand::Rng::with_seed(5);
    let mut kills = 0;
    for _ in 0..40 {
        if kills >= 20 {
            break;
        }
        let mut child = StdCommand::new(assert_cmd::cargo::cargo_bin("minifleet"))
            .arg("-f")
            .arg(fleet.path())
            .args([
                "reconcile",
                "--wait",
                "--interval",
                "100ms",
                "--timeout",
                "60s",
                "--concurrency",
                "32",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start reconcile");
        std::thread::sleep(Duration::from_millis(rng.u64(150..2500)));
        if child.try_wait().unwrap().is_none() {
            child.kill().expect("SIGKILL");
            kills += 1;
        }
        let _ = child.wait();
    }
    assert!(kills >= 20, "only {kills} runs were killed mid-way");
    converge_many(&fleet, "180s");
    let again = fleet.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(
        code(&again),
        0,
        "in sync after the crashes:\n{}",
        text(&again)
    );
    let accepted = records(&sandbox.url);
    assert_no_duplicates(&accepted);
    let commits = accepted.iter().filter(|r| r.call == "wxa/commit").count();
    assert_eq!(commits, 200, "one commit per app");
}

fn count(records: &[Accepted], call: &str) -> usize {
    records.iter().filter(|r| r.call == call).count()
}

/// The version → fingerprint record of an Alipay build was written after the journal's flush and
/// not flushed itself, so a kill right after the upload lost it: the restarted run settled the
/// upload as applied, then failed the app for good with "another fingerprint (an unknown build)".
#[test]
fn a_crash_right_after_an_alipay_upload_adopts_the_build() {
    // The 2 s build keeps the client polling `build.query` after the upload, before
    // `experience.create`: the kill lands inside the commit, with its outcome unknown.
    let sandbox = spawn_sandbox(&["--audit-delay", "200ms", "--privacy-scan", "2s"]);
    let mut fleet = TestFleet::new();
    fleet.sandbox_extra = format!("  url: {}\n", sandbox.url);
    fleet.write(&[App::alipay("rice-bowl", "2021004100000001")]);
    let upload = "alipay.open.mini.version.upload";
    let at_kill = common::kill_right_after(&fleet, &sandbox.url, upload);
    assert_eq!(count(&at_kill, upload), 1, "{at_kill:#?}");
    assert_eq!(
        count(&at_kill, "alipay.open.mini.experience.create"),
        0,
        "the kill must cut the commit off after the upload: {at_kill:#?}"
    );

    let out = fleet.converge();
    assert!(!text(&out).contains("unknown build"), "{}", text(&out));
    let again = fleet.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(code(&again), 0, "in sync:\n{}", text(&again));
    let accepted = records(&sandbox.url);
    assert_eq!(count(&accepted, upload), 1, "one upload: {accepted:#?}");
    assert_eq!(
        count(&accepted, "alipay.open.mini.version.audit.apply"),
        1,
        "{accepted:#?}"
    );
    assert_eq!(count(&accepted, "alipay.open.mini.version.online"), 1);
    assert_no_duplicates(&accepted);
}

/// The WeChat twin of the Alipay case above: killed right after `wxa/commit` was accepted, the
/// rerun neither commits nor submits twice.
#[test]
fn a_crash_right_after_a_wechat_commit_does_not_commit_again() {
    // The 2 s privacy scan keeps the client waiting between the commit and the submission.
    let sandbox = spawn_sandbox(&["--audit-delay", "200ms", "--privacy-scan", "2s"]);
    let mut fleet = TestFleet::new();
    fleet.sandbox_extra = format!("  url: {}\n", sandbox.url);
    fleet.write(&[App::new("tea-house", "wx1111111111111111")]);
    let at_kill = common::kill_right_after(&fleet, &sandbox.url, "wxa/commit");
    assert_eq!(count(&at_kill, "wxa/commit"), 1, "{at_kill:#?}");
    assert_eq!(
        count(&at_kill, "wxa/submit_audit"),
        0,
        "the kill must land between the commit and the submission: {at_kill:#?}"
    );

    fleet.converge();
    let again = fleet.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(code(&again), 0, "in sync:\n{}", text(&again));
    let accepted = records(&sandbox.url);
    assert_eq!(
        count(&accepted, "wxa/commit"),
        1,
        "one commit: {accepted:#?}"
    );
    assert_eq!(count(&accepted, "wxa/submit_audit"), 1, "{accepted:#?}");
    assert_no_duplicates(&accepted);
}
