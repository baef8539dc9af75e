//! The pure planner (DESIGN §1): `plan_app(desired, observed, record, ctx) -> AppPlan`, no I/O, no
//! clock. Plans are rendered by [`crate::view::plan`].
//!
//! Platform differences live in the app's [`Rules`]; the pipeline asks the rules and never tests the
//! platform itself.

pub mod gray;
mod pipeline;
pub mod quota;
pub mod readiness;
mod release;
pub mod rollout;
pub mod saved;
mod settings;
mod summary;
mod testers;
mod versions;

#[cfg(test)]
pub(crate) mod tests;

use serde::Serialize;

use crate::model::{Action, AppPlan, AppState, Desired, Observed, Record, Step};

/// What the planner needs besides the app: the time, passed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Context {
    /// Unix time in seconds.
    pub now: u64,
}

/// `""` for one, `"s"` for any other count (plans' reasons and notes count things).
pub fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Plans the next steps for one app.
///
/// Tester steps come first, then the code steps; steps after the first `WaitForAudit` are the
/// foreseen rest of the pipeline. Output is deterministic.
pub fn plan_app(desired: &Desired, observed: &Observed, record: &Record, ctx: &Context) -> AppPlan {
    let rules = desired.rules;
    let mut plan = AppPlan {
        name: desired.name.clone(),
        appid: desired.appid.clone(),
        platform: desired.platform,
        version: desired.version.clone(),
        fingerprint: desired.fingerprint.clone(),
        state: AppState::InSync,
        steps: Vec::new(),
        notes: Vec::new(),
        ext_change: None,
        walk: None,
    };
    if !observed.authorized {
        let reason = rules.not_authorized_reason(&desired.name);
        plan.state = AppState::NotAuthorized { reason };
        return plan;
    }
    let testers = testers::plan_testers(desired, observed, record, rules);
    let domains = settings::plan_domains(desired, observed, record);
    let mut code = pipeline::plan_code(desired, observed, record, ctx, rules);
    if let Some(failed) = domains.failed {
        // The commit would need the domains that cannot be set.
        code.steps.clear();
        code.ext_change = None;
        code.failed = code.failed.or(Some(failed));
    }
    settings::plan_privacy(desired, observed, &mut code.steps);
    let jump = settings::plan_jump(desired, observed, record);
    plan.steps = testers.steps;
    plan.steps.extend(domains.step);
    plan.steps.extend(jump.steps);
    plan.steps.extend(code.steps);
    plan.notes = testers.notes;
    plan.notes.extend(jump.notes);
    plan.notes.extend(code.notes);
    plan.ext_change = code.ext_change;
    plan.walk = code.walk;
    plan.state = match code.failed {
        Some((reason, help)) => AppState::Failed { reason, help },
        None => progress_state(&plan),
    };
    if let Some(blocker) = domains.blocker {
        readiness::block(&mut plan, &blocker);
    }
    if desired.suspended {
        suspend(&mut plan);
    }
    plan
}

/// A suspended app's plan: nothing is left to apply; the notes say what would have been, and why
/// it would have failed.
fn suspend(plan: &mut AppPlan) {
    let withheld: Vec<&str> = plan
        .steps
        .iter()
        .filter(|s| s.action.is_mutating())
        .map(|s| s.action.kind())
        .collect();
    let mut notes = Vec::new();
    if withheld.is_empty() {
        notes.push("suspended: nothing would change now".to_owned());
    } else {
        notes.push(format!(
            "suspended: {} step{} withheld ({}); remove `suspend` to let them run",
            withheld.len(),
            plural(withheld.len()),
            withheld.join(", ")
        ));
    }
    if let AppState::Failed { reason, .. } = &plan.state {
        notes.push(format!("it would fail: {reason}"));
    }
    notes.append(&mut plan.notes);
    plan.notes = notes;
    plan.steps.clear();
    plan.ext_change = None;
    plan.state = AppState::Suspended;
}

/// Changes when a mutating step precedes the first wait; waiting when there is a wait; graying
/// while a walk's next step is not due; else in sync.
fn progress_state(plan: &AppPlan) -> AppState {
    let waits = |s: &Step| matches!(s.action, Action::WaitForAudit { .. });
    if plan.has_changes() {
        AppState::Changes
    } else if plan.steps.iter().any(waits) {
        AppState::WaitingOnAudit
    } else if plan.walk.as_ref().is_some_and(|w| w.next.is_some()) {
        AppState::Graying
    } else {
        AppState::InSync
    }
}

/// The plans of a whole fleet, in fleet order.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Plan {
    /// One plan per app.
    pub apps: Vec<AppPlan>,
    /// How the monthly audit quota was shared, when the platform rations audits and the plan
    /// submits any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audit_budget: Option<quota::AuditBudget>,
    /// Apps that could not be observed, so have no plan (their errors are reported beside it).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unobserved: Vec<String>,
    /// The rollout's waves and halts, when the fleet has a rollout.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollout: Option<rollout::RolloutView>,
}

/// Counts for the plan's summary line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Summary {
    /// Planned commits.
    pub commits: usize,
    /// Planned audit submissions.
    pub audits: usize,
    /// Planned audit withdrawals.
    pub withdrawals: usize,
    /// Planned deletions of stale development builds.
    pub deletions: usize,
    /// Planned releases, gray changes and rollbacks.
    pub releases: usize,
    /// Planned tester binds and unbinds.
    pub tester_changes: usize,
    /// Planned settings: domains and privacy guides.
    #[serde(skip_serializing_if = "is_zero")]
    pub settings: usize,
    /// Testers the plan cannot tell are bound (no member id for them here), to be verified:
    /// not changes.
    #[serde(skip_serializing_if = "is_zero")]
    pub unverified_testers: usize,
    /// Apps with nothing to do.
    pub in_sync: usize,
    /// Apps waiting on an audit verdict.
    pub waiting_on_audit: usize,
    /// Apps stopped on a failure.
    pub failed: usize,
    /// Apps the platform does not let us manage.
    pub not_authorized: usize,
    /// Apps whose gray walk holds a step until the next is due.
    #[serde(skip_serializing_if = "is_zero")]
    pub graying: usize,
    /// Apps whose changes are withheld by `suspend`.
    #[serde(skip_serializing_if = "is_zero")]
    pub suspended: usize,
    /// Apps that could not be observed, so have no plan.
    pub not_observed: usize,
    /// Apps with changes pending (not in the JSON: the steps are counted instead).
    #[serde(skip)]
    pub changed_apps: usize,
}

/// Whether a count is zero (such counts are left out of the JSON).
fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl Plan {
    /// Whether any app has a mutating step before its first wait.
    pub fn has_changes(&self) -> bool {
        self.apps.iter().any(AppPlan::has_changes)
    }

    /// Whether some app is not planned through: failed, not authorized or not observed. CI must
    /// not read such a plan as "nothing to do".
    pub fn is_incomplete(&self) -> bool {
        self.summary().incomplete() > 0
    }
}
