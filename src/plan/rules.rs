//! Platform rules the planner asks instead of testing the platform: gray percentages, the first
//! release, the withdrawal quota, version numbering, the development-build cap, the review slot,
//! and how to word platform-specific advice.

use crate::model::PlatformKind;

/// What a platform allows, as far as planning is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rules {
    /// The platform's name as users know it, for reasons and notes (`WeChat`, `Alipay`).
    pub name: &'static str,
    /// Whether the very first release of an app may be a gray release.
    pub first_release_can_be_gray: bool,
    /// The only gray percentages the platform accepts; `None` means any of 1..=100.
    pub gray_steps: Option<&'static [u8]>,
    /// Whether a running gray percentage can only be raised (lowering needs a revert first).
    pub gray_increase_only: bool,
    /// Audit withdrawals allowed per app and day (Beijing time); `None` means unlimited.
    pub withdrawals_per_day: Option<u32>,
    /// Audit withdrawals allowed per app and month (Beijing time); `None` means unlimited.
    pub withdrawals_per_month: Option<u32>,
    /// What the platform calls the authorization minifleet lacks when an app is not authorized.
    pub missing_authorization: &'static str,
    /// The command that fixes a missing authorization; `<name>` is replaced by the app's name.
    pub authorize_command: &'static str,
    /// Whether a version number can be built only once and must be higher than every version the
    /// app has (Alipay `app_version`).
    pub versions_increase: bool,
    /// The most development builds an app may keep; a commit over it first deletes stale ones.
    /// `None` means no cap.
    pub dev_build_cap: Option<usize>,
    /// Whether an approved or rejected audit of another build still holds the app's single review
    /// slot, so it must be withdrawn before a new submission.
    pub settled_audit_holds_slot: bool,
    /// Whether a gray release of another build holds the app's single review slot too (Alipay's
    /// `GRAY` is one of the slot's statuses, spec/alipay.md §3), so it must be ended before a new
    /// submission: the gray is cancelled (its build goes back to approved), then its approval.
    pub gray_holds_review_slot: bool,
    /// The reason for ending a gray release of an outdated build before a new submission (see
    /// [`Rules::gray_holds_review_slot`]); `<percent>` is its percentage, `<build>` the build,
    /// `<after>` what its users get meanwhile.
    pub end_gray_reason: &'static str,
    /// The reason for withdrawing an in-flight audit of another build, in the platform's words;
    /// `<id>` is the audit id, `<build>` the build.
    pub withdraw_reason: &'static str,
    /// The reason for withdrawing a settled audit of another build (see
    /// [`Rules::settled_audit_holds_slot`]); `<status>` is `approved` or `rejected`, `<id>` the
    /// audit id, `<build>` the build.
    pub settled_withdraw_reason: &'static str,
    /// How the platform lists testers, for plans that cannot tell whether a tester is bound.
    pub member_ids: &'static str,
}

/// WeChat Open Platform (third-party platform).
pub const WECHAT: Rules = Rules {
    name: "WeChat",
    first_release_can_be_gray: false,
    gray_steps: None,
    gray_increase_only: true,
    withdrawals_per_day: Some(5),
    withdrawals_per_month: Some(10),
    missing_authorization: "the app has not authorized the third-party platform (no refresh token)",
    authorize_command: "minifleet auth wechat link --app <name> --redirect-uri URL",
    versions_increase: false,
    dev_build_cap: None,
    settled_audit_holds_slot: false,
    gray_holds_review_slot: false,
    end_gray_reason: "",
    withdraw_reason: "withdraws audit <id> of outdated build <build>, which blocks a new submission",
    settled_withdraw_reason: "withdraws the <status> audit <id> of outdated build <build>",
    member_ids: "WeChat only shows opaque member ids",
};

/// Alipay Open Platform (ISV).
pub const ALIPAY: Rules = Rules {
    name: "Alipay",
    first_release_can_be_gray: true,
    gray_steps: Some(&[10, 30, 50]),
    gray_increase_only: true,
    withdrawals_per_day: None,
    withdrawals_per_month: None,
    missing_authorization: "the app has not authorized the ISV application (no app_auth_token)",
    authorize_command: "minifleet auth alipay --app <name> --code APP_AUTH_CODE",
    versions_increase: true,
    dev_build_cap: Some(20),
    settled_audit_holds_slot: true,
    gray_holds_review_slot: true,
    end_gray_reason: "end the <percent>% gray release of outdated build <build> first: on Alipay a \
                      gray version holds the app's single review slot, so the new build cannot be \
                      submitted while it runs. Cancelling the gray <after>; releasing it to every \
                      user instead would publish a build the fleet no longer wants",
    withdraw_reason: "cancels the review of outdated build <build>: Alipay reviews one version at a \
                      time, and the new build needs the review slot",
    settled_withdraw_reason: "cancels the <status> review of outdated build <build> (back to \
                              development): Alipay has one review slot per app, and the <status> \
                              version holds it until it is released or cancelled",
    member_ids: "Alipay lists members by user id",
};

impl Rules {
    /// The rules of `platform`.
    pub fn for_platform(platform: PlatformKind) -> &'static Rules {
        match platform {
            PlatformKind::Wechat => &WECHAT,
            PlatformKind::Alipay => &ALIPAY,
        }
    }

    /// Whether `percent` is a valid gray percentage (100 = full release is always valid).
    pub fn gray_allowed(&self, percent: u8) -> bool {
        match self.gray_steps {
            _ if percent == 100 => true,
            Some(steps) => steps.contains(&percent),
            None => (1..100).contains(&percent),
        }
    }

    /// The reason for withdrawing an audit of `build` (described), by its status.
    pub fn withdraw_reason_for(&self, id: &str, build: &str, settled: Option<&str>) -> String {
        let template = match settled {
            Some(_) => self.settled_withdraw_reason,
            None => self.withdraw_reason,
        };
        template
            .replace("<id>", id)
            .replace("<build>", build)
            .replace("<status>", settled.unwrap_or_default())
    }

    /// The reason for ending the `percent`% gray release of outdated `build` (described) before
    /// a new submission; `after` says what its users get meanwhile.
    pub fn end_gray_reason_for(&self, percent: u8, build: &str, after: &str) -> String {
        self.end_gray_reason
            .replace("<percent>", &percent.to_string())
            .replace("<build>", build)
            .replace("<after>", after)
    }

    /// Why app `name` cannot be managed, and the command that fixes it.
    pub fn not_authorized_reason(&self, name: &str) -> String {
        let command = self.authorize_command.replace("<name>", name);
        format!("{}: run `{command}`", self.missing_authorization)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_are_chosen_by_platform() {
        let wechat = Rules::for_platform(PlatformKind::Wechat);
        let alipay = Rules::for_platform(PlatformKind::Alipay);
        assert_eq!(wechat.name, "WeChat");
        assert_eq!(alipay.name, "Alipay");
        assert!(!wechat.first_release_can_be_gray);
        assert!(alipay.first_release_can_be_gray);
        assert_eq!(wechat.withdrawals_per_day, Some(5));
        assert_eq!(alipay.withdrawals_per_day, None);
        assert!(alipay.versions_increase && !wechat.versions_increase);
        assert_eq!(
            (alipay.dev_build_cap, wechat.dev_build_cap),
            (Some(20), None)
        );
        assert!(alipay.settled_audit_holds_slot && !wechat.settled_audit_holds_slot);
        assert!(alipay.gray_holds_review_slot && !wechat.gray_holds_review_slot);
    }

    #[test]
    fn withdrawals_are_worded_in_the_platforms_words() {
        assert_eq!(
            WECHAT.withdraw_reason_for("101", "1.4.5 [mf:5e6f7a8b]", None),
            "withdraws audit 101 of outdated build 1.4.5 [mf:5e6f7a8b], which blocks a new \
             submission"
        );
        let alipay = ALIPAY.withdraw_reason_for("1.4.5", "1.4.5 [mf:5e6f7a8b]", Some("rejected"));
        assert_eq!(
            alipay,
            "cancels the rejected review of outdated build 1.4.5 [mf:5e6f7a8b] (back to \
             development): Alipay has one review slot per app, and the rejected version holds \
             it until it is released or cancelled"
        );
        assert!(
            ALIPAY
                .withdraw_reason_for("1", "b", None)
                .starts_with("cancels the review of")
        );
    }

    #[test]
    fn gray_percentages_follow_the_platform() {
        assert!(WECHAT.gray_allowed(1));
        assert!(WECHAT.gray_allowed(37));
        assert!(WECHAT.gray_allowed(100));
        assert!(!WECHAT.gray_allowed(0));
        assert!(ALIPAY.gray_allowed(10));
        assert!(ALIPAY.gray_allowed(50));
        assert!(ALIPAY.gray_allowed(100));
        assert!(!ALIPAY.gray_allowed(20));
    }

    #[test]
    fn not_authorized_reason_names_the_fix() {
        assert_eq!(
            WECHAT.not_authorized_reason("tea-house"),
            "the app has not authorized the third-party platform (no refresh token): \
             run `minifleet auth wechat link --app tea-house --redirect-uri URL`"
        );
    }
}
