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

#[test]
fn audit_items_the_app_does_not_have_spend_no_audit_slot() {
    let (sandbox, fleet) = fleet_on_sandbox();
    let mut apps = vec![
        App {
            extra: "    audit: { items: [{ address: pages/missing/index, tag: shop, first_class: 餐饮, second_class: 餐厅 }] }\n",
            ..App::new("tea-house", FILED)
        },
        App {
            extra: "    audit: { items: [{ address: pages/index/index, tag: shop, first_class: 零售, second_class: 超市, first_id: 1, second_id: 2 }] }\n",
            ..App::new("rice-shop", UNFILED)
        },
    ];
    fleet.write(&apps);
    let out = fleet.wait("30s");
    let all = text(&out);
    assert_eq!(code(&out), 1, "{all}");
    assert!(
        all.contains("page `pages/missing/index` is not a page of the committed build"),
        "{all}"
    );
    assert!(
        all.contains("pages/index/index, pages/menu/index"),
        "the pages it has: {all}"
    );
    assert!(all.contains("category is not one of the app's"), "{all}");
    assert!(
        all.contains("餐饮/餐厅 (220/225)"),
        "the categories it has: {all}"
    );
    let remote = RemoteSandbox::new(&sandbox.url);
    let calls = block_on(remote.calls()).unwrap().by_call;
    assert_eq!(calls.get("wxa/submit_audit"), None, "never sent: {calls:?}");

    // Fixed from what the error said, and an extPages page is one of the build's: both go.
    apps[0].extra = "    audit: { items: [{ address: pages/missing/index, tag: shop, first_class: 餐饮, second_class: 餐厅 }] }\n    ext_json: { extPages: { pages/missing/index: { navigationBarTitleText: Menu } } }\n";
    apps[1].extra = "    audit: { items: [{ address: pages/index/index, tag: shop, first_class: 餐饮, second_class: 饮品, first_id: 220, second_id: 227 }] }\n";
    fleet.write(&apps);
    fleet.converge();
    let records = block_on(remote.accepted()).unwrap();
    assert_eq!(count(&records, FILED, "wxa/submit_audit"), 1);
    assert_eq!(count(&records, UNFILED, "wxa/submit_audit"), 1);
}

#[test]
fn the_pages_of_one_template_are_read_once_for_the_fleet() {
    let (sandbox, fleet) = fleet_on_sandbox();
    fleet.write(&[
        App::new("tea-house", "wx1111111111111111"),
        App::new("rice-shop", "wx2222222222222222"),
        App::new("noodle-bar", "wx3333333333333333"),
    ]);
    fleet.converge();
    let calls = block_on(RemoteSandbox::new(&sandbox.url).calls())
        .unwrap()
        .by_call;
    assert_eq!(calls.get("wxa/submit_audit"), Some(&3), "{calls:?}");
    assert_eq!(
        calls.get("wxa/get_page"),
        Some(&1),
        "one template, no extPages: one read: {calls:?}"
    );
    assert_eq!(
        calls.get("wxa/get_category"),
        Some(&3),
        "categories are each app's: {calls:?}"
    );
}
