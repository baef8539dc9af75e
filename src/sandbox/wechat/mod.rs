//! The WeChat side of the sandbox: component and authorizer tokens, code management, testers,
//! audits, releases, gray plans and rollbacks, with WeChat's paths, JSON shapes and error codes.
//!
//! [`Sim`] holds the state; [`Sim::call`] answers one request without HTTP (what the axum routes
//! and the state-machine tests both use).

pub mod admin;
mod code;
mod jump;
mod page;
mod persist;
pub mod push;
mod routes;
mod settings;
pub mod state;
mod testers;
mod tokens;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use admin::start;
pub use persist::SimError;
pub use push::PushConfig;
pub use routes::{Method, Reply};
use state::{App, World, now_ms};

use super::faults::Faults;
use super::records::{Accepted, Records};
use super::{Persist, lock};
use crate::fleet::SandboxSpec;
use crate::store::Store;

/// Default lifetime of component and authorizer access tokens (7200 s).
const DEFAULT_TOKEN_TTL_MS: u64 = 7200 * 1000;

/// The simulated WeChat Open Platform. Cheap to clone; clones share state.
#[derive(Clone)]
pub struct Sim {
    inner: Arc<Inner>,
}

struct Inner {
    spec: SandboxSpec,
    store: Option<Store>,
    world: Mutex<World>,
    calls: Mutex<BTreeMap<String, u64>>,
    token_ttl_ms: AtomicU64,
    pusher: Mutex<Option<Arc<push::Pusher>>>,
    faults: Arc<Faults>,
    accepted: Records,
    /// How many times a call's changes were written to the store (see [`Sim::writes`]).
    writes: AtomicU64,
}

/// The fault generator stream of the WeChat simulator.
const FAULT_STREAM: u64 = 1;

impl Sim {
    /// A simulator with `spec`'s settings, continuing from the state saved in `persist`.
    pub fn new(spec: &SandboxSpec, persist: Persist) -> Result<Sim, SimError> {
        match persist {
            Persist::Memory => Ok(Sim::memory(spec)),
            Persist::Store(store) => {
                let mut world = persist::load(&store)?;
                persist::save(&store, &mut world)?;
                Ok(Sim::build(spec, Some(store), world))
            }
        }
    }

    /// A simulator kept in memory only.
    pub fn memory(spec: &SandboxSpec) -> Sim {
        let mut world = persist::fresh_world();
        world.take_dirty();
        Sim::build(spec, None, world)
    }

    fn build(spec: &SandboxSpec, store: Option<Store>, world: World) -> Sim {
        Sim {
            inner: Arc::new(Inner {
                spec: spec.clone(),
                store,
                world: Mutex::new(world),
                calls: Mutex::new(BTreeMap::new()),
                token_ttl_ms: AtomicU64::new(DEFAULT_TOKEN_TTL_MS),
                pusher: Mutex::new(None),
                faults: Arc::new(Faults::new(&spec.faults, FAULT_STREAM)),
                accepted: Records::default(),
                writes: AtomicU64::new(0),
            }),
        }
    }

    /// The sandbox settings.
    pub fn spec(&self) -> &SandboxSpec {
        &self.inner.spec
    }

    /// Pushes a fresh component_verify_ticket for `component_appid` (as WeChat does every 10 minutes)
    /// and returns it, for seeding the store in sandbox mode.
    pub fn issue_ticket(&self, component_appid: &str) -> String {
        self.mutate(|world| world.issue_ticket(component_appid, now_ms()))
    }

    /// Simulates a merchant authorizing `appid` to the component; returns the authorizer refresh token.
    pub fn authorize(&self, appid: &str) -> String {
        self.mutate(|world| world.authorize(appid, now_ms()))
    }

    /// Plays the merchant reverting `appid`'s gray release in the WeChat console (not through
    /// minifleet); `"true"` when a gray ran.
    pub fn console_revert_gray(&self, appid: &str) -> String {
        self.mutate(|world| {
            world
                .app_mut(appid)
                .is_some_and(code::revert_gray)
                .to_string()
        })
    }

    /// Plays the merchant setting app `appid`'s domains of `field` (`requestdomain` …) by hand in
    /// the console; whether the app is known.
    pub fn console_set_domains(&self, appid: &str, field: &str, domains: Vec<String>) -> bool {
        self.mutate(|world| match world.app_mut(appid) {
            Some(app) => {
                settings::set_by_hand(app, field, domains);
                true
            }
            None => false,
        })
    }

    /// Sets the ICP filing status WeChat reports for `appid` (`6` filed, `1024` not filed).
    pub fn set_icp(&self, appid: &str, status: u32) {
        self.mutate(|world| {
            world.global.icp.insert(appid.to_owned(), status);
            world.dirty_global = true;
        });
    }

    /// Authorizes `appid` and returns an authorization code for `api_query_auth` (what WeChat
    /// hands the redirect URI after the merchant consents).
    pub fn authorization_code(&self, appid: &str) -> String {
        self.mutate(|world| world.authorization_code(appid, now_ms()))
    }

    /// Sets the lifetime of tokens minted from now on.
    pub fn set_token_ttl(&self, ttl: Duration) {
        let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
        self.inner.token_ttl_ms.store(ms, Ordering::Relaxed);
    }

    /// Expires every authorizer access token of `appid` now (calls with them answer 42001).
    pub fn expire_authorizer_tokens(&self, appid: &str) {
        self.mutate(|world| world.expire_authorizer_tokens(appid, now_ms()));
    }

    /// A snapshot of `appid`'s state, audits decided as of now.
    pub fn app_state(&self, appid: &str) -> Option<App> {
        self.mutate(|world| {
            world.settle(appid, &self.inner.spec, now_ms());
            world.apps.get(appid).cloned()
        })
    }

    /// How many calls each path received (path without the leading slash), errors included.
    pub fn calls(&self) -> BTreeMap<String, u64> {
        lock(&self.inner.calls).clone()
    }

    /// Every mutating call this simulator accepted (applied), oldest first.
    pub fn accepted(&self) -> Vec<Accepted> {
        self.inner.accepted.all()
    }

    /// The fault generator the HTTP routes consult.
    pub fn faults(&self) -> Arc<Faults> {
        Arc::clone(&self.inner.faults)
    }

    /// How many calls `path` (without the leading slash) received.
    pub fn call_count(&self, path: &str) -> u64 {
        lock(&self.inner.calls).get(path).copied().unwrap_or(0)
    }

    /// Answers one request: `path` as in the URL, `body` as received (empty on GET).
    pub fn call(
        &self,
        method: Method,
        path: &str,
        query: &BTreeMap<String, String>,
        body: &[u8],
    ) -> Reply {
        let path = path.trim_start_matches('/');
        self.count_call(path);
        let env = routes::Env {
            spec: &self.inner.spec,
            token_ttl_ms: self.inner.token_ttl_ms.load(Ordering::Relaxed),
            now: now_ms(),
        };
        let (reply, accepted) =
            self.mutate(|world| routes::dispatch(world, &env, method, path, query, body));
        if let Some(record) = accepted {
            self.inner.accepted.push(record);
        }
        reply
    }

    /// Counts one call of `path` (without the leading slash).
    fn count_call(&self, path: &str) {
        *lock(&self.inner.calls).entry(path.to_string()).or_default() += 1;
    }

    /// The answer of an injected error for `path` (counted as a call, not applied).
    pub fn injected_error(&self, path: &str, code: Option<&str>) -> Reply {
        self.count_call(path.trim_start_matches('/'));
        routes::injected_error(code)
    }

    /// The axum routes serving this simulator.
    pub fn router(&self) -> axum::Router {
        routes::router(self.clone())
    }

    /// Runs `f` on the world, then writes what it changed through to the store.
    fn mutate<T>(&self, f: impl FnOnce(&mut World) -> T) -> T {
        let mut world = lock(&self.inner.world);
        let out = f(&mut world);
        if let Some(store) = &self.inner.store {
            match persist::save(store, &mut world) {
                Ok(true) => drop(self.inner.writes.fetch_add(1, Ordering::SeqCst)),
                Ok(false) => {}
                Err(err) => tracing::warn!(error = %err, "sandbox state not saved"),
            }
        } else {
            world.take_dirty();
        }
        out
    }

    /// How many times changes were written to the store so far: the sandbox flushes the store
    /// before answering a call after which this grew (see `sandbox::Durable`).
    pub fn writes(&self) -> u64 {
        self.inner.writes.load(Ordering::SeqCst)
    }
}
