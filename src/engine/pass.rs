//! One app's pass: observe, plan, and (unless dry-running) apply the steps that can run now.

use std::fmt;

use crate::model::{AppPlan, AppState, AuditStatus, Desired, Observed, PlatformKind, Record, Step};
use crate::plan::quota::{budget_audits, submits_audit};
use crate::plan::rollout::Progress;
use crate::plan::{Context, plan_app};
use crate::platform::{ErrorClass, PlatformError};
use crate::store::StoreError;
use crate::view::report::Report;

use super::events::{AppRef, Event};
use super::{Engine, Mode, apply, now_ms};

/// What ended an app's pass early.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PassError {
    /// A platform call failed.
    Platform(Box<PlatformError>),
    /// The store failed: what happened and what to do about it.
    Store(Report),
    /// The fleet has an app on a platform that is not configured.
    NoPlatform(PlatformKind),
    /// The pass's task died (a bug): the message says how.
    Crashed,
}

impl fmt::Display for PassError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PassError::Platform(err) => err.fmt(f),
            PassError::Store(report) => f.write_str(&report.message),
            PassError::NoPlatform(kind) => write!(f, "platform `{kind}` is not configured"),
            PassError::Crashed => f.write_str("the pass crashed; see the log"),
        }
    }
}

impl From<StoreError> for PassError {
    fn from(err: StoreError) -> Self {
        PassError::Store(Report::from(&err))
    }
}

/// A step that was attempted, and how it went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// The step.
    pub step: Step,
    /// `Ok` or the platform's error.
    pub result: Result<(), PlatformError>,
}

/// How one app's pass went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppReport {
    /// The app's name.
    pub app: String,
    /// The app's id.
    pub appid: String,
    /// The plan made from this pass's observation (`None` when observing failed).
    pub plan: Option<AppPlan>,
    /// The steps attempted, in order.
    pub applied: Vec<Applied>,
    /// What ended the pass early, if anything did.
    pub error: Option<PassError>,
    /// Why the app was held back this pass, if it was.
    pub held: Option<Held>,
    /// Where the app stands in the fleet's rollout (from its plan), when it was planned.
    pub progress: Option<Progress>,
    /// Nothing of the app is released yet (a new merchant, for the quota's reserve).
    pub unreleased: bool,
}

/// What holds an app back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldKind {
    /// A platform quota parked the app until it resets: nothing is applied.
    Parked,
    /// The app failed in earlier passes and backs off: nothing is applied.
    Backoff,
    /// The monthly audit quota is shared out and this app's turn has not come: its submission
    /// (and what follows) is out of the plan; earlier steps still apply.
    AuditQuota,
    /// The rollout's waves hold its code steps: a wave before it is not through (or bakes), or
    /// its wave has no free place. Time ends it.
    Wave,
    /// A person must act: its release is halted by rejections, or its wave waits at a manual
    /// gate (`minifleet resume`, `minifleet promote`). Its code steps are held.
    Gate,
    /// A gray walk holds its step until the next is due. Time ends it.
    Walk,
    /// The platform says its submission or release would fail (an ICP filing not done): a
    /// person must act. Its steps from the submission (or release) on are held.
    Blocked,
}

impl HoldKind {
    /// The hold's stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            HoldKind::Parked => "parked",
            HoldKind::Backoff => "backoff",
            HoldKind::AuditQuota => "audit_quota",
            HoldKind::Wave => "wave",
            HoldKind::Gate => "gate",
            HoldKind::Walk => "gray_walk",
            HoldKind::Blocked => "blocked",
        }
    }
}

/// Why an app was held back this pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    /// What holds it.
    pub kind: HoldKind,
    /// Unix ms when the hold ends, where known.
    pub until_ms: Option<u64>,
    /// Why, in words.
    pub reason: String,
}

impl Held {
    /// The event telling that `app` is held so.
    pub fn event(&self, app: &Desired) -> Event {
        Event::Held {
            app: AppRef::of(app),
            kind: self.kind.as_str(),
            until_ms: self.until_ms,
            reason: self.reason.clone(),
        }
    }

    /// Whether nothing of the app's plan is applied.
    pub fn blocks_apply(&self) -> bool {
        matches!(self.kind, HoldKind::Parked | HoldKind::Backoff)
    }
}

impl AppReport {
    fn new(app: &Desired) -> AppReport {
        AppReport {
            app: app.name.clone(),
            appid: app.appid.clone(),
            plan: None,
            applied: Vec::new(),
            error: None,
            held: None,
            progress: None,
            unreleased: false,
        }
    }

    /// The report of an app whose pass task died.
    pub fn crashed(app: &Desired) -> AppReport {
        AppReport {
            error: Some(PassError::Crashed),
            ..AppReport::new(app)
        }
    }

    /// An empty report of the app named `name` (its appid unknown here).
    pub fn named(name: &str) -> AppReport {
        AppReport {
            app: name.to_owned(),
            appid: String::new(),
            plan: None,
            applied: Vec::new(),
            error: None,
            held: None,
            progress: None,
            unreleased: false,
        }
    }

    /// Whether the pass left the app settled: planned nothing mutating, no error.
    pub fn is_settled(&self) -> bool {
        self.error.is_none()
            && self.held.is_none()
            && self.applied.is_empty()
            && self
                .plan
                .as_ref()
                .is_some_and(|p| p.state.is_settled() && !p.has_changes())
    }

    /// Whether the app failed: a permanent failure or an error in this pass.
    pub fn is_failed(&self) -> bool {
        self.error.is_some()
            || self.applied.iter().any(|a| a.result.is_err())
            || self
                .plan
                .as_ref()
                .is_some_and(|p| matches!(p.state, crate::model::AppState::Failed { .. }))
    }
}

impl Engine {
    /// Observes and plans one app (phase one of a pass). With `apply`, unknown outcomes of earlier
    /// calls are settled first, and an app that is backing off after failures is held this pass.
    /// A parked app (a quota) is held in any case; the reason becomes a plan note.
    /// A `resync` may plan on the last observation when a probe proves it still holds.
    pub(super) async fn observe_and_plan(
        &self,
        app: &Desired,
        mode: Mode,
        resync: bool,
    ) -> AppReport {
        let mut report = AppReport::new(app);
        if let Err(err) = self.plan_inner(app, mode, resync, &mut report).await {
            tracing::warn!(app = %app.name, error = %err, "pass ended early");
            if mode != Mode::Proposal {
                self.pass_failed(app, &err);
            }
            if mode == Mode::Apply {
                self.note_failure(app, &err);
                self.hold_after(app, &mut report);
            }
            report.error = Some(err);
        }
        report
    }

    /// After a pass that applied: a quota park or a backoff it ran into holds the app from now
    /// on, and the report says so (the scheduler requeues it when the hold ends).
    fn hold_after(&self, app: &Desired, report: &mut AppReport) {
        if report.held.is_some() {
            return;
        }
        match self.store.record(&app.appid) {
            Ok(record) => report.held = held(&record, app, now_ms(), true),
            Err(err) => tracing::warn!(app = %app.name, error = %err, "cannot read the record"),
        }
    }

    async fn plan_inner(
        &self,
        app: &Desired,
        mode: Mode,
        resync: bool,
        report: &mut AppReport,
    ) -> Result<(), PassError> {
        let apply = mode == Mode::Apply;
        let platform = self
            .platform(app.platform)
            .ok_or(PassError::NoPlatform(app.platform))?;
        let mut record = self.store.record(&app.appid)?;
        // Known before observing, so an app whose observation keeps failing still says why it
        // is held.
        report.held = held(&record, app, now_ms(), apply);
        let observed = self
            .live_state(app, platform.as_ref(), &record, mode, resync)
            .await?;
        if mode != Mode::Proposal {
            let previous = self.store.observation(&app.appid)?.map(|(o, _)| o);
            self.store
                .put_observation(&app.appid, &observed, now_ms())?;
            self.events.emit(Event::Observed {
                app: AppRef::of(app),
            });
            self.tell_verdicts(app, previous.as_ref(), &observed);
        }
        let mut changed = apply && self.settle(app, &observed, &mut record)? > 0;
        let now = now_ms();
        if apply {
            changed |= crate::plan::gray::track(app, &observed, &mut record, now);
        }
        let mut plan = plan_app(app, &observed, &record, &Context { now: now / 1000 });
        report.held = held(&record, app, now, apply);
        if let Some(held) = &report.held {
            plan.notes.push(held.reason.clone());
        }
        if let Some(held) = report.held.as_ref().filter(|_| mode != Mode::Proposal) {
            self.events.emit(held.event(app));
        }
        // Not told as an event: the state change to `graying` says it, once.
        report.held = report.held.take().or_else(|| walk_hold(&plan));
        if apply {
            changed |= self.tell_state(app, &plan, &mut record);
        }
        if changed {
            self.store.put_record(&app.appid, &record)?;
        }
        report.progress = Some(crate::plan::rollout::progress(app, &observed, &plan));
        report.unreleased = observed.live.is_none();
        report.plan = Some(plan);
        Ok(())
    }

    /// Tells the verdicts the platform gave since the last observation: an audit that is approved
    /// or rejected now and was not before (or was another audit).
    fn tell_verdicts(&self, app: &Desired, before: Option<&Observed>, now: &Observed) {
        let Some(audit) = &now.audit else {
            return;
        };
        let seen = before
            .and_then(|o| o.audit.as_ref())
            .is_some_and(|a| a.id == audit.id && a.status == audit.status);
        if seen {
            return;
        }
        let (app, audit_id, build) = (
            AppRef::of(app),
            audit.id.clone(),
            audit.build.fingerprint.clone(),
        );
        match audit.status {
            AuditStatus::Approved => self.events.emit(Event::AuditApproved {
                app,
                audit_id,
                build,
            }),
            AuditStatus::Rejected => self.events.emit(Event::AuditRejected {
                app,
                audit_id,
                build,
                reason: audit.reason.clone(),
            }),
            _ => {}
        }
    }

    /// Tells a change of the app's state since its last pass; returns whether `record` changed.
    pub(super) fn tell_state(&self, app: &Desired, plan: &AppPlan, record: &mut Record) -> bool {
        let to = plan.state.name();
        if record.last_state.as_deref() == Some(to) {
            return false;
        }
        let reason = match &plan.state {
            AppState::Failed { reason, .. } | AppState::NotAuthorized { reason } => {
                Some(reason.clone())
            }
            _ => None,
        };
        self.events.emit(Event::StateChanged {
            app: AppRef::of(app),
            from: record.last_state.replace(to.to_string()),
            to: to.to_string(),
            reason,
        });
        true
    }

    /// Applies a plan made by [`Engine::observe_and_plan`] (phase two of a pass): settles unknown
    /// outcomes against the observation the plan was made from, then applies; a conflict
    /// re-observes and re-plans once.
    pub(super) async fn apply_report(&self, app: &Desired, mut report: AppReport) -> AppReport {
        if report.error.is_some() || report.held.as_ref().is_some_and(Held::blocks_apply) {
            return report;
        }
        let Some(plan) = report.plan.clone() else {
            return report;
        };
        match self.apply_plan(app, &plan, report.held.as_ref()).await {
            Ok(applied) => report.applied = applied,
            Err(err) => {
                self.pass_failed(app, &err);
                report.error = Some(err);
                return report;
            }
        }
        self.note_release(app, &report.applied);
        self.note_submission(app, &report.applied);
        let conflict = report
            .applied
            .last()
            .and_then(|a| a.result.as_ref().err())
            .is_some_and(|e| e.class == ErrorClass::Conflict);
        if conflict {
            self.replan_after_conflict(app, &plan, &mut report).await;
        }
        self.hold_after(app, &mut report);
        report
    }

    /// Applies `plan`, which the round held by `held` (if at all): why, when only the round knows
    /// (the audit quota's line, a readiness blocker), goes into the record the pass writes, so
    /// `status` can say so.
    async fn apply_plan(
        &self,
        app: &Desired,
        plan: &AppPlan,
        held: Option<&Held>,
    ) -> Result<Vec<Applied>, PassError> {
        let platform = self
            .platform(app.platform)
            .ok_or(PassError::NoPlatform(app.platform))?;
        let mut record = self.store.record(&app.appid)?;
        record.round_hold = held
            .filter(|h| matches!(h.kind, HoldKind::AuditQuota | HoldKind::Blocked))
            .map(|h| h.reason.clone());
        if let Some((observed, _)) = self.store.observation(&app.appid)? {
            self.settle(app, &observed, &mut record)?;
        }
        apply::apply(self, platform.as_ref(), app, plan, record).await
    }

    /// After a conflict: observe again, plan again, apply once more. A submission the audit
    /// budget did not grant the first plan is not added by the second.
    async fn replan_after_conflict(&self, app: &Desired, first: &AppPlan, report: &mut AppReport) {
        tracing::info!(app = %app.name, "conflict: observing and planning again");
        let mut again = self.observe_and_plan(app, Mode::Apply, false).await;
        let (Some(plan), None, None) = (again.plan.as_mut(), &again.error, &again.held) else {
            return;
        };
        if !submits_audit(first) && submits_audit(plan) {
            let _ = budget_audits(&mut [plan], 0);
        }
        let again = Box::pin(self.apply_report_once(app, again)).await;
        report.plan = again.plan;
        report.applied.extend(again.applied);
        report.error = again.error;
    }

    async fn apply_report_once(&self, app: &Desired, mut report: AppReport) -> AppReport {
        let Some(plan) = report.plan.clone() else {
            return report;
        };
        match self.apply_plan(app, &plan, report.held.as_ref()).await {
            Ok(applied) => report.applied = applied,
            Err(err) => report.error = Some(err),
        }
        report
    }

    /// A pass that failed before applying (e.g. observing failed): a quota parks the app until
    /// it resets, anything else counts towards the backoff (the one policy of apply).
    fn note_failure(&self, app: &Desired, err: &PassError) {
        let updated = self.store.record(&app.appid).and_then(|mut record| {
            match err {
                PassError::Platform(e) if e.class == ErrorClass::Quota => {
                    apply::park(&mut record, e, now_ms() / 1000);
                }
                _ => {
                    apply::bump_backoff(&mut record, now_ms(), app, err.to_string(), &self.backoff)
                }
            }
            self.store.put_record(&app.appid, &record)
        });
        if let Err(err) = updated {
            tracing::error!(app = %app.name, error = %err, "cannot record the failure");
        }
    }

    /// Tells that the pass ended early, and why.
    fn pass_failed(&self, app: &Desired, err: &PassError) {
        self.events.emit(Event::PassFailed {
            app: AppRef::of(app),
            error: err.to_string(),
            platform_error: match err {
                PassError::Platform(e) => Some((**e).clone()),
                _ => None,
            },
        });
    }
}

/// A gray walk holding its step: held until the next step is due (the plan's walk line says so).
fn walk_hold(plan: &AppPlan) -> Option<Held> {
    let walk = plan
        .walk
        .as_ref()
        .filter(|_| plan.state == AppState::Graying)?;
    walk.next?;
    Some(Held {
        kind: HoldKind::Walk,
        until_ms: Some(walk.due?.saturating_mul(1000)),
        reason: walk.words(),
    })
}

/// Why an app is held: parked by a quota that has not reset, or (when `apply`: automated passes
/// that would apply) backing off after failures of its current fleet entry — an edit of the
/// entry lifts the backoff. `status` asks the same question.
pub fn held(record: &Record, app: &Desired, now_ms: u64, apply: bool) -> Option<Held> {
    let at = crate::model::calendar::utc;
    if let Some(parked) = record.parked.as_ref().filter(|p| p.until * 1000 > now_ms) {
        let until = parked.until * 1000;
        return Some(Held {
            kind: HoldKind::Parked,
            until_ms: Some(until),
            reason: format!(
                "parked until {}: {} failed with {} ({})",
                at(until),
                parked.call,
                parked.code,
                parked.reason
            ),
        });
    }
    let until = record.backoff_until_ms.filter(|&t| apply && t > now_ms)?;
    // A record from before entries were tracked has no digest: its backoff still holds.
    if record
        .backoff_entry
        .as_ref()
        .is_some_and(|entry| *entry != app.entry_digest())
    {
        return None;
    }
    let last = record
        .last_error
        .as_deref()
        .map(|e| format!(" (the last: {e})"))
        .unwrap_or_default();
    Some(Held {
        kind: HoldKind::Backoff,
        until_ms: Some(until),
        reason: format!(
            "backing off after {} failed pass{} in a row{last}; next try after {}",
            record.failures,
            if record.failures == 1 { "" } else { "es" },
            at(until)
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::policy::Backoff;

    fn app(gray: u8) -> Desired {
        let yaml = format!(
            "  - {{ name: a, platform: wechat, appid: \"wx1111111111111111\", version: 1.0.0, gray: {gray}, stage: experience }}\n"
        );
        crate::engine::fixtures::apps(&yaml).remove(0)
    }

    #[test]
    fn a_changed_fleet_entry_clears_its_backoff() {
        let (old, edited) = (app(100), app(50));
        assert_eq!(
            old.fingerprint, edited.fingerprint,
            "gray is not in the fingerprint"
        );
        let mut record = Record::default();
        let backoff = &Backoff::STANDARD;
        apply::bump_backoff(
            &mut record,
            1_000,
            &old,
            "wxa/commit failed with -1".into(),
            backoff,
        );
        apply::bump_backoff(
            &mut record,
            2_000,
            &old,
            "wxa/commit failed with -1".into(),
            backoff,
        );
        assert_eq!(record.failures, 2);
        let held_old = held(&record, &old, 2_001, true).expect("the old entry backs off");
        assert_eq!(held_old.kind, HoldKind::Backoff);
        assert!(
            held_old.reason.contains("2 failed passes in a row"),
            "{}",
            held_old.reason
        );
        assert!(
            held_old.reason.contains("wxa/commit failed with -1"),
            "{}",
            held_old.reason
        );
        assert_eq!(
            held(&record, &edited, 2_001, true),
            None,
            "an edit lifts the hold"
        );
        // A failure of the edited entry starts its own count.
        apply::bump_backoff(
            &mut record,
            3_000,
            &edited,
            "wxa/commit failed with -1".into(),
            backoff,
        );
        assert_eq!(record.failures, 1);
    }

    #[test]
    fn a_record_without_an_entry_digest_still_backs_off() {
        let record = Record {
            failures: 1,
            backoff_until_ms: Some(10_000),
            ..Record::default()
        };
        assert!(held(&record, &app(100), 5_000, true).is_some());
        assert_eq!(
            held(&record, &app(100), 5_000, false),
            None,
            "dry runs are not held"
        );
        assert_eq!(
            held(&record, &app(100), 10_000, true),
            None,
            "the backoff ended"
        );
    }
}
