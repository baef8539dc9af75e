//! A faithful simulator of the platforms' HTTP APIs on loopback (DESIGN §7), one module per
//! platform. Started in-process when a platform's base is `sandbox`, or alone by `minifleet sandbox`.

pub mod access;
pub mod admin;
pub mod alipay;
pub mod douyin;
pub mod faults;
pub mod records;
pub mod remote;
pub mod wechat;

pub use records::Accepted;
pub use remote::{RemoteError, RemoteSandbox};

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::response::IntoResponse;

use crate::fleet::SandboxSpec;
use crate::store::{Store, StoreError};
use faults::CallCounts;

/// One simulated platform of the sandbox: its platform paths, its admin endpoints under
/// `/sandbox/<platform>/…`, and what it accepted and answered. A platform's simulator is one
/// folder under `sandbox/` and one line in [`SIMULATORS`].
pub trait Simulator: Send + Sync + 'static {
    /// The platform's name, as in the fleet file (`wechat`).
    fn platform(&self) -> &'static str;

    /// The routes of the platform's own API.
    fn router(&self) -> axum::Router;

    /// Its admin routes (`/sandbox/<platform>/…`): how another process plays the platform and
    /// its merchants (tickets, authorizations, keys). Faults never apply there.
    fn admin(&self) -> axum::Router {
        axum::Router::new()
    }

    /// How many times its changes were written to the store so far (see [`Durable`]).
    fn writes(&self) -> u64;

    /// Every mutating call it accepted (applied), oldest first.
    fn accepted(&self) -> Vec<Accepted>;

    /// Calls by path or method, errors included.
    fn calls(&self) -> BTreeMap<String, u64>;

    /// Calls by kind (token, read, mutating).
    fn counts(&self) -> CallCounts;

    /// Itself, for [`SandboxHandle::sim`].
    fn as_any(&self) -> &dyn std::any::Any;
}

/// The part of a [`Simulator`] every simulator writes alike, given its platform's name: it
/// delegates to the simulator's own `router`, `writes`, `accepted`, `calls` and `faults`.
macro_rules! simulator_basics {
    ($platform:literal) => {
        fn platform(&self) -> &'static str {
            $platform
        }

        fn router(&self) -> axum::Router {
            Self::router(self)
        }

        fn writes(&self) -> u64 {
            Self::writes(self)
        }

        fn accepted(&self) -> Vec<$crate::sandbox::Accepted> {
            Self::accepted(self)
        }

        fn calls(&self) -> std::collections::BTreeMap<String, u64> {
            Self::calls(self)
        }

        fn counts(&self) -> $crate::sandbox::faults::CallCounts {
            self.faults().calls()
        }

        fn as_any(&self) -> &dyn std::any::Any {
            self
        }
    };
}
pub(crate) use simulator_basics;

/// Starts one simulator with the sandbox's settings, continuing from `persist`.
pub type Start = fn(&SandboxSpec, Persist) -> Result<Arc<dyn Simulator>, String>;

/// Every simulated platform, one line each.
pub static SIMULATORS: &[Start] = &[wechat::start, alipay::start, douyin::start];

/// Unix time in milliseconds (every simulator's clock).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Random alphanumeric text of `len` characters (tokens, tickets, codes, secrets).
pub fn random_token(len: usize) -> String {
    std::iter::repeat_with(fastrand::alphanumeric)
        .take(len)
        .collect()
}

/// Locks `mutex`, going on past a poisoned lock (a simulator's state stays usable after a panic
/// in a request).
pub(crate) fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Where the sandbox keeps its state.
#[derive(Clone)]
pub enum Persist {
    /// In memory only (lost when the process ends).
    Memory,
    /// In the store's `sandbox` tree, so repeated runs continue where the last one stopped.
    Store(Store),
}

/// Where and how a simulator pushes (the ticket on an interval, authorizations, audit verdicts).
#[derive(Debug, Clone)]
pub struct PushConfig {
    /// Base URL of the receiver (`watch`), e.g. `http://127.0.0.1:8680`.
    pub url: String,
    /// The component / third-party application whose tickets are pushed (and whose appid seals
    /// every push).
    pub component_appid: String,
    /// The push token.
    pub token: crate::secret::Secret,
    /// The 43-character EncodingAESKey.
    pub aes_key: crate::secret::Secret,
    /// Interval between ticket pushes (both platforms: 10 minutes).
    pub ticket_interval: Duration,
}

/// A running sandbox.
pub struct SandboxHandle {
    /// Where it listens.
    pub addr: SocketAddr,
    sims: Sims,
    durable: Arc<Durable>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

impl SandboxHandle {
    /// The base URL, e.g. `http://127.0.0.1:38211`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every mutating call a simulator accepted (applied), by time.
    pub fn accepted(&self) -> Vec<Accepted> {
        self.sims.accepted()
    }

    /// The simulator of type `T` (each platform's folder offers a typed accessor over this).
    pub fn sim<T: 'static>(&self) -> Option<&T> {
        self.sims.0.iter().find_map(|s| s.as_any().downcast_ref())
    }

    /// Stops serving (requests in flight get [`STOP_GRACE`] to finish) and flushes the state to
    /// the store.
    pub async fn stop(mut self) -> Result<(), StoreError> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            if tokio::time::timeout(STOP_GRACE, server).await.is_err() {
                tracing::warn!("sandbox requests outlasted the grace period and were cut off");
            }
        }
        self.durable.flush_all().await
    }
}

impl Drop for SandboxHandle {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Largest request body the sandbox accepts (1 MiB); larger ones get HTTP 413.
const MAX_BODY: usize = 1 << 20;
/// How long requests in flight get to finish when the sandbox stops.
pub const STOP_GRACE: Duration = Duration::from_secs(5);

/// Makes the simulated platforms durable like real ones: a call that changed their state is
/// answered only after the change is flushed to the store (one flush serves every call waiting
/// at that moment), so a process killed after an answer never rolls the platform back.
struct Durable {
    store: Option<Store>,
    sims: Sims,
    /// The simulators' write count the last flush covered.
    flushed: tokio::sync::Mutex<u64>,
}

/// The running simulators, in [`SIMULATORS`]' order. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Sims(Arc<[Arc<dyn Simulator>]>);

impl Sims {
    /// Every mutating call a simulator accepted, by time.
    pub(crate) fn accepted(&self) -> Vec<Accepted> {
        records::merged(self.0.iter().flat_map(|s| s.accepted()).collect())
    }

    /// The simulators.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Arc<dyn Simulator>> {
        self.0.iter()
    }
}

impl Durable {
    fn writes(&self) -> u64 {
        self.sims.iter().map(|s| s.writes()).sum()
    }

    /// Flushes the store if anything was written since the last flush.
    async fn flush(&self) -> Result<(), StoreError> {
        let Some(store) = &self.store else {
            return Ok(());
        };
        let mut flushed = self.flushed.lock().await;
        let target = self.writes();
        if *flushed >= target {
            return Ok(());
        }
        store.flush_async().await?;
        *flushed = target;
        Ok(())
    }

    /// Flushes the store whatever was counted (on stop: pushes change state outside calls too).
    async fn flush_all(&self) -> Result<(), StoreError> {
        let Some(store) = &self.store else {
            return Ok(());
        };
        let mut flushed = self.flushed.lock().await;
        let target = self.writes();
        store.flush_async().await?;
        *flushed = target;
        Ok(())
    }
}

/// Answers a request only once what it changed is on disk.
async fn durable_answer(
    State(durable): State<Arc<Durable>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let response = next.run(request).await;
    match durable.flush().await {
        Ok(()) => response,
        Err(err) => {
            tracing::error!(error = %err, "sandbox state not flushed; the answer is withheld");
            let status = axum::http::StatusCode::SERVICE_UNAVAILABLE;
            (status, "sandbox state not saved").into_response()
        }
    }
}

/// Starts the sandbox on `addr` (use `127.0.0.1:0` for a free port).
pub async fn start(
    addr: SocketAddr,
    spec: &SandboxSpec,
    persist: Persist,
) -> std::io::Result<SandboxHandle> {
    let store = match &persist {
        Persist::Memory => None,
        Persist::Store(store) => Some(store.clone()),
    };
    let sims = SIMULATORS
        .iter()
        .map(|start| start(spec, persist.clone()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(std::io::Error::other)?;
    let sims = Sims(sims.into());
    let durable = Arc::new(Durable {
        store,
        sims: sims.clone(),
        flushed: tokio::sync::Mutex::new(0),
    });
    // A fresh world (keys, secrets) is on disk before anyone is told about it.
    durable.flush_all().await.map_err(std::io::Error::other)?;
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let app = router(&sims).layer(axum::middleware::from_fn_with_state(
        durable.clone(),
        durable_answer,
    ));
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let shutdown = async {
            let _ = rx.await;
        };
        if let Err(err) = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::warn!(error = %err, "sandbox server stopped");
        }
    });
    tracing::debug!(%addr, "sandbox listening");
    Ok(SandboxHandle {
        addr,
        sims,
        durable,
        shutdown: Some(tx),
        server: Some(server),
    })
}

/// Every simulated platform's routes and admin routes, the sandbox's own, with the body limit.
fn router(sims: &Sims) -> axum::Router {
    let platforms = sims.iter().fold(axum::Router::new(), |r, s| {
        r.merge(s.router()).merge(s.admin())
    });
    platforms
        .merge(admin::router(sims))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    async fn within<F: std::future::Future>(f: F) -> F::Output {
        tokio::time::timeout(Duration::from_secs(20), f)
            .await
            .expect("test timed out")
    }

    async fn sandbox() -> SandboxHandle {
        let addr = "127.0.0.1:0".parse().unwrap();
        start(addr, &SandboxSpec::default(), Persist::Memory)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn serves_wechat_paths_over_http_with_errcodes() {
        within(async {
            let handle = sandbox().await;
            let http = reqwest::Client::builder().no_proxy().build().unwrap();
            let url = format!("{}/wxa/get_latest_auditstatus", handle.base_url());
            let reply = http.get(&url).send().await.unwrap();
            assert_eq!(reply.status(), 200);
            let body: serde_json::Value = reply.json().await.unwrap();
            assert_eq!(body["errcode"], 41001);
            let reply = http.post(&url).body("{}").send().await.unwrap();
            let body: serde_json::Value = reply.json().await.unwrap();
            assert_eq!(body["errcode"], 43001);
            let missing = http
                .get(format!("{}/nothing/here", handle.base_url()))
                .send()
                .await
                .unwrap();
            assert_eq!(missing.status(), 404);
            let unknown = http
                .get(format!("{}/wxa/nothing", handle.base_url()))
                .send()
                .await
                .unwrap();
            assert_eq!(unknown.status(), 404);
            assert_eq!(handle.wechat().call_count("wxa/get_latest_auditstatus"), 2);
        })
        .await;
    }

    #[tokio::test]
    async fn counts_platform_calls_by_kind_and_not_admin_calls() {
        within(async {
            let handle = sandbox().await;
            let http = reqwest::Client::builder().no_proxy().build().unwrap();
            let base = handle.base_url();
            for path in [
                "wxa/get_latest_auditstatus",
                "wxa/getversioninfo",
                "wxa/commit",
            ] {
                http.post(format!("{base}/{path}"))
                    .body("{}")
                    .send()
                    .await
                    .unwrap();
            }
            let remote = RemoteSandbox::new(&base);
            remote.accepted().await.unwrap();
            let calls = remote.calls().await.unwrap();
            let wechat = calls.platform("wechat");
            assert_eq!((wechat.read, wechat.mutating, wechat.token), (2, 1, 0));
            assert_eq!(calls.platform("alipay").total(), 0);
            assert_eq!(calls.total(), 3, "admin calls are not counted");
            assert_eq!(calls.by_call["wxa/get_latest_auditstatus"], 1);
            assert_eq!(calls.by_call.values().sum::<u64>(), 3);
        })
        .await;
    }

    #[tokio::test]
    async fn rejects_bodies_over_one_mebibyte() {
        within(async {
            let handle = sandbox().await;
            let http = reqwest::Client::builder().no_proxy().build().unwrap();
            let url = format!("{}/wxa/commit", handle.base_url());
            let big = vec![b' '; MAX_BODY + 1];
            let reply = http.post(&url).body(big).send().await.unwrap();
            assert_eq!(reply.status(), 413);
            let small = http.post(&url).body("{}").send().await.unwrap();
            assert_eq!(small.status(), 200);
        })
        .await;
    }

    #[tokio::test]
    async fn dropping_the_handle_stops_the_server() {
        within(async {
            let handle = sandbox().await;
            let addr = handle.addr;
            drop(handle);
            let mut refused = false;
            for _ in 0..50 {
                if tokio::net::TcpStream::connect(addr).await.is_err() {
                    refused = true;
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            assert!(refused, "the listener is closed after shutdown");
        })
        .await;
    }
}

#[cfg(test)]
mod fault_tests;
