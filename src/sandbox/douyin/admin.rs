//! The Douyin simulator in the sandbox's registry, and its admin endpoints: it plays Douyin
//! pushing a component ticket (`POST /sandbox/douyin/ticket`) and merchants authorizing apps
//! (`POST /sandbox/douyin/authorize` → a refresh token, `POST /sandbox/douyin/code` → an
//! authorization code), for a sandbox in this process ([`Access::Local`]) or a standalone one
//! ([`Access::Remote`]).

use std::sync::Arc;

use axum::Router;
use serde_json::json;

use super::Sim;
use crate::fleet::SandboxSpec;
use crate::sandbox::access::Access;
use crate::sandbox::admin::{per_app, per_component};
use crate::sandbox::{Persist, RemoteError, RemoteSandbox, SandboxHandle, Simulator};

/// Starts the Douyin simulator (the registry's entry).
pub fn start(spec: &SandboxSpec, persist: Persist) -> Result<Arc<dyn Simulator>, String> {
    Ok(Arc::new(
        Sim::new(spec, persist).map_err(|e| e.to_string())?,
    ))
}

impl Simulator for Sim {
    crate::sandbox::simulator_basics!("douyin");

    fn admin(&self) -> Router {
        Router::new()
            .route(
                "/sandbox/douyin/ticket",
                per_component("ticket", Sim::issue_ticket),
            )
            .route(
                "/sandbox/douyin/authorize",
                per_app("refresh_token", Sim::authorize),
            )
            .route(
                "/sandbox/douyin/code",
                per_app("authorization_code", Sim::authorization_code),
            )
            .with_state(self.clone())
    }
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
