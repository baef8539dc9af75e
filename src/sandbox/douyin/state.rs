//! The simulated Douyin world, without I/O or a clock (times come in as unix ms): the component
//! tickets and tokens, each app's authorization and tokens, and its versions — the test version,
//! the one audit slot, the live version and the rollback — with the state machine and blocking
//! codes of spec/douyin.md §3–4.

pub use crate::sandbox::{now_ms, random_token};
use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::fleet::SandboxSpec;

/// The host apps the sandbox offers every submission, with their display names.
pub const HOSTS: [(&str, &str); 6] = [
    ("toutiao", "今日头条"),
    ("tt_lite", "今日头条lite"),
    ("douyin", "抖音"),
    ("douyin_lite", "抖音lite"),
    ("xigua", "西瓜视频"),
    ("huoshan", "抖音火山版"),
];

/// A ticket lives 3 h.
pub const TICKET_TTL_MS: u64 = 3 * 3600 * 1000;
/// A refresh token lives 30 days.
pub const REFRESH_TTL_MS: u64 = 30 * 24 * 3600 * 1000;
/// An authorization code lives 1 h.
pub const CODE_TTL_MS: u64 = 3600 * 1000;

/// A Douyin error: `err_no` and `err_msg`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DyError {
    /// The code.
    pub code: i64,
    /// Its message.
    pub msg: String,
}

/// `Err(DyError)` with `code` and `msg`.
pub fn fail<T>(code: i64, msg: &str) -> Result<T, DyError> {
    Err(DyError {
        code,
        msg: msg.to_owned(),
    })
}

/// A token with its expiry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Issued {
    /// The token.
    pub value: String,
    /// Unix ms.
    pub expires_ms: u64,
}

impl Issued {
    fn live(&self, now: u64) -> bool {
        now < self.expires_ms
    }
}

/// What is not per app: tickets and component tokens by component.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Global {
    /// The current ticket of each component.
    pub tickets: BTreeMap<String, Issued>,
    /// The newest component tokens of each component (two stay valid).
    pub component_tokens: BTreeMap<String, Vec<Issued>>,
    /// Every app that has a blob.
    pub appids: BTreeSet<String>,
}

/// An uploaded build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Build {
    /// `user_version`.
    pub version: String,
    /// `user_desc`.
    pub summary: String,
    /// The ext_json text.
    pub ext_json: String,
    /// The template.
    pub template_id: i64,
    /// Unix seconds.
    pub ctime: u64,
}

/// The audit slot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditSlot {
    /// The build in review.
    pub build: Build,
    /// The hosts submitted.
    pub hosts: Vec<String>,
    /// When it was submitted (ms).
    pub submitted_ms: u64,
    /// 0 auditing, 1 approved, 2 rejected, 3 revoked.
    pub status: i64,
    /// Released already.
    pub has_publish: bool,
    /// Rejection reason.
    pub reason: String,
    /// Taken down after release: cannot be released again.
    pub illegal: bool,
}

/// A live version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Release {
    /// The build.
    pub build: Build,
    /// The hosts it shows on.
    pub hosts: Vec<String>,
}

/// One mini-program.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct App {
    /// Authorized to the third-party application.
    pub authorized: bool,
    /// The live refresh token (single use).
    pub refresh: Option<Issued>,
    /// The live access tokens (the newest last).
    pub access: Vec<Issued>,
    /// Unused authorization codes.
    pub codes: Vec<Issued>,
    /// The test version (`latest`).
    pub latest: Option<Build>,
    /// Whether the test version was submitted.
    pub latest_has_audit: bool,
    /// The audit slot.
    pub audit: Option<AuditSlot>,
    /// The live version.
    pub current: Option<Release>,
    /// The release before it, while a rollback is possible.
    pub previous: Option<Release>,
    /// A rollback accepted and not yet in effect: when it takes effect (ms).
    pub rollback_at_ms: Option<u64>,
    /// The live version was taken down.
    pub has_down: bool,
    /// The last submission (ms), for the 11301 throttle.
    pub last_submit_ms: u64,
    /// The last rollback (ms), for the 11501 throttle.
    pub last_rollback_ms: u64,
}

/// An audit verdict reached (for the pusher).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The app.
    pub appid: String,
    /// Approved.
    pub approved: bool,
    /// The hosts.
    pub hosts: Vec<String>,
    /// The reason (empty when approved).
    pub reason: String,
}

/// The whole world.
#[derive(Debug, Default)]
pub struct World {
    /// Tickets and component tokens.
    pub global: Global,
    /// Apps by appid.
    pub apps: BTreeMap<String, App>,
    dirty_global: bool,
    dirty_apps: BTreeSet<String>,
    /// Verdicts reached and not pushed yet (when pushes are on).
    pub verdicts: Vec<Verdict>,
    /// Whether verdicts are queued for pushing.
    pub queue_verdicts: bool,
}

/// The delays the sandbox compresses: the audit, and the throttles and the rollback's delay
/// (real: 10 s, 10 min, 3–5 min), all at most `audit_delay`.
pub struct Timing {
    /// The audit's duration.
    pub audit_ms: u64,
    /// Between submissions (real 10 s).
    pub submit_gap_ms: u64,
    /// Between rollbacks (real 10 min).
    pub rollback_gap_ms: u64,
    /// Until a rollback takes effect (real 3–5 min).
    pub rollback_delay_ms: u64,
}

impl Timing {
    /// The timing of `spec`.
    pub fn of(spec: &SandboxSpec) -> Timing {
        let d = spec.audit_delay_ms;
        Timing {
            audit_ms: d,
            submit_gap_ms: d.min(10_000),
            rollback_gap_ms: d.min(600_000),
            rollback_delay_ms: d.min(300_000),
        }
    }
}

/// The display name of host `code`.
pub fn display(code: &str) -> &str {
    HOSTS
        .iter()
        .find(|(c, _)| *c == code)
        .map_or(code, |(_, d)| *d)
}

impl World {
    /// A world from what was saved.
    pub fn from_parts(global: Global, apps: BTreeMap<String, App>) -> World {
        World {
            global,
            apps,
            ..World::default()
        }
    }

    /// What changed since the last call: the global blob, and the apps.
    pub fn take_dirty(&mut self) -> (bool, BTreeSet<String>) {
        (
            std::mem::take(&mut self.dirty_global),
            std::mem::take(&mut self.dirty_apps),
        )
    }

    fn app_mut(&mut self, appid: &str) -> &mut App {
        if self.global.appids.insert(appid.to_owned()) {
            self.dirty_global = true;
        }
        self.dirty_apps.insert(appid.to_owned());
        self.apps.entry(appid.to_owned()).or_default()
    }

    /// Issues a fresh ticket for `component` (the old one dies).
    pub fn issue_ticket(&mut self, component: &str, now: u64) -> String {
        let ticket = format!("ticket@@@{}", random_token(32));
        self.global.tickets.insert(
            component.to_owned(),
            Issued {
                value: ticket.clone(),
                expires_ms: now + TICKET_TTL_MS,
            },
        );
        self.dirty_global = true;
        ticket
    }

    /// Mints a component token (`auth/tp/token`): the ticket must be the current one and
    /// fresh. Only the two newest tokens stay valid (UNCONFIRMED: no grace period is simulated).
    pub fn component_token(
        &mut self,
        component: &str,
        secret: &str,
        ticket: &str,
        ttl_ms: u64,
        now: u64,
    ) -> Result<(String, u64), DyError> {
        if component.is_empty() || ticket.is_empty() {
            return fail(
                40001,
                "invalid param: component_appid and component_ticket are required",
            );
        }
        if secret.is_empty() {
            return fail(40038, "invalid component_appsecret");
        }
        let valid = self
            .global
            .tickets
            .get(component)
            .is_some_and(|t| t.value == ticket && t.live(now));
        if !valid {
            return fail(40037, "invalid component_ticket");
        }
        let token = format!("clt.{}", random_token(32));
        let list = self
            .global
            .component_tokens
            .entry(component.to_owned())
            .or_default();
        list.push(Issued {
            value: token.clone(),
            expires_ms: now + ttl_ms,
        });
        let keep = list.len().saturating_sub(2);
        list.drain(..keep);
        self.dirty_global = true;
        Ok((token, ttl_ms / 1000))
    }

    /// Whether `token` is a live component token.
    pub fn component_token_valid(&self, token: &str, now: u64) -> bool {
        self.global
            .component_tokens
            .values()
            .flatten()
            .any(|t| t.value == token && t.live(now))
    }

    /// A merchant authorizes `appid`: a fresh refresh token (any older one dies).
    pub fn authorize(&mut self, appid: &str, now: u64) -> String {
        let app = self.app_mut(appid);
        app.authorized = true;
        let token = format!("isvrft.{appid}.{}", random_token(24));
        app.refresh = Some(Issued {
            value: token.clone(),
            expires_ms: now + REFRESH_TTL_MS,
        });
        token
    }

    /// A merchant authorizes `appid` through the page: an authorization code (1 h, single use).
    pub fn authorization_code(&mut self, appid: &str, now: u64) -> String {
        let app = self.app_mut(appid);
        app.authorized = true;
        let code = format!("code.{appid}.{}", random_token(24));
        app.codes.push(Issued {
            value: code.clone(),
            expires_ms: now + CODE_TTL_MS,
        });
        code
    }

    /// `retrieve_auth_code`: a new code for an authorized app.
    pub fn retrieve_code(&mut self, appid: &str, now: u64) -> Result<String, DyError> {
        if !self.apps.get(appid).is_some_and(|a| a.authorized) {
            return fail(
                20040022,
                "app is not authorized to this third-party application",
            );
        }
        Ok(self.authorization_code(appid, now))
    }

    /// The merchant revokes the authorization: every token of `appid` dies.
    pub fn deauthorize(&mut self, appid: &str) {
        let app = self.app_mut(appid);
        app.authorized = false;
        app.refresh = None;
        app.access.clear();
        app.codes.clear();
    }

    /// `get_auth_token`: exchanges a code or a refresh token for new tokens; the refresh token
    /// rotates (the used one dies).
    pub fn auth_token(
        &mut self,
        grant_type: &str,
        credential: &str,
        ttl_ms: u64,
        now: u64,
    ) -> Result<Value, DyError> {
        // Tokens and codes carry their app (`kind.<appid>.<random>`); the app's record decides.
        let appid = credential.split('.').nth(1).unwrap_or_default().to_owned();
        let app = self.apps.get(&appid);
        match grant_type {
            "app_to_tp_authorization_code" => {
                let live = app
                    .is_some_and(|a| a.codes.iter().any(|c| c.value == credential && c.live(now)));
                if !live {
                    return fail(40018, "authorization_code is invalid or expired");
                }
            }
            "app_to_tp_refresh_token" => {
                let live = app.is_some_and(|a| {
                    a.refresh
                        .as_ref()
                        .is_some_and(|r| r.value == credential && r.live(now))
                });
                if !live {
                    return fail(40021, "authorizer_refresh_token is invalid or expired");
                }
            }
            _ => return fail(40040, "invalid grant_type"),
        }
        if !app.is_some_and(|a| a.authorized) {
            return fail(
                40022,
                "app is not authorized to this third-party application",
            );
        }
        let app = self.app_mut(&appid);
        app.codes.retain(|c| c.value != credential && c.live(now));
        let access = format!("isvact.{appid}.{}", random_token(24));
        let refresh = format!("isvrft.{appid}.{}", random_token(24));
        app.refresh = Some(Issued {
            value: refresh.clone(),
            expires_ms: now + REFRESH_TTL_MS,
        });
        app.access.retain(|t| t.live(now));
        app.access.push(Issued {
            value: access.clone(),
            expires_ms: now + ttl_ms,
        });
        let keep = app.access.len().saturating_sub(2);
        app.access.drain(..keep);
        Ok(json!({
            "authorizer_access_token": access,
            "expires_in": ttl_ms / 1000,
            "authorizer_refresh_token": refresh,
            "refresh_expires_in": REFRESH_TTL_MS / 1000,
            "authorizer_appid": appid,
            "authorize_permission": [
                { "id": 1, "category": "开发管理", "description": "development" },
                { "id": 2, "category": "基本信息设置", "description": "basic information" }
            ]
        }))
    }

    /// The app an authorizer access token belongs to, if it is live.
    pub fn app_of(&self, token: &str, now: u64) -> Result<String, DyError> {
        let appid = token.split('.').nth(1).unwrap_or_default();
        let live = self.apps.get(appid).is_some_and(|a| {
            a.authorized && a.access.iter().any(|t| t.value == token && t.live(now))
        });
        if live {
            Ok(appid.to_owned())
        } else {
            fail(28001008, "access_token is invalid or expired")
        }
    }

    /// Expires every access token of `appid`.
    pub fn expire_access(&mut self, appid: &str, now: u64) {
        for token in &mut self.app_mut(appid).access {
            token.expires_ms = token.expires_ms.min(now);
        }
    }

    /// Decides an audit whose time has come and applies a due rollback; the verdict reached.
    pub fn settle(&mut self, appid: &str, spec: &SandboxSpec, now: u64) -> Option<Verdict> {
        let timing = Timing::of(spec);
        let due_rollback = self
            .apps
            .get(appid)
            .and_then(|a| a.rollback_at_ms)
            .is_some_and(|at| now >= at);
        let due_audit = self
            .apps
            .get(appid)
            .and_then(|a| a.audit.as_ref())
            .is_some_and(|a| {
                a.status == 0 && now >= a.submitted_ms.saturating_add(timing.audit_ms)
            });
        if !due_rollback && !due_audit {
            return None;
        }
        let app = self.app_mut(appid);
        if due_rollback {
            app.rollback_at_ms = None;
            if let Some(previous) = app.previous.take() {
                app.current = Some(previous);
            }
        }
        let audit = app.audit.as_mut().filter(|_| due_audit)?;
        let reason = reject_reason(spec, &audit.build);
        audit.status = if reason.is_some() { 2 } else { 1 };
        audit.reason = reason.clone().unwrap_or_default();
        let verdict = Verdict {
            appid: appid.to_owned(),
            approved: reason.is_none(),
            hosts: audit.hosts.clone(),
            reason: reason.unwrap_or_default(),
        };
        if self.queue_verdicts {
            self.verdicts.push(verdict.clone());
        }
        Some(verdict)
    }

    /// `upload`: the test version.
    pub fn upload(&mut self, appid: &str, body: &Value, now: u64) -> Result<Build, DyError> {
        let template_id = body.get("template_id").and_then(Value::as_i64).unwrap_or(0);
        if template_id <= 0 {
            return fail(40029, "template not found");
        }
        let text = |k: &str| body.get(k).and_then(Value::as_str).unwrap_or_default();
        let (version, summary, ext_json) =
            (text("user_version"), text("user_desc"), text("ext_json"));
        if version.is_empty() || summary.is_empty() {
            return fail(
                40001,
                "invalid param: user_version and user_desc are required",
            );
        }
        let ext: Value = serde_json::from_str(ext_json).map_err(|_| DyError {
            code: 40001,
            msg: "invalid param: ext_json is not JSON".into(),
        })?;
        if ext.get("extEnable") != Some(&Value::Bool(true))
            || ext.get("extAppid").and_then(Value::as_str) != Some(appid)
        {
            return fail(
                40001,
                "invalid param: ext_json needs extEnable true and extAppid of this app",
            );
        }
        let build = Build {
            version: version.to_owned(),
            summary: summary.to_owned(),
            ext_json: ext_json.to_owned(),
            template_id,
            ctime: now / 1000,
        };
        let app = self.app_mut(appid);
        app.latest = Some(build.clone());
        app.latest_has_audit = false;
        Ok(build)
    }

    /// `audit`: submits the test version for the given hosts.
    pub fn submit(
        &mut self,
        appid: &str,
        body: &Value,
        timing: &Timing,
        now: u64,
    ) -> Result<Build, DyError> {
        let hosts: Vec<String> = body
            .get("host_names")
            .and_then(Value::as_array)
            .map(|h| {
                h.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        if hosts.is_empty() || hosts.iter().any(|h| !HOSTS.iter().any(|(c, _)| c == h)) {
            return fail(11307, "host_names must name hosts of get_audit_hosts");
        }
        let resubmit = body.get("audit_way").and_then(Value::as_i64) == Some(1);
        let app = self.apps.get(appid).cloned().unwrap_or_default();
        if app.audit.as_ref().is_some_and(|a| a.status == 0) {
            return fail(11303, "a version is already in review");
        }
        if app.last_submit_ms > 0 && now < app.last_submit_ms + timing.submit_gap_ms {
            return fail(11301, "submitting too frequently, retry in 10 seconds");
        }
        let build = if resubmit {
            match app.audit.as_ref().filter(|a| a.status == 2) {
                Some(a) => a.build.clone(),
                None => return fail(11302, "no rejected version to resubmit"),
            }
        } else {
            match app.latest.clone() {
                Some(b) => b,
                None => return fail(11302, "no test version"),
            }
        };
        let app = self.app_mut(appid);
        app.audit = Some(AuditSlot {
            build: build.clone(),
            hosts,
            submitted_ms: now,
            status: 0,
            has_publish: false,
            reason: String::new(),
            illegal: false,
        });
        app.latest_has_audit = true;
        app.last_submit_ms = now;
        Ok(build)
    }

    /// `revoke_audit`.
    pub fn revoke(&mut self, appid: &str) -> Result<Build, DyError> {
        let slot = self.apps.get(appid).and_then(|a| a.audit.clone());
        match slot {
            None => fail(11600, "no version in review"),
            Some(a) if a.status == 3 => fail(11601, "already revoked"),
            Some(a) if a.status != 0 => fail(11603, "the review is finished and cannot be revoked"),
            Some(a) => {
                if let Some(audit) = self.app_mut(appid).audit.as_mut() {
                    audit.status = 3;
                }
                Ok(a.build)
            }
        }
    }

    /// `release`: the approved version goes live on its hosts, 100 %.
    pub fn release(&mut self, appid: &str) -> Result<Build, DyError> {
        let app = self.apps.get(appid).cloned().unwrap_or_default();
        let audit = match app.audit {
            None => return fail(11402, "no audited version"),
            Some(a) if a.status == 0 => return fail(11403, "the version is still in review"),
            Some(a) if a.status != 1 || a.has_publish => {
                return fail(11402, "no audited version to release");
            }
            Some(a) if a.illegal => {
                return fail(11401, "the app was recently taken down: audit again");
            }
            Some(a) => a,
        };
        let app = self.app_mut(appid);
        let release = Release {
            build: audit.build.clone(),
            hosts: audit.hosts.clone(),
        };
        app.previous = app.current.replace(release);
        app.rollback_at_ms = None;
        app.has_down = false;
        if let Some(slot) = app.audit.as_mut() {
            slot.has_publish = true;
        }
        Ok(audit.build)
    }

    /// `rollback`: to the release before, after `rollback_delay`; one per release.
    pub fn rollback(&mut self, appid: &str, timing: &Timing, now: u64) -> Result<Build, DyError> {
        let app = self.apps.get(appid).cloned().unwrap_or_default();
        if app.last_rollback_ms > 0 && now < app.last_rollback_ms + timing.rollback_gap_ms {
            return fail(11501, "rolling back too frequently, retry in 10 minutes");
        }
        let Some(previous) = app.previous.filter(|_| app.rollback_at_ms.is_none()) else {
            return fail(10003, "no release to roll back to");
        };
        let app = self.app_mut(appid);
        app.rollback_at_ms = Some(now + timing.rollback_delay_ms);
        app.last_rollback_ms = now;
        Ok(previous.build)
    }

    /// Douyin takes the live version down.
    pub fn take_down(&mut self, appid: &str) {
        let app = self.app_mut(appid);
        app.has_down = true;
        let live = app.current.as_ref().map(|c| c.build.version.clone());
        if let Some(audit) = app
            .audit
            .as_mut()
            .filter(|a| Some(&a.build.version) == live.as_ref())
        {
            audit.illegal = true;
        }
        app.previous = None;
    }

    /// `versions`' `data`.
    pub fn versions(&self, appid: &str) -> Value {
        let Some(app) = self.apps.get(appid) else {
            return json!({});
        };
        let base = |b: &Build| {
            json!({ "version": b.version, "summary": b.summary, "ctime": b.ctime,
                    "categories": [], "developer_id": "sandbox", "version_tag": "" })
        };
        let mut data = serde_json::Map::new();
        if let Some(latest) = &app.latest {
            let mut v = base(latest);
            v["has_audit"] = json!(u8::from(app.latest_has_audit));
            v["screenshot"] = json!("");
            data.insert("latest".into(), v);
        }
        if let Some(audit) = &app.audit {
            let mut v = base(&audit.build);
            v["status"] = json!(audit.status);
            v["has_publish"] = json!(u8::from(audit.has_publish));
            let names: Vec<&str> = audit.hosts.iter().map(|h| display(h)).collect();
            v["approved_apps"] = json!(if audit.status == 1 {
                names.clone()
            } else {
                Vec::new()
            });
            v["reason"] = json!(audit.reason);
            let detail: serde_json::Map<String, Value> = if audit.status == 2 {
                names
                    .iter()
                    .map(|n| ((*n).to_owned(), json!([audit.reason])))
                    .collect()
            } else {
                serde_json::Map::new()
            };
            v["reason_detail"] = Value::Object(detail);
            v["is_illegal_version"] = json!(audit.illegal);
            data.insert("audit".into(), v);
        }
        if let Some(current) = &app.current {
            let mut v = base(&current.build);
            let names: Vec<&str> = current.hosts.iter().map(|h| display(h)).collect();
            v["approved_apps"] = json!(names);
            v["not_approved_apps"] = json!([]);
            v["has_down"] = json!(u8::from(app.has_down));
            v["uid"] = json!("sandbox");
            v["reason"] = json!("");
            v["reason_detail"] = json!({});
            let can = app.previous.is_some() && app.rollback_at_ms.is_none() && !app.has_down;
            let last = app
                .previous
                .as_ref()
                .map(|p| p.build.version.clone())
                .unwrap_or_default();
            v["rollback"] = json!({ "can_rollback": can, "last_version": if can { last } else { String::new() } });
            data.insert("current".into(), v);
        }
        Value::Object(data)
    }

    /// `get_audit_hosts`' `data`.
    /// `basic_info/get_qr_code {version, path?}`: a signed, expiring URL of the version's QR
    /// code; 40030 when there is no such version.
    pub fn qr_code(&self, appid: &str, body: &Value) -> Result<Value, DyError> {
        let app = self.apps.get(appid);
        let exists = match body["version"].as_str() {
            Some("latest") => app.is_some_and(|a| a.latest.is_some()),
            Some("audit") => app.is_some_and(|a| a.audit.is_some()),
            Some("current") => app.is_some_and(|a| a.current.is_some()),
            _ => return fail(40014, "`version` must be latest, audit or current"),
        };
        if !exists {
            return fail(40030, "the QR code is empty: no such version");
        }
        let path = body["path"].as_str().unwrap_or_default();
        let url = format!(
            "https://sandbox.invalid/douyin/qr?app={appid}&path={}&x-expires=3600",
            path.replace('&', "%26")
        );
        Ok(json!({ "qr_code_url": url }))
    }

    pub fn audit_hosts(&self, appid: &str) -> Value {
        let released: Vec<String> = self
            .apps
            .get(appid)
            .and_then(|a| a.current.as_ref())
            .map(|c| c.hosts.clone())
            .unwrap_or_default();
        json!({ "host_names": HOSTS.iter().map(|(c, _)| *c).collect::<Vec<_>>(), "released_host_names": released })
    }
}

/// The reason of the first reject rule whose `when_ext` pairs all equal the build's ext.
fn reject_reason(spec: &SandboxSpec, build: &Build) -> Option<String> {
    let ext: Value = serde_json::from_str(&build.ext_json).ok()?;
    let ext = ext.get("ext")?.as_object()?;
    spec.reject
        .iter()
        .find(|rule| rule.when_ext.iter().all(|(k, v)| ext.get(k) == Some(v)))
        .map(|rule| rule.reason.clone())
}
