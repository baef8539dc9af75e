//! End-to-end on Douyin: the real binary against the sandbox's Douyin simulator on loopback —
//! the first rollout, an ext change, a rejection, a rollback, the fleet file's refusals, the
//! onboarding command, a crash right after an upload and a lost store.

mod common;

use common::{App, TestFleet, app_plan, code, records, spawn_sandbox, step_kinds, text};
use minifleet::sandbox::{Accepted, RemoteSandbox};

const UPLOAD: &str = "api/apps/v1/package_version/upload";
const AUDIT: &str = "api/apps/v2/package_version/audit";
const RELEASE: &str = "api/apps/v1/package_version/release";
const ROLLBACK: &str = "api/apps/v1/package_version/rollback";

/// The live build in words, from the structured status: `1.0.0 [mf:1a2b3c4d]`.
fn live(fleet: &TestFleet, app: &str) -> String {
    common::live_text(app_plan(&fleet.status_json(), app))
}

fn count(records: &[Accepted], call: &str) -> usize {
    records.iter().filter(|r| r.call == call).count()
}

/// A fleet on a standalone sandbox (which outlives the store) with fast audits.
fn on_standalone(extra: &[&str]) -> (TestFleet, common::SandboxProcess) {
    let mut args = vec!["--audit-delay", "300ms"];
    args.extend_from_slice(extra);
    let sandbox = spawn_sandbox(&args);
    let mut fleet = TestFleet::new();
    fleet.sandbox_extra = format!("  url: {}\n", sandbox.url);
    (fleet, sandbox)
}

#[test]
fn a_douyin_app_is_uploaded_audited_and_released_then_stays_in_sync() {
    let (fleet, sandbox) = on_standalone(&[]);
    fleet.write(&[
        App::douyin("tea-house-dy", "tt1111111111111111"),
        App::new("tea-house", "wx1111111111111111"),
    ]);
    assert_eq!(
        step_kinds(&fleet.plan_json(), "tea-house-dy"),
        ["commit", "submit_audit", "wait_for_audit", "release"]
    );
    fleet.converge();
    let again = fleet.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(code(&again), 0, "{}", text(&again));
    assert!(live(&fleet, "tea-house-dy").starts_with("1.0.0 [mf:"));
    let accepted = records(&sandbox.url);
    for call in [UPLOAD, AUDIT, RELEASE] {
        assert_eq!(count(&accepted, call), 1, "{call}: {accepted:#?}");
    }
    let history = fleet.run(&["history", "tea-house-dy", "-o", "json"]);
    let history: serde_json::Value = serde_json::from_slice(&history.stdout).unwrap();
    assert!(
        history["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["what"] == "audit" && e["result"] == "approved"),
        "the verdict is in history: {history}"
    );
}

#[test]
fn an_ext_change_goes_through_a_new_audit_and_a_rejection_stops_with_the_reason() {
    let (fleet, sandbox) = on_standalone(&[]);
    let mut app = App::douyin("noodle-dy", "tt2222222222222222");
    fleet.write(std::slice::from_ref(&app));
    fleet.converge();
    let before = live(&fleet, "noodle-dy");

    app.ext = "{ shopId: \"1\", theme: green }";
    fleet.write(std::slice::from_ref(&app));
    assert_eq!(
        step_kinds(&fleet.plan_json(), "noodle-dy"),
        ["commit", "submit_audit", "wait_for_audit", "release"]
    );
    fleet.converge();
    let after = live(&fleet, "noodle-dy");
    assert_ne!(before, after, "a new fingerprint is live");
    assert_eq!(count(&records(&sandbox.url), AUDIT), 2);

    // A standalone sandbox takes its reject rules on its command line, so this part runs on
    // the embedded one, with a store of its own.
    let mut fleet = TestFleet::new();
    fleet.sandbox_extra =
        "  reject:\n    - when_ext: { theme: neon }\n      reason: Neon theme breaks the content rules\n"
            .into();
    let neon = App {
        ext: "{ shopId: \"9\", theme: neon }",
        ..App::douyin("neon-dy", "tt9999999999999999")
    };
    fleet.write(&[neon]);
    let out = fleet.run(&[
        "reconcile",
        "--wait",
        "--interval",
        "200ms",
        "--timeout",
        "60s",
    ]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    assert!(
        text(&out).contains("Neon theme breaks the content rules"),
        "{}",
        text(&out)
    );
}

#[test]
fn going_back_to_the_previous_build_rolls_back_without_an_audit() {
    let (fleet, sandbox) = on_standalone(&[]);
    let mut app = App::douyin("dumpling-dy", "tt3333333333333333");
    fleet.write(std::slice::from_ref(&app));
    fleet.converge();
    let first = live(&fleet, "dumpling-dy");
    app.version = "1.1.0";
    fleet.write(std::slice::from_ref(&app));
    fleet.converge();
    assert!(live(&fleet, "dumpling-dy").starts_with("1.1.0"));

    app.version = "1.0.0";
    fleet.write(std::slice::from_ref(&app));
    assert_eq!(step_kinds(&fleet.plan_json(), "dumpling-dy"), ["rollback"]);
    fleet.converge();
    assert_eq!(live(&fleet, "dumpling-dy"), first);
    let accepted = records(&sandbox.url);
    assert_eq!(count(&accepted, ROLLBACK), 1, "{accepted:#?}");
    assert_eq!(count(&accepted, AUDIT), 2, "no third audit: {accepted:#?}");
    let again = fleet.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(code(&again), 0, "{}", text(&again));

    // Douyin rolls back once per release: going forward and back again goes the long way.
    app.version = "1.1.0";
    fleet.write(std::slice::from_ref(&app));
    fleet.converge();
    app.version = "1.0.0";
    fleet.write(std::slice::from_ref(&app));
    assert_eq!(step_kinds(&fleet.plan_json(), "dumpling-dy"), ["rollback"]);
    fleet.converge();
    assert_eq!(live(&fleet, "dumpling-dy"), first);
}

#[test]
fn gray_and_testers_are_refused_for_a_douyin_app_with_what_to_do() {
    let fleet = TestFleet::new();
    fleet.write(&[App {
        gray: 50,
        testers: "[ops-li01]",
        ..App::douyin("gray-dy", "tt4444444444444444")
    }]);
    let out = fleet.run(&["validate"]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    let all = text(&out);
    assert!(all.contains("Douyin releases to every user"), "{all}");
    assert!(all.contains("Douyin has no tester API"), "{all}");
    let bad_appid = TestFleet::new();
    bad_appid.write(&[App::douyin("bad-dy", "wx4444444444444444")]);
    let out = bad_appid.run(&["validate"]);
    assert_eq!(code(&out), 1);
    assert!(
        text(&out).contains("Douyin appid must be `tt`"),
        "{}",
        text(&out)
    );
}

#[test]
fn auth_douyin_exchanges_an_authorization_code_once() {
    let (fleet, sandbox) = on_standalone(&[]);
    fleet.write(&[
        App::douyin("shop-a", "tt5555555555555555"),
        App::douyin("shop-b", "tt6666666666666666"),
    ]);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let remote = RemoteSandbox::new(&sandbox.url);
    let code_a = runtime
        .block_on(remote.douyin_code("tt5555555555555555"))
        .unwrap();

    let wrong = fleet.run(&["auth", "douyin", "--app", "shop-b", "--code", &code_a]);
    assert_ne!(code(&wrong), 0);
    assert!(
        text(&wrong).contains("not app `shop-b`"),
        "{}",
        text(&wrong)
    );
    let again = fleet.run(&["auth", "douyin", "--app", "shop-a", "--code", &code_a]);
    assert_ne!(code(&again), 0, "a code is single use: {}", text(&again));
    assert!(text(&again).contains("40018"), "{}", text(&again));
    assert!(!text(&again).contains(&code_a), "the code is not echoed");

    let fresh = runtime
        .block_on(remote.douyin_code("tt5555555555555555"))
        .unwrap();
    let ok = fleet.run(&[
        "auth", "douyin", "--app", "shop-a", "--code", &fresh, "-o", "json",
    ]);
    assert_eq!(code(&ok), 0, "{}", text(&ok));
    let doc: serde_json::Value = serde_json::from_slice(&ok.stdout).unwrap();
    assert_eq!(doc["authorized"], true);
    assert!(!text(&ok).contains("isvrft.") && !text(&ok).contains("isvact."));
}

/// Killed right after the sandbox accepted the upload, the rerun adopts the test version: no
/// second upload, one submission, one release.
#[test]
fn a_crash_right_after_a_douyin_upload_does_not_upload_again() {
    // 300 ms per call keeps the kill between the upload and the submission.
    let (fleet, sandbox) = on_standalone(&["--latency", "300ms"]);
    fleet.write(&[App::douyin("crash-dy", "tt7777777777777777")]);
    let at_kill = common::kill_right_after(&fleet, &sandbox.url, UPLOAD);
    assert_eq!(count(&at_kill, UPLOAD), 1);
    assert_eq!(
        count(&at_kill, AUDIT),
        0,
        "the kill lands before the submission: {at_kill:#?}"
    );

    fleet.converge();
    let accepted = records(&sandbox.url);
    assert_eq!(count(&accepted, UPLOAD), 1, "{accepted:#?}");
    assert_eq!(count(&accepted, AUDIT), 1, "{accepted:#?}");
    assert_eq!(count(&accepted, RELEASE), 1, "{accepted:#?}");
    let again = fleet.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(code(&again), 0, "{}", text(&again));
}

#[test]
fn a_lost_store_plans_nothing_for_douyin_apps_in_sync() {
    let (fleet, sandbox) = on_standalone(&[]);
    fleet.write(&[
        App::douyin("keep-dy", "tt8888888888888888"),
        App {
            stage: "experience",
            ..App::douyin("trial-dy", "tt8888888888888889")
        },
    ]);
    fleet.converge();
    std::fs::remove_dir_all(fleet.store()).unwrap();
    let plan = fleet.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(
        code(&plan),
        0,
        "nothing to do after the loss:\n{}",
        text(&plan)
    );
    fleet.converge();
    let accepted = records(&sandbox.url);
    assert_eq!(count(&accepted, UPLOAD), 2, "{accepted:#?}");
    assert_eq!(count(&accepted, AUDIT), 1, "{accepted:#?}");
}

#[test]
fn the_daemon_takes_douyin_pushes_and_an_audit_verdict_moves_the_app_on() {
    let fleet = TestFleet::new();
    fleet.write(&[App::douyin("push-dy", "tt1212121212121212")]);
    // Polls would come only after a minute: the pushed verdict is what moves the app on.
    let daemon = common::Daemon::start(&fleet, &["--audit-poll", "60s"]);
    let is = |l: &serde_json::Value, m: &str| l["message"] == m;
    daemon.wait_log("about the ticket push", |l| {
        is(l, "Douyin component ticket stored")
    });
    let pushed = daemon.wait_log("about the verdict push", |l| {
        is(l, "Douyin audit verdict pushed")
    });
    assert_eq!(pushed["appid"], "tt1212121212121212");
    daemon.wait_log("of a pass triggered by the push", |l| {
        is(l, "pass started") && l["trigger"] == "push" && l["app"] == "push-dy"
    });
    daemon.wait_log("of the release", |l| {
        is(l, "action applied") && l["action"] == "release" && l["app"] == "push-dy"
    });
    let (code, logs) = daemon.terminate();
    assert_eq!(code, 0, "{logs}");
}

#[test]
fn converges_with_transient_faults_and_lost_responses_without_duplicates() {
    let (fleet, sandbox) = on_standalone(&[
        "--error-rate",
        "0.2",
        "--lost-response-rate",
        "0.1",
        "--seed",
        "11",
    ]);
    let names = [
        "f-00", "f-01", "f-02", "f-03", "f-04", "f-05", "f-06", "f-07",
    ];
    let appids = [
        "tt0000000000000f00",
        "tt0000000000000f01",
        "tt0000000000000f02",
        "tt0000000000000f03",
        "tt0000000000000f04",
        "tt0000000000000f05",
        "tt0000000000000f06",
        "tt0000000000000f07",
    ];
    let apps: Vec<App> = names
        .iter()
        .zip(appids)
        .map(|(name, appid)| App::douyin(name, appid))
        .collect();
    fleet.write(&apps);
    let out = fleet.run(&[
        "reconcile",
        "--wait",
        "--interval",
        "200ms",
        "--timeout",
        "120s",
    ]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let accepted = records(&sandbox.url);
    for call in [UPLOAD, AUDIT, RELEASE] {
        let mut per_app = std::collections::BTreeMap::new();
        for r in accepted.iter().filter(|r| r.call == call) {
            *per_app.entry(r.app.as_str()).or_insert(0) += 1;
        }
        assert_eq!(per_app.len(), 8, "{call} on every app: {per_app:?}");
        assert!(
            per_app.values().all(|n| *n == 1),
            "{call} once per app: {per_app:?}"
        );
    }
}

#[test]
fn douyin_audit_keys_are_its_own_checked_and_typos_get_a_suggestion() {
    let repository = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/fleet.yaml"))
        .expect("the repository's fleet.yaml");
    let hosts = "audit: { hosts: [douyin, douyin_lite] }";
    assert!(repository.contains(hosts), "the example sets Douyin hosts");
    let fleet = TestFleet::new();
    for (edit, expected) in [
        (
            "audit: { host: [douyin] }",
            "unknown key `host`\n  help: did you mean `hosts`?",
        ),
        (
            "audit: { hosts: douyin }",
            "`hosts` must be a list of Douyin host app names",
        ),
        (
            "audit: { hosts: [kuaishou] }",
            "`kuaishou` is not a Douyin host app",
        ),
    ] {
        fleet.write_raw(&repository.replace(hosts, edit));
        let out = fleet.run(&["validate"]);
        assert_eq!(code(&out), 1, "{edit}: {}", text(&out));
        assert!(text(&out).contains(expected), "{edit}: {}", text(&out));
    }
    fleet.write_raw(&repository);
    let out = fleet.run(&["validate"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
}

/// A standalone sandbox pushes Douyin's tickets too, sealed with the sandbox's Douyin keys for
/// the application named on its command line.
#[test]
fn a_standalone_sandbox_pushes_douyin_tickets_to_the_receiver() {
    use minifleet::platform::douyin::crypto::{Envelope, PushCrypt};
    use minifleet::platform::douyin::{SANDBOX_AES_KEY, SANDBOX_PUSH_TOKEN};
    use minifleet::secret::Secret;
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<Envelope>();
    let url = runtime.block_on(async move {
        let receiver = axum::Router::new().route(
            "/douyin/auth",
            axum::routing::post(move |axum::Json(envelope): axum::Json<Envelope>| {
                let tx = tx.clone();
                async move {
                    let _ = tx.send(envelope);
                    "success"
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, receiver).await });
        url
    });
    let _sandbox = spawn_sandbox(&[
        "--push-url",
        &url,
        "--douyin-component-appid",
        "tt00000000000000aa",
    ]);
    let envelope = rx
        .recv_timeout(std::time::Duration::from_secs(30))
        .expect("a Douyin ticket push");
    let crypt = PushCrypt::new(
        &Secret::new(SANDBOX_PUSH_TOKEN),
        &Secret::new(SANDBOX_AES_KEY),
        "tt00000000000000aa",
    )
    .unwrap();
    let message: serde_json::Value = serde_json::from_str(&crypt.open(&envelope).unwrap()).unwrap();
    assert_eq!(message["MsgType"], "Ticket");
    assert!(message["Ticket"].as_str().is_some_and(|t| !t.is_empty()));
}
