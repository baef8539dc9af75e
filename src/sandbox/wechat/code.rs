//! Code management of one mini program, the state machine of spec §2.3: commit → privacy scan →
//! audit (verdict decided lazily after `audit_delay_ms`) → release / gray (increase-only) →
//! revert gray / roll back one step.

use serde_json::{Value, json};

use super::routes::Req;
use super::state::{
    App, AuditRecord, AuditState, Commit, Decision, Global, GrayPlan, GrayStatus, Quota, Release,
    World, WxError, WxResult, beijing_day, beijing_month,
};
use crate::fleet::SandboxSpec;

/// Withdrawals allowed per app and Beijing day.
const WITHDRAW_PER_DAY: u32 = 5;
/// Withdrawals allowed per app and Beijing month.
const WITHDRAW_PER_MONTH: u32 = 10;
/// Speed-up quota reported by `queryquota` (the sandbox has no speed-up).
const SPEEDUP_LIMIT: u32 = 10;
/// Versions `get_history_version` lists at most.
const HISTORY_LEN: usize = 5;

impl World {
    /// Decides every in-flight audit of `appid` older than the audit delay.
    pub fn settle(&mut self, appid: &str, spec: &SandboxSpec, now: u64) {
        let Some(app) = self.apps.get_mut(appid) else {
            return;
        };
        let mut changed = false;
        for audit in app.audits.iter_mut().filter(|a| a.status.in_flight()) {
            if audit.submit_ms + spec.audit_delay_ms <= now {
                match reject_reason(spec, &audit.build) {
                    Some(reason) => {
                        audit.status = AuditState::Rejected;
                        audit.reason = reason;
                    }
                    None => audit.status = AuditState::Approved,
                }
                changed = true;
                if self.queue_decisions {
                    self.decided.push(Decision {
                        appid: appid.to_string(),
                        status: audit.status,
                        reason: audit.reason.clone(),
                    });
                }
            }
        }
        if changed {
            self.dirty_apps.insert(appid.to_string());
        }
    }

    /// The app and the global state, both marked as changed.
    pub(super) fn parts(&mut self, appid: &str) -> Result<(&mut Global, &mut App), WxError> {
        let app = self.apps.get_mut(appid).ok_or_else(not_authorized)?;
        self.dirty_apps.insert(appid.to_string());
        self.dirty_global = true;
        Ok((&mut self.global, app))
    }
}

/// The reason of the first reject rule whose `when_ext` pairs all equal the build's ext.
fn reject_reason(spec: &SandboxSpec, build: &Commit) -> Option<String> {
    let ext = build.ext();
    spec.reject
        .iter()
        .find(|rule| rule.when_ext.iter().all(|(k, v)| ext.get(k) == Some(v)))
        .map(|rule| rule.reason.clone())
}

fn not_authorized() -> WxError {
    WxError::new(61003, "component is not authorized by this account")
}

fn app<'a>(world: &'a World, req: &Req) -> Result<&'a App, WxError> {
    world.apps.get(req.appid).ok_or_else(not_authorized)
}

fn app_mut<'a>(world: &'a mut World, req: &Req) -> Result<&'a mut App, WxError> {
    world.app_mut(req.appid).ok_or_else(not_authorized)
}

fn secs(ms: u64) -> u64 {
    ms / 1000
}

/// The keys a normal template's ext.json may carry (spec/wechat.md §2.1).
const EXT_JSON_KEYS: [&str; 14] = [
    "directCommit",
    "ext",
    "extAppid",
    "extEnable",
    "extPages",
    "navigateToMiniProgramAppIdList",
    "networkTimeout",
    "pages",
    "plugins",
    "requiredPrivateInfos",
    "subPackages",
    "tabBar",
    "window",
    "functionPages",
];

/// WeChat's checks of a commit's ext.json: known keys only (85013), every tab with a page
/// (85046).
fn check_ext_json(ext: &Value) -> Result<(), WxError> {
    let keys = ext.as_object().into_iter().flat_map(|m| m.keys());
    if let Some(unknown) = keys
        .into_iter()
        .find(|k| !EXT_JSON_KEYS.contains(&k.as_str()))
    {
        return Err(WxError::new(
            85013,
            format!("invalid custom config: unknown ext_json key {unknown}"),
        ));
    }
    let tabs = ext
        .pointer("/tabBar/list")
        .and_then(Value::as_array)
        .into_iter()
        .flatten();
    if tabs
        .into_iter()
        .any(|tab| tab.get("pagePath").and_then(Value::as_str).is_none())
    {
        return Err(WxError::new(85046, "tabBar item has no pagePath"));
    }
    Ok(())
}

/// `POST wxa/commit`.
pub fn commit(world: &mut World, req: &Req) -> WxResult {
    let template_id = req
        .body
        .get("template_id")
        .and_then(Value::as_u64)
        .ok_or_else(|| WxError::new(85014, "template_id is invalid: expected a number"))?;
    let ext_json = req
        .body
        .get("ext_json")
        .and_then(Value::as_str)
        .ok_or_else(|| WxError::new(85048, "ext_json is invalid: expected a JSON string"))?;
    let ext: Value = serde_json::from_str(ext_json)
        .ok()
        .filter(Value::is_object)
        .ok_or_else(|| WxError::new(85048, "ext_json is invalid: not a JSON object"))?;
    if ext.get("extAppid").and_then(Value::as_str) != Some(req.appid) {
        return Err(WxError::new(
            85013,
            "invalid custom config: extAppid does not match the app",
        ));
    }
    check_ext_json(&ext)?;
    let text = |key: &str| {
        req.body
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let build = Commit {
        template_id,
        ext_json: ext_json.to_string(),
        user_version: text("user_version"),
        user_desc: text("user_desc"),
        commit_ms: req.now,
        scan_done_ms: req.now + req.spec.privacy_scan_ms,
    };
    app_mut(world, req)?.experience = Some(build);
    Ok(json!({}))
}

/// The experience build whose privacy scan is over: 85086 nothing committed, 61039 scanning.
fn scanned_experience(app: &App, now: u64) -> Result<&Commit, WxError> {
    let build = app
        .experience
        .as_ref()
        .ok_or_else(|| WxError::new(85086, "must commit before submit audit"))?;
    if build.scan_done_ms > now {
        return Err(WxError::new(
            61039,
            "privacy api check task is not finished, please wait",
        ));
    }
    Ok(build)
}

/// `GET wxa/security/get_code_privacy_info`.
pub fn code_privacy_info(world: &mut World, req: &Req) -> WxResult {
    let build = scanned_experience(app(world, req)?, req.now)?;
    Ok(json!({
        "without_auth_list": [],
        "without_conf_list": undeclared(build, req),
    }))
}

/// The APIs the template's code calls (`privacy_apis`) that `build`'s ext.json does not declare
/// in `requiredPrivateInfos`, as the scan names them (`wx.getLocation`).
fn undeclared(build: &Commit, req: &Req) -> Vec<String> {
    let ext: Value = serde_json::from_str(&build.ext_json).unwrap_or_default();
    let declared: Vec<&str> = ext
        .get("requiredPrivateInfos")
        .and_then(Value::as_array)
        .map(|l| l.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    req.spec
        .privacy_apis
        .iter()
        .filter(|api| !declared.contains(&api.as_str()))
        .map(|api| format!("wx.{api}"))
        .collect()
}

/// Audits used in the current month.
fn quota_used(quota: &Quota, now: u64) -> u32 {
    if quota.month == beijing_month(now) {
        quota.used
    } else {
        0
    }
}

fn check_item_list(body: &Value) -> Result<(), WxError> {
    let Some(items) = body.get("item_list") else {
        return Ok(());
    };
    let ok = items
        .as_array()
        .is_some_and(|l| (1..=5).contains(&l.len()) && l.iter().all(Value::is_object));
    if ok {
        Ok(())
    } else {
        Err(WxError::new(85006, "item_list is invalid: 1 to 5 items"))
    }
}

/// `POST wxa/submit_audit`.
pub fn submit_audit(world: &mut World, req: &Req) -> WxResult {
    let limit = req.spec.audit_quota;
    let (global, app) = world.parts(req.appid)?;
    let build = scanned_experience(app, req.now)?.clone();
    check_item_list(req.body)?;
    if let Some(api) = undeclared(&build, req).first() {
        return Err(WxError::new(
            61040,
            format!("privacy api {api} is not configured in requiredPrivateInfos"),
        ));
    }
    super::settings::check_guide(app, &build, req.spec)?;
    super::settings::check_items(&build, req.body)?;
    if app.latest_audit().is_some_and(|a| a.status.in_flight()) {
        return Err(WxError::new(85009, "already has an auditing version"));
    }
    let used = quota_used(&global.quota, req.now);
    if used >= limit {
        return Err(WxError::new(
            85085,
            "submit audit reach limit, please check quota",
        ));
    }
    global.quota = Quota {
        month: beijing_month(req.now),
        used: used + 1,
    };
    global.last_auditid += 1;
    let auditid = global.last_auditid;
    app.audits.push(AuditRecord {
        auditid,
        build,
        status: AuditState::Auditing,
        reason: String::new(),
        submit_ms: req.now,
    });
    Ok(json!({ "auditid": auditid }))
}

fn audit_json(audit: &AuditRecord) -> Value {
    json!({
        "auditid": audit.auditid,
        "status": audit.status.code(),
        "reason": audit.reason,
        "ScreenShot": "",
        "user_version": audit.build.user_version,
        "user_desc": audit.build.user_desc,
        "submit_audit_time": secs(audit.submit_ms),
    })
}

/// `GET wxa/get_latest_auditstatus`.
pub fn latest_auditstatus(world: &mut World, req: &Req) -> WxResult {
    app(world, req)?
        .latest_audit()
        .map(audit_json)
        .ok_or_else(|| WxError::new(85058, "no valid audit_id exist"))
}

/// `POST wxa/get_auditstatus` `{auditid}`.
pub fn get_auditstatus(world: &mut World, req: &Req) -> WxResult {
    let id = req.body.get("auditid").and_then(Value::as_u64);
    let audit = app(world, req)?
        .audits
        .iter()
        .find(|a| Some(a.auditid) == id)
        .ok_or_else(|| WxError::new(85012, "invalid audit_id"))?;
    let mut out = audit_json(audit);
    out["screenshot"] = json!("");
    Ok(out)
}

/// `GET wxa/undocodeaudit`: withdraws the in-flight audit, at most 5 a day and 10 a month.
pub fn undocodeaudit(world: &mut World, req: &Req) -> WxResult {
    let app = app_mut(world, req)?;
    let in_flight = app.latest_audit().is_some_and(|a| a.status.in_flight());
    if !in_flight {
        return Err(WxError::new(85058, "no valid audit_id exist"));
    }
    let (day, month) = (beijing_day(req.now), beijing_month(req.now));
    let counts = &mut app.withdrawals;
    if counts.day != day {
        (counts.day, counts.today) = (day, 0);
    }
    if counts.month != month {
        (counts.month, counts.this_month) = (month, 0);
    }
    if counts.today >= WITHDRAW_PER_DAY || counts.this_month >= WITHDRAW_PER_MONTH {
        return Err(WxError::new(
            87013,
            "undo audit reach limit: 5 per day and 10 per month",
        ));
    }
    counts.today += 1;
    counts.this_month += 1;
    if let Some(audit) = app.audits.last_mut() {
        audit.status = AuditState::Withdrawn;
    }
    Ok(json!({}))
}

/// The latest audit when it is approved: 85019 nothing ever approved, 85020 latest not approved.
fn releasable(app: &App) -> Result<AuditRecord, WxError> {
    if !app.audits.iter().any(|a| a.status == AuditState::Approved) {
        return Err(WxError::new(85019, "no approved version to release"));
    }
    match app.latest_audit() {
        Some(a) if a.status == AuditState::Approved => Ok(a.clone()),
        _ => Err(WxError::new(
            85020,
            "status not allowed: the latest audit is not approved",
        )),
    }
}

fn new_release(global: &mut Global, audit: &AuditRecord, now: u64) -> Release {
    global.last_app_version += 1;
    Release {
        app_version: global.last_app_version,
        auditid: audit.auditid,
        build: audit.build.clone(),
        release_ms: now,
    }
}

/// Puts `audit`'s build live: a running gray build is replaced (it was never fully out),
/// otherwise the old live build becomes the previous release.
fn put_live(global: &mut Global, app: &mut App, audit: &AuditRecord, now: u64) {
    let release = new_release(global, audit, now);
    let old = app.live.replace(release);
    super::settings::on_release(app, old.is_none() && app.previous.is_empty());
    if !app.gray_running() {
        app.previous.extend(old);
    }
    app.last_was_rollback = false;
}

fn already_released() -> WxError {
    WxError::new(85052, "app is already released")
}

/// `POST wxa/release` `{}`: the approved build goes live at 100 %.
pub fn release(world: &mut World, req: &Req) -> WxResult {
    let (global, app) = world.parts(req.appid)?;
    let audit = releasable(app)?;
    let live_is_audit = app.live.as_ref().map(|l| l.auditid) == Some(audit.auditid);
    if live_is_audit && !app.gray_running() {
        return Err(already_released());
    }
    if !live_is_audit {
        put_live(global, app, &audit, req.now);
    }
    if app.gray_running() {
        app.gray.status = GrayStatus::Finished;
        app.gray.percentage = 100;
    }
    app.last_was_rollback = false;
    Ok(json!({}))
}

fn gray_percentage(body: &Value) -> Result<u8, WxError> {
    body.get("gray_percentage")
        .and_then(Value::as_u64)
        .filter(|p| (1..=100).contains(p))
        .map(|p| p as u8)
        .ok_or_else(|| WxError::new(85081, "invalid gray percentage: an integer 1..=100"))
}

/// `POST wxa/grayrelease`: starts or raises the gray plan of the approved build.
pub fn grayrelease(world: &mut World, req: &Req) -> WxResult {
    let pct = gray_percentage(req.body)?;
    let flag = |k: &str| req.body.get(k).and_then(Value::as_bool).unwrap_or(false);
    let (global, app) = world.parts(req.appid)?;
    let Some(live) = app.live.as_ref() else {
        return Err(WxError::new(85079, "miniprogram has no online release"));
    };
    let audit =
        releasable(app).map_err(|_| WxError::new(85080, "miniprogram commit not approved"))?;
    let same_build = live.auditid == audit.auditid;
    match (app.gray_running(), same_build) {
        (true, true) if pct <= app.gray.percentage => {
            return Err(WxError::new(
                85082,
                "current gray percentage is higher than or equal to the new one",
            ));
        }
        (true, true) => app.gray.percentage = pct,
        (false, true) => return Err(already_released()),
        (_, false) => {
            put_live(global, app, &audit, req.now);
            app.gray = GrayPlan {
                status: GrayStatus::Running,
                create_ms: req.now,
                percentage: pct,
                experiencer_first: flag("support_experiencer_first"),
                debuger_first: flag("support_debuger_first"),
            };
        }
    }
    if pct == 100 {
        app.gray.status = GrayStatus::Finished;
    }
    Ok(json!({}))
}

/// `GET wxa/getgrayreleaseplan`.
pub fn getgrayreleaseplan(world: &mut World, req: &Req) -> WxResult {
    let plan = app(world, req)?.gray;
    Ok(json!({ "gray_release_plan": {
        "status": plan.status.code(),
        "create_timestamp": secs(plan.create_ms),
        "gray_percentage": plan.percentage,
        "support_experiencer_first": plan.experiencer_first,
        "support_debuger_first": plan.debuger_first,
    }}))
}

/// `GET wxa/revertgrayrelease`: everyone back on the pre-gray release; no plan → no-op.
pub fn revertgrayrelease(world: &mut World, req: &Req) -> WxResult {
    revert_gray(app_mut(world, req)?);
    Ok(json!({}))
}

/// Ends `app`'s running gray plan, its users back on the pre-gray release; returns whether one
/// ran (also what the merchant's console does).
pub fn revert_gray(app: &mut App) -> bool {
    let running = app.gray_running();
    if running {
        app.live = app.previous.pop();
        app.gray.status = GrayStatus::Deleted;
    }
    running
}

/// `GET wxa/revertcoderelease` (or `?action=get_history_version`).
pub fn revertcoderelease(world: &mut World, req: &Req) -> WxResult {
    match req.query.get("action").map(String::as_str) {
        None => rollback(world, req),
        Some("get_history_version") => history(world, req),
        Some(_) => Err(WxError::new(40097, "invalid args: unknown action")),
    }
}

fn rollback(world: &mut World, req: &Req) -> WxResult {
    let app = app_mut(world, req)?;
    if app.gray_running() {
        return Err(WxError::new(
            87011,
            "gray release in progress, cannot roll back",
        ));
    }
    if app.last_was_rollback || app.previous.is_empty() {
        return Err(WxError::new(
            87012,
            "no version to roll back to: no previous release, or already rolled back",
        ));
    }
    app.live = app.previous.pop();
    app.last_was_rollback = true;
    Ok(json!({}))
}

fn history(world: &mut World, req: &Req) -> WxResult {
    let list: Vec<Value> = app(world, req)?
        .previous
        .iter()
        .rev()
        .take(HISTORY_LEN)
        .map(|r| {
            json!({
                "app_version": r.app_version,
                "user_version": r.build.user_version,
                "user_desc": r.build.user_desc,
                "commit_time": secs(r.build.commit_ms),
            })
        })
        .collect();
    Ok(json!({ "version_list": list }))
}

/// `POST wxa/getversioninfo` `{}`.
pub fn getversioninfo(world: &mut World, req: &Req) -> WxResult {
    let app = app(world, req)?;
    let mut out = json!({});
    if let Some(exp) = &app.experience {
        out["exp_info"] = json!({
            "exp_time": secs(exp.commit_ms),
            "exp_version": exp.user_version,
            "exp_desc": exp.user_desc,
        });
    }
    if let Some(live) = &app.live {
        out["release_info"] = json!({
            "release_time": secs(live.release_ms),
            "release_version": live.build.user_version,
            "release_desc": live.build.user_desc,
        });
    }
    Ok(out)
}

/// `POST wxa/icp/get_icp_entrance_info`: the app's ICP filing status (6 filed unless the admin
/// endpoint set another).
pub fn icp_entrance_info(world: &mut World, req: &Req) -> WxResult {
    let status = world.global.icp.get(req.appid).copied().unwrap_or(6);
    Ok(json!({
        "info": { "status": status, "available": true, "audit_data": [] },
    }))
}

/// `GET wxa/queryquota`: the component's monthly audit quota.
pub fn queryquota(world: &mut World, req: &Req) -> WxResult {
    let limit = req.spec.audit_quota;
    let used = quota_used(&world.global.quota, req.now);
    Ok(json!({
        "rest": limit.saturating_sub(used),
        "limit": limit,
        "speedup_rest": SPEEDUP_LIMIT,
        "speedup_limit": SPEEDUP_LIMIT,
    }))
}
