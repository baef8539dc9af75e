//! The Alipay simulator in the sandbox's registry, and its admin endpoints: it hands out the ISV
//! keys (`GET /sandbox/alipay/keys`), answers another ISV app id (`POST /sandbox/alipay/isv`) and
//! plays merchants authorizing apps (`POST /sandbox/alipay/token`), for a sandbox in this process
//! ([`Access::Local`]) or a standalone one ([`Access::Remote`]).

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{DEFAULT_ISV_APP_ID, Sim};
use crate::fleet::SandboxSpec;
use crate::sandbox::access::Access;
use crate::sandbox::admin::{bad_request, per_app};
use crate::sandbox::{Persist, RemoteError, RemoteSandbox, SandboxHandle, Simulator};

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

/// Starts the Alipay simulator (the registry's entry).
pub fn start(spec: &SandboxSpec, persist: Persist) -> Result<Arc<dyn Simulator>, String> {
    let sim = Sim::new(spec, persist, DEFAULT_ISV_APP_ID).map_err(|e| e.to_string())?;
    Ok(Arc::new(sim))
}

impl Simulator for Sim {
    crate::sandbox::simulator_basics!("alipay");

    fn admin(&self) -> Router {
        Router::new()
            .route(
                "/sandbox/alipay/token",
                per_app("app_auth_token", Sim::issue_app_auth_token),
            )
            .route("/sandbox/alipay/keys", get(keys))
            .route("/sandbox/alipay/isv", post(isv))
            .with_state(self.clone())
    }
}

async fn keys(State(sim): State<Sim>) -> Json<AlipayKeys> {
    Json(AlipayKeys {
        isv_app_id: Some(sim.isv_app_id()),
        isv_private_key_pem: sim.isv_private_key_pem(),
        alipay_public_key_pem: sim.alipay_public_key_pem(),
    })
}

async fn isv(State(sim): State<Sim>, Json(req): Json<IsvRequest>) -> Response {
    if req.app_id.is_empty() {
        return bad_request("`app_id` is empty");
    }
    sim.set_isv_app_id(&req.app_id);
    Json(json!({ "app_id": req.app_id })).into_response()
}

impl SandboxHandle {
    /// The Alipay simulator, for seeding keys and tokens and for tests.
    pub fn alipay(&self) -> &Sim {
        // The registry always starts it.
        self.sim::<Sim>()
            .unwrap_or_else(|| unreachable!("the sandbox registry lists Alipay"))
    }
}

impl RemoteSandbox {
    /// Authorizes Alipay app `appid`; returns its app_auth_token.
    pub async fn issue_app_auth_token(&self, appid: &str) -> Result<String, RemoteError> {
        let body = json!({ "appid": appid });
        self.field("/sandbox/alipay/token", Some(&body), "app_auth_token")
            .await
    }

    /// Makes the Alipay gateway answer ISV app `app_id`.
    pub async fn set_isv_app_id(&self, app_id: &str) -> Result<(), RemoteError> {
        let body = json!({ "app_id": app_id });
        self.field("/sandbox/alipay/isv", Some(&body), "app_id")
            .await
            .map(drop)
    }

    /// The sandbox ISV key pair's private half and the gateway's public key.
    pub async fn alipay_keys(&self) -> Result<AlipayKeys, RemoteError> {
        self.send("/sandbox/alipay/keys", None::<&Value>).await
    }
}

impl Access<'_> {
    /// An Alipay merchant authorizes `appid`: its app_auth_token.
    pub async fn issue_app_auth_token(&self, appid: &str) -> Result<String, RemoteError> {
        match self {
            Access::Local(h) => Ok(h.alipay().issue_app_auth_token(appid)),
            Access::Remote(r) => r.issue_app_auth_token(appid).await,
        }
    }

    /// Makes the Alipay gateway answer ISV app `app_id`; the ISV private key and Alipay's public
    /// key, as PEM.
    pub async fn alipay_keys(&self, app_id: &str) -> Result<(String, String), RemoteError> {
        match self {
            Access::Local(h) => {
                let sim = h.alipay();
                sim.set_isv_app_id(app_id);
                Ok((sim.isv_private_key_pem(), sim.alipay_public_key_pem()))
            }
            Access::Remote(r) => {
                r.set_isv_app_id(app_id).await?;
                let keys = r.alipay_keys().await?;
                Ok((keys.isv_private_key_pem, keys.alipay_public_key_pem))
            }
        }
    }
}
