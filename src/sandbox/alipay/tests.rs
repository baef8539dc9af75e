//! State-machine and gateway-check tests of the Alipay simulator, through [`Sim::call`] with
//! requests signed by the sandbox ISV key and responses verified with the gateway's public key.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};

use super::wire::timestamp;
use super::*;
use crate::fleet::RejectRule;
use crate::platform::alipay::sign::{PrivateKey, PublicKey, sign_content, verify_response};

const APP: &str = "2021004100000001";
const TEMPLATE: &str = "2021000000000100";

fn spec(build_ms: u64, audit_ms: u64) -> SandboxSpec {
    SandboxSpec {
        audit_delay_ms: audit_ms,
        privacy_scan_ms: build_ms,
        ..SandboxSpec::default()
    }
}

/// A caller signing with the sandbox ISV key.
struct Caller {
    sim: Sim,
    key: PrivateKey,
    alipay: PublicKey,
    token: String,
}

impl Caller {
    fn new(spec: &SandboxSpec) -> Caller {
        let sim = Sim::memory(spec);
        let token = sim.issue_app_auth_token(APP);
        Caller {
            key: PrivateKey::parse(&sim.isv_private_key_pem()).unwrap(),
            alipay: PublicKey::parse(&sim.alipay_public_key_pem()).unwrap(),
            sim,
            token,
        }
    }

    fn params(&self, method: &str, token: Option<&str>) -> BTreeMap<String, String> {
        let mut p: BTreeMap<String, String> = [
            ("app_id", DEFAULT_ISV_APP_ID),
            ("method", method),
            ("format", "JSON"),
            ("charset", "utf-8"),
            ("sign_type", "RSA2"),
            ("version", "1.0"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        p.insert("timestamp".into(), timestamp(state::now_ms()));
        if let Some(token) = token {
            p.insert("app_auth_token".into(), token.to_string());
        }
        p
    }

    fn send(&self, method: &str, mut params: BTreeMap<String, String>) -> (Value, bool) {
        params.insert("sign".into(), self.key.sign(&sign_content(&params)));
        self.raw(method, &params)
    }

    /// Sends `params` as they are; returns the node and whether it was signed (and verified).
    fn raw(&self, method: &str, params: &BTreeMap<String, String>) -> (Value, bool) {
        let body = self.sim.call(params);
        let verified = verify_response(&body, method, &self.alipay).unwrap();
        (
            serde_json::from_str(verified.node_text).unwrap(),
            verified.signed,
        )
    }

    /// A merchant call with `biz` as biz_content.
    fn call(&self, method: &str, biz: Value) -> Value {
        let mut params = self.params(method, Some(&self.token));
        params.insert("biz_content".into(), biz.to_string());
        let (node, signed) = self.send(method, params);
        assert!(signed, "business answers are signed: {node}");
        node
    }

    fn short(&self, method: &str, biz: Value) -> Value {
        self.call(&format!("alipay.open.mini.{method}"), biz)
    }

    fn upload(&self, version: &str, ext: &Value) -> Value {
        self.short(
            "version.upload",
            json!({"template_id": TEMPLATE, "template_version": "0.0.3",
                   "app_version": version, "ext": ext.to_string()}),
        )
    }

    fn apply(&self, version: &str, desc: &str) -> Value {
        let mut params = self.params("alipay.open.mini.version.audit.apply", Some(&self.token));
        params.insert("app_version".into(), version.into());
        params.insert("version_desc".into(), desc.into());
        params.insert("region_type".into(), "CHINA".into());
        self.send("alipay.open.mini.version.audit.apply", params).0
    }

    fn status(&self, version: &str) -> String {
        let node = self.short("version.detail.query", json!({"app_version": version}));
        node["status"].as_str().unwrap_or_default().to_string()
    }
}

fn sub_code(node: &Value) -> &str {
    node["sub_code"].as_str().unwrap_or("")
}

const DESC: &str = "Spring menu for the tea house — a long enough description";

fn ext() -> Value {
    json!({"extEnable": true, "ext": {"shopId": "1001"}})
}

#[test]
fn a_version_goes_from_upload_to_release_and_back() {
    let c = Caller::new(&spec(60, 60));
    let up = c.upload("1.0.0", &ext());
    assert_eq!(up["code"], "10000");
    assert_ne!(up["create_status"], "6", "the build takes a while");
    let early = c.short("experience.create", json!({"app_version": "1.0.0"}));
    assert_eq!(sub_code(&early), "MINI_APP_PACKAGE_INFO_NOT_EXIST");
    assert_eq!(
        sub_code(&c.apply("1.0.0", DESC)),
        "MINI_APP_PACKAGE_INFO_NOT_EXIST"
    );
    std::thread::sleep(Duration::from_millis(80));
    let built = c.short("version.build.query", json!({"app_version": "1.0.0"}));
    assert_eq!(
        (
            built["create_status"].as_str(),
            built["need_rotation"].as_str()
        ),
        (Some("6"), Some("false"))
    );
    assert_eq!(
        c.short("experience.create", json!({"app_version": "1.0.0"}))["code"],
        "10000"
    );
    let exp = c.short("experience.query", json!({"app_version": "1.0.0"}));
    assert_eq!(exp["status"], "expVersionPackged");
    assert_eq!(
        sub_code(&c.apply("1.0.0", "too short")),
        "VERSION_DESC_IS_BLANK"
    );
    assert_eq!(c.apply("1.0.0", DESC)["code"], "10000");
    assert_eq!(c.status("1.0.0"), "AUDITING");
    std::thread::sleep(Duration::from_millis(80));
    assert_eq!(c.status("1.0.0"), "WAIT_RELEASE");
    let gray = |p: &str| {
        c.short(
            "version.gray.online",
            json!({"app_version": "1.0.0", "gray_strategy": p}),
        )
    };
    assert_eq!(sub_code(&gray("p20")), "GRAY_STRATEGY_IS_INVALID");
    assert_eq!(gray("p10")["code"], "10000");
    assert_eq!(gray("p30")["code"], "10000");
    assert_eq!(
        sub_code(&gray("p10")),
        "GRAY_STRATEGY_IS_INVALID",
        "gray only widens"
    );
    let detail = c.short("version.detail.query", json!({"app_version": "1.0.0"}));
    assert_eq!(
        (detail["status"].as_str(), detail["gray_strategy"].as_str()),
        (Some("GRAY"), Some("p30"))
    );
    assert_eq!(detail["version_desc"], DESC);
    assert_eq!(
        c.short("version.online", json!({"app_version": "1.0.0"}))["code"],
        "10000"
    );
    assert_eq!(c.status("1.0.0"), "RELEASE");
    let nothing = c.short("version.rollback", json!({"app_version": "1.0.0"}));
    assert_eq!(sub_code(&nothing), "NO_ROLLBACK_VERSION");
    // A second release; rolling it back restores the first.
    c.upload("1.0.1", &ext());
    std::thread::sleep(Duration::from_millis(80));
    assert_eq!(c.apply("1.0.1", DESC)["code"], "10000");
    std::thread::sleep(Duration::from_millis(80));
    assert_eq!(
        c.short("version.online", json!({"app_version": "1.0.1"}))["code"],
        "10000"
    );
    assert_eq!(
        (c.status("1.0.0"), c.status("1.0.1")),
        ("OFFLINE".into(), "RELEASE".into())
    );
    let wrong = c.short("version.rollback", json!({"app_version": "1.0.0"}));
    assert_eq!(sub_code(&wrong), "VERSION_STATUS_ERROR");
    assert_eq!(
        c.short("version.rollback", json!({"app_version": "1.0.1"}))["code"],
        "10000"
    );
    assert_eq!(
        (c.status("1.0.0"), c.status("1.0.1")),
        ("RELEASE".into(), "OFFLINE".into())
    );
}

#[test]
fn versions_strictly_increase_and_development_versions_are_capped() {
    let c = Caller::new(&spec(0, 0));
    assert_eq!(c.upload("1.2.0", &ext())["code"], "10000");
    assert_eq!(sub_code(&c.upload("1.2.0", &ext())), "VERSION_HAS_EXISTED");
    assert_eq!(sub_code(&c.upload("1.1.9", &ext())), "VERSION_HAS_EXISTED");
    assert_eq!(
        c.upload("1.10.0", &ext())["code"],
        "10000",
        "numeric, not text order"
    );
    assert_eq!(
        sub_code(&c.upload("1.x.0", &ext())),
        "VERSION_EXCEEDED_LENGTH"
    );
    let bad_ext = c.short(
        "version.upload",
        json!({"template_id": TEMPLATE, "app_version": "2.0.0", "ext": "{not json"}),
    );
    assert_eq!(sub_code(&bad_ext), "INVALID_EXT_JSON");
    for patch in 0..18 {
        assert_eq!(c.upload(&format!("3.0.{patch}"), &ext())["code"], "10000");
    }
    let over = c.upload("4.0.0", &ext());
    assert_eq!(sub_code(&over), "DEV_VERSION_OVER_LIMIT");
    assert_eq!(over["sub_msg"], "开发中版本超过最大数量");
    assert_eq!(
        c.short("version.delete", json!({"app_version": "1.2.0"}))["code"],
        "10000"
    );
    assert_eq!(c.upload("4.0.0", &ext())["code"], "10000");
    let list = c.short(
        "version.list.query",
        json!({"version_status": "INIT,RELEASE"}),
    );
    let infos = list["app_version_infos"].as_array().unwrap();
    assert_eq!(infos.len(), 20);
    assert_eq!(infos[0]["app_version"], "4.0.0", "newest first");
    assert_eq!(infos[19]["app_version"], "1.10.0");
    let bare = c.short("version.list.query", json!({}));
    assert!(
        bare.get("app_version_infos").is_none(),
        "no filter, no list"
    );
}

#[test]
fn one_review_slot_and_rejections_by_rule() {
    let mut s = spec(0, 40);
    s.reject = vec![RejectRule {
        when_ext: [("shopId".to_string(), json!("666"))].into_iter().collect(),
        reason: "类目不符".into(),
    }];
    let c = Caller::new(&s);
    c.upload(
        "1.0.0",
        &json!({"extEnable": true, "ext": {"shopId": "666"}}),
    );
    c.upload("1.0.1", &ext());
    assert_eq!(c.apply("1.0.0", DESC)["code"], "10000");
    assert_eq!(
        sub_code(&c.apply("1.0.1", DESC)),
        "CAN_NOT_SUBMIT_WITH_AUDIT_GRAY"
    );
    assert_eq!(
        c.short("version.audit.cancel", json!({"app_version": "1.0.0"}))["code"],
        "10000"
    );
    assert_eq!(c.status("1.0.0"), "INIT");
    assert_eq!(c.apply("1.0.0", DESC)["code"], "10000");
    std::thread::sleep(Duration::from_millis(60));
    let detail = c.short("version.detail.query", json!({"app_version": "1.0.0"}));
    assert_eq!(
        (detail["status"].as_str(), detail["reject_reason"].as_str()),
        (Some("AUDIT_REJECT"), Some("类目不符"))
    );
    assert_eq!(
        sub_code(&c.apply("1.0.1", DESC)),
        "CAN_NOT_SUBMIT_WITH_AUDIT_GRAY"
    );
    let cancel = c.short("version.audited.cancel", json!({"app_version": "1.0.0"}));
    assert_eq!(cancel["code"], "10000");
    assert_eq!(c.apply("1.0.1", DESC)["code"], "10000");
    let delete = c.short("version.delete", json!({"app_version": "1.0.1"}));
    assert_eq!(
        sub_code(&delete),
        "VERSION_STATUS_ERROR",
        "only INIT versions can be deleted"
    );
}

#[test]
fn gateway_checks_come_before_the_method() {
    let c = Caller::new(&spec(0, 0));
    let method = "alipay.open.mini.version.list.query";
    let mut wrong_app = c.params(method, Some(&c.token));
    wrong_app.insert("app_id".into(), "2021999999999999".into());
    let (node, signed) = c.send(method, wrong_app);
    assert_eq!(
        (node["code"].as_str(), sub_code(&node), signed),
        (Some("40002"), "isv.invalid-app-id", false)
    );
    let mut forged = c.params(method, Some(&c.token));
    let other = PrivateKey::parse(include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/alipay/app_private_pkcs8.pem"
    )))
    .unwrap();
    forged.insert("sign".into(), other.sign(&sign_content(&forged)));
    let (node, signed) = c.raw(method, &forged);
    assert_eq!((sub_code(&node), signed), ("isv.invalid-signature", false));
    // As the real gateway does, the sub_msg quotes the signing string it computed, token included.
    let sub_msg = node["sub_msg"].as_str().unwrap_or_default();
    assert!(sub_msg.contains("网关生成的验签字符串为"), "{sub_msg}");
    let quoted = format!("app_auth_token={}&app_id=", c.token);
    assert!(sub_msg.contains(&quoted), "{sub_msg}");
    let mut stale = c.params(method, Some(&c.token));
    stale.insert(
        "timestamp".into(),
        timestamp(state::now_ms() - 20 * 60 * 1000),
    );
    assert_eq!(sub_code(&c.send(method, stale).0), "isv.invalid-timestamp");
    let mut utc = c.params(method, Some(&c.token));
    utc.insert(
        "timestamp".into(),
        timestamp(state::now_ms() - 8 * 3600 * 1000),
    );
    assert_eq!(sub_code(&c.send(method, utc).0), "isv.invalid-timestamp");
    let (node, _) = c.send(method, c.params(method, None));
    assert_eq!(
        (node["code"].as_str(), sub_code(&node)),
        (Some("40006"), "isv.self-invoke-forbidden")
    );
    let (node, _) = c.send(method, c.params(method, Some("nope")));
    assert_eq!(
        (node["code"].as_str(), sub_code(&node)),
        (Some("20001"), "aop.invalid-app-auth-token")
    );
    let mut no_method = c.params(method, None);
    no_method.remove("method");
    let body = c.sim.call(&no_method);
    assert!(body.starts_with("{\"error_response\":"), "{body}");
    assert!(body.contains("isv.missing-method") && !body.contains("\"sign\""));
    let mut rsa1 = c.params(method, Some(&c.token));
    rsa1.insert("sign_type".into(), "RSA".into());
    assert_eq!(
        sub_code(&c.send(method, rsa1).0),
        "isv.invalid-signature-type"
    );
    assert_eq!(c.sim.call_count(method), 7);
}

#[test]
fn authorization_codes_are_single_use_and_reauthorization_replaces_tokens() {
    let c = Caller::new(&spec(0, 0));
    let code = c.sim.authorize("2021004100000002");
    let method = "alipay.open.auth.token.app";
    let exchange = |code: &str| {
        let mut p = c.params(method, None);
        p.insert(
            "biz_content".into(),
            json!({"grant_type": "authorization_code", "code": code}).to_string(),
        );
        c.send(method, p).0
    };
    let node = exchange(&code);
    assert_eq!(node["code"], "10000");
    assert_eq!(node["auth_app_id"], "2021004100000002");
    assert!(node["user_id"].as_str().unwrap().starts_with("2088"));
    assert_eq!(node["tokens"][0]["app_auth_token"], node["app_auth_token"]);
    let token = node["app_auth_token"].as_str().unwrap().to_string();
    let again = exchange(&code);
    assert_eq!(
        (again["code"].as_str(), sub_code(&again)),
        (Some("40004"), "isv.code-invalid")
    );
    let list = "alipay.open.mini.version.list.query";
    assert_eq!(
        c.send(list, c.params(list, Some(&token))).0["code"],
        "10000"
    );
    c.sim.issue_app_auth_token("2021004100000002");
    assert_eq!(
        sub_code(&c.send(list, c.params(list, Some(&token))).0),
        "aop.invalid-app-auth-token"
    );
}

#[test]
fn members_are_invited_accepted_listed_and_removed() {
    let c = Caller::new(&spec(0, 0));
    let create = |logon: &str, role: &str| {
        c.call(
            "alipay.open.app.members.create",
            json!({"logon_id": logon, "role": role}),
        )
    };
    assert_eq!(create("qa@example.com", "EXPERIENCER")["code"], "10000");
    assert_eq!(create("13800138000", "EXPERIENCER")["code"], "10000");
    assert_eq!(
        sub_code(&create("qa@example.com", "EXPERIENCER")),
        "EXPERIENCER_ALREADY_EXIST"
    );
    assert_eq!(
        sub_code(&create("not-an-account", "EXPERIENCER")),
        "invalid_logon_id"
    );
    assert_eq!(sub_code(&create("a@example.com", "OWNER")), "INVALID_ROLE");
    let query = || {
        c.call(
            "alipay.open.app.members.query",
            json!({"role": "EXPERIENCER"}),
        )
    };
    let list = query();
    let members = list["app_member_info_list"].as_array().unwrap();
    assert_eq!(members.len(), 2);
    assert!(members.iter().all(|m| m["status"] == "UNCONFIRMED"));
    assert!(
        members
            .iter()
            .all(|m| m["user_id"].as_str().unwrap().starts_with("2088"))
    );
    assert_eq!(c.sim.accept_invites(APP), 2);
    assert_eq!(query()["app_member_info_list"][0]["status"], "VALID");
    let user_id = members[0]["user_id"].as_str().unwrap();
    let delete = c.call(
        "alipay.open.app.members.delete",
        json!({"role": "EXPERIENCER", "user_id": user_id}),
    );
    assert_eq!(delete["code"], "10000");
    assert_eq!(query()["app_member_info_list"].as_array().unwrap().len(), 1);
    for n in 0..(MAX_EXPERIENCERS - 1) {
        assert_eq!(
            create(&format!("t{n}@example.com"), "EXPERIENCER")["code"],
            "10000"
        );
    }
    assert_eq!(
        sub_code(&create("last@example.com", "EXPERIENCER")),
        "ROLE_OVER_LIMIT"
    );
}

#[test]
fn state_and_keys_survive_a_restart_through_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let first = Sim::new(
        &spec(0, 0),
        Persist::Store(store.clone()),
        DEFAULT_ISV_APP_ID,
    )
    .unwrap();
    let token = first.issue_app_auth_token(APP);
    let c = Caller {
        key: PrivateKey::parse(&first.isv_private_key_pem()).unwrap(),
        alipay: PublicKey::parse(&first.alipay_public_key_pem()).unwrap(),
        sim: first.clone(),
        token,
    };
    assert_eq!(c.upload("1.0.0", &ext())["code"], "10000");
    let pem = first.alipay_public_key_pem();
    drop(first);
    let second = Sim::new(&spec(0, 0), Persist::Store(store), DEFAULT_ISV_APP_ID).unwrap();
    assert_eq!(second.alipay_public_key_pem(), pem);
    let c = Caller { sim: second, ..c };
    assert_eq!(sub_code(&c.upload("1.0.0", &ext())), "VERSION_HAS_EXISTED");
    assert_eq!(c.status("1.0.0"), "INIT");
}

#[test]
fn multipart_text_fields_skip_file_parts() {
    let body = "--XyZ\r\nContent-Disposition: form-data; name=\"app_version\"\r\n\r\n1.0.0\r\n\
--XyZ\r\nContent-Disposition: form-data; name=\"app_logo\"; filename=\"logo.png\"\r\n\
Content-Type: image/png\r\n\r\n\u{1}PNG\r\n\
--XyZ\r\nContent-Disposition: form-data; name=\"version_desc\"\r\n\r\n第一行\r\nsecond line\r\n--XyZ--\r\n";
    let fields = multipart_text_fields(
        "multipart/form-data; boundary=XyZ",
        &axum::body::Bytes::from(body),
    );
    let expected: BTreeMap<String, String> = [
        ("app_version".to_string(), "1.0.0".to_string()),
        (
            "version_desc".to_string(),
            "第一行\r\nsecond line".to_string(),
        ),
    ]
    .into_iter()
    .collect();
    assert_eq!(fields, expected);
}

#[test]
fn a_gray_holds_the_review_slot_until_it_is_cancelled_and_its_approval_withdrawn() {
    let c = Caller::new(&spec(0, 0));
    c.upload("1.0.0", &ext());
    assert_eq!(c.apply("1.0.0", DESC)["code"], "10000");
    assert_eq!(c.status("1.0.0"), "WAIT_RELEASE");
    let gray = json!({"app_version": "1.0.0", "gray_strategy": "p10"});
    assert_eq!(c.short("version.gray.online", gray)["code"], "10000");
    c.upload("1.1.0", &ext());
    assert_eq!(
        sub_code(&c.apply("1.1.0", DESC)),
        "CAN_NOT_SUBMIT_WITH_AUDIT_GRAY"
    );
    let v100 = json!({"app_version": "1.0.0"});
    assert_eq!(
        sub_code(&c.short("version.audited.cancel", v100.clone())),
        "VERSION_STATUS_ERROR",
        "a gray version must leave GRAY first"
    );
    assert_eq!(
        c.short("version.gray.cancel", v100.clone())["code"],
        "10000"
    );
    assert_eq!(c.status("1.0.0"), "WAIT_RELEASE");
    assert_eq!(
        sub_code(&c.apply("1.1.0", DESC)),
        "CAN_NOT_SUBMIT_WITH_AUDIT_GRAY",
        "the approved version still holds the slot"
    );
    assert_eq!(c.short("version.audited.cancel", v100)["code"], "10000");
    assert_eq!(c.status("1.0.0"), "INIT");
    assert_eq!(c.apply("1.1.0", DESC)["code"], "10000");
}

#[test]
fn a_deleted_development_version_can_be_uploaded_again_while_it_is_the_highest() {
    let c = Caller::new(&spec(0, 0));
    c.upload("1.0.0", &ext());
    c.upload("1.1.0", &ext());
    let v110 = json!({"app_version": "1.1.0"});
    assert_eq!(c.short("version.delete", v110)["code"], "10000");
    assert_eq!(c.upload("1.1.0", &ext())["code"], "10000");
    let v100 = json!({"app_version": "1.0.0"});
    assert_eq!(c.short("version.delete", v100)["code"], "10000");
    assert_eq!(
        sub_code(&c.upload("1.0.0", &ext())),
        "VERSION_HAS_EXISTED",
        "1.1.0 is higher"
    );
}
