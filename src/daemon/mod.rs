//! The daemon's HTTP side (DESIGN §8): WeChat's authorization-event URL (`POST /wechat/auth`:
//! verify ticket, authorized, updateauthorized, unauthorized), the message-and-event URL
//! (`POST /wechat/events/{appid}`: audit results), the onboarding callback
//! (`GET /auth/wechat/callback`) and `/healthz`. Hosted by `serve` and by `watch`.
//!
//! Every push is checked before anything else (size ≤ 64 KiB, timestamp within 5 minutes,
//! `msg_signature` in constant time, nonce not seen in the window, component appid inside), and
//! answered `success` only after what it carries is stored and flushed.
//!
//! The watch daemon ([`run`]) hosts these beside `/readyz` and `/metrics`: a fleet watcher
//! ([`watcher`]) turns edits into diffs for the engine's scheduler; the engine's events are
//! counted ([`metrics`]) and published for `status` ([`snapshot`]).

mod guard;
mod handlers;
pub mod health;
pub mod metrics;
mod run;
pub mod server;
pub mod snapshot;
pub mod watcher;

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use tokio::sync::broadcast;

use crate::platform::wechat::WechatClient;
use crate::platform::wechat::crypto::MsgCrypt;

pub use guard::{MAX_SKEW_SECS, Rejection};
pub use run::{DaemonError, WatchOptions, run};
pub use server::{Limits, serve, serve_with};

/// Largest push body accepted (64 KiB); larger ones get HTTP 413.
pub const MAX_PUSH_BODY: usize = 64 * 1024;

/// Path of the authorization-event URL.
pub const AUTH_EVENTS_PATH: &str = "/wechat/auth";
/// Path of the onboarding callback (the `redirect_uri` of authorization links).
pub const CALLBACK_PATH: &str = "/auth/wechat/callback";

/// An audit result pushed for one app: a hint to observe it now (the verdict is confirmed by
/// `get_latest_auditstatus`, never taken from the push alone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditNotice {
    /// The app, from the `{appid}` path segment.
    pub appid: String,
    /// `success`, `fail`, `delay` or another event kind.
    pub event: String,
}

/// Everything the endpoints need: the WeChat client (token store, exchanges), the push crypto,
/// the replay window and the channel audit notices go out on.
pub struct Callbacks {
    client: Arc<WechatClient>,
    crypt: MsgCrypt,
    replay: guard::Replay,
    audits: broadcast::Sender<AuditNotice>,
    exchanged: tokio::sync::Mutex<HashMap<String, String>>,
}

impl Callbacks {
    /// Endpoints for `client`'s component, opening pushes with `crypt`.
    pub fn new(client: Arc<WechatClient>, crypt: MsgCrypt) -> Arc<Callbacks> {
        let (audits, _) = broadcast::channel(1024);
        Arc::new(Callbacks {
            client,
            crypt,
            replay: guard::Replay::default(),
            audits,
            exchanged: tokio::sync::Mutex::new(HashMap::new()),
        })
    }

    /// Audit notices from now on (the daemon's scheduler runs a pass for each).
    pub fn subscribe(&self) -> broadcast::Receiver<AuditNotice> {
        self.audits.subscribe()
    }

    /// The WeChat client.
    pub fn client(&self) -> &Arc<WechatClient> {
        &self.client
    }
}

/// The routes, with the 64 KiB body limit.
pub fn router(callbacks: Arc<Callbacks>) -> Router {
    Router::new()
        .route(AUTH_EVENTS_PATH, post(handlers::auth_event))
        .route("/wechat/events/{appid}", post(handlers::app_event))
        .route(CALLBACK_PATH, get(handlers::callback))
        .route("/healthz", get(|| async { "ok" }))
        .layer(DefaultBodyLimit::max(MAX_PUSH_BODY))
        .with_state(callbacks)
}

#[cfg(test)]
mod tests;
