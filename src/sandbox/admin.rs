//! The sandbox's own admin endpoints under `/sandbox/…` (never a platform path), so another
//! minifleet process can use a standalone sandbox: it plays WeChat pushing tickets and merchants
//! authorizing apps, hands out the Alipay ISV keys and app_auth_tokens, and reports the mutating
//! calls it accepted. Faults never apply here.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::faults::CallCounts;
use super::{alipay, records, wechat};

/// `POST /sandbox/wechat/ticket` body.
#[derive(Debug, Serialize, Deserialize)]
pub struct TicketRequest {
    /// The component the ticket is for.
    pub component_appid: String,
}

/// `POST /sandbox/wechat/authorize` and `POST /sandbox/alipay/token` body.
#[derive(Debug, Serialize, Deserialize)]
pub struct AppRequest {
    /// The mini-program.
    pub appid: String,
}

/// `POST /sandbox/alipay/isv` body.
#[derive(Debug, Serialize, Deserialize)]
pub struct IsvRequest {
    /// The ISV app id the gateway answers to from now on.
    pub app_id: String,
}

/// `GET /sandbox/alipay/keys` answer.
#[derive(Debug, Serialize, Deserialize)]
pub struct AlipayKeys {
    /// The ISV app id the gateway currently answers to.
    pub isv_app_id: Option<String>,
    /// The sandbox ISV app's private key (PKCS#8 PEM).
    pub isv_private_key_pem: String,
    /// The gateway's public key (SPKI PEM), for verifying its answers.
    pub alipay_public_key_pem: String,
}

#[derive(Clone)]
struct Sims {
    wechat: wechat::Sim,
    alipay: alipay::Sim,
}

/// `GET /sandbox/calls` answer: the platform calls each simulator answered (admin calls are not
/// counted), for measuring how many calls a pass makes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Calls {
    /// WeChat's.
    pub wechat: CallCounts,
    /// Alipay's.
    pub alipay: CallCounts,
    /// Calls by WeChat path (`cgi-bin/component/api_component_token`) and by Alipay method
    /// (`alipay.open.mini.version.upload`), errors included.
    #[serde(default)]
    pub by_call: BTreeMap<String, u64>,
}

impl Calls {
    /// Every platform call.
    pub fn total(&self) -> u64 {
        self.wechat.total() + self.alipay.total()
    }
}

/// The admin routes over both simulators.
pub fn router(wechat: &wechat::Sim, alipay: &alipay::Sim) -> Router {
    let sims = Sims {
        wechat: wechat.clone(),
        alipay: alipay.clone(),
    };
    Router::new()
        .route("/sandbox/wechat/ticket", post(wechat_ticket))
        .route("/sandbox/wechat/authorize", post(wechat_authorize))
        .route("/sandbox/alipay/token", post(alipay_token))
        .route("/sandbox/alipay/keys", get(alipay_keys))
        .route("/sandbox/alipay/isv", post(alipay_isv))
        .route("/sandbox/records", get(accepted))
        .route("/sandbox/calls", get(calls))
        .with_state(sims)
}

fn bad_request(what: &str) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({ "error": what }))).into_response()
}

async fn wechat_ticket(State(sims): State<Sims>, Json(req): Json<TicketRequest>) -> Response {
    if req.component_appid.is_empty() {
        return bad_request("`component_appid` is empty");
    }
    let ticket = sims.wechat.issue_ticket(&req.component_appid);
    Json(json!({ "ticket": ticket })).into_response()
}

async fn wechat_authorize(State(sims): State<Sims>, Json(req): Json<AppRequest>) -> Response {
    if req.appid.is_empty() {
        return bad_request("`appid` is empty");
    }
    let refresh_token = sims.wechat.authorize(&req.appid);
    Json(json!({ "refresh_token": refresh_token })).into_response()
}

async fn alipay_token(State(sims): State<Sims>, Json(req): Json<AppRequest>) -> Response {
    if req.appid.is_empty() {
        return bad_request("`appid` is empty");
    }
    let app_auth_token = sims.alipay.issue_app_auth_token(&req.appid);
    Json(json!({ "app_auth_token": app_auth_token })).into_response()
}

async fn alipay_keys(State(sims): State<Sims>) -> Json<AlipayKeys> {
    Json(AlipayKeys {
        isv_app_id: Some(sims.alipay.isv_app_id()),
        isv_private_key_pem: sims.alipay.isv_private_key_pem(),
        alipay_public_key_pem: sims.alipay.alipay_public_key_pem(),
    })
}

async fn alipay_isv(State(sims): State<Sims>, Json(req): Json<IsvRequest>) -> Response {
    if req.app_id.is_empty() {
        return bad_request("`app_id` is empty");
    }
    sims.alipay.set_isv_app_id(&req.app_id);
    Json(json!({ "app_id": req.app_id })).into_response()
}

async fn accepted(State(sims): State<Sims>) -> Json<Vec<records::Accepted>> {
    Json(records::merged(
        sims.wechat.accepted(),
        sims.alipay.accepted(),
    ))
}

async fn calls(State(sims): State<Sims>) -> Json<Calls> {
    let mut by_call = sims.wechat.calls();
    by_call.extend(sims.alipay.calls());
    Json(Calls {
        wechat: sims.wechat.faults().calls(),
        alipay: sims.alipay.faults().calls(),
        by_call,
    })
}
