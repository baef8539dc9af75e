//! The plan's summary: counts of mutating steps by kind over every step of every app (foreseen
//! steps after a wait included), apps by state, and the one-line summary of the human output.

use crate::model::{Action, AppPlan, AppState};

use super::{Plan, Summary};

impl Plan {
    /// The counts for the summary line.
    pub fn summary(&self) -> Summary {
        let mut summary = Summary::default();
        for app in &self.apps {
            summary.count_app(app);
        }
        summary.not_observed = self.unobserved.len();
        summary
    }
}

impl Summary {
    /// Adds one app's steps and state.
    fn count_app(&mut self, app: &AppPlan) {
        for step in &app.steps {
            self.count_action(&step.action);
        }
        match app.state {
            AppState::InSync => self.in_sync += 1,
            AppState::Changes => self.changed_apps += 1,
            AppState::WaitingOnAudit => self.waiting_on_audit += 1,
            AppState::Failed { .. } => self.failed += 1,
            AppState::NotAuthorized { .. } => self.not_authorized += 1,
            AppState::Suspended => self.suspended += 1,
            AppState::Graying => self.graying += 1,
        }
    }

    /// Adds one step.
    fn count_action(&mut self, action: &Action) {
        match action {
            Action::Commit { .. } => self.commits += 1,
            Action::SubmitAudit { .. } => self.audits += 1,
            Action::WithdrawAudit { .. } => self.withdrawals += 1,
            Action::DeleteBuild { .. } => self.deletions += 1,
            Action::Release { .. }
            | Action::Gray { .. }
            | Action::RevertGray
            | Action::Rollback { .. } => self.releases += 1,
            Action::BindTester { .. } | Action::UnbindTester { .. } => self.tester_changes += 1,
            Action::VerifyTester { .. } => self.unverified_testers += 1,
            Action::SetDomains { .. }
            | Action::SetPrivacy { .. }
            | Action::AddJumpRule { .. }
            | Action::PublishJumpRule { .. }
            | Action::DeleteJumpRule { .. } => self.settings += 1,
            Action::WaitForAudit { .. } => {}
        }
    }

    /// Whether any step mutates anything.
    pub fn has_steps(&self) -> bool {
        self.commits
            + self.audits
            + self.withdrawals
            + self.deletions
            + self.releases
            + self.tester_changes
            + self.settings
            > 0
    }

    /// Apps the plan does not take through: failed, not authorized or not observed.
    pub fn incomplete(&self) -> usize {
        self.failed + self.not_authorized + self.not_observed
    }

    /// Apps in the plan, counted by state.
    pub fn apps(&self) -> usize {
        self.in_sync
            + self.waiting_on_audit
            + self.changed_apps
            + self.suspended
            + self.incomplete()
    }
}
