//! Token lifecycle against the sandbox: single-flight minting under load, stale tickets, lost
//! refresh tokens (61023), revoked authorizations and onboarding exchanges.

use serde_json::json;

use super::tests::{APP, COMPONENT, commit, desired, env, spec, token, within};
use super::*;
use crate::platform::ErrorClass;
use crate::store::Token;

const COMPONENT_CALL: &str = "cgi-bin/component/api_component_token";

#[tokio::test]
async fn two_hundred_apps_with_an_expired_component_token_mint_it_once() {
    within(async {
        let appids: Vec<String> = (0..200).map(|i| format!("wx{i:016}")).collect();
        let refs: Vec<&str> = appids.iter().map(String::as_str).collect();
        let env = env(spec(), &refs).await;
        let expired = Token {
            value: crate::secret::Secret::new("expired-component-token"),
            expires_at: Some(1),
            obtained_at: 0,
        };
        env.store
            .put_token(&component_token_key(COMPONENT), &expired)
            .unwrap();
        let client = std::sync::Arc::new(env.client);
        let mut tasks = tokio::task::JoinSet::new();
        for appid in &appids {
            let client = std::sync::Arc::clone(&client);
            let app = desired(appid, "1.0.0", json!({}));
            tasks.spawn(async move { client.observe(&app).await });
        }
        while let Some(joined) = tasks.join_next().await {
            assert!(joined.unwrap().unwrap().authorized);
        }
        let calls = env.sandbox.wechat().calls();
        assert_eq!(calls[COMPONENT_CALL], 1);
        assert_eq!(calls["cgi-bin/component/api_authorizer_token"], 200);
    })
    .await;
}

#[tokio::test]
async fn a_ticket_older_than_twelve_hours_asks_for_a_new_push() {
    within(async {
        let env = env(spec(), &[APP]).await;
        let old = Token {
            value: crate::secret::Secret::new("ticket@@@old"),
            expires_at: Some(TICKET_TTL_SECS + 1_000),
            obtained_at: 1_000,
        };
        env.store.put_token(&ticket_key(COMPONENT), &old).unwrap();
        let app = desired(APP, "1.0.0", json!({}));
        let err = env.client.observe(&app).await.unwrap_err();
        assert_eq!(err.code, "verify_ticket_expired");
        assert!(err.hint.contains("api_start_push_ticket"), "{}", err.hint);
        let calls = env.sandbox.wechat().calls();
        assert_eq!(calls["cgi-bin/component/api_start_push_ticket"], 1);
        assert!(!calls.contains_key(COMPONENT_CALL));
    })
    .await;
}

#[tokio::test]
async fn a_lost_refresh_token_is_recovered_through_authorizer_info() {
    within(async {
        let env = env(spec(), &[APP]).await;
        env.store
            .put_token(&refresh_token_key(APP), &token("refreshtoken@@@lost"))
            .unwrap();
        let app = desired(APP, "1.0.0", json!({}));
        assert!(env.client.observe(&app).await.unwrap().authorized);
        let stored = env.store.token(&refresh_token_key(APP)).unwrap().unwrap();
        assert_eq!(
            stored.value.expose(),
            env.sandbox.wechat().app_state(APP).unwrap().refresh_token
        );
        assert_eq!(
            env.sandbox
                .wechat()
                .call_count("cgi-bin/component/api_get_authorizer_info"),
            1
        );
    })
    .await;
}

#[tokio::test]
async fn a_revoked_app_becomes_not_authorized_with_the_fix() {
    within(async {
        let env = env(spec(), &[APP]).await;
        assert_eq!(env.sandbox.wechat().unauthorize(APP).await, None);
        let app = desired(APP, "1.0.0", json!({}));
        let observed = env.client.observe(&app).await.unwrap();
        assert!(!observed.authorized);
        let reason = env.client.unauthorized_reason(APP).unwrap().unwrap();
        assert!(reason.contains("61023"), "{reason}");
        assert!(env.store.token(&refresh_token_key(APP)).unwrap().is_none());
        let err = env.client.execute(&app, &commit(&app)).await.unwrap_err();
        assert_eq!(
            (err.code.as_str(), err.class),
            ("not_authorized", ErrorClass::Auth)
        );
        assert!(err.hint.contains("minifleet auth wechat link --app"));
        let planned = crate::plan::plan_app(
            &app,
            &observed,
            &Default::default(),
            &crate::plan::Context { now: 0 },
        );
        assert_eq!(planned.state.name(), "not_authorized");
    })
    .await;
}

#[tokio::test]
async fn an_exchange_stores_tokens_and_clears_the_marker() {
    within(async {
        let env = env(spec(), &[]).await;
        env.client.mark_unauthorized(APP, "revoked").unwrap();
        let code = env.sandbox.wechat().authorization_code(APP);
        let auth = env.client.exchange_code(&code).await.unwrap();
        assert_eq!(auth.appid, APP);
        assert!(auth.permission_sets.contains(&18));
        assert!(env.client.unauthorized_reason(APP).unwrap().is_none());
        assert!(env.store.token(&refresh_token_key(APP)).unwrap().is_some());
        assert!(
            env.store
                .token(&authorizer_token_key(APP))
                .unwrap()
                .is_some()
        );
        let again = env.client.exchange_code(&code).await.unwrap_err();
        assert_eq!(again.code, "61010");
        let list = env.client.authorized_apps().await.unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].authorizer_appid, APP);
    })
    .await;
}

/// Observes every app of `appids` at once (an appid may repeat) and returns each one's error.
async fn observe_all_failing(
    client: &std::sync::Arc<WechatClient>,
    appids: &[String],
) -> Vec<PlatformError> {
    let mut tasks = tokio::task::JoinSet::new();
    for appid in appids {
        let client = std::sync::Arc::clone(client);
        let app = desired(appid, "1.0.0", json!({}));
        tasks.spawn(async move { client.observe(&app).await });
    }
    let mut errors = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        errors.push(joined.unwrap().expect_err("the observe fails"));
    }
    errors
}

#[tokio::test]
async fn a_rejected_verify_ticket_is_tried_once_for_a_hundred_and_twenty_apps() {
    within(async {
        let appids: Vec<String> = (0..120).map(|i| format!("wx{i:016}")).collect();
        let refs: Vec<&str> = appids.iter().map(String::as_str).collect();
        let env = env(spec(), &refs).await;
        env.store
            .put_token(&ticket_key(COMPONENT), &token("ticket@@@not-issued"))
            .unwrap();
        let client = std::sync::Arc::new(env.client);
        let errors = observe_all_failing(&client, &appids).await;
        assert_eq!(errors.len(), 120);
        for err in &errors {
            assert_eq!(
                (err.call.as_str(), err.code.as_str()),
                (COMPONENT_CALL, "61006")
            );
            assert!(err.hint.contains("every 10 minutes"), "{}", err.hint);
        }
        let calls = env.sandbox.wechat().calls();
        assert_eq!(calls[COMPONENT_CALL], 1, "{calls:?}");
        assert_eq!(
            calls["cgi-bin/component/api_start_push_ticket"], 1,
            "{calls:?}"
        );
        assert!(!calls.contains_key("cgi-bin/component/api_authorizer_token"));
        // Within the backoff, a later caller fails fast with the same error.
        let first = desired(&appids[0], "1.0.0", json!({}));
        assert_eq!(client.observe(&first).await.unwrap_err().code, "61006");
        assert_eq!(env.sandbox.wechat().call_count(COMPONENT_CALL), 1);
        // A new ticket is tried at once.
        let ticket = env.sandbox.wechat().issue_ticket(COMPONENT);
        env.store
            .put_token(&ticket_key(COMPONENT), &token(&ticket))
            .unwrap();
        assert!(client.observe(&first).await.unwrap().authorized);
        assert_eq!(env.sandbox.wechat().call_count(COMPONENT_CALL), 2);
    })
    .await;
}

#[tokio::test]
async fn a_stale_ticket_asks_for_one_push_for_many_apps() {
    within(async {
        let appids: Vec<String> = (0..40).map(|i| format!("wx{i:016}")).collect();
        let refs: Vec<&str> = appids.iter().map(String::as_str).collect();
        let env = env(spec(), &refs).await;
        let old = Token {
            value: crate::secret::Secret::new("ticket@@@old"),
            expires_at: Some(TICKET_TTL_SECS + 1_000),
            obtained_at: 1_000,
        };
        env.store.put_token(&ticket_key(COMPONENT), &old).unwrap();
        let client = std::sync::Arc::new(env.client);
        let errors = observe_all_failing(&client, &appids).await;
        assert!(errors.iter().all(|e| e.code == "verify_ticket_expired"));
        let pushes = "cgi-bin/component/api_start_push_ticket";
        assert_eq!(env.sandbox.wechat().call_count(pushes), 1);
    })
    .await;
}

#[tokio::test]
async fn a_failed_authorizer_refresh_is_shared_by_the_apps_concurrent_callers() {
    within(async {
        let mut spec = spec();
        spec.faults.error_rate = 1.0;
        spec.faults.codes = vec!["45009".into()];
        let env = env(spec, &[APP]).await;
        let cached = Token {
            value: crate::secret::Secret::new("component@@@cached"),
            expires_at: Some(u64::MAX / 2),
            obtained_at: super::tokens::now_secs(),
        };
        env.store
            .put_token(&component_token_key(COMPONENT), &cached)
            .unwrap();
        let client = std::sync::Arc::new(env.client);
        let errors = observe_all_failing(&client, &vec![APP.to_string(); 8]).await;
        assert!(errors.iter().all(|e| e.code == "45009"), "{errors:?}");
        let calls = env.sandbox.wechat().calls();
        assert_eq!(
            calls["cgi-bin/component/api_authorizer_token"], 1,
            "{calls:?}"
        );
        assert!(!calls.contains_key(COMPONENT_CALL));
    })
    .await;
}
