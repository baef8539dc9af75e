//! The pure planner (DESIGN §1): `plan_app(desired, observed, record, ctx) -> AppPlan`, no I/O, no
//! clock; and [`render`], which turns plans into human text or JSON.

pub mod render;

use serde::Serialize;

use crate::model::{AppPlan, Desired, Observed, Record};

/// What the planner needs besides the app: the time, passed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Context {
    /// Unix time in seconds.
    pub now: u64,
}

/// Plans the next steps for one app.
pub fn plan_app(desired: &Desired, observed: &Observed, record: &Record, ctx: &Context) -> AppPlan {
    todo!()
}

/// The plans of a whole fleet, in fleet order.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Plan {
    /// One plan per app.
    pub apps: Vec<AppPlan>,
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
    /// Planned releases, gray changes and rollbacks.
    pub releases: usize,
    /// Planned tester binds and unbinds.
    pub tester_changes: usize,
    /// Apps with nothing to do.
    pub in_sync: usize,
    /// Apps waiting on an audit verdict.
    pub waiting_on_audit: usize,
    /// Apps stopped on a failure.
    pub failed: usize,
    /// Apps the platform does not let us manage.
    pub not_authorized: usize,
}

impl Plan {
    /// Whether any app has a mutating step.
    pub fn has_changes(&self) -> bool {
        self.apps.iter().any(AppPlan::has_changes)
    }

    /// The counts for the summary line.
    pub fn summary(&self) -> Summary {
        todo!()
    }
}
