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
        let calls = env.sandbox.wechat.calls();
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
        let calls = env.sandbox.wechat.calls();
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
            env.sandbox.wechat.app_state(APP).unwrap().refresh_token
        );
        assert_eq!(
            env.sandbox
                .wechat
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
        assert_eq!(env.sandbox.wechat.unauthorize(APP).await, None);
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
        let code = env.sandbox.wechat.authorization_code(APP);
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
