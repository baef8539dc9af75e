//! Reading an app's live state with the fewest calls that prove it: version info and members
//! always; the latest audit when version info shows a build (an audit is of a committed build,
//! which shows as the experience build: an app with nothing committed and nothing released has
//! none to read); the gray plan only when something is live; the rollback history only when the
//! live build is not the wanted one.
//!
//! Knowing the last observation ([`Known::Since`](crate::platform::Known)), version
//! info and members are read, and the latest audit and the gray plan are kept from the last
//! observation when version info shows nothing moved that they could follow: the wanted build is
//! live and in experience as it was then, released in full then. An audit can only be of the
//! experience build (this one, or an older one before it), and a gray release needs a newer
//! approved build, which a commit would have put in experience first. Testers are always read.
//!
//! Knowing an observation from before this process's own writes that left the settings alone
//! ([`Known::Settings`](crate::platform::Known), the passes after a submission), the latest
//! audit alone is read while it is of the wanted build: the rest is that observation with the
//! audited build in experience ([`Observed::awaiting_verdict`]). The release that follows a
//! verdict checks itself: WeChat releases the last approved build, and answers 85052 (already
//! released) or 85019/85020 (nothing approved) when a hand change came first, which re-observes.
//! An audit of another build reads version info as well. The testers, domains and jump rules are
//! taken from that observation either way.
//!
//! The probe (the cheapest read that reveals drift) is version info alone: its digest changes
//! with a commit, a release or a rollback (each moves a version, a description or a time). An
//! audit submitted or withdrawn, a gray percentage and the testers are not in it.

use serde_json::json;

use super::WechatClient;
use super::client::{Method, decode};
use super::errors;
use super::types::{GrayPlanAnswer, History, LatestAudit, Members, VersionInfo};
use crate::model::{
    Audit, AuditStatus, Build, Desired, Live, LiveDomains, LiveJump, Observed, parse_fingerprint,
};
use crate::platform::{Known, PlatformError, probe_digest};

const VERSION_INFO: &str = "wxa/getversioninfo";
const LATEST_AUDIT: &str = "wxa/get_latest_auditstatus";
const GRAY_PLAN: &str = "wxa/getgrayreleaseplan";
const HISTORY: &str = "wxa/revertcoderelease";
const MEMBERS: &str = "wxa/memberauth";

/// A build from a version and a description carrying the fingerprint tag; `None` when empty.
fn build(version: &str, description: &str) -> Option<Build> {
    (!version.is_empty()).then(|| Build {
        version: version.to_string(),
        fingerprint: parse_fingerprint(description),
        description: description.to_string(),
    })
}

/// Whether version info, read now, shows that nothing `last`'s audit and gray plan could follow
/// has moved: the wanted build (`wanted`, a fingerprint) is live, also in experience, both as
/// `last` saw them, and `last` saw it released in full with no audit under review.
fn unmoved(
    last: &Observed,
    experience: Option<&Build>,
    live: Option<&Build>,
    wanted: &str,
) -> bool {
    let (Some(experience), Some(live)) = (experience, live) else {
        return false;
    };
    live.fingerprint.as_deref() == Some(wanted)
        && experience.fingerprint == live.fingerprint
        && last.experience.as_ref() == Some(experience)
        && last
            .live
            .as_ref()
            .is_some_and(|l| l.build == *live && l.gray.is_none())
        && !last.under_review()
}

/// WeChat's audit status number as an [`AuditStatus`].
fn audit_status(status: i64) -> Option<AuditStatus> {
    match status {
        0 => Some(AuditStatus::Approved),
        1 => Some(AuditStatus::Rejected),
        2 => Some(AuditStatus::Auditing),
        3 => Some(AuditStatus::Withdrawn),
        4 => Some(AuditStatus::Delayed),
        _ => None,
    }
}

/// A rejection reason in plain text: `<br>` becomes a newline, surrounding space is trimmed.
fn plain_reason(reason: &str) -> Option<String> {
    let text = ["<br />", "<br/>", "<BR>", "<br>"]
        .iter()
        .fold(reason.to_string(), |acc, tag| acc.replace(tag, "\n"));
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    let text = lines.join("\n").trim().to_string();
    (!text.is_empty()).then_some(text)
}

impl WechatClient {
    /// Reads `app`'s live state, taking from an earlier observation what `known` allows (see the
    /// module doc for which calls are made when).
    pub(super) async fn observe_app(
        &self,
        app: &Desired,
        known: Known<'_>,
    ) -> Result<Observed, PlatformError> {
        let appid = app.appid.as_str();
        if !self.readable(appid)? {
            return Ok(Observed::default());
        }
        let first = async {
            match known {
                // The audit is read once version info shows a build it could be of.
                Known::Nothing | Known::Since(_) => {
                    let (versions, members) =
                        tokio::try_join!(self.version_info(appid), self.members(appid))?;
                    Ok::<_, PlatformError>(Ok((versions, None, members)))
                }
                // Waiting for the verdict on this process's submission: the audit alone, when
                // it is still of the wanted build; version info too when it is not.
                Known::Settings(last) => match self.latest_audit(appid).await? {
                    Some(audit) if audit.build.fingerprint.as_deref() == Some(&app.fingerprint) => {
                        Ok(Err(last.awaiting_verdict(audit)))
                    }
                    audit => {
                        let versions = self.version_info(appid).await?;
                        Ok(Ok((versions, Some(audit), last.members.clone())))
                    }
                },
            }
        };
        // `Ok(Err(observed))`: the audit of the wanted build is still awaited, and that is the
        // whole observation.
        let (versions, audit, members) = match first.await {
            Err(err) if err.code == "not_authorized" => return Ok(Observed::default()),
            Err(err) => return Err(err),
            Ok(Err(awaiting)) => return Ok(awaiting),
            Ok(Ok(read)) => read,
        };
        let probe = Some(probe_digest(&versions));
        let experience = versions
            .exp_info
            .and_then(|e| build(&e.exp_version, &e.exp_desc));
        let live_build = versions
            .release_info
            .and_then(|r| build(&r.release_version, &r.release_desc));
        let kept = match known {
            Known::Since(last) => Some(last).filter(|last| {
                unmoved(
                    last,
                    experience.as_ref(),
                    live_build.as_ref(),
                    &app.fingerprint,
                )
            }),
            Known::Nothing | Known::Settings(_) => None,
        };
        // Nothing committed, nothing released: no audit to read.
        let unbuilt = experience.is_none() && live_build.is_none();
        let (audit, (live, previous)) = match kept {
            Some(last) => (last.audit.clone(), (last.live.clone(), None)),
            None => tokio::try_join!(
                async {
                    match audit {
                        Some(audit) => Ok(audit),
                        None if unbuilt => Ok(None),
                        None => self.latest_audit(appid).await,
                    }
                },
                async {
                    match live_build {
                        Some(live) => self.release_state(appid, live, &app.fingerprint).await,
                        None => Ok((None, None)),
                    }
                },
            )?,
        };
        let (domains, jump) = match known {
            Known::Settings(last) => (last.domains.clone(), last.jump.clone()),
            Known::Nothing | Known::Since(_) => self.settings_of(app).await?,
        };
        Ok(Observed {
            authorized: true,
            experience,
            audit,
            live,
            previous,
            members,
            builds: Vec::new(),
            dev_builds: Vec::new(),
            probe,
            wanted: None,
            domains,
            jump,
        })
    }

    /// The domains and jump rules of `app`, where the fleet manages them.
    async fn settings_of(
        &self,
        app: &Desired,
    ) -> Result<(Option<LiveDomains>, Option<LiveJump>), PlatformError> {
        let appid = app.appid.as_str();
        let domains = match app.domains.as_deref() {
            Some(wanted) => Some(self.observe_domains(appid, wanted).await?),
            None => None,
        };
        let jump = match app.qrcode_jump.as_deref() {
            Some(wanted) => Some(self.observe_jump(appid, wanted).await?),
            None => None,
        };
        Ok((domains, jump))
    }

    /// The gray plan of the live build, and the previous release when the live one is unwanted.
    async fn release_state(
        &self,
        appid: &str,
        live: Build,
        wanted_fp: &str,
    ) -> Result<(Option<Live>, Option<Build>), PlatformError> {
        let previous = if live.fingerprint.as_deref() != Some(wanted_fp) {
            self.previous_release(appid).await?
        } else {
            None
        };
        let gray = self.gray_percentage(appid).await?;
        Ok((Some(Live { build: live, gray }), previous))
    }

    /// The digest of `app`'s version info (see the module doc); `None` when it cannot be read.
    pub(super) async fn probe_app(&self, app: &Desired) -> Result<Option<String>, PlatformError> {
        let appid = app.appid.as_str();
        if !self.readable(appid)? {
            return Ok(None);
        }
        match self.version_info(appid).await {
            Err(err) if err.code == "not_authorized" => Ok(None),
            other => Ok(Some(probe_digest(&other?))),
        }
    }

    /// Whether the app can be read: authorized, with a refresh token.
    fn readable(&self, appid: &str) -> Result<bool, PlatformError> {
        Ok(self.tokens.unauthorized_reason(appid)?.is_none()
            && self.tokens.has_refresh_token(appid)?)
    }

    async fn version_info(&self, appid: &str) -> Result<VersionInfo, PlatformError> {
        let answer = self
            .read(appid, Method::Post, VERSION_INFO, &[], Some(&json!({})))
            .await?;
        decode(VERSION_INFO, answer)
    }

    async fn latest_audit(&self, appid: &str) -> Result<Option<Audit>, PlatformError> {
        let answer = match self.read(appid, Method::Get, LATEST_AUDIT, &[], None).await {
            Err(err) if err.code == "85058" => return Ok(None),
            other => other?,
        };
        let latest: LatestAudit = decode(LATEST_AUDIT, answer)?;
        let status = audit_status(latest.status).ok_or_else(|| {
            errors::decode(
                LATEST_AUDIT,
                format!("unknown audit status {}", latest.status),
            )
        })?;
        Ok(Some(Audit {
            id: latest.auditid,
            build: Build {
                version: latest.user_version,
                fingerprint: parse_fingerprint(&latest.user_desc),
                description: latest.user_desc,
            },
            status,
            reason: plain_reason(&latest.reason),
        }))
    }

    async fn gray_percentage(&self, appid: &str) -> Result<Option<u8>, PlatformError> {
        let answer = self.read(appid, Method::Get, GRAY_PLAN, &[], None).await?;
        let plan = decode::<GrayPlanAnswer>(GRAY_PLAN, answer)?.gray_release_plan;
        Ok((plan.status == 1).then_some(plan.gray_percentage))
    }

    async fn previous_release(&self, appid: &str) -> Result<Option<Build>, PlatformError> {
        let query = [("action", "get_history_version")];
        let answer = self.read(appid, Method::Get, HISTORY, &query, None).await?;
        let history: History = decode(HISTORY, answer)?;
        Ok(history
            .version_list
            .first()
            .and_then(|v| build(&v.user_version, &v.user_desc)))
    }

    async fn members(&self, appid: &str) -> Result<Vec<String>, PlatformError> {
        let body = json!({ "action": "get_experiencer" });
        let answer = self
            .read(appid, Method::Post, MEMBERS, &[], Some(&body))
            .await?;
        let mut members: Vec<String> = decode::<Members>(MEMBERS, answer)?
            .members
            .into_iter()
            .map(|m| m.userstr)
            .collect();
        members.sort();
        Ok(members)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_lose_their_br_tags() {
        assert_eq!(
            plain_reason(" logo infringes<br>see rule 3.2<br/> ").as_deref(),
            Some("logo infringes\nsee rule 3.2")
        );
        assert_eq!(plain_reason("  "), None);
    }

    #[test]
    fn builds_carry_the_fingerprint_from_the_description() {
        let b = build("1.0.0", "Spring menu [mf:1a2b3c4d]").unwrap();
        assert_eq!(b.fingerprint.as_deref(), Some("1a2b3c4d"));
        assert!(build("", "x").is_none());
        assert_eq!(audit_status(4), Some(AuditStatus::Delayed));
        assert_eq!(audit_status(9), None);
    }
}
