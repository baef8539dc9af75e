//! End to end, what an audit needs beside the code (issue 16): domains and the privacy guide as
//! desired state, the real binary against a standalone sandbox on loopback, checked from the
//! sandbox's own records.
//!
//! * Domains are set before the commit that needs them, a domain changed by hand in the console
//!   is planned back, and a wanted domain WeChat lists as not in effect (not ICP-filed) stops the
//!   app before its submission: no audit slot spent.
//! * QR-code jump rules are added before the code steps, published once the app has a release,
//!   and deleted when they leave the fleet; one whose verification file is not hosted fails
//!   with the file to host and holds nothing else back.
//! * The privacy guide is set after the commit's scan and before the submission; a key the scan
//!   finds that the fleet does not describe stops the app before the submission; after a release
//!   that is not the first, the live guide is set too.

mod common;

use common::{App, block_on, code, records, spawn_sandbox, step_kinds, text};
use minifleet::sandbox::{Accepted, RemoteSandbox};

const SHOP: &str = "wx1111111111111111";
const TEA: &str = "wx2222222222222222";

/// The calls of `app` in the order the sandbox applied them.
fn calls(records: &[Accepted], app: &str) -> Vec<String> {
    records
        .iter()
        .filter(|r| r.app == app)
        .map(|r| r.call.clone())
        .collect()
}

/// What the last `call` of `app` left in place.
fn left_by(records: &[Accepted], app: &str, call: &str) -> Vec<String> {
    records
        .iter()
        .rev()
        .find(|r| r.app == app && r.call == call)
        .map(|r| r.settings.clone())
        .unwrap_or_default()
}

fn count(records: &[Accepted], app: &str, call: &str) -> usize {
    records
        .iter()
        .filter(|r| r.app == app && r.call == call)
        .count()
}

/// The app's privacy guide but its texts, as YAML lines.
macro_rules! guide {
    () => {
        "    privacy:\n      contact: { email: privacy@shop.example.com }\n      notice_method: 弹窗提示\n      store_expire: 30天\n"
    };
}

fn fleet_at(url: &str) -> common::TestFleet {
    let mut fleet = common::TestFleet::new();
    fleet.sandbox_extra = format!("  url: {url}\n");
    fleet
}

#[test]
fn domains_are_set_before_the_commit_and_set_back_after_a_change_by_hand() {
    let sandbox = spawn_sandbox(&["--audit-delay", "200ms", "--privacy-scan", "100ms"]);
    let fleet = fleet_at(&sandbox.url);
    let app = App {
        extra: "    domains:\n      request: ['https://api.shop.example.com', 'https://pay.shop.example.com']\n      webview: ['https://h5.shop.example.com']\n",
        ..App::new("shop", SHOP)
    };
    fleet.write(std::slice::from_ref(&app));
    let plan = fleet.plan_json();
    assert_eq!(step_kinds(&plan, "shop")[0], "set_domains", "{plan}");
    fleet.converge();

    let seen = records(&sandbox.url);
    let order = calls(&seen, SHOP);
    let at = |call: &str| order.iter().position(|c| c == call).expect(call);
    assert!(at("wxa/modify_domain") < at("wxa/commit"), "{order:?}");
    assert!(at("wxa/setwebviewdomain") < at("wxa/commit"), "{order:?}");
    assert_eq!(
        left_by(&seen, SHOP, "wxa/modify_domain"),
        [
            "requestdomain https://api.shop.example.com",
            "requestdomain https://pay.shop.example.com"
        ],
        "the other server kinds are left as they were (empty)"
    );
    assert!(
        left_by(&seen, SHOP, "wxa/setwebviewdomain")
            .contains(&"webviewdomain https://h5.shop.example.com".to_owned())
    );
    let plan = fleet.plan_json();
    assert_eq!(
        common::app_plan(&plan, "shop")["state"],
        "in_sync",
        "domains read back as wanted: {plan}"
    );

    // The merchant changes the request domains in the console: the next plan puts them back.
    let remote = RemoteSandbox::new(&sandbox.url);
    block_on(remote.console_set_domains(SHOP, "requestdomain", &["https://evil.example.com"]))
        .expect("set by hand");
    let plan = fleet.plan_json();
    let shop = common::app_plan(&plan, "shop");
    assert_eq!(step_kinds(&plan, "shop"), ["set_domains"], "{shop}");
    let reason = shop["steps"][0]["reason"].as_str().unwrap();
    assert!(reason.contains("− https://evil.example.com"), "{reason}");
    assert!(
        reason.contains("+ https://api.shop.example.com"),
        "{reason}"
    );
    fleet.converge();
    let seen = records(&sandbox.url);
    assert_eq!(count(&seen, SHOP, "wxa/modify_domain"), 2);
    assert!(
        left_by(&seen, SHOP, "wxa/modify_domain")
            .iter()
            .all(|d| !d.contains("evil")),
        "{seen:?}"
    );
    assert_eq!(
        count(&seen, SHOP, "wxa/commit"),
        1,
        "no new build for domains"
    );
}

#[test]
fn a_domain_not_in_effect_spends_no_audit_slot_until_the_fleet_drops_it() {
    let sandbox = spawn_sandbox(&[
        "--audit-delay",
        "200ms",
        "--privacy-scan",
        "100ms",
        "--unfiled-domain",
        "api.unfiled.example.com",
    ]);
    let fleet = fleet_at(&sandbox.url);
    let mut apps = vec![
        App {
            extra: "    domains: { request: ['https://api.unfiled.example.com'] }\n",
            ..App::new("shop", SHOP)
        },
        App::new("tea", TEA),
    ];
    fleet.write(&apps);
    let out = fleet.wait("30s");
    let all = text(&out);
    assert_eq!(code(&out), 1, "the blocked app fails: {all}");
    assert!(
        all.contains("https://api.unfiled.example.com is not in effect"),
        "{all}"
    );
    assert!(all.contains("ICP-filed"), "what to do: {all}");
    let seen = records(&sandbox.url);
    assert_eq!(count(&seen, SHOP, "wxa/commit"), 1, "the commit still goes");
    assert_eq!(
        count(&seen, SHOP, "wxa/submit_audit"),
        0,
        "no audit slot spent"
    );
    assert_eq!(
        count(&seen, TEA, "wxa/release"),
        1,
        "the other app is through"
    );

    apps[0].extra = "    domains: { request: ['https://api.shop.example.com'] }\n";
    fleet.write(&apps);
    fleet.converge();
    let seen = records(&sandbox.url);
    assert_eq!(count(&seen, SHOP, "wxa/submit_audit"), 1);
    assert_eq!(count(&seen, SHOP, "wxa/release"), 1);
}

#[test]
fn the_privacy_guide_is_set_before_the_submission_and_on_the_live_guide_after_a_release() {
    let sandbox = spawn_sandbox(&[
        "--audit-delay",
        "200ms",
        "--privacy-scan",
        "100ms",
        "--privacy-key",
        "Album",
    ]);
    let fleet = fleet_at(&sandbox.url);
    // The scan finds Album, which the guide does not describe: nothing is submitted.
    let mut app = App {
        extra: concat!(guide!(), "      texts: { Location: 推荐附近门店 }\n"),
        ..App::new("shop", SHOP)
    };
    fleet.write(std::slice::from_ref(&app));
    let plan = fleet.plan_json();
    assert_eq!(
        step_kinds(&plan, "shop")[..3],
        ["commit", "set_privacy", "submit_audit"],
        "{plan}"
    );
    let out = fleet.wait("30s");
    let all = text(&out);
    assert_eq!(code(&out), 1, "{all}");
    assert!(all.contains("does not describe: Album"), "{all}");
    assert!(all.contains("privacy.texts"), "what to do: {all}");
    let remote = RemoteSandbox::new(&sandbox.url);
    let by_call = block_on(remote.calls()).unwrap().by_call;
    assert_eq!(
        by_call.get("wxa/submit_audit"),
        None,
        "never sent: {by_call:?}"
    );

    // Described: the guide goes in after the scan, then the submission and the first release
    // (which copies the guide to the live one).
    app.extra = concat!(
        guide!(),
        "      texts: { Location: 推荐附近门店, Album: 上传菜品照片 }\n"
    );
    fleet.write(std::slice::from_ref(&app));
    fleet.converge();
    let seen = records(&sandbox.url);
    let order = calls(&seen, SHOP);
    let set = order
        .iter()
        .position(|c| c == "cgi-bin/component/setprivacysetting")
        .expect("the guide was set");
    let submit = order.iter().position(|c| c == "wxa/submit_audit").unwrap();
    assert!(set < submit, "{order:?}");
    assert_eq!(
        left_by(&seen, SHOP, "cgi-bin/component/setprivacysetting"),
        ["v2 Album"],
        "the keys the scan found"
    );
    assert_eq!(count(&seen, SHOP, "wxa/release"), 1);

    // A second build: after its release the live guide is set as well.
    app.version = "1.1.0";
    fleet.write(std::slice::from_ref(&app));
    fleet.converge();
    let seen = records(&sandbox.url);
    let order = calls(&seen, SHOP);
    assert_eq!(
        order.last().map(String::as_str),
        Some("cgi-bin/component/setprivacysetting")
    );
    let release = order.iter().rposition(|c| c == "wxa/release").unwrap();
    assert!(release < order.len() - 1, "{order:?}");
    assert!(
        left_by(&seen, SHOP, "cgi-bin/component/setprivacysetting")
            .contains(&"v1 Album".to_owned()),
        "{seen:?}"
    );
}

#[test]
fn the_fleet_refuses_domains_and_privacy_it_cannot_send() {
    let fleet = common::TestFleet::new();
    let bad = App {
        extra: "    domains: { request: ['http://api.example.com', 'https://10.0.0.1'] }\n    privacy: { contact: {}, notice_method: '', store_expire: 30 days, texts: { Album: '' } }\n",
        ..App::new("shop", SHOP)
    };
    let ali = App {
        extra: "    domains: { request: ['https://api.example.com'] }\n",
        ..App::alipay("ali", "2021000000000001")
    };
    fleet.write(&[bad, ali]);
    let out = fleet.run(&["validate"]);
    let all = text(&out);
    assert_eq!(code(&out), 1, "an invalid fleet: {all}");
    for words in [
        "apps[0].domains.request[0]",
        "starts with `https://`",
        "apps[0].domains.request[1]",
        "no IP addresses",
        "apps[0].privacy.contact",
        "apps[0].privacy.notice_method",
        "`30 days` is not a number of days",
        "apps[0].privacy.texts.Album",
        "apps[1].domains",
        "managed on WeChat only",
    ] {
        assert!(all.contains(words), "{words}: {all}");
    }
}

#[test]
fn jump_rules_are_added_published_after_the_release_and_deleted_when_they_leave() {
    let sandbox = spawn_sandbox(&[
        "--audit-delay",
        "200ms",
        "--privacy-scan",
        "100ms",
        "--jump-unverified",
        "unverified.example.com",
    ]);
    let fleet = fleet_at(&sandbox.url);
    let mut app = App {
        extra: "    qrcode_jump:\n      - { prefix: 'https://shop.example.com/t/', path: pages/table/index, test_links: ['https://shop.example.com/t/1'] }\n",
        ..App::new("shop", SHOP)
    };
    fleet.write(std::slice::from_ref(&app));
    let plan = fleet.plan_json();
    let shop = common::app_plan(&plan, "shop");
    assert_eq!(step_kinds(&plan, "shop")[0], "add_jump_rule", "{shop}");
    let notes = shop["notes"].to_string();
    assert!(
        notes.contains(".txt") && notes.contains("85069"),
        "the file to host: {notes}"
    );
    assert!(
        notes.contains("85074"),
        "published after the release: {notes}"
    );
    fleet.converge();
    let seen = records(&sandbox.url);
    let order = calls(&seen, SHOP);
    let at = |call: &str| order.iter().position(|c| c == call).expect(call);
    assert!(
        at("cgi-bin/wxopen/qrcodejumpadd") < at("wxa/commit"),
        "{order:?}"
    );
    assert!(
        at("wxa/release") < at("cgi-bin/wxopen/qrcodejumppublish"),
        "{order:?}"
    );
    assert_eq!(
        left_by(&seen, SHOP, "cgi-bin/wxopen/qrcodejumppublish"),
        ["https://shop.example.com/t/ pages/table/index published"]
    );
    let plan = fleet.plan_json();
    assert_eq!(
        common::app_plan(&plan, "shop")["state"],
        "in_sync",
        "{plan}"
    );

    // The rule leaves the fleet: deleted. A rule whose file is not hosted fails with the file
    // to host, and holds nothing else back.
    app.extra = "    qrcode_jump:\n      - { prefix: 'https://unverified.example.com/t/', path: pages/table/index }\n";
    fleet.write(std::slice::from_ref(&app));
    let out = fleet.wait("30s");
    let all = text(&out);
    assert_eq!(code(&out), 1, "the run says the rule failed: {all}");
    assert!(all.contains("85069"), "{all}");
    assert!(
        all.contains(".txt` with the content `"),
        "which file, with what: {all}"
    );
    let seen = records(&sandbox.url);
    assert_eq!(count(&seen, SHOP, "cgi-bin/wxopen/qrcodejumpdelete"), 1);
    assert_eq!(
        left_by(&seen, SHOP, "cgi-bin/wxopen/qrcodejumpdelete"),
        Vec::<String>::new()
    );
    let plan = fleet.plan_json();
    let shop = common::app_plan(&plan, "shop");
    assert!(
        step_kinds(&plan, "shop").is_empty(),
        "not tried again until the rule changes: {shop}"
    );
    assert!(
        shop["notes"]
            .to_string()
            .contains("change the rule to try again"),
        "{shop}"
    );
}
