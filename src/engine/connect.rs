//! Building the platform clients for a fleet, and seeding the embedded sandbox's credentials.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use crate::fleet::{AlipayConfig, ApiBase, Fleet};
use crate::model::PlatformKind;
use crate::platform::Platform;
use crate::platform::alipay::{self, AlipayClient};
use crate::platform::wechat::{self, WechatClient};
use crate::sandbox::{self, Persist, SandboxHandle};
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
}

pub(super) async fn connect(fleet: &Fleet, store: Store) -> Result<Engine, ConnectError> {
    let mut platforms: BTreeMap<PlatformKind, Arc<dyn Platform>> = BTreeMap::new();
    let mut sandbox: Option<SandboxHandle> = None;
    let mut alipay_client = None;
    if let Some(config) = &fleet.platforms.wechat {
        let base = match &config.api_base {
            ApiBase::Url(url) => url.clone(),
            ApiBase::Sandbox => {
                let handle = start_sandbox(&mut sandbox, fleet, &store).await?;
                seed_wechat(handle, fleet, &config.component_appid, &store)?;
                handle.base_url()
            }
        };
        let client = WechatClient::new(config, &base, store.clone());
        platforms.insert(PlatformKind::Wechat, Arc::new(client));
    }
    if let Some(config) = &fleet.platforms.alipay {
        let client = match &config.gateway {
            ApiBase::Url(url) => AlipayClient::new(config, url, store.clone()),
            ApiBase::Sandbox => {
                let handle = start_sandbox(&mut sandbox, fleet, &store).await?;
                let config = seed_alipay(handle, fleet, config, &store)?;
                let url = format!("{}/gateway.do", handle.base_url());
                AlipayClient::new(&config, &url, store.clone())
            }
        };
        let client = Arc::new(client);
        alipay_client = Some(Arc::clone(&client));
        platforms.insert(PlatformKind::Alipay, client);
    }
    Ok(Engine {
        store,
        platforms,
        alipay: alipay_client,
        _sandbox: sandbox,
    })
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
fn seed_wechat(
    handle: &SandboxHandle,
    fleet: &Fleet,
    component_appid: &str,
    store: &Store,
) -> Result<(), StoreError> {
    seed_wechat_ticket(handle, component_appid, store)?;
    let now = now_ms() / 1000;
    for app in fleet
        .apps
        .iter()
        .filter(|a| a.platform == PlatformKind::Wechat)
    {
        let key = wechat::refresh_token_key(&app.appid);
        if store.token(&key)?.is_none() {
            let refresh = handle.wechat.authorize(&app.appid);
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
fn seed_alipay(
    handle: &SandboxHandle,
    fleet: &Fleet,
    config: &AlipayConfig,
    store: &Store,
) -> Result<AlipayConfig, StoreError> {
    let sim = &handle.alipay;
    sim.set_isv_app_id(&config.app_id);
    let mut config = config.clone();
    if config.private_key.is_none() {
        config.private_key = Some(Secret::new(sim.isv_private_key_pem()));
    }
    if config.alipay_public_key.is_none() {
        config.alipay_public_key = Some(Secret::new(sim.alipay_public_key_pem()));
    }
    let now = now_ms() / 1000;
    for app in fleet
        .apps
        .iter()
        .filter(|a| a.platform == PlatformKind::Alipay)
    {
        let key = alipay::alipay_token_key(&app.appid);
        if !config.app_auth_tokens.contains_key(&app.appid) && store.token(&key)?.is_none() {
            let token_value = sim.issue_app_auth_token(&app.appid);
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
