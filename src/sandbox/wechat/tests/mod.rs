//! State-machine tests of the WeChat simulator, driven through [`routes::dispatch`] with a
//! controlled clock; token, method and persistence checks through [`Sim::call`] are in `access`.

mod access;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use super::persist::fresh_world;
use super::routes::{Env, Method, Reply, dispatch};
use super::state::World;
use super::*;
use crate::fleet::RejectRule;

const APP: &str = "wx1111111111111111";
/// 2024-03-05T02:00:00Z (10:00 in Beijing).
const T0: u64 = 1_709_604_000_000;
const DAY: u64 = 86_400_000;

fn spec() -> SandboxSpec {
    SandboxSpec {
        audit_delay_ms: 1_000,
        privacy_scan_ms: 500,
        audit_quota: 100,
        reject: Vec::new(),
        ..SandboxSpec::default()
    }
}

/// The simulator's world under a hand-driven clock, with one authorized app.
struct Harness {
    world: World,
    spec: SandboxSpec,
    now: u64,
    token: String,
}

impl Harness {
    fn new(spec: SandboxSpec) -> Harness {
        let mut world = fresh_world();
        world.authorize(APP, T0);
        let mut h = Harness {
            world,
            spec,
            now: T0,
            token: String::new(),
        };
        h.mint();
        h
    }

    fn mint(&mut self) {
        let token = self.world.mint_authorizer_token(APP, 7_200_000, self.now);
        self.token = token.unwrap().value;
    }

    fn advance(&mut self, ms: u64) {
        self.now += ms;
        self.mint();
    }

    fn call(&mut self, method: Method, path: &str, query: &[(&str, &str)], body: &[u8]) -> Reply {
        let mut q: BTreeMap<String, String> = query
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        q.insert("access_token".into(), self.token.clone());
        let env = Env {
            spec: &self.spec,
            token_ttl_ms: 7_200_000,
            now: self.now,
        };
        dispatch(&mut self.world, &env, method, path, &q, body).0
    }

    fn get(&mut self, path: &str) -> Reply {
        self.call(Method::Get, path, &[], b"")
    }

    fn post(&mut self, path: &str, body: Value) -> Reply {
        self.call(Method::Post, path, &[], body.to_string().as_bytes())
    }

    fn commit(&mut self, version: &str, ext: Value) -> Reply {
        let ext_json = json!({"extAppid": APP, "extEnable": true, "ext": ext}).to_string();
        self.post(
            "wxa/commit",
            json!({"template_id": 42, "ext_json": ext_json, "user_version": version,
                   "user_desc": format!("menu {version}")}),
        )
    }

    fn submit(&mut self) -> Reply {
        self.post(
            "wxa/submit_audit",
            json!({"item_list": [{"address": "pages/index/index"}]}),
        )
    }

    /// Commits `version`, waits out the scan, submits and waits out the audit.
    fn approved(&mut self, version: &str) {
        assert_eq!(self.commit(version, json!({"v": version})).errcode(), 0);
        self.advance(self.spec.privacy_scan_ms);
        assert_eq!(self.submit().errcode(), 0);
        self.advance(self.spec.audit_delay_ms);
    }

    fn release(&mut self) -> Reply {
        self.post("wxa/release", json!({}))
    }

    fn gray(&mut self, pct: Value) -> Reply {
        self.post("wxa/grayrelease", json!({ "gray_percentage": pct }))
    }

    fn live_version(&mut self) -> Option<String> {
        let info = self.post("wxa/getversioninfo", json!({})).body;
        info.pointer("/release_info/release_version")
            .and_then(Value::as_str)
            .map(str::to_string)
    }

    fn plan(&mut self) -> (u64, u64) {
        let plan = self.get("wxa/getgrayreleaseplan").body;
        let field = |k: &str| plan["gray_release_plan"][k].as_u64().unwrap();
        (field("status"), field("gray_percentage"))
    }

    fn history(&mut self) -> Vec<String> {
        let reply = self.call(
            Method::Get,
            "wxa/revertcoderelease",
            &[("action", "get_history_version")],
            b"",
        );
        reply.body["version_list"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["user_version"].as_str().unwrap().to_string())
            .collect()
    }
}

#[test]
fn commit_scan_submit_approve_release() {
    let mut h = Harness::new(spec());
    assert_eq!(h.get("wxa/get_latest_auditstatus").errcode(), 85058);
    assert_eq!(h.get("wxa/security/get_code_privacy_info").errcode(), 85086);
    assert_eq!(h.submit().errcode(), 85086);
    assert_eq!(h.commit("1.0.0", json!({})).errcode(), 0);
    assert_eq!(h.get("wxa/security/get_code_privacy_info").errcode(), 61039);
    assert_eq!(h.submit().errcode(), 61039);
    h.advance(500);
    let privacy = h.get("wxa/security/get_code_privacy_info");
    assert_eq!(privacy.body["without_auth_list"], json!([]));
    let submitted = h.submit();
    assert_eq!(submitted.errcode(), 0);
    let auditid = submitted.body["auditid"].as_u64().unwrap();
    let latest = h.get("wxa/get_latest_auditstatus").body;
    assert_eq!(latest["status"], 2);
    assert_eq!(latest["auditid"], auditid);
    assert_eq!(latest["user_version"], "1.0.0");
    assert_eq!(h.release().errcode(), 85019);
    h.advance(1_000);
    assert_eq!(h.get("wxa/get_latest_auditstatus").body["status"], 0);
    let by_id = h.post("wxa/get_auditstatus", json!({ "auditid": auditid }));
    assert_eq!(by_id.body["status"], 0);
    assert_eq!(
        h.post("wxa/get_auditstatus", json!({"auditid": 999}))
            .errcode(),
        85012
    );
    assert_eq!(h.live_version(), None);
    assert_eq!(h.release().errcode(), 0);
    assert_eq!(h.live_version().as_deref(), Some("1.0.0"));
    assert_eq!(h.release().errcode(), 85052);
    let info = h.post("wxa/getversioninfo", json!({})).body;
    assert_eq!(info["exp_info"]["exp_desc"], "menu 1.0.0");
}

#[test]
fn first_release_cannot_be_gray_then_gray_only_goes_up() {
    let mut h = Harness::new(spec());
    h.approved("1.0.0");
    assert_eq!(h.gray(json!(10)).errcode(), 85079);
    assert_eq!(h.release().errcode(), 0);
    h.approved("2.0.0");
    assert_eq!(h.gray(json!(0)).errcode(), 85081);
    assert_eq!(h.gray(json!(101)).errcode(), 85081);
    assert_eq!(h.gray(json!("10")).errcode(), 85081);
    assert_eq!(h.gray(json!(10)).errcode(), 0);
    assert_eq!(h.plan(), (1, 10));
    assert_eq!(h.live_version().as_deref(), Some("2.0.0"));
    assert_eq!(h.gray(json!(10)).errcode(), 85082);
    assert_eq!(h.gray(json!(5)).errcode(), 85082);
    assert_eq!(h.gray(json!(50)).errcode(), 0);
    assert_eq!(h.plan(), (1, 50));
    assert_eq!(h.release().errcode(), 0);
    assert_eq!(h.plan(), (3, 100));
    assert_eq!(h.release().errcode(), 85052);
    assert_eq!(h.history(), ["1.0.0"]);
}

#[test]
fn gray_to_100_finishes_the_plan() {
    let mut h = Harness::new(spec());
    h.approved("1.0.0");
    h.release();
    h.approved("2.0.0");
    assert_eq!(h.gray(json!(30)).errcode(), 0);
    assert_eq!(h.gray(json!(100)).errcode(), 0);
    assert_eq!(h.plan().0, 3);
    assert_eq!(h.gray(json!(100)).errcode(), 85052);
}

#[test]
fn gray_needs_the_latest_audit_approved() {
    let mut h = Harness::new(spec());
    h.approved("1.0.0");
    h.release();
    h.commit("2.0.0", json!({}));
    h.advance(500);
    h.submit();
    assert_eq!(h.gray(json!(10)).errcode(), 85080);
    assert_eq!(h.release().errcode(), 85020);
}

#[test]
fn revert_gray_puts_everyone_back_on_the_pre_gray_release() {
    let mut h = Harness::new(spec());
    h.approved("1.0.0");
    h.release();
    h.approved("2.0.0");
    h.gray(json!(20));
    assert_eq!(h.get("wxa/revertcoderelease").errcode(), 87011);
    assert_eq!(h.get("wxa/revertgrayrelease").errcode(), 0);
    assert_eq!(h.plan().0, 4);
    assert_eq!(h.live_version().as_deref(), Some("1.0.0"));
    assert!(h.history().is_empty());
    assert_eq!(h.get("wxa/revertgrayrelease").errcode(), 0);
    assert_eq!(h.live_version().as_deref(), Some("1.0.0"));
    // gray again at a lower percentage after the revert
    assert_eq!(h.gray(json!(5)).errcode(), 0);
    assert_eq!(h.plan(), (1, 5));
}

#[test]
fn rollback_restores_the_previous_release_once() {
    let mut h = Harness::new(spec());
    h.approved("1.0.0");
    assert_eq!(h.release().errcode(), 0);
    assert_eq!(h.get("wxa/revertcoderelease").errcode(), 87012);
    h.approved("2.0.0");
    assert_eq!(h.release().errcode(), 0);
    assert_eq!(h.history(), ["1.0.0"]);
    assert_eq!(h.get("wxa/revertcoderelease").errcode(), 0);
    assert_eq!(h.live_version().as_deref(), Some("1.0.0"));
    assert_eq!(h.get("wxa/revertcoderelease").errcode(), 87012);
    // releasing the approved build again is allowed after the rollback
    assert_eq!(h.release().errcode(), 0);
    assert_eq!(h.live_version().as_deref(), Some("2.0.0"));
    let bad = h.call(
        Method::Get,
        "wxa/revertcoderelease",
        &[("action", "x")],
        b"",
    );
    assert_eq!(bad.errcode(), 40097);
}

#[test]
fn history_lists_at_most_five_newest_first() {
    let mut h = Harness::new(spec());
    for v in 1..=7 {
        h.approved(&format!("{v}.0.0"));
        assert_eq!(h.release().errcode(), 0);
    }
    assert_eq!(h.history(), ["6.0.0", "5.0.0", "4.0.0", "3.0.0", "2.0.0"]);
}

#[test]
fn one_audit_at_a_time() {
    let mut h = Harness::new(spec());
    h.commit("1.0.0", json!({}));
    h.advance(500);
    assert_eq!(h.submit().errcode(), 0);
    assert_eq!(h.submit().errcode(), 85009);
    h.advance(1_000);
    assert_eq!(h.submit().errcode(), 0);
}

#[test]
fn item_list_must_have_one_to_five_items_when_given() {
    let mut h = Harness::new(spec());
    h.commit("1.0.0", json!({}));
    h.advance(500);
    let six: Vec<Value> = (0..6).map(|_| json!({})).collect();
    assert_eq!(
        h.post("wxa/submit_audit", json!({"item_list": six}))
            .errcode(),
        85006
    );
    assert_eq!(
        h.post("wxa/submit_audit", json!({"item_list": []}))
            .errcode(),
        85006
    );
    assert_eq!(
        h.post("wxa/submit_audit", json!({"version_desc": "x"}))
            .errcode(),
        0
    );
}

#[test]
fn monthly_quota_is_component_wide() {
    let mut h = Harness::new(SandboxSpec {
        audit_quota: 2,
        ..spec()
    });
    let quota = h.get("wxa/queryquota").body;
    assert_eq!(
        (quota["rest"].as_u64(), quota["limit"].as_u64()),
        (Some(2), Some(2))
    );
    h.approved("1.0.0");
    // a second app of the same component uses the same quota
    h.world.authorize("wx2222222222222222", h.now);
    let other = h
        .world
        .mint_authorizer_token("wx2222222222222222", 7_200_000, h.now);
    let own = std::mem::replace(&mut h.token, other.unwrap().value);
    h.commit_for_other();
    h.token = own;
    assert_eq!(h.get("wxa/queryquota").body["rest"], 0);
    h.commit("2.0.0", json!({}));
    h.advance(500);
    assert_eq!(h.submit().errcode(), 85085);
    // the quota resets with the Beijing month
    h.advance(31 * DAY);
    assert_eq!(h.get("wxa/queryquota").body["rest"], 2);
    assert_eq!(h.submit().errcode(), 0);
}

impl Harness {
    fn commit_for_other(&mut self) {
        let ext_json = json!({"extAppid": "wx2222222222222222", "ext": {}}).to_string();
        let body = json!({"template_id": 42, "ext_json": ext_json, "user_version": "1.0.0"});
        assert_eq!(self.post("wxa/commit", body).errcode(), 0);
        self.now += self.spec.privacy_scan_ms;
        assert_eq!(self.submit().errcode(), 0);
    }
}

#[test]
fn withdrawals_are_capped_per_day_and_month() {
    let mut h = Harness::new(SandboxSpec {
        audit_quota: 1_000,
        audit_delay_ms: 10 * DAY,
        ..spec()
    });
    assert_eq!(h.get("wxa/undocodeaudit").errcode(), 85058);
    h.commit("1.0.0", json!({}));
    h.advance(500);
    let withdraw = |h: &mut Harness| {
        assert_eq!(h.submit().errcode(), 0);
        h.get("wxa/undocodeaudit").errcode()
    };
    for _ in 0..5 {
        assert_eq!(withdraw(&mut h), 0);
    }
    assert_eq!(h.get("wxa/get_latest_auditstatus").body["status"], 3);
    assert_eq!(withdraw(&mut h), 87013);
    assert_eq!(h.get("wxa/get_latest_auditstatus").body["status"], 2);
    h.advance(DAY);
    // the audit still in flight is withdrawn on the next day
    assert_eq!(h.get("wxa/undocodeaudit").errcode(), 0);
    for _ in 0..4 {
        assert_eq!(withdraw(&mut h), 0);
    }
    h.advance(DAY);
    assert_eq!(withdraw(&mut h), 87013, "10 a month");
}

#[test]
fn reject_rules_match_on_every_when_ext_pair() {
    let rule = RejectRule {
        when_ext: BTreeMap::from([
            ("theme".to_string(), json!("red")),
            ("shopId".to_string(), json!("1001")),
        ]),
        reason: "logo infringes a trademark<br>see rule 3.2".into(),
    };
    let mut h = Harness::new(SandboxSpec {
        reject: vec![rule],
        ..spec()
    });
    h.commit("1.0.0", json!({"theme": "red", "shopId": "1002"}));
    h.advance(500);
    h.submit();
    h.advance(1_000);
    assert_eq!(h.get("wxa/get_latest_auditstatus").body["status"], 0);
    h.commit(
        "1.0.1",
        json!({"theme": "red", "shopId": "1001", "more": 1}),
    );
    h.advance(500);
    h.submit();
    h.advance(1_000);
    let latest = h.get("wxa/get_latest_auditstatus").body;
    assert_eq!(latest["status"], 1);
    assert_eq!(
        latest["reason"],
        "logo infringes a trademark<br>see rule 3.2"
    );
    assert_eq!(h.release().errcode(), 85020);
}

#[test]
fn a_privacy_api_the_code_calls_must_be_declared_before_a_submission() {
    let mut h = Harness::new(SandboxSpec {
        privacy_apis: vec!["getLocation".into()],
        ..spec()
    });
    assert_eq!(h.commit("1.0.0", json!({})).errcode(), 0);
    h.advance(500);
    let scan = h.get("wxa/security/get_code_privacy_info");
    assert_eq!(scan.body["without_conf_list"], json!(["wx.getLocation"]));
    assert_eq!(h.submit().errcode(), 61040, "refused, and no quota spent");
    assert_eq!(h.get("wxa/queryquota").body["rest"], 100);
    let declared = json!({"extAppid": APP, "ext": {}, "requiredPrivateInfos": ["getLocation"]});
    let commit = json!({"template_id": 42, "ext_json": declared.to_string(), "user_version": "1.0.1",
                        "user_desc": "menu"});
    assert_eq!(h.post("wxa/commit", commit).errcode(), 0);
    h.advance(500);
    let scan = h.get("wxa/security/get_code_privacy_info");
    assert_eq!(scan.body["without_conf_list"], json!([]));
    assert_eq!(h.submit().errcode(), 0);
}

#[test]
fn commit_checks_template_and_ext_json() {
    let mut h = Harness::new(spec());
    let ext = json!({"extAppid": APP}).to_string();
    let cases = [
        (json!({"template_id": "42", "ext_json": ext}), 85014),
        (json!({"ext_json": ext}), 85014),
        (
            json!({"template_id": 42, "ext_json": {"extAppid": APP}}),
            85048,
        ),
        (json!({"template_id": 42, "ext_json": "{not json"}), 85048),
        (json!({"template_id": 42, "ext_json": "[]"}), 85048),
        (
            json!({"template_id": 42, "ext_json": "{\"extAppid\":\"wx2\"}"}),
            85013,
        ),
        (json!({"template_id": 42, "ext_json": "{}"}), 85013),
        (
            json!({"template_id": 42, "ext_json": json!({"extAppid": APP, "colour": 1}).to_string()}),
            85013,
        ),
        (
            json!({"template_id": 42, "ext_json": json!({"extAppid": APP, "tabBar": {"list": [{"text": "Menu"}]}}).to_string()}),
            85046,
        ),
        (
            json!({"template_id": 42, "ext_json": json!({"extAppid": APP, "window": {}, "tabBar": {"list": [{"pagePath": "p", "text": "Menu"}]}}).to_string()}),
            0,
        ),
        (json!({"template_id": 42, "ext_json": ext}), 0),
    ];
    for (body, code) in cases {
        assert_eq!(h.post("wxa/commit", body.clone()).errcode(), code, "{body}");
    }
    let reply = h.call(Method::Post, "wxa/commit", &[], b"template_id=42");
    assert_eq!(reply.errcode(), 47001);
}

#[test]
fn testers_bind_unbind_and_list() {
    let mut h = Harness::new(spec());
    let bind = |h: &mut Harness, id: &str| h.post("wxa/bind_tester", json!({ "wechatid": id }));
    assert_eq!(bind(&mut h, "li").errcode(), 85001);
    assert_eq!(bind(&mut h, "9ops-li").errcode(), 85001);
    let first = bind(&mut h, "ops-li");
    assert_eq!(first.errcode(), 0);
    let userstr = first.body["userstr"].as_str().unwrap().to_string();
    assert_eq!(userstr.len(), 32);
    assert_eq!(bind(&mut h, "ops-li").errcode(), 85004);
    assert_eq!(bind(&mut h, "qa_wang").errcode(), 0);
    let members = |h: &mut Harness| -> BTreeSet<String> {
        let reply = h.post("wxa/memberauth", json!({"action": "get_experiencer"}));
        reply.body["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["userstr"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(members(&mut h).len(), 2);
    assert!(members(&mut h).contains(&userstr));
    let unbind = h.post("wxa/unbind_tester", json!({ "userstr": userstr }));
    assert_eq!(unbind.errcode(), 0);
    assert!(!members(&mut h).contains(&userstr));
    assert_eq!(
        h.post("wxa/unbind_tester", json!({"wechatid": "qa_wang"}))
            .errcode(),
        0
    );
    assert!(members(&mut h).is_empty());
    assert_eq!(
        h.post("wxa/unbind_tester", json!({"wechatid": "nobody1"}))
            .errcode(),
        0
    );
    for i in 0..50 {
        assert_eq!(bind(&mut h, &format!("tester{i:02}")).errcode(), 0);
    }
    assert_eq!(bind(&mut h, "tester50").errcode(), 85002);
}

#[test]
fn jump_rules_answer_the_guides_codes_and_publish_only_after_a_release() {
    let mut h = Harness::new(SandboxSpec {
        unfiled_domains: vec!["unfiled.example.com".into()],
        jump_unverified: vec!["unverified.example.com".into()],
        ..spec()
    });
    let rule = |prefix: &str, debug: Value, edit: u8| {
        json!({"prefix": prefix, "permit_sub_rule": 1, "path": "pages/table/index",
               "open_version": 3, "debug_url": debug, "is_edit": edit})
    };
    let add = "cgi-bin/wxopen/qrcodejumpadd";
    let t = "https://shop.example.com/t/";
    for (body, code) in [
        (rule("ftp://shop.example.com/", json!([]), 0), 85066),
        (rule(t, json!(["https://other.example.com/1"]), 0), 85068),
        (
            rule("https://unverified.example.com/t/", json!([]), 0),
            85069,
        ),
        (rule("https://unfiled.example.com/t/", json!([]), 0), 85076),
        (rule(t, json!([]), 1), 85066),
    ] {
        assert_eq!(h.post(add, body.clone()).errcode(), code, "{body}");
    }
    assert_eq!(
        h.post(add, rule(t, json!([format!("{t}1")]), 0)).errcode(),
        0
    );
    assert_eq!(
        h.post(add, rule(t, json!([]), 0)).errcode(),
        85071,
        "added already"
    );
    assert_eq!(h.post(add, rule(t, json!([]), 1)).errcode(), 0, "an edit");
    let listed = h.post("cgi-bin/wxopen/qrcodejumpget", json!({"get_type": 2}));
    assert_eq!(listed.body["rule_list"][0]["state"], 1, "unpublished");
    let file = h.post("cgi-bin/wxopen/qrcodejumpdownload", json!({}));
    assert!(file.body["file_name"].as_str().unwrap().ends_with(".txt"));

    let publish = json!({ "prefix": t });
    assert_eq!(
        h.post("cgi-bin/wxopen/qrcodejumppublish", publish.clone())
            .errcode(),
        85074
    );
    h.approved("1.0.0");
    assert_eq!(h.release().errcode(), 0);
    assert_eq!(
        h.post("cgi-bin/wxopen/qrcodejumppublish", publish.clone())
            .errcode(),
        0
    );
    let listed = h.post("cgi-bin/wxopen/qrcodejumpget", json!({"get_type": 2}));
    assert_eq!(listed.body["rule_list"][0]["state"], 2, "published");

    // Another app cannot take the prefix.
    h.world.authorize("wx2222222222222222", h.now);
    let token = h
        .world
        .mint_authorizer_token("wx2222222222222222", 7_200_000, h.now);
    let mine = std::mem::replace(&mut h.token, token.unwrap().value);
    assert_eq!(h.post(add, rule(t, json!([]), 0)).errcode(), 85072);
    h.token = mine;
    assert_eq!(
        h.post("cgi-bin/wxopen/qrcodejumpdelete", publish).errcode(),
        0
    );
    let listed = h.post("cgi-bin/wxopen/qrcodejumpget", json!({"get_type": 2}));
    assert_eq!(listed.body["rule_list"], json!([]));
}

#[test]
fn the_privacy_guide_is_kept_from_the_first_commit_and_copied_live_at_the_first_release() {
    let mut h = Harness::new(SandboxSpec {
        privacy_keys: vec!["Album".into()],
        ..spec()
    });
    let guide = |version: u8| {
        json!({"privacy_ver": version,
               "owner_setting": {"contact_email": "p@example.com", "notice_method": "弹窗"},
               "setting_list": [{"privacy_key": "Album", "privacy_text": "上传照片"}]})
    };
    let set = "cgi-bin/component/setprivacysetting";
    let get = "cgi-bin/component/getprivacysetting";
    assert_eq!(
        h.post(set, guide(2)).errcode(),
        0,
        "answered ok before a commit…"
    );
    assert_eq!(h.commit("1.0.0", json!({})).errcode(), 0);
    h.advance(h.spec.privacy_scan_ms);
    let read = h.post(get, json!({"privacy_ver": 2}));
    assert_eq!(read.body["setting_list"], json!([]), "…and kept nothing");
    assert_eq!(
        read.body["privacy_list"],
        json!(["Album"]),
        "the scan found the key"
    );
    assert_eq!(h.submit().errcode(), 85086, "no text for Album");
    let mut bad = guide(2);
    bad["owner_setting"]["store_expire_timestamp"] = json!("30 days");
    assert_eq!(h.post(set, bad).errcode(), 87072);
    assert_eq!(h.post(set, guide(2)).errcode(), 0);
    assert_eq!(h.submit().errcode(), 0);
    h.advance(h.spec.audit_delay_ms);
    assert_eq!(
        h.post(get, json!({"privacy_ver": 1})).body["setting_list"],
        json!([])
    );
    assert_eq!(h.release().errcode(), 0);
    let live = h.post(get, json!({"privacy_ver": 1}));
    assert_eq!(
        live.body["setting_list"][0]["privacy_key"], "Album",
        "copied at the first release"
    );
}

#[test]
fn submissions_name_pages_and_categories_the_build_and_the_app_have() {
    let mut h = Harness::new(spec());
    assert_eq!(h.get("wxa/get_page").errcode(), 85086, "nothing committed");
    let ext = json!({"extAppid": APP, "ext": {}, "extPages": {"pages/extra/index": {}}});
    let commit = json!({"template_id": 42, "ext_json": ext.to_string(), "user_version": "1.0.0"});
    assert_eq!(h.post("wxa/commit", commit).errcode(), 0);
    h.advance(h.spec.privacy_scan_ms);
    let pages = h.get("wxa/get_page").body["page_list"].clone();
    assert!(
        pages
            .as_array()
            .unwrap()
            .contains(&json!("pages/extra/index")),
        "{pages}"
    );
    let categories = h.get("wxa/get_category").body["category_list"].clone();
    assert_eq!(categories[0]["first_id"], 220);
    for (item, code) in [
        (json!({"address": "pages/nope/index"}), 85007),
        (
            json!({"address": "pages/index/index", "first_class": "零售"}),
            85008,
        ),
        (
            json!({"address": "pages/index/index", "first_class": "餐饮", "first_id": 1}),
            85008,
        ),
    ] {
        let body = json!({ "item_list": [item] });
        assert_eq!(h.post("wxa/submit_audit", body).errcode(), code, "{item}");
    }
    let ok = json!({"item_list": [{"address": "pages/extra/index", "first_class": "餐饮",
                                   "second_class": "餐厅", "first_id": 220, "second_id": 225}]});
    assert_eq!(h.post("wxa/submit_audit", ok).errcode(), 0);
}
