//! End-to-end: testers on a store that lost its tester map (a CI runner's fresh store). WeChat
//! lists testers only by opaque member ids, so such a plan cannot tell whether a tester is bound:
//! it must say so instead of inventing binds and unbinds, and `reconcile` must rebuild what it
//! can without unbinding and binding anybody again.

mod common;

use std::time::Duration;

use common::{App, TestFleet, code, text};
use minifleet::fleet::SandboxSpec;
use minifleet::sandbox::{self, Accepted, Persist};

const WECHAT_APP: &str = "wx1111111111111111";

fn apps() -> Vec<App> {
    vec![
        App {
            testers: "[ops-li01, qa-wang02]",
            ..App::new("tea-house", WECHAT_APP)
        },
        App {
            testers: "[ops.li@example.com]",
            ..App::alipay("rice-shop", "2021004100000001")
        },
    ]
}

/// Runs the binary off the async runtime, so the in-process sandbox serves meanwhile.
async fn run(fleet: &std::sync::Arc<TestFleet>, args: &[&str]) -> std::process::Output {
    let (fleet, args) = (
        fleet.clone(),
        args.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
    );
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        fleet.run(&args)
    })
    .await
    .unwrap()
}

fn tester_calls(records: &[Accepted]) -> Vec<String> {
    records
        .iter()
        .filter(|r| r.call.contains("tester") || r.call.contains("members"))
        .map(|r| format!("{} {}", r.app, r.call))
        .collect()
}

/// A sandbox and a fleet on it, converged: every tester bound, the map in the store.
async fn converged() -> (sandbox::SandboxHandle, std::sync::Arc<TestFleet>) {
    let spec = SandboxSpec {
        audit_delay_ms: 300,
        privacy_scan_ms: 100,
        ..SandboxSpec::default()
    };
    let handle = sandbox::start("127.0.0.1:0".parse().unwrap(), &spec, Persist::Memory)
        .await
        .unwrap();
    let mut fleet = TestFleet::new();
    fleet.sandbox_extra = format!("  url: {}\n", handle.base_url());
    fleet.write(&apps());
    let fleet = std::sync::Arc::new(fleet);
    let out = run(&fleet, &["reconcile", "--wait", "--interval", "200ms"]).await;
    assert_eq!(code(&out), 0, "{}", text(&out));
    (handle, fleet)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_store_invents_no_tester_changes_and_reconcile_rebuilds_the_map_without_churn() {
    tokio::time::timeout(Duration::from_secs(150), async {
        let (handle, fleet) = converged().await;
        let bound = handle.wechat().app_state(WECHAT_APP).unwrap().testers;
        assert_eq!(bound.len(), 2);
        let converged = tester_calls(&handle.accepted());

        // The CI runner: the same fleet and platforms, an empty store.
        std::fs::remove_dir_all(fleet.store()).unwrap();
        let out = run(&fleet, &["plan", "--detailed-exitcode"]).await;
        let plan = String::from_utf8_lossy(&out.stdout).to_string();
        assert_eq!(code(&out), 0, "no changes are pending: {}", text(&out));
        assert!(
            plan.contains(
                "unverified: 2 testers, no tester map here (WeChat only shows opaque member ids)"
            ),
            "{plan}"
        );
        assert!(
            plan.contains("unverified: 1 tester, no tester map here (Alipay"),
            "{plan}"
        );
        assert!(!plan.contains("bind tester"), "no invented binds: {plan}");
        assert!(
            !plan.contains("is not a wanted tester"),
            "no invented strangers: {plan}"
        );
        assert!(
            plan.ends_with("Plan: no changes · 2 in sync · 3 testers unverified\n"),
            "{plan}"
        );
        let out = run(&fleet, &["plan", "-o", "json"]).await;
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(doc["summary"]["unverified_testers"], 3, "{doc}");
        assert_eq!(doc["summary"]["tester_changes"], 0, "{doc}");
        assert_eq!(
            common::step_kinds(&doc, "tea-house"),
            ["verify_tester", "verify_tester"]
        );

        // Applying verifies: nothing is unbound or bound again, and the store learns enough.
        let out = run(&fleet, &["reconcile"]).await;
        assert_eq!(code(&out), 0, "{}", text(&out));
        assert!(
            text(&out).contains("Applied: 3 testers verified · 2 in sync"),
            "{}",
            text(&out)
        );
        assert_eq!(
            tester_calls(&handle.accepted()),
            converged,
            "the platforms accepted no new tester call (no unbind, no second bind)"
        );
        assert_eq!(
            handle.wechat().app_state(WECHAT_APP).unwrap().testers,
            bound
        );
        let history = run(&fleet, &["history", "tea-house"]).await;
        let history = String::from_utf8_lossy(&history.stdout).to_string();
        assert_eq!(history.matches("verify tester").count(), 2, "{history}");
        assert!(!history.contains("unbind"), "{history}");

        let out = run(&fleet, &["plan", "--detailed-exitcode"]).await;
        assert_eq!(code(&out), 0, "{}", text(&out));
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "Plan: no changes · 2 in sync\n",
            "the next plan is clean"
        );
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tester_known_bound_without_its_id_is_unbound_by_wechat_id_when_it_leaves_the_fleet() {
    tokio::time::timeout(Duration::from_secs(150), async {
        let (handle, fleet) = converged().await;
        std::fs::remove_dir_all(fleet.store()).unwrap();
        let out = run(&fleet, &["reconcile"]).await;
        assert!(text(&out).contains("3 testers verified"), "{}", text(&out));

        // A tester known bound only that way leaves the fleet file: unbound by WeChat id.
        let mut fewer = apps();
        fewer[0].testers = "[ops-li01]";
        fleet.write(&fewer);
        let out = run(&fleet, &["plan", "--detailed-exitcode"]).await;
        assert_eq!(code(&out), 2, "{}", text(&out));
        assert!(
            String::from_utf8_lossy(&out.stdout).contains(
                "    - unbind tester `qa-wang02`\n        tester `qa-wang02` is no longer in the fleet file\n"
            ),
            "{}",
            text(&out)
        );
        let out = run(&fleet, &["reconcile"]).await;
        assert_eq!(code(&out), 0, "{}", text(&out));
        let left = handle.wechat().app_state(WECHAT_APP).unwrap().testers;
        let left: Vec<&str> = left.iter().map(|t| t.wechatid.as_str()).collect();
        assert_eq!(left, ["ops-li01"]);
        let out = run(&fleet, &["plan", "--detailed-exitcode"]).await;
        assert_eq!(code(&out), 0, "{}", text(&out));
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "Plan: no changes · 2 in sync\n"
        );
    })
    .await
    .expect("test timed out");
}
