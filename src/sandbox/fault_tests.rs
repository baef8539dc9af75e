//! Tests over loopback HTTP: injected faults are deterministic for a seed, lost answers apply the
//! change while the client sees a transient error, the records list accepted mutating calls only,
//! and the admin endpoints seed credentials for another process.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::*;
use crate::fleet::{ApiBase, FaultSpec};
use crate::model::{Action, Desired, Stage, fingerprint};
use crate::platform::alipay::spec::AlipayConfig;
use crate::platform::alipay::{AlipayClient, BuildWait, alipay_token_key};
use crate::platform::wechat::spec::WechatConfig;
use crate::platform::wechat::{WechatClient, refresh_token_key, ticket_key};
use crate::platform::{ErrorClass, Platform};
use crate::secret::Secret;
use crate::store::Token;

const COMPONENT: &str = "wx0123456789abcdef";
const WX_APP: &str = "wx1111111111111111";
const ALI_APP: &str = "2021004100000001";

async fn within<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(30), f)
        .await
        .expect("test timed out")
}

fn spec(faults: FaultSpec) -> SandboxSpec {
    SandboxSpec {
        audit_delay_ms: 200,
        privacy_scan_ms: 0,
        faults,
        ..SandboxSpec::default()
    }
}

async fn sandbox(spec: &SandboxSpec) -> SandboxHandle {
    start("127.0.0.1:0".parse().unwrap(), spec, Persist::Memory)
        .await
        .unwrap()
}

fn http() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

fn errors(error_rate: f64, seed: u64) -> FaultSpec {
    FaultSpec {
        error_rate,
        seed: Some(seed),
        ..FaultSpec::default()
    }
}

/// The errcodes of `n` token-less reads (41001 unless a fault is injected).
async fn wechat_errcodes(handle: &SandboxHandle, n: usize) -> Vec<i64> {
    let url = format!("{}/wxa/get_latest_auditstatus", handle.base_url());
    let mut out = Vec::new();
    for _ in 0..n {
        let body: Value = http().get(&url).send().await.unwrap().json().await.unwrap();
        out.push(body["errcode"].as_i64().unwrap());
    }
    out
}

/// The sub_codes of `n` unsigned gateway calls (`isv.missing-app-id` unless a fault is injected).
async fn alipay_sub_codes(handle: &SandboxHandle, n: usize) -> Vec<String> {
    let url = format!("{}/gateway.do", handle.base_url());
    let node = "alipay_open_mini_version_list_query_response";
    let mut out = Vec::new();
    for _ in 0..n {
        let form = [("method", "alipay.open.mini.version.list.query")];
        let reply = http().post(&url).form(&form).send().await.unwrap();
        let body: Value = serde_json::from_str(&reply.text().await.unwrap()).unwrap();
        out.push(body[node]["sub_code"].as_str().unwrap().to_string());
    }
    out
}

#[tokio::test]
async fn injected_errors_repeat_for_one_seed_and_differ_for_another() {
    within(async {
        let a = sandbox(&spec(errors(0.5, 42))).await;
        let b = sandbox(&spec(errors(0.5, 42))).await;
        let c = sandbox(&spec(errors(0.5, 43))).await;
        let (wa, wb, wc) = (
            wechat_errcodes(&a, 40).await,
            wechat_errcodes(&b, 40).await,
            wechat_errcodes(&c, 40).await,
        );
        assert_eq!(wa, wb, "same seed, same faults");
        assert_ne!(wa, wc, "another seed, other faults");
        assert!(wa.iter().all(|c| *c == -1 || *c == 41001), "{wa:?}");
        let injected = wa.iter().filter(|c| **c == -1).count();
        assert!((8..=32).contains(&injected), "about half: {injected}");
        let (aa, ab) = (
            alipay_sub_codes(&a, 40).await,
            alipay_sub_codes(&b, 40).await,
        );
        assert_eq!(aa, ab);
        assert!(aa.iter().any(|c| c == "isp.unknow-error"));
        assert!(aa.iter().any(|c| c == "isv.missing-app-id"));
    })
    .await;
}

#[tokio::test]
async fn configured_codes_are_injected_per_platform() {
    within(async {
        let faults = FaultSpec {
            codes: vec!["45011".into(), "85085".into(), "isp.rpc-error".into()],
            ..errors(1.0, 7)
        };
        let handle = sandbox(&spec(faults)).await;
        let wx = wechat_errcodes(&handle, 30).await;
        assert!(wx.iter().all(|c| *c == 45011 || *c == 85085), "{wx:?}");
        assert!(wx.contains(&45011) && wx.contains(&85085));
        let ali = alipay_sub_codes(&handle, 5).await;
        assert!(ali.iter().all(|c| c == "isp.rpc-error"), "{ali:?}");
        assert_eq!(handle.wechat().call_count("wxa/get_latest_auditstatus"), 30);
    })
    .await;
}

#[tokio::test]
async fn latency_delays_answers_and_timeouts_hang_past_the_client() {
    within(async {
        let faults = FaultSpec {
            latency_ms: 150,
            seed: Some(1),
            ..FaultSpec::default()
        };
        let handle = sandbox(&spec(faults)).await;
        let started = Instant::now();
        assert_eq!(wechat_errcodes(&handle, 2).await, [41001, 41001]);
        assert!(started.elapsed() >= Duration::from_millis(300));

        let faults = FaultSpec {
            timeout_rate: 1.0,
            timeout_after_ms: 2_000,
            seed: Some(1),
            ..FaultSpec::default()
        };
        let handle = sandbox(&spec(faults)).await;
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_millis(300))
            .build()
            .unwrap();
        let url = format!("{}/wxa/get_latest_auditstatus", handle.base_url());
        let err = client.get(&url).send().await.unwrap_err();
        assert!(err.is_timeout(), "{err}");
        let token = format!(
            "{}/cgi-bin/component/api_component_token",
            handle.base_url()
        );
        let reply = client.post(&token).body("{}").send().await.unwrap();
        assert_eq!(reply.status(), 200, "token calls never time out");
    })
    .await;
}

fn token(value: String) -> Token {
    Token {
        value: Secret::new(value),
        expires_at: None,
        obtained_at: 0,
    }
}

fn wechat_app() -> Desired {
    let ext = json!({"shopId": "1"});
    let ext_json = json!({"extAppid": WX_APP, "extEnable": true, "ext": ext}).to_string();
    Desired {
        name: "tea-house".into(),
        platform: crate::platform::wechat::spec::KIND,
        rules: &crate::platform::wechat::spec::RULES,
        appid: WX_APP.into(),
        labels: Default::default(),
        template: "shop".into(),
        template_id: "42".into(),
        template_version: None,
        version: "1.0.0".into(),
        description: "Spring menu".into(),
        domains: None,
        privacy: None,
        qrcode_jump: None,
        fingerprint: fingerprint("42", None, "1.0.0", &ext_json),
        ext_json,
        testers: Vec::new(),
        gray: 100,
        walk: None,
        priority: None,
        stage: Stage::Release,
        suspended: false,
        audit: Default::default(),
        revision: Default::default(),
    }
}

fn wechat_client(handle: &SandboxHandle, store: &Store) -> WechatClient {
    let ticket = handle.wechat().issue_ticket(COMPONENT);
    store
        .put_token(&ticket_key(COMPONENT), &token(ticket))
        .unwrap();
    let refresh = handle.wechat().authorize(WX_APP);
    store
        .put_token(&refresh_token_key(WX_APP), &token(refresh))
        .unwrap();
    let config = WechatConfig {
        component_appid: COMPONENT.into(),
        component_secret: None,
        token: None,
        encoding_aes_key: None,
        api_base: ApiBase::Sandbox,
    };
    WechatClient::new(&config, &handle.base_url(), store.clone())
}

fn commit(app: &Desired) -> Action {
    Action::Commit {
        version: app.version.clone(),
        fingerprint: app.fingerprint.clone(),
    }
}

#[tokio::test]
async fn a_lost_wechat_answer_applies_the_commit_and_the_client_sees_a_transient_error() {
    within(async {
        let faults = FaultSpec {
            lost_response_rate: 1.0,
            seed: Some(5),
            ..FaultSpec::default()
        };
        let handle = sandbox(&spec(faults)).await;
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let client = wechat_client(&handle, &store);
        let app = wechat_app();
        let err = client.execute(&app, &commit(&app)).await.unwrap_err();
        assert_eq!(err.class, ErrorClass::Transient, "{err}");
        let observed = client.observe(&app).await.expect("reads are never lost");
        let build = observed.experience.expect("the commit was applied");
        assert_eq!(build.fingerprint.as_deref(), Some(app.fingerprint.as_str()));
        let records = handle.accepted();
        assert_eq!(records.len(), 1, "{records:?}");
        assert_eq!(records[0].call, "wxa/commit");
        assert_eq!(records[0].app, WX_APP);
        assert_eq!(
            records[0].fingerprint.as_deref(),
            Some(app.fingerprint.as_str())
        );
        assert_eq!(records[0].version.as_deref(), Some("1.0.0"));
    })
    .await;
}

#[tokio::test]
async fn records_list_accepted_mutating_calls_only() {
    within(async {
        let handle = sandbox(&spec(FaultSpec::default())).await;
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let client = wechat_client(&handle, &store);
        let app = wechat_app();
        client.observe(&app).await.unwrap();
        let release = Action::Release {
            fingerprint: app.fingerprint.clone(),
        };
        assert!(
            client.execute(&app, &release).await.is_err(),
            "nothing to release yet"
        );
        client.execute(&app, &commit(&app)).await.unwrap();
        let submit = Action::SubmitAudit {
            fingerprint: app.fingerprint.clone(),
        };
        client.execute(&app, &submit).await.unwrap();
        assert!(
            client.execute(&app, &submit).await.is_err(),
            "85009: an audit is in flight"
        );
        client.observe(&app).await.unwrap();
        let calls: Vec<(String, Option<String>)> = handle
            .accepted()
            .into_iter()
            .map(|r| (r.call, r.fingerprint))
            .collect();
        let fp = Some(app.fingerprint.clone());
        assert_eq!(
            calls,
            [
                ("wxa/commit".to_string(), fp.clone()),
                ("wxa/submit_audit".to_string(), fp)
            ]
        );
        let over_http: Vec<Accepted> = RemoteSandbox::new(&handle.base_url())
            .accepted()
            .await
            .unwrap();
        assert_eq!(over_http, handle.accepted());
    })
    .await;
}

fn alipay_app() -> Desired {
    let ext = json!({"shopId": "1"});
    let ext_json = json!({"ext": ext, "extEnable": true}).to_string();
    let template = "2021000000000100";
    Desired {
        platform: crate::platform::alipay::spec::KIND,
        rules: &crate::platform::alipay::spec::RULES,
        appid: ALI_APP.into(),
        template_id: template.into(),
        template_version: Some("0.0.3".into()),
        fingerprint: fingerprint(template, Some("0.0.3"), "1.0.0", &ext_json),
        ext_json,
        ..wechat_app()
    }
}

#[tokio::test]
async fn a_lost_alipay_upload_is_applied_and_recorded_with_its_fingerprint() {
    within(async {
        let faults = FaultSpec {
            lost_response_rate: 1.0,
            seed: Some(9),
            ..FaultSpec::default()
        };
        let handle = sandbox(&spec(faults)).await;
        let remote = RemoteSandbox::new(&handle.base_url());
        let keys = remote.alipay_keys().await.unwrap();
        let auth = remote.issue_app_auth_token(ALI_APP).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store
            .put_token(&alipay_token_key(ALI_APP), &token(auth))
            .unwrap();
        let config = AlipayConfig {
            app_id: keys.isv_app_id.unwrap(),
            private_key: Some(Secret::new(keys.isv_private_key_pem)),
            alipay_public_key: Some(Secret::new(keys.alipay_public_key_pem)),
            gateway: ApiBase::Sandbox,
        };
        let url = format!("{}/gateway.do", handle.base_url());
        let client = AlipayClient::new(&config, &url, store.clone()).with_build_wait(BuildWait {
            first: Duration::from_millis(10),
            max: Duration::from_millis(50),
            total: Duration::from_secs(5),
        });
        let app = alipay_app();
        let err = client.execute(&app, &commit(&app)).await.unwrap_err();
        assert_eq!(err.class, ErrorClass::Transient, "{err}");
        let state = handle.alipay().app_state(ALI_APP).unwrap();
        assert!(state.version("1.0.0").is_some(), "the upload was applied");
        let records = remote.accepted().await.unwrap();
        assert_eq!(records.len(), 1, "{records:?}");
        assert_eq!(records[0].platform, "alipay");
        assert_eq!(records[0].call, "alipay.open.mini.version.upload");
        assert_eq!(
            records[0].fingerprint.as_deref(),
            Some(app.fingerprint.as_str())
        );
    })
    .await;
}

#[tokio::test]
async fn admin_endpoints_seed_credentials_the_platform_paths_accept() {
    within(async {
        let handle = sandbox(&spec(FaultSpec::default())).await;
        let remote = RemoteSandbox::new(&format!("{}/", handle.base_url()));
        let ticket = remote.issue_ticket(COMPONENT).await.unwrap();
        let url = format!(
            "{}/cgi-bin/component/api_component_token",
            handle.base_url()
        );
        let body = json!({
            "component_appid": COMPONENT,
            "component_appsecret": "anything",
            "component_verify_ticket": ticket,
        });
        let reply: Value = http()
            .post(&url)
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(reply["component_access_token"].is_string(), "{reply}");
        let refresh = remote.authorize(WX_APP).await.unwrap();
        assert_eq!(
            handle.wechat().app_state(WX_APP).unwrap().refresh_token,
            refresh
        );
        remote.set_isv_app_id("2021009900000000").await.unwrap();
        let keys = remote.alipay_keys().await.unwrap();
        assert_eq!(keys.isv_app_id.as_deref(), Some("2021009900000000"));
        assert_eq!(
            keys.isv_private_key_pem,
            handle.alipay().isv_private_key_pem()
        );
        let auth = remote.issue_app_auth_token(ALI_APP).await.unwrap();
        assert!(!auth.is_empty());
        let bad = http()
            .post(format!("{}/sandbox/wechat/authorize", handle.base_url()))
            .json(&json!({"appid": ""}))
            .send()
            .await
            .unwrap();
        assert_eq!(bad.status(), 400);
        let err = RemoteSandbox::new("http://127.0.0.1:9").accepted().await;
        assert!(err.is_err(), "nothing listens on port 9");
    })
    .await;
}
