//! The Douyin client against the sandbox over real HTTP on 127.0.0.1: tokens (rotation, a dead
//! refresh token recovered, a refused access token refreshed), the pipeline through the
//! `Platform` seam, and the push endpoints refusing forged, replayed and stale pushes.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::crypto::PushCrypt;
use super::push::{Endpoints, router};
use super::*;
use crate::fleet::{ApiBase, SandboxSpec};
use crate::model::{Action, AuditStatus, Stage, fingerprint};
use crate::platform::platforms::Notice;
use crate::sandbox::{Persist, SandboxHandle};
use crate::secret::Secret;
use crate::store::Token;

const APP: &str = "tt1111111111111111";
const COMPONENT: &str = "tt00000000000000aa";
const TEMPLATE: &str = "9133504853504535288";

async fn within<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(60), f)
        .await
        .expect("test timed out")
}

struct Env {
    sandbox: SandboxHandle,
    store: Store,
    client: Arc<DouyinClient>,
    _dir: tempfile::TempDir,
}

fn keep(store: &Store, key: &str, value: &str, ttl: Option<u64>) {
    let now = crate::platform::now_secs();
    let token = Token {
        value: Secret::new(value),
        expires_at: ttl.map(|t| now + t),
        obtained_at: now,
    };
    store.put_token(key, &token).unwrap();
}

async fn env() -> Env {
    let spec = SandboxSpec {
        audit_delay_ms: 100,
        ..SandboxSpec::default()
    };
    let sandbox = crate::sandbox::start("127.0.0.1:0".parse().unwrap(), &spec, Persist::Memory)
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let sim = sandbox.douyin();
    keep(
        &store,
        &keys::ticket(COMPONENT),
        &sim.issue_ticket(COMPONENT),
        Some(3600),
    );
    keep(&store, &keys::refresh_token(APP), &sim.authorize(APP), None);
    let config = DouyinConfig {
        component_appid: COMPONENT.into(),
        component_appsecret: Some(Secret::new("secret")),
        token: None,
        encoding_aes_key: None,
        api_base: ApiBase::Sandbox,
    };
    let fast = PollWait {
        first: Duration::from_millis(20),
        max: Duration::from_millis(50),
        total: Duration::from_secs(10),
    };
    let client = Arc::new(
        DouyinClient::new(&config, &sandbox.base_url(), store.clone()).with_rollback_wait(fast),
    );
    Env {
        sandbox,
        store,
        client,
        _dir: dir,
    }
}

fn desired(version: &str, shop: &str) -> Desired {
    let ext = json!({ "shopId": shop });
    let ext_json = json!({ "ext": ext, "extAppid": APP, "extEnable": true }).to_string();
    Desired {
        name: "tea-house".into(),
        platform: spec::KIND,
        rules: &spec::RULES,
        appid: APP.into(),
        labels: Default::default(),
        template: "shop".into(),
        template_id: TEMPLATE.into(),
        template_version: None,
        version: version.into(),
        description: "Spring menu".into(),
        domains: None,
        privacy: None,
        qrcode_jump: None,
        fingerprint: fingerprint(TEMPLATE, None, version, &ext_json),
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

fn refresh_of(store: &Store) -> String {
    store
        .token(&keys::refresh_token(APP))
        .unwrap()
        .unwrap()
        .value
        .expose()
        .to_owned()
}

/// Upload, submit, wait for the verdict, release: through the `Platform` seam.
async fn roll_out(e: &Env, app: &Desired) {
    let fp = app.fingerprint.clone();
    e.client
        .execute(
            app,
            &Action::Commit {
                version: app.version.clone(),
                fingerprint: fp.clone(),
            },
        )
        .await
        .unwrap();
    e.client
        .execute(
            app,
            &Action::SubmitAudit {
                fingerprint: fp.clone(),
            },
        )
        .await
        .unwrap();
    let mut approved = false;
    for _ in 0..100 {
        let seen = e.client.observe(app).await.unwrap();
        if seen
            .audit
            .as_ref()
            .is_some_and(|a| a.status == AuditStatus::Approved)
        {
            approved = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(approved, "the audit is approved");
    e.client
        .execute(app, &Action::Release { fingerprint: fp })
        .await
        .unwrap();
}

#[tokio::test]
async fn the_pipeline_through_the_seam_with_rotating_refresh_tokens() {
    within(async {
        let e = env().await;
        let first_refresh = refresh_of(&e.store);
        let v1 = desired("1.0.0", "1");
        let seen = e.client.observe(&v1).await.unwrap();
        assert!(seen.authorized && seen.live.is_none());
        assert_ne!(
            refresh_of(&e.store),
            first_refresh,
            "the used refresh token was replaced"
        );
        roll_out(&e, &v1).await;
        let seen = e.client.observe(&v1).await.unwrap();
        let live = seen.live.unwrap();
        assert_eq!(
            live.build.fingerprint.as_deref(),
            Some(v1.fingerprint.as_str())
        );
        assert_eq!(live.gray, None);
        e.store
            .put_observation(APP, &e.client.observe(&v1).await.unwrap(), 0)
            .unwrap();

        let v2 = desired("1.1.0", "2");
        tokio::time::sleep(Duration::from_millis(120)).await;
        roll_out(&e, &v2).await;
        let seen = e.client.observe(&v2).await.unwrap();
        let previous = seen
            .previous
            .expect("the previous release is known from the last observation");
        assert_eq!(
            previous.fingerprint.as_deref(),
            Some(v1.fingerprint.as_str())
        );
        e.client
            .execute(
                &v1,
                &Action::Rollback {
                    fingerprint: v1.fingerprint.clone(),
                },
            )
            .await
            .unwrap();
        let seen = e.client.observe(&v1).await.unwrap();
        assert_eq!(
            seen.live.unwrap().build.version,
            "1.0.0",
            "the rollback was waited for"
        );
        let err = e
            .client
            .execute(
                &v1,
                &Action::Rollback {
                    fingerprint: v1.fingerprint.clone(),
                },
            )
            .await
            .unwrap_err();
        assert_eq!(
            err.effect,
            Some(crate::platform::ErrorEffect::RollbackRefused),
            "{err}"
        );
        let gray = e
            .client
            .execute(
                &v1,
                &Action::Gray {
                    fingerprint: v1.fingerprint.clone(),
                    from: None,
                    to: 10,
                },
            )
            .await
            .unwrap_err();
        assert_eq!(gray.class, crate::platform::ErrorClass::Permanent);
        let hosts = e
            .sandbox
            .douyin()
            .app_state(APP)
            .unwrap()
            .audit
            .unwrap()
            .hosts;
        assert_eq!(
            hosts.len(),
            6,
            "no `audit.hosts`: every host offered is submitted"
        );
    })
    .await;
}

#[tokio::test]
async fn a_dead_refresh_token_is_recovered_and_a_refused_access_token_refreshed() {
    within(async {
        let e = env().await;
        let app = desired("1.0.0", "1");
        e.client.observe(&app).await.unwrap();
        // Another process used the refresh token: the stored one is dead (40021).
        keep(
            &e.store,
            &keys::authorizer_token(APP),
            "isvact.x.expired",
            Some(1),
        );
        keep(
            &e.store,
            &keys::refresh_token(APP),
            &format!("isvrft.{APP}.dead"),
            None,
        );
        let seen = e.client.observe(&app).await.unwrap();
        assert!(seen.authorized, "recovered through retrieve_auth_code");
        assert_eq!(
            e.sandbox
                .douyin()
                .call_count("api/tpapp/v2/auth/retrieve_auth_code"),
            1
        );

        e.sandbox.douyin().expire_authorizer_tokens(APP);
        assert!(
            e.client.observe(&app).await.unwrap().authorized,
            "refreshed once and retried"
        );

        e.sandbox.douyin().deauthorize(APP);
        keep(
            &e.store,
            &keys::authorizer_token(APP),
            "isvact.x.expired",
            Some(1),
        );
        let seen = e.client.observe(&app).await.unwrap();
        assert!(!seen.authorized, "a revoked app reads as not authorized");
        let reason = e.store.token(&keys::unauthorized(APP)).unwrap().unwrap();
        assert!(
            reason.value.expose().contains("40021"),
            "{:?}",
            reason.value.expose()
        );
    })
    .await;
}

/// Serves the endpoints on loopback; their URL and the notices they send.
async fn serve(e: &Env) -> (String, tokio::sync::broadcast::Receiver<Notice>, PushCrypt) {
    let (notices, rx) = tokio::sync::broadcast::channel(16);
    let token = Secret::new(SANDBOX_PUSH_TOKEN);
    let key = Secret::new(SANDBOX_AES_KEY);
    let endpoints = Endpoints::new(
        e.client.clone(),
        PushCrypt::new(&token, &key, COMPONENT).unwrap(),
        COMPONENT,
        notices,
        None,
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router(endpoints)).await });
    (url, rx, PushCrypt::new(&token, &key, COMPONENT).unwrap())
}

#[tokio::test]
async fn pushes_are_verified_before_use_and_forged_replayed_or_stale_ones_refused() {
    within(async {
        let e = env().await;
        let (url, mut notices, crypt) = serve(&e).await;
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        let now = crate::platform::now_secs();
        let post = |path: &str, body: String| {
            http.post(format!("{url}{path}")).body(body).send()
        };
        let fresh = e.sandbox.douyin().issue_ticket(COMPONENT);
        let ticket = json!({ "Ticket": fresh, "MsgType": "Ticket", "Event": "PUSH" }).to_string();
        let sealed = crypt.seal(&ticket, [3; 32], now, "n-1");
        let ok = post("/douyin/auth", serde_json::to_string(&sealed).unwrap()).await.unwrap();
        assert_eq!(ok.status(), 200);
        assert_eq!(ok.text().await.unwrap(), "success");
        let stored = e.store.token(&keys::ticket(COMPONENT)).unwrap().unwrap();
        assert_eq!(stored.value.expose(), fresh);

        let replay = post("/douyin/auth", serde_json::to_string(&sealed).unwrap()).await.unwrap();
        assert_eq!(replay.status(), 403, "a nonce is taken once");
        let stale = crypt.seal(&ticket, [4; 32], now - 600, "n-2");
        let stale = post("/douyin/auth", serde_json::to_string(&stale).unwrap()).await.unwrap();
        assert_eq!(stale.status(), 403, "ten minutes old");
        let forger = PushCrypt::new(&Secret::new("guess"), &Secret::new(SANDBOX_AES_KEY), COMPONENT).unwrap();
        let forged_ticket = json!({ "Ticket": "forged", "MsgType": "Ticket" }).to_string();
        let forged = forger.seal(&forged_ticket, [5; 32], now, "n-3");
        let forged = post("/douyin/auth", serde_json::to_string(&forged).unwrap()).await.unwrap();
        assert_eq!(forged.status(), 403);
        let other = PushCrypt::new(&Secret::new(SANDBOX_PUSH_TOKEN), &Secret::new(SANDBOX_AES_KEY), "tt_other").unwrap();
        let elsewhere = other.seal(&forged_ticket, [6; 32], now, "n-4");
        let elsewhere = post("/douyin/auth", serde_json::to_string(&elsewhere).unwrap()).await.unwrap();
        assert_eq!(elsewhere.status(), 403, "sealed for another application");
        let garbage = post("/douyin/auth", "not json".into()).await.unwrap();
        assert_eq!(garbage.status(), 400);
        let big = post("/douyin/auth", "x".repeat(super::push::MAX_PUSH_BODY + 1)).await.unwrap();
        assert_eq!(big.status(), 413);
        let stored = e.store.token(&keys::ticket(COMPONENT)).unwrap().unwrap();
        assert_eq!(stored.value.expose(), fresh, "nothing refused was stored");

        let verdict = json!({ "AppId": APP, "TpAppId": COMPONENT, "Event": "PACKAGE_AUDIT", "AuditResults": [] });
        let sealed = crypt.seal(&verdict.to_string(), [7; 32], now, "n-5");
        let ok = post("/douyin/events", serde_json::to_string(&sealed).unwrap()).await.unwrap();
        assert_eq!(ok.status(), 200);
        let notice = notices.recv().await.unwrap();
        assert_eq!((notice.appid.as_str(), notice.event.as_str()), (APP, "audit"));

        let gone = json!({ "AppId": APP, "TpAppId": COMPONENT, "Event": "UNAUTHORIZED" });
        let sealed = crypt.seal(&gone.to_string(), [8; 32], now, "n-6");
        assert_eq!(post("/douyin/auth", serde_json::to_string(&sealed).unwrap()).await.unwrap().status(), 200);
        assert!(!e.client.observe(&desired("1.0.0", "1")).await.unwrap().authorized);

        let code = e.sandbox.douyin().authorization_code(APP);
        let back = json!({ "AppId": APP, "TpAppId": COMPONENT, "Event": "AUTHORIZED", "AuthorizationCode": code });
        let sealed = crypt.seal(&back.to_string(), [9; 32], now, "n-7");
        assert_eq!(post("/douyin/auth", serde_json::to_string(&sealed).unwrap()).await.unwrap().status(), 200);
        assert!(e.client.observe(&desired("1.0.0", "1")).await.unwrap().authorized, "the pushed code was exchanged");
    })
    .await;
}
