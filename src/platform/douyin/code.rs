//! Observation and actions over `package_version/*` (spec/douyin.md §3): one `versions` read
//! shows the test, audit and live versions; uploads carry ext_json and the fingerprint in
//! `user_desc`; audits name the host apps; releases are full; a rollback takes effect minutes
//! later and is waited for.

use serde_json::{Value, json};

use super::DouyinClient;
use super::client::{
    AUDIT, AUDIT_HOSTS, Api, QR_CODE, RELEASE, REVOKE, ROLLBACK, UPLOAD, VERSIONS, decode,
};
use super::errors;
use super::spec::host_code;
use super::tokens::{not_authorized, token_rejected};
use super::types::{AuditHosts, AuditSlot, Current, Versions};
use crate::model::{
    Action, Audit, AuditStatus, Build, Desired, Live, Observed, fingerprint_tag, parse_fingerprint,
};
use crate::platform::{Effect, ErrorClass, PlatformError, PollWait};

/// How long a rollback is waited for: Douyin applies it after 3 to 5 minutes (§3.7).
pub const ROLLBACK_WAIT: PollWait = PollWait {
    first: std::time::Duration::from_secs(1),
    max: std::time::Duration::from_secs(20),
    total: std::time::Duration::from_secs(6 * 60),
};

/// A build as `versions` shows it: the fingerprint read back from `summary` (`user_desc`).
fn build(version: &str, summary: &str) -> Option<Build> {
    (!version.is_empty()).then(|| Build {
        version: version.to_owned(),
        fingerprint: parse_fingerprint(summary),
        description: summary.to_owned(),
    })
}

/// The review of the audit slot, with the per-host reasons in plain text. An approval that was
/// released already (`has_publish`) and is not live any more (rolled back) is spent: releasing
/// it again is not documented, so it reads as withdrawn and the build goes through a new audit
/// (UNCONFIRMED, spec/douyin.md §4).
fn audit(slot: AuditSlot, live: Option<&str>) -> Option<Audit> {
    let build = build(&slot.version, &slot.summary)?;
    let mut reasons: Vec<String> = Vec::new();
    if !slot.reason.trim().is_empty() {
        reasons.push(slot.reason.trim().to_owned());
    }
    if let Some(Value::Object(detail)) = &slot.reason_detail {
        for (host, why) in detail {
            let why = match why {
                Value::Array(list) => list
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join("; "),
                other => other.as_str().unwrap_or_default().to_owned(),
            };
            if !why.is_empty() {
                reasons.push(format!("{host}: {why}"));
            }
        }
    }
    let status = match slot.status {
        _ if slot.is_illegal_version == Some(true) => {
            reasons.push(
                "the version was taken down and cannot be released: it needs a new audit".into(),
            );
            AuditStatus::Rejected
        }
        0 => AuditStatus::Auditing,
        1 if slot.has_publish != 0 && live != Some(slot.version.as_str()) => {
            reasons.push("released before and rolled back: a new release needs a new audit".into());
            AuditStatus::Withdrawn
        }
        1 => AuditStatus::Approved,
        2 => AuditStatus::Rejected,
        3 => AuditStatus::Withdrawn,
        // UNCONFIRMED: no other status is documented; an unknown one is waited on.
        _ => AuditStatus::Delayed,
    };
    Some(Audit {
        // Douyin has no audit id: its one review slot is named by the version.
        id: build.version.clone(),
        build,
        status,
        reason: (!reasons.is_empty()).then(|| reasons.join("\n")),
    })
}

impl DouyinClient {
    /// Calls a `package_version` API for `appid` with its authorizer token; a refused token is
    /// dropped, refreshed once and the call retried once.
    async fn app_call(
        &self,
        appid: &str,
        api: Api,
        body: Option<&Value>,
    ) -> Result<Value, PlatformError> {
        let token = self.tokens.authorizer(&self.http, appid).await?;
        match self.http.call(api, &token, &[], body).await {
            Err(err) if token_rejected(&err) => {
                self.tokens.drop_authorizer(appid, &token).await;
                let token = self.tokens.authorizer(&self.http, appid).await?;
                self.http.call(api, &token, &[], body).await
            }
            other => other,
        }
    }

    /// Where the test version's QR code is (`data.qr_code_url`, signed and expiring), opening
    /// `path` if given (without a leading `/`, as Douyin wants it).
    pub(super) async fn qr_code(
        &self,
        appid: &str,
        path: Option<&str>,
    ) -> Result<crate::platform::QrCode, PlatformError> {
        let mut body = json!({ "version": "latest" });
        if let Some(path) = path {
            body["path"] = json!(path.trim_start_matches('/'));
        }
        let data = self.app_call(appid, QR_CODE, Some(&body)).await?;
        match data["qr_code_url"].as_str() {
            Some(url) if !url.is_empty() => Ok(crate::platform::QrCode::Url(url.to_owned())),
            _ => Err(PlatformError::decode(
                crate::platform::douyin::spec::KIND,
                QR_CODE.name,
                "the answer has no `qr_code_url`",
                "retry later; if it persists, the platform changed its answer",
            )),
        }
    }

    async fn versions(&self, appid: &str) -> Result<Versions, PlatformError> {
        let data = crate::platform::http::READS
            .run(
                || self.app_call(appid, VERSIONS, None),
                |e| e.class == ErrorClass::Transient,
            )
            .await?;
        if data.is_null() {
            return Ok(Versions::default());
        }
        decode(VERSIONS, data)
    }

    /// Reads `app`'s live state: one `versions` call.
    pub(super) async fn observe_app(&self, app: &Desired) -> Result<Observed, PlatformError> {
        let appid = app.appid.as_str();
        if !self.tokens.readable(appid)? {
            return Ok(Observed::default());
        }
        let versions = match self.versions(appid).await {
            Err(err) if err.code == "not_authorized" => return Ok(Observed::default()),
            other => other?,
        };
        let experience = versions.latest.and_then(|l| build(&l.version, &l.summary));
        let live_version = versions.current.as_ref().map(|c| c.version.as_str());
        let audit = versions.audit.and_then(|slot| audit(slot, live_version));
        let (live, previous) = match versions.current {
            Some(current) => self.release_state(appid, current)?,
            None => (None, None),
        };
        Ok(Observed {
            authorized: true,
            experience,
            audit,
            live,
            previous,
            ..Observed::default()
        })
    }

    /// The live build, and what a rollback would restore. Douyin names only the previous
    /// release's version (`rollback.last_version`), not its build: the build is the one the
    /// last observation showed live before this one (kept in the store), when its version
    /// matches; otherwise unknown, and the fleet's build goes the long way (a new audit).
    fn release_state(
        &self,
        appid: &str,
        current: Current,
    ) -> Result<(Option<Live>, Option<Build>), PlatformError> {
        let Some(live) = build(&current.version, &current.summary) else {
            return Ok((None, None));
        };
        let target = current
            .rollback
            .filter(|r| r.can_rollback && !r.last_version.is_empty())
            .map(|r| r.last_version);
        let previous = match target {
            None => None,
            Some(version) => {
                let last = self
                    .store
                    .observation(appid)
                    .map_err(|e| errors::store(VERSIONS.name, e))?
                    .map(|(observed, _)| observed);
                let seen = last.and_then(|o| match o.live {
                    Some(l) if l.build != live => Some(l.build),
                    Some(_) => o.previous,
                    None => None,
                });
                seen.filter(|b| b.version == version)
            }
        };
        if current.has_down != 0 {
            tracing::warn!(appid, version = %live.version, "Douyin took the live version down");
        }
        Ok((
            Some(Live {
                build: live,
                gray: None,
            }),
            previous,
        ))
    }

    /// Applies one action.
    pub(super) async fn execute_action(
        &self,
        app: &Desired,
        action: &Action,
    ) -> Result<Effect, PlatformError> {
        let appid = app.appid.as_str();
        if !self.tokens.readable(appid)? {
            let reason = self
                .tokens
                .unauthorized_reason(appid)?
                .unwrap_or_else(|| "no refresh token is stored".to_owned());
            return Err(not_authorized(appid, &reason));
        }
        match action {
            Action::Commit { .. } => {
                let body = upload_body(app)?;
                self.app_call(appid, UPLOAD, Some(&body)).await?;
                Ok(Effect::None)
            }
            Action::SubmitAudit { .. } => {
                let hosts = self.hosts(app).await?;
                let mut body = json!({ "host_names": hosts });
                if let Some(note) = app.audit.version_desc.as_deref().filter(|n| !n.is_empty()) {
                    body["audit_note"] = json!(note);
                }
                self.app_call(appid, AUDIT, Some(&body)).await?;
                Ok(Effect::AuditSubmitted {
                    audit_id: app.version.clone(),
                })
            }
            Action::WithdrawAudit { .. } => {
                self.app_call(appid, REVOKE, None).await?;
                Ok(Effect::None)
            }
            Action::Release { .. } => {
                self.app_call(appid, RELEASE, None).await?;
                Ok(Effect::None)
            }
            Action::Rollback { .. } => self.rollback(app).await,
            other => Err(errors::local(
                other.kind(),
                "unsupported",
                ErrorClass::Permanent,
                &format!("Douyin has no `{}`", other.kind()),
                "Douyin releases fully and has no tester API; remove `gray` and `testers` from the app",
            )),
        }
    }

    /// The host apps to submit: the app's `audit.hosts`, else every host Douyin offers (a host
    /// left out would hide the app there after release, §3.3).
    async fn hosts(&self, app: &Desired) -> Result<Vec<String>, PlatformError> {
        let wanted = super::spec::audit_hosts(&app.audit);
        if !wanted.is_empty() {
            return Ok(wanted);
        }
        let data = crate::platform::http::READS
            .run(
                || self.app_call(&app.appid, AUDIT_HOSTS, None),
                |e| e.class == ErrorClass::Transient,
            )
            .await?;
        let offered: AuditHosts = decode(AUDIT_HOSTS, data)?;
        let hosts: Vec<String> = offered
            .host_names
            .iter()
            .map(|h| host_code(h).map_or_else(|| h.clone(), str::to_owned))
            .collect();
        if hosts.is_empty() {
            return Err(errors::local(
                AUDIT_HOSTS.name,
                "no_hosts",
                ErrorClass::Permanent,
                "Douyin offers no host app for this submission",
                "check the app's categories and status in the Douyin console, or set `audit.hosts`",
            ));
        }
        Ok(hosts)
    }

    /// Rolls back and waits until `versions` shows the previous release live (Douyin applies a
    /// rollback after 3 to 5 minutes); the call is made once.
    async fn rollback(&self, app: &Desired) -> Result<Effect, PlatformError> {
        let before = self.versions(&app.appid).await?;
        let target = before
            .current
            .and_then(|c| c.rollback)
            .filter(|r| r.can_rollback && !r.last_version.is_empty())
            .map(|r| r.last_version)
            .ok_or_else(|| {
                errors::api_error(ROLLBACK.name, 10003, "rollback.can_rollback is false", None)
            })?;
        self.app_call(&app.appid, ROLLBACK, None).await?;
        let wait = self.rollback_wait;
        let started = tokio::time::Instant::now();
        let mut pause = wait.first;
        loop {
            let now = self.versions(&app.appid).await?;
            if now.current.is_some_and(|c| c.version == target) {
                return Ok(Effect::None);
            }
            if started.elapsed() >= wait.total {
                return Err(errors::local(
                    ROLLBACK.name,
                    "rollback_pending",
                    ErrorClass::Transient,
                    &format!(
                        "Douyin accepted the rollback to {target} but does not show it live yet"
                    ),
                    "Douyin applies a rollback after 3 to 5 minutes; minifleet looks again",
                ));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(wait.max);
        }
    }
}

/// The upload's body: the template (an integer: ids pass 2^53), the version, the description
/// with the fingerprint tag, and ext_json as a string.
fn upload_body(app: &Desired) -> Result<Value, PlatformError> {
    let template_id: i64 = app.template_id.parse().map_err(|_| {
        errors::local(
            UPLOAD.name,
            "bad_template_id",
            ErrorClass::Permanent,
            &format!("template id `{}` is not an integer", app.template_id),
            "fix `templates.<name>.douyin.template_id` in the fleet file",
        )
    })?;
    let desc = format!("{} {}", app.description, fingerprint_tag(&app.fingerprint));
    Ok(json!({
        "template_id": template_id,
        "user_version": app.version,
        "user_desc": desc.trim(),
        "ext_json": app.ext_json,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_ids_past_two_to_the_fifty_third_stay_integers() {
        let body = json!({ "template_id": 9_133_504_853_504_535_288_i64 });
        assert_eq!(body.to_string(), r#"{"template_id":9133504853504535288}"#);
    }

    #[test]
    fn audit_slots_map_to_statuses_with_per_host_reasons() {
        let slot: AuditSlot = serde_json::from_value(json!({
            "version": "1.2.0", "summary": "shop [mf:0123abcd]", "status": 2,
            "reason": "不通过", "reasonDetail": { "抖音": ["图片违规"] }
        }))
        .unwrap();
        let audit = audit(slot, None).unwrap();
        assert_eq!(audit.status, AuditStatus::Rejected);
        assert_eq!(audit.build.fingerprint.as_deref(), Some("0123abcd"));
        assert_eq!(audit.reason.as_deref(), Some("不通过\n抖音: 图片违规"));
        let taken_down: AuditSlot = serde_json::from_value(json!({
            "version": "1.2.0", "summary": "", "status": "1", "is_illegal_version": true
        }))
        .unwrap();
        assert_eq!(audit_of(taken_down), AuditStatus::Rejected);
        let none: Versions =
            serde_json::from_value(json!({ "latest": null, "current": null })).unwrap();
        assert!(none.latest.is_none() && none.audit.is_none() && none.current.is_none());
    }

    fn audit_of(slot: AuditSlot) -> AuditStatus {
        audit(slot, None).unwrap().status
    }

    #[test]
    fn a_released_approval_that_is_no_longer_live_is_spent() {
        let slot = || -> AuditSlot {
            serde_json::from_value(json!({
                "version": "1.1.0", "summary": "", "status": 1, "has_publish": 1
            }))
            .unwrap()
        };
        assert_eq!(
            audit(slot(), Some("1.1.0")).unwrap().status,
            AuditStatus::Approved
        );
        assert_eq!(
            audit(slot(), Some("1.0.0")).unwrap().status,
            AuditStatus::Withdrawn
        );
    }
}
