//! Credentials of the simulated platform: verify tickets, component access tokens, authorizer
//! refresh/access tokens and the authorization handshake (`api_create_preauthcode`,
//! `api_query_auth`, `api_get_authorizer_info`, `api_get_authorizer_list`).

use serde_json::{Value, json};

use super::routes::Req;
use super::state::{App, AuthCode, IssuedToken, World, WxError, WxResult, random_token};

/// How long a verify ticket stays valid (12 h).
const TICKET_TTL_MS: u64 = 12 * 3600 * 1000;
/// How long an older authorizer token stays valid after a newer one is minted (5 min).
const REPLACED_GRACE_MS: u64 = 5 * 60 * 1000;
/// How long pre-auth and authorization codes stay valid (10 min).
const CODE_TTL_MS: u64 = 10 * 60 * 1000;
/// How many tickets / component tokens / access tokens are remembered.
const KEEP: usize = 5;
/// The permission set code management needs.
const CODE_MANAGEMENT_SET: u64 = 18;

fn push_bounded(list: &mut Vec<IssuedToken>, token: IssuedToken) -> Vec<IssuedToken> {
    list.push(token);
    let excess = list.len().saturating_sub(KEEP);
    list.drain(..excess).collect()
}

/// Checks a token against a list of issued ones: 41001 missing, 40001 unknown, 42001 expired.
fn check_token(list: Option<&Vec<IssuedToken>>, token: &str, now: u64) -> Result<(), WxError> {
    let issued = list
        .and_then(|l| l.iter().find(|t| t.value == token))
        .ok_or_else(invalid_credential)?;
    if issued.expires_at_ms <= now {
        return Err(WxError::new(42001, "access_token expired"));
    }
    Ok(())
}

fn missing_token() -> WxError {
    WxError::new(41001, "access_token missing")
}

fn invalid_credential() -> WxError {
    WxError::new(
        40001,
        "invalid credential, access_token is invalid or not latest",
    )
}

impl World {
    /// Pushes a new verify ticket for `component` and returns it.
    pub fn issue_ticket(&mut self, component: &str, now: u64) -> String {
        let value = format!("ticket@@@{}", random_token(40));
        let list = self
            .global
            .tickets
            .entry(component.to_string())
            .or_default();
        push_bounded(
            list,
            IssuedToken {
                value: value.clone(),
                expires_at_ms: now + TICKET_TTL_MS,
            },
        );
        self.touch_global();
        value
    }

    /// Mints a component access token for `component`.
    pub fn mint_component_token(&mut self, component: &str, ttl_ms: u64, now: u64) -> IssuedToken {
        let token = IssuedToken {
            value: random_token(64),
            expires_at_ms: now + ttl_ms,
        };
        let list = self
            .global
            .component_tokens
            .entry(component.to_string())
            .or_default();
        push_bounded(list, token.clone());
        self.touch_global();
        token
    }

    /// The component a component access token belongs to.
    pub fn component_of_token(&self, token: Option<&str>, now: u64) -> Result<String, WxError> {
        let token = token.filter(|t| !t.is_empty()).ok_or_else(missing_token)?;
        let (component, list) = self
            .global
            .component_tokens
            .iter()
            .find(|(_, list)| list.iter().any(|t| t.value == token))
            .ok_or_else(invalid_credential)?;
        check_token(Some(list), token, now)?;
        Ok(component.clone())
    }

    /// Authorizes `appid` (creating its account) and returns its refresh token.
    pub fn authorize(&mut self, appid: &str, now: u64) -> String {
        if let Some(app) = self.app_mut(appid) {
            if app.revoked {
                app.revoked = false;
                app.auth_ms = now;
            }
            return app.refresh_token.clone();
        }
        let refresh = format!("refreshtoken@@@{}", random_token(40));
        self.apps
            .insert(appid.to_string(), App::new(appid, refresh.clone(), now));
        self.global.appids.insert(appid.to_string());
        self.dirty_apps.insert(appid.to_string());
        self.touch_global();
        refresh
    }

    /// The merchant revokes `appid`'s authorization: its tokens die, its refresh token is replaced
    /// (a later authorization hands out the new one). False when the app is unknown.
    pub fn revoke(&mut self, appid: &str) -> bool {
        let Some(app) = self.app_mut(appid) else {
            return false;
        };
        app.revoked = true;
        app.refresh_token = format!("refreshtoken@@@{}", random_token(40));
        let dropped = std::mem::take(&mut app.access_tokens);
        for token in dropped {
            self.token_index.remove(&token.value);
        }
        true
    }

    /// Mints an authorizer access token for `appid`; older ones live on for five minutes at most.
    pub fn mint_authorizer_token(
        &mut self,
        appid: &str,
        ttl_ms: u64,
        now: u64,
    ) -> Option<IssuedToken> {
        let token = IssuedToken {
            value: random_token(64),
            expires_at_ms: now + ttl_ms,
        };
        let app = self.app_mut(appid)?;
        for old in &mut app.access_tokens {
            old.expires_at_ms = old.expires_at_ms.min(now + REPLACED_GRACE_MS);
        }
        let dropped = push_bounded(&mut app.access_tokens, token.clone());
        for old in dropped {
            self.token_index.remove(&old.value);
        }
        self.token_index
            .insert(token.value.clone(), appid.to_string());
        Some(token)
    }

    /// The app an authorizer access token belongs to.
    pub fn app_of_token(&self, token: Option<&str>, now: u64) -> Result<String, WxError> {
        let token = token.filter(|t| !t.is_empty()).ok_or_else(missing_token)?;
        let appid = self.token_index.get(token).ok_or_else(invalid_credential)?;
        check_token(self.apps.get(appid).map(|a| &a.access_tokens), token, now)?;
        Ok(appid.clone())
    }

    /// Expires every access token of `appid` now (test helper for 42001).
    pub fn expire_authorizer_tokens(&mut self, appid: &str, now: u64) {
        if let Some(app) = self.app_mut(appid) {
            for token in &mut app.access_tokens {
                token.expires_at_ms = token.expires_at_ms.min(now);
            }
        }
    }

    /// Authorizes `appid` and hands out an authorization code for `api_query_auth`.
    pub fn authorization_code(&mut self, appid: &str, now: u64) -> String {
        self.authorize(appid, now);
        let code = format!("queryauthcode@@@{}", random_token(40));
        self.global.auth_codes.retain(|_, c| c.expires_at_ms > now);
        self.global.auth_codes.insert(
            code.clone(),
            AuthCode {
                appid: appid.to_string(),
                expires_at_ms: now + CODE_TTL_MS,
            },
        );
        self.touch_global();
        code
    }
}

fn body_str<'a>(body: &'a Value, key: &str) -> Option<&'a str> {
    body.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn func_info() -> Value {
    json!([{ "funcscope_category": { "id": CODE_MANAGEMENT_SET } }])
}

/// `POST cgi-bin/component/api_component_token`.
pub fn component_token(world: &mut World, req: &Req) -> WxResult {
    let component = body_str(req.body, "component_appid")
        .ok_or_else(|| WxError::new(41002, "appid missing"))?;
    let ticket = body_str(req.body, "component_verify_ticket")
        .ok_or_else(|| WxError::new(61006, "component ticket is invalid"))?;
    let issued = world
        .global
        .tickets
        .get(component)
        .and_then(|l| l.iter().find(|t| t.value == ticket))
        .ok_or_else(|| WxError::new(61006, "component ticket is invalid"))?;
    if issued.expires_at_ms <= req.now {
        return Err(WxError::new(61005, "component ticket is expired"));
    }
    let token = world.mint_component_token(component, req.token_ttl_ms, req.now);
    Ok(json!({
        "component_access_token": token.value,
        "expires_in": req.token_ttl_ms / 1000,
    }))
}

/// `POST cgi-bin/component/api_authorizer_token`.
pub fn authorizer_token(world: &mut World, req: &Req) -> WxResult {
    let appid = body_str(req.body, "authorizer_appid")
        .ok_or_else(|| WxError::new(40013, "invalid appid"))?;
    let refresh = body_str(req.body, "authorizer_refresh_token");
    let current = world.apps.get(appid).map(|a| a.refresh_token.as_str());
    if refresh.is_none() || refresh != current {
        return Err(WxError::new(61023, "refresh_token is invalid"));
    }
    let token = world
        .mint_authorizer_token(appid, req.token_ttl_ms, req.now)
        .ok_or_else(|| WxError::new(61023, "refresh_token is invalid"))?;
    Ok(json!({
        "authorizer_access_token": token.value,
        "expires_in": req.token_ttl_ms / 1000,
        "authorizer_refresh_token": refresh,
    }))
}

/// `POST cgi-bin/component/api_start_push_ticket` (no token): asks for a ticket push, which the
/// pusher sends when pushes are on.
pub fn start_push_ticket(_world: &mut World, req: &Req) -> WxResult {
    body_str(req.body, "component_appid").ok_or_else(|| WxError::new(41002, "appid missing"))?;
    body_str(req.body, "component_secret")
        .ok_or_else(|| WxError::new(41004, "appsecret missing"))?;
    Ok(json!({}))
}

/// Consumes a pre-auth code handed out by `api_create_preauthcode`; false when unknown or expired.
pub fn take_preauth_code(world: &mut World, code: &str, now: u64) -> bool {
    let list = &mut world.global.preauth_codes;
    let found = list
        .iter()
        .position(|c| c.value == code && c.expires_at_ms > now);
    if let Some(index) = found {
        list.remove(index);
        world.touch_global();
    }
    found.is_some()
}

/// `POST cgi-bin/component/api_create_preauthcode`.
pub fn create_preauthcode(world: &mut World, req: &Req) -> WxResult {
    let code = format!("preauthcode@@@{}", random_token(40));
    let list = &mut world.global.preauth_codes;
    list.retain(|c| c.expires_at_ms > req.now);
    push_bounded(
        list,
        IssuedToken {
            value: code.clone(),
            expires_at_ms: req.now + CODE_TTL_MS,
        },
    );
    world.touch_global();
    Ok(json!({ "pre_auth_code": code, "expires_in": CODE_TTL_MS / 1000 }))
}

/// `POST cgi-bin/component/api_query_auth`: exchanges an authorization code (single use).
pub fn query_auth(world: &mut World, req: &Req) -> WxResult {
    let code = body_str(req.body, "authorization_code")
        .ok_or_else(|| WxError::new(61010, "code is expired or invalid"))?;
    let found = world.global.auth_codes.remove(code);
    world.touch_global();
    let auth = found
        .filter(|c| c.expires_at_ms > req.now)
        .ok_or_else(|| WxError::new(61010, "code is expired or invalid"))?;
    let token = world
        .mint_authorizer_token(&auth.appid, req.token_ttl_ms, req.now)
        .ok_or_else(|| WxError::new(61003, "component is not authorized by this account"))?;
    let refresh = world
        .apps
        .get(&auth.appid)
        .map(|a| a.refresh_token.clone())
        .unwrap_or_default();
    Ok(json!({ "authorization_info": {
        "authorizer_appid": auth.appid,
        "authorizer_access_token": token.value,
        "expires_in": req.token_ttl_ms / 1000,
        "authorizer_refresh_token": refresh,
        "func_info": func_info(),
    }}))
}

/// `POST cgi-bin/component/api_get_authorizer_info`.
pub fn get_authorizer_info(world: &mut World, req: &Req) -> WxResult {
    let appid = body_str(req.body, "authorizer_appid")
        .ok_or_else(|| WxError::new(40013, "invalid appid"))?;
    let app = world
        .apps
        .get(appid)
        .filter(|a| !a.revoked)
        .ok_or_else(|| WxError::new(61003, "component is not authorized by this account"))?;
    let short = appid.get(appid.len().saturating_sub(8)..).unwrap_or(appid);
    Ok(json!({
        "authorizer_info": {
            "nick_name": format!("sandbox {short}"),
            "user_name": format!("gh_{short}"),
            "principal_name": "sandbox",
            "service_type_info": { "id": 0 },
            "verify_type_info": { "id": 0 },
            "account_status": 1,
            "MiniProgramInfo": { "network": {}, "categories": [], "visit_status": 0 },
        },
        "authorization_info": {
            "authorizer_appid": appid,
            "authorizer_refresh_token": app.refresh_token,
            "func_info": func_info(),
        },
    }))
}

/// `POST cgi-bin/component/api_get_authorizer_list` (`count` at most 500).
pub fn get_authorizer_list(world: &mut World, req: &Req) -> WxResult {
    let offset = req.body.get("offset").and_then(Value::as_u64).unwrap_or(0);
    let count = req.body.get("count").and_then(Value::as_u64).unwrap_or(0);
    if count == 0 || count > 500 {
        return Err(WxError::new(40097, "invalid args: count must be 1..=500"));
    }
    let authorized = world.apps.values().filter(|a| !a.revoked);
    let total = authorized.clone().count();
    let list: Vec<Value> = authorized
        .skip(offset as usize)
        .take(count as usize)
        .map(|a| {
            json!({
                "authorizer_appid": a.appid,
                "refresh_token": a.refresh_token,
                "auth_time": a.auth_ms / 1000,
            })
        })
        .collect();
    Ok(json!({ "total_count": total, "list": list }))
}
