//! The sandbox's own admin endpoints under `/sandbox/…` (never a platform path), so another
//! minifleet process can use a standalone sandbox: each simulator serves its own under
//! `/sandbox/<platform>/…` (tickets, authorizations, keys: [`Simulator::admin`]); here are the
//! records of accepted mutating calls and the call counts of them all. Faults never apply here.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::faults::CallCounts;
use super::{Sims, records};

/// `POST /sandbox/<platform>/authorize` (and the like) body: one mini-program.
#[derive(Debug, Serialize, Deserialize)]
pub struct AppRequest {
    /// The mini-program.
    pub appid: String,
}

/// `GET /sandbox/calls` answer: the platform calls each simulator answered (admin calls are not
/// counted), for measuring how many calls a pass makes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Calls {
    /// By platform (`wechat`).
    pub platforms: BTreeMap<String, CallCounts>,
    /// Calls by WeChat path (`cgi-bin/component/api_component_token`), Alipay method
    /// (`alipay.open.mini.version.upload`) and the like, errors included.
    #[serde(default)]
    pub by_call: BTreeMap<String, u64>,
}

impl Calls {
    /// Every platform call.
    pub fn total(&self) -> u64 {
        self.platforms.values().map(CallCounts::total).sum()
    }

    /// The calls `platform` answered (none if it has no simulator).
    pub fn platform(&self, platform: &str) -> CallCounts {
        self.platforms.get(platform).copied().unwrap_or_default()
    }
}

/// The sandbox-wide admin routes.
pub(super) fn router(sims: &Sims) -> Router {
    Router::new()
        .route("/sandbox/records", get(accepted))
        .route("/sandbox/calls", get(calls))
        .with_state(sims.clone())
}

/// `POST /sandbox/<platform>/ticket` (and the like) body: one third-party application.
#[derive(Debug, Serialize, Deserialize)]
pub struct ComponentRequest {
    /// The component / third-party application.
    pub component_appid: String,
}

/// An admin route that plays the platform or a merchant for one mini-program: `act(sim, appid)`
/// answers `{ <field>: … }`.
pub fn per_app<S: Clone + Send + Sync + 'static>(
    field: &'static str,
    act: fn(&S, &str) -> String,
) -> axum::routing::MethodRouter<S> {
    axum::routing::post(
        move |State(sim): State<S>, Json(req): Json<AppRequest>| async move {
            if req.appid.is_empty() {
                return bad_request("`appid` is empty");
            }
            Json(json!({ field: act(&sim, &req.appid) })).into_response()
        },
    )
}

/// An admin route that plays the platform for one third-party application (a ticket):
/// `act(sim, component_appid)` answers `{ <field>: … }`.
pub fn per_component<S: Clone + Send + Sync + 'static>(
    field: &'static str,
    act: fn(&S, &str) -> String,
) -> axum::routing::MethodRouter<S> {
    axum::routing::post(
        move |State(sim): State<S>, Json(req): Json<ComponentRequest>| async move {
            if req.component_appid.is_empty() {
                return bad_request("`component_appid` is empty");
            }
            Json(json!({ field: act(&sim, &req.component_appid) })).into_response()
        },
    )
}

/// A 400 answer naming what is wrong with an admin request.
pub fn bad_request(what: &str) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({ "error": what }))).into_response()
}

async fn accepted(State(sims): State<Sims>) -> Json<Vec<records::Accepted>> {
    Json(sims.accepted())
}

async fn calls(State(sims): State<Sims>) -> Json<Calls> {
    let mut calls = Calls::default();
    for sim in sims.iter() {
        calls.by_call.extend(sim.calls());
        calls
            .platforms
            .insert(sim.platform().to_owned(), sim.counts());
    }
    Json(calls)
}
