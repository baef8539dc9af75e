//! Applying one app's plan: each mutating step is journalled before the call and its outcome after,
//! recorded in the app's history, and its effect (audit id, tester map, last build) remembered.

use std::time::Duration;

use crate::model::{Action, AppPlan, Desired, Failure, Record, Step};
use crate::platform::{Effect, ErrorClass, Platform, PlatformError};
use crate::store::{Event, Intent};

use super::{Applied, Engine, PassError, Progress, ProgressFn, now_ms};

/// Attempts for a call failing with a transient error, in-pass.
const TRANSIENT_ATTEMPTS: u32 = 3;

/// Applies `plan`'s steps up to the first wait; stops at the first error that ends the pass.
pub(super) async fn apply(
    engine: &Engine,
    platform: &dyn Platform,
    app: &Desired,
    plan: &AppPlan,
    mut record: Record,
    progress: &ProgressFn,
) -> Result<Vec<Applied>, PassError> {
    let mut applied = Vec::new();
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
        progress(Progress::Acted {
            app: app.name.clone(),
            applied: Box::new(outcome.clone()),
        });
        applied.push(outcome);
        if stop {
            break;
        }
    }
    engine.store.put_record(&app.appid, &record)?;
    Ok(applied)
}

/// Journals, calls (retrying transient errors a few times) and records history for one step.
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
    };
    let id = engine.store.journal_intent(&intent).await?;
    let mut attempt = 1;
    let result = loop {
        let result = platform.execute(app, &step.action).await;
        match &result {
            Err(err) if err.class == ErrorClass::Transient && attempt < TRANSIENT_ATTEMPTS => {
                let backoff = 250 * 2u64.pow(attempt) + fastrand::u64(0..250);
                tracing::debug!(app = %app.name, call = %err.call, code = %err.code, attempt, "transient error, retrying");
                tokio::time::sleep(Duration::from_millis(backoff)).await;
                attempt += 1;
            }
            _ => break result,
        }
    };
    let outcome = match &result {
        Ok(_) => "ok".to_string(),
        Err(err) => format!("error {}", err.code),
    };
    engine.store.journal_outcome(id, &outcome)?;
    engine
        .store
        .append_history(&history_event(app, step, &result))?;
    Ok(result)
}

fn history_event(app: &Desired, step: &Step, result: &Result<Effect, PlatformError>) -> Event {
    let (outcome, code, detail) = match result {
        Ok(Effect::AuditSubmitted { audit_id }) => (
            "ok",
            None,
            format!("{} (audit {audit_id})", describe(&step.action)),
        ),
        Ok(_) => ("ok", None, describe(&step.action)),
        Err(err) => ("error", Some(err.code.clone()), err.to_string()),
    };
    Event {
        at_ms: now_ms(),
        app: app.name.clone(),
        appid: app.appid.clone(),
        what: step.action.kind().to_string(),
        result: outcome.to_string(),
        code,
        detail,
    }
}

/// A one-line description of an action, for history and progress.
pub fn describe(action: &Action) -> String {
    match action {
        Action::Commit {
            version,
            fingerprint,
        } => format!("commit {version} [mf:{fingerprint}]"),
        Action::WithdrawAudit { audit_id, .. } => format!("withdraw audit {audit_id}"),
        Action::SubmitAudit { fingerprint } => format!("submit audit [mf:{fingerprint}]"),
        Action::WaitForAudit { audit_id } => format!("wait for audit {audit_id}"),
        Action::Release { fingerprint } => format!("release [mf:{fingerprint}]"),
        Action::Gray { to, .. } => format!("gray {to}%"),
        Action::RevertGray => "revert gray".to_string(),
        Action::Rollback { fingerprint } => format!("roll back to [mf:{fingerprint}]"),
        Action::DeleteBuild { version } => format!("delete build {version}"),
        Action::BindTester { tester } => format!("bind tester {tester}"),
        Action::UnbindTester { tester, member } => {
            format!("unbind tester {}", tester.as_deref().unwrap_or(member))
        }
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
    match (action, effect) {
        (Action::Commit { fingerprint, .. }, _) => {
            record.last_fingerprint = Some(fingerprint.clone());
            record.last_ext = Some(app.ext.clone());
        }
        (Action::WithdrawAudit { .. }, _) => record.withdrawals.count_one(now_ms() / 1000),
        (_, Effect::TesterBound { tester, member }) => {
            engine.store.put_tester(&app.appid, tester, Some(member))?;
            record.testers.insert(tester.clone(), member.clone());
        }
        (
            _,
            Effect::TesterUnbound {
                tester: Some(tester),
            },
        ) => {
            engine.store.put_tester(&app.appid, tester, None)?;
            record.testers.remove(tester);
        }
        _ => {}
    }
    Ok(())
}

/// Records a failed action; returns whether the app's pass stops here.
fn on_error(app: &Desired, action: &Action, err: &PlatformError, record: &mut Record) -> bool {
    let tester_step = matches!(
        action,
        Action::BindTester { .. } | Action::UnbindTester { .. }
    );
    match err.class {
        ErrorClass::Permanent
            if matches!(action, Action::Rollback { .. }) && err.code == "87012" =>
        {
            record.rollback_refused = Some(app.fingerprint.clone());
            true
        }
        // A bad tester id must not hold back the release: report it and go on.
        ErrorClass::Permanent if tester_step => false,
        ErrorClass::Permanent => {
            record.failure = Some(Failure {
                fingerprint: app.fingerprint.clone(),
                call: err.call.clone(),
                code: err.code.clone(),
                message: format!("{} ({})", err.explanation, err.message),
            });
            true
        }
        ErrorClass::Transient | ErrorClass::Auth | ErrorClass::Quota | ErrorClass::Conflict => true,
    }
}
