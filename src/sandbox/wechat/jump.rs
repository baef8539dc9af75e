//! The simulated QR-code jump rules (扫普通链接二维码打开小程序), after wechat-readiness.md §4:
//! `cgi-bin/wxopen/qrcodejumpget`, `…download` (the verification file), `…add` (85066 bad link,
//! 85068 test link not under the prefix, 85069 verification file not hosted — the sandbox's
//! `jump_unverified` hosts —, 85071 already added, 85072 taken by another app, 85073 rule quota,
//! 85076 domain not ICP-filed — the sandbox's `unfiled_domains`), `…publish` (85074 before a
//! release) and `…delete`.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::routes::Req;
use super::settings::strings;
use super::state::{World, WxError, WxResult};

/// Rules one app may have.
const RULE_QUOTA: usize = 100;

/// A jump rule as the simulator keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    /// `permit_sub_rule` (1 no, 2 yes).
    pub permit_sub_rule: u64,
    /// The page.
    pub path: String,
    /// `open_version` (1 develop, 2 trial, 3 release).
    pub open_version: u64,
    /// Test links.
    pub debug_url: Vec<String>,
    /// 1 unpublished, 2 published.
    pub state: u8,
}

/// The host of an http(s) link; `None` when it is not one.
fn host_of(link: &str) -> Option<&str> {
    let rest = link
        .strip_prefix("https://")
        .or_else(|| link.strip_prefix("http://"))?;
    let host = rest.split(['/', '?']).next()?;
    let name = host.split(':').next()?;
    (name.contains('.') && !name.starts_with('.')).then_some(name)
}

/// The file the app's rules are verified with (stable per app).
fn verify_file(appid: &str) -> (String, String) {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, appid.as_bytes());
    let hex = hex::encode(&digest.as_ref()[..8]);
    (format!("{hex}.txt"), hex::encode(&digest.as_ref()[8..16]))
}

/// `POST cgi-bin/wxopen/qrcodejumpget {get_type, prefix_list?, page_num, page_size}`.
pub fn get(world: &mut World, req: &Req) -> WxResult {
    let (_, app) = world.parts(req.appid)?;
    let by_prefix = strings(req.body, "prefix_list");
    let list: Vec<Value> = app
        .jump_rules
        .iter()
        .filter(|(prefix, _)| req.body["get_type"] != 1 || by_prefix.contains(prefix))
        .map(|(prefix, r)| {
            json!({
                "prefix": prefix, "permit_sub_rule": r.permit_sub_rule, "path": r.path,
                "open_version": r.open_version, "debug_url": r.debug_url, "state": r.state,
            })
        })
        .collect();
    Ok(json!({
        "rule_list": list,
        "qrcodejump_open": 1,
        "list_size": app.jump_rules.len(),
        "qrcodejump_pub_quota": RULE_QUOTA,
    }))
}

/// `POST cgi-bin/wxopen/qrcodejumpdownload`.
pub fn download(world: &mut World, req: &Req) -> WxResult {
    world.parts(req.appid)?;
    let (name, content) = verify_file(req.appid);
    Ok(json!({ "file_name": name, "file_content": content }))
}

/// `POST cgi-bin/wxopen/qrcodejumpadd {prefix, permit_sub_rule, path, open_version, debug_url,
/// is_edit}`.
pub fn add(world: &mut World, req: &Req) -> WxResult {
    let body = req.body;
    let prefix = body["prefix"].as_str().unwrap_or_default().to_owned();
    let Some(host) = host_of(&prefix) else {
        return Err(WxError::new(85066, "invalid link"));
    };
    let debug = strings(body, "debug_url");
    if debug.len() > 5 || debug.iter().any(|d| !d.starts_with(&prefix)) {
        return Err(WxError::new(
            85068,
            "test link is not a sub-link of the prefix",
        ));
    }
    let path = body["path"].as_str().unwrap_or_default();
    let open_version = body["open_version"].as_u64().unwrap_or(0);
    if path.is_empty() || !(1..=3).contains(&open_version) {
        return Err(WxError::new(44002, "path and open_version are required"));
    }
    if req
        .spec
        .unfiled_domains
        .iter()
        .any(|d| d.eq_ignore_ascii_case(host))
    {
        return Err(WxError::new(85076, "link domain has no ICP filing"));
    }
    if req
        .spec
        .jump_unverified
        .iter()
        .any(|d| d.eq_ignore_ascii_case(host))
    {
        return Err(WxError::new(85069, "verification file check failed"));
    }
    let taken = world
        .apps
        .iter()
        .any(|(id, a)| id != req.appid && a.jump_rules.contains_key(&prefix));
    if taken {
        return Err(WxError::new(85072, "link is occupied by another app"));
    }
    let (_, app) = world.parts(req.appid)?;
    let edit = body["is_edit"].as_u64() == Some(1);
    match (edit, app.jump_rules.contains_key(&prefix)) {
        (false, true) => return Err(WxError::new(85071, "link already added")),
        (true, false) => return Err(WxError::new(85066, "no rule with this prefix to edit")),
        (false, false) if app.jump_rules.len() >= RULE_QUOTA => {
            return Err(WxError::new(85073, "rule quota is full"));
        }
        _ => {}
    }
    let rule = Rule {
        permit_sub_rule: body["permit_sub_rule"].as_u64().unwrap_or(1),
        path: path.to_owned(),
        open_version,
        debug_url: debug,
        state: 1,
    };
    app.jump_rules.insert(prefix, rule);
    Ok(json!({}))
}

/// `POST cgi-bin/wxopen/qrcodejumppublish {prefix}`: only once the app has a release (85074).
pub fn publish(world: &mut World, req: &Req) -> WxResult {
    let prefix = req.body["prefix"].as_str().unwrap_or_default();
    let (_, app) = world.parts(req.appid)?;
    if app.live.is_none() {
        return Err(WxError::new(
            85074,
            "miniprogram is not released, release code first",
        ));
    }
    let rule = app
        .jump_rules
        .get_mut(prefix)
        .ok_or_else(|| WxError::new(85066, "no rule with this prefix"))?;
    rule.state = 2;
    Ok(json!({}))
}

/// `POST cgi-bin/wxopen/qrcodejumpdelete {prefix}` (a prefix with no rule: nothing to do).
pub fn delete(world: &mut World, req: &Req) -> WxResult {
    let prefix = req.body["prefix"].as_str().unwrap_or_default();
    let (_, app) = world.parts(req.appid)?;
    app.jump_rules.remove(prefix);
    Ok(json!({}))
}

/// What the app's rules are after a jump call, for the sandbox's records: `<prefix> <path>
/// published|unpublished`.
pub fn in_place(rules: &std::collections::BTreeMap<String, Rule>) -> Vec<String> {
    rules
        .iter()
        .map(|(prefix, r)| {
            let state = if r.state == 2 {
                "published"
            } else {
                "unpublished"
            };
            format!("{prefix} {} {state}", r.path)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_have_hosts_and_files_are_stable() {
        assert_eq!(
            host_of("https://shop.example.com/t/"),
            Some("shop.example.com")
        );
        assert_eq!(
            host_of("http://shop.example.com:8080/t"),
            Some("shop.example.com")
        );
        assert_eq!(host_of("ftp://shop.example.com/"), None);
        assert_eq!(host_of("https://localhost/t"), None);
        assert_eq!(verify_file("wx1"), verify_file("wx1"));
        assert_ne!(verify_file("wx1").0, verify_file("wx2").0);
    }
}
