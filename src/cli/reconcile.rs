//! `minifleet reconcile` and `minifleet plan`: observe, plan, print the plan, apply it, and with
//! `--wait` keep passing over the unsettled apps until every one converged or the timeout passed.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;

use crate::engine::diff::FleetDiff;
use crate::engine::events::{Event, Subscriber};
use crate::engine::policy::{Outcome, Timing};
use crate::engine::scheduler::{Command, RoundFn, Scheduler, Trigger, Until, Watcher};
use crate::engine::{AppReport, Engine, HoldKind, PassOptions, PassSummary, plan_of, summarize};
use crate::fleet::Fleet;
use crate::model::Desired;
use crate::plan::Plan;
use crate::plan::quota::AuditBudget;
use crate::ui::Ui;
use crate::view::plan::{self as render, Layout};
use crate::view::plural;

use super::common::{self, Selection};
use super::progress::Progress;
use super::remote::{Remote, query_value};
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

    /// How the printed plan lays its apps out.
    #[command(flatten)]
    pub grouping: Grouping,

    /// With --dry-run: also save the plan to FILE for `minifleet apply FILE`, which applies
    /// exactly these steps where each app's live state is unchanged, at most once.
    #[arg(long, value_name = "FILE")]
    pub out: Option<std::path::PathBuf>,
}

/// `--group` / `--no-group`: how the text plan lays its apps out.
#[derive(Debug, Clone, Copy, Default, Args)]
pub struct Grouping {
    /// Group the text plan: apps whose steps have the same shape are told once, with a count, a
    /// few names and which ext keys differ (the default when more than 20 apps have steps, so a
    /// fleet-sized plan fits a review); `-o json` always lists every app.
    #[arg(long, conflicts_with = "no_group")]
    pub group: bool,

    /// One block per app in the text plan, however many apps have steps.
    #[arg(long)]
    pub no_group: bool,
}

impl Grouping {
    /// The layout asked for.
    pub fn layout(self) -> Layout {
        match (self.group, self.no_group) {
            (true, _) => Layout::Grouped,
            (_, true) => Layout::PerApp,
            _ => Layout::Auto,
        }
    }
}

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

    /// How the plan lays its apps out.
    #[command(flatten)]
    pub grouping: Grouping,

    /// Also save the plan to FILE (JSON) for `minifleet apply FILE`: per app the steps, the
    /// digest of the live state they were planned from and of its fleet entry; the fleet
    /// revision, the store and the audit quota left. `apply` re-observes and applies exactly
    /// these steps where nothing moved, refuses the apps whose state moved, and applies a plan
    /// at most once. A plan made where an app's state was unknown (an empty store) is refused.
    #[arg(long, value_name = "FILE")]
    pub out: Option<std::path::PathBuf>,
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
            grouping: self.grouping,
            out: self.out.clone(),
        }
    }
}

/// Runs `reconcile` (or `plan`).
pub async fn run(cli: &Cli, ui: &Ui, args: &ReconcileArgs) -> Result<i32, CliError> {
    // `--server`: the daemon plans the file (it holds the secrets and the state); the file is not
    // loaded here, so CI needs neither.
    if let Some(remote) = Remote::named(cli)? {
        return through_daemon(cli, ui, &remote, args).await;
    }
    let fleet = common::load_owned_fleet(cli, ui)?;
    let apps = args.selection.apps(&fleet)?;
    if args.detailed_exitcode && !args.dry_run {
        ui.warn("`--detailed-exitcode` only changes exit codes with `--dry-run`");
    }
    common::rates(&cli.rate)?;
    let store = match common::open_store_warning(cli, ui) {
        Ok(store) => store,
        // A daemon on this machine holds the store: ask it.
        Err(err) => match Remote::beside(cli, &common::store_dir(cli))? {
            Some(remote) => return through_daemon(cli, ui, &remote, args).await,
            None => return Err(err),
        },
    };
    let engine = common::connect(cli, &fleet, store).await?;
    let verb = if args.dry_run { "observed" } else { "settled" };
    let progress = Progress::new(ui, apps.len(), verb);
    engine
        .events()
        .subscribe(progress_printer(progress.clone(), args.dry_run));
    if args.out.is_some() && !args.dry_run {
        return Err(CliError::new(
            "--out saves a plan: use it with `plan` or `reconcile --dry-run`",
        )
        .help("`minifleet plan --out plan.json`, then `minifleet apply plan.json`"));
    }
    if args.dry_run {
        return dry_run(&engine, ui, &apps, args, &progress).await;
    }
    // A run tells the fleet's `notify` sinks too, and waits a little for them at the end.
    let notifier = crate::notify::Notifier::new(&fleet, engine.store().clone());
    engine.events().subscribe(notifier.clone());
    let code = apply(&engine, ui, &fleet, &apps, args, &progress).await;
    notifier.finish(NOTIFY_GRACE).await;
    code
}

/// How long the end of a run waits for its notifications.
const NOTIFY_GRACE: std::time::Duration = std::time::Duration::from_secs(15);

async fn dry_run(
    engine: &Arc<Engine>,
    ui: &Ui,
    apps: &[Desired],
    args: &ReconcileArgs,
    progress: &Progress,
) -> Result<i32, CliError> {
    let opts = PassOptions {
        apply: false,
        concurrency: usize::from(args.concurrency),
    };
    let planned = engine.plan_pass(apps, opts).await;
    progress.finish();
    let reports = planned.reports;
    let plan = plan_of(&reports, planned.audit_budget, planned.rollout);
    let failures = summarize(&reports).failed;
    if let Some(file) = &args.out {
        let saved = super::apply::save(engine, apps, &plan)?;
        super::apply::write(file, &saved)?;
        let unknown = saved.apps.iter().filter(|a| !a.known).count();
        ui.status(&format!(
            "Saved plan {} ({} apps with changes) to {}; apply it with `minifleet apply {}`",
            saved.id,
            saved.apps.len(),
            file.display(),
            file.display()
        ));
        if unknown > 0 {
            ui.warn(&format!(
                "{unknown} of them were planned without their record in this store (an empty store, or apps never reconciled here): `apply` will refuse them"
            ));
        }
    }
    let doc = || crate::daemon::api::plan_doc(&reports, &plan);
    Ok(show_plan(ui, doc, &plan, &failures, args))
}

/// Prints a dry run's plan (`doc`, made only for `-o json`, is its JSON) and its failures; its
/// exit code.
fn show_plan(
    ui: &Ui,
    doc: impl FnOnce() -> serde_json::Value,
    plan: &Plan,
    failures: &[crate::engine::FailedApp],
    args: &ReconcileArgs,
) -> i32 {
    if ui.json_mode() {
        ui.json(&doc());
    } else {
        print_plan(ui, plan, args.grouping.layout());
        print_failures(ui, failures);
    }
    // A plan that leaves apps out (failed, not authorized, not observed) is not "nothing to do".
    if plan.is_incomplete() {
        EXIT_ERROR
    } else if args.detailed_exitcode && plan.has_changes() {
        EXIT_CHANGES
    } else {
        EXIT_OK
    }
}

async fn apply(
    engine: &Arc<Engine>,
    ui: &Ui,
    fleet: &Fleet,
    apps: &[Desired],
    args: &ReconcileArgs,
    progress: &Progress,
) -> Result<i32, CliError> {
    let started = Instant::now();
    let interval = args.interval.unwrap_or_else(|| default_interval(fleet));
    let timing = Timing::every(interval, all_sandbox(fleet));
    let shared = Arc::new(Shared::default());
    let round = round_fn(
        engine.clone(),
        progress.clone(),
        *ui,
        shared.clone(),
        args.grouping.layout(),
    );
    let scheduler = Scheduler::new(round, timing, usize::from(args.concurrency));
    let (commands, queue) = tokio::sync::mpsc::unbounded_channel();
    engine.set_waker(commands.clone());
    let diff = FleetDiff::between(&[], apps);
    let _ = commands.send(Command::Fleet {
        diff,
        trigger: Trigger::Start,
    });
    drop(commands);
    let until = if args.wait {
        Until::Settled {
            deadline: tokio::time::Instant::now() + args.timeout,
        }
    } else {
        Until::OneRound
    };
    let mut watcher = Progressing {
        progress: progress.clone(),
        applied: BTreeMap::new(),
    };
    let ended = scheduler.run(queue, until, &mut watcher).await;
    progress.finish();
    let ordered: Vec<AppReport> = apps
        .iter()
        .filter_map(|a| ended.last.get(&a.name).cloned())
        .collect();
    // Apps that could still move had the deadline not come: a timeout, not a hold.
    let moving = ended
        .outcomes
        .values()
        .any(|o| !o.settled && o.held_until_ms.is_none());
    let timed_out = args.wait && (ended.timed_out || moving);
    let summary = PassSummary {
        applied: watcher.applied,
        ..summarize(&ordered)
    };
    let first_plan = shared.first_plan();
    finish(
        ui,
        args,
        &summary,
        ended.rounds,
        started.elapsed(),
        timed_out,
        &first_plan,
    );
    let budget = shared.audit_budget();
    let held = report_held(
        ui,
        &ordered,
        &ended.outcomes,
        budget,
        args.wait && !timed_out,
    );
    Ok(if timed_out || (args.wait && held > 0) {
        EXIT_TIMEOUT
    } else if !summary.failed.is_empty() {
        EXIT_ERROR
    } else {
        EXIT_OK
    })
}

/// What the rounds of one `reconcile` share with the command: the first plan (printed before
/// anything is applied, as Terraform does) and the latest audit budget.
#[derive(Default)]
struct Shared {
    first: std::sync::Mutex<Option<Plan>>,
    budget: std::sync::Mutex<Option<AuditBudget>>,
}

impl Shared {
    fn first_plan(&self) -> Option<Plan> {
        self.first
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn audit_budget(&self) -> Option<AuditBudget> {
        *self
            .budget
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// One round of `reconcile`: plan every due app; the first round's plan is printed before
/// anything is applied; then apply.
fn round_fn(
    engine: Arc<Engine>,
    progress: Progress,
    ui: Ui,
    shared: Arc<Shared>,
    layout: Layout,
) -> RoundFn {
    Arc::new(move |due, permits, done| {
        let (engine, shared, progress) = (engine.clone(), shared.clone(), progress.clone());
        Box::pin(async move {
            let planned = engine.plan_due(&due, &permits).await;
            {
                let mut first = shared
                    .first
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                if first.is_none() {
                    let reports: Vec<AppReport> =
                        planned.reports.iter().flatten().cloned().collect();
                    let plan = plan_of(&reports, planned.audit_budget, planned.rollout.clone());
                    progress.suspend(|| print_plan(&ui, &plan, layout));
                    *first = Some(plan);
                }
            }
            *shared
                .budget
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = planned.audit_budget;
            engine
                .apply_round(due, planned.reports, permits, move |d| {
                    let _ = done.send(d);
                })
                .await;
        })
    })
}

/// Counts what was applied and says, between passes, how many apps have not converged yet.
struct Progressing {
    progress: Progress,
    applied: BTreeMap<String, usize>,
}

impl Watcher for Progressing {
    fn finished(&mut self, report: &AppReport, outcome: &Outcome, _: Trigger) {
        for (kind, n) in summarize(std::slice::from_ref(report)).applied {
            *self.applied.entry(kind).or_default() += n;
        }
        if outcome.settled {
            self.progress.done(&report.app);
        }
    }

    fn idle(&mut self, pending: &[&AppReport], next_in: Duration) {
        self.progress.line(&waiting_line(pending, next_in));
    }
}

/// Says which apps were held back at the end, each with why and until when (the quota and its
/// code, or the backoff and its last error), and the audit budget. With `given_up` (`--wait`
/// ends without them) that is one error; returns how many apps ended held without converging.
fn report_held(
    ui: &Ui,
    reports: &[AppReport],
    outcomes: &BTreeMap<String, Outcome>,
    budget: Option<AuditBudget>,
    given_up: bool,
) -> usize {
    if let Some(budget) = budget.filter(|b| b.waiting > 0) {
        ui.warn(&format!("audit quota: {}", budget.line()));
    }
    let unsettled = |r: &AppReport| outcomes.get(&r.app).is_some_and(|o| !o.settled);
    let held: Vec<(&AppReport, &crate::engine::Held)> = reports
        .iter()
        .filter(|r| unsettled(r))
        .filter_map(|r| r.held.as_ref().map(|h| (r, h)))
        .collect();
    if !given_up {
        for (report, held) in held.iter().filter(|(_, h)| h.kind != HoldKind::AuditQuota) {
            ui.warn(&format!("app `{}`: {}", report.app, held.reason));
        }
        return held.len();
    }
    let any = |kind: HoldKind| held.iter().any(|(_, h)| h.kind == kind);
    let help = if any(HoldKind::Backoff) {
        "fix the cause and rerun, or edit the app's fleet entry: a changed entry is not held back \
         by the old one's failures; quotas lift by themselves when they reset"
    } else if any(HoldKind::Walk) || any(HoldKind::Wave) {
        "they go on by themselves when their time comes (a gray walk's next step, a wave's turn): \
         run `minifleet watch`, or reconcile again then; `minifleet status` shows where they stand"
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

fn default_interval(fleet: &Fleet) -> Duration {
    Duration::from_secs(if all_sandbox(fleet) { 1 } else { 30 })
}

/// Whether every platform of the fleet is the sandbox (shorter intervals and backoffs).
pub(super) fn all_sandbox(fleet: &Fleet) -> bool {
    fleet.platforms.all_sandbox()
}

fn print_plan(ui: &Ui, plan: &Plan, layout: Layout) {
    if ui.json_mode() {
        return;
    }
    ui.data(&render::text_as(plan, ui.color(), layout));
}

/// Prints a line per action as it is applied or fails; on a terminal, the bar shows the action
/// under way and (`observing`: for a plan) counts the apps observed.
fn progress_printer(progress: Progress, observing: bool) -> Arc<dyn Subscriber> {
    Arc::new(move |event: &Event| {
        let (app, action, failed) = match event {
            Event::Observed { app } if observing => return progress.done(&app.name),
            Event::ActionStarted { app, action } => {
                let what = crate::view::action::describe(action);
                return progress.doing(&format!("{}: {what}", app.name));
            }
            Event::ActionApplied { app, action, .. } => (app, action, None),
            Event::ActionFailed { app, action, error } => (app, action, Some(error)),
            _ => return,
        };
        let what = crate::view::action::describe(action);
        let symbol = crate::view::action::symbol(action);
        match failed {
            None => progress.line(&format!("{}: {symbol} {what} … ok", app.name)),
            Some(err) => progress.line(&format!("{}: {symbol} {what} … failed: {err}", app.name)),
        }
    })
}

fn waiting_line(pending: &[&AppReport], next_in: Duration) -> String {
    let waiting = pending
        .iter()
        .filter(|r| {
            r.plan
                .as_ref()
                .is_some_and(|p| p.state == crate::model::AppState::WaitingOnAudit)
        })
        .count();
    let moving = pending.len().saturating_sub(waiting);
    let mut parts = Vec::new();
    if waiting > 0 {
        parts.push(format!("{waiting} waiting on audit"));
    }
    if moving > 0 {
        parts.push(format!("{moving} in progress"));
    }
    format!(
        "{} app{} not converged yet ({}); next pass in {}",
        pending.len(),
        plural(pending.len()),
        parts.join(", "),
        humantime::format_duration(Duration::from_millis(next_in.as_millis() as u64))
    )
}

/// Prints every failed app with its hint; apps whose platform could not be reached are one
/// error per platform (`could not reach wechat: 16 apps not observed …`), not one per app.
fn print_failures(ui: &Ui, failures: &[crate::engine::FailedApp]) {
    if ui.json_mode() {
        return;
    }
    let mut unreachable: BTreeMap<&str, Vec<&crate::engine::FailedApp>> = BTreeMap::new();
    for failed in failures {
        match failed.platform.as_deref().filter(|_| failed.unreachable()) {
            Some(platform) => unreachable.entry(platform).or_default().push(failed),
            None => ui.error(
                &format!("app `{}`: {}", failed.app, failed.message),
                failed.hint.as_deref(),
            ),
        }
    }
    for (platform, apps) in unreachable {
        let names: Vec<String> = apps
            .iter()
            .take(3)
            .map(|a| format!("`{}`", a.app))
            .collect();
        let more = match apps.len() {
            n if n > 3 => format!(" and {} more", n - 3),
            _ => String::new(),
        };
        // The first app's own failure says why (a timeout…); later ones were refused by the breaker.
        let first = apps.iter().find(|a| a.code.as_deref() == Some("network"));
        let why = first.or(apps.first()).and_then(|a| a.why.as_deref());
        let why = why.unwrap_or("no answer");
        ui.error(
            &format!(
                "could not reach {platform}: {} app{} not observed ({}{more}): {why}",
                apps.len(),
                plural(apps.len()),
                names.join(", ")
            ),
            apps[0].hint.as_deref(),
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

/// `plan` through the daemon's API: the fleet file is sent as a proposal and planned there
/// against its store and live state (nothing applied, nothing stored), then printed as a local
/// plan is, with the same exit codes. `reconcile` is refused: the daemon applies on its own.
async fn through_daemon(
    cli: &Cli,
    ui: &Ui,
    remote: &Remote,
    args: &ReconcileArgs,
) -> Result<i32, CliError> {
    if args.out.is_some() {
        return Err(CliError::new(format!(
            "`minifleet watch` at {} holds the store: a saved plan is made and applied against the store, not yet through the daemon",
            remote.base()
        ))
        .help("the daemon applies the fleet itself; save plans where no daemon runs, or plan without --out"));
    }
    if !args.dry_run {
        return Err(CliError::new(format!(
            "`minifleet watch` at {} applies the fleet: `reconcile` would race it",
            remote.base()
        ))
        .help(format!(
            "let the daemon pass the apps now: curl -X POST -H 'Authorization: Bearer …' \
             -d '{{\"apps\": [\"NAME\"]}}' {}/api/v1/passes; `minifleet plan` shows what it will do",
            remote.base()
        )));
    }
    ui.status(&super::status::from_daemon(remote));
    let body = std::fs::read(&cli.fleet)
        .map_err(|err| CliError::new(format!("cannot read `{}`: {err}", cli.fleet.display())))?;
    let mut query = Vec::new();
    if !args.selection.only.is_empty() {
        query.push(format!(
            "only={}",
            query_value(&args.selection.only.join(","))
        ));
    }
    if !args.selection.selector.is_empty() {
        query.push(format!(
            "label={}",
            query_value(&args.selection.selector.join(","))
        ));
    }
    let path = match query.is_empty() {
        true => "/api/v1/plan".to_string(),
        false => format!("/api/v1/plan?{}", query.join("&")),
    };
    let (status, doc) = remote.post(&path, body, "application/yaml").await?;
    if status == 422 {
        if ui.json_mode() {
            ui.json(&doc);
        } else {
            print_problems(&cli.fleet, &doc);
        }
        return Ok(EXIT_ERROR);
    }
    if !(200..300).contains(&status) {
        return Err(remote.refused(status, &doc));
    }
    let unreadable = |err: serde_json::Error| {
        CliError::new(format!(
            "the daemon at {} sent a plan this minifleet cannot read: {err}",
            remote.base()
        ))
        .help("run the same minifleet version as the daemon")
    };
    let mut audit_budget: Option<AuditBudget> =
        serde_json::from_value(doc["audit_budget"].clone()).map_err(unreadable)?;
    if let Some(budget) = &mut audit_budget {
        let name = doc["audit_budget"]["platform"].as_str().unwrap_or_default();
        budget.platform = crate::platform::registry::SPECS
            .iter()
            .map(|spec| spec.rules().name)
            .find(|known| *known == name)
            .unwrap_or_default();
    }
    let plan = Plan {
        apps: serde_json::from_value(doc["apps"].clone()).map_err(unreadable)?,
        audit_budget,
        unobserved: serde_json::from_value(doc.get("unobserved").cloned().unwrap_or_default())
            .unwrap_or_default(),
        rollout: serde_json::from_value(doc.get("rollout").cloned().unwrap_or_default())
            .map_err(unreadable)?,
    };
    let failures: Vec<crate::engine::FailedApp> =
        serde_json::from_value(doc["errors"].clone()).map_err(unreadable)?;
    Ok(show_plan(ui, move || doc, &plan, &failures, args))
}

/// The problems of a proposed fleet file the daemon refused, as `validate` prints them.
fn print_problems(file: &std::path::Path, doc: &serde_json::Value) {
    let problems = doc["errors"].as_array().cloned().unwrap_or_default();
    for p in &problems {
        let place = match (p["line"].as_u64(), p["column"].as_u64()) {
            (Some(l), Some(c)) => format!("{}:{l}:{c}: ", file.display()),
            _ => format!("{}: ", file.display()),
        };
        let path = p["path"]
            .as_str()
            .map(|s| format!("{s}: "))
            .unwrap_or_default();
        eprintln!(
            "error: {place}{path}{}",
            p["message"].as_str().unwrap_or("")
        );
        if let Some(help) = p["help"].as_str() {
            eprintln!("  help: {help}");
        }
    }
    eprintln!(
        "{} problem{} in {} (checked by the daemon)",
        problems.len(),
        plural(problems.len()),
        file.display()
    );
}
