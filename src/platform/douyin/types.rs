//! The client's wire types: what Douyin answers (spec/douyin.md §1.5, §3). Lenient where the
//! spec says the samples disagree: absent and `null` are the same, numbers may come as text, and
//! the older camelCase spellings are accepted.

use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// An integer Douyin may send as a number or as text; anything else reads as 0.
pub fn lenient_int<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Number(n) => n.as_i64().unwrap_or_default(),
        Value::String(s) => s.trim().parse().unwrap_or_default(),
        Value::Bool(b) => i64::from(b),
        _ => 0,
    })
}

/// Text that may be absent, `null`, or a number.
fn lenient_text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) => s,
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    })
}

/// `component_access_token` (unwrapped, §1.5 step 1).
#[derive(Debug, Deserialize)]
pub struct ComponentToken {
    pub component_access_token: String,
    #[serde(deserialize_with = "lenient_int")]
    pub expires_in: i64,
}

/// `get_auth_token`'s `data` (§1.5 step 5).
#[derive(Debug, Deserialize)]
pub struct AuthorizerToken {
    pub authorizer_access_token: String,
    #[serde(deserialize_with = "lenient_int")]
    pub expires_in: i64,
    pub authorizer_refresh_token: String,
    #[serde(default, deserialize_with = "lenient_int")]
    pub refresh_expires_in: i64,
    #[serde(default)]
    pub authorizer_appid: String,
    #[serde(default)]
    pub authorize_permission: Vec<Permission>,
}

/// One authorized permission set.
#[derive(Debug, Deserialize)]
pub struct Permission {
    #[serde(default, deserialize_with = "lenient_int")]
    pub id: i64,
}

/// `retrieve_auth_code`'s `data`.
#[derive(Debug, Deserialize)]
pub struct AuthCode {
    pub authorization_code: String,
}

/// `get_audit_hosts`' `data`.
#[derive(Debug, Default, Deserialize)]
pub struct AuditHosts {
    #[serde(default)]
    pub host_names: Vec<String>,
}

/// `versions`' `data`: up to four slots, each absent or `null` when there is no such version.
#[derive(Debug, Default, Deserialize)]
pub struct Versions {
    #[serde(default)]
    pub latest: Option<Latest>,
    #[serde(default)]
    pub audit: Option<AuditSlot>,
    #[serde(default)]
    pub current: Option<Current>,
}

/// The test version.
#[derive(Debug, Default, Deserialize)]
pub struct Latest {
    #[serde(default, deserialize_with = "lenient_text")]
    pub version: String,
    #[serde(default, deserialize_with = "lenient_text")]
    pub summary: String,
}

/// The version in or after review.
#[derive(Debug, Default, Deserialize)]
pub struct AuditSlot {
    #[serde(default, deserialize_with = "lenient_text")]
    pub version: String,
    #[serde(default, deserialize_with = "lenient_text")]
    pub summary: String,
    /// 0 auditing, 1 approved, 2 rejected, 3 revoked.
    #[serde(default, deserialize_with = "lenient_int")]
    pub status: i64,
    #[serde(default, deserialize_with = "lenient_int")]
    pub has_publish: i64,
    #[serde(default, deserialize_with = "lenient_text")]
    pub reason: String,
    /// Display name → reasons.
    #[serde(default, alias = "reasonDetail")]
    pub reason_detail: Option<Value>,
    #[serde(default)]
    pub is_illegal_version: Option<bool>,
}

/// The live version.
#[derive(Debug, Default, Deserialize)]
pub struct Current {
    #[serde(default, deserialize_with = "lenient_text")]
    pub version: String,
    #[serde(default, deserialize_with = "lenient_text")]
    pub summary: String,
    #[serde(default, deserialize_with = "lenient_int")]
    pub has_down: i64,
    #[serde(default)]
    pub rollback: Option<Rollback>,
}

/// What a rollback would do.
#[derive(Debug, Default, Deserialize)]
pub struct Rollback {
    #[serde(default)]
    pub can_rollback: bool,
    #[serde(default, deserialize_with = "lenient_text")]
    pub last_version: String,
}
