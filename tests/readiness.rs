//! End-to-end readiness before spending quota (issue 16): the real binary against a standalone
//! sandbox on loopback, counted from the sandbox's own records. An app whose ICP filing is not
//! done is committed but never submitted (no audit slot spent) and fails with what to do; once the
//! filing is done it goes through, and its filing is not asked again.

mod common;

use common::{App, block_on, code, fleet_on_sandbox, text};
use minifleet::sandbox::{Accepted, RemoteSandbox};

const FILED: &str = "wx1111111111111111";
const UNFILED: &str = "wx2222222222222222";
const ICP_READ: &str = "wxa/icp/get_icp_entrance_info";

fn count(records: &[Accepted], app: &str, call: &str) -> usize {
    records
        .iter()
        .filter(|r| r.app == app && r.call == call)
        .count()
}

#[test]
fn an_app_without_an_icp_filing_spends_no_audit_slot_and_goes_through_once_filed() {
    let (sandbox, fleet) = fleet_on_sandbox();
    let remote = RemoteSandbox::new(&sandbox.url);
    block_on(remote.set_icp(UNFILED, 1024)).expect("set the ICP status");
    let mut apps = vec![App::new("tea-house", FILED), App::new("rice-shop", UNFILED)];
    fleet.write(&apps);

    let out = fleet.wait("30s");
    let all = text(&out);
    assert_eq!(code(&out), 1, "the unfiled app fails: {all}");
    assert!(all.contains("app `rice-shop`"), "{all}");
    assert!(
        all.contains("ICP filing (备案) is not filed (status 1024)"),
        "{all}"
    );
    assert!(all.contains("设置 → 备案"), "what to do: {all}");
    let records = block_on(remote.accepted()).unwrap();
    assert_eq!(
        count(&records, UNFILED, "wxa/commit"),
        1,
        "the commit still goes"
    );
    assert_eq!(
        count(&records, UNFILED, "wxa/submit_audit"),
        0,
        "no audit slot spent"
    );
    assert_eq!(
        count(&records, FILED, "wxa/release"),
        1,
        "the filed app is through"
    );
    let why = common::held_reason(&fleet, "rice-shop");
    assert!(why.contains("ICP filing"), "{why}");
    let plan = fleet.plan_json_exiting(1);
    let rice = common::app_plan(&plan, "rice-shop");
    assert_eq!(rice["state"], "failed", "{rice}");
    assert!(
        rice["reason"].as_str().unwrap().contains("ICP filing"),
        "{rice}"
    );

    block_on(remote.set_icp(UNFILED, 6)).unwrap();
    fleet.converge();
    let status = fleet.status_json();
    assert_eq!(
        common::app_plan(&status, "rice-shop")["state"],
        "in_sync",
        "{status}"
    );
    let records = block_on(remote.accepted()).unwrap();
    assert_eq!(count(&records, UNFILED, "wxa/submit_audit"), 1);
    assert_eq!(count(&records, UNFILED, "wxa/release"), 1);

    // A filing seen done is remembered: a new build asks no more.
    let reads = || {
        block_on(remote.calls())
            .unwrap()
            .by_call
            .get(ICP_READ)
            .copied()
            .unwrap_or(0)
    };
    let before = reads();
    assert!(before >= 2, "each app's filing was read: {before}");
    for app in &mut apps {
        app.version = "1.1.0";
    }
    fleet.write(&apps);
    fleet.converge();
    assert_eq!(reads(), before, "no ICP read for apps seen filed");
}

#[test]
fn a_privacy_api_used_without_its_declaration_spends_no_audit_slot_until_declared() {
    let sandbox = common::spawn_sandbox(&[
        "--audit-delay",
        "200ms",
        "--privacy-scan",
        "100ms",
        "--privacy-api",
        "getLocation",
    ]);
    let mut fleet = common::TestFleet::new();
    fleet.sandbox_extra = format!("  url: {}\n", sandbox.url);
    let mut app = App::new("tea-house", FILED);
    fleet.write(std::slice::from_ref(&app));
    let out = fleet.wait("30s");
    let all = text(&out);
    assert_eq!(code(&out), 1, "{all}");
    assert!(
        all.contains("without declaring them: wx.getLocation"),
        "{all}"
    );
    assert!(
        all.contains("requiredPrivateInfos: [getLocation]"),
        "what to do: {all}"
    );
    let remote = RemoteSandbox::new(&sandbox.url);
    let records = block_on(remote.accepted()).unwrap();
    assert_eq!(count(&records, FILED, "wxa/commit"), 1);
    assert_eq!(
        count(&records, FILED, "wxa/submit_audit"),
        0,
        "no audit slot spent"
    );
    let calls = block_on(remote.calls()).unwrap().by_call;
    assert!(
        calls.get("wxa/commit").is_some_and(|&n| n >= 1),
        "{calls:?}"
    );
    assert_eq!(
        calls.get("wxa/submit_audit"),
        None,
        "not even refused: never sent"
    );

    app.ext_json = "{ requiredPrivateInfos: [getLocation] }";
    fleet.write(std::slice::from_ref(&app));
    fleet.converge();
    let records = block_on(remote.accepted()).unwrap();
    assert_eq!(count(&records, FILED, "wxa/submit_audit"), 1);
    assert_eq!(count(&records, FILED, "wxa/release"), 1);
}
