//! Experience members (testers): `wxa/bind_tester`, `wxa/unbind_tester`, `wxa/memberauth`.

use serde_json::{Value, json};

use super::routes::Req;
use super::state::{Tester, World, WxError, WxResult};

/// Testers one app may have.
const MAX_TESTERS: usize = 50;

/// Whether `id` looks like a WeChat id: `^[A-Za-z][-_A-Za-z0-9]{5,19}$`.
pub fn valid_wechatid(id: &str) -> bool {
    let mut chars = id.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    first_ok && rest_ok && (6..=20).contains(&id.len())
}

/// The opaque member id of `wechatid` on `appid`: 32 hex chars of a keyed hash.
pub fn userstr(secret: &str, appid: &str, wechatid: &str) -> String {
    let input = format!("{appid}\n{wechatid}\n{secret}");
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, input.as_bytes());
    hex::encode(&digest.as_ref()[..16])
}

fn field<'a>(body: &'a Value, key: &str) -> Option<&'a str> {
    body.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// `POST wxa/bind_tester` `{wechatid}`.
pub fn bind(world: &mut World, req: &Req) -> WxResult {
    let wechatid = field(req.body, "wechatid")
        .filter(|id| valid_wechatid(id))
        .ok_or_else(|| WxError::new(85001, "wechat id does not exist or is not searchable"))?;
    let member = userstr(&world.global.secret, req.appid, wechatid);
    let app = world
        .app_mut(req.appid)
        .ok_or_else(|| WxError::new(61003, "component is not authorized by this account"))?;
    if app.testers.iter().any(|t| t.userstr == member) {
        return Err(WxError::new(85004, "wechat id is already bound"));
    }
    if app.testers.len() >= MAX_TESTERS {
        return Err(WxError::new(85002, "tester limit of this app reached"));
    }
    app.testers.push(Tester {
        wechatid: wechatid.to_string(),
        userstr: member.clone(),
    });
    Ok(json!({ "userstr": member }))
}

/// `POST wxa/unbind_tester` `{wechatid}` or `{userstr}`; not bound is fine.
pub fn unbind(world: &mut World, req: &Req) -> WxResult {
    let by_id = field(req.body, "wechatid").map(|id| userstr(&world.global.secret, req.appid, id));
    let member = by_id.or_else(|| field(req.body, "userstr").map(str::to_string));
    let member = member.ok_or_else(|| WxError::new(40097, "invalid args: wechatid or userstr"))?;
    if let Some(app) = world.app_mut(req.appid) {
        app.testers.retain(|t| t.userstr != member);
    }
    Ok(json!({}))
}

/// `POST wxa/memberauth` `{action: "get_experiencer"}`.
pub fn memberauth(world: &mut World, req: &Req) -> WxResult {
    if field(req.body, "action") != Some("get_experiencer") {
        return Err(WxError::new(
            40097,
            "invalid args: action must be get_experiencer",
        ));
    }
    let members: Vec<Value> = world
        .apps
        .get(req.appid)
        .map(|a| {
            a.testers
                .iter()
                .map(|t| json!({ "userstr": t.userstr }))
                .collect()
        })
        .unwrap_or_default();
    Ok(json!({ "members": members }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wechat_ids_follow_the_pattern() {
        assert!(valid_wechatid("ops-li"));
        assert!(valid_wechatid("qa_wang01"));
        assert!(!valid_wechatid("li"));
        assert!(!valid_wechatid("1opsli"));
        assert!(!valid_wechatid("ops li x"));
        assert!(!valid_wechatid("abcdefghijklmnopqrstu"));
    }

    #[test]
    fn userstr_is_stable_per_app_and_person() {
        let a = userstr("s", "wx1", "ops-li");
        assert_eq!(a.len(), 32);
        assert_eq!(a, userstr("s", "wx1", "ops-li"));
        assert_ne!(a, userstr("s", "wx2", "ops-li"));
        assert_ne!(a, userstr("t", "wx1", "ops-li"));
    }
}
