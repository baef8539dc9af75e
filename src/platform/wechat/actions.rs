//! Applying one action to an app: commit, submit audit (after the privacy scan), withdraw,
//! release, gray, revert gray, roll back, bind and unbind testers.

use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

use super::WechatClient;
use super::client::{Method, decode, strings_at};
use super::errors;
use super::types::{Bound, Submitted};
use crate::model::{Action, AuditItem, Desired, fingerprint_tag};
use crate::platform::{Effect, ErrorClass, PlatformError};

const COMMIT: &str = "wxa/commit";
const PRIVACY: &str = "wxa/security/get_code_privacy_info";
const SUBMIT: &str = "wxa/submit_audit";
const GET_PAGE: &str = "wxa/get_page";
const GET_CATEGORY: &str = "wxa/get_category";
const BIND: &str = "wxa/bind_tester";
const UNBIND: &str = "wxa/unbind_tester";

/// Refuses a submission the privacy scan says WeChat will refuse (61040): APIs the code calls
/// without a declaration in ext.json's `requiredPrivateInfos`, or without the platform's
/// authorization. Refused before `submit_audit`, it spends no audit quota.
fn refuse_undeclared(scan: &Value) -> Result<(), PlatformError> {
    let (unconfigured, unauthorized) = (
        strings_at(scan, "without_conf_list"),
        strings_at(scan, "without_auth_list"),
    );
    if let Some(first) = unconfigured.first() {
        let api = first.strip_prefix("wx.").unwrap_or(first);
        return Err(errors::local(
            PRIVACY,
            "61040",
            ErrorClass::Permanent,
            &format!(
                "the privacy scan found APIs the code calls without declaring them: {}; WeChat \
                 refuses the submission (61040), so it was not sent",
                unconfigured.join(", ")
            ),
            &format!(
                "add them to the app's `ext_json.requiredPrivateInfos`, e.g. `requiredPrivateInfos: \
                 [{api}]`: the new build is submitted"
            ),
        ));
    }
    if !unauthorized.is_empty() {
        return Err(errors::local(
            PRIVACY,
            "61040",
            ErrorClass::Permanent,
            &format!(
                "the privacy scan found APIs the code calls without the platform's authorization: \
                 {}; WeChat refuses the submission (61040), so it was not sent",
                unauthorized.join(", ")
            ),
            "apply for them in the mini-program's console (开发管理 → 接口设置), then change the \
             version to submit again",
        ));
    }
    Ok(())
}

/// Refuses a submission whose audit items WeChat would refuse: a page the committed build does
/// not have (85007, `wxa/get_page`), a category the app does not have (85008,
/// `wxa/get_category`: names, and ids where the item gives them). Refused before `submit_audit`,
/// it spends no audit quota.
fn refuse_unknown_items(
    items: &[AuditItem],
    pages: &[String],
    categories: &[Value],
) -> Result<(), PlatformError> {
    for (i, item) in items.iter().enumerate() {
        if let Some(address) = item.address.as_deref()
            && !pages.iter().any(|p| p == address)
        {
            return Err(errors::local(
                GET_PAGE,
                "85007",
                ErrorClass::Permanent,
                &format!(
                    "audit item {}'s page `{address}` is not a page of the committed build                      ({}); WeChat refuses the submission (85007), so it was not sent",
                    i + 1,
                    pages.join(", ")
                ),
                &format!("use one of them in `audit.items[{i}].address`"),
            ));
        }
        if item.first_class.is_none() && item.first_id.is_none() {
            continue;
        }
        let text = |c: &Value, k: &str| c[k].as_str().map(str::to_owned);
        let matches = |c: &Value| {
            let names = [
                (&item.first_class, text(c, "first_class")),
                (&item.second_class, text(c, "second_class")),
                (&item.third_class, text(c, "third_class")),
            ];
            let ids = [
                (item.first_id, c["first_id"].as_u64()),
                (item.second_id, c["second_id"].as_u64()),
                (item.third_id, c["third_id"].as_u64()),
            ];
            names
                .iter()
                .all(|(want, have)| want.is_none() || *want == have)
                && ids
                    .iter()
                    .all(|(want, have)| want.is_none() || *want == *have)
        };
        if !categories.iter().any(matches) {
            let known: Vec<String> = categories
                .iter()
                .map(|c| {
                    format!(
                        "{}/{} ({}/{})",
                        c["first_class"].as_str().unwrap_or("?"),
                        c["second_class"].as_str().unwrap_or("?"),
                        c["first_id"],
                        c["second_id"]
                    )
                })
                .collect();
            return Err(errors::local(
                GET_CATEGORY,
                "85008",
                ErrorClass::Permanent,
                &format!(
                    "audit item {}'s category is not one of the app's ({}); WeChat refuses the \
                     submission (85008), so it was not sent",
                    i + 1,
                    if known.is_empty() {
                        "none".to_owned()
                    } else {
                        known.join(", ")
                    }
                ),
                &format!(
                    "copy the names and ids of one of them into `audit.items[{i}]`; a category \
                     the app lacks is added in the mini-program's console (then change \
                     `audit.items[{i}]` to try again)"
                ),
            ));
        }
    }
    Ok(())
}

/// What audit items are checked against, kept while the process runs (see
/// `WechatClient::check_items`).
#[derive(Debug, Default)]
pub struct ItemFacts {
    pages: std::sync::Mutex<std::collections::HashMap<String, std::sync::Arc<Vec<String>>>>,
    /// Held while the pages are read, so apps submitting at once read them once: the others
    /// wait and find them kept.
    reading_pages: tokio::sync::Mutex<()>,
    categories: std::sync::Mutex<std::collections::HashMap<String, std::sync::Arc<Vec<Value>>>>,
}

impl ItemFacts {
    fn pages(&self, key: &str) -> Option<std::sync::Arc<Vec<String>>> {
        lock(&self.pages).get(key).cloned()
    }

    fn keep_pages(&self, key: &str, pages: Vec<String>) -> std::sync::Arc<Vec<String>> {
        let pages = std::sync::Arc::new(pages);
        lock(&self.pages).insert(key.to_owned(), pages.clone());
        pages
    }

    fn categories(&self, appid: &str) -> Option<std::sync::Arc<Vec<Value>>> {
        lock(&self.categories).get(appid).cloned()
    }

    fn keep_categories(&self, appid: &str, list: Vec<Value>) -> std::sync::Arc<Vec<Value>> {
        let list = std::sync::Arc::new(list);
        lock(&self.categories).insert(appid.to_owned(), list.clone());
        list
    }
}

/// A lock that a panicking holder does not poison for the others.
fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// How long `SubmitAudit` waits out the privacy scan after a 61039 (giving up is a transient error).
pub type ScanWait = crate::platform::PollWait;

/// The default privacy-scan wait: 1 s doubling to 30 s, 10 minutes in all.
pub const SCAN_WAIT: ScanWait = ScanWait {
    first: Duration::from_secs(1),
    max: Duration::from_secs(30),
    total: Duration::from_secs(600),
};

/// The `wxa/commit` body of `app`.
fn commit_body(app: &Desired) -> Result<Value, PlatformError> {
    let template_id: u64 = app.template_id.trim().parse().map_err(|_| {
        errors::local(
            COMMIT,
            "invalid_template_id",
            ErrorClass::Permanent,
            &format!("template id `{}` is not a number", app.template_id),
            "WeChat template ids are integers: fix `templates.<name>.wechat.template_id`",
        )
    })?;
    let desc = format!("{} {}", app.description, fingerprint_tag(&app.fingerprint));
    Ok(json!({
        "template_id": template_id,
        "ext_json": app.ext_json,
        "user_version": app.version,
        "user_desc": desc.trim(),
    }))
}

/// The `wxa/submit_audit` body of `app` (an empty item list is left to the platform's defaults).
fn submit_body(app: &Desired) -> Value {
    let audit = &app.audit;
    let mut body = Map::new();
    if !audit.items.is_empty() {
        body.insert("item_list".into(), json!(audit.items));
    }
    if let Some(desc) = &audit.version_desc {
        body.insert("version_desc".into(), json!(desc));
    }
    if let Some(not_use) = audit.privacy_api_not_use {
        body.insert("privacy_api_not_use".into(), json!(not_use));
    }
    if let Some(feedback) = &audit.feedback_info {
        body.insert("feedback_info".into(), json!(feedback));
    }
    Value::Object(body)
}

impl WechatClient {
    /// Applies `action` to `app`.
    pub(super) async fn execute_action(
        &self,
        app: &Desired,
        action: &Action,
    ) -> Result<Effect, PlatformError> {
        let appid = app.appid.as_str();
        let none = |r: Result<Value, PlatformError>| r.map(|_| Effect::None);
        match action {
            Action::Commit { .. } => {
                let body = commit_body(app)?;
                none(
                    self.wxa(appid, Method::Post, COMMIT, &[], Some(&body))
                        .await,
                )
            }
            Action::SubmitAudit { .. } => self.submit_audit(app).await,
            Action::WithdrawAudit { .. } => none(self.get(appid, "wxa/undocodeaudit").await),
            Action::WaitForAudit { .. } => Ok(Effect::None),
            Action::DeleteBuild { .. } => Err(errors::local(
                "wxa/commit",
                "unsupported",
                ErrorClass::Permanent,
                "WeChat keeps a single experience version; there are no builds to delete",
                "this is a minifleet bug: please report it",
            )),
            Action::Release { .. } => self.release(appid).await,
            Action::Gray { to, .. } => {
                let body = json!({ "gray_percentage": to });
                none(
                    self.wxa(appid, Method::Post, "wxa/grayrelease", &[], Some(&body))
                        .await,
                )
            }
            Action::RevertGray => none(self.get(appid, "wxa/revertgrayrelease").await),
            Action::Rollback { .. } => none(self.get(appid, "wxa/revertcoderelease").await),
            Action::SetDomains { domains } => self.set_domains(appid, domains).await,
            Action::SetPrivacy { live } => self.set_privacy(app, *live).await,
            Action::AddJumpRule { rule, edit } => self.add_jump_rule(appid, rule, *edit).await,
            Action::PublishJumpRule { prefix } => {
                self.jump_call(appid, super::settings::JUMP_PUBLISH, prefix)
                    .await
            }
            Action::DeleteJumpRule { prefix } => {
                self.jump_call(appid, super::settings::JUMP_DELETE, prefix)
                    .await
            }
            Action::BindTester { tester } => self.bind_tester(appid, tester).await,
            Action::VerifyTester { tester } => self.verify_tester(appid, tester).await,
            Action::UnbindTester { tester, member } => {
                // Without the member id (a tester bound before the tester map was lost), by
                // WeChat id: the call takes either.
                let body = match (member, tester) {
                    (Some(member), _) => json!({ "userstr": member }),
                    (None, Some(tester)) => json!({ "wechatid": tester }),
                    (None, None) => return Err(unnamed_member(UNBIND)),
                };
                self.wxa(appid, Method::Post, UNBIND, &[], Some(&body))
                    .await?;
                Ok(Effect::TesterUnbound {
                    tester: tester.clone(),
                })
            }
        }
    }

    /// `wxa/queryquota`: the component's monthly audit quota (asked with `appid`'s token).
    /// The app's ICP filing status (`wxa/icp/get_icp_entrance_info` → `info.status`).
    pub async fn icp_status(&self, appid: &str) -> Result<crate::model::Readiness, PlatformError> {
        const ICP: &str = "wxa/icp/get_icp_entrance_info";
        let value = self
            .read(appid, Method::Post, ICP, &[], Some(&serde_json::json!({})))
            .await?;
        let status = value["info"]["status"].as_u64().ok_or_else(|| {
            errors::local(
                ICP,
                "decode",
                ErrorClass::Transient,
                "the answer has no numeric `info.status`",
                "retry later; if it persists, the platform changed its answer",
            )
        })?;
        Ok(crate::model::Readiness {
            icp_status: Some(u32::try_from(status).unwrap_or(u32::MAX)),
        })
    }

    pub async fn query_quota(
        &self,
        appid: &str,
    ) -> Result<crate::platform::AuditQuota, PlatformError> {
        const QUOTA: &str = "wxa/queryquota";
        let value = self.read(appid, Method::Get, QUOTA, &[], None).await?;
        let field = |name: &str| {
            value[name]
                .as_u64()
                .map(|n| u32::try_from(n).unwrap_or(u32::MAX))
                .ok_or_else(|| {
                    errors::local(
                        QUOTA,
                        "decode",
                        ErrorClass::Transient,
                        &format!("the answer has no numeric `{name}`"),
                        "retry later; if it persists, the platform changed its answer",
                    )
                })
        };
        Ok(crate::platform::AuditQuota {
            rest: field("rest")?,
            limit: field("limit")?,
            // The quota is monthly, and WeChat's months turn at Beijing midnight.
            resets_at: Some(crate::model::calendar::next_beijing_month(
                crate::sandbox::now_ms() / 1000,
            )),
        })
    }

    async fn get(&self, appid: &str, call: &str) -> Result<Value, PlatformError> {
        self.wxa(appid, Method::Get, call, &[], None).await
    }

    /// `release {}`; "already released" (85052) counts as done.
    async fn release(&self, appid: &str) -> Result<Effect, PlatformError> {
        let body = json!({});
        match self
            .wxa(appid, Method::Post, "wxa/release", &[], Some(&body))
            .await
        {
            Err(err) if err.code == "85052" => Ok(Effect::None),
            other => other.map(|_| Effect::None),
        }
    }

    /// Waits out the privacy scan, then submits the committed build for audit.
    async fn submit_audit(&self, app: &Desired) -> Result<Effect, PlatformError> {
        let scan = self.wait_for_privacy_scan(&app.appid).await?;
        refuse_undeclared(&scan)?;
        if !app.audit.items.is_empty() {
            self.check_items(app).await?;
        }
        let body = submit_body(app);
        let answer = self
            .wxa(&app.appid, Method::Post, SUBMIT, &[], Some(&body))
            .await?;
        let submitted: Submitted = decode(SUBMIT, answer)?;
        Ok(Effect::AuditSubmitted {
            audit_id: submitted.auditid,
        })
    }

    /// Checks `app`'s audit items against the pages and categories it has
    /// ([`refuse_unknown_items`]). Both are kept while the process runs — the pages of a
    /// template's builds by template and `extPages` (one read for a whole fleet on one template),
    /// the categories per app — and read again before anything is refused.
    async fn check_items(&self, app: &Desired) -> Result<(), PlatformError> {
        let pages_key = format!(
            "{}:{}",
            app.template_id,
            serde_json::from_str::<Value>(&app.ext_json).unwrap_or_default()["extPages"]
        );
        for fresh in [false, true] {
            let pages = match self.facts.pages(&pages_key).filter(|_| !fresh) {
                Some(pages) => pages,
                None => {
                    let _reading = self.facts.reading_pages.lock().await;
                    match self.facts.pages(&pages_key).filter(|_| !fresh) {
                        Some(pages) => pages,
                        None => {
                            let answer = self
                                .read(&app.appid, Method::Get, GET_PAGE, &[], None)
                                .await?;
                            self.facts
                                .keep_pages(&pages_key, strings_at(&answer, "page_list"))
                        }
                    }
                }
            };
            let categories = match self.facts.categories(&app.appid).filter(|_| !fresh) {
                Some(categories) => categories,
                None => {
                    let answer = self
                        .read(&app.appid, Method::Get, GET_CATEGORY, &[], None)
                        .await?;
                    let list = answer["category_list"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default();
                    self.facts.keep_categories(&app.appid, list)
                }
            };
            match refuse_unknown_items(&app.audit.items, &pages, &categories) {
                Err(err) if fresh => return Err(err),
                Err(_) => continue,
                Ok(()) => return Ok(()),
            }
        }
        Ok(())
    }

    /// Polls `get_code_privacy_info` while it answers 61039, with doubling pauses, within budget;
    /// the scan's answer.
    pub(super) async fn wait_for_privacy_scan(&self, appid: &str) -> Result<Value, PlatformError> {
        let started = Instant::now();
        let mut pause = self.scan_wait.first;
        loop {
            match self.read(appid, Method::Get, PRIVACY, &[], None).await {
                Ok(scan) => return Ok(scan),
                Err(err) if err.code == "61039" => {
                    if started.elapsed() + pause > self.scan_wait.total {
                        return Err(err);
                    }
                    tracing::debug!(appid, ?pause, "privacy scan still running");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(self.scan_wait.max);
                }
                Err(err) => return Err(err),
            }
        }
    }

    /// Binds `tester` if it is not bound; "already bound" (85004, no userstr) is fine: the tester
    /// is bound, under an id WeChat does not tell (learning it would take an unbind and a bind).
    async fn verify_tester(&self, appid: &str, tester: &str) -> Result<Effect, PlatformError> {
        let body = json!({ "wechatid": tester });
        match self.wxa(appid, Method::Post, BIND, &[], Some(&body)).await {
            Err(err) if err.code == "85004" => Ok(Effect::TesterAlreadyBound {
                tester: tester.to_string(),
            }),
            answer => {
                let bound: Bound = decode(BIND, answer?)?;
                Ok(Effect::TesterBound {
                    tester: tester.to_string(),
                    member: bound.userstr,
                })
            }
        }
    }

    /// Binds `tester`; when already bound (85004, no userstr), unbinds and binds again to learn it.
    async fn bind_tester(&self, appid: &str, tester: &str) -> Result<Effect, PlatformError> {
        let body = json!({ "wechatid": tester });
        let answer = match self.wxa(appid, Method::Post, BIND, &[], Some(&body)).await {
            Err(err) if err.code == "85004" => {
                self.wxa(appid, Method::Post, UNBIND, &[], Some(&body))
                    .await?;
                self.wxa(appid, Method::Post, BIND, &[], Some(&body))
                    .await?
            }
            other => other?,
        };
        let bound: Bound = decode(BIND, answer)?;
        Ok(Effect::TesterBound {
            tester: tester.to_string(),
            member: bound.userstr,
        })
    }
}

/// An unbind that names neither the member nor the tester (the planner never plans one).
fn unnamed_member(call: &str) -> PlatformError {
    errors::local(
        call,
        "no_member",
        ErrorClass::Permanent,
        "the unbind names neither a member id nor a tester",
        "this is a minifleet bug: please report it",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AuditItem, AuditSpec};
    use crate::platform::wechat::tests::desired;

    #[test]
    fn commit_body_sends_a_numeric_template_and_the_fingerprint_tag() {
        let app = desired("wx1111111111111111", "1.2.0", json!({"a": 1}));
        let body = commit_body(&app).unwrap();
        assert_eq!(body["template_id"], 42);
        assert_eq!(body["ext_json"], app.ext_json.as_str());
        assert_eq!(body["user_version"], "1.2.0");
        let desc = format!("Spring menu [mf:{}]", app.fingerprint);
        assert_eq!(body["user_desc"], desc.as_str());
        let bad = Desired {
            template_id: "shop-42".into(),
            ..app
        };
        assert_eq!(commit_body(&bad).unwrap_err().code, "invalid_template_id");
    }

    #[test]
    fn submit_body_omits_what_is_not_set() {
        let mut app = desired("wx1111111111111111", "1.2.0", json!({}));
        assert_eq!(submit_body(&app), json!({}));
        app.audit = std::sync::Arc::new(AuditSpec {
            items: vec![AuditItem {
                address: Some("pages/index/index".into()),
                first_id: Some(1),
                ..AuditItem::default()
            }],
            version_desc: Some("test account: demo".into()),
            privacy_api_not_use: Some(true),
            feedback_info: None,
            ..AuditSpec::default()
        });
        assert_eq!(
            submit_body(&app),
            json!({
                "item_list": [{"address": "pages/index/index", "first_id": 1}],
                "version_desc": "test account: demo",
                "privacy_api_not_use": true,
            })
        );
    }
}
