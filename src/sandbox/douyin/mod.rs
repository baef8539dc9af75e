//! The Douyin side of the sandbox (spec/douyin.md): the v2 paths with the `access-token` header
//! and the `{err_no, err_msg, log_id, data}` envelope (errors with HTTP 200), the unwrapped
//! component-token call, component tickets and tokens (two stay valid), rotating single-use
//! refresh tokens, and per app the test / audit / live versions with per-host approvals.
//!
//! Sandbox time is compressed: an audit takes `audit_delay`; the 10 s submit throttle (11301),
//! the 10 min rollback throttle (11501) and the rollback's 3–5 min delay are all at most
//! `audit_delay`. [`Sim`] holds the state; [`Sim::call`] answers one request without HTTP.

pub mod admin;
mod persist;
pub mod push;
pub mod state;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use serde_json::{Value, json};

pub use admin::start;
pub use persist::SimError;
pub use push::PushConfig;
use state::{App, DyError, Timing, World, now_ms, random_token};

use super::faults::{CallKind, Fault, Faults};
use super::records::{Accepted, Records};
use super::{Persist, lock};
use crate::fleet::SandboxSpec;
use crate::store::Store;

/// Default lifetime of component and authorizer access tokens (7200 s).
const DEFAULT_TOKEN_TTL_MS: u64 = 7200 * 1000;
/// The fault generator stream of the Douyin simulator.
const FAULT_STREAM: u64 = 3;
/// The component-token call's name (its path without slashes).
const TOKEN_CALL: &str = "openapi/v2/auth/tp/token";

/// The simulated Douyin Open Platform. Cheap to clone; clones share state.
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
    writes: AtomicU64,
}

/// One answer: an HTTP status and a JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// The HTTP status (200 for platform errors too).
    pub status: u16,
    /// The body.
    pub body: Value,
}

impl Reply {
    /// The answer's `err_no` (or the token call's `errno`); 0 on success.
    pub fn code(&self) -> i64 {
        self.body
            .get("err_no")
            .or_else(|| self.body.get("errno"))
            .and_then(Value::as_i64)
            .unwrap_or(0)
    }
}

/// The v2 envelope of `data`.
fn ok(data: Value) -> Reply {
    Reply {
        status: 200,
        body: json!({ "err_no": 0, "err_msg": "success", "log_id": log_id(), "data": data }),
    }
}

/// The v2 envelope of an error.
fn err(e: &DyError) -> Reply {
    Reply {
        status: 200,
        body: json!({ "err_no": e.code, "err_msg": e.msg, "log_id": log_id() }),
    }
}

fn log_id() -> String {
    format!("2026{}", random_token(20))
}

/// What kind of call `name` is, for faults and counts.
fn call_kind(name: &str) -> CallKind {
    if name == TOKEN_CALL || name.contains("/auth/") {
        CallKind::Token
    } else if name.ends_with("/versions")
        || name.ends_with("/get_audit_hosts")
        || name.ends_with("/get_tpl_list")
    {
        CallKind::Read
    } else {
        CallKind::Mutating
    }
}

impl Sim {
    /// A simulator with `spec`'s settings, continuing from the state saved in `persist`.
    pub fn new(spec: &SandboxSpec, persist: Persist) -> Result<Sim, SimError> {
        let (store, world) = match persist {
            Persist::Memory => (None, World::default()),
            Persist::Store(store) => {
                let world = persist::load(&store)?;
                (Some(store), world)
            }
        };
        Ok(Sim {
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
        })
    }

    /// Issues a fresh component ticket for `component_appid` (what the ticket push carries).
    pub fn issue_ticket(&self, component_appid: &str) -> String {
        self.mutate(|w| w.issue_ticket(component_appid, now_ms()))
    }

    /// A merchant authorizes `appid`; its refresh token.
    pub fn authorize(&self, appid: &str) -> String {
        self.mutate(|w| w.authorize(appid, now_ms()))
    }

    /// A merchant authorizes `appid` through the page; the code the redirect carries.
    pub fn authorization_code(&self, appid: &str) -> String {
        self.mutate(|w| w.authorization_code(appid, now_ms()))
    }

    /// The merchant revokes `appid`'s authorization (and `UNAUTHORIZED` is pushed when pushes
    /// are on).
    pub fn deauthorize(&self, appid: &str) {
        self.mutate(|w| w.deauthorize(appid));
        self.spawn_unauthorized_push(appid);
    }

    /// Sets the lifetime of access tokens minted from now on.
    pub fn set_token_ttl(&self, ttl: Duration) {
        let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
        self.inner.token_ttl_ms.store(ms, Ordering::Relaxed);
    }

    /// Expires every authorizer access token of `appid` now.
    pub fn expire_authorizer_tokens(&self, appid: &str) {
        self.mutate(|w| w.expire_access(appid, now_ms()));
    }

    /// Douyin takes `appid`'s live version down.
    pub fn take_down(&self, appid: &str) {
        self.mutate(|w| w.take_down(appid));
    }

    /// A snapshot of `appid`'s state, audits decided as of now.
    pub fn app_state(&self, appid: &str) -> Option<App> {
        self.mutate(|w| {
            w.settle(appid, &self.inner.spec, now_ms());
            w.apps.get(appid).cloned()
        })
    }

    /// Calls by name (the path without its slashes), errors included.
    pub fn calls(&self) -> BTreeMap<String, u64> {
        lock(&self.inner.calls).clone()
    }

    /// How many calls `name` received.
    pub fn call_count(&self, name: &str) -> u64 {
        lock(&self.inner.calls).get(name).copied().unwrap_or(0)
    }

    /// Every mutating call accepted (applied), oldest first.
    pub fn accepted(&self) -> Vec<Accepted> {
        self.inner.accepted.all()
    }

    /// The fault generator.
    pub fn faults(&self) -> Arc<Faults> {
        Arc::clone(&self.inner.faults)
    }

    /// How many times changes were written to the store so far.
    pub fn writes(&self) -> u64 {
        self.inner.writes.load(Ordering::SeqCst)
    }

    fn count_call(&self, name: &str) {
        *lock(&self.inner.calls).entry(name.to_owned()).or_default() += 1;
    }

    /// Runs `f` on the world, then writes what it changed through to the store.
    fn mutate<T>(&self, f: impl FnOnce(&mut World) -> T) -> T {
        let mut world = lock(&self.inner.world);
        let out = f(&mut world);
        match &self.inner.store {
            Some(store) => match persist::save(store, &mut world) {
                Ok(true) => drop(self.inner.writes.fetch_add(1, Ordering::SeqCst)),
                Ok(false) => {}
                Err(err) => tracing::warn!(error = %err, "sandbox state not saved"),
            },
            None => drop(world.take_dirty()),
        }
        out
    }

    /// Answers one request: `path` as in the URL, the `access-token` header, the query and the
    /// body (empty on GET).
    pub fn call(
        &self,
        path: &str,
        token: Option<&str>,
        query: &BTreeMap<String, String>,
        body: &[u8],
    ) -> Reply {
        let name = path.trim_matches('/');
        self.count_call(name);
        let now = now_ms();
        if name == TOKEN_CALL {
            let q = |k: &str| query.get(k).map(String::as_str).unwrap_or_default();
            let ttl = self.inner.token_ttl_ms.load(Ordering::Relaxed);
            let minted = self.mutate(|w| {
                w.component_token(
                    q("component_appid"),
                    q("component_appsecret"),
                    q("component_ticket"),
                    ttl,
                    now,
                )
            });
            // The one unwrapped call: `{errno, message}` on error.
            return Reply {
                status: 200,
                body: match minted {
                    Ok((token, expires_in)) => {
                        json!({ "component_access_token": token, "expires_in": expires_in })
                    }
                    Err(e) => json!({ "errno": e.code, "message": e.msg }),
                },
            };
        }
        let body: Value = if body.is_empty() {
            json!({})
        } else {
            match serde_json::from_slice(body) {
                Ok(v) => v,
                Err(_) => {
                    return err(&DyError {
                        code: 40001,
                        msg: "invalid param: the body is not JSON".into(),
                    });
                }
            }
        };
        let token = token.unwrap_or_default();
        let (reply, accepted) = self.mutate(|w| self.dispatch(w, name, token, query, &body, now));
        if let Some(record) = accepted {
            self.inner.accepted.push(record);
        }
        reply
    }

    fn dispatch(
        &self,
        w: &mut World,
        name: &str,
        token: &str,
        query: &BTreeMap<String, String>,
        body: &Value,
        now: u64,
    ) -> (Reply, Option<Accepted>) {
        let spec = &self.inner.spec;
        let timing = Timing::of(spec);
        if let Some(call) = name.strip_prefix("api/tpapp/") {
            if !w.component_token_valid(token, now) {
                return (
                    err(&DyError {
                        code: 28001003,
                        msg: "access_token is invalid".into(),
                    }),
                    None,
                );
            }
            let q = |k: &str| query.get(k).map(String::as_str).unwrap_or_default();
            let ttl = self.inner.token_ttl_ms.load(Ordering::Relaxed);
            let result = match call {
                "v2/auth/get_auth_token" => {
                    let grant = q("grant_type");
                    let credential = match grant {
                        "app_to_tp_refresh_token" => q("authorizer_refresh_token"),
                        _ => q("authorization_code"),
                    };
                    w.auth_token(grant, credential, ttl, now)
                }
                "v2/auth/retrieve_auth_code" => {
                    let appid = body
                        .get("authorization_appid")
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    w.retrieve_code(appid, now)
                        .map(|code| json!({ "authorization_code": code, "expires_in": 3600 }))
                }
                "v2/template/get_tpl_list" => Ok(json!({ "template_list": [] })),
                _ => return (not_found(), None),
            };
            return (result.map_or_else(|e| err(&e), ok), None);
        }
        let Some(call) = name.strip_prefix("api/apps/") else {
            return (not_found(), None);
        };
        let appid = match w.app_of(token, now) {
            Ok(appid) => appid,
            Err(e) => return (err(&e), None),
        };
        w.settle(&appid, spec, now);
        let applied = match call {
            "v1/package_version/versions" => return (ok(w.versions(&appid)), None),
            "v1/package_version/get_audit_hosts" => return (ok(w.audit_hosts(&appid)), None),
            "v2/basic_info/get_qr_code" => {
                return (w.qr_code(&appid, body).map_or_else(|e| err(&e), ok), None);
            }
            "v1/package_version/upload" => w.upload(&appid, body, now),
            "v2/package_version/audit" | "v1/package_version/audit" => {
                w.submit(&appid, body, &timing, now)
            }
            "v1/package_version/revoke_audit" => w.revoke(&appid),
            "v1/package_version/release" => w.release(&appid),
            "v1/package_version/rollback" => w.rollback(&appid, &timing, now),
            _ => return (not_found(), None),
        };
        match applied {
            Err(e) => (err(&e), None),
            Ok(build) => {
                let record = Accepted {
                    platform: "douyin".into(),
                    app: appid,
                    call: name.to_owned(),
                    fingerprint: crate::model::parse_fingerprint(&build.summary),
                    ext_keys: match call {
                        "v1/package_version/upload" => {
                            crate::sandbox::records::ext_keys(&build.ext_json)
                        }
                        _ => Vec::new(),
                    },
                    version: Some(build.version),
                    settings: Vec::new(),
                    at_ms: now,
                };
                (ok(Value::Null), Some(record))
            }
        }
    }

    /// The axum routes of the Douyin simulator.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/openapi/v2/auth/tp/token", any(handle))
            .route("/openapi/v2/auth/tp/token/", any(handle))
            .route("/api/tpapp/{*rest}", any(handle))
            .route("/api/apps/{*rest}", any(handle))
            .with_state(self.clone())
    }
}

fn not_found() -> Reply {
    Reply {
        status: 404,
        body: json!({ "err_no": 40001, "err_msg": "no such API", "log_id": log_id() }),
    }
}

async fn handle(
    State(sim): State<Sim>,
    method: axum::http::Method,
    uri: Uri,
    headers: HeaderMap,
    Query(query): Query<BTreeMap<String, String>>,
    body: Bytes,
) -> Response {
    if method != axum::http::Method::GET && method != axum::http::Method::POST {
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    }
    let name = uri.path().trim_matches('/').to_owned();
    let faults = sim.faults();
    tokio::time::sleep(faults.latency()).await;
    let token = headers.get("access-token").and_then(|v| v.to_str().ok());
    match faults.draw(call_kind(&name), &faults.numeric_codes()) {
        Fault::Error(code) => {
            sim.count_call(&name);
            let code = code.and_then(|c| c.parse().ok()).unwrap_or(28001005);
            let msg = "system busy (sandbox fault)";
            let body = if name == TOKEN_CALL {
                json!({ "errno": code, "message": msg })
            } else {
                json!({ "err_no": code, "err_msg": msg, "log_id": log_id() })
            };
            return (StatusCode::OK, axum::Json(body)).into_response();
        }
        Fault::Timeout => {
            tokio::time::sleep(faults.timeout_after()).await;
            return StatusCode::GATEWAY_TIMEOUT.into_response();
        }
        Fault::LostResponse => {
            sim.call(uri.path(), token, &query, &body);
            tracing::debug!(path = %uri.path(), "sandbox: applied, answer lost");
            return StatusCode::BAD_GATEWAY.into_response();
        }
        Fault::None => {}
    }
    let reply = sim.call(uri.path(), token, &query, &body);
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::OK);
    (status, axum::Json(reply.body)).into_response()
}
