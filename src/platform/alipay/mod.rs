//! The Alipay Open Platform (v2 gateway) client: RSA2 request signing and response verification
//! (spec/alipay.md §1.3–1.5), merchant `app_auth_token`s, observation and actions over
//! `alipay.open.mini.*` and `alipay.open.app.members.*`, codes classified by the table of §4.
//!
//! [`AlipayClient::new`] never fails: a missing or unusable key in the configuration makes every
//! call return the same Permanent error naming the key and the fix.

// `PlatformError` is the shared error type of the `Platform` seam (platform/mod.rs); it is large
// by design (explanation and hint travel with it), so every fallible function here returns it.

mod actions;
mod auth;
pub mod client;
pub mod errors;
mod observe;
pub mod sign;
pub mod spec;
pub mod types;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

pub use actions::BuildWait;

pub mod module;

use crate::model::{Action, Desired, Observed, PlatformKind};
use crate::platform::{BoxFuture, Effect, Known, Platform, PlatformError};
use crate::secret::Secret;
use crate::store::Store;
use spec::AlipayConfig;

/// Store key of a merchant app's `app_auth_token`.
pub fn alipay_token_key(appid: &str) -> String {
    format!("alipay/app_auth_token/{appid}")
}

/// An Alipay ISV client for one ISV app.
pub struct AlipayClient {
    gateway: client::Gateway,
    store: Store,
    tokens: BTreeMap<String, Secret>,
    build_wait: BuildWait,
}

impl AlipayClient {
    /// A client of the gateway at `gateway_url` (the full `…/gateway.do`) with `config`'s ISV app
    /// id and keys; stored tokens and build fingerprints live in `store`.
    pub fn new(config: &AlipayConfig, gateway_url: &str, store: Store) -> AlipayClient {
        AlipayClient {
            gateway: client::Gateway::new(
                gateway_url,
                &config.app_id,
                client::Keys::from_config(config),
            ),
            store,
            tokens: BTreeMap::new(),
            build_wait: actions::BUILD_WAIT,
        }
    }

    /// The same client, using the `app_auth_token`s apps give in the fleet file (by appid) instead
    /// of the stored ones.
    pub fn with_app_tokens(mut self, tokens: BTreeMap<String, Secret>) -> AlipayClient {
        self.tokens = tokens;
        self
    }

    /// The same client, polling builds with `wait` instead of the default
    /// (200 ms doubling to 5 s, 10 minutes in all).
    pub fn with_build_wait(mut self, wait: BuildWait) -> AlipayClient {
        self.build_wait = wait;
        self
    }

    /// The same client with transport `options` (the platform's proxy).
    pub fn with_transport(mut self, options: crate::platform::http::Options) -> AlipayClient {
        self.gateway = self.gateway.with_options(options);
        self
    }
}

impl Platform for AlipayClient {
    fn kind(&self) -> PlatformKind {
        crate::platform::alipay::spec::KIND
    }

    fn observe<'a>(&'a self, app: &'a Desired) -> BoxFuture<'a, Result<Observed, PlatformError>> {
        Box::pin(self.observe_app(app, None))
    }

    fn observe_with<'a>(
        &'a self,
        app: &'a Desired,
        known: Known<'a>,
    ) -> BoxFuture<'a, Result<Observed, PlatformError>> {
        let settings = match known {
            Known::Settings(last) => Some(last),
            Known::Nothing | Known::Since(_) => None,
        };
        Box::pin(self.observe_app(app, settings))
    }

    fn probe<'a>(
        &'a self,
        app: &'a Desired,
    ) -> BoxFuture<'a, Result<Option<String>, PlatformError>> {
        Box::pin(self.probe_app(app))
    }

    fn observes_by_version(&self) -> bool {
        true
    }

    fn execute<'a>(
        &'a self,
        app: &'a Desired,
        action: &'a Action,
    ) -> BoxFuture<'a, Result<Effect, PlatformError>> {
        Box::pin(self.execute_action(app, action))
    }

    fn experience_qr<'a>(
        &'a self,
        app: &'a Desired,
        path: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Option<crate::platform::QrCode>, PlatformError>> {
        Box::pin(async move { self.qr_code(app, path).await.map(Some) })
    }
}
