//! Members (developers and experiencers) and authorization tokens of the simulated gateway.
//!
//! A bad or used `app_auth_code` answers `40004` with sub_code `isv.code-invalid` (the real gateway's
//! exact sub_code is not documented).

use serde_json::{Map, Value, json};

use super::gateway::Req;
use super::state::{AliError, AliResult, Member, World, random_token, random_user_id};
use super::versions::text;
use super::wire::timestamp;

/// Most experiencers an app may have.
pub const MAX_EXPERIENCERS: usize = 50;
/// Most developers an app may have.
pub const MAX_DEVELOPERS: usize = 30;

fn role<'a>(req: &'a Req) -> Result<&'a str, AliError> {
    match text(req, "role") {
        Some(role @ ("EXPERIENCER" | "DEVELOPER")) => Ok(role),
        _ => Err(AliError::business(
            "INVALID_ROLE",
            "role 只能是 DEVELOPER 或 EXPERIENCER",
        )),
    }
}

/// An email address or an 11-digit mainland phone number.
fn valid_logon_id(id: &str) -> bool {
    let phone = id.len() == 11 && id.starts_with('1') && id.bytes().all(|b| b.is_ascii_digit());
    let email = id.split_once('@').is_some_and(|(user, host)| {
        !user.is_empty() && host.contains('.') && !host.starts_with('.') && !host.ends_with('.')
    });
    phone || email
}

/// `alipay.open.app.members.create`: an `UNCONFIRMED` invitation.
pub fn create(world: &mut World, req: &Req) -> AliResult {
    let role = role(req)?.to_string();
    let logon_id = text(req, "logon_id").unwrap_or("").to_string();
    if !valid_logon_id(&logon_id) {
        return Err(AliError::business(
            "invalid_logon_id",
            "该账号不是支付宝登录账号",
        ));
    }
    let app = world.app_mut(req.appid);
    let same_role = |m: &&Member| m.role == role;
    if app
        .members
        .iter()
        .filter(same_role)
        .any(|m| m.logon_id == logon_id)
    {
        let sub_code = if role == "EXPERIENCER" {
            "EXPERIENCER_ALREADY_EXIST"
        } else {
            "DEVELOPER_ALREADY_EXSIT"
        };
        return Err(AliError::business(sub_code, "该用户已是成员或已邀请"));
    }
    let cap = if role == "EXPERIENCER" {
        MAX_EXPERIENCERS
    } else {
        MAX_DEVELOPERS
    };
    if app.members.iter().filter(same_role).count() >= cap {
        return Err(AliError::business("ROLE_OVER_LIMIT", "成员数量超过上限"));
    }
    app.members.push(Member {
        user_id: random_user_id(),
        logon_id,
        role,
        status: "UNCONFIRMED".to_string(),
        gmt_invite: timestamp(req.now),
    });
    Ok(Map::new())
}

/// `alipay.open.app.members.query`.
pub fn query(world: &mut World, req: &Req) -> AliResult {
    let role = role(req)?.to_string();
    let app = world.app_mut(req.appid);
    let list: Vec<Value> = app
        .members
        .iter()
        .filter(|m| m.role == role)
        .map(|m| {
            json!({
                "user_id": m.user_id,
                "logon_id": m.logon_id,
                "role": m.role,
                "status": m.status,
                "gmt_invite": m.gmt_invite,
            })
        })
        .collect();
    let mut out = Map::new();
    out.insert("app_member_info_list".into(), Value::Array(list));
    Ok(out)
}

/// `alipay.open.app.members.delete` by `user_id`.
pub fn delete(world: &mut World, req: &Req) -> AliResult {
    let role = role(req)?.to_string();
    let user_id = text(req, "user_id")
        .ok_or_else(|| AliError::business("USER_ID_IS_BLANK", "user_id 不能为空"))?
        .to_string();
    let app = world.app_mut(req.appid);
    let before = app.members.len();
    app.members
        .retain(|m| !(m.role == role && m.user_id == user_id));
    if app.members.len() == before {
        return Err(AliError::business("MEMBER_NOT_EXIST", "成员不存在"));
    }
    Ok(Map::new())
}

/// Issues a fresh token pair for `appid`, revoking the app's older ones (re-authorization).
pub fn issue_tokens(world: &mut World, appid: &str) -> (String, String) {
    world.global.tokens.retain(|_, app| app != appid);
    world.global.refresh_tokens.retain(|_, app| app != appid);
    let token = format!("202601BB{}", random_token(32));
    let refresh = format!("202601BB{}", random_token(32));
    world.global.tokens.insert(token.clone(), appid.to_string());
    world
        .global
        .refresh_tokens
        .insert(refresh.clone(), appid.to_string());
    world.touch_global();
    world.app_mut(appid);
    (token, refresh)
}

/// `alipay.open.auth.token.app` (called without `app_auth_token`).
pub fn token_app(world: &mut World, req: &Req) -> AliResult {
    let appid = match text(req, "grant_type") {
        Some("authorization_code") => {
            let code = text(req, "code").unwrap_or("");
            world.global.codes.remove(code).ok_or_else(code_invalid)?
        }
        Some("refresh_token") => {
            let refresh = text(req, "refresh_token").unwrap_or("");
            world
                .global
                .refresh_tokens
                .get(refresh)
                .cloned()
                .ok_or_else(|| AliError::business("isv.refresh-token-invalid", "刷新令牌无效"))?
        }
        _ => {
            return Err(AliError::invalid(
                "isv.invalid-parameter",
                "grant_type 只能是 authorization_code 或 refresh_token",
            ));
        }
    };
    world.touch_global();
    let (token, refresh) = issue_tokens(world, &appid);
    let user_id = random_user_id();
    let entry = json!({
        "app_auth_token": token,
        "app_refresh_token": refresh,
        "auth_app_id": appid,
        "user_id": user_id,
        "expires_in": 31_536_000,
        "re_expires_in": 32_140_800,
    });
    let mut out = entry.as_object().cloned().unwrap_or_default();
    out.insert("tokens".into(), json!([entry]));
    Ok(out)
}

fn code_invalid() -> AliError {
    AliError::business("isv.code-invalid", "授权码不存在、已过期或已使用")
}
