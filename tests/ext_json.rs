//! End-to-end ext.json beyond `ext` (`ext_json:` in the fleet): the real binary against a
//! standalone sandbox on loopback. Each platform gets the keys it takes beside `ext` in the
//! ext.json of the commit or upload (from the sandbox's own records; Alipay's record fingerprint,
//! which the sandbox computes from the ext.json it stored, equals the plan's), and a change of them
//! is a new build whose plan shows the diff.

mod common;

use common::{App, app_plan, fleet_on_sandbox, records, text};
use minifleet::sandbox::Accepted;

/// The last record of `call` for `app`.
fn last<'a>(records: &'a [Accepted], app: &str, call: &str) -> &'a Accepted {
    records
        .iter()
        .rev()
        .find(|r| r.app == app && r.call == call)
        .unwrap_or_else(|| panic!("no {call} of {app}: {records:#?}"))
}

const TITLE: &str = "{ window: { navigationBarTitleText: Tea }, tabBar: { list: [{ pagePath: pages/index/index, text: Menu }] } }";
const WINDOW: &str = "{ window: { navigationBarTitleText: Rice } }";

#[test]
fn each_platform_gets_the_keys_beside_ext_and_a_change_is_a_new_build_with_its_diff() {
    let (sandbox, fleet) = fleet_on_sandbox();
    let mut apps = vec![
        App {
            ext_json: TITLE,
            ..App::new("tea-house", "wx1111111111111111")
        },
        App {
            ext_json: WINDOW,
            ..App::alipay("rice-bowl", "2021004100000001")
        },
        App {
            ext_json: WINDOW,
            ..App::douyin("noodle-bar", "tt07e3715e98c9aac0")
        },
    ];
    fleet.write(&apps);
    let plan = fleet.plan_json();
    let rice_fp = app_plan(&plan, "rice-bowl")["fingerprint"]
        .as_str()
        .unwrap()
        .to_owned();
    fleet.converge();
    let accepted = records(&sandbox.url);
    let keys = |app: &str, call: &str| last(&accepted, app, call).ext_keys.clone();
    assert_eq!(
        keys("wx1111111111111111", "wxa/commit"),
        ["ext", "extAppid", "extEnable", "tabBar", "window"]
    );
    let upload = last(
        &accepted,
        "2021004100000001",
        "alipay.open.mini.version.upload",
    );
    assert_eq!(upload.ext_keys, ["ext", "extEnable", "window"]);
    assert_eq!(
        upload.fingerprint.as_deref(),
        Some(rice_fp.as_str()),
        "the sandbox stored the very ext.json minifleet fingerprinted"
    );
    assert_eq!(
        keys("tt07e3715e98c9aac0", "api/apps/v1/package_version/upload"),
        ["ext", "extAppid", "extEnable", "window"]
    );

    apps[0].ext_json = "{ window: { navigationBarTitleText: Teahouse }, tabBar: { list: [{ pagePath: pages/index/index, text: Menu }] } }";
    fleet.write(&apps);
    let dry = fleet.run(&["plan"]);
    let shown = text(&dry);
    assert!(shown.contains("ext: unchanged"), "{shown}");
    assert!(shown.contains("ext.json beside ext:"), "{shown}");
    assert!(
        shown.contains("-    \"navigationBarTitleText\": \"Tea\""),
        "{shown}"
    );
    assert!(
        shown.contains("+    \"navigationBarTitleText\": \"Teahouse\""),
        "{shown}"
    );
    let plan = fleet.plan_json();
    assert_eq!(
        common::step_kinds(&plan, "tea-house"),
        ["commit", "submit_audit", "wait_for_audit", "release"],
        "a new build: {plan}"
    );
    assert_eq!(common::step_kinds(&plan, "rice-bowl"), Vec::<String>::new());
    fleet.converge();
}
