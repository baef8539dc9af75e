//! Platform rules the planner asks instead of testing the platform (each platform module gives
//! its own, see `platform/*/spec.rs`): gray percentages, the first
//! release, the withdrawal quota, version numbering, the development-build cap, the review slot,
//! and how to word platform-specific advice.

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

impl Rules {
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
