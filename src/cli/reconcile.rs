//! `minifleet reconcile` and `minifleet plan`: observe, plan, print the plan, apply it, and with
//! `--wait` keep passing over the unsettled apps until every one converged or the timeout passed.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;

use crate::engine::rate::Rate;
use crate::engine::{
    AppReport, Engine, HoldKind, PassOptions, PassSummary, Progress, ProgressFn, summarize,
};
use crate::fleet::{ApiBase, Fleet};
use crate::model::{Desired, PlatformKind};
use crate::plan::Plan;
use crate::plan::quota::AuditBudget;
use crate::platform::ErrorClass;
use crate::ui::Ui;
use crate::view::plan as render;

use super::common::{self, Selection};
use super::{Cli, CliError, EXIT_CHANGES, EXIT_ERROR, EXIT_OK, EXIT_TIMEOUT};

/// Arguments of `reconcile`.
#[derive(Debug, Clone, Args)]
pub struct ReconcileArgs {
    /// Observe and print the plan; change nothing (the store only caches observations).
    #[arg(long)]
    pub dry_run: bool,

    /// With --dry-run: exit 0 when there is nothing to do, 2 when changes are pending, 1 on error.
    #[arg(long)]
    pub detailed_exitcode: bool,

    /// Which apps to work on.
    #[command(flatten)]
    pub selection: Selection,

    /// Keep going (observe → plan → apply) until every app converged or failed.
    #[arg(long)]
    pub wait: bool,

    /// With --wait: give up after this long and exit 3.
    #[arg(long, value_name = "DURATION", default_value = "30m", value_parser = humantime::parse_duration)]
    pub timeout: Duration,

    /// With --wait: pause between passes [default: 30s; 1s when every platform is the sandbox].
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub interval: Option<Duration>,

    /// Work on at most this many apps at once.
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..))]
    pub concurrency: u16,

    /// Limit the calls to a platform, e.g. `wechat=50/s` or `alipay=600/m` (repeatable)
    /// [default: 100/s per platform].
    #[arg(long, value_name = "PLATFORM=RATE")]
    pub rate: Vec<String>,
}

/// The default request rate of each platform: generous; the platforms' own limits are higher.
const DEFAULT_RATE: &str = "100/s";

/// Arguments of `plan` (= `reconcile --dry-run`).
#[derive(Debug, Clone, Args)]
pub struct PlanArgs {
    /// Exit 0 when there is nothing to do, 2 when changes are pending, 1 on error.
    #[arg(long)]
    pub detailed_exitcode: bool,

    /// Which apps to plan.
    #[command(flatten)]
    pub selection: Selection,

    /// Observe at most this many apps at once.
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..))]
    pub concurrency: u16,

    /// Limit the calls to a platform, e.g. `wechat=50/s` or `alipay=600/m` (repeatable)
    /// [default: 100/s per platform].
    #[arg(long, value_name = "PLATFORM=RATE")]
    pub rate: Vec<String>,
}

impl PlanArgs {
    /// The same request as `reconcile --dry-run`.
    pub fn as_dry_run(&self) -> ReconcileArgs {
        ReconcileArgs {
            dry_run: true,
            detailed_exitcode: self.detailed_exitcode,
            selection: self.selection.clone(),
            wait: false,
            timeout: Duration::from_secs(1800),
            interval: None,
            concurrency: self.concurrency,
            rate: self.rate.clone(),
        }
    }
}

/// Runs `reconcile` (or `plan`).
pub async fn run(cli: &Cli, ui: &Ui, args: &ReconcileArgs) -> Result<i32, CliError> {
    let fleet = common::load_fleet(cli, ui)?;
    let apps = args.selection.apps(&fleet)?;
    if args.detailed_exitcode && !args.dry_run {
        ui.warn("`--detailed-exitcode` only changes exit codes with `--dry-run`");
    }
    let rates = rates(&args.rate)?;
    let store = common::open_store_warning(cli, ui)?;
    let mut engine = Engine::connect(&fleet, store)
        .await
        .map_err(|e| CliError::new(e.to_string()))?;
    for (kind, rate) in rates {
        engine.limit_rate(kind, rate);
    }
    let engine = Arc::new(engine);
    if args.dry_run {
        return dry_run(&engine, ui, &apps, args).await;
    }
    apply(&engine, ui, &fleet, &apps, args).await
}

async fn dry_run(
    engine: &Arc<Engine>,
    ui: &Ui,
    apps: &[Desired],
    args: &ReconcileArgs,
) -> Result<i32, CliError> {
    let opts = PassOptions {
        apply: false,
        concurrency: usize::from(args.concurrency),
    };
    let planned = engine.plan_pass(apps, opts, progress_printer(ui)).await;
    let reports = planned.reports;
    let plan = plan_of(&reports, planned.audit_budget);
    let failures = summarize(&reports).failed;
    if ui.json_mode() {
        let mut doc = render::json(&plan);
        doc["errors"] = serde_json::json!(failures);
        ui.json(&doc);
    } else {
        print_plan(ui, &plan);
        print_failures(ui, &failures);
    }
    // A plan that leaves apps out (failed, not authorized, not observed) is not "nothing to do".
    Ok(if plan.is_incomplete() {
        EXIT_ERROR
    } else if args.detailed_exitcode && plan.has_changes() {
        EXIT_CHANGES
    } else {
        EXIT_OK
    })
}

async fn apply(
    engine: &Arc<Engine>,
    ui: &Ui,
    fleet: &Fleet,
    apps: &[Desired],
    args: &ReconcileArgs,
) -> Result<i32, CliError> {
    let started = Instant::now();
    let opts = PassOptions {
        apply: true,
        concurrency: usize::from(args.concurrency),
    };
    let progress = progress_printer(ui);
    let mut last: BTreeMap<String, AppReport> = BTreeMap::new();
    let mut applied: BTreeMap<String, usize> = BTreeMap::new();
    let mut pending: Vec<Desired> = apps.to_vec();
    let mut passes = 0;
    let interval = args.interval.unwrap_or_else(|| default_interval(fleet));
    let deadline_ms = crate::engine::now_ms() + args.timeout.as_millis() as u64;
    // Plan first and print it, then apply exactly that plan; later passes observe again.
    let planned = engine.plan_pass(&pending, opts, progress.clone()).await;
    let mut audit_budget = planned.audit_budget;
    let first_plan = plan_of(&planned.reports, planned.audit_budget);
    print_plan(ui, &first_plan);
    let mut next_planned = Some(planned.reports);
    let timed_out = loop {
        passes += 1;
        let remaining = args.timeout.saturating_sub(started.elapsed());
        let work = async {
            let planned = match next_planned.take() {
                Some(planned) => planned,
                None => {
                    let planned = engine.plan_pass(&pending, opts, progress.clone()).await;
                    audit_budget = planned.audit_budget;
                    planned.reports
                }
            };
            engine
                .apply_planned(&pending, planned, opts.concurrency, progress.clone())
                .await
        };
        let Ok(reports) = tokio::time::timeout(remaining, work).await else {
            break true;
        };
        for (kind, n) in summarize(&reports).applied {
            *applied.entry(kind).or_default() += n;
        }
        pending = still_pending(&pending, &reports, deadline_ms);
        for report in reports {
            last.insert(report.app.clone(), report);
        }
        if !args.wait || pending.is_empty() {
            break false;
        }
        if started.elapsed() + interval >= args.timeout {
            break true;
        }
        ui.status(&waiting_line(&last, pending.len(), interval));
        tokio::time::sleep(interval).await;
    };
    let ordered: Vec<AppReport> = apps
        .iter()
        .filter_map(|a| last.get(&a.name).cloned())
        .collect();
    let summary = PassSummary {
        applied,
        ..summarize(&ordered)
    };
    finish(
        ui,
        args,
        &summary,
        passes,
        started.elapsed(),
        timed_out,
        &Some(first_plan),
    );
    let held = report_held(ui, &ordered, audit_budget, args.wait && !timed_out);
    Ok(if timed_out || (args.wait && held > 0) {
        EXIT_TIMEOUT
    } else if !summary.failed.is_empty() {
        EXIT_ERROR
    } else {
        EXIT_OK
    })
}

/// Apps that need another pass: not settled, not failed for good, and not held past the deadline
/// (parked by a quota that resets later, or waiting for next month's audit quota).
fn still_pending(apps: &[Desired], reports: &[AppReport], deadline_ms: u64) -> Vec<Desired> {
    apps.iter()
        .zip(reports)
        .filter(|(_, report)| {
            !report.is_settled() && !failed_for_good(report) && !held_past(report, deadline_ms)
        })
        .map(|(app, _)| app.clone())
        .collect()
}

/// Whether waiting until `deadline_ms` cannot move the app: its hold lasts longer, or it only
/// waits for the audit quota.
fn held_past(report: &AppReport, deadline_ms: u64) -> bool {
    let Some(held) = &report.held else {
        return false;
    };
    match held.kind {
        HoldKind::AuditQuota => !report.plan.as_ref().is_some_and(|p| p.has_changes()),
        HoldKind::Parked | HoldKind::Backoff => held.until_ms.is_some_and(|t| t > deadline_ms),
    }
}

/// Says which apps were held back at the end, each with why and until when (the quota and its
/// code, or the backoff and its last error), and the audit budget. With `given_up` (`--wait`
/// ends without them) that is one error; returns how many apps ended held without converging.
fn report_held(
    ui: &Ui,
    reports: &[AppReport],
    budget: Option<AuditBudget>,
    given_up: bool,
) -> usize {
    if let Some(budget) = budget.filter(|b| b.waiting > 0) {
        ui.warn(&format!("audit quota: {}", budget.line()));
    }
    let held: Vec<(&AppReport, &crate::engine::Held)> = reports
        .iter()
        .filter(|r| !r.is_settled() && !failed_for_good(r))
        .filter_map(|r| r.held.as_ref().map(|h| (r, h)))
        .collect();
    if !given_up {
        for (report, held) in held.iter().filter(|(_, h)| h.kind != HoldKind::AuditQuota) {
            ui.warn(&format!("app `{}`: {}", report.app, held.reason));
        }
        return held.len();
    }
    let help = if held.iter().any(|(_, h)| h.kind == HoldKind::Backoff) {
        "fix the cause and rerun, or edit the app's fleet entry: a changed entry is not held back \
         by the old one's failures; quotas lift by themselves when they reset"
    } else {
        "they go on by themselves once the quota resets; `minifleet status` shows where they stand"
    };
    match held.as_slice() {
        [] => {}
        [(report, held)] => ui.error(
            &format!(
                "app `{}` cannot converge within `--timeout`: {}",
                report.app, held.reason
            ),
            Some(help),
        ),
        many => {
            let lines: Vec<String> = many
                .iter()
                .map(|(r, h)| format!("  app `{}`: {}", r.app, h.reason))
                .collect();
            ui.error(
                &format!(
                    "{} apps cannot converge within `--timeout`:\n{}",
                    many.len(),
                    lines.join("\n")
                ),
                Some(help),
            );
        }
    }
    held.len()
}

/// Parses `--rate PLATFORM=RATE` values; every platform not named gets [`DEFAULT_RATE`].
fn rates(values: &[String]) -> Result<Vec<(PlatformKind, Rate)>, CliError> {
    let default = Rate::parse(DEFAULT_RATE).map_err(|e| CliError::new(e.to_string()))?;
    let mut rates = BTreeMap::from([
        (PlatformKind::Wechat, default),
        (PlatformKind::Alipay, default),
    ]);
    for value in values {
        let help = "write a rate as `PLATFORM=N/s` (or `/m`, `/h`), e.g. `--rate wechat=50/s`";
        let (name, rate) = value
            .split_once('=')
            .ok_or_else(|| CliError::new(format!("invalid `--rate` `{value}`")).help(help))?;
        let kind = match name.trim() {
            "wechat" => PlatformKind::Wechat,
            "alipay" => PlatformKind::Alipay,
            other => {
                return Err(
                    CliError::new(format!("unknown platform `{other}` in `--rate`"))
                        .help("the platforms are `wechat` and `alipay`"),
                );
            }
        };
        let rate = Rate::parse(rate).map_err(|e| CliError::new(e.to_string()).help(help))?;
        rates.insert(kind, rate);
    }
    Ok(rates.into_iter().collect())
}

/// A pass error no amount of waiting fixes: the operator must act.
fn failed_for_good(report: &AppReport) -> bool {
    let permanent = |class: ErrorClass| matches!(class, ErrorClass::Permanent | ErrorClass::Auth);
    let pass_error = match &report.error {
        Some(crate::engine::PassError::Platform(e)) => permanent(e.class),
        Some(_) => true,
        None => false,
    };
    pass_error
        || report
            .applied
            .iter()
            .any(|a| a.result.as_ref().is_err_and(|e| permanent(e.class)))
}

fn default_interval(fleet: &Fleet) -> Duration {
    let all_sandbox = fleet
        .platforms
        .wechat
        .as_ref()
        .is_none_or(|w| w.api_base == ApiBase::Sandbox);
    Duration::from_secs(if all_sandbox { 1 } else { 30 })
}

fn plan_of(reports: &[AppReport], audit_budget: Option<AuditBudget>) -> Plan {
    Plan {
        apps: reports.iter().filter_map(|r| r.plan.clone()).collect(),
        audit_budget,
        unobserved: reports
            .iter()
            .filter(|r| r.plan.is_none())
            .map(|r| r.app.clone())
            .collect(),
    }
}

fn print_plan(ui: &Ui, plan: &Plan) {
    if ui.json_mode() {
        return;
    }
    ui.data(&render::text(plan, ui.color()));
}

fn progress_printer(ui: &Ui) -> ProgressFn {
    let ui = *ui;
    Arc::new(move |event| {
        if let Progress::Acted { app, applied } = event {
            let what = crate::view::action::describe(&applied.step.action);
            let symbol = crate::view::action::symbol(&applied.step.action);
            match &applied.result {
                Ok(()) => ui.status(&format!("{app}: {symbol} {what} … ok")),
                Err(err) => ui.status(&format!("{app}: {symbol} {what} … failed: {err}")),
            }
        }
    })
}

fn waiting_line(last: &BTreeMap<String, AppReport>, pending: usize, interval: Duration) -> String {
    let waiting = last
        .values()
        .filter(|r| {
            r.plan
                .as_ref()
                .is_some_and(|p| p.state == crate::model::AppState::WaitingOnAudit)
        })
        .count();
    let moving = pending.saturating_sub(waiting);
    let mut parts = Vec::new();
    if waiting > 0 {
        parts.push(format!("{waiting} waiting on audit"));
    }
    if moving > 0 {
        parts.push(format!("{moving} in progress"));
    }
    format!(
        "{pending} app{} not converged yet ({}); next pass in {}",
        plural(pending),
        parts.join(", "),
        humantime::format_duration(interval)
    )
}

fn print_failures(ui: &Ui, failures: &[crate::engine::FailedApp]) {
    if ui.json_mode() {
        return;
    }
    for failed in failures {
        ui.error(
            &format!("app `{}`: {}", failed.app, failed.message),
            failed.hint.as_deref(),
        );
    }
}

fn finish(
    ui: &Ui,
    args: &ReconcileArgs,
    summary: &PassSummary,
    passes: u32,
    elapsed: Duration,
    timed_out: bool,
    first_plan: &Option<Plan>,
) {
    if ui.json_mode() {
        ui.json(&serde_json::json!({
            "format_version": render::FORMAT_VERSION,
            "plan": first_plan.as_ref().map(render::json),
            "passes": passes,
            "elapsed_ms": elapsed.as_millis() as u64,
            "timed_out": timed_out,
            "applied": summary.applied,
            "states": summary.states,
            "failed": summary.failed,
        }));
        return;
    }
    print_failures(ui, &summary.failed);
    let applied: Vec<String> = summary
        .applied
        .iter()
        .map(|(kind, n)| crate::view::action::applied_label(kind, *n))
        .collect();
    let states: Vec<String> = summary
        .states
        .iter()
        .map(|(state, n)| state_label(state, *n))
        .collect();
    let head = if timed_out {
        format!(
            "Timed out after {}",
            humantime::format_duration(args.timeout)
        )
    } else if args.wait {
        "Done".to_string()
    } else {
        "Applied".to_string()
    };
    let mut parts = vec![if applied.is_empty() {
        "no actions".to_string()
    } else {
        applied.join(", ")
    }];
    if !states.is_empty() {
        parts.push(states.join(", "));
    }
    ui.data(&format!(
        "{head}: {} · {passes} pass{} in {:.1}s",
        parts.join(" · "),
        if passes == 1 { "" } else { "es" },
        elapsed.as_secs_f64()
    ));
    if timed_out {
        ui.error(
            "some apps did not converge before the timeout",
            Some("run `minifleet status` to see where they stand, or raise `--timeout`"),
        );
    }
}

fn state_label(state: &str, n: usize) -> String {
    let name = match state {
        "changes" => "progressing",
        other => other,
    };
    format!("{n} {}", name.replace('_', " "))
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
