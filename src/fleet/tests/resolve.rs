//! Tests: a valid fleet file resolves into the expected desired state.

use serde_json::json;

use super::*;
use crate::fleet::{ApiBase, RejectRule, SandboxSpec};
use crate::model::{RegionType, Stage, fingerprint};

/// The full example of DESIGN §4, with every section.
const FULL: &str = r#"version: 1
platforms:
  wechat:
    component_appid: wx0123456789abcdef
    component_secret: ${env:WECHAT_COMPONENT_SECRET}
    token: ${env:WECHAT_PUSH_TOKEN}
    encoding_aes_key: ${file:secrets/aes.key}
    api_base: sandbox
  alipay:
    app_id: "2021000000000000"
    private_key: ${file:secrets/alipay-app-private.pem}
    alipay_public_key: ${file:secrets/alipay-public.pem}
    gateway: sandbox
templates:
  shop:
    wechat: { template_id: 42 }
    alipay: { template_id: "2021000000000100", template_version: "0.0.3" }
defaults:
  template: shop
  version: 1.4.0
  description: Spring menu
  ext: { apiBase: https://api.example.com, theme: { color: red, font: serif } }
  testers: [ops-li]
  gray: 100
  stage: release
  labels: { team: core }
  audit:
    items:
      - { address: pages/index/index, tag: food shop, first_class: 餐饮, second_class: 餐厅, first_id: 1, second_id: 2, title: Home }
    version_desc: Spring menu update
apps:
  - name: tea-house
    platform: wechat
    appid: wx1111111111111111
    labels: { region: east }
    version: 1.5.0
    ext: { shopId: "1001", theme: { color: green } }
    testers: [qa-wang, ops-li]
    gray: 10
    stage: audit
    audit: { version_desc: Tea update }
  - name: noodle-bar
    platform: wechat
    appid: wx2222222222222222
    description: Noodles
    ext: { shopId: 1002 }
  - name: rice-shop
    platform: alipay
    appid: "2021000000000101"
    app_auth_token: ${env:RICE_SHOP_TOKEN}
    ext: { shopId: "2001" }
    testers: [ops@example.com, "13800138000"]
    gray: 30
    audit: { region_type: CHINA, service_phone: 400-800-8888, mini_category_ids: [XS1011_XS2111] }
sandbox:
  audit_delay: 2s
  privacy_scan: 500ms
  audit_quota: 50
  privacy_apis: [getLocation]
  reject:
    - when_ext: { theme: neon }
      reason: Page content does not match the declared category
"#;

const AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
/// Stand-ins for the PEM files (the fleet only resolves them; the Alipay client parses them).
const APP_KEY: &str = "-----BEGIN PRIVATE KEY-----\nMIIapp\n-----END PRIVATE KEY-----\n";
const ALIPAY_KEY: &str = "-----BEGIN PUBLIC KEY-----\nMIIalipay\n-----END PUBLIC KEY-----\n";

/// Loads `text` from a temp dir holding `secrets/aes.key`, with both env secrets set.
fn load_full(text: &str) -> Fleet {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("secrets")).unwrap();
    std::fs::write(dir.path().join("secrets/aes.key"), format!("{AES_KEY}\n")).unwrap();
    std::fs::write(dir.path().join("secrets/alipay-app-private.pem"), APP_KEY).unwrap();
    std::fs::write(dir.path().join("secrets/alipay-public.pem"), ALIPAY_KEY).unwrap();
    let env = |name: &str| match name {
        "WECHAT_COMPONENT_SECRET" => Some("component-s3cret".to_owned()),
        "WECHAT_PUSH_TOKEN" => Some("push-t0ken".to_owned()),
        "RICE_SHOP_TOKEN" => Some("202401BBrice".to_owned()),
        _ => None,
    };
    match load_str(
        text,
        &dir.path().join("fleet.yaml"),
        &env,
        crate::platform::registry::SPECS,
    ) {
        Ok(fleet) => fleet,
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn the_full_example_resolves_platforms_and_sandbox() {
    let fleet = load_full(FULL);
    let wechat = wechat_config(&fleet).expect("wechat configured");
    assert_eq!(wechat.component_appid, "wx0123456789abcdef");
    assert_eq!(wechat.api_base, ApiBase::Sandbox);
    assert_eq!(
        wechat.component_secret.unwrap().expose(),
        "component-s3cret"
    );
    assert_eq!(wechat.token.unwrap().expose(), "push-t0ken");
    assert_eq!(wechat.encoding_aes_key.unwrap().expose(), AES_KEY);
    let want = SandboxSpec {
        audit_delay_ms: 2000,
        privacy_scan_ms: 500,
        audit_quota: 50,
        privacy_apis: vec!["getLocation".to_owned()],
        reject: vec![RejectRule {
            when_ext: [("theme".to_owned(), json!("neon"))].into_iter().collect(),
            reason: "Page content does not match the declared category".to_owned(),
        }],
        ..SandboxSpec::default()
    };
    assert_eq!(fleet.sandbox, want);
    assert!(fleet.path.ends_with("fleet.yaml"));
}

#[test]
fn apps_inherit_defaults_with_deep_merged_maps_and_replaced_lists() {
    let fleet = load_full(FULL);
    let names: Vec<&str> = fleet.apps.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(
        names,
        ["tea-house", "noodle-bar", "rice-shop"],
        "file order"
    );
    let tea = &fleet.apps[0];
    assert_eq!(tea.platform, crate::platform::wechat::spec::KIND);
    assert_eq!(tea.appid, "wx1111111111111111");
    assert_eq!(tea.template, "shop");
    assert_eq!(tea.template_id, "42");
    assert_eq!(tea.template_version, None);
    assert_eq!(tea.version, "1.5.0");
    assert_eq!(tea.description, "Spring menu");
    let want_ext = json!({
        "apiBase": "https://api.example.com",
        "shopId": "1001",
        "theme": { "color": "green", "font": "serif" },
    });
    assert_eq!(tea.ext(), want_ext, "maps merge key by key, recursively");
    assert_eq!(
        tea.testers,
        ["ops-li", "qa-wang"],
        "the app's list replaces, sorted"
    );
    assert_eq!(tea.gray, 10);
    assert_eq!(tea.stage, Stage::Audit);
    let labels: Vec<(&str, &str)> = tea.labels.iter().collect();
    assert_eq!(labels, [("region", "east"), ("team", "core")]);
    assert_eq!(
        tea.audit.items.len(),
        1,
        "items inherited through the merged audit map"
    );
    assert_eq!(tea.audit.items[0].title.as_deref(), Some("Home"));
    assert_eq!(tea.audit.items[0].first_class.as_deref(), Some("餐饮"));
    assert_eq!(tea.audit.version_desc.as_deref(), Some("Tea update"));
}

#[test]
fn scalars_keep_their_yaml_types_and_defaults_fill_the_rest() {
    let fleet = load_full(FULL);
    let noodle = &fleet.apps[1];
    assert_eq!(
        noodle.ext()["shopId"],
        json!(1002),
        "an unquoted number stays a number"
    );
    assert_eq!(
        fleet.apps[0].ext()["shopId"],
        json!("1001"),
        "a quoted number stays a string"
    );
    assert_eq!(noodle.version, "1.4.0");
    assert_eq!(noodle.description, "Noodles");
    assert_eq!(noodle.testers, ["ops-li"]);
    assert_eq!(noodle.gray, 100);
    assert_eq!(noodle.stage, Stage::Release);
    assert_eq!(
        noodle.audit.version_desc.as_deref(),
        Some("Spring menu update")
    );
}

#[test]
fn ext_json_is_canonical_and_the_fingerprint_follows_it() {
    let fleet = load_full(FULL);
    let tea = &fleet.apps[0];
    let want = r#"{"ext":{"apiBase":"https://api.example.com","shopId":"1001","theme":{"color":"green","font":"serif"}},"extAppid":"wx1111111111111111","extEnable":true}"#;
    assert_eq!(tea.ext_json, want);
    assert_eq!(tea.fingerprint, fingerprint("42", None, "1.5.0", want));
    assert_ne!(tea.fingerprint, fleet.apps[1].fingerprint);
}

#[test]
fn the_fingerprint_is_stable_and_changes_only_with_the_build() {
    let before = load_full(FULL);
    let again = load_full(FULL);
    assert_eq!(before.apps[0].fingerprint, again.apps[0].fingerprint);

    let reordered = FULL.replace(
        "ext: { shopId: \"1001\", theme: { color: green } }",
        "ext: { theme: { color: green }, shopId: \"1001\" }",
    );
    assert_eq!(
        load_full(&reordered).apps[0].fingerprint,
        before.apps[0].fingerprint,
        "key order is not content"
    );

    let ext_changed = FULL.replace("color: green", "color: blue");
    assert_ne!(
        load_full(&ext_changed).apps[0].fingerprint,
        before.apps[0].fingerprint
    );

    let gray_changed = FULL.replace("    gray: 10\n", "    gray: 20\n");
    assert_eq!(
        load_full(&gray_changed).apps[0].fingerprint,
        before.apps[0].fingerprint,
        "gray is not in the build"
    );
}

#[test]
fn minimal_values_take_their_defaults() {
    let fleet = load(BASE).unwrap();
    let app = &fleet.apps[0];
    assert_eq!(app.description, "");
    assert_eq!(app.ext(), json!({}));
    assert_eq!(
        app.ext_json,
        r#"{"ext":{},"extAppid":"wx1111111111111111","extEnable":true}"#
    );
    assert!(app.testers.is_empty());
    assert!(app.labels.is_empty());
    assert_eq!(app.gray, 100);
    assert_eq!(app.stage, Stage::Experience);
    assert_eq!(fleet.sandbox, SandboxSpec::default());
    let wechat = wechat_config(&fleet).unwrap();
    assert!(
        wechat.component_secret.is_none(),
        "optional with the sandbox"
    );
}

#[test]
fn the_default_api_base_is_the_real_host() {
    let text = edit(
        BASE,
        &[(
            "    api_base: sandbox\n",
            "    component_secret: ${env:S}\n",
        )],
    );
    let fleet = load_with(&text, &[("S", "x")]).unwrap();
    let base = wechat_config(&fleet).unwrap().api_base;
    assert_eq!(base, ApiBase::Url("https://api.weixin.qq.com".to_owned()));
}

#[test]
fn an_empty_apps_list_is_a_valid_empty_fleet() {
    let text = "version: 1\napps: []\n";
    let fleet = load(text).unwrap();
    assert!(fleet.apps.is_empty());
    assert!(wechat_config(&fleet).is_none());
}

#[test]
fn yaml_anchors_and_merge_keys_work_across_apps() {
    let text = edit(
        BASE,
        &[
            ("  - name: tea-house\n", "  - &tea\n    name: tea-house\n"),
            (
                "    appid: wx1111111111111111\n",
                "    appid: wx1111111111111111\n    ext: { theme: green }\n  - <<: *tea\n    name: noodle-bar\n    appid: wx2222222222222222\n",
            ),
        ],
    );
    // The merge key as written, and spelled with escapes in a quoted key (the reader looks for
    // merge keys only in files that could hold one).
    let escaped = text.replace("  - <<: *tea", "  - \"\\x3c\\u003c\": *tea");
    assert!(!escaped.contains("<<"));
    for text in [text, escaped] {
        let fleet = load_both(&text).unwrap();
        let noodle = &fleet.apps[1];
        assert_eq!(noodle.name, "noodle-bar");
        assert_eq!(noodle.platform, crate::platform::wechat::spec::KIND);
        assert_eq!(noodle.ext(), json!({"theme": "green"}));
    }
}

#[test]
fn a_mixed_fleet_resolves_the_alipay_platform_and_its_tokens() {
    let fleet = load_full(FULL);
    let alipay = alipay_config(&fleet).expect("alipay configured");
    assert_eq!(alipay.app_id, "2021000000000000");
    assert_eq!(alipay.gateway, ApiBase::Sandbox);
    assert_eq!(alipay.private_key.unwrap().expose(), APP_KEY.trim_end());
    assert_eq!(
        alipay.alipay_public_key.unwrap().expose(),
        ALIPAY_KEY.trim_end()
    );
    let tokens: Vec<(&str, &str)> = fleet
        .app_tokens
        .iter()
        .map(|(k, v)| (k.as_str(), v.expose()))
        .collect();
    assert_eq!(tokens, [("2021000000000101", "202401BBrice")]);
    assert!(wechat_config(&fleet).is_some(), "both platforms at once");
}

#[test]
fn an_alipay_app_resolves_with_its_template_version_and_ext_json() {
    let fleet = load_full(FULL);
    let rice = &fleet.apps[2];
    assert_eq!(rice.platform, crate::platform::alipay::spec::KIND);
    assert_eq!(rice.appid, "2021000000000101");
    assert_eq!(rice.template_id, "2021000000000100");
    assert_eq!(rice.template_version.as_deref(), Some("0.0.3"));
    assert_eq!(rice.gray, 30);
    assert_eq!(rice.testers, ["13800138000", "ops@example.com"]);
    let want_ext = r#"{"ext":{"apiBase":"https://api.example.com","shopId":"2001","theme":{"color":"red","font":"serif"}},"extEnable":true}"#;
    assert_eq!(rice.ext_json, want_ext, "no extAppid on Alipay");
    assert_eq!(
        rice.fingerprint,
        fingerprint("2021000000000100", Some("0.0.3"), "1.4.0", want_ext)
    );
    assert_eq!(rice.audit.region_type, Some(RegionType::China));
    assert_eq!(rice.audit.service_phone.as_deref(), Some("400-800-8888"));
    assert_eq!(rice.audit.mini_category_ids, ["XS1011_XS2111"]);
    assert_eq!(
        rice.audit.version_desc.as_deref(),
        Some("Spring menu update"),
        "inherited"
    );
    assert_eq!(
        rice.audit.items.len(),
        1,
        "WeChat items are inherited but unused"
    );
}

#[test]
fn the_default_alipay_gateway_is_the_real_one() {
    let text = FULL.replace("    gateway: sandbox\n", "");
    let fleet = load_full(&text);
    let gateway = alipay_config(&fleet).unwrap().gateway;
    assert_eq!(
        gateway,
        ApiBase::Url("https://openapi.alipay.com/gateway.do".to_owned())
    );
}
