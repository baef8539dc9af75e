//! History as a subscriber of the event stream: what was done to each app, the outcomes settled
//! by observing, passes that ended early, audit verdicts and state changes, appended to the
//! store's `history` tree. Starts and holds are not history (progress and metrics show them).

use crate::store::{self, Store};
use crate::view::action::describe;

use super::events::{Event, Subscriber};
use super::now_ms;

/// Writes history events into the store.
pub struct History {
    store: Store,
}

impl History {
    /// History kept in `store`.
    pub fn new(store: Store) -> History {
        History { store }
    }
}

impl Subscriber for History {
    fn on(&self, event: &Event) {
        let Some((what, result, code, detail)) = entry(event) else {
            return;
        };
        let Some(app) = event.app() else {
            return;
        };
        let entry = store::Event {
            at_ms: now_ms(),
            app: app.name.clone(),
            appid: app.appid.clone(),
            what,
            result: result.to_string(),
            code,
            detail,
            revision: app.revision.clone(),
        };
        if let Err(err) = self.store.append_history(&entry) {
            tracing::error!(app = %app.name, error = %err, "cannot record history");
        }
    }
}

/// The history entry of `event` — what, result, code, detail — or `None` for events that are
/// not history.
fn entry(event: &Event) -> Option<(String, &'static str, Option<String>, String)> {
    Some(match event {
        Event::ActionApplied { action, detail, .. } => {
            let text = match detail {
                Some(more) => format!("{} ({more})", describe(action)),
                None => describe(action),
            };
            (action.kind().to_string(), "ok", None, text)
        }
        Event::ActionFailed { action, error, .. } => (
            action.kind().to_string(),
            "error",
            Some(error.code.clone()),
            error.to_string(),
        ),
        Event::Settled {
            action,
            fingerprint,
            intended_at_ms,
            outcome,
            ..
        } => (
            action.clone(),
            "settled",
            None,
            format!("{action} [mf:{fingerprint}] from {intended_at_ms}: {outcome}"),
        ),
        Event::PassFailed {
            error,
            platform_error,
            ..
        } => (
            "pass".to_string(),
            "error",
            platform_error.as_ref().map(|e| e.code.clone()),
            error.clone(),
        ),
        Event::AuditApproved {
            audit_id, build, ..
        } => (
            "audit".to_string(),
            "approved",
            None,
            format!("audit {audit_id} of {} was approved", tag(build)),
        ),
        Event::AuditRejected {
            audit_id,
            build,
            reason,
            ..
        } => (
            "audit".to_string(),
            "rejected",
            None,
            format!(
                "audit {audit_id} of {} was rejected: {}",
                tag(build),
                reason.as_deref().unwrap_or("the platform gave no reason")
            ),
        ),
        Event::StateChanged {
            from, to, reason, ..
        } => {
            let from = from.as_deref().unwrap_or("unknown");
            let mut detail = format!("{from} → {to}");
            if let Some(reason) = reason {
                detail.push_str(&format!(": {reason}"));
            }
            ("state".to_string(), "changed", None, detail)
        }
        Event::Observed { .. }
        | Event::ActionStarted { .. }
        | Event::Held { .. }
        | Event::PassFinished { .. }
        | Event::Rollout { .. }
        | Event::AuditQuota { .. } => return None,
    })
}

/// A build's fingerprint tag, or `a build not made by minifleet`.
fn tag(build: &Option<String>) -> String {
    match build {
        Some(fp) => format!("[mf:{fp}]"),
        None => "a build not made by minifleet".to_string(),
    }
}
