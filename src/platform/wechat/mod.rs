//! The WeChat Open Platform client: component and authorizer tokens, observation and actions over
//! `wxa/*`, errcodes classified by the table of spec/wechat.md §7.

// `PlatformError` is the shared error type of the `Platform` seam (platform/mod.rs); it is large
// by design (explanation and hint travel with it), so every fallible function here returns it.

mod actions;
mod auth;
mod backoff;
mod client;
pub mod endpoints;
pub mod errors;
pub mod module;
mod observe;
pub mod push;
mod settings;
pub mod spec;
mod tokens;
mod types;

#[cfg(test)]
mod lifecycle_tests;
#[cfg(test)]
mod tests;

pub use actions::ScanWait;
pub use auth::{Authorization, AuthorizedApp, LinkKind, authorization_url};
pub use tokens::TICKET_TTL_SECS;

use crate::model::{Action, Desired, Observed, PlatformKind};
use crate::platform::{BoxFuture, Effect, Known, Platform, PlatformError};
use crate::store::Store;
use spec::WechatConfig;

pub mod crypto;

/// Store key of the component verify ticket.
pub fn ticket_key(component_appid: &str) -> String {
    format!("wechat/ticket/{component_appid}")
}

/// Store key of the component access token.
pub fn component_token_key(component_appid: &str) -> String {
    format!("wechat/component_token/{component_appid}")
}

/// Store key of an authorizer's refresh token.
pub fn refresh_token_key(appid: &str) -> String {
    format!("wechat/refresh_token/{appid}")
}

/// Store key of the marker of an app that revoked (or lost) its authorization; its value says why.
pub fn unauthorized_key(appid: &str) -> String {
    format!("wechat/unauthorized/{appid}")
}

/// Store key of an authorizer's access token.
pub fn authorizer_token_key(appid: &str) -> String {
    format!("wechat/authorizer_token/{appid}")
}

/// A WeChat third-party-platform client for one component.
pub struct WechatClient {
    http: client::Http,
    tokens: tokens::Tokens,
    scan_wait: ScanWait,
    component_appid: String,
    facts: actions::ItemFacts,
}

impl WechatClient {
    /// A client calling `base_url` (e.g. `https://api.weixin.qq.com`) with tokens cached in `store`.
    pub fn new(config: &WechatConfig, base_url: &str, store: Store) -> WechatClient {
        WechatClient {
            http: client::Http::new(base_url),
            tokens: tokens::Tokens::new(
                store,
                &config.component_appid,
                config.component_secret.clone(),
            ),
            scan_wait: actions::SCAN_WAIT,
            component_appid: config.component_appid.clone(),
            facts: actions::ItemFacts::default(),
        }
    }

    /// The same client, waiting out privacy scans with `wait` instead of the default
    /// (1 s doubling to 30 s, 10 minutes in all).
    pub fn with_scan_wait(mut self, wait: ScanWait) -> WechatClient {
        self.scan_wait = wait;
        self
    }

    /// The same client with transport `options` (the platform's proxy).
    pub fn with_transport(mut self, options: crate::platform::http::Options) -> WechatClient {
        self.http = self.http.with_options(options);
        self
    }
}

impl Platform for WechatClient {
    fn kind(&self) -> PlatformKind {
        crate::platform::wechat::spec::KIND
    }

    fn observe<'a>(&'a self, app: &'a Desired) -> BoxFuture<'a, Result<Observed, PlatformError>> {
        Box::pin(self.observe_app(app, Known::Nothing))
    }

    fn observe_with<'a>(
        &'a self,
        app: &'a Desired,
        known: Known<'a>,
    ) -> BoxFuture<'a, Result<Observed, PlatformError>> {
        Box::pin(self.observe_app(app, known))
    }

    fn probe<'a>(
        &'a self,
        app: &'a Desired,
    ) -> BoxFuture<'a, Result<Option<String>, PlatformError>> {
        Box::pin(self.probe_app(app))
    }

    fn execute<'a>(
        &'a self,
        app: &'a Desired,
        action: &'a Action,
    ) -> BoxFuture<'a, Result<Effect, PlatformError>> {
        Box::pin(self.execute_action(app, action))
    }

    fn audit_quota<'a>(
        &'a self,
        via: &'a Desired,
    ) -> BoxFuture<'a, Result<Option<crate::platform::AuditQuota>, PlatformError>> {
        Box::pin(async move { self.query_quota(&via.appid).await.map(Some) })
    }

    fn readiness<'a>(
        &'a self,
        app: &'a Desired,
    ) -> BoxFuture<'a, Result<Option<crate::model::Readiness>, PlatformError>> {
        Box::pin(async move { self.icp_status(&app.appid).await.map(Some) })
    }

    fn experience_qr<'a>(
        &'a self,
        app: &'a Desired,
        path: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Option<crate::platform::QrCode>, PlatformError>> {
        Box::pin(async move { self.qr_code(&app.appid, path).await.map(Some) })
    }
}
