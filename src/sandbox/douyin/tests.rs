//! The Douyin simulator: the state machine and its codes without HTTP, then over HTTP on
//! loopback (the envelope, the token header, faults, persistence across a restart).

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};

use super::state::{Timing, World};
use super::*;
use crate::fleet::{RejectRule, SandboxSpec};

const APP: &str = "tt1111111111111111";

fn spec() -> SandboxSpec {
    SandboxSpec {
        audit_delay_ms: 1000,
        reject: vec![RejectRule {
            when_ext: [("theme".to_owned(), json!("neon"))].into_iter().collect(),
            reason: "neon is too bright".into(),
        }],
        ..SandboxSpec::default()
    }
}

fn upload_body(version: &str, theme: &str) -> Value {
    let ext = json!({ "extEnable": true, "extAppid": APP, "ext": { "theme": theme } });
    json!({ "template_id": 9_133_504_853_504_535_288_i64, "user_version": version,
            "user_desc": format!("build [0123abc{}]", version.len()), "ext_json": ext.to_string() })
}

fn hosts() -> Value {
    json!({ "host_names": ["douyin", "toutiao"] })
}

fn code<T: std::fmt::Debug>(r: Result<T, state::DyError>) -> i64 {
    r.err().map_or(0, |e| e.code)
}

#[test]
fn the_pipeline_and_every_blocking_code() {
    let spec = spec();
    let t = Timing::of(&spec);
    let mut w = World::default();
    w.authorize(APP, 0);
    assert_eq!(
        code(w.submit(APP, &hosts(), &t, 0)),
        11302,
        "no test version"
    );
    assert_eq!(code(w.release(APP)), 11402, "nothing audited");
    assert_eq!(code(w.rollback(APP, &t, 0)), 10003, "nothing released");
    assert_eq!(code(w.revoke(APP)), 11600);
    assert_eq!(code(w.upload(APP, &json!({ "template_id": 0 }), 0)), 40029);
    let wrong_app = json!({ "template_id": 1, "user_version": "1", "user_desc": "d",
                            "ext_json": "{\"extEnable\":true,\"extAppid\":\"tt0\"}" });
    assert_eq!(
        code(w.upload(APP, &wrong_app, 0)),
        40001,
        "extAppid must be the app"
    );

    w.upload(APP, &upload_body("1.0.0", "calm"), 1_000).unwrap();
    assert_eq!(
        code(w.submit(APP, &json!({ "host_names": ["kuaishou"] }), &t, 1_000)),
        11307
    );
    w.submit(APP, &hosts(), &t, 1_000).unwrap();
    assert_eq!(
        code(w.submit(APP, &hosts(), &t, 1_500)),
        11303,
        "one in review"
    );
    assert_eq!(code(w.release(APP)), 11403, "still in review");
    assert!(
        w.settle(APP, &spec, 1_500).is_none(),
        "not decided before audit_delay"
    );
    let verdict = w.settle(APP, &spec, 2_000).unwrap();
    assert!(verdict.approved);
    assert_eq!(
        code(w.revoke(APP)),
        11603,
        "a finished review cannot be revoked"
    );
    w.release(APP).unwrap();
    assert_eq!(code(w.release(APP)), 11402, "released once");
    let v = w.versions(APP);
    assert_eq!(v["current"]["version"], "1.0.0");
    assert_eq!(
        v["current"]["rollback"]["can_rollback"], false,
        "the first release"
    );
    assert_eq!(v["audit"]["approved_apps"], json!(["抖音", "今日头条"]));

    w.upload(APP, &upload_body("1.1.0", "calm"), 2_100).unwrap();
    w.submit(APP, &hosts(), &t, 3_100).unwrap();
    w.revoke(APP).unwrap();
    assert_eq!(
        code(w.submit(APP, &hosts(), &t, 3_300)),
        11301,
        "within the submit gap"
    );
    w.submit(APP, &hosts(), &t, 4_100).unwrap();
    w.settle(APP, &spec, 5_100).unwrap();
    w.release(APP).unwrap();
    let v = w.versions(APP);
    assert_eq!(
        v["current"]["rollback"],
        json!({ "can_rollback": true, "last_version": "1.0.0" })
    );

    w.rollback(APP, &t, 6_000).unwrap();
    assert_eq!(
        w.versions(APP)["current"]["version"],
        "1.1.0",
        "a rollback takes a while"
    );
    assert_eq!(
        code(w.rollback(APP, &t, 6_100)),
        11501,
        "within the rollback gap"
    );
    w.settle(APP, &spec, 7_000);
    let v = w.versions(APP);
    assert_eq!(v["current"]["version"], "1.0.0");
    assert_eq!(
        v["current"]["rollback"]["can_rollback"], false,
        "one rollback per release"
    );
    assert_eq!(code(w.rollback(APP, &t, 8_000)), 10003);

    w.upload(APP, &upload_body("1.2.0", "neon"), 9_000).unwrap();
    w.submit(APP, &hosts(), &t, 9_000).unwrap();
    let verdict = w.settle(APP, &spec, 10_000).unwrap();
    assert_eq!(
        (verdict.approved, verdict.reason.as_str()),
        (false, "neon is too bright")
    );
    assert_eq!(
        w.versions(APP)["audit"]["reason_detail"]["抖音"],
        json!(["neon is too bright"])
    );
    assert_eq!(
        code(w.release(APP)),
        11402,
        "a rejection cannot be released"
    );
    w.submit(
        APP,
        &json!({ "host_names": ["douyin"], "audit_way": 1 }),
        &t,
        11_000,
    )
    .unwrap();
    assert_eq!(code(w.revoke(APP)), 0);
    assert_eq!(code(w.revoke(APP)), 11601, "already revoked");

    w.take_down(APP);
    assert_eq!(w.versions(APP)["current"]["has_down"], 1);
}

#[test]
fn refresh_tokens_rotate_and_codes_are_single_use() {
    let mut w = World::default();
    let ttl = 7_200_000;
    assert_eq!(code(w.component_token("tt0", "s", "nope", ttl, 0)), 40037);
    let ticket = w.issue_ticket("tt0", 0);
    assert_eq!(code(w.component_token("tt0", "", &ticket, ttl, 0)), 40038);
    let (first, _) = w.component_token("tt0", "s", &ticket, ttl, 0).unwrap();
    w.component_token("tt0", "s", &ticket, ttl, 1).unwrap();
    assert!(w.component_token_valid(&first, 2), "two stay valid");
    w.component_token("tt0", "s", &ticket, ttl, 2).unwrap();
    assert!(
        !w.component_token_valid(&first, 3),
        "the third kills the first"
    );
    assert_eq!(
        code(w.component_token("tt0", "s", &ticket, ttl, 3 * 3600 * 1000)),
        40037,
        "3 h"
    );

    let refresh = w.authorize(APP, 0);
    let answer = w
        .auth_token("app_to_tp_refresh_token", &refresh, ttl, 0)
        .unwrap();
    assert_eq!(answer["authorizer_appid"], APP);
    let access = answer["authorizer_access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(w.app_of(&access, 1).unwrap(), APP);
    assert_eq!(
        code(w.auth_token("app_to_tp_refresh_token", &refresh, ttl, 1)),
        40021,
        "single use"
    );
    let next = answer["authorizer_refresh_token"].as_str().unwrap();
    assert!(
        w.auth_token("app_to_tp_refresh_token", next, ttl, 2)
            .is_ok()
    );
    assert_eq!(code(w.auth_token("client_credential", next, ttl, 2)), 40040);

    let code_1 = w.authorization_code(APP, 10);
    w.auth_token("app_to_tp_authorization_code", &code_1, ttl, 11)
        .unwrap();
    assert_eq!(
        code(w.auth_token("app_to_tp_authorization_code", &code_1, ttl, 12)),
        40018
    );
    let late = w.authorization_code(APP, 10);
    assert_eq!(
        code(w.auth_token("app_to_tp_authorization_code", &late, ttl, 3_600_011)),
        40018
    );
    assert_eq!(code(w.retrieve_code("tt9999999999999999", 0)), 20040022);
    w.deauthorize(APP);
    assert_eq!(code(w.app_of(&access, 13)), 28001008);
}

async fn within<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(30), f)
        .await
        .expect("test timed out")
}

/// A sandbox on loopback, a component token and APP's access token.
async fn started(spec: &SandboxSpec, persist: Persist) -> (crate::sandbox::SandboxHandle, String) {
    let handle = crate::sandbox::start("127.0.0.1:0".parse().unwrap(), spec, persist)
        .await
        .unwrap();
    let sim = handle.douyin();
    let ticket = sim.issue_ticket("tt0");
    let refresh = sim.authorize(APP);
    let q = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    };
    let minted = sim.call(
        "/openapi/v2/auth/tp/token/",
        None,
        &q(&[
            ("component_appid", "tt0"),
            ("component_appsecret", "s"),
            ("component_ticket", &ticket),
        ]),
        b"",
    );
    let component = minted.body["component_access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let answer = sim.call(
        "/api/tpapp/v2/auth/get_auth_token/",
        Some(&component),
        &q(&[
            ("grant_type", "app_to_tp_refresh_token"),
            ("authorizer_refresh_token", &refresh),
        ]),
        b"",
    );
    let access = answer.body["data"]["authorizer_access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    (handle, access)
}

#[tokio::test]
async fn serves_the_envelope_over_http_with_the_token_header() {
    within(async {
        let (handle, access) = started(&spec(), Persist::Memory).await;
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        let url = |p: &str| format!("{}{p}", handle.base_url());
        let versions = "/api/apps/v1/package_version/versions/";
        let refused: Value = http.get(url(versions)).send().await.unwrap().json().await.unwrap();
        assert_eq!(refused["err_no"], 28001008);
        assert!(refused["log_id"].is_string());
        let upload: Value = http
            .post(url("/api/apps/v1/package_version/upload"))
            .header("access-token", &access)
            .json(&upload_body("1.0.0", "calm"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(upload["err_no"], 0, "{upload}");
        let read: Value = http
            .get(url(versions))
            .header("access-token", &access)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(read["data"]["latest"]["version"], "1.0.0");
        let accepted = handle.accepted();
        assert_eq!(accepted.len(), 1);
        assert_eq!(accepted[0].call, "api/apps/v1/package_version/upload");
        assert_eq!(accepted[0].platform, "douyin");
        let bad_token: Value = http
            .get(url("/openapi/v2/auth/tp/token/?component_appid=tt0&component_appsecret=s&component_ticket=x"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(bad_token["errno"], 40037, "the token call answers unwrapped");
        assert_eq!(handle.douyin().faults().calls().mutating, 1);
    })
    .await;
}

#[tokio::test]
async fn injected_errors_apply_nothing_and_lost_answers_apply() {
    within(async {
        let errors = SandboxSpec {
            faults: crate::fleet::FaultSpec {
                error_rate: 1.0,
                codes: vec!["11300".into()],
                seed: Some(1),
                ..Default::default()
            },
            ..spec()
        };
        let (handle, access) = started(&errors, Persist::Memory).await;
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        let upload = format!("{}/api/apps/v1/package_version/upload/", handle.base_url());
        let answer: Value = http
            .post(&upload)
            .header("access-token", &access)
            .json(&upload_body("1.0.0", "calm"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(answer["err_no"], 11300);
        assert!(
            handle.accepted().is_empty(),
            "an injected error applies nothing"
        );

        let lost = SandboxSpec {
            faults: crate::fleet::FaultSpec {
                lost_response_rate: 1.0,
                seed: Some(1),
                ..Default::default()
            },
            ..spec()
        };
        let (handle, access) = started(&lost, Persist::Memory).await;
        let upload = format!("{}/api/apps/v1/package_version/upload/", handle.base_url());
        let status = http
            .post(&upload)
            .header("access-token", &access)
            .json(&upload_body("1.0.0", "calm"))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 502);
        assert_eq!(
            handle.accepted().len(),
            1,
            "a lost answer's call is applied"
        );
    })
    .await;
}

#[tokio::test]
async fn the_world_survives_a_restart_from_the_store() {
    within(async {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::Store::open(dir.path()).unwrap();
        let (handle, access) = started(&spec(), Persist::Store(store.clone())).await;
        let sim = handle.douyin().clone();
        let upload = sim.call(
            "/api/apps/v1/package_version/upload/",
            Some(&access),
            &BTreeMap::new(),
            upload_body("1.0.0", "calm").to_string().as_bytes(),
        );
        assert_eq!(upload.code(), 0, "{upload:?}");
        assert!(sim.writes() > 0);
        handle.stop().await.unwrap();
        drop(sim);
        let again = crate::sandbox::start(
            "127.0.0.1:0".parse().unwrap(),
            &spec(),
            Persist::Store(store),
        )
        .await
        .unwrap();
        let state = again.douyin().app_state(APP).unwrap();
        assert_eq!(state.latest.unwrap().version, "1.0.0");
        let read = again.douyin().call(
            "/api/apps/v1/package_version/versions",
            Some(&access),
            &BTreeMap::new(),
            b"",
        );
        assert_eq!(
            read.body["data"]["latest"]["version"], "1.0.0",
            "tokens survive too"
        );
    })
    .await;
}

#[tokio::test]
async fn pushes_are_sealed_for_the_receiver_to_open() {
    use crate::platform::douyin::crypto::{Envelope, PushCrypt};
    use crate::secret::Secret;
    within(async {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(String, Envelope)>();
        let receiver = axum::Router::new().route(
            "/douyin/{kind}",
            axum::routing::post(
                move |axum::extract::Path(kind): axum::extract::Path<String>,
                      axum::Json(envelope): axum::Json<Envelope>| {
                    let tx = tx.clone();
                    async move {
                        let _ = tx.send((kind, envelope));
                        "success"
                    }
                },
            ),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, receiver).await });

        let (handle, access) = started(
            &SandboxSpec {
                audit_delay_ms: 50,
                ..spec()
            },
            Persist::Memory,
        )
        .await;
        let (token, key) = (
            Secret::new("push-token"),
            Secret::new(crate::platform::douyin::SANDBOX_AES_KEY),
        );
        let sim = handle.douyin();
        sim.start_pushes(PushConfig {
            url,
            component_appid: "tt0".into(),
            token: token.clone(),
            aes_key: key.clone(),
            ticket_interval: Duration::from_secs(600),
        })
        .unwrap();
        let crypt = PushCrypt::new(&token, &key, "tt0").unwrap();
        let (kind, ticket) = rx.recv().await.unwrap();
        assert_eq!(kind, "auth");
        let message: Value = serde_json::from_str(&crypt.open(&ticket).unwrap()).unwrap();
        assert_eq!(message["MsgType"], "Ticket");

        let empty = BTreeMap::new();
        sim.call(
            "/api/apps/v1/package_version/upload/",
            Some(&access),
            &empty,
            upload_body("1.0.0", "neon").to_string().as_bytes(),
        );
        let submitted = sim.call(
            "/api/apps/v2/package_version/audit/",
            Some(&access),
            &empty,
            hosts().to_string().as_bytes(),
        );
        assert_eq!(submitted.code(), 0, "{submitted:?}");
        let (kind, verdict) = rx.recv().await.unwrap();
        assert_eq!(kind, "events");
        let message: Value = serde_json::from_str(&crypt.open(&verdict).unwrap()).unwrap();
        assert_eq!(message["Event"], "PACKAGE_AUDIT");
        assert_eq!(message["AppId"], APP);
        assert_eq!(
            message["AuditResults"][0]["reason"][0],
            "neon is too bright"
        );

        sim.deauthorize(APP);
        let (kind, gone) = rx.recv().await.unwrap();
        assert_eq!(kind, "auth");
        let message: Value = serde_json::from_str(&crypt.open(&gone).unwrap()).unwrap();
        assert_eq!(message["Event"], "UNAUTHORIZED");
    })
    .await;
}
