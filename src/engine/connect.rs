//! Building the platform clients for a fleet, and seeding the sandbox's credentials: the embedded
//! one directly, a standalone one (`sandbox.url`) through its admin endpoints.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use crate::fleet::{AlipayConfig, ApiBase, Fleet};
use crate::model::PlatformKind;
use crate::platform::Platform;
use crate::platform::alipay::{self, AlipayClient};
use crate::platform::wechat::{self, WechatClient};
use crate::sandbox::{self, Persist, RemoteError, RemoteSandbox, SandboxHandle};
use crate::secret::Secret;
use crate::store::{Store, StoreError, Token};

use super::{Engine, now_ms};

/// Why the engine could not start.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The embedded sandbox could not listen on loopback.
    #[error("cannot start the embedded sandbox on 127.0.0.1: {0}")]
    Sandbox(std::io::Error),
    /// Seeding the sandbox's credentials into the store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The standalone sandbox of `sandbox.url` could not seed credentials.
    #[error("{0}; is `minifleet sandbox` running there?")]
    Remote(#[from] RemoteError),
}

/// The sandbox platforms with base `sandbox` talk to: started in-process, or already running.
enum Sandbox<'a> {
    Local(&'a SandboxHandle),
    Remote(&'a RemoteSandbox),
}

impl Sandbox<'_> {
    fn base_url(&self) -> String {
        match self {
            Sandbox::Local(h) => h.base_url(),
            Sandbox::Remote(r) => r.base_url().to_string(),
        }
    }

    async fn issue_ticket(&self, component_appid: &str) -> Result<String, RemoteError> {
        match self {
            Sandbox::Local(h) => Ok(h.wechat.issue_ticket(component_appid)),
            Sandbox::Remote(r) => r.issue_ticket(component_appid).await,
        }
    }

    async fn authorize(&self, appid: &str) -> Result<String, RemoteError> {
        match self {
            Sandbox::Local(h) => Ok(h.wechat.authorize(appid)),
            Sandbox::Remote(r) => r.authorize(appid).await,
        }
    }

    async fn issue_app_auth_token(&self, appid: &str) -> Result<String, RemoteError> {
        match self {
            Sandbox::Local(h) => Ok(h.alipay.issue_app_auth_token(appid)),
            Sandbox::Remote(r) => r.issue_app_auth_token(appid).await,
        }
    }

    /// Makes the gateway answer `app_id`; returns the ISV private key and Alipay's public key.
    async fn alipay_keys(&self, app_id: &str) -> Result<(String, String), RemoteError> {
        match self {
            Sandbox::Local(h) => {
                h.alipay.set_isv_app_id(app_id);
                Ok((
                    h.alipay.isv_private_key_pem(),
                    h.alipay.alipay_public_key_pem(),
                ))
            }
            Sandbox::Remote(r) => {
                r.set_isv_app_id(app_id).await?;
                let keys = r.alipay_keys().await?;
                Ok((keys.isv_private_key_pem, keys.alipay_public_key_pem))
            }
        }
    }
}

pub(super) async fn connect(fleet: &Fleet, store: Store) -> Result<Engine, ConnectError> {
    let mut platforms: BTreeMap<PlatformKind, Arc<dyn Platform>> = BTreeMap::new();
    let mut sandbox: Option<SandboxHandle> = None;
    let remote = fleet.sandbox.url.as_deref().map(RemoteSandbox::new);
    let mut alipay_client = None;
    if let Some(config) = &fleet.platforms.wechat {
        let base = match &config.api_base {
            ApiBase::Url(url) => url.clone(),
            ApiBase::Sandbox => {
                let sim = pick_sandbox(&mut sandbox, remote.as_ref(), fleet, &store).await?;
                seed_wechat(&sim, fleet, &config.component_appid, &store).await?;
                sim.base_url()
            }
        };
        let client = WechatClient::new(config, &base, store.clone());
        platforms.insert(PlatformKind::Wechat, Arc::new(client));
    }
    if let Some(config) = &fleet.platforms.alipay {
        let client = match &config.gateway {
            ApiBase::Url(url) => AlipayClient::new(config, url, store.clone()),
            ApiBase::Sandbox => {
                let sim = pick_sandbox(&mut sandbox, remote.as_ref(), fleet, &store).await?;
                let config = seed_alipay(&sim, fleet, config, &store).await?;
                let url = format!("{}/gateway.do", sim.base_url());
                AlipayClient::new(&config, &url, store.clone())
            }
        };
        let client = Arc::new(client);
        alipay_client = Some(Arc::clone(&client));
        platforms.insert(PlatformKind::Alipay, client);
    }
    let events = super::events::Events::default();
    events.subscribe(std::sync::Arc::new(super::history::History::new(
        store.clone(),
    )));
    Ok(Engine {
        store,
        platforms,
        alipay: alipay_client,
        _sandbox: sandbox,
        reserved: Default::default(),
        events,
    })
}

/// The standalone sandbox when `sandbox.url` is set, else the embedded one (started once).
async fn pick_sandbox<'a>(
    slot: &'a mut Option<SandboxHandle>,
    remote: Option<&'a RemoteSandbox>,
    fleet: &Fleet,
    store: &Store,
) -> Result<Sandbox<'a>, ConnectError> {
    match remote {
        Some(remote) => {
            if fleet.sandbox.faults.any() {
                tracing::warn!(url = %remote.base_url(), "`sandbox.faults` applies to the embedded sandbox only; pass fault flags to `minifleet sandbox` instead");
            }
            Ok(Sandbox::Remote(remote))
        }
        None => Ok(Sandbox::Local(start_sandbox(slot, fleet, store).await?)),
    }
}

async fn start_sandbox<'a>(
    slot: &'a mut Option<SandboxHandle>,
    fleet: &Fleet,
    store: &Store,
) -> Result<&'a SandboxHandle, ConnectError> {
    if slot.is_none() {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        let handle = sandbox::start(addr, &fleet.sandbox, Persist::Store(store.clone()))
            .await
            .map_err(ConnectError::Sandbox)?;
        tracing::info!(addr = %handle.addr, "embedded sandbox started");
        *slot = Some(handle);
    }
    Ok(slot.as_ref().expect("the sandbox was just started"))
}

/// In sandbox mode nobody pushes a verify ticket and no merchant authorizes anything, so the
/// sandbox plays both parts: it issues a ticket and authorizes every WeChat app of the fleet.
async fn seed_wechat(
    sim: &Sandbox<'_>,
    fleet: &Fleet,
    component_appid: &str,
    store: &Store,
) -> Result<(), ConnectError> {
    let now = now_ms() / 1000;
    let key = wechat::ticket_key(component_appid);
    if store.token(&key)?.is_none_or(|t| !t.fresh(now, 0)) {
        let ticket = sim.issue_ticket(component_appid).await?;
        let expires = Some(now + wechat::TICKET_TTL_SECS);
        store.put_token(&key, &token(ticket, now, expires))?;
    }
    for app in fleet
        .apps
        .iter()
        .filter(|a| a.platform == PlatformKind::Wechat)
    {
        let key = wechat::refresh_token_key(&app.appid);
        if store.token(&key)?.is_none() {
            let refresh = sim.authorize(&app.appid).await?;
            store.put_token(&key, &token(refresh, now, None))?;
        }
    }
    Ok(())
}

/// In sandbox mode nobody pushes a verify ticket before the first call: the sandbox issues one
/// whenever the stored ticket is missing or stale.
pub fn seed_wechat_ticket(
    handle: &SandboxHandle,
    component_appid: &str,
    store: &Store,
) -> Result<(), StoreError> {
    let now = now_ms() / 1000;
    let key = wechat::ticket_key(component_appid);
    if store.token(&key)?.is_none_or(|t| !t.fresh(now, 0)) {
        let ticket = handle.wechat.issue_ticket(component_appid);
        store.put_token(
            &key,
            &token(ticket, now, Some(now + wechat::TICKET_TTL_SECS)),
        )?;
    }
    Ok(())
}

/// In sandbox mode the simulator is Alipay and the merchants: it hands out the ISV key pair and
/// Alipay's public key (unless the fleet brings its own), and an app_auth_token for every Alipay app
/// of the fleet that has none.
async fn seed_alipay(
    sim: &Sandbox<'_>,
    fleet: &Fleet,
    config: &AlipayConfig,
    store: &Store,
) -> Result<AlipayConfig, ConnectError> {
    let (private_pem, public_pem) = sim.alipay_keys(&config.app_id).await?;
    let mut config = config.clone();
    if config.private_key.is_none() {
        config.private_key = Some(Secret::new(private_pem));
    }
    if config.alipay_public_key.is_none() {
        config.alipay_public_key = Some(Secret::new(public_pem));
    }
    let now = now_ms() / 1000;
    for app in fleet
        .apps
        .iter()
        .filter(|a| a.platform == PlatformKind::Alipay)
    {
        let key = alipay::alipay_token_key(&app.appid);
        if !config.app_auth_tokens.contains_key(&app.appid) && store.token(&key)?.is_none() {
            let token_value = sim.issue_app_auth_token(&app.appid).await?;
            store.put_token(&key, &token(token_value, now, None))?;
        }
    }
    Ok(config)
}

fn token(value: String, now: u64, expires_at: Option<u64>) -> Token {
    Token {
        value: Secret::new(value),
        expires_at,
        obtained_at: now,
    }
}
