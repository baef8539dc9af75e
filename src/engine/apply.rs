//! Applying one app's plan: each mutating step is journalled before the call and its outcome after,
//! told as events (history, progress and metrics subscribe), and its effect (audit id, tester
//! map, last build) remembered.

use crate::model::settings::setting_of;
use crate::model::{Action, AppPlan, Desired, Failure, Parked, Record, Step};
use crate::plan::gray;
use crate::platform::http::MUTATIONS;
use crate::platform::{Effect, ErrorClass, ErrorEffect, Platform, PlatformError};
use crate::store::Intent;

use super::events::{AppRef, Event};
use super::policy::Backoff;
use super::settle::{is_idempotent, took_effect};
use super::{Applied, Engine, PassError, now_ms};

/// Applies `plan`'s steps up to the first wait; stops at the first error that ends the pass.
pub(super) async fn apply(
    engine: &Engine,
    platform: &dyn Platform,
    app: &Desired,
    plan: &AppPlan,
    mut record: Record,
) -> Result<Vec<Applied>, PassError> {
    let mut applied = Vec::new();
    if record
        .parked
        .as_ref()
        .is_some_and(|p| p.until <= now_ms() / 1000)
    {
        record.parked = None;
    }
    for step in &plan.steps {
        if !step.action.is_mutating() {
            break;
        }
        let result = call(engine, platform, app, step).await?;
        let stop = match &result {
            Ok(effect) => {
                remember(engine, app, &step.action, effect, &mut record)?;
                false
            }
            Err(err) => on_error(app, &step.action, err, &mut record),
        };
        let outcome = Applied {
            step: step.clone(),
            result: result.map(drop),
        };
        applied.push(outcome);
        if stop {
            break;
        }
    }
    count_failures(&applied, &mut record, now_ms(), app, &engine.backoff);
    engine.store.put_record(&app.appid, &record)?;
    Ok(applied)
}

/// Keeps the per-app failure count and backoff: a retryable error (transient, auth, conflict)
/// doubles the backoff; a pass without errors clears it.
pub(super) fn count_failures(
    applied: &[Applied],
    record: &mut Record,
    now_ms: u64,
    app: &Desired,
    backoff: &Backoff,
) {
    let retryable = |e: &PlatformError| {
        matches!(
            e.class,
            ErrorClass::Transient | ErrorClass::Auth | ErrorClass::Conflict
        )
    };
    let errors: Vec<&PlatformError> = applied
        .iter()
        .filter_map(|a| a.result.as_ref().err())
        .collect();
    if let Some(last) = errors.iter().rev().find(|e| retryable(e)) {
        bump_backoff(record, now_ms, app, last.to_string(), backoff);
    } else if errors.is_empty() {
        record.failures = 0;
        record.backoff_until_ms = None;
        record.backoff_entry = None;
        record.last_error = None;
    }
}

/// Counts one more failure in a row of `app`'s fleet entry (a changed entry starts the count
/// over) and backs the app off on `backoff`'s schedule, ±25 %.
pub(super) fn bump_backoff(
    record: &mut Record,
    now_ms: u64,
    app: &Desired,
    error: String,
    backoff: &Backoff,
) {
    let entry = app.entry_digest();
    if record.backoff_entry.as_deref() != Some(entry.as_str()) {
        record.failures = 0;
    }
    record.backoff_entry = Some(entry);
    record.last_error = Some(error);
    record.failures = record.failures.saturating_add(1);
    let base = backoff.after(record.failures).as_millis() as u64;
    let jitter = fastrand::u64(0..=base / 2);
    record.backoff_until_ms = Some(now_ms + base - base / 4 + jitter);
}

/// Journals, calls (retrying transient errors a few times) and records history for one step.
///
/// The intent is flushed before the first attempt. A transient error of a non-idempotent call is
/// never simply repeated: the app is observed first, and if the call took effect (the response was
/// lost) it counts as done; if observing fails the outcome stays unknown in the journal, to be
/// settled by observing before the app's next mutation.
async fn call(
    engine: &Engine,
    platform: &dyn Platform,
    app: &Desired,
    step: &Step,
) -> Result<Result<Effect, PlatformError>, PassError> {
    let intent = Intent {
        app: app.name.clone(),
        appid: app.appid.clone(),
        action: step.action.kind().to_string(),
        fingerprint: app.fingerprint.clone(),
        at_ms: now_ms(),
        step: Some(step.action.clone()),
        revision: app.revision.known().map(str::to_owned),
    };
    let id = engine.store.journal_intent(&intent).await?;
    engine.events.emit(Event::ActionStarted {
        app: AppRef::of(app),
        action: step.action.clone(),
    });
    let (result, outcome) = attempts(platform, app, &step.action).await;
    match &outcome {
        Some(outcome) => engine.store.journal_outcome(id, outcome)?,
        None => {
            tracing::warn!(app = %app.name, action = %step.action.kind(), "outcome unknown; it will be settled by observing")
        }
    }
    engine.events.emit(match &result {
        Ok(effect) => Event::ActionApplied {
            app: AppRef::of(app),
            action: step.action.clone(),
            detail: match effect {
                Effect::AuditSubmitted { audit_id } => Some(format!("audit {audit_id}")),
                _ => None,
            },
        },
        Err(error) => Event::ActionFailed {
            app: AppRef::of(app),
            action: step.action.clone(),
            error: error.clone(),
        },
    });
    Ok(result)
}

/// Calls `action` up to [`MUTATIONS`]' attempts on its schedule, observing between attempts of a
/// call that is not idempotent; returns the result and the journal outcome (`None`: unknown).
async fn attempts(
    platform: &dyn Platform,
    app: &Desired,
    action: &Action,
) -> (Result<Effect, PlatformError>, Option<String>) {
    let mut attempt = 1;
    loop {
        let err = match platform.execute(app, action).await {
            Ok(effect) => return (Ok(effect), Some("ok".to_string())),
            Err(err) if err.class != ErrorClass::Transient => {
                let outcome = format!("error {}", err.code);
                return (Err(err), Some(outcome));
            }
            Err(err) => err,
        };
        if !is_idempotent(action) {
            match observe_effect(platform, app, action).await {
                Some(Ok(effect)) => {
                    let outcome = format!("ok (error {} but observed applied)", err.code);
                    return (Ok(effect), Some(outcome));
                }
                Some(Err(())) => {}
                None => return (Err(err), None),
            }
        }
        if attempt >= MUTATIONS.attempts {
            let outcome = format!("error {} (not applied)", err.code);
            return (Err(err), Some(outcome));
        }
        tracing::debug!(app = %app.name, call = %err.call, code = %err.code, attempt, "transient error, retrying");
        tokio::time::sleep(MUTATIONS.pause(attempt)).await;
        attempt += 1;
    }
}

/// After a transient error of a non-idempotent call: observes the app. `Some(Ok)` the call took
/// effect, `Some(Err)` it did not (safe to retry), `None` observing failed (unknown).
async fn observe_effect(
    platform: &dyn Platform,
    app: &Desired,
    action: &Action,
) -> Option<Result<Effect, ()>> {
    let observed = platform.observe(app).await.ok()?;
    match took_effect(action, &observed)? {
        true => Some(Ok(match (action, &observed.audit) {
            (Action::SubmitAudit { .. }, Some(audit)) => Effect::AuditSubmitted {
                audit_id: audit.id.clone(),
            },
            _ => Effect::None,
        })),
        false => Some(Err(())),
    }
}

/// Keeps what a successful action taught us.
fn remember(
    engine: &Engine,
    app: &Desired,
    action: &Action,
    effect: &Effect,
    record: &mut Record,
) -> Result<(), PassError> {
    if let Some((key, _)) = setting_of(action, app) {
        record.setting_failures.remove(&key);
    }
    match (action, effect) {
        (Action::Commit { fingerprint, .. }, _) => {
            record.last_fingerprint = Some(fingerprint.clone());
            record.note_build_revision(fingerprint, app.revision.known());
            record.last_ext = Some(app.ext());
            record.last_ext_json = app.ext_others();
        }
        (Action::WithdrawAudit { .. }, _) => record.withdrawals.count_one(now_ms() / 1000),
        (Action::AddJumpRule { rule, .. }, _) => {
            record.jump_prefixes.insert(rule.prefix.clone());
        }
        (Action::DeleteJumpRule { prefix }, _) => {
            record.jump_prefixes.remove(prefix);
        }
        (Action::Gray { to, .. }, _) => record.gray_mark = gray::raised(app, *to, now_ms()),
        (Action::Release { .. }, _) => record.gray_mark = gray::raised(app, 100, now_ms()),
        (_, Effect::TesterBound { tester, member }) => {
            engine.store.put_tester(&app.appid, tester, Some(member))?;
            record.testers.insert(tester.clone(), member.clone());
            record.unpaired_testers.remove(tester);
        }
        (_, Effect::TesterAlreadyBound { tester }) => {
            record.unpaired_testers.insert(tester.clone());
        }
        (
            _,
            Effect::TesterUnbound {
                tester: Some(tester),
            },
        ) => {
            engine.store.put_tester(&app.appid, tester, None)?;
            record.testers.remove(tester);
            record.unpaired_testers.remove(tester);
        }
        _ => {}
    }
    Ok(())
}

/// Parks the app on the quota `err` ran into at `now` (unix seconds), until it resets.
pub(super) fn park(record: &mut Record, err: &PlatformError, now: u64) {
    record.parked = Some(Parked {
        until: err.quota_resets_at().unwrap_or(now + 3600),
        call: err.call.clone(),
        code: err.code.clone(),
        reason: err.explanation.clone(),
    });
}

/// The permanent failure `err` of what `fingerprint` stands for.
fn failure(fingerprint: String, err: &PlatformError) -> Failure {
    Failure {
        fingerprint,
        call: err.call.clone(),
        code: err.code.clone(),
        message: format!("{} ({})", err.explanation, err.message),
        audit: None,
    }
}

/// Records a failed action; returns whether the app's pass stops here.
fn on_error(app: &Desired, action: &Action, err: &PlatformError, record: &mut Record) -> bool {
    let tester_step = matches!(
        action,
        Action::BindTester { .. } | Action::VerifyTester { .. } | Action::UnbindTester { .. }
    );
    let setting = setting_of(action, app);
    match err.class {
        ErrorClass::Permanent
            if matches!(action, Action::Rollback { .. })
                && err.effect == Some(ErrorEffect::RollbackRefused) =>
        {
            record.rollback_refused = Some(app.fingerprint.clone());
            true
        }
        // A bad tester id must not hold back the release: report it and go on.
        ErrorClass::Permanent if tester_step => false,
        // Settings are not in the fingerprint: their failure holds until what the fleet wants of
        // them changes. Domains stop the pass (the commit needs them); a jump rule does not.
        ErrorClass::Permanent if setting.is_some() => {
            if let Some((key, digest)) = setting {
                record.setting_failures.insert(key, failure(digest, err));
            }
            matches!(action, Action::SetDomains { .. })
        }
        ErrorClass::Permanent => {
            let mut failed = failure(app.fingerprint.clone(), err);
            if matches!(action, Action::SubmitAudit { .. }) {
                failed.audit = Some(app.audit.digest());
            }
            record.failure = Some(failed);
            true
        }
        ErrorClass::Quota => {
            park(record, err, now_ms() / 1000);
            true
        }
        ErrorClass::Transient | ErrorClass::Auth | ErrorClass::Conflict => true,
    }
}
