//! The one [`Platforms`] object of a process: a client per platform of the fleet (one token
//! single-flight each), behind its rate limit; the sandbox those whose base is `sandbox` talk to
//! (started in this process, or the standalone one of `sandbox.url`), seeded by each platform's
//! module; and the channel the platforms' push endpoints tell due apps on. The engine, the push
//! endpoints and the onboarding commands all use it.

use std::any::Any;
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::Router;
use tokio::sync::broadcast;

use super::Platform;
use super::rate::{Rate, RateLimited};
use super::registry::{self, Module, ServeCx};
use super::relay::Relay;
use crate::fleet::{ApiBase, Fleet, PlatformConfig};
use crate::model::{Desired, PlatformKind};
use crate::sandbox::access::Access;
use crate::sandbox::{self, Persist, RemoteSandbox, SandboxHandle};
use crate::store::Store;
use crate::view::report::Report;

/// The request rate every platform gets unless told otherwise: generous, below the platforms'.
pub const DEFAULT_RATE: &str = "100/s";

/// A push that makes an app due at once (an audit verdict, say), by appid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// The app.
    pub appid: String,
    /// What happened, in a word (`success`, `fail`…), for the log.
    pub event: String,
}

/// Where push endpoints tell due apps.
pub type Notices = broadcast::Sender<Notice>;

/// How the platforms are connected.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Request rates by platform; the others get [`DEFAULT_RATE`].
    pub rates: BTreeMap<PlatformKind, Rate>,
}

/// One platform of the fleet, connected.
struct Entry {
    module: &'static dyn Module,
    config: PlatformConfig,
    client: Arc<dyn Platform>,
    concrete: Arc<dyn Any + Send + Sync>,
}

/// The platforms of the fleet, connected.
pub struct Platforms {
    entries: BTreeMap<PlatformKind, Entry>,
    store: Store,
    sandbox: Option<SandboxHandle>,
    remote: Option<RemoteSandbox>,
    notices: Notices,
}

impl Platforms {
    /// Connects every platform of `fleet`, starting the embedded sandbox (or reaching the one of
    /// `sandbox.url`) for those whose base is `sandbox` and letting each module seed it.
    pub async fn connect(
        fleet: &Fleet,
        store: Store,
        options: &Options,
    ) -> Result<Platforms, Report> {
        let default_rate = Rate::parse(DEFAULT_RATE).map_err(|e| Report::new(e.to_string()))?;
        let mut platforms = Platforms {
            entries: BTreeMap::new(),
            store: store.clone(),
            sandbox: None,
            remote: fleet.sandbox.url.as_deref().map(RemoteSandbox::new),
            notices: broadcast::channel(1024).0,
        };
        for (kind, config) in fleet.platforms.iter() {
            let Some(module) = registry::module(kind) else {
                continue;
            };
            let apps: Vec<&Desired> = fleet.apps.iter().filter(|a| a.platform == kind).collect();
            let (config, base) = match &config.endpoint {
                ApiBase::Url(url) => (config.clone(), url.clone()),
                ApiBase::Sandbox => {
                    let access = platforms.sandbox_access(fleet).await?;
                    let seeded = module.seed(&access, config, &apps, &store).await?;
                    (
                        seeded,
                        format!("{}{}", access.base_url(), module.sandbox_path()),
                    )
                }
            };
            let connected = module.connect(&config, &base, fleet, &store);
            let rate = options.rates.get(&kind).copied().unwrap_or(default_rate);
            let client: Arc<dyn Platform> = Arc::new(RateLimited::new(connected.client, rate));
            let entry = Entry {
                module,
                config,
                client,
                concrete: connected.concrete,
            };
            platforms.entries.insert(kind, entry);
        }
        Ok(platforms)
    }

    /// The sandbox to seed: `sandbox.url`'s, else the embedded one (started on first use).
    async fn sandbox_access(&mut self, fleet: &Fleet) -> Result<Access<'_>, Report> {
        if let Some(remote) = &self.remote {
            if fleet.sandbox.faults.any() {
                tracing::warn!(url = %remote.base_url(), "`sandbox.faults` applies to the embedded sandbox only; pass fault flags to `minifleet sandbox` instead");
            }
            return Ok(Access::Remote(remote));
        }
        if self.sandbox.is_none() {
            let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
            let handle = sandbox::start(addr, &fleet.sandbox, Persist::Store(self.store.clone()))
                .await
                .map_err(|e| {
                    Report::new(format!(
                        "cannot start the embedded sandbox on 127.0.0.1: {e}"
                    ))
                    .help("check that loopback networking works on this machine")
                })?;
            tracing::info!(addr = %handle.addr, "embedded sandbox started");
            self.sandbox = Some(handle);
        }
        let handle = self
            .sandbox
            .as_ref()
            .ok_or_else(|| Report::new("no sandbox"))?;
        Ok(Access::Local(handle))
    }

    /// Seeds apps added to a running fleet (the daemon's reload) into the sandbox, as at start.
    pub async fn adopt(&self, apps: &[Desired]) -> Result<(), Report> {
        let access = match (&self.remote, &self.sandbox) {
            (Some(remote), _) => Access::Remote(remote),
            (None, Some(handle)) => Access::Local(handle),
            (None, None) => return Ok(()),
        };
        for (kind, entry) in &self.entries {
            if !entry.config.is_sandbox() {
                continue;
            }
            let mine: Vec<&Desired> = apps.iter().filter(|a| a.platform == *kind).collect();
            if !mine.is_empty() {
                entry
                    .module
                    .seed(&access, &entry.config, &mine, &self.store)
                    .await?;
            }
        }
        Ok(())
    }

    /// The client of `kind` (rate-limited), if the fleet has that platform.
    pub fn client(&self, kind: PlatformKind) -> Option<&Arc<dyn Platform>> {
        self.entries.get(&kind).map(|e| &e.client)
    }

    /// The clients, by platform.
    pub fn clients(&self) -> impl Iterator<Item = (PlatformKind, &Arc<dyn Platform>)> {
        self.entries.iter().map(|(k, e)| (*k, &e.client))
    }

    /// The concrete client of `kind`, for its module's own uses (endpoints, onboarding).
    pub fn concrete<T: Any + Send + Sync>(&self, kind: PlatformKind) -> Option<Arc<T>> {
        let any = Arc::clone(&self.entries.get(&kind)?.concrete);
        any.downcast::<T>().ok()
    }

    /// The settings `kind` was connected with (after the sandbox's seeding).
    pub fn config(&self, kind: PlatformKind) -> Option<&PlatformConfig> {
        self.entries.get(&kind).map(|e| &e.config)
    }

    /// The store the clients keep their tokens in.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The sandbox started in this process, if one was.
    pub fn sandbox(&self) -> Option<&SandboxHandle> {
        self.sandbox.as_ref()
    }

    /// Whether every platform is the sandbox (short intervals and backoffs).
    pub fn all_sandbox(&self) -> bool {
        self.entries.values().all(|e| e.config.is_sandbox())
    }

    /// Where push endpoints tell due apps; subscribe to hear them.
    pub fn notices(&self) -> &Notices {
        &self.notices
    }

    /// Every platform's push endpoints, merged (none when no platform pushes); with a `relay`,
    /// they relay what other shards need.
    pub fn routes(
        &self,
        url: &str,
        ticket_interval: std::time::Duration,
        relay: Option<Arc<Relay>>,
    ) -> Result<Router, Report> {
        let cx = ServeCx {
            platforms: self,
            url,
            ticket_interval,
            notices: self.notices.clone(),
            relay,
        };
        let mut router = Router::new();
        for entry in self.entries.values() {
            if let Some(routes) = entry.module.routes(&cx)? {
                router = router.merge(routes);
            }
        }
        Ok(router)
    }

    /// Why a daemon is not ready, platform by platform (empty: ready).
    pub fn unready(&self, now: u64) -> Vec<String> {
        self.entries
            .values()
            .filter_map(|e| e.module.unready(self, now))
            .collect()
    }

    /// Stops the embedded sandbox (requests in flight finish; its state is flushed).
    pub async fn stop(&mut self) {
        if let Some(handle) = self.sandbox.take() {
            if let Err(err) = handle.stop().await {
                tracing::warn!(error = %err, "cannot flush the sandbox's state");
            }
        }
    }
}
