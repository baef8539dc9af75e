//! WeChat's push endpoints (DESIGN §8): the authorization-event URL (`POST /wechat/auth`: verify
//! ticket, authorized, updateauthorized, unauthorized), the message-and-event URL
//! (`POST /wechat/events/{appid}`: audit results) and the onboarding callback
//! (`GET /auth/wechat/callback`). Served by `serve` and `watch`.
//!
//! Every push is checked before anything else (size ≤ 64 KiB, timestamp within 5 minutes,
//! `msg_signature` in constant time, nonce not seen in the window, component appid inside), and
//! answered `success` only after what it carries is stored and flushed. An audit result makes
//! its app due at once (told on the platforms' notices).

mod guard;
mod handlers;

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};

use crate::platform::platforms::Notices;
use crate::platform::relay::Relay;
use crate::platform::wechat::WechatClient;
use crate::platform::wechat::crypto::MsgCrypt;

pub use guard::{MAX_SKEW_SECS, Rejection};

/// Largest push body accepted (64 KiB); larger ones get HTTP 413.
pub const MAX_PUSH_BODY: usize = 64 * 1024;

/// Path of the authorization-event URL.
pub const AUTH_EVENTS_PATH: &str = "/wechat/auth";
/// Path of the onboarding callback (the `redirect_uri` of authorization links).
pub const CALLBACK_PATH: &str = "/auth/wechat/callback";

/// Everything the endpoints need: the WeChat client (token store, exchanges), the push crypto,
/// the replay window and where due apps are told.
pub struct Callbacks {
    client: Arc<WechatClient>,
    crypt: MsgCrypt,
    replay: guard::Replay,
    notices: Notices,
    exchanged: tokio::sync::Mutex<HashMap<String, String>>,
    relay: Option<Arc<Relay>>,
}

impl Callbacks {
    /// Endpoints for `client`'s component, opening pushes with `crypt`, telling audit results on
    /// `notices`; with a `relay` (a shard), relaying the ticket to the other shards and their apps'
    /// events to them.
    pub fn new(
        client: Arc<WechatClient>,
        crypt: MsgCrypt,
        notices: Notices,
        relay: Option<Arc<Relay>>,
    ) -> Arc<Callbacks> {
        Arc::new(Callbacks {
            client,
            crypt,
            replay: guard::Replay::default(),
            notices,
            exchanged: tokio::sync::Mutex::new(HashMap::new()),
            relay,
        })
    }

    /// What the endpoints tell from now on (the daemon passes each app at once).
    pub fn subscribe(
        &self,
    ) -> tokio::sync::broadcast::Receiver<crate::platform::platforms::Notice> {
        self.notices.subscribe()
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
        .layer(DefaultBodyLimit::max(MAX_PUSH_BODY))
        .with_state(callbacks)
}

#[cfg(test)]
mod tests;
