//! The executor: connects the platforms (starting the embedded sandbox when a platform's base is
//! `sandbox`), then runs passes — observe, plan, apply — over the fleet's apps under one concurrency
//! bound, recording every action, outcome and history event in the store.

mod apply;
pub mod diff;
pub mod events;
#[cfg(test)]
pub(crate) mod fixtures;
mod history;
pub mod ledger;
mod pass;
pub mod policy;
pub mod probe;
mod readiness;
mod report;
pub mod rollout;
pub mod saved;
pub mod scheduler;
mod settle;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub use pass::{AppReport, Applied, Held, HoldKind, PassError, held};
pub use report::{FailedApp, PassSummary, plan_of, summarize};

use tokio::sync::Semaphore;

use crate::fleet::Fleet;
use crate::model::{Desired, PlatformKind};
use crate::plan::quota::{AuditBudget, Claim, Turn, hold_submission, submits_audit, waiting_note};
use crate::plan::rollout::RolloutView;
use crate::platform::Platform;
use crate::platform::platforms::{Options, Platforms};
use crate::store::Store;
use crate::view::report::Report;
use events::{AppRef, Event, Events};
use scheduler::{Done, Due, Trigger};

/// How a pass runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PassOptions {
    /// Apply the plan (false = dry run: observe and plan only).
    pub apply: bool,
    /// At most this many apps are worked on at once.
    pub concurrency: usize,
}

/// What a round of planning may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The plans are about to be applied: unknown outcomes are settled first, apps backing off
    /// are held, state changes are told and audit submissions are reserved.
    Apply,
    /// A dry run: the observations are kept (for `status`) and told, nothing else.
    DryRun,
    /// The plan of a fleet that is not the running one (a proposed file): nothing is stored or
    /// told, so asking changes nothing.
    Proposal,
}

impl Mode {
    /// The mode of a pass that applies (`apply`) or not.
    pub fn of(apply: bool) -> Mode {
        if apply { Mode::Apply } else { Mode::DryRun }
    }
}

/// A round's plans, before applying: one report per app (`None`: its permit never came), and
/// how the audit quota was shared.
#[derive(Debug, Clone)]
pub struct PlannedRound {
    /// One report per app, in the order of the apps.
    pub reports: Vec<Option<AppReport>>,
    /// The audit budget, when a platform rations audits and some plan submits one.
    pub audit_budget: Option<AuditBudget>,
    /// The rollout's progress, when the fleet has a rollout.
    pub rollout: Option<RolloutView>,
}

/// A pass's plans, before applying: one report per app, and how the audit quota was shared.
#[derive(Debug, Clone)]
pub struct PlannedPass {
    /// One report per app, in the order of the apps.
    pub reports: Vec<AppReport>,
    /// The audit budget, when a platform rations audits and some plan submits one.
    pub audit_budget: Option<AuditBudget>,
    /// The rollout's progress, when the fleet has a rollout.
    pub rollout: Option<RolloutView>,
}

/// The engine: the store, the platforms (clients, sandbox), the event stream, and the audit
/// submissions granted by rounds in flight.
pub struct Engine {
    store: Store,
    platforms: Arc<Platforms>,
    /// The fleet's ledger of the platforms' audit quotas: grants of rounds in flight, the line.
    ledger: std::sync::Mutex<ledger::Ledger>,
    /// The event stream (history subscribes from the start).
    events: Events,
    /// The per-app backoff after failed passes.
    backoff: policy::Backoff,
    /// Resyncs proven by a probe since each app's last full observation.
    proofs: probe::Proofs,
    /// The fleet's rollout and every app's progress in it, when the fleet has one.
    board: std::sync::Mutex<Option<rollout::Board>>,
    /// Where to send the apps the rollout frees (the scheduler's commands), if anywhere.
    waker: std::sync::Mutex<Option<tokio::sync::mpsc::UnboundedSender<scheduler::Command>>>,
}

impl Engine {
    /// An engine driving `platforms`, recording in `store`.
    pub fn new(store: Store, platforms: Arc<Platforms>) -> Engine {
        let events = Events::default();
        events.subscribe(Arc::new(history::History::new(store.clone())));
        Engine {
            backoff: policy::Backoff::STANDARD,
            store,
            platforms,
            ledger: Default::default(),
            events,
            proofs: probe::Proofs::default(),
            board: Default::default(),
            waker: Default::default(),
        }
    }

    /// From now on, observe an app fully every `k`-th resync and prove the others with the
    /// platform's probe (see [`probe`]); `1`: every resync observes fully.
    pub fn set_full_observe_every(&self, k: u32) {
        self.proofs.set_every(k);
    }

    /// Connects the fleet's platforms (starting and seeding the embedded sandbox for those whose
    /// base is `sandbox`) with default rates; an engine driving them, gated by the fleet's
    /// rollout.
    pub async fn connect(fleet: &Fleet, store: Store) -> Result<Engine, Report> {
        let platforms = Platforms::connect(fleet, store.clone(), &Options::default()).await?;
        let engine = Engine::new(store, Arc::new(platforms));
        engine.follow_fleet(fleet);
        Ok(engine)
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The platforms.
    pub fn platforms(&self) -> &Arc<Platforms> {
        &self.platforms
    }

    /// The event stream: subscribe to hear what happens to apps.
    pub fn events(&self) -> &Events {
        &self.events
    }

    /// Runs one pass over `apps`: every app is observed and planned, the audit quota is shared
    /// out (see [`Engine::plan_pass`]), and with `opts.apply` the plans are applied, at most
    /// `opts.concurrency` apps at a time. Reports come back in the order of `apps`.
    pub async fn pass(self: &Arc<Self>, apps: &[Desired], opts: PassOptions) -> Vec<AppReport> {
        let planned = self.plan_pass(apps, opts).await;
        if !opts.apply {
            return planned.reports;
        }
        self.apply_planned(apps, planned.reports, opts.concurrency)
            .await
    }

    /// Observes and plans every app (changing nothing on the platforms), then shares the monthly
    /// audit quota among the plans in fleet order. With `opts.apply` (plans about to be applied)
    /// unknown outcomes are settled first and apps backing off are held.
    pub async fn plan_pass(self: &Arc<Self>, apps: &[Desired], opts: PassOptions) -> PlannedPass {
        self.plan_all(apps, Mode::of(opts.apply), opts.concurrency)
            .await
    }

    /// Plans `apps` — a fleet that is not the running one, e.g. a proposed file, gated by its own
    /// rollout `board` — against the store and the platforms' live state, storing and telling nothing
    /// ([`Mode::Proposal`]), at most `concurrency` apps at a time. Reports come back in the order
    /// of `apps`.
    pub async fn plan_proposal(
        self: &Arc<Self>,
        apps: &[Desired],
        board: Option<rollout::Board>,
        concurrency: usize,
    ) -> PlannedPass {
        let permits = Arc::new(Semaphore::new(concurrency.max(1)));
        let resync = vec![false; apps.len()];
        let round = self
            .plan_apps(apps, &resync, Mode::Proposal, &permits, board)
            .await;
        Self::whole(apps, round)
    }

    async fn plan_all(
        self: &Arc<Self>,
        apps: &[Desired],
        mode: Mode,
        concurrency: usize,
    ) -> PlannedPass {
        let permits = Arc::new(Semaphore::new(concurrency.max(1)));
        let round = self.plan_round(apps, mode, &permits).await;
        Self::whole(apps, round)
    }

    /// A round's plans as a pass's: an app whose permit never came is reported crashed.
    fn whole(apps: &[Desired], round: PlannedRound) -> PlannedPass {
        PlannedPass {
            reports: round
                .reports
                .into_iter()
                .zip(apps)
                .map(|(r, app)| r.unwrap_or_else(|| AppReport::crashed(app)))
                .collect(),
            audit_budget: round.audit_budget,
            rollout: round.rollout,
        }
    }

    /// Phase one of a round: observes and plans `apps` while holding a permit each (an app whose
    /// permit never comes — the semaphore was closed — is `None`), then shares the audit quota
    /// among the plans in the apps' (fleet) order.
    pub async fn plan_round(
        self: &Arc<Self>,
        apps: &[Desired],
        mode: Mode,
        permits: &Arc<Semaphore>,
    ) -> PlannedRound {
        self.plan_apps(apps, &vec![false; apps.len()], mode, permits, None)
            .await
    }

    /// Phase one of a scheduler's round, to be applied: [`Engine::plan_round`] of the due apps,
    /// where the apps due for a resync may be proven unchanged by a probe (see [`probe`]).
    pub async fn plan_due(self: &Arc<Self>, due: &[Due], permits: &Arc<Semaphore>) -> PlannedRound {
        let apps: Vec<Desired> = due.iter().map(|d| d.app.clone()).collect();
        let resync: Vec<bool> = due.iter().map(|d| d.trigger == Trigger::Resync).collect();
        self.plan_apps(&apps, &resync, Mode::Apply, permits, None)
            .await
    }

    async fn plan_apps(
        self: &Arc<Self>,
        apps: &[Desired],
        resync: &[bool],
        mode: Mode,
        permits: &Arc<Semaphore>,
        proposal: Option<rollout::Board>,
    ) -> PlannedRound {
        let jobs = apps
            .iter()
            .cloned()
            .zip(resync.to_vec())
            .map(|(app, resync)| {
                let engine = Arc::clone(self);
                async move { engine.observe_and_plan(&app, mode, resync).await }
            });
        let mut reports = fan_out(apps, permits, jobs).await;
        // Held code steps spend no audit quota: the rollout goes first.
        let rollout = self.gate_round(apps, &mut reports, mode, proposal).await;
        // A submission the platform says will fail spends no audit quota either.
        self.check_readiness(apps, &mut reports, mode).await;
        let audit_budget = self.share_audit_quota(apps, &mut reports, mode).await;
        PlannedRound {
            reports,
            audit_budget,
            rollout,
        }
    }

    /// Phase two of a round: applies each planned app's plan while holding a permit, handing
    /// each report to `done` as soon as the app is through (and telling
    /// [`Event::PassFinished`]); apps without a plan or a permit are [`Done::Skipped`].
    pub async fn apply_round(
        self: &Arc<Self>,
        due: Vec<Due>,
        planned: Vec<Option<AppReport>>,
        permits: Arc<Semaphore>,
        done: impl Fn(Done) + Send + Sync + 'static,
    ) {
        let started = Instant::now();
        let done = Arc::new(done);
        let mut tasks = tokio::task::JoinSet::new();
        for (Due { app, trigger }, report) in due.into_iter().zip(planned) {
            let Some(report) = report else {
                self.release_reservation(&app.appid);
                done(Done::Skipped(app.name));
                continue;
            };
            let (engine, permits, done) =
                (Arc::clone(self), Arc::clone(&permits), Arc::clone(&done));
            tasks.spawn(async move {
                let Ok(_permit) = permits.acquire_owned().await else {
                    engine.release_reservation(&app.appid);
                    done(Done::Skipped(app.name));
                    return;
                };
                let report = engine.apply_spawned(&app, report).await;
                engine.events.emit(Event::PassFinished {
                    app: AppRef::of(&app),
                    trigger: trigger.as_str(),
                    state: report
                        .plan
                        .as_ref()
                        .filter(|_| report.error.is_none())
                        .map_or("error", |p| p.state.name())
                        .to_string(),
                    took_ms: started.elapsed().as_millis() as u64,
                    actions: events::actions_of(&report),
                });
                done(Done::Passed(Box::new(report)));
            });
        }
        while tasks.join_next().await.is_some() {}
    }

    /// Applies `report`'s plan in a task of its own, so a pass that panics is reported as
    /// crashed, not lost; its granted audit submission is released either way.
    async fn apply_spawned(self: &Arc<Self>, app: &Desired, report: AppReport) -> AppReport {
        let (engine, owned) = (Arc::clone(self), app.clone());
        let ran = tokio::spawn(async move { engine.apply_report(&owned, report).await }).await;
        self.release_reservation(&app.appid);
        ran.unwrap_or_else(|err| {
            tracing::error!(app = %app.name, error = %err, "an app's pass task died");
            AppReport::crashed(app)
        })
    }

    /// Asks each platform that rations audits how many are left, and shares them out through the
    /// fleet's [`ledger`]: by priority, then fleet order, with slots kept for new merchants;
    /// plans about to be applied ([`Mode::Apply`]) reserve theirs until their pass is through,
    /// and apps of earlier rounds whose turn comes are woken.
    async fn share_audit_quota(
        &self,
        apps: &[Desired],
        reports: &mut [Option<AppReport>],
        mode: Mode,
    ) -> Option<AuditBudget> {
        let mut total: Option<AuditBudget> = None;
        for (kind, platform) in self.platforms.clients() {
            let mut submitting: Vec<(usize, &Desired, &mut AppReport)> = Vec::new();
            for (position, (app, report)) in apps.iter().zip(reports.iter_mut()).enumerate() {
                let Some(report) = report.as_mut().filter(|_| app.platform == kind) else {
                    continue;
                };
                if report.held.is_none() && report.plan.as_ref().is_some_and(submits_audit) {
                    submitting.push((position, app, report));
                } else if mode == Mode::Apply {
                    self.ledger().leave(kind, &app.appid);
                }
            }
            let Some(via) = submitting.first().map(|(_, app, _)| *app) else {
                continue;
            };
            let quota = match platform.audit_quota(via).await {
                Ok(Some(quota)) => quota,
                Ok(None) => continue,
                Err(err) => {
                    tracing::warn!(platform = %kind, error = %err, "cannot read the audit quota; submitting without a budget");
                    continue;
                }
            };
            if mode == Mode::Apply {
                self.events.emit(Event::AuditQuota {
                    platform: kind,
                    left: quota.rest,
                    limit: quota.limit,
                    resets_at: quota.resets_at,
                });
            }
            let shared = {
                let mut ledger = self.ledger();
                let round: Vec<(&Desired, Claim)> = submitting
                    .iter()
                    .map(|(position, app, report)| {
                        (*app, ledger.claim(app, report.unreleased, *position))
                    })
                    .collect();
                let apply = mode == Mode::Apply;
                ledger.share(kind, &round, quota.rest, quota.resets_at, apply)
            };
            self.wake(shared.wake);
            let budget = AuditBudget {
                platform: via.rules.name,
                ..shared.budget
            };
            for ((_, app, report), turn) in submitting.iter_mut().zip(&shared.turns) {
                let Turn::Waits { place } = *turn else {
                    continue;
                };
                let priority = app.priority.unwrap_or(0);
                let reason = match report.plan.as_mut() {
                    Some(plan) => hold_submission(plan, &budget, place, priority),
                    None => waiting_note(&budget, place, priority),
                };
                self.hold_in_round(app, report, HoldKind::AuditQuota, reason, mode);
            }
            let Some(sum) = total.as_mut() else {
                total = Some(budget);
                continue;
            };
            if sum.platform != budget.platform {
                sum.platform = "";
            }
            sum.planned += budget.planned;
            sum.left += budget.left;
            sum.waiting += budget.waiting;
            sum.reserve += budget.reserve;
            sum.resets_at = sum.resets_at.into_iter().chain(budget.resets_at).min();
        }
        total
    }

    /// Applies plans made by a dry [`Engine::pass`] moments ago (so the plan printed is the plan
    /// applied, as Terraform does), at most `concurrency` apps at a time. Reports come back in the
    /// order of `apps`.
    pub async fn apply_planned(
        self: &Arc<Self>,
        apps: &[Desired],
        planned: Vec<AppReport>,
        concurrency: usize,
    ) -> Vec<AppReport> {
        let permits = Arc::new(Semaphore::new(concurrency.max(1)));
        let collected = Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = Arc::clone(&collected);
        let planned = planned.into_iter().map(Some).collect();
        let due = apps
            .iter()
            .map(|app| Due {
                app: app.clone(),
                trigger: Trigger::Start,
            })
            .collect();
        self.apply_round(due, planned, permits, move |done| {
            if let Done::Passed(report) = done {
                sink.lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .push(*report);
            }
        })
        .await;
        let mut by_name: BTreeMap<String, AppReport> = std::mem::take(
            &mut *collected
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
        .into_iter()
        .map(|r| (r.app.clone(), r))
        .collect();
        apps.iter()
            .map(|app| {
                by_name
                    .remove(&app.name)
                    .unwrap_or_else(|| AppReport::crashed(app))
            })
            .collect()
    }

    /// Holds `report`'s app for what only the round knows (its audit-quota turn, a readiness
    /// blocker), told as an event when the round applies.
    fn hold_in_round(
        &self,
        app: &Desired,
        report: &mut AppReport,
        kind: HoldKind,
        reason: String,
        mode: Mode,
    ) {
        let held = Held {
            kind,
            until_ms: None,
            reason,
        };
        if mode == Mode::Apply {
            self.events.emit(held.event(app));
        }
        report.held = Some(held);
    }

    /// Where each platform's audit quota stands (for the platforms a round has asked).
    pub fn audit_quotas(&self) -> Vec<ledger::LedgerView> {
        self.ledger().view()
    }

    /// The ledger of the audit quotas.
    fn ledger(&self) -> std::sync::MutexGuard<'_, ledger::Ledger> {
        self.ledger
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The pass of `appid` is through: its granted submission, if any, reached the platform (or
    /// never will).
    pub(crate) fn release_reservation(&self, appid: &str) {
        self.ledger().release(appid);
    }

    /// The QR code of `app`'s experience version, opening `path` where its platform takes one
    /// (`minifleet qr`, `GET /api/v1/apps/{app}/qr`); `None` where the platform has none.
    pub async fn experience_qr(
        &self,
        app: &Desired,
        path: Option<&str>,
    ) -> Result<Option<crate::platform::QrCode>, PassError> {
        let platform = self
            .platform(app.platform)
            .ok_or(PassError::NoPlatform(app.platform))?;
        platform
            .experience_qr(app, path)
            .await
            .map_err(|e| PassError::Platform(Box::new(e)))
    }

    fn platform(&self, kind: PlatformKind) -> Option<&Arc<dyn Platform>> {
        self.platforms.client(kind)
    }
}

/// Runs `jobs` (one per app, in the order of `apps`), each while holding a permit of `permits`;
/// a job whose permit never comes (the semaphore was closed) is `None`, one whose task died
/// reports [`PassError::Crashed`].
async fn fan_out<J>(apps: &[Desired], permits: &Arc<Semaphore>, jobs: J) -> Vec<Option<AppReport>>
where
    J: Iterator,
    J::Item: std::future::Future<Output = AppReport> + Send + 'static,
{
    let mut tasks = tokio::task::JoinSet::new();
    for (index, job) in jobs.enumerate() {
        let permits = Arc::clone(permits);
        tasks.spawn(async move {
            let Ok(_permit) = permits.acquire_owned().await else {
                return (index, None);
            };
            (index, Some(job.await))
        });
    }
    let mut reports: Vec<Option<Option<AppReport>>> = vec![None; apps.len()];
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((index, report)) => reports[index] = Some(report),
            Err(err) => tracing::error!(error = %err, "an app's pass task died"),
        }
    }
    reports
        .into_iter()
        .zip(apps)
        .map(|(report, app)| report.unwrap_or_else(|| Some(AppReport::crashed(app))))
        .collect()
}

/// Unix time in milliseconds.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_millis() as u64
}

#[cfg(test)]
mod tests;
