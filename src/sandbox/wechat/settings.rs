//! The simulated domains (`wxa/modify_domain`, `wxa/setwebviewdomain`) and privacy guide
//! (`cgi-bin/component/getprivacysetting` / `setprivacysetting`), after wechat.md §2.4 and §5 and
//! wechat-readiness.md §2:
//!
//! * domains are checked as WeChat checks them (scheme per kind, no IP, ≤ 200 per kind); those the
//!   sandbox's `unfiled_domains` names are taken and listed as `invalid_…` (not ICP-filed);
//!   domains set by hand in the console (`POST /sandbox/wechat/console/domains`) are dropped by
//!   the next release made through the component;
//! * the privacy scan of a commit finds the sandbox's `privacy_keys` and those its ext names in
//!   `sandboxPrivacyKeys` (standing in for what the template's code uses); a guide set before the first commit is accepted and has no
//!   effect; the first release copies the development guide (version 2) to the live one (1); a
//!   submission whose scan found a key the development guide does not describe is refused (85086).

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::routes::Req;
use super::state::{App, Commit, Guide, World, WxError, WxResult};
use crate::fleet::SandboxSpec;

/// The server kinds' fields, in WeChat's order, with the scheme each takes.
const SERVER_FIELDS: [(&str, &str); 6] = [
    ("requestdomain", "https://"),
    ("wsrequestdomain", "wss://"),
    ("uploaddomain", "https://"),
    ("downloaddomain", "https://"),
    ("udpdomain", "udp://"),
    ("tcpdomain", "tcp://"),
];

const WEBVIEW: &str = "webviewdomain";

/// Whether `domain` (a whole URL) is one the sandbox says is not ICP-filed.
fn unfiled(spec: &SandboxSpec, domain: &str) -> bool {
    let host = domain.split("://").nth(1).unwrap_or(domain);
    let host = host.split(':').next().unwrap_or(host);
    spec.unfiled_domains
        .iter()
        .any(|u| u.eq_ignore_ascii_case(domain) || u.eq_ignore_ascii_case(host))
}

/// The list `body[field]`, or an error naming it.
fn list(body: &Value, field: &str) -> Result<Option<Vec<String>>, WxError> {
    let Some(value) = body.get(field) else {
        return Ok(None);
    };
    let items = value
        .as_array()
        .filter(|l| l.iter().all(Value::is_string))
        .ok_or_else(|| WxError::new(47001, format!("data format error: `{field}`")))?;
    Ok(Some(
        items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_ascii_lowercase)
            .collect(),
    ))
}

/// The strings of the list `body[key]`, in its order; empty when there is none.
pub fn strings(body: &Value, key: &str) -> Vec<String> {
    body[key]
        .as_array()
        .map(|l| {
            l.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// WeChat's check of one domain: the kind's scheme, a host name (not an IP).
fn check(domain: &str, scheme: &str) -> Result<(), WxError> {
    let host = domain
        .strip_prefix(scheme)
        .map(|rest| rest.split(':').next().unwrap_or(rest))
        .filter(|h| h.contains('.') && !h.contains('/'))
        .filter(|h| !h.split('.').all(|l| l.bytes().all(|b| b.is_ascii_digit())));
    match host {
        Some(_) => Ok(()),
        None => Err(WxError::new(
            85017,
            format!("invalid domain {domain}: expected {scheme}host"),
        )),
    }
}

/// The six server lists and their `invalid_…` twins.
fn server_answer(app: &App, spec: &SandboxSpec) -> Value {
    let mut out = Map::new();
    for (field, _) in SERVER_FIELDS {
        let domains = app.domains.get(field).cloned().unwrap_or_default();
        let invalid: Vec<&String> = domains.iter().filter(|d| unfiled(spec, d)).collect();
        out.insert(format!("invalid_{field}"), json!(invalid));
        out.insert(field.to_owned(), json!(domains));
    }
    Value::Object(out)
}

/// Applies `action` (`add`, `delete`, `set`) of `new` to the list `old`.
fn change(old: &mut Vec<String>, action: &str, new: Vec<String>) {
    match action {
        "add" => old.extend(new),
        "delete" => old.retain(|d| !new.contains(d)),
        _ => *old = new,
    }
    old.sort();
    old.dedup();
}

/// `POST wxa/modify_domain {action, requestdomain[] …}`.
pub fn modify_domain(world: &mut World, req: &Req) -> WxResult {
    let action = req.body["action"].as_str().unwrap_or("");
    let (_, app) = world.parts(req.appid)?;
    if action == "get" {
        return Ok(server_answer(app, req.spec));
    }
    if !matches!(action, "add" | "delete" | "set") {
        return Err(WxError::new(85022, format!("invalid action `{action}`")));
    }
    let mut changes = Vec::new();
    for (field, scheme) in SERVER_FIELDS {
        let Some(new) = list(req.body, field)? else {
            if action == "set" {
                changes.push((field, Vec::new()));
            }
            continue;
        };
        if new.len() > 200 {
            return Err(WxError::new(85016, format!("too many domains in {field}")));
        }
        for domain in &new {
            check(domain, scheme)?;
        }
        changes.push((field, new));
    }
    for (field, new) in changes {
        let old = app.domains.entry(field.to_owned()).or_default();
        change(old, action, new);
        app.hand_domains.remove(field);
    }
    Ok(server_answer(app, req.spec))
}

/// `POST wxa/setwebviewdomain {action, webviewdomain[]}`: 89019 when nothing changes.
pub fn setwebviewdomain(world: &mut World, req: &Req) -> WxResult {
    let action = req.body["action"].as_str().unwrap_or("add");
    let (_, app) = world.parts(req.appid)?;
    if action != "get" {
        if !matches!(action, "add" | "delete" | "set") {
            return Err(WxError::new(85022, format!("invalid action `{action}`")));
        }
        let new = list(req.body, WEBVIEW)?.unwrap_or_default();
        if new.len() > 100 {
            return Err(WxError::new(89029, "too many web-view domains"));
        }
        for domain in &new {
            check(domain, "https://")?;
        }
        let old = app.domains.entry(WEBVIEW.to_owned()).or_default();
        let before = old.clone();
        change(old, action, new);
        if *old == before {
            return Err(WxError::new(89019, "web-view domains unchanged"));
        }
        app.hand_domains.remove(WEBVIEW);
    }
    let domains = app.domains.get(WEBVIEW).cloned().unwrap_or_default();
    Ok(json!({ WEBVIEW: domains }))
}

/// The privacy keys the scan finds in `build`: the sandbox's `privacy_keys`, and those the
/// build's ext.json names in `sandboxPrivacyKeys` (what a template's own code would use).
pub fn detected(build: &Commit, spec: &SandboxSpec) -> Vec<String> {
    let ext: Value = serde_json::from_str(&build.ext_json).unwrap_or_default();
    let mut keys = spec.privacy_keys.clone();
    keys.extend(
        ext.pointer("/ext/sandboxPrivacyKeys")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_owned),
    );
    keys.sort();
    keys.dedup();
    keys
}

/// The privacy version a body asks for: 1 live, 2 development (the default).
fn version_of(body: &Value) -> Result<u8, WxError> {
    match body.get("privacy_ver").and_then(Value::as_u64) {
        None | Some(2) => Ok(2),
        Some(1) => Ok(1),
        Some(other) => Err(WxError::new(
            40097,
            format!("invalid privacy_ver {other}: 1 or 2"),
        )),
    }
}

/// `POST cgi-bin/component/getprivacysetting {privacy_ver}`.
pub fn getprivacysetting(world: &mut World, req: &Req) -> WxResult {
    let version = version_of(req.body)?;
    let (_, app) = world.parts(req.appid)?;
    let build = match version {
        1 => app.live.as_ref().map(|l| &l.build),
        _ => app
            .experience
            .as_ref()
            .filter(|b| b.scan_done_ms <= req.now),
    };
    let privacy_list = build.map(|b| detected(b, req.spec)).unwrap_or_default();
    let guide = app.privacy.get(&version).cloned().unwrap_or_default();
    let settings: Vec<Value> = guide
        .texts
        .iter()
        .map(|(key, text)| json!({ "privacy_key": key, "privacy_text": text }))
        .collect();
    Ok(json!({
        "code_exist": u8::from(app.experience.is_some()),
        "privacy_list": privacy_list,
        "setting_list": settings,
        "owner_setting": guide.owner,
        "update_time": req.now / 1000,
    }))
}

/// `POST cgi-bin/component/setprivacysetting {privacy_ver, owner_setting, setting_list}`.
pub fn setprivacysetting(world: &mut World, req: &Req) -> WxResult {
    let version = version_of(req.body)?;
    let owner = req.body.get("owner_setting").cloned().unwrap_or_default();
    let contact = [
        "contact_email",
        "contact_phone",
        "contact_qq",
        "contact_weixin",
    ]
    .iter()
    .any(|k| owner[k].as_str().is_some_and(|c| !c.is_empty()));
    if !contact || owner["notice_method"].as_str().is_none_or(str::is_empty) {
        return Err(WxError::new(
            47001,
            "data format error: owner_setting needs a contact and a notice_method",
        ));
    }
    if let Some(expire) = owner.get("store_expire_timestamp")
        && !expire.as_str().is_some_and(crate::model::settings::is_days)
    {
        return Err(WxError::new(87072, "invalid store_expire_timestamp"));
    }
    let mut texts = BTreeMap::new();
    for item in req.body["setting_list"].as_array().into_iter().flatten() {
        let (Some(key), Some(text)) = (item["privacy_key"].as_str(), item["privacy_text"].as_str())
        else {
            return Err(WxError::new(47001, "data format error: `setting_list`"));
        };
        texts.insert(key.to_owned(), text.to_owned());
    }
    let (_, app) = world.parts(req.appid)?;
    // Before the first commit WeChat answers ok and keeps nothing [community].
    if app.experience.is_some() || app.live.is_some() {
        app.privacy.insert(version, Guide { owner, texts });
    }
    Ok(json!({}))
}

/// Refuses a submission whose scan found keys the development guide does not describe (85086).
pub fn check_guide(app: &App, build: &Commit, spec: &SandboxSpec) -> Result<(), WxError> {
    let guide = app.privacy.get(&2);
    let missing: Vec<String> = detected(build, spec)
        .into_iter()
        .filter(|k| guide.is_none_or(|g| !g.texts.contains_key(k)))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(WxError::new(
            85086,
            format!("privacy setting is missing for {}", missing.join(",")),
        ))
    }
}

/// What a release made through the component does beside the code: the first copies the
/// development guide to the live one, and every one drops the domains set by hand.
pub fn on_release(app: &mut App, first: bool) {
    if first && let Some(guide) = app.privacy.get(&2).cloned() {
        app.privacy.insert(1, guide);
    }
    for field in std::mem::take(&mut app.hand_domains) {
        app.domains.remove(&field);
    }
}

/// Whether a call to a domain endpoint only reads (`action: get`): not recorded as applied.
pub fn is_read(path: &str, body: &[u8]) -> bool {
    matches!(path, "wxa/modify_domain" | "wxa/setwebviewdomain")
        && serde_json::from_slice::<Value>(body).is_ok_and(|b| b["action"] == "get")
}

/// What a settings call at `path` left in place, for the sandbox's records: every domain as
/// `<field> <domain>` after a domain call, every guide key as `v<version> <key>` after a privacy
/// call; empty for other calls.
pub fn in_place(app: &App, path: &str) -> Vec<String> {
    match path {
        "wxa/modify_domain" | "wxa/setwebviewdomain" => app
            .domains
            .iter()
            .flat_map(|(field, list)| list.iter().map(move |d| format!("{field} {d}")))
            .collect(),
        "cgi-bin/component/setprivacysetting" => app
            .privacy
            .iter()
            .flat_map(|(v, guide)| guide.texts.keys().map(move |k| format!("v{v} {k}")))
            .collect(),
        p if p.starts_with("cgi-bin/wxopen/qrcodejump") => super::jump::in_place(&app.jump_rules),
        _ => Vec::new(),
    }
}

/// The merchant sets `field`'s domains by hand in the console.
pub fn set_by_hand(app: &mut App, field: &str, domains: Vec<String>) {
    app.domains.insert(field.to_owned(), domains);
    app.hand_domains.insert(field.to_owned());
}

/// The pages every simulated build has, beside the `extPages` its ext.json names.
const PAGES: [&str; 4] = [
    "pages/index/index",
    "pages/menu/index",
    "pages/table/index",
    "pages/order/index",
];

/// The categories every simulated app has: (first, second, first id, second id).
const CATEGORIES: [(&str, &str, u64, u64); 2] =
    [("餐饮", "餐厅", 220, 225), ("餐饮", "饮品", 220, 227)];

/// The pages of `build`.
fn pages_of(build: &Commit) -> Vec<String> {
    let ext: Value = serde_json::from_str(&build.ext_json).unwrap_or_default();
    let mut pages: Vec<String> = PAGES.iter().map(|p| (*p).to_owned()).collect();
    if let Some(more) = ext.get("extPages").and_then(Value::as_object) {
        pages.extend(more.keys().cloned());
    }
    pages
}

/// `GET wxa/get_page`: the pages of the committed build (85086 before a commit).
pub fn get_page(world: &mut World, req: &Req) -> WxResult {
    let (_, app) = world.parts(req.appid)?;
    let build = app
        .experience
        .as_ref()
        .ok_or_else(|| WxError::new(85086, "no experience version: commit first"))?;
    Ok(json!({ "page_list": pages_of(build) }))
}

/// `GET wxa/get_category`: the app's categories.
pub fn get_category(world: &mut World, req: &Req) -> WxResult {
    world.parts(req.appid)?;
    let list: Vec<Value> = CATEGORIES
        .iter()
        .map(|(first, second, first_id, second_id)| {
            json!({ "first_class": first, "second_class": second,
                    "first_id": first_id, "second_id": second_id })
        })
        .collect();
    Ok(json!({ "category_list": list }))
}

/// Refuses a submission whose items name a page the build does not have (85007) or a category
/// the app does not have (85008).
pub fn check_items(build: &Commit, body: &Value) -> Result<(), WxError> {
    let pages = pages_of(build);
    for item in body["item_list"].as_array().into_iter().flatten() {
        if let Some(address) = item["address"].as_str()
            && !pages.iter().any(|p| p == address)
        {
            return Err(WxError::new(85007, format!("invalid page path {address}")));
        }
        let given = |k: &str| item.get(k).filter(|v| !v.is_null());
        if given("first_class").is_none() && given("first_id").is_none() {
            continue;
        }
        let known = CATEGORIES
            .iter()
            .any(|(first, second, first_id, second_id)| {
                let same = |k: &str, v: Value| given(k).is_none_or(|g| *g == v);
                same("first_class", json!(first))
                    && same("second_class", json!(second))
                    && same("first_id", json!(first_id))
                    && same("second_id", json!(second_id))
            });
        if !known {
            return Err(WxError::new(85008, "invalid category"));
        }
    }
    Ok(())
}

/// The field of a handler's answer that carries an image (base64) the route serves as such.
pub const IMAGE_FIELD: &str = "__image_jpeg_base64";

/// `GET wxa/get_qrcode?path=…`: the experience version's QR code as a JPEG (85086 before any
/// commit): a QR-like picture (drawn once on a canvas in headless Chromium and saved as JPEG),
/// with a comment segment naming the app and the page, so a client's bytes can be checked.
pub fn get_qrcode(world: &mut World, req: &Req) -> WxResult {
    use base64::Engine as _;
    let (_, app) = world.parts(req.appid)?;
    if app.experience.is_none() {
        return Err(WxError::new(85086, "no experience version: commit first"));
    }
    let path = req.query.get("path").map_or("", String::as_str);
    let image = with_comment(&format!(
        "sandbox experience QR code of {} for {path}",
        req.appid
    ));
    Ok(json!({ IMAGE_FIELD: base64::engine::general_purpose::STANDARD.encode(image) }))
}

/// The picture every simulated QR code shows.
const PICTURE: &[u8] = include_bytes!("experience-qr.jpg");

/// [`PICTURE`] with a comment segment (`FF FE`) carrying `comment` right after its start marker.
fn with_comment(comment: &str) -> Vec<u8> {
    let text = &comment.as_bytes()[..comment.len().min(60_000)];
    let mut out = Vec::with_capacity(PICTURE.len() + text.len() + 4);
    out.extend_from_slice(&PICTURE[..2]);
    out.extend([0xFF, 0xFE]);
    out.extend(
        u16::try_from(text.len() + 2)
            .unwrap_or(u16::MAX)
            .to_be_bytes(),
    );
    out.extend(text);
    out.extend_from_slice(&PICTURE[2..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_are_checked_by_kind() {
        assert!(check("https://a.example.com", "https://").is_ok());
        assert!(check("wss://a.example.com:8443", "wss://").is_ok());
        assert_eq!(
            check("http://a.example.com", "https://").unwrap_err().code,
            85017
        );
        assert_eq!(
            check("https://10.1.1.1", "https://").unwrap_err().code,
            85017
        );
        let spec = SandboxSpec {
            unfiled_domains: vec!["api.unfiled.example.com".into()],
            ..SandboxSpec::default()
        };
        assert!(unfiled(&spec, "https://api.unfiled.example.com:8443"));
        assert!(!unfiled(&spec, "https://api.example.com"));
    }

    #[test]
    fn changes_add_delete_and_set() {
        let mut list = vec!["https://a.com".to_owned()];
        change(&mut list, "add", vec!["https://b.com".into()]);
        assert_eq!(list, ["https://a.com", "https://b.com"]);
        change(&mut list, "delete", vec!["https://a.com".into()]);
        assert_eq!(list, ["https://b.com"]);
        change(&mut list, "set", vec!["https://c.com".into()]);
        assert_eq!(list, ["https://c.com"]);
    }
}
