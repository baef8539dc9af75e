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
            > 0
    }

    /// Apps the plan does not take through: failed, not authorized or not observed.
    pub fn incomplete(&self) -> usize {
        self.failed + self.not_authorized + self.not_observed
    }

    /// Why the plan is incomplete, when it is: `3 of 9 apps are not planned through: 1 failed,
    /// 2 could not be observed`.
    pub fn incomplete_line(&self) -> Option<String> {
        let n = self.incomplete();
        if n == 0 {
            return None;
        }
        let total = self.in_sync + self.waiting_on_audit + self.changed_apps + n;
        let why = [
            counted(self.failed, "failed", "failed"),
            counted(
                self.not_authorized,
                "is not authorized",
                "are not authorized",
            ),
            counted(
                self.not_observed,
                "could not be observed",
                "could not be observed",
            ),
        ];
        let why: Vec<String> = why.into_iter().flatten().collect();
        Some(format!(
            "Incomplete: {n} of {total} app{} {} not planned through ({}); see the errors on \
             stderr",
            if total == 1 { "" } else { "s" },
            if n == 1 { "is" } else { "are" },
            why.join(", ")
        ))
    }

    /// The summary line: `Plan: 3 commits, 2 audits, 1 release · 12 in sync · 1 waiting on audit`;
    /// `Plan incomplete: …` when an app failed, is not authorized or could not be observed.
    pub fn line(&self) -> String {
        let changes = [
            counted(self.commits, "commit", "commits"),
            counted(self.audits, "audit", "audits"),
            counted(self.withdrawals, "withdrawal", "withdrawals"),
            counted(self.deletions, "build deleted", "builds deleted"),
            counted(self.releases, "release", "releases"),
            counted(self.tester_changes, "tester change", "tester changes"),
        ];
        let changes: Vec<String> = changes.into_iter().flatten().collect();
        let mut parts = vec![if changes.is_empty() {
            "no changes".to_owned()
        } else {
            changes.join(", ")
        }];
        let states = [
            counted(self.in_sync, "in sync", "in sync"),
            counted(
                self.waiting_on_audit,
                "waiting on audit",
                "waiting on audit",
            ),
            counted(self.failed, "failed", "failed"),
            counted(self.not_authorized, "not authorized", "not authorized"),
            counted(self.not_observed, "not observed", "not observed"),
        ];
        parts.extend(states.into_iter().flatten());
        let head = if self.incomplete() > 0 {
            "Plan incomplete"
        } else {
            "Plan"
        };
        format!("{head}: {}", parts.join(" · "))
    }
}

/// `n thing(s)`, or nothing when `n` is zero.
fn counted(n: usize, one: &str, many: &str) -> Option<String> {
    match n {
        0 => None,
        1 => Some(format!("1 {one}")),
        _ => Some(format!("{n} {many}")),
    }
}
