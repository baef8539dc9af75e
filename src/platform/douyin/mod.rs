//! Douyin (抖音开放平台) third-party mini-programs (spec/douyin.md): component and authorizer
//! tokens, code management (upload with ext_json, audits per host app, full releases,
//! rollbacks), the pushes, and Douyin's place in the fleet file and the planner.
//!
//! Facts the spec marks **unconfirmed** are built conservatively and flagged where they are used
//! (`UNCONFIRMED` in the comments).

mod client;
mod code;
pub mod crypto;
pub mod errors;
pub mod module;
pub mod push;
pub mod spec;
mod tokens;
mod types;

#[cfg(test)]
mod tests;

pub use tokens::TICKET_TTL_SECS;

use crate::model::{Action, Desired, Observed, PlatformKind};
use crate::platform::{BoxFuture, Effect, Platform, PlatformError, PollWait};
use crate::store::Store;
use spec::DouyinConfig;

/// The push token the sandbox seals its pushes with when the fleet sets none.
pub const SANDBOX_PUSH_TOKEN: &str = "minifleet-douyin-sandbox";
/// The EncodingAESKey the sandbox seals its pushes with when the fleet sets none.
pub const SANDBOX_AES_KEY: &str = "bWluaWZsZWV0LWRvdXlpbi1zYW5kYm94LWtleS0wMDA";

/// The store keys of Douyin's credentials.
pub mod keys {
    /// The component ticket.
    pub fn ticket(component_appid: &str) -> String {
        format!("douyin/ticket/{component_appid}")
    }

    /// The component access token.
    pub fn component_token(component_appid: &str) -> String {
        format!("douyin/component_token/{component_appid}")
    }

    /// An authorizer's refresh token (single use: replaced on every refresh).
    pub fn refresh_token(appid: &str) -> String {
        format!("douyin/refresh_token/{appid}")
    }

    /// An authorizer's access token.
    pub fn authorizer_token(appid: &str) -> String {
        format!("douyin/authorizer_token/{appid}")
    }

    /// The marker of an app that revoked (or lost) its authorization; its value says why.
    pub fn unauthorized(appid: &str) -> String {
        format!("douyin/unauthorized/{appid}")
    }
}

/// A Douyin third-party application client.
pub struct DouyinClient {
    http: client::Http,
    tokens: tokens::Tokens,
    store: Store,
    rollback_wait: PollWait,
}

impl DouyinClient {
    /// A client calling `base_url` (e.g. `https://open.douyin.com`) with tokens kept in `store`.
    pub fn new(config: &DouyinConfig, base_url: &str, store: Store) -> DouyinClient {
        DouyinClient {
            http: client::Http::new(base_url),
            tokens: tokens::Tokens::new(
                store.clone(),
                &config.component_appid,
                config.component_appsecret.clone(),
            ),
            store,
            rollback_wait: code::ROLLBACK_WAIT,
        }
    }

    /// The same client, waiting for rollbacks with `wait` instead of the default (1 s doubling
    /// to 20 s, 6 minutes in all).
    pub fn with_rollback_wait(mut self, wait: PollWait) -> DouyinClient {
        self.rollback_wait = wait;
        self
    }

    /// The same client with transport `options` (the platform's proxy).
    pub fn with_transport(mut self, options: crate::platform::http::Options) -> DouyinClient {
        self.http = self.http.with_options(options);
        self
    }

    /// Keeps a pushed component ticket.
    pub fn store_ticket(&self, ticket: &str) -> Result<(), PlatformError> {
        self.tokens.store_ticket(ticket)
    }

    /// Whether a fresh component ticket is kept at `now`.
    pub fn ticket_fresh(&self, now: u64) -> Result<bool, PlatformError> {
        self.tokens.ticket_fresh(now)
    }

    /// Exchanges an authorization code for the tokens of the app it authorizes, and keeps them;
    /// that app's appid.
    pub async fn exchange_code(&self, code: &str) -> Result<String, PlatformError> {
        self.tokens.exchange_code(&self.http, code).await
    }

    /// Marks `appid` unauthorized (an `UNAUTHORIZED` push).
    pub fn mark_unauthorized(&self, appid: &str, reason: &str) -> Result<(), PlatformError> {
        self.tokens.mark_unauthorized(appid, reason)
    }
}

impl Platform for DouyinClient {
    fn kind(&self) -> PlatformKind {
        spec::KIND
    }

    fn observe<'a>(&'a self, app: &'a Desired) -> BoxFuture<'a, Result<Observed, PlatformError>> {
        Box::pin(self.observe_app(app))
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
        Box::pin(async move { self.qr_code(&app.appid, path).await.map(Some) })
    }
}
