//! The Alipay client's wire shapes: the gateway's `yyyy-MM-dd HH:mm:ss` GMT+8 timestamps, the
//! version status enum, and the business fields of the responses minifleet reads. (The sandbox
//! keeps its own, so a wrong wire string here is caught by its tests.)

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::model::calendar::{civil_from_days, days_from_civil};

/// Milliseconds Beijing time (GMT+8) is ahead of UTC: the gateway's wall clock.
const BEIJING_OFFSET_MS: i64 = 8 * 3600 * 1000;

/// Formats unix milliseconds as the gateway's `yyyy-MM-dd HH:mm:ss` in GMT+8.
pub fn format_timestamp(unix_ms: u64) -> String {
    let local_s = (unix_ms as i64 + BEIJING_OFFSET_MS).div_euclid(1000);
    let days = local_s.div_euclid(86_400);
    let secs = local_s.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// Parses a `yyyy-MM-dd HH:mm:ss` GMT+8 timestamp into unix milliseconds.
pub fn parse_timestamp(text: &str) -> Option<u64> {
    let (date, time) = text.split_once(' ')?;
    let date: Vec<i64> = parse_fields(date, '-', 3)?;
    let time: Vec<i64> = parse_fields(time, ':', 3)?;
    let valid = (1..=12).contains(&date[1])
        && (1..=31).contains(&date[2])
        && time[0] < 24
        && time[1] < 60
        && time[2] < 60;
    if !valid {
        return None;
    }
    let days = days_from_civil(date[0], date[1], date[2]);
    let local_ms = (days * 86_400 + time[0] * 3600 + time[1] * 60 + time[2]) * 1000;
    u64::try_from(local_ms - BEIJING_OFFSET_MS).ok()
}

/// `n` non-negative integers separated by `sep`.
fn parse_fields(text: &str, sep: char, n: usize) -> Option<Vec<i64>> {
    let fields: Vec<i64> = text
        .split(sep)
        .map(|f| {
            (!f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()))
                .then(|| f.parse().ok())
                .flatten()
        })
        .collect::<Option<_>>()?;
    (fields.len() == n).then_some(fields)
}

/// Parses an `x.y.z` app version (numeric segments, each ≤ 2147483647).
pub fn parse_version(text: &str) -> Option<[u32; 3]> {
    let parts: Vec<u32> = text
        .split('.')
        .map(|p| {
            (!p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
                .then(|| p.parse::<u32>().ok().filter(|n| *n <= i32::MAX as u32))
                .flatten()
        })
        .collect::<Option<_>>()?;
    parts.try_into().ok()
}

/// A mini-program version's status (spec §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum VersionStatus {
    /// In development (开发中).
    Init,
    /// Under review.
    Auditing,
    /// Review rejected.
    AuditReject,
    /// Review passed, waiting to go online.
    WaitRelease,
    /// Admission review passed, promotion review not.
    BaseAuditPass,
    /// Gray release in progress.
    Gray,
    /// Online.
    Release,
    /// Taken offline by the developer (or replaced by a newer release).
    Offline,
    /// Forcibly taken offline by the platform.
    AuditOffline,
}

impl VersionStatus {
    /// Every status, in the order `version.list.query` filters are written.
    pub const ALL: [VersionStatus; 9] = [
        VersionStatus::Init,
        VersionStatus::Auditing,
        VersionStatus::AuditReject,
        VersionStatus::WaitRelease,
        VersionStatus::BaseAuditPass,
        VersionStatus::Gray,
        VersionStatus::Release,
        VersionStatus::Offline,
        VersionStatus::AuditOffline,
    ];

    /// The platform's name, e.g. `WAIT_RELEASE`.
    pub fn as_str(self) -> &'static str {
        match self {
            VersionStatus::Init => "INIT",
            VersionStatus::Auditing => "AUDITING",
            VersionStatus::AuditReject => "AUDIT_REJECT",
            VersionStatus::WaitRelease => "WAIT_RELEASE",
            VersionStatus::BaseAuditPass => "BASE_AUDIT_PASS",
            VersionStatus::Gray => "GRAY",
            VersionStatus::Release => "RELEASE",
            VersionStatus::Offline => "OFFLINE",
            VersionStatus::AuditOffline => "AUDIT_OFFLINE",
        }
    }

    /// The status named `name`, if it is one.
    pub fn parse(name: &str) -> Option<VersionStatus> {
        VersionStatus::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// Whether a version in this status occupies the single review slot.
    pub fn holds_review_slot(self) -> bool {
        matches!(
            self,
            VersionStatus::Auditing
                | VersionStatus::WaitRelease
                | VersionStatus::AuditReject
                | VersionStatus::BaseAuditPass
                | VersionStatus::Gray
        )
    }
}

impl fmt::Display for VersionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One item of `version.list.query`'s `app_version_infos`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct VersionInfo {
    /// `x.y.z`.
    pub app_version: String,
    /// The status name (unknown names are kept as text).
    #[serde(default)]
    pub version_status: String,
    /// The audit `version_desc`, once submitted.
    #[serde(default)]
    pub version_description: String,
    /// `yyyy-MM-dd HH:mm:ss` GMT+8.
    #[serde(default)]
    pub create_time: String,
}

/// `version.list.query`'s business fields.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct VersionList {
    /// Every matching version, newest first.
    #[serde(default)]
    pub app_version_infos: Vec<VersionInfo>,
}

/// `version.detail.query`'s business fields minifleet reads.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct VersionDetail {
    /// `x.y.z`.
    #[serde(default)]
    pub app_version: String,
    /// The status name.
    #[serde(default)]
    pub status: String,
    /// `p10` / `p30` / `p50` while gray.
    #[serde(default)]
    pub gray_strategy: Option<String>,
    /// Why review rejected it.
    #[serde(default)]
    pub reject_reason: Option<String>,
    /// The audit description.
    #[serde(default)]
    pub version_desc: Option<String>,
}

/// `version.build.query`'s business fields.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct BuildState {
    /// 0 queued, 1 building, 2 built, 3 failed, 5 timed out, 6 created.
    #[serde(default)]
    pub create_status: String,
    /// The build step's own status.
    #[serde(default)]
    pub build_status: String,
    /// `"true"` while the caller should keep polling.
    #[serde(default)]
    pub need_rotation: String,
}

/// One item of `app.members.query`'s `app_member_info_list`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MemberInfo {
    /// The member's `2088…` user id.
    #[serde(default)]
    pub user_id: String,
    /// The login account (email or phone).
    #[serde(default)]
    pub logon_id: String,
    /// `DEVELOPER` / `EXPERIENCER`.
    #[serde(default)]
    pub role: String,
    /// `VALID`, `UNCONFIRMED`, `TIMEOUT` or `REFUSED`.
    #[serde(default)]
    pub status: String,
    /// When the invite was sent.
    #[serde(default)]
    pub gmt_invite: String,
}

/// `app.members.query`'s business fields.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MemberList {
    /// The members of the asked role.
    #[serde(default)]
    pub app_member_info_list: Vec<MemberInfo>,
}

/// `auth.token.app`'s business fields.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AppToken {
    /// The merchant app's token for `app_auth_token`.
    pub app_auth_token: String,
    /// The token to refresh it with.
    #[serde(default)]
    pub app_refresh_token: String,
    /// The merchant mini-program's appid.
    pub auth_app_id: String,
    /// The merchant's `2088…` PID.
    #[serde(default)]
    pub user_id: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_beijing_wall_clock() {
        assert_eq!(format_timestamp(0), "1970-01-01 08:00:00");
        // 2024-02-29 23:59:59 GMT+8 = 2024-02-29 15:59:59 UTC = 1709222399.
        assert_eq!(format_timestamp(1_709_222_399_000), "2024-02-29 23:59:59");
        assert_eq!(
            parse_timestamp("2024-02-29 23:59:59"),
            Some(1_709_222_399_000)
        );
        assert_eq!(parse_timestamp("2024-02-29T23:59:59"), None);
        assert_eq!(parse_timestamp("2024-13-01 00:00:00"), None);
        assert_eq!(parse_timestamp("2024-1-01 00:00"), None);
    }

    #[test]
    fn versions_are_three_bounded_numbers() {
        assert_eq!(parse_version("1.20.3"), Some([1, 20, 3]));
        assert!(parse_version("1.2.3") < parse_version("1.10.0"));
        assert_eq!(parse_version("1.2"), None);
        assert_eq!(parse_version("1.2.x"), None);
        assert_eq!(parse_version("1.2.2147483648"), None);
    }

    #[test]
    fn statuses_round_trip_and_know_the_review_slot() {
        for s in VersionStatus::ALL {
            assert_eq!(VersionStatus::parse(s.as_str()), Some(s));
        }
        assert!(VersionStatus::Gray.holds_review_slot());
        assert!(!VersionStatus::Init.holds_review_slot());
        assert!(!VersionStatus::Release.holds_review_slot());
    }
}
