//! The executor: connects the platforms (starting the embedded sandbox when a platform's base is
//! `sandbox`), then runs passes — observe, plan, apply — over the fleet's apps under one concurrency
//! bound, recording every action, outcome and history event in the store.

mod apply;
mod connect;
mod pass;
mod report;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use apply::describe;
pub use connect::{ConnectError, seed_wechat_ticket};
pub use pass::{AppReport, Applied, PassError};
pub use report::{FailedApp, PassSummary, summarize};

use crate::fleet::Fleet;
use crate::model::{Desired, PlatformKind};
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

    /// Runs one pass over `apps`: each app is observed, planned and (with `opts.apply`) applied,
    /// at most `opts.concurrency` at a time. Reports come back in the order of `apps`.
    pub async fn pass(
        self: &Arc<Self>,
        apps: &[Desired],
        opts: PassOptions,
        progress: ProgressFn,
    ) -> Vec<AppReport> {
        let jobs = apps.iter().cloned().map(|app| {
            let engine = Arc::clone(self);
            let progress = Arc::clone(&progress);
            async move { engine.run_app(&app, opts.apply, &progress).await }
        });
        fan_out(apps, opts.concurrency, jobs).await
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
