//! Reading an app's live state with few calls: `version.list.query` (every status) and
//! `app.members.query` always; `version.detail.query` only for a rejected version (its reason) or a
//! gray one (its strategy); `experience.query` only while the wanted version is in development, to
//! see whether it really became the experience version (an upload may have been cut off before
//! `experience.create`).
//!
//! `builds` keeps the platform's order (newest version first); `dev_builds` are the `INIT` ones,
//! oldest first. `previous` is the newest `OFFLINE` version below the live one (every `OFFLINE`
//! version was released once; after a rollback the rolled-back version is above the live one).
//!
//! Given an observation from before this process's own writes that left the members alone (the
//! pass after a submission), the members are taken from it.
//!
//! The probe (the cheapest read that reveals drift) is `version.list.query` alone: its digest
//! changes with an upload, a submission, a withdrawal, a verdict, a release, a gray start or end,
//! a rollback (every status is listed). A gray percentage and the members are not in it.

use serde_json::json;

use super::AlipayClient;
use super::client::{Biz, decode};
use super::errors;
use super::types::{
    MemberList, VersionDetail, VersionInfo, VersionList, VersionStatus, parse_version,
};
use crate::model::{Audit, AuditStatus, Build, Desired, Live, Observed, parse_fingerprint};
use crate::platform::{PlatformError, probe_digest};
use crate::secret::Secret;

pub(super) const LIST: &str = "alipay.open.mini.version.list.query";
pub(super) const DETAIL: &str = "alipay.open.mini.version.detail.query";
pub(super) const MEMBERS: &str = "alipay.open.app.members.query";
pub(super) const EXPERIENCE_QUERY: &str = "alipay.open.mini.experience.query";

/// A version as listed, with its parsed status.
struct Listed {
    info: VersionInfo,
    status: Option<VersionStatus>,
    build: Build,
}

impl AlipayClient {
    /// Reads `app`'s live state, the members taken from `settings` when given (an observation
    /// from before this process's own writes, which left them alone); see the module doc for
    /// which calls are made when.
    pub(super) async fn observe_app(
        &self,
        app: &Desired,
        settings: Option<&Observed>,
    ) -> Result<Observed, PlatformError> {
        let appid = app.appid.as_str();
        let Some(token) = self.token_for(appid)? else {
            return Ok(Observed::default());
        };
        let (versions, members) = match settings {
            Some(last) => (self.list_versions(&token).await?, last.members.clone()),
            None => tokio::try_join!(self.list_versions(&token), self.members(&token))?,
        };
        let probe = Some(probe_digest(&versions));
        let listed: Vec<Listed> = versions
            .into_iter()
            .map(|info| self.listed(appid, info))
            .collect::<Result<_, _>>()?;
        let audit = self.audit(&token, &listed).await?;
        let (live, previous) = self.live(&token, &listed).await?;
        let experience = self.experience(&token, app, &listed).await?;
        let dev_builds = listed
            .iter()
            .rev()
            .filter(|l| l.status == Some(VersionStatus::Init))
            .map(|l| l.build.clone())
            .collect();
        Ok(Observed {
            authorized: true,
            experience,
            audit,
            live,
            previous,
            members,
            builds: listed.iter().map(|l| l.build.clone()).collect(),
            dev_builds,
            probe,
            wanted: None,
            domains: None,
            jump: None,
        })
    }

    /// The digest of `app`'s version list (see the module doc); `None` without a token.
    pub(super) async fn probe_app(&self, app: &Desired) -> Result<Option<String>, PlatformError> {
        let Some(token) = self.token_for(&app.appid)? else {
            return Ok(None);
        };
        Ok(Some(probe_digest(&self.list_versions(&token).await?)))
    }

    /// Every version of the app, newest first.
    pub(super) async fn list_versions(
        &self,
        token: &Secret,
    ) -> Result<Vec<VersionInfo>, PlatformError> {
        let all: Vec<&str> = VersionStatus::ALL.iter().map(|s| s.as_str()).collect();
        let biz = json!({"version_status": all.join(",")});
        let node = self
            .gateway
            .read(LIST, Some(token), Biz::Content(&biz))
            .await?;
        let list: VersionList = decode(LIST, node)?;
        Ok(list.app_version_infos)
    }

    /// A listed version with its fingerprint: the stored one, else the tag in its description.
    fn listed(&self, appid: &str, info: VersionInfo) -> Result<Listed, PlatformError> {
        let stored = self
            .store
            .build_fingerprint(appid, &info.app_version)
            .map_err(|e| errors::store(LIST, e))?;
        let build = Build {
            version: info.app_version.clone(),
            fingerprint: stored.or_else(|| parse_fingerprint(&info.version_description)),
            description: info.version_description.clone(),
        };
        Ok(Listed {
            status: VersionStatus::parse(&info.version_status),
            info,
            build,
        })
    }

    /// `version.detail.query` of one version.
    pub(super) async fn detail(
        &self,
        token: &Secret,
        app_version: &str,
    ) -> Result<VersionDetail, PlatformError> {
        let biz = json!({"app_version": app_version});
        let node = self
            .gateway
            .read(DETAIL, Some(token), Biz::Content(&biz))
            .await?;
        decode(DETAIL, node)
    }

    /// The version holding the review slot, as an audit.
    async fn audit(
        &self,
        token: &Secret,
        listed: &[Listed],
    ) -> Result<Option<Audit>, PlatformError> {
        let Some((l, status)) = listed
            .iter()
            .find_map(|l| Some((l, audit_status(l.status?)?)))
        else {
            return Ok(None);
        };
        let reason = if status == AuditStatus::Rejected {
            self.detail(token, &l.info.app_version).await?.reject_reason
        } else {
            None
        };
        Ok(Some(Audit {
            id: l.info.app_version.clone(),
            build: l.build.clone(),
            status,
            reason,
        }))
    }

    /// The live build (the gray one while gray) and what a rollback would restore.
    async fn live(
        &self,
        token: &Secret,
        listed: &[Listed],
    ) -> Result<(Option<Live>, Option<crate::model::Build>), PlatformError> {
        let find = |s: VersionStatus| listed.iter().find(|l| l.status == Some(s));
        let release = find(VersionStatus::Release);
        if let Some(gray) = find(VersionStatus::Gray) {
            let detail = self.detail(token, &gray.info.app_version).await?;
            let percent = detail.gray_strategy.as_deref().and_then(gray_percent);
            let live = Live {
                build: gray.build.clone(),
                gray: Some(percent.unwrap_or(10)),
            };
            return Ok((Some(live), release.map(|r| r.build.clone())));
        }
        let Some(release) = release else {
            return Ok((None, None));
        };
        let below = parse_version(&release.info.app_version);
        let previous = listed.iter().find(|l| {
            l.status == Some(VersionStatus::Offline) && parse_version(&l.info.app_version) < below
        });
        let live = Live {
            build: release.build.clone(),
            gray: None,
        };
        Ok((Some(live), previous.map(|p| p.build.clone())))
    }

    /// The user ids of experiencers who are members or invited, sorted.
    async fn members(&self, token: &Secret) -> Result<Vec<String>, PlatformError> {
        let biz = json!({"role": "EXPERIENCER"});
        let node = self
            .gateway
            .read(MEMBERS, Some(token), Biz::Content(&biz))
            .await?;
        let list: MemberList = decode(MEMBERS, node)?;
        let mut ids: Vec<String> = list
            .app_member_info_list
            .into_iter()
            .filter(|m| matches!(m.status.as_str(), "VALID" | "UNCONFIRMED"))
            .map(|m| m.user_id)
            .collect();
        ids.sort();
        ids.dedup();
        Ok(ids)
    }
}

impl AlipayClient {
    /// The experience build: the wanted version if it exists, else the newest development version.
    /// A wanted version still in development that is not the experience version yet counts as no
    /// experience build, so the planner commits again and the client finishes the job.
    /// Where the wanted version's experience QR code is (`exp_qr_code_url`); it opens the home
    /// page, so a `path` is refused.
    pub(super) async fn qr_code(
        &self,
        app: &Desired,
        path: Option<&str>,
    ) -> Result<crate::platform::QrCode, PlatformError> {
        if path.is_some() {
            return Err(errors::local(
                EXPERIENCE_QUERY,
                "no_path",
                crate::platform::ErrorClass::Permanent,
                "Alipay's experience QR code opens the app's home page; it takes no page",
                "leave out `--path`",
            ));
        }
        let token = self.require_token(&app.appid, EXPERIENCE_QUERY)?;
        let biz = json!({"app_version": app.version});
        let node = self
            .gateway
            .read(EXPERIENCE_QUERY, Some(&token), Biz::Content(&biz))
            .await?;
        match node.get("exp_qr_code_url").and_then(|u| u.as_str()) {
            Some(url) if !url.is_empty() => Ok(crate::platform::QrCode::Url(url.to_owned())),
            _ => Err(errors::local(
                EXPERIENCE_QUERY,
                "no_experience",
                crate::platform::ErrorClass::Permanent,
                &format!("version {} is not the experience version yet", app.version),
                "run `minifleet reconcile` first: the commit makes it the experience version",
            )),
        }
    }

    async fn experience(
        &self,
        token: &Secret,
        app: &Desired,
        listed: &[Listed],
    ) -> Result<Option<Build>, PlatformError> {
        let wanted = listed.iter().find(|l| l.info.app_version == app.version);
        if let Some(l) = wanted.filter(|l| l.status == Some(VersionStatus::Init)) {
            let biz = json!({"app_version": l.info.app_version});
            let node = self
                .gateway
                .read(EXPERIENCE_QUERY, Some(token), Biz::Content(&biz))
                .await?;
            let status = node.get("status").and_then(|s| s.as_str()).unwrap_or("");
            // The official SDK spells it `expVersionPackged`; others `expVersionPackaged`.
            let made = matches!(
                status,
                "expVersionPackaging" | "expVersionPackged" | "expVersionPackaged"
            );
            return Ok(made.then(|| l.build.clone()));
        }
        Ok(wanted
            .or_else(|| {
                listed
                    .iter()
                    .find(|l| l.status == Some(VersionStatus::Init))
            })
            .map(|l| l.build.clone()))
    }
}

/// The audit status a version status stands for, if it holds the review slot.
fn audit_status(status: VersionStatus) -> Option<AuditStatus> {
    match status {
        VersionStatus::Auditing => Some(AuditStatus::Auditing),
        VersionStatus::AuditReject => Some(AuditStatus::Rejected),
        VersionStatus::WaitRelease | VersionStatus::BaseAuditPass | VersionStatus::Gray => {
            Some(AuditStatus::Approved)
        }
        VersionStatus::Init
        | VersionStatus::Release
        | VersionStatus::Offline
        | VersionStatus::AuditOffline => None,
    }
}

/// `p10` → 10, `p30` → 30, `p50` → 50.
pub(super) fn gray_percent(strategy: &str) -> Option<u8> {
    match strategy {
        "p10" => Some(10),
        "p30" => Some(30),
        "p50" => Some(50),
        _ => None,
    }
}
