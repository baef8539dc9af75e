//! Platform-neutral types shared by the fleet, the planner, the platforms and the engine:
//! what an app should be ([`Desired`]), what it is ([`Observed`]), what minifleet remembers about
//! it ([`Record`]) and what to do about it ([`Action`], [`Step`], [`AppPlan`]).
//!
//! Everything here is plain data: no I/O, no clock.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub mod calendar;
pub mod gray;
mod platform;
pub mod rollout;
mod rules;
pub mod settings;

pub use gray::{GrayMark, GrayWalk, WalkView};
pub use platform::PlatformKind;
pub use rollout::{Rollout, RolloutState};
pub use rules::Rules;
pub use settings::{Domains, JumpRule, LiveDomains, LiveJump, Privacy};

pub use calendar::{beijing_day, beijing_month};

/// How far down the pipeline an app should go.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    /// Commit the code as the experience (trial) version and stop.
    Experience,
    /// Commit and get the audit approved, but do not release.
    Audit,
    /// Commit, audit and release (full or gray).
    #[default]
    Release,
}

impl Stage {
    /// The lowercase name used in the fleet file.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Experience => "experience",
            Stage::Audit => "audit",
            Stage::Release => "release",
        }
    }
}

/// One item of a WeChat `submit_audit` `item_list`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuditItem {
    /// Page path from `wxa/get_page`, e.g. `pages/index/index`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Space-separated tags (at most 10, each at most 20 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// First-level category name, as `wxa/get_category` returns it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_class: Option<String>,
    /// Second-level category name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub second_class: Option<String>,
    /// Third-level category name, where the category has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub third_class: Option<String>,
    /// First-level category id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_id: Option<u64>,
    /// Second-level category id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub second_id: Option<u64>,
    /// Third-level category id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub third_id: Option<u64>,
    /// Page title (at most 32 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
}

impl AuditSpec {
    /// A short digest of the settings (what a failed submission is recorded with).
    pub fn digest(&self) -> String {
        let text = serde_json::to_vec(self).unwrap_or_default();
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &text);
        hex::encode(&digest.as_ref()[..4])
    }
}

/// What to send with an audit submission.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AuditSpec {
    /// WeChat `item_list` (1 to 5 items). Empty means "let the platform use the defaults".
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<AuditItem>,
    /// Notes for the reviewer (WeChat `version_desc`; Alipay `version_desc` prefix).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_desc: Option<String>,
    /// WeChat `privacy_api_not_use`: declare detected but unconfigured privacy APIs unused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privacy_api_not_use: Option<bool>,
    /// WeChat `feedback_info`, honoured only after a rejection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feedback_info: Option<String>,
    /// Alipay `region_type`: where the app serves (`GLOBAL`, `CHINA` or `LOCATION`); required by
    /// Alipay on the first submission unless set in the console.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region_type: Option<RegionType>,
    /// Alipay `service_phone`: the customer service phone (5 to 30 digits and `-`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_phone: Option<String>,
    /// Alipay `service_email`: the customer service email address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_email: Option<String>,
    /// Alipay `mini_category_ids`: 1 to 4 categories, each `L1_L2` or `L1_L2_L3` (the client joins
    /// them with `;`). Empty means "keep the app's categories".
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mini_category_ids: Vec<String>,
    /// The audit keys a platform declares for itself (its `PlatformSpec::audit_schema`, e.g.
    /// Douyin's `hosts`), read and checked by that platform's module; the fleet file's schema
    /// refuses any other key.
    #[serde(flatten, default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(skip)]
    pub platform: BTreeMap<String, Value>,
}

/// Alipay's `region_type` of an audit submission: where the mini-program serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RegionType {
    /// Everywhere.
    Global,
    /// Mainland China.
    China,
    /// Specific provinces or cities (set in the Alipay console).
    Location,
}

impl RegionType {
    /// The value Alipay's `audit.apply` takes.
    pub fn as_str(self) -> &'static str {
        match self {
            RegionType::Global => "GLOBAL",
            RegionType::China => "CHINA",
            RegionType::Location => "LOCATION",
        }
    }
}

/// The wanted state of one app, fully resolved: defaults merged, template looked up, fingerprint
/// computed. Built by [`crate::fleet`]; read by everything else.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Desired {
    /// Unique, stable, human name from the fleet file.
    pub name: String,
    /// The platform the app lives on.
    pub platform: PlatformKind,
    /// The platform's app id (WeChat `wx…`, Alipay `2021…`).
    pub appid: String,
    /// Free labels, for `--selector`.
    pub labels: Labels,
    /// The fleet's template name.
    pub template: String,
    /// The platform's template id (WeChat numeric id, Alipay template APPID).
    pub template_id: String,
    /// Alipay template version; `None` on WeChat.
    pub template_version: Option<String>,
    /// The code version, `x.y.z` (WeChat `user_version`, Alipay `app_version`).
    pub version: String,
    /// Human description (WeChat `user_desc` before the fingerprint tag).
    pub description: String,
    /// The exact ext JSON text sent to the platform.
    pub ext_json: String,
    /// Wanted testers (WeChat wechatid / Alipay logon id), sorted and unique.
    pub testers: Vec<String>,
    /// Percent of users on the new version; 100 = full release. With a [`Desired::walk`], its
    /// last step.
    pub gray: u8,
    /// `gray: { steps, hold }`: the release is raised step by step over time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub walk: Option<GrayWalk>,
    /// How far down the pipeline to go.
    pub stage: Stage,
    /// `suspend`: observed and planned, but nothing is changed on the platform.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub suspended: bool,
    /// Its place in line for a short audit quota: its own `priority`, else the first
    /// `quota.priority` rule its labels match; none is 0. Higher goes first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<i32>,
    /// What to send with an audit submission (shared by the apps that inherit it).
    pub audit: std::sync::Arc<AuditSpec>,
    /// `domains`: the server and web-view domains the app must have (WeChat); `None`: not
    /// managed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domains: Option<std::sync::Arc<Domains>>,
    /// `privacy`: the app's privacy guide (WeChat), set before each submission; `None`: not
    /// managed. Covered by the fingerprint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub privacy: Option<std::sync::Arc<Privacy>>,
    /// `qrcode_jump`: the app's QR-code jump rules (WeChat); `None`: not managed. A rule that
    /// leaves the list is deleted (only rules minifleet added).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qrcode_jump: Option<std::sync::Arc<Vec<JumpRule>>>,
    /// Short content fingerprint of the build, see [`fingerprint`].
    pub fingerprint: String,
    /// What the app's platform allows, as far as planning is concerned (its platform module's).
    #[serde(skip)]
    pub rules: &'static Rules,
    /// The fleet revision this wanted state came from (see [`Revision`]): where it came from,
    /// not what it is, so it is in no comparison and no digest.
    #[serde(skip)]
    pub revision: Revision,
}

/// The fleet revision a wanted state came from: the git commit of `watch --git`, else a digest
/// of the fleet file's text (`sha256:…`, 12 hex digits). Provenance only: two wanted states
/// from different revisions are equal when they want the same, so every `Revision` equals every
/// other (a new commit that leaves an app alone does not change the app), and its `Debug` is
/// the same for all (`Revision(..)`), so a wanted state prints the same whatever its revision.
#[derive(Clone, Default, Eq)]
pub struct Revision(pub std::sync::Arc<str>);

impl std::fmt::Debug for Revision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Revision(..)")
    }
}

impl PartialEq for Revision {
    fn eq(&self, _: &Revision) -> bool {
        true
    }
}

impl Revision {
    /// The revision of a fleet file's `text`: `sha256:` and 12 hex digits of its SHA-256.
    pub fn of_text(text: &str) -> Revision {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, text.as_bytes());
        Revision(format!("sha256:{}", hex::encode(&digest.as_ref()[..6])).into())
    }

    /// The revision as written (empty when unknown).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The revision, `None` when unknown.
    pub fn known(&self) -> Option<&str> {
        (!self.0.is_empty()).then_some(&*self.0)
    }
}

/// `revision` to show: a git commit's first 12 hex digits; a `sha256:` digest whole.
pub fn short_revision(revision: &str) -> &str {
    if revision.contains(':') {
        revision
    } else {
        &revision[..revision.len().min(12)]
    }
}

/// What the platform says about an app's readiness for an audit or a release, read only when a
/// plan is about to submit or release (see [`crate::plan::readiness`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Readiness {
    /// WeChat's ICP filing status (`6` filed, `1024` not filed, 2–5 in review or rejected);
    /// `None` where the platform has none or did not say.
    pub icp_status: Option<u32>,
}

/// The fleet's `quota` section, beyond the priorities it gives the apps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QuotaPolicy {
    /// Submissions of each platform's monthly audit quota kept for new merchants (apps with
    /// nothing released yet).
    pub reserve: u32,
}

/// An app's free labels, for `--selector`: key-value pairs sorted by key, in one small
/// allocation (a `BTreeMap` spends a 0.5 KB node on an app's two or three labels).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Labels(Box<[(String, String)]>);

impl Labels {
    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .binary_search_by(|(k, _)| k.as_str().cmp(key))
            .ok()
            .map(|i| self.0[i].1.as_str())
    }

    /// The labels, sorted by key.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// In words, as selectors write them: `region=east tier=gold`.
    pub fn words(&self) -> String {
        let pairs: Vec<String> = self.iter().map(|(k, v)| format!("{k}={v}")).collect();
        pairs.join(" ")
    }
}

impl From<BTreeMap<String, String>> for Labels {
    fn from(map: BTreeMap<String, String>) -> Labels {
        Labels(map.into_iter().collect())
    }
}

impl Serialize for Labels {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.iter())
    }
}

impl Desired {
    /// The merchant's ext config: the `ext` object of [`Desired::ext_json`] (parsed on each call;
    /// a fleet keeps only the text, ~0.6 KB less per app).
    pub fn ext(&self) -> Value {
        serde_json::from_str::<Value>(&self.ext_json)
            .ok()
            .and_then(|mut v| v.get_mut("ext").map(Value::take))
            .unwrap_or(Value::Null)
    }

    /// The keys of its ext.json beside the ones minifleet writes (`ext`, `extAppid`,
    /// `extEnable`): what the fleet's `ext_json` sets; `None` when it sets nothing.
    pub fn ext_others(&self) -> Option<Value> {
        let Ok(Value::Object(mut all)) = serde_json::from_str::<Value>(&self.ext_json) else {
            return None;
        };
        for own in ["ext", "extAppid", "extEnable"] {
            all.remove(own);
        }
        (!all.is_empty()).then_some(Value::Object(all))
    }
}

impl Desired {
    /// A digest of the whole fleet entry (every resolved field, not only what the fingerprint
    /// covers): an edit of any of them gives a new digest.
    pub fn entry_digest(&self) -> String {
        let text = serde_json::to_vec(self).unwrap_or_default();
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &text);
        hex::encode(&digest.as_ref()[..8])
    }
}

/// `hex(sha256(canonical JSON of {template, template_version, version, ext_json}))[..8]`.
///
/// Canonical JSON: keys sorted, no whitespace — the fields below are in key order.
pub fn fingerprint(
    template_id: &str,
    template_version: Option<&str>,
    version: &str,
    ext_json: &str,
) -> String {
    fingerprint_with(template_id, template_version, version, ext_json, None)
}

/// [`fingerprint`] of a build with a privacy guide ([`Privacy::canonical`]) beside its ext; without
/// one the digest is [`fingerprint`]'s, byte for byte.
pub fn fingerprint_with(
    template_id: &str,
    template_version: Option<&str>,
    version: &str,
    ext_json: &str,
    privacy: Option<&str>,
) -> String {
    #[derive(Serialize)]
    struct Canonical<'a> {
        ext_json: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        privacy: Option<&'a str>,
        template: &'a str,
        template_version: Option<&'a str>,
        version: &'a str,
    }
    let canonical = Canonical {
        ext_json,
        privacy,
        template: template_id,
        template_version,
        version,
    };
    // Sized for the escaped ext JSON and the rest; serializing strings into memory cannot fail.
    let extra = privacy.map_or(0, str::len);
    let mut text = Vec::with_capacity((ext_json.len() + extra) * 5 / 4 + 128);
    let _ = serde_json::to_writer(&mut text, &canonical);
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &text);
    hex::encode(&digest.as_ref()[..4])
}

/// The tag that carries a fingerprint inside a platform description: `[mf:1a2b3c4d]`.
pub fn fingerprint_tag(fp: &str) -> String {
    format!("[mf:{fp}]")
}

/// Reads the fingerprint back out of a description written with [`fingerprint_tag`].
pub fn parse_fingerprint(description: &str) -> Option<String> {
    let start = description.rfind("[mf:")? + 4;
    let rest = &description[start..];
    let end = rest.find(']')?;
    let fp = &rest[..end];
    (fp.len() == 8 && fp.bytes().all(|b| b.is_ascii_hexdigit())).then(|| fp.to_ascii_lowercase())
}

/// A build as the platform reports it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Build {
    /// The platform's version string (`user_version` / `app_version`).
    pub version: String,
    /// The fingerprint minifleet put on it, if any.
    pub fingerprint: Option<String>,
    /// The description as the platform reports it.
    pub description: String,
}

impl Build {
    /// In words: `1.4.0 [mf:1a2b3c4d]` (`[mf:--------]` when minifleet did not make it).
    pub fn text(&self) -> String {
        format!(
            "{} [mf:{}]",
            self.version,
            self.fingerprint.as_deref().unwrap_or("--------")
        )
    }
}

impl Live {
    /// In words, with the gray percentage while a gray release runs: `1.4.0 [mf:1a2b3c4d] gray
    /// 10%`.
    pub fn text(&self) -> String {
        match self.gray {
            Some(p) => format!("{} gray {p}%", self.build.text()),
            None => self.build.text(),
        }
    }
}

/// Where an audit stands (WeChat status 0..4; Alipay AUDITING / WAIT_RELEASE / AUDIT_REJECT).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditStatus {
    /// Under review.
    Auditing,
    /// Under review, delayed by the platform (a verdict still follows).
    Delayed,
    /// Approved and releasable.
    Approved,
    /// Rejected; the reason is in [`Audit::reason`].
    Rejected,
    /// Withdrawn by the developer.
    Withdrawn,
}

impl AuditStatus {
    /// The status's stable name (`auditing`, `approved`…).
    pub fn as_str(self) -> &'static str {
        match self {
            AuditStatus::Auditing => "auditing",
            AuditStatus::Delayed => "delayed",
            AuditStatus::Approved => "approved",
            AuditStatus::Rejected => "rejected",
            AuditStatus::Withdrawn => "withdrawn",
        }
    }

    /// Whether the audit still occupies the review slot and awaits a verdict.
    pub fn in_flight(self) -> bool {
        matches!(self, AuditStatus::Auditing | AuditStatus::Delayed)
    }
}

/// The latest audit of an app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Audit {
    /// The platform's audit id (WeChat `auditid`; Alipay the app_version).
    pub id: String,
    /// The build under audit.
    pub build: Build,
    /// Its status.
    pub status: AuditStatus,
    /// Rejection or delay reason, as the platform words it.
    pub reason: Option<String>,
}

/// The released version of an app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Live {
    /// The newest released build (the gray one while a gray plan runs).
    pub build: Build,
    /// `Some(p)` while a gray plan runs with `p` percent of users on [`Live::build`].
    pub gray: Option<u8>,
}

/// What the platform says an app is, read by `Platform::observe`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Observed {
    /// Whether the platform accepts calls for this app on our behalf.
    pub authorized: bool,
    /// The experience (trial) version.
    pub experience: Option<Build>,
    /// The latest audit.
    pub audit: Option<Audit>,
    /// The released version.
    pub live: Option<Live>,
    /// The release before `live`: what a rollback would restore.
    pub previous: Option<Build>,
    /// Tester ids as the platform returns them (WeChat `userstr`).
    pub members: Vec<String>,
    /// Every version the platform keeps for the app, any status (Alipay: a version number can be
    /// built only once and must increase). Empty on WeChat.
    #[serde(default)]
    pub builds: Vec<Build>,
    /// Builds in development (Alipay `INIT`), oldest first: they count against the platform's cap
    /// of development versions. Empty on WeChat.
    #[serde(default)]
    pub dev_builds: Vec<Build>,
    /// A digest of what the platform's cheapest read of the app answered when this was observed
    /// (`Platform::probe`): the same digest later proves that nothing it reveals has changed.
    /// `None` where the platform has no such read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe: Option<String>,
    /// The build (fingerprint) the fleet wanted when this was observed: what a platform reads can
    /// depend on it (WeChat reads the rollback history only when the live build is not the
    /// wanted one; Alipay's experience build is the wanted version's), so the observation proves
    /// nothing for another wanted build. Set by the engine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wanted: Option<String>,
    /// The app's domains, read when the fleet manages them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domains: Option<LiveDomains>,
    /// The app's QR-code jump rules, read when the fleet manages them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jump: Option<LiveJump>,
}

impl Observed {
    /// What the platform shows once the build `fingerprint` was fully released from this state:
    /// that build live (no gray), the one live before as the previous release, nothing else
    /// moved, and no probe digest (the platform's answer changed). `None` when this state does not
    /// hold that build (as the audited, experience or a listed build).
    pub fn after_release(&self, fingerprint: &str) -> Option<Observed> {
        let build = self
            .audit
            .as_ref()
            .map(|a| &a.build)
            .into_iter()
            .chain(self.experience.as_ref())
            .chain(&self.builds)
            .find(|b| b.fingerprint.as_deref() == Some(fingerprint))?
            .clone();
        let mut after = self.clone();
        after.previous = self
            .live
            .as_ref()
            .map(|l| l.build.clone())
            .filter(|old| old.fingerprint != build.fingerprint)
            .or_else(|| self.previous.clone());
        after.live = Some(Live { build, gray: None });
        after.probe = None;
        Some(after)
    }

    /// Whether an audit of the app awaits its verdict.
    pub fn under_review(&self) -> bool {
        self.audit.as_ref().is_some_and(|a| a.status.in_flight())
    }

    /// What the platform shows while `audit`, of the build this process committed and
    /// submitted, is reviewed, taking the rest from this state (read before the commit): that
    /// build in experience, the releases and settings as they were, and no probe digest (the
    /// platform's answer changed). Only minifleet's own writes moved the app since; a hand change
    /// in the meantime shows at the next full observation, and a release it made is answered by
    /// the platform when minifleet's release comes (already released, or nothing approved).
    pub fn awaiting_verdict(&self, audit: Audit) -> Observed {
        Observed {
            authorized: true,
            experience: Some(audit.build.clone()),
            audit: Some(audit),
            probe: None,
            ..self.clone()
        }
    }
}

/// A failure that stops an app until its fingerprint changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// The fingerprint that failed.
    pub fingerprint: String,
    /// The platform call that failed, e.g. `wxa/commit`.
    pub call: String,
    /// The platform's code.
    pub code: String,
    /// What happened, in words.
    pub message: String,
    /// For a failed submission, the digest of the audit settings it was sent with
    /// ([`AuditSpec::digest`]): other settings (fixed audit items) lift the failure too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit: Option<String>,
}

impl Failure {
    /// What failed, in words: `wxa/commit failed with 85013: invalid ext`.
    pub fn words(&self) -> String {
        format!("{} failed with {}: {}", self.call, self.code, self.message)
    }
}

impl Record {
    /// The permanent failure of the setting `key` ([`settings::setting_of`]) for what the fleet
    /// wants of it now (`digest`): none once that changed.
    pub fn setting_failure(&self, key: &str, digest: &str) -> Option<&Failure> {
        self.setting_failures
            .get(key)
            .filter(|f| f.fingerprint == digest)
    }
}

/// Withdrawal counts, for the per-app quota (WeChat: 5 a day, 10 a month).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Withdrawals {
    /// Day number (days since the Unix epoch, Beijing time) of `today`.
    pub day: u64,
    /// Withdrawals made on `day`.
    pub today: u32,
    /// Month number (`year * 12 + month0`, Beijing time) of `this_month`.
    pub month: u64,
    /// Withdrawals made in `month`.
    pub this_month: u32,
}

impl Withdrawals {
    /// Withdrawals made on the day and in the month of `now` (older counters count as zero).
    pub fn used(&self, now: u64) -> (u32, u32) {
        let today = if self.day == beijing_day(now) {
            self.today
        } else {
            0
        };
        let month = if self.month == beijing_month(now) {
            self.this_month
        } else {
            0
        };
        (today, month)
    }

    /// Counts one withdrawal made at `now`.
    pub fn count_one(&mut self, now: u64) {
        let (today, month) = self.used(now);
        *self = Withdrawals {
            day: beijing_day(now),
            today: today + 1,
            month: beijing_month(now),
            this_month: month + 1,
        };
    }
}

/// What minifleet remembers about an app between runs (the store's `apps` tree plus the tester map).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Record {
    /// WeChat wechatid → userstr, learnt from `bind_tester`.
    #[serde(default)]
    pub testers: BTreeMap<String, String>,
    /// Testers known to be bound whose member id the platform would not tell (a verifying bind
    /// that WeChat answered "already bound", 85004): each accounts for one member the map cannot
    /// name.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub unpaired_testers: BTreeSet<String>,
    /// The ext object of the last build minifleet made, for diffs.
    #[serde(default)]
    pub last_ext: Option<Value>,
    /// The fingerprint of the last build minifleet made.
    #[serde(default)]
    pub last_fingerprint: Option<String>,
    /// The other keys of ext.json (beside `ext`) of the last build minifleet made, for diffs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_ext_json: Option<Value>,
    /// A permanent failure for a fingerprint: not retried until the fingerprint changes.
    #[serde(default)]
    pub failure: Option<Failure>,
    /// A fingerprint whose rollback the platform refused (nothing to roll back to): go the long way.
    #[serde(default)]
    pub rollback_refused: Option<String>,
    /// Withdrawal counts for the per-app withdrawal quota.
    #[serde(default)]
    pub withdrawals: Withdrawals,
    /// Passes in a row that ended in a retryable error (transient, conflict); 0 after a clean pass.
    #[serde(default)]
    pub failures: u32,
    /// Unix ms before which automated passes (`--wait`, the daemon) leave the app alone.
    #[serde(default)]
    pub backoff_until_ms: Option<u64>,
    /// The fleet entry the backoff was counted for ([`Desired::entry_digest`]): a changed entry
    /// is not held back by the failures of the old one.
    #[serde(default)]
    pub backoff_entry: Option<String>,
    /// The last error that counted towards the backoff, in words (`wxa/commit failed with -1`).
    #[serde(default)]
    pub last_error: Option<String>,
    /// The state the app's last applying pass planned (`in_sync`…), to tell changes.
    #[serde(default)]
    pub last_state: Option<String>,
    /// A platform quota the app ran into, and when it resets.
    #[serde(default)]
    pub parked: Option<Parked>,
    /// The app's ICP filing was seen done: its readiness is not read again.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub icp_filed: bool,
    /// Why the app's last applying pass was held by the round (it waits for the audit quota, or
    /// the platform says its submission would fail), for `status`, which plans from the store
    /// alone and cannot know.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub round_hold: Option<String>,
    /// The step of a gray walk the app was last seen on, and since when.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gray_mark: Option<GrayMark>,
    /// Permanent failures of settings beside the build, by what failed (`domains`, `qrcode_jump
    /// <prefix>`), each `fingerprint` the digest of what the fleet wanted
    /// ([`Domains::digest`], [`JumpRule::digest`]): not tried again until that changes.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub setting_failures: BTreeMap<String, Failure>,
    /// The prefixes of the QR-code jump rules minifleet added: a rule that leaves the fleet is
    /// deleted only if it is one of these.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub jump_prefixes: BTreeSet<String>,
    /// The fleet revision each of the app's newest builds was committed from, as
    /// `(fingerprint, revision)`, oldest first, at most [`BUILD_REVISIONS`]: `status` names the
    /// commit the live build was made from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub build_revisions: Vec<(String, String)>,
}

/// Builds whose fleet revision a [`Record`] keeps.
pub const BUILD_REVISIONS: usize = 8;

impl Record {
    /// Notes that the build `fingerprint` was committed from the fleet `revision` (if known).
    pub fn note_build_revision(&mut self, fingerprint: &str, revision: Option<&str>) {
        let Some(revision) = revision else {
            return;
        };
        self.build_revisions.retain(|(fp, _)| fp != fingerprint);
        self.build_revisions
            .push((fingerprint.to_owned(), revision.to_owned()));
        let extra = self.build_revisions.len().saturating_sub(BUILD_REVISIONS);
        self.build_revisions.drain(..extra);
    }

    /// The fleet revision the build `fingerprint` was committed from, where known.
    pub fn build_revision(&self, fingerprint: &str) -> Option<&str> {
        self.build_revisions
            .iter()
            .rev()
            .find(|(fp, _)| fp == fingerprint)
            .map(|(_, revision)| revision.as_str())
    }
}

/// An app parked by a platform quota until the quota resets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Parked {
    /// Unix seconds when the quota resets.
    pub until: u64,
    /// The platform call that hit the quota, e.g. `wxa/submit_audit`.
    pub call: String,
    /// The platform's code, e.g. `85085`.
    pub code: String,
    /// What the quota is, in words.
    pub reason: String,
}

/// One thing to do to an app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Action {
    /// Upload the template with this app's ext config as the experience version.
    Commit {
        /// The code version.
        version: String,
        /// The fingerprint of the build.
        fingerprint: String,
    },
    /// Withdraw an in-flight audit of an outdated build.
    WithdrawAudit {
        /// The audit to withdraw.
        audit_id: String,
        /// Its (outdated) fingerprint, if known.
        fingerprint: Option<String>,
    },
    /// Submit the committed build for audit.
    SubmitAudit {
        /// The fingerprint of the build to submit.
        fingerprint: String,
    },
    /// Wait for the platform's verdict; ends the pass for this app.
    WaitForAudit {
        /// The audit waited on.
        audit_id: String,
    },
    /// Release the approved build to every user (also ends a running gray plan).
    Release {
        /// The fingerprint of the build.
        fingerprint: String,
    },
    /// Start or raise a gray release.
    Gray {
        /// The fingerprint of the build.
        fingerprint: String,
        /// The gray percentage currently live, if a plan runs.
        from: Option<u8>,
        /// The wanted percentage.
        to: u8,
    },
    /// Cancel the running gray plan; gray users fall back to the previous release.
    RevertGray,
    /// Roll the live version back to the previous release.
    Rollback {
        /// The fingerprint of the release being restored.
        fingerprint: String,
    },
    /// Delete a stale development build, before the platform's cap on them bites.
    DeleteBuild {
        /// The version to delete.
        version: String,
    },
    /// Add a tester.
    BindTester {
        /// WeChat id / Alipay logon id.
        tester: String,
    },
    /// Make sure a tester is bound when the plan cannot tell whether it is: the store has no
    /// member id for it and the platform lists members it cannot name (a lost tester map).
    /// Applied as a bind for which "already bound" is success; not a change of the plan.
    VerifyTester {
        /// WeChat id / Alipay logon id.
        tester: String,
    },
    /// Set the app's domains: the server kinds given (all six, those the fleet leaves alone as
    /// they are) with one `modify_domain`, the web-view ones with `setwebviewdomain`.
    SetDomains {
        /// The lists to set; a kind left out is not touched.
        domains: Domains,
    },
    /// Set the privacy guide of the build under development (before its submission) or of the
    /// live one (after a release: WeChat copies it over only at the first).
    SetPrivacy {
        /// Whether the live guide (`privacy_ver` 1) is set, else the development one (2).
        live: bool,
    },
    /// Add a QR-code jump rule, or edit the one with its prefix.
    AddJumpRule {
        /// The rule.
        rule: JumpRule,
        /// Whether a rule with this prefix exists (`is_edit`).
        edit: bool,
    },
    /// Publish a jump rule (only once the app has a release): its links open the app.
    PublishJumpRule {
        /// The rule's prefix.
        prefix: String,
    },
    /// Delete a jump rule minifleet added that left the fleet.
    DeleteJumpRule {
        /// The rule's prefix.
        prefix: String,
    },
    /// Remove a tester.
    UnbindTester {
        /// WeChat id / Alipay logon id, where known.
        tester: Option<String>,
        /// The platform's member id (WeChat userstr), where known; without it WeChat unbinds by
        /// the tester's WeChat id.
        member: Option<String>,
    },
}

impl Action {
    /// Whether the action makes a call that may change something on the platform (so it is
    /// applied and journalled).
    pub fn is_mutating(&self) -> bool {
        !matches!(self, Action::WaitForAudit { .. })
    }

    /// Whether the action is a change the plan proposes: mutating, and not a
    /// [`Action::VerifyTester`], which only confirms what is probably so already. `plan
    /// --detailed-exitcode` and the summary's counts go by this.
    pub fn is_change(&self) -> bool {
        self.is_mutating() && !matches!(self, Action::VerifyTester { .. })
    }

    /// Whether the action submits an audit or prepares the submission (the development privacy
    /// guide): a plan held back before its submission is cut at the first such step.
    pub fn is_submission(&self) -> bool {
        matches!(
            self,
            Action::SubmitAudit { .. } | Action::SetPrivacy { live: false }
        )
    }

    /// A short, stable name of the action's kind, as in JSON output and history.
    pub fn kind(&self) -> &'static str {
        match self {
            Action::Commit { .. } => "commit",
            Action::WithdrawAudit { .. } => "withdraw_audit",
            Action::SubmitAudit { .. } => "submit_audit",
            Action::WaitForAudit { .. } => "wait_for_audit",
            Action::Release { .. } => "release",
            Action::Gray { .. } => "gray",
            Action::RevertGray => "revert_gray",
            Action::Rollback { .. } => "rollback",
            Action::DeleteBuild { .. } => "delete_build",
            Action::BindTester { .. } => "bind_tester",
            Action::VerifyTester { .. } => "verify_tester",
            Action::UnbindTester { .. } => "unbind_tester",
            Action::SetDomains { .. } => "set_domains",
            Action::SetPrivacy { .. } => "set_privacy",
            Action::AddJumpRule { .. } => "add_jump_rule",
            Action::PublishJumpRule { .. } => "publish_jump_rule",
            Action::DeleteJumpRule { .. } => "delete_jump_rule",
        }
    }
}

/// An action with the reason for it, in words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// What to do.
    #[serde(flatten)]
    pub action: Action,
    /// Why, in one sentence.
    pub reason: String,
}

/// Where an app stands after planning.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum AppState {
    /// Live state matches the fleet file (up to the app's stage).
    InSync,
    /// Changes are pending.
    Changes,
    /// Nothing to do until the platform decides an audit.
    WaitingOnAudit,
    /// Stopped until the fingerprint changes; the reason says why.
    Failed {
        /// Why, in words, with the platform's reason.
        reason: String,
        /// What the operator can do about it.
        #[serde(default)]
        help: String,
    },
    /// The platform does not accept calls for this app on our behalf.
    NotAuthorized {
        /// Why, and how to fix it.
        reason: String,
    },
    /// `suspend` is set: the app is observed and planned, and nothing of the plan is applied (the
    /// plan's notes say what would be).
    Suspended,
    /// A gray walk holds its current step until the next is due (the plan's `walk` says when).
    Graying,
}

impl AppState {
    /// The state's stable name.
    pub fn name(&self) -> &'static str {
        match self {
            AppState::InSync => "in_sync",
            AppState::Changes => "changes",
            AppState::WaitingOnAudit => "waiting_on_audit",
            AppState::Failed { .. } => "failed",
            AppState::NotAuthorized { .. } => "not_authorized",
            AppState::Suspended => "suspended",
            AppState::Graying => "graying",
        }
    }

    /// Whether a `--wait` loop can stop waiting for this app.
    pub fn is_settled(&self) -> bool {
        matches!(
            self,
            AppState::InSync
                | AppState::Failed { .. }
                | AppState::NotAuthorized { .. }
                | AppState::Suspended
        )
    }
}

/// The ext change a commit makes, for the diff in the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtChange {
    /// The ext of the last build minifleet made, if it remembers one.
    pub before: Option<Value>,
    /// The ext the commit sends.
    pub after: Value,
    /// The other keys of ext.json (beside `ext`) of the last build minifleet made, if it had
    /// any and minifleet remembers them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub others_before: Option<Value>,
    /// The other keys of ext.json the commit sends, if the fleet sets any (`ext_json`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub others_after: Option<Value>,
}

/// The plan for one app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppPlan {
    /// The app's name.
    pub name: String,
    /// The app's id.
    pub appid: String,
    /// The app's platform.
    pub platform: PlatformKind,
    /// The desired version.
    pub version: String,
    /// The desired fingerprint.
    pub fingerprint: String,
    /// Where the app stands.
    #[serde(flatten)]
    pub state: AppState,
    /// What to do, in order.
    pub steps: Vec<Step>,
    /// Explanations that are not steps (platform rules, skipped work).
    pub notes: Vec<String>,
    /// The ext change a planned commit makes.
    pub ext_change: Option<ExtChange>,
    /// Where the app's gray walk stands, while it walks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub walk: Option<WalkView>,
}

impl AppPlan {
    /// Whether a step before the first [`Action::WaitForAudit`] changes anything: what can be
    /// applied now. Steps after a wait are the foreseen rest of the pipeline, so an app that only
    /// waits has no changes pending; nor has an app that only verifies testers.
    pub fn has_changes(&self) -> bool {
        self.steps_now().any(|s| s.action.is_change())
    }

    /// The steps before the first [`Action::WaitForAudit`]: what a pass applies now.
    pub fn steps_now(&self) -> impl Iterator<Item = &Step> {
        self.steps
            .iter()
            .take_while(|s| !matches!(s.action, Action::WaitForAudit { .. }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values computed by the first implementation (a `json!` map serialized): releases carry
    /// them in their descriptions, so they must never change.
    #[test]
    fn labels_are_found_by_key_and_serialize_as_a_map() {
        let map: BTreeMap<String, String> = [("team", "core"), ("region", "east")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let labels = Labels::from(map);
        assert_eq!(labels.get("region"), Some("east"));
        assert_eq!(labels.get("team"), Some("core"));
        assert_eq!(labels.get("tier"), None);
        assert!(!labels.is_empty() && Labels::default().is_empty());
        assert_eq!(
            serde_json::to_string(&labels).unwrap(),
            r#"{"region":"east","team":"core"}"#
        );
    }

    #[test]
    fn fingerprints_keep_their_first_values() {
        assert_eq!(fingerprint("42", None, "1.0.0", "{}"), "9a3ce988");
        let alipay = r#"{"ext":{"a":"x\"y","b":[1,2]},"extEnable":true}"#;
        assert_eq!(
            fingerprint("2021000000000100", Some("0.0.3"), "1.2.3", alipay),
            "ca9d6b0c"
        );
        let wechat =
            r#"{"ext":{"shopId":"\u0001é"},"extAppid":"wx0000000000000001","extEnable":true}"#;
        assert_eq!(fingerprint("7", None, "10.0.1", wechat), "4cd5c82d");
    }

    #[test]
    fn fingerprint_is_short_hex_and_depends_on_every_input() {
        let fp = fingerprint("42", None, "1.0.0", "{}");
        assert_eq!(fp.len(), 8);
        assert!(fp.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(fp, fingerprint("43", None, "1.0.0", "{}"));
        assert_ne!(fp, fingerprint("42", Some("0.0.1"), "1.0.0", "{}"));
        assert_ne!(fp, fingerprint("42", None, "1.0.1", "{}"));
        assert_ne!(fp, fingerprint("42", None, "1.0.0", "{\"a\":1}"));
        assert_eq!(fp, fingerprint("42", None, "1.0.0", "{}"));
    }

    #[test]
    fn withdrawals_reset_with_the_day_and_the_month() {
        let now = 1_796_054_399;
        let mut w = Withdrawals::default();
        w.count_one(now);
        w.count_one(now);
        assert_eq!(w.used(now), (2, 2));
        assert_eq!(w.used(now + 1), (0, 0), "a new day in a new month");
        assert_eq!(w.used(now - 86_400), (0, 2), "the day before, same month");
    }

    #[test]
    fn fingerprint_tag_round_trips() {
        let desc = format!("Spring menu {}", fingerprint_tag("1a2b3c4d"));
        assert_eq!(parse_fingerprint(&desc).as_deref(), Some("1a2b3c4d"));
        assert_eq!(parse_fingerprint("Spring menu"), None);
        assert_eq!(parse_fingerprint("x [mf:zzzzzzzz]"), None);
        assert_eq!(parse_fingerprint("x [mf:1a2b"), None);
    }

    fn built(version: &str, fp: &str) -> Build {
        Build {
            version: version.into(),
            fingerprint: Some(fp.into()),
            description: format!("menu {}", fingerprint_tag(fp)),
        }
    }

    #[test]
    fn an_app_awaiting_its_verdict_shows_the_audited_build_in_experience_and_nothing_else_moved() {
        let before = Observed {
            authorized: true,
            experience: Some(built("1.0.0", "00000001")),
            live: Some(Live {
                build: built("1.0.0", "00000001"),
                gray: None,
            }),
            members: vec!["m1".into()],
            probe: Some("digest".into()),
            wanted: Some("00000002".into()),
            ..Observed::default()
        };
        let audit = Audit {
            id: "7".into(),
            build: built("1.1.0", "00000002"),
            status: AuditStatus::Auditing,
            reason: None,
        };
        let during = before.awaiting_verdict(audit.clone());
        assert_eq!(during.experience.as_ref(), Some(&audit.build));
        assert_eq!(during.audit.as_ref(), Some(&audit));
        assert_eq!(during.probe, None, "the platform's answer changed");
        assert_eq!(
            (&during.live, &during.members, &during.wanted),
            (&before.live, &before.members, &before.wanted)
        );
    }
}
