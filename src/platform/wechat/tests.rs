//! The WeChat client against the sandbox over real HTTP on 127.0.0.1.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::*;
use crate::fleet::{ApiBase, RejectRule, SandboxSpec};
use crate::model::{AuditStatus, Build, Live, Observed, Stage};
use crate::platform::{ErrorClass, Known};
use crate::sandbox::{self, Persist, SandboxHandle};
use crate::secret::Secret;
use crate::store::Token;

pub(super) const COMPONENT: &str = "wx0123456789abcdef";
pub(super) const APP: &str = "wx1111111111111111";

pub(super) fn spec() -> SandboxSpec {
    SandboxSpec {
        audit_delay_ms: 300,
        privacy_scan_ms: 150,
        audit_quota: 100,
        reject: Vec::new(),
        ..SandboxSpec::default()
    }
}

/// Runs a test body with a deadline.
pub(super) async fn within<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(30), f)
        .await
        .expect("test timed out")
}

pub(super) struct Env {
    pub(super) sandbox: SandboxHandle,
    pub(super) store: Store,
    pub(super) client: WechatClient,
    _dir: tempfile::TempDir,
}

pub(super) fn token(value: &str) -> Token {
    Token {
        value: Secret::new(value),
        expires_at: None,
        obtained_at: 0,
    }
}

fn config() -> WechatConfig {
    WechatConfig {
        component_appid: COMPONENT.into(),
        component_secret: None,
        token: None,
        encoding_aes_key: None,
        api_base: ApiBase::Sandbox,
    }
}

/// A sandbox, a store seeded with a ticket and the apps' refresh tokens, and a client.
pub(super) async fn env(spec: SandboxSpec, appids: &[&str]) -> Env {
    let addr = "127.0.0.1:0".parse().unwrap();
    let sandbox = sandbox::start(addr, &spec, Persist::Memory).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let ticket = sandbox.wechat().issue_ticket(COMPONENT);
    store
        .put_token(&ticket_key(COMPONENT), &token(&ticket))
        .unwrap();
    for appid in appids {
        let refresh = sandbox.wechat().authorize(appid);
        store
            .put_token(&refresh_token_key(appid), &token(&refresh))
            .unwrap();
    }
    let client =
        WechatClient::new(&config(), &sandbox.base_url(), store.clone()).with_scan_wait(ScanWait {
            first: Duration::from_millis(50),
            max: Duration::from_millis(200),
            total: Duration::from_secs(10),
        });
    Env {
        sandbox,
        store,
        client,
        _dir: dir,
    }
}

/// A resolved app as the fleet module builds it.
pub(super) fn desired(appid: &str, version: &str, ext: Value) -> Desired {
    let ext_json = json!({"extAppid": appid, "extEnable": true, "ext": ext}).to_string();
    Desired {
        name: format!("app-{appid}"),
        platform: crate::platform::wechat::spec::KIND,
        rules: &crate::platform::wechat::spec::RULES,
        appid: appid.into(),
        labels: Default::default(),
        template: "shop".into(),
        template_id: "42".into(),
        template_version: None,
        version: version.into(),
        description: "Spring menu".into(),
        domains: None,
        privacy: None,
        qrcode_jump: None,
        fingerprint: crate::model::fingerprint("42", None, version, &ext_json),
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

pub(super) fn commit(app: &Desired) -> Action {
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

fn release(app: &Desired) -> Action {
    Action::Release {
        fingerprint: app.fingerprint.clone(),
    }
}

impl Env {
    async fn run(&self, app: &Desired, action: Action) -> Effect {
        self.client.execute(app, &action).await.unwrap()
    }

    /// Commits, submits (waiting out the scan) and waits for the approval.
    async fn approve(&self, app: &Desired) -> String {
        self.run(app, commit(app)).await;
        let Effect::AuditSubmitted { audit_id } = self.run(app, submit(app)).await else {
            panic!("submit_audit returned no audit id");
        };
        tokio::time::sleep(Duration::from_millis(
            self.sandbox.wechat().spec().audit_delay_ms,
        ))
        .await;
        audit_id
    }

    fn calls(&self, path: &str) -> u64 {
        self.sandbox.wechat().call_count(path)
    }
}

fn fp(build: &Option<Build>) -> Option<String> {
    build.as_ref().and_then(|b| b.fingerprint.clone())
}

#[tokio::test]
async fn full_pipeline_commit_submit_approve_release() {
    within(async {
        let env = env(spec(), &[APP]).await;
        let app = desired(APP, "1.0.0", json!({"shopId": "1001"}));
        let fresh = env.client.observe(&app).await.unwrap();
        assert!(fresh.authorized);
        assert_eq!(
            (fresh.experience, fresh.audit, fresh.live),
            (None, None, None)
        );
        assert_eq!(env.run(&app, commit(&app)).await, Effect::None);
        let Effect::AuditSubmitted { audit_id } = env.run(&app, submit(&app)).await else {
            panic!("no audit id");
        };
        assert!(
            env.calls("wxa/security/get_code_privacy_info") >= 2,
            "waited out the scan"
        );
        let auditing = env.client.observe(&app).await.unwrap();
        assert_eq!(
            fp(&auditing.experience).as_deref(),
            Some(app.fingerprint.as_str())
        );
        let audit = auditing.audit.unwrap();
        assert_eq!(
            (audit.id.as_str(), audit.status),
            (audit_id.as_str(), AuditStatus::Auditing)
        );
        assert_eq!(
            audit.build.fingerprint.as_deref(),
            Some(app.fingerprint.as_str())
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
        let approved = env.client.observe(&app).await.unwrap();
        assert_eq!(approved.audit.unwrap().status, AuditStatus::Approved);
        assert_eq!(env.run(&app, release(&app)).await, Effect::None);
        assert_eq!(
            env.run(&app, release(&app)).await,
            Effect::None,
            "85052 is done"
        );
        let live = env.client.observe(&app).await.unwrap().live.unwrap();
        assert_eq!(
            live.build.fingerprint.as_deref(),
            Some(app.fingerprint.as_str())
        );
        assert_eq!((live.build.version.as_str(), live.gray), ("1.0.0", None));
        assert_eq!(
            env.calls("wxa/revertcoderelease"),
            0,
            "live is wanted: no history read"
        );
        assert_eq!(
            env.calls("wxa/getgrayreleaseplan"),
            1,
            "gray read only once live"
        );
    })
    .await;
}

/// The sandbox with [`APP`], and two versions of it to go from one to the other.
async fn two_versions() -> (Env, Desired, Desired) {
    let env = env(spec(), &[APP]).await;
    let v1 = desired(APP, "1.0.0", json!({}));
    let v2 = desired(APP, "2.0.0", json!({}));
    (env, v1, v2)
}

#[tokio::test]
async fn knowing_the_last_observation_a_released_app_costs_two_reads_and_what_moved_is_read() {
    within(async {
        let (env, v1, v2) = two_versions().await;
        env.approve(&v1).await;
        env.run(&v1, release(&v1)).await;
        let last = env.client.observe(&v1).await.unwrap();
        let reads = |env: &Env| {
            [
                "wxa/getversioninfo",
                "wxa/memberauth",
                "wxa/get_latest_auditstatus",
                "wxa/getgrayreleaseplan",
            ]
            .map(|path| env.calls(path))
        };
        let start = reads(&env);
        let since = |env: &Env, start: [u64; 4]| {
            let now = reads(env);
            [0, 1, 2, 3].map(|i| now[i] - start[i])
        };

        // Nothing moved: version info and members are read, the audit and gray plan kept.
        let again = env
            .client
            .observe_with(&v1, Known::Since(&last))
            .await
            .unwrap();
        assert_eq!(since(&env, start), [1, 1, 0, 0]);
        assert_eq!(
            (&again.experience, &again.audit, &again.live, &again.probe),
            (&last.experience, &last.audit, &last.live, &last.probe)
        );
        assert_eq!(again.audit.as_ref().unwrap().status, AuditStatus::Approved);

        // A build committed by hand moves the experience build: the audit and gray plan are read.
        let start = reads(&env);
        env.run(&v2, commit(&v2)).await;
        let moved = env
            .client
            .observe_with(&v1, Known::Since(&last))
            .await
            .unwrap();
        assert_eq!(since(&env, start), [1, 1, 1, 1]);
        assert_eq!(
            fp(&moved.experience).as_deref(),
            Some(v2.fingerprint.as_str())
        );

        // A last observation in gray proves nothing of the gray plan.
        let graying = Observed {
            live: last.live.clone().map(|live| Live {
                gray: Some(10),
                ..live
            }),
            ..last.clone()
        };
        let start = reads(&env);
        env.run(&v1, commit(&v1)).await;
        let read = env
            .client
            .observe_with(&v1, Known::Since(&graying))
            .await
            .unwrap();
        assert_eq!(since(&env, start), [1, 1, 1, 1]);
        assert_eq!(read.live.unwrap().gray, None);
    })
    .await;
}

#[tokio::test]
async fn the_audit_is_read_once_a_build_shows_and_alone_while_the_submitted_one_is_reviewed() {
    within(async {
        let (env, v1, v2) = two_versions().await;
        let reads = |env: &Env| {
            ["wxa/getversioninfo", "wxa/get_latest_auditstatus"].map(|path| env.calls(path))
        };
        let since = |env: &Env, start: [u64; 2]| {
            let now = reads(env);
            [now[0] - start[0], now[1] - start[1]]
        };

        // Nothing committed, nothing released: there is no audit to read.
        let start = reads(&env);
        let blank = env.client.observe(&v1).await.unwrap();
        assert_eq!(since(&env, start), [1, 0]);
        assert_eq!((&blank.experience, &blank.audit), (&None, &None));

        // A committed build shows: its audit is read.
        env.run(&v1, commit(&v1)).await;
        let start = reads(&env);
        let committed = env.client.observe(&v1).await.unwrap();
        assert_eq!(since(&env, start), [1, 1]);

        // Submitted: while the audit is of the wanted build, it is read alone, and the
        // experience build is the audited one.
        env.run(&v1, submit(&v1)).await;
        let start = reads(&env);
        let awaiting = env
            .client
            .observe_with(&v1, Known::Settings(&committed))
            .await
            .unwrap();
        assert_eq!(since(&env, start), [0, 1]);
        let audit = awaiting.audit.as_ref().expect("the audit read");
        assert_eq!(fp(&awaiting.experience), audit.build.fingerprint);
        assert_eq!(
            fp(&awaiting.experience).as_deref(),
            Some(v1.fingerprint.as_str())
        );
        assert_eq!(awaiting.probe, None);

        // Waiting for another build's verdict (a new version wanted meanwhile): version info too.
        let start = reads(&env);
        let other = env
            .client
            .observe_with(&v2, Known::Settings(&committed))
            .await
            .unwrap();
        assert_eq!(since(&env, start), [1, 1]);
        assert!(other.probe.is_some());
    })
    .await;
}

#[tokio::test]
async fn gray_10_then_50_then_release() {
    within(async {
        let (env, v1, v2) = two_versions().await;
        env.approve(&v1).await;
        let gray = |to| Action::Gray {
            fingerprint: v2.fingerprint.clone(),
            from: None,
            to,
        };
        let err = env.client.execute(&v1, &gray(10)).await.unwrap_err();
        assert_eq!(
            (err.code.as_str(), err.class),
            ("85079", ErrorClass::Conflict)
        );
        env.run(&v1, release(&v1)).await;
        env.approve(&v2).await;
        env.run(&v2, gray(10)).await;
        let live = env.client.observe(&v2).await.unwrap().live.unwrap();
        assert_eq!(
            (live.build.version.as_str(), live.gray),
            ("2.0.0", Some(10))
        );
        let as_v1 = env.client.observe(&v1).await.unwrap();
        assert_eq!(
            fp(&as_v1.previous).as_deref(),
            Some(v1.fingerprint.as_str())
        );
        env.run(&v2, gray(50)).await;
        let err = env.client.execute(&v2, &gray(20)).await.unwrap_err();
        assert_eq!(
            (err.code.as_str(), err.call.as_str()),
            ("85082", "wxa/grayrelease")
        );
        assert_eq!(
            env.client.observe(&v2).await.unwrap().live.unwrap().gray,
            Some(50)
        );
        env.run(&v2, release(&v2)).await;
        let live = env.client.observe(&v2).await.unwrap().live.unwrap();
        assert_eq!((live.build.version.as_str(), live.gray), ("2.0.0", None));
    })
    .await;
}

#[tokio::test]
async fn revert_gray_and_rollback() {
    within(async {
        let (env, v1, v2) = two_versions().await;
        env.approve(&v1).await;
        env.run(&v1, release(&v1)).await;
        env.approve(&v2).await;
        let gray = Action::Gray {
            fingerprint: v2.fingerprint.clone(),
            from: None,
            to: 30,
        };
        env.run(&v2, gray).await;
        let rollback = Action::Rollback {
            fingerprint: v1.fingerprint.clone(),
        };
        let err = env.client.execute(&v1, &rollback).await.unwrap_err();
        assert_eq!(
            (err.code.as_str(), err.class),
            ("87011", ErrorClass::Conflict)
        );
        env.run(&v1, Action::RevertGray).await;
        let back = env.client.observe(&v1).await.unwrap().live.unwrap();
        assert_eq!((back.build.version.as_str(), back.gray), ("1.0.0", None));
        env.run(&v2, release(&v2)).await;
        env.run(&v1, rollback.clone()).await;
        let live = env.client.observe(&v1).await.unwrap().live.unwrap();
        assert_eq!(
            live.build.fingerprint.as_deref(),
            Some(v1.fingerprint.as_str())
        );
        let err = env.client.execute(&v1, &rollback).await.unwrap_err();
        assert_eq!(
            (err.code.as_str(), err.class),
            ("87012", ErrorClass::Permanent)
        );
    })
    .await;
}

#[tokio::test]
async fn testers_bind_with_85004_recovery_and_unbind() {
    within(async {
        let env = env(spec(), &[APP]).await;
        let app = desired(APP, "1.0.0", json!({}));
        let bind = Action::BindTester {
            tester: "ops-li".into(),
        };
        let Effect::TesterBound { tester, member } = env.run(&app, bind.clone()).await else {
            panic!("no member");
        };
        assert_eq!(tester, "ops-li");
        assert_eq!(
            env.client.observe(&app).await.unwrap().members,
            std::slice::from_ref(&member)
        );
        // bound again (e.g. the store lost the map): 85004, unbind, bind, learn the userstr
        let again = env.run(&app, bind).await;
        assert_eq!(
            again,
            Effect::TesterBound {
                tester: "ops-li".into(),
                member: member.clone()
            }
        );
        assert_eq!(
            (env.calls("wxa/bind_tester"), env.calls("wxa/unbind_tester")),
            (3, 1)
        );
        let unbind = Action::UnbindTester {
            tester: Some("ops-li".into()),
            member: Some(member),
        };
        let effect = env.run(&app, unbind).await;
        assert_eq!(
            effect,
            Effect::TesterUnbound {
                tester: Some("ops-li".into())
            }
        );
        assert!(env.client.observe(&app).await.unwrap().members.is_empty());
        let bad = Action::BindTester {
            tester: "li".into(),
        };
        let err = env.client.execute(&app, &bad).await.unwrap_err();
        assert_eq!(
            (err.code.as_str(), err.class),
            ("85001", ErrorClass::Permanent)
        );
    })
    .await;
}

#[tokio::test]
async fn expired_authorizer_token_is_refreshed_once_and_the_call_retried() {
    within(async {
        let env = env(spec(), &[APP]).await;
        let app = desired(APP, "1.0.0", json!({}));
        env.client.observe(&app).await.unwrap();
        assert_eq!(env.calls("cgi-bin/component/api_authorizer_token"), 1);
        env.sandbox.wechat().expire_authorizer_tokens(APP);
        env.run(&app, commit(&app)).await;
        assert_eq!(env.calls("cgi-bin/component/api_authorizer_token"), 2);
        assert_eq!(env.calls("wxa/commit"), 2, "one 42001, one retry");
        assert!(
            env.sandbox
                .wechat()
                .app_state(APP)
                .unwrap()
                .experience
                .is_some()
        );
        let cached = env
            .store
            .token(&authorizer_token_key(APP))
            .unwrap()
            .unwrap();
        assert!(cached.expires_at.is_some());
        // the next call reuses the new token
        env.client.observe(&app).await.unwrap();
        assert_eq!(env.calls("cgi-bin/component/api_authorizer_token"), 2);
        assert_eq!(env.calls("cgi-bin/component/api_component_token"), 1);
    })
    .await;
}

#[tokio::test]
async fn component_token_is_minted_once_for_many_concurrent_observes() {
    within(async {
        let appids: Vec<String> = (0..12).map(|i| format!("wx{i:016x}")).collect();
        let refs: Vec<&str> = appids.iter().map(String::as_str).collect();
        let env = env(spec(), &refs).await;
        let client = Arc::new(env.client);
        let mut tasks = tokio::task::JoinSet::new();
        for appid in &appids {
            let (client, app) = (client.clone(), desired(appid, "1.0.0", json!({})));
            tasks.spawn(async move { client.observe(&app).await });
        }
        while let Some(done) = tasks.join_next().await {
            assert!(done.unwrap().unwrap().authorized);
        }
        let calls = env.sandbox.wechat().calls();
        assert_eq!(calls["cgi-bin/component/api_component_token"], 1);
        assert_eq!(calls["cgi-bin/component/api_authorizer_token"], 12);
        assert_eq!(calls["wxa/getversioninfo"], 12);
    })
    .await;
}

#[tokio::test]
async fn unauthorized_apps_are_observed_without_calls() {
    within(async {
        let env = env(spec(), &[]).await;
        let app = desired(APP, "1.0.0", json!({}));
        let observed = env.client.observe(&app).await.unwrap();
        assert_eq!(observed, Observed::default());
        assert!(env.sandbox.wechat().calls().is_empty());
        let err = env.client.execute(&app, &commit(&app)).await.unwrap_err();
        assert_eq!(
            (err.code.as_str(), err.class),
            ("not_authorized", ErrorClass::Auth)
        );
    })
    .await;
}

#[tokio::test]
async fn a_missing_ticket_is_an_auth_error_with_a_hint() {
    within(async {
        let env = env(spec(), &[APP]).await;
        env.store.remove_token(&ticket_key(COMPONENT)).unwrap();
        let err = env
            .client
            .observe(&desired(APP, "1.0.0", json!({})))
            .await
            .unwrap_err();
        assert_eq!(
            (err.code.as_str(), err.class),
            ("no_verify_ticket", ErrorClass::Auth)
        );
        assert!(err.hint.contains("every 10 minutes"));
    })
    .await;
}

#[tokio::test]
async fn a_rejected_audit_is_observed_with_its_reason() {
    within(async {
        let rule = RejectRule {
            when_ext: [("theme".to_string(), json!("red"))].into(),
            reason: "logo infringes a trademark<br>see rule 3.2".into(),
        };
        let env = env(
            SandboxSpec {
                reject: vec![rule],
                ..spec()
            },
            &[APP],
        )
        .await;
        let app = desired(APP, "1.0.0", json!({"theme": "red"}));
        env.approve(&app).await;
        let audit = env.client.observe(&app).await.unwrap().audit.unwrap();
        assert_eq!(audit.status, AuditStatus::Rejected);
        assert_eq!(
            audit.reason.as_deref(),
            Some("logo infringes a trademark\nsee rule 3.2")
        );
        let err = env.client.execute(&app, &release(&app)).await.unwrap_err();
        assert_eq!(
            (err.call.as_str(), err.code.as_str()),
            ("wxa/release", "85019")
        );
        assert_eq!(err.class, ErrorClass::Conflict);
    })
    .await;
}

#[tokio::test]
async fn withdraw_frees_the_audit_slot() {
    within(async {
        let env = env(
            SandboxSpec {
                audit_delay_ms: 60_000,
                ..spec()
            },
            &[APP],
        )
        .await;
        let app = desired(APP, "1.0.0", json!({}));
        env.run(&app, commit(&app)).await;
        let Effect::AuditSubmitted { audit_id } = env.run(&app, submit(&app)).await else {
            panic!("no audit id");
        };
        let err = env.client.execute(&app, &submit(&app)).await.unwrap_err();
        assert_eq!(
            (err.code.as_str(), err.class),
            ("85009", ErrorClass::Conflict)
        );
        let withdraw = Action::WithdrawAudit {
            audit_id,
            fingerprint: None,
        };
        env.run(&app, withdraw).await;
        let audit = env.client.observe(&app).await.unwrap().audit.unwrap();
        assert_eq!(audit.status, AuditStatus::Withdrawn);
        let wait = Action::WaitForAudit { audit_id: audit.id };
        assert_eq!(env.run(&app, wait).await, Effect::None);
    })
    .await;
}

/// A stand-in for WeChat on loopback that answers every call with an errmsg echoing the request's
/// URL and body, as a misbehaving proxy or gateway might.
async fn echoing_platform() -> String {
    let app = axum::Router::new().fallback(|uri: axum::http::Uri, body: String| async move {
        axum::Json(json!({"errcode": 40097, "errmsg": format!("invalid args: {uri} {body}")}))
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

#[tokio::test]
async fn an_errmsg_echoing_the_url_and_body_never_shows_tokens() {
    within(async {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let fresh = |value: &str| Token {
            value: Secret::new(value),
            expires_at: Some(u64::MAX / 2),
            obtained_at: super::tokens::now_secs(),
        };
        let other = "wx2222222222222222";
        let seeded = [
            (component_token_key(COMPONENT), "SENTINEL-component-token"),
            (refresh_token_key(APP), "SENTINEL-refresh-token"),
            (refresh_token_key(other), "SENTINEL-refresh-token-2"),
            (authorizer_token_key(other), "SENTINEL-authorizer-token"),
        ];
        for (key, value) in &seeded {
            store.put_token(key, &fresh(value)).unwrap();
        }
        let client = WechatClient::new(&config(), &echoing_platform().await, store);
        for appid in [APP, other] {
            let err = client
                .observe(&desired(appid, "1.0.0", json!({})))
                .await
                .unwrap_err();
            assert_eq!(err.code, "40097");
            assert!(err.message.contains("invalid args: /"), "{err}");
            for text in [&err.message, &err.explanation, &err.to_string()] {
                assert!(!text.contains("SENTINEL"), "{appid}: {text}");
            }
        }
    })
    .await;
}

#[tokio::test]
async fn transport_errors_are_transient_and_never_show_tokens() {
    within(async {
        let env = env(spec(), &[APP]).await;
        let app = desired(APP, "1.0.0", json!({}));
        env.client.observe(&app).await.unwrap();
        let access = env
            .store
            .token(&authorizer_token_key(APP))
            .unwrap()
            .unwrap();
        let dead = WechatClient::new(&config(), "http://127.0.0.1:9", env.store.clone());
        let err = dead.observe(&app).await.unwrap_err();
        // The read's first try failed to connect; its retry met the breaker (a host that did not
        // answer twice is not called again for a while).
        assert_eq!(
            (err.code.as_str(), err.class),
            (crate::platform::http::UNREACHABLE, ErrorClass::Transient)
        );
        assert!(err.explanation.contains("127.0.0.1:9"), "{err}");
        assert!(!err.message.contains(access.value.expose()));
        assert!(!err.to_string().contains(access.value.expose()));
    })
    .await;
}
