//! Merchant `app_auth_token`s: from the fleet file, else from the store (put there by
//! [`AlipayClient::exchange_auth_code`], which runs `alipay.open.auth.token.app`).

use serde_json::json;

use super::client::{Biz, decode};
use super::types::AppToken;
use super::{AlipayClient, alipay_token_key, errors};
use crate::platform::PlatformError;
use crate::secret::Secret;
use crate::store::Token;

const TOKEN_APP: &str = "alipay.open.auth.token.app";

impl AlipayClient {
    /// The `app_auth_token` of `appid`: the fleet file's, else the stored one; `None` when the
    /// app is not authorized.
    pub(super) fn token_for(&self, appid: &str) -> Result<Option<Secret>, PlatformError> {
        if let Some(token) = self.tokens.get(appid) {
            return Ok(Some(token.clone()));
        }
        let stored = self
            .store
            .token(&alipay_token_key(appid))
            .map_err(|e| errors::store("token", e))?;
        Ok(stored.map(|t| t.value))
    }

    /// The token of `appid`, or an Auth error naming the fix.
    pub(super) fn require_token(&self, appid: &str, call: &str) -> Result<Secret, PlatformError> {
        self.token_for(appid)?.ok_or_else(|| {
            errors::local(
                call,
                "not_authorized",
                crate::platform::ErrorClass::Auth,
                &format!("no app_auth_token for `{appid}`"),
                "run `minifleet auth alipay --app <name> --code <app_auth_code>` or set the app's `app_auth_token`",
            )
        })
    }

    /// Exchanges a merchant's single-use `app_auth_code` for its `app_auth_token`
    /// (`alipay.open.auth.token.app`), stores the token under [`alipay_token_key`] of the
    /// authorized appid, and returns that appid with the token.
    pub async fn exchange_auth_code(&self, code: &str) -> Result<(String, Secret), PlatformError> {
        let biz = json!({"grant_type": "authorization_code", "code": code});
        let node = self
            .gateway
            .call(TOKEN_APP, None, Biz::Content(&biz))
            .await?;
        let answer: AppToken = decode(TOKEN_APP, node)?;
        let token = Secret::new(answer.app_auth_token);
        let now = crate::platform::now_secs();
        let stored = Token {
            value: token.clone(),
            expires_at: None,
            obtained_at: now,
        };
        self.store
            .put_token(&alipay_token_key(&answer.auth_app_id), &stored)
            .map_err(|e| errors::store(TOKEN_APP, e))?;
        Ok((answer.auth_app_id, token))
    }
}
