//! The simulated WeChat world as plain data: the component-wide state, one record per authorized
//! mini program, and the errcode type the handlers return. Everything here serializes to the store.

pub use crate::sandbox::{now_ms, random_token};
use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// A WeChat error answer: `{errcode, errmsg}` with HTTP 200.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WxError {
    /// The errcode.
    pub code: i64,
    /// The errmsg.
    pub msg: String,
}

impl WxError {
    /// An error with this code and message.
    pub fn new(code: i64, msg: impl Into<String>) -> WxError {
        WxError {
            code,
            msg: msg.into(),
        }
    }

    /// The JSON body WeChat answers with.
    pub fn body(&self) -> Value {
        json!({ "errcode": self.code, "errmsg": self.msg })
    }
}

/// What a handler returns: the success fields, or an errcode.
pub type WxResult = Result<Value, WxError>;

/// A credential the simulator handed out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuedToken {
    /// The token text.
    pub value: String,
    /// Unix milliseconds after which the token is expired.
    pub expires_at_ms: u64,
}

/// The monthly, component-wide audit quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Quota {
    /// Month number (`year * 12 + month0`, Beijing time) the count belongs to.
    pub month: u64,
    /// Audits submitted in `month`.
    pub used: u32,
}

/// A pending `api_query_auth` authorization code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthCode {
    /// The authorizing mini program.
    pub appid: String,
    /// Unix milliseconds after which the code is expired.
    pub expires_at_ms: u64,
}

/// State shared by every app of the component (the `wechat/global` blob).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Global {
    /// Secret mixed into `userstr` values, stable across restarts.
    pub secret: String,
    /// Every authorized appid (the index of the per-app blobs).
    pub appids: BTreeSet<String>,
    /// Valid verify tickets per component appid, newest last.
    pub tickets: BTreeMap<String, Vec<IssuedToken>>,
    /// Live component access tokens per component appid, newest last.
    pub component_tokens: BTreeMap<String, Vec<IssuedToken>>,
    /// Pre-auth codes handed out, newest last.
    pub preauth_codes: Vec<IssuedToken>,
    /// Authorization codes waiting for `api_query_auth`, by code.
    pub auth_codes: BTreeMap<String, AuthCode>,
    /// The monthly audit quota.
    pub quota: Quota,
    /// The last audit id handed out (ids are global and increasing).
    pub last_auditid: u64,
    /// The last app_version handed out to a release.
    pub last_app_version: u64,
    /// ICP filing statuses set over the admin endpoint, by appid; an app not listed is filed
    /// (`6`).
    #[serde(default)]
    pub icp: BTreeMap<String, u32>,
}

/// A committed build (the experience version, or the build inside an audit or a release).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Commit {
    /// The template id.
    pub template_id: u64,
    /// The ext_json string as committed.
    pub ext_json: String,
    /// `user_version`.
    pub user_version: String,
    /// `user_desc`.
    pub user_desc: String,
    /// Unix milliseconds of the commit.
    pub commit_ms: u64,
    /// Unix milliseconds when the privacy scan finishes.
    pub scan_done_ms: u64,
}

impl Commit {
    /// The `ext` object inside the ext_json (Null when absent).
    pub fn ext(&self) -> Value {
        serde_json::from_str::<Value>(&self.ext_json)
            .ok()
            .and_then(|v| v.get("ext").cloned())
            .unwrap_or(Value::Null)
    }
}

/// An audit's status, with WeChat's numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditState {
    /// 0: approved.
    Approved,
    /// 1: rejected.
    Rejected,
    /// 2: under review.
    Auditing,
    /// 3: withdrawn by the developer.
    Withdrawn,
    /// 4: delayed (a verdict still follows).
    Delayed,
}

impl AuditState {
    /// WeChat's status number.
    pub fn code(self) -> u8 {
        match self {
            AuditState::Approved => 0,
            AuditState::Rejected => 1,
            AuditState::Auditing => 2,
            AuditState::Withdrawn => 3,
            AuditState::Delayed => 4,
        }
    }

    /// Whether the audit still occupies the review slot.
    pub fn in_flight(self) -> bool {
        matches!(self, AuditState::Auditing | AuditState::Delayed)
    }
}

/// One audit submission.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// The global audit id.
    pub auditid: u64,
    /// The build under audit.
    pub build: Commit,
    /// Its status.
    pub status: AuditState,
    /// Rejection reason (empty otherwise).
    pub reason: String,
    /// Unix milliseconds of the submission.
    pub submit_ms: u64,
}

/// A released build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Release {
    /// The platform's release number (`app_version` in the history).
    pub app_version: u64,
    /// The audit that approved it.
    pub auditid: u64,
    /// The build.
    pub build: Commit,
    /// Unix milliseconds of the release.
    pub release_ms: u64,
}

/// The status of a gray plan, with WeChat's numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrayStatus {
    /// 0: no plan.
    #[default]
    None,
    /// 1: running.
    Running,
    /// 3: finished (everyone on the gray build).
    Finished,
    /// 4: deleted (reverted).
    Deleted,
}

impl GrayStatus {
    /// WeChat's status number.
    pub fn code(self) -> u8 {
        match self {
            GrayStatus::None => 0,
            GrayStatus::Running => 1,
            GrayStatus::Finished => 3,
            GrayStatus::Deleted => 4,
        }
    }
}

/// The app's gray release plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct GrayPlan {
    /// Its status.
    pub status: GrayStatus,
    /// Unix milliseconds when the plan started.
    pub create_ms: u64,
    /// Percent of users on the gray build.
    pub percentage: u8,
    /// Experience members get the gray build first.
    pub experiencer_first: bool,
    /// Debuggers get the gray build first.
    pub debuger_first: bool,
}

/// Withdrawal counters (Beijing day and month).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct WithdrawCount {
    /// Day number of `today`.
    pub day: u64,
    /// Withdrawals on `day`.
    pub today: u32,
    /// Month number of `this_month`.
    pub month: u64,
    /// Withdrawals in `month`.
    pub this_month: u32,
}

/// A bound experience member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tester {
    /// The WeChat id it was bound with.
    pub wechatid: String,
    /// The opaque member id.
    pub userstr: String,
}

/// One authorized mini program (the `wechat/app/<appid>` blob).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct App {
    /// The mini program's appid.
    pub appid: String,
    /// Its current authorizer refresh token.
    pub refresh_token: String,
    /// Authorizer access tokens handed out, newest last.
    pub access_tokens: Vec<IssuedToken>,
    /// Unix milliseconds of the authorization.
    pub auth_ms: u64,
    /// The experience version.
    pub experience: Option<Commit>,
    /// Every audit, oldest first.
    pub audits: Vec<AuditRecord>,
    /// The newest released build (the gray one while a gray plan runs).
    pub live: Option<Release>,
    /// Earlier releases, newest last: the last one is what a rollback restores.
    pub previous: Vec<Release>,
    /// The gray plan.
    pub gray: GrayPlan,
    /// Whether the last release operation was a rollback (a second one is refused).
    pub last_was_rollback: bool,
    /// Withdrawal counters.
    pub withdrawals: WithdrawCount,
    /// Bound experience members.
    pub testers: Vec<Tester>,
    /// Whether the merchant revoked the authorization (calls for it fail until re-authorized).
    #[serde(default)]
    pub revoked: bool,
    /// Domains by field (`requestdomain` … `tcpdomain`, `webviewdomain`).
    #[serde(default)]
    pub domains: BTreeMap<String, Vec<String>>,
    /// Domains fields the merchant set by hand in the console: a release made through the
    /// component clears them (WeChat keeps only the component's domains).
    #[serde(default)]
    pub hand_domains: BTreeSet<String>,
    /// Privacy guides by version (`1` live, `2` development).
    #[serde(default)]
    pub privacy: BTreeMap<u8, Guide>,
    /// QR-code jump rules by prefix.
    #[serde(default)]
    pub jump_rules: BTreeMap<String, super::jump::Rule>,
}

/// A privacy guide as `setprivacysetting` set it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Guide {
    /// `owner_setting`, as sent.
    pub owner: Value,
    /// privacy_key → privacy_text.
    pub texts: BTreeMap<String, String>,
}

impl App {
    /// A freshly authorized app with nothing committed.
    pub fn new(appid: &str, refresh_token: String, now: u64) -> App {
        App {
            appid: appid.to_string(),
            refresh_token,
            access_tokens: Vec::new(),
            auth_ms: now,
            experience: None,
            audits: Vec::new(),
            live: None,
            previous: Vec::new(),
            gray: GrayPlan::default(),
            last_was_rollback: false,
            withdrawals: WithdrawCount::default(),
            testers: Vec::new(),
            revoked: false,
            domains: BTreeMap::new(),
            hand_domains: BTreeSet::new(),
            privacy: BTreeMap::new(),
            jump_rules: BTreeMap::new(),
        }
    }

    /// The latest audit, if any.
    pub fn latest_audit(&self) -> Option<&AuditRecord> {
        self.audits.last()
    }

    /// Whether a gray plan is running.
    pub fn gray_running(&self) -> bool {
        self.gray.status == GrayStatus::Running
    }
}

/// The whole simulated platform, plus bookkeeping of what changed since the last save.
#[derive(Debug, Default)]
pub struct World {
    /// Component-wide state.
    pub global: Global,
    /// Authorized apps by appid.
    pub apps: BTreeMap<String, App>,
    /// Authorizer access token → appid.
    pub(super) token_index: HashMap<String, String>,
    /// Whether `global` changed since the last save.
    pub(super) dirty_global: bool,
    /// Apps changed since the last save.
    pub(super) dirty_apps: BTreeSet<String>,
    /// Audit verdicts reached since the pusher last looked (only kept while pushes are on).
    pub(super) decided: Vec<Decision>,
    /// Whether verdicts are queued in `decided` for the pusher.
    pub(super) queue_decisions: bool,
}

/// An audit verdict, queued for the audit-result push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The app.
    pub appid: String,
    /// Approved or rejected.
    pub status: AuditState,
    /// The rejection reason (empty when approved).
    pub reason: String,
}

impl World {
    /// A world built from saved parts (the token index is rebuilt).
    pub fn from_parts(global: Global, apps: BTreeMap<String, App>) -> World {
        let token_index = apps
            .values()
            .flat_map(|app| {
                app.access_tokens
                    .iter()
                    .map(|t| (t.value.clone(), app.appid.clone()))
            })
            .collect();
        World {
            global,
            apps,
            token_index,
            dirty_global: false,
            dirty_apps: BTreeSet::new(),
            decided: Vec::new(),
            queue_decisions: false,
        }
    }

    /// Marks the global blob as changed.
    pub fn touch_global(&mut self) {
        self.dirty_global = true;
    }

    /// The app, marked as changed; `None` when it was never authorized.
    pub fn app_mut(&mut self, appid: &str) -> Option<&mut App> {
        let app = self.apps.get_mut(appid)?;
        self.dirty_apps.insert(appid.to_string());
        Some(app)
    }

    /// Takes the set of changed blobs: (global changed, changed appids).
    pub fn take_dirty(&mut self) -> (bool, BTreeSet<String>) {
        let global = std::mem::take(&mut self.dirty_global);
        (global, std::mem::take(&mut self.dirty_apps))
    }
}

const BEIJING_OFFSET_MS: u64 = 8 * 3600 * 1000;

/// Days since the Unix epoch, Beijing time (UTC+8).
pub fn beijing_day(now_ms: u64) -> u64 {
    (now_ms + BEIJING_OFFSET_MS) / 86_400_000
}

/// Month number `year * 12 + month0`, Beijing time.
pub fn beijing_month(now_ms: u64) -> u64 {
    let (year, month) = civil_from_days(beijing_day(now_ms) as i64);
    (year as u64) * 12 + (month as u64 - 1)
}

/// (year, month 1..=12) of a day number (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beijing_calendar_is_utc_plus_eight() {
        // 2024-01-31T16:00:00Z = 2024-02-01 00:00 in Beijing.
        let ms = 1_706_716_800_000;
        assert_eq!(beijing_month(ms), 2024 * 12 + 1);
        assert_eq!(beijing_month(ms - 1), 2024 * 12);
        assert_eq!(beijing_day(ms), beijing_day(ms - 1) + 1);
        assert_eq!(civil_from_days(0), (1970, 1));
    }

    #[test]
    fn commit_ext_reads_the_ext_object() {
        let commit = Commit {
            template_id: 1,
            ext_json: r#"{"extAppid":"wx1","ext":{"a":1}}"#.into(),
            user_version: "1.0.0".into(),
            user_desc: String::new(),
            commit_ms: 0,
            scan_done_ms: 0,
        };
        assert_eq!(commit.ext(), json!({"a": 1}));
    }
}
