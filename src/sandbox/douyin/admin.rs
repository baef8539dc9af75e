//! The Douyin simulator in the sandbox's registry, and its admin endpoints: it plays Douyin
//! pushing a component ticket (`POST /sandbox/douyin/ticket`) and merchants authorizing apps
//! (`POST /sandbox/douyin/authorize` → a refresh token, `POST /sandbox/douyin/code` → an
//! authorization code), for a sandbox in this process ([`Access::Local`]) or a standalone one
//! ([`Access::Remote`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::Sim;
use crate::fleet::SandboxSpec;
use crate::sandbox::access::Access;
use crate::sandbox::admin::{AppRequest, bad_request};
use crate::sandbox::faults::CallCounts;
use crate::sandbox::{Accepted, Persist, RemoteError, RemoteSandbox, SandboxHandle, Simulator};

/// `POST /sandbox/douyin/ticket` body.
#[derive(Debug, Serialize, Deserialize)]
pub struct TicketRequest {
    /// The third-party application the ticket is for.
    pub component_appid: String,
}

/// Starts the Douyin simulator (the registry's entry).
pub fn start(spec: &SandboxSpec, persist: Persist) -> Result<Arc<dyn Simulator>, String> {
    Ok(Arc::new(
        Sim::new(spec, persist).map_err(|e| e.to_string())?,
    ))
}

impl Simulator for Sim {
    fn platform(&self) -> &'static str {
        "douyin"
    }

    fn router(&self) -> Router {
        Sim::router(self)
    }

    fn admin(&self) -> Router {
        Router::new()
            .route("/sandbox/douyin/ticket", post(ticket))
            .route("/sandbox/douyin/authorize", post(authorize))
            .route("/sandbox/douyin/code", post(code))
            .with_state(self.clone())
    }

    fn writes(&self) -> u64 {
        Sim::writes(self)
    }

    fn accepted(&self) -> Vec<Accepted> {
        Sim::accepted(self)
    }

    fn calls(&self) -> BTreeMap<String, u64> {
        Sim::calls(self)
    }

    fn counts(&self) -> CallCounts {
        self.faults().calls()
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

async fn ticket(State(sim): State<Sim>, Json(req): Json<TicketRequest>) -> Response {
    if req.component_appid.is_empty() {
        return bad_request("`component_appid` is empty");
    }
    Json(json!({ "ticket": sim.issue_ticket(&req.component_appid) })).into_response()
}

async fn authorize(State(sim): State<Sim>, Json(req): Json<AppRequest>) -> Response {
    if req.appid.is_empty() {
        return bad_request("`appid` is empty");
    }
    Json(json!({ "refresh_token": sim.authorize(&req.appid) })).into_response()
}

async fn code(State(sim): State<Sim>, Json(req): Json<AppRequest>) -> Response {
    if req.appid.is_empty() {
        return bad_request("`appid` is empty");
    }
    Json(json!({ "authorization_code": sim.authorization_code(&req.appid) })).into_response()
}

impl SandboxHandle {
    /// The Douyin simulator, for seeding credentials and for tests.
    pub fn douyin(&self) -> &Sim {
        // The registry always starts it.
        self.sim::<Sim>()
            .unwrap_or_else(|| unreachable!("the sandbox registry lists Douyin"))
    }
}

impl RemoteSandbox {
    /// Issues a fresh Douyin component ticket for `component_appid`.
    pub async fn douyin_ticket(&self, component_appid: &str) -> Result<String, RemoteError> {
        let body = json!({ "component_appid": component_appid });
        self.field("/sandbox/douyin/ticket", Some(&body), "ticket")
            .await
    }

    /// Authorizes Douyin app `appid`; its refresh token.
    pub async fn douyin_authorize(&self, appid: &str) -> Result<String, RemoteError> {
        let body = json!({ "appid": appid });
        self.field("/sandbox/douyin/authorize", Some(&body), "refresh_token")
            .await
    }

    /// Authorizes Douyin app `appid` through the page; the authorization code.
    pub async fn douyin_code(&self, appid: &str) -> Result<String, RemoteError> {
        let body = json!({ "appid": appid });
        self.field("/sandbox/douyin/code", Some(&body), "authorization_code")
            .await
    }
}

impl Access<'_> {
    /// A Douyin component ticket for `component_appid`.
    pub async fn douyin_ticket(&self, component_appid: &str) -> Result<String, RemoteError> {
        match self {
            Access::Local(h) => Ok(h.douyin().issue_ticket(component_appid)),
            Access::Remote(r) => r.douyin_ticket(component_appid).await,
        }
    }

    /// A Douyin merchant authorizes `appid`: its refresh token.
    pub async fn douyin_authorize(&self, appid: &str) -> Result<String, RemoteError> {
        match self {
            Access::Local(h) => Ok(h.douyin().authorize(appid)),
            Access::Remote(r) => r.douyin_authorize(appid).await,
        }
    }
}
