//! Component and authorizer tokens (spec/douyin.md §1.5): cached in the store with their expiry,
//! refreshed ahead of it, minted single-flight (one async mutex per token key, so concurrent
//! apps mint once). Douyin's refresh token is single use: every refresh answers a new one, which
//! is kept and flushed to disk before the access token is used; a lost or rejected refresh token
//! (40021) is recovered through `retrieve_auth_code`, or the app is marked unauthorized.

use serde_json::json;

use super::client::{AUTH_TOKEN, Api, COMPONENT_TOKEN, Http, RETRIEVE_CODE, decode};
use super::types::{AuthCode, AuthorizerToken, ComponentToken};
use super::{errors, keys};
use crate::platform::token_cache::TokenCache;
use crate::platform::{ErrorClass, PlatformError, now_secs};
use crate::secret::Secret;
use crate::store::Store;

/// A component ticket lives 3 h (§1.1).
pub const TICKET_TTL_SECS: u64 = 3 * 3600;
/// Codes of an access token Douyin no longer takes: drop it, mint again once, retry once.
const TOKEN_REJECTED: [&str; 5] = ["28001003", "28001008", "40020", "40009", "40010"];

/// Whether `err` says the access token used was refused.
pub fn token_rejected(err: &PlatformError) -> bool {
    TOKEN_REJECTED.contains(&err.code.as_str())
}

/// The token cache of one third-party application.
pub struct Tokens {
    cache: TokenCache,
    component_appid: String,
    secret: Option<Secret>,
}

impl Tokens {
    /// A cache for `component_appid`'s tokens in `store`.
    pub fn new(store: Store, component_appid: &str, secret: Option<Secret>) -> Tokens {
        Tokens {
            cache: TokenCache::new(store, super::spec::KIND),
            component_appid: component_appid.to_owned(),
            secret,
        }
    }

    /// Stores a pushed component ticket (valid 3 h).
    pub fn store_ticket(&self, ticket: &str) -> Result<(), PlatformError> {
        let key = keys::ticket(&self.component_appid);
        self.cache
            .save(&key, ticket, Some(TICKET_TTL_SECS), COMPONENT_TOKEN.name)?;
        self.cache
            .store()
            .flush()
            .map_err(|e| errors::store(COMPONENT_TOKEN.name, e))
    }

    /// Whether the stored ticket is fresh at `now`.
    pub fn ticket_fresh(&self, now: u64) -> Result<bool, PlatformError> {
        let key = keys::ticket(&self.component_appid);
        Ok(self
            .cache
            .stored(&key, COMPONENT_TOKEN.name)?
            .is_some_and(|t| t.fresh(now, 0)))
    }

    /// The component access token, minted with the stored ticket when needed.
    pub async fn component(&self, http: &Http) -> Result<Secret, PlatformError> {
        let key = keys::component_token(&self.component_appid);
        if let Some(token) = self.cache.cached(&key, COMPONENT_TOKEN.name)? {
            return Ok(token);
        }
        let lock = self.cache.lock_for(&key);
        let _guard = lock.lock().await;
        if let Some(token) = self.cache.cached(&key, COMPONENT_TOKEN.name)? {
            return Ok(token);
        }
        let ticket = self
            .cache
            .stored(&keys::ticket(&self.component_appid), COMPONENT_TOKEN.name)?
            .filter(|t| t.fresh(now_secs(), 0))
            .ok_or_else(no_ticket)?;
        let secret = self
            .secret
            .as_ref()
            .map(Secret::expose)
            .unwrap_or("sandbox");
        let query = [
            ("component_appid", self.component_appid.as_str()),
            ("component_appsecret", secret),
            ("component_ticket", ticket.value.expose()),
        ];
        let answer = match http.unwrapped(COMPONENT_TOKEN, &query).await {
            // A refused ticket is dropped: the next push (or the sandbox's seeding) brings one.
            Err(err) if err.code == "40037" => {
                self.cache
                    .drop_if_same(&keys::ticket(&self.component_appid), &ticket.value)
                    .await;
                return Err(err);
            }
            other => other?,
        };
        let minted: ComponentToken = decode(COMPONENT_TOKEN, answer)?;
        let expires = u64::try_from(minted.expires_in).unwrap_or(0);
        self.cache.save(
            &key,
            &minted.component_access_token,
            Some(expires),
            COMPONENT_TOKEN.name,
        )?;
        tracing::debug!(component = %self.component_appid, "Douyin component access token minted");
        Ok(Secret::new(minted.component_access_token))
    }

    /// Calls a `tpapp` API with the component token; a refused token is dropped, minted again
    /// once and the call retried once.
    pub async fn component_call(
        &self,
        http: &Http,
        api: Api,
        query: &[(&str, &str)],
        body: Option<&serde_json::Value>,
    ) -> Result<serde_json::Value, PlatformError> {
        let token = self.component(http).await?;
        match http.call(api, &token, query, body).await {
            Err(err) if token_rejected(&err) => {
                self.cache
                    .drop_if_same(&keys::component_token(&self.component_appid), &token)
                    .await;
                let token = self.component(http).await?;
                http.call(api, &token, query, body).await
            }
            other => other,
        }
    }

    /// Why `appid` is marked unauthorized, if it is.
    pub fn unauthorized_reason(&self, appid: &str) -> Result<Option<String>, PlatformError> {
        Ok(self
            .cache
            .stored(&keys::unauthorized(appid), AUTH_TOKEN.name)?
            .map(|t| t.value.expose().to_owned()))
    }

    /// Whether `appid` can be called: authorized (a refresh token is kept) and not marked.
    pub fn readable(&self, appid: &str) -> Result<bool, PlatformError> {
        Ok(self.unauthorized_reason(appid)?.is_none()
            && self
                .cache
                .stored(&keys::refresh_token(appid), AUTH_TOKEN.name)?
                .is_some())
    }

    /// Marks `appid` unauthorized: drops its tokens, keeps a marker with `reason`.
    pub fn mark_unauthorized(&self, appid: &str, reason: &str) -> Result<(), PlatformError> {
        for key in [keys::authorizer_token(appid), keys::refresh_token(appid)] {
            self.cache
                .store()
                .remove_token(&key)
                .map_err(|e| errors::store(AUTH_TOKEN.name, e))?;
        }
        self.cache
            .save(&keys::unauthorized(appid), reason, None, AUTH_TOKEN.name)?;
        self.cache
            .store()
            .flush()
            .map_err(|e| errors::store(AUTH_TOKEN.name, e))
    }

    /// Keeps a fresh authorization: the new refresh token (30 days), then the access token,
    /// flushed to disk before either is used; clears the marker.
    fn keep(&self, appid: &str, minted: &AuthorizerToken) -> Result<(), PlatformError> {
        let refresh_ttl = u64::try_from(minted.refresh_expires_in)
            .ok()
            .filter(|s| *s > 0);
        self.cache.save(
            &keys::refresh_token(appid),
            &minted.authorizer_refresh_token,
            refresh_ttl,
            AUTH_TOKEN.name,
        )?;
        let access_ttl = u64::try_from(minted.expires_in).unwrap_or(0);
        self.cache.save(
            &keys::authorizer_token(appid),
            &minted.authorizer_access_token,
            Some(access_ttl),
            AUTH_TOKEN.name,
        )?;
        self.cache
            .store()
            .remove_token(&keys::unauthorized(appid))
            .map_err(|e| errors::store(AUTH_TOKEN.name, e))?;
        self.cache
            .store()
            .flush()
            .map_err(|e| errors::store(AUTH_TOKEN.name, e))
    }

    /// Exchanges an authorization code (the redirect's, a push's or `retrieve_auth_code`'s)
    /// for `appid`'s tokens and keeps them; the app the code authorizes.
    pub async fn exchange_code(&self, http: &Http, code: &str) -> Result<String, PlatformError> {
        let query = [
            ("grant_type", "app_to_tp_authorization_code"),
            ("authorization_code", code),
        ];
        let answer = self.component_call(http, AUTH_TOKEN, &query, None).await?;
        let minted: AuthorizerToken = decode(AUTH_TOKEN, answer)?;
        if minted.authorizer_appid.is_empty() {
            return Err(errors::decode(
                AUTH_TOKEN.name,
                "the answer names no authorizer_appid",
            ));
        }
        if !minted.authorize_permission.is_empty()
            && !minted.authorize_permission.iter().any(|p| p.id == 1)
        {
            tracing::warn!(appid = %minted.authorizer_appid, "the authorization lacks permission set 1 (development): code calls will fail with 28001018");
        }
        self.keep(&minted.authorizer_appid, &minted)?;
        Ok(minted.authorizer_appid)
    }

    /// The authorizer access token of `appid`, refreshed with its stored refresh token when
    /// needed (single-flight per app).
    pub async fn authorizer(&self, http: &Http, appid: &str) -> Result<Secret, PlatformError> {
        if let Some(reason) = self.unauthorized_reason(appid)? {
            return Err(not_authorized(appid, &reason));
        }
        let key = keys::authorizer_token(appid);
        if let Some(token) = self.cache.cached(&key, AUTH_TOKEN.name)? {
            return Ok(token);
        }
        let lock = self.cache.lock_for(&key);
        let _guard = lock.lock().await;
        if let Some(token) = self.cache.cached(&key, AUTH_TOKEN.name)? {
            return Ok(token);
        }
        let refresh = self
            .cache
            .stored(&keys::refresh_token(appid), AUTH_TOKEN.name)?
            .map(|t| t.value)
            .ok_or_else(|| not_authorized(appid, "no refresh token is stored"))?;
        let query = [
            ("grant_type", "app_to_tp_refresh_token"),
            ("authorizer_refresh_token", refresh.expose()),
        ];
        let minted = match self.component_call(http, AUTH_TOKEN, &query, None).await {
            Ok(answer) => decode::<AuthorizerToken>(AUTH_TOKEN, answer)?,
            Err(err) if err.code == "40021" => return self.recover(http, appid).await,
            Err(err) => return Err(err),
        };
        self.keep(appid, &minted)?;
        tracing::debug!(appid, "Douyin authorizer access token minted");
        Ok(Secret::new(minted.authorizer_access_token))
    }

    /// After 40021 (the refresh token is dead): asks `retrieve_auth_code` for a new code and
    /// exchanges it; when that fails, marks the app unauthorized.
    async fn recover(&self, http: &Http, appid: &str) -> Result<Secret, PlatformError> {
        let body = json!({ "authorization_appid": appid });
        let recovered = async {
            let answer = self
                .component_call(http, RETRIEVE_CODE, &[], Some(&body))
                .await?;
            let code: AuthCode = decode(RETRIEVE_CODE, answer)?;
            self.exchange_code(http, &code.authorization_code).await
        }
        .await;
        match recovered {
            Ok(_) => {
                tracing::info!(
                    appid,
                    "Douyin refresh token recovered through retrieve_auth_code"
                );
                self.cache
                    .cached(&keys::authorizer_token(appid), AUTH_TOKEN.name)?
                    .ok_or_else(|| {
                        not_authorized(appid, "the recovered authorization was not kept")
                    })
            }
            Err(err) if err.class == ErrorClass::Permanent || err.class == ErrorClass::Auth => {
                let lost = format!(
                    "Douyin refused its refresh token (40021) and no new code could be retrieved ({})",
                    err.code
                );
                self.mark_unauthorized(appid, &lost)?;
                Err(not_authorized(appid, &lost))
            }
            Err(err) => Err(err),
        }
    }

    /// Drops `appid`'s cached access token if it is still `used` (the one Douyin refused).
    pub async fn drop_authorizer(&self, appid: &str, used: &Secret) {
        self.cache
            .drop_if_same(&keys::authorizer_token(appid), used)
            .await;
    }
}

fn no_ticket() -> PlatformError {
    errors::local(
        COMPONENT_TOKEN.name,
        "no_component_ticket",
        ErrorClass::Transient,
        "no fresh component_ticket is stored (Douyin pushes one every 10 minutes; each lives 3 hours)",
        "make sure the authorization-event URL (授权事件接收 URL) reaches `minifleet watch` (`POST /douyin/auth`), then retry",
    )
}

/// The app cannot be called: it never authorized, or the authorization was lost.
pub fn not_authorized(appid: &str, reason: &str) -> PlatformError {
    errors::local(
        AUTH_TOKEN.name,
        "not_authorized",
        ErrorClass::Permanent,
        &format!("app {appid} is not authorized: {reason}"),
        "the merchant must authorize the third-party application: run `minifleet auth douyin --app <name> --code AUTHORIZATION_CODE`",
    )
}
