//! Applying one action to an app: upload (wait for the build, make it the experience version),
//! submit for review, withdraw, gray, release, revert gray, roll back, delete a development version,
//! invite and remove testers.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::AlipayClient;
use super::client::{Biz, decode};
use super::errors;
use super::observe::MEMBERS;
use super::types::{BuildState, MemberList, VersionStatus};
use crate::model::{Action, Desired, fingerprint_tag};
use crate::platform::{Effect, ErrorClass, PlatformError};
use crate::secret::Secret;

const UPLOAD: &str = "alipay.open.mini.version.upload";
const BUILD_QUERY: &str = "alipay.open.mini.version.build.query";
const EXPERIENCE: &str = "alipay.open.mini.experience.create";
const AUDIT_APPLY: &str = "alipay.open.mini.version.audit.apply";
const AUDIT_CANCEL: &str = "alipay.open.mini.version.audit.cancel";
const AUDITED_CANCEL: &str = "alipay.open.mini.version.audited.cancel";
const GRAY_ONLINE: &str = "alipay.open.mini.version.gray.online";
const GRAY_CANCEL: &str = "alipay.open.mini.version.gray.cancel";
const ONLINE: &str = "alipay.open.mini.version.online";
const ROLLBACK: &str = "alipay.open.mini.version.rollback";
const DELETE: &str = "alipay.open.mini.version.delete";
const MEMBER_CREATE: &str = "alipay.open.app.members.create";
const MEMBER_DELETE: &str = "alipay.open.app.members.delete";

/// Padding for an audit description shorter than the platform's 30 characters.
const DESC_PAD: &str = " — built by minifleet";
/// The role testers get.
const TESTER_ROLE: &str = "EXPERIENCER";

/// How `Commit` waits for a build (giving up is a transient error).
pub type BuildWait = crate::platform::PollWait;

/// The default build wait: 200 ms doubling to 5 s, 10 minutes in all.
pub const BUILD_WAIT: BuildWait = BuildWait {
    first: Duration::from_millis(200),
    max: Duration::from_secs(5),
    total: Duration::from_secs(600),
};

/// The audit `version_desc`: the description, padded to 30 characters, then the fingerprint tag
/// (kept last so it survives and parses), at most 500 characters.
pub fn version_desc(app: &Desired) -> String {
    let base = app
        .audit
        .version_desc
        .as_deref()
        .unwrap_or(&app.description)
        .trim();
    let tag = fingerprint_tag(&app.fingerprint);
    let room = 500 - tag.chars().count() - 1 - DESC_PAD.chars().count();
    let mut text: String = base.chars().take(room).collect();
    if text.chars().count() + 1 + tag.chars().count() < 30 {
        text.push_str(DESC_PAD);
    }
    format!("{} {tag}", text.trim())
}

/// `p10` / `p30` / `p50` for a gray percentage.
fn gray_strategy(to: u8) -> Result<&'static str, PlatformError> {
    match to {
        10 => Ok("p10"),
        30 => Ok("p30"),
        50 => Ok("p50"),
        _ => Err(errors::local(
            GRAY_ONLINE,
            "invalid_gray",
            ErrorClass::Permanent,
            &format!("Alipay gray cannot be {to}%"),
            "Alipay gray is 10, 30 or 50 percent (100 is a full release): fix the app's `gray`",
        )),
    }
}

/// Codes of an answer minifleet could not trust (its signature does not verify with
/// `alipay_public_key`, it is unsigned or spoofed) or could not decode (`PlatformError::decode`).
const UNTRUSTED: [&str; 2] = [errors::RESPONSE_SIGNATURE, "decode"];

/// An action whose answer, or the answer of any call it made, could not be trusted or decoded
/// says nothing about whether it took effect (an upload may have been applied although its answer
/// did not verify): that is an unknown outcome, settled by observing the app like a lost answer,
/// never a failure of the app's fingerprint. The error keeps the cause and its hint (the key).
fn unknown_outcome(err: PlatformError) -> PlatformError {
    if !UNTRUSTED.contains(&err.code.as_str()) {
        return err;
    }
    PlatformError {
        class: ErrorClass::Transient,
        explanation: format!(
            "{}, so whether the call took effect is unknown: minifleet observes the app to settle \
             it before anything is sent again",
            err.explanation
        ),
        ..err
    }
}

impl AlipayClient {
    /// Applies `action` to `app`; an answer that cannot be trusted or decoded makes the outcome
    /// unknown (see [`unknown_outcome`]).
    pub(super) async fn execute_action(
        &self,
        app: &Desired,
        action: &Action,
    ) -> Result<Effect, PlatformError> {
        self.execute_inner(app, action)
            .await
            .map_err(unknown_outcome)
    }

    /// Applies `action` to `app`.
    async fn execute_inner(&self, app: &Desired, action: &Action) -> Result<Effect, PlatformError> {
        if let Action::WaitForAudit { .. } = action {
            return Ok(Effect::None);
        }
        let token = self.require_token(&app.appid, action.kind())?;
        let token = &token;
        let version = |v: &str| json!({"app_version": v});
        match action {
            Action::Commit { .. } => self.commit(app, token).await,
            Action::SubmitAudit { .. } => self.submit(app, token).await,
            Action::WithdrawAudit { audit_id, .. } => self.withdraw(token, audit_id).await,
            Action::WaitForAudit { .. } => Ok(Effect::None),
            Action::Gray { to, .. } => {
                let biz = json!({"app_version": app.version, "gray_strategy": gray_strategy(*to)?});
                self.simple(GRAY_ONLINE, token, &biz).await
            }
            Action::Release { .. } => self.simple(ONLINE, token, &version(&app.version)).await,
            Action::RevertGray => match self.version_in(token, VersionStatus::Gray).await? {
                Some(gray) => self.simple(GRAY_CANCEL, token, &version(&gray)).await,
                None => Ok(Effect::None),
            },
            Action::Rollback { .. } => self.rollback(token).await,
            Action::DeleteBuild { version: v } => self.simple(DELETE, token, &version(v)).await,
            // Alipay names every member, so a verification is a bind that learns the user id.
            Action::BindTester { tester } | Action::VerifyTester { tester } => {
                self.bind(token, tester).await
            }
            Action::UnbindTester {
                tester,
                member: Some(member),
            } => self.unbind(token, tester, member).await,
            Action::SetDomains { .. }
            | Action::SetPrivacy { .. }
            | Action::AddJumpRule { .. }
            | Action::PublishJumpRule { .. }
            | Action::DeleteJumpRule { .. } => Err(errors::local(
                action.kind(),
                "unsupported",
                ErrorClass::Permanent,
                "Alipay's domains, privacy guide and QR-code rules are set in its console",
                "this is a minifleet bug: the fleet file refuses `domains`, `privacy` and \
                 `qrcode_jump` for Alipay",
            )),
            Action::UnbindTester { member: None, .. } => Err(errors::local(
                MEMBER_DELETE,
                "no_member",
                ErrorClass::Permanent,
                "Alipay removes a member by user id, and the unbind names none",
                "this is a minifleet bug: please report it",
            )),
        }
    }

    /// One call whose answer carries nothing to remember.
    async fn simple(
        &self,
        method: &str,
        token: &Secret,
        biz: &Value,
    ) -> Result<Effect, PlatformError> {
        self.gateway
            .call(method, Some(token), Biz::Content(biz))
            .await
            .map(|_| Effect::None)
    }

    /// Upload, remember the fingerprint, wait for the build, make it the experience version. An
    /// upload refused with `VERSION_HAS_EXISTED` for a version minifleet built with this very
    /// fingerprint (a lost answer) is adopted instead.
    async fn commit(&self, app: &Desired, token: &Secret) -> Result<Effect, PlatformError> {
        let mut biz = json!({
            "template_id": app.template_id,
            "app_version": app.version,
            "ext": app.ext_json,
        });
        if let Some(tv) = &app.template_version {
            biz["template_version"] = json!(tv);
        }
        // Remember the version's fingerprint BEFORE uploading, flushed to disk: if the answer is
        // lost or the process dies mid-call, the next observation still knows the build is ours
        // (not "another build of this version"), and the next commit adopts it instead of failing.
        let ours_before = self.built_by_us(app)?;
        self.store
            .put_build_fingerprint(&app.appid, &app.version, &app.fingerprint)
            .await
            .map_err(|e| errors::store(UPLOAD, e))?;
        match self
            .gateway
            .call(UPLOAD, Some(token), Biz::Content(&biz))
            .await
        {
            Ok(_) => {}
            Err(err) if err.code == "VERSION_HAS_EXISTED" && ours_before => {
                tracing::debug!(appid = %app.appid, version = %app.version, "adopting our own earlier upload");
            }
            Err(err) => return Err(err),
        }
        self.wait_for_build(token, &app.version).await?;
        let biz = json!({"app_version": app.version});
        self.simple(EXPERIENCE, token, &biz).await
    }

    fn built_by_us(&self, app: &Desired) -> Result<bool, PlatformError> {
        let stored = self
            .store
            .build_fingerprint(&app.appid, &app.version)
            .map_err(|e| errors::store(UPLOAD, e))?;
        Ok(stored.as_deref() == Some(app.fingerprint.as_str()))
    }

    /// Polls `build.query` until `create_status` 6 (3 and 5 are failures), with backoff.
    async fn wait_for_build(&self, token: &Secret, app_version: &str) -> Result<(), PlatformError> {
        let wait = self.build_wait;
        let started = Instant::now();
        let mut pause = wait.first;
        let biz = json!({"app_version": app_version});
        loop {
            let node = self
                .gateway
                .read(BUILD_QUERY, Some(token), Biz::Content(&biz))
                .await?;
            let state: BuildState = decode(BUILD_QUERY, node)?;
            match state.create_status.as_str() {
                "6" => return Ok(()),
                "3" | "5" => return Err(build_failed(app_version, &state.create_status)),
                _ => {}
            }
            if started.elapsed() + pause > wait.total {
                return Err(errors::local(
                    BUILD_QUERY,
                    "build_pending",
                    ErrorClass::Transient,
                    &format!("the build of {app_version} is still running"),
                    "minifleet checks again on the next pass; do not upload again",
                ));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(wait.max);
        }
    }

    /// `audit.apply` as multipart with flat fields.
    async fn submit(&self, app: &Desired, token: &Secret) -> Result<Effect, PlatformError> {
        let fields = [
            ("app_version", app.version.clone()),
            ("version_desc", version_desc(app)),
            ("region_type", "CHINA".to_string()),
        ];
        self.gateway
            .call(AUDIT_APPLY, Some(token), Biz::Multipart(&fields))
            .await?;
        Ok(Effect::AuditSubmitted {
            audit_id: app.version.clone(),
        })
    }

    /// Sends the audited version back to development, whichever cancel its status needs.
    async fn withdraw(&self, token: &Secret, audit_id: &str) -> Result<Effect, PlatformError> {
        let detail = self.detail(token, audit_id).await?;
        let biz = json!({"app_version": audit_id});
        match VersionStatus::parse(&detail.status) {
            Some(VersionStatus::Auditing) => self.simple(AUDIT_CANCEL, token, &biz).await,
            Some(
                VersionStatus::WaitRelease
                | VersionStatus::AuditReject
                | VersionStatus::BaseAuditPass,
            ) => self.simple(AUDITED_CANCEL, token, &biz).await,
            Some(VersionStatus::Init) => Ok(Effect::None),
            _ => Err(errors::local(
                AUDITED_CANCEL,
                "not_withdrawable",
                ErrorClass::Conflict,
                &format!(
                    "version {audit_id} is {} and cannot be withdrawn",
                    detail.status
                ),
                "minifleet re-reads the app's state and plans again",
            )),
        }
    }

    /// The version in `status`, if any.
    async fn version_in(
        &self,
        token: &Secret,
        status: VersionStatus,
    ) -> Result<Option<String>, PlatformError> {
        let versions = self.list_versions(token).await?;
        Ok(versions
            .into_iter()
            .find(|v| v.version_status == status.as_str())
            .map(|v| v.app_version))
    }

    /// `version.rollback` of the current release.
    async fn rollback(&self, token: &Secret) -> Result<Effect, PlatformError> {
        let Some(current) = self.version_in(token, VersionStatus::Release).await? else {
            return Err(errors::local(
                ROLLBACK,
                "nothing_released",
                ErrorClass::Conflict,
                "no version is released, so there is nothing to roll back",
                "minifleet re-reads the app's state and plans again",
            ));
        };
        self.simple(ROLLBACK, token, &json!({"app_version": current}))
            .await
    }

    /// Invites `tester` (an existing invite is fine) and returns its user id.
    async fn bind(&self, token: &Secret, tester: &str) -> Result<Effect, PlatformError> {
        let biz = json!({"logon_id": tester, "role": TESTER_ROLE});
        match self
            .gateway
            .call(MEMBER_CREATE, Some(token), Biz::Content(&biz))
            .await
        {
            Ok(_) => {}
            Err(err) if err.code == "EXPERIENCER_ALREADY_EXIST" => {}
            Err(err) => return Err(err),
        }
        let biz = json!({"role": TESTER_ROLE});
        let node = self
            .gateway
            .read(MEMBERS, Some(token), Biz::Content(&biz))
            .await?;
        let list: MemberList = decode(MEMBERS, node)?;
        let member = list
            .app_member_info_list
            .into_iter()
            .find(|m| m.logon_id == tester)
            .ok_or_else(|| {
                errors::local(
                    MEMBERS,
                    "member_not_listed",
                    ErrorClass::Conflict,
                    &format!("the invited tester `{tester}` is not in the member list"),
                    "minifleet re-reads the app's state and plans again",
                )
            })?;
        Ok(Effect::TesterBound {
            tester: tester.to_string(),
            member: member.user_id,
        })
    }

    /// Removes member `member` (an already removed one is fine).
    async fn unbind(
        &self,
        token: &Secret,
        tester: &Option<String>,
        member: &str,
    ) -> Result<Effect, PlatformError> {
        let biz = json!({"role": TESTER_ROLE, "user_id": member});
        match self
            .gateway
            .call(MEMBER_DELETE, Some(token), Biz::Content(&biz))
            .await
        {
            Ok(_) => {}
            Err(err) if err.code == "MEMBER_NOT_EXIST" => {}
            Err(err) => return Err(err),
        }
        Ok(Effect::TesterUnbound {
            tester: tester.clone(),
        })
    }
}

fn build_failed(app_version: &str, create_status: &str) -> PlatformError {
    let what = if create_status == "5" {
        "timed out"
    } else {
        "failed"
    };
    errors::local(
        BUILD_QUERY,
        &format!("create_status_{create_status}"),
        ErrorClass::Permanent,
        &format!("build failed: the build of {app_version} {what}"),
        "check the template and ext; a new build needs a higher `version`",
    )
}
