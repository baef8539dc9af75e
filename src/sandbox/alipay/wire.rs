//! The simulated gateway's own wire shapes — version statuses as Alipay spells them, `x.y.z`
//! versions, `yyyy-MM-dd HH:mm:ss` GMT+8 timestamps — written from spec/alipay.md, not shared
//! with the client: a wrong wire string on one side shows up in the tests of the other.

use serde::{Deserialize, Serialize};

use crate::model::calendar::{civil_from_days, days_from_civil};

/// Milliseconds the gateway's wall clock (GMT+8) is ahead of UTC.
const GMT8_MS: i64 = 8 * 3600 * 1000;

/// A version's status (spec §2.3), as `version.list.query` and `detail.query` write it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Status {
    /// 开发中: built, can be deleted, made the experience version or submitted.
    #[serde(rename = "INIT")]
    Init,
    /// Under review.
    #[serde(rename = "AUDITING")]
    Auditing,
    /// Review rejected.
    #[serde(rename = "AUDIT_REJECT")]
    AuditReject,
    /// Review passed, waiting to go online (待上架).
    #[serde(rename = "WAIT_RELEASE")]
    WaitRelease,
    /// Admission review passed, promotion review not (`audit_rule=BASE_PROMOTE`).
    #[serde(rename = "BASE_AUDIT_PASS")]
    BaseAuditPass,
    /// Gray release in progress.
    #[serde(rename = "GRAY")]
    Gray,
    /// Online (已上架).
    #[serde(rename = "RELEASE")]
    Release,
    /// Taken offline by the developer, or replaced by a newer release.
    #[serde(rename = "OFFLINE")]
    Offline,
}

impl Status {
    /// The status as the gateway writes it.
    pub fn wire(self) -> &'static str {
        match self {
            Status::Init => "INIT",
            Status::Auditing => "AUDITING",
            Status::AuditReject => "AUDIT_REJECT",
            Status::WaitRelease => "WAIT_RELEASE",
            Status::BaseAuditPass => "BASE_AUDIT_PASS",
            Status::Gray => "GRAY",
            Status::Release => "RELEASE",
            Status::Offline => "OFFLINE",
        }
    }

    /// Whether a version in this status holds the app's single review slot (spec §3: one version
    /// at a time in AUDITING, WAIT_RELEASE, AUDIT_REJECT or GRAY; BASE_AUDIT_PASS is a passed one).
    pub fn holds_review_slot(self) -> bool {
        matches!(
            self,
            Status::Auditing
                | Status::WaitRelease
                | Status::AuditReject
                | Status::BaseAuditPass
                | Status::Gray
        )
    }

    /// The status a `version_status` filter names, if the gateway knows it.
    pub fn from_wire(name: &str) -> Option<Status> {
        [
            Status::Init,
            Status::Auditing,
            Status::AuditReject,
            Status::WaitRelease,
            Status::BaseAuditPass,
            Status::Gray,
            Status::Release,
            Status::Offline,
        ]
        .into_iter()
        .find(|s| s.wire() == name)
    }
}

/// An `x.y.z` version as three numbers, each at most 2147483647 (`VERSION_EXCEEDED_LENGTH`
/// above that).
pub fn version_key(text: &str) -> Option<[u32; 3]> {
    let mut key = [0u32; 3];
    let mut parts = text.split('.');
    for slot in &mut key {
        let part = parts.next()?;
        if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        *slot = part.parse::<u32>().ok().filter(|n| *n <= i32::MAX as u32)?;
    }
    parts.next().is_none().then_some(key)
}

/// Unix milliseconds as the gateway's `yyyy-MM-dd HH:mm:ss` (GMT+8).
pub fn timestamp(unix_ms: u64) -> String {
    let local = (unix_ms as i64 + GMT8_MS).div_euclid(1000);
    let (y, m, d) = civil_from_days(local.div_euclid(86_400));
    let s = local.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// The unix milliseconds of a request's `yyyy-MM-dd HH:mm:ss` (GMT+8) timestamp, if it is one.
pub fn read_timestamp(text: &str) -> Option<u64> {
    let bytes = text.as_bytes();
    let shaped = bytes.len() == 19
        && [4, 7].iter().all(|&i| bytes[i] == b'-')
        && bytes[10] == b' '
        && [13, 16].iter().all(|&i| bytes[i] == b':');
    if !shaped {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<i64> {
        let part = &text[from..to];
        part.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let (y, mo, d) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (h, mi, s) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 59 {
        return None;
    }
    let local = (days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s) * 1000;
    u64::try_from(local - GMT8_MS).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_written_as_alipay_spells_them() {
        assert_eq!(
            serde_json::to_string(&Status::WaitRelease).unwrap(),
            "\"WAIT_RELEASE\""
        );
        assert_eq!(Status::from_wire("AUDIT_REJECT"), Some(Status::AuditReject));
        assert_eq!(Status::from_wire("audit_reject"), None);
        for s in [
            "INIT",
            "AUDITING",
            "GRAY",
            "RELEASE",
            "OFFLINE",
            "BASE_AUDIT_PASS",
        ] {
            assert_eq!(Status::from_wire(s).map(Status::wire), Some(s));
        }
    }

    #[test]
    fn timestamps_round_trip_in_gmt8() {
        // 2024-02-01 00:00:00 in Beijing is 2024-01-31 16:00:00 UTC.
        assert_eq!(timestamp(1_706_716_800_000), "2024-02-01 00:00:00");
        assert_eq!(
            read_timestamp("2024-02-01 00:00:00"),
            Some(1_706_716_800_000)
        );
        for bad in [
            "2024-02-01T00:00:00",
            "2024-13-01 00:00:00",
            "2024-02-01 24:00:00",
            "",
        ] {
            assert_eq!(read_timestamp(bad), None, "{bad}");
        }
    }

    #[test]
    fn versions_are_three_bounded_numbers() {
        assert_eq!(version_key("1.10.0"), Some([1, 10, 0]));
        assert_eq!(version_key("2147483647.0.1"), Some([2_147_483_647, 0, 1]));
        for bad in ["2147483648.0.0", "1.2", "1.2.3.4", "1.x.0", "1..0"] {
            assert_eq!(version_key(bad), None, "{bad}");
        }
    }
}
