//! Code planning: the pipeline from commit through audit towards release, following the platform's
//! [`Rules`]. Release, gray and rollback steps are in [`super::release`].

use crate::model::{
    Action, Audit, AuditStatus, Build, Desired, ExtChange, Observed, Record, Stage, Step,
    fingerprint_tag,
};

use super::Context;
use super::quota::Budget;
use crate::model::Rules;

/// The code steps of one app, with notes, the ext change of a planned commit, and a failure.
#[derive(Debug, Default)]
pub(super) struct CodePlan {
    /// The steps, in execution order.
    pub steps: Vec<Step>,
    /// Explanations that are not steps.
    pub notes: Vec<String>,
    /// The ext change of a planned commit.
    pub ext_change: Option<ExtChange>,
    /// Why the app is stopped until its fingerprint changes, and what to do about it.
    pub failed: Option<(String, String)>,
    /// Where the app's gray walk stands, while it walks.
    pub walk: Option<crate::model::WalkView>,
}

/// Plans the code steps of one app.
pub(super) fn plan_code(
    desired: &Desired,
    observed: &Observed,
    record: &Record,
    ctx: &Context,
    rules: &'static Rules,
) -> CodePlan {
    let mut planner = Planner {
        d: desired,
        o: observed,
        r: record,
        ctx,
        rules,
        out: CodePlan::default(),
        ended_gray: false,
    };
    planner.plan();
    planner.out
}

/// The inputs of one app's code planning and the plan being built.
pub(super) struct Planner<'a> {
    /// What the fleet wants.
    pub d: &'a Desired,
    /// What the platform says.
    pub o: &'a Observed,
    /// What minifleet remembers.
    pub r: &'a Record,
    /// The time.
    pub ctx: &'a Context,
    /// The platform's rules.
    pub rules: &'static Rules,
    /// The plan so far.
    pub out: CodePlan,
    /// Whether the plan ends the live gray release before submitting (see
    /// [`Rules::gray_holds_review_slot`]): the release steps then start from the release before it.
    pub ended_gray: bool,
}

impl Planner<'_> {
    /// Picks the branch of the planning rules that applies, in order.
    fn plan(&mut self) {
        if let Some(reason) = self.recorded_failure() {
            self.out.failed = Some((reason, TRY_AGAIN.to_owned()));
        } else if let Some(reason) = self.version_conflict() {
            let help = format!(
                "bump `version` in the fleet file: {} builds each version once",
                self.rules.name
            );
            self.out.failed = Some((reason, help));
        } else if self.d.stage == Stage::Experience {
            self.commit_if_needed();
        } else if self.fp_of(self.o.live.as_ref().map(|l| &l.build)) {
            self.already_released();
        } else if !self.rollback() {
            self.towards_release();
        }
    }

    /// The reason of a permanent failure recorded for the wanted fingerprint.
    fn recorded_failure(&self) -> Option<String> {
        let failure = self.r.failure.as_ref()?;
        let same_audit = || {
            failure
                .audit
                .as_ref()
                .is_none_or(|a| *a == self.d.audit.digest())
        };
        (failure.fingerprint == self.d.fingerprint && same_audit()).then(|| {
            format!(
                "{}; change the version, the ext or (for a submission) the audit settings to try \
                 again",
                failure.words()
            )
        })
    }

    /// Whether `build` carries the wanted fingerprint.
    pub fn fp_of(&self, build: Option<&Build>) -> bool {
        build.and_then(|b| b.fingerprint.as_deref()) == Some(self.d.fingerprint.as_str())
    }

    /// The wanted build in words: `1.5.0 [mf:1a2b3c4d]`.
    pub fn wanted(&self) -> String {
        format!(
            "{} {}",
            self.d.version,
            fingerprint_tag(&self.d.fingerprint)
        )
    }

    /// Adds a step.
    pub fn step(&mut self, action: Action, reason: String) {
        self.out.steps.push(Step { action, reason });
    }

    /// Commits the wanted build unless the experience version already is it.
    fn commit_if_needed(&mut self) {
        if self.fp_of(self.o.experience.as_ref()) {
            return;
        }
        let now = match &self.o.experience {
            Some(build) => format!("experience version is {}", describe(build)),
            None => "nothing is committed yet".to_owned(),
        };
        let reason = format!("{now}; the fleet wants {}", self.wanted());
        self.make_room_for_commit();
        let action = Action::Commit {
            version: self.d.version.clone(),
            fingerprint: self.d.fingerprint.clone(),
        };
        self.step(action, reason);
        self.out.ext_change = Some(ExtChange {
            before: self.r.last_ext.clone(),
            after: self.d.ext(),
            others_before: self.r.last_ext_json.clone(),
            others_after: self.d.ext_others(),
        });
    }

    /// Commit, withdraw an outdated audit, submit, wait, then the release steps (rule 2e).
    fn towards_release(&mut self) {
        let audit = self.o.audit.as_ref();
        let own = audit.filter(|a| self.fp_of(Some(&a.build)));
        if let Some(rejected) = own.filter(|a| a.status == AuditStatus::Rejected) {
            self.out.failed = Some((rejection(rejected), RESUBMIT.to_owned()));
            return;
        }
        let covered =
            own.is_some_and(|a| a.status.in_flight() || a.status == AuditStatus::Approved);
        let outdated = audit.filter(|a| own.is_none() && self.holds_slot(a));
        let budget = Budget::at(self.rules, &self.r.withdrawals, self.ctx.now);
        if let (Some(blocking), Some(budget)) = (outdated, budget.filter(Budget::exhausted)) {
            self.blocked_by(blocking, &budget);
            return;
        }
        if !covered {
            self.commit_if_needed();
        }
        if let Some(blocking) = outdated {
            self.end_gray_of(blocking);
            self.withdraw(blocking, budget.as_ref());
        }
        if !covered {
            self.submit(own);
        }
        self.wait_and_release(own);
    }

    /// Waits for the wanted build's audit unless it is approved, then plans the release.
    fn wait_and_release(&mut self, own: Option<&Audit>) {
        let approved = own.is_some_and(|a| a.status == AuditStatus::Approved);
        if !approved {
            self.wait(own.filter(|a| a.status.in_flight()));
        }
        match self.d.stage {
            Stage::Release => self.release_steps(),
            _ if approved => self
                .out
                .notes
                .push("approved; stage `audit` stops before release".to_owned()),
            _ => {}
        }
    }

    /// Whether an audit of another build blocks a new submission: in flight, or settled where
    /// the platform keeps settled versions in the review slot (unless the build was released).
    fn holds_slot(&self, audit: &Audit) -> bool {
        let settled = matches!(audit.status, AuditStatus::Approved | AuditStatus::Rejected);
        audit.status.in_flight()
            || (settled && self.rules.settled_audit_holds_slot && !self.released(&audit.build))
    }

    /// Whether `build` is the live release or the one before it. A running gray counts only where
    /// a gray does not hold the review slot.
    fn released(&self, build: &Build) -> bool {
        let live = self
            .o
            .live
            .as_ref()
            .filter(|l| l.gray.is_none() || !self.rules.gray_holds_review_slot)
            .map(|l| &l.build);
        [live, self.o.previous.as_ref()]
            .into_iter()
            .flatten()
            .any(|b| b.version == build.version)
    }

    /// Before withdrawing `audit`: where a gray holds the review slot and `audit`'s build is the
    /// live gray, cancels the gray first (its build goes back to approved, then the withdrawal
    /// sends it to development). Releasing it fully would free the slot too, but would publish a
    /// build the fleet no longer wants.
    fn end_gray_of(&mut self, audit: &Audit) {
        let Some(live) = self.o.live.as_ref() else {
            return;
        };
        let Some(percent) = live.gray else {
            return;
        };
        if !self.rules.gray_holds_review_slot || live.build.version != audit.build.version {
            return;
        }
        let after = match &self.o.previous {
            Some(previous) => format!("sends its users back to release {}", describe(previous)),
            None => "leaves nothing released until the new build is".to_owned(),
        };
        let reason = self
            .rules
            .end_gray_reason_for(percent, &describe(&live.build), &after);
        self.step(Action::RevertGray, reason);
        self.ended_gray = true;
    }

    /// Withdraws an audit of another build, spending the withdrawal quota where there is one.
    fn withdraw(&mut self, audit: &Audit, budget: Option<&Budget>) {
        let settled = match audit.status {
            AuditStatus::Approved => Some("approved"),
            AuditStatus::Rejected => Some("rejected"),
            _ => None,
        };
        let mut reason =
            self.rules
                .withdraw_reason_for(&audit.id, &describe(&audit.build), settled);
        if let Some(budget) = budget {
            reason.push_str(&format!(
                "; uses 1 of today's {} withdrawals (then {} left this month)",
                budget.left_today(),
                budget.left_this_month().saturating_sub(1)
            ));
        }
        let action = Action::WithdrawAudit {
            audit_id: audit.id.clone(),
            fingerprint: audit.build.fingerprint.clone(),
        };
        self.step(action, reason);
    }

    /// Waits for an outdated audit because the withdrawal quota is used up.
    fn blocked_by(&mut self, audit: &Audit, budget: &Budget) {
        self.out.notes.push(format!(
            "the withdrawal quota is used up ({} of {} today, {} of {} this month): the outdated \
             audit {} must finish before the new build can be committed and submitted",
            budget.used_today, budget.per_day, budget.used_this_month, budget.per_month, audit.id
        ));
        let reason = format!(
            "audit {} of outdated build {} must finish before build {} can be submitted",
            audit.id,
            describe(&audit.build),
            self.wanted()
        );
        let action = Action::WaitForAudit {
            audit_id: audit.id.clone(),
        };
        self.step(action, reason);
    }

    /// Submits the wanted build for audit.
    fn submit(&mut self, own: Option<&Audit>) {
        let reason = match own {
            Some(a) if a.status == AuditStatus::Withdrawn => {
                format!(
                    "audit {} of build {} was withdrawn: submit it again",
                    a.id,
                    self.wanted()
                )
            }
            _ => format!("build {} must pass the platform's audit", self.wanted()),
        };
        let action = Action::SubmitAudit {
            fingerprint: self.d.fingerprint.clone(),
        };
        self.step(action, reason);
    }

    /// Waits for the wanted build's audit: `in_flight`, or the one about to be submitted.
    fn wait(&mut self, in_flight: Option<&Audit>) {
        let (audit_id, reason) = match in_flight {
            Some(a) => (a.id.clone(), in_review(a, &self.wanted())),
            None => (
                String::new(),
                "the platform reviews the submitted build; a verdict takes hours to days"
                    .to_owned(),
            ),
        };
        self.step(Action::WaitForAudit { audit_id }, reason);
    }
}

/// A build in words: `1.4.0 [mf:99aabbcc]`, or the version and that minifleet did not make it.
pub(super) fn describe(build: &Build) -> String {
    match &build.fingerprint {
        Some(fp) => format!("{} {}", build.version, fingerprint_tag(fp)),
        None => format!("{} (not made by minifleet)", build.version),
    }
}

/// The fix of a failure recorded for the wanted build.
const TRY_AGAIN: &str = "change the app's version, ext or (for a submission) audit settings in the fleet file to try again";

/// The fix of a rejected audit.
const RESUBMIT: &str = "fix what the reviewer named, then change the app's version or ext in the fleet file to resubmit";

/// Why an app whose wanted build was rejected is stopped.
fn rejection(audit: &Audit) -> String {
    let why = audit
        .reason
        .as_deref()
        .unwrap_or("the platform gave no reason");
    format!(
        "audit {} was rejected: {why}; change the version or ext to resubmit",
        audit.id
    )
}

/// Why an in-flight audit of the wanted build is waited on.
fn in_review(audit: &Audit, wanted: &str) -> String {
    match (audit.status, audit.reason.as_deref()) {
        (AuditStatus::Delayed, Some(why)) => {
            format!(
                "audit {} of build {wanted} is delayed by the platform: {why}",
                audit.id
            )
        }
        (AuditStatus::Delayed, None) => {
            format!(
                "audit {} of build {wanted} is delayed by the platform",
                audit.id
            )
        }
        _ => format!(
            "audit {} of build {wanted} is in review; a verdict takes hours to days",
            audit.id
        ),
    }
}
