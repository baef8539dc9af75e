//! Applying a saved plan ([`crate::plan::saved`]): each app is observed again and its saved steps
//! are applied exactly — not planned again — when its live state and its fleet entry are what the
//! plan was made from; otherwise it is refused with what moved. The journal, the retries, the
//! events and the history are a pass's ([`Engine::apply_report`]).

use std::sync::Arc;

use super::pass::AppReport;
use super::{Engine, now_ms};
use crate::model::Desired;
use crate::plan::saved::{SavedApp, live_digest, moved};

/// What became of one app of a saved plan.
#[derive(Debug)]
pub enum SavedOutcome {
    /// Its saved steps were applied: the pass's report (its errors, if any, are in it).
    Applied(Box<AppReport>),
    /// It was refused, and nothing of it applied: why, in words.
    Refused(String),
}

impl Engine {
    /// Applies `saved`, one app of a saved plan, to `app` (see the module doc).
    pub async fn apply_saved(self: &Arc<Self>, app: &Desired, saved: &SavedApp) -> SavedOutcome {
        if !saved.known {
            return SavedOutcome::Refused(
                "planned without its record (an empty store, or an app never reconciled there): \
                 the tester map, failures and journal were unknown; plan again where the store is, \
                 or reconcile it directly"
                    .to_owned(),
            );
        }
        if app.entry_digest() != saved.entry {
            return SavedOutcome::Refused(
                "stale: its fleet entry changed since the plan; plan again".to_owned(),
            );
        }
        let Some(platform) = self.platform(app.platform) else {
            return SavedOutcome::Refused(format!("no {} platform is configured", app.platform));
        };
        let observed =
            match super::probe::observe(app, platform.as_ref(), crate::platform::Known::Nothing)
                .await
            {
                Ok(observed) => observed,
                Err(err) => return SavedOutcome::Refused(format!("cannot observe it: {err}")),
            };
        if let Err(err) = self.store.put_observation(&app.appid, &observed, now_ms()) {
            return SavedOutcome::Refused(format!("cannot record its observation: {err}"));
        }
        if live_digest(&observed) != saved.live {
            let what = moved(&saved.observed, &observed);
            return SavedOutcome::Refused(format!("stale: {}", what.join("; ")));
        }
        let mut report = AppReport::named(&app.name);
        report.appid = app.appid.clone();
        report.plan = Some(saved.plan.clone());
        SavedOutcome::Applied(Box::new(self.apply_report(app, report).await))
    }
}
