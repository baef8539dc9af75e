//! Component and authorizer access tokens: cached in the store with their expiry, refreshed ahead
//! of it, minted single-flight (one async mutex per token key, so concurrent apps mint once).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use serde_json::json;
use tokio::sync::Mutex as AsyncMutex;

use super::client::{Http, Method, decode, token_rejected};
use super::types::{AuthorizerToken, ComponentToken};
use super::{authorizer_token_key, component_token_key, errors, refresh_token_key, ticket_key};
use crate::platform::{ErrorClass, PlatformError};
use crate::secret::Secret;
use crate::store::{Store, Token};

const COMPONENT_CALL: &str = "cgi-bin/component/api_component_token";
const AUTHORIZER_CALL: &str = "cgi-bin/component/api_authorizer_token";
/// Tokens are refreshed this long before they expire (at most half their lifetime).
const REFRESH_AHEAD_SECS: u64 = 600;

/// Unix seconds now.
fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Whether a cached access token can still be used at `now`.
fn usable(token: &Token, now: u64) -> bool {
    let lifetime = token
        .expires_at
        .map_or(0, |exp| exp.saturating_sub(token.obtained_at));
    token.fresh(now, REFRESH_AHEAD_SECS.min(lifetime / 2))
}

/// The token cache of one component.
pub struct Tokens {
    store: Store,
    component_appid: String,
    component_secret: Option<Secret>,
    locks: Mutex<HashMap<String, Arc<AsyncMutex<()>>>>,
}

impl Tokens {
    /// A cache for `component_appid`'s tokens in `store`.
    pub fn new(store: Store, component_appid: &str, component_secret: Option<Secret>) -> Tokens {
        Tokens {
            store,
            component_appid: component_appid.to_string(),
            component_secret,
            locks: Mutex::new(HashMap::new()),
        }
    }

    fn lock_for(&self, key: &str) -> Arc<AsyncMutex<()>> {
        let mut locks = self.locks.lock().unwrap_or_else(PoisonError::into_inner);
        locks.entry(key.to_string()).or_default().clone()
    }

    fn stored(&self, key: &str, call: &str) -> Result<Option<Token>, PlatformError> {
        self.store.token(key).map_err(|e| errors::store(call, e))
    }

    fn save(
        &self,
        key: &str,
        value: &str,
        expires_in: Option<u64>,
        call: &str,
    ) -> Result<(), PlatformError> {
        let now = now_secs();
        let token = Token {
            value: Secret::new(value),
            expires_at: expires_in.map(|s| now + s),
            obtained_at: now,
        };
        self.store
            .put_token(key, &token)
            .map_err(|e| errors::store(call, e))
    }

    fn cached(&self, key: &str, call: &str) -> Result<Option<Secret>, PlatformError> {
        let token = self.stored(key, call)?;
        Ok(token.filter(|t| usable(t, now_secs())).map(|t| t.value))
    }

    /// Whether `appid` has a stored refresh token (i.e. has authorized the component).
    pub fn has_refresh_token(&self, appid: &str) -> Result<bool, PlatformError> {
        Ok(self
            .stored(&refresh_token_key(appid), AUTHORIZER_CALL)?
            .is_some())
    }

    /// The component access token, minted with the stored verify ticket when needed.
    pub async fn component(&self, http: &Http) -> Result<Secret, PlatformError> {
        let key = component_token_key(&self.component_appid);
        if let Some(token) = self.cached(&key, COMPONENT_CALL)? {
            return Ok(token);
        }
        let lock = self.lock_for(&key);
        let _guard = lock.lock().await;
        if let Some(token) = self.cached(&key, COMPONENT_CALL)? {
            return Ok(token);
        }
        let ticket = self
            .stored(&ticket_key(&self.component_appid), COMPONENT_CALL)?
            .ok_or_else(no_ticket)?;
        let secret = self
            .component_secret
            .as_ref()
            .map(Secret::expose)
            .unwrap_or_default();
        let body = json!({
            "component_appid": self.component_appid,
            "component_appsecret": secret,
            "component_verify_ticket": ticket.value.expose(),
        });
        let answer = http
            .call(Method::Post, COMPONENT_CALL, &[], Some(&body))
            .await?;
        let minted: ComponentToken = decode(COMPONENT_CALL, answer)?;
        self.save(
            &key,
            &minted.component_access_token,
            Some(minted.expires_in),
            COMPONENT_CALL,
        )?;
        tracing::debug!(component = %self.component_appid, "component access token minted");
        Ok(Secret::new(minted.component_access_token))
    }

    /// The authorizer access token of `appid`, minted with its stored refresh token when needed.
    pub async fn authorizer(&self, http: &Http, appid: &str) -> Result<Secret, PlatformError> {
        let key = authorizer_token_key(appid);
        if let Some(token) = self.cached(&key, AUTHORIZER_CALL)? {
            return Ok(token);
        }
        let lock = self.lock_for(&key);
        let _guard = lock.lock().await;
        if let Some(token) = self.cached(&key, AUTHORIZER_CALL)? {
            return Ok(token);
        }
        let refresh = self
            .stored(&refresh_token_key(appid), AUTHORIZER_CALL)?
            .ok_or_else(|| not_authorized(appid))?
            .value;
        let minted = self.request_authorizer(http, appid, &refresh).await?;
        self.save(
            &key,
            &minted.authorizer_access_token,
            Some(minted.expires_in),
            AUTHORIZER_CALL,
        )?;
        let returned = &minted.authorizer_refresh_token;
        if !returned.is_empty() && returned != refresh.expose() {
            self.save(&refresh_token_key(appid), returned, None, AUTHORIZER_CALL)?;
        }
        tracing::debug!(appid, "authorizer access token minted");
        Ok(Secret::new(minted.authorizer_access_token))
    }

    /// Calls `api_authorizer_token`, refreshing a rejected component token once.
    async fn request_authorizer(
        &self,
        http: &Http,
        appid: &str,
        refresh: &Secret,
    ) -> Result<AuthorizerToken, PlatformError> {
        let body = json!({
            "component_appid": self.component_appid,
            "authorizer_appid": appid,
            "authorizer_refresh_token": refresh.expose(),
        });
        let component = self.component(http).await?;
        let call = |token: Secret| {
            let body = &body;
            async move {
                let query = [("component_access_token", token.expose())];
                http.call(Method::Post, AUTHORIZER_CALL, &query, Some(body))
                    .await
            }
        };
        let answer = match call(component.clone()).await {
            Err(err) if token_rejected(&err) => {
                self.drop_if_same(&component_token_key(&self.component_appid), &component)
                    .await;
                call(self.component(http).await?).await?
            }
            other => other?,
        };
        decode(AUTHORIZER_CALL, answer)
    }

    /// Drops `appid`'s cached authorizer token if it is still `used` (the one WeChat rejected).
    pub async fn drop_authorizer(&self, appid: &str, used: &Secret) {
        self.drop_if_same(&authorizer_token_key(appid), used).await;
    }

    async fn drop_if_same(&self, key: &str, used: &Secret) {
        let lock = self.lock_for(key);
        let _guard = lock.lock().await;
        let current = self.store.token(key).ok().flatten();
        if current.is_some_and(|t| t.value == *used) {
            if let Err(err) = self.store.remove_token(key) {
                tracing::warn!(error = %err, "cannot drop a rejected token from the store");
            }
        }
    }
}

fn no_ticket() -> PlatformError {
    errors::local(
        COMPONENT_CALL,
        "no_verify_ticket",
        ErrorClass::Auth,
        "no component_verify_ticket is stored for the component",
        "WeChat pushes component_verify_ticket every 10 minutes to the authorization-event URL: \
         run `minifleet watch` with that URL reachable (or call `api_start_push_ticket`), then retry",
    )
}

fn not_authorized(appid: &str) -> PlatformError {
    errors::local(
        AUTHORIZER_CALL,
        "not_authorized",
        ErrorClass::Auth,
        &format!("no authorizer refresh token is stored for `{appid}`"),
        "the merchant must authorize the app: run `minifleet auth wechat link --app <name>`",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_refreshed_ten_minutes_ahead_or_at_half_life() {
        let token = |obtained_at, expires_at| Token {
            value: Secret::new("t"),
            expires_at: Some(expires_at),
            obtained_at,
        };
        assert!(usable(&token(0, 7200), 6500));
        assert!(!usable(&token(0, 7200), 6600));
        assert!(usable(&token(0, 100), 40));
        assert!(!usable(&token(0, 100), 50));
        assert!(!usable(&token(0, 0), 0));
    }
}
