//! What an audit needs beside the code, on WeChat: the app's domains (`wxa/modify_domain` for the
//! six server kinds, `wxa/setwebviewdomain` for web-view domains) and its privacy guide
//! (`cgi-bin/component/getprivacysetting` / `setprivacysetting`).
//!
//! Domains are set with the component's `modify_domain`: they take effect at once and survive a
//! release made through the component (domains a merchant set by hand do not). The privacy guide
//! is set after the commit and its scan, for exactly the keys the scan found, and read back; a key
//! the scan found that the fleet does not describe stops the app before its submission, so no
//! audit slot is spent on a submission WeChat would refuse.

use serde_json::{Map, Value, json};

use super::WechatClient;
use super::client::{Method, strings_at};
use super::errors;
use crate::model::settings::SERVER_KINDS;
use crate::model::settings::{LiveRule, OpenVersion, VerifyFile};
use crate::model::{Desired, Domains, JumpRule, LiveDomains, LiveJump, Privacy};
use crate::platform::{Effect, ErrorClass, PlatformError};

pub(super) const MODIFY_DOMAIN: &str = "wxa/modify_domain";
pub(super) const WEBVIEW_DOMAIN: &str = "wxa/setwebviewdomain";
pub(super) const GET_PRIVACY: &str = "cgi-bin/component/getprivacysetting";
pub(super) const SET_PRIVACY: &str = "cgi-bin/component/setprivacysetting";
pub(super) const JUMP_GET: &str = "cgi-bin/wxopen/qrcodejumpget";
pub(super) const JUMP_FILE: &str = "cgi-bin/wxopen/qrcodejumpdownload";
pub(super) const JUMP_ADD: &str = "cgi-bin/wxopen/qrcodejumpadd";
pub(super) const JUMP_PUBLISH: &str = "cgi-bin/wxopen/qrcodejumppublish";
pub(super) const JUMP_DELETE: &str = "cgi-bin/wxopen/qrcodejumpdelete";

/// The most rules one read lists; an app has far fewer (its rule quota).
const JUMP_PAGE: u32 = 200;

/// The field of `modify_domain`'s body and answer for a server kind.
fn server_field(kind: &str) -> String {
    match kind {
        "ws" => "wsrequestdomain".to_owned(),
        "request" => "requestdomain".to_owned(),
        other => format!("{other}domain"),
    }
}

/// The domains of `value[key]`, in lower case (hosts are compared so), sorted; empty when absent.
fn strings(value: &Value, key: &str) -> Vec<String> {
    let mut list: Vec<String> = strings_exact(value, key)
        .iter()
        .map(|d| d.to_ascii_lowercase())
        .collect();
    list.sort();
    list.dedup();
    list
}

/// The domains of `answer` the platform lists as not in effect (`invalid_requestdomain` …).
fn invalid_of(answer: &Value) -> Vec<String> {
    SERVER_KINDS
        .iter()
        .flat_map(|kind| strings(answer, &format!("invalid_{}", server_field(kind))))
        .collect()
}

impl WechatClient {
    /// Reads the kinds of domain `wanted` manages: the server kinds with one `modify_domain`
    /// `get`, the web-view ones with one `setwebviewdomain` `get`.
    pub(super) async fn observe_domains(
        &self,
        appid: &str,
        wanted: &Domains,
    ) -> Result<LiveDomains, PlatformError> {
        let mut live = LiveDomains::default();
        if wanted.has_server() {
            live = self.server_domains(appid).await?;
        }
        if wanted.webview.is_some() {
            let body = json!({ "action": "get" });
            let answer = self
                .read(appid, Method::Post, WEBVIEW_DOMAIN, &[], Some(&body))
                .await?;
            live.lists.webview = Some(strings(&answer, "webviewdomain"));
        }
        Ok(live)
    }

    /// The six server kinds' lists and the domains not in effect: one `modify_domain` `get`.
    async fn server_domains(&self, appid: &str) -> Result<LiveDomains, PlatformError> {
        let body = json!({ "action": "get" });
        let answer = self
            .read(appid, Method::Post, MODIFY_DOMAIN, &[], Some(&body))
            .await?;
        let mut live = LiveDomains {
            invalid: invalid_of(&answer),
            ..LiveDomains::default()
        };
        for kind in SERVER_KINDS {
            if let Some(slot) = live.lists.slot(kind) {
                *slot = Some(strings(&answer, &server_field(kind)));
            }
        }
        Ok(live)
    }

    /// Sets the lists `domains` carries. A wanted domain the platform then lists as not in effect
    /// is a conflict: the app is observed and planned again, and the plan stops before any
    /// submission, saying which domain and why.
    pub(super) async fn set_domains(
        &self,
        appid: &str,
        domains: &Domains,
    ) -> Result<Effect, PlatformError> {
        if domains.has_server() {
            // `set` replaces all six lists: those the fleet leaves alone are sent as they are.
            let partial = SERVER_KINDS.iter().any(|k| domains.get(k).is_none());
            let current = if partial {
                self.server_domains(appid).await?
            } else {
                LiveDomains::default()
            };
            let mut body = Map::new();
            body.insert("action".into(), json!("set"));
            for kind in SERVER_KINDS {
                let list = domains
                    .get(kind)
                    .or(current.lists.get(kind))
                    .cloned()
                    .unwrap_or_default();
                body.insert(server_field(kind), json!(list));
            }
            let answer = self
                .wxa(
                    appid,
                    Method::Post,
                    MODIFY_DOMAIN,
                    &[],
                    Some(&Value::Object(body)),
                )
                .await?;
            let invalid = invalid_of(&answer);
            if !invalid.is_empty() {
                return Err(errors::local(
                    MODIFY_DOMAIN,
                    "invalid_domain",
                    ErrorClass::Conflict,
                    &format!(
                        "WeChat took the domains but says these are not in effect: {}",
                        invalid.join(", ")
                    ),
                    "each domain must be registered on the third-party platform (小程序服务器域名) \
                     and ICP-filed; the app is planned again and submits nothing until they are",
                ));
            }
        }
        if let Some(webview) = &domains.webview {
            let body = json!({ "action": "set", "webviewdomain": webview });
            match self
                .wxa(appid, Method::Post, WEBVIEW_DOMAIN, &[], Some(&body))
                .await
            {
                // 89019: nothing to change.
                Err(err) if err.code == "89019" => {}
                other => drop(other?),
            }
        }
        Ok(Effect::None)
    }

    /// Sets `app`'s privacy guide: the development one (after the commit's privacy scan, for the
    /// keys the scan found) or the live one; then reads it back.
    pub(super) async fn set_privacy(
        &self,
        app: &Desired,
        live: bool,
    ) -> Result<Effect, PlatformError> {
        let Some(privacy) = app.privacy.as_deref() else {
            return Ok(Effect::None);
        };
        let appid = app.appid.as_str();
        let version = if live { 1 } else { 2 };
        if !live {
            self.wait_for_privacy_scan(appid).await?;
        }
        let before = self.privacy_setting(appid, version).await?;
        let detected = strings_exact(&before, "privacy_list");
        let missing: Vec<&str> = detected
            .iter()
            .map(String::as_str)
            .filter(|key| !privacy.texts.contains_key(*key))
            .collect();
        if !missing.is_empty() {
            return Err(undescribed(&missing));
        }
        // The keys the code uses; where the platform names none (a live guide before its first
        // scan), every key the fleet describes.
        let keys: Vec<&String> = if detected.is_empty() {
            privacy.texts.keys().collect()
        } else {
            detected.iter().collect()
        };
        let body = privacy_body(privacy, version, &keys);
        self.wxa(appid, Method::Post, SET_PRIVACY, &[], Some(&body))
            .await?;
        let after = self.privacy_setting(appid, version).await?;
        let set: Vec<String> = after["setting_list"]
            .as_array()
            .map(|l| {
                l.iter()
                    .filter_map(|s| s["privacy_key"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        if let Some(lost) = keys.iter().find(|k| !set.contains(k)) {
            return Err(errors::local(
                SET_PRIVACY,
                "not_applied",
                ErrorClass::Transient,
                &format!("the privacy guide was set, but reading it back lacks `{lost}`"),
                "retried on the next pass; if it persists, set the guide in the console",
            ));
        }
        Ok(Effect::None)
    }

    /// Reads the app's jump rules, and the verification file when a wanted rule is not there.
    pub(super) async fn observe_jump(
        &self,
        appid: &str,
        wanted: &[JumpRule],
    ) -> Result<LiveJump, PlatformError> {
        let body = json!({ "get_type": 2, "page_num": 1, "page_size": JUMP_PAGE });
        let answer = self
            .read(appid, Method::Post, JUMP_GET, &[], Some(&body))
            .await?;
        let rules: Vec<LiveRule> = answer["rule_list"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(live_rule)
            .collect();
        let missing = wanted
            .iter()
            .any(|w| !rules.iter().any(|r| r.rule.prefix == w.prefix));
        let file = if missing {
            Some(self.verify_file(appid).await?)
        } else {
            None
        };
        Ok(LiveJump { rules, file })
    }

    async fn verify_file(&self, appid: &str) -> Result<VerifyFile, PlatformError> {
        let answer = self
            .read(appid, Method::Post, JUMP_FILE, &[], Some(&json!({})))
            .await?;
        Ok(VerifyFile {
            name: answer["file_name"].as_str().unwrap_or_default().to_owned(),
            content: answer["file_content"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        })
    }

    /// Adds (or edits) `rule`. When WeChat cannot find the verification file (85069), the error
    /// says which file to host, with what.
    pub(super) async fn add_jump_rule(
        &self,
        appid: &str,
        rule: &JumpRule,
        edit: bool,
    ) -> Result<Effect, PlatformError> {
        let body = json!({
            "prefix": rule.prefix,
            "permit_sub_rule": if rule.sub_rules { 2 } else { 1 },
            "path": rule.path,
            "open_version": rule.open_version.code(),
            "debug_url": rule.test_links,
            "is_edit": u8::from(edit),
        });
        match self
            .wxa(appid, Method::Post, JUMP_ADD, &[], Some(&body))
            .await
        {
            Err(mut err) if err.code == "85069" => {
                if let Ok(file) = self.verify_file(appid).await {
                    err.hint = format!(
                        "host `{}` with the content `{}` at the root of the link's domain, then                          change the rule (or its test links) to try again",
                        file.name, file.content
                    );
                }
                Err(err)
            }
            other => other.map(|_| Effect::None),
        }
    }

    /// Publishes or deletes the rule of `prefix` (`call` is [`JUMP_PUBLISH`] or [`JUMP_DELETE`]).
    pub(super) async fn jump_call(
        &self,
        appid: &str,
        call: &str,
        prefix: &str,
    ) -> Result<Effect, PlatformError> {
        let body = json!({ "prefix": prefix });
        self.wxa(appid, Method::Post, call, &[], Some(&body))
            .await
            .map(|_| Effect::None)
    }

    async fn privacy_setting(&self, appid: &str, version: u8) -> Result<Value, PlatformError> {
        let body = json!({ "privacy_ver": version });
        self.read(appid, Method::Post, GET_PRIVACY, &[], Some(&body))
            .await
    }
}

/// A rule of `qrcodejumpget`'s `rule_list`; `None` when it does not read.
fn live_rule(item: &Value) -> Option<LiveRule> {
    let rule = JumpRule {
        prefix: item["prefix"].as_str()?.to_owned(),
        path: item["path"].as_str().unwrap_or_default().to_owned(),
        sub_rules: item["permit_sub_rule"].as_u64() == Some(2),
        open_version: item["open_version"]
            .as_u64()
            .and_then(OpenVersion::of_code)
            .unwrap_or_default(),
        test_links: strings_exact(item, "debug_url"),
    };
    Some(LiveRule {
        rule,
        published: item["state"].as_u64() == Some(2),
    })
}

/// The strings of `value[key]` as given (privacy keys are case-sensitive), sorted.
fn strings_exact(value: &Value, key: &str) -> Vec<String> {
    let mut list = strings_at(value, key);
    list.sort();
    list.dedup();
    list
}

/// The error for keys the scan found that the fleet's guide does not describe.
fn undescribed(missing: &[&str]) -> PlatformError {
    let example = missing.first().copied().unwrap_or("Location");
    errors::local(
        GET_PRIVACY,
        "privacy_undescribed",
        ErrorClass::Permanent,
        &format!(
            "the privacy scan found keys the fleet's privacy guide does not describe: {}; WeChat \
             refuses such a submission (85086/61040), so it was not sent",
            missing.join(", ")
        ),
        &format!(
            "add a text for each under `privacy.texts`, e.g. `{example}: <what it is used for>`: the \
             new build is submitted"
        ),
    )
}

/// The `setprivacysetting` body of `privacy` for `keys`.
fn privacy_body(privacy: &Privacy, version: u8, keys: &[&String]) -> Value {
    let contact = &privacy.contact;
    let mut owner = Map::new();
    for (field, value) in [
        ("contact_email", &contact.email),
        ("contact_phone", &contact.phone),
        ("contact_qq", &contact.qq),
        ("contact_weixin", &contact.weixin),
    ] {
        if let Some(value) = value {
            owner.insert(field.into(), json!(value));
        }
    }
    owner.insert("notice_method".into(), json!(privacy.notice_method));
    if let Some(expire) = &privacy.store_expire {
        owner.insert("store_expire_timestamp".into(), json!(expire));
    }
    let settings: Vec<Value> = keys
        .iter()
        .filter_map(|key| {
            let text = privacy.texts.get(key.as_str())?;
            Some(json!({ "privacy_key": key, "privacy_text": text }))
        })
        .collect();
    json!({
        "privacy_ver": version,
        "owner_setting": owner,
        "setting_list": settings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_kinds_name_their_fields() {
        assert_eq!(server_field("request"), "requestdomain");
        assert_eq!(server_field("ws"), "wsrequestdomain");
        assert_eq!(server_field("download"), "downloaddomain");
        let answer = json!({
            "requestdomain": ["https://a.com"],
            "invalid_requestdomain": ["https://B.com"],
            "invalid_udpdomain": ["udp://c.com"],
        });
        assert_eq!(invalid_of(&answer), ["https://b.com", "udp://c.com"]);
    }

    #[test]
    fn the_privacy_body_sends_the_keys_asked_with_their_texts() {
        let privacy = Privacy {
            contact: crate::model::settings::PrivacyContact {
                email: Some("p@shop.example.com".into()),
                ..Default::default()
            },
            notice_method: "弹窗提示".into(),
            store_expire: Some("30天".into()),
            texts: [("Location".to_owned(), "门店推荐".to_owned())]
                .into_iter()
                .collect(),
        };
        let key = "Location".to_owned();
        let body = privacy_body(&privacy, 2, &[&key]);
        assert_eq!(body["privacy_ver"], 2);
        assert_eq!(body["owner_setting"]["contact_email"], "p@shop.example.com");
        assert_eq!(body["owner_setting"]["store_expire_timestamp"], "30天");
        assert!(body["owner_setting"].get("contact_qq").is_none());
        assert_eq!(
            body["setting_list"],
            json!([{ "privacy_key": "Location", "privacy_text": "门店推荐" }])
        );
        let err = undescribed(&["Album", "Camera"]);
        assert_eq!(err.class, ErrorClass::Permanent);
        assert!(err.explanation.contains("Album, Camera"));
        assert!(err.hint.contains("privacy.texts"));
    }
}
