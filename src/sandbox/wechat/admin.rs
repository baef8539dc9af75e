//! The WeChat simulator in the sandbox's registry, and its admin endpoints: it plays WeChat
//! pushing a verify ticket (`POST /sandbox/wechat/ticket`) and merchants authorizing apps
//! (`POST /sandbox/wechat/authorize`), for a sandbox in this process ([`Access::Local`]) or a
//! standalone one ([`Access::Remote`]).

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

/// `POST /sandbox/wechat/ticket` body.
#[derive(Debug, Serialize, Deserialize)]
pub struct TicketRequest {
    /// The component the ticket is for.
    pub component_appid: String,
}

/// Starts the WeChat simulator (the registry's entry).
pub fn start(spec: &SandboxSpec, persist: Persist) -> Result<Arc<dyn Simulator>, String> {
    Ok(Arc::new(
        Sim::new(spec, persist).map_err(|e| e.to_string())?,
    ))
}

impl Simulator for Sim {
    fn platform(&self) -> &'static str {
        "wechat"
    }

    fn router(&self) -> Router {
        Sim::router(self)
    }

    fn admin(&self) -> Router {
        Router::new()
            .route("/sandbox/wechat/ticket", post(ticket))
            .route("/sandbox/wechat/authorize", post(authorize))
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
    let ticket = sim.issue_ticket(&req.component_appid);
    Json(json!({ "ticket": ticket })).into_response()
}

async fn authorize(State(sim): State<Sim>, Json(req): Json<AppRequest>) -> Response {
    if req.appid.is_empty() {
        return bad_request("`appid` is empty");
    }
    let refresh_token = sim.authorize(&req.appid);
    Json(json!({ "refresh_token": refresh_token })).into_response()
}

impl SandboxHandle {
    /// The WeChat simulator, for seeding credentials and for tests.
    pub fn wechat(&self) -> &Sim {
        // The registry always starts it.
        self.sim::<Sim>()
            .unwrap_or_else(|| unreachable!("the sandbox registry lists WeChat"))
    }
}

impl RemoteSandbox {
    /// Issues a fresh WeChat component_verify_ticket for `component_appid`.
    pub async fn issue_ticket(&self, component_appid: &str) -> Result<String, RemoteError> {
        let body = json!({ "component_appid": component_appid });
        self.field("/sandbox/wechat/ticket", Some(&body), "ticket")
            .await
    }

    /// Authorizes WeChat app `appid`; returns its authorizer refresh token.
    pub async fn authorize(&self, appid: &str) -> Result<String, RemoteError> {
        let body = json!({ "appid": appid });
        self.field("/sandbox/wechat/authorize", Some(&body), "refresh_token")
            .await
    }
}

impl Access<'_> {
    /// A WeChat component verify ticket for `component_appid`.
    pub async fn issue_ticket(&self, component_appid: &str) -> Result<String, RemoteError> {
        match self {
            Access::Local(h) => Ok(h.wechat().issue_ticket(component_appid)),
            Access::Remote(r) => r.issue_ticket(component_appid).await,
        }
    }

    /// A WeChat merchant authorizes `appid`: its refresh token.
    pub async fn authorize(&self, appid: &str) -> Result<String, RemoteError> {
        match self {
            Access::Local(h) => Ok(h.wechat().authorize(appid)),
            Access::Remote(r) => r.authorize(appid).await,
        }
    }
}
