//! Platform rules the planner asks instead of testing the platform: gray percentages, the first
//! release, the withdrawal quota, and how to word platform-specific advice.

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
    authorize_command: "minifleet auth wechat link --app <name>",
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
    authorize_command: "minifleet auth alipay token --app <name>",
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
             run `minifleet auth wechat link --app tea-house`"
        );
    }
}
