//! The push endpoints over real HTTP on loopback: every rejection case, the ticket push, the
//! audit event notice, and the whole onboarding flow against the sandbox.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::daemon::{Limits, serve, serve_with};
use crate::fleet::{ApiBase, SandboxSpec};
use crate::model::{Desired, Stage};
use crate::platform::Platform;
use crate::platform::platforms::Notice;
use crate::platform::relay::Relay;
use crate::platform::wechat::crypto::{self, MsgCrypt};
use crate::platform::wechat::push::{SANDBOX_AES_KEY, SANDBOX_TOKEN, build_xml};
use crate::platform::wechat::spec::WechatConfig;
use crate::platform::wechat::{LinkKind, refresh_token_key, ticket_key, unauthorized_key};
use crate::sandbox::{self, Persist, SandboxHandle};
use crate::secret::Secret;
use crate::store::Store;

const COMPONENT: &str = "wx0123456789abcdef";
const APP: &str = "wx2222222222222222";

async fn within<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(30), f)
        .await
        .expect("test timed out")
}

struct Env {
    sandbox: SandboxHandle,
    store: Store,
    url: String,
    callbacks: Arc<Callbacks>,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

fn crypt_for(appid: &str) -> MsgCrypt {
    MsgCrypt::new(
        &Secret::new(SANDBOX_TOKEN),
        &Secret::new(SANDBOX_AES_KEY),
        appid,
    )
    .unwrap()
}

/// A sandbox, a store, a client of the sandbox and the endpoints serving on loopback.
async fn env() -> Env {
    let addr = "127.0.0.1:0".parse().unwrap();
    let spec = SandboxSpec {
        audit_delay_ms: 200,
        privacy_scan_ms: 0,
        ..SandboxSpec::default()
    };
    let sandbox = sandbox::start(addr, &spec, Persist::Memory).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let config = WechatConfig {
        component_appid: COMPONENT.into(),
        component_secret: Some(Secret::new("s3cret")),
        token: None,
        encoding_aes_key: None,
        api_base: ApiBase::Sandbox,
    };
    let client = Arc::new(crate::platform::wechat::WechatClient::new(
        &config,
        &sandbox.base_url(),
        store.clone(),
    ));
    let callbacks = Callbacks::new(
        client,
        crypt_for(COMPONENT),
        tokio::sync::broadcast::channel(16).0,
        None,
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = router(Arc::clone(&callbacks));
    tokio::spawn(serve(listener, app, std::future::pending()));
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    Env {
        sandbox,
        store,
        url,
        callbacks,
        http,
        _dir: dir,
    }
}

use crate::platform::now_secs as now;

fn ticket_xml(ticket: &str) -> String {
    build_xml(&[
        ("AppId", COMPONENT),
        ("CreateTime", "1700000000"),
        ("InfoType", "component_verify_ticket"),
        ("ComponentVerifyTicket", ticket),
    ])
}

/// A push as WeChat sends it: what to seal, how, and the query.
struct Push {
    encrypt: String,
    timestamp: u64,
    nonce: String,
    signature: Option<String>,
}

impl Push {
    fn sealed(crypt: &MsgCrypt, xml: &str) -> Push {
        Push {
            encrypt: crypt.encrypt(xml, [7; 16]),
            timestamp: now(),
            nonce: fastrand::u64(..).to_string(),
            signature: None,
        }
    }

    fn query(&self) -> Vec<(String, String)> {
        let ts = self.timestamp.to_string();
        let token = Secret::new(SANDBOX_TOKEN);
        let sig = self
            .signature
            .clone()
            .unwrap_or_else(|| crypto::signature(&token, &ts, &self.nonce, &self.encrypt));
        vec![
            (
                "signature".into(),
                crypto::plain_signature(&token, &ts, &self.nonce),
            ),
            ("timestamp".into(), ts),
            ("nonce".into(), self.nonce.clone()),
            ("encrypt_type".into(), "aes".into()),
            ("msg_signature".into(), sig),
        ]
    }

    fn body(&self) -> String {
        build_xml(&[("AppId", COMPONENT), ("Encrypt", &self.encrypt)])
    }
}

impl Env {
    async fn post(&self, path: &str, query: &[(String, String)], body: String) -> (u16, String) {
        let reply = self
            .http
            .post(format!("{}{path}", self.url))
            .query(query)
            .body(body)
            .send()
            .await
            .unwrap();
        (reply.status().as_u16(), reply.text().await.unwrap())
    }

    async fn push(&self, path: &str, push: &Push) -> (u16, String) {
        self.post(path, &push.query(), push.body()).await
    }

    fn ticket(&self) -> Option<String> {
        self.store
            .token(&ticket_key(COMPONENT))
            .unwrap()
            .map(|t| t.value.expose().to_string())
    }
}

#[tokio::test]
async fn a_valid_ticket_push_is_stored_for_twelve_hours_and_answered_success() {
    within(async {
        let env = env().await;
        let push = Push::sealed(&crypt_for(COMPONENT), &ticket_xml("ticket@@@one"));
        let started = std::time::Instant::now();
        let (status, body) = env.push(AUTH_EVENTS_PATH, &push).await;
        assert_eq!((status, body.as_str()), (200, "success"));
        assert!(started.elapsed() < Duration::from_secs(1));
        let stored = env.store.token(&ticket_key(COMPONENT)).unwrap().unwrap();
        assert_eq!(stored.value.expose(), "ticket@@@one");
        let expires = stored.expires_at.unwrap();
        assert!(expires.abs_diff(now() + 12 * 3600) <= 5, "{expires}");
    })
    .await;
}

#[tokio::test]
async fn bad_pushes_are_refused_with_4xx_and_store_nothing() {
    within(async {
        let env = env().await;
        let good = crypt_for(COMPONENT);
        let xml = ticket_xml("ticket@@@bad");
        let mut bad_signature = Push::sealed(&good, &xml);
        bad_signature.signature = Some("0".repeat(40));
        let wrong_appid = Push::sealed(&crypt_for("wx9999999999999999"), &xml);
        let mut stale = Push::sealed(&good, &xml);
        stale.timestamp = now() - 301;
        let mut future = Push::sealed(&good, &xml);
        future.timestamp = now() + 301;
        let mut bad_base64 = Push::sealed(&good, &xml);
        bad_base64.encrypt = "not base64 at all!".into();
        let cases: Vec<(&str, Push, u16)> = vec![
            ("bad signature", bad_signature, 403),
            ("wrong appid", wrong_appid, 403),
            ("stale timestamp", stale, 403),
            ("future timestamp", future, 403),
            ("bad base64", bad_base64, 400),
        ];
        for (what, push, want) in &cases {
            let (status, _) = env.push(AUTH_EVENTS_PATH, push).await;
            assert_eq!(status, *want, "{what}");
        }
        let ok = Push::sealed(&good, &xml);
        let query = ok.query();
        let (status, _) = env
            .post(AUTH_EVENTS_PATH, &query, "<xml><Encrypt>".into())
            .await;
        assert_eq!(status, 400, "malformed xml");
        let huge = format!(
            "<xml><Encrypt>{}</Encrypt></xml>",
            "A".repeat(MAX_PUSH_BODY)
        );
        let (status, _) = env.post(AUTH_EVENTS_PATH, &query, huge).await;
        assert_eq!(status, 413, "body over 64 KiB");
        let (status, _) = env.post(AUTH_EVENTS_PATH, &[], ok.body()).await;
        assert_eq!(status, 400, "no query");
        assert_eq!(env.ticket(), None, "nothing stored");
        let (status, _) = env.push(AUTH_EVENTS_PATH, &ok).await;
        assert_eq!(status, 200);
        env.store.remove_token(&ticket_key(COMPONENT)).unwrap();
        let (status, body) = env.push(AUTH_EVENTS_PATH, &ok).await;
        assert_eq!(
            (status, body.as_str()),
            (403, "`nonce` was already used (replay)")
        );
        assert_eq!(env.ticket(), None, "a replay stores nothing");
    })
    .await;
}

#[tokio::test]
async fn a_push_sealed_with_another_encoding_aes_key_names_the_key() {
    within(async {
        let env = env().await;
        let other_key = MsgCrypt::new(
            &Secret::new(SANDBOX_TOKEN),
            &Secret::new("ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210zyxwvut"),
            COMPONENT,
        )
        .unwrap();
        let push = Push::sealed(&other_key, &ticket_xml("ticket@@@otherkey"));
        let (status, body) = env.push(AUTH_EVENTS_PATH, &push).await;
        assert_eq!(status, 400, "{body}");
        assert!(body.contains("wrong `encoding_aes_key`"), "{body}");
        assert!(!body.contains("impossible length"), "{body}");
        assert_eq!(env.ticket(), None, "nothing stored");
    })
    .await;
}

#[tokio::test]
async fn audit_events_become_notices_for_their_app() {
    within(async {
        let env = env().await;
        let mut notices = env.callbacks.subscribe();
        let xml = build_xml(&[
            ("ToUserName", "gh_x"),
            ("MsgType", "event"),
            ("Event", "weapp_audit_fail"),
            ("Reason", "blurry logo"),
        ]);
        let push = Push::sealed(&crypt_for(COMPONENT), &xml);
        let (status, body) = env.push(&format!("/wechat/events/{APP}"), &push).await;
        assert_eq!((status, body.as_str()), (200, "success"));
        let notice = notices.recv().await.unwrap();
        assert_eq!(
            notice,
            Notice {
                appid: APP.into(),
                event: "fail".into()
            }
        );
        let again = Push::sealed(&crypt_for(COMPONENT), &xml);
        let (status, _) = env.push("/wechat/events/wx..%2F..", &again).await;
        assert_eq!(status, 400);
    })
    .await;
}

/// A fresh verify ticket in the store, as WeChat's push would leave it.
fn seed_ticket(env: &Env) {
    let ticket = env.sandbox.wechat().issue_ticket(COMPONENT);
    let now = crate::platform::now_secs();
    let token = crate::store::Token {
        value: Secret::new(ticket),
        expires_at: Some(now + crate::platform::wechat::TICKET_TTL_SECS),
        obtained_at: now,
    };
    env.store.put_token(&ticket_key(COMPONENT), &token).unwrap();
}

async fn eventually<F: Fn() -> bool>(what: &str, check: F) {
    for _ in 0..200 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{what} never happened");
}

fn desired(appid: &str) -> Desired {
    let ext = serde_json::json!({"shopId": "1"});
    let ext_json =
        serde_json::json!({"extAppid": appid, "extEnable": true, "ext": ext}).to_string();
    Desired {
        name: "tea-house".into(),
        platform: crate::platform::wechat::spec::KIND,
        rules: &crate::platform::wechat::spec::RULES,
        appid: appid.into(),
        labels: Default::default(),
        template: "shop".into(),
        template_id: "42".into(),
        template_version: None,
        version: "1.0.0".into(),
        description: "Spring menu".into(),
        domains: None,
        privacy: None,
        qrcode_jump: None,
        fingerprint: crate::model::fingerprint("42", None, "1.0.0", &ext_json),
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

#[tokio::test]
async fn onboarding_from_link_to_reconcile_and_back_to_unauthorized() {
    within(async {
        let env = env().await;
        let mut push = crate::sandbox::wechat::push::sandbox_defaults(&env.url, COMPONENT);
        push.ticket_interval = Duration::from_secs(3600);
        env.sandbox.wechat().start_pushes(push).unwrap();
        eventually("the first ticket push", || env.ticket().is_some()).await;

        let client = Arc::clone(env.callbacks.client());
        let redirect = format!("{}{CALLBACK_PATH}", env.url);
        let link = client
            .authorization_link(LinkKind::Pc, &redirect, Some(APP))
            .await
            .unwrap();
        assert!(link.starts_with(&format!(
            "{}/cgi-bin/componentloginpage?",
            env.sandbox.base_url()
        )));
        assert!(link.contains(&format!("biz_appid={APP}")) && link.contains("auth_type=2"));
        let page = env.http.get(&link).send().await.unwrap();
        assert_eq!(page.status(), 200);
        let html = page.text().await.unwrap();
        assert!(html.contains("Authorized") && html.contains(APP), "{html}");
        let refresh = env.store.token(&refresh_token_key(APP)).unwrap().unwrap();
        assert_eq!(
            refresh.value.expose(),
            env.sandbox.wechat().app_state(APP).unwrap().refresh_token
        );

        let app = desired(APP);
        let observed = client.observe(&app).await.unwrap();
        assert!(observed.authorized);
        let ctx = crate::plan::Context { now: now() };
        let plan = crate::plan::plan_app(&app, &observed, &Default::default(), &ctx);
        let first = plan
            .steps
            .first()
            .expect("a commit is planned")
            .action
            .clone();
        client.execute(&app, &first).await.unwrap();
        let committed = env.sandbox.wechat().app_state(APP).unwrap();
        assert_eq!(committed.experience.unwrap().user_version, "1.0.0");
        let mut notices = env.callbacks.subscribe();
        let submit = crate::model::Action::SubmitAudit {
            fingerprint: app.fingerprint.clone(),
        };
        client.execute(&app, &submit).await.unwrap();
        let notice = notices.recv().await.unwrap();
        assert_eq!(
            (notice.appid.as_str(), notice.event.as_str()),
            (APP, "success")
        );

        assert_eq!(env.sandbox.wechat().unauthorize(APP).await, Some(200));
        assert!(env.store.token(&unauthorized_key(APP)).unwrap().is_some());
        assert!(env.store.token(&refresh_token_key(APP)).unwrap().is_none());
        let observed = client.observe(&app).await.unwrap();
        assert!(!observed.authorized);
        let plan = crate::plan::plan_app(&app, &observed, &Default::default(), &ctx);
        assert!(plan.steps.is_empty());
        assert_eq!(plan.state.name(), "not_authorized");
    })
    .await;
}

/// Serves the endpoints of `env` again with 1 s read limits; returns the address.
async fn serve_with_short_limits(env: &Env) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let limits = Limits {
        header_read: Duration::from_secs(1),
        body_read: Duration::from_secs(1),
        ..Limits::default()
    };
    let app = router(Arc::clone(&env.callbacks));
    tokio::spawn(serve_with(listener, app, std::future::pending(), limits));
    addr
}

/// Sends `head` at once, then `trickle` a byte every 100 ms, while reading the answer. Returns
/// what was read and how many trickled bytes had been sent when the server answered or closed.
async fn trickle(addr: std::net::SocketAddr, head: &str, trickle: &[u8]) -> (String, usize) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    writer.write_all(head.as_bytes()).await.unwrap();
    let sent = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&sent);
    let bytes = trickle.to_vec();
    let sender = tokio::spawn(async move {
        for byte in bytes {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if writer.write_all(&[byte]).await.is_err() {
                return;
            }
            counter.fetch_add(1, Ordering::SeqCst);
        }
    });
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    // The first byte of the answer (or the close) is the moment that counts.
    let n = reader.read(&mut buf).await.unwrap_or(0);
    let sent_then = sent.load(Ordering::SeqCst);
    answer.extend_from_slice(&buf[..n]);
    while let Ok(n) = reader.read(&mut buf).await {
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&buf[..n]);
    }
    sender.abort();
    (String::from_utf8_lossy(&answer).into_owned(), sent_then)
}

#[tokio::test]
async fn a_push_body_trickled_a_byte_at_a_time_is_answered_408_before_it_ends() {
    within(async {
        let env = env().await;
        let addr = serve_with_short_limits(&env).await;
        let push = Push::sealed(&crypt_for(COMPONENT), &ticket_xml("ticket@@@slow"));
        let query: Vec<String> = push
            .query()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let body = push.body();
        let head = format!(
            "POST {AUTH_EVENTS_PATH}?{} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\n\r\n",
            query.join("&"),
            body.len()
        );
        let (answer, sent) = trickle(addr, &head, body.as_bytes()).await;
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        assert!(
            sent < body.len(),
            "answered before the trickle ended ({sent} of {} bytes sent)",
            body.len()
        );
        assert_eq!(env.ticket(), None, "nothing stored");
    })
    .await;
}

#[tokio::test]
async fn request_headers_trickled_a_byte_at_a_time_get_the_connection_closed_before_they_end() {
    within(async {
        let env = env().await;
        let addr = serve_with_short_limits(&env).await;
        let head = format!("GET {CALLBACK_PATH}?auth_code=x HTTP/1.1\r\nHost: {addr}\r\n");
        let slow = "X-Slow: abcdefghijklmnopqrstuvwxyz0123456789\r\n\r\n";
        let (answer, sent) = trickle(addr, &head, slow.as_bytes()).await;
        assert!(
            answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
            "closed or 408: {answer}"
        );
        assert!(
            sent < slow.len(),
            "closed before the trickle ended ({sent} of {} bytes sent)",
            slow.len()
        );
    })
    .await;
}

#[tokio::test]
async fn a_bogus_auth_code_is_the_callers_error_400_saying_how_to_get_a_fresh_link() {
    within(async {
        let env = env().await;
        seed_ticket(&env);
        let url = format!("{}{CALLBACK_PATH}?auth_code=bogus", env.url);
        let reply = env.http.get(&url).send().await.unwrap();
        let status = reply.status().as_u16();
        let html = reply.text().await.unwrap();
        assert_eq!(status, 400, "{html}");
        assert!(
            html.contains("invalid, expired or was already used"),
            "{html}"
        );
        assert!(
            html.contains("minifleet auth wechat link --redirect-uri URL"),
            "{html}"
        );
        assert!(env.store.token(&refresh_token_key(APP)).unwrap().is_none());

        let reply = env
            .http
            .get(format!("{}{CALLBACK_PATH}", env.url))
            .send()
            .await;
        let reply = reply.unwrap();
        assert_eq!(reply.status().as_u16(), 400, "no code at all");
        assert!(reply.text().await.unwrap().contains("--redirect-uri URL"));
    })
    .await;
}

/// Endpoints whose WeChat is a closed port (an exchange cannot reach it), with `relay`, served on
/// loopback: what the callback page at their URL answers to a code.
async fn callback_without_wechat(store: Store, relay: Option<Arc<Relay>>) -> (u16, String) {
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    let config = WechatConfig {
        component_appid: COMPONENT.into(),
        component_secret: Some(Secret::new("s3cret")),
        token: None,
        encoding_aes_key: None,
        api_base: ApiBase::Url(closed.clone()),
    };
    let client = Arc::new(crate::platform::wechat::WechatClient::new(
        &config, &closed, store,
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = router(Callbacks::new(
        client,
        crypt_for(COMPONENT),
        tokio::sync::broadcast::channel(16).0,
        relay,
    ));
    tokio::spawn(serve(listener, app, std::future::pending()));
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let reply = http
        .get(format!("{url}{CALLBACK_PATH}?auth_code=queryauthcode@@@x"))
        .send()
        .await
        .unwrap();
    let status = reply.status().as_u16();
    (status, reply.text().await.unwrap())
}

#[tokio::test]
async fn a_callback_while_wechat_cannot_be_reached_answers_502() {
    within(async {
        let env = env().await;
        seed_ticket(&env);
        let (status, html) = callback_without_wechat(env.store.clone(), None).await;
        assert_eq!(status, 502, "{html}");
        assert!(html.contains("could not be reached"), "{html}");
    })
    .await;
}

#[tokio::test]
async fn a_shards_callback_leaves_the_code_to_the_apps_shard_and_exchanges_nothing() {
    within(async {
        // WeChat cannot be reached: an exchange would answer 502.
        let dir = tempfile::tempdir().unwrap();
        let shard = crate::fleet::shard::Shard { index: 0, count: 2 };
        let peers = vec!["http://127.0.0.1:9".to_owned(); 2];
        let relay = Relay::new(shard, peers).unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (status, html) = callback_without_wechat(store, Some(relay)).await;
        assert_eq!(status, 200, "{html}");
        assert!(html.contains("Authorization received"), "{html}");
        assert!(html.contains("completes it"), "{html}");
    })
    .await;
}
