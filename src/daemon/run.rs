//! The watch daemon wired together (DESIGN §8): the fleet watcher feeds diffs to the scheduler,
//! audit pushes and API requests make their apps due, every pass is counted in the metrics, and
//! the HTTP side serves pushes, onboarding, health, metrics and the API (its address recorded
//! beside the store for the CLI). A stop signal
//! starts no new pass, lets those in flight finish (bounded), flushes the store and returns.

use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{Notify, broadcast, mpsc};

use super::api;
use super::health::{self, Health};
use super::metrics::Metrics;
use super::watcher::{FleetWatcher, WatchError};
use crate::engine::diff::FleetDiff;
use crate::engine::events::Event;
use crate::engine::policy::Timing;
use crate::engine::scheduler::{Command, Ended, Quiet, RoundFn, Scheduler, Trigger, Until};
use crate::engine::{Engine, now_ms};
use crate::fleet::shard::Shard;
use crate::fleet::{self, Fleet, FleetErrors};
use crate::gitsource::{Checkout, GitSource};
use crate::model::Desired;
use crate::platform::platforms::Notice;
use crate::secret::Secret;
use crate::store::Store;

/// How long the HTTP server gets to finish its requests after the scheduler stopped.
const HTTP_GRACE: Duration = Duration::from_secs(5);

/// How the daemon runs.
#[derive(Debug, Clone)]
pub struct WatchOptions {
    /// The fleet file.
    pub fleet_path: PathBuf,
    /// Poll the fleet file's directory this often instead of using OS events.
    pub poll: Option<Duration>,
    /// Quiet time after a change before the fleet is loaded.
    pub debounce: Duration,
    /// The scheduler's intervals.
    pub timing: Timing,
    /// At most this many passes at once.
    pub concurrency: usize,
    /// How long passes in flight get to finish after a stop signal.
    pub grace: Duration,
    /// The shard this daemon is (`None`: it owns every app); reloads keep only its apps.
    pub shard: Option<Shard>,
    /// The API's bearer tokens.
    pub tokens: api::Tokens,
    /// `--git`: follow a branch instead of watching the fleet file.
    pub git: Option<GitFollow>,
}

/// `watch --git`: the branch the fleet comes from.
#[derive(Debug, Clone)]
pub struct GitFollow {
    /// The repository, branch and path.
    pub source: GitSource,
    /// How often to fetch (a push webhook fetches at once).
    pub interval: Duration,
    /// The secret push webhooks are signed with (none: webhooks are refused).
    pub webhook_secret: Option<Secret>,
    /// The commit the daemon starts on.
    pub start: Checkout,
}

/// The file beside the store that tells the CLI where this daemon's API answers.
pub const ADDR_FILE: &str = "daemon.addr";

/// Why the daemon could not run.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The fleet file cannot be watched.
    #[error(transparent)]
    Watch(#[from] WatchError),
    /// The HTTP server failed.
    #[error("the HTTP server stopped: {0}")]
    Http(std::io::Error),
}

/// The fleet the daemon runs: the last good one.
type Current = Arc<Mutex<Vec<Desired>>>;

/// Runs the daemon on `fleet` (already loaded and valid) until `stop` completes; returns how
/// the passes in flight ended.
pub async fn run(
    opts: WatchOptions,
    fleet: Fleet,
    engine: Arc<Engine>,
    listener: tokio::net::TcpListener,
    routes: axum::Router,
    stop: impl Future<Output = ()> + Send + 'static,
) -> Result<Ended, DaemonError> {
    let store = engine.store().clone();
    let metrics = Arc::new(Metrics::new());
    let platforms = engine.platforms().clone();
    let unready: health::Unready = Arc::new(move |now| platforms.unready(now));
    let health = Arc::new(Health::new(metrics.clone(), store.clone(), unready));
    let watcher = match &opts.git {
        Some(_) => None,
        None => Some(FleetWatcher::new(
            &opts.fleet_path,
            opts.poll,
            opts.debounce,
        )?),
    };
    let fetch_now = Arc::new(Notify::new());
    if opts.git.is_some() {
        metrics.follow_git();
    }

    let current: Current = Arc::new(Mutex::new(Vec::new()));
    let (commands, queue) = mpsc::unbounded_channel();
    engine.set_waker(commands.clone());
    let notices = engine.platforms().notices().subscribe();
    let pushes = tokio::spawn(forward_pushes(notices, commands.clone()));

    let api = Arc::new(api::Api::new(
        engine.clone(),
        current.clone(),
        commands.clone(),
        &opts,
        fleet.clone(),
    ));
    let addr = listener.local_addr().map_err(DaemonError::Http)?;
    write_addr(&store, addr);
    let http_stop = Arc::new(Notify::new());
    let git_hook = opts.git.as_ref().map(|git| {
        super::git::router(
            git.webhook_secret.clone(),
            git.source.branch.clone(),
            fetch_now.clone(),
        )
    });
    let router = routes
        .merge(git_hook.unwrap_or_default())
        .merge(health::router(health.clone()))
        .merge(super::web::router(api.clone()))
        .merge(api::router(api));
    let server = tokio::spawn(super::serve(listener, router, {
        let http_stop = http_stop.clone();
        async move { http_stop.notified().await }
    }));

    let notifier = crate::notify::Notifier::new(&fleet, store.clone());
    metrics.follow_notifier(notifier.clone());
    metrics.follow_quotas({
        let engine = engine.clone();
        Arc::new(move || engine.audit_quotas())
    });
    let reloader = Reloader {
        notifier: notifier.clone(),
        path: opts.fleet_path.clone(),
        platforms: format!("{:?}", fleet.platforms),
        current: current.clone(),
        commands: commands.clone(),
        metrics: metrics.clone(),
        engine: engine.clone(),
        shard: opts.shard,
    };
    engine.follow_fleet(&fleet);
    reloader.apply(&fleet.apps, fleet.revision.as_str(), Trigger::Start);
    health.set_fleet_loaded();
    let reloads = match (watcher, opts.git.clone()) {
        (Some(watcher), _) => tokio::spawn(reloader.watch(watcher)),
        (None, Some(git)) => tokio::spawn(reloader.follow_git(git, fetch_now)),
        (None, None) => tokio::spawn(async {}),
    };
    drop(commands);

    match store.rollout_state() {
        Ok(state) => metrics.rollout_halted(state.halts.into_keys()),
        Err(err) => tracing::warn!(error = %err, "cannot read the rollout's state"),
    }
    listen(&engine, metrics);
    engine.events().subscribe(notifier.clone());
    let round = round_fn(engine.clone());
    let scheduler = Scheduler::new(round, opts.timing, opts.concurrency);
    let until = Until::Stopped {
        stop: Box::pin(stop),
        grace: opts.grace,
    };
    let drained = scheduler.run(queue, until, &mut Quiet).await;

    reloads.abort();
    pushes.abort();
    notifier.finish(NOTIFY_GRACE).await;
    finish_store(&store).await;
    http_stop.notify_one();
    let served = tokio::time::timeout(HTTP_GRACE, server).await;
    tracing::info!(
        finished = drained.finished,
        abandoned = drained.abandoned,
        "stopped"
    );
    match served {
        Ok(Ok(Err(err))) => Err(DaemonError::Http(err)),
        _ => Ok(drained),
    }
}

/// How long a stopping daemon waits for the notifications it holds.
const NOTIFY_GRACE: Duration = Duration::from_secs(5);

/// Records where the API answers beside the store, for the CLI on this machine (an address
/// bound to every interface is recorded as loopback, which the CLI can always reach).
fn write_addr(store: &Store, addr: std::net::SocketAddr) {
    let host = if addr.ip().is_unspecified() {
        match addr {
            std::net::SocketAddr::V4(_) => std::net::IpAddr::from([127, 0, 0, 1]),
            std::net::SocketAddr::V6(_) => std::net::IpAddr::from(std::net::Ipv6Addr::LOCALHOST),
        }
    } else {
        addr.ip()
    };
    let url = format!("http://{}\n", std::net::SocketAddr::new(host, addr.port()));
    let path = store.dir().join(ADDR_FILE);
    let temp = store
        .dir()
        .join(format!("{ADDR_FILE}.{}.tmp", std::process::id()));
    let written = std::fs::write(&temp, url).and_then(|()| std::fs::rename(&temp, &path));
    if let Err(err) = written {
        tracing::warn!(error = %err, path = %path.display(), "cannot record the API's address; the CLI needs --server");
    }
}

/// Flushes the store and removes the address file (the store is free for the CLI again).
async fn finish_store(store: &Store) {
    if let Err(err) = store.flush_async().await {
        tracing::error!(error = %err, "cannot flush the store");
    }
    let path = store.dir().join(ADDR_FILE);
    if let Err(err) = std::fs::remove_file(&path)
        && err.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(error = %err, "cannot remove the daemon's address file");
    }
}

/// One round over the due apps: the engine plans them all (sharing the audit quota in fleet
/// order), then applies; the metrics, the status and the log hear of it through the engine's
/// events (see [`listen`]).
fn round_fn(engine: Arc<Engine>) -> RoundFn {
    Arc::new(move |due, permits, done| {
        let engine = engine.clone();
        Box::pin(async move {
            for d in &due {
                tracing::info!(app = %d.app.name, trigger = d.trigger.as_str(), "pass started");
            }
            let planned = engine.plan_due(&due, &permits).await;
            engine
                .apply_round(due, planned.reports, permits, move |d| {
                    let _ = done.send(d);
                })
                .await;
        })
    })
}

/// The daemon's subscribers: the log (a line per action) and the metrics (the API reads the
/// stream itself).
fn listen(engine: &Engine, metrics: Arc<Metrics>) {
    let events = engine.events();
    events.subscribe(Arc::new(log_action));
    events.subscribe(metrics);
}

fn log_action(event: &Event) {
    match event {
        Event::ActionApplied { app, action, .. } => {
            tracing::info!(app = %app.name, action = action.kind(), result = "ok", "action applied");
        }
        Event::ActionFailed { app, action, error } => tracing::warn!(
            app = %app.name, action = action.kind(), result = "error", call = %error.call,
            code = %error.code, class = error.class.as_str(), error = %error, "action failed"
        ),
        _ => {}
    }
}

/// What the platforms' push endpoints tell (an audit verdict…) becomes an immediate pass.
async fn forward_pushes(
    mut notices: broadcast::Receiver<Notice>,
    commands: mpsc::UnboundedSender<Command>,
) {
    loop {
        match notices.recv().await {
            Ok(notice) => {
                tracing::info!(appid = %notice.appid, event = %notice.event, "push: passing the app now");
                let push = Command::Push {
                    appid: notice.appid,
                };
                if commands.send(push).is_err() {
                    return;
                }
            }
            Err(broadcast::error::RecvError::Lagged(n)) => {
                tracing::warn!(missed = n, "pushes dropped; the polls catch up");
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// Loads the fleet file after changes and hands the diff to the scheduler.
struct Reloader {
    notifier: Arc<crate::notify::Notifier>,
    path: PathBuf,
    /// The `platforms` section at start-up, as debug text (secrets print `***`).
    platforms: String,
    current: Current,
    commands: mpsc::UnboundedSender<Command>,
    metrics: Arc<Metrics>,
    engine: Arc<Engine>,
    shard: Option<Shard>,
}

impl Reloader {
    async fn watch(self, mut watcher: FleetWatcher) {
        while watcher.changed().await {
            self.reload();
        }
        tracing::error!(path = %self.path.display(), "the fleet watcher stopped; edits are no longer seen");
    }

    /// Follows the branch: fetches every `interval` or when a webhook wakes it; a new commit
    /// goes through the same diff path as a file edit. A commit that does not load is reported
    /// with its id and author, once, and the last good commit keeps running.
    async fn follow_git(self, git: GitFollow, wake: Arc<Notify>) {
        let mut running = git.start.sha.clone();
        let mut before: Option<String> = None;
        let mut refused: Option<String> = None;
        loop {
            tokio::select! {
                () = tokio::time::sleep(git.interval) => {}
                () = wake.notified() => {}
            }
            let source = git.source.clone();
            let known = refused.clone().unwrap_or_else(|| running.clone());
            let fetched = tokio::task::spawn_blocking(move || source.fetch(Some(&known))).await;
            let checkout = match fetched {
                Ok(Ok(Some(checkout))) => checkout,
                Ok(Ok(None)) => continue,
                Ok(Err(err)) => {
                    self.metrics.git_fetch_failed();
                    tracing::warn!(error = %err, running = %running, "cannot fetch the fleet's branch; the running commit stays");
                    continue;
                }
                Err(err) => {
                    tracing::error!(error = %err, "the git fetch task died");
                    continue;
                }
            };
            let loaded = fleet::load_commit(
                &checkout.fleet,
                &checkout.root,
                &checkout.sha,
                crate::platform::registry::SPECS,
            );
            match loaded {
                Ok(fleet) => {
                    tracing::info!(commit = %checkout.describe(), "following a new commit");
                    self.take(fleet);
                    before = Some(std::mem::replace(&mut running, checkout.sha.clone()));
                    refused = None;
                }
                Err(errors) => {
                    tracing::error!(
                        commit = %checkout.sha,
                        author = %checkout.author,
                        summary = %checkout.summary,
                        problems = errors.errors.len(),
                        running = %running,
                        "the fleet file of a new commit is invalid; the last good commit keeps running"
                    );
                    self.invalid(&errors);
                    refused = Some(checkout.sha.clone());
                }
            }
            let keep: Vec<&str> = [Some(running.as_str()), before.as_deref()]
                .into_iter()
                .flatten()
                .collect();
            git.source.prune(&keep);
        }
    }

    fn reload(&self) {
        match fleet::load(&self.path, crate::platform::registry::SPECS) {
            Ok(fleet) => self.take(fleet),
            Err(errors) => self.invalid(&errors),
        }
    }

    /// Runs `fleet` from now on (the diff path of every reload).
    fn take(&self, mut fleet: Fleet) {
        fleet.keep_shard(self.shard);
        if format!("{:?}", fleet.platforms) != self.platforms {
            tracing::warn!("the `platforms` section changed; restart `minifleet watch` to use it");
        }
        self.engine.follow_fleet(&fleet);
        self.notifier.follow_fleet(&fleet);
        self.apply(&fleet.apps, fleet.revision.as_str(), Trigger::Reload);
    }

    /// The one diff path of start-up and reloads.
    fn apply(&self, apps: &[Desired], revision: &str, trigger: Trigger) {
        let diff = {
            let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
            let diff = FleetDiff::between(&current, apps);
            *current = apps.to_vec();
            diff
        };
        self.metrics.fleet_loaded(now_ms() / 1000, revision);
        for name in &diff.removed {
            self.metrics.forget_app(name);
        }
        if !diff.added.is_empty() {
            let (platforms, added) = (self.engine.platforms().clone(), diff.added.clone());
            // Seeding is quick (the sandbox is local, or answers on loopback); a pass of a new
            // app waits for it only as much as the scheduler's first round.
            tokio::spawn(async move {
                if let Err(err) = platforms.adopt(&added).await {
                    tracing::warn!(error = %err, "cannot authorize new apps in the sandbox");
                }
            });
        }
        tracing::info!(
            path = %self.path.display(),
            trigger = trigger.as_str(),
            revision,
            diff = %diff.summary(),
            "fleet loaded"
        );
        if !diff.is_empty() {
            let _ = self.commands.send(Command::Fleet { diff, trigger });
        }
    }

    fn invalid(&self, errors: &FleetErrors) {
        self.metrics.fleet_invalid(errors.errors.len());
        for e in &errors.errors {
            tracing::error!(
                path = %errors.file.display(),
                yaml_path = %e.yaml_path,
                app = e.app.as_deref().unwrap_or(""),
                line = e.line_col.map(|(l, _)| l).unwrap_or(0),
                problem = %e.message,
                help = e.help.as_deref().unwrap_or(""),
                "invalid fleet file; keeping the last good fleet"
            );
        }
    }
}
