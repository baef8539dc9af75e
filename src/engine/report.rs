//! Summaries of a pass: what was applied, where apps stand, and which failed with what.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::model::AppState;

use super::{AppReport, PassError};

/// One failed app, for the final summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct FailedApp {
    /// The app's name.
    pub app: String,
    /// The platform call, where one failed.
    pub call: Option<String>,
    /// The platform's code, where there is one.
    pub code: Option<String>,
    /// What went wrong.
    pub message: String,
    /// What to do next.
    pub hint: Option<String>,
    /// The platform, when a platform call failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// Why it failed, in short, when a platform call failed (the error's explanation).
    #[serde(skip)]
    pub why: Option<String>,
}

impl FailedApp {
    /// Whether the app failed because its platform could not be reached (a network failure, or
    /// the transport's breaker refusing to call a host that did not answer).
    pub fn unreachable(&self) -> bool {
        matches!(
            self.code.as_deref(),
            Some("network") | Some(crate::platform::http::UNREACHABLE)
        )
    }
}

/// The counts of a pass.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct PassSummary {
    /// Successful actions by kind (`commit`, `submit_audit`…).
    pub applied: BTreeMap<String, usize>,
    /// Apps by state name after planning.
    pub states: BTreeMap<String, usize>,
    /// Apps that failed, with why.
    pub failed: Vec<FailedApp>,
}

/// Summarizes a pass's reports.
pub fn summarize(reports: &[AppReport]) -> PassSummary {
    let mut summary = PassSummary::default();
    for report in reports {
        for applied in report.applied.iter().filter(|a| a.result.is_ok()) {
            *summary
                .applied
                .entry(applied.step.action.kind().to_string())
                .or_default() += 1;
        }
        if let Some(plan) = &report.plan {
            *summary
                .states
                .entry(plan.state.name().to_string())
                .or_default() += 1;
        }
        if let Some(failed) = failed_app(report) {
            summary.failed.push(failed);
        }
    }
    summary
}

fn failed_app(report: &AppReport) -> Option<FailedApp> {
    let from_platform = |e: &crate::platform::PlatformError| FailedApp {
        app: report.app.clone(),
        call: Some(e.call.clone()),
        code: Some(e.code.clone()),
        message: e.to_string(),
        hint: Some(e.hint.clone()).filter(|h| !h.is_empty()),
        platform: Some(e.platform.to_string()),
        why: Some(e.explanation.clone()),
    };
    if let Some(err) = &report.error {
        return Some(match err {
            PassError::Platform(e) => from_platform(e),
            other => {
                let said = crate::view::report::Report::from(other);
                FailedApp {
                    app: report.app.clone(),
                    call: None,
                    code: None,
                    message: said.message,
                    hint: said.help,
                    platform: None,
                    why: None,
                }
            }
        });
    }
    if let Some(e) = report.applied.iter().find_map(|a| a.result.as_ref().err()) {
        return Some(from_platform(e));
    }
    match report.plan.as_ref().map(|p| &p.state) {
        Some(AppState::Failed { reason, help }) => Some(FailedApp {
            app: report.app.clone(),
            call: None,
            code: None,
            message: reason.clone(),
            hint: Some(help.clone()).filter(|h| !h.is_empty()),
            platform: None,
            why: None,
        }),
        Some(AppState::NotAuthorized { reason }) => Some(FailedApp {
            app: report.app.clone(),
            call: None,
            code: None,
            message: format!("not authorized: {reason}"),
            hint: None,
            platform: None,
            why: None,
        }),
        _ => None,
    }
}

/// The plan of `reports` (one per app, `plan: None` when the app was not observed), with how the
/// audit quota was shared.
pub fn plan_of(
    reports: &[AppReport],
    audit_budget: Option<crate::plan::quota::AuditBudget>,
    rollout: Option<crate::plan::rollout::RolloutView>,
) -> crate::plan::Plan {
    crate::plan::Plan {
        apps: reports.iter().filter_map(|r| r.plan.clone()).collect(),
        audit_budget,
        rollout,
        unobserved: reports
            .iter()
            .filter(|r| r.plan.is_none())
            .map(|r| r.app.clone())
            .collect(),
    }
}
