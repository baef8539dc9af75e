//! The Alipay side of the sandbox: a simulated v2 `gateway.do` with RSA2-signed requests and
//! responses, merchant authorization tokens, and per merchant mini-program the version state
//! machine (upload → build → experience → audit → gray → online → rollback) and members.
//!
//! [`Sim`] holds the state; [`Sim::call`] answers one request from its params without HTTP (what
//! the axum route and the state-machine tests both use).

pub mod admin;
mod gateway;
mod members;
mod persist;
pub mod state;
mod versions;
pub mod wire;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

pub use admin::start;
pub use gateway::multipart_text_fields;
pub use members::{MAX_DEVELOPERS, MAX_EXPERIENCERS};
pub use persist::SimError;
use state::{App, World, now_ms, random_token};
pub use versions::MAX_DEV_VERSIONS;

use super::faults::Faults;
use super::records::{Accepted, Records};
use super::{Persist, lock};
use crate::fleet::SandboxSpec;
use crate::platform::alipay::sign::{PrivateKey, PublicKey, SignError};
use crate::store::Store;

/// The ISV app id the sandbox answers to unless told otherwise.
pub const DEFAULT_ISV_APP_ID: &str = "2021000000000000";

/// The simulated Alipay Open Platform gateway. Cheap to clone; clones share state.
#[derive(Clone)]
pub struct Sim {
    inner: Arc<Inner>,
}

struct Inner {
    spec: SandboxSpec,
    store: Option<Store>,
    world: Mutex<World>,
    calls: Mutex<BTreeMap<String, u64>>,
    keys: Mutex<Keys>,
    isv_app_id: Mutex<String>,
    faults: Arc<Faults>,
    accepted: Records,
    wrong_signature: Mutex<WrongSigning>,
    /// How many times a call's changes were written to the store (see [`Sim::writes`]).
    writes: AtomicU64,
}

/// Which answers the gateway signs with a key that is not Alipay's: how a proxy that alters
/// answers, a corrupted byte, or a key rotation the client has not caught up with look to a
/// client. The calls themselves are applied as usual. A test knob ([`Sim::sign_wrongly`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum WrongSignature {
    /// Every answer is signed with Alipay's key.
    #[default]
    Off,
    /// The answers to this method only.
    Only(String),
    /// The first answer to this method and every answer after it (a key rotation at that moment).
    From(String),
}

/// The knob's setting, whether a `From` rotation has begun, and the key it signs with.
#[derive(Default)]
struct WrongSigning {
    setting: WrongSignature,
    rotated: bool,
    key: Option<PrivateKey>,
}

impl WrongSigning {
    /// The wrong key when the answer to `method` must be signed with it.
    fn key_for(&mut self, method: &str) -> Option<PrivateKey> {
        let wrong = match &self.setting {
            WrongSignature::Off => false,
            WrongSignature::Only(m) => m == method,
            WrongSignature::From(m) => {
                self.rotated |= m == method;
                self.rotated
            }
        };
        wrong.then(|| {
            self.key
                .get_or_insert_with(|| crate::platform::alipay::sign::generate_keypair().0)
                .clone()
        })
    }
}

/// The fault generator stream of the Alipay simulator.
const FAULT_STREAM: u64 = 2;

/// The parsed keys the gateway checks and signs with.
#[derive(Clone)]
struct Keys {
    alipay_private: PrivateKey,
    isv_public: PublicKey,
}

impl Keys {
    fn of(world: &World) -> Result<Keys, SignError> {
        Ok(Keys {
            alipay_private: PrivateKey::parse(&world.global.alipay_private_pem)?,
            isv_public: PublicKey::parse(&world.global.isv_public_pem)?,
        })
    }
}

impl Sim {
    /// A simulator with `spec`'s settings answering ISV app `isv_app_id`, continuing from the
    /// state (keys included) saved in `persist`.
    pub fn new(spec: &SandboxSpec, persist: Persist, isv_app_id: &str) -> Result<Sim, SimError> {
        let (store, mut world) = match persist {
            Persist::Memory => (None, persist::fresh_world()),
            Persist::Store(store) => {
                let world = persist::load(&store)?;
                (Some(store), world)
            }
        };
        let keys = Keys::of(&world)?;
        match &store {
            Some(store) => drop(persist::save(store, &mut world)?),
            None => drop(world.take_dirty()),
        }
        Ok(Sim {
            inner: Arc::new(Inner {
                spec: spec.clone(),
                store,
                world: Mutex::new(world),
                calls: Mutex::new(BTreeMap::new()),
                keys: Mutex::new(keys),
                isv_app_id: Mutex::new(isv_app_id.to_string()),
                faults: Arc::new(Faults::new(&spec.faults, FAULT_STREAM)),
                accepted: Records::default(),
                wrong_signature: Mutex::new(WrongSigning::default()),
                writes: AtomicU64::new(0),
            }),
        })
    }

    /// A simulator kept in memory only, answering [`DEFAULT_ISV_APP_ID`].
    pub fn memory(spec: &SandboxSpec) -> Sim {
        // A fresh in-memory world always holds keys it just generated, so this cannot fail.
        Sim::new(spec, Persist::Memory, DEFAULT_ISV_APP_ID)
            .unwrap_or_else(|err| unreachable!("fresh sandbox keys parse: {err}"))
    }

    /// The sandbox settings.
    pub fn spec(&self) -> &SandboxSpec {
        &self.inner.spec
    }

    /// The ISV app id requests must carry.
    pub fn isv_app_id(&self) -> String {
        lock(&self.inner.isv_app_id).clone()
    }

    /// Answers ISV app `app_id` from now on (the fleet file's `platforms.alipay.app_id`).
    pub fn set_isv_app_id(&self, app_id: &str) {
        *lock(&self.inner.isv_app_id) = app_id.to_string();
    }

    /// The sandbox ISV app's private key (PKCS#8 PEM), for a client in sandbox mode.
    pub fn isv_private_key_pem(&self) -> String {
        self.read(|world| world.global.isv_private_pem.clone())
    }

    /// The gateway's ("Alipay's") public key (SPKI PEM), for verifying its responses.
    pub fn alipay_public_key_pem(&self) -> String {
        self.read(|world| world.global.alipay_public_pem.clone())
    }

    /// Verifies requests with the operator's own ISV public key `pem` from now on (standalone use);
    /// [`Sim::isv_private_key_pem`] then no longer matches.
    pub fn set_isv_public_key(&self, pem: &str) -> Result<(), SignError> {
        let key = PublicKey::parse(pem)?;
        self.mutate(|world| {
            world.global.isv_public_pem = pem.to_string();
            world.touch_global();
        });
        lock(&self.inner.keys).isv_public = key;
        Ok(())
    }

    /// Simulates a merchant authorizing `appid` to the ISV app; returns the single-use
    /// `app_auth_code` for `alipay.open.auth.token.app`.
    pub fn authorize(&self, appid: &str) -> String {
        self.mutate(|world| {
            let code = format!("P{}", random_token(31));
            world.global.codes.insert(code.clone(), appid.to_string());
            world.touch_global();
            world.app_mut(appid);
            code
        })
    }

    /// Authorizes `appid` and returns its `app_auth_token` directly (for seeding); older tokens of
    /// the app stop working, as after a re-authorization.
    pub fn issue_app_auth_token(&self, appid: &str) -> String {
        self.mutate(|world| members::issue_tokens(world, appid).0)
    }

    /// Test helper: every pending (`UNCONFIRMED`) invite of `appid` is accepted (`VALID`);
    /// returns how many were.
    pub fn accept_invites(&self, appid: &str) -> usize {
        self.mutate(|world| {
            let app = world.app_mut(appid);
            let pending = app.members.iter_mut().filter(|m| m.status == "UNCONFIRMED");
            pending.map(|m| m.status = "VALID".to_string()).count()
        })
    }

    /// A snapshot of `appid`'s state, audits decided as of now.
    pub fn app_state(&self, appid: &str) -> Option<App> {
        self.mutate(|world| {
            world.settle(appid, &self.inner.spec, now_ms());
            world.apps.get(appid).cloned()
        })
    }

    /// How many calls each method received (errors included; `""` when `method` was missing).
    pub fn calls(&self) -> BTreeMap<String, u64> {
        lock(&self.inner.calls).clone()
    }

    /// Every mutating call this simulator accepted (applied), oldest first.
    pub fn accepted(&self) -> Vec<Accepted> {
        self.inner.accepted.all()
    }

    /// Test knob: signs the answers `setting` names with a key that is not Alipay's, from now on
    /// (a `From` rotation starts again at its method).
    pub fn sign_wrongly(&self, setting: WrongSignature) {
        let mut knob = lock(&self.inner.wrong_signature);
        knob.setting = setting;
        knob.rotated = false;
    }

    /// The fault generator the HTTP route consults.
    pub fn faults(&self) -> Arc<Faults> {
        Arc::clone(&self.inner.faults)
    }

    /// How many calls `method` received.
    pub fn call_count(&self, method: &str) -> u64 {
        lock(&self.inner.calls).get(method).copied().unwrap_or(0)
    }

    /// Answers one request: every param from the query string and the body (file parts left out).
    /// Returns the JSON body the gateway writes.
    pub fn call(&self, params: &BTreeMap<String, String>) -> String {
        let (body, accepted) = self.with_env(params, |env| {
            self.mutate(|world| gateway::dispatch(world, env, params))
        });
        if let Some(record) = accepted {
            self.inner.accepted.push(record);
        }
        body
    }

    /// The signed answer of an injected error for this request (counted as a call, not applied).
    pub fn injected_error(
        &self,
        params: &BTreeMap<String, String>,
        sub_code: Option<&str>,
    ) -> String {
        self.with_env(params, |env| gateway::injected_error(env, params, sub_code))
    }

    /// Counts the call, then runs `f` with the keys and identity of this moment.
    fn with_env<T>(
        &self,
        params: &BTreeMap<String, String>,
        f: impl FnOnce(&gateway::Env) -> T,
    ) -> T {
        let method = params.get("method").cloned().unwrap_or_default();
        *lock(&self.inner.calls).entry(method).or_default() += 1;
        let keys = lock(&self.inner.keys).clone();
        let isv_app_id = self.isv_app_id();
        let method = params.get("method").map(String::as_str).unwrap_or("");
        let wrong = lock(&self.inner.wrong_signature).key_for(method);
        let env = gateway::Env {
            spec: &self.inner.spec,
            now: now_ms(),
            isv_app_id: &isv_app_id,
            isv_public: &keys.isv_public,
            alipay_private: wrong.as_ref().unwrap_or(&keys.alipay_private),
        };
        f(&env)
    }

    /// The axum routes serving this simulator (`POST /gateway.do`).
    pub fn router(&self) -> axum::Router {
        gateway::router(self.clone())
    }

    fn read<T>(&self, f: impl FnOnce(&World) -> T) -> T {
        f(&lock(&self.inner.world))
    }

    /// Runs `f` on the world, then writes what it changed through to the store.
    fn mutate<T>(&self, f: impl FnOnce(&mut World) -> T) -> T {
        let mut world = lock(&self.inner.world);
        let out = f(&mut world);
        match &self.inner.store {
            Some(store) => match persist::save(store, &mut world) {
                Ok(true) => drop(self.inner.writes.fetch_add(1, Ordering::SeqCst)),
                Ok(false) => {}
                Err(err) => tracing::warn!(error = %err, "alipay sandbox state not saved"),
            },
            None => drop(world.take_dirty()),
        }
        out
    }

    /// How many times changes were written to the store so far: the sandbox flushes the store
    /// before answering a call after which this grew (see `sandbox::Durable`).
    pub fn writes(&self) -> u64 {
        self.inner.writes.load(Ordering::SeqCst)
    }
}
