//! Component and authorizer access tokens: cached in the store with their expiry, refreshed ahead
//! of it, minted single-flight (one async mutex per token key, so concurrent apps mint once). A
//! failed mint is single-flight too ([`super::backoff`]): its error goes to every caller that
//! waited on it, and one that retrying soon cannot fix (a rejected ticket) is held for a growing,
//! bounded backoff, so a rejected verify ticket costs one `api_component_token` call per backoff,
//! not one per app.
//! A stale verify ticket asks WeChat to push again (`api_start_push_ticket`); a rejected refresh
//! token (61023) is recovered through `api_get_authorizer_info`, or the app is marked unauthorized.

use serde_json::json;
use tokio::time::Instant;

use super::backoff::{Failures, Pace};
use super::client::{Http, Method, decode, retry_now, token_rejected};
use super::types::{AuthorizerToken, ComponentToken};
use super::{
    authorizer_token_key, component_token_key, errors, refresh_token_key, ticket_key,
    unauthorized_key,
};
use crate::platform::token_cache::TokenCache;
use crate::platform::{ErrorClass, PlatformError};
use crate::secret::Secret;
use crate::store::{Store, Token};

const COMPONENT_CALL: &str = "cgi-bin/component/api_component_token";
const AUTHORIZER_CALL: &str = "cgi-bin/component/api_authorizer_token";
const START_PUSH_CALL: &str = "cgi-bin/component/api_start_push_ticket";
const INFO_CALL: &str = "cgi-bin/component/api_get_authorizer_info";
/// Errcodes of `api_component_token` that mean the verify ticket is stale or unknown.
const TICKET_REJECTED: [&str; 3] = ["61005", "61006", "61058"];
/// A verify ticket is valid for 12 h.
pub const TICKET_TTL_SECS: u64 = 12 * 3600;

pub(super) use crate::platform::now_secs;

/// The token cache of one component.
pub struct Tokens {
    cache: TokenCache,
    component_appid: String,
    component_secret: Option<Secret>,
    failures: Failures,
}

impl Tokens {
    /// A cache for `component_appid`'s tokens in `store`.
    pub fn new(store: Store, component_appid: &str, component_secret: Option<Secret>) -> Tokens {
        Tokens {
            cache: TokenCache::new(store, super::spec::KIND),
            component_appid: component_appid.to_string(),
            component_secret,
            failures: Failures::default(),
        }
    }

    /// Whether `appid` has a stored refresh token (i.e. has authorized the component).
    pub fn has_refresh_token(&self, appid: &str) -> Result<bool, PlatformError> {
        Ok(self
            .cache
            .stored(&refresh_token_key(appid), AUTHORIZER_CALL)?
            .is_some())
    }

    /// The stored verify ticket, if any.
    fn ticket(&self) -> Result<Option<Token>, PlatformError> {
        self.cache
            .stored(&ticket_key(&self.component_appid), COMPONENT_CALL)
    }

    /// The component access token, minted with the stored verify ticket when needed. A failed
    /// mint's error goes to the callers that waited on it, and while a held failure with the same
    /// ticket is in its backoff, to every caller without a call.
    pub async fn component(&self, http: &Http) -> Result<Secret, PlatformError> {
        let arrived = Instant::now();
        let key = component_token_key(&self.component_appid);
        if let Some(token) = self.cache.cached(&key, COMPONENT_CALL)? {
            return Ok(token);
        }
        let ticket = |t: Option<Token>| t.map(|t| t.value);
        let used = ticket(self.ticket()?);
        if let Some(err) = self.failures.recent(&key, used.as_ref(), arrived) {
            return Err(err);
        }
        let lock = self.cache.lock_for(&key);
        let _guard = lock.lock().await;
        if let Some(token) = self.cache.cached(&key, COMPONENT_CALL)? {
            return Ok(token);
        }
        let used = ticket(self.ticket()?);
        if let Some(err) = self.failures.recent(&key, used.as_ref(), arrived) {
            return Err(err);
        }
        let minted = self.mint_component(http, &key).await;
        self.settle_attempt(&key, used.as_ref(), &minted);
        minted
    }

    /// Remembers a failed mint of `key` made with `used` (or forgets the failures after a
    /// success). Store errors are not the platform's answer and are not remembered.
    fn settle_attempt<T>(
        &self,
        key: &str,
        used: Option<&Secret>,
        result: &Result<T, PlatformError>,
    ) {
        match result {
            Ok(_) => self.failures.clear(key),
            Err(err) if err.code == "store" => {}
            Err(err) => {
                // A passing failure (busy, network) goes to the waiting callers only; a ticket,
                // secret or quota problem, which retrying soon cannot fix, is held.
                let pace = if retry_now(err) {
                    Pace::Shared
                } else {
                    Pace::Held
                };
                let held = self.failures.record(key, used, err, pace);
                tracing::warn!(key, call = %err.call, code = %err.code, held_secs = held.as_secs(), "token mint failed; the callers waiting on it get its error, and every caller while it is held");
            }
        }
    }

    /// One attempt at minting the component token (the caller holds the key's lock).
    async fn mint_component(&self, http: &Http, key: &str) -> Result<Secret, PlatformError> {
        let ticket = self.ticket()?.ok_or_else(no_ticket)?;
        if !ticket.fresh(now_secs(), 0) {
            self.start_push_ticket(http).await;
            return Err(stale_ticket());
        }
        let body = json!({
            "component_appid": self.component_appid,
            "component_appsecret": self.secret(),
            "component_verify_ticket": ticket.value.expose(),
        });
        let answer = match http
            .call(Method::Post, COMPONENT_CALL, &[], Some(&body))
            .await
        {
            Err(err) if TICKET_REJECTED.contains(&err.code.as_str()) => {
                self.start_push_ticket(http).await;
                return Err(err);
            }
            other => other?,
        };
        let minted: ComponentToken = decode(COMPONENT_CALL, answer)?;
        self.cache.save(
            key,
            &minted.component_access_token,
            Some(minted.expires_in),
            COMPONENT_CALL,
        )?;
        tracing::debug!(component = %self.component_appid, "component access token minted");
        Ok(Secret::new(minted.component_access_token))
    }

    fn secret(&self) -> &str {
        self.component_secret
            .as_ref()
            .map(Secret::expose)
            .unwrap_or_default()
    }

    /// Asks WeChat to push a verify ticket again (`api_start_push_ticket`); failures are logged.
    pub async fn start_push_ticket(&self, http: &Http) {
        let body = json!({
            "component_appid": self.component_appid,
            "component_secret": self.secret(),
        });
        match http
            .call(Method::Post, START_PUSH_CALL, &[], Some(&body))
            .await
        {
            Ok(_) => {
                tracing::info!(component = %self.component_appid, "asked WeChat to push a verify ticket")
            }
            Err(err) => {
                tracing::warn!(component = %self.component_appid, code = %err.code, "api_start_push_ticket failed")
            }
        }
    }

    /// Stores a pushed verify ticket (valid 12 h) and flushes it to disk.
    pub fn store_ticket(&self, ticket: &str) -> Result<(), PlatformError> {
        self.cache.save(
            &ticket_key(&self.component_appid),
            ticket,
            Some(TICKET_TTL_SECS),
            "component_verify_ticket",
        )
    }

    /// Calls a `cgi-bin/component/*` API with the component token; a rejected token
    /// (40001/40014/42001) is dropped, minted again once and the call retried once.
    pub async fn component_call(
        &self,
        http: &Http,
        call: &str,
        body: &serde_json::Value,
    ) -> Result<serde_json::Value, PlatformError> {
        let send = |token: Secret| async move {
            let query = [("component_access_token", token.expose())];
            http.call(Method::Post, call, &query, Some(body)).await
        };
        let component = self.component(http).await?;
        match send(component.clone()).await {
            Err(err) if token_rejected(&err) => {
                tracing::debug!(call, code = %err.code, "component token rejected; minting again");
                self.cache
                    .drop_if_same(&component_token_key(&self.component_appid), &component)
                    .await;
                send(self.component(http).await?).await
            }
            other => other,
        }
    }

    /// Whether `appid` was marked unauthorized (an `unauthorized` push, or a lost refresh token).
    pub fn unauthorized_reason(&self, appid: &str) -> Result<Option<String>, PlatformError> {
        Ok(self
            .cache
            .stored(&unauthorized_key(appid), AUTHORIZER_CALL)?
            .map(|t| t.value.expose().to_string()))
    }

    /// Marks `appid` unauthorized: drops its tokens, keeps a marker with `reason`.
    pub fn mark_unauthorized(&self, appid: &str, reason: &str) -> Result<(), PlatformError> {
        for key in [authorizer_token_key(appid), refresh_token_key(appid)] {
            self.cache
                .store()
                .remove_token(&key)
                .map_err(|e| errors::store(AUTHORIZER_CALL, e))?;
        }
        self.cache
            .save(&unauthorized_key(appid), reason, None, AUTHORIZER_CALL)
    }

    /// Records a fresh authorization of `appid`: its refresh and access tokens; clears the marker.
    pub fn store_authorization(
        &self,
        appid: &str,
        refresh: &str,
        access: Option<(&str, u64)>,
    ) -> Result<(), PlatformError> {
        self.cache
            .save(&refresh_token_key(appid), refresh, None, AUTHORIZER_CALL)?;
        if let Some((token, expires_in)) = access {
            self.cache.save(
                &authorizer_token_key(appid),
                token,
                Some(expires_in),
                AUTHORIZER_CALL,
            )?;
        }
        self.cache
            .store()
            .remove_token(&unauthorized_key(appid))
            .map_err(|e| errors::store(AUTHORIZER_CALL, e))?;
        self.cache
            .store()
            .flush()
            .map_err(|e| errors::store(AUTHORIZER_CALL, e))
    }

    /// The stored refresh token of `appid`, if any.
    fn refresh_token(&self, appid: &str) -> Result<Option<Secret>, PlatformError> {
        Ok(self
            .cache
            .stored(&refresh_token_key(appid), AUTHORIZER_CALL)?
            .map(|t| t.value))
    }

    /// The authorizer access token of `appid`, minted with its stored refresh token when needed.
    /// A failed refresh is shared like a failed component mint (see [`Tokens::component`]); a
    /// failure of the component token is the component's to remember.
    pub async fn authorizer(&self, http: &Http, appid: &str) -> Result<Secret, PlatformError> {
        let arrived = Instant::now();
        let key = authorizer_token_key(appid);
        if let Some(reason) = self.unauthorized_reason(appid)? {
            return Err(not_authorized(appid, &reason));
        }
        if let Some(token) = self.cache.cached(&key, AUTHORIZER_CALL)? {
            return Ok(token);
        }
        let refresh = self.refresh_token(appid)?;
        if let Some(err) = self.failures.recent(&key, refresh.as_ref(), arrived) {
            return Err(err);
        }
        let lock = self.cache.lock_for(&key);
        let _guard = lock.lock().await;
        if let Some(token) = self.cache.cached(&key, AUTHORIZER_CALL)? {
            return Ok(token);
        }
        let refresh = self.refresh_token(appid)?;
        if let Some(err) = self.failures.recent(&key, refresh.as_ref(), arrived) {
            return Err(err);
        }
        let minted = self
            .mint_authorizer(http, appid, &key, refresh.clone())
            .await;
        match &minted {
            Err(err) if err.call == COMPONENT_CALL => {}
            _ => self.settle_attempt(&key, refresh.as_ref(), &minted),
        }
        minted
    }

    /// One attempt at minting `appid`'s authorizer token (the caller holds the key's lock).
    async fn mint_authorizer(
        &self,
        http: &Http,
        appid: &str,
        key: &str,
        refresh: Option<Secret>,
    ) -> Result<Secret, PlatformError> {
        let refresh = refresh.ok_or_else(|| not_authorized(appid, "no refresh token is stored"))?;
        let (minted, refresh) = match self.request_authorizer(http, appid, &refresh).await {
            Err(err) if err.code == "61023" => self.recover_refresh(http, appid, &refresh).await?,
            other => (other?, refresh),
        };
        self.cache.save(
            key,
            &minted.authorizer_access_token,
            Some(minted.expires_in),
            AUTHORIZER_CALL,
        )?;
        let returned = &minted.authorizer_refresh_token;
        if !returned.is_empty() && returned != refresh.expose() {
            self.cache
                .save(&refresh_token_key(appid), returned, None, AUTHORIZER_CALL)?;
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
        let answer = self.component_call(http, AUTHORIZER_CALL, &body).await?;
        decode(AUTHORIZER_CALL, answer)
    }

    /// After 61023: asks `api_get_authorizer_info` for the current refresh token and retries once
    /// with it; when there is none (or it is the rejected one), marks the app unauthorized.
    async fn recover_refresh(
        &self,
        http: &Http,
        appid: &str,
        rejected: &Secret,
    ) -> Result<(AuthorizerToken, Secret), PlatformError> {
        let body = json!({ "component_appid": self.component_appid, "authorizer_appid": appid });
        let recovered = match self.component_call(http, INFO_CALL, &body).await {
            Ok(answer) => answer
                .pointer("/authorization_info/authorizer_refresh_token")
                .and_then(serde_json::Value::as_str)
                .filter(|t| !t.is_empty() && *t != rejected.expose())
                .map(Secret::new),
            Err(err) => {
                tracing::warn!(appid, code = %err.code, "cannot recover the refresh token");
                None
            }
        };
        let lost = "WeChat rejected its refresh token (61023) and none could be recovered";
        let Some(refresh) = recovered else {
            self.mark_unauthorized(appid, lost)?;
            return Err(not_authorized(appid, lost));
        };
        tracing::info!(
            appid,
            "refresh token recovered through api_get_authorizer_info"
        );
        self.cache
            .save(&refresh_token_key(appid), refresh.expose(), None, INFO_CALL)?;
        match self.request_authorizer(http, appid, &refresh).await {
            Err(err) if err.code == "61023" => {
                self.mark_unauthorized(appid, lost)?;
                Err(not_authorized(appid, lost))
            }
            other => Ok((other?, refresh)),
        }
    }

    /// Drops `appid`'s cached authorizer token if it is still `used` (the one WeChat rejected).
    pub async fn drop_authorizer(&self, appid: &str, used: &Secret) {
        self.cache
            .drop_if_same(&authorizer_token_key(appid), used)
            .await;
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

fn stale_ticket() -> PlatformError {
    errors::local(
        COMPONENT_CALL,
        "verify_ticket_expired",
        ErrorClass::Transient,
        "the stored component_verify_ticket is older than 12 h",
        "WeChat was asked to push a new one (`api_start_push_ticket`); make sure the \
         authorization-event URL reaches `minifleet serve`/`watch` (`POST /wechat/auth`), then retry",
    )
}

/// The error of a call for an app that has not (or no longer) authorized the component.
pub(super) fn not_authorized(appid: &str, why: &str) -> PlatformError {
    errors::local(
        AUTHORIZER_CALL,
        "not_authorized",
        ErrorClass::Auth,
        &format!("app `{appid}` is not authorized: {why}"),
        "the merchant must authorize the app: run `minifleet auth wechat link --app <name> --redirect-uri URL`",
    )
}
