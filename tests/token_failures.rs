//! A failed token mint end to end: `plan` over many WeChat apps against a standalone sandbox
//! that rejects the stored verify ticket makes one mint attempt, not one per app, and every app
//! still reports the platform's code with its hint.

mod common;

use common::{TestFleet, code, spawn_sandbox, text};
use minifleet::platform::wechat::ticket_key;
use minifleet::sandbox::RemoteSandbox;
use minifleet::secret::Secret;
use minifleet::store::{Store, Token};

const COMPONENT: &str = "wx00000000000000aa";

/// A fleet file of `n` WeChat apps `app-000`… served by the standalone sandbox at `url`.
fn wechat_apps(fleet: &TestFleet, n: usize, url: &str) {
    let mut yaml = format!(
        "version: 1\n\
         platforms:\n  wechat:\n    component_appid: {COMPONENT}\n    api_base: sandbox\n\
         templates:\n  shop:\n    wechat: {{ template_id: 7 }}\n\
         defaults:\n  template: shop\n  version: 1.0.0\n  description: Test build\n  audit:\n    items:\n      - {{ address: pages/index/index, tag: shop, first_class: 餐饮, second_class: 餐厅, first_id: 220, second_id: 225, title: Home }}\n\
         sandbox:\n  url: {url}\n\
         apps:\n"
    );
    for i in 0..n {
        yaml.push_str(&format!(
            "  - name: app-{i:03}\n    platform: wechat\n    appid: \"wx{i:016x}\"\n    ext: {{ shopId: \"{i}\" }}\n"
        ));
    }
    fleet.write_raw(&yaml);
}

/// Stores a fresh verify ticket the sandbox never issued (as after a mix-up of components).
fn store_a_rejected_ticket(fleet: &TestFleet) {
    let store = Store::open(&fleet.store()).expect("open the store");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let ticket = Token {
        value: Secret::new("ticket@@@never-issued"),
        expires_at: Some(now + 3600),
        obtained_at: now,
    };
    store.put_token(&ticket_key(COMPONENT), &ticket).unwrap();
    store.flush().unwrap();
}

#[test]
fn a_rejected_verify_ticket_is_tried_once_for_a_hundred_and_twenty_apps_not_once_per_app() {
    let sandbox = spawn_sandbox(&[]);
    let fleet = TestFleet::new();
    wechat_apps(&fleet, 120, &sandbox.url);
    store_a_rejected_ticket(&fleet);
    let out = fleet.run(&["plan", "--concurrency", "16", "-o", "json"]);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let calls = runtime
        .block_on(RemoteSandbox::new(&sandbox.url).calls())
        .unwrap();
    let count = |call: &str| calls.by_call.get(call).copied().unwrap_or(0);
    assert_eq!(
        count("cgi-bin/component/api_component_token"),
        1,
        "{calls:?}\n{}",
        text(&out)
    );
    assert_eq!(
        count("cgi-bin/component/api_start_push_ticket"),
        1,
        "{calls:?}"
    );
    assert_eq!(
        count("cgi-bin/component/api_authorizer_token"),
        0,
        "{calls:?}"
    );
    assert_ne!(
        code(&out),
        0,
        "unobserved apps make the plan fail:\n{}",
        text(&out)
    );
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).expect("plan JSON");
    let errors = plan["errors"].as_array().expect("errors");
    assert_eq!(
        errors.len(),
        120,
        "every app reports the failure:\n{}",
        text(&out)
    );
    for error in errors {
        assert_eq!(error["code"], "61006", "{error}");
        assert_eq!(error["call"], "cgi-bin/component/api_component_token");
        let hint = error["hint"].as_str().unwrap_or_default();
        assert!(
            hint.contains("component_verify_ticket every 10 minutes"),
            "{error}"
        );
    }
}
