//! End-to-end on Alipay (and both platforms in one fleet): the real binary against the embedded
//! sandbox's signed gateway on loopback.

mod common;

use std::process::Output;
use std::time::Duration;

use common::{App, TestFleet, app_plan, code, records, step_kinds, text};
use minifleet::fleet::SandboxSpec;
use minifleet::sandbox::alipay::WrongSignature;
use minifleet::sandbox::{self, Persist};

/// The live build in words, from the structured status: `1.0.0 [mf:1a2b3c4d] gray 10%`.
fn live(fleet: &TestFleet, app: &str) -> String {
    common::live_text(app_plan(&fleet.status_json(), app))
}

#[test]
fn both_platforms_converge_in_one_run() {
    let fleet = TestFleet::new();
    fleet.write(&[
        App {
            testers: "[ops-li01]",
            ..App::new("tea-house", "wx1111111111111111")
        },
        App {
            testers: "[ops@example.com]",
            ..App::alipay("rice-bowl", "2021004100000001")
        },
    ]);
    let first = fleet.plan_json();
    assert_eq!(
        step_kinds(&first, "rice-bowl"),
        [
            "bind_tester",
            "commit",
            "submit_audit",
            "wait_for_audit",
            "release"
        ]
    );
    fleet.converge();
    let again = fleet.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(code(&again), 0, "{}", text(&again));
    assert!(live(&fleet, "rice-bowl").starts_with("1.0.0 [mf:"));
    assert!(live(&fleet, "tea-house").starts_with("1.0.0 [mf:"));
}

#[test]
fn alipay_gray_goes_10_30_50_100() {
    let fleet = TestFleet::new();
    let mut app = App {
        gray: 10,
        ..App::alipay("rice-bowl", "2021004100000001")
    };
    fleet.write(std::slice::from_ref(&app));
    assert_eq!(
        step_kinds(&fleet.plan_json(), "rice-bowl"),
        ["commit", "submit_audit", "wait_for_audit", "gray"],
        "Alipay's first release may be gray"
    );
    fleet.converge();
    assert!(
        live(&fleet, "rice-bowl").ends_with("gray 10%"),
        "{}",
        live(&fleet, "rice-bowl")
    );
    for (from, to) in [(10, 30), (30, 50)] {
        app.gray = to;
        fleet.write(std::slice::from_ref(&app));
        let plan = fleet.plan_json();
        let steps = app_plan(&plan, "rice-bowl")["steps"]
            .as_array()
            .unwrap()
            .clone();
        assert_eq!(steps.len(), 1, "{plan}");
        assert_eq!(steps[0]["kind"], "gray");
        assert_eq!(steps[0]["from"], from);
        assert_eq!(steps[0]["to"], to);
        fleet.converge();
        assert!(
            live(&fleet, "rice-bowl").ends_with(&format!("gray {to}%")),
            "{}",
            live(&fleet, "rice-bowl")
        );
    }
    app.gray = 100;
    fleet.write(std::slice::from_ref(&app));
    assert_eq!(step_kinds(&fleet.plan_json(), "rice-bowl"), ["release"]);
    fleet.converge();
    assert!(
        !live(&fleet, "rice-bowl").contains("gray"),
        "{}",
        live(&fleet, "rice-bowl")
    );
}

#[test]
fn changing_a_built_version_without_a_bump_fails_with_a_hint() {
    let fleet = TestFleet::new();
    let mut app = App::alipay("rice-bowl", "2021004100000001");
    fleet.write(std::slice::from_ref(&app));
    fleet.converge();

    app.ext = "{ shopId: \"1\", theme: red }";
    fleet.write(std::slice::from_ref(&app));
    let plan = fleet.plan_json_exiting(1);
    let entry = app_plan(&plan, "rice-bowl");
    assert_eq!(entry["state"], "failed", "{plan}");
    assert!(
        entry["reason"].as_str().unwrap().contains("bump `version`"),
        "{plan}"
    );
    let out = fleet.run(&["reconcile"]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    assert!(text(&out).contains("bump `version`"), "{}", text(&out));
    // The help line says the same as the error, not "change the version or ext".
    let stderr = String::from_utf8_lossy(&out.stderr);
    let help = stderr
        .lines()
        .find(|l| l.trim_start().starts_with("help:") && l.contains("version"))
        .unwrap_or_else(|| panic!("a help line: {stderr}"));
    assert!(
        help.contains("help: bump `version` in the fleet file"),
        "{help}"
    );
    assert!(
        !stderr.contains("change the app's version or ext"),
        "{stderr}"
    );

    app.version = "1.0.1";
    fleet.write(std::slice::from_ref(&app));
    fleet.converge();
    assert!(live(&fleet, "rice-bowl").starts_with("1.0.1 [mf:"));
}

#[test]
fn old_development_builds_are_deleted_before_the_20_version_cap_bites() {
    let fleet = TestFleet::new();
    let mut app = App {
        stage: "experience",
        ..App::alipay("rice-bowl", "2021004100000001")
    };
    let versions: Vec<String> = (1..=21).map(|i| format!("1.0.{i}")).collect();
    for version in &versions[..20] {
        app.version = Box::leak(version.clone().into_boxed_str());
        fleet.write(std::slice::from_ref(&app));
        let out = fleet.run(&["reconcile"]);
        assert_eq!(code(&out), 0, "{}", text(&out));
    }
    app.version = "1.0.21";
    fleet.write(std::slice::from_ref(&app));
    let plan = fleet.plan_json();
    assert_eq!(
        step_kinds(&plan, "rice-bowl"),
        ["delete_build", "commit"],
        "{plan}"
    );
    assert_eq!(
        app_plan(&plan, "rice-bowl")["steps"][0]["version"],
        "1.0.1",
        "the oldest development build goes first"
    );
    fleet.converge();
    assert_eq!(code(&fleet.run(&["plan", "--detailed-exitcode"])), 0);
}

/// Authorizes `appid` in the sandbox whose state lives in `store_dir`, as a merchant would, and
/// returns the app_auth_code the authorization redirect would deliver.
fn merchant_authorizes(store_dir: &std::path::Path, appid: &str) -> String {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let store = minifleet::store::Store::open(store_dir).unwrap();
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
        let spec = minifleet::fleet::SandboxSpec::default();
        let persist = minifleet::sandbox::Persist::Store(store.clone());
        let handle = minifleet::sandbox::start(addr, &spec, persist)
            .await
            .unwrap();
        let code = handle.alipay().authorize(appid);
        store.flush().unwrap();
        drop(handle);
        code
    })
}

#[test]
fn auth_alipay_exchanges_an_app_auth_code() {
    let fleet = TestFleet::new();
    fleet.write(&[
        App::alipay("rice-bowl", "2021004100000001"),
        App::alipay("bun-factory", "2021004100000002"),
    ]);
    let auth_code = merchant_authorizes(&fleet.store(), "2021004100000001");

    let wrong_app = fleet.run(&[
        "auth",
        "alipay",
        "--app",
        "bun-factory",
        "--code",
        &auth_code,
    ]);
    assert_eq!(code(&wrong_app), 1, "{}", text(&wrong_app));
    assert!(
        text(&wrong_app).contains("not app `bun-factory`"),
        "{}",
        text(&wrong_app)
    );

    let auth_code = merchant_authorizes(&fleet.store(), "2021004100000001");
    let out = fleet.run(&["auth", "alipay", "--app", "rice-bowl", "--code", &auth_code]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(text(&out).contains("is authorized"), "{}", text(&out));

    let reused = fleet.run(&["auth", "alipay", "--app", "rice-bowl", "--code", &auth_code]);
    assert_eq!(code(&reused), 1, "a code is single-use:\n{}", text(&reused));

    fleet.converge();
    assert!(live(&fleet, "rice-bowl").starts_with("1.0.0 [mf:"));
}

/// The accepted calls of `call` (the Alipay method) for `version`.
fn calls_of(records: &[minifleet::sandbox::Accepted], call: &str, version: &str) -> usize {
    records
        .iter()
        .filter(|r| r.call == call && r.version.as_deref() == Some(version))
        .count()
}

/// Before: bumping the version of an app with a live gray submitted the new build while the
/// older build's gray held Alipay's review slot, met `CAN_NOT_SUBMIT_WITH_AUDIT_GRAY` on every
/// pass and never converged.
#[test]
fn an_alipay_app_with_a_live_gray_takes_a_new_version() {
    let sandbox = common::spawn_sandbox(&["--audit-delay", "200ms", "--privacy-scan", "100ms"]);
    let mut fleet = TestFleet::new();
    fleet.sandbox_extra = format!("  url: {}\n", sandbox.url);
    let mut app = App {
        gray: 10,
        ..App::alipay("rice-bowl", "2021004100000001")
    };
    fleet.write(std::slice::from_ref(&app));
    fleet.converge();
    assert!(live(&fleet, "rice-bowl").starts_with("1.0.0 [mf:"));
    assert!(live(&fleet, "rice-bowl").ends_with("gray 10%"));

    app.version = "1.1.0";
    fleet.write(std::slice::from_ref(&app));
    assert_eq!(
        step_kinds(&fleet.plan_json(), "rice-bowl"),
        [
            "commit",
            "revert_gray",
            "withdraw_audit",
            "submit_audit",
            "wait_for_audit",
            "gray"
        ]
    );
    let out = fleet.converge();
    assert!(
        !text(&out).contains("CAN_NOT_SUBMIT_WITH_AUDIT_GRAY"),
        "{}",
        text(&out)
    );
    let now = live(&fleet, "rice-bowl");
    assert!(
        now.starts_with("1.1.0 [mf:") && now.ends_with("gray 10%"),
        "{now}"
    );

    let accepted = records(&sandbox.url);
    let at = |call: &str, version: &str| {
        accepted
            .iter()
            .position(|r| r.call == call && r.version.as_deref() == Some(version))
            .unwrap_or_else(|| panic!("no {call} of {version}: {accepted:#?}"))
    };
    let gray_cancel = at("alipay.open.mini.version.gray.cancel", "1.0.0");
    let audited_cancel = at("alipay.open.mini.version.audited.cancel", "1.0.0");
    let submit = at("alipay.open.mini.version.audit.apply", "1.1.0");
    assert!(
        gray_cancel < audited_cancel && audited_cancel < submit,
        "{accepted:#?}"
    );
    assert_eq!(
        calls_of(&accepted, "alipay.open.mini.version.online", "1.0.0"),
        0,
        "the outdated gray is not released to everyone"
    );
    assert_eq!(
        calls_of(&accepted, "alipay.open.mini.version.audit.apply", "1.1.0"),
        1
    );
}

/// Before: deleting the store after convergence (which the README says loses no live state)
/// failed every Alipay app at `stage: experience` with "another fingerprint (an unknown build)":
/// a build that never went to audit carries its fingerprint only in the store. The sandbox runs
/// on its own (`sandbox.url`), so the platforms keep their state when the store goes.
#[test]
fn losing_the_store_does_not_fail_alipay_apps_that_never_went_to_audit() {
    let sandbox = common::spawn_sandbox(&["--audit-delay", "200ms", "--privacy-scan", "100ms"]);
    let mut fleet = TestFleet::new();
    fleet.sandbox_extra = format!("  url: {}\n", sandbox.url);
    fleet.write(&[
        App {
            testers: "[ops-li01]",
            gray: 10,
            ..App::new("tea-house", "wx1111111111111111")
        },
        App {
            stage: "audit",
            ..App::new("hotpot-garden", "wx4444444444444444")
        },
        App {
            testers: "[ops.li@example.com]",
            gray: 10,
            ..App::alipay("rice-bowl", "2021004100000001")
        },
        App::alipay("bun-factory", "2021004100000002"),
        App {
            stage: "experience",
            ..App::alipay("congee-shop", "2021004100000003")
        },
    ]);
    fleet.converge();
    std::fs::remove_dir_all(fleet.store()).expect("delete the store");

    let out = fleet.converge();
    assert!(!text(&out).contains("unknown build"), "{}", text(&out));
    let again = fleet.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(code(&again), 0, "in sync:\n{}", text(&again));
    let accepted = records(&sandbox.url);
    let upload = "alipay.open.mini.version.upload";
    assert_eq!(
        calls_of(&accepted, "alipay.open.mini.version.delete", "1.0.0"),
        1,
        "the unknown development build is deleted once: {accepted:#?}"
    );
    let uploads = |app: &str| {
        accepted
            .iter()
            .filter(|r| r.call == upload && r.app == app)
            .count()
    };
    assert_eq!(uploads("2021004100000003"), 2, "built again once");
    assert_eq!(
        uploads("2021004100000001"),
        1,
        "audited builds carry their tag"
    );
    assert_eq!(
        uploads("2021004100000002"),
        1,
        "audited builds carry their tag"
    );
}

/// Runs minifleet with `args` off the async runtime (so an in-process sandbox keeps serving).
async fn run_off_runtime(fleet: TestFleet, args: &'static [&'static str]) -> (TestFleet, Output) {
    tokio::task::spawn_blocking(move || {
        let out = fleet.run(args);
        (fleet, out)
    })
    .await
    .unwrap()
}

/// Before: when the answer to `alipay.open.mini.version.upload` failed its signature check (here:
/// Alipay's key "rotates" at the upload, so every answer from it on fails), the app was failed
/// until its fingerprint changed, with the hint "change the version or ext", although the upload
/// had taken effect; rerunning with the right key did nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_answer_that_fails_its_signature_check_does_not_fail_the_app_for_good() {
    tokio::time::timeout(Duration::from_secs(150), async {
        let spec = SandboxSpec {
            audit_delay_ms: 200,
            privacy_scan_ms: 100,
            ..SandboxSpec::default()
        };
        let addr = "127.0.0.1:0".parse().unwrap();
        let handle = sandbox::start(addr, &spec, Persist::Memory).await.unwrap();
        let upload = "alipay.open.mini.version.upload";
        handle
            .alipay()
            .sign_wrongly(WrongSignature::From(upload.to_string()));
        let mut fleet = TestFleet::new();
        fleet.sandbox_extra = format!("  url: {}\n", handle.base_url());
        fleet.write(&[App::alipay("rice-bowl", "2021004100000001")]);

        let (fleet, first) = run_off_runtime(fleet, &["reconcile"]).await;
        let all = text(&first);
        assert_eq!(code(&first), 1, "the error is reported: {all}");
        assert!(
            all.contains(&format!("{upload} failed with response_signature")),
            "{all}"
        );
        assert!(
            all.contains("whether the call took effect is unknown"),
            "{all}"
        );
        assert!(
            all.contains("help: check `platforms.alipay.alipay_public_key`"),
            "{all}"
        );
        assert!(!all.contains("change the version or ext"), "{all}");
        let uploads = || {
            handle
                .alipay()
                .accepted()
                .iter()
                .filter(|r| r.call == upload)
                .count()
        };
        assert_eq!(uploads(), 1, "the upload took effect");

        // The right key again: the journal settles the upload by observing, the build is adopted.
        handle.alipay().sign_wrongly(WrongSignature::Off);
        let fleet = tokio::task::spawn_blocking(move || {
            fleet.converge();
            fleet
        })
        .await
        .unwrap();
        assert_eq!(
            uploads(),
            1,
            "one upload: {:#?}",
            handle.alipay().accepted()
        );
        let (fleet, again) = run_off_runtime(fleet, &["plan", "--detailed-exitcode"]).await;
        assert_eq!(code(&again), 0, "in sync: {}", text(&again));
        let (_, history) = run_off_runtime(fleet, &["history", "rice-bowl"]).await;
        assert!(
            text(&history).contains("settled: applied"),
            "{}",
            text(&history)
        );
    })
    .await
    .expect("test timed out");
}
