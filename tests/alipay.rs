//! End-to-end on Alipay (and both platforms in one fleet): the real binary against the embedded
//! sandbox's signed gateway on loopback.

mod common;

use common::{App, TestFleet, app_plan, code, step_kinds, text};

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
        let code = handle.alipay.authorize(appid);
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
