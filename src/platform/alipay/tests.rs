//! The Alipay client against the sandbox over real HTTP on 127.0.0.1: the whole pipeline, rollback,
//! version rules, members, key formats, request signatures checked by the gateway and tampered
//! responses rejected.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::json;

use super::*;
use crate::fleet::{ApiBase, SandboxSpec};
use crate::model::{AuditStatus, Stage, fingerprint};
use crate::platform::ErrorClass;
use crate::platform::alipay::sign::PrivateKey;
use crate::sandbox::{Persist, SandboxHandle, alipay::DEFAULT_ISV_APP_ID};
use crate::store::Token;

const APP: &str = "2021004100000001";
const TEMPLATE: &str = "2021000000000100";

macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/alipay/",
            $name
        ))
    };
}

async fn within<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(60), f)
        .await
        .expect("test timed out")
}

struct Env {
    sandbox: SandboxHandle,
    store: Store,
    client: AlipayClient,
    _dir: tempfile::TempDir,
}

fn config(private_key: &str, alipay_public_key: &str) -> AlipayConfig {
    AlipayConfig {
        app_id: DEFAULT_ISV_APP_ID.to_string(),
        private_key: Some(Secret::new(private_key)),
        alipay_public_key: Some(Secret::new(alipay_public_key)),
        gateway: ApiBase::Sandbox,
    }
}

fn fast() -> BuildWait {
    BuildWait {
        first: Duration::from_millis(10),
        max: Duration::from_millis(50),
        total: Duration::from_secs(10),
    }
}

fn gateway_url(sandbox: &SandboxHandle) -> String {
    format!("{}/gateway.do", sandbox.base_url())
}

async fn env(build_ms: u64, audit_ms: u64) -> Env {
    let spec = SandboxSpec {
        audit_delay_ms: audit_ms,
        privacy_scan_ms: build_ms,
        ..SandboxSpec::default()
    };
    let sandbox = crate::sandbox::start("127.0.0.1:0".parse().unwrap(), &spec, Persist::Memory)
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let token = sandbox.alipay().issue_app_auth_token(APP);
    store
        .put_token(
            &alipay_token_key(APP),
            &Token {
                value: Secret::new(token),
                expires_at: None,
                obtained_at: 0,
            },
        )
        .unwrap();
    let sim = &sandbox.alipay();
    let cfg = config(&sim.isv_private_key_pem(), &sim.alipay_public_key_pem());
    let client =
        AlipayClient::new(&cfg, &gateway_url(&sandbox), store.clone()).with_build_wait(fast());
    Env {
        sandbox,
        store,
        client,
        _dir: dir,
    }
}

fn desired(version: &str, shop: &str) -> Desired {
    let ext = json!({"shopId": shop});
    let ext_json = json!({"ext": ext, "extEnable": true}).to_string();
    Desired {
        name: "tea-house".into(),
        platform: crate::platform::alipay::spec::KIND,
        rules: &crate::platform::alipay::spec::RULES,
        appid: APP.into(),
        labels: Default::default(),
        template: "shop".into(),
        template_id: TEMPLATE.into(),
        template_version: Some("0.0.3".into()),
        version: version.into(),
        description: "Spring menu".into(),
        domains: None,
        privacy: None,
        qrcode_jump: None,
        fingerprint: fingerprint(TEMPLATE, Some("0.0.3"), version, &ext_json),
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

fn commit(app: &Desired) -> Action {
    Action::Commit {
        version: app.version.clone(),
        fingerprint: app.fingerprint.clone(),
    }
}

fn submit(app: &Desired) -> Action {
    Action::SubmitAudit {
        fingerprint: app.fingerprint.clone(),
    }
}

async fn approve(e: &Env, app: &Desired) {
    let effect = e.client.execute(app, &submit(app)).await.unwrap();
    assert_eq!(
        effect,
        Effect::AuditSubmitted {
            audit_id: app.version.clone()
        }
    );
    for _ in 0..100 {
        let observed = e.client.observe(app).await.unwrap();
        if observed.audit.as_ref().map(|a| a.status) == Some(AuditStatus::Approved) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("audit of {} not approved", app.version);
}

#[tokio::test]
async fn pipeline_from_upload_to_gray_release_and_rollback() {
    within(async {
        let e = env(60, 60).await;
        let v1 = desired("1.0.0", "1001");
        let before = e.client.observe(&v1).await.unwrap();
        assert!(before.authorized && before.builds.is_empty() && before.live.is_none());
        e.client.execute(&v1, &commit(&v1)).await.unwrap();
        assert!(
            e.sandbox
                .alipay()
                .call_count("alipay.open.mini.version.build.query")
                >= 2,
            "the build was polled"
        );
        let state = e.sandbox.alipay().app_state(APP).unwrap();
        assert!(state.versions[0].experience);
        let observed = e.client.observe(&v1).await.unwrap();
        let exp = observed.experience.unwrap();
        assert_eq!(
            (exp.version.as_str(), exp.fingerprint.as_deref()),
            ("1.0.0", Some(v1.fingerprint.as_str()))
        );
        assert_eq!(observed.dev_builds.len(), 1);
        approve(&e, &v1).await;
        let audited = e.client.observe(&v1).await.unwrap().audit.unwrap();
        assert_eq!(audited.id, "1.0.0");
        assert!(
            audited
                .build
                .description
                .ends_with(&format!("[mf:{}]", v1.fingerprint))
        );
        assert!(audited.build.description.chars().count() >= 30);
        for (from, to) in [(None, 10), (Some(10), 30), (Some(30), 50)] {
            let gray = Action::Gray {
                fingerprint: v1.fingerprint.clone(),
                from,
                to,
            };
            e.client.execute(&v1, &gray).await.unwrap();
            let live = e.client.observe(&v1).await.unwrap().live.unwrap();
            assert_eq!(
                (live.build.version.as_str(), live.gray),
                ("1.0.0", Some(to))
            );
        }
        let release = Action::Release {
            fingerprint: v1.fingerprint.clone(),
        };
        e.client.execute(&v1, &release).await.unwrap();
        let observed = e.client.observe(&v1).await.unwrap();
        let live = observed.live.unwrap();
        assert_eq!((live.build.version.as_str(), live.gray), ("1.0.0", None));
        assert_eq!(
            live.build.fingerprint.as_deref(),
            Some(v1.fingerprint.as_str())
        );
        assert!(observed.audit.is_none() && observed.previous.is_none());

        let v2 = desired("1.0.1", "1002");
        e.client.execute(&v2, &commit(&v2)).await.unwrap();
        approve(&e, &v2).await;
        e.client
            .execute(
                &v2,
                &Action::Gray {
                    fingerprint: v2.fingerprint.clone(),
                    from: None,
                    to: 10,
                },
            )
            .await
            .unwrap();
        let gray = e.client.observe(&v2).await.unwrap();
        assert_eq!(gray.live.unwrap().gray, Some(10));
        assert_eq!(
            gray.previous.unwrap().version,
            "1.0.0",
            "while gray the release is the fallback"
        );
        e.client.execute(&v2, &Action::RevertGray).await.unwrap();
        let reverted = e.client.observe(&v2).await.unwrap();
        assert_eq!(reverted.live.unwrap().build.version, "1.0.0");
        assert_eq!(reverted.audit.unwrap().status, AuditStatus::Approved);
        e.client
            .execute(
                &v2,
                &Action::Release {
                    fingerprint: v2.fingerprint.clone(),
                },
            )
            .await
            .unwrap();
        let released = e.client.observe(&v2).await.unwrap();
        assert_eq!(released.live.unwrap().build.version, "1.0.1");
        assert_eq!(released.previous.unwrap().version, "1.0.0");
        e.client
            .execute(
                &v2,
                &Action::Rollback {
                    fingerprint: v1.fingerprint.clone(),
                },
            )
            .await
            .unwrap();
        let rolled = e.client.observe(&v2).await.unwrap();
        assert_eq!(rolled.live.unwrap().build.version, "1.0.0");
        assert!(rolled.previous.is_none(), "1.0.1 is above the live version");
    })
    .await;
}

#[tokio::test]
async fn withdrawing_sends_the_version_back_to_development() {
    within(async {
        let e = env(0, 60_000).await;
        let v1 = desired("1.0.0", "1001");
        e.client.execute(&v1, &commit(&v1)).await.unwrap();
        e.client.execute(&v1, &submit(&v1)).await.unwrap();
        let audit = e.client.observe(&v1).await.unwrap().audit.unwrap();
        assert_eq!(audit.status, AuditStatus::Auditing);
        let withdraw = Action::WithdrawAudit {
            audit_id: audit.id,
            fingerprint: None,
        };
        e.client.execute(&v1, &withdraw).await.unwrap();
        let observed = e.client.observe(&v1).await.unwrap();
        assert!(observed.audit.is_none());
        assert_eq!(observed.dev_builds.len(), 1);
        assert_eq!(
            e.sandbox
                .alipay()
                .call_count("alipay.open.mini.version.audit.cancel"),
            1
        );
    })
    .await;
}

#[tokio::test]
async fn an_existing_version_is_a_conflict_unless_it_is_our_own_build() {
    within(async {
        let e = env(0, 0).await;
        let v1 = desired("1.0.0", "1001");
        e.client.execute(&v1, &commit(&v1)).await.unwrap();
        assert_eq!(
            e.store.build_fingerprint(APP, "1.0.0").unwrap().as_deref(),
            Some(v1.fingerprint.as_str())
        );
        e.client.execute(&v1, &commit(&v1)).await.unwrap();
        let changed = desired("1.0.0", "2002");
        let err = e
            .client
            .execute(&changed, &commit(&changed))
            .await
            .unwrap_err();
        assert_eq!(
            (err.code.as_str(), err.class),
            ("VERSION_HAS_EXISTED", ErrorClass::Conflict)
        );
        assert_eq!(err.call, "alipay.open.mini.version.upload");
        assert_eq!(
            e.sandbox
                .alipay()
                .call_count("alipay.open.mini.version.upload"),
            3
        );
    })
    .await;
}

#[tokio::test]
async fn the_twenty_version_cap_is_a_conflict_cleared_by_deleting() {
    within(async {
        let e = env(0, 0).await;
        for patch in 0..20 {
            let app = desired(&format!("1.0.{patch}"), "1001");
            e.client.execute(&app, &commit(&app)).await.unwrap();
        }
        let next = desired("1.1.0", "1001");
        let err = e.client.execute(&next, &commit(&next)).await.unwrap_err();
        assert_eq!(
            (err.code.as_str(), err.class),
            ("DEV_VERSION_OVER_LIMIT", ErrorClass::Conflict)
        );
        let observed = e.client.observe(&next).await.unwrap();
        assert_eq!(observed.dev_builds.len(), 20);
        assert_eq!(observed.dev_builds[0].version, "1.0.0", "oldest first");
        assert_eq!(observed.builds[0].version, "1.0.19", "newest first");
        let oldest = Action::DeleteBuild {
            version: "1.0.0".into(),
        };
        e.client.execute(&next, &oldest).await.unwrap();
        e.client.execute(&next, &commit(&next)).await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn a_pending_invite_counts_as_bound() {
    within(async {
        let e = env(0, 0).await;
        let app = desired("1.0.0", "1001");
        let bind = Action::BindTester {
            tester: "qa@example.com".into(),
        };
        let Effect::TesterBound { tester, member } = e.client.execute(&app, &bind).await.unwrap()
        else {
            panic!("bind answers the member id");
        };
        assert_eq!(tester, "qa@example.com");
        assert!(member.starts_with("2088"));
        assert_eq!(
            e.client.observe(&app).await.unwrap().members,
            vec![member.clone()]
        );
        let again = e.client.execute(&app, &bind).await.unwrap();
        assert_eq!(
            again,
            Effect::TesterBound {
                tester: tester.clone(),
                member: member.clone()
            }
        );
        e.sandbox.alipay().accept_invites(APP);
        assert_eq!(
            e.client.observe(&app).await.unwrap().members,
            vec![member.clone()]
        );
        let bad = Action::BindTester {
            tester: "nobody".into(),
        };
        let err = e.client.execute(&app, &bad).await.unwrap_err();
        assert_eq!(
            (err.code.as_str(), err.class),
            ("invalid_logon_id", ErrorClass::Permanent)
        );
        let unbind = Action::UnbindTester {
            tester: Some(tester),
            member: Some(member),
        };
        e.client.execute(&app, &unbind).await.unwrap();
        assert!(e.client.observe(&app).await.unwrap().members.is_empty());
    })
    .await;
}

#[tokio::test]
async fn pkcs1_and_pkcs8_private_keys_both_sign_accepted_requests() {
    within(async {
        let e = env(0, 0).await;
        e.sandbox
            .alipay()
            .set_isv_public_key(fixture!("app_public.pem"))
            .unwrap();
        let app = desired("1.0.0", "1001");
        let alipay_public = e.sandbox.alipay().alipay_public_key_pem();
        for key in [
            fixture!("app_private_pkcs1.pem"),
            fixture!("app_private_pkcs8.pem"),
            fixture!("app_private_pkcs8.b64"),
        ] {
            let client = AlipayClient::new(
                &config(key, &alipay_public),
                &gateway_url(&e.sandbox),
                e.store.clone(),
            );
            assert!(client.observe(&app).await.unwrap().authorized);
        }
        // The sandbox's own key no longer matches the operator's public key.
        let err = e.client.observe(&app).await.unwrap_err();
        assert_eq!(
            (err.code.as_str(), err.class),
            ("isv.invalid-signature", ErrorClass::Permanent)
        );
    })
    .await;
}

#[tokio::test]
async fn requests_signed_with_the_wrong_key_are_refused() {
    within(async {
        let e = env(0, 0).await;
        let alipay_public = e.sandbox.alipay().alipay_public_key_pem();
        let cfg = config(fixture!("app_private_pkcs1.pem"), &alipay_public);
        let client = AlipayClient::new(&cfg, &gateway_url(&e.sandbox), e.store.clone());
        let err = client.observe(&desired("1.0.0", "1")).await.unwrap_err();
        assert_eq!(
            (err.code.as_str(), err.class),
            ("isv.invalid-signature", ErrorClass::Permanent)
        );
        let mut wrong_app = config(&e.sandbox.alipay().isv_private_key_pem(), &alipay_public);
        wrong_app.app_id = "2021999999999999".into();
        let client = AlipayClient::new(&wrong_app, &gateway_url(&e.sandbox), e.store.clone());
        let err = client.observe(&desired("1.0.0", "1")).await.unwrap_err();
        assert_eq!(err.code, "isv.invalid-app-id");
    })
    .await;
}

#[tokio::test]
async fn bad_or_missing_keys_fail_every_call_permanently() {
    within(async {
        let e = env(0, 0).await;
        let app = desired("1.0.0", "1");
        let bad = AlipayClient::new(
            &config("not a key", "x"),
            &gateway_url(&e.sandbox),
            e.store.clone(),
        );
        let err = bad.observe(&app).await.unwrap_err();
        assert_eq!(
            (err.code.as_str(), err.class),
            ("invalid_key", ErrorClass::Permanent)
        );
        assert!(err.explanation.contains("private_key"));
        let mut missing = config("", "");
        missing.private_key = None;
        let none = AlipayClient::new(&missing, &gateway_url(&e.sandbox), e.store.clone());
        let err = none.execute(&app, &commit(&app)).await.unwrap_err();
        assert_eq!(
            (err.code.as_str(), err.class),
            ("missing_key", ErrorClass::Permanent)
        );
        assert_eq!(
            e.sandbox.alipay().calls().values().sum::<u64>(),
            0,
            "nothing was sent"
        );
    })
    .await;
}

#[tokio::test]
async fn auth_codes_are_exchanged_and_stored() {
    within(async {
        let e = env(0, 0).await;
        let mut other = desired("1.0.0", "1");
        other.appid = "2021004100000002".into();
        assert!(!e.client.observe(&other).await.unwrap().authorized);
        let code = e.sandbox.alipay().authorize(&other.appid);
        let (appid, token) = e.client.exchange_auth_code(&code).await.unwrap();
        assert_eq!(appid, other.appid);
        let stored = e.store.token(&alipay_token_key(&appid)).unwrap().unwrap();
        assert_eq!(stored.value.expose(), token.expose());
        assert!(e.client.observe(&other).await.unwrap().authorized);
        let err = e.client.exchange_auth_code(&code).await.unwrap_err();
        assert_eq!(
            (err.code.as_str(), err.class),
            ("isv.code-invalid", ErrorClass::Permanent)
        );
        let err = e
            .client
            .execute(&desired("1.0.0", "1"), &Action::RevertGray)
            .await;
        assert!(err.is_ok(), "nothing gray: nothing to revert");
    })
    .await;
}

/// A stub gateway answering `list.query` with a body whose node was changed after signing (when
/// `tamper` is set) and `members.query` honestly.
async fn stub_gateway(tamper: Arc<AtomicBool>) -> (String, tokio::task::JoinHandle<()>) {
    let key = PrivateKey::parse(fixture!("alipay_private.pem")).unwrap();
    let handler = move |axum::extract::Query(q): axum::extract::Query<BTreeMap<String, String>>| {
        let key = key.clone();
        let tamper = tamper.clone();
        async move {
            let method = q.get("method").cloned().unwrap_or_default();
            let node_name = sign::response_node_name(&method);
            let (signed, sent) = if method.ends_with("list.query") {
                let honest = r#"{"code":"10000","msg":"Success","app_version_infos":[]}"#;
                let forged = r#"{"code":"10000","msg":"Success","app_version_infos":[{"app_version":"9.9.9","version_status":"RELEASE"}]}"#;
                (
                    honest,
                    if tamper.load(Ordering::SeqCst) {
                        forged
                    } else {
                        honest
                    },
                )
            } else {
                let members = r#"{"code":"10000","msg":"Success","app_member_info_list":[]}"#;
                (members, members)
            };
            format!(
                "{{\"{node_name}\":{sent},\"sign\":\"{}\"}}",
                key.sign(signed)
            )
        }
    };
    let router = axum::Router::new().route("/gateway.do", axum::routing::post(handler));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/gateway.do", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    (url, task)
}

#[tokio::test]
async fn a_tampered_response_is_rejected() {
    within(async {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let tamper = Arc::new(AtomicBool::new(false));
        let (url, task) = stub_gateway(tamper.clone()).await;
        let cfg = config(
            fixture!("app_private_pkcs8.pem"),
            fixture!("alipay_public.pem"),
        );
        let tokens = [(APP.to_string(), Secret::new("t"))].into_iter().collect();
        let client = AlipayClient::new(&cfg, &url, store).with_app_tokens(tokens);
        let app = desired("1.0.0", "1");
        let honest = client.observe(&app).await.unwrap();
        assert!(honest.authorized && honest.live.is_none());
        tamper.store(true, Ordering::SeqCst);
        let err = client.observe(&app).await.unwrap_err();
        assert_eq!(err.code, "response_signature");
        assert_eq!(err.class, ErrorClass::Permanent);
        task.abort();
    })
    .await;
}

#[tokio::test]
async fn an_upload_cut_off_before_experience_create_is_finished_by_the_next_commit() {
    within(async {
        let e = env(20, 60).await;
        let v1 = desired("1.0.0", "1001");
        // A first attempt that died right after the upload: the fingerprint was written first,
        // the upload applied, experience.create never sent.
        e.store
            .put_build_fingerprint(APP, "1.0.0", &v1.fingerprint)
            .await
            .unwrap();
        let token = e.client.token_for(APP).unwrap().unwrap();
        let biz = json!({"template_id": TEMPLATE, "template_version": "0.0.3",
            "app_version": "1.0.0", "ext": v1.ext_json});
        e.client
            .gateway
            .call(
                "alipay.open.mini.version.upload",
                Some(&token),
                client::Biz::Content(&biz),
            )
            .await
            .unwrap();

        let observed = e.client.observe(&v1).await.unwrap();
        assert_eq!(observed.builds.len(), 1);
        assert_eq!(
            observed.builds[0].fingerprint.as_deref(),
            Some(v1.fingerprint.as_str())
        );
        assert_eq!(observed.experience, None, "not the experience version yet");

        e.client.execute(&v1, &commit(&v1)).await.unwrap();
        let observed = e.client.observe(&v1).await.unwrap();
        assert_eq!(
            observed.experience.and_then(|b| b.fingerprint),
            Some(v1.fingerprint.clone())
        );
        assert_eq!(
            e.sandbox.alipay().app_state(APP).unwrap().versions.len(),
            1,
            "one build, adopted"
        );
    })
    .await;
}

/// Before: an upload whose answer did not verify was a Permanent error, so the app was failed for
/// good ("change the version or ext") although the upload had been applied.
#[tokio::test]
async fn an_upload_answer_that_does_not_verify_is_an_unknown_outcome_naming_the_key() {
    within(async {
        let e = env(20, 60).await;
        let app = desired("1.0.0", "1001");
        let upload = "alipay.open.mini.version.upload";
        e.sandbox
            .alipay()
            .sign_wrongly(crate::sandbox::alipay::WrongSignature::Only(upload.into()));
        let err = e.client.execute(&app, &commit(&app)).await.unwrap_err();
        assert_eq!(err.code, "response_signature", "{err}");
        assert_eq!(err.class, ErrorClass::Transient, "settled by observing");
        assert!(
            err.to_string()
                .contains("whether the call took effect is unknown"),
            "{err}"
        );
        assert!(
            err.hint
                .contains("check `platforms.alipay.alipay_public_key`"),
            "{}",
            err.hint
        );
        assert_eq!(e.sandbox.alipay().call_count(upload), 1);
        let observed = e.client.observe(&app).await.unwrap();
        assert_eq!(
            observed
                .builds
                .iter()
                .map(|b| (&b.version, b.fingerprint.as_deref()))
                .collect::<Vec<_>>(),
            [(&"1.0.0".to_string(), Some(app.fingerprint.as_str()))],
            "the upload took effect and is known as ours"
        );
        // A read that does not verify stays a plain error: nothing was changed.
        e.sandbox
            .alipay()
            .sign_wrongly(crate::sandbox::alipay::WrongSignature::Only(
                "alipay.open.mini.version.list.query".into(),
            ));
        let err = e.client.observe(&app).await.unwrap_err();
        assert_eq!(err.class, ErrorClass::Permanent);
    })
    .await;
}

#[tokio::test]
async fn the_probe_answers_the_observations_digest_until_the_version_list_moves() {
    within(async {
        let e = env(0, 10).await;
        let v1 = desired("1.0.0", "1001");
        let digest = |o: Observed| o.probe.expect("an observation carries its probe digest");
        let mut seen = vec![digest(e.client.observe(&v1).await.unwrap())];
        // Each move of the list — an upload, a submission, a verdict, a release, a rollback — gives
        // a new digest, and the probe and a full observation agree on it every time.
        let v2 = desired("1.1.0", "1001");
        let steps: Vec<(&Desired, Action)> = vec![
            (&v1, commit(&v1)),
            (&v1, submit(&v1)),
            (
                &v1,
                Action::Release {
                    fingerprint: v1.fingerprint.clone(),
                },
            ),
            (&v2, commit(&v2)),
        ];
        for (app, action) in steps {
            e.client.execute(app, &action).await.unwrap();
            tokio::time::sleep(Duration::from_millis(30)).await; // the audit's verdict
            let probe = e.client.probe(app).await.unwrap().expect("a probe");
            assert_eq!(
                Some(&probe),
                e.client.observe(app).await.unwrap().probe.as_ref()
            );
            assert_eq!(
                e.client.probe(app).await.unwrap().as_ref(),
                Some(&probe),
                "nothing moved"
            );
            assert!(
                !seen.contains(&probe),
                "{action:?} did not change the digest"
            );
            seen.push(probe);
        }
        let calls = e
            .sandbox
            .alipay()
            .call_count("alipay.open.mini.version.list.query");
        e.client.probe(&v2).await.unwrap();
        assert_eq!(
            e.sandbox
                .alipay()
                .call_count("alipay.open.mini.version.list.query"),
            calls + 1,
            "a probe is one read"
        );
        // Without a token there is nothing to read: observe instead.
        let mut stranger = v1.clone();
        stranger.appid = "2021004199999999".into();
        assert_eq!(e.client.probe(&stranger).await.unwrap(), None);
    })
    .await;
}
