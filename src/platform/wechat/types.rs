//! The JSON shapes of the WeChat answers the client reads (only the fields it uses; unknown fields
//! are ignored, so `screenshot` / `ScreenShot` and other extras never break decoding).

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// `api_component_token`.
#[derive(Debug, Deserialize)]
pub struct ComponentToken {
    /// The token.
    pub component_access_token: String,
    /// Lifetime in seconds.
    pub expires_in: u64,
}

/// `api_authorizer_token`.
#[derive(Debug, Deserialize)]
pub struct AuthorizerToken {
    /// The token.
    pub authorizer_access_token: String,
    /// Lifetime in seconds.
    pub expires_in: u64,
    /// The refresh token to keep (normally unchanged).
    #[serde(default)]
    pub authorizer_refresh_token: String,
}

/// `wxa/getversioninfo` (serialized only for its probe digest).
#[derive(Debug, Default, Deserialize, Serialize)]
pub struct VersionInfo {
    /// The experience version, if any.
    #[serde(default)]
    pub exp_info: Option<ExpInfo>,
    /// The released version, if any.
    #[serde(default)]
    pub release_info: Option<ReleaseInfo>,
}

/// `exp_info` of `wxa/getversioninfo`.
#[derive(Debug, Default, Deserialize, Serialize)]
pub struct ExpInfo {
    /// When the experience build was committed (unix seconds): a commit of the same version and
    /// description by hand still changes it.
    #[serde(default)]
    pub exp_time: u64,
    /// `user_version` of the experience build (empty when none).
    #[serde(default)]
    pub exp_version: String,
    /// `user_desc` of the experience build.
    #[serde(default)]
    pub exp_desc: String,
}

/// `release_info` of `wxa/getversioninfo`.
#[derive(Debug, Default, Deserialize, Serialize)]
pub struct ReleaseInfo {
    /// When the live build was released (unix seconds): a rollback or a release by hand changes it.
    #[serde(default)]
    pub release_time: u64,
    /// `user_version` of the released build (empty when none).
    #[serde(default)]
    pub release_version: String,
    /// `user_desc` of the released build.
    #[serde(default)]
    pub release_desc: String,
}

/// `wxa/get_latest_auditstatus`.
#[derive(Debug, Deserialize)]
pub struct LatestAudit {
    /// The audit id (a number; strings are accepted too).
    #[serde(deserialize_with = "id_string")]
    pub auditid: String,
    /// 0 approved, 1 rejected, 2 auditing, 3 withdrawn, 4 delayed.
    pub status: i64,
    /// Rejection or delay reason (HTML-ish, with `<br>`).
    #[serde(default)]
    pub reason: String,
    /// `user_version` of the audited build.
    #[serde(default)]
    pub user_version: String,
    /// `user_desc` of the audited build.
    #[serde(default)]
    pub user_desc: String,
}

/// `wxa/getgrayreleaseplan`.
#[derive(Debug, Deserialize)]
pub struct GrayPlanAnswer {
    /// The plan.
    pub gray_release_plan: GrayPlan,
}

/// `gray_release_plan` of `wxa/getgrayreleaseplan`.
#[derive(Debug, Deserialize)]
pub struct GrayPlan {
    /// 0 none, 1 running, 2 paused, 3 finished, 4 deleted.
    #[serde(default)]
    pub status: i64,
    /// Percent of users on the gray build.
    #[serde(default)]
    pub gray_percentage: u8,
}

/// `wxa/revertcoderelease?action=get_history_version`.
#[derive(Debug, Default, Deserialize)]
pub struct History {
    /// Released versions other than the live one, newest first.
    #[serde(default)]
    pub version_list: Vec<HistoryVersion>,
}

/// One entry of `version_list`.
#[derive(Debug, Deserialize)]
pub struct HistoryVersion {
    /// `user_version`.
    #[serde(default)]
    pub user_version: String,
    /// `user_desc`.
    #[serde(default)]
    pub user_desc: String,
}

/// `wxa/memberauth`.
#[derive(Debug, Default, Deserialize)]
pub struct Members {
    /// The experience members.
    #[serde(default)]
    pub members: Vec<Member>,
}

/// One experience member.
#[derive(Debug, Deserialize)]
pub struct Member {
    /// Its opaque id.
    pub userstr: String,
}

/// `wxa/submit_audit`.
#[derive(Debug, Deserialize)]
pub struct Submitted {
    /// The new audit id.
    #[serde(deserialize_with = "id_string")]
    pub auditid: String,
}

/// `wxa/bind_tester`.
#[derive(Debug, Deserialize)]
pub struct Bound {
    /// The member id of the bound tester.
    pub userstr: String,
}

/// Reads an id that may arrive as a JSON number or string.
fn id_string<'de, D: Deserializer<'de>>(de: D) -> Result<String, D::Error> {
    match Value::deserialize(de)? {
        Value::String(s) => Ok(s),
        Value::Number(n) => Ok(n.to_string()),
        other => Err(serde::de::Error::custom(format!(
            "expected an id, found `{other}`"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_ids_may_be_numbers_or_strings_and_screenshot_casing_is_ignored() {
        let a: LatestAudit = serde_json::from_str(
            r#"{"auditid":123,"status":1,"reason":"x","ScreenShot":"m1|m2","user_version":"1"}"#,
        )
        .unwrap();
        assert_eq!(a.auditid, "123");
        let b: LatestAudit =
            serde_json::from_str(r#"{"auditid":"77","status":0,"screenshot":""}"#).unwrap();
        assert_eq!(b.auditid, "77");
        assert!(serde_json::from_str::<LatestAudit>(r#"{"auditid":null,"status":0}"#).is_err());
    }
}
