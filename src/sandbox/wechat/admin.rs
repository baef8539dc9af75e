//! The WeChat simulator in the sandbox's registry, and its admin endpoints: it plays WeChat
//! pushing a verify ticket (`POST /sandbox/wechat/ticket`) and merchants authorizing apps
//! (`POST /sandbox/wechat/authorize`), for a sandbox in this process ([`Access::Local`]) or a
//! standalone one ([`Access::Remote`]).

use std::sync::Arc;

use axum::Router;
use serde_json::json;

use super::Sim;
use crate::fleet::SandboxSpec;
use crate::sandbox::access::Access;
use crate::sandbox::admin::{per_app, per_component};
use crate::sandbox::{Persist, RemoteError, RemoteSandbox, SandboxHandle, Simulator};

/// Starts the WeChat simulator (the registry's entry).
pub fn start(spec: &SandboxSpec, persist: Persist) -> Result<Arc<dyn Simulator>, String> {
    Ok(Arc::new(
        Sim::new(spec, persist).map_err(|e| e.to_string())?,
    ))
}

impl Simulator for Sim {
    crate::sandbox::simulator_basics!("wechat");

    fn admin(&self) -> Router {
        Router::new()
            .route(
                "/sandbox/wechat/ticket",
                per_component("ticket", Sim::issue_ticket),
            )
            .route(
                "/sandbox/wechat/authorize",
                per_app("refresh_token", Sim::authorize),
            )
            .route("/sandbox/wechat/icp", axum::routing::post(set_icp))
            .route(
                "/sandbox/wechat/console/domains",
                axum::routing::post(console_domains),
            )
            .route(
                "/sandbox/wechat/console/revert_gray",
                per_app("reverted", Sim::console_revert_gray),
            )
            .with_state(self.clone())
    }
}

/// `POST /sandbox/wechat/icp {appid, status}`: the ICP filing status WeChat reports for the app.
async fn set_icp(
    axum::extract::State(sim): axum::extract::State<Sim>,
    axum::Json(req): axum::Json<IcpRequest>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    if req.appid.is_empty() {
        return crate::sandbox::admin::bad_request("`appid` is empty");
    }
    sim.set_icp(&req.appid, req.status);
    axum::Json(json!({ "icp": req.status.to_string() })).into_response()
}

/// `POST /sandbox/wechat/console/domains {appid, field, domains}`: the merchant sets the app's
/// domains of `field` (`requestdomain` …, `webviewdomain`) by hand in the console.
async fn console_domains(
    axum::extract::State(sim): axum::extract::State<Sim>,
    axum::Json(req): axum::Json<DomainsRequest>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    if !sim.console_set_domains(&req.appid, &req.field, req.domains) {
        return crate::sandbox::admin::bad_request("no such app");
    }
    axum::Json(json!({ "set": "true" })).into_response()
}

/// The body of `POST /sandbox/wechat/console/domains`.
#[derive(serde::Deserialize)]
struct DomainsRequest {
    appid: String,
    field: String,
    domains: Vec<String>,
}

/// The body of `POST /sandbox/wechat/icp`.
#[derive(serde::Deserialize)]
struct IcpRequest {
    appid: String,
    status: u32,
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

    /// Plays the merchant reverting app `appid`'s gray release in the WeChat console; whether
    /// a gray ran.
    pub async fn console_revert_gray(&self, appid: &str) -> Result<bool, RemoteError> {
        let body = json!({ "appid": appid });
        self.field(
            "/sandbox/wechat/console/revert_gray",
            Some(&body),
            "reverted",
        )
        .await
        .map(|r| r == "true")
    }

    /// Sets the ICP filing status WeChat reports for app `appid` (`6` filed, `1024` not filed).
    pub async fn set_icp(&self, appid: &str, status: u32) -> Result<(), RemoteError> {
        let body = json!({ "appid": appid, "status": status });
        self.field("/sandbox/wechat/icp", Some(&body), "icp")
            .await
            .map(drop)
    }

    /// Plays the merchant setting app `appid`'s domains of `field` (`requestdomain` …) by hand in
    /// the WeChat console.
    pub async fn console_set_domains(
        &self,
        appid: &str,
        field: &str,
        domains: &[&str],
    ) -> Result<(), RemoteError> {
        let body = json!({ "appid": appid, "field": field, "domains": domains });
        self.field("/sandbox/wechat/console/domains", Some(&body), "set")
            .await
            .map(drop)
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
