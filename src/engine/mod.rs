//! The executor: connects the platforms (starting the embedded sandbox when a platform's base is
//! `sandbox`), then runs passes — observe, plan, apply — over the fleet's apps under one concurrency
//! bound, recording every action, outcome and history event in the store.

mod apply;
mod connect;
mod pass;
pub mod rate;
mod report;
mod settle;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use connect::{ConnectError, seed_wechat_ticket};
pub use pass::{AppReport, Applied, Held, HoldKind, PassError, held};
pub use report::{FailedApp, PassSummary, summarize};

use crate::fleet::Fleet;
use crate::model::{AppPlan, Desired, PlatformKind};
use crate::plan::quota::{AuditBudget, budget_audits, submits_audit};
use crate::platform::Platform;
use crate::sandbox::SandboxHandle;
use crate::store::Store;

/// How a pass runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PassOptions {
    /// Apply the plan (false = dry run: observe and plan only).
    pub apply: bool,
    /// At most this many apps are worked on at once.
    pub concurrency: usize,
}

/// Progress events a pass reports while it runs (the CLI prints them).
#[derive(Debug, Clone)]
pub enum Progress {
    /// An app's observation finished.
    Observed {
        /// The app's name.
        app: String,
    },
    /// An action finished.
    Acted {
        /// The app's name.
        app: String,
        /// What was done and how it went.
        applied: Box<Applied>,
    },
}

/// A callback receiving [`Progress`] events; must be cheap.
pub type ProgressFn = Arc<dyn Fn(Progress) + Send + Sync>;

/// A pass's plans, before applying: one report per app, and how the audit quota was shared.
#[derive(Debug, Clone)]
pub struct PlannedPass {
    /// One report per app, in the order of the apps.
    pub reports: Vec<AppReport>,
    /// The audit budget, when a platform rations audits and some plan submits one.
    pub audit_budget: Option<AuditBudget>,
}

/// The engine: the store, one client per platform in use, and the sandbox when it was started.
pub struct Engine {
    store: Store,
    platforms: BTreeMap<PlatformKind, Arc<dyn Platform>>,
    alipay: Option<Arc<crate::platform::alipay::AlipayClient>>,
    _sandbox: Option<SandboxHandle>,
}

impl Engine {
    /// Builds the platform clients for the fleet, starting and seeding the embedded sandbox for
    /// platforms whose base is `sandbox`.
    pub async fn connect(fleet: &Fleet, store: Store) -> Result<Engine, ConnectError> {
        connect::connect(fleet, store).await
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The Alipay client, when the fleet has `platforms.alipay` (for `auth alipay`).
    pub fn alipay(&self) -> Option<&crate::platform::alipay::AlipayClient> {
        self.alipay.as_deref()
    }

    /// The base URL of the embedded sandbox, when one runs.
    pub fn sandbox_url(&self) -> Option<String> {
        self._sandbox.as_ref().map(SandboxHandle::base_url)
    }

    /// The embedded sandbox, when one runs (`watch` points its pushes at itself).
    pub fn sandbox(&self) -> Option<&SandboxHandle> {
        self._sandbox.as_ref()
    }

    /// Limits the calls to one platform to `rate` (a token bucket in front of the client).
    pub fn limit_rate(&mut self, kind: PlatformKind, rate: rate::Rate) {
        if let Some(platform) = self.platforms.remove(&kind) {
            let limited: Arc<dyn Platform> = Arc::new(rate::RateLimited::new(platform, rate));
            self.platforms.insert(kind, limited);
        }
    }

    /// Runs one pass over `apps`: every app is observed and planned, the audit quota is shared
    /// out (see [`Engine::plan_pass`]), and with `opts.apply` the plans are applied, at most
    /// `opts.concurrency` apps at a time. Reports come back in the order of `apps`.
    pub async fn pass(
        self: &Arc<Self>,
        apps: &[Desired],
        opts: PassOptions,
        progress: ProgressFn,
    ) -> Vec<AppReport> {
        let planned = self.plan_pass(apps, opts, Arc::clone(&progress)).await;
        if !opts.apply {
            return planned.reports;
        }
        self.apply_planned(apps, planned.reports, opts.concurrency, progress)
            .await
    }

    /// Observes and plans every app (changing nothing on the platforms), then shares the monthly
    /// audit quota among the plans in fleet order. With `opts.apply` (plans about to be applied)
    /// unknown outcomes are settled first and apps backing off are held.
    pub async fn plan_pass(
        self: &Arc<Self>,
        apps: &[Desired],
        opts: PassOptions,
        progress: ProgressFn,
    ) -> PlannedPass {
        let jobs = apps.iter().cloned().map(|app| {
            let engine = Arc::clone(self);
            let progress = Arc::clone(&progress);
            async move { engine.observe_and_plan(&app, opts.apply, &progress).await }
        });
        let mut reports = fan_out(apps, opts.concurrency, jobs).await;
        let audit_budget = self.share_audit_quota(apps, &mut reports).await;
        PlannedPass {
            reports,
            audit_budget,
        }
    }

    /// Asks each platform that rations audits how many are left, and holds the submissions
    /// beyond that in fleet order.
    async fn share_audit_quota(
        &self,
        apps: &[Desired],
        reports: &mut [AppReport],
    ) -> Option<AuditBudget> {
        let mut total: Option<AuditBudget> = None;
        for (kind, platform) in &self.platforms {
            let mut plans: Vec<(&Desired, &mut AppPlan)> = apps
                .iter()
                .zip(reports.iter_mut())
                .filter(|(app, r)| app.platform == *kind && r.held.is_none())
                .filter_map(|(app, r)| r.plan.as_mut().map(|p| (app, p)))
                .filter(|(_, p)| submits_audit(p))
                .collect();
            let Some((via, _)) = plans.first() else {
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
            let mut plans: Vec<&mut AppPlan> = plans.iter_mut().map(|(_, p)| &mut **p).collect();
            let budget = budget_audits(&mut plans, quota.rest);
            let held = Held {
                kind: HoldKind::AuditQuota,
                until_ms: None,
                reason: format!("waits for the monthly audit quota ({})", budget.line()),
            };
            for (app, report) in apps.iter().zip(reports.iter_mut()) {
                let waits = app.platform == *kind
                    && report.held.is_none()
                    && report.plan.as_ref().is_some_and(|p| {
                        p.notes
                            .iter()
                            .any(|n| n.starts_with("waits for the monthly audit quota"))
                    });
                if waits {
                    report.held = Some(held.clone());
                }
            }
            let sum = total.get_or_insert_with(AuditBudget::default);
            sum.planned += budget.planned;
            sum.left += budget.left;
            sum.waiting += budget.waiting;
        }
        total
    }

    /// Applies plans made by a dry [`Engine::pass`] moments ago (so the plan printed is the plan
    /// applied, as Terraform does), at most `concurrency` apps at a time.
    pub async fn apply_planned(
        self: &Arc<Self>,
        apps: &[Desired],
        planned: Vec<AppReport>,
        concurrency: usize,
        progress: ProgressFn,
    ) -> Vec<AppReport> {
        let jobs = apps.iter().cloned().zip(planned).map(|(app, report)| {
            let engine = Arc::clone(self);
            let progress = Arc::clone(&progress);
            async move { engine.apply_report(&app, report, &progress).await }
        });
        fan_out(apps, concurrency, jobs).await
    }

    fn platform(&self, kind: PlatformKind) -> Option<&Arc<dyn Platform>> {
        self.platforms.get(&kind)
    }
}

/// Runs `jobs` (one per app, in the order of `apps`) with at most `concurrency` at once; a job
/// whose task died reports [`PassError::Crashed`].
async fn fan_out<J>(apps: &[Desired], concurrency: usize, jobs: J) -> Vec<AppReport>
where
    J: Iterator,
    J::Item: std::future::Future<Output = AppReport> + Send + 'static,
{
    let semaphore = Arc::new(tokio::sync::Semaphore::new(concurrency.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    for (index, job) in jobs.enumerate() {
        let semaphore = Arc::clone(&semaphore);
        tasks.spawn(async move {
            let _permit = semaphore.acquire_owned().await;
            (index, job.await)
        });
    }
    let mut reports: Vec<Option<AppReport>> = vec![None; apps.len()];
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((index, report)) => reports[index] = Some(report),
            Err(err) => tracing::error!(error = %err, "an app's pass task died"),
        }
    }
    reports
        .into_iter()
        .zip(apps)
        .map(|(report, app)| report.unwrap_or_else(|| AppReport::crashed(app)))
        .collect()
}

/// Unix time in milliseconds.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_millis() as u64
}
