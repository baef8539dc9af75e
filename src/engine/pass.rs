//! One app's pass: observe, plan, and (unless dry-running) apply the steps that can run now.

use std::fmt;

use crate::model::{AppPlan, Desired, PlatformKind, Step};
use crate::plan::{Context, plan_app};
use crate::platform::PlatformError;
use crate::store::{Event, StoreError};

use super::{Engine, Progress, ProgressFn, apply, now_ms};

/// What ended an app's pass early.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PassError {
    /// A platform call failed.
    Platform(Box<PlatformError>),
    /// The store failed.
    Store(String),
    /// The fleet has an app on a platform that is not configured.
    NoPlatform(PlatformKind),
    /// The pass's task died (a bug): the message says how.
    Crashed,
}

impl fmt::Display for PassError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PassError::Platform(err) => err.fmt(f),
            PassError::Store(msg) => f.write_str(msg),
            PassError::NoPlatform(kind) => write!(f, "platform `{kind}` is not configured"),
            PassError::Crashed => f.write_str("the pass crashed; see the log"),
        }
    }
}

impl From<StoreError> for PassError {
    fn from(err: StoreError) -> Self {
        PassError::Store(err.to_string())
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
}

impl AppReport {
    fn new(app: &Desired) -> AppReport {
        AppReport {
            app: app.name.clone(),
            appid: app.appid.clone(),
            plan: None,
            applied: Vec::new(),
            error: None,
        }
    }

    pub(super) fn crashed(app: &Desired) -> AppReport {
        AppReport {
            error: Some(PassError::Crashed),
            ..AppReport::new(app)
        }
    }

    /// Whether the pass left the app settled: planned nothing mutating, no error.
    pub fn is_settled(&self) -> bool {
        self.error.is_none()
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
    pub(super) async fn run_app(
        &self,
        app: &Desired,
        apply: bool,
        progress: &ProgressFn,
    ) -> AppReport {
        let mut report = AppReport::new(app);
        if let Err(err) = self.run_app_inner(app, apply, progress, &mut report).await {
            tracing::warn!(app = %app.name, error = %err, "pass ended early");
            self.record_event(app, "pass", "error", &err);
            report.error = Some(err);
        }
        report
    }

    pub(super) async fn apply_report(
        &self,
        app: &Desired,
        mut report: AppReport,
        progress: &ProgressFn,
    ) -> AppReport {
        let Some(plan) = report.plan.clone().filter(|_| report.error.is_none()) else {
            return report;
        };
        let applied = match self.platform(app.platform) {
            None => Err(PassError::NoPlatform(app.platform)),
            Some(platform) => match self.store.record(&app.appid) {
                Err(err) => Err(err.into()),
                Ok(record) => {
                    apply::apply(self, platform.as_ref(), app, &plan, record, progress).await
                }
            },
        };
        match applied {
            Ok(applied) => report.applied = applied,
            Err(err) => {
                self.record_event(app, "pass", "error", &err);
                report.error = Some(err);
            }
        }
        report
    }

    async fn run_app_inner(
        &self,
        app: &Desired,
        apply: bool,
        progress: &ProgressFn,
        report: &mut AppReport,
    ) -> Result<(), PassError> {
        let platform = self
            .platform(app.platform)
            .ok_or(PassError::NoPlatform(app.platform))?;
        let record = self.store.record(&app.appid)?;
        let observed = platform
            .observe(app)
            .await
            .map_err(|e| PassError::Platform(Box::new(e)))?;
        self.store
            .put_observation(&app.appid, &observed, now_ms())?;
        progress(Progress::Observed {
            app: app.name.clone(),
        });
        let plan = plan_app(
            app,
            &observed,
            &record,
            &Context {
                now: now_ms() / 1000,
            },
        );
        report.plan = Some(plan.clone());
        if apply {
            report.applied =
                apply::apply(self, platform.as_ref(), app, &plan, record, progress).await?;
        }
        Ok(())
    }

    fn record_event(&self, app: &Desired, what: &str, result: &str, err: &PassError) {
        let code = match err {
            PassError::Platform(e) => Some(e.code.clone()),
            _ => None,
        };
        let event = Event {
            at_ms: now_ms(),
            app: app.name.clone(),
            appid: app.appid.clone(),
            what: what.to_string(),
            result: result.to_string(),
            code,
            detail: err.to_string(),
        };
        if let Err(e) = self.store.append_history(&event) {
            tracing::error!(error = %e, "cannot record history");
        }
    }
}
