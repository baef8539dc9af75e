//! The version APIs of the simulated gateway: upload → build → experience → audit → gray → online,
//! with cancel, rollback, offline, delete and the list/detail queries (spec §2–§3).
//!
//! Sub-codes the real platform documents are used as is. Where it documents none, the simulator
//! answers `VERSION_STATUS_ERROR` (a call not allowed in the version's status),
//! `DEV_VERSION_OVER_LIMIT` (the 20 development versions cap, which the real gateway reports only
//! as the text "开发中版本超过最大数量") and `NO_ROLLBACK_VERSION` (nothing released before).

use serde_json::{Map, Value, json};

use super::gateway::Req;
use super::state::{AliError, AliResult, App, Version, World};
use super::wire::{Status, timestamp, version_key};

use Status::{AuditReject, Auditing, Gray, Init, Offline, Release, WaitRelease};

/// Most development (`INIT`) versions an app may hold.
pub const MAX_DEV_VERSIONS: usize = 20;

/// The text field `name`, if present and not empty.
pub fn text<'a>(req: &'a Req, name: &str) -> Option<&'a str> {
    match req.biz.get(name)? {
        Value::String(s) if !s.trim().is_empty() => Some(s.as_str()),
        _ => None,
    }
}

fn ok() -> AliResult {
    Ok(Map::new())
}

fn fields(value: Value) -> AliResult {
    match value {
        Value::Object(map) => Ok(map),
        _ => ok(),
    }
}

fn status_error(version: &Version, call: &str) -> AliError {
    AliError::business(
        "VERSION_STATUS_ERROR",
        &format!(
            "版本状态不允许此操作: {} is {}, {call} is not allowed",
            version.app_version,
            version.status.wire()
        ),
    )
}

fn app_version<'a>(req: &'a Req) -> Result<&'a str, AliError> {
    text(req, "app_version")
        .ok_or_else(|| AliError::business("APP_VERSION_IS_BLANK", "app_version 不能为空"))
}

fn not_found(app_version: &str) -> AliError {
    AliError::business(
        "MINI_APP_PACKAGE_INFO_NOT_EXIST",
        &format!("小程序包信息不存在: {app_version}"),
    )
}

/// The app's version named by `app_version`.
fn version_of<'w>(world: &'w mut World, req: &Req) -> Result<&'w mut Version, AliError> {
    let wanted = app_version(req)?;
    world
        .app_mut(req.appid)
        .version_mut(wanted)
        .ok_or_else(|| not_found(wanted))
}

/// `alipay.open.mini.version.upload`.
pub fn upload(world: &mut World, req: &Req) -> AliResult {
    let template_id = text(req, "template_id")
        .ok_or_else(|| AliError::business("TEMPLATE_ID_IS_BLANK", "template_id 不能为空"))?;
    let wanted = app_version(req)?;
    let key = version_key(wanted).ok_or_else(|| {
        AliError::business(
            "VERSION_EXCEEDED_LENGTH",
            &format!("版本号格式错误: `{wanted}` must be x.y.z, each part ≤ 2147483647"),
        )
    })?;
    let ext = text(req, "ext").unwrap_or("");
    if !ext.is_empty() && serde_json::from_str::<Value>(ext).is_err() {
        return Err(AliError::business(
            "INVALID_EXT_JSON",
            "ext 不是合法的 JSON",
        ));
    }
    let app = world.app_mut(req.appid);
    check_new_version(app, wanted, key)?;
    app.versions.push(Version {
        app_version: wanted.to_string(),
        status: Init,
        template_id: template_id.to_string(),
        template_version: text(req, "template_version").map(str::to_string),
        ext: ext.to_string(),
        uploaded_ms: req.now,
        experience: false,
        version_desc: None,
        audit_applied_ms: None,
        reject_reason: None,
        gray_strategy: None,
    });
    let status = app
        .versions
        .last()
        .map_or(0, |v| v.create_status(req.spec, req.now));
    fields(build_fields(status))
}

/// The version must be above every existing one, and the dev-version cap not reached. A deleted
/// version no longer exists, so its number can be uploaded again while it is above the rest:
/// minifleet rebuilds a development build whose content it cannot tell that way. Unverified: the
/// spec (spec/alipay.md §3) says only that deleted versions do not count against the cap and that
/// a new version must be above the highest *existing* one; whether Alipay still remembers a
/// deleted number for `VERSION_HAS_EXISTED` is not documented.
fn check_new_version(app: &App, wanted: &str, key: [u32; 3]) -> Result<(), AliError> {
    if let Some(highest) = app.versions.iter().map(Version::key).max()
        && key <= highest
    {
        return Err(AliError::business(
            "VERSION_HAS_EXISTED",
            &format!("版本号已存在或低于当前最高版本: {wanted}"),
        ));
    }
    let dev = app.versions.iter().filter(|v| v.status == Init).count();
    if dev >= MAX_DEV_VERSIONS {
        return Err(AliError::business(
            "DEV_VERSION_OVER_LIMIT",
            "开发中版本超过最大数量",
        ));
    }
    Ok(())
}

fn build_fields(create_status: u8) -> Value {
    let build_status = if create_status == 6 { 2 } else { create_status };
    json!({
        "create_status": create_status.to_string(),
        "build_status": build_status.to_string(),
        "need_rotation": (create_status != 6).to_string(),
        "version_created": (create_status == 6).to_string(),
    })
}

/// `alipay.open.mini.version.build.query`.
pub fn build_query(world: &mut World, req: &Req) -> AliResult {
    let version = version_of(world, req)?;
    fields(build_fields(version.create_status(req.spec, req.now)))
}

/// The version, which must be fully built.
fn built<'w>(world: &'w mut World, req: &Req) -> Result<&'w mut Version, AliError> {
    let version = version_of(world, req)?;
    if version.create_status(req.spec, req.now) != 6 {
        return Err(not_found(&version.app_version));
    }
    Ok(version)
}

/// `alipay.open.mini.experience.create`: the newest experience version replaces the others.
pub fn experience_create(world: &mut World, req: &Req) -> AliResult {
    let wanted = built(world, req)?.app_version.clone();
    for version in &mut world.app_mut(req.appid).versions {
        version.experience = version.app_version == wanted;
    }
    ok()
}

/// `alipay.open.mini.experience.query`.
pub fn experience_query(world: &mut World, req: &Req) -> AliResult {
    let version = version_of(world, req)?;
    let (status, url) = if version.experience {
        (
            "expVersionPackged",
            format!("https://sandbox.invalid/exp?v={}", version.app_version),
        )
    } else {
        ("notExpVersion", String::new())
    };
    fields(json!({"status": status, "exp_qr_code_url": url}))
}

/// `alipay.open.mini.version.audit.apply` (flat params).
pub fn audit_apply(world: &mut World, req: &Req) -> AliResult {
    let desc = text(req, "version_desc").unwrap_or("");
    let len = desc.chars().count();
    if len == 0 {
        return Err(AliError::business(
            "VERSION_DESC_IS_BLANK",
            "版本描述不能为空",
        ));
    }
    if !(30..=500).contains(&len) {
        return Err(AliError::business(
            "VERSION_DESC_IS_BLANK",
            "版本描述长度须在 30 到 500 个字符之间",
        ));
    }
    if let Some(region) = text(req, "region_type")
        && !matches!(region, "GLOBAL" | "CHINA" | "LOCATION")
    {
        return Err(AliError::business(
            "REGION_TYPE_IS_INVALID",
            "region_type 只能是 GLOBAL / CHINA / LOCATION",
        ));
    }
    let wanted = app_version(req)?.to_string();
    let app = world.app_mut(req.appid);
    if app.versions.iter().any(|v| v.status.holds_review_slot()) {
        return Err(AliError::business(
            "CAN_NOT_SUBMIT_WITH_AUDIT_GRAY",
            "存在审核中、待上架、审核驳回或灰度中的版本，不能提交审核",
        ));
    }
    let version = app.version_mut(&wanted).ok_or_else(|| not_found(&wanted))?;
    if version.create_status(req.spec, req.now) != 6 {
        return Err(not_found(&wanted));
    }
    if version.status != Init {
        return Err(status_error(version, "audit.apply"));
    }
    version.status = Auditing;
    version.version_desc = Some(desc.to_string());
    version.audit_applied_ms = Some(req.now);
    version.reject_reason = None;
    fields(json!({"speed_up": "false", "speed_up_memo": ""}))
}

/// Moves the version from one of `from` back to `INIT`.
fn back_to_init(world: &mut World, req: &Req, from: &[Status], call: &str) -> AliResult {
    let version = version_of(world, req)?;
    if !from.contains(&version.status) {
        return Err(status_error(version, call));
    }
    version.status = Init;
    version.audit_applied_ms = None;
    version.reject_reason = None;
    ok()
}

/// `alipay.open.mini.version.audit.cancel`: AUDITING → INIT.
pub fn audit_cancel(world: &mut World, req: &Req) -> AliResult {
    back_to_init(world, req, &[Auditing], "audit.cancel")
}

/// `alipay.open.mini.version.audited.cancel`: WAIT_RELEASE / AUDIT_REJECT → INIT.
pub fn audited_cancel(world: &mut World, req: &Req) -> AliResult {
    back_to_init(
        world,
        req,
        &[WaitRelease, AuditReject, Status::BaseAuditPass],
        "audited.cancel",
    )
}

fn gray_percent(strategy: &str) -> Option<u8> {
    match strategy {
        "p10" => Some(10),
        "p30" => Some(30),
        "p50" => Some(50),
        _ => None,
    }
}

/// `alipay.open.mini.version.gray.online`: WAIT_RELEASE → GRAY, or a wider GRAY.
pub fn gray_online(world: &mut World, req: &Req) -> AliResult {
    let strategy = text(req, "gray_strategy")
        .ok_or_else(|| AliError::business("GRAY_STRATEGY_IS_BLANK", "灰度策略不能为空"))?;
    let invalid = || AliError::business("GRAY_STRATEGY_IS_INVALID", "灰度策略不合法");
    let wanted = gray_percent(strategy).ok_or_else(invalid)?;
    let version = version_of(world, req)?;
    match version.status {
        WaitRelease | Status::BaseAuditPass => {}
        Gray => {
            let current = version.gray_strategy.as_deref().and_then(gray_percent);
            if current.is_some_and(|p| wanted <= p) {
                return Err(invalid());
            }
        }
        _ => return Err(status_error(version, "gray.online")),
    }
    version.status = Gray;
    version.gray_strategy = Some(strategy.to_string());
    ok()
}

/// `alipay.open.mini.version.gray.cancel`: GRAY → WAIT_RELEASE.
pub fn gray_cancel(world: &mut World, req: &Req) -> AliResult {
    let version = version_of(world, req)?;
    if version.status != Gray {
        return Err(status_error(version, "gray.cancel"));
    }
    version.status = WaitRelease;
    version.gray_strategy = None;
    ok()
}

/// `alipay.open.mini.version.online`: WAIT_RELEASE / GRAY → RELEASE; the old release goes OFFLINE.
pub fn online(world: &mut World, req: &Req) -> AliResult {
    let wanted = app_version(req)?.to_string();
    let app = world.app_mut(req.appid);
    let version = app.version(&wanted).ok_or_else(|| not_found(&wanted))?;
    if !matches!(version.status, WaitRelease | Gray | Status::BaseAuditPass) {
        return Err(status_error(version, "online"));
    }
    for version in &mut app.versions {
        if version.status == Release {
            version.status = Offline;
        }
        if version.app_version == wanted {
            version.status = Release;
            version.gray_strategy = None;
        }
    }
    app.releases.push(wanted);
    ok()
}

/// `alipay.open.mini.version.rollback`: the current release goes OFFLINE, the one before returns.
pub fn rollback(world: &mut World, req: &Req) -> AliResult {
    let wanted = app_version(req)?.to_string();
    let app = world.app_mut(req.appid);
    let version = app.version(&wanted).ok_or_else(|| not_found(&wanted))?;
    if version.status != Release {
        return Err(status_error(version, "rollback"));
    }
    let previous = app.releases.iter().rev().nth(1).cloned();
    let Some(previous) = previous.filter(|p| app.version(p).is_some()) else {
        return Err(AliError::business(
            "NO_ROLLBACK_VERSION",
            "没有可回滚的版本",
        ));
    };
    app.releases.pop();
    for version in &mut app.versions {
        if version.app_version == wanted {
            version.status = Offline;
        } else if version.app_version == previous {
            version.status = Release;
        }
    }
    ok()
}

/// `alipay.open.mini.version.offline`: RELEASE → OFFLINE.
pub fn offline(world: &mut World, req: &Req) -> AliResult {
    let version = version_of(world, req)?;
    if version.status != Release {
        return Err(status_error(version, "offline"));
    }
    version.status = Offline;
    ok()
}

/// `alipay.open.mini.version.delete`: INIT only. The version is gone, number included (see
/// [`check_new_version`] for why that is an assumption).
pub fn delete(world: &mut World, req: &Req) -> AliResult {
    let wanted = app_version(req)?.to_string();
    let app = world.app_mut(req.appid);
    let version = app.version(&wanted).ok_or_else(|| not_found(&wanted))?;
    if version.status != Init {
        return Err(status_error(version, "delete"));
    }
    app.versions.retain(|v| v.app_version != wanted);
    ok()
}

/// `alipay.open.mini.version.list.query`: no `version_status` → no infos list.
pub fn list_query(world: &mut World, req: &Req) -> AliResult {
    let Some(filter) = text(req, "version_status") else {
        return ok();
    };
    let wanted: Vec<&str> = filter.split(',').map(str::trim).collect();
    let app = world.app_mut(req.appid);
    let mut versions: Vec<&Version> = app
        .versions
        .iter()
        .filter(|v| wanted.contains(&v.status.wire()))
        .collect();
    versions.sort_by_key(|v| std::cmp::Reverse(v.key()));
    let infos: Vec<Value> = versions
        .iter()
        .map(|v| {
            json!({
                "app_version": v.app_version,
                "bundle_id": "com.alipay.alipaywallet",
                "version_status": v.status.wire(),
                "version_description": v.version_desc.clone().unwrap_or_default(),
                "create_time": timestamp(v.uploaded_ms),
            })
        })
        .collect();
    fields(json!({"app_version_infos": infos}))
}

/// `alipay.open.mini.version.detail.query`.
pub fn detail_query(world: &mut World, req: &Req) -> AliResult {
    let version = version_of(world, req)?;
    let mut detail = json!({
        "app_version": version.app_version,
        "status": version.status.wire(),
        "version_desc": version.version_desc.clone().unwrap_or_default(),
        "gmt_create": timestamp(version.uploaded_ms),
    });
    if let Some(strategy) = &version.gray_strategy {
        detail["gray_strategy"] = json!(strategy);
    }
    if let Some(reason) = &version.reject_reason {
        detail["reject_reason"] = json!(reason);
    }
    if let Some(at) = version.audit_applied_ms {
        detail["gmt_apply_audit"] = json!(timestamp(at));
    }
    fields(detail)
}
