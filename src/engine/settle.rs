//! Settling unknown outcomes (DESIGN §5): a journalled call whose outcome was never recorded (the
//! process died, or the response was lost) is decided by observing the app — the build carries the
//! fingerprint, an audit of it exists, the live state shows it — never by calling again.

use crate::model::{Action, Desired, Observed, Record};
use crate::store::Intent;

use super::events::{AppRef, Event};
use super::{Engine, PassError};

/// Whether `action` can be sent twice without harm: tester changes and build deletions converge,
/// everything else (commit/upload, submit, withdraw, release, gray, rollback) must be observed first.
pub(super) fn is_idempotent(action: &Action) -> bool {
    matches!(
        action,
        Action::BindTester { .. }
            | Action::VerifyTester { .. }
            | Action::UnbindTester { .. }
            | Action::DeleteBuild { .. }
            | Action::SetDomains { .. }
            | Action::SetPrivacy { .. }
            | Action::AddJumpRule { .. }
            | Action::PublishJumpRule { .. }
            | Action::DeleteJumpRule { .. }
    )
}

/// Whether `action` visibly took effect in `observed`; `None` when observation cannot tell (the
/// idempotent actions, which the planner simply plans again).
pub(super) fn took_effect(action: &Action, observed: &Observed) -> Option<bool> {
    let has_fp = |b: Option<&crate::model::Build>, fp: &str| {
        b.and_then(|b| b.fingerprint.as_deref()) == Some(fp)
    };
    let live = observed.live.as_ref();
    let live_fp = |fp: &str| has_fp(live.map(|l| &l.build), fp);
    Some(match action {
        Action::Commit {
            version,
            fingerprint,
        } => {
            let builds = || observed.builds.iter().chain(&observed.dev_builds);
            has_fp(observed.experience.as_ref(), fingerprint)
                || builds().any(|b| b.fingerprint.as_deref() == Some(fingerprint))
                || builds().any(|b| &b.version == version)
        }
        Action::SubmitAudit { fingerprint } => {
            has_fp(observed.audit.as_ref().map(|a| &a.build), fingerprint)
        }
        Action::WithdrawAudit { audit_id, .. } => observed
            .audit
            .as_ref()
            .is_none_or(|a| &a.id != audit_id || a.status == crate::model::AuditStatus::Withdrawn),
        Action::Release { fingerprint } => {
            live_fp(fingerprint) && live.is_some_and(|l| l.gray.is_none())
        }
        Action::Gray {
            fingerprint, to, ..
        } => live_fp(fingerprint) && live.is_some_and(|l| l.gray.is_none_or(|g| g >= *to)),
        Action::RevertGray => live.is_none_or(|l| l.gray.is_none()),
        Action::Rollback { fingerprint } => live_fp(fingerprint),
        Action::WaitForAudit { .. }
        | Action::BindTester { .. }
        | Action::VerifyTester { .. }
        | Action::UnbindTester { .. }
        | Action::SetDomains { .. }
        | Action::SetPrivacy { .. }
        | Action::AddJumpRule { .. }
        | Action::PublishJumpRule { .. }
        | Action::DeleteJumpRule { .. }
        | Action::DeleteBuild { .. } => return None,
    })
}

/// The journal outcome written when observing settled an unknown outcome.
pub(super) fn settled_outcome(applied: Option<bool>) -> &'static str {
    match applied {
        Some(true) => "settled: applied",
        Some(false) => "settled: not applied",
        None => "settled: unknown; planned again from the observation",
    }
}

impl Engine {
    /// Settles every unknown outcome of `app` against `observed` (made after the calls), records
    /// each in the journal and the history, and keeps in `record` what an applied call taught.
    /// Returns how many were settled.
    pub(super) fn settle(
        &self,
        app: &Desired,
        observed: &Observed,
        record: &mut Record,
    ) -> Result<usize, PassError> {
        let open = self.store.unsettled_for(&app.appid)?;
        for (id, intent) in &open {
            let applied = intent
                .step
                .as_ref()
                .and_then(|step| took_effect(step, observed));
            let outcome = settled_outcome(applied);
            self.store.journal_outcome(*id, outcome)?;
            if applied == Some(true) {
                remember_settled(app, intent, record);
            }
            tracing::info!(app = %app.name, action = %intent.action, fingerprint = %intent.fingerprint, outcome, "settled an unknown outcome by observing");
            self.events.emit(Event::Settled {
                app: AppRef::of(app),
                action: intent.action.clone(),
                fingerprint: intent.fingerprint.clone(),
                intended_at_ms: intent.at_ms,
                outcome: outcome.to_string(),
            });
        }
        Ok(open.len())
    }
}

/// What an applied call that settled by observing teaches the record.
fn remember_settled(app: &Desired, intent: &Intent, record: &mut Record) {
    match &intent.step {
        Some(Action::Commit { fingerprint, .. }) => {
            record.last_fingerprint = Some(fingerprint.clone());
            record.note_build_revision(fingerprint, intent.revision.as_deref());
            if *fingerprint == app.fingerprint {
                record.last_ext = Some(app.ext());
            }
        }
        Some(Action::WithdrawAudit { .. }) => {
            record.withdrawals.count_one(intent.at_ms / 1000);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Audit, AuditStatus, Build, Live};

    fn build(version: &str, fp: &str) -> Build {
        Build {
            version: version.into(),
            fingerprint: Some(fp.into()),
            description: String::new(),
        }
    }

    fn commit(fp: &str) -> Action {
        Action::Commit {
            version: "1.0.0".into(),
            fingerprint: fp.into(),
        }
    }

    #[test]
    fn a_commit_took_effect_when_the_experience_carries_its_fingerprint() {
        let mut o = Observed {
            authorized: true,
            experience: Some(build("1.0.0", "aaaaaaaa")),
            ..Observed::default()
        };
        assert_eq!(took_effect(&commit("aaaaaaaa"), &o), Some(true));
        assert_eq!(took_effect(&commit("bbbbbbbb"), &o), Some(false));
        // Alipay: a version number is built once; its build proves the upload.
        o.experience = None;
        o.builds = vec![build("1.0.0", "cccccccc")];
        assert_eq!(took_effect(&commit("bbbbbbbb"), &o), Some(true));
    }

    #[test]
    fn a_submission_took_effect_when_an_audit_of_its_fingerprint_exists() {
        let submit = Action::SubmitAudit {
            fingerprint: "aaaaaaaa".into(),
        };
        let mut o = Observed::default();
        assert_eq!(took_effect(&submit, &o), Some(false));
        o.audit = Some(Audit {
            id: "7".into(),
            build: build("1.0.0", "aaaaaaaa"),
            status: AuditStatus::Auditing,
            reason: None,
        });
        assert_eq!(took_effect(&submit, &o), Some(true));
        let withdraw = Action::WithdrawAudit {
            audit_id: "7".into(),
            fingerprint: None,
        };
        assert_eq!(took_effect(&withdraw, &o), Some(false));
        o.audit.as_mut().unwrap().status = AuditStatus::Withdrawn;
        assert_eq!(took_effect(&withdraw, &o), Some(true));
    }

    #[test]
    fn releases_and_grays_are_read_from_the_live_state() {
        let o = Observed {
            live: Some(Live {
                build: build("1.0.0", "aaaaaaaa"),
                gray: Some(30),
            }),
            ..Observed::default()
        };
        let gray = |to| Action::Gray {
            fingerprint: "aaaaaaaa".into(),
            from: None,
            to,
        };
        assert_eq!(took_effect(&gray(30), &o), Some(true));
        assert_eq!(took_effect(&gray(50), &o), Some(false));
        let release = Action::Release {
            fingerprint: "aaaaaaaa".into(),
        };
        assert_eq!(took_effect(&release, &o), Some(false), "still gray");
        assert_eq!(took_effect(&Action::RevertGray, &o), Some(false));
        let bind = Action::BindTester {
            tester: "ops-li".into(),
        };
        assert_eq!(took_effect(&bind, &o), None);
        assert!(is_idempotent(&bind) && !is_idempotent(&release));
    }
}
