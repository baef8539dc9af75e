//! The simulated Alipay world: the gateway's keys, issued authorization codes and tokens, and per
//! merchant app its versions (with the spec §2.3 status machine) and members.

pub use crate::sandbox::{now_ms, random_token};
use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::wire::{Status, version_key};
use crate::fleet::SandboxSpec;

/// A gateway answer that is not a success: `code`, `msg`, `sub_code`, `sub_msg`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AliError {
    /// `40004`, `40002`, …
    pub code: &'static str,
    /// The code's message (`Business Failed`).
    pub msg: &'static str,
    /// The specific reason (`VERSION_HAS_EXISTED`).
    pub sub_code: String,
    /// The reason in words.
    pub sub_msg: String,
}

impl AliError {
    /// A `40004 Business Failed` answer.
    pub fn business(sub_code: &str, sub_msg: &str) -> AliError {
        AliError::with("40004", "Business Failed", sub_code, sub_msg)
    }

    /// Any answer, by code.
    pub fn with(code: &'static str, msg: &'static str, sub_code: &str, sub_msg: &str) -> AliError {
        AliError {
            code,
            msg,
            sub_code: sub_code.to_string(),
            sub_msg: sub_msg.to_string(),
        }
    }

    /// `40002 Invalid Arguments`.
    pub fn invalid(sub_code: &str, sub_msg: &str) -> AliError {
        AliError::with("40002", "Invalid Arguments", sub_code, sub_msg)
    }

    /// `40001 Missing Required Arguments`.
    pub fn missing(sub_code: &str, sub_msg: &str) -> AliError {
        AliError::with("40001", "Missing Required Arguments", sub_code, sub_msg)
    }

    /// The node object of this answer.
    pub fn node(&self) -> Value {
        json!({
            "code": self.code,
            "msg": self.msg,
            "sub_code": self.sub_code,
            "sub_msg": self.sub_msg,
        })
    }
}

/// What a handler returns: the business fields on success.
pub type AliResult = Result<Map<String, Value>, AliError>;

/// Sandbox-wide state.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Global {
    /// The sim's own (Alipay's) private key, PKCS#8 PEM: signs responses.
    pub alipay_private_pem: String,
    /// Alipay's public key, SPKI PEM: what clients verify with.
    pub alipay_public_pem: String,
    /// The sandbox ISV app's private key, PKCS#8 PEM (handed to clients in sandbox mode).
    pub isv_private_pem: String,
    /// The ISV public key requests are verified with.
    pub isv_public_pem: String,
    /// Unused `app_auth_code`s → merchant appid.
    pub codes: BTreeMap<String, String>,
    /// Valid `app_auth_token`s → merchant appid.
    pub tokens: BTreeMap<String, String>,
    /// Valid `app_refresh_token`s → merchant appid.
    pub refresh_tokens: BTreeMap<String, String>,
    /// Every merchant appid with state.
    pub appids: BTreeSet<String>,
}

/// One version of a merchant app.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Version {
    /// `x.y.z`.
    pub app_version: String,
    /// Where it stands.
    pub status: Status,
    /// The template APPID it was built from.
    pub template_id: String,
    /// The template version, if pinned.
    pub template_version: Option<String>,
    /// The uploaded ext JSON text.
    pub ext: String,
    /// Unix ms of the upload (the build runs for `privacy_scan_ms` after it).
    pub uploaded_ms: u64,
    /// Whether an experience version was created from it.
    pub experience: bool,
    /// The audit description, once submitted.
    pub version_desc: Option<String>,
    /// Unix ms of the audit submission.
    pub audit_applied_ms: Option<u64>,
    /// Why review rejected it.
    pub reject_reason: Option<String>,
    /// `p10` / `p30` / `p50` while gray.
    pub gray_strategy: Option<String>,
}

impl Version {
    /// `create_status` at `now`: 0 queued for the first third of the build time, 1 building, 6 done.
    pub fn create_status(&self, spec: &SandboxSpec, now: u64) -> u8 {
        let elapsed = now.saturating_sub(self.uploaded_ms);
        if elapsed >= spec.privacy_scan_ms {
            6
        } else if elapsed * 3 >= spec.privacy_scan_ms {
            1
        } else {
            0
        }
    }

    /// The numeric version, for ordering.
    pub fn key(&self) -> [u32; 3] {
        version_key(&self.app_version).unwrap_or_default()
    }
}

/// A member (developer or experiencer) of a merchant app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// `2088…`.
    pub user_id: String,
    /// Email or phone.
    pub logon_id: String,
    /// `DEVELOPER` / `EXPERIENCER`.
    pub role: String,
    /// `UNCONFIRMED` until accepted, then `VALID`.
    pub status: String,
    /// When invited (`yyyy-MM-dd HH:mm:ss`).
    pub gmt_invite: String,
}

/// A merchant mini-program.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct App {
    /// Every version ever uploaded and not deleted, in upload order.
    pub versions: Vec<Version>,
    /// Versions that went online, oldest first; the last is the current release.
    pub releases: Vec<String>,
    /// Members.
    pub members: Vec<Member>,
}

impl App {
    /// The version `app_version`.
    pub fn version(&self, app_version: &str) -> Option<&Version> {
        self.versions.iter().find(|v| v.app_version == app_version)
    }

    /// The version `app_version`, mutable.
    pub fn version_mut(&mut self, app_version: &str) -> Option<&mut Version> {
        self.versions
            .iter_mut()
            .find(|v| v.app_version == app_version)
    }

    /// The first version in `status`.
    pub fn in_status(&self, status: Status) -> Option<&Version> {
        self.versions.iter().find(|v| v.status == status)
    }

    /// Decides audits whose delay has passed: rejected when a reject rule matches the uploaded
    /// ext's `ext` object, approved otherwise. Returns whether anything changed.
    pub fn settle(&mut self, spec: &SandboxSpec, now: u64) -> bool {
        let mut changed = false;
        for version in &mut self.versions {
            let due = version
                .audit_applied_ms
                .is_some_and(|at| now >= at.saturating_add(spec.audit_delay_ms));
            if version.status == Status::Auditing && due {
                match reject_reason(spec, &version.ext) {
                    Some(reason) => {
                        version.status = Status::AuditReject;
                        version.reject_reason = Some(reason);
                    }
                    None => version.status = Status::WaitRelease,
                }
                changed = true;
            }
        }
        changed
    }
}

/// The reason of the first reject rule whose `when_ext` pairs all appear in the ext's `ext` object.
fn reject_reason(spec: &SandboxSpec, ext_json: &str) -> Option<String> {
    let ext: Value = serde_json::from_str(ext_json).ok()?;
    let inner = ext.get("ext").unwrap_or(&Value::Null);
    spec.reject
        .iter()
        .find(|rule| rule.when_ext.iter().all(|(k, v)| inner.get(k) == Some(v)))
        .map(|rule| rule.reason.clone())
}

/// Everything the simulator knows, with change tracking for write-through persistence.
#[derive(Debug, Default)]
pub struct World {
    /// Sandbox-wide state.
    pub global: Global,
    /// Merchant apps by appid.
    pub apps: BTreeMap<String, App>,
    dirty_global: bool,
    dirty_apps: BTreeSet<String>,
}

impl World {
    /// A world from saved parts.
    pub fn from_parts(global: Global, apps: BTreeMap<String, App>) -> World {
        World {
            global,
            apps,
            ..World::default()
        }
    }

    /// Marks the global state changed.
    pub fn touch_global(&mut self) {
        self.dirty_global = true;
    }

    /// The app, created if new, marked changed.
    pub fn app_mut(&mut self, appid: &str) -> &mut App {
        if self.global.appids.insert(appid.to_string()) {
            self.dirty_global = true;
        }
        self.dirty_apps.insert(appid.to_string());
        self.apps.entry(appid.to_string()).or_default()
    }

    /// Settles `appid`'s audits at `now`.
    pub fn settle(&mut self, appid: &str, spec: &SandboxSpec, now: u64) {
        if let Some(app) = self.apps.get_mut(appid)
            && app.settle(spec, now)
        {
            self.dirty_apps.insert(appid.to_string());
        }
    }

    /// What changed since the last call, clearing the marks.
    pub fn take_dirty(&mut self) -> (bool, BTreeSet<String>) {
        let global = std::mem::take(&mut self.dirty_global);
        (global, std::mem::take(&mut self.dirty_apps))
    }
}

/// A random `2088…` user id (16 digits).
pub fn random_user_id() -> String {
    let digits: String = std::iter::repeat_with(|| fastrand::digit(10))
        .take(12)
        .collect();
    format!("2088{digits}")
}
