//! One way to reach a sandbox, wherever it runs: the one started in this process, or a standalone
//! `minifleet sandbox` at `sandbox.url` (through its admin endpoints). The platform modules seed
//! their simulators through it: tickets, authorizations, keys and tokens, as the platforms and
//! the merchants would hand them out.

use super::{RemoteError, RemoteSandbox, SandboxHandle};

/// A sandbox to seed.
pub enum Access<'a> {
    /// Started in this process.
    Local(&'a SandboxHandle),
    /// Running elsewhere (`sandbox.url`).
    Remote(&'a RemoteSandbox),
}

impl Access<'_> {
    /// Its base URL.
    pub fn base_url(&self) -> String {
        match self {
            Access::Local(h) => h.base_url(),
            Access::Remote(r) => r.base_url().to_string(),
        }
    }

    /// A WeChat component verify ticket for `component_appid`.
    pub async fn issue_ticket(&self, component_appid: &str) -> Result<String, RemoteError> {
        match self {
            Access::Local(h) => Ok(h.wechat.issue_ticket(component_appid)),
            Access::Remote(r) => r.issue_ticket(component_appid).await,
        }
    }

    /// A WeChat merchant authorizes `appid`: its refresh token.
    pub async fn authorize(&self, appid: &str) -> Result<String, RemoteError> {
        match self {
            Access::Local(h) => Ok(h.wechat.authorize(appid)),
            Access::Remote(r) => r.authorize(appid).await,
        }
    }

    /// An Alipay merchant authorizes `appid`: its app_auth_token.
    pub async fn issue_app_auth_token(&self, appid: &str) -> Result<String, RemoteError> {
        match self {
            Access::Local(h) => Ok(h.alipay.issue_app_auth_token(appid)),
            Access::Remote(r) => r.issue_app_auth_token(appid).await,
        }
    }

    /// Makes the Alipay gateway answer ISV app `app_id`; the ISV private key and Alipay's public
    /// key, as PEM.
    pub async fn alipay_keys(&self, app_id: &str) -> Result<(String, String), RemoteError> {
        match self {
            Access::Local(h) => {
                h.alipay.set_isv_app_id(app_id);
                Ok((
                    h.alipay.isv_private_key_pem(),
                    h.alipay.alipay_public_key_pem(),
                ))
            }
            Access::Remote(r) => {
                r.set_isv_app_id(app_id).await?;
                let keys = r.alipay_keys().await?;
                Ok((keys.isv_private_key_pem, keys.alipay_public_key_pem))
            }
        }
    }
}
